/*
 * PromQL AST support: the static function table (every function of Prometheus 2.42 with its
 * argument and return types), operator and type names, and freeing a tree's heap parts.
 *
 * The table is indexed by ts_promql_func_id; lookup by name is a linear scan over 70 entries,
 * done once per call node at parse time.
 */
#include "pkg/promql/parser/ast.h"

#include <string.h>

static const ts_promql_function functions[TS_PROMQL_FN__COUNT] = {
    [TS_PROMQL_FN_ABS] = {TS_PROMQL_FN_ABS, "abs", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ABSENT] = {TS_PROMQL_FN_ABSENT, "absent", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ABSENT_OVER_TIME] = {TS_PROMQL_FN_ABSENT_OVER_TIME, "absent_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ACOS] = {TS_PROMQL_FN_ACOS, "acos", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ACOSH] = {TS_PROMQL_FN_ACOSH, "acosh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ASIN] = {TS_PROMQL_FN_ASIN, "asin", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ASINH] = {TS_PROMQL_FN_ASINH, "asinh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ATAN] = {TS_PROMQL_FN_ATAN, "atan", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ATANH] = {TS_PROMQL_FN_ATANH, "atanh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_AVG_OVER_TIME] = {TS_PROMQL_FN_AVG_OVER_TIME, "avg_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_CEIL] = {TS_PROMQL_FN_CEIL, "ceil", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_CHANGES] = {TS_PROMQL_FN_CHANGES, "changes", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_CLAMP] = {TS_PROMQL_FN_CLAMP, "clamp", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_SCALAR}, 3, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_CLAMP_MAX] = {TS_PROMQL_FN_CLAMP_MAX, "clamp_max", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_SCALAR}, 2, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_CLAMP_MIN] = {TS_PROMQL_FN_CLAMP_MIN, "clamp_min", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_SCALAR}, 2, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_COS] = {TS_PROMQL_FN_COS, "cos", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_COSH] = {TS_PROMQL_FN_COSH, "cosh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_COUNT_OVER_TIME] = {TS_PROMQL_FN_COUNT_OVER_TIME, "count_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DAYS_IN_MONTH] = {TS_PROMQL_FN_DAYS_IN_MONTH, "days_in_month", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DAY_OF_MONTH] = {TS_PROMQL_FN_DAY_OF_MONTH, "day_of_month", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DAY_OF_WEEK] = {TS_PROMQL_FN_DAY_OF_WEEK, "day_of_week", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DAY_OF_YEAR] = {TS_PROMQL_FN_DAY_OF_YEAR, "day_of_year", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DEG] = {TS_PROMQL_FN_DEG, "deg", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DELTA] = {TS_PROMQL_FN_DELTA, "delta", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_DERIV] = {TS_PROMQL_FN_DERIV, "deriv", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_EXP] = {TS_PROMQL_FN_EXP, "exp", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_FLOOR] = {TS_PROMQL_FN_FLOOR, "floor", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HISTOGRAM_COUNT] = {TS_PROMQL_FN_HISTOGRAM_COUNT, "histogram_count", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HISTOGRAM_SUM] = {TS_PROMQL_FN_HISTOGRAM_SUM, "histogram_sum", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HISTOGRAM_FRACTION] = {TS_PROMQL_FN_HISTOGRAM_FRACTION, "histogram_fraction", {TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_VECTOR}, 3, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HISTOGRAM_QUANTILE] = {TS_PROMQL_FN_HISTOGRAM_QUANTILE, "histogram_quantile", {TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_VECTOR}, 2, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HOLT_WINTERS] = {TS_PROMQL_FN_HOLT_WINTERS, "holt_winters", {TS_PROMQL_VT_MATRIX, TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_SCALAR}, 3, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_HOUR] = {TS_PROMQL_FN_HOUR, "hour", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_IDELTA] = {TS_PROMQL_FN_IDELTA, "idelta", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_INCREASE] = {TS_PROMQL_FN_INCREASE, "increase", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_IRATE] = {TS_PROMQL_FN_IRATE, "irate", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LABEL_REPLACE] = {TS_PROMQL_FN_LABEL_REPLACE, "label_replace", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_STRING, TS_PROMQL_VT_STRING, TS_PROMQL_VT_STRING, TS_PROMQL_VT_STRING}, 5, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LABEL_JOIN] = {TS_PROMQL_FN_LABEL_JOIN, "label_join", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_STRING, TS_PROMQL_VT_STRING, TS_PROMQL_VT_STRING}, 4, -1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LAST_OVER_TIME] = {TS_PROMQL_FN_LAST_OVER_TIME, "last_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LN] = {TS_PROMQL_FN_LN, "ln", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LOG10] = {TS_PROMQL_FN_LOG10, "log10", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_LOG2] = {TS_PROMQL_FN_LOG2, "log2", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_MAX_OVER_TIME] = {TS_PROMQL_FN_MAX_OVER_TIME, "max_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_MIN_OVER_TIME] = {TS_PROMQL_FN_MIN_OVER_TIME, "min_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_MINUTE] = {TS_PROMQL_FN_MINUTE, "minute", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_MONTH] = {TS_PROMQL_FN_MONTH, "month", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_PI] = {TS_PROMQL_FN_PI, "pi", {TS_PROMQL_VT_NONE}, 0, 0, TS_PROMQL_VT_SCALAR, false},
    [TS_PROMQL_FN_PREDICT_LINEAR] = {TS_PROMQL_FN_PREDICT_LINEAR, "predict_linear", {TS_PROMQL_VT_MATRIX, TS_PROMQL_VT_SCALAR}, 2, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_PRESENT_OVER_TIME] = {TS_PROMQL_FN_PRESENT_OVER_TIME, "present_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_QUANTILE_OVER_TIME] = {TS_PROMQL_FN_QUANTILE_OVER_TIME, "quantile_over_time", {TS_PROMQL_VT_SCALAR, TS_PROMQL_VT_MATRIX}, 2, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_RAD] = {TS_PROMQL_FN_RAD, "rad", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_RATE] = {TS_PROMQL_FN_RATE, "rate", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_RESETS] = {TS_PROMQL_FN_RESETS, "resets", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_ROUND] = {TS_PROMQL_FN_ROUND, "round", {TS_PROMQL_VT_VECTOR, TS_PROMQL_VT_SCALAR}, 2, 1, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SCALAR] = {TS_PROMQL_FN_SCALAR, "scalar", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_SCALAR, false},
    [TS_PROMQL_FN_SGN] = {TS_PROMQL_FN_SGN, "sgn", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SIN] = {TS_PROMQL_FN_SIN, "sin", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SINH] = {TS_PROMQL_FN_SINH, "sinh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SORT] = {TS_PROMQL_FN_SORT, "sort", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SORT_DESC] = {TS_PROMQL_FN_SORT_DESC, "sort_desc", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SQRT] = {TS_PROMQL_FN_SQRT, "sqrt", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_STDDEV_OVER_TIME] = {TS_PROMQL_FN_STDDEV_OVER_TIME, "stddev_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_STDVAR_OVER_TIME] = {TS_PROMQL_FN_STDVAR_OVER_TIME, "stdvar_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_SUM_OVER_TIME] = {TS_PROMQL_FN_SUM_OVER_TIME, "sum_over_time", {TS_PROMQL_VT_MATRIX}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_TAN] = {TS_PROMQL_FN_TAN, "tan", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_TANH] = {TS_PROMQL_FN_TANH, "tanh", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_TIME] = {TS_PROMQL_FN_TIME, "time", {TS_PROMQL_VT_NONE}, 0, 0, TS_PROMQL_VT_SCALAR, false},
    [TS_PROMQL_FN_TIMESTAMP] = {TS_PROMQL_FN_TIMESTAMP, "timestamp", {TS_PROMQL_VT_VECTOR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_VECTOR] = {TS_PROMQL_FN_VECTOR, "vector", {TS_PROMQL_VT_SCALAR}, 1, 0, TS_PROMQL_VT_VECTOR, false},
    [TS_PROMQL_FN_YEAR] = {TS_PROMQL_FN_YEAR, "year", {TS_PROMQL_VT_VECTOR}, 1, 1, TS_PROMQL_VT_VECTOR, false},
};

const ts_promql_function *
ts_promql_function_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < TS_PROMQL_FN__COUNT; i++) {
        const char *n = functions[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &functions[i];
    }
    return NULL;
}

const ts_promql_function *
ts_promql_function_get(ts_promql_func_id id)
{
    if ((unsigned)id >= TS_PROMQL_FN__COUNT)
        return NULL;
    return &functions[id];
}

const char *
ts_promql_value_type_str(ts_promql_value_type t)
{
    switch (t) {
    case TS_PROMQL_VT_SCALAR: return "scalar";
    case TS_PROMQL_VT_VECTOR: return "vector";
    case TS_PROMQL_VT_MATRIX: return "matrix";
    case TS_PROMQL_VT_STRING: return "string";
    default: return "none";
    }
}

const char *
ts_promql_value_type_doc(ts_promql_value_type t)
{
    switch (t) {
    case TS_PROMQL_VT_SCALAR: return "scalar";
    case TS_PROMQL_VT_VECTOR: return "instant vector";
    case TS_PROMQL_VT_MATRIX: return "range vector";
    case TS_PROMQL_VT_STRING: return "string";
    default: return "none";
    }
}

const char *
ts_promql_op_str(ts_promql_op op)
{
    switch (op) {
    case TS_PROMQL_OP_ADD: return "+";
    case TS_PROMQL_OP_SUB: return "-";
    case TS_PROMQL_OP_MUL: return "*";
    case TS_PROMQL_OP_DIV: return "/";
    case TS_PROMQL_OP_MOD: return "%";
    case TS_PROMQL_OP_POW: return "^";
    case TS_PROMQL_OP_ATAN2: return "atan2";
    case TS_PROMQL_OP_EQL: return "==";
    case TS_PROMQL_OP_NEQ: return "!=";
    case TS_PROMQL_OP_GTR: return ">";
    case TS_PROMQL_OP_LSS: return "<";
    case TS_PROMQL_OP_GTE: return ">=";
    case TS_PROMQL_OP_LTE: return "<=";
    case TS_PROMQL_OP_LAND: return "and";
    case TS_PROMQL_OP_LOR: return "or";
    case TS_PROMQL_OP_LUNLESS: return "unless";
    default: return "<none>";
    }
}

bool
ts_promql_op_is_comparison(ts_promql_op op)
{
    return op >= TS_PROMQL_OP_EQL && op <= TS_PROMQL_OP_LTE;
}

bool
ts_promql_op_is_set(ts_promql_op op)
{
    return op == TS_PROMQL_OP_LAND || op == TS_PROMQL_OP_LOR || op == TS_PROMQL_OP_LUNLESS;
}

static const char *const agg_names[TS_PROMQL_AGG__COUNT] = {
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values",
};

const char *
ts_promql_agg_op_str(ts_promql_agg_op op)
{
    if ((unsigned)op >= TS_PROMQL_AGG__COUNT)
        return "<none>";
    return agg_names[op];
}

bool
ts_promql_agg_op_has_param(ts_promql_agg_op op)
{
    return op == TS_PROMQL_AGG_TOPK || op == TS_PROMQL_AGG_BOTTOMK ||
           op == TS_PROMQL_AGG_QUANTILE || op == TS_PROMQL_AGG_COUNT_VALUES;
}

ts_promql_expr **
ts_promql_expr_child(ts_promql_expr *e, size_t i)
{
    switch (e->kind) {
    case TS_PROMQL_MATRIX_SELECTOR:
        return i == 0 ? &e->u.ms.vs : NULL;
    case TS_PROMQL_SUBQUERY:
        return i == 0 ? &e->u.sq.expr : NULL;
    case TS_PROMQL_CALL:
        return i < e->u.call.nargs ? &e->u.call.args[i] : NULL;
    case TS_PROMQL_AGGREGATE:
        if (e->u.agg.param) {
            if (i == 0)
                return &e->u.agg.param;
            i--;
        }
        return i == 0 ? &e->u.agg.expr : NULL;
    case TS_PROMQL_BINARY:
        return i == 0 ? &e->u.bin.lhs : i == 1 ? &e->u.bin.rhs : NULL;
    case TS_PROMQL_UNARY:
        return i == 0 ? &e->u.unary.expr : NULL;
    case TS_PROMQL_PAREN:
        return i == 0 ? &e->u.paren : NULL;
    case TS_PROMQL_STEP_INVARIANT:
        return i == 0 ? &e->u.step_invariant : NULL;
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING:
    case TS_PROMQL_VECTOR_SELECTOR:
        break;
    }
    return NULL;
}

void
ts_promql_expr_free(ts_promql_expr *e)
{
    if (!e)
        return;
    switch (e->kind) {
    case TS_PROMQL_VECTOR_SELECTOR:
        for (size_t i = 0; i < e->u.vs.nmatchers; i++)
            ts_matcher_free(e->u.vs.matchers[i]);
        e->u.vs.nmatchers = 0;
        break;
    case TS_PROMQL_MATRIX_SELECTOR:
        ts_promql_expr_free(e->u.ms.vs);
        break;
    case TS_PROMQL_SUBQUERY:
        ts_promql_expr_free(e->u.sq.expr);
        break;
    case TS_PROMQL_CALL:
        for (size_t i = 0; i < e->u.call.nargs; i++)
            ts_promql_expr_free(e->u.call.args[i]);
        break;
    case TS_PROMQL_AGGREGATE:
        ts_promql_expr_free(e->u.agg.expr);
        ts_promql_expr_free(e->u.agg.param);
        break;
    case TS_PROMQL_BINARY:
        ts_promql_expr_free(e->u.bin.lhs);
        ts_promql_expr_free(e->u.bin.rhs);
        break;
    case TS_PROMQL_UNARY:
        ts_promql_expr_free(e->u.unary.expr);
        break;
    case TS_PROMQL_PAREN:
        ts_promql_expr_free(e->u.paren);
        break;
    case TS_PROMQL_STEP_INVARIANT:
        ts_promql_expr_free(e->u.step_invariant);
        break;
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING:
        break;
    }
}
