/*
 * Self-monitoring in the Prometheus text format (0.0.4).
 *
 * No global registry of atomics: components keep their own stats structs
 * (they already need them for the API), and whoever serves /metrics
 * registers collectors that turn those structs into text at scrape time.
 * Names follow Prometheus' own where the concept is the same
 * (prometheus_tsdb_head_series, ...), so existing dashboards work.
 */
#ifndef TS_UTIL_METRICS_H
#define TS_UTIL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/util/buf.h"

typedef struct ts_metrics_writer {
    ts_buf *out;
    const char *family; /* the family last announced (HELP/TYPE written once) */
} ts_metrics_writer;

typedef void (*ts_metrics_collect_fn)(void *ctx, ts_metrics_writer *w);

typedef struct ts_metrics_registry {
    struct {
        ts_metrics_collect_fn fn;
        void *ctx;
    } c[64];
    size_t n;
} ts_metrics_registry;

void ts_metrics_init(ts_metrics_registry *r);
/* Not thread-safe: register everything before serving. */
void ts_metrics_register(ts_metrics_registry *r, ts_metrics_collect_fn fn, void *ctx);
/* Runs every collector into out. */
void ts_metrics_write(ts_metrics_registry *r, ts_buf *out);

/* Writer helpers.  type is "counter", "gauge", "histogram", "summary" or
 * "untyped".  labels is a pre-rendered `k="v",k2="v2"` (or NULL/""). */
void ts_mw_family(ts_metrics_writer *w, const char *name, const char *type, const char *help);
void ts_mw_sample(ts_metrics_writer *w, const char *name, const char *labels, double v);
/* Shorthands: family + one sample. */
void ts_mw_counter(ts_metrics_writer *w, const char *name, const char *help, double v);
void ts_mw_gauge(ts_metrics_writer *w, const char *name, const char *help, double v);

/* A fixed-bucket histogram, thread-safe to observe (atomics). */
#define TS_HIST_MAX_BUCKETS 16
typedef struct ts_histogram {
    double bounds[TS_HIST_MAX_BUCKETS];
    size_t nbounds;
    uint64_t counts[TS_HIST_MAX_BUCKETS + 1]; /* per bucket, +Inf last */
    uint64_t sum_micro;                       /* sum in millionths, for atomics */
    uint64_t count;
} ts_histogram;

void ts_histogram_init(ts_histogram *h, const double *bounds, size_t n);
void ts_histogram_observe(ts_histogram *h, double v);
/* Writes name_bucket{le=...}, name_sum, name_count (family announced by caller). */
void ts_mw_histogram(ts_metrics_writer *w, const char *name, const char *labels,
                     const ts_histogram *h);

#endif
