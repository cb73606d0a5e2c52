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

#include "pkg/labels/matcher.h"
#include "pkg/scrape/scrape.h"
#include "pkg/util/jsonw.h"
#include "pkg/web/server.h"

/* GET /api/v1/targets[?state=active|dropped|any][&scrapePool=JOB] */
int ts_web_scrape_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/targets/metadata[?match_target=SELECTOR][&metric=NAME][&limit=N] */
int ts_web_scrape_handle_targets_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/metadata[?metric=NAME][&limit=N] */
int ts_web_scrape_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);

/* The `data` object of /api/v1/metadata (metric: only that name, or NULL/""; limit < 0: all),
 * shared by the HTTP handler and the shard's store API MetaRequest, so the querier merges exactly
 * what the shard shows.  Strings are taken into a. */
void ts_web_scrape_write_metadata(ts_scrape_manager *m, ts_arena *a, const char *metric, long limit,
                                  ts_jsonw *j);
/* The `data` object of /api/v1/targets (state: Prometheus' `state` parameter, NULL or "" = any;
 * pool: only that scrape pool, NULL or "" = all), shared by the HTTP handler and the store API. */
void ts_web_scrape_write_targets(ts_scrape_manager *m, const char *state, const char *pool,
                                 ts_jsonw *j);
/* The `data` array of /api/v1/targets/metadata (ms: matchers on the target's labels, may be
 * none; metric: NULL or "" = every metric; limit < 0: all), shared likewise. */
void ts_web_scrape_write_targets_metadata(ts_scrape_manager *m, ts_matcher *const *ms, size_t nms,
                                          const char *metric, long limit, ts_jsonw *j);

#endif
