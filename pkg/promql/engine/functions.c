/*
 * PromQL functions (Prometheus 2.42 promql/functions.go).
 *
 * One switch over the parser's function ids.  Functions over range vectors
 * evaluate their range argument (matrix selector or subquery) into windows
 * and apply a kernel from kernels.c to each series; element-wise functions
 * map over an instant vector.  Except for last_over_time, label_replace,
 * label_join, sort and sort_desc, results drop the metric name.  Every
 * vector result is checked for duplicate label sets, as Prometheus'
 * rangeEval does ("vector cannot contain metrics with the same labelset").
 *
 * Native-histogram functions (histogram_count/sum/fraction) see only float
 * samples here, which they ignore, so they return empty vectors.
 */
#include "pkg/promql/engine/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/labels/regex.h"
#include "pkg/promql/engine/kernels.h"
#include "pkg/util/buf.h"
#include "pkg/util/floatfmt.h"

/* Go's math.Max / math.Min: infinities win over NaN, NaN wins over numbers. */
static double
go_max(double a, double b)
{
    if ((isinf(a) && a > 0) || (isinf(b) && b > 0))
        return INFINITY;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static double
go_min(double a, double b)
{
    if ((isinf(a) && a < 0) || (isinf(b) && b < 0))
        return -INFINITY;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static double
scalar_arg(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    return ts__eval(e, x, t).scalar;
}

static const char *
string_arg(const ts_promql_expr *x)
{
    x = ts__unwrap(x);
    return x->kind == TS_PROMQL_STRING ? x->u.string.p : "";
}

static ts__value
finish(ts__evaluator *e, ts__vector_elem *out, size_t n)
{
    ts__check_dup_labels(e, out, n);
    return ts__value_vector(out, n);
}

/* ------------------------------------------------------ element-wise math */

static double
apply_math(ts_promql_func_id id, double v)
{
    switch (id) {
    case TS_PROMQL_FN_ABS: return fabs(v);
    case TS_PROMQL_FN_CEIL: return ceil(v);
    case TS_PROMQL_FN_FLOOR: return floor(v);
    case TS_PROMQL_FN_EXP: return exp(v);
    case TS_PROMQL_FN_SQRT: return sqrt(v);
    case TS_PROMQL_FN_LN: return log(v);
    case TS_PROMQL_FN_LOG2: return log2(v);
    case TS_PROMQL_FN_LOG10: return log10(v);
    case TS_PROMQL_FN_SGN: return v > 0 ? 1 : v < 0 ? -1 : v;
    case TS_PROMQL_FN_ACOS: return acos(v);
    case TS_PROMQL_FN_ACOSH: return acosh(v);
    case TS_PROMQL_FN_ASIN: return asin(v);
    case TS_PROMQL_FN_ASINH: return asinh(v);
    case TS_PROMQL_FN_ATAN: return atan(v);
    case TS_PROMQL_FN_ATANH: return atanh(v);
    case TS_PROMQL_FN_COS: return cos(v);
    case TS_PROMQL_FN_COSH: return cosh(v);
    case TS_PROMQL_FN_SIN: return sin(v);
    case TS_PROMQL_FN_SINH: return sinh(v);
    case TS_PROMQL_FN_TAN: return tan(v);
    case TS_PROMQL_FN_TANH: return tanh(v);
    case TS_PROMQL_FN_DEG: return v * 180 / M_PI;
    case TS_PROMQL_FN_RAD: return v * M_PI / 180;
    default: return NAN;
    }
}

static ts__value
map_vector(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    ts__value in = ts__eval(e, c->args[0], t);
    ts_promql_func_id id = c->func->id;
    double p1 = 0, p2 = 0;
    if (id == TS_PROMQL_FN_ROUND)
        p1 = c->nargs > 1 ? scalar_arg(e, c->args[1], t) : 1;
    if (id == TS_PROMQL_FN_CLAMP) {
        p1 = scalar_arg(e, c->args[1], t);
        p2 = scalar_arg(e, c->args[2], t);
        if (p2 < p1)
            return ts__value_vector(NULL, 0);
    }
    if (id == TS_PROMQL_FN_CLAMP_MIN || id == TS_PROMQL_FN_CLAMP_MAX)
        p1 = scalar_arg(e, c->args[1], t);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < in.n; i++) {
        double v = in.vec[i].v, r;
        switch (id) {
        case TS_PROMQL_FN_ROUND: {
            double inv = 1.0 / p1;
            r = floor(v * inv + 0.5) / inv;
            break;
        }
        case TS_PROMQL_FN_CLAMP: r = go_max(p1, go_min(p2, v)); break;
        case TS_PROMQL_FN_CLAMP_MIN: r = go_max(p1, v); break;
        case TS_PROMQL_FN_CLAMP_MAX: r = go_min(p1, v); break;
        default: r = apply_math(id, v);
        }
        out[i] = (ts__vector_elem){ts__drop_name(e, in.vec[i].l), r, t};
    }
    return finish(e, out, in.n);
}

/* ------------------------------------------------------------ date/time */

static double
date_part(ts_promql_func_id id, double secs)
{
    time_t tt = (time_t)(int64_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return NAN;
    switch (id) {
    case TS_PROMQL_FN_DAY_OF_MONTH: return tm.tm_mday;
    case TS_PROMQL_FN_DAY_OF_WEEK: return tm.tm_wday;
    case TS_PROMQL_FN_DAY_OF_YEAR: return tm.tm_yday + 1;
    case TS_PROMQL_FN_HOUR: return tm.tm_hour;
    case TS_PROMQL_FN_MINUTE: return tm.tm_min;
    case TS_PROMQL_FN_MONTH: return tm.tm_mon + 1;
    case TS_PROMQL_FN_YEAR: return tm.tm_year + 1900;
    case TS_PROMQL_FN_DAYS_IN_MONTH: {
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return tm.tm_mon == 1 && leap ? 29 : days[tm.tm_mon];
    }
    default: return NAN;
    }
}

static ts__value
date_fn(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    ts_promql_func_id id = c->func->id;
    if (c->nargs == 0) {
        ts__vector_elem *out = ts_arena_alloc(e->sa, sizeof(ts__vector_elem));
        /* Prometheus truncates the evaluation time to whole seconds. */
        out[0] = (ts__vector_elem){ts_labels_empty(), date_part(id, (double)(t / 1000)), t};
        return ts__value_vector(out, 1);
    }
    ts__value in = ts__eval(e, c->args[0], t);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < in.n; i++)
        out[i] = (ts__vector_elem){ts__drop_name(e, in.vec[i].l), date_part(id, in.vec[i].v), t};
    return finish(e, out, in.n);
}

/* ---------------------------------------------------------- range functions */

static ts__value
range_fn(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    ts_promql_func_id id = c->func->id;
    size_t argi = id == TS_PROMQL_FN_QUANTILE_OVER_TIME ? 1 : 0;
    double p1 = 0, p2 = 0;
    if (id == TS_PROMQL_FN_QUANTILE_OVER_TIME)
        p1 = scalar_arg(e, c->args[0], t);
    if (id == TS_PROMQL_FN_PREDICT_LINEAR)
        p1 = scalar_arg(e, c->args[1], t);
    if (id == TS_PROMQL_FN_HOLT_WINTERS) {
        p1 = scalar_arg(e, c->args[1], t);
        p2 = scalar_arg(e, c->args[2], t);
    }
    ts__value m = ts__eval_range_arg(e, c->args[argi], t);
    if (id == TS_PROMQL_FN_HOLT_WINTERS && m.n > 0) {
        /* Checked only when there is a series to smooth, as Prometheus checks
         * inside the per-series call. */
        if (p1 <= 0 || p1 >= 1)
            ts__eval_fail(e, TS_EINVAL, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f",
                          p1);
        if (p2 <= 0 || p2 >= 1)
            ts__eval_fail(e, TS_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f", p2);
    }
    ts__vector_elem *out = ts_arena_alloc(e->sa, (m.n + 1) * sizeof(ts__vector_elem));
    double range_s = ts__range_seconds(m.range_ms); /* the same for every series of the step */
    size_t k = 0;
    for (size_t i = 0; i < m.n; i++) {
        const ts_sample *s = m.mat[i].s;
        size_t n = m.mat[i].n;
        double r = 0;
        bool ok = true;
        switch (id) {
        case TS_PROMQL_FN_RATE:
        case TS_PROMQL_FN_INCREASE:
        case TS_PROMQL_FN_DELTA:
            ok = ts__extrapolated_rate(s, n, m.range_end - m.range_ms, m.range_end, range_s,
                                       id != TS_PROMQL_FN_DELTA, id == TS_PROMQL_FN_RATE, &r);
            break;
        case TS_PROMQL_FN_IRATE:
        case TS_PROMQL_FN_IDELTA: ok = ts__instant_value(s, n, id == TS_PROMQL_FN_IRATE, &r); break;
        case TS_PROMQL_FN_DERIV: {
            double icpt;
            ok = ts__linear_regression(s, n, s[0].t, &r, &icpt);
            break;
        }
        case TS_PROMQL_FN_PREDICT_LINEAR: {
            double slope, icpt;
            ok = ts__linear_regression(s, n, t, &slope, &icpt);
            r = icpt + slope * p1;
            break;
        }
        case TS_PROMQL_FN_HOLT_WINTERS: ok = ts__holt_winters(s, n, p1, p2, &r); break;
        case TS_PROMQL_FN_CHANGES: r = ts__changes(s, n); break;
        case TS_PROMQL_FN_RESETS: r = ts__resets(s, n); break;
        case TS_PROMQL_FN_AVG_OVER_TIME: r = ts__avg_over_time(s, n); break;
        case TS_PROMQL_FN_SUM_OVER_TIME: r = ts__sum_kahan(s, n); break;
        case TS_PROMQL_FN_COUNT_OVER_TIME: r = (double)n; break;
        case TS_PROMQL_FN_MIN_OVER_TIME: r = ts__min_over_time(s, n); break;
        case TS_PROMQL_FN_MAX_OVER_TIME: r = ts__max_over_time(s, n); break;
        case TS_PROMQL_FN_LAST_OVER_TIME: r = s[n - 1].v; break;
        case TS_PROMQL_FN_PRESENT_OVER_TIME: r = 1; break;
        case TS_PROMQL_FN_STDVAR_OVER_TIME: r = ts__stdvar_over_time(s, n); break;
        case TS_PROMQL_FN_STDDEV_OVER_TIME: r = sqrt(ts__stdvar_over_time(s, n)); break;
        case TS_PROMQL_FN_QUANTILE_OVER_TIME: {
            double *vals = ts_arena_alloc(e->sa, n * sizeof(double));
            for (size_t j = 0; j < n; j++)
                vals[j] = s[j].v;
            r = ts__quantile(p1, vals, n);
            break;
        }
        default: ok = false;
        }
        if (!ok)
            continue;
        const ts_labels *l;
        if (id == TS_PROMQL_FN_LAST_OVER_TIME)
            l = m.mat[i].l;
        else if (m.mat[i].src)
            l = ts__series_dropped(e, m.mat[i].src);
        else
            l = ts__drop_name(e, m.mat[i].l);
        out[k++] = (ts__vector_elem){l, r, t};
    }
    /* Windows of one selector's series, named without __name__: distinct
     * whenever the selector's series are (checked once per query). */
    if (m.sel && id != TS_PROMQL_FN_LAST_OVER_TIME && ts__sel_dropped_distinct(e, m.sel))
        return ts__value_vector(out, k);
    return finish(e, out, k);
}

/* --------------------------------------------------------------- absent */

/* Labels of absent()'s result: the selector's equality matchers, minus names
 * that appear in more than one matcher or in a non-equality matcher. */
static const ts_labels *
absent_labels(ts__evaluator *e, const ts_promql_expr *arg)
{
    arg = ts__unwrap(arg);
    if (arg->kind == TS_PROMQL_MATRIX_SELECTOR)
        arg = arg->u.ms.vs;
    if (arg->kind != TS_PROMQL_VECTOR_SELECTOR)
        return ts_labels_empty();
    const ts_promql_vector_selector *s = &arg->u.vs;
    const ts_labels *l = ts_labels_empty();
    for (size_t i = 0; i < s->nmatchers; i++) {
        const ts_matcher *m = s->matchers[i];
        if (strcmp(m->name, TS_METRIC_NAME) == 0)
            continue;
        if (m->type == TS_MATCH_EQ && !ts_labels_has(l, m->name))
            l = ts__labels_set(e->sa, l, m->name, m->value);
    }
    for (size_t i = 0; i < s->nmatchers; i++) {
        const ts_matcher *m = s->matchers[i];
        if (strcmp(m->name, TS_METRIC_NAME) == 0)
            continue;
        bool first_eq = false;
        if (m->type == TS_MATCH_EQ) {
            first_eq = true;
            for (size_t j = 0; j < i; j++)
                if (strcmp(s->matchers[j]->name, m->name) == 0 &&
                    s->matchers[j]->type == TS_MATCH_EQ)
                    first_eq = false;
        }
        if (!first_eq)
            l = ts__labels_set(e->sa, l, m->name, "");
    }
    return l;
}

/* --------------------------------------------------------------- labels */

static ts__value
label_replace(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    ts__value in = ts__eval(e, c->args[0], t);
    const char *dst = string_arg(c->args[1]);
    const char *repl = string_arg(c->args[2]);
    const char *src = string_arg(c->args[3]);
    const char *re_s = string_arg(c->args[4]);
    ts_regex *re = NULL;
    ts_error rerr = {0};
    if (ts_regex_new(&re, re_s, &rerr) != 0)
        ts__eval_fail(e, TS_EINVAL, "invalid regular expression in label_replace(): %s", re_s);
    if (!ts_label_name_valid(dst, strlen(dst))) {
        ts_regex_free(re);
        ts__eval_fail(e, TS_EINVAL, "invalid destination label name in label_replace(): %s", dst);
    }
    ts_buf b;
    ts_buf_init(&b, 0);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < in.n; i++) {
        const ts_labels *l = in.vec[i].l;
        const char *sv = ts_labels_get(l, src);
        if (!sv)
            sv = "";
        ts_regex_match mt;
        if (ts_regex_match_str(re, sv, strlen(sv), &mt)) {
            ts_buf_reset(&b);
            ts_regex_expand(re, repl, sv, &mt, &b);
            const char *nv = b.len ? ts_arena_strndup(e->sa, (const char *)b.p, b.len) : "";
            l = ts__labels_set(e->sa, l, dst, nv);
        }
        out[i] = (ts__vector_elem){l, in.vec[i].v, t};
    }
    ts_buf_fini(&b);
    ts_regex_free(re);
    return finish(e, out, in.n);
}

static ts__value
label_join(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    ts__value in = ts__eval(e, c->args[0], t);
    const char *dst = string_arg(c->args[1]);
    const char *sep = string_arg(c->args[2]);
    for (size_t j = 3; j < c->nargs; j++) {
        const char *src = string_arg(c->args[j]);
        if (!ts_label_name_valid(src, strlen(src)))
            ts__eval_fail(e, TS_EINVAL, "invalid source label name in label_join(): %s", src);
    }
    if (!ts_label_name_valid(dst, strlen(dst)))
        ts__eval_fail(e, TS_EINVAL, "invalid destination label name in label_join(): %s", dst);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
    size_t seplen = strlen(sep);
    for (size_t i = 0; i < in.n; i++) {
        const ts_labels *l = in.vec[i].l;
        size_t len = 0;
        for (size_t j = 3; j < c->nargs; j++) {
            const char *v = ts_labels_get(l, string_arg(c->args[j]));
            len += (v ? strlen(v) : 0) + seplen;
        }
        char *joined = ts_arena_alloc(e->sa, len + 1);
        size_t p = 0;
        for (size_t j = 3; j < c->nargs; j++) {
            if (j > 3) {
                memcpy(joined + p, sep, seplen);
                p += seplen;
            }
            const char *v = ts_labels_get(l, string_arg(c->args[j]));
            if (v) {
                memcpy(joined + p, v, strlen(v));
                p += strlen(v);
            }
        }
        joined[p] = 0;
        out[i] = (ts__vector_elem){ts__labels_set(e->sa, l, dst, joined), in.vec[i].v, t};
    }
    return finish(e, out, in.n);
}

/* ------------------------------------------------------ histogram_quantile */

typedef struct hgroup {
    const ts_labels *l;
    ts__bucket *b;
    size_t n, cap;
} hgroup;

static ts__value
histogram_quantile(ts__evaluator *e, const ts_promql_call *c, int64_t t)
{
    double q = scalar_arg(e, c->args[0], t);
    ts__value in = ts__eval(e, c->args[1], t);
    ts__hash_index map;
    ts__hash_index_init(&map, e->sa, in.n);
    hgroup *g = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(hgroup));
    size_t ng = 0;
    static char *const le[] = {"le"};
    for (size_t i = 0; i < in.n; i++) {
        const char *lev = ts_labels_get(in.vec[i].l, "le");
        double upper;
        if (!lev || ts_parse_float_go(lev, strlen(lev), &upper) != TS_OK)
            continue; /* no or malformed bucket label: skipped, as Prometheus does */
        const ts_labels *key = ts__labels_keep(e->sa, in.vec[i].l, le, 1, false);
        bool found;
        size_t *slot = ts__hash_index_put(&map, ts_labels_hash(key), &found);
        if (!found) {
            g[ng] = (hgroup){ts__labels_set(e->sa, key, TS_METRIC_NAME, ""), NULL, 0, 0};
            *slot = ++ng;
        }
        hgroup *h = &g[*slot - 1];
        if (h->n == h->cap) {
            size_t ncap = h->cap ? h->cap * 2 : 8;
            ts__bucket *nb = TS_ARENA_ARRAY(e->sa, ts__bucket, ncap);
            if (h->n)
                memcpy(nb, h->b, h->n * sizeof(*nb));
            h->b = nb;
            h->cap = ncap;
        }
        h->b[h->n++] = (ts__bucket){upper, in.vec[i].v};
    }
    ts__vector_elem *out = ts_arena_alloc(e->sa, (ng + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < ng; i++)
        out[i] = (ts__vector_elem){g[i].l, ts__bucket_quantile(q, g[i].b, g[i].n), t};
    return finish(e, out, ng);
}

/* ------------------------------------------------------------ sorting */

typedef struct sortel {
    ts__vector_elem v;
    size_t idx;
} sortel;

static int
cmp_sort_asc(const void *a, const void *b)
{
    const sortel *x = a, *y = b;
    bool xn = isnan(x->v.v), yn = isnan(y->v.v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v.v != y->v.v)
        return x->v.v < y->v.v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
cmp_sort_desc(const void *a, const void *b)
{
    const sortel *x = a, *y = b;
    bool xn = isnan(x->v.v), yn = isnan(y->v.v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v.v != y->v.v)
        return x->v.v > y->v.v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static ts__value
sort_fn(ts__evaluator *e, const ts_promql_call *c, int64_t t, bool desc)
{
    ts__value in = ts__eval(e, c->args[0], t);
    sortel *s = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(sortel));
    for (size_t i = 0; i < in.n; i++)
        s[i] = (sortel){in.vec[i], i};
    qsort(s, in.n, sizeof(sortel), desc ? cmp_sort_desc : cmp_sort_asc);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < in.n; i++) {
        out[i] = s[i].v;
        out[i].t = t;
    }
    return ts__value_vector(out, in.n);
}

/* ------------------------------------------------------------ dispatch */

ts__value
ts__eval_call(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_call *c = &x->u.call;
    ts_promql_func_id id = c->func->id;
    switch (id) {
    case TS_PROMQL_FN_ABS:
    case TS_PROMQL_FN_CEIL:
    case TS_PROMQL_FN_FLOOR:
    case TS_PROMQL_FN_EXP:
    case TS_PROMQL_FN_SQRT:
    case TS_PROMQL_FN_LN:
    case TS_PROMQL_FN_LOG2:
    case TS_PROMQL_FN_LOG10:
    case TS_PROMQL_FN_SGN:
    case TS_PROMQL_FN_ACOS:
    case TS_PROMQL_FN_ACOSH:
    case TS_PROMQL_FN_ASIN:
    case TS_PROMQL_FN_ASINH:
    case TS_PROMQL_FN_ATAN:
    case TS_PROMQL_FN_ATANH:
    case TS_PROMQL_FN_COS:
    case TS_PROMQL_FN_COSH:
    case TS_PROMQL_FN_SIN:
    case TS_PROMQL_FN_SINH:
    case TS_PROMQL_FN_TAN:
    case TS_PROMQL_FN_TANH:
    case TS_PROMQL_FN_DEG:
    case TS_PROMQL_FN_RAD:
    case TS_PROMQL_FN_ROUND:
    case TS_PROMQL_FN_CLAMP:
    case TS_PROMQL_FN_CLAMP_MIN:
    case TS_PROMQL_FN_CLAMP_MAX: return map_vector(e, c, t);
    case TS_PROMQL_FN_DAY_OF_MONTH:
    case TS_PROMQL_FN_DAY_OF_WEEK:
    case TS_PROMQL_FN_DAY_OF_YEAR:
    case TS_PROMQL_FN_DAYS_IN_MONTH:
    case TS_PROMQL_FN_HOUR:
    case TS_PROMQL_FN_MINUTE:
    case TS_PROMQL_FN_MONTH:
    case TS_PROMQL_FN_YEAR: return date_fn(e, c, t);
    case TS_PROMQL_FN_RATE:
    case TS_PROMQL_FN_INCREASE:
    case TS_PROMQL_FN_DELTA:
    case TS_PROMQL_FN_IRATE:
    case TS_PROMQL_FN_IDELTA:
    case TS_PROMQL_FN_DERIV:
    case TS_PROMQL_FN_PREDICT_LINEAR:
    case TS_PROMQL_FN_HOLT_WINTERS:
    case TS_PROMQL_FN_CHANGES:
    case TS_PROMQL_FN_RESETS:
    case TS_PROMQL_FN_AVG_OVER_TIME:
    case TS_PROMQL_FN_SUM_OVER_TIME:
    case TS_PROMQL_FN_COUNT_OVER_TIME:
    case TS_PROMQL_FN_MIN_OVER_TIME:
    case TS_PROMQL_FN_MAX_OVER_TIME:
    case TS_PROMQL_FN_LAST_OVER_TIME:
    case TS_PROMQL_FN_PRESENT_OVER_TIME:
    case TS_PROMQL_FN_STDVAR_OVER_TIME:
    case TS_PROMQL_FN_STDDEV_OVER_TIME:
    case TS_PROMQL_FN_QUANTILE_OVER_TIME: return range_fn(e, c, t);
    case TS_PROMQL_FN_TIME: return ts__value_scalar((double)t / 1000.0);
    case TS_PROMQL_FN_PI: return ts__value_scalar(M_PI);
    case TS_PROMQL_FN_SCALAR: {
        ts__value in = ts__eval(e, c->args[0], t);
        return ts__value_scalar(in.n == 1 ? in.vec[0].v : NAN);
    }
    case TS_PROMQL_FN_VECTOR: {
        ts__vector_elem *out = ts_arena_alloc(e->sa, sizeof(ts__vector_elem));
        out[0] = (ts__vector_elem){ts_labels_empty(), scalar_arg(e, c->args[0], t), t};
        return ts__value_vector(out, 1);
    }
    case TS_PROMQL_FN_TIMESTAMP: {
        /* On a plain selector, the samples' own timestamps; else the step. */
        bool own = ts__unwrap(c->args[0])->kind == TS_PROMQL_VECTOR_SELECTOR;
        ts__value in = ts__eval(e, c->args[0], t);
        ts__vector_elem *out = ts_arena_alloc(e->sa, (in.n + 1) * sizeof(ts__vector_elem));
        for (size_t i = 0; i < in.n; i++)
            out[i] = (ts__vector_elem){ts__drop_name(e, in.vec[i].l),
                                       (double)(own ? in.vec[i].t : t) / 1000.0, t};
        return finish(e, out, in.n);
    }
    case TS_PROMQL_FN_ABSENT: {
        ts__value in = ts__eval(e, c->args[0], t);
        if (in.n > 0)
            return ts__value_vector(NULL, 0);
        ts__vector_elem *out = ts_arena_alloc(e->sa, sizeof(ts__vector_elem));
        out[0] = (ts__vector_elem){absent_labels(e, c->args[0]), 1, t};
        return ts__value_vector(out, 1);
    }
    case TS_PROMQL_FN_ABSENT_OVER_TIME: {
        ts__value m = ts__eval_range_arg(e, c->args[0], t);
        if (m.n > 0)
            return ts__value_vector(NULL, 0);
        ts__vector_elem *out = ts_arena_alloc(e->sa, sizeof(ts__vector_elem));
        out[0] = (ts__vector_elem){absent_labels(e, c->args[0]), 1, t};
        return ts__value_vector(out, 1);
    }
    case TS_PROMQL_FN_LABEL_REPLACE: return label_replace(e, c, t);
    case TS_PROMQL_FN_LABEL_JOIN: return label_join(e, c, t);
    case TS_PROMQL_FN_HISTOGRAM_QUANTILE: return histogram_quantile(e, c, t);
    case TS_PROMQL_FN_HISTOGRAM_COUNT:
    case TS_PROMQL_FN_HISTOGRAM_SUM:
    case TS_PROMQL_FN_HISTOGRAM_FRACTION:
        (void)ts__eval(e, c->args[c->nargs - 1], t);
        return ts__value_vector(NULL, 0);
    case TS_PROMQL_FN_SORT: return sort_fn(e, c, t, false);
    case TS_PROMQL_FN_SORT_DESC: return sort_fn(e, c, t, true);
    case TS_PROMQL_FN__COUNT: break;
    }
    ts__eval_fail(e, TS_EINVAL, "unknown function %s", c->func->name);
}
