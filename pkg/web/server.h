/*
 * An HTTP/1.1 server for the shard, the querier and the ruler: our own
 * HTTP/1.1 on libuv (server.c, http_parse.c), TLS with OpenSSL (tls.c).
 *
 *   ts_web_server *s;
 *   ts_web_server_opts o = {.listen = "127.0.0.1:0"};
 *   ts_web_server_new(&s, &o, &err);
 *   ts_web_server_route(s, "GET", "/-/healthy", false, healthy, NULL);
 *   ts_web_server_route(s, "GET", "/api/v1/label/", true, label_values, api);
 *   ts_web_server_start(s, &err);  // ts_web_server_port(s) is the bound port
 *   ...
 *   ts_web_server_free(s);         // stops, waits for running handlers
 *
 * Handlers run on a small pool of worker threads (never on the I/O
 * thread), so they may block on storage or a query.  A handler fills in the
 * response (status, headers, body) and returns 0; a negative return makes
 * the server answer 500 with the error text, unless the handler already set
 * a status >= 400.
 *
 * Routing (Go net/http + httprouter behaviour, as Prometheus):
 *  - a route is a method ("GET", "POST", ... or NULL for any) and a path,
 *    matched exactly, or as a prefix when `prefix` is true (among the routes
 *    for the request's method the longest matching one wins;
 *    ts_web_req_path_rest gives the part after it);
 *  - a path with routes but none for the method: 405 "Method Not Allowed"
 *    with an Allow header (200 with Allow for OPTIONS); no route at all:
 *    404 "404 page not found\n";
 *  - an unclean path ("//", "/./", "/../") is redirected (301) to its clean
 *    form, as Go's ServeMux does;
 *  - with opts.route_prefix, routes match below the prefix only (see there).
 *
 * Requests: the query string and, for POST/PUT/PATCH with Content-Type
 * application/x-www-form-urlencoded, the body are parsed into parameters
 * (percent-decoding, '+' as space, repeated keys kept in order, body values
 * before query values, as Go's Request.Form).  A body larger than
 * opts.max_body is refused with 413 before it is read; a chunked body (no
 * Content-Length) with 411.
 *
 * Limits (Prometheus' where it has them): a request line and headers up to
 * 1 MiB (Go's DefaultMaxHeaderBytes; beyond it 414 for the request line,
 * 431 for headers, with a text body, then the connection closes); at most
 * opts.max_connections open connections (further clients wait in the
 * listen backlog until one closes, as Go's netutil.LimitListener makes
 * them); opts.read_timeout_ms for a whole request from its first byte, for
 * an idle keep-alive connection and for a client to take its answer.  Idle
 * and slow connections cost no worker (the I/O is asynchronous).
 *
 * Thread-safety: routes are added before start.  Handlers run concurrently
 * on the workers; a request and its response belong to one worker.
 */
#ifndef TS_WEB_SERVER_H
#define TS_WEB_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/metrics.h"

typedef struct ts_web_server ts_web_server;
typedef struct ts_web_req ts_web_req;
typedef struct ts_web_resp ts_web_resp;

typedef int (*ts_web_handler_fn)(ts_web_req *req, ts_web_resp *resp, void *ctx);

typedef struct ts_web_server_opts {
    const char *listen;  /* "host:port"; ":port" or "0.0.0.0:port" = all interfaces; port 0 = any */
    int nworkers;        /* handler threads; 0 = 4 */
    size_t max_body;     /* request body limit; 0 = 16 MiB; larger -> 413 */
    size_t max_response; /* response body limit; 0 = 1 GiB; a handler hitting it gets TS_ELIMIT */
    int max_connections; /* --web.max-connections: open connections at most; 0 = 512 */
    /* --web.read-timeout: reading a request (from its first byte), an idle connection, a client
     * taking its answer; 0 = 5 minutes (Prometheus' default) */
    long long read_timeout_ms;
    /* Prometheus' --web.route-prefix: NULL or "/" = none; "/prom": every route is served under
     * /prom (handlers see the path without it), "/" answers 302 to "/prom", anything else 404. */
    const char *route_prefix;
    /* Prometheus' --web.config.file (see webconfig.h): TLS, basic auth users, response headers.
     * Read at start (an invalid file fails start); re-read when its mtime or size changes (users
     * and headers apply at once; a broken edit keeps the last good settings and is logged; TLS
     * certificates and options, and the certificate and key files themselves, are re-read for
     * new connections; turning TLS on or off applies at the next start). */
    const char *web_config_file;
} ts_web_server_opts;

/* ---- Server life cycle */

/* Creates the server (not yet listening).  Errors: TS_EINVAL (bad listen
 * address, text in err).  Free with ts_web_server_free. */
int ts_web_server_new(ts_web_server **out, const ts_web_server_opts *opts, ts_error *err);
/* Adds a route (before start).  method NULL = any method.  path and method
 * are copied; ctx is borrowed and passed to fn. TS_EEXIST for a duplicate. */
int ts_web_server_route(ts_web_server *s, const char *method, const char *path, bool prefix,
                        ts_web_handler_fn fn, void *ctx);
/* Adds an exact-path route whose handler runs directly on the I/O thread,
 * not on a worker, so it answers even while every worker is busy (health
 * checks).  The handler must be quick and never block.  Requests with a body
 * still go through the workers. */
int ts_web_server_route_inline(ts_web_server *s, const char *method, const char *path,
                               ts_web_handler_fn fn, void *ctx);
/* Binds and starts serving.  Errors: -errno style codes with text in err
 * ("listen 127.0.0.1:9090: Address in use"). */
int ts_web_server_start(ts_web_server *s, ts_error *err);
/* The bound TCP port (after start), 0 before. */
int ts_web_server_port(const ts_web_server *s);
/* Stops listening, closes connections, finishes running handlers, frees.
 * Accepts NULL. */
void ts_web_server_free(ts_web_server *s);

/* ---- Requests (borrowed by the handler; valid until it returns) */

const char *ts_web_req_method(const ts_web_req *r);
/* Decoded path without the query string ("/api/v1/query"). */
const char *ts_web_req_path(const ts_web_req *r);
/* For a prefix route: the decoded path after the prefix ("up/values" for
 * "/api/v1/label/up/values" under "/api/v1/label/"); "" for exact routes. */
const char *ts_web_req_path_rest(const ts_web_req *r);
/* Raw request target as sent ("/api/v1/query?query=up"). */
const char *ts_web_req_uri(const ts_web_req *r);
/* Header value (case-insensitive name), NULL when absent. */
const char *ts_web_req_header(const ts_web_req *r, const char *name);
/* Raw body bytes (may be empty). */
const void *ts_web_req_body(const ts_web_req *r, size_t *len);
/* First value of parameter name (form body first, then query), NULL when absent. */
const char *ts_web_req_param(const ts_web_req *r, const char *name);
/* All values of name, in order; returns the count.  *vals points into the
 * request and stays valid until the next ts_web_req_params call. */
size_t ts_web_req_params(const ts_web_req *r, const char *name, const char *const **vals);
/* The first error met while parsing the query string or form, as Go words
 * it ("invalid URL escape \"%zz\""); NULL when none.  Bad pairs are skipped. */
const char *ts_web_req_form_error(const ts_web_req *r);
/* An arena that lives as long as the request, for the handler's allocations. */
ts_arena *ts_web_req_arena(ts_web_req *r);

/* ---- Responses (default: 200, no headers, empty body) */

void ts_web_resp_status(ts_web_resp *w, int status);
int ts_web_resp_get_status(const ts_web_resp *w);
/* Sets (replaces) a header; name and value are copied. */
void ts_web_resp_header(ts_web_resp *w, const char *name, const char *value);
/* The body buffer (bounded by opts.max_response); append to it. */
ts_buf *ts_web_resp_body(ts_web_resp *w);
/* Convenience: status, Content-Type and the whole body in one call. */
int ts_web_resp_text(ts_web_resp *w, int status, const char *content_type, const char *body);

/* ---- Helpers */

/* Percent-decodes [s, s+n) into a NUL-terminated arena string; plus_space
 * turns '+' into ' ' (query/form), not in paths.  Returns NULL on a bad
 * escape (and sets *bad to the offending "%xx" text start). */
char *ts_web_unescape(ts_arena *a, const char *s, size_t n, bool plus_space);

/* GET /metrics: the registry's self-metrics in the text format 0.0.4 (ctx is
 * the ts_metrics_registry). */
int ts_web_handle_metrics(ts_web_req *req, ts_web_resp *resp, void *ctx);

#endif
