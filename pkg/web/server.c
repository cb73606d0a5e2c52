/*
 * HTTP server: our own HTTP/1.1 on libuv (one I/O thread), our own router
 * and a pool of worker threads for the handlers.  nng's HTTP server was used
 * before; it read each request line and header into a fixed 8 KiB buffer and
 * silently closed the connection on a longer one (a GET with a Grafana-style
 * regex alternation), and bounded neither the number of connections nor
 * their idle time.
 *
 * Flow of one request (conn.state in brackets):
 *  1. The I/O thread accepts a connection (while fewer than
 *     opts.max_connections are open; beyond that the listener is not
 *     accepted from and clients wait in the kernel's backlog, as Go's
 *     netutil.LimitListener makes them), starts TLS when the web config
 *     has it (tls.c) and reads into the connection's buffer.
 *  2. [HEAD] http_parse.c finds the end of the head (at most 1 MiB + 4 KiB,
 *     Go's limit: beyond it 414 for a request line, 431 for headers, with a
 *     text body, then the connection is closed), parses it and checks the
 *     body framing (400/411/413/501 answered at once, then closed).
 *  3. [BODY] The body (bounded by opts.max_body) is read, after a "100
 *     Continue" when the client asked for one.  A slow client holds its
 *     connection, never a worker.
 *  4. [BUSY] The request goes to a worker (or runs on the I/O thread for an
 *     inline route), which parses the target and form, checks basic auth,
 *     routes, calls the handler and serializes the response; reading is
 *     paused meanwhile (pipelined requests wait in the buffer, in order).
 *  5. [WRITE] The I/O thread writes the response; then, with keep-alive, the
 *     next request is parsed from what is buffered, else [LINGER]: the write
 *     side is shut down and input drained briefly, so a client still
 *     sending (a refused 413 body) sees the answer instead of a reset.
 *
 * Timeouts (opts.read_timeout_ms, Prometheus' --web.read-timeout, default
 * 5m): an idle connection is closed after it; a request, from its first
 * byte, must be read whole (head and body) within it, which bounds slow
 * clients (slowloris); a response must be taken by the client within it.
 * Handlers themselves have no deadline here (queries have their own).
 *
 * Threads: workers never touch a connection; they fill in the job's output
 * and hand it back through a locked queue and a uv_async.  Shutdown stops
 * the I/O thread first (closing every connection; jobs still with workers
 * lose their connection), then the workers (which skip jobs not yet
 * started), then frees what is left.
 */
#include "pkg/web/server.h"
#include "pkg/web/http_parse.h"
#include "pkg/web/tls.h"
#include "pkg/web/webconfig.h"
#include "pkg/util/str.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <uv.h>

#define DEFAULT_WORKERS 4
#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_MAX_RESPONSE (1u << 30)
#define DEFAULT_MAX_CONNECTIONS 512
#define DEFAULT_READ_TIMEOUT_MS (5 * 60 * 1000)
#define LINGER_MS 2000    /* draining input after the last answer on a closing connection */
#define READ_CHUNK 65536  /* one read from a socket */
#define KEEP_IN_BUF 16384 /* a connection's input buffer shrinks back to this when idle */

typedef struct route {
    char *method; /* NULL = any */
    char *path;
    size_t plen;
    bool prefix;
    ts_web_handler_fn fn;
    void *ctx;
    bool inline_; /* run on the I/O thread (never blocks: health checks) */
} route;

typedef struct conn conn;

/* One request, from its parsed head to its serialized answer.  Owned by the
 * connection while its body is read, then by a worker, then by the I/O
 * thread again until the answer is written. */
typedef struct job {
    struct job *next;
    conn *c; /* NULL once the connection closed under it (shutdown) */
    ts_arena arena;
    ts__http_head head;
    uint8_t *body; /* heap, len + 1 bytes, NUL-terminated */
    size_t len;
    bool head_only;  /* HEAD: answer without the body */
    bool keep_alive; /* in: what the client asked; out: whether to keep the connection */
    ts_buf out;      /* the serialized answer */
} job;

enum { C_HEAD, C_BODY, C_BUSY, C_WRITE, C_LINGER, C_CLOSED };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    ts_web_server *srv;
    conn *prev, *next; /* srv->conns */
    int state;
    int nhandles;  /* handles not yet closed; freed at 0 */
    size_t writes; /* in flight */
    bool reading;
    bool started;   /* the current request's first byte arrived (its read deadline runs) */
    bool continued; /* "100 Continue" sent for the current request */
    char *in;       /* plaintext input */
    size_t in_len, in_cap;
    size_t scan;     /* ts__http_head_end's resume offset */
    size_t head_len; /* of the request in state BODY */
    uint64_t body_len;
    job *job; /* the request being read (BODY) or served (BUSY, WRITE) */
    ts__tls_conn *tls;
};

typedef struct wreq {
    uv_write_t req;
    conn *c;
    char *mem;
} wreq;

struct ts_web_server {
    ts_web_server_opts opts;
    char *host, *portstr; /* listen address split; host "" = all interfaces */
    char *prefix;         /* route prefix without trailing '/' ("/prom"), NULL for none */
    route *routes;
    size_t nroutes, routes_cap;
    bool started;
    int port;

    /* I/O thread */
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake; /* done jobs, stop */
    pthread_t io_thread;
    bool io_running;
    conn *conns;
    int nconns;
    bool accept_waiting; /* a connection waits in the listener: max_connections reached */
    bool io_stopping;    /* the I/O thread's copy of stopping */
    char rbuf[READ_CHUNK];
    ts__tls_ctx *tls;                      /* NULL: plain HTTP */
    const ts_web_config *tls_wc;           /* the config tls was made from */
    struct timespec cert_mtime, key_mtime; /* of the files tls was made from */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* job queue and shutdown */
    job *head, *tail;  /* for the workers */
    job *done, *done_tail;
    bool closing;  /* workers: stop */
    bool stopping; /* I/O thread: close everything */
    bool io_gone;  /* wake is closed: no uv_async_send any more */
    pthread_t *workers;
    int nworkers;

    /* --web.config.file: wc is the last good config (NULL: none); replaced configs stay in
     * wc_old until free, so a request still using one never sees it freed. */
    char *wc_path;
    pthread_mutex_t wc_mu;
    ts_web_config *wc;
    ts_web_config **wc_old;
    size_t nwc_old, wc_old_cap;
    struct timespec wc_mtime;
    off_t wc_size;
    ino_t wc_ino;
};

typedef struct param {
    const char *name, *value;
} param;

struct ts_web_req {
    ts_arena arena;
    const ts__http_head *head;
    const char *method, *uri, *path, *rest;
    const uint8_t *body;
    size_t body_len;
    param *params;
    size_t nparams, params_cap;
    const char *form_err;
    const char **vals; /* scratch for ts_web_req_params */
    size_t vals_cap;
};

typedef struct header {
    char *name, *value;
} header;

struct ts_web_resp {
    int status;
    header *headers;
    size_t nheaders, cap;
    ts_buf body;
};

/* ------------------------------------------------------------ accessors */

const char *
ts_web_req_method(const ts_web_req *r)
{
    return r->method;
}
const char *
ts_web_req_path(const ts_web_req *r)
{
    return r->path;
}
const char *
ts_web_req_path_rest(const ts_web_req *r)
{
    return r->rest ? r->rest : "";
}
const char *
ts_web_req_uri(const ts_web_req *r)
{
    return r->uri;
}
const char *
ts_web_req_header(const ts_web_req *r, const char *name)
{
    return r->head ? ts__http_header_get(r->head, name) : NULL;
}
const void *
ts_web_req_body(const ts_web_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body;
}
const char *
ts_web_req_param(const ts_web_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}
size_t
ts_web_req_params(const ts_web_req *r, const char *name, const char *const **vals)
{
    ts_web_req *m = (ts_web_req *)r; /* the scratch array is request-private */
    size_t n = 0;
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->params[i].name, name) != 0)
            continue;
        TS_GROW(m->vals, m->vals_cap, n + 1);
        m->vals[n++] = r->params[i].value;
    }
    *vals = (const char *const *)m->vals;
    return n;
}
const char *
ts_web_req_form_error(const ts_web_req *r)
{
    return r->form_err;
}
ts_arena *
ts_web_req_arena(ts_web_req *r)
{
    return &r->arena;
}

void
ts_web_resp_status(ts_web_resp *w, int status)
{
    w->status = status;
}
int
ts_web_resp_get_status(const ts_web_resp *w)
{
    return w->status;
}
void
ts_web_resp_header(ts_web_resp *w, const char *name, const char *value)
{
    for (size_t i = 0; i < w->nheaders; i++) {
        if (strcasecmp(w->headers[i].name, name) == 0) {
            ts_free(w->headers[i].value);
            w->headers[i].value = ts_strdup(value);
            return;
        }
    }
    TS_GROW(w->headers, w->cap, w->nheaders + 1);
    w->headers[w->nheaders].name = ts_strdup(name);
    w->headers[w->nheaders].value = ts_strdup(value);
    w->nheaders++;
}
ts_buf *
ts_web_resp_body(ts_web_resp *w)
{
    return &w->body;
}
int
ts_web_resp_text(ts_web_resp *w, int status, const char *content_type, const char *body)
{
    w->status = status;
    if (content_type)
        ts_web_resp_header(w, "Content-Type", content_type);
    ts_buf_reset(&w->body);
    return ts_buf_puts(&w->body, body);
}

static void
resp_init(ts_web_resp *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->status = 200;
    ts_buf_init(&w->body, max);
}

static void
resp_fini(ts_web_resp *w)
{
    for (size_t i = 0; i < w->nheaders; i++) {
        ts_free(w->headers[i].name);
        ts_free(w->headers[i].value);
    }
    ts_free(w->headers);
    ts_buf_fini(&w->body);
}

/* Go's http.Error: text/plain, nosniff, message + "\n". */
static void
go_error(ts_web_resp *w, int status, const char *msg)
{
    ts_web_resp_header(w, "Content-Type", "text/plain; charset=utf-8");
    ts_web_resp_header(w, "X-Content-Type-Options", "nosniff");
    w->status = status;
    ts_buf_reset(&w->body);
    ts_buf_puts(&w->body, msg);
    ts_buf_putc(&w->body, '\n');
}

/* ------------------------------------------------------------ decoding */

/* Decodes into the arena; on a bad escape returns NULL and, when bad is not
 * NULL, the offending text (Go's EscapeError: up to 3 bytes from the '%'). */
static char *
unescape(ts_arena *a, const char *s, size_t n, bool plus_space, const char **bad)
{
    char *out = ts_arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h = i + 2 < n ? ts_str_hexval((unsigned char)s[i + 1]) : -1;
            int l = i + 2 < n ? ts_str_hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                if (bad)
                    *bad = ts_arena_strndup(a, s + i, n - i < 3 ? n - i : 3);
                return NULL;
            }
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_space) {
            *o++ = ' ';
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    return out;
}

char *
ts_web_unescape(ts_arena *a, const char *s, size_t n, bool plus_space)
{
    return unescape(a, s, n, plus_space, NULL);
}

static void
add_param(ts_web_req *r, const char *name, const char *value)
{
    if (r->nparams == r->params_cap) {
        size_t ncap = r->params_cap ? r->params_cap * 2 : 16;
        param *np = ts_arena_alloc(&r->arena, ncap * sizeof *np);
        if (r->nparams)
            memcpy(np, r->params, r->nparams * sizeof *np);
        r->params = np;
        r->params_cap = ncap;
    }
    r->params[r->nparams].name = name;
    r->params[r->nparams].value = value;
    r->nparams++;
}

/* Go's url.ParseQuery: '&'-separated pairs; a pair with ';' or a bad escape
 * is skipped and the first such error remembered. */
static void
parse_query(ts_web_req *r, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        const char *seg = s + i;
        size_t len = j - i;
        i = j + 1;
        if (len == 0)
            continue;
        if (memchr(seg, ';', len)) {
            if (!r->form_err)
                r->form_err = "invalid semicolon separator in query";
            continue;
        }
        const char *eq = memchr(seg, '=', len);
        size_t klen = eq ? (size_t)(eq - seg) : len;
        const char *bad = NULL;
        char *k = unescape(&r->arena, seg, klen, true, &bad);
        char *v =
            k ? unescape(&r->arena, eq ? eq + 1 : "", eq ? len - klen - 1 : 0, true, &bad) : NULL;
        if (!k || !v) {
            if (!r->form_err)
                r->form_err = ts_arena_sprintf(&r->arena, "invalid URL escape \"%s\"", bad);
            continue;
        }
        add_param(r, k, v);
    }
}

static bool
is_form(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    static const char want[] = "application/x-www-form-urlencoded";
    size_t n = sizeof want - 1;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* ------------------------------------------------------------ routing */

/* Go's net/http cleanPath: path.Clean (collapse "//", resolve "." and "..")
 * keeping a trailing slash.  Returns an arena string. */
static char *
clean_path(ts_arena *a, const char *p)
{
    size_t n = strlen(p);
    char *out = ts_arena_alloc(a, n + 2);
    size_t o = 0;
    out[o++] = '/';
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 0) {
            /* nothing */
        } else if (len == 1 && p[i] == '.') {
            /* drop "." */
        } else if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            /* back up over the previous element */
            if (o > 1) {
                o--; /* the slash ending it */
                while (o > 1 && out[o - 1] != '/')
                    o--;
            }
        } else {
            if (o > 1 && out[o - 1] != '/')
                out[o++] = '/';
            memcpy(out + o, p + i, len);
            o += len;
            out[o++] = '/';
        }
        i = j;
    }
    if (o > 1 && out[o - 1] == '/')
        o--; /* path.Clean drops the trailing slash ... */
    if (n > 1 && p[n - 1] == '/' && o > 1)
        out[o++] = '/'; /* ... and cleanPath puts it back */
    out[o] = '\0';
    return out;
}

static bool
route_matches_path(const route *rt, const char *path)
{
    if (rt->prefix)
        return strncmp(path, rt->path, rt->plen) == 0;
    return strcmp(path, rt->path) == 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds the route for (method, path) as httprouter does: among the routes
 * for the request's method (or any method), the longest matching path.  When
 * there is none, *allow lists (sorted, with OPTIONS) the methods that do have
 * a route for the path, or is NULL when no route matches at all. */
static const route *
find_route(ts_web_server *s, ts_web_req *r, const char **allow)
{
    const route *best = NULL;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        if ((!rt->method || strcmp(rt->method, r->method) == 0) &&
            route_matches_path(rt, r->path) && (!best || rt->plen > best->plen))
            best = rt;
    }
    *allow = NULL;
    if (best)
        return best;
    const char *methods[64];
    size_t nm = 0;
    for (size_t i = 0; i < s->nroutes && nm < 63; i++) {
        const route *rt = &s->routes[i];
        /* OPTIONS routes do not make a path "known" (httprouter's allowed()) */
        if (rt->method && strcmp(rt->method, "OPTIONS") != 0 && route_matches_path(rt, r->path))
            methods[nm++] = rt->method;
    }
    if (!nm)
        return NULL;
    methods[nm++] = "OPTIONS";
    qsort(methods, nm, sizeof methods[0], cmp_str);
    ts_buf b;
    ts_buf_init(&b, 0);
    for (size_t i = 0; i < nm; i++) {
        if (i && strcmp(methods[i], methods[i - 1]) == 0)
            continue;
        if (b.len)
            ts_buf_puts(&b, ", ");
        ts_buf_puts(&b, methods[i]);
    }
    *allow = ts_arena_strdup(&r->arena, ts_buf_cstr(&b));
    ts_buf_fini(&b);
    return NULL;
}

/* ------------------------------------------------------------ answers */

/* Go's http.StatusText for the statuses we send. */
static const char *
status_text(int st)
{
    switch (st) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "status code";
    }
}

/* Serializes w into j->out: status line, headers, framing, body (not for HEAD). */
static void
serialize(job *j, const ts_web_resp *w)
{
    ts_buf *o = &j->out;
    ts_buf_reset(o);
    ts_buf_printf(o, "HTTP/1.1 %d %s\r\n", w->status, status_text(w->status));
    for (size_t i = 0; i < w->nheaders; i++) {
        const header *h = &w->headers[i];
        if (strcasecmp(h->name, "Content-Length") == 0 ||
            strcasecmp(h->name, "Transfer-Encoding") == 0)
            continue; /* the framing is ours */
        if (strcasecmp(h->name, "Connection") == 0) {
            if (strcasecmp(h->value, "close") == 0)
                j->keep_alive = false;
            continue;
        }
        ts_buf_printf(o, "%s: %s\r\n", h->name, h->value);
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ts_buf_printf(o, "Date: %s\r\n", date);
    bool no_body = w->status == 204 || w->status == 304 || w->status < 200;
    if (!no_body)
        ts_buf_printf(o, "Content-Length: %zu\r\n", w->body.len);
    if (!j->keep_alive)
        ts_buf_puts(o, "Connection: close\r\n");
    else if (j->head.minor == 0)
        ts_buf_puts(o, "Connection: keep-alive\r\n");
    ts_buf_puts(o, "\r\n");
    if (!no_body && !j->head_only)
        ts_buf_put(o, w->body.p, w->body.len);
}

/* ------------------------------------------------------------ serving a request */

/* The part of path below the route prefix ("/prom/graph" -> "/graph", "/prom" -> "/"), or NULL
 * when path is not below it. */
static const char *
below_prefix(const ts_web_server *s, const char *path, size_t n)
{
    size_t pl = strlen(s->prefix);
    if (n < pl || memcmp(path, s->prefix, pl) != 0 || (n > pl && path[pl] != '/'))
        return NULL;
    return n == pl ? "/" : path + pl;
}

/* With a route prefix: strips it from r->path, or answers (302 from "/" to the prefix, as
 * Prometheus does, else 404) and returns false. */
static bool
route_prefix(ts_web_server *s, ts_web_req *r, ts_web_resp *w)
{
    const char *rest = below_prefix(s, r->path, strlen(r->path));
    if (rest) {
        r->path = rest;
        return true;
    }
    if (strcmp(r->path, "/") == 0) {
        ts_web_resp_header(w, "Location", s->prefix);
        ts_web_resp_header(w, "Content-Type", "text/html; charset=utf-8");
        w->status = 302;
        ts_buf_puts(&w->body, "<a href=\"");
        ts_buf_puts(&w->body, s->prefix); /* checked at start: no characters to escape */
        ts_buf_puts(&w->body, "\">Found</a>.\n\n");
    } else {
        go_error(w, 404, "404 page not found");
    }
    return false;
}

static void
serve(ts_web_server *s, ts_web_req *r, ts_web_resp *w, const job *j)
{
    r->body = j->body;
    r->body_len = j->body ? j->len : 0;

    /* Target: path [? query]; absolute-form targets keep only the path. */
    const char *uri = r->uri;
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
        const char *p = strchr(strchr(uri, ':') + 3, '/');
        uri = p ? p : "/";
    }
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    r->path = unescape(&r->arena, uri, plen, false, NULL);
    if (!r->path || r->path[0] != '/') {
        go_error(w, 400, "400 Bad Request");
        return;
    }
    const char *ct = ts__http_header_get(&j->head, "Content-Type");
    if ((strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
         strcmp(r->method, "PATCH") == 0) &&
        is_form(ct) && r->body_len)
        parse_query(r, (const char *)r->body, r->body_len);
    if (q)
        parse_query(r, q + 1, strlen(q + 1));

    /* Go's ServeMux answers unclean paths with a redirect to the clean one. */
    char *clean = clean_path(&r->arena, r->path);
    if (strcmp(clean, r->path) != 0) {
        ts_buf loc;
        ts_buf_init(&loc, 0);
        ts_buf_puts(&loc, clean);
        if (q) {
            ts_buf_putc(&loc, '?');
            ts_buf_puts(&loc, q + 1);
        }
        ts_web_resp_header(w, "Location", ts_buf_cstr(&loc));
        w->status = 301;
        if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
            ts_web_resp_header(w, "Content-Type", "text/html; charset=utf-8");
            ts_buf_puts(&w->body, "<a href=\"");
            for (const char *c = ts_buf_cstr(&loc); *c; c++) {
                switch (*c) {
                case '&': ts_buf_puts(&w->body, "&amp;"); break;
                case '<': ts_buf_puts(&w->body, "&lt;"); break;
                case '>': ts_buf_puts(&w->body, "&gt;"); break;
                case '"': ts_buf_puts(&w->body, "&#34;"); break;
                case '\'': ts_buf_puts(&w->body, "&#39;"); break;
                default: ts_buf_putc(&w->body, (uint8_t)*c);
                }
            }
            ts_buf_puts(&w->body, "\">Moved Permanently</a>.\n\n");
        }
        ts_buf_fini(&loc);
        return;
    }

    if (s->prefix && !route_prefix(s, r, w))
        return;
    const char *allow;
    const route *rt = find_route(s, r, &allow);
    if (!rt) {
        if (allow && strcmp(r->method, "OPTIONS") == 0) {
            ts_web_resp_header(w, "Allow", allow); /* httprouter answers OPTIONS itself */
            w->status = 200;
        } else if (allow) {
            ts_web_resp_header(w, "Allow", allow);
            go_error(w, 405, "Method Not Allowed");
        } else {
            go_error(w, 404, "404 page not found");
        }
        return;
    }
    r->rest = rt->prefix ? r->path + rt->plen : "";
    int rc = rt->fn(r, w, rt->ctx);
    if (rc < 0 && w->status < 400) {
        ts_web_resp_header(w, "Content-Type", "text/plain; charset=utf-8");
        w->status = 500;
        ts_buf_fini(&w->body);
        ts_buf_init(&w->body, s->opts.max_response);
        ts_buf_puts(&w->body, ts_strerror(rc));
        ts_buf_putc(&w->body, '\n');
    }
}

/* The current web config: re-read when the file's mtime, size or inode changed (a stat per
 * request; Prometheus parses the file on every request).  A broken file keeps the last good
 * settings and logs why. */
static const ts_web_config *
web_config(ts_web_server *s)
{
    if (!s->wc_path)
        return NULL;
    struct stat st;
    pthread_mutex_lock(&s->wc_mu);
    if (stat(s->wc_path, &st) == 0 &&
        (st.st_mtim.tv_sec != s->wc_mtime.tv_sec || st.st_mtim.tv_nsec != s->wc_mtime.tv_nsec ||
         st.st_size != s->wc_size || st.st_ino != s->wc_ino)) {
        s->wc_mtime = st.st_mtim;
        s->wc_size = st.st_size;
        s->wc_ino = st.st_ino;
        ts_web_config *c = NULL;
        ts_error err = {0};
        if (ts_web_config_load(s->wc_path, &c, &err) != 0) {
            TS_LOG(TS_LOG_ERROR, "web",
                   "Unable to parse web configuration file; keeping the "
                   "last good settings",
                   "file=%s err=\"%s\"", s->wc_path, err.msg);
        } else {
            if (c->tls != s->wc->tls)
                TS_LOG(TS_LOG_WARN, "web",
                       "web configuration reloaded; turning TLS on or off applies at the "
                       "next start (certificates and TLS options apply to new connections)",
                       "file=%s", s->wc_path);
            else
                TS_LOG(TS_LOG_INFO, "web", "web configuration reloaded", "file=%s", s->wc_path);
            TS_GROW(s->wc_old, s->wc_old_cap, s->nwc_old + 1);
            s->wc_old[s->nwc_old++] = s->wc;
            s->wc = c;
        }
    }
    const ts_web_config *c = s->wc;
    pthread_mutex_unlock(&s->wc_mu);
    return c;
}

/* Runs one request (on a worker, or on the I/O thread for inline routes) and
 * serializes the answer into j->out.  Never touches the connection. */
static void
process(ts_web_server *s, job *j)
{
    ts_web_req r;
    memset(&r, 0, sizeof r);
    ts_arena_init(&r.arena, 0);
    r.head = &j->head;
    r.method = j->head.method;
    r.uri = j->head.target;
    ts_web_resp w;
    resp_init(&w, s->opts.max_response);

    const ts_web_config *wc = web_config(s);
    if (wc && !ts_web_config_check_auth(wc, ts__http_header_get(&j->head, "Authorization"))) {
        ts_web_resp_header(&w, "WWW-Authenticate", "Basic");
        go_error(&w, 401, "Unauthorized");
    } else {
        serve(s, &r, &w, j);
    }
    for (size_t i = 0; wc && i < wc->nheaders; i++)
        ts_web_resp_header(&w, wc->headers[2 * i], wc->headers[2 * i + 1]);
    serialize(j, &w);
    resp_fini(&w);
    ts_free(r.vals);
    ts_arena_fini(&r.arena);
}

static job *
job_new(conn *c)
{
    job *j = ts_calloc(1, sizeof *j);
    j->c = c;
    ts_arena_init(&j->arena, 0);
    ts_buf_init(&j->out, 0);
    return j;
}

static void
job_free(job *j)
{
    if (!j)
        return;
    ts_arena_fini(&j->arena);
    ts_buf_fini(&j->out);
    ts_free(j->body);
    ts_free(j);
}

static void *
worker_main(void *arg)
{
    ts_web_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->closing)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->closing)
            break; /* jobs not started are dropped: their connections are closed */
        job *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        process(s, j);
        pthread_mutex_lock(&s->mu);
        j->next = NULL;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done = j;
        s->done_tail = j;
        if (!s->io_gone)
            uv_async_send(&s->wake);
    }
    pthread_cond_broadcast(&s->cv); /* let the other workers see the exit condition */
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------ connections (I/O thread) */

static void conn_close(conn *c);
static void conn_advance(conn *c);
static void linger(conn *c);
static void read_start(conn *c);
static void accept_one(ts_web_server *s);

static void
on_conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->nhandles > 0)
        return;
    ts_web_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    ts__tls_conn_free(c->tls);
    ts_free(c->in);
    ts_free(c);
    if (s->accept_waiting && !s->io_stopping) {
        /* a slot is free: take the connection waiting in the listener (libuv stopped watching
         * the listener until we accept it) */
        s->accept_waiting = false;
        accept_one(s);
    }
}

/* Closes at once (errors, timeouts, shutdown).  A job with a worker keeps
 * running; its answer is dropped. */
static void
conn_close(conn *c)
{
    if (c->state == C_CLOSED)
        return;
    if (c->job) {
        if (c->state == C_BUSY) {
            c->job->c = NULL; /* the worker's (j->c is only read on this thread); freed when it
                               * comes back */
        } else {
            job_free(c->job);
        }
        c->job = NULL;
    }
    c->state = C_CLOSED;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void
on_timer(uv_timer_t *t)
{
    conn *c = t->data;
    conn_close(c);
}

static void
arm(conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void
on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    ts_free(w->mem);
    ts_free(w);
    c->writes--;
    if (c->state == C_CLOSED)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->writes == 0 && c->state == C_WRITE) {
        /* the answer is out: next request, or close */
        job *j = c->job;
        c->job = NULL;
        bool keep = j && j->keep_alive;
        job_free(j);
        if (!keep) {
            linger(c);
            return;
        }
        c->state = C_HEAD;
        if (c->in_cap > KEEP_IN_BUF && c->in_len <= KEEP_IN_BUF) {
            c->in = ts_realloc(c->in, KEEP_IN_BUF);
            c->in_cap = KEEP_IN_BUF;
        }
        arm(c, (uint64_t)c->srv->opts.read_timeout_ms); /* idle */
        read_start(c);
        conn_advance(c); /* a pipelined request may be buffered already */
    }
}

/* Sends raw bytes (takes ownership of mem, a ts_malloc'd buffer). */
static void
send_raw(conn *c, char *mem, size_t n)
{
    if (n == 0) {
        ts_free(mem);
        return;
    }
    wreq *w = ts_calloc(1, sizeof *w);
    w->c = c;
    w->mem = mem;
    uv_buf_t b = uv_buf_init(mem, (unsigned)n);
    c->writes++;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        c->writes--;
        ts_free(mem);
        ts_free(w);
        conn_close(c);
    }
}

/* Ciphertext TLS wants sent (handshake, alerts, records). */
static void
flush_tls(conn *c)
{
    char *mem;
    size_t n;
    ts__tls_pending(c->tls, &mem, &n);
    if (mem)
        send_raw(c, mem, n);
}

/* Sends plaintext, through TLS when the connection has it. */
static void
send_bytes(conn *c, const void *p, size_t n)
{
    if (c->tls) {
        if (ts__tls_write(c->tls, p, n) != 0) {
            conn_close(c);
            return;
        }
        flush_tls(c);
        return;
    }
    char *mem = ts_malloc(n ? n : 1);
    memcpy(mem, p, n);
    send_raw(c, mem, n);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* After the last answer on a connection: shut the write side down once it
 * is sent and read (and drop) what the client still sends for a moment. */
static void
linger(conn *c)
{
    c->state = C_LINGER;
    arm(c, LINGER_MS);
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    read_start(c);
}

/* An answer decided before routing (a malformed or refused request): Go's
 * text form, then the connection closes. */
static void
answer_early(conn *c, int status, const char *why)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, status_text(status), why ? ": " : "",
                     why ? why : "");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof body)
        n = (int)sizeof body - 1;
    ts_buf_printf(&b,
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "X-Content-Type-Options: nosniff\r\nConnection: close\r\n"
                  "Content-Length: %d\r\n\r\n%.*s",
                  status, status_text(status), n, n, body);
    if (c->job) {
        job_free(c->job);
        c->job = NULL;
    }
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    c->state = C_WRITE; /* on_written sees no job: no keep-alive, linger */
    send_bytes(c, b.p, b.len);
    ts_buf_fini(&b);
    if (c->state == C_WRITE && c->writes == 0)
        linger(c);
}

/* The answer of a finished job goes out (I/O thread). */
static void
respond(conn *c, job *j)
{
    c->state = C_WRITE;
    arm(c, (uint64_t)c->srv->opts.read_timeout_ms); /* the client must take it */
    send_bytes(c, j->out.p, j->out.len);
    if (c->state == C_WRITE && c->writes == 0) {
        /* nothing to wait for (cannot happen with a status line, kept for safety) */
        conn_close(c);
    }
}

static void
consume(conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Whether the request (without a body) goes to an inline route: its raw path
 * equals an inline route's path exactly (routes are fixed after start). */
static bool
is_inline(ts_web_server *s, const job *j)
{
    const char *uri = j->head.target;
    size_t n = strcspn(uri, "?");
    if (s->prefix) {
        const char *rest = below_prefix(s, uri, n);
        if (!rest)
            return false;
        n -= (size_t)(rest - uri);
        uri = rest;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        if (rt->inline_ && !rt->prefix && rt->plen == n && memcmp(rt->path, uri, n) == 0 &&
            (!rt->method || strcmp(rt->method, j->head.method) == 0))
            return true;
    }
    return false;
}

/* The request is complete in the buffer: hand it over. */
static void
dispatch(conn *c)
{
    ts_web_server *s = c->srv;
    job *j = c->job;
    j->len = (size_t)c->body_len;
    j->body = ts_malloc(j->len + 1);
    memcpy(j->body, c->in + c->head_len, j->len);
    j->body[j->len] = '\0';
    consume(c, c->head_len + j->len);
    c->scan = 0;
    c->started = false;
    c->continued = false;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    uv_timer_stop(&c->timer);
    c->state = C_BUSY;
    j->head_only = strcmp(j->head.method, "HEAD") == 0;
    j->keep_alive = j->head.minor == 1
                        ? !ts__http_header_has_token(&j->head, "Connection", "close")
                        : ts__http_header_has_token(&j->head, "Connection", "keep-alive");
    if (j->len == 0 && is_inline(s, j)) {
        /* health checks answer even when every worker runs a long query */
        process(s, j);
        respond(c, j);
        return;
    }
    pthread_mutex_lock(&s->mu);
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Parses what the buffer holds as far as it goes. */
static void
conn_advance(conn *c)
{
    ts_web_server *s = c->srv;
    if (c->state == C_HEAD) {
        if (c->scan == 0)
            consume(c, ts__http_skip_empty(c->in, c->in_len));
        if (c->in_len == 0)
            return;
        if (!c->started) {
            c->started = true; /* the whole request must arrive within the read timeout */
            arm(c, (uint64_t)s->opts.read_timeout_ms);
        }
        long n = ts__http_head_end(c->in, c->in_len, &c->scan, TS_HTTP_MAX_HEAD);
        if (n == 0)
            return;
        if (n < 0) {
            answer_early(c, (int)-n,
                         n == -414 ? "the request line is longer than 1 MiB"
                                   : "the request headers are larger than 1 MiB");
            return;
        }
        job *j = job_new(c);
        c->job = j;
        const char *why = NULL;
        int st = ts__http_parse_head(c->in, (size_t)n, &j->arena, &j->head, &why);
        uint64_t blen = 0;
        if (!st)
            st = ts__http_body_length(&j->head, s->opts.max_body, &blen, &why);
        if (st) {
            answer_early(c, st, why);
            return;
        }
        c->head_len = (size_t)n;
        c->body_len = blen;
        c->state = C_BODY;
        const char *expect = ts__http_header_get(&j->head, "Expect");
        if (blen > 0 && c->in_len - c->head_len < blen && expect &&
            strcasecmp(expect, "100-continue") == 0 && j->head.minor == 1 && !c->continued) {
            /* without this curl waits a second before sending the body */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            c->continued = true;
            send_bytes(c, cont, sizeof cont - 1);
            if (c->state == C_CLOSED)
                return;
        }
    }
    if (c->state == C_BODY && c->in_len - c->head_len >= c->body_len)
        dispatch(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    conn *c = h->data;
    *b = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

/* Room for n more bytes of input. */
static void
reserve_in(conn *c, size_t n)
{
    if (c->in_cap - c->in_len >= n)
        return;
    size_t cap = c->in_cap ? c->in_cap : KEEP_IN_BUF;
    while (cap - c->in_len < n)
        cap *= 2;
    c->in = ts_realloc(c->in, cap);
    c->in_cap = cap;
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    conn *c = st->data;
    if (nread == 0 || c->state == C_CLOSED)
        return;
    if (nread < 0) {
        conn_close(c); /* end of stream or error */
        return;
    }
    if (c->state == C_LINGER)
        return; /* dropped */
    if (!c->tls) {
        reserve_in(c, (size_t)nread);
        memcpy(c->in + c->in_len, b->base, (size_t)nread);
        c->in_len += (size_t)nread;
    } else {
        ts__tls_feed(c->tls, b->base, (size_t)nread);
        for (;;) {
            reserve_in(c, READ_CHUNK);
            size_t got = 0;
            char why[160];
            int rc = ts__tls_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len, &got, why,
                                  sizeof why);
            c->in_len += got;
            if (rc < 0) {
                TS_LOG(TS_LOG_DEBUG, "web", "TLS handshake or read failed", "err=\"%s\"", why);
                flush_tls(c); /* the alert, when there is one */
                if (c->state != C_CLOSED)
                    linger(c);
                return;
            }
            if (rc == 1) {
                conn_close(c); /* close_notify */
                return;
            }
            if (got == 0 || c->in_cap - c->in_len > 0)
                break;
        }
        flush_tls(c);
        if (c->state == C_CLOSED)
            return;
    }
    conn_advance(c);
}

static void
read_start(conn *c)
{
    if (c->reading || c->state == C_CLOSED)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        conn_close(c);
}

/* The TLS context for a new connection: remade when the web config or the
 * certificate or key file changed since the last one (a failure keeps the
 * last good one and logs why). */
static ts__tls_ctx *
current_tls(ts_web_server *s)
{
    const ts_web_config *wc = web_config(s);
    if (!wc || !wc->tls)
        return s->tls; /* turning TLS off applies at the next start */
    struct stat cs, ks;
    bool cert_ok = stat(wc->cert_file, &cs) == 0, key_ok = stat(wc->key_file, &ks) == 0;
    if (wc == s->tls_wc &&
        (!cert_ok || (cs.st_mtim.tv_sec == s->cert_mtime.tv_sec &&
                      cs.st_mtim.tv_nsec == s->cert_mtime.tv_nsec)) &&
        (!key_ok ||
         (ks.st_mtim.tv_sec == s->key_mtime.tv_sec && ks.st_mtim.tv_nsec == s->key_mtime.tv_nsec)))
        return s->tls;
    ts__tls_ctx *t = NULL;
    ts_error err = {0};
    if (ts__tls_ctx_new(&t, wc, &err) != 0) {
        TS_LOG(TS_LOG_ERROR, "web", "cannot load the TLS settings; keeping the last good ones",
               "err=\"%s\"", err.msg);
    } else {
        ts__tls_ctx_free(s->tls);
        s->tls = t;
    }
    s->tls_wc = wc; /* configs are kept until free: the pointer stays unique */
    if (cert_ok)
        s->cert_mtime = cs.st_mtim;
    if (key_ok)
        s->key_mtime = ks.st_mtim;
    return s->tls;
}

static void
accept_one(ts_web_server *s)
{
    conn *c = ts_calloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(&s->loop, &c->tcp);
    uv_timer_init(&s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->nhandles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->tls) {
        ts__tls_ctx *t = current_tls(s);
        c->tls = ts__tls_conn_new(t);
        if (!c->tls) {
            conn_close(c);
            return;
        }
    }
    c->state = C_HEAD;
    arm(c, (uint64_t)s->opts.read_timeout_ms);
    read_start(c);
}

static void
on_connection(uv_stream_t *l, int status)
{
    ts_web_server *s = l->data;
    if (status < 0) {
        TS_LOG(TS_LOG_WARN, "web", "accept failed", "err=\"%s\"", uv_strerror(status));
        return;
    }
    if (s->io_stopping)
        return;
    if (s->nconns >= s->opts.max_connections) {
        /* not accepted: libuv stops watching the listener until we do, so
         * further clients wait in the kernel's backlog */
        s->accept_waiting = true;
        return;
    }
    accept_one(s);
}

static void
on_plain_closed(uv_handle_t *h)
{
    (void)h;
}

/* Worker answers, and the stop request. */
static void
on_wake(uv_async_t *a)
{
    ts_web_server *s = a->data;
    pthread_mutex_lock(&s->mu);
    job *d = s->done;
    s->done = s->done_tail = NULL;
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    while (d) {
        job *j = d;
        d = d->next;
        conn *c = j->c;
        if (!c) {
            job_free(j);
            continue;
        }
        respond(c, j);
    }
    if (!stop)
        return;
    s->io_stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_plain_closed);
    for (conn *c = s->conns; c; c = c->next)
        conn_close(c);
    pthread_mutex_lock(&s->mu);
    s->io_gone = true; /* workers stop waking us from here on */
    pthread_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->wake, on_plain_closed);
}

static void *
io_main(void *arg)
{
    ts_web_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ------------------------------------------------------------ life cycle */

static char *
heap_cat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = ts_malloc(na + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}
int
ts_web_server_new(ts_web_server **out, const ts_web_server_opts *opts, ts_error *err)
{
    *out = NULL;
    const char *listen = opts && opts->listen ? opts->listen : "127.0.0.1:9090";
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return ts_error_set(err, TS_EINVAL, "invalid listen address \"%s\": want host:port",
                            listen);
    const char *rp = opts ? opts->route_prefix : NULL;
    if (rp && (rp[0] != '/' || strpbrk(rp, "?#\"<>&' \t\r\n")))
        return ts_error_set(err, TS_EINVAL, "invalid route prefix \"%s\"", rp);
    ts_web_server *s = ts_calloc(1, sizeof *s);
    if (opts)
        s->opts = *opts;
    s->opts.listen = NULL;
    s->opts.route_prefix = NULL;
    if (rp) {
        size_t n = strlen(rp);
        while (n && rp[n - 1] == '/')
            n--;
        if (n) {
            s->prefix = ts_malloc(n + 1);
            memcpy(s->prefix, rp, n);
            s->prefix[n] = '\0';
        }
    }
    if (!s->opts.nworkers)
        s->opts.nworkers = DEFAULT_WORKERS;
    if (!s->opts.max_body)
        s->opts.max_body = DEFAULT_MAX_BODY;
    if (!s->opts.max_response)
        s->opts.max_response = DEFAULT_MAX_RESPONSE;
    if (s->opts.max_connections <= 0)
        s->opts.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (s->opts.read_timeout_ms <= 0)
        s->opts.read_timeout_ms = DEFAULT_READ_TIMEOUT_MS;
    s->opts.web_config_file = NULL;
    const char *wcf = opts ? opts->web_config_file : NULL;
    if (wcf && wcf[0]) {
        int rc = ts_web_config_load(wcf, &s->wc, err);
        if (rc != 0) {
            ts_error_prefix(err, "Unable to validate web configuration file %s: ", wcf);
            ts_free(s->prefix);
            ts_free(s);
            return rc;
        }
        s->wc_path = heap_cat(wcf, "");
        struct stat st;
        if (stat(wcf, &st) == 0) {
            s->wc_mtime = st.st_mtim;
            s->wc_size = st.st_size;
            s->wc_ino = st.st_ino;
        }
    }
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') /* "[::1]:9090" */
        s->host = ts_strndup(listen + 1, hlen - 2);
    else
        s->host = ts_strndup(listen, hlen);
    s->portstr = ts_strdup(colon + 1);
    pthread_mutex_init(&s->wc_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    *out = s;
    return TS_OK;
}

static int route_add(ts_web_server *s, const char *method, const char *path, bool prefix,
                     ts_web_handler_fn fn, void *ctx, bool inline_);

int
ts_web_server_route(ts_web_server *s, const char *method, const char *path, bool prefix,
                    ts_web_handler_fn fn, void *ctx)
{
    return route_add(s, method, path, prefix, fn, ctx, false);
}

int
ts_web_server_route_inline(ts_web_server *s, const char *method, const char *path,
                           ts_web_handler_fn fn, void *ctx)
{
    return route_add(s, method, path, false, fn, ctx, true);
}

static int
route_add(ts_web_server *s, const char *method, const char *path, bool prefix, ts_web_handler_fn fn,
          void *ctx, bool inline_)
{
    if (s->started || !path || path[0] != '/' || !fn)
        return TS_EINVAL;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        bool same_method =
            (!rt->method && !method) || (rt->method && method && strcmp(rt->method, method) == 0);
        if (same_method && rt->prefix == prefix && strcmp(rt->path, path) == 0)
            return TS_EEXIST;
    }
    TS_GROW(s->routes, s->routes_cap, s->nroutes + 1);
    route *rt = &s->routes[s->nroutes++];
    rt->method = method ? ts_strdup(method) : NULL;
    rt->path = ts_strdup(path);
    rt->plen = strlen(path);
    rt->prefix = prefix;
    rt->fn = fn;
    rt->ctx = ctx;
    rt->inline_ = inline_;
    return TS_OK;
}

/* The listening address, as getaddrinfo resolves it ("" or "0.0.0.0" = all IPv4 interfaces,
 * as nng did; "::" = all). */
static int
bind_listener(ts_web_server *s, ts_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    const char *host = s->host[0] ? s->host : "0.0.0.0";
    int gr = getaddrinfo(host, s->portstr, &hints, &ai);
    if (gr != 0)
        return ts_error_set(err, TS_EINVAL, "listen %s:%s: %s", host, s->portstr, gai_strerror(gr));
    int rc = UV_EADDRNOTAVAIL;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        rc = uv_tcp_bind(&s->listener, p->ai_addr, 0);
        if (rc == 0)
            break;
    }
    freeaddrinfo(ai);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
    if (rc != 0)
        return ts_error_set(err, rc, "listen %s:%s: %s", host, s->portstr, uv_strerror(rc));
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

int
ts_web_server_start(ts_web_server *s, ts_error *err)
{
    if (s->started)
        return TS_EINVAL;
    if (s->wc && s->wc->tls) {
        int rc = ts__tls_ctx_new(&s->tls, s->wc, err);
        if (rc != 0)
            return rc;
        s->tls_wc = s->wc;
        struct stat st;
        if (stat(s->wc->cert_file, &st) == 0)
            s->cert_mtime = st.st_mtim;
        if (stat(s->wc->key_file, &st) == 0)
            s->key_mtime = st.st_mtim;
    }
    int rc = uv_loop_init(&s->loop);
    if (rc != 0)
        return ts_error_set(err, rc, "event loop: %s", uv_strerror(rc));
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    if ((rc = bind_listener(s, err)) != 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_close((uv_handle_t *)&s->wake, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        ts__tls_ctx_free(s->tls);
        s->tls = NULL;
        return rc;
    }
    s->workers = ts_calloc((size_t)s->opts.nworkers, sizeof *s->workers);
    for (int i = 0; i < s->opts.nworkers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            TS_ASSERT(!"pthread_create");
        s->nworkers++;
    }
    if (pthread_create(&s->io_thread, NULL, io_main, s) != 0)
        TS_ASSERT(!"pthread_create");
    s->io_running = true;
    s->started = true;
    TS_LOG(TS_LOG_INFO, "web", "listening", "address=%s:%s port=%d tls=%s",
           s->host[0] ? s->host : "0.0.0.0", s->portstr, s->port, s->tls ? "true" : "false");
    return TS_OK;
}

int
ts_web_server_port(const ts_web_server *s)
{
    return s->port;
}

static void
free_jobs(job *j)
{
    while (j) {
        job *n = j->next;
        job_free(j);
        j = n;
    }
}

void
ts_web_server_free(ts_web_server *s)
{
    if (!s)
        return;
    if (s->started) {
        /* 1. the I/O thread closes the listener and every connection, then returns */
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        uv_async_send(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->io_thread, NULL);
        uv_loop_close(&s->loop);
        /* 2. the workers finish what they run and leave */
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < s->nworkers; i++)
            pthread_join(s->workers[i], NULL);
        /* 3. answers nobody will take, requests nobody started */
        free_jobs(s->done);
        free_jobs(s->head);
    }
    ts__tls_ctx_free(s->tls);
    for (size_t i = 0; i < s->nroutes; i++) {
        ts_free(s->routes[i].method);
        ts_free(s->routes[i].path);
    }
    ts_free(s->routes);
    ts_free(s->workers);
    ts_free(s->host);
    ts_free(s->portstr);
    ts_free(s->prefix);
    ts_web_config_free(s->wc);
    for (size_t i = 0; i < s->nwc_old; i++)
        ts_web_config_free(s->wc_old[i]);
    ts_free(s->wc_old);
    ts_free(s->wc_path);
    pthread_mutex_destroy(&s->wc_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    ts_free(s);
}

int
ts_web_handle_metrics(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_buf *b = ts_web_resp_body(resp);
    ts_buf_reset(b);
    ts_metrics_write(ctx, b);
    ts_web_resp_status(resp, 200);
    ts_web_resp_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return TS_OK;
}
