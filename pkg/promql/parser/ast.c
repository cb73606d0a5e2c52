/*
 * PromQL AST support: the static function table (every function of Prometheus 2.42 with its
 * argument and return types), operator and type names, and freeing a tree's heap parts.
 *
 * The table is indexed by ts_promql_func_id; lookup by name is a linear scan over 70 entries,
 * done once per call node at parse time.
 */
#include "pkg/promql/parser/ast.h"

#include <string.h>

/* One table row: FN(ID, name, variadic, return type, argument types...); FN0 for functions
 * without arguments.  The argument count is the number of types listed; variadic is as
 * documented on ts_promql_function; experimental is false for every 2.42 function. */
#define V TS_PROMQL_VT_VECTOR
#define M TS_PROMQL_VT_MATRIX
#define S TS_PROMQL_VT_SCALAR
#define STR TS_PROMQL_VT_STRING
#define NARGS(...)                                                                                 \
    ((int)(sizeof((ts_promql_value_type[]){__VA_ARGS__}) / sizeof(ts_promql_value_type)))
#define FN(id, nm, var, ret, ...)                                                                  \
    [TS_PROMQL_FN_##id] = {TS_PROMQL_FN_##id, nm, {__VA_ARGS__}, NARGS(__VA_ARGS__), var, ret}
#define FN0(id, nm, ret)                                                                           \
    [TS_PROMQL_FN_##id] = {TS_PROMQL_FN_##id, nm, {TS_PROMQL_VT_NONE}, 0, 0, ret}

static const ts_promql_function functions[TS_PROMQL_FN__COUNT] = {
    FN(ABS, "abs", 0, V, V),
    FN(ABSENT, "absent", 0, V, V),
    FN(ABSENT_OVER_TIME, "absent_over_time", 0, V, M),
    FN(ACOS, "acos", 0, V, V),
    FN(ACOSH, "acosh", 0, V, V),
    FN(ASIN, "asin", 0, V, V),
    FN(ASINH, "asinh", 0, V, V),
    FN(ATAN, "atan", 0, V, V),
    FN(ATANH, "atanh", 0, V, V),
    FN(AVG_OVER_TIME, "avg_over_time", 0, V, M),
    FN(CEIL, "ceil", 0, V, V),
    FN(CHANGES, "changes", 0, V, M),
    FN(CLAMP, "clamp", 0, V, V, S, S),
    FN(CLAMP_MAX, "clamp_max", 0, V, V, S),
    FN(CLAMP_MIN, "clamp_min", 0, V, V, S),
    FN(COS, "cos", 0, V, V),
    FN(COSH, "cosh", 0, V, V),
    FN(COUNT_OVER_TIME, "count_over_time", 0, V, M),
    FN(DAYS_IN_MONTH, "days_in_month", 1, V, V),
    FN(DAY_OF_MONTH, "day_of_month", 1, V, V),
    FN(DAY_OF_WEEK, "day_of_week", 1, V, V),
    FN(DAY_OF_YEAR, "day_of_year", 1, V, V),
    FN(DEG, "deg", 0, V, V),
    FN(DELTA, "delta", 0, V, M),
    FN(DERIV, "deriv", 0, V, M),
    FN(EXP, "exp", 0, V, V),
    FN(FLOOR, "floor", 0, V, V),
    FN(HISTOGRAM_COUNT, "histogram_count", 0, V, V),
    FN(HISTOGRAM_SUM, "histogram_sum", 0, V, V),
    FN(HISTOGRAM_FRACTION, "histogram_fraction", 0, V, S, S, V),
    FN(HISTOGRAM_QUANTILE, "histogram_quantile", 0, V, S, V),
    FN(HOLT_WINTERS, "holt_winters", 0, V, M, S, S),
    FN(HOUR, "hour", 1, V, V),
    FN(IDELTA, "idelta", 0, V, M),
    FN(INCREASE, "increase", 0, V, M),
    FN(IRATE, "irate", 0, V, M),
    FN(LABEL_REPLACE, "label_replace", 0, V, V, STR, STR, STR, STR),
    FN(LABEL_JOIN, "label_join", -1, V, V, STR, STR, STR),
    FN(LAST_OVER_TIME, "last_over_time", 0, V, M),
    FN(LN, "ln", 0, V, V),
    FN(LOG10, "log10", 0, V, V),
    FN(LOG2, "log2", 0, V, V),
    FN(MAX_OVER_TIME, "max_over_time", 0, V, M),
    FN(MIN_OVER_TIME, "min_over_time", 0, V, M),
    FN(MINUTE, "minute", 1, V, V),
    FN(MONTH, "month", 1, V, V),
    FN0(PI, "pi", S),
    FN(PREDICT_LINEAR, "predict_linear", 0, V, M, S),
    FN(PRESENT_OVER_TIME, "present_over_time", 0, V, M),
    FN(QUANTILE_OVER_TIME, "quantile_over_time", 0, V, S, M),
    FN(RAD, "rad", 0, V, V),
    FN(RATE, "rate", 0, V, M),
    FN(RESETS, "resets", 0, V, M),
    FN(ROUND, "round", 1, V, V, S),
    FN(SCALAR, "scalar", 0, S, V),
    FN(SGN, "sgn", 0, V, V),
    FN(SIN, "sin", 0, V, V),
    FN(SINH, "sinh", 0, V, V),
    FN(SORT, "sort", 0, V, V),
    FN(SORT_DESC, "sort_desc", 0, V, V),
    FN(SQRT, "sqrt", 0, V, V),
    FN(STDDEV_OVER_TIME, "stddev_over_time", 0, V, M),
    FN(STDVAR_OVER_TIME, "stdvar_over_time", 0, V, M),
    FN(SUM_OVER_TIME, "sum_over_time", 0, V, M),
    FN(TAN, "tan", 0, V, V),
    FN(TANH, "tanh", 0, V, V),
    FN0(TIME, "time", S),
    FN(TIMESTAMP, "timestamp", 0, V, V),
    FN(VECTOR, "vector", 0, V, S),
    FN(YEAR, "year", 1, V, V),
};

#undef FN0
#undef FN
#undef NARGS
#undef STR
#undef S
#undef M
#undef V

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
    "sum",    "avg",    "count", "min",     "max",      "group",
    "stddev", "stdvar", "topk",  "bottomk", "quantile", "count_values",
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
    case TS_PROMQL_MATRIX_SELECTOR: return i == 0 ? &e->u.ms.vs : NULL;
    case TS_PROMQL_SUBQUERY: return i == 0 ? &e->u.sq.expr : NULL;
    case TS_PROMQL_CALL: return i < e->u.call.nargs ? &e->u.call.args[i] : NULL;
    case TS_PROMQL_AGGREGATE:
        if (e->u.agg.param) {
            if (i == 0)
                return &e->u.agg.param;
            i--;
        }
        return i == 0 ? &e->u.agg.expr : NULL;
    case TS_PROMQL_BINARY: return i == 0 ? &e->u.bin.lhs : i == 1 ? &e->u.bin.rhs : NULL;
    case TS_PROMQL_UNARY: return i == 0 ? &e->u.unary.expr : NULL;
    case TS_PROMQL_PAREN: return i == 0 ? &e->u.paren : NULL;
    case TS_PROMQL_STEP_INVARIANT: return i == 0 ? &e->u.step_invariant : NULL;
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING:
    case TS_PROMQL_VECTOR_SELECTOR: break;
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
    case TS_PROMQL_MATRIX_SELECTOR: ts_promql_expr_free(e->u.ms.vs); break;
    case TS_PROMQL_SUBQUERY: ts_promql_expr_free(e->u.sq.expr); break;
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
    case TS_PROMQL_UNARY: ts_promql_expr_free(e->u.unary.expr); break;
    case TS_PROMQL_PAREN: ts_promql_expr_free(e->u.paren); break;
    case TS_PROMQL_STEP_INVARIANT: ts_promql_expr_free(e->u.step_invariant); break;
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING: break;
    }
}
