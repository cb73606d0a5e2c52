/*
 * pkg/scrape internals shared between its files (not part of the API).
 */
#ifndef TS_SCRAPE_INTERNAL_H
#define TS_SCRAPE_INTERNAL_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pkg/labels/labels.h"
#include "pkg/util/curluv.h"
#include "pkg/util/err.h"

/* ----------------------------------------------------------- parse step */

/* One sample as the parser hands it over, valid during the callback.  key
 * is the series text exactly as written (metric name and label set, a slice
 * of the body): the same text gives the same labels.  The labels themselves
 * are parsed and built only on request, by ts__sample_builder. */
typedef struct ts__sample {
    const char *key;
    size_t klen;
    bool has_ts;
    int64_t ts; /* ms */
    double v;
    void *parser_; /* for ts__sample_builder */
} ts__sample;

/* The sample's labels (including __name__) in the parser's builder, which
 * the caller may modify; valid during the callback.  NULL when the labels do
 * not parse: *rc and err then hold the parse error, which the callback
 * returns (it ends the scrape). */
ts_labels_builder *ts__sample_builder(const ts__sample *s, ts_error *err, int *rc);

/* Returns TS_OK to continue, anything else stops parsing and is returned. */
typedef int (*ts__sample_fn)(void *ctx, const ts__sample *s);

/* Metadata lines: kind is 'T' (TYPE: text = type name), 'H' (HELP) or 'U'
 * (UNIT).  Strings are borrowed for the call and not NUL-terminated. */
typedef void (*ts__meta_fn)(void *ctx, char kind, const char *metric, size_t mlen, const char *text,
                            size_t tlen);

/* Parses a scrape body, choosing the format by content type as Prometheus
 * does (OpenMetrics for application/openmetrics-text, else text 0.0.4), and
 * calls fn per sample and meta (may be NULL) per metadata line.  Bad input:
 * TS_EPARSE with err filled.  body need not be NUL-terminated and may
 * contain any bytes. */
int ts__scrape_parse(const char *content_type, const char *body, size_t len, ts__sample_fn fn,
                     ts__meta_fn meta, void *ctx, ts_error *err);

/* ------------------------------------------------ pools, loops, manager */

#include "pkg/scrape/scrape.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"

/* The series a loop tracks for staleness: label sets (heap, owned) with
 * their appender refs and two scrape-attempt stamps.  Open addressing on the
 * labels hash.  seen_cur = the attempt that last saw the series; seen_ok =
 * the last successful attempt that saw it (TS__NEVER if none yet). */
#define TS__NEVER UINT64_MAX

typedef struct ts__sset_entry {
    ts_labels *ls; /* NULL = empty slot */
    uint64_t ref;
    uint64_t seen_cur, seen_ok;
} ts__sset_entry;

typedef struct ts__sset {
    ts__sset_entry *e;
    size_t cap, n; /* cap is 0 or a power of two */
    uint64_t gen;  /* changes whenever entries move or go (see ts__sset_gen_next) */
} ts__sset;

/* A process-wide unique, nonzero generation: entry pointers into a set stay
 * valid while its gen is unchanged (inserts into a table with room never
 * move entries), so a cache may keep them tagged with the gen. */
uint64_t ts__sset_gen_next(void);

void ts__sset_clear(ts__sset *s);
ts__sset_entry *ts__sset_find(const ts__sset *s, const ts_labels *ls);
/* Inserts a copy of ls (seen_ok = TS__NEVER) unless present; returns the
 * entry and whether it was added. */
ts__sset_entry *ts__sset_add(ts__sset *s, const ts_labels *ls, uint64_t ref, bool *added);

typedef struct ts__pool ts__pool;
typedef struct ts__loop ts__loop;

enum {
    TS__REPORT_UP,
    TS__REPORT_DURATION,
    TS__REPORT_SAMPLES,
    TS__REPORT_POST_RELABEL,
    TS__REPORT_SERIES_ADDED,
    TS__NREPORT
};

typedef enum ts__loop_state {
    TS__LOOP_RUNNING = 0,
    TS__LOOP_END_WAIT1, /* stopped: waiting for the next scheduled scrape time */
    TS__LOOP_END_WAIT2, /* waiting for the one after it */
    TS__LOOP_END_WAIT3, /* waiting a further interval/10, then write markers */
    TS__LOOP_CLOSING,
} ts__loop_state;

struct ts__loop {
    ts_scrape_manager *m;
    ts__pool *pool; /* NULL once the loop has left its pool */
    uint64_t hash;
    ts_labels *labels;        /* all target labels (incl. __address__ etc.) */
    ts_labels *public_labels; /* without "__" names: added to every sample */
    ts_labels *discovered;    /* before relabeling (replaced on sync, under m->mu) */
    char *url;
    int64_t interval_ms, timeout_ms;
    ts__loop_state state;
    uv_timer_t timer;
    uint64_t next_due; /* uv_now() ms of the next scheduled scrape */
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to; /* tls_config.server_name (ts_curl_set_url_server_name) */
    char curl_err[CURL_ERROR_SIZE];
    char status_line[128];
    ts_buf body;
    size_t body_hint; /* length of the last body (bytes to reserve for the next) */
    bool body_too_big, scraping;
    int64_t scrape_ts; /* wall ms of the current scrape's start */
    uint64_t start_ns;
    int64_t stale_ts;          /* end of run: time of the markers */
    ts__sset series;           /* tracked series (see ts__sset) */
    struct ts__lcache *lcache; /* series key -> final labels (loop.c) */
    uint64_t attempt;          /* number of the current append attempt (from 1) */
    uint64_t last_ok;          /* last successful attempt (0 = none) */
    uint64_t report_ref[TS__NREPORT];
    ts_scrape_metadata *meta; /* of the last successful scrape (under m->mu) */
    size_t nmeta;
    ts_scrape_metadata *new_meta; /* being collected by the current scrape */
    size_t nnew_meta, new_meta_cap;
    ts_arena arena; /* per-scrape scratch */
    /* state for the API (under m->mu) */
    ts_target_health health;
    char last_error[256];
    int64_t last_scrape_ms;
    double last_duration_s;
    ts__loop *next; /* in m->ending */
};

struct ts__pool {
    char *job;
    const ts_scrape_config *sc; /* borrowed from the current config */
    uint64_t fingerprint;
    ts__loop **loops;
    size_t nloops;
    ts_labels **dropped; /* discovered labels of targets dropped by relabeling or sharding */
    char **drop_reasons; /* per dropped target: NULL (relabeling) or the sharding reason */
    size_t ndropped;
    char forced_err[128];    /* "" or the target_limit error every loop reports */
    ts_target_group *groups; /* last groups synced (copy), to rebuild on reload */
    size_t ngroups;
};

/* Counters for /metrics (Prometheus' prometheus_target_* names); written on
 * the loop thread, read by the metrics collector from any thread. */
typedef struct ts__scrape_stats {
    _Atomic uint64_t pools_created, pool_reloads, exceeded_target_limit;
    _Atomic uint64_t exceeded_sample_limit, exceeded_body_size_limit;
    _Atomic uint64_t out_of_order, duplicate, out_of_bounds;
} ts__scrape_stats;

struct ts_scrape_manager {
    ts_scrape_opts o;
    ts__scrape_stats stats;
    ts_curluv *http;
    uv_mutex_t mu; /* guards pools/loops lists and the API state */
    ts__pool **pools;
    size_t npools;
    ts__loop *ending; /* loops writing end-of-run staleness markers */
    size_t live_loops;
    bool closing;
    /* Shard handoff (ts_scrape_manager_set_shards): while this one-shot timer is pending, a
     * target another shard now owns keeps its running loop; when it fires it re-syncs every
     * pool.  NULL until the first handoff. */
    uv_timer_t *handoff_timer;
};

/* manager.c: frees m once it is closing and its last loop has closed. */
void ts__manager_maybe_free(ts_scrape_manager *m);

/* loop.c */
ts__loop *ts__loop_new(ts_scrape_manager *m, ts__pool *p, ts_labels *labels, ts_labels *discovered,
                       uint64_t hash);
/* Stops a loop: with markers (end of run) or silently (shutdown, restart). */
void ts__loop_stop(ts__loop *l, bool write_stale_markers);

#endif
