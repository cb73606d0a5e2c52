/*
 * What lets the block writer run in bounded memory (issue 16): buffered
 * file I/O, an external sort, and frames compressed as they are written.
 *
 * Buffered writer/reader (ts__bw, ts__br): one IO_BUF buffer each, over a
 * file descriptor at an explicit offset; errors are sticky (checked once).
 *
 * External sort (ts__xsort): records are byte strings ordered by memcmp,
 * shorter first on a common prefix (so NUL-free strings sort as strcmp
 * does, and big-endian integers numerically).  Records are gathered in
 * memory until they nearly fill XSORT_MEM bytes; then they are sorted and
 * deduplicated; if that did not halve them they are written as a sorted
 * run to the sort's scratch file (unlinked at creation, so nothing is left
 * behind on a crash), else the unique records stay and gathering goes on.
 * Reading merges the runs and the in-memory rest (each run through a
 * RUN_BUF reader) and skips repeats.  A merge may be run again (begin)
 * as often as needed: the writer counts a section before writing it.
 * Memory: XSORT_MEM for records, 8 bytes per record held for their
 * offsets (at most 1 MiB), the same again while the unique records are
 * compacted, and RUN_BUF per run; a run holds at least a few hundred KiB,
 * so the run readers take a small fraction of the spilled bytes.
 *
 * Frame writer (ts__fw): the frame of frame.c written as its content comes:
 * an 8-byte header placeholder, the zstd stream (compressed FW_CHUNK at a
 * time), then the real header is written in place with pwrite, the CRC is
 * computed by reading the frame back and appended.  Its zstd context takes
 * our allocator (so tests count it), a 1 MiB window and 1 MiB match tables
 * (level 9's own tables would take 16 MiB for little gain on an index).
 */
#include "pkg/tsdb/block/spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

#define IO_BUF (64u << 10)
#define RUN_BUF (32u << 10)
#define XSORT_MEM (2u << 20)      /* record buffer (a power of two: ts_buf doubles) */
#define XSORT_SLACK (64u << 10)   /* records are sorted once less than this is left */
#define XSORT_MAX_RECS (1u << 17) /* or once this many are held (1 MiB of offsets) */
#define FW_CHUNK (64u << 10)
#define FW_WINDOW_LOG 20
#define FW_TABLE_LOG 18

/* ------------------------------------------------------------ zstd memory */

static void *
zalloc(void *opaque, size_t n)
{
    (void)opaque;
    return ts_malloc(n);
}

static void
zfree(void *opaque, void *p)
{
    (void)opaque;
    ts_free(p);
}

ZSTD_CCtx *
ts__zstd_cctx_new(void)
{
    ZSTD_customMem mem = {zalloc, zfree, NULL};
    ZSTD_CCtx *c = ZSTD_createCCtx_advanced(mem);
    TS_ASSERT(c != NULL);
    return c;
}

/* ------------------------------------------------------------ temp files */

int
ts__tmpfile(const char *dir, const char *name, int *fd)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    *fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (*fd < 0)
        return -errno;
    unlink(path);
    return TS_OK;
}

/* ------------------------------------------------------------ buffered writer */

void
ts__bw_init(ts__bw *w, int fd, uint64_t off)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->off = off;
    w->buf = ts_malloc(IO_BUF);
}

void
ts__bw_fini(ts__bw *w)
{
    ts_free(w->buf);
    w->buf = NULL;
}

int
ts__bw_flush(ts__bw *w)
{
    if (w->err)
        return w->err;
    size_t done = 0;
    while (done < w->len) {
        ssize_t n = pwrite(w->fd, w->buf + done, w->len - done, (off_t)(w->off - w->len + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return w->err = n < 0 ? -errno : TS_EIO;
        done += (size_t)n;
    }
    w->len = 0;
    return TS_OK;
}

void
ts__bw_put(ts__bw *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n && !w->err) {
        size_t k = IO_BUF - w->len < n ? IO_BUF - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        w->off += k;
        s += k;
        n -= k;
        if (w->len == IO_BUF)
            ts__bw_flush(w);
    }
}

void
ts__bw_uvarint(ts__bw *w, uint64_t v)
{
    uint8_t b[10];
    ts__bw_put(w, b, ts_uvarint_encode(b, v));
}

/* ------------------------------------------------------------ buffered reader */

void
ts__br_init(ts__br *r, int fd, uint64_t off, uint64_t end, size_t bufsize)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->off = off;
    r->end = end;
    r->cap = bufsize;
    r->buf = ts_malloc(bufsize);
}

void
ts__br_fini(ts__br *r)
{
    ts_free(r->buf);
    r->buf = NULL;
}

static bool
br_fill(ts__br *r)
{
    if (r->pos < r->len)
        return true;
    if (r->err || r->off >= r->end)
        return false;
    size_t want = r->end - r->off < r->cap ? (size_t)(r->end - r->off) : r->cap;
    int rc = ts_fs_pread_all(r->fd, r->buf, want, (int64_t)r->off);
    if (rc) {
        r->err = rc;
        return false;
    }
    r->off += want;
    r->pos = 0;
    r->len = want;
    return true;
}

bool
ts__br_eof(ts__br *r)
{
    return !br_fill(r);
}

int
ts__br_read(ts__br *r, void *p, size_t n)
{
    uint8_t *d = p;
    while (n) {
        if (!br_fill(r))
            return r->err ? r->err : TS_ECORRUPT;
        size_t k = r->len - r->pos < n ? r->len - r->pos : n;
        memcpy(d, r->buf + r->pos, k);
        r->pos += k;
        d += k;
        n -= k;
    }
    return TS_OK;
}

int
ts__br_uvarint(ts__br *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        int rc = ts__br_read(r, &b, 1);
        if (rc)
            return rc;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return TS_OK;
    }
    return TS_ECORRUPT;
}

/* ------------------------------------------------------------ external sort */

static int
rec_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c;
    return na < nb ? -1 : na > nb;
}

/* The in-memory records: mem holds uvarint length + bytes each, offs their
 * starts. */
static void
mem_rec(const ts__xsort *x, size_t i, const uint8_t **p, size_t *n)
{
    uint64_t len;
    size_t k = ts_uvarint_decode(x->mem.p + x->offs[i], x->mem.p + x->mem.len, &len);
    *p = x->mem.p + x->offs[i] + k;
    *n = (size_t)len;
}

static int
offs_cmp(const void *a, const void *b, void *ctx)
{
    const ts__xsort *x = ctx;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    uint64_t la, lb;
    size_t ka = ts_uvarint_decode(x->mem.p + ia, x->mem.p + x->mem.len, &la);
    size_t kb = ts_uvarint_decode(x->mem.p + ib, x->mem.p + x->mem.len, &lb);
    return rec_cmp(x->mem.p + ia + ka, (size_t)la, x->mem.p + ib + kb, (size_t)lb);
}

/* Sorts the in-memory records and drops repeats (offs only). */
static void
mem_sort_unique(ts__xsort *x)
{
    if (x->sorted)
        return;
    if (x->noffs > 1)
        qsort_r(x->offs, x->noffs, sizeof(*x->offs), offs_cmp, x);
    size_t k = 0;
    for (size_t i = 0; i < x->noffs; i++) {
        if (k > 0) {
            const uint8_t *a, *b;
            size_t na, nb;
            mem_rec(x, k - 1, &a, &na);
            mem_rec(x, i, &b, &nb);
            if (rec_cmp(a, na, b, nb) == 0)
                continue;
        }
        x->offs[k++] = x->offs[i];
    }
    x->noffs = k;
    x->sorted = true;
}

void
ts__xsort_init(ts__xsort *x, const char *dir, const char *name)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "%s", dir);
    snprintf(x->name, sizeof(x->name), "%s", name);
    x->fd = -1;
    ts_buf_init(&x->mem, 0);
    ts_buf_init(&x->last, 0);
}

void
ts__xsort_fini(ts__xsort *x)
{
    ts_buf_fini(&x->mem);
    ts_buf_fini(&x->last);
    ts_free(x->offs);
    ts_free(x->run_off);
    for (size_t i = 0; i < x->nrd; i++) {
        ts__br_fini(&x->rd[i].br);
        ts_buf_fini(&x->rd[i].cur);
    }
    ts_free(x->rd);
    if (x->fd >= 0)
        close(x->fd);
    memset(x, 0, sizeof(*x));
    x->fd = -1;
}

/* Writes the in-memory records (sorted, unique) as a run. */
static int
spill(ts__xsort *x)
{
    if (x->fd < 0) {
        int rc = ts__tmpfile(x->dir, x->name, &x->fd);
        if (rc)
            return rc;
    }
    ts__bw w;
    ts__bw_init(&w, x->fd, x->spilled);
    for (size_t i = 0; i < x->noffs; i++) {
        const uint8_t *p;
        size_t n;
        mem_rec(x, i, &p, &n);
        ts__bw_uvarint(&w, n);
        ts__bw_put(&w, p, n);
    }
    int rc = ts__bw_flush(&w);
    uint64_t end = w.off;
    ts__bw_fini(&w);
    if (rc)
        return rc;
    TS_GROW(x->run_off, x->run_cap, x->nruns + 2);
    x->run_off[x->nruns] = x->spilled;
    x->run_off[x->nruns + 1] = end;
    x->nruns++;
    x->spilled = end;
    ts_buf_reset(&x->mem);
    x->noffs = 0;
    return TS_OK;
}

/* Keeps only the unique records in mem (compacted). */
static void
compact_mem(ts__xsort *x)
{
    ts_buf nb;
    ts_buf_init(&nb, 0);
    ts_buf_reserve(&nb, x->mem.len);
    for (size_t i = 0; i < x->noffs; i++) {
        const uint8_t *p;
        size_t n;
        mem_rec(x, i, &p, &n);
        size_t at = nb.len;
        ts_buf_put_uvarint(&nb, n);
        ts_buf_put(&nb, p, n);
        x->offs[i] = at;
    }
    ts_buf_fini(&x->mem);
    x->mem = nb;
}

int
ts__xsort_add(ts__xsort *x, const void *p, size_t n)
{
    if (x->mem.cap == 0)
        ts_buf_reserve(&x->mem, XSORT_MEM - 1);
    TS_GROW(x->offs, x->offs_cap, x->noffs + 1);
    x->offs[x->noffs++] = x->mem.len;
    ts_buf_put_uvarint(&x->mem, n);
    ts_buf_put(&x->mem, p, n);
    x->sorted = false;
    if (x->mem.len + XSORT_SLACK < XSORT_MEM && x->noffs < XSORT_MAX_RECS)
        return TS_OK;
    size_t before = x->mem.len, after = 0;
    mem_sort_unique(x);
    for (size_t i = 0; i < x->noffs; i++) {
        const uint8_t *p2;
        size_t n2;
        mem_rec(x, i, &p2, &n2);
        after += n2 + 1;
    }
    if (after > before / 2)
        return spill(x);
    compact_mem(x);
    x->sorted = false; /* further adds go unsorted after them */
    return TS_OK;
}

int
ts__xsort_begin(ts__xsort *x)
{
    mem_sort_unique(x);
    if (!x->rd) {
        x->nrd = x->nruns;
        x->rd = ts_calloc(x->nrd ? x->nrd : 1, sizeof(*x->rd));
        for (size_t i = 0; i < x->nrd; i++) {
            ts__br_init(&x->rd[i].br, x->fd, 0, 0, RUN_BUF);
            ts_buf_init(&x->rd[i].cur, 0);
        }
    }
    for (size_t i = 0; i < x->nrd; i++) {
        ts__xrun *r = &x->rd[i];
        r->br.off = x->run_off[i];
        r->br.end = x->run_off[i + 1];
        r->br.pos = r->br.len = 0;
        r->br.err = 0;
        r->ok = false;
        r->started = false;
    }
    x->mi = 0;
    x->have_last = false;
    x->err = TS_OK;
    return TS_OK;
}

/* Loads the next record of run r into r->cur. */
static void
run_advance(ts__xsort *x, ts__xrun *r)
{
    r->ok = false;
    if (ts__br_eof(&r->br)) {
        if (r->br.err && !x->err)
            x->err = r->br.err;
        return;
    }
    uint64_t n;
    int rc = ts__br_uvarint(&r->br, &n);
    if (!rc && n > TS__FRAME_MAX_RAW)
        rc = TS_ECORRUPT;
    if (!rc) {
        ts_buf_reset(&r->cur);
        rc = ts_buf_reserve(&r->cur, (size_t)n);
        if (!rc)
            rc = ts__br_read(&r->br, r->cur.p, (size_t)n);
        r->cur.len = (size_t)n;
    }
    if (rc) {
        if (!x->err)
            x->err = rc;
        return;
    }
    r->ok = true;
}

bool
ts__xsort_next(ts__xsort *x, const uint8_t **p, size_t *n)
{
    for (;;) {
        if (x->err)
            return false;
        /* smallest among the runs and the in-memory records */
        const uint8_t *bp = NULL;
        size_t bn = 0;
        ssize_t best = -2; /* -1 = memory */
        for (size_t i = 0; i < x->nrd; i++) {
            ts__xrun *r = &x->rd[i];
            if (!r->started) {
                r->started = true;
                run_advance(x, r);
            }
            if (r->ok && (best == -2 || rec_cmp(r->cur.p, r->cur.len, bp, bn) < 0)) {
                best = (ssize_t)i;
                bp = r->cur.p;
                bn = r->cur.len;
            }
        }
        if (x->mi < x->noffs) {
            const uint8_t *mp;
            size_t mn;
            mem_rec(x, x->mi, &mp, &mn);
            if (best == -2 || rec_cmp(mp, mn, bp, bn) < 0) {
                best = -1;
                bp = mp;
                bn = mn;
            }
        }
        if (x->err || best == -2)
            return false;
        bool repeat = x->have_last && rec_cmp(bp, bn, x->last.p, x->last.len) == 0;
        if (!repeat) {
            ts_buf_reset(&x->last);
            ts_buf_put(&x->last, bp, bn);
            x->have_last = true;
        }
        if (best == -1)
            x->mi++;
        else
            run_advance(x, &x->rd[best]);
        if (repeat)
            continue;
        *p = x->last.p;
        *n = x->last.len;
        return true;
    }
}

/* ------------------------------------------------------------ frame writer */

void
ts__fw_init(ts__fw *f, ts__bw *out, ZSTD_CCtx *cctx, int level)
{
    memset(f, 0, sizeof(*f));
    f->out = out;
    f->cctx = cctx;
    f->level = level;
    f->in = ts_malloc(FW_CHUNK);
    f->zout_cap = ZSTD_CStreamOutSize();
    f->zout = ts_malloc(f->zout_cap);
}

void
ts__fw_fini(ts__fw *f)
{
    ts_free(f->in);
    ts_free(f->zout);
    f->in = f->zout = NULL;
}

void
ts__fw_begin(ts__fw *f)
{
    f->start = f->out->off;
    f->raw_len = 0;
    f->inlen = 0;
    uint8_t hdr[TS__FRAME_HDR] = {0};
    ts__bw_put(f->out, hdr, sizeof(hdr));
    ZSTD_CCtx_reset(f->cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_compressionLevel, f->level);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_windowLog, FW_WINDOW_LOG);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_hashLog, FW_TABLE_LOG);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_chainLog, FW_TABLE_LOG);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_contentSizeFlag, 0);
}

static void
fw_compress(ts__fw *f, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {f->in, f->inlen, 0};
    for (;;) {
        ZSTD_outBuffer out = {f->zout, f->zout_cap, 0};
        size_t left = ZSTD_compressStream2(f->cctx, &out, &in, mode);
        if (ZSTD_isError(left)) {
            if (!f->err)
                f->err = TS_EIO;
            return;
        }
        ts__bw_put(f->out, f->zout, out.pos);
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            break;
    }
    f->inlen = 0;
}

void
ts__fw_put(ts__fw *f, const void *p, size_t n)
{
    const uint8_t *s = p;
    f->raw_len += n;
    while (n) {
        size_t k = FW_CHUNK - f->inlen < n ? FW_CHUNK - f->inlen : n;
        memcpy(f->in + f->inlen, s, k);
        f->inlen += k;
        s += k;
        n -= k;
        if (f->inlen == FW_CHUNK)
            fw_compress(f, ZSTD_e_continue);
    }
}

void
ts__fw_uvarint(ts__fw *f, uint64_t v)
{
    uint8_t b[10];
    ts__fw_put(f, b, ts_uvarint_encode(b, v));
}

void
ts__fw_varint(ts__fw *f, int64_t v)
{
    ts__fw_uvarint(f, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int
ts__fw_end(ts__fw *f)
{
    fw_compress(f, ZSTD_e_end);
    if (f->err)
        return f->err;
    if (f->raw_len > TS__FRAME_MAX_RAW)
        return TS_ELIMIT;
    int rc = ts__bw_flush(f->out);
    if (rc)
        return rc;
    uint64_t clen = f->out->off - f->start - TS__FRAME_HDR;
    if (clen > UINT32_MAX)
        return TS_ELIMIT;
    uint8_t hdr[TS__FRAME_HDR];
    ts_put_be32(hdr, (uint32_t)f->raw_len);
    ts_put_be32(hdr + 4, (uint32_t)clen);
    if (pwrite(f->out->fd, hdr, sizeof(hdr), (off_t)f->start) != (ssize_t)sizeof(hdr))
        return errno ? -errno : TS_EIO;
    /* CRC over the header and the compressed bytes, read back */
    uint32_t crc = 0;
    uint64_t pos = f->start, end = f->out->off;
    while (pos < end) {
        size_t k = end - pos < FW_CHUNK ? (size_t)(end - pos) : FW_CHUNK;
        if ((rc = ts_fs_pread_all(f->out->fd, f->in, k, (int64_t)pos)))
            return rc;
        crc = ts_crc32c(crc, f->in, k);
        pos += k;
    }
    uint8_t c[4];
    ts_put_be32(c, crc);
    ts__bw_put(f->out, c, sizeof(c));
    return f->out->err;
}
