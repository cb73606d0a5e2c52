/*
 * Kubernetes API client for kubernetes_sd_configs: list + watch ("informers")
 * with libcurl's multi-socket interface on the discovery manager's uv loop (pkg/util/curluv.h).
 *
 * One provider per kubernetes_sd_configs entry.  It runs one informer per
 * (object kind, namespace) its role needs (Prometheus 2.42 kubernetes.go):
 *
 *   node           nodes (cluster-wide)
 *   pod            pods per namespace (+ nodes with attach_metadata.node)
 *   service        services per namespace
 *   endpoints      endpoints, services, pods per namespace (+ nodes)
 *   endpointslice  discovery.k8s.io/v1 endpointslices, services, pods (+ nodes)
 *   ingress        networking.k8s.io/v1 ingresses per namespace
 *
 * Namespaces: namespaces.names plus, with own_namespace, the pod's own
 * (in-cluster only); neither -> one cluster-wide informer per kind.
 *
 * An informer's protocol (client-go's reflector, as the API server expects):
 *
 *   1. LIST  GET <path>?[fieldSelector=..&][labelSelector=..&]limit=500
 *            &resourceVersion=<rv|0>.  A reply with metadata.continue asks for
 *            the next page (continue=<token>, no resourceVersion).  The
 *            complete list replaces the informer's store (adds, updates and
 *            deletes counted as events) and gives the resourceVersion to
 *            watch from.  410 Gone: the version is too old -> LIST again
 *            without resourceVersion (a consistent read).
 *   2. WATCH GET <path>?allowWatchBookmarks=true[&selectors]&resourceVersion=
 *            <rv>&timeoutSeconds=<300..599>&watch=true.  The reply is a
 *            chunked stream of JSON events {"type":..,"object":..}, parsed
 *            one value at a time as bytes arrive (jansson with
 *            JSON_DISABLE_EOF_CHECK: a value that is still incomplete waits
 *            for more data).  ADDED/MODIFIED store the object, DELETED
 *            removes it, BOOKMARK only moves the resourceVersion, ERROR with
 *            code 410 ends the watch and LISTs again from the last version.
 *            A watch that the server ends normally is re-opened at once from
 *            the last version (one that ended within 1 s without events
 *            counts as a failure).
 *   3. Failures (transport errors, HTTP errors such as 403 when RBAC is
 *      missing, unparsable replies, ERROR events other than 410) are
 *      retried after a back-off of 800 ms doubling up to 30 s (+ up to
 *      100 % jitter), reset by the next success.  A failed watch re-watches;
 *      a failed list re-lists.  Each attempt is logged at debug level only:
 *      the informer keeps its failure (the API server's message with a hint,
 *      ts__k8s_http_error_text) until a list succeeds or a watch is answered
 *      with 200, and the provider hands its health to the manager (the first
 *      failing informer's error, or none), which logs each change of state
 *      once and shows it in /api/v1/targets.  A 410, a watch the server ends
 *      and a watch connection cut after it was established are routine, not
 *      failures.
 *
 * The provider reports nothing until every informer has completed its first
 * LIST (so a half-synced cache never removes targets), then after changes
 * (batched: at most one report a second) it rebuilds all groups
 * (kubernetes_roles.c) and hands them to the manager.
 *
 * Credentials: a bearer token file (bearer_token_file, authorization.
 * credentials_file, the service-account token) is checked before every
 * request and re-read when its inode, size or modification time changed,
 * so rotated projected tokens are used from the next request on.
 *
 * Lifetimes: ts__k8s_stop cancels transfers, closes the curl glue (ts_curluv)
 * and the timers, and calls closed() when the last of them is closed.
 */
#include "pkg/discovery/kubernetes.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pkg/util/buf.h"
#include "pkg/util/curluv.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define LIST_MAX_BYTES (1024u << 20) /* one page of a list reply */
#define EVENT_MAX_BYTES (64u << 20)  /* one pending watch event */
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define REPORT_MIN_MS 1000

/* Where each kind is served (discovery.k8s.io/v1 and networking.k8s.io/v1:
 * Kubernetes >= 1.21). */
static const char *const kind_group[TS__K8S_NKINDS] = {"/api/v1",
                                                       "/api/v1",
                                                       "/api/v1",
                                                       "/api/v1",
                                                       "/apis/discovery.k8s.io/v1",
                                                       "/apis/networking.k8s.io/v1"};
static const char *const kind_res[TS__K8S_NKINDS] = {"nodes",     "pods",           "services",
                                                     "endpoints", "endpointslices", "ingresses"};

static int64_t
mono_ms(void)
{
    return (int64_t)(ts_mono_ns() / 1000000);
}

/* ---------------------------------------------------------------- metrics */

static uv_once_t metrics_once = UV_ONCE_INIT;
static uv_mutex_t metrics_mu;
static uint64_t events[TS__K8S_NKINDS][3]; /* add, update, delete */

typedef struct req_stat {
    char key[128]; /* status code, or endpoint path */
    uint64_t count;
    double sum;
} req_stat;

static req_stat status_stats[32], endpoint_stats[64];
static size_t nstatus_stats, nendpoint_stats;

static void
metrics_init(void)
{
    uv_mutex_init(&metrics_mu);
}

static void
stat_add(req_stat *tab, size_t *n, size_t cap, const char *key, double v)
{
    uv_mutex_lock(&metrics_mu);
    size_t i = 0;
    while (i < *n && strcmp(tab[i].key, key) != 0)
        i++;
    if (i == *n && *n < cap) {
        snprintf(tab[i].key, sizeof(tab[i].key), "%s", key);
        (*n)++;
    }
    if (i < *n) {
        tab[i].count++;
        tab[i].sum += v;
    }
    uv_mutex_unlock(&metrics_mu);
}

static void
count_event(ts__k8s_kind kind, int which)
{
    uv_mutex_lock(&metrics_mu);
    events[kind][which]++;
    uv_mutex_unlock(&metrics_mu);
}

void
ts__k8s_write_metrics(ts_metrics_writer *w)
{
    static const char *const kinds[TS__K8S_NKINDS] = {"node",      "pod",           "service",
                                                      "endpoints", "endpointslice", "ingress"};
    static const char *const evs[3] = {"add", "update", "delete"};
    uv_once(&metrics_once, metrics_init);
    uv_mutex_lock(&metrics_mu);
    ts_mw_family(w, "prometheus_sd_kubernetes_events_total", "counter",
                 "The number of Kubernetes events handled.");
    for (int k = 0; k < TS__K8S_NKINDS; k++)
        for (int e = 0; e < 3; e++) {
            char lbl[80];
            snprintf(lbl, sizeof(lbl), "event=\"%s\",role=\"%s\"", evs[e], kinds[k]);
            ts_mw_sample(w, "prometheus_sd_kubernetes_events_total", lbl, (double)events[k][e]);
        }
    ts_mw_family(w, "prometheus_sd_kubernetes_http_request_total", "counter",
                 "Total number of HTTP requests to the Kubernetes API by status code.");
    for (size_t i = 0; i < nstatus_stats; i++) {
        char lbl[160];
        snprintf(lbl, sizeof(lbl), "status_code=\"%s\"", status_stats[i].key);
        ts_mw_sample(w, "prometheus_sd_kubernetes_http_request_total", lbl,
                     (double)status_stats[i].count);
    }
    ts_mw_family(w, "prometheus_sd_kubernetes_http_request_duration_seconds", "summary",
                 "Summary of latencies for HTTP requests to the Kubernetes API by endpoint.");
    for (size_t i = 0; i < nendpoint_stats; i++) {
        char lbl[200];
        snprintf(lbl, sizeof(lbl), "endpoint=\"%s\"", endpoint_stats[i].key);
        ts_mw_sample(w, "prometheus_sd_kubernetes_http_request_duration_seconds_sum", lbl,
                     endpoint_stats[i].sum);
        ts_mw_sample(w, "prometheus_sd_kubernetes_http_request_duration_seconds_count", lbl,
                     (double)endpoint_stats[i].count);
    }
    uv_mutex_unlock(&metrics_mu);
}

/* ------------------------------------------------------------------ types */

typedef enum { ST_IDLE, ST_LIST, ST_WATCH } inf_state;

typedef struct informer informer;

struct ts__k8s {
    uv_loop_t *loop;
    ts__k8s_role role;
    char *base; /* scheme://host:port, no trailing '/' */
    /* credentials */
    char *auth_type;  /* "Bearer" by default */
    char *token;      /* inline token */
    char *token_file; /* re-read when it changes */
    char *token_cached;
    struct stat token_st;
    bool token_loaded;
    char *basic_user, *basic_pass, *basic_pass_file;
    /* TLS and proxy */
    char *ca_file, *cert_file, *key_file, *proxy;
    char *server_name; /* tls_config.server_name / kubeconfig tls-server-name */
    bool insecure;
    ts_buf ca_blob, cert_blob, key_blob; /* kubeconfig *-data fields */
    /* informers */
    informer **infs;
    size_t ninfs;
    ts__k8s_cache cache;
    bool reported; /* first full sync reported */
    int64_t last_report_ms;
    ts_curluv *http;
    uv_timer_t notify;
    int open_handles; /* uv handles and http not yet closed */
    bool stopped;
    ts__k8s_update_fn fn;
    ts__k8s_health_fn health;
    ts__k8s_closed_fn closed;
    void *ctx;
};

struct informer {
    ts__k8s *k;
    ts__k8s_kind kind;
    char *path;                        /* /api/v1/namespaces/ns/pods */
    const char *label_sel, *field_sel; /* owned by k (strings below) */
    char *label_sel_own, *field_sel_own;
    json_t *store, *pending; /* key -> object; pending: pages of a LIST */
    inf_state state;
    bool synced, rv_unavailable, relist_after_watch;
    char *rv, *cont;
    CURL *easy;
    struct curl_slist *hdrs;
    struct curl_slist *connect_to; /* for server_name (ts_curl_set_url_server_name) */
    ts_buf body;                   /* LIST reply, or unparsed bytes of the watch stream */
    int64_t started_ms;
    size_t watch_events;
    size_t incomplete_len; /* size of the incomplete event at the last parse */
    int64_t backoff_ms;
    uv_timer_t retry;
    char errbuf[CURL_ERROR_SIZE];
    /* health: the last request's failure (heap; NULL while it works) */
    char *fail;
    int64_t fail_ms; /* wall clock of that failure */
};

static void start_list(informer *in);
static void start_watch(informer *in);
static void request_done(void *ctx, CURL *e, CURLcode res);

/* --------------------------------------------------------------- closing */

static void
maybe_closed(ts__k8s *k)
{
    if (!k->stopped || k->open_handles > 0)
        return;
    ts__k8s_closed_fn closed = k->closed;
    void *ctx = k->ctx;
    ts_free(k->base);
    ts_free(k->auth_type);
    ts_free(k->token);
    ts_free(k->token_file);
    ts_free(k->token_cached);
    ts_free(k->basic_user);
    ts_free(k->basic_pass);
    ts_free(k->basic_pass_file);
    ts_free(k->ca_file);
    ts_free(k->server_name);
    ts_free(k->cert_file);
    ts_free(k->key_file);
    ts_free(k->proxy);
    ts_buf_fini(&k->ca_blob);
    ts_buf_fini(&k->cert_blob);
    ts_buf_fini(&k->key_blob);
    for (size_t i = 0; i < k->ninfs; i++) {
        informer *in = k->infs[i];
        json_decref(in->store);
        json_decref(in->pending);
        ts_free(in->path);
        ts_free(in->rv);
        ts_free(in->cont);
        ts_free(in->label_sel_own);
        ts_free(in->field_sel_own);
        ts_buf_fini(&in->body);
        ts_free(in->fail);
        ts_free(in);
    }
    ts_free(k->infs);
    ts_free(k);
    if (closed)
        closed(ctx);
}

static void
handle_closed(uv_handle_t *h)
{
    ts__k8s *k = h->data;
    k->open_handles--;
    maybe_closed(k);
}

static void
http_closed(void *ctx)
{
    ts__k8s *k = ctx;
    k->open_handles--;
    maybe_closed(k);
}

/* ----------------------------------------------------------- reporting */

static void
notify_cb(uv_timer_t *t)
{
    ts__k8s *k = t->data;
    if (k->stopped)
        return;
    for (size_t i = 0; i < k->ninfs; i++)
        if (!k->infs[i]->synced)
            return; /* reported once every informer has listed */
    ts_target_group *gs;
    size_t n;
    ts__k8s_build(k->role, &k->cache, &gs, &n);
    k->reported = true;
    k->last_report_ms = mono_ms();
    k->fn(k->ctx, gs, n);
}

/* Rebuilds are batched: at once for the first report, then at most one per
 * REPORT_MIN_MS (a rebuild of 5000 pods takes ~90 ms of CPU; Prometheus'
 * discovery manager itself passes updates on at most every 5 s). */
static void
mark_dirty(ts__k8s *k)
{
    if (k->stopped || uv_is_active((uv_handle_t *)&k->notify))
        return;
    int64_t wait = k->reported ? k->last_report_ms + REPORT_MIN_MS - mono_ms() : 0;
    uv_timer_start(&k->notify, notify_cb, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* -------------------------------------------------------------- requests */

static void
log_inf(int level, informer *in, const char *msg, const char *err)
{
    TS_LOG(level, "discovery", msg, "role=%s url=\"%s%s\" err=\"%s\"",
           ts__k8s_role_name(in->k->role), in->k->base, in->path, err);
}

/* Tells the manager the provider's health: the first failing informer's
 * error, or none. */
static void
report_health(ts__k8s *k)
{
    if (k->stopped || !k->health)
        return;
    for (size_t i = 0; i < k->ninfs; i++)
        if (k->infs[i]->fail) {
            k->health(k->ctx, k->infs[i]->fail, k->infs[i]->fail_ms);
            return;
        }
    k->health(k->ctx, NULL, ts_now_ms());
}

/* A request of in failed with text (the retry's debug line says so too). */
static void
informer_fail(informer *in, const char *text)
{
    log_inf(TS_LOG_DEBUG, in, "Kubernetes API request failed, retrying after a back-off", text);
    if (!in->fail || strcmp(in->fail, text) != 0) {
        ts_free(in->fail);
        in->fail = ts_strdup(text);
    }
    in->fail_ms = ts_now_ms();
    report_health(in->k);
}

/* A list of in succeeded, or a watch was answered with 200. */
static void
informer_ok(informer *in)
{
    ts_free(in->fail);
    in->fail = NULL;
    report_health(in->k);
}

/* Transport failures (no HTTP answer): curl's text, said as what it means. */
static void
informer_fail_transport(informer *in, CURLcode res)
{
    char msg[CURL_ERROR_SIZE + 600];
    snprintf(msg, sizeof(msg), "cannot reach the API server %s: %s", in->k->base,
             in->errbuf[0] ? in->errbuf : curl_easy_strerror(res));
    informer_fail(in, msg);
}

static const char *
http_reason(long code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return NULL;
    }
}

void
ts__k8s_http_error_text(long code, const char *body, size_t len, ts__k8s_kind kind,
                        const char *path, char *buf, size_t size)
{
    json_error_t jerr;
    json_t *st = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    const char *msg = json_string_value(json_object_get(st, "message"));
    const char *reason = http_reason(code);
    if (!reason)
        reason = json_string_value(json_object_get(st, "reason"));
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_buf_printf(&b, "%ld%s%s", code, reason ? " " : "", reason ? reason : "");
    if (msg && msg[0]) {
        ts_buf_printf(&b, ": %s", msg);
    } else if (body && len) {
        /* not a Status (a proxy's page?): its start, on one line */
        size_t n = len > 200 ? 200 : len;
        ts_buf_put(&b, ": ", 2);
        for (size_t i = 0; i < n; i++)
            ts_buf_put(&b, body[i] == '\n' || body[i] == '\r' || body[i] == '\t' ? " " : &body[i],
                       1);
        if (n < len)
            ts_buf_put(&b, "...", 3);
    }
    const char *group = strncmp(kind_group[kind], "/apis/", 6) == 0 ? kind_group[kind] + 6 : "";
    char grp[64] = "";
    if (group[0])
        snprintf(grp, sizeof(grp), " in API group %.*s", (int)(strcspn(group, "/")), group);
    if (code == 403)
        ts_buf_printf(&b, " (RBAC: give the service account list and watch on %s%s)",
                      kind_res[kind], grp);
    else if (code == 401)
        ts_buf_printf(&b, " (check the credentials: bearer token or token file, basic auth, client "
                          "certificate)");
    else if (code == 404)
        ts_buf_printf(&b,
                      " (%s is not served here: is api_server right, and is it Kubernetes "
                      "1.21 or later?)",
                      path ? path : kind_res[kind]);
    snprintf(buf, size, "%s", ts_buf_cstr(&b));
    ts_buf_fini(&b);
    json_decref(st);
}

/* The current bearer token: the file is re-read when it changed. */
static const char *
current_token(ts__k8s *k)
{
    if (!k->token_file)
        return k->token;
    struct stat st;
    if (stat(k->token_file, &st) != 0) {
        TS_LOG(TS_LOG_ERROR, "discovery", "Cannot read token file", "path=\"%s\" err=\"%s\"",
               k->token_file, strerror(errno));
        return k->token_cached;
    }
    if (k->token_loaded && st.st_ino == k->token_st.st_ino && st.st_size == k->token_st.st_size &&
        st.st_mtim.tv_sec == k->token_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == k->token_st.st_mtim.tv_nsec)
        return k->token_cached;
    char *text;
    size_t len;
    if (ts_fs_read_file(k->token_file, 1 << 20, &text, &len) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "discovery", "Cannot read token file", "path=\"%s\"", k->token_file);
        return k->token_cached;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (k->token_loaded)
        TS_LOG(TS_LOG_INFO, "discovery", "Token file changed, using the new token", "path=\"%s\"",
               k->token_file);
    ts_free(k->token_cached);
    k->token_cached = text;
    k->token_st = st;
    k->token_loaded = true;
    return text;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud);

/* The end of a watch's headers with status 200: the watch is open, so the
 * informer works again (a watch may then carry no event for minutes). */
static size_t
on_header(char *p, size_t sz, size_t nm, void *ud)
{
    informer *in = ud;
    size_t n = sz * nm;
    long code = 0;
    if (in->state == ST_WATCH && (n == 2 || n == 1) && (p[0] == '\r' || p[0] == '\n') &&
        curl_easy_getinfo(in->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
        informer_ok(in);
    return n;
}

/* Appends "&name=value" (escaped) to b. */
static void
add_param(ts_buf *b, CURL *e, const char *name, const char *value)
{
    char *esc = curl_easy_escape(e, value, 0);
    ts_buf_printf(b, "%c%s=%s", b->len && memchr(b->p, '?', b->len) ? '&' : '?', name,
                  esc ? esc : "");
    curl_free(esc);
}

static void
start_request(informer *in, bool watch)
{
    ts__k8s *k = in->k;
    if (k->stopped)
        return;
    CURL *e = curl_easy_init();
    TS_ASSERT(e != NULL);
    ts_buf url;
    ts_buf_init(&url, 0);
    ts_buf_printf(&url, "%s%s", k->base, in->path);
    /* parameters in client-go's (sorted) order */
    if (watch) {
        add_param(&url, e, "allowWatchBookmarks", "true");
        if (in->field_sel[0])
            add_param(&url, e, "fieldSelector", in->field_sel);
        if (in->label_sel[0])
            add_param(&url, e, "labelSelector", in->label_sel);
        add_param(&url, e, "resourceVersion", in->rv ? in->rv : "");
        char to[16];
        snprintf(to, sizeof(to), "%d", 300 + rand() % 300);
        add_param(&url, e, "timeoutSeconds", to);
        add_param(&url, e, "watch", "true");
    } else {
        if (in->cont)
            add_param(&url, e, "continue", in->cont);
        if (in->field_sel[0])
            add_param(&url, e, "fieldSelector", in->field_sel);
        if (in->label_sel[0])
            add_param(&url, e, "labelSelector", in->label_sel);
        add_param(&url, e, "limit", "500");
        if (!in->cont && !in->rv_unavailable)
            add_param(&url, e, "resourceVersion", in->rv ? in->rv : "0");
    }
    in->hdrs = curl_slist_append(NULL, "Accept: application/json");
    ts_curl_set_url_server_name(e, ts_buf_cstr(&url), k->server_name, &in->hdrs, &in->connect_to);
    ts_buf_fini(&url);
    const char *tok = current_token(k);
    if (tok) {
        ts_buf h;
        ts_buf_init(&h, 0);
        ts_buf_printf(&h, "Authorization: %s %s", k->auth_type ? k->auth_type : "Bearer", tok);
        in->hdrs = curl_slist_append(in->hdrs, ts_buf_cstr(&h));
        ts_buf_fini(&h);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, in->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "Prometheus/2.42.0 (Tessera " TS_VERSION ")");
    if (k->basic_user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, k->basic_user);
        char *pw = NULL;
        size_t len = 0;
        if (k->basic_pass_file && ts_fs_read_file(k->basic_pass_file, 1 << 20, &pw, &len) == 0) {
            while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
                pw[--len] = '\0';
            curl_easy_setopt(e, CURLOPT_PASSWORD, pw);
            ts_free(pw);
        } else {
            curl_easy_setopt(e, CURLOPT_PASSWORD, k->basic_pass ? k->basic_pass : "");
        }
    }
    if (k->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, k->ca_file);
    if (k->ca_blob.len) {
        struct curl_blob b = {k->ca_blob.p, k->ca_blob.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (k->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, k->cert_file);
    if (k->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, k->key_file);
    if (k->cert_blob.len) {
        struct curl_blob b = {k->cert_blob.p, k->cert_blob.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
    }
    if (k->key_blob.len) {
        struct curl_blob b = {k->key_blob.p, k->key_blob.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
    }
    if (k->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(e, CURLOPT_PROXY, k->proxy ? k->proxy : "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (!watch)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5L * 60 * 1000);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, in);
    if (watch) {
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, in);
    }
    in->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, in->errbuf);
    in->easy = e;
    in->state = watch ? ST_WATCH : ST_LIST;
    in->started_ms = mono_ms();
    in->watch_events = 0;
    in->incomplete_len = 0;
    in->relist_after_watch = false;
    ts_buf_reset(&in->body);
    ts_curluv_start(k->http, e, request_done, in);
}

static void
start_list(informer *in)
{
    start_request(in, false);
}

static void
start_watch(informer *in)
{
    start_request(in, true);
}

static void
retry_cb(uv_timer_t *t)
{
    informer *in = t->data;
    if (in->k->stopped)
        return;
    if (in->synced && in->rv && !in->relist_after_watch)
        start_watch(in);
    else
        start_list(in);
}

/* Retries after the back-off: a watch when the informer has a version to
 * watch from (relist false), a list otherwise. */
static void
backoff(informer *in, bool relist)
{
    if (in->backoff_ms < BACKOFF_MIN_MS)
        in->backoff_ms = BACKOFF_MIN_MS;
    int64_t delay = in->backoff_ms + rand() % (in->backoff_ms + 1);
    in->backoff_ms *= 2;
    if (in->backoff_ms > BACKOFF_MAX_MS)
        in->backoff_ms = BACKOFF_MAX_MS;
    in->relist_after_watch = relist;
    uv_timer_start(&in->retry, retry_cb, (uint64_t)delay, 0);
}

/* ------------------------------------------------------------- the store */

static void
set_rv(informer *in, const char *rv)
{
    if (!rv || !rv[0])
        return;
    ts_free(in->rv);
    in->rv = ts_strdup(rv);
}

static void
apply_event(informer *in, const char *type, json_t *obj)
{
    char key[512];
    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(in, json_string_value(
                       json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
        return;
    }
    if (!ts__k8s_object_key(obj, key, sizeof(key))) {
        log_inf(TS_LOG_WARN, in, "Watch event without object name", type);
        return;
    }
    set_rv(in,
           json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        bool existed = json_object_get(in->store, key) != NULL;
        json_object_set(in->store, key, obj);
        count_event(in->kind, existed ? 1 : 0);
    } else if (strcmp(type, "DELETED") == 0) {
        if (json_object_del(in->store, key) == 0)
            count_event(in->kind, 2);
    } else {
        return;
    }
    mark_dirty(in->k);
}

/* Parses every complete JSON value at the front of the watch buffer.
 * Returns false to abort the transfer (ERROR event, bad data). */
static bool
parse_watch(informer *in)
{
    size_t off = 0;
    bool ok = true;
    while (ok) {
        while (off < in->body.len && (in->body.p[off] == ' ' || in->body.p[off] == '\n' ||
                                      in->body.p[off] == '\r' || in->body.p[off] == '\t'))
            off++;
        if (off >= in->body.len)
            break;
        json_error_t jerr;
        json_t *ev = json_loadb((const char *)in->body.p + off, in->body.len - off,
                                JSON_DISABLE_EOF_CHECK, &jerr);
        if (!ev) {
            if (json_error_code(&jerr) == json_error_premature_end_of_input)
                in->incomplete_len = in->body.len - off;
            break; /* wait for the rest */
            log_inf(TS_LOG_ERROR, in, "Cannot parse watch event", jerr.text);
            in->relist_after_watch = true;
            in->watch_events = 0;
            ok = false;
            break;
        }
        off += jerr.position;
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *obj = json_object_get(ev, "object");
        in->watch_events++;
        if (!type || !json_is_object(obj)) {
            log_inf(TS_LOG_ERROR, in, "Bad watch event", "no type or object");
        } else if (strcmp(type, "ERROR") == 0) {
            json_int_t code = json_integer_value(json_object_get(obj, "code"));
            const char *msg = json_string_value(json_object_get(obj, "message"));
            if (code == 410) {
                TS_LOG(TS_LOG_INFO, "discovery", "Watch expired, listing again",
                       "role=%s url=\"%s%s\" reason=\"%s\"", ts__k8s_role_name(in->k->role),
                       in->k->base, in->path, msg ? msg : "");
                in->relist_after_watch = true;
            } else {
                char text[1200];
                snprintf(text, sizeof(text), "watch of %s ended with an error event: %ld %s",
                         in->path, (long)code, msg ? msg : "");
                informer_fail(in, text);
                in->relist_after_watch = true;
                in->watch_events = 0; /* so the retry backs off */
            }
            ok = false;
        } else {
            apply_event(in, type, obj);
        }
        json_decref(ev);
    }
    if (off > 0) {
        memmove(in->body.p, in->body.p + off, in->body.len - off);
        in->body.len -= off;
    }
    if (in->body.len == 0)
        in->incomplete_len = 0;
    if (in->body.len > EVENT_MAX_BYTES) {
        log_inf(TS_LOG_ERROR, in, "Watch event too large", "over 64 MiB");
        in->relist_after_watch = true;
        in->watch_events = 0;
        ok = false;
    }
    return ok;
}

static size_t
on_data(char *p, size_t sz, size_t nm, void *ud)
{
    informer *in = ud;
    size_t n = sz * nm;
    long code = 0;
    curl_easy_getinfo(in->easy, CURLINFO_RESPONSE_CODE, &code);
    if (in->state == ST_LIST || code != 200) {
        if (in->body.len + n > LIST_MAX_BYTES)
            return 0;
        ts_buf_put(&in->body, p, n);
        return n;
    }
    ts_buf_put(&in->body, p, n);
    /* The API server ends every event with a newline; without one in the new
     * bytes, parse again only once the pending data has doubled (other
     * framings still work), so a large event arriving in many chunks is not
     * re-parsed from its start for every chunk. */
    if (!memchr(p, '\n', n) && in->body.len < 2 * in->incomplete_len)
        return n;
    return parse_watch(in) ? n : 0;
}

/* An HTTP error reply of in's request as the informer's failure. */
static void
fail_http(informer *in, long code)
{
    char msg[1200];
    ts__k8s_http_error_text(code, (const char *)in->body.p, in->body.len, in->kind, in->path, msg,
                            sizeof(msg));
    informer_fail(in, msg);
}

static void
list_done(informer *in, long code)
{
    if (code == 410 && in->rv_unavailable && !in->cont) {
        /* 410 for a list without resourceVersion: not expected, back off */
        fail_http(in, code);
        backoff(in, true);
        return;
    }
    if (code == 410) {
        if (in->cont) { /* the continue token expired: one full list */
            ts_free(in->cont);
            in->cont = NULL;
            json_decref(in->pending);
            in->pending = NULL;
        } else {
            in->rv_unavailable = true; /* the version is gone: a consistent read */
        }
        log_inf(TS_LOG_INFO, in, "List expired (410 Gone), listing again",
                in->rv_unavailable ? "resourceVersion too old" : "continue token expired");
        start_list(in);
        return;
    }
    if (code != 200) {
        fail_http(in, code);
        ts_free(in->cont);
        in->cont = NULL;
        json_decref(in->pending);
        in->pending = NULL;
        backoff(in, true);
        return;
    }
    json_error_t jerr;
    json_t *list = json_loadb((const char *)in->body.p, in->body.len, 0, &jerr);
    json_t *items = json_object_get(list, "items");
    if (!list || !(json_is_array(items) || json_is_null(items) || !items)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "cannot parse the list reply of %s: %s", in->path,
                 list ? "\"items\" is not a list" : jerr.text);
        informer_fail(in, msg);
        json_decref(list);
        backoff(in, true);
        return;
    }
    if (!in->pending)
        in->pending = json_object();
    for (size_t i = 0; i < json_array_size(items); i++) {
        char key[512];
        json_t *obj = json_array_get(items, i);
        if (ts__k8s_object_key(obj, key, sizeof(key)))
            json_object_set(in->pending, key, obj);
    }
    json_t *lm = json_object_get(list, "metadata");
    const char *cont = json_string_value(json_object_get(lm, "continue"));
    if (cont && cont[0]) {
        ts_free(in->cont);
        in->cont = ts_strdup(cont);
        json_decref(list);
        start_list(in);
        return;
    }
    ts_free(in->cont);
    in->cont = NULL;
    /* replace the store, counting what changed */
    const char *key;
    json_t *obj, *tmp;
    json_object_foreach(in->pending, key, obj)
    {
        json_t *old = json_object_get(in->store, key);
        if (!old)
            count_event(in->kind, 0);
        else if (!json_equal(old, obj))
            count_event(in->kind, 1);
    }
    json_object_foreach_safe(in->store, tmp, key, obj)
    {
        if (!json_object_get(in->pending, key))
            count_event(in->kind, 2);
    }
    json_object_clear(in->store);
    json_object_update(in->store, in->pending);
    json_decref(in->pending);
    in->pending = NULL;
    ts_free(in->rv);
    in->rv = NULL;
    set_rv(in, json_string_value(json_object_get(lm, "resourceVersion")));
    json_decref(list);
    in->rv_unavailable = false;
    in->synced = true;
    in->backoff_ms = 0;
    informer_ok(in);
    mark_dirty(in->k);
    start_watch(in);
}

static void
watch_done(informer *in, long code, CURLcode res)
{
    int64_t took = mono_ms() - in->started_ms;
    if (code == 410) {
        log_inf(TS_LOG_INFO, in, "Watch expired (410 Gone), listing again", "HTTP 410");
        start_list(in);
        return;
    }
    if (code != 200 && code != 0) {
        fail_http(in, code);
        backoff(in, false);
        return;
    }
    if (in->relist_after_watch) { /* an ERROR event ended it */
        if (in->watch_events > 0) {
            start_list(in);
        } else {
            backoff(in, true);
        }
        return;
    }
    if (res != CURLE_OK && code == 0) { /* never answered: the API server is out of reach */
        informer_fail_transport(in, res);
        backoff(in, false);
        return;
    }
    if (res != CURLE_OK) { /* an open watch was cut: routine, re-watch */
        log_inf(TS_LOG_WARN, in, "Watch connection failed, reconnecting",
                in->errbuf[0] ? in->errbuf : curl_easy_strerror(res));
        backoff(in, false);
        return;
    }
    if (took < 1000 && in->watch_events == 0) {
        log_inf(TS_LOG_WARN, in, "Very short watch, reconnecting after a back-off",
                "the server closed the watch within 1s without events");
        backoff(in, false);
        return;
    }
    in->backoff_ms = 0;
    start_watch(in); /* the server ended the watch: resume from the last version */
}

static void
request_done(void *ctx, CURL *e, CURLcode res)
{
    informer *in = ctx;
    ts__k8s *k = in->k;
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    double secs = 0;
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &secs);
    curl_easy_cleanup(e);
    curl_slist_free_all(in->hdrs);
    in->hdrs = NULL;
    curl_slist_free_all(in->connect_to);
    in->connect_to = NULL;
    in->easy = NULL;
    char sc[16];
    if (code > 0)
        snprintf(sc, sizeof(sc), "%ld", code);
    else
        snprintf(sc, sizeof(sc), "<error>");
    stat_add(status_stats, &nstatus_stats, 32, sc, 0);
    stat_add(endpoint_stats, &nendpoint_stats, 64, in->path, secs);
    inf_state st = in->state;
    in->state = ST_IDLE;
    if (k->stopped)
        return;
    if (st == ST_LIST) {
        if (res != CURLE_OK) {
            informer_fail_transport(in, res);
            backoff(in, true);
        } else {
            list_done(in, code);
        }
    } else if (st == ST_WATCH) {
        watch_done(in, code, res == CURLE_WRITE_ERROR ? CURLE_OK : res);
    }
}

/* ----------------------------------------------------------- set-up */

static char *
join_dir(const char *dir, const char *p)
{
    if (!p)
        return NULL;
    if (p[0] == '/' || !dir || !dir[0])
        return ts_strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = ts_malloc(n);
    snprintf(s, n, "%s/%s", dir, p);
    return s;
}

static char *
dup_or_null(const char *s)
{
    return s ? ts_strdup(s) : NULL;
}

static const char *
sa_dir(void)
{
    const char *d = getenv("TESSERA_K8S_SERVICEACCOUNT_DIR"); /* tests only */
    return d && d[0] ? d : SA_DIR_DEFAULT;
}

static int
base64_decode(const char *in, ts_buf *out)
{
    static const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ')
            continue;
        const char *c = strchr(tab, *p);
        if (!c)
            return TS_EINVAL;
        acc = (acc << 6) | (uint32_t)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            ts_buf_putc(out, (uint8_t)(acc >> bits));
        }
    }
    return TS_OK;
}

static const char *
ystr(const ts_ynode *map, const char *key)
{
    const ts_ynode *v = ts_ynode_get(map, key);
    return v && v->type == TS_YNODE_SCALAR && !ts_ynode_is_null(v) ? v->str : NULL;
}

/* The entry of a kubeconfig list ("clusters", "users", "contexts") named
 * name, returning its inner map (key inner). */
static const ts_ynode *
kc_find(const ts_ynode *root, const char *list, const char *inner, const char *name)
{
    const ts_ynode *l = ts_ynode_get(root, list);
    if (!l || l->type != TS_YNODE_SEQ || !name)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const char *n = ystr(l->kids[i], "name");
        if (n && strcmp(n, name) == 0)
            return ts_ynode_get(l->kids[i], inner);
    }
    return NULL;
}

/* Reads a kubeconfig file (clientcmd's format): the current context's
 * cluster (server, certificate-authority[-data], insecure-skip-tls-verify)
 * and user (token, tokenFile, client-certificate[-data], client-key[-data],
 * username, password). */
static int
load_kubeconfig(ts__k8s *k, const char *path, ts_error *err)
{
    char *text;
    size_t len;
    int rc = ts_fs_read_file(path, 16 << 20, &text, &len);
    if (rc)
        return ts_error_set(err, rc, "open %s: %s", path, ts_strerror(rc));
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_ynode *root = NULL;
    rc = ts_yaml_load(text, len, &a, &root, err);
    ts_free(text);
    if (rc) {
        ts_arena_fini(&a);
        return rc;
    }
    char *dir = ts_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    const char *cur = ystr(root, "current-context");
    const ts_ynode *ctx = kc_find(root, "contexts", "context", cur);
    const ts_ynode *cl = kc_find(root, "clusters", "cluster", ystr(ctx, "cluster"));
    const ts_ynode *us = kc_find(root, "users", "user", ystr(ctx, "user"));
    const char *server = ystr(cl, "server");
    if (!ctx || !cl || !server) {
        rc = ts_error_set(err, TS_EINVAL, "%s: no cluster server for the current context \"%s\"",
                          path, cur ? cur : "");
    } else {
        k->base = ts_strdup(server);
        k->ca_file = join_dir(dir, ystr(cl, "certificate-authority"));
        const char *v = ystr(cl, "insecure-skip-tls-verify");
        k->insecure = v && strcmp(v, "true") == 0;
        k->server_name = dup_or_null(ystr(cl, "tls-server-name"));
        if ((v = ystr(cl, "certificate-authority-data")))
            rc = base64_decode(v, &k->ca_blob);
        k->token = dup_or_null(ystr(us, "token"));
        k->token_file = join_dir(dir, ystr(us, "tokenFile"));
        k->cert_file = join_dir(dir, ystr(us, "client-certificate"));
        k->key_file = join_dir(dir, ystr(us, "client-key"));
        if (!rc && (v = ystr(us, "client-certificate-data")))
            rc = base64_decode(v, &k->cert_blob);
        if (!rc && (v = ystr(us, "client-key-data")))
            rc = base64_decode(v, &k->key_blob);
        k->basic_user = dup_or_null(ystr(us, "username"));
        k->basic_pass = dup_or_null(ystr(us, "password"));
        if (rc)
            ts_error_set(err, rc, "%s: bad base64 data", path);
    }
    ts_free(dir);
    ts_arena_fini(&a);
    return rc;
}

static void
add_informer(ts__k8s *k, ts__k8s_kind kind, const char *ns, const ts_kubernetes_sd_config *cfg)
{
    static const char *const sel_role[TS__K8S_NKINDS] = {"node",      "pod",           "service",
                                                         "endpoints", "endpointslice", "ingress"};
    if (k->cache.nstores[kind] >= TS__K8S_MAX_STORES)
        return;
    informer *in = ts_calloc(1, sizeof(*in));
    in->k = k;
    in->kind = kind;
    char path[600];
    bool nsd = ns && ns[0] && kind != TS__K8S_KIND_NODE;
    if (nsd)
        snprintf(path, sizeof(path), "%s/namespaces/%s/%s", kind_group[kind], ns, kind_res[kind]);
    else
        snprintf(path, sizeof(path), "%s/%s", kind_group[kind], kind_res[kind]);
    in->path = ts_strdup(path);
    in->label_sel = in->field_sel = "";
    for (size_t i = 0; i < cfg->nselectors; i++) {
        if (strcmp(cfg->selectors[i].role, sel_role[kind]) == 0) {
            in->label_sel = in->label_sel_own = ts_strdup(cfg->selectors[i].label);
            in->field_sel = in->field_sel_own = ts_strdup(cfg->selectors[i].field);
        }
    }
    in->store = json_object();
    ts_buf_init(&in->body, 0);
    uv_timer_init(k->loop, &in->retry);
    in->retry.data = in;
    k->open_handles++;
    k->cache.stores[kind][k->cache.nstores[kind]++] = in->store;
    k->infs = ts_realloc(k->infs, (k->ninfs + 1) * sizeof(*k->infs));
    k->infs[k->ninfs++] = in;
}

static void
curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
ts__k8s_start(uv_loop_t *loop, const ts_kubernetes_sd_config *cfg, const char *base_dir,
              ts__k8s_update_fn fn, ts__k8s_health_fn health, ts__k8s_closed_fn closed, void *ctx,
              ts__k8s **out, ts_error *err)
{
    static uv_once_t curl_once = UV_ONCE_INIT;
    uv_once(&curl_once, curl_init);
    uv_once(&metrics_once, metrics_init);
    int role = ts__k8s_role_parse(cfg->role);
    if (role < 0)
        return ts_error_set(err, TS_EINVAL, "unknown Kubernetes SD role \"%s\"", cfg->role);
    ts__k8s *k = ts_calloc(1, sizeof(*k));
    k->loop = loop;
    k->role = (ts__k8s_role)role;
    k->fn = fn;
    k->health = health;
    k->closed = closed;
    k->ctx = ctx;
    ts_buf_init(&k->ca_blob, 0);
    ts_buf_init(&k->cert_blob, 0);
    ts_buf_init(&k->key_blob, 0);
    k->cache.attach_node = cfg->attach_node;
    int rc = TS_OK;
    char *own_ns = NULL;
    if (cfg->kubeconfig_file) {
        char *p = join_dir(base_dir, cfg->kubeconfig_file);
        rc = load_kubeconfig(k, p, err);
        ts_free(p);
    } else if (cfg->api_server) {
        const ts_http_config *h = &cfg->http;
        k->base = ts_strdup(cfg->api_server);
        if (h->has_authorization) {
            k->auth_type = dup_or_null(h->auth_type);
            k->token = dup_or_null(h->auth_credentials);
            k->token_file = join_dir(base_dir, h->auth_credentials_file);
        }
        if (h->has_basic_auth) {
            k->basic_user = ts_strdup(h->basic_auth_username ? h->basic_auth_username : "");
            k->basic_pass = dup_or_null(h->basic_auth_password);
            k->basic_pass_file = join_dir(base_dir, h->basic_auth_password_file);
        }
        k->ca_file = join_dir(base_dir, h->tls.ca_file);
        k->cert_file = join_dir(base_dir, h->tls.cert_file);
        k->key_file = join_dir(base_dir, h->tls.key_file);
        k->insecure = h->tls.insecure_skip_verify;
        k->server_name = dup_or_null(h->tls.server_name);
        k->proxy = dup_or_null(h->proxy_url);
    } else {
        /* in-cluster (client-go InClusterConfig) */
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !host[0] || !port || !port[0]) {
            rc = ts_error_set(err, TS_EINVAL,
                              "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
                              "and KUBERNETES_SERVICE_PORT must be defined");
        } else {
            char b[512];
            snprintf(b, sizeof(b), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                     port);
            k->base = ts_strdup(b);
            char p[600];
            snprintf(p, sizeof(p), "%s/token", sa_dir());
            k->token_file = ts_strdup(p);
            if (!current_token(k))
                rc = ts_error_set(err, TS_EINVAL, "open %s: cannot read the service account token",
                                  p);
            snprintf(p, sizeof(p), "%s/ca.crt", sa_dir());
            struct stat st;
            if (stat(p, &st) == 0)
                k->ca_file = ts_strdup(p);
            else
                TS_LOG(TS_LOG_ERROR, "discovery", "Expected to load root CA config",
                       "path=\"%s\" err=\"%s\"", p, strerror(errno));
            if (!rc && cfg->own_namespace) {
                snprintf(p, sizeof(p), "%s/namespace", sa_dir());
                size_t len = 0;
                int r2 = ts_fs_read_file(p, 4096, &own_ns, &len);
                if (r2)
                    rc = ts_error_set(err, r2,
                                      "could not determine the pod's namespace: open %s: %s", p,
                                      ts_strerror(r2));
                else if (len == 0)
                    rc = ts_error_set(err, TS_EINVAL,
                                      "could not read own namespace name (empty file)");
            }
            if (!rc)
                TS_LOG(TS_LOG_INFO, "discovery", "Using pod service account via in-cluster config",
                       "role=%s", cfg->role);
        }
    }
    if (!rc && k->base) {
        size_t bl = strlen(k->base);
        while (bl > 0 && k->base[bl - 1] == '/')
            k->base[--bl] = '\0';
    }
    if (rc) {
        ts_free(own_ns);
        k->stopped = true;
        k->closed = NULL;
        maybe_closed(k);
        return rc;
    }
    k->http = ts_curluv_new(loop);
    uv_timer_init(loop, &k->notify);
    k->notify.data = k;
    k->open_handles += 2;
    /* namespaces: names, then the own namespace; none -> all */
    size_t nns = cfg->namespaces.n + (own_ns ? 1 : 0);
    const char **nss = ts_calloc(nns ? nns : 1, sizeof(char *));
    for (size_t i = 0; i < cfg->namespaces.n; i++)
        nss[i] = cfg->namespaces.v[i];
    if (own_ns)
        nss[cfg->namespaces.n] = own_ns;
    if (nns == 0) {
        nss[0] = "";
        nns = 1;
    }
    static const ts__k8s_kind main_kind[TS__K8S_NROLES] = {
        TS__K8S_KIND_NODE,      TS__K8S_KIND_POD,           TS__K8S_KIND_SERVICE,
        TS__K8S_KIND_ENDPOINTS, TS__K8S_KIND_ENDPOINTSLICE, TS__K8S_KIND_INGRESS};
    if (k->role == TS__K8S_NODE) {
        add_informer(k, TS__K8S_KIND_NODE, "", cfg);
    } else {
        for (size_t i = 0; i < nns; i++) {
            add_informer(k, main_kind[k->role], nss[i], cfg);
            if (k->role == TS__K8S_ENDPOINTS || k->role == TS__K8S_ENDPOINTSLICE) {
                add_informer(k, TS__K8S_KIND_SERVICE, nss[i], cfg);
                add_informer(k, TS__K8S_KIND_POD, nss[i], cfg);
            }
        }
        bool node_meta = k->role == TS__K8S_POD || k->role == TS__K8S_ENDPOINTS ||
                         k->role == TS__K8S_ENDPOINTSLICE;
        if (cfg->attach_node && node_meta)
            add_informer(k, TS__K8S_KIND_NODE, "", cfg);
    }
    ts_free(nss);
    ts_free(own_ns);
    for (size_t i = 0; i < k->ninfs; i++)
        start_list(k->infs[i]);
    *out = k;
    return TS_OK;
}

void
ts__k8s_stop(ts__k8s *k)
{
    if (!k)
        return;
    k->stopped = true;
    for (size_t i = 0; i < k->ninfs; i++) {
        informer *in = k->infs[i];
        if (in->easy) {
            ts_curluv_cancel(k->http, in->easy);
            curl_easy_cleanup(in->easy);
            in->easy = NULL;
        }
        curl_slist_free_all(in->hdrs);
        in->hdrs = NULL;
        curl_slist_free_all(in->connect_to);
        in->connect_to = NULL;
        uv_timer_stop(&in->retry);
        uv_close((uv_handle_t *)&in->retry, handle_closed);
        in->retry.data = k;
    }
    ts_curluv_close(k->http, http_closed, k);
    k->http = NULL;
    uv_timer_stop(&k->notify);
    uv_close((uv_handle_t *)&k->notify, handle_closed);
}
