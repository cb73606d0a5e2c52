/*
 * Bounded-memory helpers of the block writer (spill.c): buffered file I/O,
 * an external sort of byte records, frames compressed as they are written.
 * Internal to pkg/tsdb/block.
 */
#ifndef TS_TSDB_BLOCK_SPILL_H
#define TS_TSDB_BLOCK_SPILL_H

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: our allocator */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "pkg/tsdb/block/internal.h"
#include "pkg/util/buf.h"
#include "pkg/util/fs.h"

/* A zstd compression context that allocates with ts_malloc (free it with
 * ZSTD_freeCCtx). */
ZSTD_CCtx *ts__zstd_cctx_new(void);

/* Creates dir/name exclusively and unlinks it at once: a scratch file that
 * disappears when *fd is closed (or the process dies). */
int ts__tmpfile(const char *dir, const char *name, int *fd);

/* Buffered writer at file offset off (pwrite); errors are sticky in err. */
typedef struct ts__bw {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t off; /* file offset of the next byte put */
    int err;
} ts__bw;
void ts__bw_init(ts__bw *w, int fd, uint64_t off);
void ts__bw_put(ts__bw *w, const void *p, size_t n);
void ts__bw_uvarint(ts__bw *w, uint64_t v);
int ts__bw_flush(ts__bw *w);
void ts__bw_fini(ts__bw *w); /* does not flush */

/* Buffered reader of [off, end) (pread). */
typedef struct ts__br {
    int fd;
    uint8_t *buf;
    size_t pos, len, cap;
    uint64_t off, end;
    int err;
} ts__br;
void ts__br_init(ts__br *r, int fd, uint64_t off, uint64_t end, size_t bufsize);
void ts__br_fini(ts__br *r);
bool ts__br_eof(ts__br *r);
/* Exactly n bytes; TS_ECORRUPT at the end, or the read error. */
int ts__br_read(ts__br *r, void *p, size_t n);
int ts__br_uvarint(ts__br *r, uint64_t *v);

/* External sort of byte records (memcmp order, shorter first), repeats
 * dropped.  Add everything, then begin/next (begin again to re-read). */
typedef struct ts__xrun {
    ts__br br;
    ts_buf cur;
    bool ok, started;
} ts__xrun;

typedef struct ts__xsort {
    char dir[4096];
    char name[64];
    int fd;       /* scratch file holding the runs, -1 until the first */
    ts_buf mem;   /* in-memory records: uvarint length + bytes */
    size_t *offs; /* their starts */
    size_t noffs, offs_cap;
    bool sorted;
    uint64_t *run_off; /* run i is [run_off[i], run_off[i + 1]) */
    size_t nruns, run_cap;
    uint64_t spilled;
    ts__xrun *rd; /* merge state */
    size_t nrd, mi;
    ts_buf last;
    bool have_last;
    int err;
} ts__xsort;
void ts__xsort_init(ts__xsort *x, const char *dir, const char *name);
void ts__xsort_fini(ts__xsort *x);
int ts__xsort_add(ts__xsort *x, const void *p, size_t n);
int ts__xsort_begin(ts__xsort *x);
/* The next record (valid until the next call); false at the end or on an
 * error (then x->err is set). */
bool ts__xsort_next(ts__xsort *x, const uint8_t **p, size_t *n);

/* A frame (frame.c's format) written to out as its content is put. */
typedef struct ts__fw {
    ts__bw *out;
    ZSTD_CCtx *cctx;
    int level;
    uint64_t start, raw_len;
    uint8_t *in, *zout;
    size_t inlen, zout_cap;
    int err;
} ts__fw;
void ts__fw_init(ts__fw *f, ts__bw *out, ZSTD_CCtx *cctx, int level);
void ts__fw_fini(ts__fw *f);
void ts__fw_begin(ts__fw *f);
void ts__fw_put(ts__fw *f, const void *p, size_t n);
void ts__fw_uvarint(ts__fw *f, uint64_t v);
void ts__fw_varint(ts__fw *f, int64_t v);
/* Finishes the frame: header written in place, CRC appended. */
int ts__fw_end(ts__fw *f);

#endif
