/*
 * The write-ahead log.  Design (the byte format is in
 * pkg/tsdb/docs/format/wal.md; keep the two in step):
 *
 * Segments.  The WAL directory holds segment files named by an 8-digit
 * decimal index (00000000, 00000001, ...), written strictly in order.  Each
 * segment is a plain sequence of frames; a record never spans two segments.
 * Before a frame would take the current segment past segment_size, the
 * segment is fsync'd and closed and the next index is created.  Every open
 * starts a new segment, so a segment that was being written when the process
 * died is never appended to again after repair.
 *
 * Frames.  9-byte header, then the stored payload:
 *
 *   0      1        5        9
 *   | kind | len be32 | crc be32 | payload (len bytes) |
 *
 * kind is 0xA0 (raw record) or 0xA1 (record compressed as one zstd frame);
 * every other value is invalid, so zero-filled or random tails are caught by
 * the first byte most of the time and by the CRC otherwise.  crc is CRC32-C
 * over the kind byte, the 4 length bytes and the payload.  len is at most
 * ZSTD_compressBound(TS_WAL_MAX_RECORD); a compressed frame must declare its
 * content size, which must be 1..TS_WAL_MAX_RECORD.
 *
 * Reading.  A segment is scanned from offset 0; the first frame that is
 * incomplete (header or payload past end of file), has an invalid kind or
 * length, a CRC mismatch or does not decompress ends the good part.  On open:
 *  - damage in the LAST segment (the normal result of a torn write when the
 *    process was killed): warn with segment and offset, truncate the segment
 *    there, carry on;
 *  - damage in an earlier segment, or a missing segment in the sequence: the
 *    records after it cannot be trusted to be complete, so, as Prometheus'
 *    wlog.Repair does, truncate there and delete every later segment, with
 *    an error-level log line saying how many were dropped.
 * Open never fails because of damaged data, only on I/O errors.  While
 * replaying, a helper thread checks and decompresses the frames of a big
 * segment ahead of the callback (see "Read-ahead" below).
 *
 * Writing.  ts_wal_log/_log_many encode all frames of a call into one buffer
 * and write it with one write(2) under the WAL mutex.  If the write fails
 * part-way (a full disk) the segment is cut back to where it was, in length
 * and file offset, so the file never keeps a half frame followed by good
 * ones; if even that fails, the WAL refuses further writes until a cut-back
 * succeeds.  fsync: see wal.h.
 *
 * Checkpoints.  checkpoint.NNNNNNNN/ holds, in the same segment format, the
 * still-needed records of the previous checkpoint and segments <= NNNNNNNN.
 * Built in checkpoint.NNNNNNNN.tmp, fsync'd, renamed, then the covered
 * segments and older checkpoints are deleted.  On open, *.tmp checkpoints
 * are removed, only the newest checkpoint is kept, and segments it covers
 * are deleted (a crash between rename and deletion leaves them behind).
 */
#include "pkg/tsdb/wal/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "pkg/tsdb/record/record.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#define FRAME_HDR 9
#define KIND_RAW 0xA0
#define KIND_ZSTD 0xA1
#define COMPRESS_MIN 64 /* records shorter than this are never compressed */
#define ZSTD_LEVEL 1
#define PATH_MAX_LEN 4096

/* ------------------------------------------------------------ segment writer */

/* Appends frames to numbered segment files in one directory; used by the
 * live WAL and to write checkpoints. */
typedef struct segw {
    char *dir;
    int fd; /* -1 when no segment is open */
    int idx;
    size_t size; /* bytes in the current segment */
    size_t max;  /* segment_size */
    bool compress;
    ZSTD_CCtx *cctx;
    ts_buf frames;    /* frames of the call being written */
    bool broken_tail; /* a failed write could not be truncated away */
} segw;

static void
seg_path(char *out, size_t n, const char *dir, int idx)
{
    snprintf(out, n, "%s/%08d", dir, idx);
}

static int
segw_open_segment(segw *s, int idx)
{
    char path[PATH_MAX_LEN];
    seg_path(path, sizeof(path), s->dir, idx);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || lseek(fd, 0, SEEK_END) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    s->fd = fd;
    s->idx = idx;
    s->size = (size_t)st.st_size;
    s->broken_tail = false;
    return ts_fs_fsync_dir(s->dir);
}

/* fsync + close the current segment. */
static int
segw_close_segment(segw *s)
{
    int rc = TS_OK;
    if (s->fd >= 0) {
        if (fdatasync(s->fd) != 0)
            rc = -errno;
        close(s->fd);
        s->fd = -1;
    }
    return rc;
}

static void
segw_init(segw *s, const char *dir, size_t max, bool compress)
{
    memset(s, 0, sizeof(*s));
    s->dir = ts_strdup(dir);
    s->fd = -1;
    s->max = max;
    s->compress = compress;
    if (compress)
        s->cctx = ZSTD_createCCtx();
    ts_buf_init(&s->frames, 0);
}

static int
segw_fini(segw *s)
{
    int rc = segw_close_segment(s);
    ZSTD_freeCCtx(s->cctx);
    ts_buf_fini(&s->frames);
    ts_free(s->dir);
    return rc;
}

/* Appends one frame for rec to s->frames. */
static int
encode_frame(segw *s, const uint8_t *rec, size_t n)
{
    if (n == 0 || n > TS_WAL_MAX_RECORD)
        return n == 0 ? TS_EINVAL : TS_ELIMIT;
    size_t start = s->frames.len;
    int rc = ts_buf_reserve(&s->frames, FRAME_HDR + ZSTD_compressBound(n));
    if (rc != TS_OK)
        return rc;
    uint8_t *hdr = s->frames.p + start;
    uint8_t *payload = hdr + FRAME_HDR;
    uint8_t kind = KIND_RAW;
    size_t len = n;
    if (s->compress && n >= COMPRESS_MIN) {
        size_t c = ZSTD_compressCCtx(s->cctx, payload, ZSTD_compressBound(n), rec, n, ZSTD_LEVEL);
        if (!ZSTD_isError(c) && c < n) {
            kind = KIND_ZSTD;
            len = c;
        }
    }
    if (kind == KIND_RAW)
        memcpy(payload, rec, n);
    hdr[0] = kind;
    ts_put_be32(hdr + 1, (uint32_t)len);
    uint32_t crc = ts_crc32c(0, hdr, 5);
    crc = ts_crc32c(crc, payload, len);
    ts_put_be32(hdr + 5, crc);
    s->frames.len = start + FRAME_HDR + len;
    return TS_OK;
}

/* Cuts the current segment back to s->size: its length and the file offset
 * (ftruncate leaves the offset where the failed write stopped, and the next
 * write there would leave a hole of zeros, which replay takes for damage and
 * drops every later segment for). */
static int
segw_cut_back(segw *s)
{
    if (ftruncate(s->fd, (off_t)s->size) != 0 || lseek(s->fd, (off_t)s->size, SEEK_SET) < 0)
        return -errno;
    return TS_OK;
}

/* Writes s->frames to the current segment (rotating first when they do not
 * fit), as one write(2).  On failure the segment is cut back. */
static int
segw_flush(segw *s)
{
    int rc;
    if (s->broken_tail) {
        if ((rc = segw_cut_back(s)) != TS_OK)
            return rc;
        s->broken_tail = false;
    }
    if (s->fd < 0 || (s->size > 0 && s->size + s->frames.len > s->max)) {
        int next = s->fd < 0 ? s->idx : s->idx + 1;
        if (s->fd >= 0 && (rc = segw_close_segment(s)) != TS_OK)
            return rc;
        if ((rc = segw_open_segment(s, next)) != TS_OK)
            return rc;
    }
    rc = ts_fs_write_all(s->fd, s->frames.p, s->frames.len);
    if (rc != TS_OK) {
        if (segw_cut_back(s) != TS_OK)
            s->broken_tail = true;
        return rc;
    }
    s->size += s->frames.len;
    return TS_OK;
}

/* ------------------------------------------------------------ segment reader */

typedef int (*rec_fn)(void *ctx, const uint8_t *rec, size_t n);

typedef struct reader {
    ZSTD_DCtx *dctx;
    ts_buf out; /* decompressed record */
} reader;

static void
reader_init(reader *r)
{
    r->dctx = ZSTD_createDCtx();
    ts_buf_init(&r->out, 0);
}

static void
reader_fini(reader *r)
{
    ZSTD_freeDCtx(r->dctx);
    ts_buf_fini(&r->out);
}

/* Checks the frame at p[0..avail), decompressing with dctx into out when
 * needed; on success sets *rec, *reclen (borrowed: p or out) and *framelen.
 * Returns NULL or a reason the frame is bad. */
static const char *
check_frame(ZSTD_DCtx *dctx, ts_buf *out, const uint8_t *p, size_t avail, const uint8_t **rec,
            size_t *reclen, size_t *framelen)
{
    if (avail < FRAME_HDR)
        return "incomplete frame header";
    uint8_t kind = p[0];
    if (kind != KIND_RAW && kind != KIND_ZSTD)
        return "invalid frame kind";
    size_t len = ts_get_be32(p + 1);
    if (len == 0 || len > ZSTD_compressBound(TS_WAL_MAX_RECORD))
        return "invalid frame length";
    if (len > avail - FRAME_HDR)
        return "frame extends past end of segment";
    uint32_t crc = ts_crc32c(0, p, 5);
    crc = ts_crc32c(crc, p + FRAME_HDR, len);
    if (crc != ts_get_be32(p + 5))
        return "checksum mismatch";
    const uint8_t *payload = p + FRAME_HDR;
    if (kind == KIND_RAW) {
        if (len > TS_WAL_MAX_RECORD)
            return "record too large";
        *rec = payload;
        *reclen = len;
    } else {
        unsigned long long sz = ZSTD_getFrameContentSize(payload, len);
        if (sz == ZSTD_CONTENTSIZE_UNKNOWN || sz == ZSTD_CONTENTSIZE_ERROR || sz == 0 ||
            sz > TS_WAL_MAX_RECORD)
            return "bad compressed frame size";
        ts_buf_reset(out);
        if (ts_buf_reserve(out, (size_t)sz) != TS_OK)
            return "record too large";
        size_t got = ZSTD_decompressDCtx(dctx, out->p, (size_t)sz, payload, len);
        if (ZSTD_isError(got) || got != sz)
            return "zstd decompression failed";
        *rec = out->p;
        *reclen = got;
    }
    *framelen = FRAME_HDR + len;
    return NULL;
}

/*
 * Read-ahead.  For a segment of at least READAHEAD_MIN_SEGMENT bytes, a
 * helper thread checks (CRC) and decompresses the frames while the caller's
 * thread runs fn on the records before them: on a big WAL that is a sixth of
 * the replay's reading thread.  Records travel through a ring of
 * READAHEAD_SLOTS slots; a slot holds a pointer into the mapped segment (raw
 * frames) or into the slot's own buffer (decompressed ones).  The helper
 * fills slot (first + count) % N outside the lock and publishes it with
 * count++; the caller uses slot `first` outside the lock and gives it back
 * with first++, count--.  fn sees exactly the records, in exactly the order,
 * of the serial scan; the helper stops at the first bad frame (its offset and
 * reason become *good_end and *why) or when fn fails (the caller sets stop).
 */
#define READAHEAD_MIN_SEGMENT (64u * 1024)
#define READAHEAD_SLOTS 8

typedef struct ahead {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot filled or freed, done, or stop */
    const uint8_t *map;
    size_t size;
    ZSTD_DCtx *dctx;
    struct {
        const uint8_t *rec;
        size_t len;
        ts_buf buf;
    } slot[READAHEAD_SLOTS];
    size_t first, count;
    bool done; /* helper finished; good_end and why are final */
    bool stop; /* the caller wants no more records */
    size_t good_end;
    const char *why;
} ahead;

static void *
ahead_main(void *arg)
{
    ahead *a = arg;
    size_t off = 0;
    const char *why = NULL;
    pthread_mutex_lock(&a->mu);
    while (off < a->size) {
        while (a->count == READAHEAD_SLOTS && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        size_t i = (a->first + a->count) % READAHEAD_SLOTS;
        pthread_mutex_unlock(&a->mu);
        size_t framelen = 0;
        why = check_frame(a->dctx, &a->slot[i].buf, a->map + off, a->size - off, &a->slot[i].rec,
                          &a->slot[i].len, &framelen);
        pthread_mutex_lock(&a->mu);
        if (why)
            break;
        off += framelen;
        a->count++;
        pthread_cond_signal(&a->cv);
    }
    a->good_end = off;
    a->why = why;
    a->done = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Scans a mapped segment on this thread (the contract of scan_segment). */
static int
scan_mapped(reader *r, const uint8_t *map, size_t size, rec_fn fn, void *ctx, size_t *good_end,
            const char **why, uint64_t *nrecs)
{
    int rc = TS_OK;
    size_t off = 0;
    while (off < size) {
        const uint8_t *rec;
        size_t reclen, framelen;
        const char *bad =
            check_frame(r->dctx, &r->out, map + off, size - off, &rec, &reclen, &framelen);
        if (bad) {
            *why = bad;
            break;
        }
        if (fn && (rc = fn(ctx, rec, reclen)) != TS_OK)
            break;
        if (nrecs)
            (*nrecs)++;
        off += framelen;
    }
    *good_end = off;
    return rc;
}

/* The read-ahead scan of a mapped segment (the contract of scan_segment);
 * scans on this thread alone if the helper cannot start. */
static int
scan_ahead(reader *r, const uint8_t *map, size_t size, rec_fn fn, void *ctx, size_t *good_end,
           const char **why, uint64_t *nrecs)
{
    ahead *a = ts_calloc(1, sizeof(*a));
    a->map = map;
    a->size = size;
    a->dctx = r->dctx; /* only the helper decompresses meanwhile */
    for (size_t i = 0; i < READAHEAD_SLOTS; i++)
        ts_buf_init(&a->slot[i].buf, 0);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_t th;
    int rc = TS_OK;
    if (pthread_create(&th, NULL, ahead_main, a) != 0) {
        rc = scan_mapped(r, map, size, fn, ctx, good_end, why, nrecs);
        goto out;
    }
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->count == 0 && !a->done)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->count == 0)
            break; /* done and drained */
        size_t i = a->first;
        pthread_mutex_unlock(&a->mu);
        rc = fn(ctx, a->slot[i].rec, a->slot[i].len);
        pthread_mutex_lock(&a->mu);
        if (rc != TS_OK) {
            a->stop = true;
            pthread_cond_signal(&a->cv);
            break;
        }
        if (nrecs)
            (*nrecs)++;
        a->first = (a->first + 1) % READAHEAD_SLOTS;
        a->count--;
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    pthread_join(th, NULL);
    /* on an error from fn, like the serial scan: no damage reported */
    *good_end = a->good_end;
    *why = rc == TS_OK ? a->why : NULL;
out:
    for (size_t i = 0; i < READAHEAD_SLOTS; i++)
        ts_buf_fini(&a->slot[i].buf);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    ts_free(a);
    return rc;
}

/* Scans one segment file, calling fn for each good record.  *good_end gets
 * the offset after the last good frame, *why the reason scanning stopped
 * early (NULL when the whole file was good).  Returns fn's error or an I/O
 * error; damage is not an error. */
static int
scan_segment(reader *r, const char *path, rec_fn fn, void *ctx, size_t *good_end, const char **why,
             uint64_t *nrecs)
{
    *good_end = 0;
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return TS_OK;
    }
    uint8_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    int rc = fn && size >= READAHEAD_MIN_SEGMENT
                 ? scan_ahead(r, map, size, fn, ctx, good_end, why, nrecs)
                 : scan_mapped(r, map, size, fn, ctx, good_end, why, nrecs);
    munmap(map, size);
    return rc;
}

/* -------------------------------------------------------------- directories */

typedef struct dir_list {
    int *segs;
    size_t nsegs, segcap;
    int *ckpts;
    size_t nckpts, ckptcap;
} dir_list;

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* Parses exactly 8 decimal digits. */
static bool
parse_index(const char *s, int *out)
{
    if (strlen(s) != 8)
        return false;
    int v = 0;
    for (int i = 0; i < 8; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Lists segments and checkpoints of dir (sorted).  With clean_tmp, removes
 * leftover checkpoint.*.tmp directories. */
static int
list_dir(const char *dir, dir_list *l, bool clean_tmp)
{
    memset(l, 0, sizeof(*l));
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int idx;
        const char *name = e->d_name;
        if (parse_index(name, &idx)) {
            TS_GROW(l->segs, l->segcap, l->nsegs + 1);
            l->segs[l->nsegs++] = idx;
        } else if (strncmp(name, "checkpoint.", 11) == 0) {
            size_t len = strlen(name);
            if (parse_index(name + 11, &idx)) {
                TS_GROW(l->ckpts, l->ckptcap, l->nckpts + 1);
                l->ckpts[l->nckpts++] = idx;
            } else if (clean_tmp && len > 15 && strcmp(name + len - 4, ".tmp") == 0) {
                char path[PATH_MAX_LEN];
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                TS_LOG(TS_LOG_WARN, "wal", "removing unfinished checkpoint", "dir=%s", path);
                ts_fs_remove_all(path);
            }
        }
    }
    closedir(d);
    if (l->nsegs)
        qsort(l->segs, l->nsegs, sizeof(int), cmp_int);
    if (l->nckpts)
        qsort(l->ckpts, l->nckpts, sizeof(int), cmp_int);
    return TS_OK;
}

static void
dir_list_fini(dir_list *l)
{
    ts_free(l->segs);
    ts_free(l->ckpts);
}

static void
ckpt_path(char *out, size_t n, const char *dir, int idx)
{
    snprintf(out, n, "%s/checkpoint.%08d", dir, idx);
}

/* Replays every segment of a checkpoint directory.  Damage there is logged
 * (a checkpoint is written atomically, so damage means the disk lost data)
 * and the rest of the checkpoint is skipped. */
static int
replay_checkpoint(reader *r, const char *cdir, rec_fn fn, void *ctx, uint64_t *nrecs)
{
    dir_list l;
    int rc = list_dir(cdir, &l, false);
    if (rc != TS_OK)
        return rc;
    for (size_t i = 0; i < l.nsegs && rc == TS_OK; i++) {
        char path[PATH_MAX_LEN];
        seg_path(path, sizeof(path), cdir, l.segs[i]);
        size_t end;
        const char *why;
        rc = scan_segment(r, path, fn, ctx, &end, &why, nrecs);
        if (rc == TS_OK && why) {
            TS_LOG(TS_LOG_ERROR, "wal", "checkpoint is damaged; records after the damage are lost",
                   "dir=%s segment=%08d offset=%zu reason=\"%s\"", cdir, l.segs[i], end, why);
            break;
        }
    }
    dir_list_fini(&l);
    return rc;
}

/* ------------------------------------------------------------------- the WAL */

struct ts_wal {
    char *dir;
    ts_wal_opts opts;
    pthread_mutex_t mu; /* guards everything below */
    segw w;
    int first;  /* oldest segment on disk */
    int ckpt;   /* newest checkpoint index, -1 if none */
    bool dirty; /* written since the last fsync */
    ts_wal_stats st;

    pthread_t syncer;
    bool has_syncer, stop;
    pthread_cond_t cond;
};

void
ts_wal_opts_default(ts_wal_opts *o)
{
    o->segment_size = TS_WAL_DEFAULT_SEGMENT_SIZE;
    o->fsync_interval_ms = 1000;
    o->compress = true;
}

static int
sync_current(ts_wal *w)
{
    pthread_mutex_lock(&w->mu);
    if (!w->dirty || w->w.fd < 0) {
        pthread_mutex_unlock(&w->mu);
        return TS_OK;
    }
    /* fsync a duplicate outside the lock so writers are not held up; a
     * rotation meanwhile fsyncs the old segment itself. */
    int fd = dup(w->w.fd);
    w->dirty = false;
    w->st.fsyncs++;
    pthread_mutex_unlock(&w->mu);
    if (fd < 0)
        return -errno;
    int rc = fdatasync(fd) == 0 ? TS_OK : -errno;
    close(fd);
    if (rc != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "wal", "fsync failed", "dir=%s err=\"%s\"", w->dir, ts_strerror(rc));
        pthread_mutex_lock(&w->mu);
        w->dirty = true;
        pthread_mutex_unlock(&w->mu);
    }
    return rc;
}

static void *
syncer_main(void *arg)
{
    ts_wal *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (w->opts.fsync_interval_ms % 1000) * 1000000;
        ts.tv_sec += w->opts.fsync_interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        sync_current(w);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Removes segment files [from, to] (those that exist). */
static void
remove_segments(const char *dir, const int *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX_LEN];
        seg_path(path, sizeof(path), dir, segs[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            TS_LOG(TS_LOG_ERROR, "wal", "cannot remove segment", "path=%s err=\"%s\"", path,
                   strerror(errno));
    }
}

int
ts_wal_open(const char *dir, const ts_wal_opts *opts, ts_wal_replay_fn fn, void *ctx, ts_wal **out,
            ts_error *err)
{
    *out = NULL;
    ts_wal_opts o;
    if (opts)
        o = *opts;
    else
        ts_wal_opts_default(&o);
    if (o.segment_size == 0)
        o.segment_size = TS_WAL_DEFAULT_SEGMENT_SIZE;
    if (o.segment_size < TS_WAL_MIN_SEGMENT_SIZE)
        return ts_error_set(err, TS_EINVAL, "wal segment size %zu below minimum %u", o.segment_size,
                            TS_WAL_MIN_SEGMENT_SIZE);
    int rc = ts_fs_mkdir_all(dir, 0755);
    if (rc != TS_OK)
        return ts_error_set(err, rc, "creating wal dir %s: %s", dir, ts_strerror(rc));

    dir_list l;
    if ((rc = list_dir(dir, &l, true)) != TS_OK)
        return ts_error_set(err, rc, "listing wal dir %s: %s", dir, ts_strerror(rc));

    ts_wal *w = ts_calloc(1, sizeof(*w));
    w->dir = ts_strdup(dir);
    w->opts = o;
    w->ckpt = -1;
    pthread_mutex_init(&w->mu, NULL);
    segw_init(&w->w, dir, o.segment_size, o.compress);
    reader r;
    reader_init(&r);
    char path[PATH_MAX_LEN];

    /* Newest checkpoint: replay it, drop older ones and covered segments. */
    if (l.nckpts > 0) {
        w->ckpt = l.ckpts[l.nckpts - 1];
        for (size_t i = 0; i + 1 < l.nckpts; i++) {
            ckpt_path(path, sizeof(path), dir, l.ckpts[i]);
            ts_fs_remove_all(path);
        }
        ckpt_path(path, sizeof(path), dir, w->ckpt);
        rc = replay_checkpoint(&r, path, fn, ctx, &w->st.records_replayed);
        if (rc != TS_OK) {
            ts_error_set(err, rc, "replaying wal checkpoint %s: %s", path, ts_strerror(rc));
            goto fail;
        }
    }
    size_t s0 = 0;
    while (s0 < l.nsegs && l.segs[s0] <= w->ckpt)
        s0++;
    remove_segments(dir, l.segs, s0);

    /* Replay the segments in order, repairing the first damage found. */
    size_t nsegs = l.nsegs;
    for (size_t i = s0; i < nsegs; i++) {
        if (i > s0 && l.segs[i] != l.segs[i - 1] + 1) {
            TS_LOG(TS_LOG_ERROR, "wal", "wal segment missing; deleting the segments after the gap",
                   "dir=%s missing=%08d deleted=%zu", dir, l.segs[i - 1] + 1, nsegs - i);
            remove_segments(dir, l.segs + i, nsegs - i);
            w->st.repairs++;
            nsegs = i;
            break;
        }
        seg_path(path, sizeof(path), dir, l.segs[i]);
        size_t end;
        const char *why;
        rc = scan_segment(&r, path, fn, ctx, &end, &why, &w->st.records_replayed);
        if (rc != TS_OK) {
            ts_error_set(err, rc, "replaying wal segment %s: %s", path, ts_strerror(rc));
            goto fail;
        }
        if (!why)
            continue;
        w->st.repairs++;
        if (i + 1 == nsegs)
            TS_LOG(TS_LOG_WARN, "wal", "damaged wal tail (torn write?); truncating",
                   "segment=%s offset=%zu reason=\"%s\"", path, end, why);
        else
            TS_LOG(TS_LOG_ERROR, "wal",
                   "damaged wal segment; truncating it and DELETING all later segments",
                   "segment=%s offset=%zu reason=\"%s\" deleted=%zu", path, end, why,
                   nsegs - i - 1);
        if (truncate(path, (off_t)end) != 0) {
            rc = -errno;
            ts_error_set(err, rc, "truncating damaged wal segment %s: %s", path, ts_strerror(rc));
            goto fail;
        }
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            fdatasync(fd);
            close(fd);
        }
        remove_segments(dir, l.segs + i + 1, nsegs - i - 1);
        nsegs = i + 1;
        break;
    }
    ts_fs_fsync_dir(dir);

    /* A fresh segment for this run. */
    int next = nsegs > s0 ? l.segs[nsegs - 1] + 1 : w->ckpt + 1;
    w->first = nsegs > s0 ? l.segs[s0] : next;
    if ((rc = segw_open_segment(&w->w, next)) != TS_OK) {
        ts_error_set(err, rc, "creating wal segment %08d in %s: %s", next, dir, ts_strerror(rc));
        goto fail;
    }
    reader_fini(&r);
    dir_list_fini(&l);

    if (o.fsync_interval_ms > 0) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&w->syncer, NULL, syncer_main, w) == 0)
            w->has_syncer = true;
        else
            pthread_cond_destroy(&w->cond);
    }
    *out = w;
    return TS_OK;

fail:
    reader_fini(&r);
    dir_list_fini(&l);
    segw_fini(&w->w);
    pthread_mutex_destroy(&w->mu);
    ts_free(w->dir);
    ts_free(w);
    return rc;
}

void
ts_wal_close(ts_wal *w)
{
    if (!w)
        return;
    if (w->has_syncer) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->syncer, NULL);
        pthread_cond_destroy(&w->cond);
    }
    int rc = segw_fini(&w->w);
    if (rc != TS_OK)
        TS_LOG(TS_LOG_ERROR, "wal", "closing wal segment failed", "dir=%s err=\"%s\"", w->dir,
               ts_strerror(rc));
    pthread_mutex_destroy(&w->mu);
    ts_free(w->dir);
    ts_free(w);
}

int
ts_wal_log_many(ts_wal *w, const uint8_t *const *recs, const size_t *lens, size_t nrecs)
{
    pthread_mutex_lock(&w->mu);
    ts_buf_reset(&w->w.frames);
    int rc = TS_OK;
    for (size_t i = 0; i < nrecs && rc == TS_OK; i++)
        rc = encode_frame(&w->w, recs[i], lens[i]);
    if (rc == TS_OK && w->w.frames.len > 0)
        rc = segw_flush(&w->w);
    if (rc == TS_OK) {
        w->st.records_written += nrecs;
        w->st.bytes_written += w->w.frames.len;
        w->dirty = true;
    }
    /* Don't keep a huge buffer around after a big batch. */
    if (w->w.frames.cap > (4u << 20)) {
        ts_buf_fini(&w->w.frames);
        ts_buf_init(&w->w.frames, 0);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == TS_OK && w->opts.fsync_interval_ms == 0)
        rc = sync_current(w);
    return rc;
}

int
ts_wal_log(ts_wal *w, const uint8_t *rec, size_t n)
{
    return ts_wal_log_many(w, &rec, &n, 1);
}

int
ts_wal_sync(ts_wal *w)
{
    return sync_current(w);
}

int
ts_wal_cut(ts_wal *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = segw_close_segment(&w->w);
    if (rc == TS_OK)
        rc = segw_open_segment(&w->w, w->w.idx + 1);
    if (rc == TS_OK)
        rc = w->w.idx;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void
ts_wal_segments(ts_wal *w, int *first, int *last)
{
    pthread_mutex_lock(&w->mu);
    *first = w->first;
    *last = w->w.idx;
    pthread_mutex_unlock(&w->mu);
}

int64_t
ts_wal_size(ts_wal *w)
{
    return ts_fs_dir_size(w->dir);
}

const char *
ts_wal_dir(const ts_wal *w)
{
    return w->dir;
}

void
ts_wal_stats_get(ts_wal *w, ts_wal_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    pthread_mutex_unlock(&w->mu);
}

/* ----------------------------------------------------------------- checkpoint */

typedef struct ckpt_ctx {
    segw *out;
    ts_wal_keep_fn keep;
    void *keep_ctx;
    int64_t mint;
    ts_arena arena;
    ts_buf rec;
    ts_record_series *series;
    size_t series_cap;
    ts_record_sample *samples;
    size_t samples_cap;
    uint64_t kept_series, kept_samples, dropped_series, dropped_samples;
} ckpt_ctx;

static int
ckpt_write(ckpt_ctx *c, const uint8_t *rec, size_t n)
{
    ts_buf_reset(&c->out->frames);
    int rc = encode_frame(c->out, rec, n);
    return rc == TS_OK ? segw_flush(c->out) : rc;
}

static int
ckpt_filter(void *ctx, const uint8_t *rec, size_t n)
{
    ckpt_ctx *c = ctx;
    int type = ts_record_type(rec, n);
    int rc;
    ts_arena_reset(&c->arena);
    ts_buf_reset(&c->rec);
    if (type == TS_REC_SERIES) {
        ts_record_series *s;
        size_t ns;
        if ((rc = ts_record_decode_series(rec, n, &c->arena, &s, &ns)) != TS_OK)
            return rc;
        size_t k = 0;
        for (size_t i = 0; i < ns; i++)
            if (c->keep(c->keep_ctx, s[i].ref))
                s[k++] = s[i];
        c->kept_series += k;
        c->dropped_series += ns - k;
        if (k == 0)
            return TS_OK;
        if ((rc = ts_record_encode_series(&c->rec, s, k)) != TS_OK)
            return rc;
    } else if (type == TS_REC_SAMPLES) {
        ts_record_sample *s;
        size_t ns;
        if ((rc = ts_record_decode_samples(rec, n, &c->arena, &s, &ns)) != TS_OK)
            return rc;
        size_t k = 0;
        for (size_t i = 0; i < ns; i++)
            if (s[i].t >= c->mint && c->keep(c->keep_ctx, s[i].ref))
                s[k++] = s[i];
        c->kept_samples += k;
        c->dropped_samples += ns - k;
        if (k == 0)
            return TS_OK;
        if ((rc = ts_record_encode_samples(&c->rec, s, k)) != TS_OK)
            return rc;
    } else {
        return ckpt_write(c, rec, n);
    }
    return ckpt_write(c, c->rec.p, c->rec.len);
}

int
ts_wal_checkpoint(ts_wal *w, int upto, ts_wal_keep_fn keep, void *keep_ctx, int64_t mint,
                  ts_error *err)
{
    pthread_mutex_lock(&w->mu);
    int first = w->first, cur = w->w.idx, old = w->ckpt;
    pthread_mutex_unlock(&w->mu);
    if (upto >= cur)
        return ts_error_set(err, TS_EINVAL,
                            "wal checkpoint up to segment %d: segment %d is being written", upto,
                            cur);
    if (upto < first)
        return TS_OK; /* nothing new to checkpoint */

    char tmp[PATH_MAX_LEN], final[PATH_MAX_LEN], path[PATH_MAX_LEN];
    ckpt_path(final, sizeof(final), w->dir, upto);
    snprintf(tmp, sizeof(tmp), "%s.tmp", final);
    ts_fs_remove_all(tmp);
    int rc = ts_fs_mkdir_all(tmp, 0755);
    if (rc != TS_OK)
        return ts_error_set(err, rc, "creating %s: %s", tmp, ts_strerror(rc));

    segw out;
    segw_init(&out, tmp, w->opts.segment_size, w->opts.compress);
    ckpt_ctx c = {.out = &out, .keep = keep, .keep_ctx = keep_ctx, .mint = mint};
    ts_arena_init(&c.arena, 0);
    ts_buf_init(&c.rec, 0);
    reader r;
    reader_init(&r);

    if (old >= 0) {
        ckpt_path(path, sizeof(path), w->dir, old);
        rc = replay_checkpoint(&r, path, ckpt_filter, &c, NULL);
        if (rc != TS_OK) {
            ts_error_set(err, rc, "reading checkpoint %s: %s", path, ts_strerror(rc));
            goto done;
        }
    }
    for (int i = first; i <= upto; i++) {
        seg_path(path, sizeof(path), w->dir, i);
        size_t end;
        const char *why;
        rc = scan_segment(&r, path, ckpt_filter, &c, &end, &why, NULL);
        if (rc == -ENOENT) {
            rc = TS_OK; /* a gap (segments are created strictly in order, so only after repair) */
            continue;
        }
        if (rc == TS_OK && why)
            rc = ts_error_set(err, TS_ECORRUPT, "wal segment %s damaged at offset %zu: %s", path,
                              end, why);
        else if (rc != TS_OK)
            ts_error_set(err, rc, "reading wal segment %s: %s", path, ts_strerror(rc));
        if (rc != TS_OK)
            goto done;
    }
    /* An empty checkpoint still gets its (empty) first segment, so it is a
     * valid directory in the same format. */
    if (out.fd < 0 && (rc = segw_open_segment(&out, 0)) != TS_OK) {
        ts_error_set(err, rc, "creating checkpoint segment: %s", ts_strerror(rc));
        goto done;
    }
    if ((rc = segw_close_segment(&out)) != TS_OK || (rc = ts_fs_fsync_dir(tmp)) != TS_OK) {
        ts_error_set(err, rc, "syncing checkpoint %s: %s", tmp, ts_strerror(rc));
        goto done;
    }
    ts_fs_remove_all(final); /* a checkpoint of the same index left by a crash */
    if (rename(tmp, final) != 0) {
        rc = -errno;
        ts_error_set(err, rc, "renaming %s: %s", tmp, ts_strerror(rc));
        goto done;
    }
    ts_fs_fsync_dir(w->dir);

    pthread_mutex_lock(&w->mu);
    w->ckpt = upto;
    w->first = upto + 1;
    w->st.checkpoints++;
    pthread_mutex_unlock(&w->mu);
    for (int i = first; i <= upto; i++) {
        seg_path(path, sizeof(path), w->dir, i);
        unlink(path);
    }
    if (old >= 0 && old != upto) {
        ckpt_path(path, sizeof(path), w->dir, old);
        ts_fs_remove_all(path);
    }
    ts_fs_fsync_dir(w->dir);
    TS_LOG(TS_LOG_INFO, "wal", "checkpoint written",
           "dir=%s upto=%08d series=%" PRIu64 " samples=%" PRIu64 " dropped_series=%" PRIu64
           " dropped_samples=%" PRIu64,
           final, upto, c.kept_series, c.kept_samples, c.dropped_series, c.dropped_samples);

done:
    reader_fini(&r);
    segw_fini(&out);
    ts_arena_fini(&c.arena);
    ts_buf_fini(&c.rec);
    if (rc != TS_OK)
        ts_fs_remove_all(tmp);
    return rc;
}
