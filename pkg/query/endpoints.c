/*
 * Store discovery and health.
 *
 * One background thread.  Every sd_refresh it recomputes the wanted set of
 * store URLs (static + file + DNS) and adds or drops endpoints; every
 * ~200 ms it probes the endpoints whose next probe is due, each probe on
 * its own short-lived thread so one slow store does not delay the others.
 *
 * Endpoints are reference-counted: the list holds one reference, each
 * snapshot one per entry, so an endpoint removed by discovery while a query
 * uses its client stays alive until that query releases it.
 */
#include "pkg/query/endpoints.h"
#include "pkg/config/yaml.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { SRC_STATIC = 1, SRC_FILE = 2, SRC_DNS = 4 };

typedef struct ep {
    char *url;
    ts_store_client *client;
    int refs;
    unsigned sources;
    bool probing;
    /* status (guarded by the endpoints' mutex) */
    bool healthy, probed;
    ts_labels *labels;
    int64_t mint, maxt;
    char last_error[256];
    int64_t last_check;
    char component[32];
    int64_t next_probe;
    int fails;
} ep;

struct ts_endpoints {
    ts_query_endpoints_opts opts;
    char **static_urls;
    char *sd_file, *tls_ca;
    char **sd_dns; /* --store.sd-dns specs */
    size_t nsd_dns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    ep **eps;
    size_t n, cap;
    /* last good file targets, and the file's identity when read */
    char **file_urls;
    size_t nfile;
    struct timespec file_mtime;
    off_t file_size;
    char **dns_urls;
    size_t ndns;
    int64_t next_sd;
};

static void
ep_unref(ep *p)
{
    if (--p->refs > 0)
        return;
    ts_store_client_free(p->client);
    ts_labels_free(p->labels);
    ts_free(p->url);
    ts_free(p);
}

static char *
normalize(const char *addr)
{
    if (strstr(addr, "://"))
        return ts_strdup(addr);
    size_t n = strlen(addr) + 8;
    char *u = ts_malloc(n);
    snprintf(u, n, "tcp://%s", addr);
    return u;
}

static void
free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_free(v[i]);
    ts_free(v);
}

/* Reads the sd file if it changed.  Keeps the last good list on errors. */
static void
read_sd_file(ts_endpoints *e)
{
    struct stat st;
    if (stat(e->sd_file, &st) != 0) {
        TS_LOG(TS_LOG_WARN, "endpoints", "cannot stat store sd file", "file=%s", e->sd_file);
        return;
    }
    if (st.st_mtim.tv_sec == e->file_mtime.tv_sec && st.st_mtim.tv_nsec == e->file_mtime.tv_nsec &&
        st.st_size == e->file_size)
        return;
    char *text;
    size_t len;
    if (ts_fs_read_file(e->sd_file, 16 << 20, &text, &len) != TS_OK)
        return;
    ts_arena a;
    ts_arena_init(&a, 16 * 1024);
    ts_ynode *root = NULL;
    ts_error err;
    ts_error_clear(&err);
    int rc = ts_yaml_load(text, len, &a, &root, &err);
    char **urls = NULL;
    size_t n = 0, cap = 0;
    if (rc == TS_OK && root && root->type != TS_YNODE_SEQ) {
        rc = TS_EPARSE;
        snprintf(err.msg, sizeof(err.msg), "expected a list of target groups");
    }
    for (size_t i = 0; rc == TS_OK && root && i < root->n; i++) {
        ts_ynode *g = root->kids[i];
        ts_ynode *targets = NULL;
        for (size_t k = 0; g->type == TS_YNODE_MAP && k + 1 < g->n; k += 2)
            if (strcmp(g->kids[k]->str, "targets") == 0)
                targets = g->kids[k + 1];
        if (!targets || targets->type != TS_YNODE_SEQ) {
            rc = TS_EPARSE;
            snprintf(err.msg, sizeof(err.msg), "line %d: target group without a targets list",
                     g->line);
            break;
        }
        for (size_t k = 0; k < targets->n; k++) {
            if (targets->kids[k]->type != TS_YNODE_SCALAR)
                continue;
            TS_GROW(urls, cap, n + 1);
            urls[n++] = normalize(targets->kids[k]->str);
        }
    }
    if (rc == TS_OK) {
        free_strs(e->file_urls, e->nfile);
        e->file_urls = urls;
        e->nfile = n;
        e->file_mtime = st.st_mtim;
        e->file_size = st.st_size;
        TS_LOG(TS_LOG_INFO, "endpoints", "read store sd file", "file=%s stores=%zu", e->sd_file, n);
    } else {
        free_strs(urls, n);
        TS_LOG(TS_LOG_ERROR, "endpoints", "bad store sd file, keeping the previous stores",
               "file=%s err=\"%s\"", e->sd_file, err.msg);
        e->file_mtime = st.st_mtim; /* do not re-log until it changes */
        e->file_size = st.st_size;
    }
    ts_arena_fini(&a);
    ts_free(text);
}

/* Appends the store URLs one --store.sd-dns spec resolves to. */
static void
resolve_spec(const char *spec, char ***urlsp, size_t *np, size_t *capp)
{
    char **urls = *urlsp;
    size_t n = *np, cap = *capp;
    if (strncmp(spec, "dnssrv+", 7) == 0) {
        unsigned char ans[4096];
        int len = res_query(spec + 7, C_IN, T_SRV, ans, sizeof(ans));
        ns_msg msg;
        if (len > 0 && ns_initparse(ans, len, &msg) == 0) {
            int count = ns_msg_count(msg, ns_s_an);
            for (int i = 0; i < count; i++) {
                ns_rr rr;
                if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv)
                    continue;
                const unsigned char *rd = ns_rr_rdata(rr);
                if (ns_rr_rdlen(rr) < 7)
                    continue;
                unsigned port = (unsigned)(rd[4] << 8 | rd[5]);
                char host[NS_MAXDNAME];
                if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, host, sizeof(host)) < 0)
                    continue;
                char url[NS_MAXDNAME + 32];
                snprintf(url, sizeof(url), "tcp://%s:%u", host, port);
                TS_GROW(urls, cap, n + 1);
                urls[n++] = ts_strdup(url);
            }
        } else {
            TS_LOG(TS_LOG_WARN, "endpoints", "SRV lookup failed", "name=%s", spec + 7);
        }
    } else {
        const char *hp = strncmp(spec, "dns+", 4) == 0 ? spec + 4 : spec;
        const char *colon = strrchr(hp, ':');
        if (colon) {
            char host[256];
            snprintf(host, sizeof(host), "%.*s", (int)(colon - hp), hp);
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
            if (getaddrinfo(host, colon + 1, &hints, &res) == 0) {
                for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                    char ip[64], url[128];
                    if (ai->ai_family == AF_INET)
                        inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip,
                                  sizeof(ip));
                    else if (ai->ai_family == AF_INET6)
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip,
                                  sizeof(ip));
                    else
                        continue;
                    snprintf(url, sizeof(url), ai->ai_family == AF_INET6 ? "tcp://[%s]:%s"
                                                                         : "tcp://%s:%s",
                             ip, colon + 1);
                    bool dup = false;
                    for (size_t i = 0; i < n; i++)
                        dup |= strcmp(urls[i], url) == 0;
                    if (!dup) {
                        TS_GROW(urls, cap, n + 1);
                        urls[n++] = ts_strdup(url);
                    }
                }
                freeaddrinfo(res);
            } else {
                TS_LOG(TS_LOG_WARN, "endpoints", "DNS lookup failed", "name=%s", host);
            }
        }
    }
    *urlsp = urls;
    *np = n;
    *capp = cap;
}

/* Resolves every sd_dns spec into URLs. */
static void
resolve_dns(ts_endpoints *e)
{
    char **urls = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < e->nsd_dns; i++)
        resolve_spec(e->sd_dns[i], &urls, &n, &cap);
    free_strs(e->dns_urls, e->ndns);
    e->dns_urls = urls;
    e->ndns = n;
}

static ep *
find(ts_endpoints *e, const char *url)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->eps[i]->url, url) == 0)
            return e->eps[i];
    return NULL;
}

/* Adds url (from source src) if new.  Caller holds mu. */
static void
want(ts_endpoints *e, const char *url, unsigned src)
{
    ep *p = find(e, url);
    if (p) {
        p->sources |= src;
        return;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_store_client *c;
    if (ts_store_client_new(&c, url, e->tls_ca, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "endpoints", "cannot create store client", "url=%s err=\"%s\"", url,
               err.msg);
        return;
    }
    p = ts_calloc(1, sizeof(*p));
    p->url = ts_strdup(url);
    p->client = c;
    p->refs = 1;
    p->sources = src;
    p->labels = ts_labels_new(NULL, 0);
    p->mint = INT64_MIN;
    p->maxt = INT64_MAX;
    TS_GROW(e->eps, e->cap, e->n + 1);
    e->eps[e->n++] = p;
    TS_LOG(TS_LOG_INFO, "endpoints", "adding store", "url=%s", url);
}

static void
discover(ts_endpoints *e)
{
    if (e->sd_file)
        read_sd_file(e);
    if (e->nsd_dns)
        resolve_dns(e);
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n; i++)
        e->eps[i]->sources = 0;
    for (size_t i = 0; i < e->opts.nstatic; i++)
        want(e, e->static_urls[i], SRC_STATIC);
    for (size_t i = 0; i < e->nfile; i++)
        want(e, e->file_urls[i], SRC_FILE);
    for (size_t i = 0; i < e->ndns; i++)
        want(e, e->dns_urls[i], SRC_DNS);
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (e->eps[i]->sources) {
            e->eps[k++] = e->eps[i];
        } else {
            TS_LOG(TS_LOG_INFO, "endpoints", "removing store", "url=%s", e->eps[i]->url);
            ep_unref(e->eps[i]);
        }
    }
    e->n = k;
    pthread_mutex_unlock(&e->mu);
}

typedef struct probe_job {
    ts_endpoints *e;
    ep *p;
    pthread_t thread;
} probe_job;

static void *
probe(void *arg)
{
    probe_job *j = arg;
    ts_endpoints *e = j->e;
    ep *p = j->p;
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_error err;
    ts_error_clear(&err);
    ts_store_info info;
    int rc = ts_store_client_info(p->client, e->opts.probe_timeout_ms, &a, &info, &err);
    int64_t now = ts_now_ms();
    pthread_mutex_lock(&e->mu);
    p->probed = true;
    p->last_check = now;
    p->probing = false;
    if (rc == TS_OK) {
        if (!p->healthy)
            TS_LOG(TS_LOG_INFO, "endpoints", "store is healthy", "url=%s", p->url);
        p->healthy = true;
        p->fails = 0;
        p->last_error[0] = '\0';
        ts_labels_free(p->labels);
        p->labels = ts_labels_dup(info.external_labels);
        p->mint = info.mint;
        p->maxt = info.maxt;
        snprintf(p->component, sizeof(p->component), "%s", info.component);
        p->next_probe = now + e->opts.probe_interval_ms;
    } else {
        if (p->healthy || p->fails == 0)
            TS_LOG(TS_LOG_WARN, "endpoints", "store is unhealthy", "url=%s err=\"%s\"", p->url,
                   err.msg);
        p->healthy = false;
        p->fails++;
        snprintf(p->last_error, sizeof(p->last_error), "%s", err.msg);
        int64_t backoff = 1000LL << (p->fails < 5 ? p->fails : 5);
        p->next_probe = now + (backoff < 30000 ? backoff : 30000);
    }
    ep_unref(p);
    pthread_mutex_unlock(&e->mu);
    ts_arena_fini(&a);
    return NULL;
}

static void
probe_due(ts_endpoints *e, bool all)
{
    pthread_mutex_lock(&e->mu);
    int64_t now = ts_now_ms();
    probe_job *jobs = ts_calloc(e->n ? e->n : 1, sizeof(*jobs));
    size_t nj = 0;
    for (size_t i = 0; i < e->n; i++) {
        ep *p = e->eps[i];
        if (p->probing || (!all && p->next_probe > now))
            continue;
        p->probing = true;
        p->refs++;
        jobs[nj].e = e;
        jobs[nj].p = p;
        nj++;
    }
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < nj; i++)
        pthread_create(&jobs[i].thread, NULL, probe, &jobs[i]);
    for (size_t i = 0; i < nj; i++)
        pthread_join(jobs[i].thread, NULL);
    ts_free(jobs);
}

void
ts_query_endpoints_refresh_now(ts_endpoints *e)
{
    discover(e);
    probe_due(e, true);
}

static void *
loop(void *arg)
{
    ts_endpoints *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        pthread_mutex_unlock(&e->mu);
        int64_t now = ts_now_ms();
        if (now >= e->next_sd) {
            discover(e);
            e->next_sd = now + e->opts.sd_refresh_ms;
        }
        probe_due(e, false);
        pthread_mutex_lock(&e->mu);
        if (e->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int
ts_query_endpoints_start(ts_endpoints **out, const ts_query_endpoints_opts *opts, ts_error *err)
{
    ts_endpoints *e = ts_calloc(1, sizeof(*e));
    e->opts = *opts;
    if (!e->opts.probe_interval_ms)
        e->opts.probe_interval_ms = 5000;
    if (!e->opts.probe_timeout_ms)
        e->opts.probe_timeout_ms = 2000;
    if (!e->opts.sd_refresh_ms)
        e->opts.sd_refresh_ms = 5000;
    e->static_urls = ts_calloc(opts->nstatic + 1, sizeof(char *));
    for (size_t i = 0; i < opts->nstatic; i++)
        e->static_urls[i] = normalize(opts->static_urls[i]);
    e->sd_file = opts->sd_file ? ts_strdup(opts->sd_file) : NULL;
    e->sd_dns = ts_calloc(opts->nsd_dns + 1, sizeof(char *));
    for (size_t i = 0; i < opts->nsd_dns; i++)
        e->sd_dns[i] = ts_strdup(opts->sd_dns[i]);
    e->nsd_dns = opts->nsd_dns;
    e->tls_ca = opts->tls_ca_file ? ts_strdup(opts->tls_ca_file) : NULL;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    ts_query_endpoints_refresh_now(e);
    e->next_sd = ts_now_ms() + e->opts.sd_refresh_ms;
    if (pthread_create(&e->thread, NULL, loop, e) != 0) {
        ts_query_endpoints_stop(e);
        return ts_error_set(err, TS_EIO, "cannot start the endpoints thread");
    }
    *out = e;
    return TS_OK;
}

void
ts_query_endpoints_stop(ts_endpoints *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->thread)
        pthread_join(e->thread, NULL);
    for (size_t i = 0; i < e->n; i++)
        ep_unref(e->eps[i]);
    ts_free(e->eps);
    free_strs(e->static_urls, e->opts.nstatic);
    free_strs(e->file_urls, e->nfile);
    free_strs(e->dns_urls, e->ndns);
    ts_free(e->sd_file);
    free_strs(e->sd_dns, e->nsd_dns);
    ts_free(e->tls_ca);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    ts_free(e);
}

size_t
ts_query_endpoints_snapshot(ts_endpoints *e, ts_arena *a, ts_query_endpoint_status **out)
{
    pthread_mutex_lock(&e->mu);
    ts_query_endpoint_status *st = TS_ARENA_ARRAY(a, ts_query_endpoint_status, e->n + 1);
    for (size_t i = 0; i < e->n; i++) {
        ep *p = e->eps[i];
        p->refs++;
        st[i].url = ts_arena_strdup(a, p->url);
        st[i].healthy = p->healthy;
        st[i].probed = p->probed;
        st[i].labels = ts_labels_dup_arena(a, p->labels);
        st[i].mint = p->mint;
        st[i].maxt = p->maxt;
        st[i].last_error = ts_arena_strdup(a, p->last_error);
        st[i].last_check_ms = p->last_check;
        st[i].component = ts_arena_strdup(a, p->component);
        st[i].client = p->client;
        st[i].ref = p;
    }
    size_t n = e->n;
    pthread_mutex_unlock(&e->mu);
    /* sort by URL for stable output */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(st[j - 1].url, st[j].url) > 0; j--) {
            ts_query_endpoint_status t = st[j];
            st[j] = st[j - 1];
            st[j - 1] = t;
        }
    *out = st;
    return n;
}

void
ts_query_endpoints_release(ts_endpoints *e, ts_query_endpoint_status *st, size_t n)
{
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < n; i++)
        ep_unref(st[i].ref);
    pthread_mutex_unlock(&e->mu);
}
