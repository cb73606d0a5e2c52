/* Tests for the parallel WAL replay of pkg/tsdb/db.c: opening a WAL with
 * sample-appending workers gives exactly the head a serial replay gives.
 *
 * The WAL is written record by record (pkg/tsdb/record + pkg/tsdb/wal), so
 * it holds what a live head never writes but a replay must handle: series
 * records interleaved with samples records, samples of refs whose series
 * record comes later (dropped) or never, the same labels under a second ref
 * (its samples go to the first), out-of-order samples, exact duplicates,
 * duplicates with another value, stale NaNs, and records larger than a
 * worker's batch.  It is opened serially (replay_workers < 0) and with 1, 2,
 * 3 and 8 workers; every series' samples (timestamps and value bits) and the
 * head's counters must be identical. */
#include "pkg/tsdb/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/labels/matcher.h"
#include "pkg/tsdb/record/record.h"
#include "pkg/tsdb/wal/wal.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#define NSERIES 3000
#define NALIAS 50  /* series logged again under a second ref */
#define NROUNDS 40 /* scrape-like rounds of samples */
#define STALE_NAN_BITS 0x7ff0000000000002ULL

/* xorshift64: the same WAL for every variant */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static ts_labels *
labels_of(int i)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    return ts_labels_from_strings(6, "__name__", "replay_metric", "job", "pr", "i", v);
}

static int
log_series(ts_wal *w, const uint64_t *refs, const int *idx, size_t n)
{
    ts_record_series *s = ts_calloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        s[i].ref = refs[i];
        s[i].labels = labels_of(idx[i]);
    }
    ts_buf b;
    ts_buf_init(&b, 0);
    int rc = ts_record_encode_series(&b, s, n);
    if (rc == TS_OK)
        rc = ts_wal_log(w, b.p, b.len);
    ts_buf_fini(&b);
    for (size_t i = 0; i < n; i++)
        ts_labels_free((ts_labels *)s[i].labels);
    ts_free(s);
    return rc;
}

static int
log_samples(ts_wal *w, const ts_record_sample *s, size_t n)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    int rc = ts_record_encode_samples(&b, s, n);
    if (rc == TS_OK)
        rc = ts_wal_log(w, b.p, b.len);
    ts_buf_fini(&b);
    return rc;
}

/* Writes the test WAL into dir/wal. */
static int
write_wal(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/wal", dir);
    ts_wal_opts wo;
    ts_wal_opts_default(&wo);
    wo.fsync_interval_ms = -1;
    wo.segment_size = 256 * 1024; /* several segments */
    ts_wal *w;
    ts_error err = {0};
    int rc = ts_wal_open(path, &wo, NULL, NULL, &w, &err);
    if (rc != TS_OK)
        return rc;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    int64_t last_t[NSERIES + 1];
    for (int i = 0; i <= NSERIES; i++)
        last_t[i] = 1000000 + i;
    size_t cap = (NSERIES + NALIAS) * 3;
    ts_record_sample *smp = ts_calloc(cap, sizeof(*smp));
    uint64_t refs[256];
    int idx[256];
    int created = 0; /* series 1..created have a record; ref of series i is i */
    int aliased = 0; /* series 1..aliased also have ref NSERIES + i */
    for (int round = 0; round < NROUNDS && rc == TS_OK; round++) {
        /* a few series records of random size */
        int batches = (int)(rnd(&seed) % 4);
        for (int b = 0; b < batches && created < NSERIES && rc == TS_OK; b++) {
            size_t n = 1 + rnd(&seed) % 200;
            size_t k = 0;
            while (k < n && created < NSERIES) {
                created++;
                refs[k] = (uint64_t)created;
                idx[k++] = created;
            }
            /* the same labels again under a new ref, now and then */
            if (aliased < NALIAS && aliased < created && rnd(&seed) % 2 == 0 && k < 256) {
                aliased++;
                refs[k] = (uint64_t)(NSERIES + aliased);
                idx[k++] = aliased;
            }
            rc = log_series(w, refs, idx, k);
        }
        /* one samples record per round: every created series, in random
         * rotations, some twice; plus aliases and unknown refs */
        size_t n = 0;
        int start = created ? (int)(rnd(&seed) % (uint64_t)created) : 0;
        for (int j = 0; j < created + 20 && n + 3 < cap; j++) {
            int i = created ? 1 + (start + j) % created : 0;
            uint64_t ref = (uint64_t)i;
            if (j >= created) /* refs with no series record (yet) */
                ref = (uint64_t)(created + 1 + rnd(&seed) % 100);
            if (i == 0)
                continue;
            uint64_t r = rnd(&seed) % 100;
            int64_t t;
            if (r < 3)
                t = last_t[i] - 1 - (int64_t)(rnd(&seed) % 5000); /* out of order */
            else if (r < 6)
                t = last_t[i]; /* duplicate timestamp */
            else
                t = last_t[i] + 15000 + (int64_t)(rnd(&seed) % 3) - 1;
            if (t > last_t[i] && j < created)
                last_t[i] = t;
            double v = (double)(rnd(&seed) % 1000);
            if (r == 50) {
                uint64_t bits = STALE_NAN_BITS;
                memcpy(&v, &bits, sizeof(v));
            }
            smp[n++] = (ts_record_sample){.ref = ref, .t = t, .v = v};
            if (r == 7) { /* exact duplicate of the sample just logged */
                smp[n] = smp[n - 1];
                n++;
            }
            if (i <= aliased && r % 10 == 8) /* the alias ref of this series */
                smp[n++] =
                    (ts_record_sample){.ref = (uint64_t)(NSERIES + i), .t = t + 1, .v = v + 1};
        }
        if (n > 0 && rc == TS_OK)
            rc = log_samples(w, smp, n);
    }
    ts_free(smp);
    ts_wal_close(w);
    return rc;
}

/* Appends "labels t:vbits ..." for every series of the head to out, in
 * label order. */
static int
dump_head(ts_db *db, ts_buf *out)
{
    ts_querier *q;
    int rc = ts_queryable_querier(ts_db_queryable(db), INT64_MIN, INT64_MAX, &q);
    if (rc)
        return rc;
    ts_matcher *m;
    ts_error err = {0};
    ts_matcher_new(&m, TS_MATCH_EQ, "job", "pr", &err);
    ts_series_set *ss;
    rc = q->ops->select(q, true, NULL, &m, 1, &ss, &err);
    if (rc == 0) {
        char line[128];
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            ts_labels_format(s->labels, line, sizeof(line));
            ts_buf_put(out, line, strlen(line));
            ts_iterator *it = s->ops->iterator(s);
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                uint64_t bits;
                ts_it_at(it, &t, &v);
                memcpy(&bits, &v, sizeof(bits));
                int k = snprintf(line, sizeof(line), " %" PRId64 ":%016" PRIx64, t, bits);
                ts_buf_put(out, line, (size_t)k);
            }
            if (ts_it_err(it))
                rc = ts_it_err(it);
            ts_it_free(it);
            ts_buf_putc(out, '\n');
        }
        if (ss->error.code)
            rc = ss->error.code;
        ts_ss_free(ss);
    }
    ts_matcher_free(m);
    ts_querier_close(q);
    return rc;
}

typedef struct replay_result {
    ts_buf dump;
    ts_db_stats st;
} replay_result;

static int
open_and_dump(int workers, replay_result *r)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/w%d", t_tmpdir(), workers);
    int rc = write_wal(dir);
    if (rc != TS_OK)
        return rc;
    ts_db_opts o;
    ts_db_opts_default(&o);
    o.wal_fsync_interval_ms = -1;
    o.replay_workers = workers;
    ts_db *db;
    ts_error err = {0};
    if ((rc = ts_db_open(dir, &o, &db, &err)) != TS_OK)
        return rc;
    ts_buf_init(&r->dump, 0);
    rc = dump_head(db, &r->dump);
    ts_db_stats_get(db, &r->st);
    ts_db_close(db);
    return rc;
}

static void
test_parallel_equals_serial(void)
{
    replay_result serial;
    T_OK(open_and_dump(-1, &serial));
    /* the WAL exercises what it should */
    T_EQ(serial.st.head.num_series, NSERIES);
    T_TRUE(serial.st.head.num_samples > 50000);
    T_TRUE(serial.st.head.out_of_order_total > 0);
    T_TRUE(serial.st.head.duplicate_total > 0);
    T_TRUE(serial.st.wal_samples_dropped_on_replay > 0); /* unknown refs */
    T_TRUE(serial.dump.len > 0);

    const int variants[] = {1, 2, 3, 8, 0};
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        replay_result par;
        T_OK(open_and_dump(variants[i], &par));
        T_EQ(par.dump.len, serial.dump.len);
        T_TRUE(par.dump.len == serial.dump.len &&
               memcmp(par.dump.p, serial.dump.p, par.dump.len) == 0);
        T_EQ(par.st.head.num_series, serial.st.head.num_series);
        T_EQ(par.st.head.num_samples, serial.st.head.num_samples);
        T_EQ(par.st.head.num_chunks, serial.st.head.num_chunks);
        T_EQ(par.st.head.mint, serial.st.head.mint);
        T_EQ(par.st.head.maxt, serial.st.head.maxt);
        T_EQ(par.st.head.appended_total, serial.st.head.appended_total);
        T_EQ(par.st.head.out_of_order_total, serial.st.head.out_of_order_total);
        T_EQ(par.st.head.duplicate_total, serial.st.head.duplicate_total);
        T_EQ(par.st.head.too_old_total, serial.st.head.too_old_total);
        T_EQ(par.st.wal_samples_dropped_on_replay, serial.st.wal_samples_dropped_on_replay);
        ts_buf_fini(&par.dump);
    }
    ts_buf_fini(&serial.dump);
}

T_MAIN({"parallel_equals_serial", test_parallel_equals_serial})
