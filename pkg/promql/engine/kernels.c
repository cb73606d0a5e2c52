/*
 * PromQL numeric kernels (see kernels.h).
 *
 * These reproduce the arithmetic of Prometheus 2.42's functions.go and
 * quantile.go, including its corner cases: rate extrapolation stops at the
 * counter's zero point and at 1.1x the average sample spacing; regression
 * over a constant series gives slope 0 (NaN for a constant infinity);
 * averages and variances use Kahan-compensated incremental formulas so large
 * values do not overflow; classic-histogram buckets with equal bounds are
 * merged and made monotonic before interpolation.
 */
#include "pkg/promql/engine/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Neumaier-improved Kahan summation step. */
static void
kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Duration.Seconds() of a range given in ms, as Go computes it from the
 * nanosecond count: whole seconds plus the remainder divided by 1e9 (not
 * ms / 1000.0, which can differ in the last bit). */
double
ts__range_seconds(int64_t range_ms)
{
    int64_t sec = range_ms / 1000, rem_ns = (range_ms % 1000) * 1000000;
    return (double)sec + (double)rem_ns / 1e9;
}

/* (a - b) / 1000 in seconds, subtracting in int64 as Prometheus does; in
 * double only if that overflows (range bounds clamped to the ends of int64). */
static double
ms_between(int64_t a, int64_t b)
{
    int64_t d;
    if (__builtin_sub_overflow(a, b, &d))
        return ((double)a - (double)b) / 1000.0;
    return (double)d / 1000.0;
}

/* The order of floating-point operations is Prometheus 2.42's
 * extrapolatedRate, step by step, because a different order (e.g. scaling
 * the result by interval / sampled and then dividing it by the range,
 * instead of dividing the factor) differs in the last bit for about a third
 * of all points, and histogram_quantile can turn one ulp into another
 * bucket (tests/promql/rate_bits_vs_prometheus.py compares the bits):
 *   result   = last - first, plus the value before each reset (counters)
 *   to_start = (first_t - range_start) / 1000, to_end likewise, sampled =
 *   (last_t - first_t) / 1000, avg = sampled / (n - 1)
 *   counters: to_start = min(to_start, sampled * (first / result))
 *   interval = sampled + (to_start or avg / 2) + (to_end or avg / 2),
 *              a term taken when it is < avg * 1.1
 *   factor   = interval / sampled, then factor /= range seconds (rate;
 *              ts__range_seconds, which the caller computes once per step)
 *   result  *= factor */
bool
ts__extrapolated_rate(const ts_sample *s, size_t n, int64_t range_start, int64_t range_end,
                      double range_s, bool counter, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    double result = s[n - 1].v - s[0].v;
    if (counter) {
        double prev = s[0].v;
        for (size_t i = 1; i < n; i++) {
            if (s[i].v < prev)
                result += prev;
            prev = s[i].v;
        }
    }
    double to_start = ms_between(s[0].t, range_start);
    double to_end = ms_between(range_end, s[n - 1].t);
    double sampled = ms_between(s[n - 1].t, s[0].t);
    double avg_gap = sampled / (double)(n - 1);

    if (counter && result > 0 && s[0].v >= 0) {
        /* A counter cannot go below zero: don't extrapolate past that point. */
        double to_zero = sampled * (s[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg_gap * 1.1;
    double interval = sampled;
    interval += to_start < threshold ? to_start : avg_gap / 2;
    interval += to_end < threshold ? to_end : avg_gap / 2;
    double factor = interval / sampled;
    if (is_rate)
        factor /= range_s;
    *out = result * factor;
    return true;
}

bool
ts__instant_value(const ts_sample *s, size_t n, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    const ts_sample *last = &s[n - 1], *prev = &s[n - 2];
    double r;
    if (is_rate && last->v < prev->v)
        r = last->v; /* counter reset */
    else
        r = last->v - prev->v;
    int64_t dt = last->t - prev->t;
    if (dt == 0)
        return false;
    if (is_rate)
        r /= (double)dt / 1000.0;
    *out = r;
    return true;
}

bool
ts__linear_regression(const ts_sample *s, size_t n, int64_t intercept_t, double *slope,
                      double *intercept)
{
    if (n < 2)
        return false;
    double cnt = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = s[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && s[i].v != init_y)
            const_y = false;
        cnt += 1;
        double x = ((double)s[i].t - (double)intercept_t) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(s[i].v, &sy, &cy);
        kahan_inc(x * s[i].v, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return true;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / cnt;
    double var = sx2 - sx * sx / cnt;
    *slope = cov / var;
    *intercept = sy / cnt - *slope * sx / cnt;
    return true;
}

bool
ts__holt_winters(const ts_sample *s, size_t n, double sf, double tf, double *out)
{
    if (n < 2)
        return false;
    double s0 = 0, s1 = s[0].v, b = s[1].v - s[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * s[i].v;
        if (i > 1) /* trend update; the first step keeps the initial slope */
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

double
ts__changes(const ts_sample *s, size_t n)
{
    double c = 0;
    for (size_t i = 1; i < n; i++) {
        double prev = s[i - 1].v, cur = s[i].v;
        if (cur != prev && !(isnan(cur) && isnan(prev)))
            c++;
    }
    return c;
}

double
ts__resets(const ts_sample *s, size_t n)
{
    double c = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].v < s[i - 1].v)
            c++;
    return c;
}

double
ts__sum_kahan(const ts_sample *s, size_t n)
{
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        kahan_inc(s[i].v, &sum, &c);
    if (isinf(sum))
        return sum;
    return sum + c;
}

double
ts__avg_over_time(const ts_sample *s, size_t n)
{
    double mean = 0, c = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        double v = s[i].v;
        count++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0))
                continue; /* same-signed infinities: the mean stays */
            if (!isinf(v) && !isnan(v))
                continue; /* a finite value cannot move an infinite mean */
        }
        kahan_inc(v / count - mean / count, &mean, &c);
    }
    if (isinf(mean))
        return mean;
    return mean + c;
}

double
ts__min_over_time(const ts_sample *s, size_t n)
{
    double m = s[0].v;
    for (size_t i = 0; i < n; i++)
        if (s[i].v < m || isnan(m))
            m = s[i].v;
    return m;
}

double
ts__max_over_time(const ts_sample *s, size_t n)
{
    double m = s[0].v;
    for (size_t i = 0; i < n; i++)
        if (s[i].v > m || isnan(m))
            m = s[i].v;
    return m;
}

double
ts__stdvar_over_time(const ts_sample *s, size_t n)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = s[i].v - (mean + cmean);
        kahan_inc(delta / count, &mean, &cmean);
        kahan_inc(delta * (s[i].v - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

/* Sort order of Prometheus' vectorByValueHeap: NaN first, then ascending. */
static int
cmp_value_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y;
}

double
ts__quantile(double q, double *values, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(values, n, sizeof(double), cmp_value_nan_first);
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lo = fmax(0, floor(rank));
    double hi = fmin(nn - 1, lo + 1);
    double w = rank - floor(rank);
    return values[(size_t)lo] * (1 - w) + values[(size_t)hi] * w;
}

static int
cmp_bucket(const void *a, const void *b)
{
    double x = ((const ts__bucket *)a)->upper, y = ((const ts__bucket *)b)->upper;
    return x < y ? -1 : x > y;
}

double
ts__bucket_quantile(double q, ts__bucket *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n == 0)
        return NAN;
    qsort(b, n, sizeof(*b), cmp_bucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    /* Merge buckets with the same bound (e.g. le="1" and le="1.0"). */
    size_t m = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == b[m].upper)
            b[m].count += b[i].count;
        else
            b[++m] = b[i];
    }
    n = m + 1;
    /* Cumulative counts must not decrease (scrape races can make them). */
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }
    if (n < 2)
        return NAN;
    double observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    double rank = q * observations;
    /* First bucket (of all but the last) with count >= rank, by binary search
     * exactly as Go's sort.Search does it, so that NaN counts (which make the
     * predicate non-monotonic) lead to the same bucket as in Prometheus. */
    size_t i = 0, j = n - 1;
    while (i < j) {
        size_t h = (i + j) / 2;
        if (!(b[h].count >= rank))
            i = h + 1;
        else
            j = h;
    }
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}
