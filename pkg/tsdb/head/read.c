/*
 * The head querier (Prometheus' head index and chunk readers, as a
 * ts_querier).
 *
 * select: the postings index (postings.c) gives the candidate refs for the
 * matchers that do not match "" (union over matching values, intersected);
 * each candidate's labels are then checked against the remaining matchers
 * (a series matches when every matcher matches its value, "" for an absent
 * label), and series without a chunk overlapping [mint, maxt] are left
 * out.  sorted = true sorts by labels; otherwise series come in ref order.
 *
 * Snapshots: a querier is registered with the head (ts__reader_enter) from
 * creation to close, so the series it found and their completed chunks
 * stay allocated even if truncation drops them meanwhile (head.c).  iterator() and chunks() take a
 * snapshot of the series under its lock when they are called: pointers to the completed chunks that
 * overlap the range (immutable) and a private copy of the open chunk's bytes (which appenders keep
 * changing).  Samples appended later are not seen by that iterator.
 *
 * label_names / label_values follow Prometheus' head: without matchers they
 * come from the postings index (if the querier's range overlaps the head's
 * at all); with matchers, from the labels of the matching series, without
 * per-series time filtering.
 */
#include "pkg/tsdb/head/internal.h"

#include <stdlib.h>
#include <string.h>

#include "pkg/util/arena.h"
#include "pkg/util/mem.h"

typedef struct head_querier {
    ts_querier base;
    ts_head *h;
    ts__reader reader;
} head_querier;

typedef struct head_set head_set;

typedef struct head_series {
    ts_series base;
    ts__series *s;
    head_set *set;
} head_series;

/* The matching series in output order (one pointer each).  The ts_series
 * handed out live in the arena until the set is freed, or, with the stream
 * select hint, in cur until the next next(). */
struct head_set {
    ts_series_set base;
    head_querier *q;
    ts__series **v;
    size_t n, i;
    bool stream;
    head_series cur;
    head_series *out;
    ts_arena arena;
};

/* ------------------------------------------------------------ snapshots */

typedef struct snap {
    ts_chunk_meta *c;
    size_t n;
    uint8_t *open_copy;
} snap;

static bool
overlaps(int64_t amin, int64_t amax, int64_t bmin, int64_t bmax)
{
    return amin <= bmax && bmin <= amax;
}

static void
snapshot(ts_head *h, ts__series *s, int64_t mint, int64_t maxt, snap *out)
{
    memset(out, 0, sizeof(*out));
    ts__series_lock(h, s);
    size_t n = 0;
    for (uint32_t i = 0; i < s->nchunks; i++)
        if (overlaps(s->chunks[i].mint, s->chunks[i].maxt, mint, maxt))
            n++;
    bool open = s->open.count > 0 && overlaps(s->open.mint, s->open.t, mint, maxt);
    out->c = ts_malloc((n + 1) * sizeof(*out->c));
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const ts__head_chunk *c = &s->chunks[i];
        if (overlaps(c->mint, c->maxt, mint, maxt))
            out->c[out->n++] = (ts_chunk_meta){c->mint, c->maxt, TS_ENC_XOR, c->data, c->len};
    }
    if (open) {
        size_t len;
        const uint8_t *b = ts_xor_chunk_bytes(&s->open, &len);
        out->open_copy = ts_malloc(len);
        memcpy(out->open_copy, b, len);
        out->c[out->n++] =
            (ts_chunk_meta){s->open.mint, s->open.t, TS_ENC_XOR, out->open_copy, len};
    }
    ts__series_unlock(h, s);
}

static void
snap_free(snap *sn)
{
    ts_free(sn->c);
    ts_free(sn->open_copy);
}

/* Whether the series has a chunk overlapping [mint, maxt]. */
static bool
series_in_range(ts_head *h, ts__series *s, int64_t mint, int64_t maxt)
{
    bool in = false;
    ts__series_lock(h, s);
    if (s->open.count > 0 && overlaps(s->open.mint, s->open.t, mint, maxt))
        in = true;
    for (uint32_t i = 0; i < s->nchunks && !in; i++)
        in = overlaps(s->chunks[i].mint, s->chunks[i].maxt, mint, maxt);
    ts__series_unlock(h, s);
    return in;
}

/* ------------------------------------------------------ sample iterator */

typedef struct head_iter {
    ts_iterator base;
    snap sn;
    size_t cur;    /* chunk being read */
    bool in_chunk; /* xi is initialised on sn.c[cur] */
    bool has;      /* at() is valid */
    bool done;
    int err;
    int64_t mint, maxt;
    ts_xor_iter xi;
} head_iter;

static bool
open_chunk(head_iter *it)
{
    if (it->cur >= it->sn.n) {
        it->done = true;
        return false;
    }
    ts_xor_iter_init(&it->xi, it->sn.c[it->cur].data, it->sn.c[it->cur].len);
    it->in_chunk = true;
    return true;
}

/* The current chunk is exhausted: record an error or move on. */
static bool
chunk_ended(head_iter *it)
{
    int e = ts_it_err(&it->xi.base);
    if (e != TS_OK) {
        it->err = e;
        it->done = true;
        return false;
    }
    it->cur++;
    it->in_chunk = false;
    return true;
}

static ts_val_type
hiter_next(ts_iterator *base)
{
    head_iter *it = (head_iter *)base;
    while (!it->done) {
        if (!it->in_chunk && !open_chunk(it))
            break;
        if (ts_it_next(&it->xi.base) == TS_VAL_NONE) {
            if (!chunk_ended(it))
                break;
            continue;
        }
        int64_t t;
        ts_it_at(&it->xi.base, &t, NULL);
        if (t < it->mint)
            continue;
        if (t > it->maxt) {
            it->done = true;
            break;
        }
        it->has = true;
        return TS_VAL_FLOAT;
    }
    it->has = false;
    return TS_VAL_NONE;
}

static ts_val_type
hiter_seek(ts_iterator *base, int64_t t)
{
    head_iter *it = (head_iter *)base;
    if (it->done)
        return TS_VAL_NONE;
    if (it->has) {
        int64_t cur;
        ts_it_at(&it->xi.base, &cur, NULL);
        if (cur >= t)
            return TS_VAL_FLOAT;
    }
    if (t < it->mint)
        t = it->mint;
    while (!it->done) {
        /* chunks are in time order and do not overlap: skip whole ones */
        while (it->cur < it->sn.n && it->sn.c[it->cur].maxt < t) {
            it->cur++;
            it->in_chunk = false;
        }
        if (!it->in_chunk && !open_chunk(it))
            break;
        if (ts_it_seek(&it->xi.base, t) == TS_VAL_NONE) {
            if (!chunk_ended(it))
                break;
            continue;
        }
        int64_t got;
        ts_it_at(&it->xi.base, &got, NULL);
        if (got > it->maxt) {
            it->done = true;
            break;
        }
        it->has = true;
        return TS_VAL_FLOAT;
    }
    it->has = false;
    return TS_VAL_NONE;
}

static void
hiter_at(const ts_iterator *base, int64_t *t, double *v)
{
    const head_iter *it = (const head_iter *)base;
    ts_it_at(&it->xi.base, t, v);
}

static int
hiter_err(const ts_iterator *base)
{
    return ((const head_iter *)base)->err;
}

static void
hiter_free(ts_iterator *base)
{
    head_iter *it = (head_iter *)base;
    snap_free(&it->sn);
    ts_free(it);
}

static const ts_iterator_ops hiter_ops = {hiter_next, hiter_seek, hiter_at, hiter_err, hiter_free};

static ts_iterator *
hseries_iterator(ts_series *base)
{
    head_series *hs = (head_series *)base;
    head_querier *q = hs->set->q;
    head_iter *it = ts_calloc(1, sizeof(*it));
    it->base.ops = &hiter_ops;
    it->mint = q->base.mint;
    it->maxt = q->base.maxt;
    snapshot(q->h, hs->s, it->mint, it->maxt, &it->sn);
    return &it->base;
}

/* ------------------------------------------------------- chunk iterator */

typedef struct head_chunk_iter {
    ts_chunk_iterator base;
    snap sn;
    size_t i;
} head_chunk_iter;

static bool
hciter_next(ts_chunk_iterator *base)
{
    head_chunk_iter *it = (head_chunk_iter *)base;
    if (it->i >= it->sn.n)
        return false;
    it->i++;
    return true;
}

static const ts_chunk_meta *
hciter_at(const ts_chunk_iterator *base)
{
    const head_chunk_iter *it = (const head_chunk_iter *)base;
    return it->i > 0 ? &it->sn.c[it->i - 1] : NULL;
}

static int
hciter_err(const ts_chunk_iterator *base)
{
    return TS_OK;
}

static void
hciter_free(ts_chunk_iterator *base)
{
    head_chunk_iter *it = (head_chunk_iter *)base;
    snap_free(&it->sn);
    ts_free(it);
}

static const ts_chunk_iterator_ops hciter_ops = {hciter_next, hciter_at, hciter_err, hciter_free};

static ts_chunk_iterator *
hseries_chunks(ts_series *base)
{
    head_series *hs = (head_series *)base;
    head_querier *q = hs->set->q;
    head_chunk_iter *it = ts_calloc(1, sizeof(*it));
    it->base.ops = &hciter_ops;
    snapshot(q->h, hs->s, q->base.mint, q->base.maxt, &it->sn);
    return &it->base;
}

static const ts_series_ops hseries_ops = {hseries_iterator, hseries_chunks};

/* ----------------------------------------------------------- series set */

/* How many series ahead next() asks the CPU to fetch: a reader touches each
 * series' labels and struct (then its chunks) once, in label order, which
 * is random order in memory, so each would be a cache miss in turn. */
#define PREFETCH_AHEAD 4

static bool
hset_next(ts_series_set *base)
{
    head_set *ss = (head_set *)base;
    ss->out = NULL;
    if (ss->i >= ss->n)
        return false;
    ts__series *s = ss->v[ss->i++];
    if (ss->i + PREFETCH_AHEAD <= ss->n) {
        const ts__series *ahead = ss->v[ss->i + PREFETCH_AHEAD - 1];
        __builtin_prefetch(ahead);
        __builtin_prefetch((const char *)ahead + 64);
        __builtin_prefetch(ahead->labels);
        __builtin_prefetch((const char *)ahead->labels + 64);
    }
    head_series *hs = ss->stream ? &ss->cur : TS_ARENA_NEW(&ss->arena, head_series);
    hs->base.ops = &hseries_ops;
    hs->base.labels = s->labels;
    hs->s = s;
    hs->set = ss;
    ss->out = hs;
    return true;
}

static ts_series *
hset_at(ts_series_set *base)
{
    head_set *ss = (head_set *)base;
    return ss->out ? &ss->out->base : NULL;
}

static void
hset_free(ts_series_set *base)
{
    head_set *ss = (head_set *)base;
    ts_ss_free_warnings(base);
    ts_free(ss->v);
    ts_arena_fini(&ss->arena);
    ts_free(ss);
}

static const ts_series_set_ops hset_ops = {hset_next, hset_at, hset_free};

static int
cmp_hseries(const void *a, const void *b)
{
    return ts_labels_cmp((*(ts__series *const *)a)->labels, (*(ts__series *const *)b)->labels);
}

/* Whether ls satisfies every matcher not already decided by the postings. */
static bool
labels_match(const ts_labels *ls, ts_matcher *const *ms, size_t nms, const bool *exact)
{
    for (size_t i = 0; i < nms; i++) {
        if (exact[i])
            continue;
        const char *v = ts_labels_get(ls, ms[i]->name);
        if (!ts_matcher_matches(ms[i], v ? v : ""))
            return false;
    }
    return true;
}

/* Calls fn for every live series matching ms (nms >= 1). */
static void
for_matching(ts_head *h, ts_matcher *const *ms, size_t nms, void (*fn)(void *ctx, ts__series *s),
             void *ctx)
{
    bool *exact = ts_malloc(nms * sizeof(bool));
    ts__refs refs;
    pthread_rwlock_rdlock(&h->postings_lock);
    ts__postings_select(h->postings, ms, nms, exact, &refs);
    pthread_rwlock_unlock(&h->postings_lock);
    for (size_t i = 0; i < refs.n; i++) {
        ts__series *s = ts__series_get(h, refs.r[i]);
        if (s && labels_match(s->labels, ms, nms, exact))
            fn(ctx, s);
    }
    ts_free(refs.r);
    ts_free(exact);
}

typedef struct select_ctx {
    head_set *ss;
    size_t cap;
} select_ctx;

static void
select_one(void *ctx, ts__series *s)
{
    select_ctx *c = ctx;
    head_set *ss = c->ss;
    head_querier *q = ss->q;
    if (!series_in_range(q->h, s, q->base.mint, q->base.maxt))
        return;
    TS_GROW(ss->v, c->cap, ss->n + 1);
    ss->v[ss->n++] = s;
}

static int
hq_select(ts_querier *base, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    head_querier *q = (head_querier *)base;
    *out = NULL;
    if (nms == 0)
        return ts_error_set(err, TS_EINVAL, "select needs at least one matcher");
    head_set *ss = ts_calloc(1, sizeof(*ss));
    ss->base.ops = &hset_ops;
    ss->q = q;
    ss->stream = hints && hints->stream;
    ts_arena_init(&ss->arena, ss->stream ? 256 : 4096);
    select_ctx c = {ss, 0};
    for_matching(q->h, ms, nms, select_one, &c);
    if (sorted && ss->n > 1)
        qsort(ss->v, ss->n, sizeof(*ss->v), cmp_hseries);
    *out = &ss->base;
    return TS_OK;
}

/* ------------------------------------------------------- label queries */

typedef struct strvec {
    ts_arena *a;
    const char **v;
    size_t n, cap;
    const char *name; /* label_values: the label */
} strvec;

static int
cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts, removes duplicates and moves the result into the arena. */
static void
strvec_finish(strvec *sv, const char ***out, size_t *n)
{
    if (sv->n > 1)
        qsort(sv->v, sv->n, sizeof(*sv->v), cmp_cstr);
    const char **res = ts_arena_alloc(sv->a, (sv->n ? sv->n : 1) * sizeof(*res));
    size_t k = 0;
    for (size_t i = 0; i < sv->n; i++)
        if (k == 0 || strcmp(res[k - 1], sv->v[i]) != 0)
            res[k++] = sv->v[i];
    ts_free(sv->v);
    *out = res;
    *n = k;
}

static void
collect_value(void *ctx, ts__series *s)
{
    strvec *sv = ctx;
    const char *v = ts_labels_get(s->labels, sv->name);
    if (!v || !*v)
        return;
    TS_GROW(sv->v, sv->cap, sv->n + 1);
    sv->v[sv->n++] = ts_arena_strdup(sv->a, v);
}

static void
collect_names(void *ctx, ts__series *s)
{
    strvec *sv = ctx;
    for (uint32_t i = 0; i < s->labels->n; i++) {
        if (!s->labels->l[i].value[0])
            continue;
        TS_GROW(sv->v, sv->cap, sv->n + 1);
        sv->v[sv->n++] = ts_arena_strdup(sv->a, s->labels->l[i].name);
    }
}

static bool
querier_overlaps_head(head_querier *q)
{
    ts_head *h = q->h;
    return atomic_load(&h->num_samples) > 0 &&
           overlaps(q->base.mint, q->base.maxt, ts_head_mint(h), ts_head_maxt(h));
}

static int
hq_label_values(ts_querier *base, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    head_querier *q = (head_querier *)base;
    strvec sv = {a, NULL, 0, 0, name};
    if (querier_overlaps_head(q)) {
        if (nms == 0) {
            pthread_rwlock_rdlock(&q->h->postings_lock);
            ts__postings_label_values(q->h->postings, name, a, out, n);
            pthread_rwlock_unlock(&q->h->postings_lock);
            return TS_OK;
        }
        for_matching(q->h, ms, nms, collect_value, &sv);
    }
    strvec_finish(&sv, out, n);
    return TS_OK;
}

static int
hq_label_names(ts_querier *base, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    head_querier *q = (head_querier *)base;
    strvec sv = {a, NULL, 0, 0, NULL};
    if (querier_overlaps_head(q)) {
        if (nms == 0) {
            pthread_rwlock_rdlock(&q->h->postings_lock);
            ts__postings_label_names(q->h->postings, a, out, n);
            pthread_rwlock_unlock(&q->h->postings_lock);
            return TS_OK;
        }
        for_matching(q->h, ms, nms, collect_names, &sv);
    }
    strvec_finish(&sv, out, n);
    return TS_OK;
}

static void
hq_close(ts_querier *base)
{
    head_querier *q = (head_querier *)base;
    ts__reader_exit(q->h, &q->reader);
    ts_free(q);
}

static const ts_querier_ops head_querier_ops = {hq_select, hq_label_values, hq_label_names,
                                                hq_close};

int
ts_head_querier(ts_head *h, int64_t mint, int64_t maxt, ts_querier **out)
{
    head_querier *q = ts_calloc(1, sizeof(*q));
    q->base.ops = &head_querier_ops;
    q->base.mint = mint;
    q->base.maxt = maxt;
    q->h = h;
    ts__reader_enter(h, &q->reader);
    *out = &q->base;
    return TS_OK;
}
