/*
 * The series generator behind `tessera bench targets`.
 *
 * Template.  Every target exposes the same series (Prometheus tells targets
 * apart by their instance label), so the names, labels, HELP and TYPE lines
 * are rendered once into one text buffer at start-up.  A family table gives
 * each family a share of the S series; the shares are rounded down (to whole
 * histograms for histogram families) and http_requests_total takes what is
 * left, so a target has exactly S series.  A series' label text is stored
 * without its closing brace, so a churning series can insert its pod label
 * before the brace at render time.
 *
 * Groups.  Series that must move together form a group: a histogram's
 * buckets, _sum and _count are one group; any other series is a group of
 * its own.  Churn and every random parameter are drawn per group, from a
 * hash of (seed, target, group), so nothing per target is stored.
 *
 * Values are functions of wall time t (seconds), not state, so they do not
 * depend on how often or by whom a target is scraped:
 *   counter   integral of r * (1 + 0.5 sin(2 pi s / P + phi)) ds from the
 *             counter's start to t: always growing, at a rate that drifts
 *             between 0.5r and 1.5r.  The start is up to ten days before the
 *             generator's start time, or
 *             for about 3% of counter groups the last multiple of a reset
 *             period (0.5-2h), which makes them fall to zero now and then.
 *             Integer counters are floored, seconds counters floored to 1/100.
 *   gauge     a mean plus two sine waves of different periods plus a noise
 *             term that changes every 5 s, quantised to what the unit
 *             suggests (4 KiB pages, 1/8 degree, whole requests).
 *   histogram _count is an integer counter as above; bucket le holds
 *             floor(count * F(le)) where F is the CDF of a log-normal drawn
 *             per histogram (so buckets are cumulative in le and growing in
 *             t); _sum is count * the distribution's mean.
 * Numbers are printed with integer formatting (fixed point for fractions,
 * trailing zeros trimmed), never printf, so rendering a 2000-series target
 * costs well under a millisecond.
 */
#include "pkg/bench/bench.h"

#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <math.h>
#include <string.h>

/* How a series' value is computed and printed. */
enum kind {
    K_COUNTER_INT,  /* whole events or bytes */
    K_COUNTER_SECS, /* seconds, 2 decimals */
    K_GAUGE_BYTES,  /* multiples of 4096 */
    K_GAUGE_TEMP,   /* 1/8 degree */
    K_GAUGE_INT,    /* small whole numbers */
    K_BUCKET,       /* histogram bucket: frac = F(le); +Inf has frac 1 */
    K_HSUM,         /* histogram _sum: frac = mean */
    K_HCOUNT,       /* histogram _count */
};

typedef struct tseries {
    uint32_t off, len; /* label text "name{a=\"b\"" in g->text, no closing brace */
    uint32_t group;
    uint8_t kind;
    bool churn;
    double base; /* rate (counters), mean (gauges) */
    double frac; /* buckets: F(le); _sum: mean observation */
} tseries;

typedef struct tblock {
    uint32_t off, len; /* "# HELP ...\n# TYPE ...\n" in g->text */
    size_t first, n;   /* series range */
} tblock;

struct ts_bench_gen {
    ts_bench_opts opts;
    ts_buf text;
    tseries *series;
    size_t nseries, capseries;
    tblock *blocks;
    size_t nblocks, capblocks;
    uint32_t ngroups;
};

/* ------------------------------------------------------------- hashing */

static uint64_t
mix(uint64_t z)
{
    /* splitmix64 finaliser */
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix(a ^ mix(b ^ mix(c)));
}

/* The k-th uniform number in [0, 1) drawn from h. */
static double
unif(uint64_t h, int k)
{
    return (double)(mix(h + (uint64_t)k * 0x632be59bd9b4e019ULL) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------ families */

static const char *const cpu_modes[] = {"idle",    "iowait", "irq",    "nice",
                                        "softirq", "steal",  "system", "user"};
static const char *const http_codes[] = {"200", "201", "400", "404", "500"};
static const char *const http_methods[] = {"GET", "POST", "PUT", "DELETE"};
static const char *const dur_les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                      "0.5",   "1",    "2.5",   "5",    "10"};
static const double dur_le_v[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const size_les[] = {"200", "1000", "5000", "25000", "100000", "500000"};
static const double size_le_v[] = {200, 1000, 5000, 25000, 100000, 500000};

/* Label text (no braces) of the k-th series of a family. */
typedef void (*label_fn)(ts_buf *b, size_t k);

static void
lab_cpu(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "cpu=\"%zu\",mode=\"%s\"", k / 8, cpu_modes[k % 8]);
}
static void
lab_netdev(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "device=\"%s%zu\"", k % 3 == 0 ? "eth" : k % 3 == 1 ? "ens" : "veth", k);
}
static void
lab_disk(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "device=\"nvme%zun%zu\"", k / 4, k % 4 + 1);
}
static void
lab_http(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "code=\"%s\",handler=\"/api/v1/resource%zu\",method=\"%s\"", http_codes[k % 5],
                  k / 20, http_methods[(k / 5) % 4]);
}
static void
lab_fs(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "device=\"/dev/sd%c%zu\",fstype=\"%s\",mountpoint=\"/srv/vol%zu\"",
                  (char)('a' + k % 26), k / 26 + 1, k % 2 ? "xfs" : "ext4", k);
}
static void
lab_hwmon(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "chip=\"platform_coretemp_%zu\",sensor=\"temp%zu\"", k / 16, k % 16 + 1);
}
static void
lab_queue(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "queue=\"worker-%zu\"", k);
}
static void
lab_hdur(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "handler=\"/api/v1/resource%zu\",method=\"%s\"", k / 4, http_methods[k % 4]);
}
static void
lab_hsize(ts_buf *b, size_t k)
{
    ts_buf_printf(b, "handler=\"/api/v1/resource%zu\"", k);
}

typedef struct family {
    const char *name, *type, *help;
    int weight;   /* per mille of the series */
    uint8_t kind; /* value kind (histograms: of _count) */
    double base;  /* typical rate per second, or typical gauge level */
    label_fn labels;
    const char *const *les; /* histograms: finite bucket bounds */
    const double *le_v;
    size_t nles;
    double median; /* histograms: typical median observation */
} family;

#define ABSORB 5 /* http_requests_total takes the rounding remainder */

static const family families[] = {
    {"node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.", 120,
     K_COUNTER_SECS, 0.12, lab_cpu, NULL, NULL, 0, 0},
    {"node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes.", 40,
     K_COUNTER_INT, 60000, lab_netdev, NULL, NULL, 0, 0},
    {"node_network_transmit_bytes_total", "counter", "Network device statistic transmit_bytes.", 40,
     K_COUNTER_INT, 30000, lab_netdev, NULL, NULL, 0, 0},
    {"node_disk_read_bytes_total", "counter", "The total number of bytes read successfully.", 30,
     K_COUNTER_INT, 200000, lab_disk, NULL, NULL, 0, 0},
    {"node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.", 30,
     K_COUNTER_SECS, 0.05, lab_disk, NULL, NULL, 0, 0},
    {"http_requests_total", "counter", "Total number of HTTP requests by handler, method and code.",
     200, K_COUNTER_INT, 3, lab_http, NULL, NULL, 0, 0},
    {"node_filesystem_avail_bytes", "gauge",
     "Filesystem space available to non-root users in bytes.", 60, K_GAUGE_BYTES, 4e11, lab_fs,
     NULL, NULL, 0, 0},
    {"node_hwmon_temp_celsius", "gauge", "Hardware monitor for temperature (input).", 60,
     K_GAUGE_TEMP, 48, lab_hwmon, NULL, NULL, 0, 0},
    {"app_queue_length", "gauge", "Items waiting in a worker queue.", 40, K_GAUGE_INT, 20,
     lab_queue, NULL, NULL, 0, 0},
    {"http_request_duration_seconds", "histogram", "Latency of HTTP requests.", 300, K_HCOUNT, 2,
     lab_hdur, dur_les, dur_le_v, 11, 0.08},
    {"http_response_size_bytes", "histogram", "Size of HTTP responses.", 80, K_HCOUNT, 2, lab_hsize,
     size_les, size_le_v, 6, 4000},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/* Series per instance of a family: 1, or buckets + Inf + sum + count. */
static size_t
group_size(const family *f)
{
    return f->les ? f->nles + 3 : 1;
}

/* ------------------------------------------------------------ template */

static void
add_series(ts_bench_gen *g, size_t off, uint8_t kind, double base, double frac, bool churn)
{
    TS_GROW(g->series, g->capseries, g->nseries + 1);
    tseries *s = &g->series[g->nseries++];
    s->off = (uint32_t)off;
    s->len = (uint32_t)(g->text.len - off);
    s->group = g->ngroups;
    s->kind = kind;
    s->churn = churn;
    s->base = base;
    s->frac = frac;
}

/* Standard normal CDF. */
static double
phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

static void
build_family(ts_bench_gen *g, const family *f, size_t ninst)
{
    TS_GROW(g->blocks, g->capblocks, g->nblocks + 1);
    tblock *b = &g->blocks[g->nblocks++];
    b->off = (uint32_t)g->text.len;
    ts_buf_printf(&g->text, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    b->len = (uint32_t)(g->text.len - b->off);
    b->first = g->nseries;
    uint64_t seed = g->opts.seed;
    for (size_t k = 0; k < ninst; k++, g->ngroups++) {
        uint64_t h = hash3(seed, 0x5eed, g->ngroups);
        bool churn = unif(h, 0) < g->opts.churn;
        size_t off = g->text.len;
        if (!f->les) {
            ts_buf_printf(&g->text, "%s{", f->name);
            f->labels(&g->text, k);
            add_series(g, off, f->kind, f->base, 0, churn);
            continue;
        }
        /* A histogram: log-normal observations with sigma 1 around a median
         * within a factor e of the family's typical one. */
        double median = f->median * exp(2 * unif(h, 1) - 1), sigma = 1.0;
        for (size_t i = 0; i <= f->nles; i++) {
            off = g->text.len;
            ts_buf_printf(&g->text, "%s_bucket{", f->name);
            f->labels(&g->text, k);
            ts_buf_printf(&g->text, ",le=\"%s\"", i < f->nles ? f->les[i] : "+Inf");
            double frac = i < f->nles ? phi((log(f->le_v[i]) - log(median)) / sigma) : 1.0;
            add_series(g, off, K_BUCKET, f->base, frac, churn);
        }
        off = g->text.len;
        ts_buf_printf(&g->text, "%s_sum{", f->name);
        f->labels(&g->text, k);
        add_series(g, off, K_HSUM, f->base, median * exp(sigma * sigma / 2), churn);
        off = g->text.len;
        ts_buf_printf(&g->text, "%s_count{", f->name);
        f->labels(&g->text, k);
        add_series(g, off, K_HCOUNT, f->base, 0, churn);
    }
    b->n = g->nseries - b->first;
}

int
ts_bench_gen_new(const ts_bench_opts *opts, ts_bench_gen **out, ts_error *err)
{
    *out = NULL;
    if (opts->targets < 1 || opts->series < 1)
        return ts_error_set(err, TS_EINVAL, "targets and series must be at least 1");
    if (opts->targets > TS_BENCH_MAX_TARGETS || opts->series > TS_BENCH_MAX_SERIES)
        return ts_error_set(err, TS_ELIMIT, "at most %d targets of %d series", TS_BENCH_MAX_TARGETS,
                            TS_BENCH_MAX_SERIES);
    if (!(opts->churn >= 0 && opts->churn <= 1))
        return ts_error_set(err, TS_EINVAL, "churn must be a fraction in [0, 1]");
    if (opts->churn_interval_ms < 0)
        return ts_error_set(err, TS_EINVAL, "churn interval must not be negative");
    ts_bench_gen *g = ts_calloc(1, sizeof(*g));
    g->opts = *opts;
    if (g->opts.start_ms == 0)
        g->opts.start_ms = ts_now_ms();
    if (g->opts.churn_interval_ms == 0)
        g->opts.churn_interval_ms = 10 * 60 * 1000;
    ts_buf_init(&g->text, 0);

    /* Instances per family: shares rounded down, the remainder to ABSORB. */
    size_t ninst[NFAMILIES], used = 0;
    for (size_t i = 0; i < NFAMILIES; i++) {
        if (i == ABSORB)
            continue;
        size_t want = opts->series * (size_t)families[i].weight / 1000;
        ninst[i] = want / group_size(&families[i]);
        used += ninst[i] * group_size(&families[i]);
    }
    TS_ASSERT(used <= opts->series);
    ninst[ABSORB] = opts->series - used;
    for (size_t i = 0; i < NFAMILIES; i++)
        if (ninst[i] > 0)
            build_family(g, &families[i], ninst[i]);
    TS_ASSERT(g->nseries == opts->series);
    *out = g;
    return TS_OK;
}

void
ts_bench_gen_free(ts_bench_gen *g)
{
    if (!g)
        return;
    ts_buf_fini(&g->text);
    ts_free(g->series);
    ts_free(g->blocks);
    ts_free(g);
}

size_t
ts_bench_gen_targets(const ts_bench_gen *g)
{
    return g->opts.targets;
}
size_t
ts_bench_gen_series(const ts_bench_gen *g)
{
    return g->nseries;
}
size_t
ts_bench_gen_families(const ts_bench_gen *g)
{
    return g->nblocks;
}

/* ------------------------------------------------------------- values */

#define TWO_PI 6.283185307179586

/* The counter of group h at time t (seconds); t0 is the generator's start. */
static double
counter_at(uint64_t h, double base, double t0, double t)
{
    double r = base * (0.2 + 1.8 * unif(h, 2));
    double period = 600 + 3000 * unif(h, 3), ph = TWO_PI * unif(h, 4);
    double start;
    if (unif(h, 5) < 0.03) {
        double every = 1800 + 5400 * unif(h, 6), off = every * unif(h, 7);
        start = floor((t - off) / every) * every + off;
    } else {
        start = t0 - 864000 * unif(h, 6);
        if (start > t) /* asked for a time before the start */
            start = t;
    }
    double w = TWO_PI / period;
    double v = r * (t - start) + 0.5 * r / w * (cos(w * start + ph) - cos(w * t + ph));
    return v > 0 ? v : 0; /* rounding can dip below 0 right at the start */
}

static double
gauge_at(uint64_t h, double mean, double t)
{
    double p1 = 300 + 1500 * unif(h, 2), p2 = 3600 + 7200 * unif(h, 3);
    double wave = 0.6 * sin(TWO_PI * t / p1 + TWO_PI * unif(h, 4)) +
                  0.3 * sin(TWO_PI * t / p2 + TWO_PI * unif(h, 5));
    double noise = 2 * unif(hash3(h, 0x401e, (uint64_t)(t / 5)), 0) - 1;
    return mean * (0.5 + unif(h, 6)) * (1 + 0.25 * wave + 0.03 * noise);
}

/* ----------------------------------------------------------- printing */

static char *
put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Prints v >= 0 with at most `dec` (<= 6) decimals, trailing zeros trimmed
 * (NaN and negatives print as 0). */
static char *
put_fixed(char *p, double v, int dec)
{
    static const double pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (!(v >= 0))
        v = 0;
    if (v >= 9e18 / pow10[dec]) /* the scaled value would not fit: integer part only */
        return put_u64(p, v < 1.8e19 ? (uint64_t)v : UINT64_MAX);
    uint64_t scaled = (uint64_t)llround(v * pow10[dec]);
    uint64_t ip = scaled / (uint64_t)pow10[dec], fp = scaled % (uint64_t)pow10[dec];
    p = put_u64(p, ip);
    if (fp) {
        char digits[8];
        for (int i = dec - 1; i >= 0; i--) {
            digits[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        int n = dec;
        while (n > 0 && digits[n - 1] == '0')
            n--;
        *p++ = '.';
        memcpy(p, digits, (size_t)n);
        p += n;
    }
    return p;
}

static char *
put_hex32(char *p, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--)
        p[7 - i] = hex[(v >> (4 * i)) & 15];
    return p + 8;
}

int
ts_bench_gen_render(const ts_bench_gen *g, size_t target, int64_t now_ms, ts_buf *out)
{
    if (target >= g->opts.targets)
        return TS_EINVAL;
    double t = (double)now_ms / 1000.0, t0 = (double)g->opts.start_ms / 1000.0;
    uint64_t gen = (uint64_t)(now_ms / g->opts.churn_interval_ms);
    const char *text = (const char *)g->text.p;
    for (size_t b = 0; b < g->nblocks; b++) {
        const tblock *blk = &g->blocks[b];
        int rc = ts_buf_put(out, text + blk->off, blk->len);
        if (rc)
            return rc;
        uint32_t cur_group = UINT32_MAX;
        double count = 0; /* the current histogram's _count */
        uint64_t h = 0;
        for (size_t i = blk->first; i < blk->first + blk->n; i++) {
            const tseries *s = &g->series[i];
            if (s->group != cur_group) {
                cur_group = s->group;
                h = hash3(g->opts.seed, target, s->group);
                if (s->kind == K_BUCKET)
                    count = floor(counter_at(h, s->base, t0, t));
            }
            /* name{labels + pod + "} " + value + "\n": value <= 24 bytes */
            rc = ts_buf_reserve(out, s->len + 64);
            if (rc)
                return rc;
            char *p = (char *)out->p + out->len;
            memcpy(p, text + s->off, s->len);
            p += s->len;
            if (s->churn) {
                memcpy(p, ",pod=\"pod-", 10);
                p = put_hex32(p + 10, (uint32_t)hash3(g->opts.seed ^ 0xc0ffee, s->group, gen));
                *p++ = '"';
            }
            *p++ = '}';
            *p++ = ' ';
            switch (s->kind) {
            case K_COUNTER_INT:
                p = put_u64(p, (uint64_t)floor(counter_at(h, s->base, t0, t)));
                break;
            case K_COUNTER_SECS:
                p = put_fixed(p, floor(counter_at(h, s->base, t0, t) * 100) / 100, 2);
                break;
            case K_GAUGE_BYTES:
                p = put_u64(p, 4096 * (uint64_t)(gauge_at(h, s->base, t) / 4096));
                break;
            case K_GAUGE_TEMP: p = put_fixed(p, floor(gauge_at(h, s->base, t) * 8) / 8, 3); break;
            case K_GAUGE_INT: p = put_u64(p, (uint64_t)floor(gauge_at(h, s->base, t))); break;
            case K_BUCKET: p = put_u64(p, (uint64_t)floor(count * s->frac)); break;
            case K_HSUM: p = put_fixed(p, count * s->frac, 3); break;
            case K_HCOUNT: p = put_u64(p, (uint64_t)count); break;
            }
            *p++ = '\n';
            out->len = (size_t)((uint8_t *)p - out->p);
        }
    }
    return TS_OK;
}
