/*
 * The querier's non-series Prometheus API over the store API (global_api.c).
 */
#ifndef TS_QUERY_GLOBAL_API_H
#define TS_QUERY_GLOBAL_API_H

#include <stdint.h>

#include "pkg/query/fanout.h"
#include "pkg/web/api.h"
#include "pkg/web/server.h"

typedef struct ts_query_global_api {
    const ts_fanout *fanout; /* borrowed: its stores and options (the request's over them) */
} ts_query_global_api;

/* GET /api/v1/metadata (ctx: ts_query_global_api). */
int ts_query_global_api_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);

#endif
