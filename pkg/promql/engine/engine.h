/*
 * The PromQL engine: evaluates instant and range queries (Prometheus 2.42
 * semantics) over any ts_queryable (pkg/storage).
 *
 *   ts_promql_engine *eng;
 *   ts_promql_engine_new(&eng, NULL);             // defaults: 5m lookback, 2m timeout
 *   ts_promql_query *q;
 *   if (ts_promql_query_instant(eng, qb, "sum(rate(x[5m]))", t_ms, &q, &err) == 0) {
 *       const ts_promql_result *r = ts_promql_query_result(q);
 *       ... walk r (valid until close) ...
 *       ts_promql_query_close(q);
 *   }
 *
 * A query is parsed, its selectors' series are loaded from one querier
 * covering the whole time range needed, and the expression is evaluated step
 * by step (a range query is start, start+step, ... <= end; an instant query
 * is one step).  All memory of a query (AST, loaded samples, result) lives in
 * one arena owned by the ts_promql_query and freed by ts_promql_query_close.
 * Intermediate values live in scratch arenas that are released before the
 * query functions return.  A query is bounded by max_samples, max_bytes and
 * the timeout.
 *
 * Errors: the query functions return 0, or a negative code with *out = NULL
 * and err (may be NULL) filled with Prometheus' text:
 *   TS_EPARSE    syntax/type error ("1:5: parse error: ...")   -> API bad_data
 *   TS_ETIMEOUT  "query timed out in expression evaluation"    -> API timeout
 *                ("expanding series: context deadline exceeded" while
 *                loading series; both texts as Prometheus 2.42 gives them)
 *   TS_ELIMIT    "query processing would load too many samples into memory
 *                 in query execution"                          -> API execution
 *   TS_EINVAL    evaluation errors, e.g. "vector cannot contain metrics with
 *                the same labelset"                             -> API execution
 *   other        storage errors (select failed, iterator error)
 *
 * Thread-safety: an engine is immutable after ts_promql_engine_new and may
 * run queries from several threads at once; each query is used by one thread.
 */
#ifndef TS_PROMQL_ENGINE_ENGINE_H
#define TS_PROMQL_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/promql/parser/ast.h"
#include "pkg/storage/storage.h"
#include "pkg/util/err.h"

typedef struct ts_promql_engine_opts {
    int64_t lookback_ms;     /* staleness lookback; 0 = 5m */
    int64_t timeout_ms;      /* per query; 0 = 2m; < 0 = none */
    size_t max_samples;      /* samples held in memory at once; 0 = 50,000,000 */
    int64_t default_step_ms; /* subquery step when none is given; 0 = 1m */
    size_t max_bytes;        /* memory one query may hold (its arenas); 0 = 2 GiB; exceeding
                                it fails like max_samples (TS_ELIMIT, same text) */
} ts_promql_engine_opts;

typedef struct ts_promql_engine ts_promql_engine;
typedef struct ts_promql_query ts_promql_query;

/* opts may be NULL (all defaults).  Free with ts_promql_engine_free (accepts NULL). */
int ts_promql_engine_new(ts_promql_engine **out, const ts_promql_engine_opts *opts);
void ts_promql_engine_free(ts_promql_engine *e);

/* ---- Results (all memory belongs to the query: valid until close) ---------------------- */

/* One element of an instant vector: t is the evaluation time. */
typedef struct ts_promql_vsample {
    const ts_labels *labels;
    int64_t t;
    double v;
} ts_promql_vsample;

/* One series of a matrix: samples ascending by time. */
typedef struct ts_promql_mseries {
    const ts_labels *labels;
    ts_sample *samples;
    size_t n;
} ts_promql_mseries;

typedef struct ts_promql_result {
    ts_promql_value_type type; /* SCALAR, STRING, VECTOR or MATRIX */
    int64_t t;                 /* SCALAR/STRING: evaluation time */
    double scalar;             /* SCALAR */
    const char *str;           /* STRING (NUL-terminated) */
    ts_promql_vsample *vec;    /* VECTOR: in evaluation order (sort/topk order kept) */
    size_t nvec;
    ts_promql_mseries *mat; /* MATRIX: sorted by labels (range queries, range selectors) */
    size_t nmat;
    const char **warnings; /* non-fatal notes from storage */
    size_t nwarnings;
} ts_promql_result;

/* ---- Queries ------------------------------------------------------------------------------ */

/* Evaluates expr (len bytes, need not be NUL-terminated: pass strlen for C strings) at t_ms.
 * qb (borrowed for the call) may be NULL only for expressions without selectors.
 * Result types: scalar, string, vector, or matrix (for a range selector or subquery). */
int ts_promql_query_instant(ts_promql_engine *e, ts_queryable *qb, const char *expr, size_t len,
                            int64_t t_ms, ts_promql_query **out, ts_error *err);

/* Evaluates expr at start, start+step, ... <= end (step > 0, end >= start).  The result is a
 * matrix (a scalar expression gives one series with no labels).  The expression must be a
 * scalar or instant vector (else TS_EPARSE, as Prometheus' "invalid expression type ... for
 * range query, must be Scalar or instant Vector"). */
int ts_promql_query_range(ts_promql_engine *e, ts_queryable *qb, const char *expr, size_t len,
                          int64_t start_ms, int64_t end_ms, int64_t step_ms, ts_promql_query **out,
                          ts_error *err);

const ts_promql_result *ts_promql_query_result(const ts_promql_query *q);

/* Writes a sample value as Prometheus' HTTP API and count_values print it (Go's
 * strconv.FormatFloat(v, 'f', -1, 64)): shortest round-trip digits without an
 * exponent ("1", "0.1", "1000000000000000000000"), "NaN", "+Inf", "-Inf".
 * Needs at most 330 bytes; output is truncated (NUL-terminated) to size. */
void ts_promql_format_value(double v, char *buf, size_t size);
/* Frees everything of the query (accepts NULL). */
void ts_promql_query_close(ts_promql_query *q);

#endif
