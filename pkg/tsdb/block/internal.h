/*
 * Internals shared by the files of pkg/tsdb/block (not part of the API).
 *
 *   meta.c     ULIDs, meta.json writing (by hand) and reading (libyaml)
 *   frame.c    the zstd + CRC32C frame used by every section of every file
 *   writer.c   ts_block_write
 *   spill.c    buffered files, external sort, streamed frames (spill.h)
 *   reader.c   ts_block_open, the block querier
 *   compact.c  ts_compact_plan, ts_compact
 *
 * The byte formats are in pkg/tsdb/docs/format/{index,chunks}.md.
 */
#ifndef TS_TSDB_BLOCK_INTERNAL_H
#define TS_TSDB_BLOCK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/tsdb/block/block.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"

/* File magics and version. */
#define TS__IDX_MAGIC 0x54534958u /* "TSIX" */
#define TS__CHK_MAGIC 0x5453434Bu /* "TSCK" */
#define TS__FMT_VERSION 1
#define TS__FILE_HDR_LEN 8 /* magic(4) version(1) reserved(3) */

/* Frame: be32 raw_len | be32 comp_len | zstd frame (comp_len bytes) | be32 crc32c. */
#define TS__FRAME_HDR 8
#define TS__FRAME_OVERHEAD 12
/* Largest decompressed frame we accept (bounds memory on corrupt input). */
#define TS__FRAME_MAX_RAW (256u << 20)

/* Index TOC at the very end of the index file:
 * be64 symbols_off | be64 series_table_off | be64 label_table_off | be32 crc32c. */
#define TS__TOC_LEN 28

/* Series per compressed series group in the index. */
#define TS__SERIES_GROUP 128
/* Chunk groups are cut once their raw size reaches this. */
#define TS__CHUNK_GROUP_BYTES (64u << 10)
/* A chunk segment file is closed once it reaches this size. */
#define TS__SEGMENT_MAX (512u << 20)
/* Sanity bounds on decoded counts (anything above is corruption). */
#define TS__MAX_LABELS 4096
#define TS__MAX_CHUNKS_PER_SERIES (1u << 22)

/* Appends one frame holding raw[0..n) compressed at the given zstd level,
 * with the context cctx (a ZSTD_CCtx; NULL = a fresh one). */
struct ZSTD_CCtx_s;
int ts__frame_put(ts_buf *out, const void *raw, size_t n, int level, struct ZSTD_CCtx_s *cctx);
/* Parses the frame at p (avail bytes there): checks bounds and CRC and
 * decompresses into *raw (caller frees with ts_free; NUL-padded by one byte).
 * *frame_len (may be NULL) gets the frame's total size.  what names the
 * section/file for error messages.  Errors: TS_ECORRUPT. */
int ts__frame_get(const uint8_t *p, size_t avail, uint8_t **raw, size_t *raw_len, size_t *frame_len,
                  const char *what, ts_error *err);
/* Only checks a frame's header and CRC (no decompression). */
int ts__frame_check(const uint8_t *p, size_t avail, size_t *frame_len, const char *what,
                    ts_error *err);

/* Chunk records inside a chunk group (chunks.md). */
#define TS__REC_RAW 1         /* XOR chunk bytes as they are */
#define TS__REC_COLUMNAR 0x81 /* compact form, rebuilt into XOR on read (colenc.c) */

/* Appends the compact record (kind byte included) of the XOR chunk
 * xor[0..len) whose first sample is at mint, if it round-trips to exactly
 * the same bytes; returns 1 if appended, 0 if the chunk must stay raw. */
int ts__col_encode(ts_buf *out, const uint8_t * xor, size_t len, int64_t mint);
/* Decodes the body of a compact record (what follows its kind byte and
 * length) and appends the rebuilt XOR chunk to out as uvarint length +
 * bytes.  TS_ECORRUPT on bad input. */
int ts__col_decode(ts_dec *d, int64_t mint, ts_buf *out);

/* meta.json */
/* Writes <dir>/meta.json (fsync'd); parents (may be NULL/0) go into
 * compaction.parents as Prometheus records them. */
int ts__meta_write(const char *dir, const ts_block_meta *m, const ts_block_meta *const *parents,
                   size_t nparents, ts_error *err);
int ts__meta_read(const char *dir, ts_block_meta *m, ts_error *err);

/* fsync a regular file by path. */
int ts__fsync_path(const char *path);

#endif
