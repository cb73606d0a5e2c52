/*
 * HTTP server: nng 1.5's HTTP server for the protocol, our own router and a
 * pool of worker threads for the handlers.
 *
 * Flow of one request:
 *  1. nng reads the request line and headers and calls on_request() (on an
 *     nng thread) with an aio whose inputs are the nng request, handler and
 *     connection.  nng is told not to collect the body (so its 400-on-too-big
 *     never triggers and we can answer 413 without reading the body).
 *  2. on_request() checks the body framing (Content-Length bounded by
 *     max_body; chunked is refused) and, when there is a body, starts reading
 *     it asynchronously (nng_http_conn_read_all on the job's own aio, with a
 *     timeout, after a "100 Continue" when the client asked for one); the
 *     job is queued when the body is complete, or at once without one.  A
 *     slow client thus holds its connection, never a worker.
 *  3. A worker picks the job up, parses the
 *     target and form, routes, calls the handler, converts our response into
 *     an nng_http_res, sets it as the aio's output and finishes the aio.
 *     nng then writes it (dropping the body for HEAD) and reads the next
 *     request on the connection.
 *
 * All of nng's requests go to one "tree" handler registered on "/" for every
 * method; routing is ours so 404 and 405 answers look like Prometheus' (Go's
 * net/http and httprouter), not like nng's HTML error pages.
 *
 * Shutdown: ts_web_server_free marks the server closing (new callbacks then
 * fail their aio at once), stops the nng server (closing connections), lets
 * the workers finish the jobs already queued, joins them and releases the
 * nng server.  nng holds a reference on its handler for every callback in
 * flight and calls the handler's destructor only after the last one
 * completed; we wait for that destructor before freeing our state, so a
 * late callback never touches freed memory.
 */
#include "pkg/web/server.h"
#include "pkg/web/webconfig.h"
#include "pkg/util/str.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#define DEFAULT_WORKERS 4
#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_MAX_RESPONSE (1u << 30)
#define BODY_READ_TIMEOUT_MS 30000

typedef struct route {
    char *method; /* NULL = any */
    char *path;
    size_t plen;
    bool prefix;
    ts_web_handler_fn fn;
    void *ctx;
    bool inline_; /* run on nng's thread (never blocks: health checks) */
} route;

/* One request between nng's callback and a worker.  When it has a body, the
 * body is read asynchronously first (rd), so a slow client holds a
 * connection, never a worker. */
typedef struct job {
    struct job *next;
    struct ts_web_server *srv;
    nng_aio *aio;       /* nng's handler aio: inputs req/handler/conn, finished by the worker */
    nng_aio *rd;        /* body read (and 100-continue write); NULL without a body */
    bool continue_sent; /* rd: the "100 Continue" went out, now reading */
    int early;          /* 0, or an HTTP status to answer at once (400/411/413), or -1:
                         * reading the body failed, close the connection */
    uint8_t *body;      /* heap, len + 1 bytes */
    size_t len;
} job;

struct ts_web_server {
    ts_web_server_opts opts;
    char *url;
    char *prefix; /* route prefix without trailing '/' ("/prom"), NULL for none */
    nng_http_server *http;
    nng_http_handler *handler; /* owned by http once added */
    route *routes;
    size_t nroutes, routes_cap;
    bool started;
    int port;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* job queue and shutdown */
    pthread_cond_t done_cv; /* handler destructor ran */
    job *head, *tail;
    int reading; /* jobs whose body is still being read */
    bool closing;
    bool handler_gone;
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
    nng_http_req *hreq;
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
    return r->hreq ? nng_http_req_get_header(r->hreq, name) : NULL;
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

/* ------------------------------------------------------------ the worker */

/* Checks the body framing of a request: sets j->len, or j->early to the
 * status to refuse it with. */
static void
check_body(ts_web_server *s, nng_http_req *req, job *j)
{
    const char *te = nng_http_req_get_header(req, "Transfer-Encoding");
    if (te && strcasecmp(te, "identity") != 0) {
        j->early = 411; /* chunked bodies are not supported */
        return;
    }
    const char *cl = nng_http_req_get_header(req, "Content-Length");
    if (!cl)
        return;
    char *end;
    errno = 0;
    unsigned long long len = strtoull(cl, &end, 10);
    if (errno || end == cl || *end != '\0' || !isdigit((unsigned char)cl[0]))
        j->early = 400;
    else if (len > s->opts.max_body)
        j->early = 413;
    else
        j->len = (size_t)len;
}
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
    int st = j->early;
    if (st < 0) {
        w->status = -1;
        return;
    }
    r->body = j->body;
    r->body_len = j->body ? j->len : 0;
    if (st) {
        static const char *const texts[] = {[0] = "400 Bad Request",
                                            [1] = "411 Length Required",
                                            [2] = "413 Request Entity Too Large"};
        go_error(w, st, texts[st == 400 ? 0 : st == 411 ? 1 : 2]);
        ts_web_resp_header(w, "Connection", "close");
        return;
    }

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
    const char *ct = nng_http_req_get_header(r->hreq, "Content-Type");
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
            if (c->tls != s->wc->tls || (c->tls && (strcmp(c->cert_pem, s->wc->cert_pem) != 0 ||
                                                    strcmp(c->key_pem, s->wc->key_pem) != 0)))
                TS_LOG(TS_LOG_WARN, "web",
                       "web configuration reloaded; TLS changes apply at the "
                       "next start",
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

/* Runs one queued request and completes its aio. */
static void
process(ts_web_server *s, job *j)
{
    nng_aio *aio = j->aio;
    nng_http_req *hreq = nng_aio_get_input(aio, 0);
    ts_web_req r;
    memset(&r, 0, sizeof r);
    ts_arena_init(&r.arena, 0);
    r.hreq = hreq;
    r.method = nng_http_req_get_method(hreq);
    r.uri = nng_http_req_get_uri(hreq);
    ts_web_resp w;
    resp_init(&w, s->opts.max_response);

    const ts_web_config *wc = web_config(s);
    if (wc && j->early >= 0 &&
        !ts_web_config_check_auth(wc, nng_http_req_get_header(hreq, "Authorization"))) {
        ts_web_resp_header(&w, "WWW-Authenticate", "Basic");
        go_error(&w, 401, "Unauthorized");
    } else {
        serve(s, &r, &w, j);
    }
    for (size_t i = 0; wc && w.status > 0 && i < wc->nheaders; i++)
        ts_web_resp_header(&w, wc->headers[2 * i], wc->headers[2 * i + 1]);

    nng_http_res *res = NULL;
    int rv = w.status < 0 ? NNG_ECLOSED : nng_http_res_alloc(&res);
    if (rv == 0)
        rv = nng_http_res_set_status(res, (uint16_t)w.status);
    if (rv == 0 && strcmp(nng_http_res_get_reason(res), "Unknown HTTP Status") == 0) {
        /* nng 1.5 lacks some of Go's reason phrases */
        const char *reason = w.status == 413   ? "Request Entity Too Large"
                             : w.status == 414 ? "Request URI Too Long"
                             : w.status == 422 ? "Unprocessable Entity"
                             : w.status == 429 ? "Too Many Requests"
                             : w.status == 431 ? "Request Header Fields Too Large"
                                               : NULL;
        if (reason)
            rv = nng_http_res_set_reason(res, reason);
    }
    for (size_t i = 0; rv == 0 && i < w.nheaders; i++)
        rv = nng_http_res_set_header(res, w.headers[i].name, w.headers[i].value);
    if (rv == 0 && w.body.len)
        rv = nng_http_res_copy_data(res, w.body.p, w.body.len);
    else if (rv == 0 && w.status != 204 && w.status != 304)
        rv = nng_http_res_set_header(res, "Content-Length", "0"); /* nng refuses 0-byte data */
    if (rv == 0) {
        nng_aio_set_output(aio, 0, res);
    } else if (res) {
        nng_http_res_free(res);
    }
    resp_fini(&w);
    ts_free(r.vals);
    ts_arena_fini(&r.arena);
    nng_aio_finish(aio, rv);
}

static void
job_free(job *j)
{
    if (j->rd)
        nng_aio_free(j->rd); /* waits for its callback to have returned */
    ts_free(j->body);
    ts_free(j);
}

static void *
worker_main(void *arg)
{
    ts_web_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* on close, stay until bodies being read have been handed over too */
        while (!s->head && !(s->closing && s->reading == 0))
            pthread_cond_wait(&s->cv, &s->mu);
        job *j = s->head;
        if (!j)
            break; /* closing and drained */
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        process(s, j);
        job_free(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_cond_broadcast(&s->cv); /* let the other workers see the exit condition */
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues j for the workers; called with s->mu held. */
static void
enqueue_locked(ts_web_server *s, job *j)
{
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cv);
}

/* Completion of the body read (or of the "100 Continue" write before it). */
static void
on_body(void *arg)
{
    job *j = arg;
    ts_web_server *s = j->srv;
    int rv = nng_aio_result(j->rd);
    nng_http_conn *conn = nng_aio_get_input(j->aio, 2);
    if (rv == 0 && !j->continue_sent) {
        j->continue_sent = true;
        nng_iov iov = {.iov_buf = j->body, .iov_len = j->len};
        nng_aio_set_iov(j->rd, 1, &iov);
        nng_http_conn_read_all(conn, j->rd);
        return;
    }
    if (rv != 0)
        j->early = -1; /* connection gone or too slow: just close */
    else
        j->body[j->len] = '\0';
    pthread_mutex_lock(&s->mu);
    s->reading--;
    enqueue_locked(s, j);
    pthread_mutex_unlock(&s->mu);
    /* j is the workers' now: no access after the unlock */
}

/* Whether the request (without a body) goes to an inline route: its raw path
 * equals an inline route's path exactly (routes are fixed after start). */
static bool
is_inline(ts_web_server *s, nng_http_req *req)
{
    const char *uri = nng_http_req_get_uri(req);
    size_t n = strcspn(uri, "?");
    if (s->prefix) {
        const char *rest = below_prefix(s, uri, n);
        if (!rest)
            return false;
        n -= (size_t)(rest - uri);
        uri = rest;
    }
    const char *method = nng_http_req_get_method(req);
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        if (rt->inline_ && !rt->prefix && rt->plen == n && memcmp(rt->path, uri, n) == 0 &&
            (!rt->method || strcmp(rt->method, method) == 0))
            return true;
    }
    return false;
}

/* nng's callback (on an nng thread): start reading the body, or queue. */
static void
on_request(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    ts_web_server *s = nng_http_handler_get_data(h);
    nng_http_req *req = nng_aio_get_input(aio, 0);
    nng_http_conn *conn = nng_aio_get_input(aio, 2);
    job *j = ts_calloc(1, sizeof *j);
    j->srv = s;
    j->aio = aio;
    check_body(s, req, j);
    if (!j->early && j->len > 0 && nng_aio_alloc(&j->rd, on_body, j) != 0)
        j->early = -1;
    pthread_mutex_lock(&s->mu);
    if (s->closing) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        nng_aio_finish(aio, NNG_ECLOSED);
        return;
    }
    if (!j->rd && !j->early && is_inline(s, req)) {
        /* health checks must answer even when every worker runs a long query */
        pthread_mutex_unlock(&s->mu);
        process(s, j);
        job_free(j);
        return;
    }
    if (!j->rd) {
        enqueue_locked(s, j);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->reading++;
    pthread_mutex_unlock(&s->mu);
    j->body = ts_malloc(j->len + 1);
    nng_aio_set_timeout(j->rd, BODY_READ_TIMEOUT_MS);
    const char *expect = nng_http_req_get_header(req, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        /* nng does not send the interim answer; without it curl waits 1 s */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        nng_iov iov = {.iov_buf = (void *)cont, .iov_len = sizeof cont - 1};
        nng_aio_set_iov(j->rd, 1, &iov);
        nng_http_conn_write_all(conn, j->rd);
    } else {
        j->continue_sent = true;
        nng_iov iov = {.iov_buf = j->body, .iov_len = j->len};
        nng_aio_set_iov(j->rd, 1, &iov);
        nng_http_conn_read_all(conn, j->rd);
    }
}

static void
handler_dtor(void *arg)
{
    ts_web_server *s = arg;
    pthread_mutex_lock(&s->mu);
    s->handler_gone = true;
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
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
    const char *scheme = s->wc && s->wc->tls ? "https://" : "http://";
    size_t hlen = (size_t)(colon - listen);
    char *host = heap_cat(scheme, hlen == 0 ? "0.0.0.0" : "");
    s->url = heap_cat(host, hlen == 0 ? colon : listen);
    ts_free(host);
    pthread_mutex_init(&s->wc_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
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

static int
nng_fail(ts_error *err, int rv, const char *what, const char *url)
{
    int code = rv == NNG_EADDRINUSE ? -EADDRINUSE : rv == NNG_EADDRINVAL ? TS_EINVAL : TS_EIO;
    return ts_error_set(err, code, "%s %s: %s", what, strstr(url, "://") + 3, nng_strerror(rv));
}

static int
tls_ver(int v)
{
    return v == 10 ? NNG_TLS_1_0 : v == 11 ? NNG_TLS_1_1 : v == 12 ? NNG_TLS_1_2 : NNG_TLS_1_3;
}

/* The listener's TLS from the web config (nng with mbedTLS). */
static int
setup_tls(ts_web_server *s, ts_error *err)
{
    const ts_web_config *c = s->wc;
    nng_tls_config *cfg = NULL;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
    if (rv == 0 && (rv = nng_tls_config_own_cert(cfg, c->cert_pem, c->key_pem, NULL)) != 0) {
        nng_tls_config_free(cfg);
        return ts_error_set(err, TS_EINVAL, "failed to load X509KeyPair (%s, %s): %s", c->cert_file,
                            c->key_file, nng_strerror(rv));
    }
    if (rv == 0 && c->ca_file && (rv = nng_tls_config_ca_file(cfg, c->ca_file)) != 0) {
        nng_tls_config_free(cfg);
        return ts_error_set(err, TS_EINVAL, "client_ca_file %s: %s", c->ca_file, nng_strerror(rv));
    }
    if (rv == 0)
        rv = nng_tls_config_auth_mode(
            cfg, c->client_auth == TS_WEB_CLIENT_REQUIRED  ? NNG_TLS_AUTH_MODE_REQUIRED
                 : c->client_auth == TS_WEB_CLIENT_REQUEST ? NNG_TLS_AUTH_MODE_OPTIONAL
                                                           : NNG_TLS_AUTH_MODE_NONE);
    if (rv == 0) {
        int hi = c->max_version;
        rv = nng_tls_config_version(cfg, tls_ver(c->min_version), tls_ver(hi));
        if (rv == NNG_ENOTSUP && hi == 13 && c->min_version <= 12) /* mbedTLS 2.28: no 1.3 */
            rv = nng_tls_config_version(cfg, tls_ver(c->min_version), NNG_TLS_1_2);
        if (rv == NNG_ENOTSUP) {
            if (cfg)
                nng_tls_config_free(cfg);
            return ts_error_set(err, TS_EUNSUPPORTED,
                                "TLS versions TLS%d..TLS%d are not supported by this server's "
                                "TLS engine (mbedTLS 2.28 offers TLS 1.2)",
                                c->min_version, c->max_version);
        }
    }
    if (rv == 0)
        rv = nng_http_server_set_tls(s->http, cfg);
    if (cfg)
        nng_tls_config_free(cfg); /* the server holds its own reference */
    if (rv != 0)
        return nng_fail(err, rv, "tls", s->url);
    return 0;
}

int
ts_web_server_start(ts_web_server *s, ts_error *err)
{
    if (s->started)
        return TS_EINVAL;
    nng_url *u = NULL;
    int rv = nng_url_parse(&u, s->url);
    if (rv)
        return nng_fail(err, rv, "listen", s->url);
    rv = nng_http_server_hold(&s->http, u);
    nng_url_free(u);
    if (rv)
        return nng_fail(err, rv, "listen", s->url);
    if (s->wc && s->wc->tls && (rv = setup_tls(s, err)) != 0) {
        nng_http_server_release(s->http);
        s->http = NULL;
        return rv;
    }
    if ((rv = nng_http_handler_alloc(&s->handler, "/", on_request)) != 0 ||
        (rv = nng_http_handler_set_method(s->handler, NULL)) != 0 ||
        (rv = nng_http_handler_set_tree(s->handler)) != 0 ||
        (rv = nng_http_handler_collect_body(s->handler, false, 0)) != 0 ||
        (rv = nng_http_handler_set_data(s->handler, s, handler_dtor)) != 0) {
        if (s->handler)
            nng_http_handler_free(s->handler);
        s->handler = NULL;
        nng_http_server_release(s->http);
        s->http = NULL;
        return nng_fail(err, rv, "http handler", s->url);
    }
    if ((rv = nng_http_server_add_handler(s->http, s->handler)) != 0) {
        nng_http_handler_free(s->handler); /* runs handler_dtor */
        s->handler = NULL;
        nng_http_server_release(s->http);
        s->http = NULL;
        return nng_fail(err, rv, "http handler", s->url);
    }
    s->workers = ts_calloc((size_t)s->opts.nworkers, sizeof *s->workers);
    for (int i = 0; i < s->opts.nworkers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            TS_ASSERT(!"pthread_create");
        s->nworkers++;
    }
    s->started = true; /* from here on, free() does the full shutdown */
    if ((rv = nng_http_server_start(s->http)) != 0)
        return nng_fail(err, rv, "listen", s->url);
    nng_sockaddr sa;
    if (nng_http_server_get_addr(s->http, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET)
            s->port = ntohs(sa.s_in.sa_port);
        else if (sa.s_family == NNG_AF_INET6)
            s->port = ntohs(sa.s_in6.sa_port);
    }
    TS_LOG(TS_LOG_INFO, "web", "listening", "address=%s port=%d tls=%s", strstr(s->url, "://") + 3,
           s->port, s->wc && s->wc->tls ? "true" : "false");
    return TS_OK;
}

int
ts_web_server_port(const ts_web_server *s)
{
    return s->port;
}

void
ts_web_server_free(ts_web_server *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        nng_http_server_stop(s->http);
        for (int i = 0; i < s->nworkers; i++)
            pthread_join(s->workers[i], NULL);
        nng_http_server_release(s->http);
        /* Wait (bounded) until nng dropped the handler, i.e. no callback can
         * still reach us. */
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 10;
        pthread_mutex_lock(&s->mu);
        while (!s->handler_gone) {
            if (pthread_cond_timedwait(&s->done_cv, &s->mu, &deadline) == ETIMEDOUT)
                break;
        }
        bool gone = s->handler_gone;
        pthread_mutex_unlock(&s->mu);
        if (!gone) {
            TS_LOG(TS_LOG_WARN, "web", "http server did not release its handler; leaking state",
                   "%s", "");
            return;
        }
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        ts_free(s->routes[i].method);
        ts_free(s->routes[i].path);
    }
    ts_free(s->routes);
    ts_free(s->workers);
    ts_free(s->url);
    ts_free(s->prefix);
    ts_web_config_free(s->wc);
    for (size_t i = 0; i < s->nwc_old; i++)
        ts_web_config_free(s->wc_old[i]);
    ts_free(s->wc_old);
    ts_free(s->wc_path);
    pthread_mutex_destroy(&s->wc_mu);
    pthread_cond_destroy(&s->done_cv);
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
