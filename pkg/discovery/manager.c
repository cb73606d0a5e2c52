/*
 * The discovery manager: providers per job on one uv loop.
 *
 * Each job of the configuration owns a list of providers, one per
 * static_configs entry, file_sd_configs entry and dns_sd_configs entry.  A
 * provider keeps its current groups in "slots": one slot per static entry,
 * per file (so a file that turns bad keeps its last good groups) and per DNS
 * name (a failed lookup keeps the previous answer).  When a provider's slots
 * change it marks its job dirty and arms the manager's notify timer (0 ms,
 * so all changes of one loop iteration are reported together); the timer
 * calls back once per dirty job whose providers have all produced a first
 * result, with the concatenation of all slots' groups.
 *
 * Health: every provider keeps whether its last attempt failed (the error
 * text, when it last failed, when it last worked), for /api/v1/targets'
 * discoveryErrors (ts_discovery_manager_failures, read from the web and
 * store threads, hence under mu, like jobs[] and each job's provs[]).
 * file_sd fails while a pattern or file of it cannot be read or parsed (its
 * last good groups stay), dns_sd while a name of it does not resolve (its
 * last answer stays), kubernetes_sd while one of its informers' requests
 * fails (kubernetes.c reports it) or when it could not start at all.  A
 * change of state is logged once (failing, failing differently, working
 * again); the attempts themselves only at debug level, so a lasting error
 * (403 until RBAC is fixed) is one line, not one per retry.
 *
 * Lifetimes: apply_config detaches the old providers (job = NULL) and closes
 * their handles; a provider is freed once its handles are closed and no DNS
 * lookup of it is running on the thread pool.  The manager itself is freed
 * by ts_discovery_manager_close once its timer and all providers are gone.
 */
#include "pkg/discovery/discovery.h"
#include "pkg/discovery/kubernetes.h"

#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define FILE_SD_MAX_BYTES (64u << 20)

typedef enum { PROV_STATIC, PROV_FILE, PROV_DNS, PROV_K8S } prov_type;

typedef struct slot {
    char *key; /* file path or DNS name; "" for static */
    ts_target_group *groups;
    size_t n;
} slot;

typedef struct job job;
typedef struct provider provider;

struct job {
    char *name;
    provider **provs;
    size_t nprovs, cap;
    bool dirty;
    size_t ntargets; /* at the last report (under m->mu) */
};

typedef struct dns_work {
    uv_work_t req;
    provider *p;
    /* inputs (copied) */
    char **names;
    size_t nnames;
    char type[8];
    int port;
    /* outputs per name */
    ts_target_group *res;
    int *rc;
    ts_error *err;
} dns_work;

struct provider {
    ts_discovery_manager *m;
    job *job; /* NULL once detached by apply_config or close */
    prov_type type;
    bool ready;
    slot *slots;
    size_t nslots;
    int64_t refresh_ms;
    /* file_sd */
    char **patterns;
    size_t npatterns;
    uv_fs_event_t **watches;
    size_t nwatches;
    /* dns_sd */
    char **names;
    size_t nnames;
    char dns_type[8];
    int port;
    bool lookup_running;
    /* kubernetes_sd (kubernetes.c); counts as one open handle until closed */
    ts__k8s *k8s;
    const char *role; /* its role's name (static) */
    /* health, under m->mu (see the top) */
    char *fail;            /* the last attempt's error; NULL while it works */
    int64_t fail_ms;       /* wall clock of the last failure */
    int64_t fail_since_ms; /* start of the current failing spell */
    int64_t ok_ms;         /* wall clock of the last success; 0 = none yet */
    /* handles */
    uv_timer_t timer;
    bool has_timer;
    int open_handles;
};

struct ts_discovery_manager {
    uv_loop_t *loop;
    ts_discovery_update_fn fn;
    void *ctx;
    job **jobs;
    size_t njobs;
    char **removed; /* jobs to report once with n = 0 */
    size_t nremoved, removed_cap;
    uv_timer_t notify;
    bool closing, notify_closed;
    bool url_targets; /* file_sd targets may be URLs (store discovery) */
    size_t live_providers;
    uv_mutex_t mu; /* guards jobs[], their provs[] and ntargets, and the providers' health */
    _Atomic uint64_t file_read_errors, dns_lookups, dns_failures, updates;
};

/* ------------------------------------------------------------------ slots */

static void
slot_fini(slot *s)
{
    ts_target_groups_free(s->groups, s->n);
    ts_free(s->key);
}

static slot *
slot_find(provider *p, const char *key)
{
    for (size_t i = 0; i < p->nslots; i++)
        if (strcmp(p->slots[i].key, key) == 0)
            return &p->slots[i];
    return NULL;
}

static void notify_cb(uv_timer_t *t);

static void
mark_dirty(provider *p)
{
    if (!p->job || p->m->closing)
        return;
    p->job->dirty = true;
    uv_timer_start(&p->m->notify, notify_cb, 0, 0);
}

/* ------------------------------------------------------- provider freeing */

static void maybe_free_manager(ts_discovery_manager *m);

static void
provider_free_now(provider *p)
{
    ts_discovery_manager *m = p->m;
    for (size_t i = 0; i < p->nslots; i++)
        slot_fini(&p->slots[i]);
    ts_free(p->slots);
    for (size_t i = 0; i < p->npatterns; i++)
        ts_free(p->patterns[i]);
    ts_free(p->patterns);
    ts_free(p->watches);
    for (size_t i = 0; i < p->nnames; i++)
        ts_free(p->names[i]);
    ts_free(p->names);
    ts_free(p->fail);
    ts_free(p);
    m->live_providers--;
    maybe_free_manager(m);
}

static void
provider_maybe_free(provider *p)
{
    if (!p->job && p->open_handles == 0 && !p->lookup_running)
        provider_free_now(p);
}

static void
handle_closed(uv_handle_t *h)
{
    provider *p = h->data;
    if (h->type == UV_FS_EVENT)
        ts_free(h);
    p->open_handles--;
    provider_maybe_free(p);
}

static void
provider_detach(provider *p)
{
    p->job = NULL;
    if (p->has_timer) {
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, handle_closed);
    }
    for (size_t i = 0; i < p->nwatches; i++) {
        uv_fs_event_stop(p->watches[i]);
        uv_close((uv_handle_t *)p->watches[i], handle_closed);
    }
    p->nwatches = 0;
    if (p->k8s) {
        ts__k8s_stop(p->k8s);
        p->k8s = NULL;
    }
    provider_maybe_free(p);
}

static provider *
provider_new(ts_discovery_manager *m, job *j, prov_type type)
{
    provider *p = ts_calloc(1, sizeof(*p));
    p->m = m;
    p->job = j;
    p->type = type;
    m->live_providers++;
    uv_mutex_lock(&m->mu);
    TS_GROW(j->provs, j->cap, j->nprovs + 1);
    j->provs[j->nprovs++] = p;
    uv_mutex_unlock(&m->mu);
    return p;
}

static void
provider_timer_init(provider *p, uv_timer_cb cb, uint64_t first_ms)
{
    uv_timer_init(p->m->loop, &p->timer);
    p->timer.data = p;
    p->has_timer = true;
    p->open_handles++;
    uint64_t rep = p->refresh_ms > 0 ? (uint64_t)p->refresh_ms : 0;
    uv_timer_start(&p->timer, cb, first_ms, rep);
}

/* ----------------------------------------------------------------- health */

static const char *
mechanism_name(prov_type t)
{
    switch (t) {
    case PROV_FILE: return "file_sd";
    case PROV_DNS: return "dns_sd";
    case PROV_K8S: return "kubernetes_sd";
    default: return "static";
    }
}

/* s as a logfmt value: '"' and '\\' escaped, control bytes as spaces. */
static const char *
logq(const char *s, char *buf, size_t size)
{
    size_t k = 0;
    for (; *s && k + 3 < size; s++) {
        if (*s == '"' || *s == '\\')
            buf[k++] = '\\';
        buf[k++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    buf[k] = '\0';
    return buf;
}

/* The outcome of an attempt of p: err NULL = it worked (at_ms: now), else
 * what failed (at_ms: when).  Logs a change of state once. */
static void
provider_health(provider *p, const char *err, int64_t at_ms)
{
    if (!p->job)
        return;
    ts_discovery_manager *m = p->m;
    char *old = NULL;
    uv_mutex_lock(&m->mu);
    bool was = p->fail != NULL;
    bool changed = err ? !was || strcmp(p->fail, err) != 0 : was;
    int64_t since = p->fail_since_ms;
    if (err) {
        if (changed) {
            old = p->fail;
            p->fail = ts_strdup(err);
        }
        if (!was)
            p->fail_since_ms = at_ms;
        p->fail_ms = at_ms;
    } else {
        old = p->fail;
        p->fail = NULL;
        p->ok_ms = at_ms;
    }
    uv_mutex_unlock(&m->mu);
    ts_free(old);
    if (!changed)
        return;
    char jq[512], e[2048], role[64] = "";
    if (p->role)
        snprintf(role, sizeof(role), " role=%s", p->role);
    logq(p->job->name, jq, sizeof(jq));
    if (err)
        TS_LOG(TS_LOG_ERROR, "discovery",
               was ? "Service discovery failing with a different error"
                   : "Service discovery failing",
               "config=\"%s\" mechanism=%s%s err=\"%s\"", jq, mechanism_name(p->type), role,
               logq(err, e, sizeof(e)));
    else
        TS_LOG(TS_LOG_INFO, "discovery", "Service discovery works again",
               "config=\"%s\" mechanism=%s%s failed_for=%.1fs", jq, mechanism_name(p->type), role,
               (double)(at_ms - since) / 1000.0);
}

void
ts_discovery_manager_failures(ts_discovery_manager *m, const char *jobname,
                              ts_discovery_failure **out, size_t *n)
{
    ts_discovery_failure *v = NULL;
    size_t nv = 0, cap = 0;
    uv_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->njobs; i++) {
        const job *j = m->jobs[i];
        if (jobname && jobname[0] && strcmp(jobname, j->name) != 0)
            continue;
        for (size_t k = 0; k < j->nprovs; k++) {
            const provider *p = j->provs[k];
            if (!p->fail)
                continue;
            TS_GROW(v, cap, nv + 1);
            v[nv++] = (ts_discovery_failure){.job = ts_strdup(j->name),
                                             .mechanism = mechanism_name(p->type),
                                             .role = p->role,
                                             .error = ts_strdup(p->fail),
                                             .error_ms = p->fail_ms,
                                             .success_ms = p->ok_ms};
        }
    }
    uv_mutex_unlock(&m->mu);
    *out = v;
    *n = nv;
}

void
ts_discovery_failures_free(ts_discovery_failure *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ts_free(f[i].job);
        ts_free(f[i].error);
    }
    ts_free(f);
}

/* ---------------------------------------------------------------- file_sd */

static void
file_refresh(provider *p)
{
    /* The new set of files: all matches of all patterns. */
    char **files = NULL;
    size_t nfiles = 0, cap = 0;
    char first_err[1024] = ""; /* the health: the first failure of this refresh */
    size_t nfailed = 0;
    for (size_t i = 0; i < p->npatterns; i++) {
        char **v;
        size_t n;
        if (ts_discovery_file_glob(p->patterns[i], &v, &n) != TS_OK) {
            TS_LOG(TS_LOG_DEBUG, "discovery", "Error expanding glob", "pattern=\"%s\"",
                   p->patterns[i]);
            if (!nfailed++)
                snprintf(first_err, sizeof(first_err), "cannot expand the pattern %s",
                         p->patterns[i]);
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            TS_GROW(files, cap, nfiles + 1);
            files[nfiles++] = v[k];
        }
        ts_free(v);
    }
    slot *slots = ts_calloc(nfiles ? nfiles : 1, sizeof(slot));
    size_t nslots = 0;
    for (size_t i = 0; i < nfiles; i++) {
        bool dup = false;
        for (size_t k = 0; k < nslots; k++)
            dup = dup || strcmp(slots[k].key, files[i]) == 0;
        if (dup) {
            ts_free(files[i]);
            continue;
        }
        slot *s = &slots[nslots++];
        s->key = files[i];
        char *text = NULL;
        size_t len = 0;
        ts_error err;
        ts_error_clear(&err);
        int rc = ts_fs_read_file(files[i], FILE_SD_MAX_BYTES, &text, &len);
        if (rc)
            ts_error_set(&err, rc, "%s", ts_strerror(rc));
        else
            rc = ts_discovery_file_parse(files[i], text, len, p->m->url_targets, &s->groups, &s->n,
                                         &err);
        ts_free(text);
        if (rc) {
            atomic_fetch_add(&p->m->file_read_errors, 1);
            TS_LOG(TS_LOG_DEBUG, "discovery", "Error reading file", "path=\"%s\" err=\"%s\"",
                   files[i], err.msg);
            if (!nfailed++)
                snprintf(first_err, sizeof(first_err), "%s: %s", files[i], err.msg);
            slot *old = slot_find(p, files[i]); /* keep the last good groups */
            if (old) {
                s->groups = old->groups;
                s->n = old->n;
                old->groups = NULL;
                old->n = 0;
            }
        }
    }
    ts_free(files);
    for (size_t i = 0; i < p->nslots; i++)
        slot_fini(&p->slots[i]);
    ts_free(p->slots);
    p->slots = slots;
    p->nslots = nslots;
    p->ready = true;
    if (nfailed > 1) {
        size_t l = strlen(first_err);
        snprintf(first_err + l, sizeof(first_err) - l, " (and %zu more)", nfailed - 1);
    }
    provider_health(p, nfailed ? first_err : NULL, ts_now_ms());
    mark_dirty(p);
}

static void
file_timer_cb(uv_timer_t *t)
{
    file_refresh(t->data);
}

static void
file_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    provider *p = h->data;
    if (!p->job)
        return;
    /* Debounce: re-read shortly after the last event, then resume the
     * refresh_interval cadence. */
    uint64_t rep = p->refresh_ms > 0 ? (uint64_t)p->refresh_ms : 0;
    uv_timer_start(&p->timer, file_timer_cb, 20, rep);
}

static char *
resolve_path(const char *base_dir, const char *p)
{
    if (p[0] == '/' || !base_dir || !base_dir[0])
        return ts_strdup(p);
    size_t n = strlen(base_dir) + strlen(p) + 2;
    char *s = ts_malloc(n);
    snprintf(s, n, "%s/%s", base_dir, p);
    return s;
}

static void
file_provider_start(ts_discovery_manager *m, job *j, const ts_file_sd_config *fc,
                    const char *base_dir)
{
    provider *p = provider_new(m, j, PROV_FILE);
    p->refresh_ms = fc->refresh_interval_ms;
    p->patterns = ts_calloc(fc->files.n ? fc->files.n : 1, sizeof(char *));
    p->watches = ts_calloc(fc->files.n ? fc->files.n : 1, sizeof(uv_fs_event_t *));
    for (size_t i = 0; i < fc->files.n; i++) {
        p->patterns[p->npatterns++] = resolve_path(base_dir, fc->files.v[i]);
        char *tmp = ts_strdup(p->patterns[i]);
        const char *dir = dirname(tmp);
        bool seen = false;
        for (size_t k = 0; k < i; k++) {
            char *t2 = ts_strdup(p->patterns[k]);
            seen = seen || strcmp(dirname(t2), dir) == 0;
            ts_free(t2);
        }
        if (!seen) {
            uv_fs_event_t *w = ts_calloc(1, sizeof(*w));
            uv_fs_event_init(m->loop, w);
            w->data = p;
            int rc = uv_fs_event_start(w, file_event_cb, dir, 0);
            if (rc)
                TS_LOG(TS_LOG_WARN, "discovery", "Cannot watch directory; relying on refresh",
                       "dir=\"%s\" err=\"%s\"", dir, uv_strerror(rc));
            p->watches[p->nwatches++] = w;
            p->open_handles++;
        }
        ts_free(tmp);
    }
    provider_timer_init(p, file_timer_cb, 0);
}

/* ----------------------------------------------------------------- dns_sd */

static void
dns_work_cb(uv_work_t *req)
{
    dns_work *w = req->data;
    for (size_t i = 0; i < w->nnames; i++) {
        ts_error_clear(&w->err[i]);
        w->rc[i] = ts_discovery_dns_lookup(w->names[i], w->type, w->port, &w->res[i], &w->err[i]);
    }
}

static void
dns_after_cb(uv_work_t *req, int status)
{
    dns_work *w = req->data;
    provider *p = w->p;
    p->lookup_running = false;
    char first_err[1024] = ""; /* the health: the first failure of this round */
    size_t nfailed = 0;
    for (size_t i = 0; i < w->nnames; i++) {
        atomic_fetch_add(&p->m->dns_lookups, 1);
        if (status != 0 || w->rc[i] != TS_OK)
            atomic_fetch_add(&p->m->dns_failures, 1);
        if (status == 0 && w->rc[i] == TS_OK && p->job) {
            slot *s = slot_find(p, w->names[i]);
            ts_target_groups_free(s->groups, s->n);
            s->groups = ts_calloc(1, sizeof(ts_target_group));
            s->groups[0] = w->res[i];
            s->n = 1;
            memset(&w->res[i], 0, sizeof(w->res[i]));
        } else if (p->job) {
            const char *why = status ? uv_strerror(status) : w->err[i].msg;
            TS_LOG(TS_LOG_DEBUG, "discovery", "Error refreshing DNS targets",
                   "name=\"%s\" err=\"%s\"", w->names[i], why);
            if (!nfailed++)
                snprintf(first_err, sizeof(first_err), "%s%s%s", status ? w->names[i] : "",
                         status ? ": " : "", why);
        }
        ts_target_group_fini(&w->res[i]);
        ts_free(w->names[i]);
    }
    ts_free(w->names);
    ts_free(w->res);
    ts_free(w->rc);
    ts_free(w->err);
    ts_free(w);
    if (p->job) {
        if (nfailed > 1) {
            size_t l = strlen(first_err);
            snprintf(first_err + l, sizeof(first_err) - l, " (and %zu more)", nfailed - 1);
        }
        provider_health(p, nfailed ? first_err : NULL, ts_now_ms());
        p->ready = true;
        mark_dirty(p);
    }
    provider_maybe_free(p);
}

static void
dns_timer_cb(uv_timer_t *t)
{
    provider *p = t->data;
    if (p->lookup_running || !p->job)
        return;
    dns_work *w = ts_calloc(1, sizeof(*w));
    w->p = p;
    w->req.data = w;
    w->nnames = p->nnames;
    w->names = ts_calloc(p->nnames ? p->nnames : 1, sizeof(char *));
    for (size_t i = 0; i < p->nnames; i++)
        w->names[i] = ts_strdup(p->names[i]);
    memcpy(w->type, p->dns_type, sizeof(w->type));
    w->port = p->port;
    w->res = ts_calloc(p->nnames ? p->nnames : 1, sizeof(ts_target_group));
    w->rc = ts_calloc(p->nnames ? p->nnames : 1, sizeof(int));
    w->err = ts_calloc(p->nnames ? p->nnames : 1, sizeof(ts_error));
    p->lookup_running = true;
    int rc = uv_queue_work(p->m->loop, &w->req, dns_work_cb, dns_after_cb);
    TS_ASSERT(rc == 0);
}

static void
dns_provider_start(ts_discovery_manager *m, job *j, const ts_dns_sd_config *dc)
{
    provider *p = provider_new(m, j, PROV_DNS);
    p->refresh_ms = dc->refresh_interval_ms;
    snprintf(p->dns_type, sizeof(p->dns_type), "%s", dc->type ? dc->type : "SRV");
    p->port = dc->port;
    p->names = ts_calloc(dc->names.n ? dc->names.n : 1, sizeof(char *));
    p->slots = ts_calloc(dc->names.n ? dc->names.n : 1, sizeof(slot));
    for (size_t i = 0; i < dc->names.n; i++) {
        p->names[p->nnames++] = ts_strdup(dc->names.v[i]);
        p->slots[p->nslots++].key = ts_strdup(dc->names.v[i]);
    }
    provider_timer_init(p, dns_timer_cb, 0);
}

/* ----------------------------------------------------------- kubernetes_sd */

static void
k8s_update(void *ctx, ts_target_group *groups, size_t n)
{
    provider *p = ctx;
    if (!p->job) {
        ts_target_groups_free(groups, n);
        return;
    }
    ts_target_groups_free(p->slots[0].groups, p->slots[0].n);
    p->slots[0].groups = groups;
    p->slots[0].n = n;
    p->ready = true;
    mark_dirty(p);
}

static void
k8s_health(void *ctx, const char *err, int64_t at_ms)
{
    provider_health(ctx, err, at_ms);
}

static void
k8s_closed(void *ctx)
{
    provider *p = ctx;
    p->open_handles--;
    provider_maybe_free(p);
}

static void
k8s_provider_start(ts_discovery_manager *m, job *j, const ts_kubernetes_sd_config *kc,
                   const char *base_dir)
{
    provider *p = provider_new(m, j, PROV_K8S);
    int role = ts__k8s_role_parse(kc->role);
    p->role = role >= 0 ? ts__k8s_role_name((ts__k8s_role)role) : NULL;
    p->slots = ts_calloc(1, sizeof(slot));
    p->nslots = 1;
    p->slots[0].key = ts_strdup("");
    ts_error err;
    ts_error_clear(&err);
    if (ts__k8s_start(m->loop, kc, base_dir, k8s_update, k8s_health, k8s_closed, p, &p->k8s,
                      &err) != TS_OK) {
        /* logged once, as the discoverer's failing state */
        char msg[TS_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "cannot start: %s", err.msg);
        provider_health(p, msg, ts_now_ms()); /* until a reload: nothing retries it */
        p->k8s = NULL;
        p->ready = true; /* runs without it, as Prometheus does */
        mark_dirty(p);
        return;
    }
    p->open_handles++;
}

/* ----------------------------------------------------------------- static */

static void
static_provider_start(ts_discovery_manager *m, job *j, const ts_scrape_config *sc)
{
    provider *p = provider_new(m, j, PROV_STATIC);
    p->slots = ts_calloc(1, sizeof(slot));
    p->nslots = 1;
    p->slots[0].key = ts_strdup("");
    p->slots[0].groups = ts_calloc(sc->nstatic, sizeof(ts_target_group));
    p->slots[0].n = sc->nstatic;
    for (size_t i = 0; i < sc->nstatic; i++)
        ts_discovery_static_group(&sc->static_configs[i], i, &p->slots[0].groups[i]);
    p->ready = true;
    mark_dirty(p);
}

/* ---------------------------------------------------------------- manager */

static void
notify_cb(uv_timer_t *t)
{
    ts_discovery_manager *m = t->data;
    for (size_t i = 0; i < m->nremoved; i++) {
        m->fn(m->ctx, m->removed[i], NULL, 0);
        ts_free(m->removed[i]);
    }
    m->nremoved = 0;
    for (size_t i = 0; i < m->njobs && !m->closing; i++) {
        job *j = m->jobs[i];
        if (!j->dirty)
            continue;
        size_t total = 0;
        bool ready = true;
        for (size_t k = 0; k < j->nprovs; k++) {
            ready = ready && j->provs[k]->ready;
            for (size_t s = 0; s < j->provs[k]->nslots; s++)
                total += j->provs[k]->slots[s].n;
        }
        if (!ready)
            continue; /* reported when the last provider is ready */
        j->dirty = false;
        ts_target_group *all = ts_calloc(total ? total : 1, sizeof(*all));
        size_t n = 0;
        for (size_t k = 0; k < j->nprovs; k++)
            for (size_t s = 0; s < j->provs[k]->nslots; s++) {
                const slot *sl = &j->provs[k]->slots[s];
                if (sl->n) /* a slot that never had an answer has no array */
                    memcpy(all + n, sl->groups, sl->n * sizeof(*all)); /* shallow: borrowed */
                n += sl->n;
            }
        size_t nt = 0;
        for (size_t g = 0; g < n; g++)
            nt += all[g].ntargets;
        uv_mutex_lock(&m->mu);
        j->ntargets = nt;
        uv_mutex_unlock(&m->mu);
        atomic_fetch_add(&m->updates, 1);
        m->fn(m->ctx, j->name, all, n);
        ts_free(all);
    }
}

int
ts_discovery_manager_new(uv_loop_t *loop, ts_discovery_update_fn fn, void *ctx,
                         ts_discovery_manager **out)
{
    ts_discovery_manager *m = ts_calloc(1, sizeof(*m));
    m->loop = loop;
    m->fn = fn;
    m->ctx = ctx;
    uv_timer_init(loop, &m->notify);
    m->notify.data = m;
    uv_mutex_init(&m->mu);
    *out = m;
    return TS_OK;
}

void
ts_discovery_manager_allow_url_targets(ts_discovery_manager *m)
{
    m->url_targets = true;
}

static void
drop_jobs(ts_discovery_manager *m, const ts_config *keep)
{
    /* Unpublished first: other threads read the providers under mu
     * (ts_discovery_manager_failures), and provider_detach may free one. */
    uv_mutex_lock(&m->mu);
    job **jobs = m->jobs;
    size_t njobs = m->njobs;
    m->jobs = NULL;
    m->njobs = 0;
    uv_mutex_unlock(&m->mu);
    for (size_t i = 0; i < njobs; i++) {
        job *j = jobs[i];
        bool kept = false;
        for (size_t k = 0; keep && k < keep->nscrape; k++)
            kept = kept || strcmp(keep->scrape[k].job_name, j->name) == 0;
        if (!kept && !m->closing) {
            TS_GROW(m->removed, m->removed_cap, m->nremoved + 1);
            m->removed[m->nremoved++] = ts_strdup(j->name);
        }
        for (size_t k = 0; k < j->nprovs; k++)
            provider_detach(j->provs[k]);
    }
    for (size_t i = 0; i < njobs; i++) {
        ts_free(jobs[i]->provs);
        ts_free(jobs[i]->name);
        ts_free(jobs[i]);
    }
    ts_free(jobs);
}

int
ts_discovery_manager_apply_config(ts_discovery_manager *m, const ts_config *cfg)
{
    drop_jobs(m, cfg);
    char *dirbuf = ts_strdup(cfg->path ? cfg->path : "");
    const char *base_dir = dirbuf[0] ? dirname(dirbuf) : "";
    job **jobs = ts_calloc(cfg->nscrape ? cfg->nscrape : 1, sizeof(job *));
    for (size_t i = 0; i < cfg->nscrape; i++) {
        job *j = ts_calloc(1, sizeof(*j));
        j->name = ts_strdup(cfg->scrape[i].job_name);
        j->dirty = true;
        jobs[i] = j;
    }
    uv_mutex_lock(&m->mu);
    m->jobs = jobs;
    m->njobs = cfg->nscrape;
    uv_mutex_unlock(&m->mu);
    for (size_t i = 0; i < cfg->nscrape; i++) {
        const ts_scrape_config *sc = &cfg->scrape[i];
        job *j = jobs[i];
        static_provider_start(m, j, sc);
        for (size_t k = 0; k < sc->nfile_sd; k++)
            file_provider_start(m, j, &sc->file_sd[k], base_dir);
        for (size_t k = 0; k < sc->ndns_sd; k++)
            dns_provider_start(m, j, &sc->dns_sd[k]);
        for (size_t k = 0; k < sc->nkubernetes_sd; k++)
            k8s_provider_start(m, j, &sc->kubernetes_sd[k], base_dir);
    }
    ts_free(dirbuf);
    uv_timer_start(&m->notify, notify_cb, 0, 0);
    return TS_OK;
}

static void
maybe_free_manager(ts_discovery_manager *m)
{
    if (m->closing && m->notify_closed && m->live_providers == 0) {
        for (size_t i = 0; i < m->nremoved; i++)
            ts_free(m->removed[i]);
        ts_free(m->removed);
        uv_mutex_destroy(&m->mu);
        ts_free(m);
    }
}

static void
notify_closed_cb(uv_handle_t *h)
{
    ts_discovery_manager *m = h->data;
    m->notify_closed = true;
    maybe_free_manager(m);
}

void
ts_discovery_manager_close(ts_discovery_manager *m)
{
    if (!m)
        return;
    m->closing = true;
    drop_jobs(m, NULL);
    uv_timer_stop(&m->notify);
    uv_close((uv_handle_t *)&m->notify, notify_closed_cb);
}

void
ts_discovery_manager_write_metrics(void *mp, ts_metrics_writer *w)
{
    ts_discovery_manager *m = mp;
    ts_mw_counter(w, "prometheus_sd_file_read_errors_total", "The number of File-SD read errors.",
                  (double)atomic_load(&m->file_read_errors));
    ts_mw_counter(w, "prometheus_sd_dns_lookups_total", "The number of DNS-SD lookups.",
                  (double)atomic_load(&m->dns_lookups));
    ts_mw_counter(w, "prometheus_sd_dns_lookup_failures_total",
                  "The number of DNS-SD lookup failures.", (double)atomic_load(&m->dns_failures));
    ts__k8s_write_metrics(w);
    ts_mw_family(w, "prometheus_sd_updates_total", "counter",
                 "Total number of update events sent to the SD consumers.");
    ts_mw_sample(w, "prometheus_sd_updates_total", "name=\"scrape\"",
                 (double)atomic_load(&m->updates));
    ts_mw_family(w, "prometheus_sd_discovered_targets", "gauge",
                 "Current number of discovered targets.");
    uv_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->njobs; i++) {
        char lbl[600], esc[512];
        size_t k = 0;
        for (const char *c = m->jobs[i]->name; *c && k + 3 < sizeof(esc); c++) {
            if (*c == '\\' || *c == '"' || *c == '\n')
                esc[k++] = '\\';
            esc[k++] = *c == '\n' ? 'n' : *c;
        }
        esc[k] = 0;
        snprintf(lbl, sizeof(lbl), "config=\"%s\",name=\"scrape\"", esc);
        ts_mw_sample(w, "prometheus_sd_discovered_targets", lbl, (double)m->jobs[i]->ntargets);
    }
    uv_mutex_unlock(&m->mu);
}
