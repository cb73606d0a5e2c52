/*
 * The head: the in-memory, writable part of the TSDB (Prometheus tsdb/head.go).
 *
 * Series are identified by a ref (a counter, never reused within a head's
 * life) and found by label-set hash.  Each series holds XOR chunks of at most
 * 120 samples; a chunk is also cut when a sample crosses a multiple of
 * chunk_range_ms, so no chunk ever straddles a block boundary.
 *
 * Appending: ts_head_appender() returns a ts_appender (pkg/storage).  append()
 * validates each sample against the series' last committed sample and the
 * batch so far (out-of-order -> TS_EOOO, same timestamp with another value ->
 * TS_EDUPSAMPLE, same timestamp and same bits -> silently ignored, older than
 * the appendable window -> TS_ETOOOLD) and counts rejections.  commit()
 * first hands the batch's new series and samples to opts.log (the WAL); only
 * if that succeeds are they applied to memory.  A failing log rolls back,
 * unless opts.keep_unlogged (see there).
 *
 * Thread-safety: appenders, queriers and truncation may run concurrently
 * (series table and each series are locked); one appender is used by one
 * thread.
 *
 * Implementation notes (details in head.c, append.c, read.c):
 *  - Appendable window: once the head has data, samples with
 *    t < max(min_valid, maxt - chunk_range_ms / 2) are TS_ETOOOLD, where
 *    min_valid is the highest mint ever passed to ts_head_truncate
 *    (Prometheus' appendableMinValidTime); WAL replay applies min_valid
 *    alone.  The window is checked before a series is created, so a
 *    too-old sample of a new series creates nothing.  (Computed in one
 *    place: ts__head_min_valid_time, internal.h.)
 *  - A querier keeps the series and chunks it returned readable until it
 *    is closed, even if truncation drops them meanwhile: dropped memory is
 *    freed once the queriers opened before the drop are closed.  Truncation
 *    and queries never wait for each other.
 */
#ifndef TS_TSDB_HEAD_HEAD_H
#define TS_TSDB_HEAD_HEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/storage/storage.h"
#include "pkg/tsdb/record/record.h"

typedef struct ts_head ts_head;

typedef struct ts_head_opts {
    int64_t chunk_range_ms; /* block range; default 2h */
    /* Called by commit with the batch, before it is applied; non-zero aborts
     * the commit (the batch is rolled back).  NULL = no WAL (import, tests). */
    int (*log)(void *ctx, const ts_record_series *series, size_t nseries,
               const ts_record_sample *samples, size_t nsamples);
    void *log_ctx;
    /* A failing log keeps the batch instead of rolling it back: the samples
     * are applied to memory (queryable, and written to a block by the next
     * head compaction) and commit returns TS_OK, but the series records of the
     * batch stay "not logged", so the next commit that touches those series
     * logs them again before any sample that needs them.  For a full disk:
     * only a restart before the next head compaction loses such samples
     * (Prometheus rolls them back and loses them at once). */
    bool keep_unlogged;
    /* Directory for completed chunks' bytes (the shard: <data>/chunks_head):
     * they are written to memory-mapped segment files there instead of
     * staying in anonymous memory.  A memory offload, not persistence: its
     * old files are deleted by ts_head_new and by ts_head_free; the WAL is
     * the source of truth.  If it is unusable (full, read-only) chunks stay
     * in memory until a segment can be made.  NULL = always in memory. */
    const char *chunks_dir;
    size_t chunk_segment_size; /* bytes per segment file; 0 = 32 MiB */
} ts_head_opts;

typedef struct ts_head_stats {
    uint64_t num_series;
    uint64_t num_samples; /* samples currently in memory */
    uint64_t num_chunks;
    int64_t mint, maxt;      /* INT64_MAX/INT64_MIN when empty */
    uint64_t appended_total; /* samples accepted since start */
    uint64_t out_of_order_total;
    uint64_t duplicate_total;
    uint64_t too_old_total;
    uint64_t series_created_total;
    uint64_t series_removed_total;
    /* Completed chunks' bytes (chunks_dir, ts_head_opts): */
    uint64_t chunk_segments;        /* segment files mapped */
    uint64_t chunk_segment_bytes;   /* their size (disk reserved, address space) */
    uint64_t chunk_bytes_mapped;    /* chunk bytes in them not yet released */
    uint64_t chunk_bytes_heap;      /* chunk bytes in malloc'd memory */
    uint64_t chunks_unmapped_total; /* chunks kept in memory: no segment could be made */
} ts_head_stats;

int ts_head_new(ts_head **out, const ts_head_opts *opts);
void ts_head_free(ts_head *h);

/* A new appender (free by commit or rollback). */
ts_appender *ts_head_appender(ts_head *h);

/* WAL replay: recreate a series with its original ref (ignored if it already
 * exists with the same labels), then add samples without logging them.
 * Replayed samples go through the same order checks; rejected ones are
 * counted and skipped.
 * replay_series: TS_OK, TS_EINVAL (ref 0 or no labels), TS_EEXIST (the ref
 * exists with other labels, or the labels exist under another ref).
 * replay_sample: TS_OK (also for samples skipped as out of order, duplicate
 * or below the last truncation point), TS_ENOTFOUND for an unknown ref
 * (callers count it and go on, as Prometheus does).  To drop WAL samples
 * already persisted in blocks, call ts_head_truncate(h, blocks_maxt + 1)
 * before replaying: on an empty head it only sets the lower bound. */
int ts_head_replay_series(ts_head *h, uint64_t ref, const ts_labels *ls);
int ts_head_replay_sample(ts_head *h, uint64_t ref, int64_t t, double v);
/* ts_head_replay_series that also tells, on TS_EEXIST, the ref of the live
 * series that already has these labels (*other; 0 when none, i.e. only the
 * ref is taken by other labels), so replay can redirect the samples logged
 * under ref to it without keeping its own labels -> ref map. */
int ts_head_replay_series_ref(ts_head *h, uint64_t ref, const ts_labels *ls, uint64_t *other);
/* A decoded samples record at once: the same effect as ts_head_replay_sample
 * on each sample in order, but faster (refs resolved through a dense ref ->
 * series index kept by ts_head_replay_series, series prefetched ahead, the
 * shared counters updated once per batch).  Returns how many samples were
 * not applied because ts_head_replay_sample would have returned an error
 * for them (unknown ref).  Unlike ts_head_replay_sample it must run before
 * the head is shared: not concurrently with appenders, queriers, truncation
 * or other replay calls. */
size_t ts_head_replay_samples(ts_head *h, const ts_record_sample *s, size_t n);

/* Parallel replay: ts_head_replay_samples in two steps, so that the samples
 * of a WAL can be appended by several threads while one thread goes on
 * reading the WAL and replaying its series records.
 *
 * ts_head_replay_resolve (on the thread that calls ts_head_replay_series*)
 * turns samples into items naming their series, leaving out the samples
 * below the truncation point (counted as too old, as ts_head_replay_sample
 * does) and those of unknown refs; returns how many were unknown.  out has
 * room for n items; *nout gets how many were written.
 *
 * ts_head_replay_apply appends items (any thread); returns how many were
 * not applied because their series is gone.  Several threads may apply at
 * once, concurrently with the resolving thread's ts_head_replay_series* and
 * ts_head_replay_resolve calls, provided that every item of one series goes
 * to the same thread, in WAL order (partition by ref), and that items reach
 * that thread through a synchronising hand-off (a mutex-protected queue)
 * after they were resolved.  Nothing else may use the head meanwhile. */
typedef struct ts_head_replay_item {
    struct ts__series *series; /* borrowed from the head */
    int64_t t;
    double v;
} ts_head_replay_item;
size_t ts_head_replay_resolve(ts_head *h, const ts_record_sample *s, size_t n,
                              ts_head_replay_item *out, size_t *nout);
size_t ts_head_replay_apply(ts_head *h, const ts_head_replay_item *it, size_t n);
/* Frees the replay index (replay is finished; calling the replay functions
 * again stays correct, only slower until the index is rebuilt). */
void ts_head_replay_end(ts_head *h);

/* A querier over [mint, maxt] of the head (pkg/storage).  Series' chunks()
 * yields the head's chunks overlapping the range (the open chunk included,
 * encoded as it is now).  select needs at least one matcher (TS_EINVAL);
 * label_names/label_values without matchers come from the whole head's index
 * when [mint, maxt] overlaps the head's data, as in Prometheus. */
int ts_head_querier(ts_head *h, int64_t mint, int64_t maxt, ts_querier **out);

/* Drops all samples older than mint (whole chunks with maxt < mint) and the
 * series left without samples.  Called after the range was written to a block. */
void ts_head_truncate(ts_head *h, int64_t mint);

/* Calls fn for every live series (ref, labels), in no particular order;
 * used to write a WAL checkpoint.  fn runs under a series-table read lock:
 * it must not call back into the head.  ls is valid during the call. */
void ts_head_foreach_series(ts_head *h, void (*fn)(void *ctx, uint64_t ref, const ts_labels *ls),
                            void *ctx);

void ts_head_stats_get(ts_head *h, ts_head_stats *st);
int64_t ts_head_mint(ts_head *h);
int64_t ts_head_maxt(ts_head *h);
/* Next ref that will be assigned (so replay can continue the sequence). */
uint64_t ts_head_last_ref(ts_head *h);

#endif
