/*
 * gen_openmetrics: writes realistic OpenMetrics for a backfill benchmark.
 *
 *   gen_openmetrics [-n SERIES] [-d HOURS] [-s START_SECONDS] [-S SEED] [-i INTERVAL_S]
 *
 * About SERIES series over HOURS hours, one sample per series every 15 s
 * with a few ms of timestamp jitter per scrape, written as float seconds
 * with millisecond precision.  Values are printed in their shortest form,
 * as Go exporters print them (44, 49.125, 4567.89).  The mix is what a node/app exporter shows:
 *
 *   http_requests_total{job,instance,method,code}   counters, integer steps at
 *                                                   per-series rates that drift
 *                                                   through the day, rare resets
 *   process_cpu_seconds_total{job,instance}         counters with 2 decimals
 *   process_resident_memory_bytes{job,instance}     gauges: 4 KiB-page random walk
 *   node_hwmon_temp_celsius{instance,chip,sensor}   gauges: mean-reverting walk,
 *                                                   1/8 degree steps (45.125)
 *   http_request_duration_seconds{job,instance}     classic histograms: 11 le buckets
 *                                                   and +Inf (cumulative), _sum, _count
 *
 * Every series' samples are in time order (promtool requires that per
 * series, and nothing more).  Each family is written as one block (HELP,
 * TYPE, optional UNIT, then its series: counters and gauges one series at a
 * time, histograms one instance at a time with its 14 series per scrape).
 * Ends with "# EOF".  Deterministic for a given seed.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
unif(void) /* [0, 1) */
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double
gauss(void)
{
    double u = unif() + 1e-12, v = unif();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static int64_t start_ms, step_ms;
static long nsteps;

/* The scrape time of step k for a target with a given jitter seed. */
static int64_t
scrape_ts(long k)
{
    return start_ms + (int64_t)k * step_ms + (int64_t)(rnd() % 6); /* 0..5 ms late */
}

static void
put_ts(int64_t ms)
{
    printf(" %lld.%03lld\n", (long long)(ms / 1000), (long long)(ms % 1000));
}

/* daily load curve in [0.3, 1.0] */
static double
diurnal(int64_t ms, double phase)
{
    double day = (double)(ms % 86400000) / 86400000.0;
    return 0.65 + 0.35 * sin(2 * M_PI * (day + phase));
}

static void
gen_requests(int n)
{
    static const char *methods[] = {"get", "post", "put", "delete"};
    static const char *codes[] = {"200", "201", "204", "304", "400", "404", "500"};
    printf("# HELP http_requests_total Total HTTP requests handled.\n");
    printf("# TYPE http_requests_total counter\n");
    for (int i = 0; i < n; i++) {
        char lbl[160];
        snprintf(lbl, sizeof(lbl),
                 "http_requests_total{code=\"%s\",instance=\"app-%03d:8080\",job=\"api\","
                 "method=\"%s\"}",
                 codes[i % 7], i / 28, methods[(i / 7) % 4]);
        double base = exp(gauss() * 1.5) * 20; /* requests per scrape, log-normal */
        double phase = unif();
        uint64_t v = rnd() % 100000;
        for (long k = 0; k < nsteps; k++) {
            int64_t t = scrape_ts(k);
            if (rnd() % 20000 == 0)
                v = 0; /* process restart */
            else
                v += (uint64_t)fmax(0, base * diurnal(t, phase) * (1 + 0.2 * gauss()));
            printf("%s %llu", lbl, (unsigned long long)v);
            put_ts(t);
        }
    }
}

static void
gen_cpu(int n)
{
    printf("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n");
    printf("# TYPE process_cpu_seconds_total counter\n");
    for (int i = 0; i < n; i++) {
        double rate = 0.02 + unif() * 2.0; /* cpu-seconds per scrape */
        double v = unif() * 5000, phase = unif();
        for (long k = 0; k < nsteps; k++) {
            int64_t t = scrape_ts(k);
            if (rnd() % 20000 == 0)
                v = 0;
            else
                v += fmax(0, rate * diurnal(t, phase) * (1 + 0.1 * gauss()));
            v = round(v * 100) / 100;
            printf("process_cpu_seconds_total{instance=\"app-%03d:8080\",job=\"api\"} %.10g", i,
                   v);
            put_ts(t);
        }
    }
}

static void
gen_memory(int n)
{
    printf("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
    printf("# TYPE process_resident_memory_bytes gauge\n");
    for (int i = 0; i < n; i++) {
        double pages = 20000 + unif() * 500000;
        for (long k = 0; k < nsteps; k++) {
            int64_t t = scrape_ts(k);
            if (rnd() % 4 == 0)
                pages += gauss() * 200;
            if (pages < 1000)
                pages = 1000;
            printf("process_resident_memory_bytes{instance=\"app-%03d:8080\",job=\"api\"} %.0f",
                   i, floor(pages) * 4096);
            put_ts(t);
        }
    }
}

static void
gen_temp(int n)
{
    printf("# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input).\n");
    printf("# TYPE node_hwmon_temp_celsius gauge\n");
    printf("# UNIT node_hwmon_temp_celsius celsius\n");
    for (int i = 0; i < n; i++) {
        double mean = 35 + unif() * 30, x = mean;
        for (long k = 0; k < nsteps; k++) {
            int64_t t = scrape_ts(k);
            x += 0.05 * (mean - x) + gauss() * 0.4;
            printf("node_hwmon_temp_celsius{chip=\"platform_coretemp_%d\",instance=\"node-%03d:9100\","
                   "sensor=\"temp%d\"} %.10g",
                   i % 2, i / 8, i % 8 + 1, round(x * 8) / 8);
            put_ts(t);
        }
    }
}

static void
gen_histograms(int n)
{
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                "0.5",   "1",    "2.5",   "5",    "10"};
    static const double lev[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    enum { NB = 11 };
    printf("# HELP http_request_duration_seconds Latency of HTTP requests.\n");
    printf("# TYPE http_request_duration_seconds histogram\n");
    for (int i = 0; i < n; i++) {
        uint64_t bucket[NB + 1] = {0}; /* non-cumulative counts; [NB] = above 10 s */
        double sum = 0, rate = 5 + unif() * 200, median = 0.02 + unif() * 0.2, phase = unif();
        char inst[64];
        snprintf(inst, sizeof(inst), "instance=\"app-%03d:8080\",job=\"api\"", i);
        for (long k = 0; k < nsteps; k++) {
            int64_t t = scrape_ts(k);
            int obs = (int)fmax(0, rate * diurnal(t, phase) * (1 + 0.2 * gauss()));
            /* a handful of sampled latencies stand for the scrape's observations */
            int samples = obs < 8 ? obs : 8;
            for (int s = 0; s < samples; s++) {
                int share = obs / samples + (s < obs % samples);
                double lat = median * exp(gauss() * 0.8);
                int b = 0;
                while (b < NB && lat > lev[b])
                    b++;
                bucket[b] += (uint64_t)share;
                sum += lat * share;
            }
            uint64_t cum = 0;
            for (int b = 0; b < NB; b++) {
                cum += bucket[b];
                printf("http_request_duration_seconds_bucket{%s,le=\"%s\"} %llu", inst, les[b],
                       (unsigned long long)cum);
                put_ts(t);
            }
            cum += bucket[NB];
            printf("http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu", inst,
                   (unsigned long long)cum);
            put_ts(t);
            printf("http_request_duration_seconds_sum{%s} %.17g", inst, sum);
            put_ts(t);
            printf("http_request_duration_seconds_count{%s} %llu", inst, (unsigned long long)cum);
            put_ts(t);
        }
    }
}

int
main(int argc, char **argv)
{
    long series = 2000;
    double hours = 24;
    long long start_s = 1700000000, seed = 1, interval = 15;
    int c;
    while ((c = getopt(argc, argv, "n:d:s:S:i:h")) != -1) {
        switch (c) {
        case 'n':
        case 's':
        case 'S':
        case 'i': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0') {
                fprintf(stderr, "gen_openmetrics: -%c needs an integer, got \"%s\"\n", c, optarg);
                return 2;
            }
            if (c == 'n')
                series = v > LONG_MAX ? LONG_MAX : (long)v;
            else if (c == 's')
                start_s = v;
            else if (c == 'S')
                seed = v;
            else
                interval = v;
            break;
        }
        case 'd': {
            char *end;
            hours = strtod(optarg, &end);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "gen_openmetrics: -d needs a number, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        }
        default:
            fprintf(stderr, "usage: gen_openmetrics [-n SERIES] [-d HOURS] [-s START_SECONDS] "
                            "[-S SEED] [-i INTERVAL_S]\n");
            return 2;
        }
    }
    if (series < 20 || hours <= 0 || interval <= 0) {
        fprintf(stderr, "gen_openmetrics: need at least 20 series, a positive span and interval\n");
        return 2;
    }
    rng_state = (uint64_t)seed;
    start_ms = start_s * 1000;
    step_ms = interval * 1000;
    nsteps = (long)(hours * 3600 / (double)interval);
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));

    long hist = series * 3 / 10 / 14; /* histogram instances, 14 series each */
    long temp = series / 10;
    long mem = series / 5;
    long rest = series - hist * 14 - temp - mem;
    long cpu = rest / 3;
    long req = rest - cpu;
    gen_requests((int)req);
    gen_cpu((int)cpu);
    gen_memory((int)mem);
    gen_temp((int)temp);
    gen_histograms((int)hist);
    printf("# EOF\n");
    return fflush(stdout) == 0 ? 0 : 1;
}
