/*
 * Bytes per sample of a Tessera block against Prometheus' own block for the
 * same data, made with the real promtool (`promtool tsdb create-blocks-from
 * openmetrics`).
 *
 * The data imitates what node_exporter-style targets give over one aligned
 * two-hour block: 16 targets scraped every 15 s, each with its own phase and
 * a few ms of jitter on ~10% of scrapes, and per target CPU-seconds counters
 * (2 decimals), memory gauges (multiples of 4 KiB, one constant), a load
 * average, goroutines, up, request counters with very different rates, and a
 * request-duration histogram (cumulative buckets, a float _sum, _count).
 * Chunks are cut every 120 samples, as Prometheus' head does at this rate.
 *
 * The goal (DESIGN/brief): Tessera's block <= 0.8x Prometheus' size.
 */
#include "pkg/tsdb/block/block.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "pkg/tsdb/block/internal.h"
#include "pkg/util/fs.h"
#include "tests/testutil/t.h"
#include "tests/unit/tsdb/block/tset.h"

#define T0 1700006400000LL /* aligned to 2h */
#define SPAN 7200000LL
#define STEP 15000LL
#define NTARGETS 16

static uint64_t rs = 0x2545F4914F6CDD1DULL;
static double
urand(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return (double)((rs * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}
static double
nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
static double
round2(double x)
{
    return round(x * 100) / 100;
}

static tseries **all;
static size_t nall, capall;

static tseries *
add(ts_labels *ls)
{
    TS_GROW(all, capall, nall + 1);
    all[nall] = tser_new(ls, 120);
    return all[nall++];
}

/* Builds the series; timestamps per target, values per kind. */
static void
generate(void)
{
    int64_t ts[600];
    for (int tg = 0; tg < NTARGETS; tg++) {
        char inst[64];
        snprintf(inst, sizeof(inst), "10.0.%d.%d:9100", tg / 8, tg % 8 + 10);
        int64_t phase = 5 + (int64_t)(urand() * 14990);
        size_t nts = 0;
        for (int64_t i = 0;; i++) {
            int64_t t = T0 + phase + i * STEP;
            if (urand() < 0.1)
                t += (int64_t)(urand() * 7) - 3;
            if (t >= T0 + SPAN)
                break;
            ts[nts++] = t;
        }
        /* node_cpu_seconds_total */
        const char *modes[] = {"idle", "iowait", "system", "user"};
        double rates[] = {0.9, 0.002, 0.02, 0.06};
        for (int cpu = 0; cpu < 4; cpu++)
            for (int m = 0; m < 4; m++) {
                char c[8];
                snprintf(c, sizeof(c), "%d", cpu);
                tseries *s =
                    add(ts_labels_from_strings(10, "__name__", "node_cpu_seconds_total", "cpu", c,
                                               "instance", inst, "job", "node", "mode", modes[m]));
                double v = round2(urand() * 1e6 * rates[m]);
                for (size_t i = 0; i < nts; i++) {
                    double inc = 15 * rates[m] * (1 + 0.1 * nrand());
                    v = round2(v + (inc > 0 ? inc : 0));
                    tser_add(s, ts[i], v);
                }
            }
        /* memory gauges */
        {
            tseries *s = add(ts_labels_from_strings(6, "__name__", "node_memory_MemFree_bytes",
                                                    "instance", inst, "job", "node"));
            double v = 4096.0 * (int64_t)(urand() * 2e6);
            for (size_t i = 0; i < nts; i++) {
                if (urand() < 0.7)
                    v += 4096.0 * (int64_t)(nrand() * 300);
                tser_add(s, ts[i], v);
            }
            s = add(ts_labels_from_strings(6, "__name__", "node_memory_Cached_bytes", "instance",
                                           inst, "job", "node"));
            v = 4096.0 * (int64_t)(urand() * 1e6);
            for (size_t i = 0; i < nts; i++) {
                if (urand() < 0.5)
                    v += 4096.0 * (int64_t)(urand() * 20);
                tser_add(s, ts[i], v);
            }
            s = add(ts_labels_from_strings(6, "__name__", "node_memory_MemTotal_bytes", "instance",
                                           inst, "job", "node"));
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], 16777216.0 * 1024);
        }
        /* load, goroutines, up */
        {
            tseries *s = add(ts_labels_from_strings(6, "__name__", "node_load1", "instance", inst,
                                                    "job", "node"));
            double v = 1 + urand();
            for (size_t i = 0; i < nts; i++) {
                v = fabs(0.92 * v + 0.08 * (1.2 + nrand()));
                tser_add(s, ts[i], round2(v));
            }
            s = add(ts_labels_from_strings(6, "__name__", "go_goroutines", "instance", inst, "job",
                                           "node"));
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], 40 + (int)(nrand() * 2));
            s = add(ts_labels_from_strings(6, "__name__", "up", "instance", inst, "job", "node"));
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], 1);
        }
        /* filesystems: constant sizes, slowly changing free space */
        const char *mounts[] = {"/", "/boot", "/var"};
        for (int k = 0; k < 3; k++) {
            tseries *s = add(ts_labels_from_strings(10, "__name__", "node_filesystem_size_bytes",
                                                    "device", "sda1", "instance", inst, "job",
                                                    "node", "mountpoint", mounts[k]));
            double size = 4096.0 * (int64_t)(1e6 + urand() * 1e8);
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], size);
            s = add(ts_labels_from_strings(10, "__name__", "node_filesystem_avail_bytes", "device",
                                           "sda1", "instance", inst, "job", "node", "mountpoint",
                                           mounts[k]));
            double v = size * urand();
            v = 4096.0 * (int64_t)(v / 4096);
            for (size_t i = 0; i < nts; i++) {
                if (urand() < 0.2)
                    v -= 4096.0 * (int64_t)(urand() * 50);
                tser_add(s, ts[i], v);
            }
        }
        /* network: a busy and an idle interface; error counters stay 0 */
        const char *devs[] = {"eth0", "lo"};
        for (int k = 0; k < 2; k++) {
            tseries *s =
                add(ts_labels_from_strings(8, "__name__", "node_network_receive_bytes_total",
                                           "device", devs[k], "instance", inst, "job", "node"));
            double v = (double)(int64_t)(urand() * 1e10);
            for (size_t i = 0; i < nts; i++) {
                double inc = round((k ? 2e3 : 5e5) * 15 * (1 + 0.3 * nrand()));
                v += inc > 0 ? inc : 0;
                tser_add(s, ts[i], v);
            }
            s = add(ts_labels_from_strings(8, "__name__", "node_network_receive_errs_total",
                                           "device", devs[k], "instance", inst, "job", "node"));
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], 0);
        }
        /* process gauges and counters */
        {
            tseries *s = add(ts_labels_from_strings(6, "__name__", "process_cpu_seconds_total",
                                                    "instance", inst, "job", "node"));
            double v = round2(urand() * 1000);
            for (size_t i = 0; i < nts; i++) {
                v = round2(v + 0.01 * (int)(urand() * 4));
                tser_add(s, ts[i], v);
            }
            s = add(ts_labels_from_strings(6, "__name__", "process_resident_memory_bytes",
                                           "instance", inst, "job", "node"));
            v = 4096.0 * (int64_t)(5000 + urand() * 5000);
            for (size_t i = 0; i < nts; i++) {
                if (urand() < 0.3)
                    v += 4096.0 * (int64_t)(nrand() * 10);
                tser_add(s, ts[i], v);
            }
            s = add(ts_labels_from_strings(6, "__name__", "process_start_time_seconds", "instance",
                                           inst, "job", "node"));
            for (size_t i = 0; i < nts; i++)
                tser_add(s, ts[i], 1699990000.25);
        }
        /* http_requests_total */
        const char *codes[] = {"200", "404", "500"};
        double crate[] = {40, 1, 0.03};
        const char *handlers[] = {"/api/v1/query", "/metrics"};
        for (int h = 0; h < 2; h++)
            for (int c = 0; c < 3; c++) {
                tseries *s = add(ts_labels_from_strings(10, "__name__", "http_requests_total",
                                                        "code", codes[c], "handler", handlers[h],
                                                        "instance", inst, "job", "node"));
                double v = (double)(int64_t)(urand() * 1e5 * crate[c]);
                double r = crate[c] * (h ? 0.3 : 1);
                for (size_t i = 0; i < nts; i++) {
                    double inc = round(15 * r * (1 + 0.2 * nrand()));
                    if (r * 15 < 1)
                        inc = urand() < r * 15 ? 1 : 0;
                    v += inc > 0 ? inc : 0;
                    tser_add(s, ts[i], v);
                }
            }
        /* http_request_duration_seconds histogram */
        {
            const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"};
            double cdf[] = {0.05, 0.2, 0.5, 0.75, 0.9, 0.97, 0.995, 1};
            tseries *b[8];
            for (int k = 0; k < 8; k++)
                b[k] = add(ts_labels_from_strings(8, "__name__",
                                                  "http_request_duration_seconds_bucket",
                                                  "instance", inst, "job", "node", "le", les[k]));
            tseries *sum =
                add(ts_labels_from_strings(6, "__name__", "http_request_duration_seconds_sum",
                                           "instance", inst, "job", "node"));
            tseries *cnt =
                add(ts_labels_from_strings(6, "__name__", "http_request_duration_seconds_count",
                                           "instance", inst, "job", "node"));
            double cum[8] = {0}, sv = 0, cv = 0;
            for (size_t i = 0; i < nts; i++) {
                double n = round(15 * 40 * (1 + 0.2 * nrand()));
                if (n < 0)
                    n = 0;
                double prev = 0;
                for (int k = 0; k < 8; k++) {
                    double in = round(n * cdf[k] * (k == 7 ? 1 : 1 + 0.05 * nrand()));
                    if (in < prev)
                        in = prev;
                    if (in > n)
                        in = n;
                    cum[k] += in;
                    prev = in;
                }
                for (int k = 1; k < 8; k++)
                    if (cum[k] < cum[k - 1])
                        cum[k] = cum[k - 1];
                cv = cum[7];
                sv += n * 0.031 * (1 + 0.1 * nrand());
                for (int k = 0; k < 8; k++)
                    tser_add(b[k], ts[i], cum[k]);
                tser_add(sum, ts[i], sv);
                tser_add(cnt, ts[i], cv);
            }
        }
    }
}

static const char *
family_of(const char *name, const char **type, char *buf, size_t n)
{
    size_t len = strlen(name);
    if (strncmp(name, "http_request_duration_seconds", 29) == 0) {
        *type = "histogram";
        snprintf(buf, n, "http_request_duration_seconds");
        return buf;
    }
    if (len > 6 && strcmp(name + len - 6, "_total") == 0) {
        *type = "counter";
        snprintf(buf, n, "%.*s", (int)(len - 6), name);
        return buf;
    }
    *type = "gauge";
    snprintf(buf, n, "%s", name);
    return buf;
}

/* Writes the series as OpenMetrics, one family after another. */
static int
write_openmetrics(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    /* group by family, keeping first-seen order */
    bool *done = calloc(nall, 1);
    for (size_t i = 0; i < nall; i++) {
        if (done[i])
            continue;
        char fb[128], fb2[128];
        const char *type, *type2;
        const char *fam = family_of(ts_labels_get(all[i]->ls, "__name__"), &type, fb, sizeof(fb));
        fprintf(f, "# TYPE %s %s\n", fam, type);
        for (size_t j = i; j < nall; j++) {
            const char *fam2 =
                family_of(ts_labels_get(all[j]->ls, "__name__"), &type2, fb2, sizeof(fb2));
            if (done[j] || strcmp(fam, fam2) != 0)
                continue;
            done[j] = true;
            const ts_labels *ls = all[j]->ls;
            char lbuf[512];
            size_t o = 0;
            for (uint32_t k = 0; k < ls->n; k++) {
                if (strcmp(ls->l[k].name, "__name__") == 0)
                    continue;
                o += (size_t)snprintf(lbuf + o, sizeof(lbuf) - o, "%s%s=\"%s\"", o ? "," : "",
                                      ls->l[k].name, ls->l[k].value);
            }
            for (size_t k = 0; k < all[j]->n; k++)
                fprintf(f, "%s{%s} %.17g %lld.%03lld\n", ts_labels_get(ls, "__name__"), lbuf,
                        all[j]->s[k].v, (long long)(all[j]->s[k].t / 1000),
                        (long long)(all[j]->s[k].t % 1000));
        }
    }
    fprintf(f, "# EOF\n");
    free(done);
    return fclose(f);
}

static void
test_bytes_per_sample_vs_promtool(void)
{
    generate();
    /* BLOCK_SIZE_ONLY=prefix restricts the data to metric names with that
     * prefix (for looking at one kind of series at a time). */
    const char *only = getenv("BLOCK_SIZE_ONLY");
    if (only) {
        size_t k = 0;
        for (size_t i = 0; i < nall; i++) {
            if (strncmp(ts_labels_get(all[i]->ls, "__name__"), only, strlen(only)) == 0)
                all[k++] = all[i];
            else
                tser_free(all[i]);
        }
        nall = k;
    }
    uint64_t nsamples = 0;
    for (size_t i = 0; i < nall; i++)
        nsamples += all[i]->n;

    /* Tessera */
    const char *dir = t_tmpdir();
    char ours[512];
    snprintf(ours, sizeof(ours), "%s", dir);
    ts_block_meta m;
    ts_error err = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    T_OK(ts_block_write(ours, tset_new(all, nall, true), T0, T0 + SPAN, 0, NULL, 0, &m, &err));
    clock_gettime(CLOCK_MONOTONIC, &b);
    T_EQ(m.num_samples, nsamples);
    T_EQ(m.num_series, nall);
    char bdir[600];
    snprintf(bdir, sizeof(bdir), "%s/%s", ours, m.ulid);
    int64_t our_size = ts_fs_dir_size(bdir);
    char p[700];
    snprintf(p, sizeof(p), "%s/index", bdir);
    int64_t our_index = ts_fs_dir_size(p);

    /* the block reads back: every sample (timed: select, decompress, rebuild, decode) */
    struct timespec ra, rb;
    clock_gettime(CLOCK_MONOTONIC, &ra);
    ts_block *blk;
    T_OK(ts_block_open(bdir, &blk, &err));
    ts_querier *q;
    ts_block_querier(blk, T0, T0 + SPAN - 1, &q);
    ts_matcher *mm;
    T_OK(ts_matcher_new(&mm, TS_MATCH_RE, "__name__", ".+", &err));
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &mm, 1, &ss, &err));
    uint64_t back = 0;
    while (ts_ss_next(ss)) {
        ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
        while (ts_it_next(it) == TS_VAL_FLOAT)
            back++;
        T_EQ(ts_it_err(it), 0);
        ts_it_free(it);
    }
    T_EQ(back, nsamples);
    clock_gettime(CLOCK_MONOTONIC, &rb);
    double read_ms =
        (double)(rb.tv_sec - ra.tv_sec) * 1e3 + (double)(rb.tv_nsec - ra.tv_nsec) / 1e6;
    ts_ss_free(ss);
    ts_matcher_free(mm);
    ts_querier_close(q);
    ts_block_unref(blk);

    /* Prometheus, through the real promtool */
    const char *pdir = t_tmpdir();
    char om[600], out[600], cmd[2000];
    snprintf(om, sizeof(om), "%s/data.om", pdir);
    snprintf(out, sizeof(out), "%s/out", pdir);
    T_OK(write_openmetrics(om));
    snprintf(cmd, sizeof(cmd), "promtool tsdb create-blocks-from openmetrics %s %s >%s/log 2>&1",
             om, out, pdir);
    int st = system(cmd);
    if (st != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s/log >&2", pdir);
        (void)!system(cmd);
    }
    T_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int64_t prom_size = ts_fs_dir_size(out);
    T_TRUE(prom_size > 0);

    /* Our meta.json reader understands Prometheus' own meta.json. */
    DIR *d = opendir(out);
    T_TRUE(d != NULL);
    struct dirent *de;
    uint64_t prom_samples = 0, prom_series = 0;
    int nblocks = 0;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != TS_ULID_LEN)
            continue;
        char bd[1200];
        snprintf(bd, sizeof(bd), "%s/%s", out, de->d_name);
        ts_block_meta pm;
        ts_error merr = {0};
        if (ts__meta_read(bd, &pm, &merr) != 0) {
            fprintf(stderr, "  %s\n", merr.msg);
            nblocks = -1000;
            break;
        }
        prom_samples += pm.num_samples;
        prom_series += pm.num_series;
        if (pm.level != 1 || pm.nsources != 1 || strcmp(pm.ulid, de->d_name) != 0)
            nblocks = -1000;
        ts_block_meta_fini(&pm);
        nblocks++;
    }
    closedir(d);
    T_EQ(nblocks, 1);
    T_EQ(prom_samples, nsamples);
    T_EQ(prom_series, nall);

    double ours_bps = (double)our_size / (double)nsamples;
    double prom_bps = (double)prom_size / (double)nsamples;
    fprintf(stderr,
            "  %zu series, %llu samples\n"
            "  tessera:    %lld bytes (index %lld) = %.3f bytes/sample, written in %.0f ms, "
            "read in %.0f ms\n"
            "  prometheus: %lld bytes = %.3f bytes/sample (promtool)\n"
            "  ratio tessera/prometheus = %.3f\n",
            nall, (unsigned long long)nsamples, (long long)our_size, (long long)our_index, ours_bps,
            (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6, read_ms,
            (long long)prom_size, prom_bps, ours_bps / prom_bps);
    T_TRUE(ours_bps <= 0.8 * prom_bps);

    ts_block_meta_fini(&m);
    for (size_t i = 0; i < nall; i++)
        tser_free(all[i]);
    ts_free(all);
}

T_MAIN({"bytes_per_sample_vs_promtool", test_bytes_per_sample_vs_promtool})
