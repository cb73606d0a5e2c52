/*
 * Micro-benchmark of sample value formatting (ts_format_prom_value), not a
 * test: it prints ns per value for four kinds of values, the median of 5 runs
 * of N values each.  Built on demand (not part of `all`, not run by ctest):
 *
 *   cmake --build build-rel --target floatfmt_bench && build-rel/tests/unit/util/floatfmt_bench
 *
 * To compare with another floatfmt.c (e.g. the version before a change),
 * link its object before the library, which then does not pull in its own
 * (before the formatter had its own file, it was in pkg/util/jsonw.c):
 *
 *   git show REV:pkg/util/floatfmt.c > /tmp/floatfmt_old.c
 *   cc -O3 -DNDEBUG -std=c11 -D_GNU_SOURCE -I. -c /tmp/floatfmt_old.c -o /tmp/floatfmt_old.o
 *   cc -O3 -DNDEBUG -std=c11 -D_GNU_SOURCE -I. tests/unit/util/floatfmt_bench.c /tmp/floatfmt_old.o
 * \ build-rel/pkg/util/libts_util.a -lxxhash -lm -lpthread -o /tmp/floatfmt_bench_old
 *
 * Kinds: "rate" = counter increases over 5 minutes (k / 300, what rate()
 * returns), "int" = integer-valued samples (counters, gauges), "human" =
 * short decimals (k / 10^j), "bits" = random finite bit patterns.
 */
#include "pkg/util/floatfmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1000000
#define RUNS 5

static uint64_t rng_state = 12345;

static uint64_t
rng(void)
{ /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
bench(const double *vals)
{
    static char buf[TS_FLOAT_BUF_MAX];
    double t[RUNS];
    size_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (size_t i = 0; i < N; i++)
            sink += ts_format_prom_value(vals[i], buf, sizeof buf);
        t[r] = (now_ns() - t0) / N;
    }
    if (sink == 0)
        puts("");
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

int
main(void)
{
    double *vals = malloc(N * sizeof *vals);
    if (!vals)
        return 1;
    static const char *kinds[] = {"rate", "int", "human", "bits"};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t r = rng();
            double v;
            switch (k) {
            case 0: v = (double)(r % 100000) / 300.0; break;
            case 1: v = (double)(r % 10000000); break;
            case 2: v = (double)(r % 1000000) / pow(10, (double)((r >> 40) % 7)); break;
            default:
                do {
                    r = rng();
                    memcpy(&v, &r, sizeof v);
                } while (!isfinite(v));
            }
            vals[i] = v;
        }
        printf("%-6s %7.1f ns/value\n", kinds[k], bench(vals));
    }
    free(vals);
    return 0;
}
