/*
 * Tests for the scrape loops over pkg/util/curluv.c (libcurl multi on libuv): basic auth and
 * bearer headers, HTTPS against a real TLS server (openssl s_server), and a
 * large gzip'd body of 100k series, through a real ts_head.
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

/* A large body: 100k series in one scrape, all appended, then unchanged on
 * the next scrape (no series added).  Prints the scrape duration. */
static void
test_large_body(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    enum { N = 100000 };
    size_t cap = (size_t)N * 48, len = 0;
    char *body = ts_malloc(cap);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "big_metric{shard=\"%d\",path=\"/api/v%d\"} %d\n", i % 97, i, i);
    route_set(&s, "/big", 200, "text/plain; version=0.0.4", body, len, true, 0);
    ts_free(body);
    char y[512];
    snprintf(y, sizeof(y),
             "scrape_configs:\n- job_name: big\n  metrics_path: /big\n  scrape_interval: 5s\n"
             "  scrape_timeout: 5s\n  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
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
    /* two scrapes: the first within 5 s, the second 5 s later; bounded at
     * 30 s, as one scrape of 100k series under sanitizers on a loaded
     * machine has taken over 5 s */
    int64_t end = ts_now_ms() + 30000;
    size_t n = 0;
    while (ts_now_ms() < end) {
        run_for(&loop, 250);
        last_value(h, "up", "big", &n);
        if (n >= 2)
            break;
    }
    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    T_EQ(n, 2);
    T_FEQ(last_value(h, "up", "big", NULL), 1);
    T_FEQ(last_value(h, "scrape_samples_scraped", "big", NULL), N);
    int64_t ts[4];
    double vs[4];
    read_job(h, "scrape_series_added", "big", NULL, NULL, ts, vs, 4, &n, NULL, 0);
    T_EQ(n, 2);
    T_FEQ(vs[0], N);
    T_FEQ(vs[1], 0);
    read_job(h, "scrape_duration_seconds", "big", NULL, NULL, ts, vs, 4, &n, NULL, 0);
    fprintf(stderr, "  100k series: scrape_duration_seconds first %.3f, second %.3f\n", vs[0],
            vs[1]);
    ts_head_stats st;
    ts_head_stats_get(h, &st);
    T_EQ(st.num_series, N + 5);
    ts_head_free(h);
    ts_config_free(c);
}

/* Whether any sample of the series {__name__=name, job=job} equals v. */
static bool
ever_value(ts_head *h, const char *name, const char *job, double v)
{
    int64_t ts[512];
    double vs[512];
    size_t n;
    read_job(h, name, job, NULL, NULL, ts, vs, 512, &n, NULL, 0);
    for (size_t i = 0; i < n; i++)
        if (vs[i] == v)
            return true;
    return false;
}

/* basic auth and bearer headers (checked on the test server), and HTTPS
 * against a real TLS server (openssl s_server -WWW serving ./metrics) with
 * a CA file, with insecure_skip_verify, and without trust. */
static void
test_auth_tls(void)
{
    const char *dir = t_tmpdir();
    char path[600];
    snprintf(path, sizeof(path), "%s/metrics", dir);
    FILE *f = fopen(path, "w");
    T_TRUE(f != NULL);
    fputs("tls_metric 1\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/secret", dir);
    f = fopen(path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    char *gen[] = {"openssl",  "req",
                   "-x509",    "-newkey",
                   "rsa:2048", "-nodes",
                   "-keyout",  "key.pem",
                   "-out",     "cert.pem",
                   "-days",    "1",
                   "-subj",    "/CN=scrape.test",
                   "-addext",  "subjectAltName=DNS:scrape.test,IP:127.0.0.1",
                   NULL};
    pid_t pid = spawn_in(dir, gen);
    T_TRUE(pid > 0);
    int st = 0;
    waitpid(pid, &st, 0);
    T_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int tport = free_port();
    char acc[64];
    snprintf(acc, sizeof(acc), "127.0.0.1:%d", tport);
    char *srv[] = {"openssl",  "s_server", "-WWW",    "-accept", acc, "-cert",
                   "cert.pem", "-key",     "key.pem", "-quiet",  NULL};
    pid_t tls = spawn_in(dir, srv);
    T_TRUE(tls > 0);
    int64_t end = ts_now_ms() + 10000;
    while (!port_open(tport) && ts_now_ms() < end)
        usleep(20000);

    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/a1", 200, "text/plain", "x 1\n", 4, false, 0);
    route_set(&s, "/a2", 200, "text/plain", "x 1\n", 4, false, 0);
    route_set(&s, "/a3", 200, "text/plain", "x 1\n", 4, false, 0);
    char y[4096];
    snprintf(y, sizeof(y),
             "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
             "scrape_configs:\n"
             "- job_name: basic\n  metrics_path: /a1\n"
             "  basic_auth: {username: user, password: pass}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: bearer\n  metrics_path: /a2\n"
             "  authorization: {credentials: tok123}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: bearerfile\n  metrics_path: /a3\n"
             "  authorization: {type: Custom, credentials_file: %s/secret}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tls_ca\n  scheme: https\n"
             "  tls_config: {ca_file: %s/cert.pem}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tls_insecure\n  scheme: https\n"
             "  tls_config: {insecure_skip_verify: true}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tls_untrusted\n  scheme: https\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tls_sni\n  scheme: https\n"
             "  tls_config: {ca_file: %s/cert.pem, server_name: scrape.test}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "- job_name: tls_sni_wrong\n  scheme: https\n"
             "  tls_config: {ca_file: %s/cert.pem, server_name: other.test}\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             s.port, s.port, dir, s.port, dir, tport, tport, tport, dir, tport, dir, tport);
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    /* Scrape until every target has shown what it must, or 60 s: on a
     * loaded machine (sanitizers, parallel tests) a single scrape can time
     * out, which says nothing about auth or TLS, so a target is judged by
     * all its scrapes, not by the last one. */
    tlist tl = {0};
    int64_t until = ts_now_ms() + 60000;
    for (bool done = false; !done && ts_now_ms() < until;) {
        run_for(&loop, 250);
        memset(&tl, 0, sizeof(tl));
        ts_scrape_manager_targets(m, collect, &tl);
        const tinfo *u = find_target(&tl, "tls_untrusted", false);
        const tinfo *w = find_target(&tl, "tls_sni_wrong", false);
        done = u && strstr(u->err, "certificate") && w && strstr(w->err, "other.test") &&
               ever_value(h, "up", "tls_sni", 1) && s.routes[0].last_req[0] &&
               s.routes[1].last_req[0] && s.routes[2].last_req[0] &&
               ever_value(h, "up", "basic", 1) && ever_value(h, "tls_metric", "tls_ca", 1) &&
               ever_value(h, "up", "tls_ca", 1) && ever_value(h, "up", "tls_insecure", 1);
    }
    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    kill(tls, SIGTERM);
    waitpid(tls, NULL, 0);

    T_TRUE(strstr(s.routes[0].last_req, "Authorization: Basic dXNlcjpwYXNz\r\n") != NULL);
    T_TRUE(strstr(s.routes[1].last_req, "Authorization: Bearer tok123\r\n") != NULL);
    T_TRUE(strstr(s.routes[2].last_req, "Authorization: Custom s3cret\r\n") != NULL);
    server_free(&s);
    for (size_t i = 0; i < tl.n; i++)
        fprintf(stderr, "  target %-13s %-7s %s\n", tl.t[i].job,
                ts_target_health_name(tl.t[i].health), tl.t[i].err);
    T_TRUE(ever_value(h, "up", "basic", 1));
    T_TRUE(ever_value(h, "tls_metric", "tls_ca", 1));
    T_TRUE(ever_value(h, "up", "tls_ca", 1));
    T_TRUE(ever_value(h, "up", "tls_insecure", 1));
    T_TRUE(ever_value(h, "up", "tls_untrusted", 0));
    T_FALSE(ever_value(h, "up", "tls_untrusted", 1));
    const tinfo *t = find_target(&tl, "tls_untrusted", false);
    T_TRUE(t != NULL && strstr(t->err, "certificate") != NULL);
    /* tls_config.server_name: verified against scrape.test (the certificate's
     * name) while connecting to 127.0.0.1; a name the certificate lacks fails */
    T_TRUE(ever_value(h, "up", "tls_sni", 1));
    T_FALSE(ever_value(h, "up", "tls_sni_wrong", 1));
    t = find_target(&tl, "tls_sni_wrong", false);
    T_TRUE(t != NULL && strstr(t->err, "other.test") != NULL);
    ts_head_free(h);
    ts_config_free(c);
}

T_MAIN({"large_body", test_large_body}, {"auth_tls", test_auth_tls})
