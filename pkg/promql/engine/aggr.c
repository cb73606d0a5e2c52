/*
 * Aggregations (Prometheus 2.42 engine.go: aggregation()).
 *
 * Elements are grouped by their label set reduced to the by() labels (or
 * stripped of the without() labels and __name__); groups are output in the
 * order they are first seen.  topk/bottomk keep whole input elements
 * (metric name included), sorted within each group with NaN last; the
 * others produce one element per group with the group's labels.
 * count_values adds its label (the value formatted as Go's
 * FormatFloat(v, 'f', -1)) before grouping.  avg and stddev/stdvar use
 * incremental means, as Prometheus does, so large inputs do not overflow.
 */
#include "pkg/promql/engine/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/engine/kernels.h"
#include "pkg/util/floatfmt.h"

typedef struct group {
    const ts_labels *l;
    double value, mean;
    double count;
    bool has_value;
    size_t *members; /* topk/bottomk/quantile: indexes into the input */
    size_t nmembers, cap;
} group;

/* Grouping state of one aggregation node, kept for the whole query
 * (expr->aux, query arena; for count_values, whose inputs change at every
 * step, a fresh one per step in the scratch arena).  Every distinct group
 * label set gets a group id once; a step then finds an input's group by the
 * input's label-set hash (as Prometheus groups by a 64-bit hash), first
 * through a hint per input position (a range query sees the same series in
 * the same order at every step, so this is one sequential comparison), else
 * through the map.  The step's group for an id is in step_slot, valid when
 * step_stamp matches the current stamp, so nothing is cleared per step. */
typedef struct agg_cache {
    ts_arena *a;
    ts__hash_index in;    /* input label-set hash -> group id + 1 */
    ts__hash_index out;   /* group label-set hash -> group id + 1 */
    const ts_labels **gl; /* group id -> group labels (in a) */
    size_t *step_slot;    /* group id -> index + 1 into this step's groups */
    uint64_t *step_stamp; /* group id -> stamp of the step that set step_slot */
    size_t ngid, gcap, nin;
    uint64_t *hint_key; /* input position -> label-set hash seen there */
    size_t *hint_gid;   /* input position -> its group id + 1 (0 = none) */
    size_t nhint;
    uint64_t stamp;
} agg_cache;

static agg_cache *
agg_cache_new(ts_arena *a)
{
    agg_cache *c = TS_ARENA_NEW(a, agg_cache);
    c->a = a;
    ts__hash_index_init(&c->in, a, 64);
    ts__hash_index_init(&c->out, a, 16);
    return c;
}

static const ts_labels *group_labels(ts__evaluator *e, const ts_labels *l,
                                     const ts_promql_aggregate *a, const char *extra);

/* The group id of input labels l (hash h), deriving its group labels when
 * this input is new. */
static size_t
agg_group_id(ts__evaluator *e, agg_cache *c, const ts_labels *l, uint64_t h,
             const ts_promql_aggregate *a, const char *extra)
{
    size_t *slot = ts__hash_index_get(&c->in, h);
    if (slot)
        return *slot - 1;
    const ts_labels *gl = group_labels(e, l, a, extra);
    bool found;
    size_t *oslot = ts__hash_index_put(&c->out, ts_labels_hash(gl), &found);
    size_t gid;
    if (found) {
        gid = *oslot - 1;
    } else {
        if (c->ngid == c->gcap) {
            size_t ncap = c->gcap ? c->gcap * 2 : 16;
            const ts_labels **ngl = TS_ARENA_ARRAY(c->a, const ts_labels *, ncap);
            size_t *nslot = TS_ARENA_ARRAY(c->a, size_t, ncap);
            uint64_t *nstamp = TS_ARENA_ARRAY(c->a, uint64_t, ncap);
            if (c->ngid) {
                memcpy(ngl, c->gl, c->ngid * sizeof(*ngl));
                memcpy(nslot, c->step_slot, c->ngid * sizeof(*nslot));
                memcpy(nstamp, c->step_stamp, c->ngid * sizeof(*nstamp));
            }
            c->gl = ngl;
            c->step_slot = nslot;
            c->step_stamp = nstamp;
            c->gcap = ncap;
        }
        gid = c->ngid++;
        c->gl[gid] = c->a == e->sa ? gl : ts_labels_dup_arena(c->a, gl);
        *oslot = gid + 1;
    }
    if (c->nin < TS__LABEL_CACHE_MAX) {
        bool f;
        *ts__hash_index_put(&c->in, h, &f) = gid + 1;
        c->nin++;
    }
    return gid;
}

static const ts_labels *
group_labels(ts__evaluator *e, const ts_labels *l, const ts_promql_aggregate *a, const char *extra)
{
    if (a->without) {
        const ts_labels *r = ts__labels_keep(e->sa, l, a->grouping, a->ngrouping, false);
        return ts__labels_set(e->sa, r, TS_METRIC_NAME, "");
    }
    if (!extra)
        return ts__labels_keep(e->sa, l, a->grouping, a->ngrouping, true);
    char **names = ts_arena_alloc(e->sa, (a->ngrouping + 1) * sizeof(char *));
    for (size_t i = 0; i < a->ngrouping; i++)
        names[i] = a->grouping[i];
    names[a->ngrouping] = (char *)extra;
    return ts__labels_keep(e->sa, l, names, a->ngrouping + 1, true);
}

static void
add_member(ts__evaluator *e, group *g, size_t idx)
{
    if (g->nmembers == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 4;
        size_t *nm = TS_ARENA_ARRAY(e->sa, size_t, ncap);
        if (g->nmembers)
            memcpy(nm, g->members, g->nmembers * sizeof(size_t));
        g->members = nm;
        g->cap = ncap;
    }
    g->members[g->nmembers++] = idx;
}

/* Sorting members for topk (desc) / bottomk (asc), NaN last, stable. */
typedef struct ranked {
    double v;
    size_t idx;
} ranked;

static int
cmp_top(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
cmp_bottom(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

ts__value
ts__eval_aggregate(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_aggregate *a = &x->u.agg;
    ts_promql_agg_op op = a->op;
    double param = 0;
    const char *label = NULL;
    long long k = 0;
    if (a->param) {
        ts__value p = ts__eval(e, a->param, t);
        if (op == TS_PROMQL_AGG_COUNT_VALUES) {
            label = p.str;
            if (!label || !ts_label_name_valid(label, strlen(label)))
                ts__eval_fail(e, TS_EINVAL, "invalid label name \"%s\"", label ? label : "");
        } else {
            param = p.scalar;
        }
    }
    if (op == TS_PROMQL_AGG_TOPK || op == TS_PROMQL_AGG_BOTTOMK) {
        if (!(param >= -9223372036854775808.0 && param <= 9223372036854775807.0)) {
            char num[64];
            ts_format_float_go(param, 'g', num, sizeof(num)); /* Go's %v */
            ts__eval_fail(e, TS_EINVAL, "Scalar value %s overflows int64", num);
        }
        k = (long long)param;
        if (k < 1)
            return ts__value_vector(NULL, 0);
    }
    ts__value in = ts__eval(e, a->expr, t);

    agg_cache *gc;
    if (op == TS_PROMQL_AGG_COUNT_VALUES) {
        gc = agg_cache_new(e->sa);
    } else {
        gc = x->aux;
        if (!gc) {
            gc = agg_cache_new(e->qa);
            ((ts_promql_expr *)x)->aux = gc; /* aux is the engine's to use */
        }
        if (gc->nhint < in.n && in.n <= TS__LABEL_CACHE_MAX) {
            uint64_t *nk = TS_ARENA_ARRAY(e->qa, uint64_t, in.n);
            size_t *nh = TS_ARENA_ARRAY(e->qa, size_t, in.n);
            if (gc->nhint) {
                memcpy(nk, gc->hint_key, gc->nhint * sizeof(*nk));
                memcpy(nh, gc->hint_gid, gc->nhint * sizeof(*nh));
            }
            gc->hint_key = nk;
            gc->hint_gid = nh;
            gc->nhint = in.n;
        }
    }
    uint64_t stamp = ++gc->stamp;
    group *groups = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(group));
    size_t ng = 0;
    char fbuf[400];
    for (size_t i = 0; i < in.n; i++) {
        const ts_labels *l = in.vec[i].l;
        double v = in.vec[i].v;
        if (op == TS_PROMQL_AGG_COUNT_VALUES) {
            ts_format_float_go(v, 'f', fbuf, sizeof(fbuf));
            l = ts__labels_set(e->sa, l, label, fbuf);
        }
        uint64_t h = ts_labels_hash(l);
        size_t gid;
        if (i < gc->nhint && gc->hint_gid[i] && gc->hint_key[i] == h) {
            gid = gc->hint_gid[i] - 1;
        } else {
            gid = agg_group_id(e, gc, l, h, a, label);
            if (i < gc->nhint) {
                gc->hint_key[i] = h;
                gc->hint_gid[i] = gid + 1;
            }
        }
        if (gc->step_stamp[gid] != stamp) {
            gc->step_stamp[gid] = stamp;
            group *fresh = &groups[ng];
            memset(fresh, 0, sizeof(*fresh));
            fresh->l = gc->gl[gid];
            gc->step_slot[gid] = ++ng;
        }
        group *g = &groups[gc->step_slot[gid] - 1];
        g->count++;
        switch (op) {
        case TS_PROMQL_AGG_SUM: g->value += v; break;
        case TS_PROMQL_AGG_AVG:
            if (g->count == 1) {
                g->mean = v;
                break;
            }
            if (isinf(g->mean)) {
                if (isinf(v) && (g->mean > 0) == (v > 0))
                    break;
                if (!isinf(v) && !isnan(v))
                    break;
            }
            g->mean += v / g->count - g->mean / g->count;
            break;
        case TS_PROMQL_AGG_COUNT:
        case TS_PROMQL_AGG_COUNT_VALUES:
        case TS_PROMQL_AGG_GROUP: break;
        case TS_PROMQL_AGG_MIN:
            if (!g->has_value || g->value > v || isnan(g->value))
                g->value = v;
            break;
        case TS_PROMQL_AGG_MAX:
            if (!g->has_value || g->value < v || isnan(g->value))
                g->value = v;
            break;
        case TS_PROMQL_AGG_STDDEV:
        case TS_PROMQL_AGG_STDVAR: {
            if (g->count == 1) {
                /* The first element starts the group (so one Inf gives 0, not NaN). */
                g->mean = v;
                g->value = 0;
                break;
            }
            double delta = v - g->mean;
            g->mean += delta / g->count;
            g->value += delta * (v - g->mean);
            break;
        }
        case TS_PROMQL_AGG_TOPK:
        case TS_PROMQL_AGG_BOTTOMK:
        case TS_PROMQL_AGG_QUANTILE: add_member(e, g, i); break;
        default: break;
        }
        g->has_value = true;
    }

    ts__vector_elem *out;
    size_t k_out = 0;
    if (op == TS_PROMQL_AGG_TOPK || op == TS_PROMQL_AGG_BOTTOMK) {
        out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
        for (size_t gi = 0; gi < ng; gi++) {
            group *g = &groups[gi];
            ranked *r = ts_arena_alloc(e->sa, g->nmembers * sizeof(ranked));
            for (size_t j = 0; j < g->nmembers; j++)
                r[j] = (ranked){in.vec[g->members[j]].v, g->members[j]};
            qsort(r, g->nmembers, sizeof(ranked), op == TS_PROMQL_AGG_TOPK ? cmp_top : cmp_bottom);
            size_t take = (long long)g->nmembers < k ? g->nmembers : (size_t)k;
            for (size_t j = 0; j < take; j++)
                out[k_out++] = (ts__vector_elem){in.vec[r[j].idx].l, in.vec[r[j].idx].v, t};
        }
        return ts__value_vector(out, k_out);
    }
    out = ts_arena_alloc(e->sa, (ng + 1) * sizeof(ts__vector_elem));
    for (size_t gi = 0; gi < ng; gi++) {
        group *g = &groups[gi];
        double v = 0;
        switch (op) {
        case TS_PROMQL_AGG_SUM:
        case TS_PROMQL_AGG_MIN:
        case TS_PROMQL_AGG_MAX: v = g->value; break;
        case TS_PROMQL_AGG_AVG: v = g->mean; break;
        case TS_PROMQL_AGG_COUNT:
        case TS_PROMQL_AGG_COUNT_VALUES: v = g->count; break;
        case TS_PROMQL_AGG_GROUP: v = 1; break;
        case TS_PROMQL_AGG_STDVAR: v = g->value / g->count; break;
        case TS_PROMQL_AGG_STDDEV: v = sqrt(g->value / g->count); break;
        case TS_PROMQL_AGG_QUANTILE: {
            double *vals = ts_arena_alloc(e->sa, (g->nmembers + 1) * sizeof(double));
            for (size_t j = 0; j < g->nmembers; j++)
                vals[j] = in.vec[g->members[j]].v;
            v = ts__quantile(param, vals, g->nmembers);
            break;
        }
        default: break;
        }
        out[k_out++] = (ts__vector_elem){g->l, v, t};
    }
    return ts__value_vector(out, k_out);
}
