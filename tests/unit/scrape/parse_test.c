/*
 * Tests for pkg/scrape/parse.c (body -> samples) end to end: the series a
 * scrape stores are the ones Prometheus 2.42 stores for the same bodies
 * (a real prometheus scraping the same test server), and a real
 * node_exporter's exposition is scraped whole.
 */
#include <curl/curl.h>
#include <spawn.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkg/textparse/textparse.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"
#include "tests/unit/scrape/scrape_helper.h"

extern char **environ;

static size_t
curl_sink(char *p, size_t sz, size_t n, void *ud)
{
    ts_buf *b = ud;
    return ts_buf_put(b, p, sz * n) == TS_OK ? sz * n : 0;
}

/* GET url into b; returns the HTTP status (0 on transport error). */
static long
http_get(const char *url, ts_buf *b)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    long code = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    return code;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct strset {
    char **v;
    size_t n, cap;
} strset;

static void
strset_add(strset *s, const char *x)
{
    TS_GROW(s->v, s->cap, s->n + 1);
    s->v[s->n++] = ts_strdup(x);
}

static void
strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        ts_free(s->v[i]);
    ts_free(s->v);
}

static void
test_node_exporter(void)
{
    const char *dir = t_tmpdir();
    char prom[512];
    snprintf(prom, sizeof(prom), "%s/fixed.prom", dir);
    FILE *f = fopen(prom, "w");
    T_TRUE(f != NULL);
    fputs("# TYPE tessera_fixture gauge\ntessera_fixture{kind=\"file\"} 42\n", f);
    fclose(f);
    int port = free_port();
    char listen[64], tdir[600];
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(tdir, sizeof(tdir), "--collector.textfile.directory=%s", dir);
    char *argv[] = {"prometheus-node-exporter", listen, tdir, "--log.level=error",
                    "--no-collector.systemd",   NULL};
    pid_t pid;
    T_EQ(posix_spawnp(&pid, "prometheus-node-exporter", NULL, NULL, argv, environ), 0);
    int64_t end = ts_now_ms() + 10000;
    while (!port_open(port) && ts_now_ms() < end)
        usleep(20000);
    bool up = port_open(port);
    if (!up) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_TRUE(up);
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    char y[512];
    snprintf(y, sizeof(y),
             "scrape_configs:\n"
             "- job_name: node\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             port);
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 2300);

    size_t n;
    double upv = last_value(h, "up", "node", &n);
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    mdq q = {.job = "node", .metric = "node_cpu_seconds_total"};
    ts_scrape_manager_metadata(m, md_collect, &q);
    ts_scrape_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    uv_loop_close(&loop);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    T_TRUE(n >= 2);
    T_FEQ(upv, 1);
    T_TRUE(last_value(h, "scrape_samples_scraped", "node", NULL) > 100);
    T_FEQ(last_value(h, "tessera_fixture", "node", NULL), 42);
    int64_t ts[8];
    double vs[8];
    char lbuf[512], want[256];
    T_TRUE(read_job(h, "node_cpu_seconds_total", "node", NULL, NULL, ts, vs, 8, &n, lbuf,
                    sizeof(lbuf)) >= 1);
    snprintf(want, sizeof(want), "instance=\"127.0.0.1:%d\"", port);
    T_TRUE(strstr(lbuf, want) != NULL);
    T_STREQ(q.out, "counter|Seconds the CPUs spent in each mode.|");
    const tinfo *t = find_target(&tl, "node", false);
    T_TRUE(t != NULL);
    T_EQ(t->health, TS_HEALTH_UP);
    T_STREQ(t->err, "");
    ts_head_free(h);
    ts_config_free(c);
}

/* Prometheus 2.42 and this scraper scrape the same bodies with the same
 * configuration file; the series each ends up storing (Prometheus' read
 * back through /federate) must be the same label sets. */
static void
test_same_series_as_prometheus(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    const char *body = "# TYPE m counter\n"
                       "m{job=\"inner\",instance=\"i1\",exported_job=\"e\"} 1\n"
                       "m{a=\"\",b=\"x\"} 2\n"
                       "n{le=\"0.5\",env=\"inner\"} 3\n"
                       "o 4\n"
                       "p{team=\"mine\"} 5\n";
    route_set(&s, "/cmp", 200, "text/plain; version=0.0.4", body, strlen(body), false, 0);
    const char *dir = t_tmpdir();
    char cfgpath[600], y[2048];
    snprintf(y, sizeof(y),
             "global: {scrape_interval: 500ms, scrape_timeout: 400ms}\n"
             "scrape_configs:\n"
             "- job_name: cmp\n  metrics_path: /cmp\n"
             "  static_configs: [{targets: ['127.0.0.1:%d'], labels: {env: e1}}]\n"
             "  metric_relabel_configs:\n"
             "  - {source_labels: [__name__], regex: o, action: drop}\n"
             "  - {source_labels: [b], target_label: bb, replacement: 'b_$1'}\n"
             "- job_name: cmp_honor\n  metrics_path: /cmp\n  honor_labels: true\n"
             "  static_configs: [{targets: ['localhost:%d']}]\n"
             "  relabel_configs:\n"
             "  - {target_label: team, replacement: t1}\n"
             "  - {source_labels: [__address__], target_label: instance, regex: '(.*):.*'}\n",
             s.port, s.port);
    snprintf(cfgpath, sizeof(cfgpath), "%s/prometheus.yml", dir);
    FILE *f = fopen(cfgpath, "w");
    T_TRUE(f != NULL);
    fputs(y, f);
    fclose(f);
    int pport = free_port();
    char a1[700], a2[64], a3[700];
    snprintf(a1, sizeof(a1), "--config.file=%s", cfgpath);
    snprintf(a2, sizeof(a2), "--web.listen-address=127.0.0.1:%d", pport);
    snprintf(a3, sizeof(a3), "--storage.tsdb.path=%s/data", dir);
    char *argv[] = {"prometheus", a1, a2, a3, "--log.level=error", NULL};
    pid_t pid = spawn_in(dir, argv);
    T_TRUE(pid > 0);

    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(y, strlen(y), cfgpath, &c, &err));
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    /* serve both scrapers until Prometheus has scraped a few times */
    char url[256];
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/federate?match[]=%%7B__name__%%3D~%%22.%%2B%%22%%7D", pport);
    ts_buf fed;
    ts_buf_init(&fed, 1 << 20);
    int64_t end = ts_now_ms() + 20000;
    bool got = false;
    while (ts_now_ms() < end && !got) {
        run_for(&loop, 500);
        if (!port_open(pport))
            continue;
        ts_buf_reset(&fed);
        got = http_get(url, &fed) == 200 && fed.len > 0 && memmem(fed.p, fed.len, "cmp_honor", 9) &&
              memmem(fed.p, fed.len, "job=\"cmp\"", 9);
    }
    run_for(&loop, 1200); /* a couple more scrapes each */
    ts_buf_reset(&fed);
    long code = http_get(url, &fed);
    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    T_TRUE(got);
    T_EQ(code, 200);

    /* Prometheus' series: parse the federation output */
    strset want = {0}, have = {0};
    ts_textparse *tp;
    T_OK(ts_textparse_new(&tp, TS_TP_PROMTEXT, (const char *)fed.p, fed.len, NULL));
    ts_tp_entry e;
    char lb[1024];
    while ((e = ts_textparse_next(tp)) != TS_TP_EOF && e != TS_TP_ERROR) {
        if (e != TS_TP_SERIES)
            continue;
        ts_labels *ls = ts_textparse_build_labels(tp, NULL);
        ts_labels_format(ls, lb, sizeof(lb));
        ts_labels_free(ls);
        strset_add(&want, lb);
    }
    T_TRUE(e == TS_TP_EOF);
    ts_textparse_free(tp);
    ts_buf_fini(&fed);

    /* ours: every series in the head */
    ts_querier *q;
    ts_head_querier(h, INT64_MIN / 2, INT64_MAX / 2, &q);
    ts_matcher *mt;
    ts_matcher_new(&mt, TS_MATCH_RE, "__name__", ".+", NULL);
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &mt, 1, &ss, NULL));
    while (ts_ss_next(ss)) {
        ts_labels_format(ts_ss_at(ss)->labels, lb, sizeof(lb));
        strset_add(&have, lb);
    }
    ts_ss_free(ss);
    ts_matcher_free(mt);
    ts_querier_close(q);
    ts_head_free(h);
    ts_config_free(c);

    qsort(want.v, want.n, sizeof(char *), cmp_str);
    qsort(have.v, have.n, sizeof(char *), cmp_str);
    bool same = want.n == have.n;
    for (size_t i = 0; same && i < want.n; i++)
        same = strcmp(want.v[i], have.v[i]) == 0;
    if (!same || getenv("TS_VERBOSE")) {
        for (size_t i = 0; i < want.n; i++)
            fprintf(stderr, "  prometheus: %s\n", want.v[i]);
        for (size_t i = 0; i < have.n; i++)
            fprintf(stderr, "  tessera:    %s\n", have.v[i]);
    }
    size_t nwant = want.n;
    strset_free(&want);
    strset_free(&have);
    T_TRUE(same);
    /* cmp keeps m, m, n, p (o dropped); cmp_honor keeps all 5; 5 report series each */
    T_EQ(nwant, 19);
}

T_MAIN({"node_exporter", test_node_exporter},
       {"same_series_as_prometheus", test_same_series_as_prometheus})
