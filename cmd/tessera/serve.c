#include "cmd/tessera/serve.h"
#include "pkg/store/store.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "pkg/web/console.h"
#include "pkg/web/params.h"
#include "pkg/web/promql_api.h"
#include "pkg/web/rules_api.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const double query_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};

void
ts_serve_query_stats_init(ts_serve_query_stats *st)
{
    memset(st, 0, sizeof(*st));
    ts_histogram_init(&st->duration, query_buckets, sizeof(query_buckets) / sizeof(double));
}

int
ts_serve_run_query(ts_promql_engine *eng, ts_queryable *qb, const ts_web_api_query_params *p,
                   ts_web_api_query_out *out, ts_serve_query_stats *st)
{
    uint64_t t0 = ts_mono_ns();
    ts_web_promql wp = {.engine = eng, .queryable = qb};
    int rc = ts_web_promql_query(&wp, p, out);
    if (st) {
        __atomic_add_fetch(&st->queries_total, 1, __ATOMIC_RELAXED);
        if (rc)
            __atomic_add_fetch(&st->failures_total, 1, __ATOMIC_RELAXED);
        ts_histogram_observe(&st->duration, (double)(ts_mono_ns() - t0) / 1e9);
    }
    return rc;
}

void
ts_serve_collect_query_stats(void *ctx, ts_metrics_writer *w)
{
    ts_serve_query_stats *st = ctx;
    ts_mw_counter(w, "tessera_queries_total", "PromQL queries run through the HTTP API.",
                  (double)__atomic_load_n(&st->queries_total, __ATOMIC_RELAXED));
    ts_mw_counter(w, "tessera_query_failures_total", "PromQL queries that returned an error.",
                  (double)__atomic_load_n(&st->failures_total, __ATOMIC_RELAXED));
    ts_mw_family(w, "prometheus_engine_query_duration_seconds", "histogram",
                 "Query timings (whole queries through the HTTP API).");
    ts_mw_histogram(w, "prometheus_engine_query_duration_seconds", "slice=\"inner_eval\"",
                    &st->duration);
}

const char **
ts_serve_flag_pairs(const ts_flag *flags, size_t n, size_t *nstrings)
{
    const char **v = ts_calloc(2 * n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        v[k++] = flags[i].name;
        if (flags[i].kind == TS_FLAG_BOOL)
            v[k++] = flags[i].on ? "true" : "false";
        else if (flags[i].kind == TS_FLAG_LIST)
            v[k++] = flags[i].nvalues ? flags[i].values[0] : "";
        else
            v[k++] = flags[i].value ? flags[i].value : "";
    }
    *nstrings = k;
    return v;
}

const char *ts_serve_component = "tessera";

/* version is the Prometheus API version we implement (Grafana reads it as Prometheus'
 * version to pick features); Tessera's own version and the component are extra fields. */
ts_web_api_buildinfo
ts_serve_buildinfo(void)
{
    ts_web_api_buildinfo b = {.version = TS_PROMETHEUS_API_VERSION,
                              .revision = "",
                              .branch = "main",
                              .build_user = "tessera",
                              .build_date = __DATE__,
                              .go_version = "none (C11)",
                              .application = "tessera",
                              .component = ts_serve_component,
                              .tessera_version = TS_VERSION,
                              .compatibility = "prometheus-" TS_PROMETHEUS_API_VERSION};
    return b;
}

static int64_t start_ns;

int64_t
ts_serve_start_time_ns(void)
{
    if (!start_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    return start_ns;
}

void
ts_serve_collect_process(void *ctx, ts_metrics_writer *w)
{
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long utime = 0, stime = 0;
    long rss = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        /* fields 14, 15 (utime, stime) and 24 (rss pages) */
        char buf[1024];
        if (fgets(buf, sizeof(buf), f)) {
            char *p = strrchr(buf, ')');
            if (p) /* the kernel's own text: NOLINTNEXTLINE(cert-err34-c) */
                sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                       "%*d %*d %*u %*u %ld",
                       &utime, &stime, &rss);
        }
        fclose(f);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 3; /* ., .., and the dir's own fd */
    }
    ts_mw_counter(w, "process_cpu_seconds_total",
                  "Total user and system CPU time spent in seconds.",
                  (double)(utime + stime) / (double)ticks);
    ts_mw_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
                (double)rss * (double)page);
    ts_mw_gauge(w, "process_open_fds", "Number of open file descriptors.", fds);
    ts_mw_gauge(w, "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                (double)(ts_serve_start_time_ns() / 1000000) / 1000.0);
}

static const char *
unset_if_empty(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* The flag groups' rows, in the order of their TS_SERVE_*_FLAGS macros. */
enum { STORE_SERVER_CERT, STORE_SERVER_KEY, STORE_SERVER_CLIENT_CA };
enum {
    STORE_CLIENT_CA,
    STORE_CLIENT_CERT,
    STORE_CLIENT_KEY,
    STORE_CLIENT_SERVER_NAME,
    STORE_CLIENT_SECURE
};
enum { WEB_CONFIG_FILE, WEB_MAX_CONNECTIONS, WEB_READ_TIMEOUT };

void
ts_serve_store_server_tls(const ts_flag *group, ts_store_server_opts *so)
{
    so->tls_cert_file = unset_if_empty(group[STORE_SERVER_CERT].value);
    so->tls_key_file = unset_if_empty(group[STORE_SERVER_KEY].value);
    so->tls_client_ca_file = unset_if_empty(group[STORE_SERVER_CLIENT_CA].value);
}

ts_store_client_tls
ts_serve_store_client_tls(const ts_flag *group)
{
    ts_store_client_tls t = {.ca_file = unset_if_empty(group[STORE_CLIENT_CA].value),
                             .cert_file = unset_if_empty(group[STORE_CLIENT_CERT].value),
                             .key_file = unset_if_empty(group[STORE_CLIENT_KEY].value),
                             .server_name = unset_if_empty(group[STORE_CLIENT_SERVER_NAME].value)};
    return t;
}

ts_query_endpoints_opts
ts_serve_endpoints_opts(const ts_flag *store, const ts_flag *sd_files, const ts_flag *sd_dns,
                        int64_t sd_interval_ms, const ts_flag *tls)
{
    ts_query_endpoints_opts eo = {
        .static_urls = store->values,
        .nstatic = store->nvalues,
        .sd_file = unset_if_empty(sd_files->value),
        .sd_dns = sd_dns->values,
        .nsd_dns = sd_dns->nvalues,
        .probe_interval_ms = sd_interval_ms,
        .sd_refresh_ms = sd_interval_ms,
        .tls = ts_serve_store_client_tls(tls),
        .tls_secure = tls[STORE_CLIENT_SECURE].on,
    };
    return eo;
}

int
ts_serve_duration_flag(const ts_flag *f, int64_t *ms)
{
    if (ts_duration_parse(f->value, strlen(f->value), ms) != TS_OK) {
        fprintf(stderr, "tessera: error: invalid duration \"%s\" for --%s\n", f->value, f->name);
        return 2;
    }
    return 0;
}

bool
ts_serve_feature(const ts_flag *f, const char *feature, const char *const *known,
                 const char *component)
{
    bool on = false;
    for (size_t i = 0; i < f->nvalues; i++) {
        const char *p = f->values[i];
        while (*p) {
            size_t n = strcspn(p, ",");
            bool is_known = false;
            for (const char *const *k = known; *k && !is_known; k++)
                is_known = n == strlen(*k) && strncmp(p, *k, n) == 0;
            if (n == strlen(feature) && strncmp(p, feature, n) == 0) {
                on = true;
                /* Prometheus' wording: "Experimental <feature> enabled" */
                char msg[128];
                snprintf(msg, sizeof(msg), "Experimental %s enabled", feature);
                TS_LOG(TS_LOG_INFO, component, msg, "");
            } else if (n > 0 && !is_known) {
                TS_LOG(TS_LOG_WARN, component, "Unknown option for --enable-feature", "option=%.*s",
                       (int)n, p);
            }
            p += n + (p[n] == ',');
        }
    }
    return on;
}

int
ts_serve_web_server(const ts_flag *group, ts_web_server_opts *wo)
{
    const ts_flag *max_connections = &group[WEB_MAX_CONNECTIONS];
    const ts_flag *read_timeout = &group[WEB_READ_TIMEOUT];
    const char *v = max_connections->value;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n <= 0 || n > 1000000) {
        fprintf(stderr, "tessera: error: invalid value \"%s\" for --%s: want 1..1000000\n", v,
                max_connections->name);
        return 2;
    }
    int64_t ms;
    if (ts_serve_duration_flag(read_timeout, &ms) != 0)
        return 2;
    if (ms <= 0) {
        fprintf(stderr, "tessera: error: --%s must be positive\n", read_timeout->name);
        return 2;
    }
    wo->web_config_file = group[WEB_CONFIG_FILE].value;
    wo->max_connections = (int)n;
    wo->read_timeout_ms = ms;
    return 0;
}

int
ts_serve_web_urls_get(const char *external_url, const char *route_prefix, const char *listen,
                      const char *cmd, ts_serve_web_urls *out)
{
    memset(out, 0, sizeof *out);
    char hn[256] = "";
    gethostname(hn, sizeof(hn) - 1);
    ts_error err;
    ts_error_clear(&err);
    if (ts_web_external_url(external_url, listen, hn, &out->external_url, &out->external_path,
                            &err) != TS_OK) {
        fprintf(stderr, "tessera %s: error: --web.external-url: %s\n", cmd, err.msg);
        return 2;
    }
    out->route_prefix = ts_web_route_prefix(route_prefix, out->external_path);
    return 0;
}

void
ts_serve_web_urls_free(ts_serve_web_urls *u)
{
    ts_free(u->external_url);
    ts_free(u->external_path);
    ts_free(u->route_prefix);
    memset(u, 0, sizeof *u);
}

int
ts_serve_rules_meta(void *ctx, int kind, const char *const *params, size_t nparams, ts_buf *json,
                    ts_error *err)
{
    ts_rules_manager *m = ctx;
    if (kind != TS_STORE_META_RULES && kind != TS_STORE_META_ALERTS)
        return ts_error_set(err, TS_EUNSUPPORTED, "unknown meta kind %d", kind);
    ts_jsonw j;
    ts_jsonw_init(&j, json);
    if (kind == TS_STORE_META_ALERTS) {
        ts_rules_manager_alerts_json(m, &j);
        return ts_jsonw_err(&j);
    }
    const char *type = NULL, *t;
    for (size_t i = 0; i + 1 < nparams; i += 2)
        if (strcmp(params[i], "type") == 0)
            type = params[i + 1];
    char msg[300];
    if (!ts_web_param_rules_type(type, &t, msg, sizeof(msg)))
        return ts_error_set(err, TS_EINVAL, "%s", msg);
    ts_rules_manager_rules_json(m, &j, t);
    return ts_jsonw_err(&j);
}

/* ------------------------------------------------------------ compactor */

static void *
compactor_run(void *arg)
{
    ts_serve_compactor *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += c->interval_ms / 1000;
        ts.tv_nsec += (long)(c->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->mu);
        ts_error err;
        ts_error_clear(&err);
        if (ts_db_compact(c->db, &err) != TS_OK)
            TS_LOG(TS_LOG_ERROR, c->component, "compaction failed", "err=\"%s\"", err.msg);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void
ts_serve_compactor_start(ts_serve_compactor *c, ts_db *db, const char *component,
                         int64_t interval_ms)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
    c->component = component;
    c->interval_ms = interval_ms;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->started = pthread_create(&c->thread, NULL, compactor_run, c) == 0;
    if (!c->started)
        TS_LOG(TS_LOG_ERROR, component, "cannot start the compactor thread", "");
}

void
ts_serve_compactor_stop(ts_serve_compactor *c)
{
    if (!c->db)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started)
        pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    c->db = NULL;
}
