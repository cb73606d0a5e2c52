/*
 * Tests for pkg/scrape/loop.c (one loop per target) against the test HTTP
 * server: status codes, content types, gzip, NUL bytes, huge lines, slow
 * answers, limits, report series, metadata, staleness markers and reloads.
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

#define OK_BODY "# TYPE a counter\na{x=\"1\",job=\"inner\"} 1\nb 2\n"

static void
test_scrape_cases(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/ok", 200, "text/plain; version=0.0.4", OK_BODY, strlen(OK_BODY), false, 0);
    route_set(&s, "/500", 500, "text/plain", "oops", 4, false, 0);
    route_set(&s, "/slow", 200, "text/plain", OK_BODY, strlen(OK_BODY), false, 1000);
    route_set(&s, "/nul", 200, "text/plain", "a 1\nb\0 2\n", 9, false, 0);
    /* labels are parsed lazily (only for series the loop does not know yet):
     * a label error still fails the scrape with the parser's message */
    const char *badlbl = "a{x=\"1\"} 1\nb{x=1} 2\n";
    route_set(&s, "/badlbl", 200, "text/plain", badlbl, strlen(badlbl), false, 0);
    route_set(&s, "/gzip", 200, "text/plain", OK_BODY, strlen(OK_BODY), true, 0);
    const char *om = "# TYPE c counter\nc_total 5 1.5\n# EOF\n";
    route_set(&s, "/om", 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", om,
              strlen(om), false, 0);
    size_t hugelen = (2u << 20) + 10;
    char *huge = ts_malloc(hugelen);
    memset(huge, 'a', hugelen);
    memcpy(huge + hugelen - 4, " 1\n", 3);
    huge[hugelen - 1] = '\n';
    route_set(&s, "/huge", 200, "text/plain", huge, hugelen, false, 0);
    ts_free(huge);
    char big[4096];
    size_t bl = 0;
    for (int i = 0; i < 100; i++)
        bl += (size_t)snprintf(big + bl, sizeof(big) - bl, "m%d 1\n", i);
    route_set(&s, "/big", 200, "text/plain", big, bl, false, 0);

    int64_t ts_given = ts_now_ms() - 1000;
    char tsbody[64];
    snprintf(tsbody, sizeof(tsbody), "t 7 %lld\n", (long long)ts_given);
    route_set(&s, "/ts", 200, "text/plain", tsbody, strlen(tsbody), false, 0);
    int closed_port = free_port();

    char y[5000];
    snprintf(y, sizeof(y),
             "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
             "scrape_configs:\n"
             "- job_name: conn\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tlimit\n  metrics_path: /ok\n  target_limit: 1\n"
             "  static_configs: [{targets: ['127.0.0.1:%d', 'localhost:%d']}]\n"
             "- job_name: ts\n  metrics_path: /ts\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: namelen\n  metrics_path: /ok\n  label_name_length_limit: 3\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: ok\n  metrics_path: /ok\n"
             "  static_configs: [{targets: ['127.0.0.1:%d'], labels: {env: test}}]\n"
             "- job_name: honor\n  metrics_path: /ok\n  honor_labels: true\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: e500\n  metrics_path: /500\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: slow\n  metrics_path: /slow\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: nul\n  metrics_path: /nul\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: badlbl\n  metrics_path: /badlbl\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: gzip\n  metrics_path: /gzip\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: om\n  metrics_path: /om\n  honor_timestamps: false\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: limit\n  metrics_path: /ok\n  sample_limit: 1\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: lbl\n  metrics_path: /ok\n  label_limit: 3\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: huge\n  metrics_path: /huge\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: body\n  metrics_path: /big\n  body_size_limit: 100B\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: rel\n  metrics_path: /ok\n"
             "  static_configs: [{targets: ['127.0.0.1:%d', 'drop.me:1']}]\n"
             "  relabel_configs:\n"
             "  - {source_labels: [__address__], regex: 'drop.*', action: drop}\n"
             "  - {target_label: team, replacement: x}\n"
             "  metric_relabel_configs:\n"
             "  - {source_labels: [__name__], regex: b, action: drop}\n",
             closed_port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port,
             s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port);
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 1000); /* ~4-5 scrapes per target */

    size_t n;
    int64_t ts[64];
    double vs[64];
    char lbuf[512];
    /* ok: target labels added, the clashing job label exported */
    T_EQ(read_job(h, "a", "ok", NULL, NULL, ts, vs, 64, &n, lbuf, sizeof(lbuf)), 1);
    char want[256];
    snprintf(want, sizeof(want),
             "{__name__=\"a\", env=\"test\", exported_job=\"inner\", instance=\"127.0.0.1:%d\", "
             "job=\"ok\", x=\"1\"}",
             s.port);
    T_STREQ(lbuf, want);
    T_TRUE(n >= 3);
    T_FEQ(vs[n - 1], 1);
    T_FEQ(last_value(h, "up", "ok", &n), 1);
    T_TRUE(n >= 3);
    T_FEQ(last_value(h, "scrape_samples_scraped", "ok", NULL), 2);
    T_FEQ(last_value(h, "scrape_samples_post_metric_relabeling", "ok", NULL), 2);
    read_job(h, "scrape_series_added", "ok", NULL, NULL, ts, vs, 64, &n, NULL, 0);
    T_TRUE(n >= 2);
    T_FEQ(vs[0], 2); /* first scrape: both series new */
    T_FEQ(vs[n - 1], 0);
    double dur = last_value(h, "scrape_duration_seconds", "ok", NULL);
    T_TRUE(dur > 0 && dur < 1.0);
    /* the request as Prometheus 2.42 sends it */
    T_TRUE(strstr(s.last_req, "Accept: application/openmetrics-text;version=1.0.0,application/"
                              "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                              "q=0.5,*/*;q=0.1\r\n") != NULL);
    T_TRUE(strstr(s.last_req, "Accept-Encoding: gzip\r\n") != NULL);
    T_TRUE(strstr(s.last_req, "X-Prometheus-Scrape-Timeout-Seconds: 0.15\r\n") != NULL);
    T_TRUE(strstr(s.last_req, "User-Agent: Prometheus/2.42.0\r\n") != NULL);

    /* honor_labels: the exposed job wins */
    T_EQ(read_job(h, "a", "inner", "x", "1", ts, vs, 64, &n, lbuf, sizeof(lbuf)), 1);
    T_TRUE(strstr(lbuf, "exported_") == NULL);
    T_FEQ(last_value(h, "up", "honor", NULL), 1);

    /* failures: up = 0 and a clear lastError */
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    for (size_t i = 0; i < tl.n; i++) /* for the log: what each failure looks like */
        fprintf(stderr, "  target %-8s %-7s %s\n", tl.t[i].job,
                tl.t[i].dropped ? "dropped" : ts_target_health_name(tl.t[i].health), tl.t[i].err);
    const tinfo *t;
    T_FEQ(last_value(h, "up", "e500", NULL), 0);
    T_TRUE((t = find_target(&tl, "e500", false)) != NULL);
    T_STREQ(t->err, "server returned HTTP status 500 Internal Server Error");
    T_EQ(t->health, TS_HEALTH_DOWN);
    T_FEQ(last_value(h, "up", "slow", NULL), 0);
    T_TRUE((t = find_target(&tl, "slow", false)) != NULL);
    T_TRUE(strstr(t->err, "context deadline exceeded") != NULL);
    T_EQ(t->timeout_ms, 150);
    T_FEQ(last_value(h, "up", "nul", NULL), 0);
    T_TRUE((t = find_target(&tl, "nul", false)) != NULL);
    T_TRUE(t->err[0] != 0);
    T_FEQ(last_value(h, "a", "nul", NULL), NAN); /* rolled back: nothing kept */
    T_FEQ(last_value(h, "up", "badlbl", &n), 0);
    T_TRUE(n >= 3); /* every attempt fails, not only the first */
    T_TRUE((t = find_target(&tl, "badlbl", false)) != NULL);
    T_TRUE(strstr(t->err, "expected label value") != NULL);
    T_FEQ(last_value(h, "a", "badlbl", NULL), NAN);
    T_FEQ(last_value(h, "up", "huge", NULL), 0);
    T_TRUE((t = find_target(&tl, "huge", false)) != NULL);
    T_TRUE(t->err[0] != 0);
    T_FEQ(last_value(h, "up", "body", NULL), 0);
    T_TRUE((t = find_target(&tl, "body", false)) != NULL);
    T_STREQ(t->err, "body size limit exceeded");
    T_FEQ(last_value(h, "up", "limit", NULL), 0);
    T_TRUE((t = find_target(&tl, "limit", false)) != NULL);
    T_STREQ(t->err, "sample limit exceeded");
    T_FEQ(last_value(h, "scrape_samples_scraped", "limit", NULL), 2);
    T_EQ(read_job(h, "b", "limit", NULL, NULL, ts, vs, 64, &n, NULL, 0), 0);
    T_FEQ(last_value(h, "up", "lbl", NULL), 0);
    T_TRUE((t = find_target(&tl, "lbl", false)) != NULL);
    T_TRUE(strstr(t->err, "label_limit exceeded") != NULL);

    /* self-metrics */
    {
        ts_metrics_registry reg;
        ts_metrics_init(&reg);
        ts_metrics_register(&reg, ts_scrape_manager_write_metrics, m);
        ts_buf out;
        ts_buf_init(&out, 0);
        ts_metrics_write(&reg, &out);
        const char *txt = ts_buf_cstr(&out);
        T_TRUE(strstr(txt, "\nprometheus_target_scrape_pools_total 17\n") != NULL);
        T_TRUE(strstr(txt, "\nprometheus_target_scrape_pool_targets{scrape_job=\"tlimit\"} 2\n"));
        T_TRUE(strstr(txt, "\nprometheus_target_scrape_pool_targets{scrape_job=\"rel\"} 1\n"));
        T_TRUE(strstr(txt, "\nprometheus_target_scrape_pool_exceeded_target_limit_total 1\n"));
        T_TRUE(strstr(txt, "\nprometheus_target_scrapes_exceeded_sample_limit_total 0\n") == NULL);
        T_TRUE(strstr(txt, "\nprometheus_target_scrapes_exceeded_body_size_limit_total 0\n") ==
               NULL);
        ts_buf_fini(&out);
    }

    /* metadata of the last scrape */
    mdq q = {.job = "ok", .metric = "a"};
    ts_scrape_manager_metadata(m, md_collect, &q);
    T_TRUE(q.found);
    T_STREQ(q.out, "counter||");
    mdq q2 = {.job = "om", .metric = "c"};
    ts_scrape_manager_metadata(m, md_collect, &q2);
    T_STREQ(q2.out, "counter||");

    /* connection refused, worded as Go does */
    T_TRUE((t = find_target(&tl, "conn", false)) != NULL);
    char cw[256];
    snprintf(cw, sizeof(cw),
             "Get \"http://127.0.0.1:%d/metrics\": dial tcp 127.0.0.1:%d: connect: connection "
             "refused",
             closed_port, closed_port);
    T_STREQ(t->err, cw);
    T_FEQ(last_value(h, "up", "conn", NULL), 0);
    /* target_limit: every target of the job fails */
    T_TRUE((t = find_target(&tl, "tlimit", false)) != NULL);
    T_STREQ(t->err, "target_limit exceeded (number of targets: 2, limit: 1)");
    T_EQ(read_job(h, "a", "tlimit", NULL, NULL, ts, vs, 64, &n, NULL, 0), 0);
    T_TRUE((t = find_target(&tl, "namelen", false)) != NULL);
    T_TRUE(strstr(t->err, "label_name_length_limit exceeded") != NULL);
    /* honor_timestamps (default true): the exposed timestamp is kept */
    T_EQ(read_job(h, "t", "ts", NULL, NULL, ts, vs, 64, &n, NULL, 0), 1);
    T_EQ(n, 1);
    T_EQ(ts[0], ts_given);
    T_FEQ(vs[0], 7);

    /* gzip and OpenMetrics bodies parse */
    T_FEQ(last_value(h, "up", "gzip", NULL), 1);
    T_FEQ(last_value(h, "b", "gzip", NULL), 2);
    T_FEQ(last_value(h, "up", "om", NULL), 1);
    T_FEQ(last_value(h, "c_total", "om", NULL), 5);
    read_job(h, "c_total", "om", NULL, NULL, ts, vs, 64, &n, NULL, 0);
    T_TRUE(n >= 2 && ts[0] != 1500); /* honor_timestamps: false -> scrape time */

    /* relabeling: target relabel adds team, drops a target (kept for the
     * API), metric relabeling drops b */
    T_EQ(read_job(h, "a", "rel", "team", "x", ts, vs, 64, &n, NULL, 0), 1);
    T_EQ(read_job(h, "b", "rel", NULL, NULL, ts, vs, 64, &n, NULL, 0), 0);
    T_FEQ(last_value(h, "scrape_samples_scraped", "rel", NULL), 2);
    T_FEQ(last_value(h, "scrape_samples_post_metric_relabeling", "rel", NULL), 1);
    T_TRUE((t = find_target(&tl, "rel", true)) != NULL);
    T_TRUE(strstr(t->discovered, "__address__=\"drop.me:1\"") != NULL);
    T_TRUE((t = find_target(&tl, "rel", false)) != NULL);
    T_EQ(t->health, TS_HEALTH_UP);
    T_STREQ(t->err, "");
    T_TRUE(strstr(t->labels, "team=\"x\"") != NULL);
    T_TRUE(strstr(t->labels, "__") == NULL);
    T_EQ(t->interval_ms, 200);

    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c);
}

/* Staleness: a series that disappears, a failed scrape, a target that goes
 * away; and a reload that keeps loops. */
static void
test_staleness_and_reload(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    const char *v1 = "a 1\nb 2\n", *v2 = "a 1\n";
    route_set(&s, "/st", 200, "text/plain", v1, strlen(v1), false, 0);
    char y[1024];
    snprintf(y, sizeof(y),
             "scrape_configs:\n"
             "- job_name: st\n  metrics_path: /st\n  scrape_interval: 200ms\n"
             "  scrape_timeout: 100ms\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             s.port);
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 500);
    size_t n;
    T_FEQ(last_value(h, "b", "st", &n), 2);
    T_TRUE(n >= 1);

    /* b disappears: one stale marker, a continues */
    route_set(&s, "/st", 200, "text/plain", v2, strlen(v2), false, 0);
    run_for(&loop, 500);
    T_TRUE(ts_is_stale_nan(last_value(h, "b", "st", NULL)));
    T_FEQ(last_value(h, "a", "st", NULL), 1);

    /* a failed scrape stales the previous series */
    route_set(&s, "/st", 500, "text/plain", "", 0, false, 0);
    run_for(&loop, 500);
    T_TRUE(ts_is_stale_nan(last_value(h, "a", "st", NULL)));
    T_FEQ(last_value(h, "up", "st", NULL), 0);
    route_set(&s, "/st", 200, "text/plain", v2, strlen(v2), false, 0);
    run_for(&loop, 500);
    T_FEQ(last_value(h, "a", "st", NULL), 1);
    T_FEQ(last_value(h, "up", "st", NULL), 1);
    {
        /* scrape_series_added: 2 first, 0 while steady, 0 on failures,
         * 1 when a comes back after the failure */
        int64_t t2[64];
        double v[64];
        size_t k;
        read_job(h, "scrape_series_added", "st", NULL, NULL, t2, v, 64, &k, NULL, 0);
        T_TRUE(k >= 6);
        T_FEQ(v[0], 2);
        size_t ones = 0, others = 0;
        for (size_t i = 1; i < k; i++)
            ones += v[i] == 1, others += v[i] != 0 && v[i] != 1;
        T_EQ(ones, 1);
        T_EQ(others, 0);
    }

    /* reload with an identical config: the loop keeps running, nothing stale */
    ts_config *c2 = parse_cfg(y);
    T_OK(ts_scrape_manager_apply_config(m, c2));
    ts_config_free(c);
    c = c2;
    sync_static(m, c);
    run_for(&loop, 500);
    int64_t ts[512];
    double vs[512];
    read_job(h, "a", "st", NULL, NULL, ts, vs, 512, &n, NULL, 0);
    T_FEQ(vs[n - 1], 1);
    T_TRUE(!ts_is_stale_nan(vs[n - 2]));

    /* reload with a changed config (new metric relabeling): loops restart
     * but carry their series, so a is never marked stale */
    char y3[1200];
    snprintf(y3, sizeof(y3),
             "%s  metric_relabel_configs:\n  - {target_label: gen, replacement: two}\n", y);
    ts_config *c3 = parse_cfg(y3);
    T_OK(ts_scrape_manager_apply_config(m, c3));
    ts_config_free(c);
    c = c3;
    run_for(&loop, 500);
    read_job(h, "a", "st", "gen", "two", ts, vs, 512, &n, NULL, 0);
    T_TRUE(n >= 1);
    /* the old series (without gen) went stale since the labels changed */
    read_job(h, "a", "st", "gen", "", ts, vs, 512, &n, NULL, 0);
    T_TRUE(n >= 1);
    T_TRUE(ts_is_stale_nan(vs[n - 1]));
    T_EQ(s.hits > 0, 1);

    /* the target goes away: after ~2.1 intervals its series and report
     * series get stale markers at the time the next scrape would have been */
    int64_t removed_at = ts_now_ms();
    ts_scrape_manager_sync(m, "st", NULL, 0);
    run_for(&loop, 50); /* a request already on the wire may still arrive */
    int hits = s.hits;
    run_for(&loop, 750);
    T_EQ(s.hits, hits); /* no more scrapes */
    read_job(h, "a", "st", "gen", "two", ts, vs, 512, &n, NULL, 0);
    T_TRUE(ts_is_stale_nan(vs[n - 1]));
    T_TRUE(ts[n - 1] >= removed_at && ts[n - 1] <= removed_at + 400);
    T_TRUE(ts_is_stale_nan(last_value(h, "up", "st", NULL)));
    T_TRUE(ts_is_stale_nan(last_value(h, "scrape_duration_seconds", "st", NULL)));
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    T_EQ(tl.n, 0);

    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c);
}

T_MAIN({"scrape_cases", test_scrape_cases}, {"staleness_and_reload", test_staleness_and_reload})
