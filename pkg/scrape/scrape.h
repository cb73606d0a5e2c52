/*
 * Scraping (Prometheus 2.42 scrape/): targets from discovered groups, one
 * pool per job and one loop per target, HTTP through libcurl's multi
 * interface driven by the caller's libuv loop.
 *
 * Data flow per scrape: GET the target (Accept as Prometheus 2.42, gzip,
 * X-Prometheus-Scrape-Timeout-Seconds, auth/TLS from the job's
 * http settings, at most body_size_limit bytes, timeout scrape_timeout) ->
 * parse by Content-Type -> target labels merged into each sample
 * (honor_labels, exported_ renaming) -> metric_relabel_configs -> limits
 * (sample_limit, label_limit, label name/value length) -> one appender from
 * opts.appender, committed at the end (rolled back if the scrape fails,
 * after which a fresh appender gets the staleness markers and report) ->
 * the report series up, scrape_duration_seconds, scrape_samples_scraped,
 * scrape_samples_post_metric_relabeling, scrape_series_added.
 *
 * Staleness: series of the previous scrape missing from this one (or all of
 * them when the scrape fails) get a ts_stale_nan() sample at this scrape's
 * time; when a target goes away its loop writes markers for its last series
 * and report series at the time its next scrape would have been, two
 * intervals later (Prometheus' endOfRunStaleness).  Closing the manager
 * (shutdown) writes no markers, as Prometheus.
 *
 * Wiring (what `tessera shard` does):
 *
 *   ts_scrape_opts o = {.loop = loop, .appender = my_appender, .appender_ctx = db};
 *   ts_scrape_manager_new(&o, &sm);
 *   ts_discovery_manager_new(loop, ts_scrape_manager_sync, sm, &dm);
 *   // at start and on every reload, in this order, in the same loop turn:
 *   ts_scrape_manager_apply_config(sm, cfg);
 *   ts_discovery_manager_apply_config(dm, cfg);
 *   ts_config_free(old_cfg);  // the scrape manager borrows cfg until the next apply
 *   // shutdown:
 *   ts_discovery_manager_close(dm); ts_scrape_manager_close(sm);
 *   uv_run(loop, UV_RUN_DEFAULT);  // until their handles are closed
 *
 * Threading: all other calls must be made on the loop's thread;
 * ts_scrape_manager_targets and ts_scrape_manager_metadata may be called
 * from any thread (they take the manager's lock).  The appender callback
 * runs on the loop thread.
 */
#ifndef TS_SCRAPE_SCRAPE_H
#define TS_SCRAPE_SCRAPE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pkg/config/config.h"
#include "pkg/discovery/discovery.h"
#include "pkg/labels/labels.h"
#include "pkg/storage/storage.h"
#include "pkg/util/err.h"
#include "pkg/util/metrics.h"

/* ------------------------------------------------------------ target labels */

/*
 * Prometheus' populateLabels: adds job, __scheme__, __metrics_path__,
 * __scrape_interval__, __scrape_timeout__ (when absent) and __param_<k> (first
 * value of each params entry) to the discovered labels, applies
 * relabel_configs, then: no __address__ -> error "no address"; a port is
 * added to __address__ by scheme (":80"/":443", as 2.42 does); interval and
 * timeout labels are validated; __meta_* labels are removed; instance
 * defaults to __address__.
 *
 * Results (heap, caller frees with ts_labels_free; either may be NULL):
 *   *res  the target's labels (including __address__ etc.), NULL if dropped
 *         or on error
 *   *orig the labels before relabeling ("discovered labels"), set when the
 *         target is kept or dropped by relabeling, NULL on error
 * Returns TS_OK (kept or dropped) or TS_EINVAL with err filled.
 */
int ts_scrape_populate_labels(const ts_scrape_config *sc, const ts_labels *discovered,
                              ts_labels **res, ts_labels **orig, ts_error *err);

/* The scrape URL of a target's labels: scheme://address/path?params
 * (params from __param_* labels and sc->params), into buf (snprintf-like). */
size_t ts_scrape_target_url(const ts_scrape_config *sc, const ts_labels *target, char *buf,
                            size_t size);

/* ------------------------------------------------------------------ manager */

typedef struct ts_scrape_manager ts_scrape_manager;

typedef struct ts_scrape_opts {
    uv_loop_t *loop; /* borrowed; must outlive the manager */
    /* Returns a new appender for one scrape (committed or rolled back by
     * the loop).  Called on the loop thread. */
    ts_appender *(*appender)(void *ctx);
    void *appender_ctx;
    /* Mixed into every target's scrape offset so HA replicas scrape at
     * different moments (Prometheus' jitterSeed); 0 is fine. */
    uint64_t jitter_seed;
    /* Sharding (DESIGN.md §3): with shard_count > 1 this manager scrapes only
     * the targets whose __address__ (after relabeling) it wins by rendezvous
     * hashing over the shard indexes (ts_rendezvous); the others are listed
     * as dropped, with a reason.  0 or 1 = scrape everything. */
    uint32_t shard_index, shard_count;
} ts_scrape_opts;

int ts_scrape_manager_new(const ts_scrape_opts *opts, ts_scrape_manager **out);

/* Changes this manager's shard index and count at run time (a shard that learns a new count from
 * --shard.count-file) and assigns every job's targets again.  Targets it gains start at once;
 * targets it loses keep being scraped for handoff_ms more, so their new owner, which may learn
 * the count later or still be starting, has taken over (the querier deduplicates the overlap
 * like an HA pair), then stop with end-of-run staleness markers.  A target that was not running
 * here is never started for a handoff.  Call on the loop thread.  TS_EINVAL for count == 0. */
int ts_scrape_manager_set_shards(ts_scrape_manager *m, uint32_t index, uint32_t count,
                                 int64_t handoff_ms);

/* The shard count from a file (--shard.count-file, countfile.c): one whole number >= 1, white
 * space around it allowed.  TS_EPARSE (err says what is there) or the read error otherwise. */
int ts_scrape_count_file_read(const char *path, uint32_t *count, ts_error *err);

/* Watches the count file (a stat poll every second, which sees a ConfigMap's symlink swap) and
 * re-reads it on a change: a valid new count goes to ts_scrape_manager_set_shards(m, index,
 * count, handoff_ms), is logged ("shard count changed") and is passed to on_change (may be
 * NULL; the store server's shard identity, for one); an invalid file is logged and the current
 * count stays.  count is the count in force now.  Loop thread only. */
typedef struct ts_scrape_count_watch ts_scrape_count_watch;
int ts_scrape_count_watch_start(uv_loop_t *loop, ts_scrape_manager *m, const char *path,
                                uint32_t index, uint32_t count, int64_t handoff_ms,
                                void (*on_change)(void *ctx, uint32_t count), void *ctx,
                                ts_scrape_count_watch **out);
/* Reads the file now (a config reload asks for this).  Accepts NULL. */
void ts_scrape_count_watch_reread(ts_scrape_count_watch *w);
/* Stops watching; freed once the loop runs the close.  Accepts NULL. */
void ts_scrape_count_watch_close(ts_scrape_count_watch *w);

/* A jitter seed as Prometheus derives it: FNV-1a 64 over the host name
 * followed by the external labels as printed ({a="1", b="2"}), so replicas
 * with different external labels scrape at different offsets. */
uint64_t ts_scrape_jitter_seed(const char *hostname, const ts_labels *external);

/* Applies a configuration.  cfg is borrowed and must stay alive until the
 * next apply_config returned or the manager is closed.  Jobs whose scrape
 * config is unchanged keep their loops; changed jobs restart theirs (series
 * tracking for staleness carries over); removed jobs stop. */
int ts_scrape_manager_apply_config(ts_scrape_manager *m, const ts_config *cfg);

/* New target groups for a job (all of them; borrowed for the call).  The
 * signature matches ts_discovery_update_fn, so a discovery manager can call
 * it directly with the scrape manager as ctx.  Unknown jobs are ignored. */
void ts_scrape_manager_sync(void *m, const char *job, const ts_target_group *groups, size_t n);

/* Stops all loops (no staleness markers) and frees the manager once its
 * handles have closed; keep running the loop until uv_run returns.
 * Accepts NULL. */
void ts_scrape_manager_close(ts_scrape_manager *m);

/* ------------------------------------------------------ target state (API) */

typedef enum ts_target_health {
    TS_HEALTH_UNKNOWN = 0,
    TS_HEALTH_UP,
    TS_HEALTH_DOWN,
} ts_target_health;

/* "unknown", "up", "down" as in the API. */
const char *ts_target_health_name(ts_target_health h);

typedef struct ts_scrape_target_info {
    const char *job;
    const char *scrape_url;      /* "" for dropped targets */
    const ts_labels *discovered; /* before relabeling */
    const ts_labels *labels;     /* public labels (no "__" names); NULL when dropped */
    bool dropped;
    const char *drop_reason; /* dropped: "" (relabeling) or why another shard owns it */
    ts_target_health health;
    const char *last_error; /* "" when none */
    int64_t last_scrape_ms; /* 0 = never */
    double last_scrape_duration_s;
    int64_t interval_ms, timeout_ms;
} ts_scrape_target_info;

/* Metric metadata of a target's last successful scrape (HELP/TYPE/UNIT
 * lines), for /api/v1/targets/metadata and /api/v1/metadata.  type is
 * Prometheus' API name ("counter", "gauge", ..., "unknown"); help and unit
 * are "" when absent. */
typedef struct ts_scrape_metadata {
    char *metric, *type, *help, *unit;
} ts_scrape_metadata;

/* Calls fn for each active target with its metadata (n entries, in
 * exposition order).  Everything is borrowed for the call; fn runs under
 * the manager's lock. */
void ts_scrape_manager_metadata(ts_scrape_manager *m,
                                void (*fn)(void *ctx, const ts_scrape_target_info *t,
                                           const ts_scrape_metadata *md, size_t n),
                                void *ctx);

/* Calls fn for each active target, then each dropped target, job by job in
 * order of job name (as Prometheus' /api/v1/targets lists them).  Everything passed is borrowed for
 * the call; fn runs under the manager's lock and must not call back into the manager. */
void ts_scrape_manager_targets(ts_scrape_manager *m,
                               void (*fn)(void *ctx, const ts_scrape_target_info *t), void *ctx);

/* A ts_metrics collector (register with ctx = the manager): Prometheus'
 * prometheus_target_* self-metrics (pools, reloads, limits hit, rejected
 * samples, targets per pool).  Safe from any thread. */
void ts_scrape_manager_write_metrics(void *m, ts_metrics_writer *w);

#endif
