/* Unit tests for pkg/promql/engine/kernels.c: expected values worked out by
 * hand from Prometheus 2.42's formulas (see comments). */
#include "pkg/promql/engine/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/testutil/t.h"

static int
close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1e-12);
}

static void
test_rate_exact_window(void)
{
    /* 0,10,...,50 every 60s, window [0,300s]: no extrapolation needed. */
    ts_sample s[6];
    for (int i = 0; i < 6; i++)
        s[i] = (ts_sample){i * 60000, i * 10.0};
    double r;
    T_TRUE(ts__extrapolated_rate(s, 6, 0, 300000, ts__range_seconds(300000), true, false, &r));
    T_TRUE(close_to(r, 50));
    T_TRUE(ts__extrapolated_rate(s, 6, 0, 300000, ts__range_seconds(300000), true, true, &r));
    T_TRUE(close_to(r, 50.0 / 300));
    T_FALSE(ts__extrapolated_rate(s, 1, 0, 300000, ts__range_seconds(300000), true, true, &r));
}

static void
test_rate_reset_and_extrapolation(void)
{
    /* Counter reset: 10 20 5 15 -> increase 5 + 20 (the reset adds the last value). */
    ts_sample a[] = {{0, 10}, {10000, 20}, {20000, 5}, {30000, 15}};
    double r;
    T_TRUE(ts__extrapolated_rate(a, 4, 0, 30000, ts__range_seconds(30000), true, false, &r));
    T_TRUE(close_to(r, 25));
    /* delta does not correct resets. */
    T_TRUE(ts__extrapolated_rate(a, 4, 0, 30000, ts__range_seconds(30000), false, false, &r));
    T_TRUE(close_to(r, 5));
    /* 10..40 at 10s..40s in [0,60s]: start gap 10s < 11s -> extend 10s; end gap 20s
     * >= 11s -> extend half the spacing (5s): 30 * 45/30 = 45. */
    ts_sample b[] = {{10000, 10}, {20000, 20}, {30000, 30}, {40000, 40}};
    T_TRUE(ts__extrapolated_rate(b, 4, 0, 60000, ts__range_seconds(60000), true, false, &r));
    T_TRUE(close_to(r, 45));
    /* Counter starting near zero: extrapolation stops at the zero point.
     * 1,11,21 at 20s,30s,40s in [0,40s]: to_start 20s, to_zero = 20*(1/20) = 1s. */
    ts_sample c[] = {{20000, 1}, {30000, 11}, {40000, 21}};
    T_TRUE(ts__extrapolated_rate(c, 3, 0, 40000, ts__range_seconds(40000), true, false, &r));
    T_TRUE(close_to(r, 20 * 21.0 / 20));
}

/* rate/increase/delta must be Prometheus' float64 to the last bit (a one-ulp
 * difference can move histogram_quantile to another bucket).  Each case's
 * expected value is what Debian's Prometheus 2.42 answered for the same
 * samples (stored at 1700000000000 ms + t through promtool blocks, instant
 * query at the window's end), and each was chosen because the previous
 * order of operations (result * (interval / sampled) / range) missed it by
 * one ulp. */
static int
same_bits(double a, double b)
{
    uint64_t x, y;
    memcpy(&x, &a, sizeof(x));
    memcpy(&y, &b, sizeof(y));
    return x == y;
}

static void
test_rate_bits_as_prometheus(void)
{
    static const struct {
        const char *what;
        ts_sample s[6];
        size_t n;
        int64_t range_ms;
        bool counter, is_rate;
        double want; /* Prometheus 2.42's answer */
    } cases[] = {
        {"rate(r1[1m])",
         {{10267, 58.912}, {24814, 61.7}, {40783, 65.89}, {56492, 71.99}},
         4,
         60000,
         true,
         true,
         0.2829204975662519},
        {"rate(r2[1m]) with a reset",
         {{4696, 139.412}, {15410, 149.561}, {34483, 2.002}, {48169, 6.624}},
         4,
         60000,
         true,
         true,
         0.3858256849078737},
        {"rate(r3[1m]) stopped at the zero point",
         {{9668, 0.455}, {28533, 7.175}, {43359, 15.391}, {53005, 24.564}},
         4,
         60000,
         true,
         true,
         0.47425699479274835},
        {"rate(r4[1m30s250ms])",
         {{8895, 1240.54},
          {17226, 1299.6},
          {33537, 1326.28},
          {47986, 1368.76},
          {63844, 1382.74},
          {79813, 1473.83}},
         6,
         90250,
         true,
         true,
         3.289573874051721},
        {"rate(r5[75s])",
         {{2280, 53.588}, {17805, 59.416}, {31570, 61.6}, {46620, 65.9}, {63153, 68.307}},
         5,
         75000,
         true,
         true,
         0.24179849851329815},
        {"delta(r1[1m])",
         {{10267, 58.912}, {24814, 61.7}, {40783, 65.89}, {56492, 71.99}},
         4,
         60000,
         false,
         false,
         16.97522985397512},
        {"increase(r2[1m])",
         {{4696, 139.412}, {15410, 149.561}, {34483, 2.002}, {48169, 6.624}},
         4,
         60000,
         true,
         false,
         23.149541094472426},
    };
    const int64_t base = 1700000000000;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_sample s[6];
        for (size_t j = 0; j < cases[i].n; j++)
            s[j] = (ts_sample){base + cases[i].s[j].t, cases[i].s[j].v};
        int64_t end = base + cases[i].range_ms;
        double r = 0;
        T_TRUE(ts__extrapolated_rate(s, cases[i].n, end - cases[i].range_ms, end,
                                     ts__range_seconds(cases[i].range_ms), cases[i].counter,
                                     cases[i].is_rate, &r));
        if (!same_bits(r, cases[i].want))
            fprintf(stderr, "  %s: got %.17g, Prometheus %.17g\n", cases[i].what, r, cases[i].want);
        T_TRUE(same_bits(r, cases[i].want));
    }
}

static void
test_irate_idelta(void)
{
    ts_sample s[] = {{0, 5}, {10000, 8}, {15000, 2}};
    double r;
    T_TRUE(ts__instant_value(s, 3, true, &r)); /* reset: last value / 5s */
    T_TRUE(close_to(r, 2.0 / 5));
    T_TRUE(ts__instant_value(s, 3, false, &r));
    T_TRUE(close_to(r, -6));
    T_FALSE(ts__instant_value(s, 1, true, &r));
}

static void
test_regression_holt_winters(void)
{
    ts_sample s[] = {{0, 1}, {10000, 3}, {20000, 5}};
    double slope, icpt;
    T_TRUE(ts__linear_regression(s, 3, 0, &slope, &icpt));
    T_TRUE(close_to(slope, 0.2));
    T_TRUE(close_to(icpt, 1));
    T_TRUE(ts__linear_regression(s, 3, 20000, &slope, &icpt));
    T_TRUE(close_to(icpt, 5));
    ts_sample k[] = {{0, 7}, {1000, 7}};
    T_TRUE(ts__linear_regression(k, 2, 0, &slope, &icpt));
    T_FEQ(slope, 0);
    T_FEQ(icpt, 7);
    ts_sample l[] = {{0, 0}, {1000, 1}, {2000, 2}, {3000, 3}};
    double hw;
    T_TRUE(ts__holt_winters(l, 4, 0.5, 0.5, &hw));
    T_TRUE(close_to(hw, 3));
}

static void
test_over_time(void)
{
    ts_sample s[] = {{0, 2}, {1, 4}, {2, 4}, {3, 4}, {4, 5}, {5, 5}, {6, 7}, {7, 9}};
    T_TRUE(close_to(ts__avg_over_time(s, 8), 5));
    T_TRUE(close_to(ts__stdvar_over_time(s, 8), 4));
    T_TRUE(close_to(ts__sum_kahan(s, 8), 40));
    T_FEQ(ts__min_over_time(s, 8), 2);
    T_FEQ(ts__max_over_time(s, 8), 9);
    T_FEQ(ts__changes(s, 8), 4);
    ts_sample n[] = {{0, NAN}, {1, 3}, {2, 1}};
    T_FEQ(ts__min_over_time(n, 3), 1);
    T_FEQ(ts__resets(n, 3), 1);
    ts_sample inf[] = {{0, INFINITY}, {1, 3}};
    T_FEQ(ts__avg_over_time(inf, 2), INFINITY);
}

static void
test_quantile(void)
{
    double v[] = {4, 1, 3, 2};
    T_FEQ(ts__quantile(0.5, v, 4), 2.5);
    T_FEQ(ts__quantile(0, v, 4), 1);
    T_FEQ(ts__quantile(1, v, 4), 4);
    T_FEQ(ts__quantile(-1, v, 4), -INFINITY);
    T_FEQ(ts__quantile(2, v, 4), INFINITY);
    T_TRUE(isnan(ts__quantile(0.5, v, 0)));
}

static void
test_bucket_quantile(void)
{
    ts__bucket b[] = {{INFINITY, 40}, {0.1, 10}, {1, 30}, {0.5, 20}};
    T_TRUE(close_to(ts__bucket_quantile(0.5, b, 4), 0.5));
    ts__bucket b2[] = {{0.1, 10}, {0.5, 20}, {1, 30}, {INFINITY, 40}};
    T_TRUE(close_to(ts__bucket_quantile(0.1, b2, 4), 0.04));
    ts__bucket b3[] = {{0.1, 10}, {0.5, 20}, {1, 30}, {INFINITY, 40}};
    T_FEQ(ts__bucket_quantile(0.9, b3, 4), 1); /* rank in the +Inf bucket */
    /* Non-monotonic counts are raised: (2: 8) becomes (2: 10). */
    ts__bucket m[] = {{1, 10}, {2, 8}, {INFINITY, 12}};
    T_TRUE(close_to(ts__bucket_quantile(0.5, m, 3), 0.6));
    ts__bucket noinf[] = {{1, 10}, {2, 20}};
    T_TRUE(isnan(ts__bucket_quantile(0.5, noinf, 2)));
    ts__bucket one[] = {{INFINITY, 10}};
    T_TRUE(isnan(ts__bucket_quantile(0.5, one, 1)));
    ts__bucket z[] = {{1, 0}, {INFINITY, 0}};
    T_TRUE(isnan(ts__bucket_quantile(0.5, z, 2)));
    ts__bucket neg[] = {{-1, 5}, {INFINITY, 10}};
    T_FEQ(ts__bucket_quantile(0.2, neg, 2), -1);
    T_FEQ(ts__bucket_quantile(-0.5, neg, 2), -INFINITY);
    /* A NaN count: found by binary search like Prometheus (rank 2.5 lands past
     * the NaN bucket, in +Inf, so the answer is the second-highest bound). */
    ts__bucket nanb[] = {{1, 3}, {2, NAN}, {INFINITY, 5}};
    T_FEQ(ts__bucket_quantile(0.5, nanb, 3), 2);
    /* Duplicate bounds (le="1" and le="1.0") are merged. */
    ts__bucket dup[] = {{1, 5}, {1, 5}, {INFINITY, 20}};
    T_TRUE(close_to(ts__bucket_quantile(0.25, dup, 3), 0.5));
}

T_MAIN({"rate_exact_window", test_rate_exact_window},
       {"rate_reset_and_extrapolation", test_rate_reset_and_extrapolation},
       {"rate_bits_as_prometheus", test_rate_bits_as_prometheus},
       {"irate_idelta", test_irate_idelta},
       {"regression_holt_winters", test_regression_holt_winters}, {"over_time", test_over_time},
       {"quantile", test_quantile}, {"bucket_quantile", test_bucket_quantile})
