/*
 * Tests for the head's memory-mapped chunk segments (ts_head_opts.chunks_dir,
 * pkg/tsdb/head/chunkfiles.c): completed chunks land in segment files, not
 * the heap; reads are identical across segment boundaries and to a head
 * without a directory; truncation deletes a segment only once its chunks
 * are retired and no querier that could read them is open; an unusable
 * directory falls back to the heap; old files are deleted at start and
 * everything at ts_head_free.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/tsdb/head/head.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#define H2 (2 * 3600 * 1000LL)
#define SEG_SIZE (16 * 1024) /* small, so a test spans many segments */
#define NSERIES 50
#define NSAMPLES 1000 /* per series: 8 completed chunks and an open one */

static ts_head *
new_head(const char *dir)
{
    ts_head *h;
    ts_head_opts o = {0};
    o.chunk_range_ms = H2;
    o.chunks_dir = dir;
    o.chunk_segment_size = SEG_SIZE;
    if (ts_head_new(&h, &o) != 0)
        abort();
    return h;
}

/* A fresh temp dir; the head's chunks dir is <tmp>/chunks_head. */
static void
make_tmp(char *tmp, size_t size, char *chunks, size_t csize)
{
    snprintf(tmp, size, "/tmp/chunkfiles_test.XXXXXX");
    if (!mkdtemp(tmp))
        abort();
    snprintf(chunks, csize, "%s/chunks_head", tmp);
}

/* Entries (files) in dir, -1 if it cannot be opened. */
static int
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static ts_labels *
series_labels(int i)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    return ts_labels_from_strings(4, "__name__", "m", "i", v);
}

/* Deterministic, varied values (so chunks are not all alike). */
static double
value_at(int i, int j)
{
    return (j % 7 == 0) ? (double)(i * j) / 3.0 : (double)(i + j) * 0.25;
}

/* Samples at base, base + 15s, ... */
static void
fill_at(ts_head *h, int64_t base)
{
    for (int j = 0; j < NSAMPLES; j++) {
        ts_appender *a = ts_head_appender(h);
        for (int i = 0; i < NSERIES; i++) {
            ts_labels *ls = series_labels(i);
            T_OK(a->ops->append(a, 0, ls, base + j * 15000LL, value_at(i, j), NULL));
            ts_labels_free(ls);
        }
        T_OK(a->ops->commit(a));
    }
}

static void
fill(ts_head *h)
{
    fill_at(h, 1000);
}

/* All test series of q (a failed select aborts the test). */
static ts_series_set *
select_all(ts_querier *q)
{
    ts_matcher *m;
    if (ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "m", NULL) != 0)
        abort();
    ts_series_set *ss = NULL;
    if (q->ops->select(q, true, NULL, &m, 1, &ss, NULL) != 0)
        abort();
    ts_matcher_free(m);
    return ss;
}

/* Checks every sample of series i from its iterator (samples from base on). */
static void
check_iter(ts_iterator *it, int i, int64_t base)
{
    int j = 0;
    while (ts_it_next(it) == TS_VAL_FLOAT) {
        int64_t t;
        double v;
        ts_it_at(it, &t, &v);
        T_EQ(t, base + j * 15000LL);
        T_FEQ(v, value_at(i, j));
        j++;
    }
    T_EQ(j, NSAMPLES);
}

/* Checks every sample of every series of ss (samples from base on). */
static void
check_set(ts_series_set *ss, int64_t base)
{
    int nseries = 0;
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        ts_iterator *it = s->ops->iterator(s);
        check_iter(it, atoi(ts_labels_get(s->labels, "i")), base);
        ts_it_free(it);
        nseries++;
    }
    T_EQ(ss->error.code, 0);
    ts_ss_free(ss);
    T_EQ(nseries, NSERIES);
}

/* Checks every sample of every series through select on q. */
static void
check_all(ts_querier *q, int64_t base)
{
    check_set(select_all(q), base);
}

static void
test_chunks_in_segments(void)
{
    char tmp[64], dir[96];
    make_tmp(tmp, sizeof(tmp), dir, sizeof(dir));
    ts_head *h = new_head(dir);
    ts_head *plain = new_head(NULL);
    fill(h);
    fill(plain);

    ts_head_stats st, pst;
    ts_head_stats_get(h, &st);
    ts_head_stats_get(plain, &pst);
    /* the same chunks, in files instead of the heap */
    T_TRUE(pst.chunk_bytes_heap > 3 * SEG_SIZE);
    T_EQ(pst.chunk_bytes_mapped, 0);
    T_EQ(pst.chunk_segments, 0);
    T_EQ(st.chunk_bytes_heap, 0);
    T_EQ(st.chunk_bytes_mapped, pst.chunk_bytes_heap);
    T_EQ(st.chunks_unmapped_total, 0);
    T_TRUE(st.chunk_segments >= 4); /* reads below cross segment boundaries */
    T_EQ(st.chunk_segment_bytes, st.chunk_segments * SEG_SIZE);
    T_EQ(count_files(dir), (int)st.chunk_segments);

    ts_querier *q;
    T_OK(ts_head_querier(h, INT64_MIN, INT64_MAX, &q));
    check_all(q, 1000);
    ts_querier_close(q);

    ts_head_free(plain);
    ts_head_free(h);
    T_EQ(count_files(dir), 0); /* ts_head_free deletes its segments */
    ts_fs_remove_all(tmp);
}

static void
test_old_files_deleted_at_start(void)
{
    char tmp[64], dir[96], path[160];
    make_tmp(tmp, sizeof(tmp), dir, sizeof(dir));
    T_OK(ts_fs_mkdir_all(dir, 0755));
    snprintf(path, sizeof(path), "%s/000001", dir);
    T_OK(ts_fs_write_file_atomic(path, "stale", 5));
    snprintf(path, sizeof(path), "%s/000007", dir);
    T_OK(ts_fs_write_file_atomic(path, "stale", 5));
    T_EQ(count_files(dir), 2);
    ts_head *h = new_head(dir);
    T_EQ(count_files(dir), 0);
    fill(h);
    ts_head_stats st;
    ts_head_stats_get(h, &st);
    T_EQ(count_files(dir), (int)st.chunk_segments);
    ts_head_free(h);
    ts_fs_remove_all(tmp);
}

/* Truncation retires every completed chunk, but a querier opened before
 * still reads them all; the segments go when it is closed (all but the
 * current one, which the next chunks fill). */
static void
test_truncate_keeps_segments_for_open_querier(void)
{
    char tmp[64], dir[96];
    make_tmp(tmp, sizeof(tmp), dir, sizeof(dir));
    ts_head *h = new_head(dir);
    fill(h);
    ts_head_stats st;
    ts_head_stats_get(h, &st);
    uint64_t segs = st.chunk_segments;
    T_TRUE(segs >= 4);

    /* iterators hold the chunks' addresses from their creation on */
    ts_querier *q;
    T_OK(ts_head_querier(h, INT64_MIN, INT64_MAX, &q));
    ts_series_set *ss = select_all(q);
    ts_iterator *its[NSERIES] = {0};
    int idx[NSERIES];
    int n = 0;
    while (n < NSERIES && ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        idx[n] = atoi(ts_labels_get(s->labels, "i"));
        its[n++] = s->ops->iterator(s);
    }
    T_EQ(n, NSERIES);
    int64_t end = 1000 + NSAMPLES * 15000LL;
    ts_head_truncate(h, end); /* drops everything */
    ts_head_stats_get(h, &st);
    T_EQ(st.num_samples, 0);
    T_EQ(st.chunk_segments, segs); /* q may still read them */
    T_EQ(count_files(dir), (int)segs);
    for (int k = 0; k < n; k++) {
        check_iter(its[k], idx[k], 1000); /* every sample, from retired segments */
        ts_it_free(its[k]);
    }
    ts_ss_free(ss);
    ts_querier_close(q);

    ts_head_stats_get(h, &st);
    T_EQ(st.chunk_segments, 1); /* the current segment stays */
    T_EQ(st.chunk_bytes_mapped, 0);
    T_EQ(count_files(dir), 1);

    /* the head goes on: new chunks fill new segments */
    fill_at(h, end);
    ts_head_stats_get(h, &st);
    T_TRUE(st.chunk_segments >= 4);
    T_EQ(count_files(dir), (int)st.chunk_segments);
    T_OK(ts_head_querier(h, INT64_MIN, INT64_MAX, &q));
    check_all(q, end);
    ts_querier_close(q);
    ts_head_free(h);
    T_EQ(count_files(dir), 0);
    ts_fs_remove_all(tmp);
}

/* Partial truncation: segments holding only old chunks go, the others stay
 * and keep serving the newer samples. */
static void
test_partial_truncate(void)
{
    char tmp[64], dir[96];
    make_tmp(tmp, sizeof(tmp), dir, sizeof(dir));
    ts_head *h = new_head(dir);
    fill(h);
    ts_head_stats before, after;
    ts_head_stats_get(h, &before);
    int64_t cut = 1000 + (NSAMPLES / 2) * 15000LL;
    ts_head_truncate(h, cut);
    ts_head_stats_get(h, &after);
    T_TRUE(after.chunk_segments < before.chunk_segments);
    T_TRUE(after.chunk_segments > 0);
    T_TRUE(after.chunk_bytes_mapped < before.chunk_bytes_mapped);
    T_EQ(count_files(dir), (int)after.chunk_segments);

    /* what is left reads back exactly */
    ts_querier *q;
    T_OK(ts_head_querier(h, INT64_MIN, INT64_MAX, &q));
    ts_matcher *m;
    T_OK(ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "m", NULL));
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, NULL));
    int nseries = 0;
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        int i = atoi(ts_labels_get(s->labels, "i"));
        ts_iterator *it = s->ops->iterator(s);
        int64_t t;
        double v;
        T_EQ(ts_it_next(it), TS_VAL_FLOAT);
        ts_it_at(it, &t, &v);
        int j = (int)((t - 1000) / 15000);
        T_TRUE(t <= cut); /* whole chunks are dropped */
        T_TRUE(j >= NSAMPLES / 2 - 120);
        int n = 1;
        T_FEQ(v, value_at(i, j));
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            ts_it_at(it, &t, &v);
            T_EQ(t, 1000 + (j + n) * 15000LL);
            T_FEQ(v, value_at(i, j + n));
            n++;
        }
        T_EQ(j + n, NSAMPLES);
        ts_it_free(it);
        nseries++;
    }
    ts_ss_free(ss);
    ts_matcher_free(m);
    T_EQ(nseries, NSERIES);
    ts_querier_close(q);
    ts_head_free(h);
    T_EQ(count_files(dir), 0);
    ts_fs_remove_all(tmp);
}

/* A directory that cannot be created (its parent is a regular file, which
 * stops root too): chunks stay in the heap, counted, and read back. */
static void
test_unusable_dir_falls_back(void)
{
    char tmp[64], file[96], dir[160];
    make_tmp(tmp, sizeof(tmp), file, sizeof(file));
    T_OK(ts_fs_write_file_atomic(file, "x", 1)); /* <tmp>/chunks_head is a file */
    snprintf(dir, sizeof(dir), "%s/chunks", file);
    ts_head *h = new_head(dir);
    ts_head *plain = new_head(NULL);
    fill(h);
    fill(plain);
    ts_head_stats st, pst;
    ts_head_stats_get(h, &st);
    ts_head_stats_get(plain, &pst);
    T_EQ(st.chunk_segments, 0);
    T_EQ(st.chunk_bytes_mapped, 0);
    T_EQ(st.chunk_bytes_heap, pst.chunk_bytes_heap);
    T_EQ(st.chunks_unmapped_total, st.num_chunks - NSERIES); /* all but the open ones */
    T_EQ(pst.chunks_unmapped_total, 0);                      /* no directory: nothing to count */
    ts_querier *q;
    T_OK(ts_head_querier(h, INT64_MIN, INT64_MAX, &q));
    check_all(q, 1000);
    ts_querier_close(q);
    ts_head_truncate(h, INT64_MAX);
    ts_head_stats_get(h, &st);
    T_EQ(st.chunk_bytes_heap, 0);
    ts_head_free(plain);
    ts_head_free(h);
    ts_fs_remove_all(tmp);
}

T_MAIN({"chunks_in_segments", test_chunks_in_segments},
       {"old_files_deleted_at_start", test_old_files_deleted_at_start},
       {"truncate_keeps_segments_for_open_querier", test_truncate_keeps_segments_for_open_querier},
       {"partial_truncate", test_partial_truncate},
       {"unusable_dir_falls_back", test_unusable_dir_falls_back})
