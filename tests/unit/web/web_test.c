/*
 * pkg/web: parameter parsing, the HTTP server (real requests with libcurl on
 * 127.0.0.1:0) and the API v1 endpoints over a real in-memory head.  Where
 * Prometheus' texts matter, expectations were taken from a running
 * Prometheus 2.42 (Debian's); test_vs_prometheus compares live.
 */
#include "pkg/tsdb/head/head.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "pkg/web/api.h"
#include "pkg/web/server.h"
#include "tests/testutil/t.h"
#include "tests/unit/web/helpers.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>

/* ------------------------------------------------------------ param parsing */

static void
test_parse_time(void)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"1435781451.781", 1435781451781},
        {"1435781451.7809", 1435781451781}, /* rounded to ms */
        {"1435781451", 1435781451000},
        {"0.001", 1},
        {"-1.5", -1500},
        {"1e3", 1000000},
        {"2015-07-01T20:10:51.781Z", 1435781451781},
        {"2015-07-01T20:10:51+02:00", 1435774251000},
        {"2015-07-01T20:10:51.7819999Z", 1435781451781}, /* truncated */
        {"2016-02-29T00:00:00Z", 1456704000000},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.5Z", -500},
        {"1_000", 1000000}, /* Go accepts digit separators */
        {"0x1p4", 16000},   /* and hex floats */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 0;
        ts_error err;
        T_OK(ts_web_api_parse_time(ok[i].in, &ms, &err));
        T_EQ(ms, ok[i].ms);
    }
    /* NaN is accepted (Go converts it to a garbage time; the live test checks the result) */
    int64_t nan_ms;
    ts_error nerr;
    T_OK(ts_web_api_parse_time("NaN", &nan_ms, &nerr));
    static const char *const bad[] = {"x",
                                      "",
                                      " 1",
                                      "1 ",
                                      "0x10",
                                      "2015-02-29T00:00:00Z",
                                      "2015-07-01 20:10:51Z",
                                      "2015-07-01T20:10:51",
                                      "1e400",
                                      "2015-13-01T00:00:00Z",
                                      "1__0",
                                      "_1",
                                      "1_",
                                      "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        ts_error err;
        ts_error_clear(&err);
        T_EQ(ts_web_api_parse_time(bad[i], &ms, &err), TS_EPARSE);
        T_TRUE(strstr(err.msg, "to a valid timestamp") != NULL);
    }
    ts_error err;
    int64_t ms;
    ts_web_api_parse_time("a\"b\n", &ms, &err);
    T_STREQ(err.msg, "cannot parse \"a\\\"b\\n\" to a valid timestamp");
    /* Prometheus' MinTime/MaxTime as ms (timestamp.FromTime) */
    T_EQ(ts_web_api_min_time(), -9223309901257974000LL);
    T_EQ(ts_web_api_max_time(), 9223309901257974999LL);
}

static void
test_parse_duration(void)
{
    int64_t ns;
    ts_error err;
    T_OK(ts_web_api_parse_duration("15", &ns, &err));
    T_EQ(ns, 15000000000LL);
    T_OK(ts_web_api_parse_duration("0.5", &ns, &err));
    T_EQ(ns, 500000000);
    T_OK(ts_web_api_parse_duration("1m30s", &ns, &err));
    T_EQ(ns, 90000000000LL);
    T_OK(ts_web_api_parse_duration("0", &ns, &err));
    T_EQ(ns, 0);
    T_EQ(ts_web_api_parse_duration("z", &ns, &err), TS_EPARSE);
    T_STREQ(err.msg, "cannot parse \"z\" to a valid duration");
    T_EQ(ts_web_api_parse_duration("", &ns, &err), TS_EPARSE);
    T_STREQ(err.msg, "cannot parse \"\" to a valid duration");
    T_EQ(ts_web_api_parse_duration("1e300", &ns, &err), TS_EPARSE);
    T_STREQ(err.msg, "cannot parse \"1e300\" to a valid duration. It overflows int64");
}

/* Random inputs never crash the parsers, and errors always carry a text. */
static void
test_parse_random(void)
{
    static const char alphabet[] = "0123456789.eE+-_xXpPTZz:,infaINFAyhms ";
    uint64_t x = 777;
    char in[24];
    ts_arena a;
    ts_arena_init(&a, 0);
    for (int i = 0; i < 50000; i++) {
        size_t n = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = (size_t)(x % (sizeof in - 1));
        for (; n < len; n++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[n] = (x & 64) ? (char)(x >> 8) : alphabet[(x >> 8) % (sizeof alphabet - 1)];
            if (!in[n])
                in[n] = '0';
        }
        in[n] = '\0';
        int64_t v;
        ts_error err;
        ts_error_clear(&err);
        if (ts_web_api_parse_time(in, &v, &err) != 0)
            T_TRUE(strstr(err.msg, "to a valid timestamp") != NULL);
        ts_error_clear(&err);
        if (ts_web_api_parse_duration(in, &v, &err) != 0)
            T_TRUE(strstr(err.msg, "to a valid duration") != NULL);
        char *u = ts_web_unescape(&a, in, n, true);
        if (u)
            T_TRUE(strlen(u) <= n);
    }
    ts_arena_fini(&a);
}

static void
test_format(void)
{
    /* RFC3339Nano: tests/unit/util/gotime_test.c */
    ts_buf q;
    ts_buf_init(&q, 0);
    ts_web_api_goquote(&q, "a-b\t\x01\xff\xc3\xa9");
    T_STREQ(ts_buf_cstr(&q), "\"a-b\\t\\x01\\xff\xc3\xa9\"");
    ts_buf_fini(&q);
}

/* ------------------------------------------------------------ fixtures */

static int
echo(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_buf *b = ts_web_resp_body(w);
    ts_buf_printf(b, "%s %s rest=%s", ts_web_req_method(r), ts_web_req_path(r),
                  ts_web_req_path_rest(r));
    const char *const *vals;
    size_t n = ts_web_req_params(r, "a", &vals);
    for (size_t i = 0; i < n; i++)
        ts_buf_printf(b, " a=%s", vals[i]);
    const char *x = ts_web_req_param(r, "x");
    ts_buf_printf(b, " x=%s", x ? x : "(none)");
    size_t blen;
    ts_web_req_body(r, &blen);
    ts_buf_printf(b, " body=%zu", blen);
    const char *fe = ts_web_req_form_error(r);
    if (fe)
        ts_buf_printf(b, " err=%s", fe);
    ts_web_resp_header(w, "Content-Type", "text/plain");
    return 0;
}

static int
hdr(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    const char *h = ts_web_req_header(r, "x-test");
    ts_buf_printf(ts_web_resp_body(w), "%s|%s", h ? h : "(none)", ts_web_req_uri(r));
    ts_web_resp_header(w, "X-Reply", "yes");
    return 0;
}

static size_t
read_chunked(char *buf, size_t size, size_t n, void *ud)
{
    int *left = ud;
    if (*left == 0)
        return 0;
    (*left)--;
    memcpy(buf, "a=1&", 4);
    return 4;
}

static volatile int release_block; /* set by the test; polled by the handler */

static int
block(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    for (int i = 0; i < 1000 && !__atomic_load_n(&release_block, __ATOMIC_SEQ_CST); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    return ts_buf_puts(ts_web_resp_body(w), "released");
}

static int
empty(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return 0;
}

static int
fail(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return TS_EIO;
}

/* A stand-in engine that knows `time()` only (enough to check the query
 * plumbing against Prometheus, whose answer to time() is the eval time). */
static int
tiny_engine(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out)
{
    if (strcmp(p->query, "time()") != 0)
        return ts_web_api_query_fail_code(out, TS_EPARSE, "1:1: parse error: tiny engine");
    if (p->timeout_ms < 0)
        return ts_web_api_query_fail(out, TS_WEB_API_ERR_TIMEOUT,
                                     "query timed out in query execution");
    ts_web_api_result res;
    memset(&res, 0, sizeof res);
    if (!p->range) {
        res.type = TS_WEB_API_SCALAR;
        res.t = p->time_ms;
        res.v = (double)p->time_ms / 1000;
    } else {
        size_t n = 0;
        for (int64_t t = p->start_ms; t <= p->end_ms; t += p->step_ms)
            n++;
        ts_sample *s = ts_arena_alloc(out->arena, (n ? n : 1) * sizeof *s);
        n = 0;
        for (int64_t t = p->start_ms; t <= p->end_ms; t += p->step_ms)
            s[n++] = (ts_sample){t, (double)t / 1000};
        ts_web_api_series ser = {ts_labels_empty(), s, n};
        res.type = TS_WEB_API_MATRIX;
        res.series = &ser;
        res.nseries = 1;
        ts_web_api_write_result(out->data, &res);
        return 0;
    }
    ts_web_api_write_result(out->data, &res);
    if (ctx)
        ts_web_api_query_warn(out, "a warning");
    return 0;
}

static const char *
yaml_cb(void *ctx, ts_arena *a)
{
    return "global:\n  scrape_interval: 15s\n";
}

typedef struct fixture {
    ts_head *head;
    ts_queryable qb;
    ts_web_server *srv;
    ts_web_api *api;
    int port;
} fixture;

#define T0 1700000000000LL

static int
fixture_start(fixture *f, bool warn, int64_t base)
{
    memset(f, 0, sizeof *f);
    if (load_head(&f->head, base))
        return -1;
    f->qb.querier = head_querier;
    f->qb.impl = f->head;
    ts_web_server_opts o = {.listen = "127.0.0.1:0", .nworkers = 3, .max_body = 64 * 1024};
    ts_error err;
    if (ts_web_server_new(&f->srv, &o, &err))
        return -1;
    static const char *const flags[] = {"storage.tsdb.path", "data/", "config.file", "p.yml"};
    ts_web_api_opts ao = {
        .queryable = &f->qb,
        .query = tiny_engine,
        .query_ctx = warn ? (void *)1 : NULL,
        .buildinfo = {"2.42.0", "rev", "main", "me", "today", "c11", "tessera", "shard", "0.1.0",
                      NULL},
        .flags = flags,
        .nflags = 4,
        .config_yaml = yaml_cb,
    };
    if (ts_web_api_register(f->srv, &ao, &f->api) ||
        ts_web_server_route(f->srv, NULL, "/echo", false, echo, NULL) ||
        ts_web_server_route(f->srv, "GET", "/pre/", true, echo, NULL) ||
        ts_web_server_route(f->srv, "GET", "/fail", false, fail, NULL) ||
        ts_web_server_route(f->srv, "GET", "/empty", false, empty, NULL) ||
        ts_web_server_route(f->srv, "GET", "/block", false, block, NULL) ||
        ts_web_server_route(f->srv, "GET", "/hdr", false, hdr, NULL))
        return -1;
    if (ts_web_server_start(f->srv, &err)) {
        fprintf(stderr, "start: %s\n", err.msg);
        return -1;
    }
    f->port = ts_web_server_port(f->srv);
    return 0;
}

static void
fixture_stop(fixture *f)
{
    ts_web_server_free(f->srv);
    ts_web_api_free(f->api);
    ts_head_free(f->head);
}

#define GET_EQ(f, path, want_status, want_body)                                                    \
    do {                                                                                           \
        reply r_;                                                                                  \
        T_OK(http((f)->port, NULL, path, NULL, 0, &r_));                                           \
        T_EQ(r_.status, want_status);                                                              \
        T_STREQ(ts_buf_cstr(&r_.body), want_body);                                                 \
        reply_fini(&r_);                                                                           \
    } while (0)

/* ------------------------------------------------------------ server tests */

static void
test_server_basics(void)
{
    fixture f;
    T_OK(fixture_start(&f, false, T0));
    T_TRUE(f.port > 0);
    reply r;
    /* GET with a query string: decoding, repeated keys, '+' */
    T_OK(http(f.port, NULL, "/echo?a=1&a=%3Cx%3E&x=a+b%2Bc&&a=", NULL, 0, &r));
    T_EQ(r.status, 200);
    T_STREQ(ts_buf_cstr(&r.body), "GET /echo rest= a=1 a=<x> a= x=a b+c body=0");
    T_STREQ(r.ctype, "text/plain");
    reply_fini(&r);
    /* POST form: body values come before query values */
    T_OK(http(f.port, NULL, "/echo?a=q&x=fromquery", "a=b1&x=frombody&a=b%202", 0, &r));
    T_STREQ(ts_buf_cstr(&r.body), "POST /echo rest= a=b1 a=b 2 a=q x=frombody body=23");
    reply_fini(&r);
    /* bad escapes are skipped and reported like Go */
    T_OK(http(f.port, NULL, "/echo?a=%zz&a=ok&x;y=1", NULL, 0, &r));
    T_STREQ(ts_buf_cstr(&r.body),
            "GET /echo rest= a=ok x=(none) body=0 err=invalid URL escape \"%zz\"");
    reply_fini(&r);
    /* prefix route, decoded path */
    T_OK(http(f.port, NULL, "/pre/a%20b/c?a=1", NULL, 0, &r));
    T_STREQ(ts_buf_cstr(&r.body), "GET /pre/a b/c rest=a b/c a=1 x=(none) body=0");
    reply_fini(&r);
    /* unknown path: Go's 404 */
    T_OK(http(f.port, NULL, "/nope", NULL, 0, &r));
    T_EQ(r.status, 404);
    T_STREQ(ts_buf_cstr(&r.body), "404 page not found\n");
    T_STREQ(r.ctype, "text/plain; charset=utf-8");
    reply_fini(&r);
    /* wrong method: 405 with Allow as Prometheus sends it */
    T_OK(http(f.port, "DELETE", "/api/v1/labels", NULL, 0, &r));
    T_EQ(r.status, 405);
    T_STREQ(r.allow, "GET, OPTIONS, POST");
    T_STREQ(ts_buf_cstr(&r.body), "Method Not Allowed\n");
    reply_fini(&r);
    /* handler error -> 500 */
    T_OK(http(f.port, NULL, "/fail", NULL, 0, &r));
    T_EQ(r.status, 500);
    reply_fini(&r);
    /* body over max_body -> 413 without reading it; the server keeps serving */
    size_t big = 200 * 1024;
    char *body = ts_malloc(big);
    memset(body, 'a', big);
    memcpy(body, "a=", 2);
    T_OK(http(f.port, NULL, "/echo", body, big, &r));
    T_EQ(r.status, 413);
    reply_fini(&r);
    /* just under the limit is fine */
    T_OK(http(f.port, NULL, "/echo", body, 64 * 1024, &r));
    T_EQ(r.status, 200);
    T_TRUE(strstr(ts_buf_cstr(&r.body), "body=65536") != NULL);
    reply_fini(&r);
    ts_free(body);
    /* HEAD on /-/ready: headers only */
    T_OK(http(f.port, "HEAD", "/-/ready", NULL, 0, &r));
    T_EQ(r.status, 200);
    T_EQ(r.body.len, 0);
    reply_fini(&r);
    GET_EQ(&f, "/-/healthy", 200, "Prometheus Server is Healthy.\n");
    GET_EQ(&f, "/-/ready", 200, "Prometheus Server is Ready.\n");
    fixture_stop(&f);
}

/* Several requests (with bodies) on one kept-alive connection; Expect: 100-continue; long URLs. */
static void
test_server_keepalive(void)
{
    fixture f;
    T_OK(fixture_start(&f, false, T0));
    CURL *c = curl_easy_init();
    reply r;
    memset(&r, 0, sizeof r);
    ts_buf_init(&r.body, 0);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    char url[256];
    static const struct {
        const char *path, *post, *want;
    } steps[] = {
        {"/echo", "a=1&a=2", "POST /echo rest= a=1 a=2 x=(none) body=7"},
        {"/echo?x=3", NULL, "GET /echo rest= x=3 body=0"},
        {"/nope", NULL, "404 page not found\n"},
        {"/echo", "x=%7E", "POST /echo rest= x=~ body=5"},
        {"/-/healthy", NULL, "Prometheus Server is Healthy.\n"},
        {"/empty", NULL, ""},
        {"/echo?x=after-empty", NULL, "GET /echo rest= x=after-empty body=0"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ts_buf_reset(&r.body);
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f.port, steps[i].path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (steps[i].post)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, steps[i].post);
        else
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        T_EQ(curl_easy_perform(c), CURLE_OK);
        T_STREQ(ts_buf_cstr(&r.body), steps[i].want);
    }
    /* request headers and the raw target reach the handler */
    struct curl_slist *xh = curl_slist_append(NULL, "X-Test: hello there");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, xh);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hdr?q=%%41+b", f.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    ts_buf_reset(&r.body);
    T_EQ(curl_easy_perform(c), CURLE_OK);
    T_STREQ(ts_buf_cstr(&r.body), "hello there|/hdr?q=%41+b");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(xh);
    long conns = -1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    T_EQ(conns, 0); /* the last request reused the connection */
    /* a body with Expect: 100-continue is answered without curl's 1 s wait */
    size_t n = 40000;
    char *body = ts_malloc(n + 1);
    memset(body, 'b', n);
    memcpy(body, "x=", 2);
    body[n] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, "Expect: 100-continue");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", f.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    ts_buf_reset(&r.body);
    uint64_t t0 = ts_mono_ns();
    T_EQ(curl_easy_perform(c), CURLE_OK);
    T_TRUE(ts_mono_ns() - t0 < 2000000000ull);
    T_TRUE(strstr(ts_buf_cstr(&r.body), "body=40000") != NULL);
    curl_slist_free_all(h);
    /* a chunked body (no Content-Length) is refused with 411 */
    int chunks = 3;
    h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_chunked);
    curl_easy_setopt(c, CURLOPT_READDATA, &chunks);
    ts_buf_reset(&r.body);
    T_EQ(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    T_EQ(code, 411);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    /* a long query string (100 KiB: nng 1.5, used before, dropped anything over 8 KiB) */
    size_t ulen = 100 * 1024;
    char *path = ts_malloc(ulen + 16);
    snprintf(path, ulen + 16, "/echo?x=");
    memset(path + 8, 'u', ulen - 8);
    path[ulen] = '\0';
    reply lr;
    T_OK(http(f.port, NULL, path, NULL, 0, &lr));
    T_EQ(lr.status, 200);
    T_EQ(lr.body.len, strlen("GET /echo rest= x= body=0") + ulen - 8);
    reply_fini(&lr);
    ts_free(path);
    ts_free(body);
    reply_fini(&r);
    fixture_stop(&f);
}

static int reloads, quits;

static int
reload_cb(void *ctx, ts_error *err)
{
    reloads++;
    if (reloads == 2)
        return ts_error_set(err, TS_EPARSE, "bad: yaml");
    return 0;
}

static void
quit_cb(void *ctx)
{
    quits++;
}

/* /-/reload and /-/quit with the lifecycle API enabled (the disabled texts
 * are compared with Prometheus in vs_prometheus). */
static void
test_lifecycle(void)
{
    ts_web_server *srv;
    ts_error err;
    T_OK(ts_web_server_new(&srv, &(ts_web_server_opts){.listen = "127.0.0.1:0"}, &err));
    ts_web_api *api;
    T_OK(ts_web_api_register(
        srv, &(ts_web_api_opts){.enable_lifecycle = true, .reload = reload_cb, .quit = quit_cb},
        &api));
    T_OK(ts_web_server_start(srv, &err));
    int port = ts_web_server_port(srv);
    reply r;
    T_OK(http(port, "POST", "/-/reload", NULL, 0, &r));
    T_EQ(r.status, 200);
    T_EQ(r.body.len, 0);
    reply_fini(&r);
    T_OK(http(port, "PUT", "/-/reload", NULL, 0, &r));
    T_EQ(r.status, 500);
    T_STREQ(ts_buf_cstr(&r.body), "failed to reload config: bad: yaml\n");
    reply_fini(&r);
    T_OK(http(port, NULL, "/-/reload", NULL, 0, &r));
    T_EQ(r.status, 405);
    T_STREQ(ts_buf_cstr(&r.body), "Only POST or PUT requests allowed");
    reply_fini(&r);
    T_OK(http(port, "POST", "/-/quit", NULL, 0, &r));
    T_EQ(r.status, 200);
    T_STREQ(ts_buf_cstr(&r.body), "Requesting termination... Goodbye!");
    reply_fini(&r);
    T_EQ(reloads, 2);
    T_EQ(quits, 1);
    ts_web_server_free(srv);
    ts_web_api_free(api);
}

static ts_queryable *
pick_queryable(void *ctx, ts_web_req *r)
{
    const char *d = ts_web_req_param(r, "dedup");
    return d && strcmp(d, "false") == 0 ? ctx : NULL;
}

/* queryable_for picks the queryable per request. */
static void
test_queryable_for(void)
{
    ts_head *head;
    T_OK(load_head(&head, T0));
    ts_queryable qb = {.querier = head_querier, .impl = head};
    ts_web_server *srv;
    ts_error err;
    T_OK(ts_web_server_new(&srv, &(ts_web_server_opts){.listen = "127.0.0.1:0"}, &err));
    ts_web_api *api;
    T_OK(ts_web_api_register(
        srv, &(ts_web_api_opts){.queryable_for = pick_queryable, .queryable_ctx = &qb}, &api));
    T_OK(ts_web_server_start(srv, &err));
    reply r;
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/label/job/values?dedup=false", NULL, 0, &r));
    T_EQ(r.status, 200);
    T_STREQ(ts_buf_cstr(&r.body), "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    reply_fini(&r);
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/series?match[]=up", NULL, 0, &r));
    T_EQ(r.status, 422);
    reply_fini(&r);
    ts_web_server_free(srv);
    ts_web_api_free(api);
    ts_head_free(head);
}

static int
raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    return fd;
}

/* Clients that announce a body and never send it hold connections, not
 * workers; shutting down with such reads pending is prompt. */
static void
test_slow_bodies(void)
{
    fixture f;
    T_OK(fixture_start(&f, false, T0)); /* 3 workers */
    int fds[6];
    static const char hdr[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1";
    for (int i = 0; i < 6; i++) {
        fds[i] = raw_connect(f.port);
        T_TRUE(fds[i] >= 0);
        T_EQ(write(fds[i], hdr, sizeof hdr - 1), (long)(sizeof hdr - 1));
    }
    nanosleep(&(struct timespec){0, 200000000}, NULL);
    uint64_t t0 = ts_mono_ns();
    GET_EQ(&f, "/echo?x=1", 200, "GET /echo rest= x=1 body=0");
    T_TRUE(ts_mono_ns() - t0 < 2000000000ull);
    /* one slow client finishes its body and gets its answer */
    char rest[97];
    memset(rest, 'z', sizeof rest);
    T_EQ(write(fds[0], rest, sizeof rest), (long)sizeof rest);
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    T_TRUE(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    T_TRUE(strstr(buf, "POST /echo rest= a=1zzz") != NULL);
    t0 = ts_mono_ns();
    fixture_stop(&f); /* five reads still pending */
    T_TRUE(ts_mono_ns() - t0 < 5000000000ull);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
}

static void *
block_client(void *p)
{
    int port = *(int *)p;
    reply r;
    int ok = http(port, NULL, "/block", NULL, 0, &r) == 0 && r.status == 200 &&
             strcmp(ts_buf_cstr(&r.body), "released") == 0;
    reply_fini(&r);
    return ok ? p : NULL;
}

/* Health checks answer while every worker is busy. */
static void
test_health_bypass(void)
{
    fixture f;
    T_OK(fixture_start(&f, false, T0)); /* 3 workers */
    __atomic_store_n(&release_block, 0, __ATOMIC_SEQ_CST);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, block_client, &f.port);
    nanosleep(&(struct timespec){0, 300000000}, NULL); /* all workers now blocked */
    uint64_t t0 = ts_mono_ns();
    GET_EQ(&f, "/-/healthy", 200, "Prometheus Server is Healthy.\n");
    GET_EQ(&f, "/-/ready", 200, "Prometheus Server is Ready.\n");
    T_TRUE(ts_mono_ns() - t0 < 2000000000ull);
    __atomic_store_n(&release_block, 1, __ATOMIC_SEQ_CST);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        void *res;
        pthread_join(th[i], &res);
        ok += res != NULL;
    }
    T_EQ(ok, 3);
    fixture_stop(&f);
}

/* A response over opts.max_response becomes an "internal" API error. */
static void
test_response_limit(void)
{
    ts_head *head;
    T_OK(load_head(&head, T0));
    ts_queryable qb = {.querier = head_querier, .impl = head};
    ts_web_server *srv;
    ts_error err;
    T_OK(ts_web_server_new(
        &srv, &(ts_web_server_opts){.listen = "127.0.0.1:0", .max_response = 200}, &err));
    ts_web_api *api;
    T_OK(ts_web_api_register(srv, &(ts_web_api_opts){.queryable = &qb}, &api));
    T_OK(ts_web_server_start(srv, &err));
    reply r;
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D",
              NULL, 0, &r));
    T_EQ(r.status, 500);
    T_STREQ(ts_buf_cstr(&r.body),
            "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"response too large\"}");
    reply_fini(&r);
    /* small answers still fit */
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/label/job/values", NULL, 0, &r));
    T_EQ(r.status, 200);
    reply_fini(&r);
    /* no engine configured */
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/query?query=1", NULL, 0, &r));
    T_EQ(r.status, 500);
    T_STREQ(ts_buf_cstr(&r.body), "{\"status\":\"error\",\"errorType\":\"unavailable\","
                                  "\"error\":\"query engine not configured\"}");
    reply_fini(&r);
    ts_web_server_free(srv);
    ts_web_api_free(api);
    ts_head_free(head);
}

typedef struct worker_arg {
    int port;
    int id;
    int ok;
} worker_arg;

static void *
client_thread(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 25; i++) {
        char path[128], want[160];
        snprintf(path, sizeof path, "/echo?a=%d-%d", a->id, i);
        snprintf(want, sizeof want, "GET /echo rest= a=%d-%d x=(none) body=0", a->id, i);
        reply r;
        if (http(a->port, NULL, path, NULL, 0, &r) == 0 && r.status == 200 &&
            strcmp(ts_buf_cstr(&r.body), want) == 0)
            a->ok++;
        reply_fini(&r);
    }
    return NULL;
}

static void
test_server_concurrent(void)
{
    fixture f;
    T_OK(fixture_start(&f, false, T0));
    pthread_t th[8];
    worker_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (worker_arg){f.port, i, 0};
        pthread_create(&th[i], NULL, client_thread, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    T_EQ(ok, 8 * 25);
    fixture_stop(&f);
    /* a second server on port 0 gets its own port, and a taken port fails cleanly */
    fixture g;
    T_OK(fixture_start(&g, false, T0));
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g.port);
    ts_web_server *s2;
    ts_error err;
    ts_web_server_opts o = {.listen = listen};
    T_OK(ts_web_server_new(&s2, &o, &err));
    T_OK(ts_web_server_route(s2, "GET", "/x", false, echo, NULL));
    T_NE(ts_web_server_start(s2, &err), 0); /* the port is taken */
    T_TRUE(strstr(err.msg, "address already in use") != NULL);
    ts_web_server_free(s2);
    T_NE(ts_web_server_new(&s2, &(ts_web_server_opts){.listen = "nocolon"}, &err), 0);
    fixture_stop(&g);
}

/* ------------------------------------------------------------ API over the head */

static void
test_api_endpoints(void)
{
    fixture f;
    T_OK(fixture_start(&f, true, T0));
    GET_EQ(&f, "/api/v1/labels", 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"code\",\"instance\",\"job\","
           "\"path\"]}");
    GET_EQ(&f, "/api/v1/labels?match[]=up", 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
    GET_EQ(&f, "/api/v1/label/job/values", 200,
           "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    GET_EQ(&f,
           "/api/v1/label/job/values?match[]=up%7Bjob%3D%22node%22%7D&match[]=http_requests_total",
           200, "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    GET_EQ(&f, "/api/v1/label/a-b/values", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name: "
           "\\\"a-b\\\"\"}");
    GET_EQ(&f, "/api/v1/series?match[]=http_requests_total%7Bcode!%3D%22200%22%7D", 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"http_requests_total\",\"code\":"
           "\"\\u003c500\\u003e\\u0026\",\"job\":\"api\"}]}");
    /* two selectors: merged, sorted, deduplicated */
    GET_EQ(&f,
           "/api/v1/series?match[]=up%7Bjob%3D%22api%22%7D&match[]=up%7Binstance%3D%22a:1%22%7D",
           200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a:1\",\"job\":"
           "\"api\"},{\"__name__\":\"up\",\"instance\":\"b:1\",\"job\":\"api\"}]}");
    /* outside the data's time range */
    GET_EQ(&f, "/api/v1/series?match[]=up&start=1&end=2", 200,
           "{\"status\":\"success\",\"data\":[]}");
    GET_EQ(&f, "/api/v1/series", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no match[] parameter "
           "provided\"}");
    GET_EQ(&f, "/api/v1/series?match[]=%7B%7D", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"match[]\\\": match[] must contain at least one non-empty matcher\"}");
    GET_EQ(&f, "/api/v1/series?match[]=up%7B", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"match[]\\\": 1:4: parse error: unexpected end of input inside braces\"}");
    GET_EQ(&f, "/api/v1/series?match[]=up&start=x", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"start\\\": Invalid time value for 'start': cannot parse \\\"x\\\" to a valid "
           "timestamp\"}");
    /* POST form to series */
    reply r;
    T_OK(http(f.port, NULL, "/api/v1/series", "match[]=up%7Bjob%3D%22node%22%7D", 0, &r));
    T_EQ(r.status, 200);
    T_STREQ(ts_buf_cstr(&r.body), "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\","
                                  "\"instance\":\"c:1\",\"job\":\"node\"}]}");
    T_STREQ(r.ctype, "application/json");
    reply_fini(&r);
    /* compressed answers (curl decodes them) */
    T_OK(http(f.port, "GZIP-GET", "/api/v1/label/job/values", NULL, 0, &r));
    T_STREQ(r.cenc, "gzip");
    T_STREQ(ts_buf_cstr(&r.body), "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    reply_fini(&r);
    T_OK(http(f.port, "ANYENC-GET", "/api/v1/label/job/values", NULL, 0, &r));
    T_TRUE(strcmp(r.cenc, "deflate") == 0 || strcmp(r.cenc, "gzip") == 0);
    T_STREQ(ts_buf_cstr(&r.body), "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    reply_fini(&r);
    /* query plumbing (with a warning from the callback) */
    GET_EQ(&f, "/api/v1/query?query=time()&time=1435781451.78", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1435781451.78,"
           "\"1435781451.78\"]},\"warnings\":[\"a warning\"]}");
    GET_EQ(&f, "/api/v1/query?query=1%2B", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"query\\\": 1:1: parse error: tiny engine\"}");
    GET_EQ(&f, "/api/v1/query_range?query=time()&start=1&end=2&step=0.5", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
           "\"values\":[[1,\"1\"],[1.500,\"1.5\"],[2,\"2\"]]}]}}");
    GET_EQ(&f, "/api/v1/status/config", 200,
           "{\"status\":\"success\",\"data\":{\"yaml\":\"global:\\n  scrape_interval: 15s\\n\"}}");
    GET_EQ(&f, "/api/v1/status/flags", 200,
           "{\"status\":\"success\",\"data\":{\"config.file\":\"p.yml\",\"storage.tsdb.path\":"
           "\"data/\"}}");
    GET_EQ(&f, "/api/v1/status/buildinfo", 200,
           "{\"status\":\"success\",\"data\":{\"version\":\"2.42.0\",\"revision\":\"rev\","
           "\"branch\":\"main\",\"buildUser\":\"me\",\"buildDate\":\"today\",\"goVersion\":"
           "\"c11\",\"application\":\"tessera\",\"component\":\"shard\",\"tesseraVersion\":"
           "\"0.1.0\"}}");
    GET_EQ(&f, "/api/v1/status/runtimeinfo", 200,
           "{\"status\":\"success\",\"data\":{\"startTime\":\"1970-01-01T00:00:00Z\",\"CWD\":\"\","
           "\"reloadConfigSuccess\":false,\"lastConfigTime\":\"1970-01-01T00:00:00Z\","
           "\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":0,\"GOGC\":\"\",\"GODEBUG\":"
           "\"\",\"storageRetention\":\"\"}}");
    fixture_stop(&f);
}

/* ------------------------------------------------------------ live comparison */

/* Requests whose answers need no data: Prometheus (empty storage) and we
 * must answer byte for byte the same (status and body). */
static const char *const same_paths[] = {
    "/api/v1/query?query=time()&time=1435781451.78",
    "/api/v1/query?query=time()&time=2015-07-01T20:10:51.781Z",
    "/api/v1/query?query=time()&time=-1.5",
    "/api/v1/query?query=time()&time=0.0001",
    "/api/v1/query?query=time()&time=x",
    "/api/v1/query?query=time()&time=1&timeout=x",
    "/api/v1/query_range?query=time()&start=1&end=2&step=0.25",
    "/api/v1/query_range?query=time()&start=1435781451.5&end=1435781452&step=0.1",
    "/api/v1/query_range?query=time()&start=x",
    "/api/v1/query_range?query=time()&start=1&end=y",
    "/api/v1/query_range?query=time()&start=10&end=1&step=1",
    "/api/v1/query_range?query=time()&start=1&end=10&step=z",
    "/api/v1/query_range?query=time()&start=1&end=10",
    "/api/v1/query_range?query=time()&start=1&end=10&step=0",
    "/api/v1/query_range?query=time()&start=1&end=10&step=-3",
    "/api/v1/query_range?query=time()&start=1&end=100000&step=1",
    "/api/v1/query_range?query=time()&start=1&end=3&step=1e300",
    "/api/v1/series",
    "/api/v1/series?match[]=%7B%7D",
    "/api/v1/series?match[]=up%7B",
    "/api/v1/series?match[]=up&start=x",
    "/api/v1/series?match[]=up&end=x",
    "/api/v1/series?match[]=up&start=1&end=2",
    "/api/v1/labels?match[]=%7B%7D",
    "/api/v1/labels?start=1&end=2",
    "/api/v1/labels?start=x",
    "/api/v1/label/a-b/values",
    "/api/v1/label/job/values?start=1&end=2",
    "/api/v1/nope",
    "/nope",
    "/-/healthy",
    "/-/ready",
    "/api/v1/query?query=time()&time=NaN",
    "/api/v1/query?query=time()&time=Inf",
    "/api/v1/query?query=time()&time=1e300",
    "/api/v1/query?query=time()&time=-1e10",
    "/api/v1/query?query=time()&time=0x1p4",
    "/api/v1/query?query=time()&time=1_000",
    "/api/v1/query?query=time()&time=+5",
    "/api/v1/query?query=time()&time=.5",
    "/api/v1/query?query=time()&time=5.",
    "/api/v1/query?query=time()&time=infinity",
    "/api/v1/query?query=time()&time=2015-07-01T20:10:51.781%2B01:30",
    "/api/v1/query?query=time()&time=2015-07-01T20:10:51,5Z",
    "/api/v1/query?query=time()&time=2015-07-01t20:10:51Z",
    "/api/v1/query?query=time()&time=2015-07-01T20:10:51z",
    "/api/v1/query?query=time()&time=2015-07-01T24:10:51Z",
    "/api/v1/query?query=time()&time=2015-07-01T20:10:60Z",
    "/api/v1/query?query=time()&time=1&timeout=5m",
    /* timeout=-1 is not compared: Prometheus answers "query timed out in query queue" or
     * "... in query execution" at random (a Go select between two ready channels). */
    "/api/v1/query_range?query=time()&start=1&end=2&step=1ms",
    "/api/v1/query_range?query=time()&start=0&end=11000&step=1",
    "/api/v1/query_range?query=time()&start=0&end=11001&step=1",
    "/api/v1/query_range?query=time()&start=1&end=1&step=5m",
    "/api/v1/series?match[]=up&x=%zz",
    "/api/v1/series?match[]=up;x",
    "/api/v1/label/job",
    "/api/v1/label/job/values/x",
    "/api/v1/label/%C3%A9/values",
    "/api/v1/status/nope",
    "/-/reload",
    "/-/quit",
    "/api/v1/label//values",
    "/api/v1/./labels?a=%3C%22%3E",
    "/api/v1/x/../labels",
    "/../api/v1/labels",
    "/api/v1/../../x/./y/",
    "//-/healthy",
    "/api/v1/query_exemplars?query=up",
    "/api/v1/query_exemplars?query=sum(rate(up%5B5m%5D))",
    "/api/v1/query_exemplars?query=1",
    "/api/v1/query_exemplars?query=up%7B",
    "/api/v1/query_exemplars",
    "/api/v1/query_exemplars?query=up&start=x",
    "/api/v1/query_exemplars?query=up&start=10&end=1",
    "/api/v1/format_query?query=sum(up)%20by%20(job)",
    "/api/v1/format_query?query=up%7B",
    "/api/v1/format_query",
    "/api/v1/format_query?query=%22a%5Cn%22",
    "/api/v1/format_query?query=rate(x%7Ba%3D~%22b%22%7D%5B5m%5D%20offset%201h)",
    "/api/v1/",
};

/* Requests over data: %1$lld is replaced by the data's first timestamp (s). */
static const char *const data_paths[] = {
    "/api/v1/series?match[]=up",
    "/api/v1/series?match[]=up&match[]=http_requests_total",
    "/api/v1/series?match[]=%7Bjob%3D%22api%22%7D",
    "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D",
    "/api/v1/series?match[]=up%7Bjob!%3D%22api%22%7D&start=%1$lld&end=%1$lld",
    "/api/v1/series?match[]=up&match[]=up%7Binstance%3D~%22a.*%22%7D",
    "/api/v1/series?match[]=up&start=%1$lld.5&end=%1$lld.9",
    "/api/v1/series?match[]=nothing",
    "/api/v1/labels",
    "/api/v1/labels?match[]=up",
    "/api/v1/labels?match[]=up&match[]=http_requests_total%7Bcode%3D%22200%22%7D",
    "/api/v1/label/job/values",
    "/api/v1/label/__name__/values",
    "/api/v1/label/path/values",
    "/api/v1/label/code/values?match[]=http_requests_total",
    "/api/v1/label/nonexistent/values",
};

static void
test_vs_prometheus(void)
{
    int64_t base = (ts_now_ms() / 1000 - 3600) * 1000;
    prom p;
    bool ready = prom_start(&p, base) == 0;
    fixture f;
    int started = fixture_start(&f, false, base);
    int mismatches = 0, compared = 0;
    for (size_t i = 0; ready && started == 0 && i < sizeof same_paths / sizeof same_paths[0]; i++) {
        mismatches += compare(p.port, f.port, same_paths[i]);
        compared++;
    }
    for (size_t i = 0; ready && started == 0 && i < sizeof data_paths / sizeof data_paths[0]; i++) {
        char path[1024];
        const char *tmpl = data_paths[i];
        /* substitute %1$lld by hand (the table is not a format string for -Wformat) */
        ts_buf b;
        ts_buf_init(&b, 0);
        for (const char *c = tmpl; *c; c++) {
            if (strncmp(c, "%1$lld", 6) == 0) {
                ts_buf_printf(&b, "%lld", (long long)(base / 1000));
                c += 5;
            } else {
                ts_buf_putc(&b, (uint8_t)*c);
            }
        }
        snprintf(path, sizeof path, "%s", ts_buf_cstr(&b));
        ts_buf_fini(&b);
        mismatches += compare(p.port, f.port, path);
        compared++;
    }
    static const char *const methods[][2] = {
        {"POST", "/-/reload"},
        {"PUT", "/-/quit"},
        {"DELETE", "/-/quit"},
        {"DELETE", "/-/reload"},
        {"POST", "/-/healthy"},
        {"HEAD", "/-/healthy"},
        {"DELETE", "/api/v1/query"},
        {"PUT", "/api/v1/series"},
        {"POST", "/api/v1/labels"},
        {"POST", "/api/v1/query?query=time()&time=3"},
        {"DELETE", "/api/v1/series?match[]=up"},
        {"POST", "/api/v1/admin/tsdb/snapshot"},
        {"PUT", "/api/v1/admin/tsdb/delete_series"},
        {"GET", "/api/v1/admin/tsdb/clean_tombstones"},
        {"OPTIONS", "/api/v1/labels"},
        {"OPTIONS", "/api/v1/nope"},
        {"OPTIONS", "/-/healthy"},
        {"OPTIONS", "/nope"},
        {"ORIGIN-GET", "/api/v1/labels"},
        {"ORIGIN-GET", "/api/v1/series"},
        {"ORIGIN-GET", "/-/healthy"},
        {"ORIGIN-OPTIONS", "/api/v1/query"},
        {"GZIP-GET", "/api/v1/labels"},
        {"GZIP-GET", "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D"},
        {"ANYENC-GET", "/api/v1/series?match[]=up"},
        {"GZIP-GET", "/api/v1/series"},
        {"GZIP-GET", "/-/healthy"},
        {"GZIP-OPTIONS", "/api/v1/labels"},
        {"HEAD", "/api/v1/labels"},
        {"PATCH", "/-/ready"},
        {"POST", "/api/v1/label/job/values"},
    };
    for (size_t i = 0; ready && started == 0 && i < sizeof methods / sizeof methods[0]; i++) {
        mismatches += compare_m(p.port, f.port, methods[i][0], methods[i][1]);
        compared++;
    }
    prom_stop(&p);
    if (started == 0)
        fixture_stop(&f);
    T_TRUE(ready); /* prometheus must be installed: this test uses the real one */
    T_EQ(started, 0);
    T_EQ(compared,
         (int)(sizeof same_paths / sizeof same_paths[0] + sizeof data_paths / sizeof data_paths[0] +
               sizeof methods / sizeof methods[0]));
    T_EQ(mismatches, 0);
}

static void
at_exit(void)
{
    curl_global_cleanup();
}

__attribute__((constructor)) static void
setup(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(at_exit);
}

T_MAIN({"parse_time", test_parse_time}, {"parse_duration", test_parse_duration},
       {"format", test_format}, {"parse_random", test_parse_random},
       {"server_basics", test_server_basics}, {"server_concurrent", test_server_concurrent},
       {"server_keepalive", test_server_keepalive}, {"response_limit", test_response_limit},
       {"lifecycle", test_lifecycle}, {"queryable_for", test_queryable_for},
       {"slow_bodies", test_slow_bodies}, {"health_bypass", test_health_bypass},
       {"api_endpoints", test_api_endpoints}, {"vs_prometheus", test_vs_prometheus})
