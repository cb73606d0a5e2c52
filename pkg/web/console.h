/*
 * The web console (Prometheus' UI pages, our own small front end) served from
 * the binary, and the URL flags it depends on.
 *
 *   ts_web_console *c;
 *   ts_web_console_opts o = {.component = "shard", .external_path = "/prom"};
 *   ts_web_console_register(srv, &o, &c);  // before ts_web_server_start
 *   ...
 *   ts_web_server_free(srv); ts_web_console_free(c);
 *
 * Routes (relative to the server's route prefix):
 *  - GET /                      302 to <external path>/graph (Prometheus' home page redirect)
 *  - GET /graph, /alerts, /rules, /targets, /service-discovery, /status, /flags, /config, and
 *    /tsdb-status (shard) or /stores (querier): the one HTML page; its script renders the page
 *    the path names.  Cache-Control: no-cache (it names the current asset hashes).
 *  - GET /static/<name>-<hash>.<ext>: the bundle; Cache-Control: immutable for a year.
 *
 * Assets are embedded at build time (pkg/web/ui, bundled with esbuild and
 * compressed with gzip -9 by ts_embed_gen into a generated source file).  An
 * answer is the stored gzip bytes when the client accepts gzip, otherwise
 * the bytes inflated on the fly.
 *
 * The page's script finds the API and the other pages relative to its own
 * URL, so the console works behind a proxy that adds or strips a path
 * prefix.  The HTML carries the component's kind ("shard", "query") so the
 * page knows whether to show Stores and the querier's toggles.
 *
 * Thread-safety: immutable after registration.
 */
#ifndef TS_WEB_CONSOLE_H
#define TS_WEB_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/util/err.h"
#include "pkg/web/server.h"

/* One embedded file (the generated source defines the table). */
typedef struct ts_web_asset {
    const char *name;         /* "index.html", "static/main-Q2VX3Y7A.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const uint8_t *gz;        /* gzip member */
    size_t gz_len;
    size_t raw_len; /* inflated size */
    int immutable;  /* name carries a content hash */
} ts_web_asset;

extern const ts_web_asset ts_web_assets[];
extern const size_t ts_web_nassets;

typedef struct ts_web_console ts_web_console;

typedef struct ts_web_console_opts {
    const char *component;     /* "shard" or "query" (or "rule") */
    const char *external_path; /* path of --web.external-url: "" or "/prefix" (no trailing '/') */
} ts_web_console_opts;

/* Adds the console's routes to s (before it starts).  Errors: TS_EINVAL
 * (the embedded bundle lacks index.html), TS_EEXIST (a route is taken). */
int ts_web_console_register(ts_web_server *s, const ts_web_console_opts *o, ts_web_console **out);
/* Frees (after the server was freed).  Accepts NULL. */
void ts_web_console_free(ts_web_console *c);

/* The embedded asset named name, or NULL. */
const ts_web_asset *ts_web_console_asset(const char *name);

/* ---- Prometheus' --web.external-url and --web.route-prefix */

/* Computes the external URL as Prometheus does: flag "" -> "http://<hostname>:<port of listen>";
 * otherwise the flag's URL with the trailing '/' of its path removed (and a path not starting
 * with '/' given one).  *url and *path (the URL's path: "" or "/prefix") are heap strings.
 * Errors (TS_EINVAL, text in err): quotes around the value, no scheme or host, a listen address
 * without a port. */
int ts_web_external_url(const char *flag, const char *listen, const char *hostname, char **url,
                        char **path, ts_error *err);
/* The route prefix: flag, or the external URL's path when flag is ""; always "/" + trimmed
 * of '/' ("/" for none).  Heap string. */
char *ts_web_route_prefix(const char *flag, const char *external_path);

#endif
