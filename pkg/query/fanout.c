/*
 * Fan-out querier.  A querier takes a snapshot of the endpoints (holding
 * references on their clients) for its whole life; each select/labels call
 * runs one thread per store that survives pruning and joins them all before
 * merging, so the slowest store bounds the latency and the deadline bounds
 * the slowest store.
 */
#include "pkg/query/fanout.h"
#include "pkg/query/dedup.h"
#include "pkg/storage/merge.h"
#include "pkg/util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct fq {
    ts_querier base;
    ts_fanout *f;
    ts_arena arena;
    ts_query_endpoint_status *st;
    size_t n;
} fq;

/* Whether store i can hold series matching ms in [mint, maxt]. */
static bool
store_matches(const ts_query_endpoint_status *st, int64_t mint, int64_t maxt, ts_matcher *const *ms,
              size_t nms)
{
    if (st->probed && st->healthy && (st->mint > maxt || st->maxt < mint))
        return false;
    for (size_t i = 0; i < nms; i++) {
        const char *v = ts_labels_get(st->labels, ms[i]->name);
        if (v && !ts_matcher_matches(ms[i], v))
            return false;
    }
    return true;
}

typedef struct job {
    fq *q;
    size_t idx;
    /* inputs */
    const char *label; /* label values; NULL + names=true for names; NULL + names=false for select */
    bool names;
    const ts_select_hints *hints;
    ts_matcher *const *ms;
    size_t nms;
    /* outputs */
    int rc;
    ts_error err;
    ts_series_set *ss;
    ts_arena arena;
    const char **strs;
    size_t nstrs;
    pthread_t thread;
    bool started;
} job;

static void *
run_job(void *arg)
{
    job *j = arg;
    fq *q = j->q;
    ts_query_fanout_opts *o = &q->f->opts;
    ts_store_query_opts so = {
        .timeout_ms = o->timeout_ms,
        .abort_on_error = !o->partial_response,
        .without_replica_labels = o->dedup ? o->replica_labels : NULL,
        .nwithout = o->dedup ? o->nreplica : 0,
    };
    ts_querier *sq;
    ts_error_clear(&j->err);
    j->rc = ts_store_client_querier(q->st[j->idx].client, q->base.mint, q->base.maxt, &so, &sq);
    if (j->rc)
        return NULL;
    if (!j->label && !j->names)
        j->rc = sq->ops->select(sq, true, j->hints, j->ms, j->nms, &j->ss, &j->err);
    else if (j->names)
        j->rc = sq->ops->label_names(sq, j->ms, j->nms, &j->arena, &j->strs, &j->nstrs, &j->err);
    else
        j->rc = sq->ops->label_values(sq, j->label, j->ms, j->nms, &j->arena, &j->strs, &j->nstrs,
                                      &j->err);
    ts_querier_close(sq);
    return NULL;
}

/* Runs one job per eligible store; returns the jobs (caller frees) and count.
 * Unhealthy stores are not asked: they get a job with rc set. */
static job *
fan_out(fq *q, const char *label, bool names, const ts_select_hints *hints,
        ts_matcher *const *ms, size_t nms, size_t *njobs)
{
    job *jobs = ts_calloc(q->n ? q->n : 1, sizeof(*jobs));
    size_t nj = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (!store_matches(&q->st[i], q->base.mint, q->base.maxt, ms, nms))
            continue;
        job *j = &jobs[nj++];
        j->q = q;
        j->idx = i;
        j->label = label;
        j->names = names;
        j->hints = hints;
        j->ms = ms;
        j->nms = nms;
        ts_arena_init(&j->arena, 4096);
        if (q->st[i].probed && !q->st[i].healthy) {
            j->rc = TS_EIO;
            ts_error_set(&j->err, TS_EIO, "%s", q->st[i].last_error);
            continue;
        }
        j->started = pthread_create(&j->thread, NULL, run_job, j) == 0;
        if (!j->started) {
            j->rc = TS_EIO;
            ts_error_set(&j->err, TS_EIO, "store %s: cannot start a thread", q->st[i].url);
        }
    }
    for (size_t i = 0; i < nj; i++)
        if (jobs[i].started)
            pthread_join(jobs[i].thread, NULL);
    *njobs = nj;
    return jobs;
}

/* Turns failed jobs into warnings (partial) or the first error (strict). */
static int
collect_failures(fq *q, job *jobs, size_t nj, ts_series_set *warn_to, char ***warnings,
                 size_t *nwarnings, ts_error *err)
{
    for (size_t i = 0; i < nj; i++) {
        if (!jobs[i].rc)
            continue;
        const char *url = q->st[jobs[i].idx].url;
        const char *msg = jobs[i].err.msg[0] ? jobs[i].err.msg : ts_strerror(jobs[i].rc);
        /* client messages already name the store; make sure every one does */
        char text[512];
        if (strstr(msg, url))
            snprintf(text, sizeof(text), "%s", msg);
        else
            snprintf(text, sizeof(text), "store %s: %s", url, msg);
        if (!q->f->opts.partial_response)
            return ts_error_set(err, jobs[i].rc == TS_ETIMEOUT ? TS_ETIMEOUT : TS_EIO, "%s", text);
        if (warn_to)
            ts_ss_add_warning(warn_to, "%s", text);
        if (warnings) {
            *warnings = ts_realloc(*warnings, (*nwarnings + 1) * sizeof(char *));
            (*warnings)[(*nwarnings)++] = ts_strdup(text);
        }
    }
    return TS_OK;
}

static void
free_jobs(job *jobs, size_t nj, bool free_sets)
{
    for (size_t i = 0; i < nj; i++) {
        if (free_sets)
            ts_ss_free(jobs[i].ss);
        ts_arena_fini(&jobs[i].arena);
    }
    ts_free(jobs);
}

static int
fq_select(ts_querier *qq, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    fq *q = (fq *)qq;
    size_t nj;
    job *jobs = fan_out(q, NULL, false, hints, ms, nms, &nj);
    ts_series_set **sets = ts_calloc(nj ? nj : 1, sizeof(*sets));
    size_t ns = 0;
    for (size_t i = 0; i < nj; i++)
        if (!jobs[i].rc && jobs[i].ss)
            sets[ns++] = jobs[i].ss;
    /* with dedup off the replica labels keep replicas apart, so the same
     * merge serves both; equal series from different stores (a target that
     * moved between shards) are joined by the penalty algorithm either way */
    ts_series_set *res = ts_query_dedup_series_sets(sets, ns,
                                              hints && ts_query_dedup_is_counter_func(hints->func),
                                              q->f->opts.partial_response);
    ts_free(sets);
    int rc = collect_failures(q, jobs, nj, res, NULL, NULL, err);
    free_jobs(jobs, nj, false);
    if (rc) {
        ts_ss_free(res);
        *out = NULL;
        return rc;
    }
    *out = res;
    return TS_OK;
}

static int
fq_strings(fq *q, const char *label, ts_matcher *const *ms, size_t nms, ts_arena *a,
           const char ***out, size_t *n, ts_error *err)
{
    size_t nj;
    job *jobs = fan_out(q, label, label == NULL, NULL, ms, nms, &nj);
    int rc = collect_failures(q, jobs, nj, NULL, NULL, NULL, err);
    if (rc) {
        free_jobs(jobs, nj, true);
        return rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < nj; i++)
        total += jobs[i].rc ? 0 : jobs[i].nstrs;
    const char **all = ts_arena_alloc(a, (total + 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < nj; i++)
        for (size_t s = 0; !jobs[i].rc && s < jobs[i].nstrs; s++)
            all[k++] = ts_arena_strdup(a, jobs[i].strs[s]);
    free_jobs(jobs, nj, true);
    ts_strs_sort_unique(all, &k);
    *out = all;
    *n = k;
    return TS_OK;
}

static int
fq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    return fq_strings((fq *)q, name, ms, nms, a, out, n, err);
}

static int
fq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    return fq_strings((fq *)q, NULL, ms, nms, a, out, n, err);
}

static void
fq_close(ts_querier *qq)
{
    fq *q = (fq *)qq;
    ts_query_endpoints_release(q->f->e, q->st, q->n);
    ts_arena_fini(&q->arena);
    ts_free(q);
}

static const ts_querier_ops fq_ops = {fq_select, fq_label_values, fq_label_names, fq_close};

static int
fanout_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    ts_fanout *f = (ts_fanout *)qb;
    fq *q = ts_calloc(1, sizeof(*q));
    q->base.ops = &fq_ops;
    q->base.mint = mint;
    q->base.maxt = maxt;
    q->f = f;
    ts_arena_init(&q->arena, 4096);
    q->n = ts_query_endpoints_snapshot(f->e, &q->arena, &q->st);
    *out = &q->base;
    return TS_OK;
}

void
ts_query_fanout_init(ts_fanout *f, ts_endpoints *e, const ts_query_fanout_opts *opts)
{
    memset(f, 0, sizeof(*f));
    f->qb.querier = fanout_querier;
    f->qb.impl = f;
    f->e = e;
    f->opts = *opts;
}
