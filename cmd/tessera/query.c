/*
 * tessera query: the global query endpoint (Thanos Querier's job).
 *
 *   stores (--store, --store.sd-files, --store.sd-dns) -> endpoints (Info probes)
 *     -> fan-out querier (prune, parallel, dedup, partial response)
 *     -> PromQL engine -> Prometheus HTTP API (+ /api/v1/stores)
 *
 * Per request, `dedup=false` turns deduplication off and
 * `partial_response=false|true` overrides --query.partial-response, as
 * Thanos' API does; `store_response_timeout=<duration>` overrides
 * --store.response-timeout (carried to the stores in each request's deadline).
 *
 * At most --query.max-concurrency queries run at once (Prometheus' gate);
 * the rest wait in line, each at most its own timeout.  The web server has
 * that many workers plus a few, so series, labels, /metrics and health
 * checks are answered while the queries' slots are full.
 */
#include "cmd/tessera/cmd.h"
#include "cmd/tessera/flags.h"
#include "pkg/query/global_api.h"
#include "cmd/tessera/serve.h"
#include "pkg/query/api.h"
#include "pkg/query/fanout.h"
#include "pkg/util/log.h"
#include "pkg/util/gotime.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "pkg/web/api.h"
#include "pkg/web/console.h"
#include "pkg/web/server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    F_WEB_LISTEN,
    F_STORE,
    F_SD_FILES,
    F_SD_DNS,
    F_REPLICA_LABEL,
    F_TIMEOUT,
    F_PARTIAL,
    F_LOOKBACK,
    F_MAX_SAMPLES,
    F_SD_INTERVAL,
    F_LOG_LEVEL,
    F_STORE_CLIENT_TLS, /* TS_SERVE_STORE_CLIENT_TLS_FLAGS */
    F_STORE_CLIENT_TLS_LAST = F_STORE_CLIENT_TLS + TS_SERVE_STORE_CLIENT_TLS_NFLAGS - 1,
    F_EXTERNAL_URL,
    F_ROUTE_PREFIX,
    F_RESPONSE_TIMEOUT,
    F_SLOW_REPLICA,
    F_LIMIT_SERIES,
    F_LIMIT_SAMPLES,
    F_MAX_CONCURRENCY,
    F_WEB_SERVER, /* TS_SERVE_WEB_SERVER_FLAGS */
    F_WEB_SERVER_LAST = F_WEB_SERVER + TS_SERVE_WEB_SERVER_NFLAGS - 1,
    F_NFLAGS
};

typedef struct querier {
    ts_flag flags[F_NFLAGS];
    const char **flag_pairs;
    size_t nflag_pairs;
    const char **replica_labels;
    size_t nreplica;
    int64_t timeout_ms;
    ts_endpoints *endpoints;
    ts_fanout fanout; /* default options: series/labels endpoints */
    ts_promql_engine *eng;
    ts_web_server *web;
    ts_web_api *api;
    ts_web_console *console;
    ts_serve_web_urls urls; /* --web.external-url, --web.route-prefix */
    ts_metrics_registry metrics;
    ts_serve_query_stats qstats;
    ts_query_fanout_stats fstats;
    /* the concurrency gate */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    long max_concurrency, running, queued;
    ts_query_global_api global_api; /* /api/v1/metadata over the stores */
} querier;

/* The fan-out options of one request (Thanos' dedup, partial_response and
 * store_response_timeout parameters over the flags' defaults). */
static ts_query_fanout_opts
request_opts(querier *q, ts_web_req *req)
{
    return ts_query_api_fanout_opts(&q->fanout.opts, req);
}

/* Waits for a query slot, at most until deadline_ms (0 = none). */
static int
gate_enter(querier *q, int64_t deadline_ms)
{
    pthread_mutex_lock(&q->gate_mu);
    q->queued++;
    while (q->running >= q->max_concurrency) {
        if (!deadline_ms) {
            pthread_cond_wait(&q->gate_cv, &q->gate_mu);
            continue;
        }
        int64_t left = deadline_ms - ts_now_ms();
        if (left <= 0) {
            q->queued--;
            pthread_mutex_unlock(&q->gate_mu);
            return TS_ETIMEOUT;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t nsec = ts.tv_nsec + left * 1000000LL;
        ts.tv_sec += nsec / 1000000000LL;
        ts.tv_nsec = nsec % 1000000000LL;
        pthread_cond_timedwait(&q->gate_cv, &q->gate_mu, &ts);
    }
    q->queued--;
    q->running++;
    pthread_mutex_unlock(&q->gate_mu);
    return TS_OK;
}

static void
gate_leave(querier *q)
{
    pthread_mutex_lock(&q->gate_mu);
    q->running--;
    pthread_cond_signal(&q->gate_cv);
    pthread_mutex_unlock(&q->gate_mu);
}

static int
query_fn(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out)
{
    querier *q = ctx;
    ts_query_fanout_opts fo = request_opts(q, p->req);
    if (p->timeout_ms > 0 && p->timeout_ms < fo.timeout_ms)
        fo.timeout_ms = p->timeout_ms;
    ts_fanout f;
    ts_query_fanout_init(&f, q->endpoints, &fo);
    int64_t t0 = ts_now_ms();
    if (gate_enter(q, fo.timeout_ms > 0 ? t0 + fo.timeout_ms : 0) != TS_OK)
        return ts_web_api_query_fail(out, TS_WEB_API_ERR_TIMEOUT,
                                     "query timed out in query queue (--query.max-concurrency=%ld)",
                                     q->max_concurrency);
    /* the time spent in line counts against the query's timeout */
    int64_t waited = ts_now_ms() - t0;
    if (waited > 0 && f.opts.timeout_ms > waited)
        f.opts.timeout_ms -= waited;
    int rc = ts_serve_run_query(q->eng, &f.qb, p, out, &q->qstats);
    gate_leave(q);
    return rc;
}

/* series / labels / label values with the request's options */
static ts_queryable *
queryable_for(void *ctx, ts_web_req *req)
{
    querier *q = ctx;
    ts_fanout *f = ts_arena_alloc(ts_web_req_arena(req), sizeof(*f));
    ts_query_fanout_opts fo = request_opts(q, req);
    ts_query_fanout_init(f, q->endpoints, &fo);
    return &f->qb;
}

/* The concurrency gate's gauges (the gate is this command's own). */
static void
collect_gate(void *ctx, ts_metrics_writer *w)
{
    querier *q = ctx;
    pthread_mutex_lock(&q->gate_mu);
    long running = q->running, queued = q->queued;
    pthread_mutex_unlock(&q->gate_mu);
    ts_mw_family(w, "prometheus_engine_queries", "gauge",
                 "The current number of queries being executed or waiting.");
    ts_mw_sample(w, "prometheus_engine_queries", NULL, (double)(running + queued));
    ts_mw_family(w, "prometheus_engine_queries_concurrent_max", "gauge",
                 "The max number of concurrent queries.");
    ts_mw_sample(w, "prometheus_engine_queries_concurrent_max", NULL, (double)q->max_concurrency);
}

static void
runtimeinfo(void *ctx, ts_web_api_runtimeinfo *ri, ts_arena *a)
{
    char cwd[1024];
    ri->start_time_ns = ts_serve_start_time_ns();
    ri->cwd = ts_arena_strdup(a, getcwd(cwd, sizeof(cwd)) ? cwd : "");
    ri->reload_config_success = true;
    ri->last_config_time_ns = ts_serve_start_time_ns();
    ri->gomaxprocs = sysconf(_SC_NPROCESSORS_ONLN);
    ri->gogc = "";
    ri->godebug = "";
    ri->storage_retention = "";
}

static const char *
config_yaml(void *ctx, ts_arena *a)
{
    return "";
}

/* A non-negative integer flag. */
static int
count_flag(const ts_flag *f, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(f->value, &end, 10);
    if (!f->value[0] || *end || errno || f->value[0] == '-') {
        fprintf(stderr, "tessera query: error: --%s: not a non-negative integer: %s\n", f->name,
                f->value);
        return TS_EINVAL;
    }
    *out = v;
    return TS_OK;
}

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
    stop_signal = sig;
}

int
ts_cmd_query(int argc, char **argv)
{
    querier *q = ts_calloc(1, sizeof(*q));
    ts_flag init[F_NFLAGS] = {
        [F_WEB_LISTEN] = {"web.listen-address", TS_FLAG_STRING, "0.0.0.0:9090",
                          "Address to listen on for the HTTP API."},
        [F_STORE] = {"store", TS_FLAG_LIST, "",
                     "Store API address (host:port or nng URL); repeatable."},
        [F_SD_FILES] = {"store.sd-files", TS_FLAG_STRING, "",
                        "File in file_sd format listing store addresses; re-read on change."},
        [F_SD_DNS] = {"store.sd-dns", TS_FLAG_LIST, "",
                      "DNS name of stores: dnssrv+_store._tcp.NAME (SRV) or dns+HOST:PORT "
                      "(A/AAAA); repeatable."},
        [F_REPLICA_LABEL] = {"query.replica-label", TS_FLAG_LIST, "replica",
                             "Label naming HA replicas, deduplicated over; repeatable."},
        [F_TIMEOUT] = {"query.timeout", TS_FLAG_STRING, "2m", "Maximum time to process a query."},
        [F_PARTIAL] = {"query.partial-response", TS_FLAG_BOOL, "true",
                       "Answer with a warning when a store fails (--no-query.partial-response: "
                       "fail the query)."},
        [F_LOOKBACK] = {"query.lookback-delta", TS_FLAG_STRING, "5m",
                        "Lookback for instant selectors."},
        [F_MAX_SAMPLES] = {"query.max-samples", TS_FLAG_STRING, "50000000",
                           "Maximum samples a query may load."},
        [F_SD_INTERVAL] = {"store.sd-interval", TS_FLAG_STRING, "5s",
                           "How often to re-read the sd file and DNS, and to probe stores."},
        [F_LOG_LEVEL] = {"log.level", TS_FLAG_STRING, "info", "debug, info, warn, error."},
        TS_SERVE_STORE_CLIENT_TLS_FLAGS(F_STORE_CLIENT_TLS),
        [F_EXTERNAL_URL] = {"web.external-url", TS_FLAG_STRING, "", TS_SERVE_EXTERNAL_URL_HELP},
        [F_ROUTE_PREFIX] = {"web.route-prefix", TS_FLAG_STRING, "", TS_SERVE_ROUTE_PREFIX_HELP},
        TS_SERVE_WEB_SERVER_FLAGS(F_WEB_SERVER),
        [F_RESPONSE_TIMEOUT] = {"store.response-timeout", TS_FLAG_STRING, "5s",
                                "Longest wait for one reply of a store (a hung store fails after "
                                "it); 0 = the query's timeout."},
        [F_SLOW_REPLICA] =
            {"store.slow-replica-timeout", TS_FLAG_STRING, "500ms",
             "Once a replica of a shard answered, wait max(this, its answer time) for its peers, "
             "then go on without them; 0 = always wait for every replica."},
        [F_LIMIT_SERIES] =
            {"store.limits.request-series", TS_FLAG_STRING, "0",
             "Most series one store request may return; the query fails past it (0 = no limit)."},
        [F_LIMIT_SAMPLES] = {"store.limits.request-samples", TS_FLAG_STRING, "0",
                             "Most samples (in chunks) one store request may return; the query "
                             "fails past it (0 = no limit)."},
        [F_MAX_CONCURRENCY] = {"query.max-concurrency", TS_FLAG_STRING, "20",
                               "Most queries run at once; more wait in line."},
    };
    memcpy(q->flags, init, sizeof(init));
    bool help;
    int rc = ts_flags_parse(q->flags, F_NFLAGS, argc, argv, "query", &help);
    int exit_code = help ? 0 : 2;
    if (rc)
        goto out;
    exit_code = 1;
    if (ts_log_set_level(q->flags[F_LOG_LEVEL].value) != TS_OK) {
        fprintf(stderr, "tessera query: error: invalid log level\n");
        goto out;
    }
    ts_serve_start_time_ns();
    ts_serve_query_stats_init(&q->qstats);
    int64_t lookback, sd_interval, response_timeout, slow_replica;
    if (ts_serve_duration_flag(&q->flags[F_TIMEOUT], &q->timeout_ms) ||
        ts_serve_duration_flag(&q->flags[F_LOOKBACK], &lookback) ||
        ts_serve_duration_flag(&q->flags[F_SD_INTERVAL], &sd_interval) ||
        ts_serve_duration_flag(&q->flags[F_RESPONSE_TIMEOUT], &response_timeout) ||
        ts_serve_duration_flag(&q->flags[F_SLOW_REPLICA], &slow_replica))
        goto out;
    uint64_t limit_series, limit_samples, max_samples, max_conc;
    if (count_flag(&q->flags[F_LIMIT_SERIES], &limit_series) ||
        count_flag(&q->flags[F_LIMIT_SAMPLES], &limit_samples) ||
        count_flag(&q->flags[F_MAX_SAMPLES], &max_samples) ||
        count_flag(&q->flags[F_MAX_CONCURRENCY], &max_conc))
        goto out;
    if (max_conc < 1 || max_conc > 10000) {
        fprintf(stderr, "tessera query: error: --query.max-concurrency must be in [1, 10000]\n");
        goto out;
    }
    q->max_concurrency = (long)max_conc;
    pthread_mutex_init(&q->gate_mu, NULL);
    pthread_cond_init(&q->gate_cv, NULL);
    if (q->flags[F_REPLICA_LABEL].nvalues) {
        q->replica_labels = q->flags[F_REPLICA_LABEL].values;
        q->nreplica = q->flags[F_REPLICA_LABEL].nvalues;
    } else {
        static const char *const def[] = {"replica"};
        q->replica_labels = (const char **)def;
        q->nreplica = 1;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_query_endpoints_opts eo =
        ts_serve_endpoints_opts(&q->flags[F_STORE], &q->flags[F_SD_FILES], &q->flags[F_SD_DNS],
                                sd_interval, &q->flags[F_STORE_CLIENT_TLS]);
    if (ts_query_endpoints_start(&q->endpoints, &eo, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "query", "cannot start store discovery", "err=\"%s\"", err.msg);
        goto out;
    }
    ts_query_fanout_opts fo = {.dedup = true,
                               .partial_response = q->flags[F_PARTIAL].on,
                               .replica_labels = q->replica_labels,
                               .nreplica = q->nreplica,
                               .timeout_ms = q->timeout_ms,
                               .response_timeout_ms = response_timeout,
                               .slow_replica_ms = slow_replica,
                               .store_max_series = limit_series,
                               .store_max_samples = limit_samples,
                               .max_samples = max_samples,
                               .stats = &q->fstats};
    ts_query_fanout_init(&q->fanout, q->endpoints, &fo);
    ts_promql_engine_opts po = {
        .timeout_ms = q->timeout_ms, .lookback_ms = lookback, .max_samples = (size_t)max_samples};
    if (ts_promql_engine_new(&q->eng, &po) != TS_OK)
        goto out;
    if (ts_serve_web_urls_get(q->flags[F_EXTERNAL_URL].value, q->flags[F_ROUTE_PREFIX].value,
                              q->flags[F_WEB_LISTEN].value, "query", &q->urls) != 0) {
        exit_code = 2;
        goto out;
    }
    ts_web_server_opts wo = {.listen = q->flags[F_WEB_LISTEN].value,
                             .route_prefix = q->urls.route_prefix,
                             .nworkers = (int)q->max_concurrency + 4};
    if (ts_serve_web_server(&q->flags[F_WEB_SERVER], &wo) != 0) {
        exit_code = 2;
        goto out;
    }
    if (ts_web_server_new(&q->web, &wo, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "query", "cannot create web server", "err=\"%s\"", err.msg);
        goto out;
    }
    q->flag_pairs = ts_serve_flag_pairs(q->flags, F_NFLAGS, &q->nflag_pairs);
    ts_web_api_opts ao = {
        .queryable = &q->fanout.qb,
        .queryable_for = queryable_for,
        .queryable_ctx = q,
        .query = query_fn,
        .query_ctx = q,
        .buildinfo = ts_serve_buildinfo(),
        .flags = q->flag_pairs,
        .nflags = q->nflag_pairs,
        .runtimeinfo = runtimeinfo,
        .config_yaml = config_yaml,
        .info_ctx = q,
    };
    ts_metrics_init(&q->metrics);
    ts_metrics_register(&q->metrics, ts_serve_collect_process, NULL);
    ts_metrics_register(&q->metrics, ts_serve_collect_query_stats, &q->qstats);
    ts_metrics_register(&q->metrics, ts_query_endpoints_write_metrics, q->endpoints);
    ts_metrics_register(&q->metrics, ts_query_fanout_write_metrics, &q->fstats);
    ts_metrics_register(&q->metrics, collect_gate, q);
    if (ts_web_api_register(q->web, &ao, &q->api) != TS_OK)
        goto out;
    ts_web_server_route(q->web, "GET", "/api/v1/stores", false, ts_query_api_stores, q->endpoints);
    ts_web_server_route(q->web, "GET", "/metrics", false, ts_web_handle_metrics, &q->metrics);
    q->global_api = (ts_query_global_api){.fanout = &q->fanout};
    static const struct {
        const char *path;
        ts_web_handler_fn fn;
    } global[] = {
        {"/api/v1/metadata", ts_query_global_api_handle_metadata},
        {"/api/v1/targets", ts_query_global_api_handle_targets},
        {"/api/v1/targets/metadata", ts_query_global_api_handle_targets_metadata},
        {"/api/v1/rules", ts_query_global_api_handle_rules},
        {"/api/v1/alerts", ts_query_global_api_handle_alerts},
    };
    for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++)
        ts_web_server_route(q->web, "GET", global[i].path, false, global[i].fn, &q->global_api);
    ts_web_console_opts co = {.component = "query", .external_path = q->urls.external_path};
    if (ts_web_console_register(q->web, &co, &q->console) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "query", "cannot set up the web console", "");
        goto out;
    }
    if (ts_web_server_start(q->web, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "query", "cannot listen", "address=%s err=\"%s\"",
               q->flags[F_WEB_LISTEN].value, err.msg);
        goto out;
    }
    TS_LOG(TS_LOG_INFO, "query", "querier listening", "address=%s port=%d stores=%zu",
           q->flags[F_WEB_LISTEN].value, ts_web_server_port(q->web), q->flags[F_STORE].nvalues);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_signal)
        pause();
    TS_LOG(TS_LOG_WARN, "query", "received signal, exiting gracefully", "");
    exit_code = 0;
out:
    ts_web_server_free(q->web);
    ts_web_api_free(q->api);
    ts_web_console_free(q->console);
    ts_serve_web_urls_free(&q->urls);
    ts_promql_engine_free(q->eng);
    ts_query_endpoints_stop(q->endpoints);
    ts_free(q->flag_pairs);
    ts_flags_free(q->flags, F_NFLAGS);
    ts_free(q);
    return exit_code;
}
