/*
 * The Alertmanager notifier: sends the alerts the rule manager hands over to
 * every Alertmanager of the config's `alerting.alertmanagers[].static_configs`
 * as Prometheus 2.42 does with api_version v2:
 *
 *   POST <scheme>://<target><path_prefix>/api/v2/alerts
 *   [{"annotations":{..},"endsAt":"..","startsAt":"..","generatorURL":"..","labels":{..}}, ...]
 *
 * Labels get the external labels the alert does not have already, then
 * alert_relabel_configs apply (an alert they drop is not sent).  Alerts
 * are queued (at most 10000, the oldest dropped as in Prometheus) and sent by
 * one worker thread with libcurl (easy interface), in batches of at most 64,
 * each with the Alertmanager's timeout.  Not applied: the Alertmanagers'
 * relabel_configs, TLS/auth settings and file/dns SD (api_version v1 only
 * changes the path; the body is v2's).
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef TS_RULES_NOTIFIER_H
#define TS_RULES_NOTIFIER_H

#include "pkg/config/config.h"
#include "pkg/rules/manager.h"
#include "pkg/util/jsonw.h"
#include "pkg/util/metrics.h"

typedef struct ts_notifier ts_notifier;

/* Starts the worker thread.  Free with ts_notifier_free. */
int ts_notifier_new(ts_notifier **out);
/* Stops the worker (after the batch in flight) and frees everything; accepts NULL. */
void ts_notifier_free(ts_notifier *n);

/* Takes the Alertmanager list and external labels of cfg (copied) and its
 * alert_relabel_configs (borrowed: cfg must stay alive until the next
 * apply_config or ts_notifier_free). */
void ts_notifier_apply_config(ts_notifier *n, const ts_config *cfg);

/* Queues alerts (copied): the rule manager's notify callback (ctx: the notifier). */
void ts_notifier_send(void *ctx, const ts_rules_alert *alerts, size_t n);

/* Blocks until the queue is empty and nothing is in flight, or timeout_ms passed;
 * returns true when drained (for tests). */
bool ts_notifier_drain(ts_notifier *n, int64_t timeout_ms);

/* The "data" of /api/v1/alertmanagers. */
void ts_notifier_alertmanagers_json(ts_notifier *n, ts_jsonw *j);

/* prometheus_notifications_* self-metrics (a ts_metrics_collect_fn; ctx: the notifier). */
void ts_notifier_collect(void *ctx, ts_metrics_writer *w);

#endif
