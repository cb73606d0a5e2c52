/*
 * Store discovery: where a querier (or the ruler) finds its stores.
 *
 * The flags --store, --store.sd-files and --store.sd-dns become one job of a
 * discovery manager, so stores are found by the same code as scrape targets:
 *
 *   --store=ADDR          a static_configs target
 *   --store.sd-files=F    a file_sd_configs entry (F may be a glob; watched
 *                         with uv_fs_event and re-read every refresh); the
 *                         targets may be URLs (tls+tcp://host:port)
 *   --store.sd-dns=SPEC   a dns_sd_configs entry per spec:
 *                           dnssrv+NAME      SRV records of NAME
 *                           dns+HOST:PORT    A and AAAA records of HOST
 *                           HOST:PORT        the same (no prefix)
 *                         a spec of another shape is logged and ignored.
 *
 * Every address of every group becomes a store URL; addresses without a
 * scheme get tcp://, or tls+tcp:// with opts.tls (--store.tls-secure, Thanos'
 * --grpc-client-tls-secure: a DNS answer is a bare host:port, so this is the
 * only way discovered stores can be dialed over TLS).  A URL keeps its own
 * scheme, so tcp:// written out stays plain.  A bad file keeps its last good stores and a failed
 * lookup its last answer (the manager's rules).
 *
 * The manager runs on a libuv loop of its own, on one thread.  The caller's
 * callback runs on that thread; start and refresh wait (bounded) for the
 * first report after them, so a caller knows its stores when they return.
 */
#include "pkg/discovery/discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#define STORE_JOB "stores"

struct ts_discovery_stores {
    ts_discovery_stores_fn fn;
    void *ctx;
    const char *scheme; /* of addresses without one: "tcp://" or "tls+tcp://" */
    /* the job as a config, owned here (the manager copies what it keeps) */
    ts_config cfg;
    ts_scrape_config job;
    ts_static_config stat;
    ts_file_sd_config file;
    ts_dns_sd_config *dns;
    size_t dns_cap;
    const char *file_v[1];
    char **strs; /* every string the config points to */
    size_t nstrs, strs_cap;
    /* the loop thread */
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    ts_discovery_manager *m;
    /* under mu */
    uv_mutex_t mu;
    uv_cond_t cv;
    bool stop;
    uint64_t asked, applied, reported; /* refresh generations */
};

static const char *
keep(ts_discovery_stores *s, char *str)
{
    TS_GROW(s->strs, s->strs_cap, s->nstrs + 1);
    s->strs[s->nstrs++] = str;
    return str;
}

/* Adds the dns_sd entry of one --store.sd-dns spec; false if malformed. */
static bool
add_dns_spec(ts_discovery_stores *s, const char *spec, int64_t refresh_ms)
{
    ts_dns_sd_config d = {.refresh_interval_ms = refresh_ms};
    const char **name = ts_calloc(1, sizeof(*name));
    keep(s, (char *)name);
    d.names.v = name;
    d.names.n = 1;
    if (strncmp(spec, "dnssrv+", 7) == 0) {
        if (!spec[7])
            return false;
        d.type = "SRV";
        *name = keep(s, ts_strdup(spec + 7));
    } else {
        const char *hp = strncmp(spec, "dns+", 4) == 0 ? spec + 4 : spec;
        const char *colon = strrchr(hp, ':');
        if (!colon || colon == hp || !colon[1])
            return false;
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || *end || port < 0 || port > 65535)
            return false;
        d.type = "A+AAAA";
        d.port = (int)port;
        *name = keep(s, ts_strndup(hp, (size_t)(colon - hp)));
    }
    TS_GROW(s->dns, s->dns_cap, s->job.ndns_sd + 1);
    s->dns[s->job.ndns_sd++] = d;
    return true;
}

static char *
store_url(const char *scheme, const char *addr)
{
    if (strstr(addr, "://"))
        return ts_strdup(addr);
    size_t n = strlen(scheme) + strlen(addr) + 1;
    char *u = ts_malloc(n);
    snprintf(u, n, "%s%s", scheme, addr);
    return u;
}

/* The manager's report: every address of every group, as URLs, once each. */
static void
on_groups(void *ctx, const char *job, const ts_target_group *groups, size_t n)
{
    ts_discovery_stores *s = ctx;
    char **urls = NULL;
    size_t nurls = 0, cap = 0;
    for (size_t g = 0; g < n; g++)
        for (size_t t = 0; t < groups[g].ntargets; t++) {
            const char *addr = ts_labels_get(groups[g].targets[t], "__address__");
            if (!addr || !addr[0])
                continue;
            char *u = store_url(s->scheme, addr);
            bool dup = false;
            for (size_t i = 0; i < nurls && !dup; i++)
                dup = strcmp(urls[i], u) == 0;
            if (dup) {
                ts_free(u);
                continue;
            }
            TS_GROW(urls, cap, nurls + 1);
            urls[nurls++] = u;
        }
    s->fn(s->ctx, (const char *const *)urls, nurls);
    for (size_t i = 0; i < nurls; i++)
        ts_free(urls[i]);
    ts_free(urls);
    uv_mutex_lock(&s->mu);
    s->reported = s->applied;
    uv_cond_broadcast(&s->cv);
    uv_mutex_unlock(&s->mu);
}

/* On the loop thread: a refresh was asked for, or the stop. */
static void
wake_cb(uv_async_t *h)
{
    ts_discovery_stores *s = h->data;
    uv_mutex_lock(&s->mu);
    bool stop = s->stop;
    bool apply = s->asked > s->applied;
    s->applied = s->asked;
    uv_mutex_unlock(&s->mu);
    if (stop) {
        ts_discovery_manager_close(s->m);
        s->m = NULL;
        uv_close((uv_handle_t *)&s->wake, NULL);
        return;
    }
    if (apply)
        ts_discovery_manager_apply_config(s->m, &s->cfg);
}

static void
loop_main(void *arg)
{
    ts_discovery_stores *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Waits until the report of generation gen (or timeout_ms); true if seen. */
static bool
wait_report(ts_discovery_stores *s, uint64_t gen, int64_t timeout_ms)
{
    uint64_t left = (uint64_t)timeout_ms * 1000000u;
    uint64_t t0 = uv_hrtime();
    uv_mutex_lock(&s->mu);
    while (s->reported < gen) {
        uint64_t spent = uv_hrtime() - t0;
        if (spent >= left)
            break;
        uv_cond_timedwait(&s->cv, &s->mu, left - spent);
    }
    bool ok = s->reported >= gen;
    uv_mutex_unlock(&s->mu);
    return ok;
}

/* Frees s and what the config points to (the loop is closed or was never
 * opened). */
static void
stores_free(ts_discovery_stores *s)
{
    uv_cond_destroy(&s->cv);
    uv_mutex_destroy(&s->mu);
    for (size_t i = 0; i < s->nstrs; i++)
        ts_free(s->strs[i]);
    ts_free(s->strs);
    ts_free(s->dns);
    ts_free(s);
}

int
ts_discovery_stores_start(const ts_discovery_stores_opts *o, ts_discovery_stores_fn fn, void *ctx,
                          ts_discovery_stores **out, ts_error *err)
{
    ts_discovery_stores *s = ts_calloc(1, sizeof(*s));
    s->fn = fn;
    s->ctx = ctx;
    s->scheme = o->tls ? "tls+tcp://" : "tcp://";
    int64_t refresh = o->refresh_ms > 0 ? o->refresh_ms : 5000;
    s->cfg.path = "";
    s->cfg.scrape = &s->job;
    s->cfg.nscrape = 1;
    s->job.job_name = STORE_JOB;
    if (o->nstatic) {
        const char **v = ts_calloc(o->nstatic, sizeof(*v));
        keep(s, (char *)v);
        for (size_t i = 0; i < o->nstatic; i++)
            v[i] = keep(s, ts_strdup(o->static_addrs[i]));
        s->stat.targets.v = v;
        s->stat.targets.n = o->nstatic;
        s->job.static_configs = &s->stat;
        s->job.nstatic = 1;
    }
    if (o->sd_file && o->sd_file[0]) {
        s->file_v[0] = keep(s, ts_strdup(o->sd_file));
        s->file.files.v = s->file_v;
        s->file.files.n = 1;
        s->file.refresh_interval_ms = refresh;
        s->job.file_sd = &s->file;
        s->job.nfile_sd = 1;
    }
    for (size_t i = 0; i < o->nsd_dns; i++)
        if (!add_dns_spec(s, o->sd_dns[i], refresh))
            TS_LOG(TS_LOG_WARN, "discovery",
                   "ignoring a store DNS name not of the form "
                   "dnssrv+NAME or dns+HOST:PORT",
                   "spec=\"%s\"", o->sd_dns[i]);
    s->job.dns_sd = s->dns;
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->cv);
    int rc = uv_loop_init(&s->loop);
    if (rc) {
        stores_free(s);
        return ts_error_set(err, TS_EIO, "store discovery: %s", uv_strerror(rc));
    }
    uv_async_init(&s->loop, &s->wake, wake_cb);
    s->wake.data = s;
    ts_discovery_manager_new(&s->loop, on_groups, s, &s->m);
    ts_discovery_manager_allow_url_targets(s->m);
    s->asked = s->applied = 1;
    ts_discovery_manager_apply_config(s->m, &s->cfg);
    rc = uv_thread_create(&s->thread, loop_main, s);
    if (rc) {
        ts_discovery_manager_close(s->m);
        uv_close((uv_handle_t *)&s->wake, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        stores_free(s);
        return ts_error_set(err, TS_EIO, "store discovery thread: %s", uv_strerror(rc));
    }
    if (!wait_report(s, 1, o->first_wait_ms > 0 ? o->first_wait_ms : 60000))
        TS_LOG(TS_LOG_WARN, "discovery", "stores not all discovered yet; going on", "");
    *out = s;
    return TS_OK;
}

bool
ts_discovery_stores_refresh(ts_discovery_stores *s, int64_t timeout_ms)
{
    uv_mutex_lock(&s->mu);
    uint64_t gen = ++s->asked;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->wake);
    return wait_report(s, gen, timeout_ms);
}

void
ts_discovery_stores_stop(ts_discovery_stores *s)
{
    if (!s)
        return;
    uv_mutex_lock(&s->mu);
    s->stop = true;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->wake);
    uv_thread_join(&s->thread);
    int rc = uv_loop_close(&s->loop);
    TS_ASSERT(rc == 0);
    stores_free(s);
}
