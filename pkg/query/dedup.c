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
 * The set merge is pkg/storage/merge.c's k-way merge by labels, with groups
 * of equal labels combined by this iterator instead of the chained merge.
 */
#include "pkg/query/dedup.h"
#include "pkg/storage/merge.h"
#include "pkg/util/mem.h"

#include <string.h>

typedef struct side {
    ts_iterator *it;
    bool ok;   /* positioned on a sample */
    bool done; /* exhausted */
    bool started;
    int64_t t;
    double v;
    int64_t pen;
    double adj; /* counter adjustment added to this side's values */
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
        sy->pen =
            d->last_t == INT64_MIN ? TS_QUERY_DEDUP_INITIAL_PENALTY_MS : 2 * (sx->t - d->last_t);
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
ts_query_dedup_iterators(ts_iterator **its, size_t n, bool counter)
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
ts_query_dedup_is_counter_func(const char *func)
{
    static const char *const fns[] = {"rate", "increase", "irate", "resets", NULL};
    for (size_t i = 0; func && fns[i]; i++)
        if (strcmp(func, fns[i]) == 0)
            return true;
    return false;
}

/* ---- series sets: the storage merge with the penalty combiner ---- */

static ts_iterator *
dedup_plain(void *ctx, ts_iterator **its, size_t n)
{
    return ts_query_dedup_iterators(its, n, false);
}

static ts_iterator *
dedup_counter(void *ctx, ts_iterator **its, size_t n)
{
    return ts_query_dedup_iterators(its, n, true);
}

/* A deduplicated series has no single chunk form. */
static const ts_merge_combiner plain_comb = {dedup_plain, false, NULL};
static const ts_merge_combiner counter_comb = {dedup_counter, false, NULL};

ts_series_set *
ts_query_dedup_series_sets(ts_series_set **sets, size_t n, bool counter, bool errors_as_warnings)
{
    return ts_merge_series_sets_by(sets, n, counter ? &counter_comb : &plain_comb,
                                   errors_as_warnings);
}
