/* The pkg/scrape unit tests' shared helpers (see scrape_helper.h). */
#include "tests/unit/scrape/scrape_helper.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "pkg/discovery/discovery.h"
#include "pkg/labels/matcher.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

extern char **environ;

ts_config *
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
    int refs;   /* tcp handle + delay timer */
} conn;

void
route_set(server *s, const char *path, int status, const char *ctype, const char *body, size_t len,
          bool gz, int delay_ms)
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
    static const char *reason[] = {
        [200] = "OK", [404] = "Not Found", [500] = "Internal Server Error"};
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

void
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
void
server_stop(server *s)
{
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* After the loop has run dry: frees the routes. */
void
server_free(server *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        ts_free(s->routes[i].body);
}

ts_appender *
head_appender(void *ctx)
{
    return ts_head_appender(ctx);
}

static void
tick(uv_timer_t *t)
{
}

void
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
size_t
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
double
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

void
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

const tinfo *
find_target(const tlist *l, const char *job, bool dropped)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].job, job) == 0 && l->t[i].dropped == dropped)
            return &l->t[i];
    return NULL;
}

void
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
void
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

int
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

bool
port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

pid_t
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
