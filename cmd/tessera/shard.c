/*
 * tessera shard: a Prometheus-compatible node.
 *
 *   config (prometheus.yml) -> discovery -> scrape (libcurl on libuv)
 *        -> TSDB (WAL, head, blocks) -> PromQL engine -> HTTP API
 *                                    -> store API (nng) for the querier
 *
 * Threads: the main thread runs the libuv loop (discovery, scraping,
 * signals, reload); the web server and the store server have their own
 * worker threads; one compactor thread calls ts_db_compact every minute (or every half
 * block range when that is shorter).
 * Config reloads (SIGHUP or POST /-/reload) are applied on the loop thread;
 * an HTTP reload waits for the outcome so it can report it.
 */
#include "cmd/tessera/cmd.h"
#include "cmd/tessera/flags.h"
#include "cmd/tessera/serve.h"
#include "pkg/config/config.h"
#include "pkg/discovery/discovery.h"
#include "pkg/promql/parser/ast.h"
#include "pkg/rules/manager.h"
#include "pkg/rules/rulefmt.h"
#include "pkg/scrape/scrape.h"
#include "pkg/store/store.h"
#include "pkg/tsdb/db.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "pkg/web/api.h"
#include "pkg/web/console.h"
#include "pkg/web/params.h"
#include "pkg/web/rules_api.h"
#include "pkg/web/scrape_api.h"
#include "pkg/web/server.h"
#include "pkg/web/tsdb_api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum {
    F_CONFIG,
    F_TSDB_PATH,
    F_WEB_LISTEN,
    F_STORE_LISTEN,
    F_SHARD_INDEX,
    F_SHARD_COUNT,
    F_SHARD_COUNT_FILE,
    F_SHARD_HANDOFF,
    F_RET_TIME,
    F_RET_SIZE,
    F_MIN_BLOCK,
    F_LIFECYCLE,
    F_LOG_LEVEL,
    F_QUERY_TIMEOUT,
    F_QUERY_MAX_SAMPLES,
    F_LOOKBACK,
    F_STORE_SERVER_TLS, /* TS_SERVE_STORE_SERVER_TLS_FLAGS */
    F_STORE_SERVER_TLS_LAST = F_STORE_SERVER_TLS + TS_SERVE_STORE_SERVER_TLS_NFLAGS - 1,
    F_ENABLE_FEATURE,
    F_EXTERNAL_URL,
    F_ROUTE_PREFIX,
    F_WEB_SERVER, /* TS_SERVE_WEB_SERVER_FLAGS */
    F_WEB_SERVER_LAST = F_WEB_SERVER + TS_SERVE_WEB_SERVER_NFLAGS - 1,
    F_NFLAGS
};

typedef struct shard {
    ts_flag flags[F_NFLAGS];
    const char **flag_pairs;
    size_t nflag_pairs;
    uint32_t shard_index, shard_count;
    int64_t handoff_ms;                 /* --shard.handoff-period */
    ts_scrape_count_watch *count_watch; /* --shard.count-file: the count, re-read on change */
    bool expand_external_labels;        /* --enable-feature=expand-external-labels */

    pthread_mutex_t cfg_mu; /* guards cfg (read by API threads) */
    ts_config *cfg;

    ts_db *db;
    ts_promql_engine *eng;
    ts_web_server *web;
    ts_web_api *api;
    ts_web_console *console;
    ts_serve_web_urls urls; /* --web.external-url, --web.route-prefix */
    ts_store_server *store;
    ts_metrics_registry metrics;
    ts_serve_query_stats qstats;
    atomic_bool ready;

    uv_loop_t loop;
    bool loop_inited, handles_inited;
    uv_signal_t sighup, sigterm, sigint;
    uv_async_t reload_async, stop_async;
    ts_discovery_manager *disc;
    ts_scrape_manager *scrape;
    ts_web_targets_src targets; /* scrape + disc, for /api/v1/targets */
    ts_rules_manager *rules;    /* rule evaluation (pkg/rules/manager.h) */
    ts_notifier *notifier;      /* alerts -> Alertmanager (pkg/rules/notifier.h) */
    char external_url[1024]; /* --web.external-url, or http://<host>:<port> as Prometheus's default
                              */

    /* reload requests from HTTP threads, answered by the loop */
    pthread_mutex_t reload_mu;
    pthread_cond_t reload_cv;
    uint64_t reload_asked, reload_done;
    int reload_rc;
    char reload_err[512];
    bool reload_success;
    int64_t reload_time_ns;

    ts_serve_compactor compactor;
    int64_t compact_every_ms; /* min(1m, block range / 2) */
    atomic_bool stopping;     /* set once shutdown starts: no more async sends */
} shard;

/* ------------------------------------------------------------ config */

static int
load_config(shard *s, ts_config **out)
{
    ts_error err;
    ts_error_clear(&err);
    const char *path = s->flags[F_CONFIG].value;
    int rc = ts_config_load(path, out, &err);
    if (rc) {
        if (err.line)
            snprintf(s->reload_err, sizeof(s->reload_err), "%s:%d: %s", path, err.line, err.msg);
        else
            snprintf(s->reload_err, sizeof(s->reload_err), "%s", err.msg);
        return rc;
    }
    if (s->expand_external_labels)
        ts_config_expand_external_labels(*out);
    /* rule files are parsed and checked (evaluation comes later): a config
     * whose rules do not load is refused, as Prometheus refuses it */
    char **paths = NULL;
    size_t npaths = 0;
    rc = ts_rule_paths(path, (*out)->rule_files.v, (*out)->rule_files.n, &paths, &npaths, &err);
    if (rc)
        snprintf(s->reload_err, sizeof(s->reload_err), "%s: %s", path, err.msg);
    for (size_t i = 0; rc == TS_OK && i < npaths; i++) {
        ts_rule_file *rf;
        rc = ts_rule_file_load(paths[i], &rf, &err);
        if (rc)
            snprintf(s->reload_err, sizeof(s->reload_err), "loading rules: %s:%d: %s", paths[i],
                     err.line, err.msg);
        ts_rule_file_free(rc ? NULL : rf);
    }
    ts_rule_paths_free(paths, npaths);
    if (rc) {
        ts_config_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Tells the store API which series this shard's rules write, so they carry
 * shard="<index>" (only with --shard.count > 1: one shard's results cannot
 * collide with another's). */
static void
mark_rule_series(shard *s)
{
    if (!s->store || !s->rules)
        return;
    if (s->shard_count <= 1) {
        ts_store_server_set_rule_series(s->store, NULL, NULL, NULL, 0);
        return;
    }
    char **names;
    size_t n = ts_rules_manager_output_names(s->rules, &names);
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", s->shard_index);
    ts_store_server_set_rule_series(s->store, "shard", idx, (const char *const *)names, n);
    for (size_t i = 0; i < n; i++)
        ts_free(names[i]);
    ts_free(names);
}

/* Replaces the rule groups with the config's rule files (already checked by
 * load_config); the manager keeps the state of rules that stay. */
static int
apply_rules(shard *s, const ts_config *cfg)
{
    if (!s->rules)
        return TS_OK;
    ts_notifier_apply_config(s->notifier, cfg);
    ts_error err;
    ts_error_clear(&err);
    char **paths = NULL;
    size_t npaths = 0;
    int rc = ts_rule_paths(s->flags[F_CONFIG].value, cfg->rule_files.v, cfg->rule_files.n, &paths,
                           &npaths, &err);
    if (rc == TS_OK)
        rc = ts_rules_manager_update(s->rules, paths, npaths, cfg->evaluation_interval_ms,
                                     cfg->external_labels, &err);
    ts_rule_paths_free(paths, npaths);
    if (rc)
        snprintf(s->reload_err, sizeof(s->reload_err), "loading rules: %s", err.msg);
    else
        mark_rule_series(s);
    return rc;
}

/* Applies a freshly loaded config on the loop thread and makes it current.
 * The managers borrow cfg from the moment they accept it, so once the scrape
 * manager took it, it stays current even if discovery then refuses it (the
 * error is reported; nothing is freed that a manager still uses).  A config
 * the scrape manager refuses is freed and the old one keeps running. */
static int
apply_config(shard *s, ts_config *cfg)
{
    int rc = ts_scrape_manager_apply_config(s->scrape, cfg);
    if (rc) {
        snprintf(s->reload_err, sizeof(s->reload_err), "applying config: %s", ts_strerror(rc));
        ts_config_free(cfg);
        return rc;
    }
    /* scrape first, then discovery, in the same loop turn (pkg/scrape/scrape.h) */
    rc = ts_discovery_manager_apply_config(s->disc, cfg);
    if (rc)
        snprintf(s->reload_err, sizeof(s->reload_err), "applying service discovery: %s",
                 ts_strerror(rc));
    if (s->store)
        ts_store_server_set_external_labels(s->store, cfg->external_labels);
    int rrc = apply_rules(s, cfg);
    if (rrc && !rc)
        rc = rrc;
    pthread_mutex_lock(&s->cfg_mu);
    ts_config *old = s->cfg;
    s->cfg = cfg;
    pthread_mutex_unlock(&s->cfg_mu);
    ts_config_free(old);
    return rc;
}

/* The count file changed (loop thread): the store API says the new shard identity. */
static void
on_count_change(void *ctx, uint32_t count)
{
    shard *s = ctx;
    s->shard_count = count;
    if (s->store)
        ts_store_server_set_shard(s->store, s->shard_index, count);
    mark_rule_series(s); /* rule results carry shard="<index>" only while count > 1 */
}

static void
do_reload(shard *s)
{
    ts_config *cfg;
    /* a reload also re-reads the shard count (the file watch may not have fired yet) */
    ts_scrape_count_watch_reread(s->count_watch);
    int rc = load_config(s, &cfg);
    if (rc == TS_OK)
        rc = apply_config(s, cfg);
    if (rc) {
        TS_LOG(TS_LOG_ERROR, "shard", "error reloading config", "err=\"%s\"", s->reload_err);
    } else {
        TS_LOG(TS_LOG_INFO, "shard", "completed loading of configuration file", "filename=%s",
               s->flags[F_CONFIG].value);
    }
    pthread_mutex_lock(&s->reload_mu);
    s->reload_rc = rc;
    s->reload_success = rc == TS_OK;
    s->reload_time_ns = ts_now_ms() * 1000000;
    s->reload_done = s->reload_asked;
    pthread_cond_broadcast(&s->reload_cv);
    pthread_mutex_unlock(&s->reload_mu);
}

static void
on_reload_async(uv_async_t *h)
{
    do_reload(h->data);
}

static void
on_sighup(uv_signal_t *h, int sig)
{
    shard *s = h->data;
    pthread_mutex_lock(&s->reload_mu);
    s->reload_asked++;
    pthread_mutex_unlock(&s->reload_mu);
    do_reload(s);
}

/* Shutdown starts by stopping the loop; the cleanup at the end of
 * ts_cmd_shard then stops the HTTP and store servers first (so no request
 * can still look at the scrape manager), closes the managers and drains the
 * loop. */
static void
on_stop_async(uv_async_t *h)
{
    shard *s = h->data;
    uv_stop(&s->loop);
}

static void
on_sigterm(uv_signal_t *h, int sig)
{
    shard *s = h->data;
    pthread_mutex_lock(&s->reload_mu);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->reload_cv);
    pthread_mutex_unlock(&s->reload_mu);
    TS_LOG(TS_LOG_WARN, "shard", "received signal, exiting gracefully", "signal=%s",
           sig == SIGTERM ? "terminated" : "interrupt");
    uv_stop(&s->loop);
}

/* ------------------------------------------------------------ scrape hooks */

static ts_appender *
scrape_appender(void *ctx)
{
    return ts_db_appender(((shard *)ctx)->db);
}

/* ------------------------------------------------------------ HTTP handlers */

static int
query_fn(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out)
{
    shard *s = ctx;
    return ts_serve_run_query(s->eng, ts_db_queryable(s->db), p, out, &s->qstats);
}

static const char *
config_yaml(void *ctx, ts_arena *a)
{
    shard *s = ctx;
    pthread_mutex_lock(&s->cfg_mu);
    /* as written, but never with the secrets (Prometheus shows <secret>) */
    const char *y = s->cfg ? ts_config_masked_text(s->cfg, a) : "";
    pthread_mutex_unlock(&s->cfg_mu);
    return y;
}

static bool
is_ready(void *ctx)
{
    return atomic_load(&((shard *)ctx)->ready);
}

static void
runtimeinfo(void *ctx, ts_web_api_runtimeinfo *ri, ts_arena *a)
{
    shard *s = ctx;
    char cwd[1024];
    ri->start_time_ns = ts_serve_start_time_ns();
    ri->cwd = ts_arena_strdup(a, getcwd(cwd, sizeof(cwd)) ? cwd : "");
    pthread_mutex_lock(&s->reload_mu);
    ri->reload_config_success = s->reload_success;
    ri->last_config_time_ns = s->reload_time_ns;
    pthread_mutex_unlock(&s->reload_mu);
    ri->goroutine_count = 0;
    ri->gomaxprocs = sysconf(_SC_NPROCESSORS_ONLN);
    ri->gogc = "";
    ri->godebug = "";
    ri->storage_retention = s->flags[F_RET_TIME].value;
}

/* /-/reload (via pkg/web's lifecycle hook): runs on an HTTP worker, hands
 * the reload to the loop thread and waits for its outcome. */
static int
api_reload(void *ctx, ts_error *err)
{
    shard *s = ctx;
    pthread_mutex_lock(&s->reload_mu);
    if (atomic_load(&s->stopping)) {
        pthread_mutex_unlock(&s->reload_mu);
        return ts_error_set(err, TS_ECANCELED, "shutting down");
    }
    uint64_t ticket = ++s->reload_asked;
    uv_async_send(&s->reload_async);
    while (s->reload_done < ticket && !atomic_load(&s->stopping))
        pthread_cond_wait(&s->reload_cv, &s->reload_mu);
    int rc = s->reload_done < ticket ? TS_ECANCELED : s->reload_rc;
    if (rc)
        ts_error_set(err, rc, "%s", s->reload_done < ticket ? "shutting down" : s->reload_err);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

/* /-/quit: start the shutdown on the loop thread. */
static void
api_quit(void *ctx)
{
    shard *s = ctx;
    pthread_mutex_lock(&s->reload_mu);
    if (!atomic_exchange(&s->stopping, true))
        uv_async_send(&s->stop_async);
    pthread_mutex_unlock(&s->reload_mu);
}

/* ------------------------------------------------------------ metrics */

static void
collect_store(void *ctx, ts_metrics_writer *w)
{
    shard *s = ctx; /* the store API starts later, if at all */
    if (s->store)
        ts_store_server_write_metrics(s->store, w);
}

static void
collect_scrape_managers(void *ctx, ts_metrics_writer *w)
{
    shard *s = ctx;
    /* read from HTTP threads: the managers' writers take their own locks */
    if (s->scrape)
        ts_scrape_manager_write_metrics(s->scrape, w);
    if (s->disc)
        ts_discovery_manager_write_metrics(s->disc, w);
}

static void
collect_targets_cb(void *ctx, const ts_scrape_target_info *t)
{
    size_t *counts = ctx;
    counts[t->dropped ? 2 : t->health == TS_HEALTH_UP ? 0 : 1]++;
}

static void
collect_scrape(void *ctx, ts_metrics_writer *w)
{
    shard *s = ctx;
    size_t counts[3] = {0};
    if (s->scrape)
        ts_scrape_manager_targets(s->scrape, collect_targets_cb, counts);
    ts_mw_family(w, "tessera_targets", "gauge", "Scrape targets by state.");
    ts_mw_sample(w, "tessera_targets", "state=\"up\"", (double)counts[0]);
    ts_mw_sample(w, "tessera_targets", "state=\"down\"", (double)counts[1]);
    ts_mw_sample(w, "tessera_targets", "state=\"dropped\"", (double)counts[2]);
    pthread_mutex_lock(&s->reload_mu);
    bool ok = s->reload_success;
    double t = (double)(s->reload_time_ns / 1000000) / 1000.0;
    pthread_mutex_unlock(&s->reload_mu);
    ts_mw_gauge(w, "prometheus_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.", ok ? 1 : 0);
    ts_mw_gauge(w, "prometheus_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.", t);
}

static void
db_time_range(void *ctx, int64_t *mint, int64_t *maxt)
{
    shard *s = ctx;
    ts_db_stats st;
    ts_db_stats_get(s->db, &st);
    int64_t lo = st.blocks_mint < st.head.mint ? st.blocks_mint : st.head.mint;
    *mint = lo == INT64_MAX ? INT64_MIN : lo;
    /* a live head keeps growing: advertise "up to now and beyond" */
    *maxt = INT64_MAX;
}

/* ------------------------------------------------------------ flags */

static int
parse_flags(shard *s, int argc, char **argv)
{
    ts_flag init[F_NFLAGS] = {
        [F_CONFIG] = {"config.file", TS_FLAG_STRING, "prometheus.yml",
                      "Prometheus configuration file path."},
        [F_TSDB_PATH] = {"storage.tsdb.path", TS_FLAG_STRING, "data/",
                         "Base path for metrics storage."},
        [F_WEB_LISTEN] = {"web.listen-address", TS_FLAG_STRING, "0.0.0.0:9090",
                          "Address to listen on for UI, API, and telemetry."},
        [F_STORE_LISTEN] = {"store.listen-address", TS_FLAG_STRING, "tcp://0.0.0.0:10901",
                            "Store API address (nng URL: tcp:// or tls+tcp://); empty disables."},
        [F_SHARD_INDEX] = {"shard.index", TS_FLAG_STRING, "0",
                           "This shard's index in [0, shard.count)."},
        [F_SHARD_COUNT] =
            {"shard.count", TS_FLAG_STRING, "1",
             "Number of shards; targets are spread by rendezvous hashing of __address__."},
        [F_SHARD_COUNT_FILE] =
            {"shard.count-file", TS_FLAG_STRING, "",
             "File holding the number of shards (instead of --shard.count), re-read when it "
             "changes and on reload: shards can be added without restarting this one."},
        [F_SHARD_HANDOFF] = {"shard.handoff-period", TS_FLAG_STRING, "2m",
                             "After the shard count changes, targets that moved to another shard "
                             "are still scraped this long, so their new owner has started."},
        [F_RET_TIME] = {"storage.tsdb.retention.time", TS_FLAG_STRING, "15d",
                        "How long to retain samples in storage."},
        [F_RET_SIZE] =
            {"storage.tsdb.retention.size", TS_FLAG_STRING, "0B",
             "Maximum number of bytes that can be stored for blocks (units: B, KB, MB, GB, ...)."},
        [F_MIN_BLOCK] = {"storage.tsdb.min-block-duration", TS_FLAG_STRING, "2h",
                         "Minimum duration of a data block before being persisted."},
        [F_LIFECYCLE] = {"web.enable-lifecycle", TS_FLAG_BOOL, "false",
                         "Enable shutdown and reload via HTTP request."},
        [F_LOG_LEVEL] =
            {"log.level", TS_FLAG_STRING, "info",
             "Only log messages with the given severity or above: debug, info, warn, error."},
        [F_QUERY_TIMEOUT] = {"query.timeout", TS_FLAG_STRING, "2m",
                             "Maximum time a query may take before being aborted."},
        [F_QUERY_MAX_SAMPLES] = {"query.max-samples", TS_FLAG_STRING, "50000000",
                                 "Maximum number of samples a single query can load into memory."},
        [F_LOOKBACK] =
            {"query.lookback-delta", TS_FLAG_STRING, "5m",
             "The maximum lookback duration for retrieving metrics during expression evaluations."},
        TS_SERVE_STORE_SERVER_TLS_FLAGS(F_STORE_SERVER_TLS),
        [F_ENABLE_FEATURE] = {"enable-feature", TS_FLAG_LIST, "",
                              "Comma separated feature names to enable (repeatable). Valid "
                              "options: expand-external-labels."},
        [F_EXTERNAL_URL] = {"web.external-url", TS_FLAG_STRING, "", TS_SERVE_EXTERNAL_URL_HELP},
        [F_ROUTE_PREFIX] = {"web.route-prefix", TS_FLAG_STRING, "", TS_SERVE_ROUTE_PREFIX_HELP},
        TS_SERVE_WEB_SERVER_FLAGS(F_WEB_SERVER),
    };
    memcpy(s->flags, init, sizeof(init));
    bool help;
    int rc = ts_flags_parse(s->flags, F_NFLAGS, argc, argv, "shard", &help);
    if (rc)
        return help ? -1 : 2;
    if (ts_log_set_level(s->flags[F_LOG_LEVEL].value) != TS_OK) {
        fprintf(stderr, "tessera shard: error: invalid log level \"%s\"\n",
                s->flags[F_LOG_LEVEL].value);
        return 2;
    }
    static const char *const features[] = {"expand-external-labels", NULL};
    s->expand_external_labels =
        ts_serve_feature(&s->flags[F_ENABLE_FEATURE], "expand-external-labels", features, "shard");
    char *end;
    s->shard_index = (uint32_t)strtoul(s->flags[F_SHARD_INDEX].value, &end, 10);
    bool bad = *end != '\0';
    s->shard_count = (uint32_t)strtoul(s->flags[F_SHARD_COUNT].value, &end, 10);
    bad = bad || *end || s->shard_count == 0;
    if (ts_serve_duration_flag(&s->flags[F_SHARD_HANDOFF], &s->handoff_ms))
        return 2;
    const char *count_file = s->flags[F_SHARD_COUNT_FILE].value;
    if (!bad && count_file[0]) {
        /* the count file wins over --shard.count; an index beyond it (a shard being scaled
         * away, or started before its count arrived) owns nothing until the count grows */
        ts_error err;
        ts_error_clear(&err);
        if (ts_scrape_count_file_read(count_file, &s->shard_count, &err)) {
            fprintf(stderr, "tessera shard: error: --shard.count-file: %s\n", err.msg);
            return 2;
        }
        if (s->shard_index >= s->shard_count)
            TS_LOG(TS_LOG_WARN, "shard",
                   "this shard's index is not below the shard count: it owns no targets",
                   "index=%u count=%u", s->shard_index, s->shard_count);
    } else if (!bad && s->shard_index >= s->shard_count) {
        bad = true;
    }
    if (bad) {
        fprintf(stderr, "tessera shard: error: need 0 <= --shard.index < --shard.count\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ start-up steps */

/* Each step starts one part and returns TS_OK, or says why it could not and
 * returns non-zero: STEP_USAGE for a bad flag (exit code 2), anything else
 * exits with 1.  shard_shutdown undoes whatever was started. */
enum { STEP_USAGE = 2 };

static void
shard_init(shard *s)
{
    ts_serve_start_time_ns();
    pthread_mutex_init(&s->cfg_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_cond_init(&s->reload_cv, NULL);
    ts_serve_query_stats_init(&s->qstats);
    ts_metrics_init(&s->metrics);
    ts_metrics_register(&s->metrics, ts_serve_collect_process, NULL);
    ts_metrics_register(&s->metrics, ts_serve_collect_query_stats, &s->qstats);
}

static int
start_config(shard *s)
{
    TS_LOG(TS_LOG_INFO, "shard", "starting tessera shard", "version=%s shard=%u/%u", TS_VERSION,
           s->shard_index, s->shard_count);
    if (load_config(s, &s->cfg) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "error loading config", "err=\"%s\"", s->reload_err);
        return TS_EINVAL;
    }
    s->reload_success = true;
    s->reload_time_ns = ts_now_ms() * 1000000;
    return TS_OK;
}

static int
start_engine(shard *s)
{
    ts_promql_engine_opts eo = {0};
    if (ts_serve_duration_flag(&s->flags[F_QUERY_TIMEOUT], &eo.timeout_ms) ||
        ts_serve_duration_flag(&s->flags[F_LOOKBACK], &eo.lookback_ms))
        return TS_EINVAL;
    eo.max_samples = (size_t)strtoull(s->flags[F_QUERY_MAX_SAMPLES].value, NULL, 10);
    eo.default_step_ms = s->cfg->evaluation_interval_ms;
    return ts_promql_engine_new(&s->eng, &eo);
}

static int
start_storage(shard *s)
{
    ts_error err;
    ts_error_clear(&err);
    ts_db_opts dbo;
    ts_db_opts_default(&dbo);
    if (ts_serve_duration_flag(&s->flags[F_RET_TIME], &dbo.retention_ms) ||
        ts_serve_duration_flag(&s->flags[F_MIN_BLOCK], &dbo.block_range_ms))
        return TS_EINVAL;
    /* every minute as Prometheus; more often for blocks shorter than 2 minutes
     * (tests), or a head would grow to several block ranges between two rounds */
    s->compact_every_ms = dbo.block_range_ms / 2;
    if (s->compact_every_ms > 60000 || s->compact_every_ms <= 0)
        s->compact_every_ms = 60000;
    if (s->compact_every_ms < 1000)
        s->compact_every_ms = 1000;
    if (ts_config_parse_bytes(s->flags[F_RET_SIZE].value, &dbo.retention_bytes, &err) != TS_OK) {
        fprintf(stderr, "tessera shard: error: --storage.tsdb.retention.size: %s\n", err.msg);
        return TS_EINVAL;
    }
    uint64_t t_open = ts_mono_ns();
    if (ts_db_open(s->flags[F_TSDB_PATH].value, &dbo, &s->db, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "opening storage failed", "err=\"%s\"", err.msg);
        return TS_EIO;
    }
    TS_LOG(TS_LOG_INFO, "shard", "TSDB started", "path=%s duration_ms=%llu",
           s->flags[F_TSDB_PATH].value, (unsigned long long)((ts_mono_ns() - t_open) / 1000000));
    ts_metrics_register(&s->metrics, ts_db_write_metrics, s->db);
    ts_metrics_register(&s->metrics, collect_store, s);
    ts_metrics_register(&s->metrics, collect_scrape, s);
    ts_metrics_register(&s->metrics, collect_scrape_managers, s);
    return TS_OK;
}

/* The scrape and discovery managers on the loop (not yet configured: their
 * loops start with start_scraping), so the API can list targets. */
static int
start_loop(shard *s)
{
    uv_loop_init(&s->loop);
    s->loop_inited = true;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    ts_scrape_opts sco = {.loop = &s->loop,
                          .appender = scrape_appender,
                          .appender_ctx = s,
                          .jitter_seed = ts_scrape_jitter_seed(host, s->cfg->external_labels),
                          .shard_index = s->shard_index,
                          .shard_count = s->shard_count};
    if (ts_scrape_manager_new(&sco, &s->scrape) != TS_OK ||
        ts_discovery_manager_new(&s->loop, ts_scrape_manager_sync, s->scrape, &s->disc) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot start scraping", "");
        return TS_EIO;
    }
    return TS_OK;
}

/* The rule manager and the notifier (evaluation starts in start_web, once
 * the external URL is known). */
static int
start_rules(shard *s)
{
    if (ts_notifier_new(&s->notifier) != TS_OK)
        return TS_EIO;
    ts_rules_manager_opts rmo = {.engine = s->eng,
                                 .queryable = ts_db_queryable(s->db),
                                 .appender = scrape_appender,
                                 .appender_ctx = s,
                                 .external_url = s->external_url,
                                 .notify = ts_notifier_send,
                                 .notify_ctx = s->notifier};
    ts_rules_manager_new(&rmo, &s->rules);
    ts_metrics_register(&s->metrics, ts_notifier_collect, s->notifier);
    ts_metrics_register(&s->metrics, ts_rules_manager_collect, s->rules);
    return TS_OK;
}

/* The HTTP server, before the storage so a bad listen address or URL flag
 * fails at once (it listens from start_web on). */
static int
create_web(shard *s)
{
    ts_error err;
    ts_error_clear(&err);
    if (ts_serve_web_urls_get(s->flags[F_EXTERNAL_URL].value, s->flags[F_ROUTE_PREFIX].value,
                              s->flags[F_WEB_LISTEN].value, "shard", &s->urls) != 0)
        return STEP_USAGE;
    if (strlen(s->urls.external_url) >= sizeof(s->external_url)) {
        fprintf(stderr, "tessera shard: error: --web.external-url is too long\n");
        return STEP_USAGE;
    }
    snprintf(s->external_url, sizeof(s->external_url), "%s", s->urls.external_url);
    ts_web_server_opts wo = {.listen = s->flags[F_WEB_LISTEN].value,
                             .route_prefix = s->urls.route_prefix};
    if (ts_serve_web_server(&s->flags[F_WEB_SERVER], &wo) != 0)
        return TS_EINVAL;
    if (ts_web_server_new(&s->web, &wo, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot create web server", "err=\"%s\"", err.msg);
        return TS_EIO;
    }
    s->flag_pairs = ts_serve_flag_pairs(s->flags, F_NFLAGS, &s->nflag_pairs);
    return TS_OK;
}

/* The API and every package's routes, listening, then rule evaluation (its
 * alerts link to the server's URL). */
static int
start_web(shard *s)
{
    ts_error err;
    ts_error_clear(&err);
    ts_web_api_opts ao = {
        .queryable = ts_db_queryable(s->db),
        .query = query_fn,
        .query_ctx = s,
        .buildinfo = ts_serve_buildinfo(),
        .flags = s->flag_pairs,
        .nflags = s->nflag_pairs,
        .runtimeinfo = runtimeinfo,
        .config_yaml = config_yaml,
        .ready = is_ready,
        .enable_lifecycle = s->flags[F_LIFECYCLE].on,
        .reload = api_reload,
        .quit = api_quit,
        .info_ctx = s,
    };
    if (ts_web_api_register(s->web, &ao, &s->api) != TS_OK)
        return TS_EIO;
    ts_web_server *w = s->web;
    ts_web_server_route(w, "GET", "/metrics", false, ts_web_handle_metrics, &s->metrics);
    s->targets = (ts_web_targets_src){.scrape = s->scrape, .discovery = s->disc};
    ts_web_server_route(w, "GET", "/api/v1/targets", false, ts_web_scrape_handle_targets,
                        &s->targets);
    ts_web_server_route(w, "GET", "/api/v1/status/tsdb", false, ts_web_tsdb_handle_status, s->db);
    ts_web_server_route(w, "GET", "/api/v1/rules", false, ts_web_rules_handle_rules, s->rules);
    ts_web_server_route(w, "GET", "/api/v1/alerts", false, ts_web_rules_handle_alerts, s->rules);
    ts_web_server_route(w, "GET", "/api/v1/alertmanagers", false, ts_web_rules_handle_alertmanagers,
                        s->notifier);
    ts_web_server_route(w, "GET", "/api/v1/targets/metadata", false,
                        ts_web_scrape_handle_targets_metadata, s->scrape);
    ts_web_server_route(w, "GET", "/api/v1/metadata", false, ts_web_scrape_handle_metadata,
                        s->scrape);
    ts_web_console_opts co = {.component = "shard", .external_path = s->urls.external_path};
    if (ts_web_console_register(w, &co, &s->console) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot set up the web console", "");
        return TS_EIO;
    }
    if (ts_web_server_start(w, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot listen", "address=%s err=\"%s\"",
               s->flags[F_WEB_LISTEN].value, err.msg);
        return TS_EIO;
    }
    TS_LOG(TS_LOG_INFO, "shard", "web server listening", "address=%s port=%d",
           s->flags[F_WEB_LISTEN].value, ts_web_server_port(w));
    if (!s->flags[F_EXTERNAL_URL].value[0]) {
        /* the port actually bound (the listen address may say :0) */
        char hn[256] = "";
        gethostname(hn, sizeof(hn) - 1);
        snprintf(s->external_url, sizeof(s->external_url), "http://%s:%d", hn,
                 ts_web_server_port(w));
    }
    if (apply_rules(s, s->cfg) != TS_OK || ts_rules_manager_start(s->rules) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot start rule evaluation", "err=\"%s\"", s->reload_err);
        return TS_EINVAL;
    }
    return TS_OK;
}

/* The store API's MetaRequest (proto/store.proto): the shard's own /api/v1/metadata JSON
 * (pkg/web/scrape_api.c writes it for both), so the querier merges exactly what the shard shows. */
static int
store_meta(void *ctx, int kind, const char *const *params, size_t nparams, ts_buf *json,
           ts_error *err)
{
    shard *s = ctx;
    if (kind == TS_STORE_META_RULES || kind == TS_STORE_META_ALERTS)
        return ts_serve_rules_meta(s->rules, kind, params, nparams, json, err);
    if (kind != TS_STORE_META_METADATA && kind != TS_STORE_META_TARGETS &&
        kind != TS_STORE_META_TARGETS_METADATA)
        return ts_error_set(err, TS_EUNSUPPORTED, "unknown meta kind %d", kind);
    const char *metric = NULL, *limit_s = NULL, *state = NULL, *pool = NULL, *match = NULL;
    for (size_t i = 0; i + 1 < nparams; i += 2) {
        if (strcmp(params[i], "metric") == 0)
            metric = params[i + 1];
        else if (strcmp(params[i], "limit") == 0)
            limit_s = params[i + 1];
        else if (strcmp(params[i], "state") == 0)
            state = params[i + 1];
        else if (strcmp(params[i], "scrapePool") == 0)
            pool = params[i + 1];
        else if (strcmp(params[i], "match_target") == 0)
            match = params[i + 1];
    }
    ts_jsonw j;
    ts_jsonw_init(&j, json);
    if (kind == TS_STORE_META_TARGETS) {
        ts_web_scrape_write_targets(&s->targets, state, pool, &j);
        return ts_jsonw_err(&j);
    }
    long limit;
    if (!ts_web_param_limit(limit_s, &limit))
        return ts_error_set(err, TS_EINVAL, "limit must be a number");
    if (kind == TS_STORE_META_TARGETS_METADATA) {
        ts_matcher **ms;
        size_t nms;
        char msg[TS_ERROR_MSG_MAX + 64];
        if (ts_web_param_match_target(match, &ms, &nms, msg, sizeof(msg)) != TS_OK)
            return ts_error_set(err, TS_EINVAL, "%s", msg);
        ts_web_scrape_write_targets_metadata(s->scrape, ms, nms, metric, limit, &j);
        ts_promql_matchers_free(ms, nms);
        return ts_jsonw_err(&j);
    }
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_web_scrape_write_metadata(s->scrape, &a, metric, limit, &j);
    ts_arena_fini(&a);
    return ts_jsonw_err(&j);
}

static int
start_store_api(shard *s)
{
    if (!s->flags[F_STORE_LISTEN].value[0])
        return TS_OK;
    ts_error err;
    ts_error_clear(&err);
    ts_store_server_opts so = {
        .listen_url = s->flags[F_STORE_LISTEN].value,
        .queryable = ts_db_queryable(s->db),
        .external_labels = s->cfg->external_labels,
        .time_range = db_time_range,
        .time_range_ctx = s,
        .component = "shard",
        .shard_index = s->shard_index,
        .shard_count = s->shard_count,
        .meta = store_meta,
        .meta_ctx = s,
        .meta_kinds = TS_STORE_META_ALL,
    };
    ts_serve_store_server_tls(&s->flags[F_STORE_SERVER_TLS], &so);
    if (ts_store_server_start(&s->store, &so, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot start the store API", "err=\"%s\"", err.msg);
        return TS_EIO;
    }
    mark_rule_series(s);
    return TS_OK;
}

/* Scraping starts (the first config applied to the managers); signals and
 * the reload/stop wake-ups; the compactor thread. */
static int
start_scraping(shard *s)
{
    if (ts_scrape_manager_apply_config(s->scrape, s->cfg) != TS_OK ||
        ts_discovery_manager_apply_config(s->disc, s->cfg) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot apply config", "");
        return TS_EINVAL;
    }
    const char *count_file = s->flags[F_SHARD_COUNT_FILE].value;
    if (count_file[0] &&
        ts_scrape_count_watch_start(&s->loop, s->scrape, count_file, s->shard_index, s->shard_count,
                                    s->handoff_ms, on_count_change, s, &s->count_watch) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "shard", "cannot watch the shard count file", "file=%s", count_file);
        return TS_EIO;
    }
    uv_signal_init(&s->loop, &s->sighup);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sighup.data = s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    uv_signal_start(&s->sigterm, on_sigterm, SIGTERM);
    uv_signal_start(&s->sigint, on_sigterm, SIGINT);
    uv_async_init(&s->loop, &s->reload_async, on_reload_async);
    uv_async_init(&s->loop, &s->stop_async, on_stop_async);
    s->reload_async.data = s->stop_async.data = s;
    s->handles_inited = true;
    ts_serve_compactor_start(&s->compactor, s->db, "shard", s->compact_every_ms);
    return TS_OK;
}

/* ------------------------------------------------------------ shutdown */

/* Stops whatever was started, in an order where no thread still running
 * touches what is being freed, then frees s. */
static void
shard_shutdown(shard *s)
{
    atomic_store(&s->ready, false);
    pthread_mutex_lock(&s->reload_mu);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->reload_cv);
    pthread_mutex_unlock(&s->reload_mu);
    ts_serve_compactor_stop(&s->compactor);
    /* servers first: after this no other thread touches the managers */
    ts_web_server_free(s->web);
    s->web = NULL;
    ts_web_api_free(s->api);
    ts_web_console_free(s->console);
    ts_serve_web_urls_free(&s->urls);
    ts_store_server_stop(s->store);
    s->store = NULL;
    ts_rules_manager_free(s->rules); /* joins the evaluation thread */
    s->rules = NULL;
    ts_notifier_free(s->notifier); /* after the rules: nothing sends any more */
    s->notifier = NULL;
    if (s->loop_inited) {
        ts_scrape_count_watch_close(s->count_watch);
        s->count_watch = NULL;
        if (s->scrape)
            ts_scrape_manager_close(s->scrape);
        if (s->disc)
            ts_discovery_manager_close(s->disc);
        if (s->handles_inited) {
            uv_close((uv_handle_t *)&s->sighup, NULL);
            uv_close((uv_handle_t *)&s->sigterm, NULL);
            uv_close((uv_handle_t *)&s->sigint, NULL);
            uv_close((uv_handle_t *)&s->reload_async, NULL);
            uv_close((uv_handle_t *)&s->stop_async, NULL);
        }
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    ts_db_close(s->db);
    ts_promql_engine_free(s->eng);
    ts_config_free(s->cfg);
    ts_free(s->flag_pairs);
    ts_flags_free(s->flags, F_NFLAGS);
    pthread_mutex_destroy(&s->cfg_mu);
    pthread_mutex_destroy(&s->reload_mu);
    pthread_cond_destroy(&s->reload_cv);
    ts_free(s);
    TS_LOG(TS_LOG_INFO, "shard", "see you next time!", "");
}

/* ------------------------------------------------------------ main */

int
ts_cmd_shard(int argc, char **argv)
{
    shard *s = ts_calloc(1, sizeof(*s));
    int rc = parse_flags(s, argc, argv);
    if (rc) {
        ts_flags_free(s->flags, F_NFLAGS);
        ts_free(s);
        return rc < 0 ? 0 : rc;
    }
    shard_init(s);
    /* in order: later steps use what earlier ones started */
    static int (*const steps[])(shard *) = {
        start_config, start_engine, create_web,      start_storage,  start_loop,
        start_rules,  start_web,    start_store_api, start_scraping,
    };
    int exit_code = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && !exit_code; i++) {
        rc = steps[i](s);
        exit_code = rc == TS_OK ? 0 : rc == STEP_USAGE ? 2 : 1;
    }
    if (!exit_code) {
        atomic_store(&s->ready, true);
        TS_LOG(TS_LOG_INFO, "shard", "server is ready to receive web requests", "");
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    shard_shutdown(s);
    return exit_code;
}
