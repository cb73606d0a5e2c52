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
 * Series of the store's own rules may get one more label (the rule mark).
 *
 * Faults (client side): every request is bounded by the smaller of the
 * query's deadline and a response timeout for one reply; when the
 * connection to the store is lost, the requests in flight on it fail at
 * once (nng's req would keep them pending for a new connection), and while
 * it stays lost new query requests fail at once instead of waiting for a
 * reconnect (probes still wait: they are what finds the store up again).
 *
 * Thread-safety: a server runs its own worker threads; a client may be used
 * by many threads at once (each request uses its own nng context).
 */
#ifndef TS_STORE_STORE_H
#define TS_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/storage/storage.h"
#include "pkg/util/buf.h"
#include "pkg/util/metrics.h"

/* ------------------------------------------------------------------ server */

typedef struct ts_store_server ts_store_server;

typedef struct ts_store_server_opts {
    const char *listen_url;           /* tcp://127.0.0.1:10901, tls+tcp://... */
    ts_queryable *queryable;          /* borrowed for the server's life */
    const ts_labels *external_labels; /* copied; may be NULL */
    /* Reports the data's time range for Info; NULL = [INT64_MIN, INT64_MAX]. */
    void (*time_range)(void *ctx, int64_t *mint, int64_t *maxt);
    void *time_range_ctx;
    const char *component; /* "shard" */
    /* Shard identity sent in Info (shard_count 0 = not sent). */
    uint32_t shard_index, shard_count;
    int workers;           /* default 4 */
    uint32_t batch_series; /* default 256 */
    size_t batch_bytes;    /* default 1 MiB */
    size_t max_frame;      /* default TS_STORE_MAX_FRAME */
    /* tls+tcp:// (Thanos' --grpc-server-tls-cert/-key/-client-ca): the server's
     * certificate and key (PEM files, required), and a CA to verify client
     * certificates against; with it, a client without a certificate signed by
     * that CA fails the handshake (Go's RequireAndVerifyClientCert). */
    const char *tls_cert_file, *tls_key_file, *tls_client_ca_file;
    /* MetaRequest (proto/store.proto): appends the JSON `data` of the store's own
     * API answer for kind (TS_STORE_META_*) to json; params are name, value pairs.
     * NULL: answered with a TS_EUNSUPPORTED error. */
    int (*meta)(void *ctx, int kind, const char *const *params, size_t nparams, ts_buf *json,
                ts_error *err);
    void *meta_ctx;
    /* The kinds meta answers (TS_STORE_META_BIT of each), listed in Info so that the querier
     * asks for those only.  0 with meta set: not listed, as stores before the list did (the
     * querier then asks for every kind and reports an "unsupported" answer as a gap). */
    uint32_t meta_kinds;
} ts_store_server_opts;

/* MetaRequest kinds (= tessera.store.v1.MetaRequest.Kind). */
enum {
    TS_STORE_META_METADATA = 0,
    TS_STORE_META_TARGETS = 1,
    TS_STORE_META_TARGETS_METADATA = 2,
    TS_STORE_META_RULES = 3,
    TS_STORE_META_ALERTS = 4,
    TS_STORE_META_NKINDS
};
#define TS_STORE_META_BIT(kind) (1u << (kind))
#define TS_STORE_META_ALL ((1u << TS_STORE_META_NKINDS) - 1)

/* What a kind asks for, for messages ("targets", "metric metadata", ...): static. */
const char *ts_store_meta_kind_name(int kind);

typedef struct ts_store_server_stats {
    uint64_t requests_total;
    uint64_t bad_frames_total; /* undecodable, oversized or unknown frames */
    uint64_t errors_total;     /* error replies of any cause */
    uint64_t series_sent_total;
    uint64_t open_cursors;
} ts_store_server_stats;

int ts_store_server_start(ts_store_server **out, const ts_store_server_opts *opts, ts_error *err);
/* Replaces the external labels (config reload). */
void ts_store_server_set_external_labels(ts_store_server *s, const ts_labels *ls);
/* Replaces the shard identity sent in Info (the shard count changed: --shard.count-file). */
void ts_store_server_set_shard(ts_store_server *s, uint32_t index, uint32_t count);
/* Marks the series this store's own rules write: a series whose metric name
 * is one of names gets label_name=value added (it wins over the series' own
 * label of that name), as an external label of those series only.  Copied;
 * n 0 clears.  A configured external label of the same name wins. */
void ts_store_server_set_rule_series(ts_store_server *s, const char *label_name, const char *value,
                                     const char *const *names, size_t n);
/* The URL actually bound (tcp://127.0.0.1:0 resolves the port). */
const char *ts_store_server_url(const ts_store_server *s);
void ts_store_server_stats_get(ts_store_server *s, ts_store_server_stats *st);
/* A ts_metrics collector (register with ctx = the server): the tessera_store_*
 * counters and the open cursors gauge.  Safe from any thread. */
void ts_store_server_write_metrics(void *srv, ts_metrics_writer *w);
void ts_store_server_stop(ts_store_server *s);

/* ------------------------------------------------------------------ client */

typedef struct ts_store_client ts_store_client;

typedef struct ts_store_info {
    ts_labels *external_labels; /* in the caller's arena */
    int64_t mint, maxt;
    const char *component;
    uint32_t shard_index, shard_count; /* shard_count 0: the store did not say */
    bool meta_kinds_listed;            /* false: the store did not say (older stores) */
    uint32_t meta_kinds;               /* TS_STORE_META_BIT of each kind it answers */
} ts_store_info;

typedef struct ts_store_query_opts {
    int64_t timeout_ms;          /* the query's whole time; 0 = 2 min */
    int64_t response_timeout_ms; /* bound on one reply (--store.response-timeout); 0 = timeout_ms */
    bool abort_on_error;         /* partial_response_strategy ABORT */
    const char *const *without_replica_labels;
    size_t nwithout;
    /* Limits on what one Series request may fetch (--store.limits.request-series,
     * --store.limits.request-samples; samples counted from the chunks' headers);
     * 0 = none.  Past one, the set ends with TS_ELIMIT. */
    uint64_t max_series, max_samples;
    /* A counter shared by every request of one query and its limit
     * (--query.max-samples over the whole fan-out); NULL/0 = none. */
    uint64_t *query_samples;
    uint64_t query_max_samples;
} ts_store_query_opts;

/* TLS of a client for tls+tcp:// stores (Thanos' --grpc-client-tls-ca,
 * --grpc-client-tls-cert/-key, --grpc-client-server-name).  Every field is
 * optional; the strings are borrowed for the call only. */
typedef struct ts_store_client_tls {
    /* Verify the store's certificate chain against this CA; NULL = no
     * verification at all (encryption only). */
    const char *ca_file;
    /* Our own certificate and key (PEM files, both or neither), presented to
     * stores that verify their clients. */
    const char *cert_file, *key_file;
    /* The name the store's certificate must carry (with ca_file).  NULL: the
     * URL's host when it is a DNS name; an IP address is not checked
     * (mbedTLS 2.28 cannot match IP SANs), only the chain. */
    const char *server_name;
} ts_store_client_tls;

/* Checks that tls's files can be read and parsed (what the first dial would
 * do), so a bad flag is a start-up error. */
int ts_store_client_tls_check(const ts_store_client_tls *tls, ts_error *err);

/* Why the TLS handshake with c's store fails, in words (a tls+tcp:// client
 * that has no connection): a handshake of its own, with OpenSSL and c's
 * settings (CA, name, client certificate; TLS 1.2 as nng's mbedTLS speaks),
 * because nng reports every TLS failure alike (NNG_ECRYPTO, counted as an
 * "auth" error of the dialer, never told to the caller).  Writes e.g.
 * "TLS handshake: certificate verify failed (unable to get local issuer
 * certificate)" to why and returns true when the handshake fails; false when
 * it succeeds, the store cannot be reached at all, or c is not TLS (why
 * untouched).  Blocks up to timeout_ms.  Any thread. */
bool ts_store_client_tls_diagnose(ts_store_client *c, int64_t timeout_ms, char *why, size_t cap);

/* Dials url in the background (reconnects on its own).  tls (NULL = none)
 * is used for tls+tcp:// URLs. */
int ts_store_client_new(ts_store_client **out, const char *url, const ts_store_client_tls *tls,
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

/* Connection state: whether a connection is up now, whether one was lost
 * and not yet re-established (the store is known down), and a counter of
 * connections made (a new value means the store came back). */
bool ts_store_client_connected(ts_store_client *c);
bool ts_store_client_lost(ts_store_client *c);
uint64_t ts_store_client_connects(ts_store_client *c);

/* ---- asynchronous requests: one fan-out asks every store at once, without
 * a thread per store.  done(arg) runs once, on an nng thread, when the reply
 * (or an error) is in; then the caller takes the result with
 * ts_store_call_series/_strings/_json (which free the call).  A call not yet done
 * can be cancelled (its result becomes TS_ECANCELED; done still runs). */
typedef struct ts_store_call ts_store_call;
typedef void (*ts_store_call_done_fn)(void *arg, int rc); /* rc: the call's outcome */

ts_store_call *ts_store_client_select_start(ts_store_client *c, int64_t mint, int64_t maxt,
                                            const ts_store_query_opts *opts,
                                            const ts_select_hints *hints, ts_matcher *const *ms,
                                            size_t nms, ts_store_call_done_fn done, void *arg);
/* Label values of name, or label names when name is NULL. */
ts_store_call *ts_store_client_labels_start(ts_store_client *c, int64_t mint, int64_t maxt,
                                            const ts_store_query_opts *opts, const char *name,
                                            ts_matcher *const *ms, size_t nms,
                                            ts_store_call_done_fn done, void *arg);
/* MetaRequest (proto/store.proto): the store's JSON `data` for kind
 * (TS_STORE_META_*); params are name, value pairs (borrowed until this returns). */
ts_store_call *ts_store_client_meta_start(ts_store_client *c, int kind, const char *const *params,
                                          size_t nparams, const ts_store_query_opts *opts,
                                          ts_store_call_done_fn done, void *arg);
void ts_store_call_cancel(ts_store_call *call);
/* The first batch of a select as a series set that pulls the rest (opts'
 * strings and counter must outlive it). */
int ts_store_call_series(ts_store_call *call, ts_series_set **out, ts_error *err);
/* Strings copied into a. */
int ts_store_call_strings(ts_store_call *call, ts_arena *a, const char ***out, size_t *n,
                          ts_error *err);
/* A MetaRequest's JSON, NUL-terminated, copied into a. */
int ts_store_call_json(ts_store_call *call, ts_arena *a, const char **json, size_t *len,
                       ts_error *err);

#endif
