/*
 * HTTP handlers of /api/v1/targets and /api/v1/metadata over a scrape
 * manager (ctx is the ts_scrape_manager; NULL answers empty lists).  Register
 * them with ts_web_server_route(web, "GET", path, false, handler, manager).
 *
 * Thread-safety: any web worker thread (the manager's listing calls take its
 * lock).
 */
#ifndef TS_WEB_SCRAPE_API_H
#define TS_WEB_SCRAPE_API_H

#include <stdbool.h>

#include "pkg/scrape/scrape.h"
#include "pkg/util/jsonw.h"
#include "pkg/web/server.h"

/* GET /api/v1/targets[?state=active|dropped|any] */
int ts_web_scrape_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/metadata[?metric=NAME][&limit=N] */
int ts_web_scrape_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);

/* The `data` object of /api/v1/metadata (metric: only that name, or NULL/""; limit < 0: all),
 * shared by the HTTP handler and the shard's store API MetaRequest, so the querier merges exactly
 * what the shard shows.  Strings are taken into a. */
void ts_web_scrape_write_metadata(ts_scrape_manager *m, ts_arena *a, const char *metric, long limit,
                                  ts_jsonw *j);
/* Reads the `limit` parameter: "" or NULL is -1 (no limit); false when it is not a number. */
bool ts_web_scrape_parse_limit(const char *limit_s, long *limit);

#endif
