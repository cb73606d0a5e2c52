/*
 * tessera rule: the global ruler (Thanos Ruler's job).
 *
 *   stores (--store, --store.sd-files, --store.sd-dns) -> endpoints -> fan-out
 *     querier with dedup (as tessera query) -> PromQL engine -> rules manager
 *     -> own TSDB (WAL first) -> store API (tessera query finds the results)
 *                             -> Alertmanagers (notifier)
 *
 * The config file is prometheus.yml's format with only global
 * (evaluation_interval, external_labels), rule_files and alerting
 * (ts_config_load_ruler refuses any other key with its line).  Rules run at
 * Prometheus' evaluation instants (pkg/rules).  Run two with the same file and
 * a different `replica` external label: the querier dedups their results,
 * Alertmanager their alerts.  SIGHUP and POST /-/reload re-read the file.
 * This file only parses flags and wires packages.
 */
#include "cmd/tessera/cmd.h"
#include "cmd/tessera/flags.h"
#include "cmd/tessera/serve.h"
#include "pkg/config/config.h"
#include "pkg/query/fanout.h"
#include "pkg/rules/manager.h"
#include "pkg/rules/notifier.h"
#include "pkg/rules/rulefmt.h"
#include "pkg/store/store.h"
#include "pkg/tsdb/db.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "pkg/web/console.h"
#include "pkg/web/api.h"
#include "pkg/web/rules_api.h"
#include "pkg/web/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    F_CONFIG,
    F_TSDB_PATH,
    F_RET_TIME,
    F_WEB_LISTEN,
    F_STORE_LISTEN,
    F_STORE,
    F_SD_FILES,
    F_SD_DNS,
    F_SD_INTERVAL,
    F_REPLICA_LABEL,
    F_RESPONSE_TIMEOUT,
    F_QUERY_TIMEOUT,
    F_LOOKBACK,
    F_STORE_SERVER_TLS, /* TS_SERVE_STORE_SERVER_TLS_FLAGS */
    F_STORE_SERVER_TLS_LAST = F_STORE_SERVER_TLS + TS_SERVE_STORE_SERVER_TLS_NFLAGS - 1,
    F_STORE_CLIENT_TLS, /* TS_SERVE_STORE_CLIENT_TLS_FLAGS */
    F_STORE_CLIENT_TLS_LAST = F_STORE_CLIENT_TLS + TS_SERVE_STORE_CLIENT_TLS_NFLAGS - 1,
    F_EXTERNAL_URL,
    F_ROUTE_PREFIX,
    F_WEB_SERVER, /* TS_SERVE_WEB_SERVER_FLAGS */
    F_WEB_SERVER_LAST = F_WEB_SERVER + TS_SERVE_WEB_SERVER_NFLAGS - 1,
    F_LOG_LEVEL,
    F_FOR_GRACE,
    F_FOR_OUTAGE,
    F_ENABLE_FEATURE,
    F_NFLAGS
};

typedef struct ruler {
    ts_serve_web_urls urls; /* --web.external-url, --web.route-prefix */
    ts_web_console *console;
    ts_flag flags[F_NFLAGS];
    const char **flag_pairs;
    size_t nflag_pairs;
    ts_endpoints *endpoints;
    ts_fanout fanout;
    ts_query_fanout_stats fstats;
    ts_promql_engine *eng;
    ts_db *db;
    ts_serve_compactor compactor; /* head blocks and retention, as a shard's */
    ts_rules_manager *rules;
    ts_notifier *notifier;
    ts_store_server *store;
    ts_web_server *web;
    ts_web_api *api;
    ts_metrics_registry metrics;
    ts_serve_query_stats qstats;
    pthread_mutex_t cfg_mu; /* cfg and reloads */
    ts_config *cfg;
    char external_url[512];
    bool expand_external_labels; /* --enable-feature=expand-external-labels */
    bool reload_success;
    int64_t reload_time_ns;
} ruler;

static ts_appender *
rule_appender(void *ctx)
{
    return ts_db_appender(((ruler *)ctx)->db);
}

/* Loads the config and its rule files and applies them.  Caller holds cfg_mu. */
static int
reload_locked(ruler *r, ts_error *err)
{
    const char *path = r->flags[F_CONFIG].value;
    ts_config *cfg;
    int rc = ts_config_load_ruler(path, &cfg, err);
    if (rc) {
        if (err->line) {
            char msg[TS_ERROR_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            ts_error_set(err, rc, "%s:%d: %s", path, err->line, msg);
        }
        return rc;
    }
    if (r->expand_external_labels) /* ${POD_NAME} as the replica label, as on a shard */
        ts_config_expand_external_labels(cfg);
    char **paths = NULL;
    size_t npaths = 0;
    rc = ts_rule_paths(path, cfg->rule_files.v, cfg->rule_files.n, &paths, &npaths, err);
    if (rc == TS_OK)
        rc = ts_rules_manager_update(r->rules, paths, npaths, cfg->evaluation_interval_ms,
                                     cfg->external_labels, err);
    ts_rule_paths_free(paths, npaths);
    if (rc) {
        ts_config_free(cfg);
        return rc;
    }
    ts_notifier_apply_config(r->notifier, cfg);
    if (r->store)
        ts_store_server_set_external_labels(r->store, cfg->external_labels);
    ts_config *old = r->cfg;
    r->cfg = cfg;
    ts_config_free(old);
    return TS_OK;
}

static int
reload(ruler *r, ts_error *err)
{
    pthread_mutex_lock(&r->cfg_mu);
    int rc = reload_locked(r, err);
    r->reload_success = rc == TS_OK;
    r->reload_time_ns = ts_now_ms() * 1000000;
    pthread_mutex_unlock(&r->cfg_mu);
    if (rc)
        TS_LOG(TS_LOG_ERROR, "rule", "loading the config failed", "err=\"%s\"", err->msg);
    else
        TS_LOG(TS_LOG_INFO, "rule", "config loaded", "file=%s", r->flags[F_CONFIG].value);
    return rc;
}

static int
api_reload(void *ctx, ts_error *err)
{
    return reload(ctx, err);
}

static int
query_fn(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out)
{
    ruler *r = ctx;
    return ts_serve_run_query(r->eng, ts_db_queryable(r->db), p, out, &r->qstats);
}

static const char *
config_yaml(void *ctx, ts_arena *a)
{
    ruler *r = ctx;
    pthread_mutex_lock(&r->cfg_mu);
    const char *y = r->cfg ? ts_config_masked_text(r->cfg, a) : "";
    pthread_mutex_unlock(&r->cfg_mu);
    return y;
}

static void
runtimeinfo(void *ctx, ts_web_api_runtimeinfo *ri, ts_arena *a)
{
    ruler *r = ctx;
    char cwd[1024];
    ri->start_time_ns = ts_serve_start_time_ns();
    ri->cwd = ts_arena_strdup(a, getcwd(cwd, sizeof(cwd)) ? cwd : "");
    pthread_mutex_lock(&r->cfg_mu);
    ri->reload_config_success = r->reload_success;
    ri->last_config_time_ns = r->reload_time_ns;
    pthread_mutex_unlock(&r->cfg_mu);
    ri->gomaxprocs = sysconf(_SC_NPROCESSORS_ONLN);
    ri->gogc = "";
    ri->godebug = "";
    ri->storage_retention = r->flags[F_RET_TIME].value;
}

static void
db_time_range(void *ctx, int64_t *mint, int64_t *maxt)
{
    ts_db_stats st;
    ts_db_stats_get(((ruler *)ctx)->db, &st);
    int64_t lo = st.blocks_mint < st.head.mint ? st.blocks_mint : st.head.mint;
    *mint = lo == INT64_MAX ? INT64_MIN : lo;
    *maxt = INT64_MAX;
}

static volatile sig_atomic_t stop_signal, hup_signal;

static void
on_signal(int sig)
{
    if (sig == SIGHUP)
        hup_signal = 1;
    else
        stop_signal = sig;
}

int
ts_cmd_rule(int argc, char **argv)
{
    ruler *r = ts_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->cfg_mu, NULL);
    ts_flag init[F_NFLAGS] = {
        [F_CONFIG] =
            {"config.file", TS_FLAG_STRING, "rule.yml",
             "Ruler config: prometheus.yml's format with global, rule_files and alerting only."},
        [F_TSDB_PATH] = {"storage.tsdb.path", TS_FLAG_STRING, "data/",
                         "Where the rules' results are stored."},
        [F_RET_TIME] = {"storage.tsdb.retention.time", TS_FLAG_STRING, "15d",
                        "How long to retain the rules' results."},
        [F_WEB_LISTEN] = {"web.listen-address", TS_FLAG_STRING, "0.0.0.0:10902",
                          "Address of the HTTP API."},
        [F_STORE_LISTEN] = {"store.listen-address", TS_FLAG_STRING, "",
                            "Store API address serving the results (tcp://host:port)."},
        [F_STORE] = {"store", TS_FLAG_LIST, "",
                     "Store API address (host:port or nng URL) to evaluate over; repeatable."},
        [F_SD_FILES] = {"store.sd-files", TS_FLAG_STRING, "",
                        "File in file_sd format listing store addresses; re-read on change."},
        [F_SD_DNS] = {"store.sd-dns", TS_FLAG_LIST, "",
                      "DNS name of stores: dnssrv+_store._tcp.NAME (SRV) or dns+HOST:PORT "
                      "(A/AAAA); repeatable."},
        [F_SD_INTERVAL] = {"store.sd-interval", TS_FLAG_STRING, "5s",
                           "How often to re-read the sd file and DNS, and to probe stores."},
        [F_REPLICA_LABEL] = {"query.replica-label", TS_FLAG_LIST, "replica",
                             "Label naming HA replicas, deduplicated over; repeatable."},
        [F_RESPONSE_TIMEOUT] = {"store.response-timeout", TS_FLAG_STRING, "5s",
                                "Longest wait for one reply of a store."},
        [F_QUERY_TIMEOUT] = {"query.timeout", TS_FLAG_STRING, "2m",
                             "Maximum time of one rule's query."},
        [F_LOOKBACK] = {"query.lookback-delta", TS_FLAG_STRING, "5m",
                        "Lookback for instant selectors."},
        TS_SERVE_STORE_SERVER_TLS_FLAGS(F_STORE_SERVER_TLS),
        TS_SERVE_STORE_CLIENT_TLS_FLAGS(F_STORE_CLIENT_TLS),
        [F_EXTERNAL_URL] = {"web.external-url", TS_FLAG_STRING, "", TS_SERVE_EXTERNAL_URL_HELP},
        [F_ROUTE_PREFIX] = {"web.route-prefix", TS_FLAG_STRING, "", TS_SERVE_ROUTE_PREFIX_HELP},
        TS_SERVE_WEB_SERVER_FLAGS(F_WEB_SERVER),
        [F_LOG_LEVEL] = {"log.level", TS_FLAG_STRING, "info", "debug, info, warn, error."},
        [F_FOR_GRACE] = {"rules.alert.for-grace-period", TS_FLAG_STRING, "10m",
                         "After a restart, a restored pending alert fires no sooner than this; "
                         "only alerts whose rule has a longer `for` are restored."},
        [F_FOR_OUTAGE] = {"rules.alert.for-outage-tolerance", TS_FLAG_STRING, "1h",
                          "How far back the `for` state of alerts is looked for after a restart."},
        [F_ENABLE_FEATURE] = {"enable-feature", TS_FLAG_LIST, "",
                              "Comma separated feature names to enable (repeatable). Valid "
                              "options: expand-external-labels."},
    };
    memcpy(r->flags, init, sizeof(init));
    bool help;
    int rc = ts_flags_parse(r->flags, F_NFLAGS, argc, argv, "rule", &help);
    int exit_code = help ? 0 : 2;
    if (rc)
        goto out;
    exit_code = 1;
    if (ts_log_set_level(r->flags[F_LOG_LEVEL].value) != TS_OK) {
        fprintf(stderr, "tessera rule: error: invalid log level\n");
        goto out;
    }
    static const char *const features[] = {"expand-external-labels", NULL};
    r->expand_external_labels =
        ts_serve_feature(&r->flags[F_ENABLE_FEATURE], "expand-external-labels", features, "rule");
    ts_serve_start_time_ns();
    ts_serve_query_stats_init(&r->qstats);
    int64_t timeout, lookback, sd_interval, response_timeout, for_grace, for_outage;
    if (ts_serve_duration_flag(&r->flags[F_FOR_GRACE], &for_grace) ||
        ts_serve_duration_flag(&r->flags[F_FOR_OUTAGE], &for_outage) ||
        ts_serve_duration_flag(&r->flags[F_QUERY_TIMEOUT], &timeout) ||
        ts_serve_duration_flag(&r->flags[F_LOOKBACK], &lookback) ||
        ts_serve_duration_flag(&r->flags[F_SD_INTERVAL], &sd_interval) ||
        ts_serve_duration_flag(&r->flags[F_RESPONSE_TIMEOUT], &response_timeout))
        goto out;
    ts_error err;
    ts_error_clear(&err);
    /* the config is checked before anything starts */
    ts_config *first;
    if (ts_config_load_ruler(r->flags[F_CONFIG].value, &first, &err) != TS_OK) {
        if (err.line)
            fprintf(stderr, "tessera rule: error: %s:%d: %s\n", r->flags[F_CONFIG].value, err.line,
                    err.msg);
        else
            fprintf(stderr, "tessera rule: error: %s\n", err.msg);
        exit_code = 2;
        goto out;
    }
    int64_t eval_interval = first->evaluation_interval_ms;
    ts_config_free(first);

    /* the global view: the querier's endpoints, fan-out and dedup */
    static const char *const def_replica[] = {"replica"};
    const char *const *replica = r->flags[F_REPLICA_LABEL].nvalues
                                     ? (const char *const *)r->flags[F_REPLICA_LABEL].values
                                     : def_replica;
    size_t nreplica = r->flags[F_REPLICA_LABEL].nvalues ? r->flags[F_REPLICA_LABEL].nvalues : 1;
    ts_query_endpoints_opts eo =
        ts_serve_endpoints_opts(&r->flags[F_STORE], &r->flags[F_SD_FILES], &r->flags[F_SD_DNS],
                                sd_interval, &r->flags[F_STORE_CLIENT_TLS]);
    if (ts_query_endpoints_start(&r->endpoints, &eo, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "rule", "cannot start store discovery", "err=\"%s\"", err.msg);
        goto out;
    }
    /* partial answers come back with warnings; the rules manager applies
     * each group's partial_response_strategy to them (partial_policy) */
    ts_query_fanout_opts fo = {.dedup = true,
                               .partial_response = true,
                               .replica_labels = replica,
                               .nreplica = nreplica,
                               .timeout_ms = timeout,
                               .response_timeout_ms = response_timeout,
                               .stats = &r->fstats};
    ts_query_fanout_init(&r->fanout, r->endpoints, &fo);
    ts_promql_engine_opts po = {
        .timeout_ms = timeout, .lookback_ms = lookback, .default_step_ms = eval_interval};
    if (ts_promql_engine_new(&r->eng, &po) != TS_OK)
        goto out;

    /* own storage */
    ts_db_opts dbo;
    ts_db_opts_default(&dbo);
    if (ts_serve_duration_flag(&r->flags[F_RET_TIME], &dbo.retention_ms)) {
        exit_code = 2;
        goto out;
    }
    if (ts_db_open(r->flags[F_TSDB_PATH].value, &dbo, &r->db, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "rule", "opening storage failed", "err=\"%s\"", err.msg);
        goto out;
    }
    ts_serve_compactor_start(&r->compactor, r->db, "rule", 60000);

    /* web */
    if (ts_serve_web_urls_get(r->flags[F_EXTERNAL_URL].value, r->flags[F_ROUTE_PREFIX].value,
                              r->flags[F_WEB_LISTEN].value, "rule", &r->urls) != 0) {
        exit_code = 2;
        goto out;
    }
    ts_web_server_opts wo = {.listen = r->flags[F_WEB_LISTEN].value,
                             .route_prefix = r->urls.route_prefix};
    if (ts_serve_web_server(&r->flags[F_WEB_SERVER], &wo) != 0) {
        exit_code = 2;
        goto out;
    }
    if (ts_web_server_new(&r->web, &wo, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "rule", "cannot create web server", "err=\"%s\"", err.msg);
        goto out;
    }
    r->flag_pairs = ts_serve_flag_pairs(r->flags, F_NFLAGS, &r->nflag_pairs);
    ts_web_api_opts ao = {
        .queryable = ts_db_queryable(r->db),
        .query = query_fn,
        .query_ctx = r,
        .buildinfo = ts_serve_buildinfo(),
        .flags = r->flag_pairs,
        .nflags = r->nflag_pairs,
        .runtimeinfo = runtimeinfo,
        .config_yaml = config_yaml,
        .enable_lifecycle = true,
        .reload = api_reload,
        .info_ctx = r,
    };
    if (ts_web_api_register(r->web, &ao, &r->api) != TS_OK)
        goto out;
    if (ts_notifier_new(&r->notifier) != TS_OK)
        goto out;
    snprintf(r->external_url, sizeof(r->external_url), "%s", r->flags[F_EXTERNAL_URL].value);
    ts_rules_manager_opts rmo = {.engine = r->eng,
                                 .queryable = &r->fanout.qb,
                                 .state_queryable = ts_db_queryable(r->db),
                                 .appender = rule_appender,
                                 .appender_ctx = r,
                                 .external_url = r->external_url,
                                 .notify = ts_notifier_send,
                                 .notify_ctx = r->notifier,
                                 .partial_policy = true,
                                 .for_grace_period_ms = for_grace,
                                 .for_outage_tolerance_ms = for_outage};
    if (ts_rules_manager_new(&rmo, &r->rules) != TS_OK)
        goto out;
    ts_metrics_init(&r->metrics);
    ts_metrics_register(&r->metrics, ts_serve_collect_process, NULL);
    ts_metrics_register(&r->metrics, ts_serve_collect_query_stats, &r->qstats);
    ts_metrics_register(&r->metrics, ts_notifier_collect, r->notifier);
    ts_metrics_register(&r->metrics, ts_rules_manager_collect, r->rules);
    ts_web_server_route(r->web, "GET", "/metrics", false, ts_web_handle_metrics, &r->metrics);
    ts_web_server_route(r->web, "GET", "/api/v1/rules", false, ts_web_rules_handle_rules, r->rules);
    ts_web_server_route(r->web, "GET", "/api/v1/alerts", false, ts_web_rules_handle_alerts,
                        r->rules);
    ts_web_server_route(r->web, "GET", "/api/v1/alertmanagers", false,
                        ts_web_rules_handle_alertmanagers, r->notifier);
    ts_web_console_opts co = {.component = "rule", .external_path = r->urls.external_path};
    if (ts_web_console_register(r->web, &co, &r->console) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "rule", "cannot set up the web console", "");
        goto out;
    }
    if (reload(r, &err) != TS_OK) {
        exit_code = 2;
        goto out;
    }
    if (ts_web_server_start(r->web, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "rule", "cannot listen", "address=%s err=\"%s\"",
               r->flags[F_WEB_LISTEN].value, err.msg);
        goto out;
    }

    /* store API over the results */
    if (r->flags[F_STORE_LISTEN].value[0]) {
        pthread_mutex_lock(&r->cfg_mu);
        ts_store_server_opts so = {.listen_url = r->flags[F_STORE_LISTEN].value,
                                   .queryable = ts_db_queryable(r->db),
                                   .external_labels = r->cfg->external_labels,
                                   .time_range = db_time_range,
                                   .time_range_ctx = r,
                                   .component = "rule",
                                   .meta = ts_serve_rules_meta,
                                   .meta_ctx = r->rules,
                                   .meta_kinds = TS_STORE_META_BIT(TS_STORE_META_RULES) |
                                                 TS_STORE_META_BIT(TS_STORE_META_ALERTS)};
        ts_serve_store_server_tls(&r->flags[F_STORE_SERVER_TLS], &so);
        rc = ts_store_server_start(&r->store, &so, &err);
        pthread_mutex_unlock(&r->cfg_mu);
        if (rc != TS_OK) {
            TS_LOG(TS_LOG_ERROR, "rule", "cannot start the store API", "err=\"%s\"", err.msg);
            goto out;
        }
    }
    if (ts_rules_manager_start(r->rules) != TS_OK)
        goto out;
    TS_LOG(TS_LOG_INFO, "rule", "ruler running", "address=%s port=%d stores=%zu",
           r->flags[F_WEB_LISTEN].value, ts_web_server_port(r->web), r->flags[F_STORE].nvalues);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_signal) {
        pause();
        if (hup_signal) {
            hup_signal = 0;
            ts_error herr;
            ts_error_clear(&herr);
            reload(r, &herr);
        }
    }
    TS_LOG(TS_LOG_WARN, "rule", "received signal, exiting gracefully", "");
    exit_code = 0;
out:
    ts_web_server_free(r->web);
    ts_web_console_free(r->console);
    ts_serve_web_urls_free(&r->urls);
    ts_web_api_free(r->api);
    ts_rules_manager_free(r->rules);
    ts_notifier_free(r->notifier);
    ts_store_server_stop(r->store);
    ts_serve_compactor_stop(&r->compactor);
    if (r->db)
        ts_db_close(r->db);
    ts_promql_engine_free(r->eng);
    ts_query_endpoints_stop(r->endpoints);
    ts_config_free(r->cfg);
    ts_free(r->flag_pairs);
    ts_flags_free(r->flags, F_NFLAGS);
    pthread_mutex_destroy(&r->cfg_mu);
    ts_free(r);
    return exit_code;
}
