/*
 * Penalty deduplication.
 *
 * dedup_it holds two inputs, A and B (B may itself be a dedup_it when there
 * are more than two replicas).  Each next():
 *   1. moves A to the first sample after lastT + penA and B to the first
 *      after lastT + penB (penalties of the side not chosen last time);
 *   2. emits the earlier of the two (A on ties), or whichever is left;
 *   3. the emitted side's penalty becomes 0, the other's twice the gap
 *      between this sample and the previous one emitted (5 s for the first).
 * Seeking re-walks next() instead of seeking the inputs, so a gap in the
 * followed replica is never jumped over.
 *
 * The set merge is a k-way merge by labels, as in pkg/storage/merge.c, but
 * groups of equal labels become a dedup series instead of a chained merge.
 */
#include "pkg/query/dedup.h"
#include "pkg/util/mem.h"

#include <string.h>
#include <sys/types.h>

typedef struct side {
    ts_iterator *it;
    bool ok;      /* positioned on a sample */
    bool done;    /* exhausted */
    bool started;
    int64_t t;
    double v;
    int64_t pen;
    double adj;   /* counter adjustment added to this side's values */
} side;

typedef struct dedup_it {
    ts_iterator base;
    side s[2];
    int64_t last_t;
    double last_v;
    int last_side; /* -1 none yet */
    bool counter;
    bool have;
    int64_t t;
    double v;
    int err;
} dedup_it;

static void
advance_to(dedup_it *d, side *s, int64_t t)
{
    if (s->done)
        return;
    if (s->started && s->ok && s->t >= t)
        return;
    s->started = true;
    ts_val_type vt = ts_it_seek(s->it, t);
    if (vt != TS_VAL_FLOAT) {
        s->ok = false;
        s->done = true;
        if (ts_it_err(s->it) && !d->err)
            d->err = ts_it_err(s->it);
        return;
    }
    s->ok = true;
    ts_it_at(s->it, &s->t, &s->v);
}

static ts_val_type
dedup_next(ts_iterator *it)
{
    dedup_it *d = (dedup_it *)it;
    side *a = &d->s[0], *b = &d->s[1];
    int64_t base = d->last_t == INT64_MIN ? INT64_MIN : d->last_t + 1;
    advance_to(d, a, base == INT64_MIN ? INT64_MIN : base + a->pen);
    advance_to(d, b, base == INT64_MIN ? INT64_MIN : base + b->pen);
    int x;
    side *sx, *sy;
    for (;;) {
        if (d->err || (!a->ok && !b->ok))
            return d->have = false, TS_VAL_NONE;
        if (!a->ok)
            x = 1;
        else if (!b->ok)
            x = 0;
        else
            x = a->t <= b->t ? 0 : 1;
        sx = &d->s[x];
        sy = &d->s[1 - x];
        /* A stale marker from one replica while the other still has live
         * samples means that replica stopped seeing the target (it moved,
         * or the replica lost it), not that the series ended: skip the
         * marker and follow the other replica from here.  (Thanos emits it,
         * which blanks the series for up to two scrape intervals.)  When
         * both replicas go stale, the last one's marker is emitted. */
        if (ts_is_stale_nan(sx->v) && sy->ok && !ts_is_stale_nan(sy->v)) {
            advance_to(d, sx, sx->t + 1);
            sy->pen = 0;
            continue;
        }
        break;
    }
    double v = sx->v;
    if (d->counter && d->last_side >= 0 && d->last_side != x) {
        /* switching replicas: a counter must not appear to go down */
        double cand = v + sx->adj;
        if (cand < d->last_v)
            sx->adj += d->last_v - cand;
    }
    if (d->counter)
        v += sx->adj;
    if (sx->ok && sy->ok)
        sy->pen = d->last_t == INT64_MIN ? TS_DEDUP_INITIAL_PENALTY_MS : 2 * (sx->t - d->last_t);
    sx->pen = 0;
    d->last_t = sx->t;
    d->last_v = v;
    d->last_side = x;
    d->t = sx->t;
    d->v = v;
    d->have = true;
    /* consume the emitted sample: the next seek must look past it */
    return TS_VAL_FLOAT;
}

static ts_val_type
dedup_seek(ts_iterator *it, int64_t t)
{
    dedup_it *d = (dedup_it *)it;
    if (d->have && d->t >= t)
        return TS_VAL_FLOAT;
    for (;;) {
        if (dedup_next(it) != TS_VAL_FLOAT)
            return TS_VAL_NONE;
        if (d->t >= t)
            return TS_VAL_FLOAT;
    }
}

static void
dedup_at(const ts_iterator *it, int64_t *t, double *v)
{
    const dedup_it *d = (const dedup_it *)it;
    *t = d->t;
    *v = d->v;
}

static int
dedup_err(const ts_iterator *it)
{
    return ((const dedup_it *)it)->err;
}

static void
dedup_free(ts_iterator *it)
{
    dedup_it *d = (dedup_it *)it;
    ts_it_free(d->s[0].it);
    ts_it_free(d->s[1].it);
    ts_free(d);
}

static const ts_iterator_ops dedup_ops = {dedup_next, dedup_seek, dedup_at, dedup_err, dedup_free};

ts_iterator *
ts_dedup_iterators(ts_iterator **its, size_t n, bool counter)
{
    TS_ASSERT(n >= 1);
    ts_iterator *acc = its[0];
    for (size_t i = 1; i < n; i++) {
        dedup_it *d = ts_calloc(1, sizeof(*d));
        d->base.ops = &dedup_ops;
        d->s[0].it = acc;
        d->s[1].it = its[i];
        d->last_t = INT64_MIN;
        d->last_side = -1;
        d->counter = counter;
        acc = &d->base;
    }
    return acc;
}

bool
ts_dedup_is_counter_func(const char *func)
{
    static const char *const fns[] = {"rate", "increase", "irate", "resets", NULL};
    for (size_t i = 0; func && fns[i]; i++)
        if (strcmp(func, fns[i]) == 0)
            return true;
    return false;
}

/* ---- series and set ---- */

typedef struct dseries {
    ts_series base;
    ts_series **parts;
    size_t n;
    bool counter;
} dseries;

static ts_iterator *
dseries_iterator(ts_series *s)
{
    dseries *ds = (dseries *)s;
    ts_iterator **its = ts_malloc(ds->n * sizeof(*its));
    for (size_t i = 0; i < ds->n; i++)
        its[i] = ds->parts[i]->ops->iterator(ds->parts[i]);
    ts_iterator *it = ts_dedup_iterators(its, ds->n, ds->counter);
    ts_free(its);
    return it;
}

/* A deduplicated series has no single chunk form. */
static const ts_series_ops dseries_ops = {dseries_iterator, NULL};

typedef struct dset {
    ts_series_set base;
    ts_series_set **sets;
    ts_series **cur;
    size_t n;
    bool started, counter, errors_as_warnings;
    ts_series *out;
    ts_arena arena;
} dset;

static void
dset_advance(dset *m, size_t i)
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
dset_next(ts_series_set *ss)
{
    dset *m = (dset *)ss;
    if (!m->started) {
        m->started = true;
        for (size_t i = 0; i < m->n; i++)
            dset_advance(m, i);
    }
    if (m->base.error.code)
        return false;
    /* smallest label set among the inputs */
    ssize_t lo = -1;
    for (size_t i = 0; i < m->n; i++)
        if (m->cur[i] && (lo < 0 || ts_labels_cmp(m->cur[i]->labels, m->cur[lo]->labels) < 0))
            lo = (ssize_t)i;
    if (lo < 0)
        return false;
    /* gather every series with those labels (several per input possible) */
    const ts_labels *ls = m->cur[lo]->labels;
    ts_series *stack[16];
    ts_series **parts = stack;
    size_t np = 0, cap = 16;
    for (size_t i = (size_t)lo; i < m->n; i++) {
        while (m->cur[i] && ts_labels_equal(m->cur[i]->labels, ls)) {
            if (np == cap) {
                ts_series **g = ts_arena_alloc(&m->arena, cap * 2 * sizeof(*g));
                memcpy(g, parts, np * sizeof(*g));
                parts = g;
                cap *= 2;
            }
            parts[np++] = m->cur[i];
            dset_advance(m, i);
        }
    }
    if (np == 1) {
        m->out = parts[0];
        return true;
    }
    dseries *ds = TS_ARENA_NEW(&m->arena, dseries);
    ds->base.ops = &dseries_ops;
    ds->base.labels = parts[0]->labels;
    ds->parts = ts_arena_memdup(&m->arena, parts, np * sizeof(*parts));
    ds->n = np;
    ds->counter = m->counter;
    m->out = &ds->base;
    return true;
}

static ts_series *
dset_at(ts_series_set *ss)
{
    return ((dset *)ss)->out;
}

static void
dset_free(ts_series_set *ss)
{
    dset *m = (dset *)ss;
    for (size_t i = 0; i < m->n; i++)
        ts_ss_free(m->sets[i]);
    ts_free(m->sets);
    ts_free(m->cur);
    ts_arena_fini(&m->arena);
    ts_ss_free_warnings(ss);
    ts_free(m);
}

static const ts_series_set_ops dset_ops = {dset_next, dset_at, dset_free};

ts_series_set *
ts_dedup_series_sets(ts_series_set **sets, size_t n, bool counter, bool errors_as_warnings)
{
    dset *m = ts_calloc(1, sizeof(*m));
    m->base.ops = &dset_ops;
    m->n = n;
    m->counter = counter;
    m->errors_as_warnings = errors_as_warnings;
    m->sets = ts_malloc((n ? n : 1) * sizeof(*sets));
    if (n)
        memcpy(m->sets, sets, n * sizeof(*sets));
    m->cur = ts_calloc(n ? n : 1, sizeof(*m->cur));
    ts_arena_init(&m->arena, 4096);
    for (size_t i = 0; i < n; i++)
        for (size_t w = 0; w < sets[i]->nwarnings; w++)
            ts_ss_add_warning(&m->base, "%s", sets[i]->warnings[w]);
    return &m->base;
}
