/*
 * Engine internals shared by engine.c (orchestration, selectors,
 * subqueries), binop.c, aggr.c and functions.c.  Not a public header.
 *
 * Evaluation model: every expression is evaluated at one timestamp at a
 * time (eval(ev, expr, t)); a range query loops over its steps and a
 * subquery loops over its inner steps.  Intermediate values live in the
 * scratch arena ev->sa, reset after each outer step (a subquery's inner steps
 * use a per-depth arena, reset after each); anything kept across steps (the
 * range result, loaded series, memos, label caches) lives in the query arena
 * ev->qa.
 *
 * Errors unwind with longjmp to the query entry point (ev_fail), as
 * Prometheus' evaluator panics and recovers.  Code between setjmp and
 * ev_fail therefore never holds heap memory of its own: everything is in the
 * arenas (the per-depth arenas are listed in ev and freed by the entry
 * point), and the few other heap objects (compiled regexes, a ts_buf) are
 * freed before anything that can fail is called.
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
typedef struct vel {
    const ts_labels *l;
    double v;
    int64_t t;
} vel;

struct loaded_series;
struct sel_data;

/* One series of a range vector: samples in [t - range, t], no stale markers.
 * src is the loaded series the window comes from (matrix selectors), else
 * NULL (subqueries). */
typedef struct mser {
    const ts_labels *l;
    const ts_sample *s;
    size_t n;
    struct loaded_series *src;
} mser;

typedef struct val {
    ts_promql_value_type type;
    double scalar;
    const char *str;
    vel *vec;
    size_t n; /* elements of vec or mat */
    mser *mat;
    /* MATRIX only: the window it covers (for extrapolating functions), and
     * the selector's series when it comes from a matrix selector (else NULL). */
    int64_t range_end, range_ms;
    struct sel_data *sel;
} val;

/* Series loaded for one selector node (hung off expr->aux). */
typedef struct loaded_series {
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
} loaded_series;

typedef struct sel_data {
    loaded_series *series;
    size_t n;
    /* Whether the series' label sets without __name__ are pairwise distinct
     * (0 = not yet known, 1 = yes, -1 = no): when they are, a function's
     * result over any subset cannot hold duplicates and needs no check. */
    int distinct_dropped;
} sel_data;

/* Label sets derived from input label sets, remembered for the whole query
 * (in the query arena) so that a range query derives each one once, not at
 * every step: key = hash of the input set. */
typedef struct label_cache {
    struct lmap *map;
    const ts_labels **out;
    size_t n, cap;
} label_cache;

#define LABEL_CACHE_MAX 1000000 /* beyond this, derive without caching */

typedef struct ev {
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
    uint64_t deadline_ns; /* 0 = none */
    label_cache dropped;  /* input -> input without __name__ */
    jmp_buf jb;
    ts_error *err;
    int code;
} ev;

_Noreturn void ts__ev_fail(ev *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ev_fail ts__ev_fail
void ts__ev_add_samples(ev *e, size_t n);
void ts__ev_check_time(ev *e);

/* Evaluates expr at t (engine.c). */
val ts__eval(ev *e, const ts_promql_expr *x, int64_t t);
/* Range-vector argument of a function: a matrix selector or a subquery
 * (parens unwrapped); also returns the window. */
val ts__eval_range_arg(ev *e, const ts_promql_expr *x, int64_t t);
/* Strips parens (and step-invariant markers). */
const ts_promql_expr *ts__unwrap(const ts_promql_expr *x);

/* binop.c */
val ts__eval_binary(ev *e, const ts_promql_expr *x, int64_t t);
/* aggr.c */
val ts__eval_aggregate(ev *e, const ts_promql_expr *x, int64_t t);
/* functions.c */
val ts__eval_call(ev *e, const ts_promql_expr *x, int64_t t);

/* Fails with "vector cannot contain metrics with the same labelset" when two
 * elements share a label set. */
void ts__check_dup_labels(ev *e, const vel *v, size_t n);

/* Label helpers (results in the scratch arena). */
const ts_labels *ts__drop_name(ev *e, const ts_labels *l);
/* The labels of a loaded series without __name__ (derived once per query). */
const ts_labels *ts__series_dropped(ev *e, loaded_series *ls);
/* Whether ts__series_dropped is pairwise distinct over the selector's series. */
bool ts__sel_dropped_distinct(ev *e, sel_data *sd);
/* Copy of l with name set to value ("" deletes). */
const ts_labels *ts__labels_set(ts_arena *a, const ts_labels *l, const char *name,
                                const char *value);
/* Keeps only (include) or drops (!include) the given names. */
const ts_labels *ts__labels_keep(ts_arena *a, const ts_labels *l, char *const *names, size_t n,
                                 bool include);

/* A small open-addressing map from label-set hash to an index, in an arena. */
typedef struct lmap {
    uint64_t *keys;
    size_t *vals;
    size_t cap, len;
    ts_arena *a;
} lmap;
void ts__lmap_init(lmap *m, ts_arena *a, size_t hint);
/* Cached derived label set for the input hash key, or NULL. */
const ts_labels *ts__label_cache_get(const label_cache *c, uint64_t key);
/* Remembers out (which must live in the query arena) for key. */
void ts__label_cache_put(ev *e, label_cache *c, uint64_t key, const ts_labels *out);
/* Returns the slot's value pointer; *found tells whether it existed (when not,
 * the caller must set *ret). */
size_t *ts__lmap_put(lmap *m, uint64_t key, bool *found);
size_t *ts__lmap_get(const lmap *m, uint64_t key);

static inline val
val_scalar(double v)
{
    val r = {0};
    r.type = TS_PROMQL_VT_SCALAR;
    r.scalar = v;
    return r;
}

static inline val
val_vector(vel *v, size_t n)
{
    val r = {0};
    r.type = TS_PROMQL_VT_VECTOR;
    r.vec = v;
    r.n = n;
    return r;
}

#endif
