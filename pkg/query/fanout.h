/*
 * The global view: one ts_queryable over every store the endpoints know,
 * with Thanos' query semantics (DESIGN.md §6):
 *  - stores are pruned by time range and by matchers on their external labels;
 *  - the rest are asked in parallel, each under the request's deadline;
 *  - with dedup on, stores drop the replica labels and the merged stream is
 *    deduplicated (penalty algorithm; counter-safe for rate & co, known from
 *    the select hints' function); with dedup off, series are merged as they are;
 *  - a store that fails or is known unhealthy becomes a warning naming it
 *    (partial response) or fails the query (strict).
 */
#ifndef TS_QUERY_FANOUT_H
#define TS_QUERY_FANOUT_H

#include "pkg/query/endpoints.h"

typedef struct ts_query_fanout_opts {
    bool dedup;
    bool partial_response;
    const char *const *replica_labels; /* borrowed */
    size_t nreplica;
    int64_t timeout_ms;
} ts_query_fanout_opts;

typedef struct ts_fanout {
    ts_queryable qb; /* first member: a ts_fanout * is a ts_queryable * */
    ts_endpoints *e;
    ts_query_fanout_opts opts;
} ts_fanout;

/* Initialises a caller-allocated fan-out (one per request, or shared). */
void ts_query_fanout_init(ts_fanout *f, ts_endpoints *e, const ts_query_fanout_opts *opts);

#endif
