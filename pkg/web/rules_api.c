/*
 * /api/v1/rules, /api/v1/alerts and /api/v1/alertmanagers: the envelope and
 * parameters here, the bodies come from pkg/rules (ts_rules_manager_rules_json
 * / _alerts_json under the manager's lock, ts_notifier_alertmanagers_json).
 * Here and not in pkg/rules because, as in Prometheus, web serves rules:
 * the rule manager and the Alertmanager client do not need an HTTP server.
 * As Prometheus 2.42, `type` must be empty, "alert" or "record"
 * (case-insensitive); anything else is bad_data.  The `data` bodies are the
 * same for the HTTP handlers and the store API (MetaRequest RULES and ALERTS,
 * answered by cmd/tessera/serve.c's ts_serve_rules_meta for shard and ruler).
 */
#include "pkg/web/rules_api.h"

#include <stdio.h>
#include <strings.h>

#include "pkg/web/api.h"
#include "pkg/web/params.h"

int
ts_web_rules_handle_rules(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    const char *t;
    char msg[300];
    if (!ts_web_param_rules_type(ts_web_req_param(req, "type"), &t, msg, sizeof(msg))) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, msg);
        return TS_OK;
    }
    ts_jsonw j;
    ts_web_api_success_begin(resp, &j);
    ts_rules_manager_rules_json(ctx, &j, t);
    return ts_web_api_success_end(resp, &j, NULL, 0);
}

int
ts_web_rules_handle_alerts(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_jsonw j;
    ts_web_api_success_begin(resp, &j);
    ts_rules_manager_alerts_json(ctx, &j);
    return ts_web_api_success_end(resp, &j, NULL, 0);
}

int
ts_web_rules_handle_alertmanagers(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_jsonw j;
    ts_web_api_success_begin(resp, &j);
    ts_notifier_alertmanagers_json(ctx, &j);
    return ts_web_api_success_end(resp, &j, NULL, 0);
}
