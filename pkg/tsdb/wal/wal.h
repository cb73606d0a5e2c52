/*
 * The write-ahead log (Prometheus tsdb/wlog): a directory of numbered segment
 * files holding framed, checksummed, optionally zstd-compressed records,
 * plus at most one checkpoint directory.  The byte format and the recovery
 * rules are specified in pkg/tsdb/docs/format/wal.md.
 *
 *   <dir>/00000000, 00000001, ...     segments (at most segment_size bytes each)
 *   <dir>/checkpoint.NNNNNNNN/        the records of segments <= NNNNNNNN that
 *                                     are still needed, in the same segment format
 *
 * Opening replays the checkpoint and then every later segment through a
 * callback, repairs a damaged tail (torn write, garbage, zeros) by truncating
 * at the first bad frame (warning), and starts a fresh segment for writing.
 * Opening never refuses to start because of damaged data: the damage and what
 * was dropped are logged (TS_LOG, component "wal").
 *
 * Durability: every ts_wal_log() is a single write(2) of whole frames, so a
 * committed record survives the death of the process (the page cache keeps
 * it); fsync happens every fsync_interval_ms from a background thread, on
 * ts_wal_sync(), on segment rotation and on close, which bounds what a power
 * loss can take.
 *
 * Thread-safety: ts_wal_log, ts_wal_sync, ts_wal_cut, ts_wal_checkpoint and
 * the getters may be called concurrently from any thread.  Only one
 * checkpoint may run at a time (the caller serialises them).
 */
#ifndef TS_TSDB_WAL_WAL_H
#define TS_TSDB_WAL_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/util/err.h"

#define TS_WAL_DEFAULT_SEGMENT_SIZE (128u * 1024 * 1024)
/* Largest record (uncompressed); bigger ones are refused with TS_ELIMIT. */
#define TS_WAL_MAX_RECORD (32u * 1024 * 1024)
/* Smallest segment size accepted (tests use small segments). */
#define TS_WAL_MIN_SEGMENT_SIZE 4096u

typedef struct ts_wal ts_wal;

typedef struct ts_wal_opts {
    size_t segment_size; /* default TS_WAL_DEFAULT_SEGMENT_SIZE */
    /* > 0: a background thread fsyncs this often (default 1000);
     * 0: fsync after every ts_wal_log; < 0: only on sync/rotate/close. */
    int64_t fsync_interval_ms;
    bool compress; /* zstd-compress records when that makes them smaller */
} ts_wal_opts;

void ts_wal_opts_default(ts_wal_opts *o);

/* Called once per record on replay, in log order (checkpoint first).  rec is
 * borrowed for the call.  A non-zero return aborts ts_wal_open with it. */
typedef int (*ts_wal_replay_fn)(void *ctx, const uint8_t *rec, size_t n);

/* Opens (creating if needed) the WAL in dir, replays it through fn (may be
 * NULL), repairs damage as described above, and opens a new segment.
 * opts may be NULL for the defaults.  Caller frees with ts_wal_close. */
int ts_wal_open(const char *dir, const ts_wal_opts *opts, ts_wal_replay_fn fn, void *ctx,
                ts_wal **out, ts_error *err);
/* fsyncs and closes; accepts NULL. */
void ts_wal_close(ts_wal *w);

/* Appends one record (n bytes, 1 <= n <= TS_WAL_MAX_RECORD) as one frame. */
int ts_wal_log(ts_wal *w, const uint8_t *rec, size_t n);
/* Appends several records with a single write(2): all of them reach the
 * file together or, on error, none (the segment is truncated back). */
int ts_wal_log_many(ts_wal *w, const uint8_t *const *recs, const size_t *lens, size_t nrecs);
/* fsyncs the current segment. */
int ts_wal_sync(ts_wal *w);
/* Closes the current segment and starts the next one; returns the index of
 * the new segment (>= 0) or an error. */
int ts_wal_cut(ts_wal *w);

/* Segment indexes currently on disk: [*first, *last]; *last is the one being
 * written.  Checkpointed segments are gone. */
void ts_wal_segments(ts_wal *w, int *first, int *last);
/* Total bytes of segments and checkpoint on disk. */
int64_t ts_wal_size(ts_wal *w);
const char *ts_wal_dir(const ts_wal *w);

/*
 * Checkpoint (Prometheus wlog.Checkpoint): rewrites the previous checkpoint
 * and segments [first, upto] into checkpoint.<upto>, keeping only series
 * records of refs for which keep(ctx, ref) is true, and samples of kept refs
 * with t >= mint; then deletes segments <= upto and older checkpoints.
 * upto must be below the segment being written (call ts_wal_cut first).
 * The checkpoint is written to checkpoint.<upto>.tmp, fsync'd and renamed,
 * so a crash leaves the old state or the new one.
 * Records of other types are copied as they are.
 */
typedef bool (*ts_wal_keep_fn)(void *ctx, uint64_t ref);
int ts_wal_checkpoint(ts_wal *w, int upto, ts_wal_keep_fn keep, void *ctx, int64_t mint,
                      ts_error *err);

/* Counters since open, for stats and tests. */
typedef struct ts_wal_stats {
    uint64_t records_written, bytes_written; /* frame bytes */
    uint64_t records_replayed;
    uint64_t repairs; /* times a damaged tail was truncated on open */
    uint64_t checkpoints;
    uint64_t fsyncs;
} ts_wal_stats;
void ts_wal_stats_get(ts_wal *w, ts_wal_stats *st);

#endif
