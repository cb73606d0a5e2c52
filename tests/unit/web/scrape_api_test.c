/* pkg/web/scrape_api.c: the discoveryErrors part of /api/v1/targets' data
 * (the rest is checked against Prometheus by the integration tests). */
#include "pkg/web/scrape_api.h"

#include "pkg/util/buf.h"
#include "tests/testutil/t.h"

/* What f[0..n) gives inside a data object, as text (static buffer). */
static const char *
errors_json(const ts_discovery_failure *f, size_t n)
{
    static char out[4096];
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &b);
    ts_jsonw_obj_begin(&j);
    ts_web_scrape_write_discovery_errors(f, n, &j);
    ts_jsonw_obj_end(&j);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)b.p);
    ts_buf_fini(&b);
    return out;
}

static void
test_discovery_errors(void)
{
    ts_discovery_failure f[2] = {
        {.job = "pods",
         .mechanism = "kubernetes_sd",
         .role = "pod",
         .error = "403 Forbidden: pods is \"forbidden\"",
         .error_ms = 1767225602500, /* 2026-01-01T00:00:02.5Z */
         .success_ms = 1767225600000},
        {.job = "files",
         .mechanism = "file_sd",
         .error = "/x.json: line 1: bad",
         .error_ms = 1767225601000},
    };
    T_STREQ(errors_json(f, 2),
            "{\"discoveryErrors\":[{\"scrapePool\":\"pods\",\"mechanism\":\"kubernetes_sd\","
            "\"role\":\"pod\",\"lastError\":\"403 Forbidden: pods is \\\"forbidden\\\"\","
            "\"lastErrorTime\":\"2026-01-01T00:00:02.5Z\","
            "\"lastSuccessTime\":\"2026-01-01T00:00:00Z\"},"
            "{\"scrapePool\":\"files\",\"mechanism\":\"file_sd\",\"lastError\":\"/x.json: line 1: "
            "bad\",\"lastErrorTime\":\"2026-01-01T00:00:01Z\"}]}");
    /* nothing failing: no key at all, so the answer stays Prometheus' */
    T_STREQ(errors_json(f, 0), "{}");
}

static void
test_targets_without_failures_is_prometheus_shape(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &b);
    ts_web_targets_src src = {0};
    ts_web_scrape_write_targets(&src, NULL, NULL, &j);
    T_STREQ(ts_buf_cstr(&b), "{\"activeTargets\":[],\"droppedTargets\":[]}");
    ts_buf_fini(&b);
}

T_MAIN({"discovery_errors", test_discovery_errors},
       {"targets_without_failures_is_prometheus_shape",
        test_targets_without_failures_is_prometheus_shape})
