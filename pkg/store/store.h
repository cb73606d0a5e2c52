/*
 * The store API over nng (DESIGN.md §5): a server that exposes any
 * ts_queryable (a shard's TSDB) to the network, and a client that makes a
 * remote store look like a local ts_queryable again.
 *
 * Wire: nng req/rep, frames as in codec.h.  A Series reply is paged: the
 * server sorts the matching series by their output labels (labels only, no
 * samples held), then answers batch by batch (bounded in series and bytes)
 * under a cursor; the client asks for the next batch when it has consumed
 * the current one.  Idle cursors expire after 60 s.
 *
 * External labels: the server adds them to every series it returns (they win
 * over a series' own label of the same name), evaluates matchers on them
 * itself, and drops the labels a request names in without_replica_labels.
 *
 * Thread-safety: a server runs its own worker threads; a client may be used
 * by many threads at once (each request uses its own nng context).
 */
#ifndef TS_STORE_STORE_H
#define TS_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/storage/storage.h"

/* ------------------------------------------------------------------ server */

typedef struct ts_store_server ts_store_server;

typedef struct ts_store_server_opts {
    const char *listen_url;      /* tcp://127.0.0.1:10901, tls+tcp://... */
    ts_queryable *queryable;     /* borrowed for the server's life */
    const ts_labels *external_labels; /* copied; may be NULL */
    /* Reports the data's time range for Info; NULL = [INT64_MIN, INT64_MAX]. */
    void (*time_range)(void *ctx, int64_t *mint, int64_t *maxt);
    void *time_range_ctx;
    const char *component; /* "shard" */
    int workers;           /* default 4 */
    uint32_t batch_series; /* default 256 */
    size_t batch_bytes;    /* default 1 MiB */
    size_t max_frame;      /* default TS_STORE_MAX_FRAME */
    const char *tls_cert_file, *tls_key_file, *tls_ca_file;
} ts_store_server_opts;

typedef struct ts_store_server_stats {
    uint64_t requests_total;
    uint64_t bad_frames_total;  /* undecodable, oversized or unknown frames */
    uint64_t errors_total;      /* error replies of any cause */
    uint64_t series_sent_total;
    uint64_t open_cursors;
} ts_store_server_stats;

int ts_store_server_start(ts_store_server **out, const ts_store_server_opts *opts, ts_error *err);
/* Replaces the external labels (config reload). */
void ts_store_server_set_external_labels(ts_store_server *s, const ts_labels *ls);
/* The URL actually bound (tcp://127.0.0.1:0 resolves the port). */
const char *ts_store_server_url(const ts_store_server *s);
void ts_store_server_stats_get(ts_store_server *s, ts_store_server_stats *st);
void ts_store_server_stop(ts_store_server *s);

/* ------------------------------------------------------------------ client */

typedef struct ts_store_client ts_store_client;

typedef struct ts_store_info {
    ts_labels *external_labels; /* in the caller's arena */
    int64_t mint, maxt;
    const char *component;
} ts_store_info;

typedef struct ts_store_query_opts {
    int64_t timeout_ms;        /* per request; 0 = 2 min */
    bool abort_on_error;       /* partial_response_strategy ABORT */
    const char *const *without_replica_labels;
    size_t nwithout;
} ts_store_query_opts;

/* Dials url in the background (reconnects on its own).  tls_ca_file for tls+tcp://. */
int ts_store_client_new(ts_store_client **out, const char *url, const char *tls_ca_file,
                        ts_error *err);
void ts_store_client_free(ts_store_client *c);
const char *ts_store_client_url(const ts_store_client *c);

int ts_store_client_info(ts_store_client *c, int64_t timeout_ms, ts_arena *a, ts_store_info *out,
                         ts_error *err);
/* A querier over the remote store.  opts is copied (the strings are borrowed
 * until the querier is closed). */
int ts_store_client_querier(ts_store_client *c, int64_t mint, int64_t maxt,
                            const ts_store_query_opts *opts, ts_querier **out);
/* A queryable whose queriers use default options. */
ts_queryable *ts_store_client_queryable(ts_store_client *c);

#endif
