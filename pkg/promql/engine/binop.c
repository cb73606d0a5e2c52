/*
 * Binary operators (Prometheus 2.42 engine.go: VectorBinop, VectorAnd/Or/
 * Unless, VectorscalarBinop, scalarBinop).
 *
 *  - scalar op scalar -> scalar (comparisons only with `bool`: 0 or 1).
 *  - vector op scalar / scalar op vector: applied per element; arithmetic
 *    drops the metric name; a comparison filters (keeping the vector's own
 *    value and name) unless `bool`, which yields 0/1 and drops the name.
 *  - vector op vector: elements are matched by a signature (the values of
 *    the on() labels, or of all labels except the ignoring() ones and
 *    __name__).  The "one" side must have unique signatures; one-to-one
 *    matching must not match an element twice; many-to-one results must be
 *    unique per signature.  Errors use Prometheus' texts.
 *  - and / or / unless: set operations on signatures.
 */
#include "pkg/promql/engine/internal.h"

#include <math.h>
#include <string.h>

/* Applies op to (l, r).  For comparisons *keep says whether it holds and
 * the result is l. */
static double
elem_op(ts_promql_op op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case TS_PROMQL_OP_ADD: return l + r;
    case TS_PROMQL_OP_SUB: return l - r;
    case TS_PROMQL_OP_MUL: return l * r;
    case TS_PROMQL_OP_DIV: return l / r;
    case TS_PROMQL_OP_POW: return pow(l, r);
    case TS_PROMQL_OP_MOD: return fmod(l, r);
    case TS_PROMQL_OP_ATAN2: return atan2(l, r);
    case TS_PROMQL_OP_EQL: *keep = l == r; return l;
    case TS_PROMQL_OP_NEQ: *keep = l != r; return l;
    case TS_PROMQL_OP_GTR: *keep = l > r; return l;
    case TS_PROMQL_OP_LSS: *keep = l < r; return l;
    case TS_PROMQL_OP_GTE: *keep = l >= r; return l;
    case TS_PROMQL_OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return NAN;
    }
}

/* Arithmetic drops the metric name; comparisons, set operators and (in
 * 2.42, where the lexer lists it outside the operator range) atan2 keep it. */
static bool
drops_name(ts_promql_op op)
{
    return !ts_promql_op_is_comparison(op) && !ts_promql_op_is_set(op) && op != TS_PROMQL_OP_ATAN2;
}

/* The matching signature of l. */
static uint64_t
signature(ts__evaluator *e, const ts_labels *l, const ts_promql_vector_matching *m)
{
    if (m && m->on)
        return ts_labels_hash_subset(l, (const char *const *)m->labels, m->nlabels, true);
    size_t n = m ? m->nlabels : 0;
    const char **names = ts_arena_alloc(e->sa, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        names[i] = m->labels[i];
    names[n] = TS_METRIC_NAME;
    return ts_labels_hash_subset(l, names, n + 1, false);
}

static const ts_labels *
match_labels(ts__evaluator *e, const ts_labels *l, const ts_promql_vector_matching *m)
{
    if (m->on)
        return ts__labels_keep(e->sa, l, m->labels, m->nlabels, true);
    const ts_labels *r = ts__labels_keep(e->sa, l, m->labels, m->nlabels, false);
    return ts__labels_set(e->sa, r, TS_METRIC_NAME, "");
}

static ts__value
vector_scalar(ts__evaluator *e, ts_promql_op op, ts__value vec, double s, bool swap, bool rbool,
              int64_t t)
{
    ts__vector_elem *out = ts_arena_alloc(e->sa, (vec.n + 1) * sizeof(ts__vector_elem));
    size_t k = 0;
    bool cmp = ts_promql_op_is_comparison(op);
    for (size_t i = 0; i < vec.n; i++) {
        double l = vec.vec[i].v, r = s;
        if (swap) {
            l = s;
            r = vec.vec[i].v;
        }
        bool keep;
        double v = elem_op(op, l, r, &keep);
        if (cmp && swap)
            v = r; /* a filter keeps the vector's value even when it is on the right */
        if (rbool) {
            v = keep ? 1 : 0;
            keep = true;
        }
        if (!keep)
            continue;
        const ts_labels *lb = vec.vec[i].l;
        if (drops_name(op) || rbool)
            lb = ts__drop_name(e, lb);
        out[k++] = (ts__vector_elem){lb, v, t};
    }
    ts__check_dup_labels(e, out, k);
    return ts__value_vector(out, k);
}

static ts__value
set_op(ts__evaluator *e, ts_promql_op op, ts__value lhs, ts__value rhs,
       const ts_promql_vector_matching *m, int64_t t)
{
    ts__vector_elem *out = ts_arena_alloc(e->sa, (lhs.n + rhs.n + 1) * sizeof(ts__vector_elem));
    size_t k = 0;
    ts__hash_index sigs;
    if (op == TS_PROMQL_OP_LOR) {
        ts__hash_index_init(&sigs, e->sa, lhs.n);
        for (size_t i = 0; i < lhs.n; i++) {
            bool found;
            *ts__hash_index_put(&sigs, signature(e, lhs.vec[i].l, m), &found) = 1;
            out[k] = lhs.vec[i];
            out[k++].t = t;
        }
        for (size_t i = 0; i < rhs.n; i++)
            if (!ts__hash_index_get(&sigs, signature(e, rhs.vec[i].l, m))) {
                out[k] = rhs.vec[i];
                out[k++].t = t;
            }
        return ts__value_vector(out, k);
    }
    ts__hash_index_init(&sigs, e->sa, rhs.n);
    for (size_t i = 0; i < rhs.n; i++) {
        bool found;
        *ts__hash_index_put(&sigs, signature(e, rhs.vec[i].l, m), &found) = 1;
    }
    for (size_t i = 0; i < lhs.n; i++) {
        bool in_rhs = ts__hash_index_get(&sigs, signature(e, lhs.vec[i].l, m)) != NULL;
        if (in_rhs == (op == TS_PROMQL_OP_LAND)) {
            out[k] = lhs.vec[i];
            out[k++].t = t;
        }
    }
    return ts__value_vector(out, k);
}

static const ts_labels *
result_labels(ts__evaluator *e, const ts_labels *l, const ts_labels *r, ts_promql_op op,
              const ts_promql_vector_matching *m)
{
    const ts_labels *res = l;
    if (drops_name(op))
        res = ts__labels_set(e->sa, res, TS_METRIC_NAME, "");
    if (m->card == TS_PROMQL_CARD_ONE_TO_ONE) {
        if (m->on)
            res = ts__labels_keep(e->sa, res, m->labels, m->nlabels, true);
        else
            res = ts__labels_keep(e->sa, res, m->labels, m->nlabels, false);
    }
    for (size_t i = 0; i < m->ninclude; i++) {
        const char *v = ts_labels_get(r, m->include[i]);
        res = ts__labels_set(e->sa, res, m->include[i], v ? v : "");
    }
    return res;
}

static ts__value
vector_vector(ts__evaluator *e, ts_promql_op op, ts__value lhs, ts__value rhs,
              const ts_promql_vector_matching *m, bool rbool, int64_t t)
{
    if (m->card == TS_PROMQL_CARD_MANY_TO_MANY)
        ts__eval_fail(e, TS_EINVAL, "many-to-many only allowed for set operators");
    bool swapped = m->card == TS_PROMQL_CARD_ONE_TO_MANY;
    if (swapped) {
        ts__value tmp = lhs;
        lhs = rhs;
        rhs = tmp;
    }
    /* Index the "one" side by signature. */
    ts__hash_index right;
    ts__hash_index_init(&right, e->sa, rhs.n);
    for (size_t i = 0; i < rhs.n; i++) {
        bool found;
        size_t *slot = ts__hash_index_put(&right, signature(e, rhs.vec[i].l, m), &found);
        if (found) {
            const ts__vector_elem *dup = &rhs.vec[*slot - 1];
            char *ml = ts_labels_to_string(e->sa, match_labels(e, rhs.vec[i].l, m));
            ts__eval_fail(
                e, TS_EINVAL,
                "found duplicate series for the match group %s on the %s hand-side of the "
                "operation: [%s, %s];many-to-many matching not allowed: matching labels "
                "must be unique on one side",
                ml, swapped ? "left" : "right", ts_labels_to_string(e->sa, rhs.vec[i].l),
                ts_labels_to_string(e->sa, dup->l));
        }
        *slot = i + 1;
    }
    /* For one-to-one: signatures already matched.  For many-to-one: result
     * label hashes per signature (kept in one map keyed by a mix of both). */
    ts__hash_index matched, inserted;
    ts__hash_index_init(&matched, e->sa, lhs.n);
    ts__hash_index_init(&inserted, e->sa, lhs.n);
    ts__vector_elem *out = ts_arena_alloc(e->sa, (lhs.n + 1) * sizeof(ts__vector_elem));
    size_t k = 0;
    for (size_t i = 0; i < lhs.n; i++) {
        uint64_t sig = signature(e, lhs.vec[i].l, m);
        size_t *rs = ts__hash_index_get(&right, sig);
        if (!rs)
            continue;
        const ts__vector_elem *r = &rhs.vec[*rs - 1];
        double vl = lhs.vec[i].v, vr = r->v;
        if (swapped) {
            double tmp = vl;
            vl = vr;
            vr = tmp;
        }
        bool keep;
        double v = elem_op(op, vl, vr, &keep);
        if (rbool)
            v = keep ? 1 : 0;
        else if (!keep)
            continue;
        const ts_labels *lb = result_labels(e, lhs.vec[i].l, r->l, op, m);
        if (rbool)
            lb = ts__drop_name(e, lb);
        bool found;
        if (m->card == TS_PROMQL_CARD_ONE_TO_ONE) {
            ts__hash_index_put(&matched, sig, &found);
            if (found)
                ts__eval_fail(e, TS_EINVAL,
                              "multiple matches for labels: many-to-one matching must be explicit "
                              "(group_left/group_right)");
        } else {
            uint64_t key = sig * 0x9E3779B97F4A7C15ULL ^ ts_labels_hash(lb);
            ts__hash_index_put(&inserted, key, &found);
            if (found)
                ts__eval_fail(
                    e, TS_EINVAL,
                    "multiple matches for labels: grouping labels must ensure unique matches");
        }
        out[k++] = (ts__vector_elem){lb, v, t};
    }
    ts__check_dup_labels(e, out, k);
    return ts__value_vector(out, k);
}

ts__value
ts__eval_binary(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_binary *b = &x->u.bin;
    ts__value lhs = ts__eval(e, b->lhs, t);
    ts__value rhs = ts__eval(e, b->rhs, t);
    if (lhs.type == TS_PROMQL_VT_SCALAR && rhs.type == TS_PROMQL_VT_SCALAR) {
        bool keep;
        double v = elem_op(b->op, lhs.scalar, rhs.scalar, &keep);
        if (ts_promql_op_is_comparison(b->op))
            v = keep ? 1 : 0;
        return ts__value_scalar(v);
    }
    if (lhs.type == TS_PROMQL_VT_VECTOR && rhs.type == TS_PROMQL_VT_VECTOR) {
        static const ts_promql_vector_matching def = {.card = TS_PROMQL_CARD_ONE_TO_ONE};
        const ts_promql_vector_matching *m = b->matching ? b->matching : &def;
        if (ts_promql_op_is_set(b->op))
            return set_op(e, b->op, lhs, rhs, m, t);
        return vector_vector(e, b->op, lhs, rhs, m, b->return_bool, t);
    }
    if (lhs.type == TS_PROMQL_VT_VECTOR && rhs.type == TS_PROMQL_VT_SCALAR)
        return vector_scalar(e, b->op, lhs, rhs.scalar, false, b->return_bool, t);
    if (lhs.type == TS_PROMQL_VT_SCALAR && rhs.type == TS_PROMQL_VT_VECTOR)
        return vector_scalar(e, b->op, rhs, lhs.scalar, true, b->return_bool, t);
    ts__eval_fail(e, TS_EINVAL, "invalid operand types for binary operator %s",
                  ts_promql_op_str(b->op));
}
