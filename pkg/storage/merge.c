/*
 * Chained merge of sorted series sets, iterators and queriers.
 *
 * The merge set keeps the current series of each input.  next() advances
 * every input whose current series equals the one last returned, then picks
 * the smallest label set among the inputs; all inputs positioned on that
 * label set form the next merged series.  Merged series live in the set's
 * arena until the set is freed, or with the stream select hint only until
 * the next next() (the arena is reset), so compaction's merge of blocks of
 * any size costs the same.  Inputs are few (head + blocks, or a
 * handful of stores), so a linear scan beats a heap.
 */
#include "pkg/storage/merge.h"
#include "pkg/util/mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- sample iterator ---- */

typedef struct merge_it {
    ts_iterator base;
    size_t n;
    ts_iterator **its;
    int64_t *t;
    double *v;
    bool *ok;
    bool started;
    int cur; /* index of the input holding the current sample, -1 = none */
    int err;
} merge_it;

static void
pick(merge_it *m)
{
    m->cur = -1;
    for (size_t i = 0; i < m->n; i++)
        if (m->ok[i] && (m->cur < 0 || m->t[i] < m->t[m->cur]))
            m->cur = (int)i;
}

static void
load(merge_it *m, size_t i, ts_val_type vt)
{
    m->ok[i] = vt == TS_VAL_FLOAT;
    if (m->ok[i])
        ts_it_at(m->its[i], &m->t[i], &m->v[i]);
    else if (ts_it_err(m->its[i]) && !m->err)
        m->err = ts_it_err(m->its[i]);
}

static ts_val_type
merge_it_next(ts_iterator *it)
{
    merge_it *m = (merge_it *)it;
    if (!m->started) {
        m->started = true;
        for (size_t i = 0; i < m->n; i++)
            load(m, i, ts_it_next(m->its[i]));
    } else if (m->cur >= 0) {
        int64_t last = m->t[m->cur];
        for (size_t i = 0; i < m->n; i++)
            if (m->ok[i] && m->t[i] == last)
                load(m, i, ts_it_next(m->its[i]));
    } else {
        return TS_VAL_NONE;
    }
    pick(m);
    return m->cur >= 0 && !m->err ? TS_VAL_FLOAT : TS_VAL_NONE;
}

static ts_val_type
merge_it_seek(ts_iterator *it, int64_t t)
{
    merge_it *m = (merge_it *)it;
    if (!m->started) {
        m->started = true;
        for (size_t i = 0; i < m->n; i++)
            load(m, i, ts_it_seek(m->its[i], t));
    } else {
        if (m->cur < 0)
            return TS_VAL_NONE;
        for (size_t i = 0; i < m->n; i++)
            if (m->ok[i] && m->t[i] < t)
                load(m, i, ts_it_seek(m->its[i], t));
    }
    pick(m);
    return m->cur >= 0 && !m->err ? TS_VAL_FLOAT : TS_VAL_NONE;
}

static void
merge_it_at(const ts_iterator *it, int64_t *t, double *v)
{
    const merge_it *m = (const merge_it *)it;
    *t = m->t[m->cur];
    *v = m->v[m->cur];
}

static int
merge_it_err(const ts_iterator *it)
{
    return ((const merge_it *)it)->err;
}

static void
merge_it_free(ts_iterator *it)
{
    merge_it *m = (merge_it *)it;
    for (size_t i = 0; i < m->n; i++)
        ts_it_free(m->its[i]);
    ts_free(m->its);
    ts_free(m);
}

static const ts_iterator_ops merge_it_ops = {merge_it_next, merge_it_seek, merge_it_at,
                                             merge_it_err, merge_it_free};

ts_iterator *
ts_merge_iterators(ts_iterator **its, size_t n)
{
    if (n == 1)
        return its[0];
    /* one allocation for the struct and its per-input arrays */
    size_t sz = sizeof(merge_it) + n * (sizeof(int64_t) + sizeof(double) + sizeof(bool));
    merge_it *m = ts_calloc(1, sz);
    m->base.ops = &merge_it_ops;
    m->n = n;
    m->its = ts_malloc(n * sizeof(*its));
    if (n)
        memcpy(m->its, its, n * sizeof(*its));
    m->t = (int64_t *)(m + 1);
    m->v = (double *)(m->t + n);
    m->ok = (bool *)(m->v + n);
    m->cur = -1;
    return &m->base;
}

/* ---- chunk iterator: the inputs' chunks one input after another ---- */

typedef struct chain_cit {
    ts_chunk_iterator base;
    ts_chunk_iterator **cits;
    size_t n, i;
} chain_cit;

static bool
chain_next(ts_chunk_iterator *it)
{
    chain_cit *c = (chain_cit *)it;
    while (c->i < c->n) {
        if (c->cits[c->i]->ops->next(c->cits[c->i]))
            return true;
        if (c->cits[c->i]->ops->err(c->cits[c->i]))
            return false;
        c->i++;
    }
    return false;
}

static const ts_chunk_meta *
chain_at(const ts_chunk_iterator *it)
{
    const chain_cit *c = (const chain_cit *)it;
    return c->cits[c->i]->ops->at(c->cits[c->i]);
}

static int
chain_err(const ts_chunk_iterator *it)
{
    const chain_cit *c = (const chain_cit *)it;
    return c->i < c->n ? c->cits[c->i]->ops->err(c->cits[c->i]) : 0;
}

static void
chain_free(ts_chunk_iterator *it)
{
    chain_cit *c = (chain_cit *)it;
    for (size_t i = 0; i < c->n; i++)
        c->cits[i]->ops->free(c->cits[i]);
    ts_free(c->cits);
    ts_free(c);
}

static const ts_chunk_iterator_ops chain_ops = {chain_next, chain_at, chain_err, chain_free};

/* ---- merged series ---- */

typedef struct merged_series {
    ts_series base;
    ts_series **parts;
    size_t n;
    const ts_merge_combiner *comb;
} merged_series;

static ts_iterator *
merged_iterator(ts_series *s)
{
    merged_series *ms = (merged_series *)s;
    ts_iterator **its = ts_malloc(ms->n * sizeof(*its));
    for (size_t i = 0; i < ms->n; i++)
        its[i] = ms->parts[i]->ops->iterator(ms->parts[i]);
    ts_iterator *it = ms->comb->iterators(ms->comb->ctx, its, ms->n);
    ts_free(its);
    return it;
}

static ts_chunk_iterator *
merged_chunks(ts_series *s)
{
    merged_series *ms = (merged_series *)s;
    if (!ms->comb->chunks)
        return NULL;
    for (size_t i = 0; i < ms->n; i++)
        if (!ms->parts[i]->ops->chunks)
            return NULL;
    chain_cit *c = ts_calloc(1, sizeof(*c));
    c->base.ops = &chain_ops;
    c->n = ms->n;
    c->cits = ts_malloc(ms->n * sizeof(*c->cits));
    for (size_t i = 0; i < ms->n; i++)
        c->cits[i] = ms->parts[i]->ops->chunks(ms->parts[i]);
    return &c->base;
}

static const ts_series_ops merged_series_ops = {merged_iterator, merged_chunks};

/* ---- merged set ---- */

typedef struct merge_set {
    ts_series_set base;
    ts_series_set **sets;
    ts_series **cur; /* current series of each input, NULL = exhausted */
    size_t n;
    bool started, errors_as_warnings;
    bool stream;   /* select hint: the arena is reset at each next() */
    bool *pending; /* stream: input i yielded its current series; advance it
                    * at the next next() (advancing frees that series) */
    const ts_merge_combiner *comb;
    ts_series *out;
    ts_arena arena; /* merged_series objects live until the set is freed */
} merge_set;

static void
advance(merge_set *m, size_t i)
{
    if (ts_ss_next(m->sets[i])) {
        m->cur[i] = ts_ss_at(m->sets[i]);
        return;
    }
    m->cur[i] = NULL;
    if (!m->sets[i]->error.code)
        return;
    if (m->errors_as_warnings)
        ts_ss_add_warning(&m->base, "%s", m->sets[i]->error.msg);
    else if (!m->base.error.code)
        m->base.error = m->sets[i]->error;
}

static bool
merge_set_next(ts_series_set *ss)
{
    merge_set *m = (merge_set *)ss;
    if (!m->started) {
        m->started = true;
        for (size_t i = 0; i < m->n; i++)
            advance(m, i);
    }
    m->out = NULL;
    if (m->stream) {
        ts_arena_reset(&m->arena);
        for (size_t i = 0; i < m->n; i++)
            if (m->pending[i]) {
                m->pending[i] = false;
                advance(m, i);
            }
    }
    if (m->base.error.code)
        return false;
    /* the smallest label set among the inputs */
    ssize_t lo = -1;
    for (size_t i = 0; i < m->n; i++)
        if (m->cur[i] && (lo < 0 || ts_labels_cmp(m->cur[i]->labels, m->cur[lo]->labels) < 0))
            lo = (ssize_t)i;
    if (lo < 0)
        return false;
    /* every series with those labels, from every input (repeats within one
     * input included), consuming them */
    const ts_labels *ls = m->cur[lo]->labels;
    ts_series *stack[16];
    ts_series **parts = stack;
    size_t np = 0, cap = 16;
    for (size_t i = (size_t)lo; i < m->n; i++) {
        /* with stream, one series per input: a repeat within one input
         * comes as the next merged series */
        while (m->cur[i] && !m->pending[i] && ts_labels_equal(m->cur[i]->labels, ls)) {
            if (np == cap) {
                ts_series **g = ts_arena_alloc(&m->arena, cap * 2 * sizeof(*g));
                memcpy(g, parts, np * sizeof(*g));
                parts = g;
                cap *= 2;
            }
            parts[np++] = m->cur[i];
            if (m->stream)
                m->pending[i] = true;
            else
                advance(m, i);
        }
    }
    if (np == 1) {
        m->out = parts[0];
        return true;
    }
    merged_series *ms = TS_ARENA_NEW(&m->arena, merged_series);
    ms->base.ops = &merged_series_ops;
    ms->base.labels = parts[0]->labels;
    ms->parts = ts_arena_memdup(&m->arena, parts, np * sizeof(*parts));
    ms->n = np;
    ms->comb = m->comb;
    m->out = &ms->base;
    return true;
}

static ts_series *
merge_set_at(ts_series_set *ss)
{
    return ((merge_set *)ss)->out;
}

static void
merge_set_free(ts_series_set *ss)
{
    merge_set *m = (merge_set *)ss;
    for (size_t i = 0; i < m->n; i++)
        ts_ss_free(m->sets[i]);
    ts_free(m->sets);
    ts_free(m->cur);
    ts_free(m->pending);
    ts_arena_fini(&m->arena);
    ts_ss_free_warnings(&m->base);
    ts_free(m);
}

static const ts_series_set_ops merge_set_ops = {merge_set_next, merge_set_at, merge_set_free};

ts_series_set *
ts_merge_series_sets_by(ts_series_set **sets, size_t n, const ts_merge_combiner *comb,
                        bool errors_as_warnings)
{
    merge_set *m = ts_calloc(1, sizeof(*m));
    m->base.ops = &merge_set_ops;
    m->n = n;
    m->comb = comb;
    m->errors_as_warnings = errors_as_warnings;
    m->sets = ts_malloc((n ? n : 1) * sizeof(*sets));
    if (n)
        memcpy(m->sets, sets, n * sizeof(*sets));
    m->cur = ts_calloc(n ? n : 1, sizeof(*m->cur));
    m->pending = ts_calloc(n ? n : 1, sizeof(*m->pending));
    ts_arena_init(&m->arena, 4096);
    for (size_t i = 0; i < n; i++)
        for (size_t w = 0; w < sets[i]->nwarnings; w++)
            ts_ss_add_warning(&m->base, "%s", sets[i]->warnings[w]);
    return &m->base;
}

static ts_iterator *
chain_iterators(void *ctx, ts_iterator **its, size_t n)
{
    return ts_merge_iterators(its, n);
}

static const ts_merge_combiner chained = {chain_iterators, true, NULL};

ts_series_set *
ts_merge_series_sets(ts_series_set **sets, size_t n)
{
    if (n == 1)
        return sets[0];
    return ts_merge_series_sets_by(sets, n, &chained, false);
}

/* ---- querier ---- */

typedef struct merge_q {
    ts_querier base;
    ts_querier **qs;
    size_t n;
} merge_q;

static int
mq_select(ts_querier *q, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    merge_q *m = (merge_q *)q;
    ts_series_set **sets = ts_calloc(m->n ? m->n : 1, sizeof(*sets));
    int rc = TS_OK;
    for (size_t i = 0; i < m->n; i++) {
        rc = m->qs[i]->ops->select(m->qs[i], true, hints, ms, nms, &sets[i], err);
        if (rc) {
            for (size_t j = 0; j < i; j++)
                ts_ss_free(sets[j]);
            ts_free(sets);
            *out = NULL;
            return rc;
        }
    }
    *out = m->n ? ts_merge_series_sets(sets, m->n) : ts_series_set_empty(NULL);
    if (m->n > 1 && hints && hints->stream)
        ((merge_set *)*out)->stream = true;
    ts_free(sets);
    return TS_OK;
}

static int
strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
ts_strs_sort_unique(const char **strs, size_t *n)
{
    if (*n < 2)
        return;
    qsort(strs, *n, sizeof(*strs), strcmp_p);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++)
        if (strcmp(strs[i], strs[k - 1]) != 0)
            strs[k++] = strs[i];
    *n = k;
}

/* Gathers the string lists of all inputs, then sorts and de-duplicates. */
static int
gather(merge_q *m, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
       const char ***out, size_t *n, ts_error *err)
{
    const char **all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < m->n; i++) {
        const char **part;
        size_t k;
        int rc = name ? m->qs[i]->ops->label_values(m->qs[i], name, ms, nms, a, &part, &k, err)
                      : m->qs[i]->ops->label_names(m->qs[i], ms, nms, a, &part, &k, err);
        if (rc)
            return rc;
        const char **grown = ts_arena_alloc(a, (total + k + 1) * sizeof(char *));
        if (total)
            memcpy(grown, all, total * sizeof(char *));
        if (k)
            memcpy(grown + total, part, k * sizeof(char *));
        all = grown;
        total += k;
    }
    ts_strs_sort_unique(all, &total);
    *out = all;
    *n = total;
    return TS_OK;
}

static int
mq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    return gather((merge_q *)q, name, ms, nms, a, out, n, err);
}

static int
mq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    return gather((merge_q *)q, NULL, ms, nms, a, out, n, err);
}

static void
mq_close(ts_querier *q)
{
    merge_q *m = (merge_q *)q;
    for (size_t i = 0; i < m->n; i++)
        ts_querier_close(m->qs[i]);
    ts_free(m->qs);
    ts_free(m);
}

static const ts_querier_ops merge_q_ops = {mq_select, mq_label_values, mq_label_names, mq_close};

ts_querier *
ts_merge_queriers(ts_querier **qs, size_t n, int64_t mint, int64_t maxt)
{
    merge_q *m = ts_calloc(1, sizeof(*m));
    m->base.ops = &merge_q_ops;
    m->base.mint = mint;
    m->base.maxt = maxt;
    m->n = n;
    m->qs = ts_malloc((n ? n : 1) * sizeof(*qs));
    if (n)
        memcpy(m->qs, qs, n * sizeof(*qs));
    return &m->base;
}
