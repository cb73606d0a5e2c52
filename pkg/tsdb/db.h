/*
 * The TSDB: a head (in memory, logged to the WAL) plus a list of immutable
 * blocks on disk, served as one queryable (Prometheus tsdb/db.go).
 *
 *   <dir>/lock                 flock'd while open (one process per directory)
 *   <dir>/wal/                 the WAL (pkg/tsdb/wal, format in docs/format/wal.md)
 *   <dir>/<ULID>/              blocks (pkg/tsdb/block)
 *
 * Lifecycle: ts_db_open replays the WAL into the head; appenders from
 * ts_db_appender log each commit to the WAL (one write(2)) before applying it;
 * ts_db_compact (call it periodically, e.g. every minute) moves old head data
 * into blocks, merges blocks and applies retention; ts_db_close fsyncs.
 *
 * Thread-safety: appenders (one per thread), queriers and ts_db_compact may
 * be used concurrently; ts_db_compact calls are serialised internally.
 * ts_db_close must not race with anything.
 */
#ifndef TS_TSDB_DB_H
#define TS_TSDB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/storage/storage.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/err.h"
#include "pkg/util/metrics.h"

typedef struct ts_db ts_db;

typedef struct ts_db_opts {
    int64_t block_range_ms;        /* head block / chunk range; default 2h */
    int64_t retention_ms;          /* default 15d; 0 = no time retention */
    int64_t retention_bytes;       /* blocks + WAL; default 0 = off */
    int64_t wal_fsync_interval_ms; /* default 1000; 0 = every commit; < 0 = only on close */
    int wal_compress;              /* zstd in the WAL; default 1 */
    size_t wal_segment_size;       /* default 0 = 128 MiB */
    /* Largest block the compactor builds; default 0 = min(10% of retention, 31d). */
    int64_t max_block_range_ms;
    /* Threads appending replayed samples while the opening thread reads the
     * WAL: default 0 = one per online CPU (at most 8); < 0 = replay on the
     * opening thread alone. */
    int replay_workers;
} ts_db_opts;

void ts_db_opts_default(ts_db_opts *o);

/* Opens (creating) the database in dir: takes the directory lock, removes
 * half-written block dirs (*.tmp, or without a readable meta.json) and blocks
 * made obsolete by a finished compaction, opens the blocks, and replays the
 * WAL checkpoint and segments into the head (samples older than the newest
 * block's maxt are dropped: the block has them).  opts may be NULL for the
 * defaults.  Free with ts_db_close. */
int ts_db_open(const char *dir, const ts_db_opts *opts, ts_db **out, ts_error *err);
/* Flushes and fsyncs the WAL, releases blocks and the lock; accepts NULL. */
void ts_db_close(ts_db *db);

/* A head appender whose commit writes the WAL first (pkg/storage contract). */
ts_appender *ts_db_appender(ts_db *db);

/* The merged view of blocks and head: each querier covers the blocks
 * overlapping its range (holding a reference on each, so compaction and
 * retention can drop them meanwhile) and the head.  Borrowed: lives as long
 * as db. */
ts_queryable *ts_db_queryable(ts_db *db);

/*
 * One round of maintenance, safe to call at any time:
 *  1. while the head spans more than 1.5x block_range: write its oldest
 *     block_range-aligned window to a block, truncate the head there,
 *     checkpoint the WAL (keeping live series and newer samples) and delete
 *     the old segments;
 *  2. merge adjacent blocks per the leveled plan (ranges block_range x 3^k up
 *     to max_block_range), deleting the sources once the result is in place;
 *  3. retention, as Prometheus 2.42: by time, delete the blocks whose maxt is
 *     more than retention_ms before the newest block's maxt; by size, keep
 *     the newest blocks while WAL + blocks stay within retention_bytes;
 *  4. if any of that happened, malloc_trim(0): freed memory goes back to
 *     the kernel instead of staying in the compactor thread's arena.
 * Returns the first error; the database stays usable.
 */
int ts_db_compact(ts_db *db, ts_error *err);

typedef struct ts_db_stats {
    ts_head_stats head;
    size_t num_blocks;
    int64_t blocks_bytes;
    int64_t blocks_mint, blocks_maxt; /* INT64_MAX/INT64_MIN without blocks */
    int64_t wal_bytes;
    int wal_first_segment, wal_last_segment;
    uint64_t wal_records_replayed;
    uint64_t wal_samples_dropped_on_replay; /* older than the newest block, or unknown series */
    uint64_t wal_repairs;
    uint64_t wal_writes_failed_total;     /* WAL writes that failed (a full disk) */
    uint64_t head_samples_unlogged_total; /* samples kept in the head without a WAL record */
    uint64_t head_compactions_total;      /* blocks cut from the head */
    uint64_t block_merges_total;          /* compactions of blocks */
    uint64_t retention_deletions_total;
    uint64_t compaction_failures_total;
} ts_db_stats;

/* (Named _get because ts_db_stats is the struct's name.) */
void ts_db_stats_get(ts_db *db, ts_db_stats *st);
/* A ts_metrics collector (register with ctx = the db): Prometheus'
 * prometheus_tsdb_* self-metrics from ts_db_stats (metrics.c).  Safe from any
 * thread. */
void ts_db_write_metrics(void *db, ts_metrics_writer *w);

/* The head, for tools and tests (borrowed). */
ts_head *ts_db_head(ts_db *db);

#endif
