/*
 * The TSDB (Prometheus tsdb/db.go): head + WAL + blocks behind one queryable.
 *
 * Open.  Take <dir>/lock (flock, so a second process fails fast and a killed
 * one releases it).  Scan <dir>: `*.tmp` and `*.tmp-for-deletion`
 * directories are blocks a crash left half-written or half-deleted: removed
 * with a warning.  (Blocks are deleted by renaming them to
 * <ulid>.tmp-for-deletion first, as Prometheus does, so a half-deleted block
 * never looks like a damaged one.)  A ULID-named
 * directory without a meta.json is removed too (a block is only renamed into
 * place after its meta.json is fsync'd, so such a directory is debris); one
 * whose meta.json or index fails to open is skipped with an error log but
 * left alone for an operator to inspect.  A block whose sources are all
 * covered by a higher-level block is the input of a compaction that finished
 * before the crash deleted it: removed.  Then the WAL is replayed into the
 * head: series records recreate series with their original refs, samples at
 * or after the newest block's maxt are re-added (older ones are already in a
 * block).  The samples are appended by worker threads while this thread
 * reads on (replay.c, "Parallel replay"); the log line "WAL replay
 * completed" gives its duration.
 *
 * Writes.  The head calls db_log() on commit with the batch's new series and
 * samples; it encodes one series record and samples records of at most
 * MAX_SAMPLES_PER_RECORD and writes them with ts_wal_log_many (one write(2)).
 *
 * A full disk (or any failed WAL write).  The WAL cuts a failed write back
 * (pkg/tsdb/wal/wal.c), so the segment keeps only whole frames.  The head is
 * opened with keep_unlogged: the batch is applied all the same, so scraped
 * samples stay queryable and rules keep seeing fresh data, and the next head
 * compaction puts them in a block once there is room; their series records
 * are logged again by the next commit that succeeds.  Only a restart before
 * that compaction loses them.  (Prometheus 2.42 rolls such a commit back:
 * every sample scraped while the disk is full is lost at once.)  Failed
 * writes are counted (prometheus_tsdb_wal_writes_failed_total, and the
 * samples kept without a WAL record in tessera_tsdb_head_samples_unlogged_total)
 * and logged at the first failure, every 100th after, and when writes work
 * again.  A head compaction or merge that runs out of space removes its .tmp
 * block directory, counts a failed compaction and is tried again next round;
 * the head is truncated only after its block is in place.
 *
 * Compaction (ts_db_compact, serialised by compact_mu).  The head is cut into
 * a block when it spans more than 1.5 block ranges (as Prometheus'
 * Head.compactable): [head mint, end of its block_range-aligned window).
 * The block is opened and published, the head truncated to the window's end,
 * then the WAL is cut and checkpointed up to the previous segment.  The
 * checkpoint keeps the series live in the head after truncation (plus any
 * created meanwhile) and only samples at or after the window end.  Then
 * ts_compact_plan/ts_compact merge blocks, the result is published before
 * the sources are marked deleted, and retention runs.  Head compaction and
 * merges stream series by series (ts_block_write_querier: memory bounded by
 * a constant plus the largest series, pkg/tsdb/block/writer.c).  After a
 * round that did something, malloc_trim hands the freed memory back.
 *
 * Blocks are reference-counted (pkg/tsdb/block): the list holds one
 * reference, each block querier another, so a query that started before a
 * block was merged away or expired keeps reading it; the directory goes when
 * the last reference does.  The list itself is guarded by mu.
 */
#include "pkg/tsdb/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/labels/matcher.h"
#include "pkg/storage/merge.h"
#include "pkg/tsdb/block/block.h"
#include "pkg/tsdb/record/record.h"
#include "pkg/tsdb/replay.h"
#include "pkg/tsdb/wal/wal.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define MAX_SAMPLES_PER_RECORD 20000
#define PATH_LEN 4096
#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
#define MAX_RANGES 16

struct ts_db {
    char *dir;
    ts_db_opts opts;
    int lock_fd;
    ts_head *head;
    ts_wal *wal;
    ts_queryable qb;

    pthread_mutex_t mu; /* guards blocks, nblocks, stats counters */
    ts_block **blocks;  /* sorted by mint; the list holds one reference each */
    size_t nblocks, blocks_cap;

    pthread_mutex_t compact_mu; /* one ts_db_compact at a time */
    int64_t ranges[MAX_RANGES];
    size_t nranges;

    /* Open queriers (guarded by mu), so the head is not truncated under a
     * reader: truncation of [.., pending_trunc) waits for them. */
    struct db_querier *readers;
    int64_t pending_trunc; /* INT64_MIN: none */

    uint64_t samples_dropped_on_replay;
    /* failed WAL writes: in total, samples kept unlogged, and the current run
     * of failures (0 once a write works again) */
    atomic_uint_fast64_t wal_writes_failed, samples_unlogged, wal_fail_run;
    uint64_t head_compactions, block_merges, retention_deletions, compaction_failures;
};

void
ts_db_opts_default(ts_db_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->block_range_ms = 2 * HOUR_MS;
    o->retention_ms = 15 * DAY_MS;
    o->retention_bytes = 0;
    o->wal_fsync_interval_ms = 1000;
    o->wal_compress = 1;
}

/* ------------------------------------------------------------------ helpers */

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int
block_cmp(const void *a, const void *b)
{
    const ts_block_meta *x = ts_block_get_meta(*(ts_block *const *)a);
    const ts_block_meta *y = ts_block_get_meta(*(ts_block *const *)b);
    return x->mint < y->mint ? -1 : x->mint > y->mint;
}

/* Adds b (its reference is taken over) to the sorted list.  Caller holds mu. */
static void
blocks_add_locked(ts_db *db, ts_block *b)
{
    TS_GROW(db->blocks, db->blocks_cap, db->nblocks + 1);
    db->blocks[db->nblocks++] = b;
    qsort(db->blocks, db->nblocks, sizeof(*db->blocks), block_cmp);
}

/* Removes b from the list and deletes its directory crash-safely: renamed
 * to <ulid>.tmp-for-deletion first (removed by the next open if we die while
 * deleting), then removed.  Readers holding a reference keep working: a
 * ts_block maps its index and keeps its chunk files open, so the files can
 * go at once; the mapping and descriptors go with the last reference.  Drops the list's reference.
 * Caller holds mu. */
static void
blocks_delete_locked(ts_db *db, ts_block *b, const char *why)
{
    for (size_t i = 0; i < db->nblocks; i++) {
        if (db->blocks[i] != b)
            continue;
        memmove(db->blocks + i, db->blocks + i + 1, (db->nblocks - i - 1) * sizeof(*db->blocks));
        db->nblocks--;
        const ts_block_meta *m = ts_block_get_meta(b);
        TS_LOG(TS_LOG_INFO, "tsdb", "deleting block",
               "ulid=%s mint=%" PRId64 " maxt=%" PRId64 " reason=%s", m->ulid, m->mint, m->maxt,
               why);
        char from[PATH_LEN], to[PATH_LEN + 32];
        snprintf(from, sizeof(from), "%s", ts_block_dir(b));
        snprintf(to, sizeof(to), "%s.tmp-for-deletion", from);
        if (rename(from, to) == 0) {
            ts_fs_fsync_dir(db->dir);
            ts_fs_remove_all(to);
        } else {
            /* could not rename: let the block remove itself when unused */
            TS_LOG(TS_LOG_WARN, "tsdb", "cannot rename block for deletion", "dir=%s err=\"%s\"",
                   from, strerror(errno));
            ts_block_mark_deleted(b);
        }
        ts_block_unref(b);
        return;
    }
}

static int64_t
newest_block_maxt(ts_db *db)
{
    int64_t maxt = INT64_MIN;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->nblocks; i++) {
        const ts_block_meta *m = ts_block_get_meta(db->blocks[i]);
        if (m->maxt > maxt)
            maxt = m->maxt;
    }
    pthread_mutex_unlock(&db->mu);
    return maxt;
}

/* Ranges for the leveled compactor: block_range * 3^k, up to the maximum
 * block size (Prometheus ExponentialBlockRanges(min, 10, 3) capped at 10% of
 * the retention or 31d). */
static void
compute_ranges(ts_db *db)
{
    int64_t max = db->opts.max_block_range_ms;
    if (max <= 0) {
        max = 31 * DAY_MS;
        if (db->opts.retention_ms > 0 && db->opts.retention_ms / 10 < max)
            max = db->opts.retention_ms / 10;
    }
    int64_t r = db->opts.block_range_ms;
    db->nranges = 0;
    for (int k = 0; k < 10 && db->nranges < MAX_RANGES; k++, r *= 3) {
        if (k > 0 && r > max)
            break;
        db->ranges[db->nranges++] = r;
    }
}

/* ------------------------------------------------------------- WAL logging */

static int
db_log(void *ctx, const ts_record_series *series, size_t nseries, const ts_record_sample *samples,
       size_t nsamples)
{
    ts_db *db = ctx;
    if (!db->wal)
        return TS_OK;
    size_t nrec =
        (nseries ? 1 : 0) + (nsamples + MAX_SAMPLES_PER_RECORD - 1) / MAX_SAMPLES_PER_RECORD;
    if (nrec == 0)
        return TS_OK;
    ts_buf *bufs = ts_calloc(nrec, sizeof(ts_buf));
    const uint8_t **recs = ts_calloc(nrec, sizeof(*recs));
    size_t *lens = ts_calloc(nrec, sizeof(*lens));
    size_t k = 0;
    int rc = TS_OK;
    if (nseries) {
        ts_buf_init(&bufs[k], 0);
        rc = ts_record_encode_series(&bufs[k++], series, nseries);
    }
    for (size_t off = 0; off < nsamples && rc == TS_OK; off += MAX_SAMPLES_PER_RECORD) {
        size_t n =
            nsamples - off < MAX_SAMPLES_PER_RECORD ? nsamples - off : MAX_SAMPLES_PER_RECORD;
        ts_buf_init(&bufs[k], 0);
        rc = ts_record_encode_samples(&bufs[k++], samples + off, n);
    }
    if (rc == TS_OK) {
        for (size_t i = 0; i < k; i++) {
            recs[i] = bufs[i].p;
            lens[i] = bufs[i].len;
        }
        rc = ts_wal_log_many(db->wal, recs, lens, k);
    }
    /* atomics: every commit passes here, the block list's mutex is not for that */
    uint64_t run = 0;
    if (rc != TS_OK) {
        atomic_fetch_add(&db->wal_writes_failed, 1);
        atomic_fetch_add(&db->samples_unlogged, nsamples);
        run = atomic_fetch_add(&db->wal_fail_run, 1);
    } else if (atomic_load_explicit(&db->wal_fail_run, memory_order_relaxed)) {
        run = atomic_exchange(&db->wal_fail_run, 0);
    }
    if (rc != TS_OK && run % 100 == 0)
        TS_LOG(TS_LOG_ERROR, "tsdb",
               "writing to the WAL failed; the samples stay in memory without a WAL record",
               "err=\"%s\" failed_in_a_row=%" PRIu64, ts_strerror(rc), run + 1);
    else if (rc == TS_OK && run > 0)
        TS_LOG(TS_LOG_INFO, "tsdb", "writing to the WAL again", "failed_writes=%" PRIu64, run);
    for (size_t i = 0; i < k; i++)
        ts_buf_fini(&bufs[i]);
    ts_free(bufs);
    ts_free(recs);
    ts_free(lens);
    return rc;
}

/* ------------------------------------------------------------- block scan */

static bool
looks_like_ulid(const char *s)
{
    if (strlen(s) != TS_ULID_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

static bool
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether every source of b is a source of the (different, higher-level)
 * block o: b was merged into o. */
static bool
covered_by(const ts_block_meta *b, const ts_block_meta *o)
{
    if (o->level <= b->level || b->nsources == 0 || strcmp(b->ulid, o->ulid) == 0)
        return false;
    for (size_t i = 0; i < b->nsources; i++) {
        bool found = false;
        for (size_t j = 0; j < o->nsources && !found; j++)
            found = strcmp(b->sources[i], o->sources[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static int
load_blocks(ts_db *db, ts_error *err)
{
    DIR *d = opendir(db->dir);
    if (!d)
        return ts_error_set(err, -errno, "opening %s: %s", db->dir, strerror(errno));
    struct dirent *e;
    char path[PATH_LEN];
    /* collect names first: we remove entries while deciding */
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        TS_GROW(names, cap, nnames + 1);
        names[nnames++] = ts_strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < nnames; i++) {
        const char *name = names[i];
        size_t len = strlen(name);
        snprintf(path, sizeof(path), "%s/%s", db->dir, name);
        if (!is_dir(path) || strcmp(name, "wal") == 0)
            continue;
        if ((len > 4 && strcmp(name + len - 4, ".tmp") == 0) || strstr(name, ".tmp-for-")) {
            TS_LOG(TS_LOG_WARN, "tsdb", "removing half-written block directory left by a crash",
                   "dir=%s", path);
            ts_fs_remove_all(path);
            continue;
        }
        if (!looks_like_ulid(name))
            continue;
        char meta[PATH_LEN + 16];
        snprintf(meta, sizeof(meta), "%s/meta.json", path);
        if (!ts_fs_exists(meta)) {
            TS_LOG(TS_LOG_WARN, "tsdb", "removing block directory without meta.json", "dir=%s",
                   path);
            ts_fs_remove_all(path);
            continue;
        }
        ts_block *b;
        ts_error berr = {0};
        int rc = ts_block_open(path, &b, &berr);
        if (rc != TS_OK) {
            TS_LOG(TS_LOG_ERROR, "tsdb", "cannot open block; skipping it", "dir=%s err=\"%s\"",
                   path, berr.msg[0] ? berr.msg : ts_strerror(rc));
            continue;
        }
        blocks_add_locked(db, b);
    }
    for (size_t i = 0; i < nnames; i++)
        ts_free(names[i]);
    ts_free(names);

    /* Inputs of a finished compaction that the crash kept us from deleting. */
    for (size_t i = 0; i < db->nblocks;) {
        const ts_block_meta *m = ts_block_get_meta(db->blocks[i]);
        bool dead = false;
        for (size_t j = 0; j < db->nblocks && !dead; j++)
            dead = j != i && covered_by(m, ts_block_get_meta(db->blocks[j]));
        if (dead)
            blocks_delete_locked(db, db->blocks[i], "already-compacted");
        else
            i++;
    }
    return TS_OK;
}

/* ---------------------------------------------------------------- queryable */

/* The queryable's querier: the merge of the head and block queriers, wrapped
 * so the db knows which time ranges are being read (Prometheus'
 * WaitForPendingReadersInTimeRange). */
typedef struct db_querier {
    ts_querier base;
    ts_querier *inner;
    ts_db *db;
    struct db_querier *prev, *next;
} db_querier;

static int
dq_select(ts_querier *q, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    ts_querier *in = ((db_querier *)q)->inner;
    return in->ops->select(in, sorted, hints, ms, nms, out, err);
}

static int
dq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    ts_querier *in = ((db_querier *)q)->inner;
    return in->ops->label_values(in, name, ms, nms, a, out, n, err);
}

static int
dq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    ts_querier *in = ((db_querier *)q)->inner;
    return in->ops->label_names(in, ms, nms, a, out, n, err);
}

static void
dq_close(ts_querier *q)
{
    db_querier *dq = (db_querier *)q;
    ts_db *db = dq->db;
    pthread_mutex_lock(&db->mu);
    if (dq->prev)
        dq->prev->next = dq->next;
    else
        db->readers = dq->next;
    if (dq->next)
        dq->next->prev = dq->prev;
    pthread_mutex_unlock(&db->mu);
    ts_querier_close(dq->inner);
    ts_free(dq);
}

static const ts_querier_ops db_querier_ops = {dq_select, dq_label_values, dq_label_names, dq_close};

/* Whether an open querier reads anything before t.  Caller holds mu. */
static bool
readers_before_locked(ts_db *db, int64_t t)
{
    for (db_querier *q = db->readers; q; q = q->next)
        if (q->base.mint < t)
            return true;
    return false;
}

static int
db_open_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    ts_db *db = qb->impl;
    *out = NULL;
    db_querier *dq = ts_calloc(1, sizeof(*dq));
    dq->base.ops = &db_querier_ops;
    dq->base.mint = mint;
    dq->base.maxt = maxt;
    dq->db = db;
    pthread_mutex_lock(&db->mu);
    /* registered first, so the head cannot be truncated under us from here on */
    dq->next = db->readers;
    if (db->readers)
        db->readers->prev = dq;
    db->readers = dq;
    size_t cap = db->nblocks + 1, n = 0;
    ts_querier **qs = ts_calloc(cap, sizeof(*qs));
    int rc = TS_OK;
    for (size_t i = 0; i < db->nblocks && rc == TS_OK; i++) {
        const ts_block_meta *m = ts_block_get_meta(db->blocks[i]);
        if (m->mint > maxt || m->maxt <= mint)
            continue;
        rc = ts_block_querier(db->blocks[i], mint, maxt, &qs[n]);
        if (rc == TS_OK)
            n++;
    }
    pthread_mutex_unlock(&db->mu);
    if (rc == TS_OK) {
        /* The head goes first: on equal timestamps the first input wins. */
        memmove(qs + 1, qs, n * sizeof(*qs));
        rc = ts_head_querier(db->head, mint, maxt, &qs[0]);
        if (rc == TS_OK)
            n++;
        else
            memmove(qs, qs + 1, n * sizeof(*qs));
    }
    if (rc != TS_OK) {
        for (size_t i = 0; i < n; i++)
            ts_querier_close(qs[i]);
        ts_free(qs);
        dq->inner = NULL;
        dq_close(&dq->base);
        return rc;
    }
    dq->inner = ts_merge_queriers(qs, n, mint, maxt);
    ts_free(qs);
    *out = &dq->base;
    return TS_OK;
}

/* --------------------------------------------------------------- open/close */

int
ts_db_open(const char *dir, const ts_db_opts *opts, ts_db **out, ts_error *err)
{
    *out = NULL;
    ts_db_opts o;
    if (opts)
        o = *opts;
    else
        ts_db_opts_default(&o);
    if (o.block_range_ms <= 0)
        return ts_error_set(err, TS_EINVAL, "block range must be positive");
    if (o.retention_ms < 0 || o.retention_bytes < 0)
        return ts_error_set(err, TS_EINVAL, "retention must not be negative");
    int rc = ts_fs_mkdir_all(dir, 0755);
    if (rc != TS_OK)
        return ts_error_set(err, rc, "creating %s: %s", dir, ts_strerror(rc));

    ts_db *db = ts_calloc(1, sizeof(*db));
    db->dir = ts_strdup(dir);
    db->opts = o;
    db->lock_fd = -1;
    db->pending_trunc = INT64_MIN;
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    db->qb.querier = db_open_querier;
    db->qb.impl = db;
    compute_ranges(db);

    char path[PATH_LEN];
    snprintf(path, sizeof(path), "%s/lock", dir);
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) {
        rc = ts_error_set(err, -errno, "opening %s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = ts_error_set(err, TS_EEXIST, "%s is locked: another process has the database open",
                          dir);
        goto fail;
    }

    if ((rc = load_blocks(db, err)) != TS_OK)
        goto fail;

    /* completed head chunks go to memory-mapped files there (a memory
     * offload: deleted at start, the WAL stays the source of truth) */
    char chunks_dir[PATH_LEN];
    snprintf(chunks_dir, sizeof(chunks_dir), "%s/chunks_head", dir);
    ts_head_opts ho = {.chunk_range_ms = o.block_range_ms,
                       .log = db_log,
                       .log_ctx = db,
                       .keep_unlogged = true,
                       .chunks_dir = chunks_dir};
    if ((rc = ts_head_new(&db->head, &ho)) != TS_OK) {
        ts_error_set(err, rc, "creating head: %s", ts_strerror(rc));
        goto fail;
    }

    /* Replay the WAL; samples already in a block are skipped. */
    int64_t bmaxt = newest_block_maxt(db);
    ts_wal_opts wo;
    ts_wal_opts_default(&wo);
    wo.fsync_interval_ms = o.wal_fsync_interval_ms;
    wo.compress = o.wal_compress != 0;
    if (o.wal_segment_size)
        wo.segment_size = o.wal_segment_size;
    snprintf(path, sizeof(path), "%s/wal", dir);
    uint64_t t0 = ts_mono_ns();
    ts_wal *wal;
    ts__replay *replay = ts__replay_new(db->head, bmaxt, o.replay_workers);
    rc = ts_wal_open(path, &wo, ts__replay_record, replay, &wal, err);
    ts__replay_stats rs;
    ts__replay_finish(replay, &rs);
    db->samples_dropped_on_replay += rs.samples_dropped;
    if (rc != TS_OK)
        goto fail;
    db->wal = wal;
    ts_head_replay_end(db->head);
    if (bmaxt != INT64_MIN)
        ts_head_truncate(db->head, bmaxt); /* appends below the newest block are too old */

    uint64_t t1 = ts_mono_ns();

    ts_head_stats hs;
    ts_head_stats_get(db->head, &hs);
    ts_wal_stats ws;
    ts_wal_stats_get(db->wal, &ws);
    TS_LOG(TS_LOG_INFO, "tsdb", "WAL replay completed",
           "records=%" PRIu64 " wal_series=%" PRIu64 " wal_samples=%" PRIu64
           " workers=%zu duration_ms=%.1f",
           ws.records_replayed, rs.series, rs.samples, rs.workers, (double)(t1 - t0) / 1e6);
    TS_LOG(TS_LOG_INFO, "tsdb", "database opened",
           "dir=%s blocks=%zu series=%" PRIu64 " head_samples=%" PRIu64 " wal_records=%" PRIu64
           " dropped_samples=%" PRIu64 " wal_repairs=%" PRIu64 " replay_ms=%" PRIu64,
           dir, db->nblocks, hs.num_series, hs.num_samples, ws.records_replayed,
           db->samples_dropped_on_replay, ws.repairs, (ts_mono_ns() - t0) / 1000000);
    *out = db;
    return TS_OK;

fail:
    ts_db_close(db);
    return rc;
}

void
ts_db_close(ts_db *db)
{
    if (!db)
        return;
    ts_wal_close(db->wal); /* fsyncs */
    db->wal = NULL;
    if (db->head)
        ts_head_free(db->head);
    for (size_t i = 0; i < db->nblocks; i++)
        ts_block_unref(db->blocks[i]);
    ts_free(db->blocks);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->compact_mu);
    ts_free(db->dir);
    ts_free(db);
}

ts_appender *
ts_db_appender(ts_db *db)
{
    return ts_head_appender(db->head);
}

ts_queryable *
ts_db_queryable(ts_db *db)
{
    return &db->qb;
}

ts_head *
ts_db_head(ts_db *db)
{
    return db->head;
}

/* --------------------------------------------------------------- compaction */

typedef struct ref_set {
    uint64_t *refs;
    size_t n, cap;
} ref_set;

static void
collect_ref(void *ctx, uint64_t ref, const ts_labels *ls)
{
    (void)ls;
    ref_set *s = ctx;
    TS_GROW(s->refs, s->cap, s->n + 1);
    s->refs[s->n++] = ref;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool
ref_set_has(const ref_set *s, uint64_t ref)
{
    return s->n && bsearch(&ref, s->refs, s->n, sizeof(uint64_t), cmp_u64) != NULL;
}

/* keep(ref) for the checkpoint: series live in the head after truncation
 * (series being appended to are live from their first append() on, see
 * pkg/tsdb/head/append.c), or created after that snapshot. */
typedef struct keep_ctx {
    ref_set live; /* sorted */
    uint64_t next_ref;
} keep_ctx;

static bool
keep_live(void *ctx, uint64_t ref)
{
    keep_ctx *k = ctx;
    return ref >= k->next_ref || ref_set_has(&k->live, ref);
}

/* Writes head data in [mint, maxt) to a block and publishes it; the head is
 * truncated by finish_truncation. */
static int
compact_head(ts_db *db, int64_t mint, int64_t maxt, ts_error *err)
{
    ts_querier *q;
    int rc = ts_head_querier(db->head, mint, maxt - 1, &q);
    if (rc != TS_OK)
        return ts_error_set(err, rc, "head querier: %s", ts_strerror(rc));
    ts_block_meta meta;
    rc = ts_block_write_querier(db->dir, q, mint, maxt, 1, NULL, 0, &meta, err);
    ts_querier_close(q);
    if (rc != TS_OK) {
        ts_block_meta_fini(&meta);
        return rc;
    }
    if (meta.ulid[0]) {
        char path[PATH_LEN];
        snprintf(path, sizeof(path), "%s/%s", db->dir, meta.ulid);
        ts_block *b;
        rc = ts_block_open(path, &b, err);
        if (rc != TS_OK) {
            ts_block_meta_fini(&meta);
            return rc;
        }
        pthread_mutex_lock(&db->mu);
        blocks_add_locked(db, b);
        db->head_compactions++;
        pthread_mutex_unlock(&db->mu);
        TS_LOG(TS_LOG_INFO, "tsdb", "head compacted into a block",
               "ulid=%s mint=%" PRId64 " maxt=%" PRId64 " series=%" PRIu64 " samples=%" PRIu64,
               meta.ulid, meta.mint, meta.maxt, meta.num_series, meta.num_samples);
    }
    ts_block_meta_fini(&meta);
    db->pending_trunc = maxt;
    return TS_OK;
}

/* Finishes a head compaction: truncates the head at pending_trunc and
 * checkpoints the WAL, unless a querier still reads below that time (its
 * head querier may still need the data; the block has it too, and the merge
 * hides the overlap).  *done tells whether it happened. */
static int
finish_truncation(ts_db *db, bool *done, ts_error *err)
{
    *done = false;
    int64_t maxt = db->pending_trunc;
    if (maxt == INT64_MIN) {
        *done = true;
        return TS_OK;
    }
    pthread_mutex_lock(&db->mu);
    bool busy = readers_before_locked(db, maxt);
    pthread_mutex_unlock(&db->mu);
    if (busy) {
        TS_LOG(TS_LOG_DEBUG, "tsdb", "head truncation deferred: a query is reading that range",
               "until=%" PRId64, maxt);
        return TS_OK;
    }

    ts_head_truncate(db->head, maxt);
    db->pending_trunc = INT64_MIN;
    *done = true;

    /* Checkpoint: keep the series still in the head, and samples >= maxt.
     * next_ref is read before the snapshot, so a series created meanwhile
     * is either in the snapshot or has a ref >= next_ref. */
    keep_ctx keep = {.next_ref = ts_head_last_ref(db->head)};
    ts_head_foreach_series(db->head, collect_ref, &keep.live);
    if (keep.live.n)
        qsort(keep.live.refs, keep.live.n, sizeof(uint64_t), cmp_u64);
    int rc;
    int cur = ts_wal_cut(db->wal);
    if (cur < 0) {
        rc = ts_error_set(err, cur, "cutting WAL segment: %s", ts_strerror(cur));
    } else {
        rc = ts_wal_checkpoint(db->wal, cur - 1, keep_live, &keep, maxt, err);
    }
    ts_free(keep.live.refs);
    return rc;
}

/* One leveled merge of blocks, if the plan has one.  *did is set when it ran. */
static int
merge_blocks(ts_db *db, bool *did, ts_error *err)
{
    *did = false;
    pthread_mutex_lock(&db->mu);
    size_t n = db->nblocks;
    ts_block **bs = ts_calloc(n ? n : 1, sizeof(*bs));
    const ts_block_meta **metas = ts_calloc(n ? n : 1, sizeof(*metas));
    for (size_t i = 0; i < n; i++) {
        bs[i] = db->blocks[i];
        ts_block_ref(bs[i]);
        metas[i] = ts_block_get_meta(bs[i]);
    }
    pthread_mutex_unlock(&db->mu);

    int rc = TS_OK;
    size_t first = 0;
    size_t k = n >= 2 ? ts_compact_plan(metas, n, db->ranges, db->nranges, &first) : 0;
    if (k >= 2 && first + k <= n) {
        ts_block_meta meta;
        memset(&meta, 0, sizeof(meta));
        rc = ts_compact(db->dir, bs + first, k, &meta, err);
        ts_block *nb = NULL;
        if (rc == TS_OK && meta.ulid[0]) {
            char path[PATH_LEN];
            snprintf(path, sizeof(path), "%s/%s", db->dir, meta.ulid);
            rc = ts_block_open(path, &nb, err);
        }
        if (rc == TS_OK) {
            pthread_mutex_lock(&db->mu);
            if (nb)
                blocks_add_locked(db, nb); /* published before the sources go */
            for (size_t i = first; i < first + k; i++)
                blocks_delete_locked(db, bs[i], "compacted");
            db->block_merges++;
            pthread_mutex_unlock(&db->mu);
            TS_LOG(TS_LOG_INFO, "tsdb", "blocks compacted",
                   "sources=%zu ulid=%s mint=%" PRId64 " maxt=%" PRId64 " level=%d", k,
                   meta.ulid[0] ? meta.ulid : "(empty)", meta.mint, meta.maxt, meta.level);
            *did = true;
        }
        ts_block_meta_fini(&meta);
    }
    for (size_t i = 0; i < n; i++)
        ts_block_unref(bs[i]);
    ts_free(bs);
    ts_free(metas);
    return rc;
}

static int
cmp_block_maxt_desc(const void *a, const void *b)
{
    const ts_block_meta *x = ts_block_get_meta(*(ts_block *const *)a);
    const ts_block_meta *y = ts_block_get_meta(*(ts_block *const *)b);
    return x->maxt > y->maxt ? -1 : x->maxt < y->maxt;
}

static void
apply_retention(ts_db *db)
{
    if (db->opts.retention_ms <= 0 && db->opts.retention_bytes <= 0)
        return;
    int64_t wal_bytes = db->opts.retention_bytes > 0 ? ts_wal_size(db->wal) : 0;
    pthread_mutex_lock(&db->mu);
    size_t n = db->nblocks;
    ts_block **bs = ts_calloc(n ? n : 1, sizeof(*bs));
    if (n) { /* db->blocks is NULL before the first block */
        memcpy(bs, db->blocks, n * sizeof(*bs));
        qsort(bs, n, sizeof(*bs), cmp_block_maxt_desc); /* newest first */
    }
    int64_t total = wal_bytes;
    for (size_t i = 0; i < n; i++) {
        const ts_block_meta *m = ts_block_get_meta(bs[i]);
        const char *why = NULL;
        if (db->opts.retention_ms > 0 && i > 0 &&
            ts_block_get_meta(bs[0])->maxt - m->maxt > db->opts.retention_ms)
            why = "time-retention";
        total += m->size_bytes;
        if (!why && db->opts.retention_bytes > 0 && total > db->opts.retention_bytes)
            why = "size-retention";
        if (why) {
            blocks_delete_locked(db, bs[i], why);
            db->retention_deletions++;
        }
    }
    pthread_mutex_unlock(&db->mu);
    ts_free(bs);
}

/* What compaction rounds did so far (only ts_db_compact changes it). */
static uint64_t
compaction_work(ts_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t work = db->head_compactions + db->block_merges + db->retention_deletions;
    pthread_mutex_unlock(&db->mu);
    return work;
}

int
ts_db_compact(ts_db *db, ts_error *err)
{
    pthread_mutex_lock(&db->compact_mu);
    int rc = TS_OK;
    const uint64_t work_before = compaction_work(db);
    const int64_t range = db->opts.block_range_ms;

    /* 1. head -> blocks (a truncation deferred last time goes first) */
    bool truncated;
    rc = finish_truncation(db, &truncated, err);
    while (rc == TS_OK && truncated) {
        int64_t hmint = ts_head_mint(db->head), hmaxt = ts_head_maxt(db->head);
        if (hmint == INT64_MAX || hmaxt == INT64_MIN || hmaxt - hmint <= range / 2 * 3)
            break;
        int64_t end = floor_div(hmint, range) * range + range;
        if ((rc = compact_head(db, hmint, end, err)) != TS_OK)
            break;
        if ((rc = finish_truncation(db, &truncated, err)) != TS_OK)
            break;
        if (truncated && ts_head_mint(db->head) <= hmint)
            break; /* truncation made no progress; don't spin */
    }
    /* 2. merge blocks */
    for (int i = 0; rc == TS_OK && i < 64; i++) {
        bool did;
        rc = merge_blocks(db, &did, err);
        if (!did)
            break;
    }
    /* 3. retention */
    apply_retention(db);

    /* 4. give the memory back: glibc keeps what a thread freed in that
     * thread's arena (the compactor's), below the arena's top and in the
     * middle of heaps; malloc_trim returns whole free pages of every arena
     * to the kernel (issue 16: without it the anonymous RSS kept the
     * high-water mark of the biggest compaction). */
    if (compaction_work(db) != work_before)
        malloc_trim(0);

    if (rc != TS_OK) {
        pthread_mutex_lock(&db->mu);
        db->compaction_failures++;
        pthread_mutex_unlock(&db->mu);
        TS_LOG(TS_LOG_ERROR, "tsdb", "compaction failed", "err=\"%s\"",
               err && err->msg[0] ? err->msg : ts_strerror(rc));
    }
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}

/* -------------------------------------------------------------------- stats */

void
ts_db_stats_get(ts_db *db, ts_db_stats *st)
{
    memset(st, 0, sizeof(*st));
    ts_head_stats_get(db->head, &st->head);
    pthread_mutex_lock(&db->mu);
    st->num_blocks = db->nblocks;
    st->blocks_mint = INT64_MAX;
    st->blocks_maxt = INT64_MIN;
    for (size_t i = 0; i < db->nblocks; i++) {
        const ts_block_meta *m = ts_block_get_meta(db->blocks[i]);
        st->blocks_bytes += m->size_bytes;
        if (m->mint < st->blocks_mint)
            st->blocks_mint = m->mint;
        if (m->maxt > st->blocks_maxt)
            st->blocks_maxt = m->maxt;
    }
    st->head_compactions_total = db->head_compactions;
    st->block_merges_total = db->block_merges;
    st->retention_deletions_total = db->retention_deletions;
    st->compaction_failures_total = db->compaction_failures;
    st->wal_samples_dropped_on_replay = db->samples_dropped_on_replay;
    st->wal_writes_failed_total = atomic_load(&db->wal_writes_failed);
    st->head_samples_unlogged_total = atomic_load(&db->samples_unlogged);
    pthread_mutex_unlock(&db->mu);
    st->wal_bytes = ts_wal_size(db->wal);
    ts_wal_segments(db->wal, &st->wal_first_segment, &st->wal_last_segment);
    ts_wal_stats ws;
    ts_wal_stats_get(db->wal, &ws);
    st->wal_records_replayed = ws.records_replayed;
    st->wal_repairs = ws.repairs;
}
