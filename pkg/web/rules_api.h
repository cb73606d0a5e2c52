/*
 * HTTP handlers of /api/v1/rules and /api/v1/alerts over a rule manager and
 * of /api/v1/alertmanagers over a notifier (Prometheus 2.42's JSON shapes).
 * Register them with ts_web_server_route(web, "GET", path, false, handler,
 * manager or notifier).
 */
#ifndef TS_WEB_RULES_API_H
#define TS_WEB_RULES_API_H

#include "pkg/rules/manager.h"
#include "pkg/rules/notifier.h"
#include "pkg/web/server.h"

/* GET /api/v1/rules[?type=alert|record] */
int ts_web_rules_handle_rules(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/alerts */
int ts_web_rules_handle_alerts(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/alertmanagers (ctx: the ts_notifier) */
int ts_web_rules_handle_alertmanagers(ts_web_req *req, ts_web_resp *resp, void *ctx);

#endif
