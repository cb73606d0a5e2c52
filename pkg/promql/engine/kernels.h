/*
 * PromQL numeric kernels: the arithmetic behind the range-vector functions,
 * quantiles and classic-histogram quantiles, over plain sample arrays.
 * Pure functions with no engine state, so they can be unit-tested alone.
 * Semantics follow Prometheus 2.42 promql/functions.go and quantile.go.
 *
 * Sample arrays are sorted by time and contain no stale markers (the engine
 * drops those when it builds a window).  Functions that may produce "no
 * value" return false and leave *out untouched.
 */
#ifndef TS_PROMQL_ENGINE_KERNELS_H
#define TS_PROMQL_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/storage/storage.h"

/* rate/increase/delta: Prometheus' extrapolatedRate.  [range_start,
 * range_end] is the selector's window in ms (already shifted by offset/@);
 * range_s its width in seconds (ts__range_seconds, computed once per step by
 * the caller, not per series).  counter: correct for resets; is_rate: divide
 * by range_s.  Needs at least 2 samples. */
bool ts__extrapolated_rate(const ts_sample *s, size_t n, int64_t range_start, int64_t range_end,
                           double range_s, bool counter, bool is_rate, double *out);
/* Go's Duration.Seconds() of a range given in ms (what rate divides by). */
double ts__range_seconds(int64_t range_ms);
/* irate (is_rate) and idelta over the last two samples. */
bool ts__instant_value(const ts_sample *s, size_t n, bool is_rate, double *out);
/* Least-squares slope/intercept of v over t (seconds relative to intercept_t). */
bool ts__linear_regression(const ts_sample *s, size_t n, int64_t intercept_t, double *slope,
                           double *intercept);
/* holt_winters(sf, tf): double exponential smoothing (needs >= 2 samples). */
bool ts__holt_winters(const ts_sample *s, size_t n, double sf, double tf, double *out);
double ts__changes(const ts_sample *s, size_t n);
double ts__resets(const ts_sample *s, size_t n);

/* *_over_time aggregations (n >= 1). */
double ts__sum_kahan(const ts_sample *s, size_t n);
double ts__avg_over_time(const ts_sample *s, size_t n);
double ts__min_over_time(const ts_sample *s, size_t n);
double ts__max_over_time(const ts_sample *s, size_t n);
double ts__stdvar_over_time(const ts_sample *s, size_t n);

/* Quantile q (phi) of values (sorted in place), Prometheus' quantile():
 * q < 0 -> -Inf, q > 1 -> +Inf, n == 0 -> NaN, NaN q -> NaN. */
double ts__quantile(double q, double *values, size_t n);

/* One classic histogram bucket: upper bound and cumulative count. */
typedef struct ts__bucket {
    double upper;
    double count;
} ts__bucket;
/* Prometheus' bucketQuantile (sorts b in place, enforces monotonicity). */
double ts__bucket_quantile(double q, ts__bucket *b, size_t n);

#endif
