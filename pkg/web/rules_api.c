/*
 * /api/v1/rules, /api/v1/alerts and /api/v1/alertmanagers: the envelope and
 * parameters here, the bodies come from pkg/rules (ts_rules_manager_rules_json
 * / _alerts_json under the manager's lock, ts_notifier_alertmanagers_json).
 * Here and not in pkg/rules because, as in Prometheus, web serves rules:
 * the rule manager and the Alertmanager client do not need an HTTP server.
 * As Prometheus 2.42, `type` must be empty, "alert" or "record"
 * (case-insensitive); anything else is bad_data.
 */
#include "pkg/web/rules_api.h"

#include <stdio.h>
#include <strings.h>

#include "pkg/web/api.h"

int
ts_web_rules_handle_rules(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    const char *type = ts_web_req_param(req, "type");
    const char *t = NULL;
    if (type && type[0]) {
        if (strcasecmp(type, "alert") == 0) {
            t = "alert";
        } else if (strcasecmp(type, "record") == 0) {
            t = "record";
        } else {
            char msg[300];
            snprintf(msg, sizeof(msg), "invalid parameter \"type\": not supported value \"%.200s\"",
                     type);
            ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, msg);
            return TS_OK;
        }
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
