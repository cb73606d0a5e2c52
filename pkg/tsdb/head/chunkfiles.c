/*
 * Completed head chunks in memory-mapped segment files (internal.h,
 * ts__chunks), Prometheus' chunks_head/ used as a memory offload only.
 *
 * A completed chunk never changes, so its bytes can live in a file mapping
 * instead of the heap: the kernel counts them as page cache, writes them
 * back and can drop them under memory pressure, while the process's
 * anonymous memory grows only with series, not samples.
 *
 * Segments are files named by a counter (000001, 000002, ...) of a fixed
 * size, reserved with posix_fallocate before they are mapped: a store into
 * a sparse MAP_SHARED mapping on a full disk would be SIGBUS, a store into
 * reserved blocks cannot fail.  Chunks are bump-allocated in the current
 * segment under mu; mu is held for file I/O only to make the next segment
 * (once per seg_size bytes of chunks), never to unmap or delete one.
 *
 * Nothing here is read back: the files are deleted at start and the WAL
 * replay rebuilds the chunks (Prometheus also reads its files at start to
 * skip most of the replay; Tessera does not, so they need no format, no
 * fsync and no crash handling).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pkg/tsdb/head/internal.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define RETRY_NS (10ull * 1000000000ull) /* back-off after a failed segment */
#define PATH_LEN 4096

static void
seg_path(const ts__chunks *cs, uint64_t num, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%06" PRIu64, cs->dir, num);
}

/* Deletes every regular file in cs->dir (old segments, ours or
 * Prometheus'); the directory is created if absent.  Returns TS_OK or a
 * negative errno. */
static int
clean_dir(const ts__chunks *cs)
{
    int rc = ts_fs_mkdir_all(cs->dir, 0755);
    if (rc != TS_OK)
        return rc;
    DIR *d = opendir(cs->dir);
    if (!d)
        return -errno;
    struct dirent *e;
    char path[PATH_LEN];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", cs->dir, e->d_name);
        ts_fs_remove_all(path);
    }
    closedir(d);
    return TS_OK;
}

/* Creates, reserves and maps segment file num.  Returns the mapping, or
 * NULL with *err set to a negative errno (nothing is left behind). */
static uint8_t *
seg_create(const ts__chunks *cs, uint64_t num, int *err)
{
    char path[PATH_LEN];
    seg_path(cs, num, path, sizeof(path));
    int rc = ts_fs_mkdir_all(cs->dir, 0755); /* it may have been removed */
    if (rc != TS_OK) {
        *err = rc;
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    /* posix_fallocate returns the error instead of setting errno */
    rc = posix_fallocate(fd, 0, (off_t)cs->seg_size);
    uint8_t *p = NULL;
    if (rc != 0) {
        *err = -rc;
    } else {
        p = mmap(NULL, cs->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            *err = -errno;
            p = NULL;
        }
    }
    close(fd); /* the mapping keeps the file open */
    if (!p)
        unlink(path);
    return p;
}

static void
seg_destroy(const ts__chunks *cs, uint8_t *base, uint64_t num)
{
    char path[PATH_LEN];
    munmap(base, cs->seg_size);
    seg_path(cs, num, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        TS_LOG(TS_LOG_WARN, "tsdb", "cannot delete head chunk segment", "file=%s err=\"%s\"", path,
               strerror(errno));
}

void
ts__chunks_init(ts__chunks *cs, const char *dir, size_t seg_size)
{
    memset(cs, 0, sizeof(*cs));
    pthread_mutex_init(&cs->mu, NULL);
    cs->seg_size = seg_size ? seg_size : TS__CHUNK_SEG_SIZE;
    cs->next_num = 1;
    if (!dir || !dir[0])
        return;
    cs->dir = ts_strdup(dir);
    int rc = clean_dir(cs);
    if (rc != TS_OK) {
        /* seg_create will fail the same way and log it, then retry */
        TS_LOG(TS_LOG_WARN, "tsdb", "cannot prepare the head chunks directory", "dir=%s err=\"%s\"",
               dir, ts_strerror(rc));
    }
}

void
ts__chunks_fini(ts__chunks *cs)
{
    for (uint32_t i = 0; i < cs->nsegs; i++)
        if (cs->segs[i].base)
            seg_destroy(cs, cs->segs[i].base, cs->segs[i].num);
    ts_free(cs->segs);
    ts_free(cs->dir);
    pthread_mutex_destroy(&cs->mu);
}

/* Under mu: a free slot for a new segment, or UINT32_MAX when all
 * TS__CHUNK_SEG_MAX are taken. */
static uint32_t
free_slot(ts__chunks *cs)
{
    for (uint32_t i = 0; i < cs->nsegs; i++)
        if (!cs->segs[i].base)
            return i;
    if (cs->nsegs == TS__CHUNK_SEG_MAX)
        return UINT32_MAX;
    cs->segs = ts_realloc(cs->segs, (cs->nsegs + 1) * sizeof(*cs->segs));
    memset(&cs->segs[cs->nsegs], 0, sizeof(*cs->segs));
    return cs->nsegs++;
}

/* Under mu: makes a new current segment; the old one is returned in *old
 * when it is already empty (the caller destroys it after unlocking).
 * false when none could be made (chunks go to the heap meanwhile). */
static bool
next_segment(ts__chunks *cs, ts__chunk_seg *old)
{
    uint64_t now = ts_mono_ns();
    if (cs->failing && now < cs->retry_ns)
        return false;
    int err = TS_OK;
    uint32_t slot = free_slot(cs);
    uint8_t *p = NULL;
    if (slot == UINT32_MAX)
        err = TS_ELIMIT;
    else
        p = seg_create(cs, cs->next_num, &err);
    if (!p) {
        if (!cs->failing)
            TS_LOG(TS_LOG_WARN, "tsdb",
                   "cannot create a head chunk segment; keeping completed chunks in memory",
                   "dir=%s err=\"%s\"", cs->dir, ts_strerror(err));
        cs->failing = true;
        cs->retry_ns = now + RETRY_NS;
        return false;
    }
    if (cs->failing)
        TS_LOG(TS_LOG_INFO, "tsdb", "head chunk segments work again", "dir=%s", cs->dir);
    cs->failing = false;
    if (cs->cur) {
        ts__chunk_seg *c = &cs->segs[cs->cur - 1];
        if (c->live == 0) {
            *old = *c;
            memset(c, 0, sizeof(*c)); /* frees the slot */
            atomic_fetch_sub_explicit(&cs->nmapped, 1, memory_order_relaxed);
        }
    }
    cs->segs[slot] = (ts__chunk_seg){p, cs->next_num++, 0, 0};
    cs->cur = slot + 1;
    atomic_fetch_add_explicit(&cs->nmapped, 1, memory_order_relaxed);
    return true;
}

void
ts__chunks_store(ts__chunks *cs, ts__head_chunk *c, ts_xor_chunk *open)
{
    size_t len;
    const uint8_t *b = ts_xor_chunk_bytes(open, &len);
    if (cs->dir && len <= cs->seg_size) {
        ts__chunk_seg old = {0};
        uint8_t *dst = NULL;
        pthread_mutex_lock(&cs->mu);
        if (!cs->cur || cs->segs[cs->cur - 1].used + len > cs->seg_size)
            next_segment(cs, &old);
        if (cs->cur && cs->segs[cs->cur - 1].used + len <= cs->seg_size) {
            ts__chunk_seg *s = &cs->segs[cs->cur - 1];
            dst = s->base + s->used;
            s->used += len;
            s->live++;
            c->seg = (uint16_t)cs->cur;
        }
        pthread_mutex_unlock(&cs->mu);
        if (old.base)
            seg_destroy(cs, old.base, old.num);
        if (dst) {
            memcpy(dst, b, len); /* into reserved blocks: cannot fault */
            c->data = dst;
            c->len = (uint32_t)len;
            ts_xor_chunk_fini(open);
            atomic_fetch_add_explicit(&cs->mapped_live, len, memory_order_relaxed);
            return;
        }
        atomic_fetch_add_explicit(&cs->unmapped_total, 1, memory_order_relaxed);
    }
    c->seg = 0;
    c->data = ts_xor_chunk_steal(open, &len);
    c->len = (uint32_t)len;
    atomic_fetch_add_explicit(&cs->heap_bytes, len, memory_order_relaxed);
}

void
ts__chunks_release(ts__chunks *cs, const ts__chunk_ref *r, size_t n)
{
    uint64_t heap = 0, mapped = 0;
    bool any_mapped = false;
    for (size_t i = 0; i < n; i++) {
        if (r[i].seg == 0) {
            heap += r[i].len;
            ts_free(r[i].data);
        } else {
            mapped += r[i].len;
            any_mapped = true;
        }
    }
    atomic_fetch_sub_explicit(&cs->heap_bytes, heap, memory_order_relaxed);
    if (!any_mapped)
        return;
    atomic_fetch_sub_explicit(&cs->mapped_live, mapped, memory_order_relaxed);
    /* segments emptied by this release, destroyed after unlocking */
    ts__chunk_seg *gone = NULL;
    size_t ngone = 0, cgone = 0;
    pthread_mutex_lock(&cs->mu);
    for (size_t i = 0; i < n; i++) {
        if (r[i].seg == 0)
            continue;
        ts__chunk_seg *s = &cs->segs[r[i].seg - 1];
        TS_ASSERT(s->base && s->live > 0);
        if (--s->live == 0 && r[i].seg != cs->cur) {
            TS_GROW(gone, cgone, ngone + 1);
            gone[ngone++] = *s;
            memset(s, 0, sizeof(*s));
            atomic_fetch_sub_explicit(&cs->nmapped, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&cs->mu);
    for (size_t i = 0; i < ngone; i++)
        seg_destroy(cs, gone[i].base, gone[i].num);
    ts_free(gone);
}
