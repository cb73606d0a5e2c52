/*
 * Fan-out querier.  A querier takes a snapshot of the endpoints (holding
 * references on their clients) for its whole life.  Each select or labels
 * call starts one asynchronous request per store that survives pruning
 * (nng aio: no thread per store, no lock shared between queries; replies are
 * decoded on the query's thread), then waits on the querier's own condition until
 * every store is done, or every shard has an answer and its slow replicas
 * ran out of time (fanout.h).
 *
 * Which stores failed is judged when the merged set is exhausted, not when
 * the first replies are in: a replica may also fail mid-stream (a later
 * batch), and only then is it known whether a peer covered it.  So each
 * store's set is wrapped (store_set) to turn its error into "ended here",
 * remembered in its slot, and the merged set is wrapped (judged_set) to add
 * the warnings, or the strict-mode error, at its end.  Limit errors are not
 * store failures: they pass straight through and fail the query.
 */
#include "pkg/query/fanout.h"
#include "pkg/query/dedup.h"
#include "pkg/storage/merge.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct fq {
    ts_querier base;
    ts_fanout *f;
    ts_arena arena;
    ts_query_endpoint_status *st;
    size_t n;
    const char **group_key; /* per store: shard identity + labels without replica labels */
    uint64_t fetched;       /* samples fetched over the whole query */
    pthread_mutex_t mu;     /* this query's own: slots' done flags */
    pthread_cond_t cv;
    struct prefetched *pre; /* selects announced by prefetch, started at once */
    size_t npre, next_pre;  /* next_pre: the first not yet taken by a select */
} fq;

typedef struct slot {
    fq *q;
    size_t idx;   /* store in q->st */
    size_t group; /* index into the select's groups */
    ts_store_call *call;
    bool done, ok, cancel_sent;
    bool failed; /* known after the set ended */
    ts_error err;
    char **warnings; /* the store's own warnings, taken when its set ends */
    size_t nwarnings;
} slot;

typedef struct group {
    int64_t first_ok; /* ms when the first replica answered; 0 = none yet */
    const char *key;
} group;

/* Whether store st can hold series matching ms in [mint, maxt]. */
static bool
labels_match(const ts_query_endpoint_status *st, ts_matcher *const *ms, size_t nms)
{
    for (size_t i = 0; i < nms; i++) {
        const char *v = ts_labels_get(st->labels, ms[i]->name);
        if (v && !ts_matcher_matches(ms[i], v))
            return false;
    }
    return true;
}

static bool
time_match(const ts_query_endpoint_status *st, int64_t mint, int64_t maxt)
{
    return !(st->probed && st->healthy && (st->mint > maxt || st->maxt < mint));
}

static bool
is_replica_label(const ts_query_fanout_opts *o, const char *name)
{
    for (size_t i = 0; i < o->nreplica; i++)
        if (strcmp(o->replica_labels[i], name) == 0)
            return true;
    return false;
}

/* "shard 1/2 {cluster="eu"}": what a warning calls the shard of store i. */
static const char *
shard_key(fq *q, size_t i)
{
    const ts_query_endpoint_status *st = &q->st[i];
    const ts_query_fanout_opts *o = &q->f->opts;
    ts_buf b;
    ts_buf_init(&b, 64);
    if (!o->dedup) {
        ts_buf_printf(&b, "store %s", st->url);
    } else {
        if (st->shard_count)
            ts_buf_printf(&b, "shard %u/%u", st->shard_index, st->shard_count);
        else
            ts_buf_printf(&b, "shard");
        bool any = false;
        for (size_t k = 0; k < st->labels->n; k++) {
            const ts_label *l = &st->labels->l[k];
            if (is_replica_label(o, l->name))
                continue;
            ts_buf_printf(&b, "%s%s=\"%s\"", any ? "," : " {", l->name, l->value);
            any = true;
        }
        if (any)
            ts_buf_printf(&b, "}");
    }
    const char *k = ts_arena_strndup(&q->arena, (const char *)b.p, b.len);
    ts_buf_fini(&b);
    return k;
}

/* ------------------------------------------------------------ async fan-out */

static void
slot_done(void *arg, int rc)
{
    slot *s = arg;
    fq *q = s->q;
    pthread_mutex_lock(&q->mu);
    s->done = true;
    s->ok = rc == 0;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

typedef struct fan {
    slot *slots;
    size_t n;
    group *groups;
    size_t ngroups;
    int64_t t0; /* ms when its calls were started */
} fan;

/* A select announced by prefetch: its fan-out, started before it is asked. */
typedef struct prefetched {
    ts_select_hints hints;
    ts_matcher *const *ms;
    size_t nms;
    fan fn;
} prefetched;

/* Whether every slot of fn is done; called with q->mu held. */
static bool
fan_done(const fan *fn)
{
    for (size_t i = 0; i < fn->n; i++)
        if (!fn->slots[i].done)
            return false;
    return true;
}

/* Whether store st says it does not answer MetaRequest kind meta (it lists the
 * kinds it answers, without this one). */
static bool
lists_without(const ts_query_endpoint_status *st, int meta)
{
    return st->meta_kinds_listed && !(st->meta_kinds & TS_STORE_META_BIT(meta));
}

/* Picks the stores to ask and groups them by shard.  Unhealthy or
 * disconnected stores get a failed slot without a request (fail fast),
 * unless a healthy replica of theirs was pruned by time range (then the
 * shard holds nothing for this range).  For a MetaRequest (meta >= 0, else
 * -1), a store is not asked when it or a replica of the same component lists
 * the kinds it serves without this one: the shard has none of it (a ruler has
 * no targets), also on a replica too old to say so. */
static void
plan(fq *q, ts_matcher *const *ms, size_t nms, int meta, fan *fn)
{
    memset(fn, 0, sizeof(*fn));
    fn->slots = ts_calloc(q->n + 1, sizeof(slot));
    fn->groups = ts_calloc(q->n + 1, sizeof(group));
    bool *pruned_group = ts_calloc(q->n + 1, sizeof(bool));
    bool *holds_none = ts_calloc(q->n + 1, sizeof(bool));
    /* groups with a healthy member whose time range is outside the query's */
    for (size_t i = 0; i < q->n; i++)
        if (labels_match(&q->st[i], ms, nms) && !time_match(&q->st[i], q->base.mint, q->base.maxt))
            for (size_t j = 0; j < q->n; j++)
                if (strcmp(q->group_key[j], q->group_key[i]) == 0)
                    pruned_group[j] = true;
    for (size_t i = 0; meta >= 0 && i < q->n; i++)
        if (lists_without(&q->st[i], meta))
            for (size_t j = 0; j < q->n; j++)
                if (strcmp(q->group_key[j], q->group_key[i]) == 0 &&
                    strcmp(q->st[j].component, q->st[i].component) == 0)
                    holds_none[j] = true;
    for (size_t i = 0; i < q->n; i++) {
        const ts_query_endpoint_status *st = &q->st[i];
        if (!labels_match(st, ms, nms) || !time_match(st, q->base.mint, q->base.maxt) ||
            holds_none[i])
            continue;
        bool down = (st->probed && !st->healthy) || ts_store_client_lost(st->client);
        if (down && pruned_group[i])
            continue;
        size_t g = 0;
        while (g < fn->ngroups && strcmp(fn->groups[g].key, q->group_key[i]) != 0)
            g++;
        if (g == fn->ngroups)
            fn->groups[fn->ngroups++].key = q->group_key[i];
        slot *s = &fn->slots[fn->n++];
        s->q = q;
        s->idx = i;
        s->group = g;
        ts_error_clear(&s->err);
        if (down) {
            s->done = true;
            s->failed = true;
            /* the probe's error already names the store */
            const char *why = st->last_error[0] ? st->last_error : "connection lost";
            size_t ul = strlen(st->url);
            if (strncmp(why, "store ", 6) == 0 && strncmp(why + 6, st->url, ul) == 0 &&
                strncmp(why + 6 + ul, ": ", 2) == 0)
                why += 8 + ul;
            ts_error_set(&s->err, TS_EIO, "store %s: known down: %s", st->url, why);
        }
    }
    ts_free(pruned_group);
    ts_free(holds_none);
}

/* Waits for every started call, or for each shard to have one answer plus
 * the slow replicas' allowance.  Calls past it are cancelled. */
static void
wait_calls(fq *q, fan *fn)
{
    int64_t t_start = fn->t0;
    const ts_query_fanout_opts *o = &q->f->opts;
    bool skip_slow = o->dedup && o->slow_replica_ms > 0;
    slot **cancel = ts_calloc(fn->n + 1, sizeof(slot *));
    pthread_mutex_lock(&q->mu);
    while (!fan_done(fn)) {
        int64_t now = ts_now_ms(), wake = INT64_MAX;
        size_t nc = 0;
        if (skip_slow) {
            for (size_t i = 0; i < fn->n; i++) {
                slot *s = &fn->slots[i];
                group *g = &fn->groups[s->group];
                if (s->done && s->ok && !g->first_ok)
                    g->first_ok = now > t_start ? now : t_start + 1;
            }
            for (size_t i = 0; i < fn->n; i++) {
                slot *s = &fn->slots[i];
                group *g = &fn->groups[s->group];
                if (s->done || s->cancel_sent || !g->first_ok)
                    continue;
                int64_t took = g->first_ok - t_start;
                int64_t until =
                    g->first_ok + (took > o->slow_replica_ms ? took : o->slow_replica_ms);
                if (now >= until) {
                    s->cancel_sent = true;
                    cancel[nc++] = s;
                } else if (until < wake) {
                    wake = until;
                }
            }
        }
        if (nc) {
            pthread_mutex_unlock(&q->mu);
            for (size_t i = 0; i < nc; i++)
                ts_store_call_cancel(cancel[i]->call);
            if (o->stats)
                __atomic_add_fetch(&o->stats->slow_replicas_skipped_total, nc, __ATOMIC_RELAXED);
            pthread_mutex_lock(&q->mu);
            continue;
        }
        if (wake == INT64_MAX) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (wake - now) * 1000000LL;
            ts.tv_sec += ns / 1000000000LL;
            ts.tv_nsec = ns % 1000000000LL;
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        }
    }
    pthread_mutex_unlock(&q->mu);
    ts_free(cancel);
}

static ts_store_query_opts
store_opts(fq *q)
{
    const ts_query_fanout_opts *o = &q->f->opts;
    return (ts_store_query_opts){
        .timeout_ms = o->timeout_ms,
        .response_timeout_ms = o->response_timeout_ms,
        .abort_on_error = !o->partial_response,
        .without_replica_labels = o->dedup ? o->replica_labels : NULL,
        .nwithout = o->dedup ? o->nreplica : 0,
        .max_series = o->store_max_series,
        .max_samples = o->store_max_samples,
        .query_samples = &q->fetched,
        .query_max_samples = o->max_samples,
    };
}

/* What one fan-out asks every store. */
typedef enum { ASK_SELECT, ASK_LABELS, ASK_META } ask_kind;

typedef struct ask {
    ask_kind kind;
    const ts_select_hints *hints; /* select */
    ts_matcher *const *ms;        /* select, labels */
    size_t nms;
    const char *label; /* labels: values of label, or names when NULL */
    int meta;          /* meta: TS_STORE_META_* */
    const char *const *params;
    size_t nparams;
} ask;

static ts_store_call *
ask_start(fq *q, ts_store_client *c, const ts_store_query_opts *so, const ask *r, slot *s)
{
    if (r->kind == ASK_SELECT)
        return ts_store_client_select_start(c, q->base.mint, q->base.maxt, so, r->hints, r->ms,
                                            r->nms, slot_done, s);
    if (r->kind == ASK_LABELS)
        return ts_store_client_labels_start(c, q->base.mint, q->base.maxt, so, r->label, r->ms,
                                            r->nms, slot_done, s);
    return ts_store_client_meta_start(c, r->meta, r->params, r->nparams, so, slot_done, s);
}

/* Starts the requests of fn's live slots. */
static void
start_calls(fq *q, fan *fn, const ask *r)
{
    ts_store_query_opts so = store_opts(q);
    fn->t0 = ts_now_ms();
    for (size_t i = 0; i < fn->n; i++) {
        slot *s = &fn->slots[i];
        if (!s->done)
            s->call = ask_start(q, q->st[s->idx].client, &so, r, s);
    }
}

/* Plans, asks and waits: every slot's call is then done (or never started). */
static void
fan_out(fq *q, const ask *r, fan *fn)
{
    plan(q, r->ms, r->nms, r->kind == ASK_META ? r->meta : -1, fn);
    start_calls(q, fn, r);
    wait_calls(q, fn);
}

/* ------------------------------------------------------------ judging */

/* Decides complete or partial once every slot's outcome is known: adds
 * warnings to warn_to (or to *warnings), or returns the strict-mode error. */
static int
judge(fq *q, fan *fn, ts_series_set *warn_to, ts_error *err)
{
    const ts_query_fanout_opts *o = &q->f->opts;
    int rc = TS_OK;
    for (size_t g = 0; g < fn->ngroups && rc == TS_OK; g++) {
        bool answered = false, unsupported = true;
        size_t nfailed = 0;
        for (size_t i = 0; i < fn->n; i++)
            if (fn->slots[i].group == g) {
                answered |= !fn->slots[i].failed;
                unsupported &= fn->slots[i].err.code == TS_EUNSUPPORTED;
                /* a cancelled slow replica is counted as skipped, not failed */
                nfailed += fn->slots[i].failed && fn->slots[i].err.code != TS_ECANCELED;
            }
        if (answered) {
            if (o->stats)
                __atomic_add_fetch(&o->stats->replica_failures_total, nfailed, __ATOMIC_RELAXED);
            continue;
        }
        /* no replica of this shard answered: name the shard and its stores */
        ts_buf b;
        ts_buf_init(&b, 256);
        if (o->dedup)
            ts_buf_printf(&b, "%s: %s:", fn->groups[g].key,
                          unsupported ? "left out" : "no replica answered");
        else
            ts_buf_printf(&b, "store failed:");
        bool first = true;
        int code = TS_EIO;
        for (size_t i = 0; i < fn->n; i++) {
            slot *s = &fn->slots[i];
            if (s->group != g)
                continue;
            const char *url = q->st[s->idx].url;
            const char *msg = s->err.msg[0] ? s->err.msg : ts_strerror(s->err.code);
            if (strstr(msg, url))
                ts_buf_printf(&b, "%s %s", first ? "" : ";", msg);
            else
                ts_buf_printf(&b, "%s store %s: %s", first ? "" : ";", url, msg);
            if (s->err.code == TS_ETIMEOUT)
                code = TS_ETIMEOUT;
            first = false;
        }
        ts_buf_putc(&b, '\0');
        if (!o->partial_response) {
            rc = ts_error_set(err, code, "%s", (const char *)b.p);
            if (o->stats)
                __atomic_add_fetch(&o->stats->partial_errors_total, 1, __ATOMIC_RELAXED);
        } else {
            ts_ss_add_warning(warn_to, "%s", (const char *)b.p);
            if (o->stats)
                __atomic_add_fetch(&o->stats->partial_responses_total, 1, __ATOMIC_RELAXED);
        }
        ts_buf_fini(&b);
    }
    for (size_t i = 0; i < fn->n; i++) {
        slot *s = &fn->slots[i];
        for (size_t w = 0; w < s->nwarnings; w++)
            ts_ss_add_warning(warn_to, "%s", s->warnings[w]);
        /* no answer in time: have the endpoints probe it now (a hung store
         * is then down, and not asked, within one probe timeout) */
        if (s->failed && s->err.code == TS_ETIMEOUT && q->st[s->idx].healthy)
            ts_query_endpoints_suspect(q->f->e, q->st[s->idx].ref);
    }
    return rc;
}

static void
fan_free(fan *fn)
{
    for (size_t i = 0; i < fn->n; i++) {
        for (size_t w = 0; w < fn->slots[i].nwarnings; w++)
            ts_free(fn->slots[i].warnings[w]);
        ts_free(fn->slots[i].warnings);
    }
    ts_free(fn->slots);
    ts_free(fn->groups);
}

/* Records a store's failure (a cancelled slow replica is one too: it gave
 * nothing, its shard is covered only if a peer answered). */
static void
slot_fail(slot *s, const ts_error *e)
{
    s->failed = true;
    s->err = *e;
}

/* ------------------------------------------------------------ series sets */

/* One store's set: its error becomes the end of its series, kept in the slot. */
typedef struct store_set {
    ts_series_set base;
    ts_series_set *in;
    slot *s;
    bool ended;
} store_set;

static void
take_warnings(store_set *w)
{
    ts_series_set *in = w->in;
    slot *s = w->s;
    for (size_t i = 0; i < in->nwarnings; i++) {
        s->warnings = ts_realloc(s->warnings, (s->nwarnings + 1) * sizeof(char *));
        s->warnings[s->nwarnings++] = ts_strdup(in->warnings[i]);
    }
    ts_ss_free_warnings(in);
}

static bool
store_set_next(ts_series_set *ss)
{
    store_set *w = (store_set *)ss;
    if (w->ended)
        return false;
    if (ts_ss_next(w->in))
        return true;
    take_warnings(w);
    if (w->in->error.code == TS_ELIMIT)
        w->base.error = w->in->error; /* fails the query */
    else if (w->in->error.code)
        slot_fail(w->s, &w->in->error);
    w->ended = true; /* its series stay valid (the merge may hold one) until the set is freed */
    return false;
}

static ts_series *
store_set_at(ts_series_set *ss)
{
    return ts_ss_at(((store_set *)ss)->in);
}

static void
store_set_free(ts_series_set *ss)
{
    store_set *w = (store_set *)ss;
    ts_ss_free(w->in);
    ts_ss_free_warnings(ss);
    ts_free(w);
}

static const ts_series_set_ops store_set_ops = {store_set_next, store_set_at, store_set_free};

/* The merged set; judges the stores when it ends. */
typedef struct judged_set {
    ts_series_set base;
    ts_series_set *in;
    fq *q;
    fan fn;
    bool judged;
} judged_set;

static bool
judged_set_next(ts_series_set *ss)
{
    judged_set *j = (judged_set *)ss;
    if (j->judged)
        return false;
    if (ts_ss_next(j->in))
        return true;
    j->judged = true;
    for (size_t i = 0; i < j->in->nwarnings; i++)
        ts_ss_add_warning(ss, "%s", j->in->warnings[i]);
    if (j->in->error.code) {
        j->base.error = j->in->error;
    } else {
        ts_error e;
        ts_error_clear(&e);
        if (judge(j->q, &j->fn, ss, &e))
            j->base.error = e;
    }
    return false;
}

static ts_series *
judged_set_at(ts_series_set *ss)
{
    return ts_ss_at(((judged_set *)ss)->in);
}

static void
judged_set_free(ts_series_set *ss)
{
    judged_set *j = (judged_set *)ss;
    ts_ss_free(j->in);
    fan_free(&j->fn);
    ts_ss_free_warnings(ss);
    ts_free(j);
}

static const ts_series_set_ops judged_set_ops = {judged_set_next, judged_set_at, judged_set_free};

static int
fq_select(ts_querier *qq, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    fq *q = (fq *)qq;
    *out = NULL;
    fan fn;
    prefetched *p = q->next_pre < q->npre ? &q->pre[q->next_pre] : NULL;
    if (p && p->ms == ms && p->nms == nms && hints && p->hints.start == hints->start &&
        p->hints.end == hints->end && p->hints.range == hints->range) {
        /* announced: its calls are under way since prefetch */
        q->next_pre++;
        fn = p->fn;
        memset(&p->fn, 0, sizeof(p->fn));
        wait_calls(q, &fn);
    } else {
        fan_out(q, &(ask){.kind = ASK_SELECT, .hints = hints, .ms = ms, .nms = nms}, &fn);
    }
    ts_series_set **sets = ts_calloc(fn.n + 1, sizeof(*sets));
    size_t ns = 0;
    int rc = TS_OK;
    for (size_t i = 0; i < fn.n; i++) {
        slot *s = &fn.slots[i];
        if (!s->call)
            continue;
        ts_series_set *in;
        ts_error e;
        ts_error_clear(&e);
        int r = ts_store_call_series(s->call, &in, &e);
        s->call = NULL;
        if (r == TS_ELIMIT && rc == TS_OK) {
            rc = r;
            *err = e;
        } else if (r) {
            slot_fail(s, &e);
        } else {
            store_set *w = ts_calloc(1, sizeof(*w));
            w->base.ops = &store_set_ops;
            w->in = in;
            w->s = s;
            sets[ns++] = &w->base;
        }
    }
    if (rc) {
        for (size_t i = 0; i < ns; i++)
            ts_ss_free(sets[i]);
        ts_free(sets);
        fan_free(&fn);
        return rc;
    }
    /* with dedup off the replica labels keep replicas apart, so the same
     * merge serves both; equal series from different stores (a target that
     * moved between shards) are joined by the penalty algorithm either way */
    judged_set *j = ts_calloc(1, sizeof(*j));
    j->base.ops = &judged_set_ops;
    j->q = q;
    j->fn = fn;
    j->in = ts_query_dedup_series_sets(sets, ns,
                                       hints && ts_query_dedup_is_counter_func(hints->func), false);
    ts_free(sets);
    *out = &j->base;
    return TS_OK;
}

static int
fq_strings(fq *q, const char *label, ts_matcher *const *ms, size_t nms, ts_arena *a,
           const char ***out, size_t *n, ts_error *err)
{
    fan fn;
    fan_out(q, &(ask){.kind = ASK_LABELS, .label = label, .ms = ms, .nms = nms}, &fn);
    const char ***vals = ts_calloc(fn.n + 1, sizeof(*vals));
    size_t *nvals = ts_calloc(fn.n + 1, sizeof(*nvals));
    size_t total = 0;
    for (size_t i = 0; i < fn.n; i++) {
        slot *s = &fn.slots[i];
        if (!s->call)
            continue;
        ts_error e;
        ts_error_clear(&e);
        if (ts_store_call_strings(s->call, a, &vals[i], &nvals[i], &e))
            slot_fail(s, &e);
        s->call = NULL;
        total += nvals[i];
    }
    /* no set to carry warnings: a scratch one */
    ts_series_set scratch = {0};
    ts_error e;
    ts_error_clear(&e);
    int rc = judge(q, &fn, &scratch, &e);
    ts_ss_free_warnings(&scratch);
    fan_free(&fn);
    if (rc) {
        *err = e;
        ts_free(vals);
        ts_free(nvals);
        return rc;
    }
    const char **all = ts_arena_alloc(a, (total + 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < fn.n; i++)
        for (size_t v = 0; v < nvals[i]; v++)
            all[k++] = vals[i][v];
    ts_free(vals);
    ts_free(nvals);
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

/* Starts the fan-out of every announced select (storage.h); fq_select
 * takes them in order. */
static void
fq_prefetch(ts_querier *qq, const ts_select_hints *hints, ts_matcher *const *const *ms,
            const size_t *nms, size_t n)
{
    fq *q = (fq *)qq;
    if (q->npre || n == 0)
        return; /* announced once per querier */
    q->pre = ts_calloc(n, sizeof(*q->pre));
    q->npre = n;
    for (size_t i = 0; i < n; i++) {
        prefetched *p = &q->pre[i];
        p->hints = hints[i];
        p->hints.grouping = NULL; /* not kept: the store request has been packed */
        p->hints.ngrouping = 0;
        p->hints.func = NULL;
        p->ms = ms[i];
        p->nms = nms[i];
        plan(q, ms[i], nms[i], -1, &p->fn);
        start_calls(q, &p->fn,
                    &(ask){.kind = ASK_SELECT, .hints = &hints[i], .ms = ms[i], .nms = nms[i]});
    }
}

/* Drops the announced selects that were never made (the query failed
 * before them): their calls are waited for (each is bounded by the response
 * timeout) and freed.  Not cancelled: with nng 1.5, a req context whose send
 * was aborted could leave the socket's close waiting forever. */
static void
drop_prefetched(fq *q)
{
    for (size_t i = q->next_pre; i < q->npre; i++) {
        fan *fn = &q->pre[i].fn;
        pthread_mutex_lock(&q->mu);
        while (!fan_done(fn))
            pthread_cond_wait(&q->cv, &q->mu);
        pthread_mutex_unlock(&q->mu);
        for (size_t k = 0; k < fn->n; k++) {
            if (!fn->slots[k].call)
                continue;
            ts_series_set *in = NULL;
            ts_error e;
            ts_error_clear(&e);
            if (ts_store_call_series(fn->slots[k].call, &in, &e) == TS_OK)
                ts_ss_free(in);
            fn->slots[k].call = NULL;
        }
        fan_free(fn);
    }
    ts_free(q->pre);
    q->pre = NULL;
    q->npre = q->next_pre = 0;
}

static void
fq_close(ts_querier *qq)
{
    fq *q = (fq *)qq;
    drop_prefetched(q);
    ts_query_endpoints_release(q->f->e, q->st, q->n);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    ts_arena_fini(&q->arena);
    ts_free(q);
}

static const ts_querier_ops fq_ops = {fq_select, fq_label_values, fq_label_names, fq_close,
                                      fq_prefetch};

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
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->n = ts_query_endpoints_snapshot(f->e, &q->arena, &q->st);
    q->group_key = TS_ARENA_ARRAY(&q->arena, const char *, q->n + 1);
    for (size_t i = 0; i < q->n; i++)
        q->group_key[i] = shard_key(q, i);
    *out = &q->base;
    return TS_OK;
}

int
ts_query_fanout_meta(ts_fanout *f, int kind, const char *const *params, size_t nparams, ts_arena *a,
                     ts_query_fanout_meta_answer *out, ts_error *err)
{
    memset(out, 0, sizeof(*out));
    ts_querier *qq;
    fanout_querier(&f->qb, INT64_MIN, INT64_MAX, &qq);
    fq *q = (fq *)qq;
    fan fn;
    fan_out(q, &(ask){.kind = ASK_META, .meta = kind, .params = params, .nparams = nparams}, &fn);
    out->json = TS_ARENA_ARRAY(a, const char *, fn.n + 1);
    out->len = TS_ARENA_ARRAY(a, size_t, fn.n + 1);
    out->shard = TS_ARENA_ARRAY(a, const char *, fn.n + 1);
    for (size_t i = 0; i < fn.n; i++) {
        slot *s = &fn.slots[i];
        if (!s->call)
            continue;
        ts_error e;
        ts_error_clear(&e);
        int rc = ts_store_call_json(s->call, a, &out->json[out->n], &out->len[out->n], &e);
        s->call = NULL;
        const ts_query_endpoint_status *st = &q->st[s->idx];
        if (rc == TS_OK) {
            out->shard[out->n++] = ts_arena_sprintf(a, "%s %s", st->component ? st->component : "",
                                                    q->group_key[s->idx]);
        } else if (rc == TS_EUNSUPPORTED && !st->meta_kinds_listed) {
            /* a store from before the list of kinds: what it holds of this is missing */
            ts_error_set(&e, rc, "store %s does not serve %s (older version)", st->url,
                         ts_store_meta_kind_name(kind));
            slot_fail(s, &e);
        } else if (rc != TS_EUNSUPPORTED) { /* a store that says it has none: nothing is missing */
            slot_fail(s, &e);
        }
    }
    ts_series_set scratch = {0}; /* no set to carry the warnings: a scratch one */
    int rc = judge(q, &fn, &scratch, err);
    out->warnings = TS_ARENA_ARRAY(a, const char *, scratch.nwarnings + 1);
    for (size_t i = 0; i < scratch.nwarnings; i++)
        out->warnings[out->nwarnings++] = ts_arena_strdup(a, scratch.warnings[i]);
    ts_ss_free_warnings(&scratch);
    fan_free(&fn);
    fq_close(qq);
    return rc;
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
