/*
 * crash_writer: the process the crash test kills.
 *
 *   crash_writer write  DIR NSERIES STEP_MS
 *       Opens the TSDB in DIR (block range 5 min of sample time, so head
 *       compaction, WAL checkpoints and block merges happen while it runs),
 *       continues each series after the newest sample already stored, and
 *       appends one sample per series per batch, t advancing by STEP_MS.
 *       After each successful commit it prints the batch's timestamp
 *       ("committed T") and flushes stdout (and before the first batch
 *       "start T": the data found ends at T - STEP); every 50 batches it runs
 *       ts_db_compact.  Runs until killed.
 *   crash_writer verify DIR NSERIES STEP_MS EXPECTED [lenient]
 *       Opens DIR and checks every series: samples at 0, STEP, 2*STEP, ...
 *       without gaps and with the right values (v = series * 1e6 + t / STEP).
 *       Strict mode: the last sample is EXPECTED (the last timestamp the
 *       writer reported; -1 = none) or EXPECTED + STEP (committed but killed
 *       before it could print), and all series end at the same timestamp.
 *       lenient (after the test damaged the WAL on purpose): only the
 *       no-gaps/right-values prefix property is checked.
 *       Prints "verified series=N last=T" and exits 0, or the problems and 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/labels/matcher.h"
#include "pkg/tsdb/db.h"
#include "pkg/util/log.h"

/* A decimal integer in [min, max] that is all of s (the checked atoi). */
static bool
parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static double
value_for(int series, int64_t t, int64_t step)
{
    return series * 1e6 + (double)(t / step);
}

static ts_labels *
series_labels(int i)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    return ts_labels_from_strings(6, "__name__", "crash_test_metric", "job", "crash", "series", v);
}

/* Per-series last timestamp (-1 = no samples) and sample checks. */
static int
scan(ts_db *db, int nseries, int64_t step, int64_t *last, int *problems)
{
    for (int i = 0; i < nseries; i++)
        last[i] = -1;
    ts_querier *q;
    int rc = ts_queryable_querier(ts_db_queryable(db), INT64_MIN / 2, INT64_MAX / 2, &q);
    if (rc)
        return rc;
    ts_matcher *m;
    ts_error err;
    ts_matcher_new(&m, TS_MATCH_EQ, "job", "crash", &err);
    ts_series_set *ss;
    rc = q->ops->select(q, true, NULL, &m, 1, &ss, &err);
    if (rc == 0) {
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            const char *sv = ts_labels_get(s->labels, "series");
            long long parsed = -1;
            if (!sv || !parse_ll(sv, 0, INT32_MAX, &parsed))
                parsed = -1;
            int idx = (int)parsed;
            if (idx < 0 || idx >= nseries) {
                printf("unexpected series %s\n", sv ? sv : "(none)");
                (*problems)++;
                continue;
            }
            ts_iterator *it = s->ops->iterator(s);
            int64_t want = 0;
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                if (t != want) {
                    if (*problems < 20)
                        printf("series %d: sample at %" PRId64 ", expected %" PRId64 "\n", idx, t,
                               want);
                    (*problems)++;
                } else if (v != value_for(idx, t, step)) {
                    if (*problems < 20)
                        printf("series %d: t=%" PRId64 " value %.17g, expected %.17g\n", idx, t, v,
                               value_for(idx, t, step));
                    (*problems)++;
                }
                last[idx] = t;
                want = t + step;
            }
            if (ts_it_err(it)) {
                printf("series %d: iterator error %s\n", idx, ts_strerror(ts_it_err(it)));
                (*problems)++;
            }
            ts_it_free(it);
        }
        if (ss->error.code) {
            printf("series set error: %s\n", ss->error.msg);
            rc = ss->error.code;
        }
        ts_ss_free(ss);
    }
    ts_matcher_free(m);
    ts_querier_close(q);
    return rc;
}

static void
opts_for_test(ts_db_opts *o)
{
    ts_db_opts_default(o);
    o->block_range_ms = 5 * 60 * 1000;
    o->retention_ms = 0; /* keep everything: the verifier checks it all */
    o->wal_segment_size = 256 * 1024;
}

static int
do_write(const char *dir, int nseries, int64_t step)
{
    ts_db_opts o;
    opts_for_test(&o);
    ts_db *db;
    ts_error err = {0};
    int rc = ts_db_open(dir, &o, &db, &err);
    if (rc) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    int64_t *last = calloc((size_t)nseries, sizeof(int64_t));
    int problems = 0;
    if ((rc = scan(db, nseries, step, last, &problems)) != 0) {
        fprintf(stderr, "scan: %s\n", ts_strerror(rc));
        return 1;
    }
    int64_t t = 0;
    for (int i = 0; i < nseries; i++)
        if (last[i] >= 0 && last[i] + step > t)
            t = last[i] + step;
    /* What was found is durable (verify checks it has no gaps): tell the
     * driver, so a commit this run makes before it can print counts. */
    printf("start %" PRId64 "\n", t);
    fflush(stdout);
    ts_labels **ls = calloc((size_t)nseries, sizeof(*ls));
    for (int i = 0; i < nseries; i++)
        ls[i] = series_labels(i);
    uint64_t *refs = calloc((size_t)nseries, sizeof(uint64_t));
    for (long batch = 1;; batch++, t += step) {
        ts_appender *app = ts_db_appender(db);
        for (int i = 0; i < nseries && rc == 0; i++)
            rc = app->ops->append(app, refs[i], ls[i], t, value_for(i, t, step), &refs[i]);
        if (rc != 0) {
            app->ops->rollback(app);
            fprintf(stderr, "append t=%" PRId64 ": %s\n", t, ts_strerror(rc));
            return 1;
        }
        if ((rc = app->ops->commit(app)) != 0) {
            fprintf(stderr, "commit t=%" PRId64 ": %s\n", t, ts_strerror(rc));
            return 1;
        }
        printf("committed %" PRId64 "\n", t);
        fflush(stdout);
        if (batch % 50 == 0 && (rc = ts_db_compact(db, &err)) != 0) {
            fprintf(stderr, "compact: %s\n", err.msg);
            return 1;
        }
        usleep(500);
    }
}

static int
do_verify(const char *dir, int nseries, int64_t step, int64_t expected, int lenient)
{
    ts_db_opts o;
    opts_for_test(&o);
    ts_db *db;
    ts_error err = {0};
    int rc = ts_db_open(dir, &o, &db, &err);
    if (rc) {
        printf("open failed: %s\n", err.msg);
        return 1;
    }
    int64_t *last = calloc((size_t)nseries, sizeof(int64_t));
    int problems = 0;
    rc = scan(db, nseries, step, last, &problems);
    if (rc) {
        printf("scan failed: %s\n", ts_strerror(rc));
        problems++;
    }
    for (int i = 0; i < nseries && !lenient; i++) {
        if (last[i] != last[0]) {
            printf("series %d ends at %" PRId64 ", series 0 at %" PRId64 "\n", i, last[i], last[0]);
            problems++;
        }
        int64_t next = expected < 0 ? 0 : expected + step;
        if (last[i] != expected && last[i] != next) {
            printf("series %d ends at %" PRId64 ", but the writer reported %" PRId64
                   " as committed\n",
                   i, last[i], expected);
            problems++;
        }
    }
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    printf("%s series=%d last=%" PRId64 " expected=%" PRId64 " blocks=%zu head_series=%" PRIu64
           " wal_segments=%d-%d wal_repairs=%" PRIu64 " problems=%d\n",
           problems ? "FAILED" : "verified", nseries, last[0], expected, st.num_blocks,
           st.head.num_series, st.wal_first_segment, st.wal_last_segment, st.wal_repairs, problems);
    ts_db_close(db);
    free(last);
    return problems ? 1 : 0;
}

int
main(int argc, char **argv)
{
    long long nseries, step, expected = 0;
    bool args_ok = argc >= 5 && parse_ll(argv[3], 1, INT32_MAX, &nseries) &&
                   parse_ll(argv[4], 1, INT64_MAX / 4, &step) &&
                   (argc < 6 || parse_ll(argv[5], -1, INT64_MAX, &expected));
    if (argc >= 5 && !args_ok) {
        fprintf(stderr, "crash_writer: NSERIES and STEP_MS must be positive integers, "
                        "EXPECTED >= -1\n");
        return 2;
    }
    if (argc >= 5 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], (int)nseries, step);
    if (argc >= 6 && strcmp(argv[1], "verify") == 0)
        return do_verify(argv[2], (int)nseries, step, expected,
                         argc > 6 && strcmp(argv[6], "lenient") == 0);
    fprintf(stderr, "usage: crash_writer write DIR NSERIES STEP_MS\n"
                    "       crash_writer verify DIR NSERIES STEP_MS EXPECTED [lenient]\n");
    return 2;
}
