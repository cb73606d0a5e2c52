/*
 * HTTP handlers of /api/v1/rules and /api/v1/alerts over a rule manager
 * (Prometheus 2.42's JSON shapes; ctx is the ts_rules_manager).  Register
 * them with ts_web_server_route(web, "GET", path, false, handler, manager).
 */
#ifndef TS_RULES_API_H
#define TS_RULES_API_H

#include "pkg/rules/manager.h"
#include "pkg/rules/notifier.h"
#include "pkg/web/server.h"

/* GET /api/v1/rules[?type=alert|record] */
int ts_rules_api_rules(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/alerts */
int ts_rules_api_alerts(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/alertmanagers (ctx: the ts_notifier) */
int ts_rules_api_alertmanagers(ts_web_req *req, ts_web_resp *resp, void *ctx);

#endif
