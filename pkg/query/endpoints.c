/*
 * Store health: probing and snapshots.
 *
 * Which stores exist is pkg/discovery's job (ts_discovery_stores: --store,
 * the watched --store.sd-files, --store.sd-dns), which calls set_stores with
 * the whole set whenever it changes; endpoints are added and dropped here to
 * match.  One background thread probes: every ~200 ms it probes the
 * endpoints whose next probe is due, each probe on its own short-lived
 * thread so one slow store does not delay the others (nor the loop).
 *
 * Health (DESIGN.md §6, "fail fast"): a store is down from its first failed
 * probe, or as soon as its client reports the connection lost (checked every
 * loop turn), and the fan-out does not ask a store that is down.  A store
 * that is down is probed after 1, 2, 4, 8 s, then every 8 s (a probe of a
 * store whose connection is lost sends nothing: it waits for nng's dialer,
 * which retries the address with its own back-off of 100 ms to 5 s, so a
 * dead address is never flooded), and at once when the client makes a new
 * connection: the store is used again as soon as it answers.  A query that
 * got no answer from a store asks for a probe now (ts_query_endpoints_suspect),
 * so a hung store is found within one probe timeout.  Each change of state
 * is logged once.
 *
 * Endpoints are reference-counted: the list holds one reference, each
 * snapshot one per entry, so an endpoint removed by discovery while a query
 * uses its client stays alive until that query releases it.
 */
#include "pkg/query/endpoints.h"
#include "pkg/discovery/discovery.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct ep {
    char *url;
    ts_store_client *client;
    int refs;
    bool wanted; /* in discovery's last set */
    bool probing;
    /* status (guarded by the endpoints' mutex) */
    bool healthy, probed;
    ts_labels *labels;
    int64_t mint, maxt;
    char last_error[512];
    int64_t last_check;
    char component[32];
    uint32_t shard_index, shard_count;
    bool meta_kinds_listed;
    uint32_t meta_kinds;
    int64_t next_probe;
    int fails;
    uint64_t connects; /* the client's connection count when last probed */
} ep;

struct ts_endpoints {
    ts_query_endpoints_opts opts;
    char *tls_files[4]; /* owned copies behind opts.tls's strings */
    ts_discovery_stores *sd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    int nprobing;               /* probe threads running */
    struct probe_job *finished; /* probe threads done, to be joined */
    ep **eps;
    size_t n, cap;
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

static ep *
find(ts_endpoints *e, const char *url)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->eps[i]->url, url) == 0)
            return e->eps[i];
    return NULL;
}

/* Marks url wanted, adding it if new.  Caller holds mu. */
static void
want(ts_endpoints *e, const char *url)
{
    ep *p = find(e, url);
    if (p) {
        p->wanted = true;
        return;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_store_client *c;
    if (ts_store_client_new(&c, url, &e->opts.tls, &err) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "endpoints", "cannot create store client", "url=%s err=\"%s\"", url,
               err.msg);
        return;
    }
    p = ts_calloc(1, sizeof(*p));
    p->url = ts_strdup(url);
    p->client = c;
    p->refs = 1;
    p->wanted = true;
    p->labels = ts_labels_new(NULL, 0);
    p->mint = INT64_MIN;
    p->maxt = INT64_MAX;
    TS_GROW(e->eps, e->cap, e->n + 1);
    e->eps[e->n++] = p;
    TS_LOG(TS_LOG_INFO, "endpoints", "adding store", "url=%s", url);
}

/* Discovery's callback: urls is the whole set of stores now. */
static void
set_stores(void *ctx, const char *const *urls, size_t nurls)
{
    ts_endpoints *e = ctx;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n; i++)
        e->eps[i]->wanted = false;
    for (size_t i = 0; i < nurls; i++)
        want(e, urls[i]);
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (e->eps[i]->wanted) {
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
    struct probe_job *next; /* on the endpoints' list of finished probes */
} probe_job;

/* Wait before the next probe of a store that failed n times before: 1, 2,
 * 4, 8 s, then 8 s. */
static int64_t
backoff_ms(int n)
{
    return 1000LL << (n < 3 ? n : 3);
}

/* Marks stores whose connection was lost down (once), and asks for a probe
 * of those whose client connected again since their last probe.  Caller
 * holds mu. */
static void
watch_connections(ts_endpoints *e, int64_t now)
{
    for (size_t i = 0; i < e->n; i++) {
        ep *p = e->eps[i];
        if (p->probing)
            continue;
        if (p->healthy && ts_store_client_lost(p->client)) {
            p->healthy = false;
            p->probed = true;
            snprintf(p->last_error, sizeof(p->last_error), "store %s: connection lost", p->url);
            TS_LOG(TS_LOG_WARN, "endpoints", "store is unhealthy", "url=%s err=\"connection lost\"",
                   p->url);
            p->next_probe = now + backoff_ms(p->fails++);
        } else if (!p->healthy && p->probed && ts_store_client_connects(p->client) != p->connects) {
            p->next_probe = now; /* it is back: probe it now */
        }
    }
}

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
    uint64_t connects = ts_store_client_connects(p->client);
    int rc = ts_store_client_info(p->client, e->opts.probe_timeout_ms, &a, &info, &err);
    /* a TLS store we cannot connect to: nng says nothing of why (a failed
     * handshake only retries), so ask for the reason (pkg/store/tls.c) */
    char msg[sizeof(p->last_error)], why[384];
    snprintf(msg, sizeof(msg), "%s", err.msg);
    if (rc != TS_OK && !ts_store_client_connected(p->client) &&
        ts_store_client_tls_diagnose(p->client, e->opts.probe_timeout_ms, why, sizeof(why)))
        snprintf(msg, sizeof(msg), "store %s: %s", p->url, why);
    int64_t now = ts_now_ms();
    pthread_mutex_lock(&e->mu);
    p->probed = true;
    p->last_check = now;
    p->probing = false;
    p->connects = connects;
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
        p->shard_index = info.shard_index;
        p->shard_count = info.shard_count;
        p->meta_kinds_listed = info.meta_kinds_listed;
        p->meta_kinds = info.meta_kinds;
        p->next_probe = now + e->opts.probe_interval_ms;
    } else {
        if (p->healthy || p->fails == 0)
            TS_LOG(TS_LOG_WARN, "endpoints", "store is unhealthy", "url=%s err=\"%s\"", p->url,
                   msg);
        p->healthy = false;
        snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
        p->next_probe = now + backoff_ms(p->fails++);
    }
    ts_arena_fini(&a);
    ep_unref(p);
    e->nprobing--;
    j->next = e->finished; /* joined (and freed) by the loop or stop */
    e->finished = j;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* Joins the probe threads that finished. */
static void
reap_probes(ts_endpoints *e)
{
    pthread_mutex_lock(&e->mu);
    probe_job *j = e->finished;
    e->finished = NULL;
    pthread_mutex_unlock(&e->mu);
    while (j) {
        probe_job *next = j->next;
        pthread_join(j->thread, NULL);
        ts_free(j);
        j = next;
    }
}

/* Starts a probe of every endpoint that is due (all: every endpoint); with
 * wait, returns when they are done. */
static void
probe_due(ts_endpoints *e, bool all, bool wait)
{
    pthread_mutex_lock(&e->mu);
    int64_t now = ts_now_ms();
    watch_connections(e, now);
    for (size_t i = 0; i < e->n; i++) {
        ep *p = e->eps[i];
        if (p->probing || (!all && p->next_probe > now))
            continue;
        probe_job *j = ts_calloc(1, sizeof(*j));
        j->e = e;
        j->p = p;
        p->probing = true;
        p->refs++;
        e->nprobing++;
        /* under mu: the thread cannot list itself as finished before
         * j->thread is set */
        if (pthread_create(&j->thread, NULL, probe, j) != 0) {
            p->probing = false;
            p->refs--;
            e->nprobing--;
            ts_free(j);
        }
    }
    while (wait && e->nprobing > 0)
        pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    reap_probes(e);
}

void
ts_query_endpoints_suspect(ts_endpoints *e, void *ref)
{
    pthread_mutex_lock(&e->mu);
    ep *p = ref;
    if (p->healthy && !p->probing)
        p->next_probe = 0;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void
ts_query_endpoints_refresh_now(ts_endpoints *e)
{
    if (!ts_discovery_stores_refresh(e->sd, 60000))
        TS_LOG(TS_LOG_WARN, "endpoints", "store discovery did not answer within 60 s", "");
    probe_due(e, true, true);
}

static void *
loop(void *arg)
{
    ts_endpoints *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        pthread_mutex_unlock(&e->mu);
        probe_due(e, false, false);
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
    /* bad TLS files are a start-up error, not a log line per store */
    const ts_store_client_tls *t = &opts->tls;
    if (t->ca_file || t->cert_file || t->key_file || t->server_name) {
        ts_error terr;
        ts_error_clear(&terr);
        if (ts_store_client_tls_check(t, &terr) != TS_OK)
            return ts_error_set(err, terr.code, "store TLS: %s", terr.msg);
    }
    ts_endpoints *e = ts_calloc(1, sizeof(*e));
    e->opts = *opts;
    if (!e->opts.probe_interval_ms)
        e->opts.probe_interval_ms = 5000;
    if (!e->opts.probe_timeout_ms)
        e->opts.probe_timeout_ms = 2000;
    if (!e->opts.sd_refresh_ms)
        e->opts.sd_refresh_ms = 5000;
    const char **tf[4] = {&e->opts.tls.ca_file, &e->opts.tls.cert_file, &e->opts.tls.key_file,
                          &e->opts.tls.server_name};
    for (int i = 0; i < 4; i++)
        if (*tf[i])
            *tf[i] = e->tls_files[i] = ts_strdup(*tf[i]);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    ts_discovery_stores_opts so = {
        .static_addrs = opts->static_urls,
        .nstatic = opts->nstatic,
        .sd_file = opts->sd_file,
        .sd_dns = opts->sd_dns,
        .nsd_dns = opts->nsd_dns,
        .tls = opts->tls_secure,
        .refresh_ms = e->opts.sd_refresh_ms,
    };
    int rc = ts_discovery_stores_start(&so, set_stores, e, &e->sd, err);
    if (rc != TS_OK) {
        ts_query_endpoints_stop(e);
        return rc;
    }
    probe_due(e, true, true);
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
    ts_discovery_stores_stop(e->sd); /* no set_stores after this */
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->thread)
        pthread_join(e->thread, NULL);
    pthread_mutex_lock(&e->mu);
    while (e->nprobing > 0) /* probes hold references: let them finish */
        pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    reap_probes(e);
    for (size_t i = 0; i < e->n; i++)
        ep_unref(e->eps[i]);
    ts_free(e->eps);
    for (int i = 0; i < 4; i++)
        ts_free(e->tls_files[i]);
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
        st[i].shard_index = p->shard_index;
        st[i].shard_count = p->shard_count;
        st[i].meta_kinds_listed = p->meta_kinds_listed;
        st[i].meta_kinds = p->meta_kinds;
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
