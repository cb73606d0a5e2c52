/*
 * HTTP handlers of /api/v1/targets and /api/v1/metadata over a scrape
 * manager (ctx is the ts_scrape_manager; NULL answers empty lists; for
 * /api/v1/targets a ts_web_targets_src, which adds the discovery manager).
 * Register them with ts_web_server_route(web, "GET", path, false, handler, ctx).
 *
 * Thread-safety: any web worker thread (the managers' listing calls take
 * their locks).
 */
#ifndef TS_WEB_SCRAPE_API_H
#define TS_WEB_SCRAPE_API_H

#include <stdbool.h>

#include "pkg/discovery/discovery.h"
#include "pkg/labels/matcher.h"
#include "pkg/scrape/scrape.h"
#include "pkg/util/jsonw.h"
#include "pkg/web/server.h"

/* What /api/v1/targets reads (borrowed; both must outlive the web server). */
typedef struct ts_web_targets_src {
    ts_scrape_manager *scrape;       /* NULL: empty lists */
    ts_discovery_manager *discovery; /* NULL: no discoveryErrors */
} ts_web_targets_src;

/* GET /api/v1/targets[?state=active|dropped|any][&scrapePool=JOB]; ctx: a ts_web_targets_src */
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
 * pool: only that scrape pool, NULL or "" = all), shared by the HTTP handler and the store API:
 * activeTargets, droppedTargets, then discoveryErrors when a discoverer is failing. */
void ts_web_scrape_write_targets(const ts_web_targets_src *src, const char *state, const char *pool,
                                 ts_jsonw *j);
/* The "discoveryErrors" key and its array of n failing discoverers (nothing when n = 0, so the
 * answer stays Prometheus' own while discovery works): per entry scrapePool, mechanism, role
 * (kubernetes_sd only), lastError, lastErrorTime and lastSuccessTime (RFC 3339; absent when it
 * never worked).  Inside the data object, after droppedTargets. */
void ts_web_scrape_write_discovery_errors(const ts_discovery_failure *f, size_t n, ts_jsonw *j);
/* The `data` array of /api/v1/targets/metadata (ms: matchers on the target's labels, may be
 * none; metric: NULL or "" = every metric; limit < 0: all), shared likewise. */
void ts_web_scrape_write_targets_metadata(ts_scrape_manager *m, ts_matcher *const *ms, size_t nms,
                                          const char *metric, long limit, ts_jsonw *j);

#endif
