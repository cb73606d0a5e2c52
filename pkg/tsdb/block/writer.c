/*
 * ts_block_write: a sorted series set -> a block directory.
 *
 * One pass over the input.  For each series the writer takes its XOR chunks
 * as they are when they can be used unchanged (XOR encoding, wholly inside
 * [mint, maxt), in time order and not overlapping each other); otherwise it
 * re-encodes the series' samples from its iterator into chunks of at most
 * 120 samples.  Each chunk goes into the current chunk group as a record,
 * in the compact column form of colenc.c when that round-trips exactly,
 * else raw;
 * a group holding at least TS__CHUNK_GROUP_BYTES is compressed as one frame
 * and appended to the current segment file (chunks/000001, ...).  Only the
 * label sets and chunk time ranges stay in memory, for the index, which is
 * built at the end: symbols, series groups, postings per label name, the
 * label table and the TOC (pkg/tsdb/docs/format/index.md).
 *
 * Atomicity: everything is written into <parent>/<ULID>.tmp, every file
 * fsync'd, the directories fsync'd, then the directory is renamed to
 * <parent>/<ULID> and the parent fsync'd.  On any error the .tmp directory
 * is removed.
 */
#include "pkg/tsdb/block/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pkg/storage/merge.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

#define ZSTD_LEVEL 9
#define SAMPLES_PER_CHUNK 120

typedef struct wchunk {
    int64_t mint, maxt;
} wchunk;

typedef struct wseries {
    ts_labels *ls;
    size_t chunk0;  /* first entry in writer.chunks */
    uint32_t nchunks;
    uint64_t cref;  /* chunk group: segment << 32 | offset in segment */
    uint32_t coff;  /* offset of the series' chunks in the raw group */
} wseries;

/* A chunk collected for the current series (bytes in writer.tmp). */
typedef struct tchunk {
    int64_t mint, maxt;
    size_t off, len;
} tchunk;

typedef struct writer {
    char dir[4096]; /* the .tmp directory */
    ts_error *err;
    /* chunk segments */
    int seg_fd;
    uint32_t seg_no;
    uint64_t seg_off;
    ts_buf group, frame;
    size_t group_first; /* first series whose chunks are in group */
    /* the current series' chunks */
    ts_buf tmp;
    tchunk *tc;
    size_t ntc, tccap;
    /* everything kept for the index */
    wseries *series;
    size_t nseries, scap;
    wchunk *chunks;
    size_t nchunks, ccap;
    uint64_t nsamples;
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
    int rc = ts__frame_put(&w->frame, w->group.p, w->group.len, ZSTD_LEVEL);
    if (rc)
        return ts_error_set(w->err, rc, "compressing chunk group: %s", ts_strerror(rc));
    if (w->seg_fd < 0 || (w->seg_off > TS__FILE_HDR_LEN &&
                          w->seg_off + w->frame.len > TS__SEGMENT_MAX)) {
        if ((rc = close_segment(w)) || (rc = open_segment(w)))
            return rc;
    }
    rc = ts_fs_write_all(w->seg_fd, w->frame.p, w->frame.len);
    if (rc)
        return ts_error_set(w->err, rc, "writing chunk segment %u: %s", w->seg_no,
                            ts_strerror(rc));
    uint64_t ref = (uint64_t)w->seg_no << 32 | w->seg_off;
    for (size_t i = w->group_first; i < w->nseries; i++)
        w->series[i].cref = ref;
    w->group_first = w->nseries;
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
        if (cm->enc != TS_ENC_XOR || cm->mint < mint || cm->maxt >= maxt ||
            cm->mint > cm->maxt || ts_xor_bytes_count(cm->data, cm->len) == 0 ||
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
    if (w->nseries && ts_labels_cmp(w->series[w->nseries - 1].ls, s->labels) >= 0)
        return ts_error_set(w->err, TS_EINVAL, "block write: input series are not sorted/unique");

    TS_GROW(w->series, w->scap, w->nseries + 1);
    wseries *ws = &w->series[w->nseries++];
    ws->ls = ts_labels_dup(s->labels);
    ws->chunk0 = w->nchunks;
    ws->nchunks = (uint32_t)w->ntc;
    ws->cref = 0;
    ws->coff = (uint32_t)w->group.len;
    TS_GROW(w->chunks, w->ccap, w->nchunks + w->ntc);
    for (size_t i = 0; i < w->ntc; i++) {
        const tchunk *t = &w->tc[i];
        w->chunks[w->nchunks++] = (wchunk){t->mint, t->maxt};
        w->nsamples += ts_xor_bytes_count(w->tmp.p + t->off, t->len);
        if (!ts__col_encode(&w->group, w->tmp.p + t->off, t->len, t->mint)) {
            ts_buf_putc(&w->group, TS__REC_RAW);
            ts_buf_put_uvarint(&w->group, t->len);
            ts_buf_put(&w->group, w->tmp.p + t->off, t->len);
        }
    }
    if (w->group.len >= TS__CHUNK_GROUP_BYTES)
        return flush_group(w);
    return TS_OK;
}

/* ------------------------------------------------------------ the index */

typedef struct posting {
    uint32_t name, value, series;
} posting;

static int
posting_cmp(const void *a, const void *b)
{
    const posting *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->series < y->series ? -1 : x->series > y->series;
}

static int
strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t
sym_ref(const char **syms, size_t n, const char *s)
{
    const char **p = bsearch(&s, syms, n, sizeof(*syms), strcmp_p);
    TS_ASSERT(p != NULL);
    return (uint32_t)(p - syms);
}

static int
put_frame(writer *w, ts_buf *idx, ts_buf *raw)
{
    int rc = ts__frame_put(idx, raw->p, raw->len, ZSTD_LEVEL);
    if (rc)
        return ts_error_set(w->err, rc, "index section too large: %s", ts_strerror(rc));
    ts_buf_reset(raw);
    return TS_OK;
}

static int
write_index(writer *w)
{
    ts_buf idx, raw;
    ts_buf_init(&idx, 0);
    ts_buf_init(&raw, 0);
    const char **syms = NULL;
    posting *ps = NULL;
    uint64_t *goff = NULL;
    int rc = TS_OK;

    /* Symbols: every label name and value, sorted, unique. */
    size_t nsyms = 0, npost = 0;
    for (size_t i = 0; i < w->nseries; i++)
        nsyms += 2 * w->series[i].ls->n;
    syms = ts_malloc((nsyms ? nsyms : 1) * sizeof(*syms));
    nsyms = 0;
    for (size_t i = 0; i < w->nseries; i++)
        for (uint32_t k = 0; k < w->series[i].ls->n; k++) {
            syms[nsyms++] = w->series[i].ls->l[k].name;
            syms[nsyms++] = w->series[i].ls->l[k].value;
        }
    ts_strs_sort_unique(syms, &nsyms);

    uint8_t hdr[TS__FILE_HDR_LEN] = {0};
    ts_put_be32(hdr, TS__IDX_MAGIC);
    hdr[4] = TS__FMT_VERSION;
    ts_buf_put(&idx, hdr, sizeof(hdr));

    uint64_t sym_off = idx.len;
    ts_buf_put_uvarint(&raw, nsyms);
    for (size_t i = 0; i < nsyms; i++)
        ts_buf_put_uvarint_str(&raw, syms[i], strlen(syms[i]));
    if ((rc = put_frame(w, &idx, &raw)))
        goto out;

    /* Series, in groups of TS__SERIES_GROUP; collect postings on the way. */
    size_t ngroups = (w->nseries + TS__SERIES_GROUP - 1) / TS__SERIES_GROUP;
    goff = ts_malloc((ngroups ? ngroups : 1) * sizeof(*goff));
    size_t pcap = 0;
    for (size_t i = 0; i < w->nseries; i++)
        pcap += w->series[i].ls->n;
    ps = ts_malloc((pcap ? pcap : 1) * sizeof(*ps));
    for (size_t g = 0; g < ngroups; g++) {
        size_t end = (g + 1) * TS__SERIES_GROUP;
        if (end > w->nseries)
            end = w->nseries;
        for (size_t i = g * TS__SERIES_GROUP; i < end; i++) {
            const wseries *s = &w->series[i];
            ts_buf_put_uvarint(&raw, s->ls->n);
            for (uint32_t k = 0; k < s->ls->n; k++) {
                uint32_t nr = sym_ref(syms, nsyms, s->ls->l[k].name);
                uint32_t vr = sym_ref(syms, nsyms, s->ls->l[k].value);
                ts_buf_put_uvarint(&raw, nr);
                ts_buf_put_uvarint(&raw, vr);
                ps[npost++] = (posting){nr, vr, (uint32_t)i};
            }
            ts_buf_put_uvarint(&raw, s->nchunks);
            const wchunk *c = &w->chunks[s->chunk0];
            for (uint32_t k = 0; k < s->nchunks; k++) {
                if (k == 0)
                    ts_buf_put_varint(&raw, c[k].mint);
                else
                    ts_buf_put_varint(&raw, c[k].mint - c[k - 1].maxt);
                ts_buf_put_uvarint(&raw, (uint64_t)(c[k].maxt - c[k].mint));
            }
            ts_buf_put_uvarint(&raw, s->cref);
            ts_buf_put_uvarint(&raw, s->coff);
        }
        goff[g] = idx.len;
        if ((rc = put_frame(w, &idx, &raw)))
            goto out;
    }

    uint64_t series_tab_off = idx.len;
    ts_buf_put_uvarint(&raw, w->nseries);
    ts_buf_put_uvarint(&raw, TS__SERIES_GROUP);
    ts_buf_put_uvarint(&raw, ngroups);
    for (size_t g = 0; g < ngroups; g++)
        ts_buf_put_uvarint(&raw, goff[g]);
    if ((rc = put_frame(w, &idx, &raw)))
        goto out;

    /* Postings: one frame per label name holding all its values' lists. */
    qsort(ps, npost, sizeof(*ps), posting_cmp);
    ts_buf tab;
    ts_buf_init(&tab, 0);
    size_t nnames = 0;
    for (size_t i = 0; i < npost;) {
        uint32_t name = ps[i].name;
        size_t j = i, nvalues = 0;
        while (j < npost && ps[j].name == name) {
            size_t k = j;
            while (k < npost && ps[k].name == name && ps[k].value == ps[j].value)
                k++;
            nvalues++;
            j = k;
        }
        ts_buf_put_uvarint(&raw, nvalues);
        for (size_t a = i; a < j;) {
            size_t b = a;
            while (b < j && ps[b].value == ps[a].value)
                b++;
            ts_buf_put_uvarint(&raw, ps[a].value);
            ts_buf_put_uvarint(&raw, b - a);
            uint32_t prev = 0;
            for (size_t k = a; k < b; k++) {
                ts_buf_put_uvarint(&raw, ps[k].series - prev);
                prev = ps[k].series;
            }
            a = b;
        }
        ts_buf_put_uvarint(&tab, name);
        ts_buf_put_uvarint(&tab, idx.len);
        ts_buf_put_uvarint(&tab, nvalues);
        nnames++;
        if ((rc = put_frame(w, &idx, &raw))) {
            ts_buf_fini(&tab);
            goto out;
        }
        i = j;
    }
    uint64_t label_tab_off = idx.len;
    ts_buf_put_uvarint(&raw, nnames);
    ts_buf_put(&raw, tab.p, tab.len);
    ts_buf_fini(&tab);
    if ((rc = put_frame(w, &idx, &raw)))
        goto out;

    uint8_t toc[TS__TOC_LEN];
    ts_put_be64(toc, sym_off);
    ts_put_be64(toc + 8, series_tab_off);
    ts_put_be64(toc + 16, label_tab_off);
    ts_put_be32(toc + 24, ts_crc32c(0, toc, TS__TOC_LEN - 4));
    ts_buf_put(&idx, toc, sizeof(toc));

    char path[4200];
    snprintf(path, sizeof(path), "%s/index", w->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    rc = fd < 0 ? -errno : ts_fs_write_all(fd, idx.p, idx.len);
    if (fd >= 0) {
        if (!rc && fsync(fd) < 0)
            rc = -errno;
        close(fd);
    }
    if (rc)
        ts_error_set(w->err, rc, "writing %s: %s", path, ts_strerror(rc));
out:
    ts_free(syms);
    ts_free(ps);
    ts_free(goff);
    ts_buf_fini(&idx);
    ts_buf_fini(&raw);
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
    ts_free(w->tc);
    for (size_t i = 0; i < w->nseries; i++)
        ts_labels_free(w->series[i].ls);
    ts_free(w->series);
    ts_free(w->chunks);
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
    ts_buf_init(&w->group, 0);
    ts_buf_init(&w->frame, 0);
    ts_buf_init(&w->tmp, 0);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char ulid[TS_ULID_LEN + 1];
    ts_ulid_new((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ulid);
    snprintf(w->dir, sizeof(w->dir), "%s/%s.tmp", parent_dir, ulid);

    char final[4200], sub[4200];
    snprintf(final, sizeof(final), "%s/%s", parent_dir, ulid);
    snprintf(sub, sizeof(sub), "%s/chunks", w->dir);
    int rc = ts_fs_mkdir_all(sub, 0755);
    if (rc) {
        ts_error_set(err, rc, "creating %s: %s", sub, ts_strerror(rc));
        goto fail;
    }

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
