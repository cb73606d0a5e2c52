/*
 * libcurl's multi-socket interface driven by a libuv loop: transfers run on
 * the loop thread and report to a callback when they end.  Used by the
 * scrape loops and by kubernetes_sd (curluv.c describes the glue).  Links
 * libcurl and libuv (library ts_curluv), apart from ts_util.
 */
#ifndef TS_UTIL_CURLUV_H
#define TS_UTIL_CURLUV_H

#include <curl/curl.h>
#include <uv.h>

typedef struct ts_curluv ts_curluv;
/* Called on the loop thread when a transfer ends (result = curl's code); easy
 * is already removed from the multi handle and belongs to the caller again. */
typedef void (*ts_curluv_done_fn)(void *ctx, CURL *easy, CURLcode result);
typedef void (*ts_curluv_closed_fn)(void *ctx);

ts_curluv *ts_curluv_new(uv_loop_t *loop);
/* Starts easy (configured by the caller; CURLOPT_PRIVATE is ours); done is
 * called exactly once, unless the transfer is cancelled with ts_curluv_cancel. */
void ts_curluv_start(ts_curluv *h, CURL *easy, ts_curluv_done_fn done, void *ctx);
/* Removes a running transfer without calling done. */
void ts_curluv_cancel(ts_curluv *h, CURL *easy);
/* Closes the handles; frees h once they are closed (the loop must keep
 * running), then calls closed (may be NULL).  All transfers must have
 * finished or been cancelled. */
void ts_curluv_close(ts_curluv *h, ts_curluv_closed_fn closed, void *ctx);

/* tls_config.server_name (Go's tls.Config.ServerName): the TLS handshake
 * sends server_name as SNI and verifies the certificate against it, while
 * the connection still goes to url's host and the Host header still names
 * it, as Prometheus does.  libcurl takes SNI and the verified name from the
 * URL's host, so: the URL's host becomes server_name, CURLOPT_CONNECT_TO
 * sends the connection to the real host and port, and a Host header keeps
 * the real one (appended to *hdrs, which the caller sets as
 * CURLOPT_HTTPHEADER after this call).  libcurl does not copy either list:
 * the caller keeps *hdrs and *connect_to until the transfer is over, then
 * frees them with curl_slist_free_all.  Only for https URLs; other URLs, an
 * empty server_name or an unparsable URL leave e as it was (the URL is
 * always set).  Returns curl's result of the last setting. */
CURLcode ts_curl_set_url_server_name(CURL *e, const char *url, const char *server_name,
                                     struct curl_slist **hdrs, struct curl_slist **connect_to);

#endif
