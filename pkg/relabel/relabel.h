/*
 * Relabeling: relabel_configs / metric_relabel_configs, with Prometheus
 * 2.42's actions and semantics (model/relabel/relabel.go):
 *
 *   replace    target_label = expand(replacement) if regex matches the joined
 *              source values (target_label may itself use $1); an empty
 *              result deletes the target
 *   keep/drop  keep (drop) the series/target iff regex matches
 *   hashmod    target_label = md5(joined) mod modulus (last 8 bytes, big-endian)
 *   labelmap   for each label whose NAME matches, copy its value to expand(replacement)
 *   labeldrop/labelkeep   delete labels whose names do (not) match
 *   lowercase/uppercase   target_label = case-mapped joined value
 *   keepequal/dropequal   keep (drop) iff joined value == value of target_label
 *
 * The joined value is the source labels' values joined by separator
 * (absent labels count as "").  Regexes are anchored.
 */
#ifndef TS_RELABEL_RELABEL_H
#define TS_RELABEL_RELABEL_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/regex.h"
#include "pkg/util/err.h"

typedef enum ts_relabel_action {
    TS_RELABEL_REPLACE = 0,
    TS_RELABEL_KEEP,
    TS_RELABEL_DROP,
    TS_RELABEL_HASHMOD,
    TS_RELABEL_LABELMAP,
    TS_RELABEL_LABELDROP,
    TS_RELABEL_LABELKEEP,
    TS_RELABEL_LOWERCASE,
    TS_RELABEL_UPPERCASE,
    TS_RELABEL_KEEPEQUAL,
    TS_RELABEL_DROPEQUAL,
} ts_relabel_action;

typedef struct ts_relabel_config {
    char **source_labels; /* heap strings */
    size_t nsource;
    bool source_set; /* source_labels given (even if empty) */
    char *separator; /* default ";" */
    char *regex_src; /* default "(.*)" */
    ts_regex *regex;
    uint64_t modulus;
    char *target_label; /* default "" */
    char *replacement;  /* default "$1" */
    ts_relabel_action action;
} ts_relabel_config;

/* Fills defaults (compiles the default regex). */
void ts_relabel_config_init(ts_relabel_config *c);
void ts_relabel_config_fini(ts_relabel_config *c);
/* Replaces the regex (copied); TS_EPARSE with Go-like text on bad syntax. */
int ts_relabel_config_set_regex(ts_relabel_config *c, const char *re, ts_error *err);
/* Parses an action name ("replace", "keep", ... case-insensitive as Prometheus);
 * TS_EINVAL with `unknown relabel action "x"`. */
int ts_relabel_action_parse(const char *s, ts_relabel_action *out, ts_error *err);
const char *ts_relabel_action_name(ts_relabel_action a);
/* Checks field combinations with Prometheus' error texts. */
int ts_relabel_config_validate(const ts_relabel_config *c, ts_error *err);

/* Applies cfgs in order to the builder's labels.  Returns false when the
 * series/target is dropped (the builder is then in an unspecified state). */
bool ts_relabel_process(const ts_relabel_config *cfgs, size_t n, ts_labels_builder *b);

#endif
