/*
 * The querier's own HTTP endpoint and self-metrics over its store endpoints
 * (ctx is the ts_endpoints).  A library of its own (ts_query_api) so that
 * pkg/query itself does not link the HTTP server.
 *
 * Thread-safety: any thread (they work on snapshots).
 */
#ifndef TS_QUERY_API_H
#define TS_QUERY_API_H

#include "pkg/query/endpoints.h"
#include "pkg/query/fanout.h"
#include "pkg/util/metrics.h"
#include "pkg/web/server.h"

/* GET /api/v1/stores: every known store with health, last check and error,
 * external label sets, time range and component. */
int ts_query_api_stores(ts_web_req *req, ts_web_resp *resp, void *ctx);

/* The fan-out options of one API request: def with Thanos' `dedup` and
 * `partial_response` parameters ("true"/"1" or anything else for false;
 * absent or empty keeps def's value) and `store_response_timeout` (a
 * duration > 0; otherwise def's) applied.  req may be NULL. */
ts_query_fanout_opts ts_query_api_fanout_opts(const ts_query_fanout_opts *def, ts_web_req *req);

/* A ts_metrics collector: tessera_query_stores{state="healthy"|"unhealthy"}. */
void ts_query_endpoints_write_metrics(void *ctx, ts_metrics_writer *w);
/* A ts_metrics collector over a ts_query_fanout_stats (ctx): the
 * tessera_query_{replica_failures,slow_replicas_skipped,partial_responses,
 * partial_errors}_total counters. */
void ts_query_fanout_write_metrics(void *ctx, ts_metrics_writer *w);

#endif
