/*
 * Reading blocks: ts_block_open and the block querier.
 *
 * Opening reads meta.json and maps the index file (read-only and shared:
 * its pages are file cache the kernel can drop, not anonymous memory; it is
 * compressed, a few bytes per series; unmapped when the last reference to
 * the block goes, e.g. after retention deleted it), checks the header, the
 * TOC and the CRC of every frame in it, and decodes the three small tables: symbols,
 * the series table (where each group of TS__SERIES_GROUP series starts) and
 * the label table (where each label name's postings frame starts).  Series
 * groups and postings stay compressed until a query needs them.  The chunk
 * segment files are opened and read with pread, one chunk group at a time.
 *
 * Select (Prometheus' PostingsForMatchers, simplified):
 *  - a matcher that does not match the empty string contributes the union
 *    of the postings of the values it matches; these are intersected;
 *  - a matcher that matches "" (l="", l!="x", l=~"x|", l!~"x") also matches
 *    series without the label, so it is applied in reverse: the union of
 *    the postings of the values it does NOT match is subtracted;
 *  - with no positive matcher the start is every series.
 * Series ids are ordinals in label order, so the result is sorted.  The set
 * then decodes each series entry, skips series with no chunk overlapping
 * [mint, maxt] and yields the rest.  Without positive matchers and nothing
 * to subtract (compaction's {__name__=~".*"}) the ids are not listed but
 * counted.  Decoded series live in the set's arena; with the stream select
 * hint it is reset at each next(), so a set costs the same for any block.  A series' iterator
 * copies the series' chunk bytes out of the set's one-group cache, so iterators stay valid while
 * the set moves on.
 *
 * Every decode is bounds-checked (ts_dec, frame CRCs, id and symbol range
 * checks): corruption gives TS_ECORRUPT as an open error, a series set error
 * or an iterator error, never a crash.
 */
#include "pkg/tsdb/block/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

#define INDEX_MAX_BYTES ((size_t)2 << 30)

typedef struct lname {
    uint32_t name; /* symbol ref */
    uint64_t off;  /* postings frame offset in the index */
    uint32_t nvalues;
} lname;

struct ts_block {
    char *dir;
    char *index_path;
    ts_block_meta meta;
    atomic_int refs;
    atomic_bool deleted;
    uint8_t *idx;
    size_t idx_len;
    char *sympool;
    const char **syms;
    uint32_t nsyms;
    uint32_t nseries, group_size, ngroups;
    uint64_t *goff;
    lname *names;
    uint32_t nnames;
    int *seg_fd;
    uint64_t *seg_size;
    uint32_t nsegs;
};

/* ------------------------------------------------------------------ opening */

static int
corrupt(ts_block *b, ts_error *err, const char *what)
{
    return ts_error_set(err, TS_ECORRUPT, "%s: %s", b->index_path, what);
}

static int
load_symbols(ts_block *b, uint64_t off, ts_error *err)
{
    uint8_t *raw;
    size_t n;
    if (off >= b->idx_len)
        return corrupt(b, err, "symbols offset out of range");
    int rc = ts__frame_get(b->idx + off, b->idx_len - off, &raw, &n, NULL, b->index_path, err);
    if (rc)
        return rc;
    ts_dec d;
    ts_dec_init(&d, raw, n);
    uint64_t cnt = ts_dec_uvarint(&d);
    if (d.err || cnt > n) {
        ts_free(raw);
        return corrupt(b, err, "bad symbol table");
    }
    b->syms = ts_malloc((cnt ? cnt : 1) * sizeof(*b->syms));
    b->sympool = ts_malloc(n + cnt + 1);
    size_t used = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        size_t len;
        const char *s = ts_dec_uvarint_str(&d, &len);
        if (!s || d.err)
            break;
        memcpy(b->sympool + used, s, len);
        b->sympool[used + len] = 0;
        b->syms[i] = b->sympool + used;
        used += len + 1;
        if (i > 0 && strcmp(b->syms[i - 1], b->syms[i]) >= 0) {
            d.err = TS_ECORRUPT;
            break;
        }
        b->nsyms = (uint32_t)(i + 1);
    }
    ts_free(raw);
    if (d.err || b->nsyms != cnt)
        return corrupt(b, err, "bad symbol table");
    return TS_OK;
}

static int
load_series_table(ts_block *b, uint64_t off, ts_error *err)
{
    uint8_t *raw;
    size_t n;
    if (off >= b->idx_len)
        return corrupt(b, err, "series table offset out of range");
    int rc = ts__frame_get(b->idx + off, b->idx_len - off, &raw, &n, NULL, b->index_path, err);
    if (rc)
        return rc;
    ts_dec d;
    ts_dec_init(&d, raw, n);
    uint64_t nseries = ts_dec_uvarint(&d), gsize = ts_dec_uvarint(&d), ngroups = ts_dec_uvarint(&d);
    if (d.err || nseries > UINT32_MAX || gsize == 0 || gsize > 65536 ||
        ngroups != (nseries + gsize - 1) / gsize || ngroups > n) {
        ts_free(raw);
        return corrupt(b, err, "bad series table");
    }
    b->nseries = (uint32_t)nseries;
    b->group_size = (uint32_t)gsize;
    b->ngroups = (uint32_t)ngroups;
    b->goff = ts_malloc((ngroups ? ngroups : 1) * sizeof(*b->goff));
    for (uint64_t g = 0; g < ngroups; g++) {
        b->goff[g] = ts_dec_uvarint(&d);
        if (b->goff[g] >= b->idx_len)
            d.err = TS_ECORRUPT;
    }
    ts_free(raw);
    if (d.err)
        return corrupt(b, err, "bad series table");
    return TS_OK;
}

static int
load_label_table(ts_block *b, uint64_t off, ts_error *err)
{
    uint8_t *raw;
    size_t n;
    if (off >= b->idx_len)
        return corrupt(b, err, "label table offset out of range");
    int rc = ts__frame_get(b->idx + off, b->idx_len - off, &raw, &n, NULL, b->index_path, err);
    if (rc)
        return rc;
    ts_dec d;
    ts_dec_init(&d, raw, n);
    uint64_t cnt = ts_dec_uvarint(&d);
    if (d.err || cnt > n) {
        ts_free(raw);
        return corrupt(b, err, "bad label table");
    }
    b->names = ts_malloc((cnt ? cnt : 1) * sizeof(*b->names));
    for (uint64_t i = 0; i < cnt && !d.err; i++) {
        uint64_t name = ts_dec_uvarint(&d), poff = ts_dec_uvarint(&d), nv = ts_dec_uvarint(&d);
        if (name >= b->nsyms || poff >= b->idx_len || nv > b->nseries ||
            (i > 0 && name <= b->names[i - 1].name))
            d.err = TS_ECORRUPT;
        b->names[i] = (lname){(uint32_t)name, poff, (uint32_t)nv};
    }
    ts_free(raw);
    if (d.err)
        return corrupt(b, err, "bad label table");
    b->nnames = (uint32_t)cnt;
    return TS_OK;
}

static int
load_index(ts_block *b, ts_error *err)
{
    int fd = open(b->index_path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : TS_OK;
    struct stat st;
    if (!rc && fstat(fd, &st) != 0)
        rc = -errno;
    if (rc) {
        if (fd >= 0)
            close(fd);
        return ts_error_set(err, rc == -ENOENT ? TS_ECORRUPT : rc, "reading %s: %s", b->index_path,
                            ts_strerror(rc));
    }
    size_t len = (size_t)st.st_size;
    if (len < TS__FILE_HDR_LEN + TS__TOC_LEN || len > INDEX_MAX_BYTES) {
        close(fd);
        return corrupt(b, err, len > INDEX_MAX_BYTES ? "file too large" : "file too short");
    }
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rc = -errno;
        return ts_error_set(err, rc, "mapping %s: %s", b->index_path, ts_strerror(rc));
    }
    b->idx = m;
    b->idx_len = len;
    if (ts_get_be32(b->idx) != TS__IDX_MAGIC)
        return corrupt(b, err, "bad magic");
    if (b->idx[4] != TS__FMT_VERSION)
        return corrupt(b, err, "unsupported version");
    const uint8_t *toc = b->idx + len - TS__TOC_LEN;
    if (ts_crc32c(0, toc, TS__TOC_LEN - 4) != ts_get_be32(toc + TS__TOC_LEN - 4))
        return corrupt(b, err, "TOC checksum mismatch");
    uint64_t sym_off = ts_get_be64(toc), st_off = ts_get_be64(toc + 8),
             lt_off = ts_get_be64(toc + 16);
    /* Check every frame between the header and the TOC. */
    size_t end = len - TS__TOC_LEN, pos = TS__FILE_HDR_LEN;
    int found = 0;
    while (pos < end) {
        size_t flen;
        if ((rc = ts__frame_check(b->idx + pos, end - pos, &flen, b->index_path, err)))
            return rc;
        found += (pos == sym_off) + (pos == st_off) + (pos == lt_off);
        pos += flen;
    }
    if (found != 3)
        return corrupt(b, err, "TOC does not point at sections");
    if ((rc = load_symbols(b, sym_off, err)) || (rc = load_series_table(b, st_off, err)) ||
        (rc = load_label_table(b, lt_off, err)))
        return rc;
    return TS_OK;
}

static int
open_segments(ts_block *b, ts_error *err)
{
    size_t cap = 0;
    for (uint32_t i = 1;; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/chunks/%06u", b->dir, i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                break;
            int rc = -errno;
            return ts_error_set(err, rc, "opening %s: %s", path, ts_strerror(rc));
        }
        TS_GROW(b->seg_fd, cap, b->nsegs + 1);
        b->seg_size = ts_realloc(b->seg_size, cap * sizeof(*b->seg_size));
        b->seg_fd[b->nsegs] = fd;
        b->seg_size[b->nsegs] = 0;
        b->nsegs++;
        struct stat st;
        uint8_t hdr[TS__FILE_HDR_LEN];
        if (fstat(fd, &st) != 0 || ts_fs_pread_all(fd, hdr, sizeof(hdr), 0) != 0 ||
            ts_get_be32(hdr) != TS__CHK_MAGIC || hdr[4] != TS__FMT_VERSION)
            return ts_error_set(err, TS_ECORRUPT, "%s: not a chunk segment (bad header)", path);
        b->seg_size[b->nsegs - 1] = (uint64_t)st.st_size;
    }
    if (b->nsegs == 0 && b->nseries > 0)
        return ts_error_set(err, TS_ECORRUPT, "%s/chunks: no chunk segment files", b->dir);
    return TS_OK;
}

static void
block_free(ts_block *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->nsegs; i++)
        close(b->seg_fd[i]);
    if (atomic_load(&b->deleted))
        ts_fs_remove_all(b->dir);
    ts_free(b->seg_fd);
    ts_free(b->seg_size);
    if (b->idx)
        munmap(b->idx, b->idx_len);
    ts_free(b->sympool);
    ts_free(b->syms);
    ts_free(b->goff);
    ts_free(b->names);
    ts_block_meta_fini(&b->meta);
    ts_free(b->dir);
    ts_free(b->index_path);
    ts_free(b);
}

int
ts_block_open(const char *dir, ts_block **out, ts_error *err)
{
    *out = NULL;
    ts_block *b = ts_calloc(1, sizeof(*b));
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    b->dir = ts_strndup(dir, dl);
    b->index_path = ts_malloc(dl + 8);
    snprintf(b->index_path, dl + 8, "%s/index", b->dir);
    atomic_init(&b->refs, 1);
    atomic_init(&b->deleted, false);

    int rc = ts__meta_read(b->dir, &b->meta, err);
    if (rc)
        goto fail;
    const char *base = strrchr(b->dir, '/');
    base = base ? base + 1 : b->dir;
    if (strcmp(base, b->meta.ulid) != 0) {
        rc = ts_error_set(err, TS_ECORRUPT,
                          "%s/meta.json: ulid %s does not match the directory name "
                          "(not a finished block)",
                          b->dir, b->meta.ulid);
        goto fail;
    }
    if ((rc = load_index(b, err)) || (rc = open_segments(b, err)))
        goto fail;
    b->meta.size_bytes = ts_fs_dir_size(b->dir);
    *out = b;
    return TS_OK;
fail:
    block_free(b);
    return rc;
}

void
ts_block_ref(ts_block *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void
ts_block_unref(ts_block *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        block_free(b);
}

void
ts_block_mark_deleted(ts_block *b)
{
    atomic_store(&b->deleted, true);
}

const ts_block_meta *
ts_block_get_meta(const ts_block *b)
{
    return &b->meta;
}

const char *
ts_block_dir(const ts_block *b)
{
    return b->dir;
}

/* ------------------------------------------------------------------ postings */

/* A sorted list of series ids; all = every id in [0, n) without a list
 * (only bq_select asks for that form). */
typedef struct plist {
    uint32_t *v;
    size_t n, cap;
    bool all;
} plist;

static void
plist_add(plist *p, uint32_t x)
{
    TS_GROW(p->v, p->cap, p->n + 1);
    p->v[p->n++] = x;
}

static int
u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void
plist_sort_unique(plist *p)
{
    if (p->n < 2)
        return;
    qsort(p->v, p->n, sizeof(*p->v), u32_cmp);
    size_t k = 1;
    for (size_t i = 1; i < p->n; i++)
        if (p->v[i] != p->v[k - 1])
            p->v[k++] = p->v[i];
    p->n = k;
}

/* a := a ∩ b (keep = true) or a \ b (keep = false); both sorted unique. */
static void
plist_merge(plist *a, const plist *b, bool keep)
{
    size_t i = 0, j = 0, k = 0;
    while (i < a->n) {
        while (j < b->n && b->v[j] < a->v[i])
            j++;
        bool in_b = j < b->n && b->v[j] == a->v[i];
        if (in_b == keep)
            a->v[k++] = a->v[i];
        i++;
    }
    a->n = k;
}

static const lname *
find_name(const ts_block *b, const char *name)
{
    size_t lo = 0, hi = b->nnames;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(b->syms[b->names[mid].name], name);
        if (c == 0)
            return &b->names[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * Walks the postings frame of one label name.  For each value, visit() says
 * whether its list is wanted; wanted lists are appended to out (if not NULL)
 * and reported to found() (if not NULL) when they intersect filter.
 */
typedef struct pwalk {
    bool (*want)(void *ctx, const char *value);
    void *ctx;
    plist *out;          /* union of wanted lists (unsorted across values) */
    const plist *filter; /* for found(): report values whose list meets filter */
    void (*found)(void *ctx, uint32_t value_ref);
} pwalk;

static int
walk_postings(const ts_block *b, const lname *ln, const pwalk *w, ts_error *err)
{
    uint8_t *raw;
    size_t n;
    int rc =
        ts__frame_get(b->idx + ln->off, b->idx_len - ln->off, &raw, &n, NULL, b->index_path, err);
    if (rc)
        return rc;
    ts_dec d;
    ts_dec_init(&d, raw, n);
    uint64_t nv = ts_dec_uvarint(&d);
    if (nv != ln->nvalues)
        d.err = TS_ECORRUPT;
    for (uint64_t i = 0; i < nv && !d.err; i++) {
        uint64_t vref = ts_dec_uvarint(&d), cnt = ts_dec_uvarint(&d);
        if (d.err || vref >= b->nsyms || cnt > b->nseries || cnt == 0) {
            d.err = TS_ECORRUPT;
            break;
        }
        bool want = w->want(w->ctx, b->syms[vref]);
        uint64_t id = 0;
        size_t fj = 0;
        bool hit = false;
        for (uint64_t k = 0; k < cnt; k++) {
            uint64_t delta = ts_dec_uvarint(&d);
            id = k == 0 ? delta : id + delta;
            if (d.err || id >= b->nseries || (k > 0 && delta == 0)) {
                d.err = TS_ECORRUPT;
                break;
            }
            if (!want)
                continue;
            if (w->out)
                plist_add(w->out, (uint32_t)id);
            if (w->filter && !hit) {
                while (fj < w->filter->n && w->filter->v[fj] < id)
                    fj++;
                hit = fj < w->filter->n && w->filter->v[fj] == id;
            }
        }
        if (!d.err && want && w->found && (!w->filter || hit))
            w->found(w->ctx, (uint32_t)vref);
    }
    ts_free(raw);
    if (d.err)
        return ts_error_set(err, TS_ECORRUPT, "%s: corrupt postings for label %s", b->index_path,
                            b->syms[ln->name]);
    return TS_OK;
}

typedef struct mctx {
    const ts_matcher *m;
    bool want; /* collect values where matches() == want */
} mctx;

static bool
want_match(void *ctx, const char *value)
{
    mctx *c = ctx;
    return ts_matcher_matches(c->m, value) == c->want;
}

static int
postings_for_matchers(const ts_block *b, ts_matcher *const *ms, size_t nms, bool lazy_all,
                      plist *out, ts_error *err)
{
    plist neg = {0};
    bool have_pos = false;
    int rc = TS_OK;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < nms; i++) {
        const ts_matcher *m = ms[i];
        bool empty = ts_matcher_matches_empty(m);
        const lname *ln = find_name(b, m->name);
        plist p = {0};
        if (ln) {
            mctx c = {m, !empty};
            pwalk w = {want_match, &c, &p, NULL, NULL};
            if ((rc = walk_postings(b, ln, &w, err))) {
                ts_free(p.v);
                goto out;
            }
            plist_sort_unique(&p);
        }
        if (!empty) {
            if (!have_pos) {
                ts_free(out->v);
                *out = p;
                have_pos = true;
            } else {
                plist_merge(out, &p, true);
                ts_free(p.v);
            }
        } else {
            for (size_t k = 0; k < p.n; k++)
                plist_add(&neg, p.v[k]);
            ts_free(p.v);
        }
        if (have_pos && out->n == 0)
            goto out; /* nothing can match any more */
    }
    if (!have_pos && neg.n == 0 && lazy_all) {
        out->all = true;
        out->n = b->nseries;
        goto out;
    }
    if (!have_pos) {
        out->v = ts_malloc((b->nseries ? b->nseries : 1) * sizeof(*out->v));
        out->cap = b->nseries;
        for (uint32_t i = 0; i < b->nseries; i++)
            out->v[i] = i;
        out->n = b->nseries;
    }
    plist_sort_unique(&neg);
    plist_merge(out, &neg, false);
out:
    ts_free(neg.v);
    if (rc) {
        ts_free(out->v);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ------------------------------------------------------------------ series entries */

typedef struct cmeta {
    int64_t mint, maxt;
} cmeta;

/* One decoded series group, cached by a reader (series set or label scan). */
typedef struct gcache {
    int64_t g; /* -1 = none */
    uint8_t *raw;
    size_t len;
    size_t *off; /* entry offsets */
    size_t n;
} gcache;

static void
gcache_fini(gcache *c)
{
    ts_free(c->raw);
    ts_free(c->off);
    memset(c, 0, sizeof(*c));
    c->g = -1;
}

/* Decoded entry; labels point at block symbols. */
typedef struct sentry {
    uint32_t nlabels;
    ts_label *labels; /* scratch, caller-provided capacity TS__MAX_LABELS */
    uint32_t nchunks;
    cmeta *chunks; /* in the arena given to decode_entry, or NULL = skip */
    uint64_t cref;
    uint64_t coff;
} sentry;

/* Decodes one entry at d; chunks go to arena a (if a is NULL, metas are
 * only skipped and sentry.chunks is NULL). */
static int
decode_entry(const ts_block *b, ts_dec *d, sentry *e, ts_arena *a)
{
    uint64_t nl = ts_dec_uvarint(d);
    if (nl > TS__MAX_LABELS)
        return TS_ECORRUPT;
    e->nlabels = (uint32_t)nl;
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t nr = ts_dec_uvarint(d), vr = ts_dec_uvarint(d);
        if (d->err || nr >= b->nsyms || vr >= b->nsyms)
            return TS_ECORRUPT;
        if (e->labels)
            e->labels[i] = (ts_label){b->syms[nr], b->syms[vr]};
    }
    uint64_t nc = ts_dec_uvarint(d);
    if (d->err || nc == 0 || nc > TS__MAX_CHUNKS_PER_SERIES || nc > ts_dec_len(d))
        return TS_ECORRUPT;
    e->nchunks = (uint32_t)nc;
    e->chunks = a ? ts_arena_alloc(a, nc * sizeof(cmeta)) : NULL;
    int64_t prev = 0;
    for (uint64_t i = 0; i < nc; i++) {
        int64_t mint = ts_dec_varint(d);
        if (i > 0)
            mint = (int64_t)((uint64_t)prev + (uint64_t)mint);
        uint64_t dur = ts_dec_uvarint(d);
        if (dur > INT64_MAX / 2)
            return TS_ECORRUPT;
        int64_t maxt = (int64_t)((uint64_t)mint + dur);
        if (e->chunks)
            e->chunks[i] = (cmeta){mint, maxt};
        prev = maxt;
    }
    e->cref = ts_dec_uvarint(d);
    e->coff = ts_dec_uvarint(d);
    return d->err ? TS_ECORRUPT : TS_OK;
}

static int
load_group(const ts_block *b, gcache *c, uint32_t g, ts_error *err)
{
    if (c->g == (int64_t)g)
        return TS_OK;
    gcache_fini(c);
    uint64_t off = b->goff[g];
    int rc =
        ts__frame_get(b->idx + off, b->idx_len - off, &c->raw, &c->len, NULL, b->index_path, err);
    if (rc)
        return rc;
    uint32_t first = g * b->group_size;
    c->n = b->nseries - first < b->group_size ? b->nseries - first : b->group_size;
    c->off = ts_malloc(c->n * sizeof(*c->off));
    ts_dec d;
    ts_dec_init(&d, c->raw, c->len);
    for (size_t i = 0; i < c->n; i++) {
        c->off[i] = (size_t)(d.p - c->raw);
        sentry e = {0};
        if (decode_entry(b, &d, &e, NULL)) {
            gcache_fini(c);
            return ts_error_set(err, TS_ECORRUPT, "%s: corrupt series entry %u", b->index_path,
                                first + (uint32_t)i);
        }
    }
    c->g = g;
    return TS_OK;
}

/* Positions a decoder at series id's entry (loading its group). */
static int
seek_entry(const ts_block *b, gcache *c, uint32_t id, ts_dec *d, ts_error *err)
{
    uint32_t g = id / b->group_size;
    int rc = load_group(b, c, g, err);
    if (rc)
        return rc;
    size_t k = id - g * b->group_size;
    ts_dec_init(d, c->raw + c->off[k], c->len - c->off[k]);
    return TS_OK;
}

/* ------------------------------------------------------------------ chunk groups */

typedef struct ccache {
    uint64_t ref; /* 0 = none */
    uint8_t *raw;
    size_t len;
} ccache;

static int
load_chunk_group(const ts_block *b, ccache *c, uint64_t ref, ts_error *err)
{
    if (c->ref == ref && c->raw)
        return TS_OK;
    ts_free(c->raw);
    c->raw = NULL;
    c->ref = 0;
    uint32_t seg = (uint32_t)(ref >> 32);
    uint64_t off = ref & 0xFFFFFFFFu;
    char what[4200];
    snprintf(what, sizeof(what), "%s/chunks/%06u", b->dir, seg);
    if (seg == 0 || seg > b->nsegs)
        return ts_error_set(err, TS_ECORRUPT, "%s: chunk reference to missing segment", what);
    uint64_t size = b->seg_size[seg - 1];
    uint8_t hdr[TS__FRAME_HDR];
    if (off < TS__FILE_HDR_LEN || off + TS__FRAME_OVERHEAD > size ||
        ts_fs_pread_all(b->seg_fd[seg - 1], hdr, sizeof(hdr), (int64_t)off) != 0)
        return ts_error_set(err, TS_ECORRUPT, "%s: chunk reference past the end", what);
    uint64_t flen = (uint64_t)ts_get_be32(hdr + 4) + TS__FRAME_OVERHEAD;
    if (off + flen > size)
        return ts_error_set(err, TS_ECORRUPT, "%s: truncated chunk group at %llu", what,
                            (unsigned long long)off);
    uint8_t *buf = ts_malloc(flen);
    int rc = ts_fs_pread_all(b->seg_fd[seg - 1], buf, flen, (int64_t)off);
    if (rc == TS_OK)
        rc = ts__frame_get(buf, flen, &c->raw, &c->len, NULL, what, err);
    else
        ts_error_set(err, rc, "%s: read failed", what);
    ts_free(buf);
    if (rc)
        return rc;
    c->ref = ref;
    return TS_OK;
}

typedef struct cslice {
    int64_t mint, maxt;
    size_t off, len; /* in the copied data */
} cslice;

/* Copies the series' chunks overlapping [mint, maxt] out of the group. */
static int
copy_chunks(const ccache *c, uint64_t coff, const cmeta *metas, uint32_t n, int64_t mint,
            int64_t maxt, uint8_t **data, cslice **sl, size_t *nsl)
{
    *data = NULL;
    *sl = NULL;
    *nsl = 0;
    if (coff > c->len)
        return TS_ECORRUPT;
    ts_dec d;
    ts_dec_init(&d, c->raw + coff, c->len - coff);
    ts_buf out;
    ts_buf_init(&out, 0);
    cslice *s = ts_malloc(n * sizeof(*s));
    size_t k = 0;
    ts_buf rebuilt;
    ts_buf_init(&rebuilt, 0);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t kind = ts_dec_byte(&d);
        bool want = !(metas[i].maxt < mint || metas[i].mint > maxt);
        const uint8_t *p = NULL;
        uint64_t len = 0;
        if (kind == TS__REC_RAW) {
            len = ts_dec_uvarint(&d);
            p = len <= ts_dec_len(&d) ? ts_dec_bytes(&d, len) : NULL;
        } else if (kind == TS__REC_COLUMNAR) {
            uint64_t blen = ts_dec_uvarint(&d);
            const uint8_t *body = blen <= ts_dec_len(&d) ? ts_dec_bytes(&d, blen) : NULL;
            if (!body)
                d.err = TS_ECORRUPT;
            else if (!want)
                continue; /* skipped without rebuilding */
            ts_buf_reset(&rebuilt);
            /* A body past the group's end is corrupt (d.err set): no decoder
             * over it (fuzz_block found NULL + blen, which is undefined). */
            ts_dec bd;
            bool rebuilt_ok = false;
            if (!d.err) {
                ts_dec_init(&bd, body, blen);
                rebuilt_ok = ts__col_decode(&bd, metas[i].mint, &rebuilt) == TS_OK &&
                             ts_dec_len(&bd) == 0 && rebuilt.len > 0;
            }
            if (rebuilt_ok) {
                ts_dec r;
                ts_dec_init(&r, rebuilt.p, rebuilt.len);
                len = ts_dec_uvarint(&r);
                p = ts_dec_bytes(&r, len);
            }
        }
        if (d.err || !p) {
            ts_buf_fini(&rebuilt);
            ts_buf_fini(&out);
            ts_free(s);
            return TS_ECORRUPT;
        }
        if (!want)
            continue;
        s[k++] = (cslice){metas[i].mint, metas[i].maxt, out.len, len};
        ts_buf_put(&out, p, len);
    }
    ts_buf_fini(&rebuilt);
    size_t dummy;
    *data = ts_buf_steal(&out, &dummy);
    *sl = s;
    *nsl = k;
    return TS_OK;
}

/* ------------------------------------------------------------------ iterators */

typedef struct blk_it {
    ts_iterator base;
    uint8_t *data;
    cslice *ch;
    size_t nch, ci;
    ts_xor_iter xi;
    bool active, has_cur, done;
    int64_t mint, maxt;
    int64_t t;
    double v;
    int err;
} blk_it;

static ts_val_type
bit_next(ts_iterator *it)
{
    blk_it *x = (blk_it *)it;
    x->has_cur = false;
    if (x->done)
        return TS_VAL_NONE;
    for (;;) {
        if (!x->active) {
            if (x->ci >= x->nch) {
                x->done = true;
                return TS_VAL_NONE;
            }
            ts_xor_iter_init(&x->xi, x->data + x->ch[x->ci].off, x->ch[x->ci].len);
            x->active = true;
        }
        if (ts_it_next(&x->xi.base) == TS_VAL_FLOAT) {
            ts_it_at(&x->xi.base, &x->t, &x->v);
            if (x->t < x->mint)
                continue;
            if (x->t > x->maxt) {
                x->done = true;
                return TS_VAL_NONE;
            }
            x->has_cur = true;
            return TS_VAL_FLOAT;
        }
        if (ts_it_err(&x->xi.base)) {
            x->err = TS_ECORRUPT;
            x->done = true;
            return TS_VAL_NONE;
        }
        x->active = false;
        x->ci++;
    }
}

static ts_val_type
bit_seek(ts_iterator *it, int64_t t)
{
    blk_it *x = (blk_it *)it;
    if (x->done)
        return TS_VAL_NONE;
    if (x->has_cur && x->t >= t)
        return TS_VAL_FLOAT;
    /* Skip whole chunks that end before t. */
    if (x->ci < x->nch && x->ch[x->ci].maxt < t) {
        x->active = false;
        while (x->ci < x->nch && x->ch[x->ci].maxt < t)
            x->ci++;
    }
    for (;;) {
        ts_val_type vt = bit_next(it);
        if (vt != TS_VAL_FLOAT || x->t >= t)
            return vt;
    }
}

static void
bit_at(const ts_iterator *it, int64_t *t, double *v)
{
    const blk_it *x = (const blk_it *)it;
    *t = x->t;
    *v = x->v;
}

static int
bit_err(const ts_iterator *it)
{
    return ((const blk_it *)it)->err;
}

static void
bit_free(ts_iterator *it)
{
    blk_it *x = (blk_it *)it;
    ts_free(x->data);
    ts_free(x->ch);
    ts_free(x);
}

static const ts_iterator_ops blk_it_ops = {bit_next, bit_seek, bit_at, bit_err, bit_free};

typedef struct blk_cit {
    ts_chunk_iterator base;
    uint8_t *data;
    cslice *ch;
    size_t nch, ci;
    bool started;
    ts_chunk_meta cur;
    int err;
} blk_cit;

static bool
bcit_next(ts_chunk_iterator *it)
{
    blk_cit *x = (blk_cit *)it;
    if (x->started)
        x->ci++;
    x->started = true;
    if (x->err || x->ci >= x->nch)
        return false;
    const cslice *s = &x->ch[x->ci];
    x->cur = (ts_chunk_meta){s->mint, s->maxt, TS_ENC_XOR, x->data + s->off, s->len};
    return true;
}

static const ts_chunk_meta *
bcit_at(const ts_chunk_iterator *it)
{
    return &((const blk_cit *)it)->cur;
}

static int
bcit_err(const ts_chunk_iterator *it)
{
    return ((const blk_cit *)it)->err;
}

static void
bcit_free(ts_chunk_iterator *it)
{
    blk_cit *x = (blk_cit *)it;
    ts_free(x->data);
    ts_free(x->ch);
    ts_free(x);
}

static const ts_chunk_iterator_ops blk_cit_ops = {bcit_next, bcit_at, bcit_err, bcit_free};

/* ------------------------------------------------------------------ series set */

typedef struct blk_set blk_set;

typedef struct blk_series {
    ts_series base;
    blk_set *set;
    cmeta *chunks;
    uint32_t nchunks;
    uint64_t cref, coff;
} blk_series;

struct blk_set {
    ts_series_set base;
    ts_block *b;
    int64_t mint, maxt;
    plist post;
    size_t i;
    ts_arena arena;
    gcache gc;
    ccache cc;
    ts_label *scratch;
    blk_series *cur;
    bool stream; /* select hint: series live until the next next() */
};

/* Loads the series' chunk group and copies its chunks in range. */
static int
series_chunks(blk_series *s, uint8_t **data, cslice **sl, size_t *n)
{
    blk_set *set = s->set;
    ts_error err;
    int rc = load_chunk_group(set->b, &set->cc, s->cref, &err);
    if (rc)
        return rc;
    return copy_chunks(&set->cc, s->coff, s->chunks, s->nchunks, set->mint, set->maxt, data, sl, n);
}

static ts_iterator *
bs_iterator(ts_series *ser)
{
    blk_series *s = (blk_series *)ser;
    blk_it *x = ts_calloc(1, sizeof(*x));
    x->base.ops = &blk_it_ops;
    x->mint = s->set->mint;
    x->maxt = s->set->maxt;
    int rc = series_chunks(s, &x->data, &x->ch, &x->nch);
    if (rc) {
        x->err = rc;
        x->done = true;
    }
    return &x->base;
}

static ts_chunk_iterator *
bs_chunks(ts_series *ser)
{
    blk_series *s = (blk_series *)ser;
    blk_cit *x = ts_calloc(1, sizeof(*x));
    x->base.ops = &blk_cit_ops;
    x->err = series_chunks(s, &x->data, &x->ch, &x->nch);
    return &x->base;
}

static const ts_series_ops blk_series_ops = {bs_iterator, bs_chunks};

static bool
bset_next(ts_series_set *ss)
{
    blk_set *s = (blk_set *)ss;
    s->cur = NULL;
    if (s->stream)
        ts_arena_reset(&s->arena);
    while (s->i < s->post.n && !s->base.error.code) {
        uint32_t id = s->post.all ? (uint32_t)s->i : s->post.v[s->i];
        s->i++;
        ts_dec d;
        if (seek_entry(s->b, &s->gc, id, &d, &s->base.error))
            return false;
        sentry e = {0};
        e.labels = s->scratch;
        if (decode_entry(s->b, &d, &e, &s->arena)) {
            ts_error_set(&s->base.error, TS_ECORRUPT, "%s: corrupt series entry %u",
                         s->b->index_path, id);
            return false;
        }
        bool overlap = false;
        for (uint32_t k = 0; k < e.nchunks && !overlap; k++)
            overlap = e.chunks[k].mint <= s->maxt && e.chunks[k].maxt >= s->mint;
        if (!overlap)
            continue;
        blk_series *bs = TS_ARENA_NEW(&s->arena, blk_series);
        bs->base.ops = &blk_series_ops;
        bs->base.labels = ts_labels_new_arena(&s->arena, e.labels, e.nlabels);
        bs->set = s;
        bs->chunks = e.chunks;
        bs->nchunks = e.nchunks;
        bs->cref = e.cref;
        bs->coff = e.coff;
        s->cur = bs;
        return true;
    }
    return false;
}

static ts_series *
bset_at(ts_series_set *ss)
{
    return &((blk_set *)ss)->cur->base;
}

static void
bset_free(ts_series_set *ss)
{
    blk_set *s = (blk_set *)ss;
    ts_free(s->post.v);
    gcache_fini(&s->gc);
    ts_free(s->cc.raw);
    ts_free(s->scratch);
    ts_arena_fini(&s->arena);
    ts_ss_free_warnings(ss);
    ts_block_unref(s->b);
    ts_free(s);
}

static const ts_series_set_ops blk_set_ops = {bset_next, bset_at, bset_free};

/* ------------------------------------------------------------------ querier */

typedef struct blk_q {
    ts_querier base;
    ts_block *b;
} blk_q;

static int
bq_select(ts_querier *q, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    blk_q *bq = (blk_q *)q;
    *out = NULL;
    plist p;
    int rc = postings_for_matchers(bq->b, ms, nms, true, &p, err);
    if (rc)
        return rc;
    blk_set *s = ts_calloc(1, sizeof(*s));
    s->base.ops = &blk_set_ops;
    s->b = bq->b;
    ts_block_ref(s->b);
    s->mint = q->mint;
    s->maxt = q->maxt;
    s->post = p;
    s->stream = hints && hints->stream;
    ts_arena_init(&s->arena, s->stream ? 4096 : 0);
    s->gc.g = -1;
    s->scratch = ts_malloc(TS__MAX_LABELS * sizeof(*s->scratch));
    *out = &s->base;
    return TS_OK;
}

typedef struct vctx {
    bool *seen;
} vctx;

static bool
want_all(void *ctx, const char *value)
{
    return true;
}

static void
found_value(void *ctx, uint32_t vref)
{
    ((vctx *)ctx)->seen[vref] = true;
}

static int
collect_seen(const ts_block *b, const bool *seen, ts_arena *a, const char ***out, size_t *n)
{
    size_t cnt = 0;
    for (uint32_t i = 0; i < b->nsyms; i++)
        cnt += seen[i];
    const char **v = ts_arena_alloc(a, (cnt ? cnt : 1) * sizeof(*v));
    size_t k = 0;
    for (uint32_t i = 0; i < b->nsyms; i++)
        if (seen[i])
            v[k++] = ts_arena_strdup(a, b->syms[i]);
    *out = v;
    *n = k;
    return TS_OK;
}

static int
bq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    blk_q *bq = (blk_q *)q;
    ts_block *b = bq->b;
    *out = NULL;
    *n = 0;
    const lname *ln = find_name(b, name);
    if (!ln)
        return TS_OK;
    plist p = {0};
    int rc;
    if (nms && (rc = postings_for_matchers(b, ms, nms, false, &p, err)))
        return rc;
    bool *seen = ts_calloc(b->nsyms ? b->nsyms : 1, sizeof(bool));
    vctx c = {seen};
    pwalk w = {want_all, &c, NULL, nms ? &p : NULL, found_value};
    rc = walk_postings(b, ln, &w, err);
    if (!rc)
        collect_seen(b, seen, a, out, n);
    ts_free(seen);
    ts_free(p.v);
    return rc;
}

static int
bq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    blk_q *bq = (blk_q *)q;
    ts_block *b = bq->b;
    *out = NULL;
    *n = 0;
    bool *seen = ts_calloc(b->nsyms ? b->nsyms : 1, sizeof(bool));
    int rc = TS_OK;
    if (nms == 0) {
        for (uint32_t i = 0; i < b->nnames; i++)
            seen[b->names[i].name] = true;
    } else {
        plist p;
        if ((rc = postings_for_matchers(b, ms, nms, false, &p, err)))
            goto out;
        gcache gc = {.g = -1};
        ts_label *scratch = ts_malloc(TS__MAX_LABELS * sizeof(*scratch));
        for (size_t i = 0; i < p.n && !rc; i++) {
            ts_dec d;
            if ((rc = seek_entry(b, &gc, p.v[i], &d, err)))
                break;
            sentry e = {0};
            e.labels = scratch;
            if (decode_entry(b, &d, &e, NULL)) {
                rc = ts_error_set(err, TS_ECORRUPT, "%s: corrupt series entry %u", b->index_path,
                                  p.v[i]);
                break;
            }
            for (uint32_t k = 0; k < e.nlabels; k++) {
                /* names are symbols: find their refs by binary search */
                const char *nm = e.labels[k].name;
                size_t lo = 0, hi = b->nsyms;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    int c = strcmp(b->syms[mid], nm);
                    if (c == 0) {
                        seen[mid] = true;
                        break;
                    }
                    if (c < 0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
            }
        }
        ts_free(scratch);
        gcache_fini(&gc);
        ts_free(p.v);
    }
    if (!rc)
        collect_seen(b, seen, a, out, n);
out:
    ts_free(seen);
    return rc;
}

static void
bq_close(ts_querier *q)
{
    blk_q *bq = (blk_q *)q;
    ts_block_unref(bq->b);
    ts_free(bq);
}

static const ts_querier_ops blk_q_ops = {bq_select, bq_label_values, bq_label_names, bq_close};

int
ts_block_querier(ts_block *b, int64_t mint, int64_t maxt, ts_querier **out)
{
    blk_q *q = ts_calloc(1, sizeof(*q));
    q->base.ops = &blk_q_ops;
    q->base.mint = mint;
    q->base.maxt = maxt;
    q->b = b;
    ts_block_ref(b);
    *out = &q->base;
    return TS_OK;
}
