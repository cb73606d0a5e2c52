/*
 * ts_block_write: a sorted series set -> a block directory, in memory
 * bounded by a constant plus a small multiple of the largest series,
 * whatever the number of series (issue 16; docs/ARCHITECTURE.md "Memory of
 * compaction"; tests/unit/tsdb/block/block_mem_test.c checks it).
 *
 * Pass 1, one pass over the input.  For each series the writer takes its
 * XOR chunks as they are when they can be used unchanged (XOR encoding,
 * wholly inside [mint, maxt), in time order and not overlapping each other);
 * otherwise it re-encodes the series' samples from its iterator into chunks
 * of at most 120 samples.  Each chunk goes into the current chunk group as a
 * record, in the compact column form of colenc.c when that round-trips
 * exactly, else raw.  A group holding at least TS__CHUNK_GROUP_BYTES (or
 * PENDING_MAX_SERIES series, or PENDING_MAX_BYTES of their index records) is
 * compressed as one frame and appended to the current segment file
 * (chunks/000001, ...).  The series' index record (label strings, chunk
 * times, offset in the group) waits in memory until its group is written,
 * then goes with the group's reference to the series spool, a scratch file;
 * every label name and value goes into the symbol sort (spill.c: an
 * external sort that spills sorted runs to a scratch file).  Nothing else
 * stays: the input's series (stream select hint) and this series' chunks
 * are dropped before the next series.
 *
 * Pass 2 builds the index (pkg/tsdb/docs/format/index.md) straight into the
 * file, each section a frame compressed as it is written (spill.c):
 *  - symbols: the merged symbol sort, also written to two scratch files
 *    (the strings, and their offsets) that are mapped to look a symbol's
 *    number up by binary search;
 *  - series groups: the spool read back in order; each entry's postings
 *    (name, value, series id as big-endian integers) go into the postings
 *    sort; group offsets go to a scratch file;
 *  - the series table, from that file;
 *  - postings, one frame per label name: the postings sort is merged twice,
 *    first to count values per name and series per value (counts to
 *    scratch files, since the format puts counts before lists), then to
 *    write; the label table entries go to a scratch file;
 *  - the label table and the TOC.
 * Scratch files are created in the .tmp directory and unlinked at once.
 *
 * Atomicity: everything is written into <parent>/<ULID>.tmp, every file
 * fsync'd, the directories fsync'd, then the directory is renamed to
 * <parent>/<ULID> and the parent fsync'd.  On any error the .tmp directory
 * is removed.
 */
#include "pkg/tsdb/block/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pkg/storage/merge.h"
#include "pkg/tsdb/block/spill.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

#define ZSTD_LEVEL 9
#define SAMPLES_PER_CHUNK 120

/* Series whose chunk group is not written yet: their index records wait. */
#define PENDING_MAX_SERIES 4096
#define PENDING_MAX_BYTES (1u << 20)

/* A chunk collected for the current series (bytes in writer.tmp). */
typedef struct tchunk {
    int64_t mint, maxt;
    size_t off, len;
} tchunk;

typedef struct writer {
    char dir[4096]; /* the .tmp directory */
    ts_error *err;
    ZSTD_CCtx *cctx;
    /* chunk segments */
    int seg_fd;
    uint32_t seg_no;
    uint64_t seg_off;
    ts_buf group, frame;
    /* the current series' chunks */
    ts_buf tmp;
    tchunk *tc;
    size_t ntc, tccap;
    ts_labels *last; /* labels of the series before (order check) */
    /* index records of the series in the unwritten group (spool format) */
    ts_buf pend;
    size_t npend;
    /* the series spool: per group: uvarint count, uvarint chunk ref, records */
    int spool_fd;
    ts__bw spool;
    ts__xsort syms;
    uint64_t nseries, nchunks, nsamples;
} writer;

/* ------------------------------------------------------------ chunk files */

static int
open_segment(writer *w)
{
    char path[4200];
    w->seg_no++;
    snprintf(path, sizeof(path), "%s/chunks/%06u", w->dir, w->seg_no);
    w->seg_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->seg_fd < 0) {
        int rc = -errno;
        return ts_error_set(w->err, rc, "creating %s: %s", path, ts_strerror(rc));
    }
    uint8_t hdr[TS__FILE_HDR_LEN] = {0};
    ts_put_be32(hdr, TS__CHK_MAGIC);
    hdr[4] = TS__FMT_VERSION;
    int rc = ts_fs_write_all(w->seg_fd, hdr, sizeof(hdr));
    if (rc)
        return ts_error_set(w->err, rc, "writing %s: %s", path, ts_strerror(rc));
    w->seg_off = TS__FILE_HDR_LEN;
    return TS_OK;
}

static int
close_segment(writer *w)
{
    if (w->seg_fd < 0)
        return TS_OK;
    int rc = fsync(w->seg_fd) < 0 ? -errno : TS_OK;
    close(w->seg_fd);
    w->seg_fd = -1;
    if (rc)
        return ts_error_set(w->err, rc, "fsync of chunk segment %u: %s", w->seg_no,
                            ts_strerror(rc));
    return TS_OK;
}

static int
flush_group(writer *w)
{
    if (w->group.len == 0)
        return TS_OK;
    ts_buf_reset(&w->frame);
    int rc = ts__frame_put(&w->frame, w->group.p, w->group.len, ZSTD_LEVEL, w->cctx);
    if (rc)
        return ts_error_set(w->err, rc, "compressing chunk group: %s", ts_strerror(rc));
    if (w->seg_fd < 0 ||
        (w->seg_off > TS__FILE_HDR_LEN && w->seg_off + w->frame.len > TS__SEGMENT_MAX)) {
        if ((rc = close_segment(w)) || (rc = open_segment(w)))
            return rc;
    }
    rc = ts_fs_write_all(w->seg_fd, w->frame.p, w->frame.len);
    if (rc)
        return ts_error_set(w->err, rc, "writing chunk segment %u: %s", w->seg_no, ts_strerror(rc));
    uint64_t ref = (uint64_t)w->seg_no << 32 | w->seg_off;
    ts__bw_uvarint(&w->spool, w->npend);
    ts__bw_uvarint(&w->spool, ref);
    ts__bw_put(&w->spool, w->pend.p, w->pend.len);
    if (w->spool.err)
        return ts_error_set(w->err, w->spool.err, "writing the series spool: %s",
                            ts_strerror(w->spool.err));
    ts_buf_reset(&w->pend);
    w->npend = 0;
    w->seg_off += w->frame.len;
    ts_buf_reset(&w->group);
    return TS_OK;
}

/* ------------------------------------------------------------ one series */

static void
tc_add(writer *w, int64_t mint, int64_t maxt, const uint8_t *p, size_t len)
{
    TS_GROW(w->tc, w->tccap, w->ntc + 1);
    w->tc[w->ntc++] = (tchunk){mint, maxt, w->tmp.len, len};
    ts_buf_put(&w->tmp, p, len);
}

/* Collects the series' chunks unchanged.  Returns 1 if they were usable,
 * 0 if the series must be re-encoded, or an error. */
static int
collect_raw(writer *w, ts_series *s, int64_t mint, int64_t maxt)
{
    ts_chunk_iterator *ci = s->ops->chunks ? s->ops->chunks(s) : NULL;
    if (!ci)
        return 0;
    int usable = 1;
    while (ci->ops->next(ci)) {
        const ts_chunk_meta *cm = ci->ops->at(ci);
        if (cm->maxt < mint || cm->mint >= maxt)
            continue; /* wholly outside: dropped */
        if (cm->enc != TS_ENC_XOR || cm->mint < mint || cm->maxt >= maxt || cm->mint > cm->maxt ||
            ts_xor_bytes_count(cm->data, cm->len) == 0 ||
            (w->ntc && cm->mint <= w->tc[w->ntc - 1].maxt)) {
            usable = 0;
            break;
        }
        tc_add(w, cm->mint, cm->maxt, cm->data, cm->len);
    }
    int rc = usable ? ci->ops->err(ci) : TS_OK;
    ci->ops->free(ci);
    if (rc)
        return ts_error_set(w->err, rc, "reading chunks of a series: %s", ts_strerror(rc));
    return usable;
}

static void
cut_chunk(writer *w, ts_xor_chunk *c)
{
    if (ts_xor_chunk_count(c) == 0)
        return;
    int64_t cmint = ts_xor_chunk_mint(c), cmaxt = ts_xor_chunk_maxt(c);
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    tc_add(w, cmint, cmaxt, p, len);
    ts_xor_chunk_fini(c);
    ts_xor_chunk_init(c);
}

static int
collect_samples(writer *w, ts_series *s, int64_t mint, int64_t maxt)
{
    ts_iterator *it = s->ops->iterator(s);
    ts_xor_chunk c;
    ts_xor_chunk_init(&c);
    bool any = false;
    int64_t last = 0;
    while (ts_it_next(it) == TS_VAL_FLOAT) {
        int64_t t;
        double v;
        ts_it_at(it, &t, &v);
        if (t < mint)
            continue;
        if (t >= maxt)
            break;
        if (any && t <= last)
            continue; /* defensive: never feed the encoder out-of-order samples */
        if (ts_xor_chunk_count(&c) >= SAMPLES_PER_CHUNK)
            cut_chunk(w, &c);
        int rc = ts_xor_chunk_append(&c, t, v);
        TS_ASSERT(rc == TS_OK);
        any = true;
        last = t;
    }
    cut_chunk(w, &c);
    ts_xor_chunk_fini(&c);
    int rc = ts_it_err(it);
    ts_it_free(it);
    if (rc)
        return ts_error_set(w->err, rc, "reading samples of a series: %s", ts_strerror(rc));
    return TS_OK;
}

static int
add_series(writer *w, ts_series *s, int64_t mint, int64_t maxt)
{
    ts_buf_reset(&w->tmp);
    w->ntc = 0;
    int rc = collect_raw(w, s, mint, maxt);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        ts_buf_reset(&w->tmp);
        w->ntc = 0;
        if ((rc = collect_samples(w, s, mint, maxt)))
            return rc;
    }
    if (w->ntc == 0)
        return TS_OK; /* nothing in range */
    if (w->last && ts_labels_cmp(w->last, s->labels) >= 0)
        return ts_error_set(w->err, TS_EINVAL, "block write: input series are not sorted/unique");
    ts_labels_free(w->last);
    w->last = ts_labels_dup(s->labels);
    const ts_labels *ls = w->last;

    /* the index record: labels, chunk times, offset in the group */
    ts_buf_put_uvarint(&w->pend, ls->n);
    for (uint32_t k = 0; k < ls->n; k++) {
        const char *nm = ls->l[k].name, *v = ls->l[k].value;
        size_t nl = strlen(nm), vl = strlen(v);
        ts_buf_put_uvarint_str(&w->pend, nm, nl);
        ts_buf_put_uvarint_str(&w->pend, v, vl);
        if ((rc = ts__xsort_add(&w->syms, nm, nl)) || (rc = ts__xsort_add(&w->syms, v, vl)))
            return ts_error_set(w->err, rc, "sorting symbols: %s", ts_strerror(rc));
    }
    ts_buf_put_uvarint(&w->pend, w->ntc);
    for (size_t i = 0; i < w->ntc; i++) {
        const tchunk *t = &w->tc[i];
        if (i == 0)
            ts_buf_put_varint(&w->pend, t->mint);
        else
            ts_buf_put_varint(&w->pend, t->mint - w->tc[i - 1].maxt);
        ts_buf_put_uvarint(&w->pend, (uint64_t)(t->maxt - t->mint));
    }
    ts_buf_put_uvarint(&w->pend, w->group.len);
    w->npend++;
    w->nseries++;
    w->nchunks += w->ntc;

    for (size_t i = 0; i < w->ntc; i++) {
        const tchunk *t = &w->tc[i];
        w->nsamples += ts_xor_bytes_count(w->tmp.p + t->off, t->len);
        if (!ts__col_encode(&w->group, w->tmp.p + t->off, t->len, t->mint)) {
            ts_buf_putc(&w->group, TS__REC_RAW);
            ts_buf_put_uvarint(&w->group, t->len);
            ts_buf_put(&w->group, w->tmp.p + t->off, t->len);
        }
    }
    if (w->group.len >= TS__CHUNK_GROUP_BYTES || w->npend >= PENDING_MAX_SERIES ||
        w->pend.len >= PENDING_MAX_BYTES)
        return flush_group(w);
    return TS_OK;
}

/* ------------------------------------------------------------ the index */

/* The symbols, mapped from their scratch files for lookups. */
typedef struct symtab {
    int str_fd, off_fd;
    const char *str;
    const uint64_t *off;
    size_t str_len, n;
} symtab;

static void
symtab_fini(symtab *t)
{
    if (t->str)
        munmap((void *)t->str, t->str_len);
    if (t->off)
        munmap((void *)t->off, t->n * sizeof(uint64_t));
    if (t->str_fd >= 0)
        close(t->str_fd);
    if (t->off_fd >= 0)
        close(t->off_fd);
}

static int
symtab_map(symtab *t)
{
    t->str = mmap(NULL, t->str_len, PROT_READ, MAP_SHARED, t->str_fd, 0);
    if (t->str == MAP_FAILED) {
        t->str = NULL;
        return -errno;
    }
    t->off = mmap(NULL, t->n * sizeof(uint64_t), PROT_READ, MAP_SHARED, t->off_fd, 0);
    if (t->off == MAP_FAILED) {
        t->off = NULL;
        return -errno;
    }
    return TS_OK;
}

static bool
symtab_ref(const symtab *t, const char *s, size_t len, uint32_t *ref)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = t->str + t->off[mid];
        size_t ml = strlen(m);
        int c = memcmp(m, s, ml < len ? ml : len);
        if (c == 0)
            c = ml < len ? -1 : ml > len;
        if (c == 0) {
            *ref = (uint32_t)mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

typedef struct iwriter {
    writer *w;
    int fd;
    ts__bw out;
    ts__fw fw;
    symtab st;
    ts__xsort posts;
    int goff_fd, ltab_fd, nv_fd, vc_fd;
    uint64_t nv_end, vc_end;
} iwriter;

static int
io_err(writer *w, int rc, const char *what)
{
    return ts_error_set(w->err, rc, "writing the index (%s): %s", what, ts_strerror(rc));
}

/* Streams the bytes [0, end) of a scratch file into the open frame. */
static int
copy_into_frame(iwriter *iw, int fd, uint64_t end)
{
    ts__br r;
    ts__br_init(&r, fd, 0, end, 64u << 10);
    int rc = TS_OK;
    while (!ts__br_eof(&r)) {
        ts__fw_put(&iw->fw, r.buf + r.pos, r.len - r.pos);
        r.pos = r.len;
    }
    rc = r.err;
    ts__br_fini(&r);
    return rc;
}

static int
write_symbols(iwriter *iw)
{
    writer *w = iw->w;
    const uint8_t *p;
    size_t n, count = 0;
    int rc;
    ts__xsort_begin(&w->syms);
    while (ts__xsort_next(&w->syms, &p, &n))
        count++;
    if (w->syms.err)
        return io_err(w, w->syms.err, "symbols");
    if (count > UINT32_MAX)
        return ts_error_set(w->err, TS_ELIMIT, "block write: too many symbols");
    if ((rc = ts__tmpfile(w->dir, "symbols.scratch", &iw->st.str_fd)) ||
        (rc = ts__tmpfile(w->dir, "symoffs.scratch", &iw->st.off_fd)))
        return io_err(w, rc, "scratch files");
    ts__bw sb, ob;
    ts__bw_init(&sb, iw->st.str_fd, 0);
    ts__bw_init(&ob, iw->st.off_fd, 0);
    ts__fw_begin(&iw->fw);
    ts__fw_uvarint(&iw->fw, count);
    ts__xsort_begin(&w->syms);
    while (ts__xsort_next(&w->syms, &p, &n)) {
        ts__fw_uvarint(&iw->fw, n);
        ts__fw_put(&iw->fw, p, n);
        uint64_t off = sb.off;
        ts__bw_put(&ob, &off, sizeof(off));
        ts__bw_put(&sb, p, n);
        ts__bw_put(&sb, "", 1);
    }
    rc = w->syms.err;
    int rc2 = ts__bw_flush(&sb), rc3 = ts__bw_flush(&ob);
    iw->st.str_len = sb.off;
    iw->st.n = count;
    ts__bw_fini(&sb);
    ts__bw_fini(&ob);
    if (!rc)
        rc = rc2 ? rc2 : rc3;
    if (!rc)
        rc = ts__fw_end(&iw->fw);
    if (!rc && count)
        rc = symtab_map(&iw->st);
    ts__xsort_fini(&w->syms); /* the symbols are in the scratch files now */
    ts__xsort_init(&w->syms, w->dir, "symbols.sort");
    return rc ? io_err(w, rc, "symbols") : TS_OK;
}

/* Reads one label string of a spool record into b (NUL-terminated). */
static int
spool_str(ts__br *r, ts_buf *b, size_t *len)
{
    uint64_t n;
    int rc = ts__br_uvarint(r, &n);
    if (rc)
        return rc;
    if (n > TS__FRAME_MAX_RAW)
        return TS_ECORRUPT;
    ts_buf_reset(b);
    if ((rc = ts_buf_reserve(b, (size_t)n + 1)) || (rc = ts__br_read(r, b->p, (size_t)n)))
        return rc;
    b->len = (size_t)n;
    b->p[n] = 0;
    *len = (size_t)n;
    return TS_OK;
}

/* One series of the spool -> its entry in raw, its postings. */
static int
series_entry(iwriter *iw, ts__br *r, uint64_t id, uint64_t cref, ts_buf *raw, ts_buf *str)
{
    uint64_t nl, nc, v;
    int rc = ts__br_uvarint(r, &nl);
    if (rc)
        return rc;
    ts_buf_put_uvarint(raw, nl);
    for (uint64_t k = 0; k < nl; k++) {
        uint32_t ref[2];
        for (int j = 0; j < 2; j++) {
            size_t len;
            if ((rc = spool_str(r, str, &len)))
                return rc;
            if (!symtab_ref(&iw->st, (const char *)str->p, len, &ref[j]))
                return TS_ECORRUPT;
            ts_buf_put_uvarint(raw, ref[j]);
        }
        uint8_t post[12];
        ts_put_be32(post, ref[0]);
        ts_put_be32(post + 4, ref[1]);
        ts_put_be32(post + 8, (uint32_t)id);
        if ((rc = ts__xsort_add(&iw->posts, post, sizeof(post))))
            return rc;
    }
    if ((rc = ts__br_uvarint(r, &nc)))
        return rc;
    ts_buf_put_uvarint(raw, nc);
    for (uint64_t k = 0; k < 2 * nc; k++) { /* mint delta (zig-zag), duration */
        if ((rc = ts__br_uvarint(r, &v)))
            return rc;
        ts_buf_put_uvarint(raw, v);
    }
    ts_buf_put_uvarint(raw, cref);
    if ((rc = ts__br_uvarint(r, &v))) /* offset in the group */
        return rc;
    ts_buf_put_uvarint(raw, v);
    return TS_OK;
}

static int
write_series(iwriter *iw, uint64_t *ngroups_out)
{
    writer *w = iw->w;
    int rc = ts__tmpfile(w->dir, "goffs.scratch", &iw->goff_fd);
    if (rc)
        return io_err(w, rc, "scratch files");
    ts__bw goffs;
    ts__bw_init(&goffs, iw->goff_fd, 0);
    ts__br r;
    ts__br_init(&r, w->spool_fd, 0, w->spool.off, 64u << 10);
    ts_buf raw, str;
    ts_buf_init(&raw, 0);
    ts_buf_init(&str, 0);
    uint64_t id = 0, ngroups = 0, left = 0, cref = 0;
    while (!rc && id < w->nseries) {
        if (left == 0) {
            if ((rc = ts__br_uvarint(&r, &left)) || (rc = ts__br_uvarint(&r, &cref)))
                break;
            if (left == 0) {
                rc = TS_ECORRUPT;
                break;
            }
        }
        if ((rc = series_entry(iw, &r, id, cref, &raw, &str)))
            break;
        left--;
        id++;
        if (id % TS__SERIES_GROUP == 0 || id == w->nseries) {
            ts__bw_uvarint(&goffs, iw->out.off);
            ngroups++;
            ts__fw_begin(&iw->fw);
            ts__fw_put(&iw->fw, raw.p, raw.len);
            rc = ts__fw_end(&iw->fw);
            ts_buf_reset(&raw);
        }
    }
    if (!rc && (left != 0 || !ts__br_eof(&r)))
        rc = TS_ECORRUPT;
    if (!rc)
        rc = r.err ? r.err : ts__bw_flush(&goffs);
    ts__br_fini(&r);
    ts_buf_fini(&raw);
    ts_buf_fini(&str);
    if (rc) {
        ts__bw_fini(&goffs);
        return io_err(w, rc, "series");
    }
    /* the series table */
    *ngroups_out = ngroups;
    ts__fw_begin(&iw->fw);
    ts__fw_uvarint(&iw->fw, w->nseries);
    ts__fw_uvarint(&iw->fw, TS__SERIES_GROUP);
    ts__fw_uvarint(&iw->fw, ngroups);
    rc = copy_into_frame(iw, iw->goff_fd, goffs.off);
    ts__bw_fini(&goffs);
    if (!rc)
        rc = ts__fw_end(&iw->fw);
    return rc ? io_err(w, rc, "series table") : TS_OK;
}

/* Postings, counting pass: values per name (nv file), series per value
 * (vc file). */
static int
count_postings(iwriter *iw, uint64_t *nnames)
{
    writer *w = iw->w;
    int rc;
    if ((rc = ts__tmpfile(w->dir, "nvalues.scratch", &iw->nv_fd)) ||
        (rc = ts__tmpfile(w->dir, "vcounts.scratch", &iw->vc_fd)))
        return rc;
    ts__bw nv, vc;
    ts__bw_init(&nv, iw->nv_fd, 0);
    ts__bw_init(&vc, iw->vc_fd, 0);
    ts__xsort_begin(&iw->posts);
    const uint8_t *p;
    size_t n;
    bool any = false;
    uint32_t name = 0, value = 0;
    uint64_t values = 0, cnt = 0;
    *nnames = 0;
    while (ts__xsort_next(&iw->posts, &p, &n)) {
        uint32_t nm = ts_get_be32(p), v = ts_get_be32(p + 4);
        if (any && (nm != name || v != value)) {
            ts__bw_uvarint(&vc, cnt);
            cnt = 0;
        }
        if (any && nm != name) {
            ts__bw_uvarint(&nv, values);
            values = 0;
            (*nnames)++;
        }
        if (!any || nm != name || v != value)
            values++;
        name = nm;
        value = v;
        cnt++;
        any = true;
    }
    if (any) {
        ts__bw_uvarint(&vc, cnt);
        ts__bw_uvarint(&nv, values);
        (*nnames)++;
    }
    rc = iw->posts.err;
    int rc2 = ts__bw_flush(&nv), rc3 = ts__bw_flush(&vc);
    iw->nv_end = nv.off;
    iw->vc_end = vc.off;
    ts__bw_fini(&nv);
    ts__bw_fini(&vc);
    return rc ? rc : rc2 ? rc2 : rc3;
}

static int
write_postings(iwriter *iw)
{
    writer *w = iw->w;
    uint64_t nnames;
    int rc = count_postings(iw, &nnames);
    if (!rc)
        rc = ts__tmpfile(w->dir, "ltab.scratch", &iw->ltab_fd);
    if (rc)
        return io_err(w, rc, "postings");
    ts__bw ltab;
    ts__bw_init(&ltab, iw->ltab_fd, 0);
    ts__br nv, vc;
    ts__br_init(&nv, iw->nv_fd, 0, iw->nv_end, 16u << 10);
    ts__br_init(&vc, iw->vc_fd, 0, iw->vc_end, 16u << 10);
    ts__xsort_begin(&iw->posts);
    const uint8_t *p;
    size_t n;
    bool open = false;
    uint32_t name = 0, value = 0, prev = 0;
    while (!rc && ts__xsort_next(&iw->posts, &p, &n)) {
        uint32_t nm = ts_get_be32(p), v = ts_get_be32(p + 4), id = ts_get_be32(p + 8);
        if (open && nm != name) {
            if ((rc = ts__fw_end(&iw->fw)))
                break;
            open = false;
        }
        if (!open) {
            uint64_t values;
            if ((rc = ts__br_uvarint(&nv, &values)))
                break;
            ts__bw_uvarint(&ltab, nm);
            ts__bw_uvarint(&ltab, iw->out.off);
            ts__bw_uvarint(&ltab, values);
            ts__fw_begin(&iw->fw);
            ts__fw_uvarint(&iw->fw, values);
            open = true;
            name = nm;
            value = v + 1; /* differs from v: a new value starts */
        }
        if (v != value) {
            uint64_t cnt;
            if ((rc = ts__br_uvarint(&vc, &cnt)))
                break;
            ts__fw_uvarint(&iw->fw, v);
            ts__fw_uvarint(&iw->fw, cnt);
            value = v;
            prev = 0;
        }
        ts__fw_uvarint(&iw->fw, id - prev);
        prev = id;
    }
    if (!rc)
        rc = iw->posts.err;
    if (!rc && open)
        rc = ts__fw_end(&iw->fw);
    if (!rc)
        rc = ts__bw_flush(&ltab);
    ts__br_fini(&nv);
    ts__br_fini(&vc);
    if (!rc) {
        ts__fw_begin(&iw->fw);
        ts__fw_uvarint(&iw->fw, nnames);
        rc = copy_into_frame(iw, iw->ltab_fd, ltab.off);
        if (!rc)
            rc = ts__fw_end(&iw->fw);
    }
    ts__bw_fini(&ltab);
    return rc ? io_err(w, rc, "postings") : TS_OK;
}

static int
write_index(writer *w)
{
    iwriter iw = {.w = w, .fd = -1, .goff_fd = -1, .ltab_fd = -1, .nv_fd = -1, .vc_fd = -1};
    iw.st.str_fd = iw.st.off_fd = -1;
    char path[4200];
    snprintf(path, sizeof(path), "%s/index", w->dir);
    int rc = TS_OK;
    if ((rc = ts__bw_flush(&w->spool)))
        return io_err(w, rc, "series spool");
    iw.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (iw.fd < 0) {
        rc = -errno;
        return ts_error_set(w->err, rc, "creating %s: %s", path, ts_strerror(rc));
    }
    ts__bw_init(&iw.out, iw.fd, 0);
    ts__fw_init(&iw.fw, &iw.out, w->cctx, ZSTD_LEVEL);
    ts__xsort_init(&iw.posts, w->dir, "postings.sort");

    uint8_t hdr[TS__FILE_HDR_LEN] = {0};
    ts_put_be32(hdr, TS__IDX_MAGIC);
    hdr[4] = TS__FMT_VERSION;
    ts__bw_put(&iw.out, hdr, sizeof(hdr));

    uint64_t sym_off = iw.out.off, series_tab_off = 0, label_tab_off = 0, ngroups = 0;
    if ((rc = write_symbols(&iw)))
        goto out;
    if ((rc = write_series(&iw, &ngroups)))
        goto out;
    /* the series table is the last frame write_series wrote */
    series_tab_off = iw.fw.start;
    if ((rc = write_postings(&iw)))
        goto out;
    label_tab_off = iw.fw.start;

    uint8_t toc[TS__TOC_LEN];
    ts_put_be64(toc, sym_off);
    ts_put_be64(toc + 8, series_tab_off);
    ts_put_be64(toc + 16, label_tab_off);
    ts_put_be32(toc + 24, ts_crc32c(0, toc, TS__TOC_LEN - 4));
    ts__bw_put(&iw.out, toc, sizeof(toc));
    if ((rc = ts__bw_flush(&iw.out)) || (fsync(iw.fd) < 0 && (rc = -errno))) {
        ts_error_set(w->err, rc, "writing %s: %s", path, ts_strerror(rc));
        goto out;
    }
out:
    symtab_fini(&iw.st);
    ts__xsort_fini(&iw.posts);
    ts__fw_fini(&iw.fw);
    ts__bw_fini(&iw.out);
    int fds[] = {iw.fd, iw.goff_fd, iw.ltab_fd, iw.nv_fd, iw.vc_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* ------------------------------------------------------------ the block */

static int
cmp_source(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void
fill_meta(ts_block_meta *m, const char *ulid, int64_t mint, int64_t maxt, int level,
          const ts_block_meta *const *parents, size_t nparents, const writer *w)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->ulid, ulid, TS_ULID_LEN + 1);
    m->mint = mint;
    m->maxt = maxt;
    m->num_series = w->nseries;
    m->num_chunks = w->nchunks;
    m->num_samples = w->nsamples;
    size_t cap = 1;
    int maxlevel = 0;
    for (size_t i = 0; i < nparents; i++) {
        cap += parents[i]->nsources;
        if (parents[i]->level > maxlevel)
            maxlevel = parents[i]->level;
    }
    m->sources = ts_calloc(cap, sizeof(*m->sources));
    if (nparents == 0) {
        memcpy(m->sources[0], ulid, TS_ULID_LEN + 1);
        m->nsources = 1;
    } else {
        for (size_t i = 0; i < nparents; i++)
            for (size_t k = 0; k < parents[i]->nsources; k++)
                memcpy(m->sources[m->nsources++], parents[i]->sources[k], TS_ULID_LEN + 1);
        qsort(m->sources, m->nsources, sizeof(*m->sources), cmp_source);
        size_t k = 0;
        for (size_t i = 0; i < m->nsources; i++)
            if (k == 0 || strcmp(m->sources[i], m->sources[k - 1]) != 0)
                memmove(m->sources[k++], m->sources[i], TS_ULID_LEN + 1);
        m->nsources = k;
    }
    m->level = level > 0 ? level : (nparents ? maxlevel + 1 : 1);
}

static void
writer_fini(writer *w)
{
    if (w->seg_fd >= 0)
        close(w->seg_fd);
    ts_buf_fini(&w->group);
    ts_buf_fini(&w->frame);
    ts_buf_fini(&w->tmp);
    ts_buf_fini(&w->pend);
    ts_free(w->tc);
    ts_labels_free(w->last);
    ts__bw_fini(&w->spool);
    if (w->spool_fd >= 0)
        close(w->spool_fd);
    ts__xsort_fini(&w->syms);
    if (w->cctx)
        ZSTD_freeCCtx(w->cctx);
}

int
ts_block_write(const char *parent_dir, ts_series_set *set, int64_t mint, int64_t maxt, int level,
               const ts_block_meta *const *parents, size_t nparents, ts_block_meta *meta_out,
               ts_error *err)
{
    ts_error lerr;
    if (!err)
        err = &lerr;
    ts_error_clear(err);
    memset(meta_out, 0, sizeof(*meta_out));
    writer *w = ts_calloc(1, sizeof(*w));
    w->err = err;
    w->seg_fd = -1;
    w->spool_fd = -1;
    ts_buf_init(&w->group, 0);
    ts_buf_init(&w->frame, 0);
    ts_buf_init(&w->tmp, 0);
    ts_buf_init(&w->pend, 0);
    w->cctx = ts__zstd_cctx_new();

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char ulid[TS_ULID_LEN + 1];
    ts_ulid_new((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ulid);
    snprintf(w->dir, sizeof(w->dir), "%s/%s.tmp", parent_dir, ulid);

    char final[4200], sub[4200];
    snprintf(final, sizeof(final), "%s/%s", parent_dir, ulid);
    snprintf(sub, sizeof(sub), "%s/chunks", w->dir);
    ts__xsort_init(&w->syms, w->dir, "symbols.sort");
    ts__bw_init(&w->spool, -1, 0);
    int rc = ts_fs_mkdir_all(sub, 0755);
    if (rc) {
        ts_error_set(err, rc, "creating %s: %s", sub, ts_strerror(rc));
        goto fail;
    }
    if ((rc = ts__tmpfile(w->dir, "series.spool", &w->spool_fd))) {
        ts_error_set(err, rc, "creating the series spool in %s: %s", w->dir, ts_strerror(rc));
        goto fail;
    }
    w->spool.fd = w->spool_fd;

    while (ts_ss_next(set)) {
        if ((rc = add_series(w, ts_ss_at(set), mint, maxt)))
            goto fail;
    }
    if (set->error.code) {
        rc = set->error.code;
        *err = set->error;
        ts_error_prefix(err, "block write: ");
        goto fail;
    }
    if (w->nseries == 0) { /* nothing to write */
        ts_fs_remove_all(w->dir);
        writer_fini(w);
        ts_free(w);
        ts_ss_free(set);
        return TS_OK;
    }
    if ((rc = flush_group(w)) || (rc = close_segment(w)) || (rc = write_index(w)))
        goto fail;

    fill_meta(meta_out, ulid, mint, maxt, level, parents, nparents, w);
    if ((rc = ts__meta_write(w->dir, meta_out, parents, nparents, err)))
        goto fail;
    if ((rc = ts_fs_fsync_dir(sub)) || (rc = ts_fs_fsync_dir(w->dir))) {
        ts_error_set(err, rc, "fsync %s: %s", w->dir, ts_strerror(rc));
        goto fail;
    }
    if (rename(w->dir, final) != 0) {
        rc = -errno;
        ts_error_set(err, rc, "renaming %s: %s", w->dir, ts_strerror(rc));
        goto fail;
    }
    if ((rc = ts_fs_fsync_dir(parent_dir))) {
        ts_error_set(err, rc, "fsync %s: %s", parent_dir, ts_strerror(rc));
        goto fail_final;
    }
    meta_out->size_bytes = ts_fs_dir_size(final);
    writer_fini(w);
    ts_free(w);
    ts_ss_free(set);
    return TS_OK;

fail_final:
    ts_fs_remove_all(final);
fail:
    if (!err->code)
        ts_error_set(err, rc, "block write: %s", ts_strerror(rc));
    ts_block_meta_fini(meta_out);
    memset(meta_out, 0, sizeof(*meta_out));
    ts_fs_remove_all(w->dir);
    writer_fini(w);
    ts_free(w);
    ts_ss_free(set);
    return rc;
}
