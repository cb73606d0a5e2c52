/*
 * Tests for pkg/scrape against real peers: Debian's prometheus-node-exporter
 * and a small HTTP server written here on the same libuv loop (it serves
 * fixed bodies, HTTP 500, gzip, NUL bytes, huge lines and slow answers, and
 * records the request headers).  Samples go into a real in-memory ts_head
 * and are read back through its querier.
 */
#include "pkg/scrape/scrape.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "pkg/textparse/textparse.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"

extern char **environ;

/* ------------------------------------------------------ populate_labels */

static ts_config *
parse_cfg(const char *y)
{
    ts_config *c = NULL;
    ts_error err;
    if (ts_config_parse(y, strlen(y), "", &c, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        abort();
    }
    return c;
}

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
    T_TRUE(ts_labels_get(res, "__meta_team") == NULL); /* meta removed */
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

/* ------------------------------------------------------ test HTTP server */

typedef struct route {
    const char *path;
    int status;
    const char *ctype;
    char *body; /* heap */
    size_t len;
    bool gzip;
    int delay_ms;
    char last_req[2048]; /* the last request for this path */
} route;

typedef struct server {
    uv_tcp_t tcp;
    int port;
    route routes[16];
    size_t nroutes;
    char last_req[4096]; /* headers of the last request to /ok */
    int hits;
} server;

typedef struct conn {
    uv_tcp_t tcp;
    server *s;
    char req[8192];
    size_t len;
    bool answered;
    uv_timer_t delay;
    uv_buf_t out[2];
    char head[512];
    const route *r;
    char *body; /* copy of the route's body being written */
    int refs; /* tcp handle + delay timer */
} conn;

static void
route_set(server *s, const char *path, int status, const char *ctype, const char *body,
          size_t len, bool gz, int delay_ms)
{
    route *r = NULL;
    for (size_t i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i].path, path) == 0)
            r = &s->routes[i];
    if (!r) {
        r = &s->routes[s->nroutes++];
        memset(r, 0, sizeof(*r));
        r->path = path;
    }
    ts_free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->gzip = gz;
    r->delay_ms = delay_ms;
    if (gz) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
        size_t cap = deflateBound(&z, len) + 64;
        r->body = ts_malloc(cap);
        z.next_in = (Bytef *)body;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)r->body;
        z.avail_out = (uInt)cap;
        deflate(&z, Z_FINISH);
        r->len = cap - z.avail_out;
        deflateEnd(&z);
    } else {
        r->body = ts_malloc(len + 1);
        memcpy(r->body, body, len);
        r->len = len;
    }
}

static void
conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->refs == 0) {
        ts_free(c->body);
        ts_free(c);
    }
}

static void
written(uv_write_t *w, int status)
{
    conn *c = w->data;
    ts_free(w);
    /* the client may have gone first (a scrape timeout): on_read closed it */
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void
send_response(conn *c)
{
    const route *r = c->r;
    static const char *reason[] = {[200] = "OK", [404] = "Not Found",
                                   [500] = "Internal Server Error"};
    int st = r ? r->status : 404;
    snprintf(c->head, sizeof(c->head),
             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
             "Connection: close\r\n\r\n",
             st, reason[st] ? reason[st] : "X", r && r->ctype ? r->ctype : "text/plain",
             r ? r->len : 0, r && r->gzip ? "Content-Encoding: gzip\r\n" : "");
    c->out[0] = uv_buf_init(c->head, (unsigned)strlen(c->head));
    c->body = ts_malloc(r ? r->len + 1 : 1);
    if (r)
        memcpy(c->body, r->body, r->len);
    c->out[1] = uv_buf_init(c->body, r ? (unsigned)r->len : 0);
    uv_write_t *w = ts_calloc(1, sizeof(*w));
    w->data = c;
    uv_write(w, (uv_stream_t *)&c->tcp, c->out, 2, written);
}

static void
delay_cb(uv_timer_t *t)
{
    conn *c = t->data;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        send_response(c);
    uv_close((uv_handle_t *)t, conn_closed);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    buf->base = c->req + c->len;
    buf->len = sizeof(c->req) - 1 - c->len;
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, conn_closed);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = 0;
    if (c->answered || !strstr(c->req, "\r\n\r\n"))
        return;
    c->answered = true;
    char path[256] = "";
    sscanf(c->req, "GET %255[^? ]", path);
    c->s->hits++;
    for (size_t i = 0; i < c->s->nroutes; i++)
        if (strcmp(c->s->routes[i].path, path) == 0)
            c->r = &c->s->routes[i];
    if (strcmp(path, "/ok") == 0)
        snprintf(c->s->last_req, sizeof(c->s->last_req), "%s", c->req);
    if (c->r)
        snprintf(((route *)c->r)->last_req, sizeof(c->r->last_req), "%s", c->req);
    if (c->r && c->r->delay_ms) {
        uv_timer_init(st->loop, &c->delay);
        c->delay.data = c;
        c->refs++;
        uv_timer_start(&c->delay, delay_cb, (uint64_t)c->r->delay_ms, 0);
        return;
    }
    send_response(c);
}

static void
on_conn(uv_stream_t *l, int status)
{
    server *s = l->data;
    conn *c = ts_calloc(1, sizeof(*c));
    c->s = s;
    c->refs = 1;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void
server_start(uv_loop_t *loop, server *s)
{
    memset(s, 0, sizeof(*s));
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&s->tcp, 64, on_conn);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len);
    s->port = ntohs(got.sin_port);
}

/* Closes the listener; connections still open finish on their own. */
static void
server_stop(server *s)
{
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* After the loop has run dry: frees the routes. */
static void
server_free(server *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        ts_free(s->routes[i].body);
}

/* ------------------------------------------------------------- helpers */

static int free_port(void);

static ts_appender *
head_appender(void *ctx)
{
    return ts_head_appender(ctx);
}

static void
tick(uv_timer_t *t)
{
}

static void
run_for(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tick, 5, 5);
    int64_t end = ts_now_ms() + ms;
    while (ts_now_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* All samples of the series matching {__name__=name, job=job[, extra=val]};
 * returns the number of series matched (samples of the first one). */
static size_t
read_job(ts_head *h, const char *name, const char *job, const char *ename, const char *eval,
         int64_t *ts, double *vs, size_t max, size_t *nsamples, char *lbuf, size_t lsize)
{
    ts_querier *q;
    ts_head_querier(h, INT64_MIN / 2, INT64_MAX / 2, &q);
    ts_matcher *ms[3];
    size_t nms = 0;
    ts_matcher_new(&ms[nms++], TS_MATCH_EQ, "__name__", name, NULL);
    ts_matcher_new(&ms[nms++], TS_MATCH_EQ, "job", job, NULL);
    if (ename)
        ts_matcher_new(&ms[nms++], TS_MATCH_EQ, ename, eval, NULL);
    ts_series_set *ss;
    size_t nseries = 0;
    *nsamples = 0;
    if (lbuf)
        lbuf[0] = 0;
    if (q->ops->select(q, true, NULL, ms, nms, &ss, NULL) == 0) {
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            if (nseries++ == 0) {
                if (lbuf)
                    ts_labels_format(s->labels, lbuf, lsize);
                ts_iterator *it = s->ops->iterator(s);
                while (ts_it_next(it) == TS_VAL_FLOAT && *nsamples < max) {
                    ts_it_at(it, &ts[*nsamples], &vs[*nsamples]);
                    (*nsamples)++;
                }
                ts_it_free(it);
            }
        }
        ts_ss_free(ss);
    }
    for (size_t i = 0; i < nms; i++)
        ts_matcher_free(ms[i]);
    ts_querier_close(q);
    return nseries;
}

/* Last value of a series (NAN if none; *count gets the sample count). */
static double
last_value(ts_head *h, const char *name, const char *job, size_t *count)
{
    int64_t ts[512];
    double vs[512];
    size_t n;
    read_job(h, name, job, NULL, NULL, ts, vs, 512, &n, NULL, 0);
    if (count)
        *count = n;
    return n ? vs[n - 1] : NAN;
}

typedef struct tinfo {
    char job[32];
    char err[256];
    ts_target_health health;
    char labels[512], discovered[1024];
    bool dropped;
    int64_t interval_ms, timeout_ms;
} tinfo;

typedef struct tlist {
    tinfo t[32];
    size_t n;
} tlist;

static void
collect(void *ctx, const ts_scrape_target_info *t)
{
    tlist *l = ctx;
    if (l->n >= 32)
        return;
    tinfo *i = &l->t[l->n++];
    snprintf(i->job, sizeof(i->job), "%s", t->job);
    snprintf(i->err, sizeof(i->err), "%s", t->last_error);
    i->health = t->health;
    i->dropped = t->dropped;
    i->labels[0] = 0;
    if (t->labels)
        ts_labels_format(t->labels, i->labels, sizeof(i->labels));
    ts_labels_format(t->discovered, i->discovered, sizeof(i->discovered));
    i->interval_ms = t->interval_ms;
    i->timeout_ms = t->timeout_ms;
}

static const tinfo *
find_target(const tlist *l, const char *job, bool dropped)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].job, job) == 0 && l->t[i].dropped == dropped)
            return &l->t[i];
    return NULL;
}

/* Looks up one metric's metadata of one job's target: "type|help|unit". */
typedef struct mdq {
    const char *job, *metric;
    char out[512];
    bool found;
} mdq;

static void
md_collect(void *ctx, const ts_scrape_target_info *t, const ts_scrape_metadata *md, size_t n)
{
    mdq *q = ctx;
    if (strcmp(t->job, q->job) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(md[i].metric, q->metric) == 0) {
            snprintf(q->out, sizeof(q->out), "%s|%s|%s", md[i].type, md[i].help, md[i].unit);
            q->found = true;
        }
}

/* Feeds every job's static_configs to the manager, as discovery would. */
static void
sync_static(ts_scrape_manager *m, const ts_config *c)
{
    for (size_t i = 0; i < c->nscrape; i++) {
        const ts_scrape_config *sc = &c->scrape[i];
        ts_target_group *gs = ts_calloc(sc->nstatic ? sc->nstatic : 1, sizeof(*gs));
        for (size_t k = 0; k < sc->nstatic; k++)
            ts_discovery_static_group(&sc->static_configs[k], k, &gs[k]);
        ts_scrape_manager_sync(m, sc->job_name, gs, sc->nstatic);
        ts_target_groups_free(gs, sc->nstatic);
    }
}

/* ------------------------------------------------------- the server tests */

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
             closed_port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port, s.port,
             s.port, s.port, s.port);
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
                tl.t[i].dropped ? "dropped" : ts_target_health_name(tl.t[i].health),
                tl.t[i].err);
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

/* ----------------------------------------------------- node_exporter */

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static bool
port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
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
                    "--no-collector.systemd", NULL};
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

/* file_sd -> discovery manager -> scrape manager: targets follow the file */
static void
test_file_sd_follow(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/metrics", 200, "text/plain", "a 1\n", 4, false, 0);
    const char *dir = t_tmpdir();
    char tpath[512], cpath[512], y[512], t1[128], t2[128], body[256];
    snprintf(tpath, sizeof(tpath), "%s/targets.json", dir);
    snprintf(cpath, sizeof(cpath), "%s/prometheus.yml", dir);
    snprintf(t1, sizeof(t1), "127.0.0.1:%d", s.port);
    snprintf(t2, sizeof(t2), "localhost:%d", s.port);
    snprintf(body, sizeof(body), "[{\"targets\": [\"%s\"], \"labels\": {\"src\": \"file\"}}]", t1);
    FILE *f = fopen(tpath, "w");
    fputs(body, f);
    fclose(f);
    snprintf(y, sizeof(y),
             "scrape_configs:\n- job_name: fsd\n  scrape_interval: 200ms\n"
             "  scrape_timeout: 100ms\n"
             "  file_sd_configs: [{files: ['%s/*.json'], refresh_interval: 1h}]\n",
             dir);
    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(y, strlen(y), cpath, &c, &err));
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    ts_discovery_manager *d;
    T_OK(ts_discovery_manager_new(&loop, ts_scrape_manager_sync, m, &d));
    T_OK(ts_discovery_manager_apply_config(d, c));
    run_for(&loop, 600);
    int64_t ts[256];
    double vs[256];
    size_t n;
    T_EQ(read_job(h, "a", "fsd", "instance", t1, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(n >= 1);
    T_FEQ(vs[n - 1], 1);
    T_EQ(read_job(h, "a", "fsd", "src", "file", ts, vs, 256, &n, NULL, 0), 1);

    /* the file changes: the new target is scraped, the old one goes stale */
    snprintf(body, sizeof(body), "[{\"targets\": [\"%s\"]}]", t2);
    f = fopen(tpath, "w");
    fputs(body, f);
    fclose(f);
    run_for(&loop, 1200);
    T_EQ(read_job(h, "up", "fsd", "instance", t2, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(n >= 1);
    T_FEQ(vs[n - 1], 1);
    T_EQ(read_job(h, "a", "fsd", "instance", t1, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(ts_is_stale_nan(vs[n - 1]));
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    T_EQ(tl.n, 1);
    T_TRUE(strstr(tl.t[0].discovered, "__meta_filepath") != NULL);

    ts_discovery_manager_close(d);
    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c);
}

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
             "scrape_configs:\n- job_name: big\n  metrics_path: /big\n  scrape_interval: 3s\n"
             "  scrape_timeout: 3s\n  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
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
    /* two scrapes: the first within 3 s, the second 3 s later */
    int64_t end = ts_now_ms() + 9000;
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

static pid_t
spawn_in(const char *dir, char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static bool port_open(int port);

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
    char *gen[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                   "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1",
                   "-addext", "subjectAltName=IP:127.0.0.1", NULL};
    pid_t pid = spawn_in(dir, gen);
    T_TRUE(pid > 0);
    int st = 0;
    waitpid(pid, &st, 0);
    T_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int tport = free_port();
    char acc[64];
    snprintf(acc, sizeof(acc), "127.0.0.1:%d", tport);
    char *srv[] = {"openssl", "s_server", "-WWW", "-accept", acc, "-cert", "cert.pem", "-key",
                   "key.pem", "-quiet", NULL};
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
    char y[2048];
    snprintf(y, sizeof(y),
             "global: {scrape_interval: 300ms, scrape_timeout: 250ms}\n"
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
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             s.port, s.port, dir, s.port, dir, tport, tport, tport);
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 1300);
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
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
    T_FEQ(last_value(h, "up", "basic", NULL), 1);
    T_FEQ(last_value(h, "tls_metric", "tls_ca", NULL), 1);
    T_FEQ(last_value(h, "up", "tls_ca", NULL), 1);
    T_FEQ(last_value(h, "up", "tls_insecure", NULL), 1);
    T_FEQ(last_value(h, "up", "tls_untrusted", NULL), 0);
    const tinfo *t = find_target(&tl, "tls_untrusted", false);
    T_TRUE(t != NULL && strstr(t->err, "certificate") != NULL);
    ts_head_free(h);
    ts_config_free(c);
}

/* ------------------------------------------- compared with Prometheus */

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
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/federate?match[]=%%7B__name__%%3D~%%22.%%2B%%22%%7D",
             pport);
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

/* Reloads that add and remove jobs: a new job starts scraping, a removed
 * job stops without staleness markers (Prometheus' pool stop), the other
 * job's loop keeps running. */
static void
test_reload_jobs(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/r", 200, "text/plain", "r 1\n", 4, false, 0);
    char ya[512], yab[1024], yb[512];
    snprintf(ya, sizeof(ya),
             "global: {scrape_interval: 200ms, scrape_timeout: 100ms}\n"
             "scrape_configs:\n- job_name: A\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             s.port);
    snprintf(yab, sizeof(yab), "%s- job_name: B\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['localhost:%d']}]\n", ya, s.port);
    snprintf(yb, sizeof(yb),
             "global: {scrape_interval: 200ms, scrape_timeout: 100ms}\n"
             "scrape_configs:\n- job_name: B\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['localhost:%d']}]\n",
             s.port);
    ts_config *c = parse_cfg(ya);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 500);
    size_t na;
    T_FEQ(last_value(h, "r", "A", &na), 1);

    ts_config *c2 = parse_cfg(yab);
    T_OK(ts_scrape_manager_apply_config(m, c2));
    ts_config_free(c);
    sync_static(m, c2);
    run_for(&loop, 500);
    size_t na2, nb;
    T_FEQ(last_value(h, "r", "B", &nb), 1);
    T_FEQ(last_value(h, "r", "A", &na2), 1);
    T_TRUE(na2 > na); /* A kept scraping across the reload */

    ts_config *c3 = parse_cfg(yb);
    T_OK(ts_scrape_manager_apply_config(m, c3));
    ts_config_free(c2);
    sync_static(m, c3);
    run_for(&loop, 50);
    size_t na3;
    last_value(h, "r", "A", &na3);
    run_for(&loop, 800);
    size_t na4, nb2;
    T_FEQ(last_value(h, "r", "A", &na4), 1); /* no stale marker */
    T_EQ(na4, na3);                          /* and no more scrapes */
    T_FEQ(last_value(h, "up", "A", NULL), 1);
    last_value(h, "r", "B", &nb2);
    T_TRUE(nb2 > nb);
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    T_EQ(tl.n, 1);
    T_STREQ(tl.t[0].job, "B");

    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c3);
}

T_MAIN({"populate_labels", test_populate_labels}, {"reload_jobs", test_reload_jobs},
       {"same_series_as_prometheus", test_same_series_as_prometheus}, {"auth_tls", test_auth_tls}, {"large_body", test_large_body}, {"file_sd_follow", test_file_sd_follow}, {"scrape_cases", test_scrape_cases},
       {"staleness_and_reload", test_staleness_and_reload},
       {"node_exporter", test_node_exporter})
