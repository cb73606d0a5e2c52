/*
 * libcurl's multi-socket interface driven by libuv (the "multi-uv" pattern
 * of curl's docs/examples/multi-uv.c, rewritten for our loop):
 *
 *   CURLMOPT_SOCKETFUNCTION  curl says which sockets it wants watched for
 *                            what; each gets a uv_poll_t (socket context
 *                            kept with curl_multi_assign), stopped and
 *                            closed on CURL_POLL_REMOVE.
 *   CURLMOPT_TIMERFUNCTION   curl asks for one timeout; a uv_timer_t fires
 *                            curl_multi_socket_action(CURL_SOCKET_TIMEOUT).
 *   poll/timer callbacks     call curl_multi_socket_action, then drain
 *                            curl_multi_info_read for finished transfers and
 *                            hand each to its owner's done callback.
 *
 * Each easy handle's CURLOPT_PRIVATE points at a small record holding the
 * done callback and its context.  Everything runs on the loop thread.
 * Shared by the scrape loops and kubernetes_sd (one copy of the glue, below
 * both packages).
 */
#include "pkg/util/curluv.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pkg/util/err.h"
#include "pkg/util/mem.h"

struct ts_curluv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int open_handles; /* timer + polls not yet closed */
    bool closing;
    struct sock_ctx *socks;
    ts_curluv_closed_fn closed; /* called once h is freed */
    void *closed_ctx;
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    ts_curluv *h;
    struct sock_ctx *next, *prev; /* open polls, to close them at shutdown */
} sock_ctx;

typedef struct xfer {
    ts_curluv_done_fn done;
    void *ctx;
} xfer;

static void
maybe_free(ts_curluv *h)
{
    if (!h->closing || h->open_handles > 0)
        return;
    ts_curluv_closed_fn closed = h->closed;
    void *ctx = h->closed_ctx;
    ts_free(h);
    if (closed)
        closed(ctx);
}

static void
check_done(ts_curluv *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(h->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (x) {
            ts_curluv_done_fn done = x->done;
            void *ctx = x->ctx;
            ts_free(x);
            done(ctx, easy, res);
        }
    }
}

static void
poll_cb(uv_poll_t *p, int status, int events)
{
    sock_ctx *s = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    ts_curluv *h = s->h;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void
timer_cb(uv_timer_t *t)
{
    ts_curluv *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int
start_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    ts_curluv *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static void poll_closed(uv_handle_t *hd);

static void
sock_unlink(sock_ctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void
sock_close(sock_ctx *s)
{
    sock_unlink(s);
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, poll_closed);
}

static void
poll_closed(uv_handle_t *hd)
{
    sock_ctx *s = hd->data;
    ts_curluv *h = s->h;
    ts_free(s);
    h->open_handles--;
    maybe_free(h);
}

static int
handle_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    ts_curluv *h = userp;
    sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = ts_calloc(1, sizeof(*s));
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            ts_free(s);
            return -1;
        }
        s->poll.data = s;
        h->open_handles++;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, poll_cb);
    return 0;
}

static void
global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

ts_curluv *
ts_curluv_new(uv_loop_t *loop)
{
    static uv_once_t once = UV_ONCE_INIT;
    uv_once(&once, global_init);
    ts_curluv *h = ts_calloc(1, sizeof(*h));
    h->loop = loop;
    h->multi = curl_multi_init();
    TS_ASSERT(h->multi != NULL);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->open_handles = 1;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, handle_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

void
ts_curluv_start(ts_curluv *h, CURL *easy, ts_curluv_done_fn done, void *ctx)
{
    xfer *x = ts_calloc(1, sizeof(*x));
    x->done = done;
    x->ctx = ctx;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    CURLMcode rc = curl_multi_add_handle(h->multi, easy);
    TS_ASSERT(rc == CURLM_OK);
}

void
ts_curluv_cancel(ts_curluv *h, CURL *easy)
{
    xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x)
        return; /* not running */
    curl_multi_remove_handle(h->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    ts_free(x);
}

static void
timer_closed(uv_handle_t *hd)
{
    ts_curluv *h = hd->data;
    h->open_handles--;
    maybe_free(h);
}

void
ts_curluv_close(ts_curluv *h, ts_curluv_closed_fn closed, void *ctx)
{
    if (!h)
        return;
    h->closing = true;
    h->closed = closed;
    h->closed_ctx = ctx;
    /* Cleanup closes cached connections (telling us through the socket
     * callback); polls it did not mention are closed here. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks)
        sock_close(h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_closed);
}

CURLcode
ts_curl_set_url_server_name(CURL *e, const char *url, const char *server_name,
                            struct curl_slist **hdrs, struct curl_slist **connect_to)
{
    if (!server_name || !server_name[0] || strncmp(url, "https://", 8) != 0)
        return curl_easy_setopt(e, CURLOPT_URL, url);
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *sni_url = NULL;
    CURLcode rc;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &sni_url, 0) != CURLUE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_URL, url);
        goto out;
    }
    /* "server_name:port:host:port"; curl's URL API keeps an IPv6 host in
     * brackets, as CONNECT_TO wants it */
    char line[1024];
    snprintf(line, sizeof(line), "%s:%s:%s:%s", server_name, port, host, port);
    struct curl_slist *ct = curl_slist_append(*connect_to, line);
    if (!ct) { /* out of memory: better the plain URL than a connection to server_name */
        rc = curl_easy_setopt(e, CURLOPT_URL, url);
        goto out;
    }
    *connect_to = ct;
    /* Host names the real target, default ports left out as Go does */
    bool default_port = strcmp(port, "443") == 0;
    snprintf(line, sizeof(line), "Host: %s%s%s", host, default_port ? "" : ":",
             default_port ? "" : port);
    struct curl_slist *h = curl_slist_append(*hdrs, line);
    if (h)
        *hdrs = h;
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, *connect_to);
    rc = curl_easy_setopt(e, CURLOPT_URL, sni_url);
out:
    curl_free(sni_url);
    curl_free(port);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
