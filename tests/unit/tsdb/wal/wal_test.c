/* Tests for pkg/tsdb/wal: round trips, torn and garbled tails, repair of
 * earlier segments, checkpoints. */
#include "pkg/tsdb/wal/wal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/tsdb/record/record.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "tests/testutil/t.h"

/* ----------------------------------------------------------------- helpers */

/* Deterministic record i: varied lengths, half of them compressible. */
static size_t
make_rec(int i, uint8_t *buf)
{
    size_t n = 1 + (size_t)((i * 37) % 300);
    for (size_t j = 0; j < n; j++)
        buf[j] = (i % 2) ? (uint8_t)(i * 131 + j * j * 7 + (j >> 3)) : (uint8_t)(i & 0x3f);
    return n;
}

typedef struct collected {
    uint8_t **recs;
    size_t *lens;
    size_t n, cap;
} collected;

static int
collect(void *ctx, const uint8_t *rec, size_t n)
{
    collected *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
        c->lens = realloc(c->lens, c->cap * sizeof(*c->lens));
    }
    c->recs[c->n] = malloc(n);
    memcpy(c->recs[c->n], rec, n);
    c->lens[c->n++] = n;
    return 0;
}

static void
collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->recs[i]);
    free(c->recs);
    free(c->lens);
    memset(c, 0, sizeof(*c));
}

/* Whether c holds exactly records from..to-1 of make_rec. */
static int
is_sequence(const collected *c, int from, int to)
{
    if ((int)c->n != to - from)
        return 0;
    uint8_t buf[512];
    for (int i = from; i < to; i++) {
        size_t n = make_rec(i, buf);
        if (c->lens[i - from] != n || memcmp(c->recs[i - from], buf, n) != 0)
            return 0;
    }
    return 1;
}

static ts_wal_opts
small_opts(bool compress)
{
    ts_wal_opts o;
    ts_wal_opts_default(&o);
    o.segment_size = 16384;
    o.fsync_interval_ms = -1;
    o.compress = compress;
    return o;
}

static int
write_recs(const char *dir, const ts_wal_opts *o, int from, int to)
{
    ts_wal *w;
    ts_error err;
    int rc = ts_wal_open(dir, o, NULL, NULL, &w, &err);
    if (rc)
        return rc;
    uint8_t buf[512];
    for (int i = from; i < to && rc == 0; i++) {
        size_t n = make_rec(i, buf);
        rc = ts_wal_log(w, buf, n);
    }
    ts_wal_close(w);
    return rc;
}

static int
read_all(const char *dir, const ts_wal_opts *o, collected *c)
{
    ts_wal *w;
    ts_error err;
    int rc = ts_wal_open(dir, o, collect, c, &w, &err);
    if (rc == 0)
        ts_wal_close(w);
    return rc;
}

static int
count_segments(const char *dir, int *last)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    *last = -1;
    while ((e = readdir(d)) != NULL) {
        int idx = t_parse_index(e->d_name);
        if (strlen(e->d_name) == 8 && idx >= 0) {
            n++;
            if (idx > *last)
                *last = idx;
        }
    }
    closedir(d);
    return n;
}

static off_t
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The last non-empty segment (open() leaves an empty one after each close). */
static void
last_data_segment(const char *dir, char *path, size_t n)
{
    int last;
    count_segments(dir, &last);
    for (int i = last; i >= 0; i--) {
        snprintf(path, n, "%s/%08d", dir, i);
        if (file_size(path) > 0)
            return;
    }
}

/* ------------------------------------------------------------------- tests */

static void
test_roundtrip_segments(void)
{
    for (int compress = 0; compress <= 1; compress++) {
        const char *dir = t_tmpdir();
        ts_wal_opts o = small_opts(compress);
        T_OK(write_recs(dir, &o, 0, 3000));
        T_OK(write_recs(dir, &o, 3000, 4000)); /* second run appends to a new segment */
        int last;
        int nseg = count_segments(dir, &last);
        T_TRUE(nseg > 10); /* crossed many segment boundaries */
        collected c = {0};
        T_OK(read_all(dir, &o, &c));
        T_TRUE(is_sequence(&c, 0, 4000));
        collected_free(&c);
        /* no segment exceeds the limit */
        for (int i = 0; i <= last; i++) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%08d", dir, i);
            T_TRUE(file_size(p) <= 16384);
        }
    }
}

static void
test_log_many_and_limits(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(true);
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(dir, &o, NULL, NULL, &w, &err));
    uint8_t b[3][512];
    const uint8_t *recs[3] = {b[0], b[1], b[2]};
    size_t lens[3];
    for (int i = 0; i < 3; i++)
        lens[i] = make_rec(i, b[i]);
    T_OK(ts_wal_log_many(w, recs, lens, 3));
    T_EQ(ts_wal_log(w, b[0], 0), TS_EINVAL);
    uint8_t *big = calloc(1, TS_WAL_MAX_RECORD + 1);
    T_EQ(ts_wal_log(w, big, TS_WAL_MAX_RECORD + 1), TS_ELIMIT);
    free(big);
    ts_wal_stats st;
    ts_wal_stats_get(w, &st);
    T_EQ(st.records_written, 3);
    ts_wal_close(w);
    collected c = {0};
    T_OK(read_all(dir, &o, &c));
    T_TRUE(is_sequence(&c, 0, 3));
    collected_free(&c);
}

/* A write that fails part-way (a full disk; here the file-size limit, which
 * makes write(2) write what fits and then fail with EFBIG) is cut back, in
 * length and file offset: the next writes follow the last good frame, and
 * replay finds every record that was logged successfully, with no repair.
 * (Cutting the length alone left the offset past the end, and the next write
 * left a hole of zeros that replay took for damage.) */
static void
test_failed_write_cut_back(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(true);
    o.segment_size = 1 << 20; /* no rotation */
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(dir, &o, NULL, NULL, &w, &err));
    uint8_t buf[512];
    for (int i = 0; i < 50; i++)
        T_OK(ts_wal_log(w, buf, make_rec(i, buf)));
    int first, last;
    ts_wal_segments(w, &first, &last);
    char seg[512];
    snprintf(seg, sizeof(seg), "%s/%08d", dir, last);
    off_t size = file_size(seg);
    T_TRUE(size > 0);

    /* a batch of 10 records (> 1 KiB) against a limit 100 bytes away */
    uint8_t b[10][512];
    const uint8_t *recs[10];
    size_t lens[10];
    for (int i = 0; i < 10; i++) {
        lens[i] = make_rec(50 + i, b[i]);
        recs[i] = b[i];
    }
    struct rlimit old, lim;
    T_OK(getrlimit(RLIMIT_FSIZE, &old));
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 100;
    T_OK(setrlimit(RLIMIT_FSIZE, &lim));
    int rc = ts_wal_log_many(w, recs, lens, 10);
    T_OK(setrlimit(RLIMIT_FSIZE, &old));
    signal(SIGXFSZ, prev);
    T_TRUE(rc != TS_OK);
    T_EQ(file_size(seg), size); /* the partial frames are gone */

    /* room again: the same records, then more */
    T_OK(ts_wal_log_many(w, recs, lens, 10));
    for (int i = 60; i < 100; i++)
        T_OK(ts_wal_log(w, buf, make_rec(i, buf)));
    ts_wal_close(w);
    collected c = {0};
    T_OK(ts_wal_open(dir, &o, collect, &c, &w, &err));
    ts_wal_stats st;
    ts_wal_stats_get(w, &st);
    ts_wal_close(w);
    T_EQ(st.repairs, 0);
    T_TRUE(is_sequence(&c, 0, 100));
    collected_free(&c);
}

/* Cut the last record at every byte offset: open works, keeps all earlier
 * records, and appending continues after the cut. */
static void
test_torn_tail_every_offset(void)
{
    int saved = ts_log_level;
    ts_log_level = TS_LOG_ERROR; /* hundreds of expected warnings */
    for (int compress = 0; compress <= 1; compress++) {
        ts_wal_opts o = small_opts(compress);
        const char *base = t_tmpdir();
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/w", base);
        /* frame size of the last record (#49) */
        T_OK(write_recs(dir, &o, 0, 49));
        char seg[600];
        last_data_segment(dir, seg, sizeof(seg));
        off_t before = file_size(seg);
        T_OK(ts_fs_remove_all(dir));
        T_OK(write_recs(dir, &o, 0, 50));
        last_data_segment(dir, seg, sizeof(seg));
        off_t after = file_size(seg);
        T_TRUE(after > before);
        for (off_t cut = before; cut < after; cut++) {
            T_OK(ts_fs_remove_all(dir));
            T_OK(write_recs(dir, &o, 0, 50));
            T_OK(truncate(seg, cut));
            collected c = {0};
            T_OK(read_all(dir, &o, &c));
            T_TRUE(is_sequence(&c, 0, 49));
            collected_free(&c);
            T_EQ(file_size(seg), before); /* repaired */
            /* keeps working: append record 49 again and read everything */
            T_OK(write_recs(dir, &o, 49, 51));
            T_OK(read_all(dir, &o, &c));
            T_TRUE(is_sequence(&c, 0, 51));
            collected_free(&c);
        }
    }
    ts_log_level = saved;
}

static void
test_zero_filled_tail(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(true);
    T_OK(write_recs(dir, &o, 0, 100));
    char seg[600];
    last_data_segment(dir, seg, sizeof(seg));
    off_t size = file_size(seg);
    T_OK(truncate(seg, size + 8192)); /* zeros, like a preallocated or lost page */
    collected c = {0};
    T_OK(read_all(dir, &o, &c));
    T_TRUE(is_sequence(&c, 0, 100));
    collected_free(&c);
    T_EQ(file_size(seg), size);
}

/* Garbage over the last 4 KiB "page": opens, yields a prefix, continues. */
static void
test_garbled_last_page(void)
{
    uint64_t seed = 12345;
    for (int round = 0; round < 20; round++) {
        const char *dir = t_tmpdir();
        ts_wal_opts o = small_opts(round & 1);
        o.segment_size = 1 << 20;
        T_OK(write_recs(dir, &o, 0, 400));
        char seg[600];
        last_data_segment(dir, seg, sizeof(seg));
        off_t size = file_size(seg);
        T_TRUE(size > 8192);
        int fd = open(seg, O_WRONLY);
        T_TRUE(fd >= 0);
        off_t page = (size - 1) / 4096 * 4096;
        /* round 0..9: random bytes at random spots of the last page;
         * round 10..19: the whole last page replaced */
        int nbytes = round < 10 ? 1 + round : (int)(size - page);
        for (int k = 0; k < nbytes; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            off_t at =
                round < 10 ? page + (off_t)((seed >> 33) % (uint64_t)(size - page)) : page + k;
            uint8_t v = (uint8_t)(seed >> 17) | 1;
            T_EQ(pwrite(fd, &v, 1, at), 1);
        }
        close(fd);
        collected c = {0};
        T_OK(read_all(dir, &o, &c));
        T_TRUE(c.n < 400);
        T_TRUE(is_sequence(&c, 0, (int)c.n));
        /* everything wholly before the damaged page survives: at least
         * page / max frame size (309 bytes) records */
        T_TRUE(c.n >= (size_t)(page / 309));
        size_t kept = c.n;
        collected_free(&c);
        T_OK(write_recs(dir, &o, (int)kept, (int)kept + 10));
        T_OK(read_all(dir, &o, &c));
        T_TRUE(is_sequence(&c, 0, (int)kept + 10));
        collected_free(&c);
    }
}

/* Damage in an earlier segment: truncated there, later segments deleted. */
static void
test_corrupt_middle_segment(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(false);
    T_OK(write_recs(dir, &o, 0, 1000));
    int last;
    int nseg = count_segments(dir, &last);
    T_TRUE(nseg >= 6);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/%08d", dir, 2);
    int fd = open(seg, O_WRONLY);
    uint8_t junk[16];
    memset(junk, 0x5a, sizeof(junk));
    T_EQ(pwrite(fd, junk, sizeof(junk), 5000), 16);
    close(fd);
    collected c = {0};
    T_OK(read_all(dir, &o, &c));
    T_TRUE(c.n > 0 && c.n < 1000);
    T_TRUE(is_sequence(&c, 0, (int)c.n));
    collected_free(&c);
    T_TRUE(file_size(seg) <= 5000);
    /* segments 3.. are gone except the fresh ones created by the opens */
    int newlast;
    count_segments(dir, &newlast);
    char p[600];
    snprintf(p, sizeof(p), "%s/%08d", dir, 3);
    T_EQ(file_size(p), 0); /* re-created empty by the reopen, not the old data */
    T_TRUE(newlast <= 4);
}

/* A gap in the numbering counts as damage too. */
static void
test_missing_segment(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(false);
    T_OK(write_recs(dir, &o, 0, 1000));
    char p[600];
    snprintf(p, sizeof(p), "%s/%08d", dir, 3);
    T_OK(unlink(p));
    collected c = {0};
    T_OK(read_all(dir, &o, &c));
    T_TRUE(c.n > 0 && c.n < 1000);
    T_TRUE(is_sequence(&c, 0, (int)c.n));
    collected_free(&c);
    /* the reopen started a fresh segment 3 (empty); 4.. were deleted */
    snprintf(p, sizeof(p), "%s/%08d", dir, 3);
    T_EQ(file_size(p), 0);
    snprintf(p, sizeof(p), "%s/%08d", dir, 4);
    T_FALSE(ts_fs_exists(p));
}

/* ------------------------------------------------------------- checkpoints */

static bool
keep_even(void *ctx, uint64_t ref)
{
    (void)ctx;
    return ref % 2 == 0;
}

typedef struct replayed {
    int series[11];
    int samples[11][200];
    int other;
    int order_ok;
} replayed;

static int
replay_decode(void *ctx, const uint8_t *rec, size_t n)
{
    replayed *r = ctx;
    ts_arena a;
    ts_arena_init(&a, 0);
    if (ts_record_type(rec, n) == TS_REC_SERIES) {
        ts_record_series *s;
        size_t k;
        if (ts_record_decode_series(rec, n, &a, &s, &k) == 0)
            for (size_t i = 0; i < k; i++)
                r->series[s[i].ref]++;
    } else if (ts_record_type(rec, n) == TS_REC_SAMPLES) {
        ts_record_sample *s;
        size_t k;
        if (ts_record_decode_samples(rec, n, &a, &s, &k) == 0)
            for (size_t i = 0; i < k; i++) {
                if (s[i].ref % 2 == 0 && !r->series[s[i].ref])
                    r->order_ok = 0; /* a kept series' sample before its series record */
                r->samples[s[i].ref][s[i].t]++;
            }
    } else {
        r->other++;
    }
    ts_arena_fini(&a);
    return 0;
}

static void
log_series_and_samples(ts_wal *w, int t0, int t1, bool with_series)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    if (with_series) {
        ts_labels *ls[11];
        ts_record_series s[10];
        for (int r = 1; r <= 10; r++) {
            char v[8];
            snprintf(v, sizeof(v), "%d", r);
            ls[r] = ts_labels_from_strings(2, "__name__", v);
            s[r - 1] = (ts_record_series){(uint64_t)r, ls[r]};
        }
        ts_record_encode_series(&b, s, 10);
        ts_wal_log(w, b.p, b.len);
        for (int r = 1; r <= 10; r++)
            ts_labels_free(ls[r]);
    }
    for (int t = t0; t < t1; t++) {
        ts_record_sample s[10];
        for (int r = 1; r <= 10; r++)
            s[r - 1] = (ts_record_sample){(uint64_t)r, t, t * 1.0};
        ts_buf_reset(&b);
        ts_record_encode_samples(&b, s, 10);
        ts_wal_log(w, b.p, b.len);
    }
    ts_buf_fini(&b);
}

static void
test_checkpoint(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(true);
    o.segment_size = 4096;
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(dir, &o, NULL, NULL, &w, &err));
    log_series_and_samples(w, 0, 100, true);
    const uint8_t other[] = {0x77, 1, 2, 3};
    T_OK(ts_wal_log(w, other, sizeof(other)));
    int cur = ts_wal_cut(w);
    T_TRUE(cur > 1);
    T_EQ(ts_wal_checkpoint(w, cur, keep_even, NULL, 50, &err), TS_EINVAL); /* being written */
    T_OK(ts_wal_checkpoint(w, cur - 1, keep_even, NULL, 50, &err));
    int first, last;
    ts_wal_segments(w, &first, &last);
    T_EQ(first, cur);
    T_EQ(last, cur);
    log_series_and_samples(w, 100, 150, false);
    ts_wal_close(w);

    char p[600];
    snprintf(p, sizeof(p), "%s/checkpoint.%08d", dir, cur - 1);
    T_TRUE(ts_fs_exists(p));
    snprintf(p, sizeof(p), "%s/%08d", dir, cur - 1);
    T_FALSE(ts_fs_exists(p));
    snprintf(p, sizeof(p), "%s/%08d", dir, 0);
    T_FALSE(ts_fs_exists(p));

    replayed *r = calloc(1, sizeof(*r));
    r->order_ok = 1;
    T_OK(ts_wal_open(dir, &o, replay_decode, r, &w, &err));
    for (int ref = 1; ref <= 10; ref++) {
        T_EQ(r->series[ref], ref % 2 == 0);
        for (int t = 0; t < 150; t++) {
            int want = (t >= 100) || (ref % 2 == 0 && t >= 50);
            T_EQ(r->samples[ref][t], want);
        }
    }
    T_EQ(r->other, 1); /* unknown record types are carried over */
    T_TRUE(r->order_ok);

    /* a second checkpoint replaces the first and covers its records */
    int cur2 = ts_wal_cut(w);
    T_OK(ts_wal_checkpoint(w, cur2 - 1, keep_even, NULL, 120, &err));
    ts_wal_close(w);
    snprintf(p, sizeof(p), "%s/checkpoint.%08d", dir, cur - 1);
    T_FALSE(ts_fs_exists(p));
    memset(r, 0, sizeof(*r));
    r->order_ok = 1;
    T_OK(ts_wal_open(dir, &o, replay_decode, r, &w, &err));
    for (int ref = 1; ref <= 10; ref++) {
        T_EQ(r->series[ref], ref % 2 == 0);
        for (int t = 0; t < 150; t++)
            T_EQ(r->samples[ref][t], ref % 2 == 0 && t >= 120);
    }
    T_TRUE(r->order_ok);
    ts_wal_close(w);
    free(r);
}

/* Leftovers of a crash during checkpointing are cleaned up on open. */
static void
test_checkpoint_leftovers(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(false);
    o.segment_size = 4096;
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(dir, &o, NULL, NULL, &w, &err));
    log_series_and_samples(w, 0, 100, true);
    int cur = ts_wal_cut(w);
    T_OK(ts_wal_checkpoint(w, cur - 1, keep_even, NULL, 0, &err));
    ts_wal_close(w);
    /* an unfinished newer checkpoint, and a covered segment that should have
     * been deleted */
    char p[600];
    snprintf(p, sizeof(p), "%s/checkpoint.%08d.tmp", dir, cur + 5);
    T_OK(ts_fs_mkdir_all(p, 0755));
    snprintf(p, sizeof(p), "%s/%08d", dir, cur - 1);
    T_OK(ts_fs_write_file_atomic(p, "junk", 4));
    replayed *r = calloc(1, sizeof(*r));
    r->order_ok = 1;
    T_OK(ts_wal_open(dir, &o, replay_decode, r, &w, &err));
    ts_wal_close(w);
    T_FALSE(ts_fs_exists(p));
    snprintf(p, sizeof(p), "%s/checkpoint.%08d.tmp", dir, cur + 5);
    T_FALSE(ts_fs_exists(p));
    T_EQ(r->samples[2][99], 1);
    T_EQ(r->samples[3][99], 0);
    free(r);
}

static void
test_background_fsync(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(true);
    o.fsync_interval_ms = 10;
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(dir, &o, NULL, NULL, &w, &err));
    uint8_t buf[512];
    size_t n = make_rec(1, buf);
    T_OK(ts_wal_log(w, buf, n));
    ts_wal_stats st = {0};
    for (int i = 0; i < 200 && st.fsyncs == 0; i++) {
        usleep(5000);
        ts_wal_stats_get(w, &st);
    }
    T_TRUE(st.fsyncs >= 1);
    ts_wal_close(w);
}

static int
fail_replay(void *ctx, const uint8_t *rec, size_t n)
{
    (void)ctx;
    (void)rec;
    (void)n;
    return TS_EINVAL;
}

static void
test_replay_error_propagates(void)
{
    const char *dir = t_tmpdir();
    ts_wal_opts o = small_opts(false);
    T_OK(write_recs(dir, &o, 0, 5));
    ts_wal *w;
    ts_error err;
    T_EQ(ts_wal_open(dir, &o, fail_replay, NULL, &w, &err), TS_EINVAL);
    /* nothing was truncated */
    collected c = {0};
    T_OK(read_all(dir, &o, &c));
    T_TRUE(is_sequence(&c, 0, 5));
    collected_free(&c);
}

/* Segments of 64 KB and more are read ahead by a helper thread: the same
 * records in the same order, damage found at the same offset, and an error
 * from the callback stops the replay at that record. */
#define AHEAD_RECS 3000

static int
fail_at_1000(void *ctx, const uint8_t *rec, size_t n)
{
    int *calls = ctx;
    (void)rec;
    (void)n;
    return ++*calls == 1000 ? TS_EINVAL : 0;
}

static void
test_readahead_big_segment(void)
{
    int saved = ts_log_level;
    ts_log_level = TS_LOG_ERROR; /* the expected repair warning */
    for (int compress = 0; compress <= 1; compress++) {
        ts_wal_opts o = small_opts(compress);
        o.segment_size = 4u << 20;
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/w", t_tmpdir());
        T_OK(write_recs(dir, &o, 0, AHEAD_RECS));
        char seg[600];
        last_data_segment(dir, seg, sizeof(seg));
        off_t size = file_size(seg);
        T_TRUE(size >= 64 * 1024);
        collected c = {0};
        T_OK(read_all(dir, &o, &c));
        T_TRUE(is_sequence(&c, 0, AHEAD_RECS));
        collected_free(&c);

        /* the callback fails at the 1000th record: replay stops there,
         * nothing is repaired */
        int calls = 0;
        ts_wal *w;
        ts_error err;
        T_EQ(ts_wal_open(dir, &o, fail_at_1000, &calls, &w, &err), TS_EINVAL);
        T_EQ(calls, 1000);
        T_EQ(file_size(seg), size);

        /* a flipped byte in the middle: the records before its frame are
         * replayed, the segment is cut at that frame */
        int fd = open(seg, O_RDWR);
        T_TRUE(fd >= 0);
        uint8_t b;
        T_EQ(pread(fd, &b, 1, size / 2), 1);
        b ^= 0x5a;
        T_EQ(pwrite(fd, &b, 1, size / 2), 1);
        close(fd);
        T_OK(read_all(dir, &o, &c));
        size_t got = c.n;
        T_TRUE(got > 0 && got < AHEAD_RECS);
        T_TRUE(is_sequence(&c, 0, (int)got));
        collected_free(&c);
        off_t cut = file_size(seg);
        T_TRUE(cut <= size / 2 && cut > 0);
        T_OK(read_all(dir, &o, &c)); /* repaired: the same records, no more damage */
        T_TRUE(is_sequence(&c, 0, (int)got));
        collected_free(&c);
        T_EQ(file_size(seg), cut);
        T_OK(ts_fs_remove_all(dir));
    }
    ts_log_level = saved;
}

T_MAIN({"roundtrip_segments", test_roundtrip_segments},
       {"log_many_and_limits", test_log_many_and_limits},
       {"failed_write_cut_back", test_failed_write_cut_back},
       {"torn_tail_every_offset", test_torn_tail_every_offset},
       {"zero_filled_tail", test_zero_filled_tail}, {"garbled_last_page", test_garbled_last_page},
       {"corrupt_middle_segment", test_corrupt_middle_segment},
       {"missing_segment", test_missing_segment}, {"checkpoint", test_checkpoint},
       {"checkpoint_leftovers", test_checkpoint_leftovers},
       {"background_fsync", test_background_fsync},
       {"replay_error_propagates", test_replay_error_propagates},
       {"readahead_big_segment", test_readahead_big_segment})
