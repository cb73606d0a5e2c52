/*
 * The Alertmanager notifier (design in notifier.h).
 *
 * ts_notifier_send turns each alert into its JSON object at once (labels
 * merged with the external labels), so the queue holds plain strings and the
 * rule manager's label sets can change freely afterwards.  The worker takes
 * up to 64 queued objects, joins them into one JSON array and POSTs it to
 * each Alertmanager in turn (Prometheus sends to all of them in parallel).
 * Counters follow Prometheus' prometheus_notifications_* names.
 */
#include "pkg/rules/notifier.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pkg/util/buf.h"
#include "pkg/util/gotime.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#define QUEUE_MAX 10000
#define BATCH_MAX 64

typedef struct am {
    char *url;
    int64_t timeout_ms;
    uint64_t sent, errors;
} am;

struct ts_notifier {
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    pthread_t thread;
    bool stopping, busy;
    char **q; /* ring of JSON objects */
    size_t head, len;
    am *ams;
    size_t nams;
    ts_labels *ext;
    const ts_relabel_config *relabel; /* alert_relabel_configs, borrowed from the config */
    size_t nrelabel;
    uint64_t dropped;
};

/* The alert's JSON object, or NULL when alert_relabel_configs drop it.
 * Called with nf->mu held (the relabel configs belong to the config). */
static char *
alert_json(const ts_notifier *nf, const ts_rules_alert *a)
{
    const ts_labels *ext = nf->ext;
    ts_labels_builder b;
    ts_labels_builder_init(&b, a->labels);
    for (size_t i = 0; ext && i < ext->n; i++)
        if (!ts_labels_get(a->labels, ext->l[i].name))
            ts_labels_builder_set(&b, ext->l[i].name, ext->l[i].value);
    if (nf->nrelabel && !ts_relabel_process(nf->relabel, nf->nrelabel, &b)) {
        ts_labels_builder_fini(&b);
        return NULL;
    }
    ts_labels *ls = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
    if (ls->n == 0) { /* Prometheus drops alerts left without labels */
        ts_labels_free(ls);
        return NULL;
    }
    ts_buf buf;
    ts_buf_init(&buf, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &buf);
    char t[64];
    ts_jsonw_obj_begin(&j);
    ts_jsonw_key(&j, "annotations");
    ts_labels_write_json(&j, a->annotations);
    ts_jsonw_key(&j, "endsAt");
    ts_gotime_format_rfc3339nano(a->ends_at_ns, t, sizeof(t));
    ts_jsonw_str(&j, t);
    ts_jsonw_key(&j, "startsAt");
    ts_gotime_format_rfc3339nano(a->starts_at_ns, t, sizeof(t));
    ts_jsonw_str(&j, t);
    ts_jsonw_key(&j, "generatorURL");
    ts_jsonw_str(&j, a->generator_url);
    ts_jsonw_key(&j, "labels");
    ts_labels_write_json(&j, ls);
    ts_jsonw_obj_end(&j);
    ts_labels_free(ls);
    char *s = ts_malloc(buf.len + 1);
    memcpy(s, buf.p, buf.len);
    s[buf.len] = '\0';
    ts_buf_fini(&buf);
    return s;
}

void
ts_notifier_send(void *ctx, const ts_rules_alert *alerts, size_t n)
{
    ts_notifier *nf = ctx;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&nf->mu);
        char *js = alert_json(nf, &alerts[i]);
        if (!js) {
            pthread_mutex_unlock(&nf->mu);
            continue;
        }
        if (nf->len == QUEUE_MAX) { /* drop the oldest */
            ts_free(nf->q[nf->head]);
            nf->head = (nf->head + 1) % QUEUE_MAX;
            nf->len--;
            nf->dropped++;
        }
        nf->q[(nf->head + nf->len) % QUEUE_MAX] = js;
        nf->len++;
        pthread_cond_signal(&nf->cv);
        pthread_mutex_unlock(&nf->mu);
    }
}

static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static int
post(const char *url, const char *body, size_t len, int64_t timeout_ms, char *err, size_t errsz)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errsz, "curl_easy_init failed");
        return -1;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: Prometheus/2.42.0");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(err, errsz, "%s", curl_easy_strerror(rc));
        return -1;
    }
    if (code / 100 != 2) {
        snprintf(err, errsz, "bad response status %ld", code);
        return -1;
    }
    return 0;
}

static void *
worker(void *arg)
{
    ts_notifier *nf = arg;
    pthread_mutex_lock(&nf->mu);
    for (;;) {
        while (!nf->stopping && nf->len == 0)
            pthread_cond_wait(&nf->cv, &nf->mu);
        if (nf->stopping)
            break;
        /* one batch */
        ts_buf body;
        ts_buf_init(&body, 0);
        ts_buf_put(&body, "[", 1);
        size_t k = 0;
        for (; k < BATCH_MAX && nf->len; k++) {
            char *js = nf->q[nf->head];
            nf->head = (nf->head + 1) % QUEUE_MAX;
            nf->len--;
            if (k)
                ts_buf_put(&body, ",", 1);
            ts_buf_put(&body, js, strlen(js));
            ts_free(js);
        }
        ts_buf_put(&body, "]", 1);
        ts_buf_putc(&body, 0); /* NUL */
        /* a snapshot of the Alertmanagers (the config may change meanwhile) */
        size_t na = nf->nams;
        char **urls = ts_calloc(na + 1, sizeof(char *));
        int64_t *tmo = ts_calloc(na + 1, sizeof(int64_t));
        for (size_t i = 0; i < na; i++) {
            urls[i] = ts_strdup(nf->ams[i].url);
            tmo[i] = nf->ams[i].timeout_ms;
        }
        nf->busy = true;
        pthread_mutex_unlock(&nf->mu);
        for (size_t i = 0; i < na; i++) {
            char err[256];
            int rc = post(urls[i], (const char *)body.p, body.len - 1, tmo[i], err, sizeof(err));
            if (rc)
                TS_LOG(TS_LOG_ERROR, "notifier", "Error sending alert",
                       "alertmanager=%s count=%zu err=\"%s\"", urls[i], k, err);
            pthread_mutex_lock(&nf->mu);
            for (size_t x = 0; x < nf->nams; x++)
                if (strcmp(nf->ams[x].url, urls[i]) == 0) {
                    /* as Prometheus: sent counts every alert tried, errors the failed ones */
                    nf->ams[x].sent += k;
                    if (rc)
                        nf->ams[x].errors += k;
                }
            pthread_mutex_unlock(&nf->mu);
            ts_free(urls[i]);
        }
        ts_free(urls);
        ts_free(tmo);
        ts_buf_fini(&body);
        pthread_mutex_lock(&nf->mu);
        nf->busy = false;
        pthread_cond_broadcast(&nf->idle_cv);
    }
    pthread_mutex_unlock(&nf->mu);
    return NULL;
}

int
ts_notifier_new(ts_notifier **out)
{
    ts_notifier *n = ts_calloc(1, sizeof(*n));
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    pthread_cond_init(&n->idle_cv, NULL);
    n->q = ts_calloc(QUEUE_MAX, sizeof(char *));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&n->thread, NULL, worker, n) != 0) {
        ts_free(n->q);
        ts_free(n);
        return TS_ENOMEM;
    }
    *out = n;
    return TS_OK;
}

static void
free_ams(ts_notifier *n)
{
    for (size_t i = 0; i < n->nams; i++)
        ts_free(n->ams[i].url);
    ts_free(n->ams);
    n->ams = NULL;
    n->nams = 0;
}

void
ts_notifier_free(ts_notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    for (size_t i = 0; i < n->len; i++)
        ts_free(n->q[(n->head + i) % QUEUE_MAX]);
    ts_free(n->q);
    free_ams(n);
    ts_labels_free(n->ext);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    pthread_cond_destroy(&n->idle_cv);
    ts_free(n);
}

void
ts_notifier_apply_config(ts_notifier *n, const ts_config *cfg)
{
    size_t total = 0;
    for (size_t i = 0; i < cfg->nalertmanagers; i++)
        for (size_t k = 0; k < cfg->alertmanagers[i].nstatic; k++)
            total += cfg->alertmanagers[i].static_configs[k].targets.n;
    am *v = ts_calloc(total + 1, sizeof(*v));
    size_t nv = 0;
    for (size_t i = 0; i < cfg->nalertmanagers; i++) {
        const ts_alertmanager_config *a = &cfg->alertmanagers[i];
        /* path.Join("/", path_prefix, "/api/v2/alerts") */
        const char *pp = a->path_prefix;
        while (*pp == '/')
            pp++;
        size_t pl = strlen(pp);
        while (pl && pp[pl - 1] == '/')
            pl--;
        for (size_t k = 0; k < a->nstatic; k++)
            for (size_t t = 0; t < a->static_configs[k].targets.n; t++) {
                const char *target = a->static_configs[k].targets.v[t];
                size_t ul = strlen(a->scheme) + strlen(target) + pl + 32;
                char *u = ts_malloc(ul);
                snprintf(u, ul, "%s://%s%s%.*s/api/%s/alerts", a->scheme, target, pl ? "/" : "",
                         (int)pl, pp, a->api_version);
                bool dup = false;
                for (size_t x = 0; x < nv && !dup; x++)
                    dup = strcmp(v[x].url, u) == 0;
                if (dup) {
                    ts_free(u);
                    continue;
                }
                v[nv++] = (am){.url = u, .timeout_ms = a->timeout_ms};
            }
    }
    pthread_mutex_lock(&n->mu);
    /* keep counters of Alertmanagers that stay */
    for (size_t i = 0; i < nv; i++)
        for (size_t x = 0; x < n->nams; x++)
            if (strcmp(n->ams[x].url, v[i].url) == 0) {
                v[i].sent = n->ams[x].sent;
                v[i].errors = n->ams[x].errors;
            }
    free_ams(n);
    n->ams = v;
    n->nams = nv;
    ts_labels_free(n->ext);
    n->ext = ts_labels_dup(cfg->external_labels);
    n->relabel = cfg->alert_relabel;
    n->nrelabel = cfg->nalert_relabel;
    pthread_mutex_unlock(&n->mu);
}

bool
ts_notifier_drain(ts_notifier *n, int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    while ((n->len || n->busy) && rc == 0)
        rc = pthread_cond_timedwait(&n->idle_cv, &n->mu, &ts);
    bool ok = !n->len && !n->busy;
    pthread_mutex_unlock(&n->mu);
    return ok;
}

void
ts_notifier_alertmanagers_json(ts_notifier *n, ts_jsonw *j)
{
    pthread_mutex_lock(&n->mu);
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "activeAlertmanagers");
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < n->nams; i++) {
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "url");
        ts_jsonw_str(j, n->ams[i].url);
        ts_jsonw_obj_end(j);
    }
    ts_jsonw_arr_end(j);
    ts_jsonw_key(j, "droppedAlertmanagers");
    ts_jsonw_arr_begin(j);
    ts_jsonw_arr_end(j);
    ts_jsonw_obj_end(j);
    pthread_mutex_unlock(&n->mu);
}

void
ts_notifier_collect(void *ctx, ts_metrics_writer *w)
{
    ts_notifier *n = ctx;
    pthread_mutex_lock(&n->mu);
    ts_mw_gauge(w, "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.", (double)n->nams);
    ts_mw_counter(w, "prometheus_notifications_dropped_total",
                  "Total number of alerts dropped due to errors when sending to Alertmanager.",
                  (double)n->dropped);
    ts_mw_gauge(w, "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.", (double)n->len);
    for (int f = 0; f < 2 && n->nams; f++) {
        const char *name =
            f ? "prometheus_notifications_errors_total" : "prometheus_notifications_sent_total";
        ts_mw_family(w, name, "counter",
                     f ? "Total number of errors sending alert notifications."
                       : "Total number of alerts sent.");
        for (size_t i = 0; i < n->nams; i++) {
            char l[600];
            snprintf(l, sizeof(l), "alertmanager=\"%s\"", n->ams[i].url);
            ts_mw_sample(w, name, l, (double)(f ? n->ams[i].errors : n->ams[i].sent));
        }
    }
    pthread_mutex_unlock(&n->mu);
}
