/*
 * Engine internals shared by engine.c (orchestration, selectors,
 * subqueries), binop.c, aggr.c and functions.c.  Not a public header; its
 * names carry the package-internal prefix ts__.
 *
 * The values of an evaluation: a ts__value is a scalar, a string, an instant
 * vector (ts__vector_elem array) or a range vector (ts__range_series
 * array).  Selectors load their series once per query (ts__loaded_series,
 * grouped per selector node in ts__selector_data); ts__evaluator holds one
 * query's state; ts__hash_index maps label-set hashes to indexes, and
 * ts__label_cache remembers derived label sets for the whole query.
 *
 * Evaluation model: every expression is evaluated at one timestamp at a
 * time (ts__eval(e, expr, t)); a range query loops over its steps and a
 * subquery loops over its inner steps.  Intermediate values live in the
 * scratch arena e->sa, reset after each outer step (a subquery's inner steps
 * use a per-depth arena, reset after each); anything kept across steps (the
 * range result, loaded series, memos, label caches) lives in the query arena
 * e->qa.
 *
 * Errors unwind with longjmp to the query entry point (ts__eval_fail), as
 * Prometheus' evaluator panics and recovers.  Code between setjmp and
 * ts__eval_fail therefore never holds heap memory of its own: everything is
 * in the arenas (the per-depth arenas are listed in the evaluator and freed
 * by the entry point), and the few other heap objects (compiled regexes, a
 * ts_buf) are freed before anything that can fail is called.
 */
#ifndef TS_PROMQL_ENGINE_INTERNAL_H
#define TS_PROMQL_ENGINE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "pkg/promql/engine/engine.h"

struct ts_promql_engine {
    ts_promql_engine_opts opts;
};

/* One element of an instant vector during evaluation.  t is the sample's own
 * timestamp for vector selectors (timestamp() needs it), else the step. */
typedef struct ts__vector_elem {
    const ts_labels *l;
    double v;
    int64_t t;
} ts__vector_elem;

struct ts__loaded_series;
struct ts__selector_data;

/* One series of a range vector: samples in [t - range, t], no stale markers.
 * src is the loaded series the window comes from (matrix selectors), else
 * NULL (subqueries). */
typedef struct ts__range_series {
    const ts_labels *l;
    const ts_sample *s;
    size_t n;
    struct ts__loaded_series *src;
} ts__range_series;

typedef struct ts__value {
    ts_promql_value_type type;
    double scalar;
    const char *str;
    ts__vector_elem *vec;
    size_t n; /* elements of vec or mat */
    ts__range_series *mat;
    /* MATRIX only: the window it covers (for extrapolating functions), and
     * the selector's series when it comes from a matrix selector (else NULL). */
    int64_t range_end, range_ms;
    struct ts__selector_data *sel;
} ts__value;

/* Series loaded for one selector node (hung off expr->aux). */
typedef struct ts__loaded_series {
    const ts_labels *l;
    /* l without __name__ (query arena), derived on first use: functions drop
     * the name at every step, and this spares them the derivation. */
    const ts_labels *dropped;
    ts_sample *s; /* ascending, stale markers included */
    size_t n;
    bool has_stale;
    /* Search hints for the next evaluation (steps mostly move forward):
     * lo = samples before the last window start, hi = samples at or before the
     * last window end. */
    size_t lo, hi;
} ts__loaded_series;

typedef struct ts__selector_data {
    ts__loaded_series *series;
    size_t n;
    /* Whether the series' label sets without __name__ are pairwise distinct
     * (0 = not yet known, 1 = yes, -1 = no): when they are, a function's
     * result over any subset cannot hold duplicates and needs no check. */
    int distinct_dropped;
} ts__selector_data;

/* Label sets derived from input label sets, remembered for the whole query
 * (in the query arena) so that a range query derives each one once, not at
 * every step: key = hash of the input set. */
typedef struct ts__label_cache {
    struct ts__hash_index *map;
    const ts_labels **out;
    size_t n, cap;
} ts__label_cache;

#define TS__LABEL_CACHE_MAX 1000000 /* beyond this, derive without caching */

typedef struct ts__evaluator {
    const ts_promql_engine *eng;
    ts_arena *qa;                 /* query arena: lives as long as the result */
    ts_arena *sa;                 /* scratch arena: reset after each outer step */
    int64_t start, end, interval; /* query start/end (for @ start()/end()) */
    int64_t lookback;
    size_t max_samples, cur_samples;
    size_t loaded; /* samples copied from storage */
    size_t max_bytes;
    /* Scratch arenas for the inner steps of (nested) subqueries, one per
     * nesting depth, reset after each inner step; freed with the query. */
    ts_arena *inner[8];
    int depth;
    uint64_t deadline_ns;    /* 0 = none */
    ts__label_cache dropped; /* input -> input without __name__ */
    jmp_buf jb;
    ts_error *err;
    int code;
} ts__evaluator;

_Noreturn void ts__eval_fail(ts__evaluator *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ts__eval_add_samples(ts__evaluator *e, size_t n);
void ts__eval_check_time(ts__evaluator *e);

/* Evaluates expr at t (engine.c). */
ts__value ts__eval(ts__evaluator *e, const ts_promql_expr *x, int64_t t);
/* Range-vector argument of a function: a matrix selector or a subquery
 * (parens unwrapped); also returns the window. */
ts__value ts__eval_range_arg(ts__evaluator *e, const ts_promql_expr *x, int64_t t);
/* Strips parens (and step-invariant markers). */
const ts_promql_expr *ts__unwrap(const ts_promql_expr *x);

/* binop.c */
ts__value ts__eval_binary(ts__evaluator *e, const ts_promql_expr *x, int64_t t);
/* aggr.c */
ts__value ts__eval_aggregate(ts__evaluator *e, const ts_promql_expr *x, int64_t t);
/* functions.c */
ts__value ts__eval_call(ts__evaluator *e, const ts_promql_expr *x, int64_t t);

/* Fails with "vector cannot contain metrics with the same labelset" when two
 * elements share a label set. */
void ts__check_dup_labels(ts__evaluator *e, const ts__vector_elem *v, size_t n);

/* Label helpers (results in the scratch arena). */
const ts_labels *ts__drop_name(ts__evaluator *e, const ts_labels *l);
/* The labels of a loaded series without __name__ (derived once per query). */
const ts_labels *ts__series_dropped(ts__evaluator *e, ts__loaded_series *ls);
/* Whether ts__series_dropped is pairwise distinct over the selector's series. */
bool ts__sel_dropped_distinct(ts__evaluator *e, ts__selector_data *sd);
/* Copy of l with name set to value ("" deletes). */
const ts_labels *ts__labels_set(ts_arena *a, const ts_labels *l, const char *name,
                                const char *value);
/* Keeps only (include) or drops (!include) the given names. */
const ts_labels *ts__labels_keep(ts_arena *a, const ts_labels *l, char *const *names, size_t n,
                                 bool include);

/* A small open-addressing map from label-set hash to an index, in an arena. */
typedef struct ts__hash_index {
    uint64_t *keys;
    size_t *vals;
    size_t cap, len;
    ts_arena *a;
} ts__hash_index;
void ts__hash_index_init(ts__hash_index *m, ts_arena *a, size_t hint);
/* Cached derived label set for the input hash key, or NULL. */
const ts_labels *ts__label_cache_get(const ts__label_cache *c, uint64_t key);
/* Remembers out (which must live in the query arena) for key. */
void ts__label_cache_put(ts__evaluator *e, ts__label_cache *c, uint64_t key, const ts_labels *out);
/* Returns the slot's value pointer; *found tells whether it existed (when not,
 * the caller must set *ret). */
size_t *ts__hash_index_put(ts__hash_index *m, uint64_t key, bool *found);
size_t *ts__hash_index_get(const ts__hash_index *m, uint64_t key);

static inline ts__value
ts__value_scalar(double v)
{
    ts__value r = {0};
    r.type = TS_PROMQL_VT_SCALAR;
    r.scalar = v;
    return r;
}

static inline ts__value
ts__value_vector(ts__vector_elem *v, size_t n)
{
    ts__value r = {0};
    r.type = TS_PROMQL_VT_VECTOR;
    r.vec = v;
    r.n = n;
    return r;
}

#endif
