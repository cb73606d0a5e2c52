/*
 * The `alerting` section of prometheus.yml (pkg/config, Prometheus' defaults
 * and promtool's error texts) and the Alertmanager URLs the notifier derives
 * from it.  Sending itself is tested against the real Alertmanager in
 * tests/integration/rules/alertmanager.sh.
 */
#include "pkg/config/config.h"
#include "pkg/rules/notifier.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <string.h>

static void
test_config(void)
{
    static const char Y[] = "global: {external_labels: {dc: eu}}\n"
                            "alerting:\n"
                            "  alert_relabel_configs: [{action: labeldrop, regex: tmp}]\n"
                            "  alertmanagers:\n"
                            "  - static_configs: [{targets: ['a:9093', 'b:9093']}]\n"
                            "  - scheme: https\n"
                            "    path_prefix: /am/\n"
                            "    timeout: 3s\n"
                            "    api_version: v1\n"
                            "    static_configs: [{targets: ['c:443']}]\n";
    ts_config *c;
    ts_error err;
    T_OK(ts_config_parse(Y, strlen(Y), "", &c, &err));
    T_EQ(c->nalertmanagers, 2);
    T_EQ(c->nalert_relabel, 1);
    T_STREQ(c->alertmanagers[0].scheme, "http");
    T_STREQ(c->alertmanagers[0].api_version, "v2");
    T_EQ(c->alertmanagers[0].timeout_ms, 10000);
    T_EQ(c->alertmanagers[0].static_configs[0].targets.n, 2);
    T_EQ(c->alertmanagers[1].timeout_ms, 3000);
    ts_notifier *n;
    T_OK(ts_notifier_new(&n));
    ts_notifier_apply_config(n, c);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &b);
    ts_notifier_alertmanagers_json(n, &j);
    T_STREQ(ts_buf_cstr(&b), "{\"activeAlertmanagers\":[{\"url\":\"http://a:9093/api/v2/alerts\"},"
                             "{\"url\":\"http://b:9093/api/v2/alerts\"},"
                             "{\"url\":\"https://c:443/am/api/v1/alerts\"}],"
                             "\"droppedAlertmanagers\":[]}");
    ts_buf_fini(&b);
    T_TRUE(ts_notifier_drain(n, 1000));
    ts_notifier_free(n);
    ts_config_free(c);
}

static void
test_config_errors(void)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        /* texts as promtool check config 2.42 prints them */
        {"alerting:\n  alertmanagers:\n  - api_version: v3\n",
         "expected Alertmanager api version to be one of [v1 v2] but got v3"},
        {"alerting:\n  alertmanagers:\n  - foo: 1\n",
         "field foo not found in type config.AlertmanagerConfig"},
        {"alerting:\n  bar: 1\n", "field bar not found in type config.AlertingConfig"},
        {"alerting:\n  alertmanagers:\n  - timeout: xs\n", "not a valid duration string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_config *c = NULL;
        ts_error err;
        ts_error_clear(&err);
        T_TRUE(ts_config_parse(cases[i].yaml, strlen(cases[i].yaml), "", &c, &err) != TS_OK);
        if (!strstr(err.msg, cases[i].msg))
            fprintf(stderr, "case %zu: %s\n", i, err.msg);
        T_TRUE(strstr(err.msg, cases[i].msg) != NULL);
        T_TRUE(c == NULL);
    }
}

T_MAIN({"config", test_config}, {"config_errors", test_config_errors})
