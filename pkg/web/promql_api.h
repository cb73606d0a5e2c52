/*
 * The adapter between the API's pluggable query callback (pkg/web/api.h) and
 * the PromQL engine (pkg/promql/engine): a ts_web_api_query_fn that evaluates
 * with ts_promql_query_instant/_range and writes the result with
 * ts_web_api_write_result.
 *
 *   ts_web_promql wp = {.engine = eng, .queryable = &qb};
 *   ts_web_api_opts o = {..., .query = ts_web_promql_query, .query_ctx = &wp};
 *
 * Error mapping (Prometheus' api.go): parse/type errors -> bad_data with
 * `invalid parameter "query": `; TS_ETIMEOUT -> timeout; TS_ECANCELED ->
 * canceled; TS_EINVAL/TS_ELIMIT -> execution; storage errors -> internal.
 * A timeout parameter of 0 or less (already expired) gives the parse error
 * if the query does not parse, else "query timed out in query execution".
 * Per-query timeouts > 0 are not passed on: the engine's own timeout applies.
 *
 * Thread-safety: as the engine (queries may run concurrently).
 */
#ifndef TS_WEB_PROMQL_API_H
#define TS_WEB_PROMQL_API_H

#include "pkg/promql/engine/engine.h"
#include "pkg/web/api.h"

typedef struct ts_web_promql {
    ts_promql_engine *engine; /* borrowed */
    ts_queryable *queryable;  /* borrowed */
} ts_web_promql;

/* A ts_web_api_query_fn; ctx is a ts_web_promql *. */
int ts_web_promql_query(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out);

#endif
