/*
 * HTTP handler of /api/v1/status/tsdb over a TSDB (ctx is the ts_db).
 * Register it with ts_web_server_route(web, "GET", path, false, handler, db).
 *
 * Thread-safety: any web worker thread (reads the head through a querier).
 */
#ifndef TS_WEB_TSDB_API_H
#define TS_WEB_TSDB_API_H

#include "pkg/tsdb/db.h"
#include "pkg/web/server.h"

/* GET /api/v1/status/tsdb */
int ts_web_tsdb_handle_status(ts_web_req *req, ts_web_resp *resp, void *ctx);

#endif
