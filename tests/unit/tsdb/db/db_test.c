/* Tests for pkg/tsdb/db.c: WAL replay, head compaction, merges, retention,
 * crash debris. */
#include "pkg/tsdb/db.h"

#include <dirent.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkg/labels/matcher.h"
#include "pkg/tsdb/record/record.h"
#include "pkg/tsdb/wal/wal.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "tests/testutil/t.h"

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define NSERIES 20

static double
value_for(int series, int64_t t)
{
    return series * 1000.0 + (double)(t / MIN_MS);
}

static ts_labels *
series_labels(int i)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    return ts_labels_from_strings(6, "__name__", "test_metric", "job", "db_test", "i", v);
}

/* Appends one sample per minute in [from, to) for NSERIES series, one commit
 * per `per_commit` minutes. */
static int
append_range(ts_db *db, int64_t from, int64_t to, int per_commit)
{
    ts_labels *ls[NSERIES];
    for (int i = 0; i < NSERIES; i++)
        ls[i] = series_labels(i);
    int rc = 0, k = 0;
    ts_appender *app = ts_db_appender(db);
    for (int64_t t = from; t < to && rc == 0; t += MIN_MS) {
        for (int i = 0; i < NSERIES && rc == 0; i++)
            rc = app->ops->append(app, 0, ls[i], t, value_for(i, t), NULL);
        if (++k % per_commit == 0 && rc == 0) {
            rc = app->ops->commit(app);
            app = ts_db_appender(db);
        }
    }
    if (rc == 0)
        rc = app->ops->commit(app);
    else
        app->ops->rollback(app);
    for (int i = 0; i < NSERIES; i++)
        ts_labels_free(ls[i]);
    return rc;
}

typedef struct check_result {
    int nseries;
    int64_t nsamples;
    int64_t mint, maxt;
    int bad; /* samples with a wrong value, or out of order */
} check_result;

/* Reads everything in [mint, maxt] and checks values. */
static int
check_all(ts_db *db, int64_t mint, int64_t maxt, check_result *r)
{
    memset(r, 0, sizeof(*r));
    r->mint = INT64_MAX;
    r->maxt = INT64_MIN;
    ts_querier *q;
    int rc = ts_queryable_querier(ts_db_queryable(db), mint, maxt, &q);
    if (rc)
        return rc;
    ts_matcher *m;
    ts_error err;
    ts_matcher_new(&m, TS_MATCH_EQ, "job", "db_test", &err);
    ts_series_set *ss;
    rc = q->ops->select(q, true, NULL, &m, 1, &ss, &err);
    if (rc == 0) {
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            int idx = t_parse_index(ts_labels_get(s->labels, "i"));
            r->nseries++;
            ts_iterator *it = s->ops->iterator(s);
            int64_t prev = INT64_MIN;
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                if (v != value_for(idx, t) || t <= prev || t < mint || t > maxt)
                    r->bad++;
                prev = t;
                r->nsamples++;
                if (t < r->mint)
                    r->mint = t;
                if (t > r->maxt)
                    r->maxt = t;
            }
            if (ts_it_err(it))
                r->bad++;
            ts_it_free(it);
        }
        if (ss->error.code)
            rc = ss->error.code;
        ts_ss_free(ss);
    }
    ts_matcher_free(m);
    ts_querier_close(q);
    return rc;
}

static ts_db_opts
test_opts(void)
{
    ts_db_opts o;
    ts_db_opts_default(&o);
    o.wal_fsync_interval_ms = -1;
    o.wal_segment_size = 64 * 1024;
    return o;
}

static int
count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------- tests */

static void
test_reopen_replays_wal(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 60 * MIN_MS, 7));
    check_result r;
    T_OK(check_all(db, 0, HOUR_MS, &r));
    T_EQ(r.nseries, NSERIES);
    T_EQ(r.nsamples, NSERIES * 60);
    ts_db_close(db);

    T_OK(ts_db_open(dir, &o, &db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_EQ(st.head.num_series, NSERIES);
    T_TRUE(st.wal_records_replayed > 0);
    T_OK(check_all(db, 0, HOUR_MS, &r));
    T_EQ(r.nseries, NSERIES);
    T_EQ(r.nsamples, NSERIES * 60);
    T_EQ(r.bad, 0);
    /* appending continues after the replayed data */
    T_OK(append_range(db, 60 * MIN_MS, 70 * MIN_MS, 3));
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(check_all(db, 0, 2 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 70);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

/* Stale markers survive the WAL bit-exactly. */
static void
test_stale_nan_replay(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    ts_labels *ls = ts_labels_from_strings(2, "__name__", "stale_test");
    ts_appender *app = ts_db_appender(db);
    T_OK(app->ops->append(app, 0, ls, 1000, 1.0, NULL));
    T_OK(app->ops->append(app, 0, ls, 2000, ts_stale_nan(), NULL));
    T_OK(app->ops->commit(app));
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db, &err));
    ts_querier *q;
    T_OK(ts_queryable_querier(ts_db_queryable(db), 0, 10000, &q));
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "stale_test", &err);
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    T_TRUE(ts_ss_next(ss));
    ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
    int64_t t;
    double v;
    T_EQ(ts_it_next(it), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1000);
    T_EQ(ts_it_next(it), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 2000);
    T_TRUE(ts_is_stale_nan(v));
    ts_it_free(it);
    ts_ss_free(ss);
    ts_matcher_free(m);
    ts_querier_close(q);
    ts_labels_free(ls);
    ts_db_close(db);
}

/* A child that commits and then _exit()s without closing anything (no
 * fsync, no flush): every committed sample is back after reopening. */
static void
test_exit_without_close(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    pid_t pid = fork();
    T_TRUE(pid >= 0);
    if (pid == 0) {
        ts_db *db;
        ts_error err;
        if (ts_db_open(dir, &o, &db, &err) != 0)
            _exit(2);
        if (append_range(db, 0, 30 * MIN_MS, 1) != 0)
            _exit(3);
        _exit(0);
    }
    int status;
    T_EQ(waitpid(pid, &status, 0), pid);
    T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    check_result r;
    T_OK(check_all(db, 0, HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 30);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

/* A child whose head keeps completed chunks in chunks_head/ segments is
 * SIGKILLed: every committed sample is back after reopening (the WAL is the
 * source of truth), the stale segments are replaced by new ones, and a
 * clean close deletes them. */
static void
test_sigkill_with_mapped_chunks(void)
{
    const char *dir = t_tmpdir();
    char chunks[512];
    snprintf(chunks, sizeof(chunks), "%s/chunks_head", dir);
    ts_db_opts o = test_opts();
    pid_t pid = fork();
    T_TRUE(pid >= 0);
    if (pid == 0) {
        ts_db *db;
        ts_error err;
        if (ts_db_open(dir, &o, &db, &err) != 0)
            _exit(2);
        /* one sample a minute for 6 h: two completed chunks per series */
        if (append_range(db, 0, 6 * HOUR_MS, 7) != 0)
            _exit(3);
        ts_db_stats st;
        ts_db_stats_get(db, &st);
        if (st.head.chunk_segments == 0 || st.head.chunk_bytes_heap != 0 ||
            count_entries(chunks, "0") < 1)
            _exit(4);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int status;
    T_EQ(waitpid(pid, &status, 0), pid);
    T_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    T_TRUE(count_entries(chunks, "0") >= 1); /* left behind by the kill */
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    check_result r;
    T_OK(check_all(db, 0, 6 * HOUR_MS, &r));
    T_EQ(r.nseries, NSERIES);
    T_EQ(r.nsamples, NSERIES * 360);
    T_EQ(r.bad, 0);
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_TRUE(st.head.chunk_segments >= 1); /* replay cut the chunks again */
    T_EQ(st.head.chunk_bytes_heap, 0);
    T_EQ(count_entries(chunks, "0"), (int)st.head.chunk_segments);
    ts_db_close(db);
    T_EQ(count_entries(chunks, "0"), 0);
}

static void
test_lock(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db, *db2;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_EQ(ts_db_open(dir, &o, &db2, &err), TS_EEXIST);
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db2, &err));
    ts_db_close(db2);
}

static void
test_compact_head_to_block(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    /* 0 .. 4h: the head spans more than 1.5 x 2h */
    T_OK(append_range(db, 0, 4 * HOUR_MS, 10));
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_EQ(st.num_blocks, 1);
    T_EQ(st.head_compactions_total, 1);
    T_EQ(st.blocks_mint, 0);
    T_EQ(st.blocks_maxt, 2 * HOUR_MS);
    T_TRUE(st.head.mint >= 2 * HOUR_MS); /* head truncated */
    T_TRUE(st.wal_first_segment > 0);    /* old segments checkpointed away */
    char wal[600];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    T_EQ(count_entries(wal, "checkpoint."), 1);
    check_result r;
    T_OK(check_all(db, 0, 4 * HOUR_MS, &r));
    T_EQ(r.nseries, NSERIES);
    T_EQ(r.nsamples, NSERIES * 240);
    T_EQ(r.bad, 0);
    /* a second compaction has nothing to do */
    T_OK(ts_db_compact(db, &err));
    ts_db_stats_get(db, &st);
    T_EQ(st.num_blocks, 1);
    ts_db_close(db);

    /* reopen: the block serves [0, 2h), the WAL checkpoint the rest */
    T_OK(ts_db_open(dir, &o, &db, &err));
    ts_db_stats_get(db, &st);
    T_EQ(st.num_blocks, 1);
    T_TRUE(st.head.mint >= 2 * HOUR_MS);
    T_EQ(st.head.num_samples, NSERIES * 120);
    T_OK(check_all(db, 0, 4 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 240);
    T_EQ(r.bad, 0);
    T_OK(check_all(db, 0, HOUR_MS, &r)); /* block only */
    T_EQ(r.nsamples, NSERIES * 61);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

/* Queries opened before a compaction keep working after it. */
static void
test_query_during_compaction(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 10 * HOUR_MS, 30));
    T_OK(ts_db_compact(db, &err)); /* a few 2h blocks */
    ts_querier *q;
    T_OK(ts_queryable_querier(ts_db_queryable(db), 0, 10 * HOUR_MS, &q));
    T_OK(append_range(db, 10 * HOUR_MS, 20 * HOUR_MS, 30));
    T_OK(ts_db_compact(db, &err)); /* more blocks, merges */
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "job", "db_test", &err);
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    int64_t n = 0;
    while (ts_ss_next(ss)) {
        ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
        while (ts_it_next(it) == TS_VAL_FLOAT)
            n++;
        ts_it_free(it);
    }
    T_EQ(ss->error.code, 0);
    ts_ss_free(ss);
    ts_matcher_free(m);
    ts_querier_close(q);
    T_EQ(n, NSERIES * 600 + NSERIES); /* [0, 10h] inclusive: 601 minutes */
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_TRUE(st.block_merges_total >= 1);
    T_TRUE(st.head.mint < 10 * HOUR_MS); /* truncation waited for the open querier */
    T_OK(ts_db_compact(db, &err));
    ts_db_stats_get(db, &st);
    T_TRUE(st.head.mint >= 18 * HOUR_MS); /* and happened once it was closed */
    check_result r;
    T_OK(check_all(db, 0, 20 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 1200);
    T_EQ(r.bad, 0);
    ts_db_close(db);
    /* and after reopening */
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(check_all(db, 0, 20 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 1200);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

static void
test_retention_time(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    o.retention_ms = 4 * HOUR_MS; /* max block = 24 min < 2h: no merges */
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 12 * HOUR_MS, 60));
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    /* blocks were cut up to 10h; those ending more than 4h before 10h are gone */
    T_EQ(st.head_compactions_total, 5);
    T_EQ(st.block_merges_total, 0);
    T_EQ(st.num_blocks, 3);
    T_EQ(st.retention_deletions_total, 2);
    T_EQ(st.blocks_mint, 4 * HOUR_MS);
    T_EQ(count_entries(dir, "0"), 3); /* block dirs (ULIDs start with 0 for now) */
    check_result r;
    T_OK(check_all(db, 0, 4 * HOUR_MS - 1, &r));
    T_EQ(r.nsamples, 0);
    T_OK(check_all(db, 4 * HOUR_MS, 12 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 8 * 60);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

/* Whether /proc/self/maps or an open descriptor (/proc/self/fd) names a
 * path containing s. */
static bool
proc_mentions(const char *s)
{
    bool found = false;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f) {
        char line[8192];
        while (fgets(line, sizeof(line), f))
            if (strstr(line, s))
                found = true;
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[300], target[4096];
            snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(p, target, sizeof(target) - 1);
            if (n > 0) {
                target[n] = 0;
                if (strstr(target, s))
                    found = true;
            }
        }
        closedir(d);
    }
    return found;
}

/* Issue 16: a block deleted by retention gives back its mapping (the index
 * is mapped) and its chunk file descriptors. */
static void
test_retention_unmaps_blocks(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    o.retention_ms = 4 * HOUR_MS; /* max block = 24 min < 2h: no merges */
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 6 * HOUR_MS, 60));
    T_OK(ts_db_compact(db, &err));
    /* the blocks cut so far, all mapped */
    char names[8][64];
    int n = 0;
    DIR *d = opendir(dir);
    T_TRUE(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 8)
        if (e->d_name[0] == '0' && strlen(e->d_name) < sizeof(names[0]))
            snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
    closedir(d);
    T_TRUE(n >= 2);
    for (int i = 0; i < n; i++) {
        char idx[64 + 8];
        snprintf(idx, sizeof(idx), "%s/index", names[i]);
        T_TRUE(proc_mentions(idx));
    }
    /* six more hours: retention deletes the oldest blocks */
    T_OK(append_range(db, 6 * HOUR_MS, 12 * HOUR_MS, 60));
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_TRUE(st.retention_deletions_total >= 1);
    int gone = 0;
    for (int i = 0; i < n; i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(p, &sb) == 0)
            continue;
        gone++;
        T_FALSE(proc_mentions(names[i])); /* no mapping, no open chunk file */
    }
    T_TRUE(gone >= 1);
    ts_db_close(db);
}

static void
test_retention_size(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    o.retention_ms = 0;
    o.max_block_range_ms = 2 * HOUR_MS; /* no merges: keep block count predictable */
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 12 * HOUR_MS, 60));
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_EQ(st.num_blocks, 5);
    T_EQ(st.retention_deletions_total, 0);
    int64_t limit = st.wal_bytes + st.blocks_bytes / 2;
    ts_db_close(db);

    o.retention_bytes = limit;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(ts_db_compact(db, &err));
    ts_db_stats_get(db, &st);
    T_TRUE(st.num_blocks >= 1 && st.num_blocks < 5);
    T_TRUE(st.retention_deletions_total >= 1);
    T_TRUE(st.blocks_bytes + st.wal_bytes <= limit);
    T_EQ(st.blocks_maxt, 10 * HOUR_MS); /* the newest blocks are the ones kept */
    ts_db_close(db);
}

static void
test_crash_debris_removed(void)
{
    const char *dir = t_tmpdir();
    char p[600];
    snprintf(p, sizeof(p), "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp/chunks", dir);
    T_OK(ts_fs_mkdir_all(p, 0755));
    snprintf(p, sizeof(p), "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp/index", dir);
    T_OK(ts_fs_write_file_atomic(p, "half", 4));
    snprintf(p, sizeof(p), "%s/01HYYYYYYYYYYYYYYYYYYYYYYY", dir); /* no meta.json */
    T_OK(ts_fs_mkdir_all(p, 0755));
    snprintf(p, sizeof(p), "%s/not-a-block", dir);
    T_OK(ts_fs_mkdir_all(p, 0755));
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    snprintf(p, sizeof(p), "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp", dir);
    T_FALSE(ts_fs_exists(p));
    snprintf(p, sizeof(p), "%s/01HYYYYYYYYYYYYYYYYYYYYYYY", dir);
    T_FALSE(ts_fs_exists(p));
    snprintf(p, sizeof(p), "%s/not-a-block", dir);
    T_TRUE(ts_fs_exists(p));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_EQ(st.num_blocks, 0);
    ts_db_close(db);
}

/* A torn WAL tail (process killed mid-write) opens cleanly. */
static void
test_torn_wal_opens(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(append_range(db, 0, 60 * MIN_MS, 1));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    int last = st.wal_last_segment;
    ts_db_close(db);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/wal/%08d", dir, last);
    struct stat sb;
    T_OK(stat(seg, &sb));
    T_OK(truncate(seg, sb.st_size - 7));
    T_OK(ts_db_open(dir, &o, &db, &err));
    check_result r;
    T_OK(check_all(db, 0, HOUR_MS, &r));
    /* the last commit (one minute of samples) is lost, the rest is there */
    T_EQ(r.nsamples, NSERIES * 59);
    T_EQ(r.bad, 0);
    ts_db_stats_get(db, &st);
    T_EQ(st.wal_repairs, 1);
    ts_db_close(db);
}

/* The same series under two refs in the WAL (removed by truncation, created
 * again, crash before a checkpoint dropped the old record): the samples of
 * both refs end up in the one series. */
static void
test_duplicate_series_refs(void)
{
    const char *dir = t_tmpdir();
    char wdir[600];
    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    ts_wal *w;
    ts_error err;
    T_OK(ts_wal_open(wdir, NULL, NULL, NULL, &w, &err));
    ts_labels *ls = series_labels(3);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_record_series s1 = {5, ls}, s2 = {9, ls};
    ts_record_sample a = {5, 0, value_for(3, 0)}, c = {9, MIN_MS, value_for(3, MIN_MS)};
    T_OK(ts_record_encode_series(&b, &s1, 1));
    T_OK(ts_wal_log(w, b.p, b.len));
    ts_buf_reset(&b);
    T_OK(ts_record_encode_samples(&b, &a, 1));
    T_OK(ts_wal_log(w, b.p, b.len));
    ts_buf_reset(&b);
    T_OK(ts_record_encode_series(&b, &s2, 1));
    T_OK(ts_wal_log(w, b.p, b.len));
    ts_buf_reset(&b);
    T_OK(ts_record_encode_samples(&b, &c, 1));
    T_OK(ts_wal_log(w, b.p, b.len));
    ts_wal_close(w);
    ts_buf_fini(&b);
    ts_labels_free(ls);

    ts_db_opts o = test_opts();
    ts_db *db;
    T_OK(ts_db_open(dir, &o, &db, &err));
    check_result r;
    T_OK(check_all(db, 0, HOUR_MS, &r));
    T_EQ(r.nseries, 1);
    T_EQ(r.nsamples, 2);
    T_EQ(r.bad, 0);
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_EQ(st.wal_samples_dropped_on_replay, 0);
    /* new series (whatever refs the head gives them, 9 included) and another
     * restart: every series keeps exactly its own samples */
    ts_appender *app = ts_db_appender(db);
    for (int i = 4; i < 12; i++) {
        ts_labels *l = series_labels(i);
        T_OK(app->ops->append(app, 0, l, 2 * MIN_MS, value_for(i, 2 * MIN_MS), NULL));
        ts_labels_free(l);
    }
    T_OK(app->ops->commit(app));
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(check_all(db, 0, HOUR_MS, &r));
    T_EQ(r.nseries, 9);
    T_EQ(r.nsamples, 10);
    T_EQ(r.bad, 0);
    ts_db_close(db);
}

typedef struct writer_arg {
    ts_db *db;
    int rc;
    atomic_int done;
} writer_arg;

static void *
writer_main(void *p)
{
    writer_arg *w = p;
    w->rc = append_range(w->db, 0, 12 * HOUR_MS, 5);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Compaction, head truncation and WAL checkpoints while another thread
 * appends: nothing is lost, in memory or after reopening. */
static void
test_compact_while_appending(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o = test_opts();
    o.retention_ms = 0;
    ts_db *db;
    ts_error err;
    T_OK(ts_db_open(dir, &o, &db, &err));
    writer_arg w = {.db = db};
    pthread_t th;
    T_OK(pthread_create(&th, NULL, writer_main, &w));
    int rounds = 0;
    while (!atomic_load(&w.done)) {
        T_OK(ts_db_compact(db, &err));
        check_result r;
        T_OK(check_all(db, 0, 12 * HOUR_MS, &r));
        T_EQ(r.bad, 0);
        rounds++;
    }
    pthread_join(th, NULL);
    T_OK(w.rc);
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_TRUE(st.head_compactions_total >= 4);
    check_result r;
    T_OK(check_all(db, 0, 12 * HOUR_MS, &r));
    T_EQ(r.nsamples, NSERIES * 720);
    T_EQ(r.bad, 0);
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(check_all(db, 0, 12 * HOUR_MS, &r));
    T_EQ(r.nseries, NSERIES);
    T_EQ(r.nsamples, NSERIES * 720);
    T_EQ(r.bad, 0);
    ts_db_close(db);
    fprintf(stderr, "  %d compaction rounds during the writes\n", rounds);
}

T_MAIN({"compact_while_appending", test_compact_while_appending},
       {"duplicate_series_refs", test_duplicate_series_refs},
       {"reopen_replays_wal", test_reopen_replays_wal}, {"stale_nan_replay", test_stale_nan_replay},
       {"exit_without_close", test_exit_without_close},
       {"sigkill_with_mapped_chunks", test_sigkill_with_mapped_chunks}, {"lock", test_lock},
       {"compact_head_to_block", test_compact_head_to_block},
       {"query_during_compaction", test_query_during_compaction},
       {"retention_time", test_retention_time}, {"retention_size", test_retention_size},
       {"retention_unmaps_blocks", test_retention_unmaps_blocks},
       {"crash_debris_removed", test_crash_debris_removed}, {"torn_wal_opens", test_torn_wal_opens})
