/* Tests of the chained merge over small in-memory series sets built here. */
#include "pkg/storage/merge.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

typedef struct vec_it {
    ts_iterator base;
    const ts_sample *s;
    size_t n, i;
    bool started;
} vec_it;

static ts_val_type
vi_next(ts_iterator *it)
{
    vec_it *v = (vec_it *)it;
    if (v->started)
        v->i++;
    v->started = true;
    return v->i < v->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static ts_val_type
vi_seek(ts_iterator *it, int64_t t)
{
    vec_it *v = (vec_it *)it;
    v->started = true;
    while (v->i < v->n && v->s[v->i].t < t)
        v->i++;
    return v->i < v->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static void
vi_at(const ts_iterator *it, int64_t *t, double *val)
{
    const vec_it *v = (const vec_it *)it;
    *t = v->s[v->i].t;
    *val = v->s[v->i].v;
}
static int
vi_err(const ts_iterator *it)
{
    return 0;
}
static void
vi_free(ts_iterator *it)
{
    ts_free(it);
}
static const ts_iterator_ops vi_ops = {vi_next, vi_seek, vi_at, vi_err, vi_free};

typedef struct vec_series {
    ts_series base;
    const ts_sample *s;
    size_t n;
} vec_series;

static ts_iterator *
vs_iter(ts_series *s)
{
    vec_series *vs = (vec_series *)s;
    vec_it *it = ts_calloc(1, sizeof(*it));
    it->base.ops = &vi_ops;
    it->s = vs->s;
    it->n = vs->n;
    return &it->base;
}
static const ts_series_ops vs_ops = {vs_iter, NULL};

typedef struct vec_set {
    ts_series_set base;
    vec_series *series;
    size_t n;
    ssize_t i;
} vec_set;

static bool
vset_next(ts_series_set *ss)
{
    vec_set *v = (vec_set *)ss;
    return (size_t)++v->i < v->n;
}
static ts_series *
vset_at(ts_series_set *ss)
{
    vec_set *v = (vec_set *)ss;
    return &v->series[v->i].base;
}
static void
vset_free(ts_series_set *ss)
{
    vec_set *v = (vec_set *)ss;
    for (size_t i = 0; i < v->n; i++)
        ts_labels_free((ts_labels *)v->series[i].base.labels);
    ts_free(v->series);
    ts_ss_free_warnings(ss);
    ts_free(v);
}
static const ts_series_set_ops vset_ops = {vset_next, vset_at, vset_free};

static vec_set *
vset_new(void)
{
    vec_set *v = ts_calloc(1, sizeof(*v));
    v->base.ops = &vset_ops;
    v->i = -1;
    return v;
}

static void
vset_add(vec_set *v, const char *job, const ts_sample *s, size_t n)
{
    v->series = ts_realloc(v->series, (v->n + 1) * sizeof(*v->series));
    vec_series *vs = &v->series[v->n++];
    vs->base.ops = &vs_ops;
    vs->base.labels = ts_labels_from_strings(2, "job", job);
    vs->s = s;
    vs->n = n;
}

static const ts_sample A1[] = {{1, 1}, {3, 3}, {5, 5}};
static const ts_sample A2[] = {{2, 20}, {3, 30}, {6, 60}};
static const ts_sample B1[] = {{10, 100}};
static const ts_sample C2[] = {{7, 7}};

static void
test_merge_sets(void)
{
    vec_set *s1 = vset_new(), *s2 = vset_new();
    vset_add(s1, "a", A1, 3);
    vset_add(s1, "b", B1, 1);
    vset_add(s2, "a", A2, 3);
    vset_add(s2, "c", C2, 1);
    ts_ss_add_warning(&s2->base, "store %s slow", "x");
    ts_series_set *sets[] = {&s1->base, &s2->base};
    ts_series_set *m = ts_merge_series_sets(sets, 2);
    T_EQ(m->nwarnings, 1);
    T_STREQ(m->warnings[0], "store x slow");

    const char *want_jobs[] = {"a", "b", "c"};
    int idx = 0;
    while (ts_ss_next(m)) {
        ts_series *s = ts_ss_at(m);
        T_TRUE(idx < 3);
        T_STREQ(ts_labels_get(s->labels, "job"), want_jobs[idx]);
        if (idx == 0) {
            /* union by time, first input wins at t=3 */
            const int64_t wt[] = {1, 2, 3, 5, 6};
            const double wv[] = {1, 20, 3, 5, 60};
            ts_iterator *it = s->ops->iterator(s);
            int k = 0;
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                T_TRUE(k < 5);
                T_EQ(t, wt[k]);
                T_FEQ(v, wv[k]);
                k++;
            }
            T_EQ(k, 5);
            ts_it_free(it);
            /* seek lands on the first sample >= t across inputs, and never goes back */
            it = s->ops->iterator(s);
            T_EQ(ts_it_seek(it, 4), TS_VAL_FLOAT);
            int64_t t;
            double v;
            ts_it_at(it, &t, &v);
            T_EQ(t, 5);
            T_EQ(ts_it_seek(it, 2), TS_VAL_FLOAT);
            ts_it_at(it, &t, &v);
            T_EQ(t, 5);
            T_EQ(ts_it_next(it), TS_VAL_FLOAT);
            ts_it_at(it, &t, &v);
            T_EQ(t, 6);
            T_EQ(ts_it_seek(it, 100), TS_VAL_NONE);
            ts_it_free(it);
        }
        idx++;
    }
    T_EQ(idx, 3);
    T_EQ(m->error.code, 0);
    ts_ss_free(m);
}

static void
test_sort_unique(void)
{
    const char *s[] = {"b", "a", "b", "c", "a"};
    size_t n = 5;
    ts_strs_sort_unique(s, &n);
    T_EQ(n, 3);
    T_STREQ(s[0], "a");
    T_STREQ(s[1], "b");
    T_STREQ(s[2], "c");
}

static void
test_stale_nan(void)
{
    double s = ts_stale_nan();
    T_TRUE(ts_is_stale_nan(s));
    T_TRUE(s != s);
    T_FALSE(ts_is_stale_nan(NAN));
}

T_MAIN({"merge_sets", test_merge_sets}, {"sort_unique", test_sort_unique},
       {"stale_nan", test_stale_nan})
