/*
 * Prometheus 2.42 rule files ("rulefmt"): parsing and the checks of
 * `promtool check rules`, plus the expansion of a config's rule_files globs.
 *
 *   groups:
 *   - name: <string>            required, unique in the file
 *     interval: <duration>      optional (0 = the global evaluation_interval)
 *     limit: <int>              optional (0 = no limit)
 *     rules:
 *     - record: <metric name>   exactly one of record / alert
 *       alert: <string>
 *       expr: <PromQL>          required, must parse
 *       for: <duration>         alerts only
 *       keep_firing_for: <dur>  alerts only (new in 2.42)
 *       labels: {name: value}   no __name__
 *       annotations: {..}       alerts only
 *
 * The global ruler (tessera rule) also reads Thanos' group key
 *     partial_response_strategy: warn | abort   (case-insensitive; empty or absent: abort)
 * when parsed with TS_RULEFMT_RULER.  Without that flag (shards, `tessera check rules`) the key
 * is refused as promtool 2.42 refuses it ("field partial_response_strategy not found in type
 * rulefmt.RuleGroup"): a Prometheus-compatible shard does not silently take a key it cannot
 * honour, since a shard evaluates over its own complete TSDB.
 *
 * Error messages carry Prometheus' wording after a key path, e.g.
 *   groups[0].rules[2].expr: group "a", rule 3, "x": could not parse expression: 1:7: parse error:
 * ... with err->line/err->col at the offending node.  Only the first error is reported (promtool
 * lists them all).  Annotation templates are NOT checked (promtool does check them: "annotation
 * \"a\": template: ...").
 *
 * Like promtool (yaml.v3): null items in the groups / rules lists are dropped (indices in paths
 * and in "rule N" count the kept items), any scalar is accepted as a string (alert: 12), limit
 * takes Go ints in any base and truncates floats, alert names are free text.
 *
 * Evaluation is not part of this package yet.
 */
#ifndef TS_RULES_RULEFMT_H
#define TS_RULES_RULEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"

/* Every string and label set lives in the file's arena. */
typedef struct ts_rule {
    const char *record, *alert; /* exactly one is non-NULL */
    const char *expr;           /* the PromQL text as written */
    int64_t for_ms;             /* alerts only, 0 when absent */
    ts_labels *labels;          /* never NULL (empty set when absent) */
    ts_labels *annotations;     /* never NULL; always empty for recording rules */
    int line;                   /* 1-based line of the rule's first key */
    int64_t keep_firing_for_ms; /* alerts only, 0 when absent (Prometheus 2.42 has it) */
} ts_rule;

/* What a ruler does with an evaluation over partial data (Thanos' names). */
typedef enum ts_rule_partial {
    TS_RULE_PARTIAL_ABORT = 0, /* record nothing for that evaluation (the default) */
    TS_RULE_PARTIAL_WARN,      /* record the partial result, log a warning */
} ts_rule_partial;

typedef struct ts_rule_group {
    const char *name;
    int64_t interval_ms;              /* 0 when absent */
    uint64_t limit;                   /* 0 when absent or <= 0 (Prometheus: no limit) */
    ts_rule_partial partial_response; /* TS_RULEFMT_RULER files only; else ABORT */
    ts_rule *rules;
    size_t nrules;
} ts_rule_group;

typedef struct ts_rule_file {
    ts_arena arena;
    const char *path; /* as passed (NULL allowed for parse) */
    ts_rule_group *groups;
    size_t ngroups;
} ts_rule_file;

/* Parses and validates len bytes of YAML.  On success *out is a heap file
 * (free with ts_rule_file_free).  On error returns TS_EPARSE (syntax, types,
 * unknown keys) or TS_EINVAL (validation), *out is NULL and err is filled in.
 * An empty document is a valid file with no groups.  path may be NULL. */
int ts_rule_file_parse(const char *text, size_t len, const char *path, ts_rule_file **out,
                       ts_error *err);
/* Reads path (at most 64 MiB) and parses it; open errors are -errno with
 * "open <path>: <reason>". */
int ts_rule_file_load(const char *path, ts_rule_file **out, ts_error *err);

/* Flags of the _ex variants (0: as above, Prometheus' format). */
#define TS_RULEFMT_RULER 1u /* accept the group key partial_response_strategy */
int ts_rule_file_parse_ex(const char *text, size_t len, const char *path, unsigned flags,
                          ts_rule_file **out, ts_error *err);
int ts_rule_file_load_ex(const char *path, unsigned flags, ts_rule_file **out, ts_error *err);
void ts_rule_file_free(ts_rule_file *f);          /* accepts NULL */
size_t ts_rule_file_count(const ts_rule_file *f); /* rules in all groups */

/* Expands rule_files globs of a config (relative to the config file's
 * directory, as Prometheus does; config_path NULL means the current
 * directory) into a sorted, de-duplicated list of paths (heap; free with
 * ts_rule_paths_free).  Absolute patterns, and all patterns of a config in
 * the working directory (no '/' in config_path), are used as written.  '*'
 * matches leading dots, as in Go.  A glob that matches nothing is fine.
 * Errors (TS_EINVAL): a '/' after a '*' ("invalid rule file path
 * \"<pattern>\"", as Prometheus' config check), a pattern Go's
 * filepath.Glob rejects ("error retrieving rule files for X: syntax error in
 * pattern").  *out is NULL and *nout 0 on error. */
int ts_rule_paths(const char *config_path, const char *const *patterns, size_t n, char ***out,
                  size_t *nout, ts_error *err);
void ts_rule_paths_free(char **paths, size_t n);

#endif
