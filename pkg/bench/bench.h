/*
 * Synthetic scrape targets for benchmarks (like Prometheus' avalanche).
 *
 * A generator (ts_bench_gen) renders, for target i at wall time t, the
 * Prometheus text exposition (0.0.4) of S series that look like a
 * node_exporter plus an instrumented HTTP service: counters that grow at
 * drifting rates (a few of them reset now and then), gauges that wander,
 * classic histograms (_bucket{le} cumulative, _sum, _count), with HELP and
 * TYPE lines.  Values are pure functions of (seed, target, series, t), so two
 * scrapers scraping at the same moment see the same numbers, and repeated
 * scrapes see values move with wall time.  Optional churn gives a fraction of
 * the series a new "pod" label value every churn interval.
 *
 * A server (ts_bench_server) serves the targets over a minimal HTTP/1.1 on a
 * libuv loop: GET /metrics/<i> or /target/<i>/metrics, keep-alive, gzip when
 * the client accepts it.
 *
 * Thread-safety: a generator is immutable after ts_bench_gen_new and may be
 * rendered from several threads.  A server lives on one loop and every call
 * on it must come from that loop's thread.
 */
#ifndef TS_BENCH_BENCH_H
#define TS_BENCH_BENCH_H

#include "pkg/util/buf.h"
#include "pkg/util/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Upper bounds on what a command line may ask for (TS_ELIMIT past them). */
#define TS_BENCH_MAX_TARGETS 100000
#define TS_BENCH_MAX_SERIES 1000000 /* per target */

typedef struct ts_bench_opts {
    size_t targets;            /* number of targets, >= 1 */
    size_t series;             /* series per target, >= 1 (exact) */
    double churn;              /* fraction in [0, 1] of series (groups) that churn */
    int64_t churn_interval_ms; /* how often churning series get new labels; 0 = 10m */
    uint64_t seed;             /* same seed, same series and values */
    int64_t start_ms;          /* wall time the generator starts (0 = now): counters
                                  began up to 10 days before it */
} ts_bench_opts;

/* ------------------------------------------------------------ generator */

typedef struct ts_bench_gen ts_bench_gen;

/* Builds the series template.  opts is copied.  Errors: TS_EINVAL (zero
 * targets or series, churn outside [0,1], negative interval), TS_ELIMIT
 * (past the maxima above); err gets the message (may be NULL).  Free with
 * ts_bench_gen_free (accepts NULL). */
int ts_bench_gen_new(const ts_bench_opts *opts, ts_bench_gen **out, ts_error *err);
void ts_bench_gen_free(ts_bench_gen *g);

size_t ts_bench_gen_targets(const ts_bench_gen *g);
/* Series lines in each target's exposition (== opts.series). */
size_t ts_bench_gen_series(const ts_bench_gen *g);
/* Metric families (HELP/TYPE pairs) in each target's exposition. */
size_t ts_bench_gen_families(const ts_bench_gen *g);

/* Appends target's exposition at wall time now_ms to out.  Returns TS_OK,
 * TS_EINVAL for a target out of range, or TS_ELIMIT if out is bounded and
 * full (out then holds a partial body). */
int ts_bench_gen_render(const ts_bench_gen *g, size_t target, int64_t now_ms, ts_buf *out);

/* --------------------------------------------------------------- server */

typedef struct ts_bench_server ts_bench_server;

typedef struct ts_bench_stats {
    uint64_t requests;  /* answered requests (any status) */
    uint64_t bytes_out; /* response bytes written (after gzip) */
    size_t connections; /* currently open */
} ts_bench_stats;

/* Listens on host:port (host an IPv4 or IPv6 address; port 0 = pick a free
 * one) on loop and serves g, which is borrowed and must outlive the server.
 * Errors are TS_EINVAL or libuv codes (-errno) with a message in err; the
 * half-made listener is then closed asynchronously, so run the loop once
 * more before closing it. */
int ts_bench_server_start(uv_loop_t *loop, const ts_bench_gen *g, const char *host, int port,
                          ts_bench_server **out, ts_error *err);
/* Whether to gzip bodies for clients that accept it (default true; always
 * false when built without zlib). */
void ts_bench_server_set_gzip(ts_bench_server *s, bool on);
/* The bound port (useful with port 0). */
int ts_bench_server_port(const ts_bench_server *s);
void ts_bench_server_stats(const ts_bench_server *s, ts_bench_stats *st);
/* Stops listening and closes every connection.  The server frees itself
 * once its handles are closed (the loop must keep running for that): s must
 * not be used after this call.  uv_run then returns once nothing else is
 * active on the loop. */
void ts_bench_server_stop(ts_bench_server *s);

#endif
