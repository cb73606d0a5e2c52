/*
 * Blocks: immutable directories holding a time range of series
 * (Prometheus tsdb/block.go, index/, chunks/, compact.go).
 *
 *   <dir>/<ULID>/meta.json      ulid, minTime, maxTime (maxTime exclusive), stats, compaction
 *   <dir>/<ULID>/index          symbols, series (labels + chunk refs), postings, TOC, CRC32C
 *   <dir>/<ULID>/chunks/000001  chunk segment files
 *
 * Written into <dir>/<ULID>.tmp, every file fsync'd, renamed to <dir>/<ULID>,
 * directory fsync'd: a crash leaves either no block or a whole one.
 * The byte formats are in pkg/tsdb/docs/format/{index,chunks}.md.
 *
 * A ts_block is reference-counted: queriers hold a reference, so retention can
 * drop a block while a query still reads it; the files go when the last
 * reference does (if ts_block_mark_deleted was called).
 */
#ifndef TS_TSDB_BLOCK_BLOCK_H
#define TS_TSDB_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/storage/storage.h"

#define TS_ULID_LEN 26

typedef struct ts_block_meta {
    char ulid[TS_ULID_LEN + 1];
    int64_t mint, maxt; /* [mint, maxt) as in Prometheus' meta.json */
    uint64_t num_samples, num_series, num_chunks;
    int level; /* compaction level, 1 for a block cut from the head */
    char (*sources)[TS_ULID_LEN + 1];
    size_t nsources;
    int64_t size_bytes; /* on-disk size of the block dir (filled on open) */
} ts_block_meta;

typedef struct ts_block ts_block;

/* Writes the series of set (sorted by labels; each series' chunks(), or if
 * absent its samples re-encoded) clipped to [mint, maxt) into a new block
 * under parent_dir.  Series with no samples in range are left out; if no
 * series has any, no block is written and *meta_out->ulid is "".
 * Takes ownership of set.  sources/level: for compaction (NULL/0 = new block). */
int ts_block_write(const char *parent_dir, ts_series_set *set, int64_t mint, int64_t maxt,
                   int level, const ts_block_meta *const *parents, size_t nparents,
                   ts_block_meta *meta_out, ts_error *err);

/* Selects every series of q in [mint, maxt) (sorted, streamed: the writer
 * uses a series only until the next one) and writes them with
 * ts_block_write.  q stays the caller's.  Head compaction and ts_compact
 * use this. */
int ts_block_write_querier(const char *parent_dir, ts_querier *q, int64_t mint, int64_t maxt,
                           int level, const ts_block_meta *const *parents, size_t nparents,
                           ts_block_meta *meta_out, ts_error *err);

/* What writing a block may allocate beyond a small multiple of its largest
 * series, whatever its number of series (docs/ARCHITECTURE.md, "Memory of
 * compaction"; tests/unit/tsdb/block/block_mem_test.c checks it). */
#define TS_BLOCK_WRITE_MEM_CONST (12u << 20)

/* Opens a block directory (validates meta.json and the index TOC/CRC). */
int ts_block_open(const char *dir, ts_block **out, ts_error *err);
void ts_block_ref(ts_block *b);
void ts_block_unref(ts_block *b); /* closes at zero */
/* Deletes the directory when the last reference goes. */
void ts_block_mark_deleted(ts_block *b);
const ts_block_meta *ts_block_get_meta(const ts_block *b);
const char *ts_block_dir(const ts_block *b);

/* A querier over the block's data in [mint, maxt] (takes a reference). */
int ts_block_querier(ts_block *b, int64_t mint, int64_t maxt, ts_querier **out);

/* Compaction planning (Prometheus' leveled compactor): given the metas of
 * the current blocks sorted by mint and the range ladder (e.g. 2h, 6h, 24h,
 * ...), picks a set of adjacent blocks to merge into one of the next range.
 * Returns how many (>=2) starting at *first, or 0 when nothing to do. */
size_t ts_compact_plan(const ts_block_meta *const *metas, size_t n, const int64_t *ranges,
                       size_t nranges, size_t *first);

/* Merges blocks[0..n) (adjacent, sorted by mint) into one new block under
 * parent_dir.  The inputs are not deleted here. */
int ts_compact(const char *parent_dir, ts_block *const *blocks, size_t n, ts_block_meta *meta_out,
               ts_error *err);

/* A fresh ULID for time ms (Crockford base32, 26 chars + NUL). */
void ts_ulid_new(int64_t ms, char out[TS_ULID_LEN + 1]);

void ts_block_meta_fini(ts_block_meta *m);

#endif
