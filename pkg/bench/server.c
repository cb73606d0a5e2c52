/*
 * A minimal HTTP/1.1 server for the synthetic targets, on one libuv loop.
 *
 * It understands just what scrapers send: a request line and headers ended
 * by an empty line, no request body.  Routes:
 *   GET /metrics/<i>  and  GET /target/<i>/metrics   target i's exposition
 *   anything else                                    404 (405 for non-GET)
 * Connections are kept alive unless the client says "Connection: close" or
 * speaks HTTP/1.0.  Requests are answered one at a time per connection:
 * while a response is being written, further bytes are buffered (at most
 * MAX_REQUEST) and parsed once the write is done, which also covers
 * pipelining.  When the client sends "Accept-Encoding: gzip" the body is
 * deflated at level 1 (Prometheus always asks for gzip, so this is what a
 * real exporter costs it); built without zlib, bodies are never compressed.
 *
 * Lifetimes: each connection owns its buffers and a lazily made zlib stream;
 * it is freed in its close callback.  The server counts its open handles
 * (listener + connections) and frees itself when the last one has closed
 * after ts_bench_server_stop.
 */
#include "pkg/bench/bench.h"

#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef TS_BENCH_GZIP
#include <zlib.h>
#endif

#define MAX_REQUEST (64 * 1024) /* request line + headers */

typedef struct conn conn;

struct ts_bench_server {
    uv_loop_t *loop;
    const ts_bench_gen *gen;
    uv_tcp_t listener;
    int port;
    size_t open; /* handles not yet closed: listener + connections */
    bool stopping;
    bool gzip;   /* offer gzip */
    conn *conns; /* doubly linked */
    ts_bench_stats stats;
};

struct conn {
    uv_tcp_t tcp;
    ts_bench_server *s;
    conn *prev, *next;
    char *in;
    size_t inlen;
    ts_buf head, body, gz;
    uv_write_t wr;
    bool writing, close_after, closing;
#ifdef TS_BENCH_GZIP
    bool zinit;
    z_stream z;
#endif
};

static void
handle_closed(ts_bench_server *s)
{
    TS_ASSERT(s->open > 0);
    if (--s->open == 0 && s->stopping)
        ts_free(s);
}

static void
conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    ts_bench_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.connections--;
    ts_free(c->in);
    ts_buf_fini(&c->head);
    ts_buf_fini(&c->body);
    ts_buf_fini(&c->gz);
#ifdef TS_BENCH_GZIP
    if (c->zinit)
        deflateEnd(&c->z);
#endif
    ts_free(c);
    handle_closed(s);
}

static void
conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* Deflates c->body into c->gz as a gzip member. */
static int
gzip_body(conn *c)
{
#ifndef TS_BENCH_GZIP
    (void)c;
    return TS_EUNSUPPORTED;
#else
    if (!c->zinit) {
        memset(&c->z, 0, sizeof(c->z));
        if (deflateInit2(&c->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return TS_EIO;
        c->zinit = true;
    } else if (deflateReset(&c->z) != Z_OK) {
        return TS_EIO;
    }
    ts_buf_reset(&c->gz);
    uLong bound = deflateBound(&c->z, (uLong)c->body.len);
    int rc = ts_buf_reserve(&c->gz, bound);
    if (rc)
        return rc;
    c->z.next_in = c->body.p;
    c->z.avail_in = (uInt)c->body.len;
    c->z.next_out = c->gz.p;
    c->z.avail_out = (uInt)bound;
    if (deflate(&c->z, Z_FINISH) != Z_STREAM_END)
        return TS_EIO;
    c->gz.len = bound - c->z.avail_out;
    return TS_OK;
#endif
}

/* Parses "/metrics/<i>" or "/target/<i>/metrics" (query string ignored). */
static bool
route(const char *path, size_t n, size_t *target)
{
    const char *q = memchr(path, '?', n);
    if (q)
        n = (size_t)(q - path);
    const char *num;
    size_t numlen;
    if (n > 9 && memcmp(path, "/metrics/", 9) == 0) {
        num = path + 9;
        numlen = n - 9;
    } else if (n > 16 && memcmp(path, "/target/", 8) == 0 &&
               memcmp(path + n - 8, "/metrics", 8) == 0) {
        num = path + 8;
        numlen = n - 16;
    } else {
        return false;
    }
    if (numlen == 0 || numlen > 9)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < numlen; i++) {
        if (num[i] < '0' || num[i] > '9')
            return false;
        v = v * 10 + (size_t)(num[i] - '0');
    }
    *target = v;
    return true;
}

/* Finds header `name` (case-insensitive) in [h, e); returns its value slice. */
static bool
header(const char *h, const char *e, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);
    while (h < e) {
        const char *eol = memchr(h, '\n', (size_t)(e - h));
        if (!eol)
            eol = e;
        if ((size_t)(eol - h) > nlen && h[nlen] == ':' && strncasecmp(h, name, nlen) == 0) {
            const char *v = h + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *val = v;
            *vlen = (size_t)(ve - v);
            return true;
        }
        h = eol + 1;
    }
    return false;
}

static bool
contains_ci(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(p + i, word, w) == 0)
            return true;
    return false;
}

static void process(conn *c);

static void
written(uv_write_t *w, int status)
{
    conn *c = w->data;
    c->writing = false;
    if (status < 0 || c->closing) {
        conn_close(c);
        return;
    }
    if (c->close_after || c->s->stopping) {
        conn_close(c);
        return;
    }
    process(c);
}

/* Answers one request whose head is c->in[0, hlen). */
static void
answer(conn *c, size_t hlen)
{
    const char *req = c->in, *end = c->in + hlen;
    const char *eol = memchr(req, '\n', hlen);
    const char *sp1 = memchr(req, ' ', (size_t)(eol - req));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    int status = 200;
    const char *reason = "OK";
    bool gzip = false;
    ts_buf_reset(&c->body);
    if (!sp1 || !sp2) {
        status = 400, reason = "Bad Request";
        c->close_after = true;
    } else {
        bool http10 = (size_t)(eol - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
        const char *v;
        size_t vlen;
        bool has_conn = header(eol + 1, end, "Connection", &v, &vlen);
        if (http10 ? !(has_conn && contains_ci(v, vlen, "keep-alive"))
                   : (has_conn && contains_ci(v, vlen, "close")))
            c->close_after = true;
        gzip = c->s->gzip && header(eol + 1, end, "Accept-Encoding", &v, &vlen) &&
               contains_ci(v, vlen, "gzip");
        size_t target;
        if ((size_t)(sp1 - req) != 3 || memcmp(req, "GET", 3) != 0) {
            status = 405, reason = "Method Not Allowed";
        } else if (!route(sp1 + 1, (size_t)(sp2 - sp1 - 1), &target) ||
                   target >= ts_bench_gen_targets(c->s->gen)) {
            status = 404, reason = "Not Found";
        } else if (ts_bench_gen_render(c->s->gen, target, ts_now_ms(), &c->body) != TS_OK) {
            status = 500, reason = "Internal Server Error";
        }
    }
    if (status != 200) {
        ts_buf_reset(&c->body);
        ts_buf_printf(&c->body, "%d %s\n", status, reason);
        gzip = false;
    }
    if (gzip && gzip_body(c) != TS_OK)
        gzip = false;
    const ts_buf *body = gzip ? &c->gz : &c->body;
    ts_buf_reset(&c->head);
    ts_buf_printf(&c->head,
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                  "Content-Length: %zu\r\n%s%s\r\n",
                  status, reason, body->len, gzip ? "Content-Encoding: gzip\r\n" : "",
                  c->close_after ? "Connection: close\r\n" : "");
    uv_buf_t bufs[2] = {uv_buf_init((char *)c->head.p, (unsigned)c->head.len),
                        uv_buf_init((char *)body->p, (unsigned)body->len)};
    c->s->stats.requests++;
    c->s->stats.bytes_out += c->head.len + body->len;
    c->wr.data = c;
    c->writing = true;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, 2, written) != 0) {
        c->writing = false;
        conn_close(c);
    }
}

/* Answers the next complete request in c->in, if any and if not writing. */
static void
process(conn *c)
{
    if (c->writing || c->closing || c->inlen == 0)
        return;
    const char *e = NULL;
    for (size_t i = 0; i + 3 < c->inlen + 0 && !e; i++)
        if (c->in[i] == '\r' && memcmp(c->in + i, "\r\n\r\n", 4) == 0)
            e = c->in + i + 4;
    if (!e) {
        /* also accept bare LF line ends */
        for (size_t i = 0; i + 1 < c->inlen && !e; i++)
            if (c->in[i] == '\n' && c->in[i + 1] == '\n')
                e = c->in + i + 2;
    }
    if (!e)
        return;
    size_t hlen = (size_t)(e - c->in);
    answer(c, hlen);
    /* the response no longer refers to c->in: drop the request */
    memmove(c->in, c->in + hlen, c->inlen - hlen);
    c->inlen -= hlen;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    if (!c->in)
        c->in = ts_malloc(MAX_REQUEST);
    *buf = uv_buf_init(c->in + c->inlen, (unsigned)(MAX_REQUEST - c->inlen));
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->inlen += (size_t)n;
    if (c->inlen >= MAX_REQUEST) { /* a request head this long is not a scraper */
        conn_close(c);
        return;
    }
    process(c);
}

static void
on_conn(uv_stream_t *l, int status)
{
    ts_bench_server *s = l->data;
    if (status < 0 || s->stopping)
        return;
    conn *c = ts_calloc(1, sizeof(*c));
    c->s = s;
    ts_buf_init(&c->head, 0);
    ts_buf_init(&c->body, 0);
    ts_buf_init(&c->gz, 0);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open++;
    s->stats.connections++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
}

static void
listener_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

int
ts_bench_server_start(uv_loop_t *loop, const ts_bench_gen *g, const char *host, int port,
                      ts_bench_server **out, ts_error *err)
{
    *out = NULL;
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc != 0 && uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return ts_error_set(err, TS_EINVAL, "bad listen host \"%s\" (an IP address)", host);
    ts_bench_server *s = ts_calloc(1, sizeof(*s));
    s->loop = loop;
    s->gen = g;
#ifdef TS_BENCH_GZIP
    s->gzip = true;
#endif
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open = 1;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_conn);
    if (rc != 0) {
        ts_error_set(err, rc, "listen on %s:%d: %s", host, port, uv_strerror(rc));
        s->stopping = true;
        uv_close((uv_handle_t *)&s->listener, listener_closed);
        return rc;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&got)->sin_port);
    TS_LOG(TS_LOG_INFO, "bench", "serving targets", "port=%d targets=%zu series=%zu", s->port,
           ts_bench_gen_targets(g), ts_bench_gen_series(g));
    *out = s;
    return TS_OK;
}

void
ts_bench_server_set_gzip(ts_bench_server *s, bool on)
{
#ifdef TS_BENCH_GZIP
    s->gzip = on;
#else
    (void)on;
#endif
}

int
ts_bench_server_port(const ts_bench_server *s)
{
    return s->port;
}

void
ts_bench_server_stats(const ts_bench_server *s, ts_bench_stats *st)
{
    *st = s->stats;
}

void
ts_bench_server_stop(ts_bench_server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    for (conn *c = s->conns; c; c = c->next)
        conn_close(c);
}
