/*
 * The rule manager: evaluates the recording and alerting rules of a shard's
 * rule files (Prometheus 2.42 rules/manager.go semantics) and appends the
 * results back into storage.
 *
 *   ts_rules_manager *m;
 *   ts_rules_manager_new(&opts, &m);
 *   ts_rules_manager_update(m, paths, n, default_interval_ms, ext_labels, &err);  // each (re)load
 *   ts_rules_manager_start(m);       // evaluation thread
 *   ...
 *   ts_rules_manager_free(m);        // stops the thread
 *
 * Scheduling: a group of interval I is evaluated at the instants
 *   k*I + offset, offset = xxhash64("file\xff<file>\xffname\xff<name>\xff") mod I (in ns)
 * (Prometheus' Group.EvalTimestamp), the first one strictly after the group
 * was (re)loaded plus one interval.  Missed instants are skipped.  One thread
 * evaluates all groups (Prometheus runs one goroutine per group): a slow
 * group delays the others.
 *
 * Evaluation: the rules of a group run in order at the group's timestamp; each
 * rule's output is committed through its own appender before the next rule
 * runs, so later rules see earlier results.  Series a rule produced at its
 * previous evaluation and not at this one get a stale marker at this
 * timestamp; so do all series of a group removed by a reload (at the reload
 * time) and of a rule removed from a group that stays (at the group's next
 * evaluation), as Prometheus does.
 *
 * Alerting rules keep pending/firing/inactive alerts as Prometheus does
 * (`for`, keep_firing_for, resolved alerts retained 15 min) and write ALERTS
 * and ALERTS_FOR_STATE.  As in Prometheus, at the first load (not on reloads)
 * alerting rules write those series only from their group's third
 * evaluation on: after the second one, the `for` state of active alerts is
 * restored from ALERTS_FOR_STATE (Prometheus' RestoreForState; outage
 * tolerance and grace period from the options, default 1h and 10m).
 *
 * Partial data (the global ruler, opts.partial_policy): a rule's query whose
 * result carries storage warnings saw partial data (the fan-out warns when a
 * shard had no answering replica).  Its group's partial_response_strategy
 * (Thanos' group key, pkg/rules/rulefmt.h) decides:
 *   abort (default): nothing is written for that evaluation, not even stale
 *     markers (a gap, not a false value nor a false end); an alerting rule's
 *     alerts keep their state (none starts, fires or resolves: a missing
 *     shard is not evidence that a condition ended or began), and active ones
 *     are still re-sent.  The rule's health is "err" with the reason, the
 *     evaluation counts as a failure and in
 *     tessera_rule_evaluations_partial_skipped_total, and a warning is logged
 *     with the group and rule.
 *   warn: the partial result is used as if complete, counted in
 *     tessera_rule_evaluations_partial_recorded_total and logged.
 * Without partial_policy (a shard, over its own TSDB) warnings are ignored,
 * as in Prometheus, and rule files may not carry that key.
 *
 * Reload keeps state: a rule of a new group with the same file;name key as an
 * old group, and the same kind, name and labels as an old rule, takes over its
 * previous series (for staleness), its active alerts and its health.
 *
 * Thread-safety: all functions may be called from any thread; one mutex
 * guards the state (an evaluation holds it, so API readers wait at most one
 * group evaluation).
 */
#ifndef TS_RULES_MANAGER_H
#define TS_RULES_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/promql/engine/engine.h"
#include "pkg/storage/storage.h"
#include "pkg/util/err.h"
#include "pkg/util/jsonw.h"
#include "pkg/util/metrics.h"

typedef struct ts_rules_manager ts_rules_manager;

/* An alert handed to the notifier (all borrowed for the callback). */
typedef struct ts_rules_alert {
    const ts_labels *labels; /* alert labels (without external labels) */
    const ts_labels *annotations;
    int64_t starts_at_ns, ends_at_ns; /* ends_at: resolved time, or valid-until for active */
    const char *generator_url;
} ts_rules_alert;

typedef struct ts_rules_manager_opts {
    ts_promql_engine *engine; /* borrowed */
    ts_queryable *queryable;  /* borrowed */
    /* Where ALERTS_FOR_STATE is read back for `for` restore (borrowed; NULL:
     * queryable).  The global ruler evaluates over the stores but keeps its
     * state in its own TSDB. */
    ts_queryable *state_queryable;
    ts_appender *(*appender)(void *ctx); /* a fresh appender for one rule's output */
    void *appender_ctx;
    const char *external_url; /* for templates and generatorURL; may be NULL */
    /* Called after each group evaluation with the alerts to send (may be NULL). */
    void (*notify)(void *ctx, const ts_rules_alert *alerts, size_t n);
    void *notify_ctx;
    /* Wall clock in ns (NULL: CLOCK_REALTIME), for tests. */
    int64_t (*now_ns)(void);
    /* The global ruler's partial-data policy (see above); rule files are
     * loaded with TS_RULEFMT_RULER. */
    bool partial_policy;
    /* Prometheus' --rules.alert.for-grace-period and
     * --rules.alert.for-outage-tolerance (0: 10m and 1h, their defaults). */
    int64_t for_grace_period_ms, for_outage_tolerance_ms;
} ts_rules_manager_opts;

int ts_rules_manager_new(const ts_rules_manager_opts *o, ts_rules_manager **out);
/* Stops the evaluation thread (if started) and frees everything; accepts NULL. */
void ts_rules_manager_free(ts_rules_manager *m);

/* Loads the rule files (paths as ts_rule_paths gives them) and replaces the
 * groups.  default_interval_ms is global.evaluation_interval; ext (borrowed,
 * copied) are the external labels for templates and notifications.  On error
 * (a file does not load) nothing changes and err says why. */
int ts_rules_manager_update(ts_rules_manager *m, char *const *paths, size_t npaths,
                            int64_t default_interval_ms, const ts_labels *ext, ts_error *err);

/* Starts the evaluation thread. */
int ts_rules_manager_start(ts_rules_manager *m);

/* Evaluates every group once at t_ms (for tests and tools; no thread needed). */
void ts_rules_manager_eval_all(ts_rules_manager *m, int64_t t_ms);

/* The evaluation instant (ns) at or before now_ns of a group (Prometheus'
 * EvalTimestamp), exposed for tests. */
int64_t ts_rules_eval_timestamp(const char *file, const char *group, int64_t interval_ms,
                                int64_t now_ns);

/* JSON bodies ("data" values) of /api/v1/rules and /api/v1/alerts.
 * type: NULL, "alert" or "record" (the rules endpoint's filter). */
void ts_rules_manager_rules_json(ts_rules_manager *m, ts_jsonw *j, const char *type);
void ts_rules_manager_alerts_json(ts_rules_manager *m, ts_jsonw *j);

/* The metric names the current rules write: every recording rule's name,
 * and ALERTS and ALERTS_FOR_STATE when there is an alerting rule.  *out and
 * its strings are the caller's (ts_free each); returns the count. */
size_t ts_rules_manager_output_names(ts_rules_manager *m, char ***out);

/* prometheus_rule_* self-metrics, and with partial_policy the
 * tessera_rule_evaluations_partial_* counters (a ts_metrics_collect_fn; ctx is
 * the manager). */
void ts_rules_manager_collect(void *ctx, ts_metrics_writer *w);

#endif
