#include "pkg/query/dedup.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

/* A sample iterator over an array (test input). */
typedef struct vit {
    ts_iterator base;
    ts_sample *s;
    size_t n, i;
    bool started;
} vit;

static ts_val_type
vit_next(ts_iterator *it)
{
    vit *v = (vit *)it;
    if (v->started)
        v->i++;
    v->started = true;
    return v->i < v->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static ts_val_type
vit_seek(ts_iterator *it, int64_t t)
{
    vit *v = (vit *)it;
    v->started = true;
    while (v->i < v->n && v->s[v->i].t < t)
        v->i++;
    return v->i < v->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static void
vit_at(const ts_iterator *it, int64_t *t, double *val)
{
    const vit *v = (const vit *)it;
    *t = v->s[v->i].t;
    *val = v->s[v->i].v;
}
static int
vit_err(const ts_iterator *it)
{
    return 0;
}
static void
vit_free(ts_iterator *it)
{
    ts_free(((vit *)it)->s);
    ts_free(it);
}
static const ts_iterator_ops vit_ops = {vit_next, vit_seek, vit_at, vit_err, vit_free};

/* Samples every `step` ms from `start` to `end` inclusive, skipping [gap_lo, gap_hi),
 * with value base + k*inc for the k-th slot. */
static ts_iterator *
gen(int64_t start, int64_t end, int64_t step, int64_t gap_lo, int64_t gap_hi, double base,
    double inc)
{
    vit *v = ts_calloc(1, sizeof(*v));
    v->base.ops = &vit_ops;
    v->s = ts_malloc((size_t)((end - start) / step + 2) * sizeof(ts_sample));
    int k = 0;
    for (int64_t t = start; t <= end; t += step, k++) {
        if (t >= gap_lo && t < gap_hi)
            continue;
        v->s[v->n++] = (ts_sample){t, base + k * inc};
    }
    return &v->base;
}

static size_t
drain(ts_iterator *it, ts_sample *out, size_t max)
{
    size_t n = 0;
    while (ts_it_next(it) == TS_VAL_FLOAT && n < max) {
        ts_it_at(it, &out[n].t, &out[n].v);
        n++;
    }
    return n;
}

static void
test_identical_replicas(void)
{
    ts_iterator *its[2] = {gen(0, 150000, 15000, -1, -1, 0, 1),
                           gen(0, 150000, 15000, -1, -1, 0, 1)};
    ts_iterator *d = ts_query_dedup_iterators(its, 2, false);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    T_EQ(n, 11);
    for (size_t i = 0; i < n; i++)
        T_EQ(s[i].t, (int64_t)i * 15000);
    ts_it_free(d);
}

static void
test_phase_shifted_not_interleaved(void)
{
    /* B scrapes 3 s after A (< the 5 s initial penalty): the output keeps A's
     * 15 s rhythm to the end (B's 303 s sample is within the penalty) */
    ts_iterator *its[2] = {gen(0, 300000, 15000, -1, -1, 0, 1),
                           gen(3000, 303000, 15000, -1, -1, 100, 1)};
    ts_iterator *d = ts_query_dedup_iterators(its, 2, false);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    T_EQ(n, 21);
    for (size_t i = 0; i < 21; i++) {
        T_EQ(s[i].t, (int64_t)i * 15000);
        T_FEQ(s[i].v, (double)i);
    }
    ts_it_free(d);
    /* shifted 7 s (> initial penalty): the iterator may switch once at the
     * start, but then follows one replica: never two samples closer than 15 s */
    ts_iterator *its2[2] = {gen(0, 300000, 15000, -1, -1, 0, 1),
                            gen(7000, 307000, 15000, -1, -1, 100, 1)};
    d = ts_query_dedup_iterators(its2, 2, false);
    n = drain(d, s, 64);
    T_TRUE(n >= 20 && n <= 22);
    for (size_t i = 2; i < n; i++)
        T_EQ(s[i].t - s[i - 1].t, 15000);
    ts_it_free(d);
}

static void
test_gap_filled_by_other_replica(void)
{
    /* A is down for [60s, 120s); B (shifted 5 s) covers it */
    ts_iterator *its[2] = {gen(0, 300000, 15000, 60000, 120000, 0, 1),
                           gen(5000, 305000, 15000, -1, -1, 0, 1)};
    ts_iterator *d = ts_query_dedup_iterators(its, 2, false);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    /* the switch costs at most the penalty (2x the last gap) plus the phase
     * shift: never a hole longer than 3 scrape intervals (far below the 5m lookback) */
    for (size_t i = 1; i < n; i++)
        T_TRUE(s[i].t - s[i - 1].t <= 45000);
    /* strictly increasing timestamps */
    for (size_t i = 1; i < n; i++)
        T_TRUE(s[i].t > s[i - 1].t);
    /* samples from inside A's gap came from B (t % 15000 == 5000) */
    int from_b = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].t > 60000 && s[i].t < 120000) {
            T_EQ(s[i].t % 15000, 5000);
            from_b++;
        }
    T_TRUE(from_b >= 3);
    T_TRUE(s[n - 1].t >= 300000);
    ts_it_free(d);
}

static void
test_counter_never_goes_down(void)
{
    /* A: counter 1000 + 10/scrape, dies at 60s.  B restarted: counts from 0. */
    ts_iterator *its[2] = {gen(0, 45000, 15000, -1, -1, 1000, 10),
                           gen(3000, 300000, 15000, -1, -1, 0, 10)};
    ts_iterator *d = ts_query_dedup_iterators(its, 2, true);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    T_TRUE(n > 10);
    for (size_t i = 1; i < n; i++)
        T_TRUE(s[i].v >= s[i - 1].v);
    ts_it_free(d);
    /* without counter mode the raw (lower) values of B show */
    ts_iterator *its2[2] = {gen(0, 45000, 15000, -1, -1, 1000, 10),
                            gen(3000, 300000, 15000, -1, -1, 0, 10)};
    d = ts_query_dedup_iterators(its2, 2, false);
    n = drain(d, s, 64);
    bool went_down = false;
    for (size_t i = 1; i < n; i++)
        went_down |= s[i].v < s[i - 1].v;
    T_TRUE(went_down);
    ts_it_free(d);
    T_TRUE(ts_query_dedup_is_counter_func("rate"));
    T_FALSE(ts_query_dedup_is_counter_func("avg_over_time"));
    T_FALSE(ts_query_dedup_is_counter_func(NULL));
}

static void
test_three_replicas_and_seek(void)
{
    ts_iterator *its[3] = {gen(0, 100000, 10000, 20000, 80000, 0, 1),
                           gen(0, 100000, 10000, 0, 50000, 0, 1),
                           gen(0, 100000, 10000, -1, -1, 0, 1)};
    ts_iterator *d = ts_query_dedup_iterators(its, 3, false);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    /* each replica has a long gap, but together they cover the whole range:
     * increasing, on the 10 s grid, no hole longer than 3 intervals, to the end */
    T_TRUE(n >= 8);
    for (size_t i = 0; i < n; i++)
        T_EQ(s[i].t % 10000, 0);
    for (size_t i = 1; i < n; i++)
        T_TRUE(s[i].t > s[i - 1].t && s[i].t - s[i - 1].t <= 30000);
    T_EQ(s[0].t, 0);
    T_EQ(s[n - 1].t, 100000);
    ts_it_free(d);
    ts_iterator *its2[2] = {gen(0, 100000, 10000, -1, -1, 0, 1),
                            gen(0, 100000, 10000, -1, -1, 0, 1)};
    d = ts_query_dedup_iterators(its2, 2, false);
    T_EQ(ts_it_seek(d, 35000), TS_VAL_FLOAT);
    int64_t t;
    double v;
    ts_it_at(d, &t, &v);
    T_EQ(t, 40000);
    T_EQ(ts_it_seek(d, 10000), TS_VAL_FLOAT); /* never backwards */
    ts_it_at(d, &t, &v);
    T_EQ(t, 40000);
    T_EQ(ts_it_next(d), TS_VAL_FLOAT);
    ts_it_at(d, &t, &v);
    T_EQ(t, 50000);
    T_EQ(ts_it_seek(d, 1000000), TS_VAL_NONE);
    ts_it_free(d);
}

static void
test_stale_marker_of_one_replica_is_skipped(void)
{
    /* A scrapes until 10 s and then writes a stale marker (its target moved
     * away); B has the target all along, 300 ms later */
    vit *a = (vit *)gen(0, 10000, 1000, -1, -1, 1, 0);
    a->s = ts_realloc(a->s, (a->n + 1) * sizeof(ts_sample));
    a->s[a->n++] = (ts_sample){11000, ts_stale_nan()};
    ts_iterator *its[2] = {&a->base, gen(300, 20300, 1000, -1, -1, 1, 0)};
    ts_iterator *d = ts_query_dedup_iterators(its, 2, false);
    ts_sample s[64];
    size_t n = drain(d, s, 64);
    for (size_t i = 0; i < n; i++)
        T_FALSE(ts_is_stale_nan(s[i].v));
    /* at the hand-over B resumes after the usual penalty (2 x 1 s) */
    for (size_t i = 1; i < n; i++)
        T_TRUE(s[i].t - s[i - 1].t <= 2300);
    T_EQ(s[n - 1].t, 20300);
    ts_it_free(d);
    /* both replicas go stale: the series ends with a stale marker */
    vit *x = (vit *)gen(0, 5000, 1000, -1, -1, 1, 0),
        *y = (vit *)gen(300, 5300, 1000, -1, -1, 1, 0);
    x->s = ts_realloc(x->s, (x->n + 1) * sizeof(ts_sample));
    x->s[x->n++] = (ts_sample){6000, ts_stale_nan()};
    y->s = ts_realloc(y->s, (y->n + 1) * sizeof(ts_sample));
    y->s[y->n++] = (ts_sample){6300, ts_stale_nan()};
    ts_iterator *its2[2] = {&x->base, &y->base};
    d = ts_query_dedup_iterators(its2, 2, false);
    n = drain(d, s, 64);
    T_TRUE(n > 0 && ts_is_stale_nan(s[n - 1].v));
    ts_it_free(d);
}

static void
test_one_replica_passthrough(void)
{
    ts_iterator *its[1] = {gen(0, 30000, 15000, -1, -1, 0, 1)};
    ts_iterator *d = ts_query_dedup_iterators(its, 1, false);
    T_TRUE(d == its[0]);
    ts_it_free(d);
}

T_MAIN({"identical_replicas", test_identical_replicas},
       {"phase_shifted_not_interleaved", test_phase_shifted_not_interleaved},
       {"gap_filled_by_other_replica", test_gap_filled_by_other_replica},
       {"counter_never_goes_down", test_counter_never_goes_down},
       {"three_replicas_and_seek", test_three_replicas_and_seek},
       {"stale_marker_of_one_replica_is_skipped", test_stale_marker_of_one_replica_is_skipped},
       {"one_replica_passthrough", test_one_replica_passthrough})
