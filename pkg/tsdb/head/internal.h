/*
 * Internals of the head shared by head.c (series table, truncation),
 * postings.c (label index), append.c (appender) and read.c (querier).
 * Not part of the public API.
 *
 * Lock order (never acquire against it):
 *     trunc_mu -> stripe rwlocks in index order -> series mutex
 *         -> postings rwlock;  gc_mu and chunks.mu are leaves (nothing is
 *         taken under them)
 * No code holds two series mutexes at once.
 */
#ifndef TS_TSDB_HEAD_INTERNAL_H
#define TS_TSDB_HEAD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/tsdb/head/head.h"

#define TS__HEAD_CHUNK_SAMPLES 120
#define TS__HEAD_STRIPES 1024      /* series table stripes (power of two) */
#define TS__HEAD_SERIES_LOCKS 4096 /* series data mutexes (power of two) */
#define TS__HEAD_DENSE_BITS 16     /* dense ref index: slots per chunk (log2) */
#define TS__HEAD_DENSE_TOP 65536   /* chunks: refs below 2^32 are indexed */

/* A completed, immutable chunk.  data is released only by truncation, and
 * only after the queriers that could hold pointers to it are closed.  seg
 * says where the bytes live: 0 = malloc'd (freed one by one), else in chunk
 * segment slot seg - 1 (chunkfiles.c: unmapped with the whole segment). */
typedef struct ts__head_chunk {
    int64_t mint, maxt;
    uint8_t *data;
    uint32_t len;
    uint16_t count;
    uint16_t seg;
} ts__head_chunk;

/* A retired chunk's bytes, as the deferred-free batches keep them. */
typedef struct ts__chunk_ref {
    uint8_t *data;
    uint32_t len;
    uint16_t seg; /* as in ts__head_chunk */
} ts__chunk_ref;

#define TS__CHUNK_SEG_SIZE ((size_t)32 << 20) /* default segment file size */
#define TS__CHUNK_SEG_MAX 65535               /* slots: seg is a uint16_t */

/* One memory-mapped segment file of <chunks_dir>/ (chunkfiles.c). */
typedef struct ts__chunk_seg {
    uint8_t *base; /* MAP_SHARED, size bytes; NULL = free slot */
    uint64_t num;  /* file name number */
    size_t used;   /* bump allocation offset */
    uint64_t live; /* chunks handed out and not yet reclaimed */
} ts__chunk_seg;

/* Completed chunks' storage (chunkfiles.c).  With a directory, cut chunks
 * are copied into fixed-size, pre-allocated (posix_fallocate) segment files
 * mapped MAP_SHARED, so they are page cache the kernel can write back and
 * drop, not anonymous memory.  The files are an offload, not persistence:
 * they are deleted at start (the WAL is the source of truth).  When no
 * segment can be made (full disk, read-only fs, too many files...) chunks
 * stay malloc'd, as without a directory, and a new segment is tried again
 * after a back-off.  A segment is unmapped and unlinked when it is no
 * longer the current one and its last chunk was reclaimed (after the
 * queriers that could read it closed: the epoch scheme in head.c). */
typedef struct ts__chunks {
    char *dir; /* NULL: chunks are always malloc'd */
    size_t seg_size;
    pthread_mutex_t mu; /* guards the fields below (leaf lock) */
    ts__chunk_seg *segs;
    uint32_t nsegs;    /* slots used so far (some may be free) */
    uint32_t cur;      /* current segment's slot + 1; 0 = none */
    uint64_t next_num; /* next file number */
    bool failing;      /* the last segment could not be made */
    uint64_t retry_ns; /* while failing: no new attempt before this */
    /* statistics (written under mu or atomically, read without it) */
    _Atomic uint64_t nmapped;        /* segments mapped */
    _Atomic uint64_t mapped_live;    /* live chunk bytes in segments */
    _Atomic uint64_t heap_bytes;     /* completed chunk bytes malloc'd */
    _Atomic uint64_t unmapped_total; /* chunks kept malloc'd for want of a segment */
} ts__chunks;

typedef struct ts__series {
    uint64_t ref;
    ts_labels *labels;                       /* owned; immutable */
    struct ts__series *next_hash, *next_ref; /* stripe chains */
    /* Everything below is protected by the series mutex (ts__series_lock). */
    ts__head_chunk *chunks; /* completed chunks, oldest first */
    uint32_t nchunks, cchunks;
    uint32_t pending;  /* open appenders that reference the series */
    uint8_t logged;    /* its series record was handed to opts.log */
    uint8_t dead;      /* unlinked or being unlinked: lookups ignore it */
    ts_xor_chunk open; /* the chunk being appended to (count 0 = none) */
} ts__series;

/* One stripe of the series table: ref -> series and hash -> series chains
 * (separate chaining, buckets double at load 1).  A series is in the ref
 * table of stripe ref & mask and the hash table of stripe hash & mask. */
typedef struct ts__stripe {
    pthread_rwlock_t lock;
    ts__series **by_ref, **by_hash;
    uint32_t nref_buckets, nhash_buckets;
    uint32_t nref, nhash;
} ts__stripe;

/* The postings index: label name -> value -> sorted refs, plus all refs. */
typedef struct ts__postings ts__postings;

struct ts_head {
    ts_head_opts opts;
    ts__stripe stripes[TS__HEAD_STRIPES];
    pthread_mutex_t series_mu[TS__HEAD_SERIES_LOCKS];

    pthread_rwlock_t postings_lock;
    ts__postings *postings;

    _Atomic uint64_t next_ref;
    _Atomic int64_t mint, maxt; /* of samples in memory */
    _Atomic int64_t min_valid;  /* samples below are too old (set by truncate) */

    /* Deferred freeing (epoch-based reclamation): queriers hold pointers to
     * series and completed chunk data between calls.  Memory unlinked by
     * truncation or rollback is retired into a garbage batch tagged with
     * the current epoch and freed once every querier opened before that is
     * closed.  Nobody waits: truncation never blocks queries. */
    pthread_mutex_t gc_mu;
    uint64_t epoch;                    /* next tag */
    struct ts__reader *rhead, *rtail;  /* open queriers, oldest ticket first */
    struct ts__garbage *ghead, *gtail; /* retired batches, oldest first */
    pthread_mutex_t trunc_mu;          /* one truncation at a time */

    ts__chunks chunks; /* where completed chunks' bytes live */

    /* WAL replay only: a dense ref -> series index built by
     * ts_head_replay_series (grown under replay_mu) and read by
     * ts_head_replay_samples, which runs before the head is shared.  A
     * series unlinked from the ref table is cleared from it too.  Freed by
     * ts_head_replay_end. */
    pthread_mutex_t replay_mu;
    ts__series **replay_idx;
    uint64_t replay_cap;

    /* Dense ref index (head.c find_ref_dense): ref -> series for every
     * series in the ref table whose ref is below 2^32, as chunks of
     * 2^TS__HEAD_DENSE_BITS slots allocated on first use (by CAS) and kept
     * until ts_head_free.  A slot is written under its ref stripe's write
     * lock and read under its read lock, like the chains it shadows. */
    _Atomic(ts__series **) dense[TS__HEAD_DENSE_TOP];

    /* statistics */
    _Atomic uint64_t num_series, num_samples, num_chunks;
    _Atomic uint64_t appended_total, ooo_total, dup_total, too_old_total;
    _Atomic uint64_t created_total, removed_total;
};

/* ---------------------------------------------------------------- head.c */

static inline pthread_mutex_t *
ts__series_mu(ts_head *h, const ts__series *s)
{
    return &h->series_mu[s->ref & (TS__HEAD_SERIES_LOCKS - 1)];
}
static inline void
ts__series_lock(ts_head *h, const ts__series *s)
{
    pthread_mutex_lock(ts__series_mu(h, s));
}
static inline void
ts__series_unlock(ts_head *h, const ts__series *s)
{
    pthread_mutex_unlock(ts__series_mu(h, s));
}

/* The committed last sample of a series (under its lock). */
typedef struct ts__last {
    bool has;
    int64_t t;
    uint64_t vbits;
    bool logged; /* the series record was logged (never goes back to false) */
} ts__last;

/* Finds a live series by ref and takes an appender reference on it
 * (pending++); *last gets its committed last sample.  NULL if absent. */
ts__series *ts__series_acquire_ref(ts_head *h, uint64_t ref, ts__last *last);
/* Same by labels, creating the series when absent (*created = true).
 * Returns TS_OK or TS_EINVAL (empty label set). */
int ts__series_acquire_labels(ts_head *h, const ts_labels *ls, ts__series **out, bool *created,
                              ts__last *last);
/* Drops an appender reference; when remove_if_empty and the series has no
 * samples and no other references, removes it (freed once no querier that
 * could have seen it is open). */
void ts__series_release(ts_head *h, ts__series *s, bool remove_if_empty);
/* Finds a live series by ref without taking a reference (queriers: deferred
 * freeing keeps it allocated while the querier is open). */
ts__series *ts__series_get(ts_head *h, uint64_t ref);

/* Appends a committed sample to a series (lock held by the caller), cutting
 * the open chunk at TS__HEAD_CHUNK_SAMPLES and at chunk_range boundaries.
 * Returns TS_OK, TS_EOOO or TS_EDUPSAMPLE, or 1 for an identical duplicate
 * (ignored).  *new_chunk is set when the sample started a chunk.  The
 * caller updates the statistics (num_samples, num_chunks, mint/maxt), so a
 * commit touches the shared counters once, not once per sample. */
int ts__series_append(ts_head *h, ts__series *s, int64_t t, double v, bool *new_chunk);
/* Widens head mint/maxt to include [mint, maxt]. */
void ts__head_widen(ts_head *h, int64_t mint, int64_t maxt);
/* The "too old to append" rule (head.h, "Appendable window"; Prometheus'
 * appendableMinValidTime), the one place it is computed: the lowest
 * timestamp accepted now.  A sample below it is too old: the appender
 * returns TS_ETOOOLD, replay drops it; both count it in too_old_total.
 *   TS__WINDOW_APPEND: head.h's window, for appenders;
 *   TS__WINDOW_REPLAY: min_valid alone (WAL samples were inside the window
 *     when they were appended; only truncation makes them too old). */
typedef enum { TS__WINDOW_APPEND, TS__WINDOW_REPLAY } ts__window;
int64_t ts__head_min_valid_time(ts_head *h, ts__window w);

/* An open querier, registered for deferred freeing (embedded in it). */
typedef struct ts__reader {
    struct ts__reader *prev, *next;
    uint64_t ticket; /* epoch when it was opened */
} ts__reader;

void ts__reader_enter(ts_head *h, ts__reader *r);
void ts__reader_exit(ts_head *h, ts__reader *r);

/* ---------------------------------------------------------- chunkfiles.c */

/* dir NULL: malloc only.  Never fails: an unusable dir means malloc
 * (logged) until a later segment can be made.  Deletes dir's old files. */
void ts__chunks_init(ts__chunks *cs, const char *dir, size_t seg_size);
/* Unmaps and deletes every segment (the chunks must no longer be used). */
void ts__chunks_fini(ts__chunks *cs);
/* Stores the bytes of the completed open chunk *open into c (data, len,
 * seg) and resets *open to empty.  Called under the series mutex. */
void ts__chunks_store(ts__chunks *cs, ts__head_chunk *c, ts_xor_chunk *open);
/* Releases chunk bytes nobody reads any more: frees malloc'd ones and
 * drops mapped ones from their segments' live counts, unmapping and
 * deleting segments left empty. */
void ts__chunks_release(ts__chunks *cs, const ts__chunk_ref *r, size_t n);

/* ------------------------------------------------------------ postings.c */

ts__postings *ts__postings_new(void);
void ts__postings_free(ts__postings *p);
/* Adds ref (any order: kept sorted) under every (name, value) of ls. */
void ts__postings_add(ts__postings *p, uint64_t ref, const ts_labels *ls);
/* Removes one series. */
void ts__postings_del(ts__postings *p, uint64_t ref, const ts_labels *ls);
/* Removes many series at once; refs sorted ascending. */
void ts__postings_del_many(ts__postings *p, const uint64_t *refs, size_t n);

/* A sorted ref list handed to the caller (free with ts_free). */
typedef struct ts__refs {
    uint64_t *r;
    size_t n, cap;
} ts__refs;

/* Candidate refs for matchers (under the postings read lock): the
 * intersection of the postings of every matcher that does not match the
 * empty string (the union over its matching values), or all refs when every
 * matcher matches "".  *exact[i] is set when matcher i is fully decided by
 * the postings (callers still filter with the others).  nms may be 0 (all). */
void ts__postings_select(ts__postings *p, ts_matcher *const *ms, size_t nms, bool *exact,
                         ts__refs *out);
/* Sorted values of name (all series), or names; strings copied to arena a. */
void ts__postings_label_values(ts__postings *p, const char *name, ts_arena *a, const char ***out,
                               size_t *n);
void ts__postings_label_names(ts__postings *p, ts_arena *a, const char ***out, size_t *n);

#endif
