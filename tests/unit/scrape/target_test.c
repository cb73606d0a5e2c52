/*
 * Tests for pkg/scrape/target.c: target labels (populate_labels) and URLs,
 * as Prometheus 2.42's scrape/target.go builds them.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkg/tsdb/head/head.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"
#include "tests/unit/scrape/scrape_helper.h"

static void
test_populate_labels(void)
{
    ts_config *c = parse_cfg("scrape_configs:\n"
                             "- job_name: j\n"
                             "  scrape_interval: 30s\n"
                             "  params: {module: [m1, m2]}\n"
                             "  relabel_configs:\n"
                             "  - source_labels: [__meta_drop]\n"
                             "    regex: yes\n"
                             "    action: drop\n"
                             "  - source_labels: [__meta_team]\n"
                             "    target_label: team\n");
    const ts_scrape_config *sc = &c->scrape[0];
    ts_labels *res, *orig;
    ts_error err;

    ts_labels *d = ts_labels_from_strings(4, "__address__", "h1", "__meta_team", "red");
    T_OK(ts_scrape_populate_labels(sc, d, &res, &orig, &err));
    T_TRUE(res != NULL);
    T_STREQ(ts_labels_get(res, "__address__"), "h1:80"); /* 2.42 adds the port */
    T_STREQ(ts_labels_get(res, "instance"), "h1:80");
    T_STREQ(ts_labels_get(res, "job"), "j");
    T_STREQ(ts_labels_get(res, "team"), "red");
    T_STREQ(ts_labels_get(res, "__scrape_interval__"), "30s");
    T_STREQ(ts_labels_get(res, "__scrape_timeout__"), "10s");
    T_STREQ(ts_labels_get(res, "__metrics_path__"), "/metrics");
    T_STREQ(ts_labels_get(res, "__scheme__"), "http");
    T_STREQ(ts_labels_get(res, "__param_module"), "m1");
    T_TRUE(ts_labels_get(res, "__meta_team") == NULL);  /* meta removed */
    T_STREQ(ts_labels_get(orig, "__meta_team"), "red"); /* kept in discovered */
    T_TRUE(ts_labels_get(orig, "team") == NULL);
    char url[256];
    ts_scrape_target_url(sc, res, url, sizeof(url));
    T_STREQ(url, "http://h1:80/metrics?module=m1&module=m2");
    ts_labels_free(res);
    ts_labels_free(orig);
    ts_labels_free(d);

    /* https, IPv6, explicit instance, a port already there */
    d = ts_labels_from_strings(4, "__address__", "[::1]", "__scheme__", "https");
    T_OK(ts_scrape_populate_labels(sc, d, &res, &orig, &err));
    T_STREQ(ts_labels_get(res, "__address__"), "[::1]:443");
    ts_labels_free(res);
    ts_labels_free(orig);
    ts_labels_free(d);
    d = ts_labels_from_strings(4, "__address__", "h:9", "instance", "mine");
    T_OK(ts_scrape_populate_labels(sc, d, &res, &orig, &err));
    T_STREQ(ts_labels_get(res, "__address__"), "h:9");
    T_STREQ(ts_labels_get(res, "instance"), "mine");
    ts_labels_free(res);
    ts_labels_free(orig);
    ts_labels_free(d);

    /* dropped by relabeling: no result, discovered labels kept */
    d = ts_labels_from_strings(4, "__address__", "h:1", "__meta_drop", "yes");
    T_OK(ts_scrape_populate_labels(sc, d, &res, &orig, &err));
    T_TRUE(res == NULL);
    T_TRUE(orig != NULL);
    T_STREQ(ts_labels_get(orig, "__meta_drop"), "yes");
    T_STREQ(ts_labels_get(orig, "job"), "j");
    ts_labels_free(orig);
    ts_labels_free(d);

    /* errors */
    d = ts_labels_from_strings(2, "foo", "bar");
    T_EQ(ts_scrape_populate_labels(sc, d, &res, &orig, &err), TS_EINVAL);
    T_STREQ(err.msg, "no address");
    T_TRUE(res == NULL && orig == NULL);
    ts_labels_free(d);
    d = ts_labels_from_strings(4, "__address__", "h:1", "__scrape_timeout__", "1m");
    T_EQ(ts_scrape_populate_labels(sc, d, &res, &orig, &err), TS_EINVAL);
    T_STREQ(err.msg, "scrape timeout cannot be greater than scrape interval (\"1m\" > \"30s\")");
    ts_labels_free(d);
    d = ts_labels_from_strings(2, "__address__", "h:1/x");
    T_EQ(ts_scrape_populate_labels(sc, d, &res, &orig, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "is not a valid hostname") != NULL);
    ts_labels_free(d);
    ts_config_free(c);

    /* jitter seed: FNV-1a over hostname + external labels (values from Python) */
    ts_labels *ext = ts_labels_from_strings(2, "replica", "a");
    T_EQ(ts_scrape_jitter_seed("host1", ext), 0xf97c0b3487cfa06cULL);
    T_EQ(ts_scrape_jitter_seed("host1", NULL), 0x08d0b2aed5c17c4aULL);
    ts_labels_free(ext);
}

T_MAIN({"populate_labels", test_populate_labels})
