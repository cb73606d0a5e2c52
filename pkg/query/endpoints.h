/*
 * Store endpoints: which stores the querier (and the ruler) talks to, and how
 * they are.
 *
 * Stores are found by pkg/discovery (ts_discovery_stores, the same manager
 * that finds scrape targets) from three sources, merged: static addresses
 * (--store), a file in Prometheus' file_sd format (--store.sd-files: a
 * YAML/JSON list of {targets: [host:port or URL, ...]}; watched and re-read
 * when it changes), and DNS (--store.sd-dns, repeatable:
 * "dnssrv+_store._tcp.NAME" for SRV records, or "dns+HOST:PORT" for
 * A/AAAA).  Addresses without a scheme get tcp://, or tls+tcp:// with
 * tls_secure (--store.tls-secure); URLs keep their scheme.
 *
 * A background thread probes every store with Info: healthy stores every
 * probe interval, failing ones with exponential back-off (1 s to 8 s), and a
 * store whose client connects again at once.  A lost connection marks a
 * store down without waiting for a probe.  The probe records external
 * labels, time range, shard identity, the MetaRequest kinds served, last
 * error and last check, which
 * /api/v1/stores shows and which the fan-out uses to prune and to group
 * replicas.
 *
 * Thread-safety: all functions may be called from any thread.
 */
#ifndef TS_QUERY_ENDPOINTS_H
#define TS_QUERY_ENDPOINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/store/store.h"

typedef struct ts_endpoints ts_endpoints;

typedef struct ts_query_endpoints_opts {
    const char *const *static_urls;
    size_t nstatic;
    const char *sd_file;       /* NULL = none */
    const char *const *sd_dns; /* DNS specs (see above) */
    size_t nsd_dns;
    int64_t probe_interval_ms; /* default 5 s */
    int64_t probe_timeout_ms;  /* default 2 s */
    int64_t sd_refresh_ms;     /* default 5 s (file re-read besides the watch, DNS) */
    /* TLS for tls+tcp:// stores (copied) */
    ts_store_client_tls tls;
    /* dial every store given without a scheme (all DNS answers) as tls+tcp:// */
    bool tls_secure;
} ts_query_endpoints_opts;

/* One store as last seen.  Strings and labels live in the snapshot's arena. */
typedef struct ts_query_endpoint_status {
    const char *url;
    bool healthy;
    bool probed;       /* at least one probe finished */
    ts_labels *labels; /* external labels (empty if never probed) */
    int64_t mint, maxt;
    const char *last_error; /* "" when healthy */
    int64_t last_check_ms;  /* 0 = never */
    const char *component;
    uint32_t shard_index, shard_count; /* from Info; shard_count 0 = not told */
    bool meta_kinds_listed;            /* from Info: whether the store lists its MetaRequest */
    uint32_t meta_kinds;               /* kinds (TS_STORE_META_BIT of each) */
    ts_store_client *client;           /* referenced: release with ts_query_endpoints_release */
    void *ref;                         /* internal: the endpoint this entry references */
} ts_query_endpoint_status;

int ts_query_endpoints_start(ts_endpoints **out, const ts_query_endpoints_opts *opts,
                             ts_error *err);
void ts_query_endpoints_stop(ts_endpoints *e);

/* A snapshot of every known store; clients are referenced (valid until
 * ts_query_endpoints_release).  Sorted by URL. */
size_t ts_query_endpoints_snapshot(ts_endpoints *e, ts_arena *a, ts_query_endpoint_status **out);
void ts_query_endpoints_release(ts_endpoints *e, ts_query_endpoint_status *st, size_t n);

/* A query got no answer from the store of this snapshot entry (its ref):
 * probe it now rather than at its next interval. */
void ts_query_endpoints_suspect(ts_endpoints *e, void *ref);

/* Re-runs discovery (file and DNS) and probes every store now; returns when
 * both are done (tests, and at start). */
void ts_query_endpoints_refresh_now(ts_endpoints *e);

#endif
