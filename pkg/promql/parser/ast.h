/*
 * PromQL abstract syntax tree, function table and parse entry points
 * (the language of Prometheus 2.42).
 *
 * One node type, ts_promql_expr, tagged by kind, with a union of per-kind
 * bodies.  Every node records the byte range of source text it came from
 * (pos) and its value type (type), both filled in by the parser.
 *
 * Memory: ts_promql_parse allocates every node, string and array in the
 * ts_arena the caller passes; they live until the arena is reset or freed.
 * The only heap objects are the label matchers of vector selectors
 * (ts_matcher, built with ts_matcher_new because they own compiled regexes).
 * Each matcher is owned by the one selector node that lists it;
 * ts_promql_expr_free(root) walks the tree and frees them, so a query calls
 * it once before dropping its arena.  Whoever rewrites a tree (the engine
 * wrapping nodes in STEP_INVARIANT, resolving @ start()/end(), ...) may
 * mutate nodes in place and allocate new ones in the same arena, but must
 * keep each matcher referenced by exactly one selector in the final tree.
 *
 * Thread-safety: a parsed tree is plain data; reading it from several threads
 * is fine, mutating it is the owner's business.  The function table is
 * static const.
 */
#ifndef TS_PROMQL_PARSER_AST_H
#define TS_PROMQL_PARSER_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/matcher.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"

/* ---- Value types ------------------------------------------------------------------------- */

typedef enum ts_promql_value_type {
    TS_PROMQL_VT_NONE = 0, /* "none": only for errors and invalid nodes */
    TS_PROMQL_VT_SCALAR,   /* "scalar" */
    TS_PROMQL_VT_VECTOR,   /* "vector" (instant vector) */
    TS_PROMQL_VT_MATRIX,   /* "matrix" (range vector) */
    TS_PROMQL_VT_STRING,   /* "string" */
} ts_promql_value_type;

/* "scalar", "vector", "matrix", "string", "none" (Prometheus' ValueType strings, as the API
 * writes resultType). */
const char *ts_promql_value_type_str(ts_promql_value_type t);
/* "scalar", "instant vector", "range vector", "string", "none" (DocumentedType, as used in
 * error messages). */
const char *ts_promql_value_type_doc(ts_promql_value_type t);

/* ---- Operators --------------------------------------------------------------------------- */

/* Binary and unary operators.  Unary expressions use only ADD and SUB. */
typedef enum ts_promql_op {
    TS_PROMQL_OP_NONE = 0,
    /* arithmetic */
    TS_PROMQL_OP_ADD,   /* + */
    TS_PROMQL_OP_SUB,   /* - */
    TS_PROMQL_OP_MUL,   /* * */
    TS_PROMQL_OP_DIV,   /* / */
    TS_PROMQL_OP_MOD,   /* % */
    TS_PROMQL_OP_POW,   /* ^ (right-associative) */
    TS_PROMQL_OP_ATAN2, /* atan2 */
    /* comparison (may carry `bool`) */
    TS_PROMQL_OP_EQL, /* == */
    TS_PROMQL_OP_NEQ, /* != */
    TS_PROMQL_OP_GTR, /* > */
    TS_PROMQL_OP_LSS, /* < */
    TS_PROMQL_OP_GTE, /* >= */
    TS_PROMQL_OP_LTE, /* <= */
    /* set operators (vector-vector only, always many-to-many) */
    TS_PROMQL_OP_LAND,    /* and */
    TS_PROMQL_OP_LOR,     /* or */
    TS_PROMQL_OP_LUNLESS, /* unless */
} ts_promql_op;

/* "+", "-", ..., "atan2", "==", ..., "and", "or", "unless" */
const char *ts_promql_op_str(ts_promql_op op);
bool ts_promql_op_is_comparison(ts_promql_op op);
bool ts_promql_op_is_set(ts_promql_op op);

/* Aggregation operators. */
typedef enum ts_promql_agg_op {
    TS_PROMQL_AGG_SUM = 0,
    TS_PROMQL_AGG_AVG,
    TS_PROMQL_AGG_COUNT,
    TS_PROMQL_AGG_MIN,
    TS_PROMQL_AGG_MAX,
    TS_PROMQL_AGG_GROUP,
    TS_PROMQL_AGG_STDDEV,
    TS_PROMQL_AGG_STDVAR,
    TS_PROMQL_AGG_TOPK,         /* param: scalar k */
    TS_PROMQL_AGG_BOTTOMK,      /* param: scalar k */
    TS_PROMQL_AGG_QUANTILE,     /* param: scalar phi */
    TS_PROMQL_AGG_COUNT_VALUES, /* param: string label name */
    TS_PROMQL_AGG__COUNT
} ts_promql_agg_op;

/* "sum", "avg", ..., "count_values" */
const char *ts_promql_agg_op_str(ts_promql_agg_op op);
/* Whether the aggregation takes a parameter (topk, bottomk, quantile, count_values). */
bool ts_promql_agg_op_has_param(ts_promql_agg_op op);

/* ---- Functions --------------------------------------------------------------------------- */

/* One id per PromQL 2.42 function; the engine can index its implementation table by id. */
typedef enum ts_promql_func_id {
    TS_PROMQL_FN_ABS = 0,
    TS_PROMQL_FN_ABSENT,
    TS_PROMQL_FN_ABSENT_OVER_TIME,
    TS_PROMQL_FN_ACOS,
    TS_PROMQL_FN_ACOSH,
    TS_PROMQL_FN_ASIN,
    TS_PROMQL_FN_ASINH,
    TS_PROMQL_FN_ATAN,
    TS_PROMQL_FN_ATANH,
    TS_PROMQL_FN_AVG_OVER_TIME,
    TS_PROMQL_FN_CEIL,
    TS_PROMQL_FN_CHANGES,
    TS_PROMQL_FN_CLAMP,
    TS_PROMQL_FN_CLAMP_MAX,
    TS_PROMQL_FN_CLAMP_MIN,
    TS_PROMQL_FN_COS,
    TS_PROMQL_FN_COSH,
    TS_PROMQL_FN_COUNT_OVER_TIME,
    TS_PROMQL_FN_DAYS_IN_MONTH,
    TS_PROMQL_FN_DAY_OF_MONTH,
    TS_PROMQL_FN_DAY_OF_WEEK,
    TS_PROMQL_FN_DAY_OF_YEAR,
    TS_PROMQL_FN_DEG,
    TS_PROMQL_FN_DELTA,
    TS_PROMQL_FN_DERIV,
    TS_PROMQL_FN_EXP,
    TS_PROMQL_FN_FLOOR,
    TS_PROMQL_FN_HISTOGRAM_COUNT,
    TS_PROMQL_FN_HISTOGRAM_SUM,
    TS_PROMQL_FN_HISTOGRAM_FRACTION,
    TS_PROMQL_FN_HISTOGRAM_QUANTILE,
    TS_PROMQL_FN_HOLT_WINTERS,
    TS_PROMQL_FN_HOUR,
    TS_PROMQL_FN_IDELTA,
    TS_PROMQL_FN_INCREASE,
    TS_PROMQL_FN_IRATE,
    TS_PROMQL_FN_LABEL_REPLACE,
    TS_PROMQL_FN_LABEL_JOIN,
    TS_PROMQL_FN_LAST_OVER_TIME,
    TS_PROMQL_FN_LN,
    TS_PROMQL_FN_LOG10,
    TS_PROMQL_FN_LOG2,
    TS_PROMQL_FN_MAX_OVER_TIME,
    TS_PROMQL_FN_MIN_OVER_TIME,
    TS_PROMQL_FN_MINUTE,
    TS_PROMQL_FN_MONTH,
    TS_PROMQL_FN_PI,
    TS_PROMQL_FN_PREDICT_LINEAR,
    TS_PROMQL_FN_PRESENT_OVER_TIME,
    TS_PROMQL_FN_QUANTILE_OVER_TIME,
    TS_PROMQL_FN_RAD,
    TS_PROMQL_FN_RATE,
    TS_PROMQL_FN_RESETS,
    TS_PROMQL_FN_ROUND,
    TS_PROMQL_FN_SCALAR,
    TS_PROMQL_FN_SGN,
    TS_PROMQL_FN_SIN,
    TS_PROMQL_FN_SINH,
    TS_PROMQL_FN_SORT,
    TS_PROMQL_FN_SORT_DESC,
    TS_PROMQL_FN_SQRT,
    TS_PROMQL_FN_STDDEV_OVER_TIME,
    TS_PROMQL_FN_STDVAR_OVER_TIME,
    TS_PROMQL_FN_SUM_OVER_TIME,
    TS_PROMQL_FN_TAN,
    TS_PROMQL_FN_TANH,
    TS_PROMQL_FN_TIME,
    TS_PROMQL_FN_TIMESTAMP,
    TS_PROMQL_FN_VECTOR,
    TS_PROMQL_FN_YEAR,
    TS_PROMQL_FN__COUNT
} ts_promql_func_id;

#define TS_PROMQL_FUNC_MAX_ARGS 5

/* A function's signature (Prometheus' parser.Function).  Calls point at entries of the static
 * const table; compare pointers or ids, never free them. */
typedef struct ts_promql_function {
    ts_promql_func_id id;
    const char *name;
    ts_promql_value_type arg_types[TS_PROMQL_FUNC_MAX_ARGS]; /* first nargs are used */
    int nargs;                                               /* number of declared argument types */
    int variadic; /* 0: exactly nargs; n > 0: the last declared arg is optional and may be
                     repeated so the call has nargs-1 .. nargs-1+n args; -1: last type repeats
                     without limit (label_join) */
    ts_promql_value_type return_type;
    bool experimental; /* Prometheus' Experimental flag; false for every 2.42 function */
} ts_promql_function;

/* Looks a function up by name (NULL when unknown).  name need not be NUL-terminated. */
const ts_promql_function *ts_promql_function_lookup(const char *name, size_t len);
/* The table entry for an id (id < TS_PROMQL_FN__COUNT). */
const ts_promql_function *ts_promql_function_get(ts_promql_func_id id);

/* ---- Nodes ------------------------------------------------------------------------------- */

typedef enum ts_promql_expr_kind {
    TS_PROMQL_NUMBER = 0,      /* number literal */
    TS_PROMQL_STRING,          /* string literal */
    TS_PROMQL_VECTOR_SELECTOR, /* foo{a="b"} offset 5m @ 123 */
    TS_PROMQL_MATRIX_SELECTOR, /* foo[5m] (modifiers live on the inner vector selector) */
    TS_PROMQL_SUBQUERY,        /* expr[5m:1m] offset ... @ ... */
    TS_PROMQL_CALL,            /* rate(x[5m]) */
    TS_PROMQL_AGGREGATE,       /* sum by (a) (x) */
    TS_PROMQL_BINARY,          /* a + on(b) group_left(c) b */
    TS_PROMQL_UNARY,           /* -x, +x */
    TS_PROMQL_PAREN,           /* (x) */
    TS_PROMQL_STEP_INVARIANT,  /* never made by the parser: an engine marker for subtrees that
                                  give the same result at every step of a range query */
} ts_promql_expr_kind;

/* Byte offsets into the query text: [start, end). */
typedef struct ts_promql_pos_range {
    uint32_t start, end;
} ts_promql_pos_range;

/* The @ modifier of a selector or subquery. */
typedef enum ts_promql_at_kind {
    TS_PROMQL_AT_NONE = 0,  /* no @ */
    TS_PROMQL_AT_TIMESTAMP, /* @ <number>: at_ms holds the time */
    TS_PROMQL_AT_START,     /* @ start(): the engine resolves it to the query start */
    TS_PROMQL_AT_END,       /* @ end(): the engine resolves it to the query end */
} ts_promql_at_kind;

typedef enum ts_promql_card {
    TS_PROMQL_CARD_ONE_TO_ONE = 0,
    TS_PROMQL_CARD_MANY_TO_ONE,  /* group_left */
    TS_PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    TS_PROMQL_CARD_MANY_TO_MANY, /* set operators */
} ts_promql_card;

/* How the two sides of a vector-vector binary operation are matched. */
typedef struct ts_promql_vector_matching {
    ts_promql_card card;
    bool on;       /* true: match on `labels` only; false: ignoring `labels` */
    char **labels; /* on(...)/ignoring(...) label names (arena), in source order */
    size_t nlabels;
    char **include; /* group_left(...)/group_right(...) labels to copy from the "one" side */
    size_t ninclude;
} ts_promql_vector_matching;

typedef struct ts_promql_expr ts_promql_expr;

typedef struct ts_promql_vector_selector {
    const char *name;      /* metric name written before the braces, or NULL when there is
                              none (as in Prometheus, {__name__="x"} leaves it NULL) (arena) */
    ts_matcher **matchers; /* all matchers including the __name__ one (owned, see top) */
    size_t nmatchers;
    int64_t original_offset; /* ms from `offset d` (negative for `offset -d`), 0 if none */
    int64_t offset;          /* = original_offset after parsing; the engine may adjust it */
    ts_promql_at_kind at;    /* @ modifier */
    int64_t at_ms;           /* for TS_PROMQL_AT_TIMESTAMP: ms since epoch (the @ value in
                                seconds, times 1000, rounded as Prometheus does) */
} ts_promql_vector_selector;

typedef struct ts_promql_matrix_selector {
    ts_promql_expr *vs; /* a TS_PROMQL_VECTOR_SELECTOR node, holding offset and @ */
    int64_t range_ms;   /* [range] */
} ts_promql_matrix_selector;

typedef struct ts_promql_subquery {
    ts_promql_expr *expr;
    int64_t range_ms;
    int64_t step_ms;         /* 0 = use the engine's default evaluation interval */
    int64_t original_offset; /* as for vector selectors */
    int64_t offset;
    ts_promql_at_kind at;
    int64_t at_ms;
    uint32_t end_pos; /* position just after `]` or the last modifier */
} ts_promql_subquery;

typedef struct ts_promql_call {
    const ts_promql_function *func; /* static table entry */
    ts_promql_expr **args;
    size_t nargs;
} ts_promql_call;

typedef struct ts_promql_aggregate {
    ts_promql_agg_op op;
    ts_promql_expr *expr;  /* the aggregated vector expression */
    ts_promql_expr *param; /* topk/bottomk/quantile: scalar; count_values: string; else NULL */
    char **grouping;       /* by/without label names (arena), in source order */
    size_t ngrouping;
    bool without;      /* true: `without (grouping)`; false: `by (grouping)` */
    bool has_grouping; /* a by/without clause was written (even an empty one) */
} ts_promql_aggregate;

typedef struct ts_promql_binary {
    ts_promql_op op;
    ts_promql_expr *lhs, *rhs;
    bool return_bool; /* comparison with `bool` */
    /* NULL unless both sides are instant vectors.  Set operators always have
     * TS_PROMQL_CARD_MANY_TO_MANY. */
    ts_promql_vector_matching *matching;
} ts_promql_binary;

typedef struct ts_promql_unary {
    ts_promql_op op; /* TS_PROMQL_OP_SUB or TS_PROMQL_OP_ADD */
    ts_promql_expr *expr;
} ts_promql_unary;

struct ts_promql_expr {
    ts_promql_expr_kind kind;
    ts_promql_value_type type; /* the value type this node evaluates to */
    ts_promql_pos_range pos;   /* source text of the whole node */
    void *aux;                 /* NULL after parsing; free for the engine's use */
    union {
        double number; /* TS_PROMQL_NUMBER */
        struct {       /* TS_PROMQL_STRING (unquoted, escapes applied) */
            char *p;   /* NUL-terminated, arena; may contain NULs */
            size_t len;
        } string;
        ts_promql_vector_selector vs;   /* TS_PROMQL_VECTOR_SELECTOR */
        ts_promql_matrix_selector ms;   /* TS_PROMQL_MATRIX_SELECTOR */
        ts_promql_subquery sq;          /* TS_PROMQL_SUBQUERY */
        ts_promql_call call;            /* TS_PROMQL_CALL */
        ts_promql_aggregate agg;        /* TS_PROMQL_AGGREGATE */
        ts_promql_binary bin;           /* TS_PROMQL_BINARY */
        ts_promql_unary unary;          /* TS_PROMQL_UNARY */
        ts_promql_expr *paren;          /* TS_PROMQL_PAREN: the inner expression */
        ts_promql_expr *step_invariant; /* TS_PROMQL_STEP_INVARIANT: the wrapped expr */
    } u;
};

/* ---- Parsing ----------------------------------------------------------------------------- */

/* Upper bound on query length accepted by the parser (TS_ELIMIT beyond). */
#define TS_PROMQL_MAX_QUERY_LEN (1u << 20)
/* Upper bound on the height of a parsed tree (nesting of parentheses, calls and operator
 * chains), so that recursive walks over it (checks, printing, evaluation) have bounded stack
 * depth.  Deeper queries fail with TS_EPARSE "... expression is nested too deeply".  Parsing
 * the deepest accepted query takes about 1 MiB of stack (nested aggregations; -O2, x86-64). */
#define TS_PROMQL_MAX_DEPTH 1000

/* Parses a PromQL expression of len bytes (need not be NUL-terminated).  On success *out is the
 * root (arena-allocated; call ts_promql_expr_free(*out) before dropping the arena) and 0 is
 * returned.  On a syntax or type error returns TS_EPARSE with err->msg in Prometheus' form,
 * e.g. "1:5: parse error: unexpected end of input", err->pos the byte offset and
 * err->line/err->col set; nothing needs freeing then (*out is NULL). */
int ts_promql_parse(ts_arena *arena, const char *input, size_t len, ts_promql_expr **out,
                    ts_error *err);

/* Frees the heap-owned parts of a tree (the selectors' matchers).  The nodes themselves stay in
 * the arena.  Accepts NULL; after it the tree must not be evaluated. */
void ts_promql_expr_free(ts_promql_expr *e);

/* Parses a standalone series selector (the API's match[], e.g. `up{job="x"}` or `{a=~"b.*"}`)
 * into matchers.  *out is a heap array of heap matchers (*n entries) that the caller frees with
 * ts_promql_matchers_free.  Errors as for ts_promql_parse (including "vector selector must
 * contain at least one non-empty matcher"). */
int ts_promql_parse_series_selector(const char *input, size_t len, ts_matcher ***out, size_t *n,
                                    ts_error *err);
void ts_promql_matchers_free(ts_matcher **m, size_t n);

/* Parses a number as PromQL's lexer accepts it (decimal, 0x hex, exponents, Inf, NaN, any
 * case; no sign) with Go strconv.ParseFloat semantics.  TS_EPARSE when malformed. */
int ts_promql_parse_number(const char *s, size_t len, double *out);

/* Parses a PromQL duration ("1h30m", "5m", "1y", "250ms") into ms; TS_EPARSE when malformed or
 * zero-length.  (Thin wrapper over ts_duration_parse.) */
int ts_promql_parse_duration(const char *s, size_t len, int64_t *ms);

/* ---- Walking ----------------------------------------------------------------------------- */

/* The address of e's i-th child slot (0-based, in source order: a matrix selector's vector
 * selector; a subquery's expression; a call's arguments; an aggregation's parameter (when it
 * has one) then its expression; a binary's lhs then rhs; a unary's, paren's or step-invariant's
 * operand), or NULL when i is past the last child.  Writing through the slot replaces the child
 * (e.g. to wrap it in a TS_PROMQL_STEP_INVARIANT node). */
ts_promql_expr **ts_promql_expr_child(ts_promql_expr *e, size_t i);

/* ---- Printing ---------------------------------------------------------------------------- */

/* Appends Prometheus' String() form of e to out (e.g. `sum by (job) (rate(x[5m]))`).
 * Returns 0 or TS_ELIMIT when out is bounded and full. */
int ts_promql_format(const ts_promql_expr *e, ts_buf *out);
/* The same into a NUL-terminated arena string. */
char *ts_promql_to_string(ts_arena *arena, const ts_promql_expr *e);

/* Go's strconv.Quote (%q) of s[0..n) into buf, snprintf-style: returns the
 * full length, writes at most size bytes including the NUL (buf may be NULL
 * when size is 0); invalid UTF-8 bytes come out as \xNN. */
size_t ts_promql_go_quote(char *buf, size_t size, const char *s, size_t n);

#endif
