/*
 * The global view: one ts_queryable over every store the endpoints know,
 * with Thanos' query semantics (DESIGN.md §6):
 *  - stores are pruned by time range and by matchers on their external labels;
 *  - the rest are asked at once (asynchronous nng requests, no thread per
 *    store), each reply bounded by the response timeout and the query's deadline;
 *  - with dedup on, stores drop the replica labels and the merged stream is
 *    deduplicated (penalty algorithm; counter-safe for rate & co, known from
 *    the select hints' function); with dedup off, series are merged as they are.
 *
 * Complete or partial.  Stores with the same shard identity (Info: shard
 * index and count) and the same external labels once the replica labels are
 * removed are replicas of one shard.  With dedup on, the answer is complete
 * while at least one replica of every shard asked answered in full: a failed
 * replica is then counted (stats) and reported to the endpoints, never a
 * warning.  A shard none of whose replicas answered becomes a warning naming
 * the shard and its stores (partial response), or fails the query (strict).
 * With dedup off every store is its own shard.
 *
 * Slow replicas.  Once one replica of a shard has answered, the others get
 * max(slow_replica_ms, the time the first one took) more; then they are
 * cancelled and the shard counts as answered.  Replicas that answer within
 * that time are merged as usual, so the penalty dedup still fills one
 * replica's holes from the other.
 *
 * Limits: per store request (series, samples), and samples fetched over the
 * whole query; past one, the query fails with TS_ELIMIT whatever the
 * partial-response mode, and what was fetched is freed at once.
 */
#ifndef TS_QUERY_FANOUT_H
#define TS_QUERY_FANOUT_H

#include "pkg/query/endpoints.h"

/* Counters (atomics), shared by every fan-out of a process. */
typedef struct ts_query_fanout_stats {
    uint64_t replica_failures_total; /* a store failed, a replica of its shard answered */
    uint64_t slow_replicas_skipped_total;
    uint64_t partial_responses_total; /* answers missing a whole shard (warning) */
    uint64_t partial_errors_total;    /* the same in strict mode (query failed) */
} ts_query_fanout_stats;

typedef struct ts_query_fanout_opts {
    bool dedup;
    bool partial_response;
    const char *const *replica_labels; /* borrowed */
    size_t nreplica;
    int64_t timeout_ms;
    int64_t response_timeout_ms; /* one store reply (--store.response-timeout); 0 = timeout_ms */
    int64_t slow_replica_ms;     /* see above; 0 = always wait for every replica */
    uint64_t store_max_series, store_max_samples; /* per store request; 0 = none */
    uint64_t max_samples;                         /* fetched over the whole query; 0 = none */
    ts_query_fanout_stats *stats;                 /* may be NULL */
} ts_query_fanout_opts;

typedef struct ts_fanout {
    ts_queryable qb; /* first member: a ts_fanout * is a ts_queryable * */
    ts_endpoints *e;
    ts_query_fanout_opts opts;
} ts_fanout;

/* Initialises a caller-allocated fan-out (one per request, or shared). */
void ts_query_fanout_init(ts_fanout *f, ts_endpoints *e, const ts_query_fanout_opts *opts);

/* The answers of a MetaRequest over every store, in the caller's arena. */
typedef struct ts_query_fanout_meta_answer {
    const char **json; /* the JSON `data` of each store that answered */
    size_t *len;
    /* per answer: which shard it is a replica of (the store's component, then
     * the name a warning gives its shard: "rule", "shard 0/2 {...}"); equal for
     * replicas of one shard, so a merge can keep one replica's copy */
    const char **shard;
    size_t n;
    const char **warnings; /* shards without an answer (partial response) */
    size_t nwarnings;
} ts_query_fanout_meta_answer;

/* Asks every store for the MetaRequest kind (TS_STORE_META_*; params: name,
 * value pairs) at once, with the complete/partial rule of a select (no time
 * or matcher pruning).  A store whose Info lists the kinds it serves without
 * this one (a ruler has no targets), and its replicas, are not asked: that
 * shard has none of it.  A store that does not list them (an older version)
 * is asked, and its "unsupported" (TS_EUNSUPPORTED) is a gap, as a store that
 * did not answer: unless a replica answered, a warning names the shard and
 * the store ("... left out: store URL does not serve targets ...").  Strict
 * mode: a shard without an answer is the error returned. */
int ts_query_fanout_meta(ts_fanout *f, int kind, const char *const *params, size_t nparams,
                         ts_arena *a, ts_query_fanout_meta_answer *out, ts_error *err);

#endif
