/*
 * The head's series table, sample storage, truncation and replay.
 *
 * Series table (Prometheus' stripeSeries): TS__HEAD_STRIPES stripes, each
 * a rwlock plus two chained hash tables, ref -> series (stripe ref & mask)
 * and label hash -> series (stripe hash & mask).  A series is found by ref
 * (appends with a ref hint, queriers, replay) or by labels (first append).
 * Creation inserts into the hash stripe under its write lock (so two
 * appenders cannot create the same series twice), then into the ref stripe,
 * then into the postings index (postings.c).
 *
 * Lookups by ref (appends with a ref hint) go through a dense index, ref ->
 * series, shadowing the ref chains: refs are handed out sequentially, so the
 * refs of one target's series are neighbours in it, while the chains' bucket
 * arrays are one allocation per stripe (a cache miss per lookup).
 *
 * Series data (chunks, open chunk, flags) is guarded by a series mutex taken
 * from a striped array by ref, which keeps a series at ~120 bytes plus its
 * labels and chunks instead of carrying its own 40-byte mutex.
 *
 * Samples: each series has completed chunks (exact-size byte arrays,
 * immutable: malloc'd, or in a memory-mapped segment file when the head has
 * a chunks_dir, see chunkfiles.c) and one open ts_xor_chunk.  The open chunk is cut when it holds
 * TS__HEAD_CHUNK_SAMPLES samples or when a sample reaches the next multiple
 * of chunk_range_ms after the chunk's first sample, so no chunk straddles a
 * block boundary.
 *
 * Lifetimes.  A series is referenced by:
 *  - appenders: `pending` counts open appenders holding it; a series with
 *    pending > 0 is never removed;
 *  - queriers: they keep series pointers and completed chunk data between
 *    calls.  Truncation and rollback unlink what they drop, then retire it
 *    (epoch-based reclamation): a retired batch is tagged with the current
 *    epoch and freed when every querier opened up to that epoch is closed
 *    (at once when none is open).  Neither side ever waits for the other.
 *    Mapped chunk bytes are released the same way: the reclaimed batch
 *    drops them from their segment's live count, and a segment is unmapped
 *    only when that count reaches zero (chunkfiles.c).
 *    The open chunk's bytes and a series' chunk array are only read under
 *    the series lock (queriers copy them), so they are freed directly.
 * Removal marks the series dead under its lock (lookups skip dead series),
 * unlinks it from both stripes and from the postings, then retires it.
 *
 * Appendable window: stated in head.h, computed by ts__head_min_valid_time
 * (appends and both replay paths use it).
 *
 * Batch replay (ts_head_replay_samples) finds series through a plain array
 * indexed by ref, filled by ts_head_replay_series while refs stay dense
 * (WAL refs are assigned sequentially), and prefetches the series a few
 * samples ahead: looking refs up in the striped chains was the main cost of
 * opening a large WAL (a cache miss on the bucket and one per chain link).
 * It is split in two so db.c can spread it over threads: resolve (refs ->
 * series, on the thread replaying series records) and apply (appends,
 * without series locks: each series belongs to one applying thread and the
 * head is not shared yet).
 */
#include "pkg/tsdb/head/internal.h"

#include <stdlib.h>
#include <string.h>

#include "pkg/util/mem.h"

#define DEFAULT_CHUNK_RANGE_MS (2 * 3600 * 1000LL)
#define STRIPE_MASK (TS__HEAD_STRIPES - 1)
#define STRIPE_BITS 10 /* log2(TS__HEAD_STRIPES): bucket index uses the bits above */

_Static_assert((1 << STRIPE_BITS) == TS__HEAD_STRIPES, "STRIPE_BITS");

static inline ts__stripe *
ref_stripe(ts_head *h, uint64_t ref)
{
    return &h->stripes[ref & STRIPE_MASK];
}

static inline ts__stripe *
hash_stripe(ts_head *h, uint64_t hash)
{
    return &h->stripes[hash & STRIPE_MASK];
}

static inline bool
series_empty(const ts__series *s)
{
    return s->nchunks == 0 && s->open.count == 0;
}

static inline uint64_t
f2u(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

/* ---------------------------------------------------- stripe hash tables */

static uint32_t
bucket(uint64_t key, uint32_t nbuckets)
{
    return (uint32_t)(key >> STRIPE_BITS) & (nbuckets - 1);
}

static void
ref_rehash(ts__stripe *st)
{
    uint32_t nb = st->nref_buckets ? st->nref_buckets * 2 : 4;
    ts__series **b = ts_calloc(nb, sizeof(*b));
    for (uint32_t i = 0; i < st->nref_buckets; i++) {
        for (ts__series *s = st->by_ref[i], *next; s; s = next) {
            next = s->next_ref;
            uint32_t k = bucket(s->ref, nb);
            s->next_ref = b[k];
            b[k] = s;
        }
    }
    ts_free(st->by_ref);
    st->by_ref = b;
    st->nref_buckets = nb;
}

static void
hash_rehash(ts__stripe *st)
{
    uint32_t nb = st->nhash_buckets ? st->nhash_buckets * 2 : 4;
    ts__series **b = ts_calloc(nb, sizeof(*b));
    for (uint32_t i = 0; i < st->nhash_buckets; i++) {
        for (ts__series *s = st->by_hash[i], *next; s; s = next) {
            next = s->next_hash;
            uint32_t k = bucket(s->labels->hash, nb);
            s->next_hash = b[k];
            b[k] = s;
        }
    }
    ts_free(st->by_hash);
    st->by_hash = b;
    st->nhash_buckets = nb;
}

/* The dense index slot of ref, or NULL when ref is not indexed (too large,
 * or its chunk not allocated and !create). */
static ts__series **
dense_slot(ts_head *h, uint64_t ref, bool create)
{
    uint64_t top = ref >> TS__HEAD_DENSE_BITS;
    if (top >= TS__HEAD_DENSE_TOP)
        return NULL;
    ts__series **chunk = atomic_load_explicit(&h->dense[top], memory_order_acquire);
    if (!chunk) {
        if (!create)
            return NULL;
        ts__series **fresh = ts_calloc((size_t)1 << TS__HEAD_DENSE_BITS, sizeof(*fresh));
        if (atomic_compare_exchange_strong_explicit(&h->dense[top], &chunk, fresh,
                                                    memory_order_acq_rel, memory_order_acquire))
            chunk = fresh;
        else
            ts_free(fresh); /* another stripe's writer was first: chunk is theirs */
    }
    return &chunk[ref & (((uint64_t)1 << TS__HEAD_DENSE_BITS) - 1)];
}

/* Under the ref stripe's write lock. */
static void
ref_insert(ts_head *h, ts__stripe *st, ts__series *s)
{
    if (st->nref >= st->nref_buckets)
        ref_rehash(st);
    uint32_t k = bucket(s->ref, st->nref_buckets);
    s->next_ref = st->by_ref[k];
    st->by_ref[k] = s;
    st->nref++;
    ts__series **slot = dense_slot(h, s->ref, true);
    if (slot)
        *slot = s;
}

static void
hash_insert(ts__stripe *st, ts__series *s)
{
    if (st->nhash >= st->nhash_buckets)
        hash_rehash(st);
    uint32_t k = bucket(s->labels->hash, st->nhash_buckets);
    s->next_hash = st->by_hash[k];
    st->by_hash[k] = s;
    st->nhash++;
}

static void
ref_unlink(ts_head *h, ts__stripe *st, ts__series *s)
{
    pthread_mutex_lock(&h->replay_mu);
    if (s->ref < h->replay_cap && h->replay_idx[s->ref] == s)
        h->replay_idx[s->ref] = NULL;
    pthread_mutex_unlock(&h->replay_mu);
    ts__series **slot = dense_slot(h, s->ref, false);
    if (slot && *slot == s)
        *slot = NULL;
    for (ts__series **pp = &st->by_ref[bucket(s->ref, st->nref_buckets)]; *pp;
         pp = &(*pp)->next_ref) {
        if (*pp == s) {
            *pp = s->next_ref;
            st->nref--;
            break;
        }
    }
}

static void
hash_unlink(ts__stripe *st, ts__series *s)
{
    for (ts__series **pp = &st->by_hash[bucket(s->labels->hash, st->nhash_buckets)]; *pp;
         pp = &(*pp)->next_hash) {
        if (*pp == s) {
            *pp = s->next_hash;
            st->nhash--;
            return;
        }
    }
}

/* Under the stripe lock (either mode).  May return a dead series. */
static ts__series *
find_ref(const ts__stripe *st, uint64_t ref)
{
    if (st->nref_buckets == 0)
        return NULL;
    for (ts__series *s = st->by_ref[bucket(ref, st->nref_buckets)]; s; s = s->next_ref)
        if (s->ref == ref)
            return s;
    return NULL;
}

/* find_ref through the dense index where it covers ref (same result: a
 * slot holds exactly the series the ref chains hold).  Under the ref
 * stripe's lock. */
static ts__series *
find_ref_dense(ts_head *h, const ts__stripe *st, uint64_t ref)
{
    ts__series **slot = dense_slot(h, ref, false);
    if (slot)
        return *slot;
    return ref >> TS__HEAD_DENSE_BITS < TS__HEAD_DENSE_TOP ? NULL : find_ref(st, ref);
}

/* Under the stripe lock.  Returns the live series with these labels and
 * takes an appender reference on it (when acquire) and fills *last. */
static ts__series *
find_labels_live(ts_head *h, const ts__stripe *st, const ts_labels *ls, bool acquire,
                 ts__last *last)
{
    if (st->nhash_buckets == 0)
        return NULL;
    for (ts__series *s = st->by_hash[bucket(ls->hash, st->nhash_buckets)]; s; s = s->next_hash) {
        if (s->labels->hash != ls->hash || !ts_labels_equal(s->labels, ls))
            continue;
        ts__series_lock(h, s);
        bool live = !s->dead;
        if (live) {
            if (acquire)
                s->pending++;
            if (last) {
                last->has = s->open.count > 0;
                last->t = s->open.t;
                last->vbits = s->open.vbits;
                last->logged = s->logged;
            }
        }
        ts__series_unlock(h, s);
        if (live)
            return s;
    }
    return NULL;
}

/* Locks the stripes of hash and ref (write), in index order. */
static void
lock_two(ts_head *h, uint64_t hash, uint64_t ref)
{
    uint32_t a = (uint32_t)(hash & STRIPE_MASK), b = (uint32_t)(ref & STRIPE_MASK);
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    pthread_rwlock_wrlock(&h->stripes[a].lock);
    if (b != a)
        pthread_rwlock_wrlock(&h->stripes[b].lock);
}

static void
unlock_two(ts_head *h, uint64_t hash, uint64_t ref)
{
    uint32_t a = (uint32_t)(hash & STRIPE_MASK), b = (uint32_t)(ref & STRIPE_MASK);
    pthread_rwlock_unlock(&h->stripes[a].lock);
    if (b != a)
        pthread_rwlock_unlock(&h->stripes[b].lock);
}

/* ------------------------------------------------------- series lifecycle */

static void
series_free(ts_head *h, ts__series *s)
{
    if (s->nchunks > 0) {
        ts__chunk_ref *r = ts_malloc(s->nchunks * sizeof(*r));
        for (uint32_t i = 0; i < s->nchunks; i++)
            r[i] = (ts__chunk_ref){s->chunks[i].data, s->chunks[i].len, s->chunks[i].seg};
        ts__chunks_release(&h->chunks, r, s->nchunks);
        ts_free(r);
    }
    ts_free(s->chunks);
    ts_xor_chunk_fini(&s->open);
    ts_labels_free(s->labels);
    ts_free(s);
}

/* ------------------------------------------------------ deferred freeing */

typedef struct ts__garbage {
    struct ts__garbage *next;
    uint64_t tag;          /* epoch at retirement */
    ts__chunk_ref *chunks; /* completed chunk data */
    size_t nchunks, cchunks;
    ts__series **series; /* unlinked series */
    size_t nseries, cseries;
} ts__garbage;

static void
garbage_free_list(ts_head *h, ts__garbage *g)
{
    while (g) {
        ts__garbage *next = g->next;
        ts__chunks_release(&h->chunks, g->chunks, g->nchunks);
        for (size_t i = 0; i < g->nseries; i++)
            series_free(h, g->series[i]);
        ts_free(g->chunks);
        ts_free(g->series);
        ts_free(g);
        g = next;
    }
}

/* Under gc_mu: detaches the batches no open querier can still see. */
static ts__garbage *
collect_locked(ts_head *h)
{
    uint64_t min_ticket = h->rhead ? h->rhead->ticket : UINT64_MAX;
    ts__garbage *first = h->ghead, *last = NULL;
    for (ts__garbage *g = h->ghead; g && g->tag < min_ticket; g = g->next)
        last = g;
    if (!last)
        return NULL;
    h->ghead = last->next;
    if (!h->ghead)
        h->gtail = NULL;
    last->next = NULL;
    return first;
}

/* Hands a batch of unlinked memory over; it is freed at once when no
 * querier is open, else when the last querier opened before now closes. */
static void
retire(ts_head *h, ts__garbage *g)
{
    if (g->nchunks == 0 && g->nseries == 0) {
        garbage_free_list(h, g);
        return;
    }
    pthread_mutex_lock(&h->gc_mu);
    g->tag = h->epoch++;
    g->next = NULL;
    if (h->gtail)
        h->gtail->next = g;
    else
        h->ghead = g;
    h->gtail = g;
    ts__garbage *done = collect_locked(h);
    pthread_mutex_unlock(&h->gc_mu);
    garbage_free_list(h, done);
}

void
ts__reader_enter(ts_head *h, ts__reader *r)
{
    pthread_mutex_lock(&h->gc_mu);
    r->ticket = h->epoch;
    r->next = NULL;
    r->prev = h->rtail;
    if (h->rtail)
        h->rtail->next = r;
    else
        h->rhead = r;
    h->rtail = r;
    pthread_mutex_unlock(&h->gc_mu);
}

void
ts__reader_exit(ts_head *h, ts__reader *r)
{
    pthread_mutex_lock(&h->gc_mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        h->rhead = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        h->rtail = r->prev;
    ts__garbage *done = collect_locked(h);
    pthread_mutex_unlock(&h->gc_mu);
    garbage_free_list(h, done);
}

/* Creates and links a series (caller holds no stripe lock; the caller has
 * checked under the hash stripe's write lock that it does not exist, and
 * holds that lock: hs).  Returns with hs still locked. */
static ts__series *
series_create_locked(ts_head *h, ts__stripe *hs, uint64_t ref, const ts_labels *ls,
                     uint32_t pending, uint8_t logged)
{
    ts__series *s = ts_calloc(1, sizeof(*s));
    s->ref = ref;
    s->labels = ts_labels_share(ls);
    s->pending = pending;
    s->logged = logged;
    ts_xor_chunk_init(&s->open);
    hash_insert(hs, s);
    return s;
}

/* Second half of creation, after the hash stripe was unlocked. */
static void
series_publish(ts_head *h, ts__series *s)
{
    ts__stripe *rs = ref_stripe(h, s->ref);
    pthread_rwlock_wrlock(&rs->lock);
    ref_insert(h, rs, s);
    pthread_rwlock_unlock(&rs->lock);
    pthread_rwlock_wrlock(&h->postings_lock);
    ts__postings_add(h->postings, s->ref, s->labels);
    pthread_rwlock_unlock(&h->postings_lock);
    atomic_fetch_add(&h->num_series, 1);
    atomic_fetch_add(&h->created_total, 1);
}

/* Drops the caller's reference on s and, if that leaves it empty and
 * unreferenced, unlinks and retires it.  The reference is dropped only
 * under the stripe locks, so s cannot be removed by anyone else meanwhile. */
static bool
series_release_remove(ts_head *h, ts__series *s)
{
    uint64_t hash = s->labels->hash, ref = s->ref;
    lock_two(h, hash, ref);
    ts__series_lock(h, s);
    TS_ASSERT(s->pending > 0);
    s->pending--;
    bool ok = !s->dead && s->pending == 0 && series_empty(s);
    if (ok)
        s->dead = 1;
    ts__series_unlock(h, s);
    if (ok) {
        hash_unlink(hash_stripe(h, hash), s);
        ref_unlink(h, ref_stripe(h, ref), s);
    }
    unlock_two(h, hash, ref);
    if (!ok)
        return false;
    pthread_rwlock_wrlock(&h->postings_lock);
    ts__postings_del(h->postings, ref, s->labels);
    pthread_rwlock_unlock(&h->postings_lock);
    ts__garbage *g = ts_calloc(1, sizeof(*g));
    g->series = ts_malloc(sizeof(*g->series));
    g->series[0] = s;
    g->nseries = g->cseries = 1;
    retire(h, g);
    atomic_fetch_sub(&h->num_series, 1);
    atomic_fetch_add(&h->removed_total, 1);
    return true;
}

ts__series *
ts__series_acquire_ref(ts_head *h, uint64_t ref, ts__last *last)
{
    ts__stripe *st = ref_stripe(h, ref);
    pthread_rwlock_rdlock(&st->lock);
    ts__series *s = find_ref_dense(h, st, ref);
    if (s) {
        pthread_mutex_t *mu = ts__series_mu(h, s);
        pthread_mutex_lock(mu);
        if (s->dead) {
            s = NULL;
        } else {
            s->pending++;
            /* commit will append to the open chunk's last byte: start
             * loading it now (a cache miss per sample otherwise) */
            if (s->open.b)
                __builtin_prefetch(s->open.b + s->open.len - 1, 1);
            last->has = s->open.count > 0;
            last->t = s->open.t;
            last->vbits = s->open.vbits;
            last->logged = s->logged;
        }
        pthread_mutex_unlock(mu);
    }
    pthread_rwlock_unlock(&st->lock);
    return s;
}

int
ts__series_acquire_labels(ts_head *h, const ts_labels *ls, ts__series **out, bool *created,
                          ts__last *last)
{
    *out = NULL;
    *created = false;
    if (!ls || ls->n == 0)
        return TS_EINVAL;
    ts__stripe *hs = hash_stripe(h, ls->hash);
    pthread_rwlock_rdlock(&hs->lock);
    ts__series *s = find_labels_live(h, hs, ls, true, last);
    pthread_rwlock_unlock(&hs->lock);
    if (s) {
        *out = s;
        return TS_OK;
    }
    pthread_rwlock_wrlock(&hs->lock);
    s = find_labels_live(h, hs, ls, true, last);
    if (!s) {
        uint64_t ref = atomic_fetch_add(&h->next_ref, 1);
        s = series_create_locked(h, hs, ref, ls, 1, 0);
        *created = true;
        last->has = false;
        last->logged = false;
    }
    pthread_rwlock_unlock(&hs->lock);
    if (*created)
        series_publish(h, s);
    *out = s;
    return TS_OK;
}

void
ts__series_release(ts_head *h, ts__series *s, bool remove_if_empty)
{
    ts__series_lock(h, s);
    TS_ASSERT(s->pending > 0);
    /* Would dropping our reference leave it removable?  Then drop it in
     * series_release_remove, under the stripe locks. */
    bool removable = remove_if_empty && s->pending == 1 && series_empty(s) && !s->dead;
    if (!removable)
        s->pending--;
    ts__series_unlock(h, s);
    if (removable)
        series_release_remove(h, s);
}

ts__series *
ts__series_get(ts_head *h, uint64_t ref)
{
    ts__stripe *st = ref_stripe(h, ref);
    pthread_rwlock_rdlock(&st->lock);
    ts__series *s = find_ref(st, ref);
    if (s) {
        ts__series_lock(h, s);
        bool dead = s->dead;
        ts__series_unlock(h, s);
        if (dead)
            s = NULL;
    }
    pthread_rwlock_unlock(&st->lock);
    return s;
}

/* ------------------------------------------------------------- samples */

/* End (exclusive) of the chunk_range-aligned window holding t. */
static int64_t
range_end(int64_t t, int64_t range)
{
    int64_t q = t / range;
    if (t % range != 0 && t < 0)
        q--; /* floor division */
    if (q >= INT64_MAX / range - 1)
        return INT64_MAX;
    return (q + 1) * range;
}

static void
cut_open_chunk(ts_head *h, ts__series *s)
{
    if (s->nchunks == s->cchunks) {
        s->cchunks = s->cchunks ? s->cchunks * 2 : 1;
        s->chunks = ts_realloc(s->chunks, s->cchunks * sizeof(*s->chunks));
    }
    ts__head_chunk *c = &s->chunks[s->nchunks++];
    c->mint = s->open.mint;
    c->maxt = s->open.t;
    c->count = s->open.count;
    ts__chunks_store(&h->chunks, c, &s->open); /* resets s->open */
}

int
ts__series_append(ts_head *h, ts__series *s, int64_t t, double v, bool *new_chunk)
{
    *new_chunk = false;
    if (s->open.count > 0) {
        if (t <= s->open.t) {
            if (t < s->open.t)
                return TS_EOOO;
            return f2u(v) == s->open.vbits ? 1 : TS_EDUPSAMPLE;
        }
        if (s->open.count >= TS__HEAD_CHUNK_SAMPLES ||
            t >= range_end(s->open.mint, h->opts.chunk_range_ms))
            cut_open_chunk(h, s);
    } else if (s->nchunks > 0 && t <= s->chunks[s->nchunks - 1].maxt) {
        return TS_EOOO; /* not reached in practice: the open chunk is only empty when all are */
    }
    bool fresh = s->open.count == 0;
    int rc = ts_xor_chunk_append(&s->open, t, v);
    if (rc != TS_OK)
        return rc;
    *new_chunk = fresh;
    return TS_OK;
}

void
ts__head_widen(ts_head *h, int64_t mint, int64_t maxt)
{
    int64_t cur = atomic_load(&h->mint);
    while (mint < cur && !atomic_compare_exchange_weak(&h->mint, &cur, mint)) {
    }
    cur = atomic_load(&h->maxt);
    while (maxt > cur && !atomic_compare_exchange_weak(&h->maxt, &cur, maxt)) {
    }
}

int64_t
ts__head_min_valid_time(ts_head *h, ts__window window)
{
    int64_t mv = atomic_load(&h->min_valid);
    if (window == TS__WINDOW_REPLAY)
        return mv;
    int64_t maxt = atomic_load(&h->maxt);
    if (maxt != INT64_MIN) {
        int64_t half = h->opts.chunk_range_ms / 2;
        int64_t w = maxt < INT64_MIN + half ? INT64_MIN : maxt - half;
        if (w > mv)
            mv = w;
    }
    return mv;
}

/* ---------------------------------------------------------- public API */

int
ts_head_new(ts_head **out, const ts_head_opts *opts)
{
    ts_head *h = ts_calloc(1, sizeof(*h));
    if (opts)
        h->opts = *opts;
    if (h->opts.chunk_range_ms <= 0)
        h->opts.chunk_range_ms = DEFAULT_CHUNK_RANGE_MS;
    for (int i = 0; i < TS__HEAD_STRIPES; i++)
        pthread_rwlock_init(&h->stripes[i].lock, NULL);
    for (int i = 0; i < TS__HEAD_SERIES_LOCKS; i++)
        pthread_mutex_init(&h->series_mu[i], NULL);
    pthread_rwlock_init(&h->postings_lock, NULL);
    pthread_mutex_init(&h->gc_mu, NULL);
    pthread_mutex_init(&h->trunc_mu, NULL);
    pthread_mutex_init(&h->replay_mu, NULL);
    h->postings = ts__postings_new();
    ts__chunks_init(&h->chunks, h->opts.chunks_dir, h->opts.chunk_segment_size);
    h->opts.chunks_dir = NULL; /* the caller's string; h->chunks has a copy */
    atomic_init(&h->next_ref, 1);
    atomic_init(&h->mint, INT64_MAX);
    atomic_init(&h->maxt, INT64_MIN);
    atomic_init(&h->min_valid, INT64_MIN);
    *out = h;
    return TS_OK;
}

void
ts_head_free(ts_head *h)
{
    if (!h)
        return;
    for (int i = 0; i < TS__HEAD_STRIPES; i++) {
        ts__stripe *st = &h->stripes[i];
        for (uint32_t b = 0; b < st->nref_buckets; b++) {
            for (ts__series *s = st->by_ref[b], *next; s; s = next) {
                next = s->next_ref;
                series_free(h, s);
            }
        }
        ts_free(st->by_ref);
        ts_free(st->by_hash);
        pthread_rwlock_destroy(&st->lock);
    }
    for (int i = 0; i < TS__HEAD_SERIES_LOCKS; i++)
        pthread_mutex_destroy(&h->series_mu[i]);
    ts__postings_free(h->postings);
    pthread_rwlock_destroy(&h->postings_lock);
    TS_ASSERT(h->rhead == NULL); /* every querier must be closed first */
    garbage_free_list(h, h->ghead);
    ts__chunks_fini(&h->chunks); /* every chunk is released: unmaps and deletes the rest */
    pthread_mutex_destroy(&h->gc_mu);
    pthread_mutex_destroy(&h->trunc_mu);
    pthread_mutex_destroy(&h->replay_mu);
    ts_free(h->replay_idx);
    for (size_t i = 0; i < TS__HEAD_DENSE_TOP; i++)
        ts_free(atomic_load(&h->dense[i]));
    ts_free(h);
}

/* Records a replayed series in the dense replay index, growing it while
 * refs stay dense (at most about 4 slots per series replayed so far, so a
 * stray huge ref cannot make it allocate much): beyond that the batch replay
 * falls back to the striped lookup for that ref. */
static void
replay_index(ts_head *h, ts__series *s)
{
    pthread_mutex_lock(&h->replay_mu);
    if (s->ref >= h->replay_cap) {
        uint64_t limit = 4 * atomic_load(&h->num_series) + 65536;
        if (s->ref < limit) {
            uint64_t cap = h->replay_cap ? h->replay_cap : 65536;
            while (cap <= s->ref)
                cap *= 2;
            h->replay_idx = ts_realloc(h->replay_idx, cap * sizeof(*h->replay_idx));
            memset(h->replay_idx + h->replay_cap, 0,
                   (cap - h->replay_cap) * sizeof(*h->replay_idx));
            h->replay_cap = cap;
        }
    }
    if (s->ref < h->replay_cap)
        h->replay_idx[s->ref] = s;
    pthread_mutex_unlock(&h->replay_mu);
}

void
ts_head_replay_end(ts_head *h)
{
    pthread_mutex_lock(&h->replay_mu);
    ts_free(h->replay_idx);
    h->replay_idx = NULL;
    h->replay_cap = 0;
    pthread_mutex_unlock(&h->replay_mu);
}

int
ts_head_replay_series(ts_head *h, uint64_t ref, const ts_labels *ls)
{
    uint64_t other;
    return ts_head_replay_series_ref(h, ref, ls, &other);
}

/* The ref of the live series with labels ls, 0 if none. */
static uint64_t
ref_of_labels(ts_head *h, const ts_labels *ls)
{
    ts__stripe *hs = hash_stripe(h, ls->hash);
    pthread_rwlock_rdlock(&hs->lock);
    ts__series *s = find_labels_live(h, hs, ls, false, NULL);
    uint64_t ref = s ? s->ref : 0;
    pthread_rwlock_unlock(&hs->lock);
    return ref;
}

int
ts_head_replay_series_ref(ts_head *h, uint64_t ref, const ts_labels *ls, uint64_t *other)
{
    *other = 0;
    if (ref == 0 || !ls || ls->n == 0)
        return TS_EINVAL;
    ts__stripe *rs = ref_stripe(h, ref);
    pthread_rwlock_rdlock(&rs->lock);
    ts__series *byref = find_ref(rs, ref);
    bool same = byref && ts_labels_equal(byref->labels, ls);
    pthread_rwlock_unlock(&rs->lock);
    if (byref) {
        if (same)
            return TS_OK;
        *other = ref_of_labels(h, ls);
        return TS_EEXIST;
    }

    ts__stripe *hs = hash_stripe(h, ls->hash);
    pthread_rwlock_wrlock(&hs->lock);
    ts__series *bylabels = find_labels_live(h, hs, ls, false, NULL);
    if (bylabels) {
        *other = bylabels->ref;
        pthread_rwlock_unlock(&hs->lock);
        return TS_EEXIST; /* same labels under another ref */
    }
    ts__series *s = series_create_locked(h, hs, ref, ls, 0, 1);
    pthread_rwlock_unlock(&hs->lock);
    series_publish(h, s);
    replay_index(h, s);
    uint64_t cur = atomic_load(&h->next_ref);
    while (ref + 1 > cur && !atomic_compare_exchange_weak(&h->next_ref, &cur, ref + 1)) {
    }
    return TS_OK;
}

int
ts_head_replay_sample(ts_head *h, uint64_t ref, int64_t t, double v)
{
    if (t < ts__head_min_valid_time(h, TS__WINDOW_REPLAY)) {
        atomic_fetch_add(&h->too_old_total, 1);
        return TS_OK;
    }
    ts__stripe *st = ref_stripe(h, ref);
    pthread_rwlock_rdlock(&st->lock);
    ts__series *s = find_ref(st, ref);
    int rc = TS_ENOTFOUND;
    bool new_chunk = false;
    if (s) {
        ts__series_lock(h, s);
        if (!s->dead)
            rc = ts__series_append(h, s, t, v, &new_chunk);
        ts__series_unlock(h, s);
    }
    pthread_rwlock_unlock(&st->lock);
    switch (rc) {
    case TS_OK:
        atomic_fetch_add(&h->appended_total, 1);
        atomic_fetch_add(&h->num_samples, 1);
        if (new_chunk)
            atomic_fetch_add(&h->num_chunks, 1);
        ts__head_widen(h, t, t);
        return TS_OK;
    case 1: /* identical duplicate */ return TS_OK;
    case TS_EOOO: atomic_fetch_add(&h->ooo_total, 1); return TS_OK;
    case TS_EDUPSAMPLE: atomic_fetch_add(&h->dup_total, 1); return TS_OK;
    default: return rc;
    }
}

/* The series of ref for batch replay: through the replay index when it has
 * the ref, else the striped table (no concurrent removal during replay, so
 * the pointer stays valid without the stripe lock). */
static ts__series *
replay_lookup(ts_head *h, uint64_t ref)
{
    if (ref < h->replay_cap && h->replay_idx[ref])
        return h->replay_idx[ref];
    ts__stripe *st = ref_stripe(h, ref);
    pthread_rwlock_rdlock(&st->lock);
    ts__series *s = find_ref(st, ref);
    pthread_rwlock_unlock(&st->lock);
    return s;
}

/* How many items ahead batch replay prefetches the series, and then (once
 * that has arrived) the last byte of its open chunk, which the
 * XOR encoder writes next: without the second prefetch that write was a
 * cache miss per sample and the largest single cost of replay. */
#define REPLAY_PREFETCH 32
#define REPLAY_PREFETCH_CHUNK 16

size_t
ts_head_replay_resolve(ts_head *h, const ts_record_sample *smp, size_t n, ts_head_replay_item *out,
                       size_t *nout)
{
    int64_t min_valid = ts__head_min_valid_time(h, TS__WINDOW_REPLAY);
    uint64_t too_old = 0;
    size_t failed = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (smp[i].t < min_valid) {
            too_old++;
            continue;
        }
        ts__series *s = replay_lookup(h, smp[i].ref);
        if (!s) {
            failed++;
            continue;
        }
        out[k].series = s;
        out[k].t = smp[i].t;
        out[k].v = smp[i].v;
        k++;
    }
    if (too_old)
        atomic_fetch_add(&h->too_old_total, too_old);
    *nout = k;
    return failed;
}

size_t
ts_head_replay_apply(ts_head *h, const ts_head_replay_item *it, size_t n)
{
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    uint64_t appended = 0, chunks = 0, ooo = 0, dup = 0;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + REPLAY_PREFETCH < n) {
            /* a series spans two cache lines: the open chunk is in the second */
            const char *p = (const char *)it[i + REPLAY_PREFETCH].series;
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
        }
        if (i + REPLAY_PREFETCH_CHUNK < n) {
            const ts__series *ps = it[i + REPLAY_PREFETCH_CHUNK].series;
            if (ps->open.b)
                __builtin_prefetch(ps->open.b + ps->open.len - 1, 1);
        }
        /* No series lock: during replay nobody else reads or writes a
         * series' samples (one thread per series, no appenders, queriers or
         * truncation, see head.h); the series thread's lookups of other
         * series only read their labels and their dead flag, which replay
         * never changes.  The lock was a tenth of the appending thread's
         * time. */
        ts__series *s = it[i].series;
        int64_t t = it[i].t;
        int rc = TS_ENOTFOUND;
        bool new_chunk = false;
        if (!s->dead)
            rc = ts__series_append(h, s, t, it[i].v, &new_chunk);
        switch (rc) {
        case TS_OK:
            appended++;
            chunks += new_chunk;
            if (t < mint)
                mint = t;
            if (t > maxt)
                maxt = t;
            break;
        case 1: /* identical duplicate */ break;
        case TS_EOOO: ooo++; break;
        case TS_EDUPSAMPLE: dup++; break;
        default: failed++; break;
        }
    }
    if (appended) {
        atomic_fetch_add(&h->appended_total, appended);
        atomic_fetch_add(&h->num_samples, appended);
        atomic_fetch_add(&h->num_chunks, chunks);
        ts__head_widen(h, mint, maxt);
    }
    if (ooo)
        atomic_fetch_add(&h->ooo_total, ooo);
    if (dup)
        atomic_fetch_add(&h->dup_total, dup);
    return failed;
}

/* Samples resolved per step by ts_head_replay_samples (an on-stack array). */
#define REPLAY_STEP 512

size_t
ts_head_replay_samples(ts_head *h, const ts_record_sample *smp, size_t n)
{
    ts_head_replay_item items[REPLAY_STEP];
    size_t failed = 0;
    for (size_t off = 0; off < n; off += REPLAY_STEP) {
        size_t m = n - off < REPLAY_STEP ? n - off : REPLAY_STEP, k;
        failed += ts_head_replay_resolve(h, smp + off, m, items, &k);
        failed += ts_head_replay_apply(h, items, k);
    }
    return failed;
}

/* Growable array of series pointers, for truncation. */
typedef struct sp_vec {
    ts__series **v;
    size_t n, cap;
} sp_vec;

static int
cmp_series_ref(const void *a, const void *b)
{
    uint64_t x = (*(ts__series *const *)a)->ref, y = (*(ts__series *const *)b)->ref;
    return x < y ? -1 : x > y;
}

void
ts_head_truncate(ts_head *h, int64_t mint)
{
    pthread_mutex_lock(&h->trunc_mu);
    ts__garbage *g = ts_calloc(1, sizeof(*g));
    int64_t cur = atomic_load(&h->min_valid);
    while (mint > cur && !atomic_compare_exchange_weak(&h->min_valid, &cur, mint)) {
    }

    sp_vec dead = {NULL, 0, 0};
    int64_t new_mint = INT64_MAX, new_maxt = INT64_MIN;
    for (int i = 0; i < TS__HEAD_STRIPES; i++) {
        ts__stripe *st = &h->stripes[i];
        pthread_rwlock_rdlock(&st->lock);
        for (uint32_t b = 0; b < st->nref_buckets; b++) {
            for (ts__series *s = st->by_ref[b]; s; s = s->next_ref) {
                ts__series_lock(h, s);
                uint32_t drop = 0;
                uint64_t dropped_samples = 0;
                while (drop < s->nchunks && s->chunks[drop].maxt < mint) {
                    dropped_samples += s->chunks[drop].count;
                    const ts__head_chunk *c = &s->chunks[drop];
                    TS_GROW(g->chunks, g->cchunks, g->nchunks + 1);
                    /* a querier may read it */
                    g->chunks[g->nchunks++] = (ts__chunk_ref){c->data, c->len, c->seg};
                    drop++;
                }
                if (drop > 0) {
                    memmove(s->chunks, s->chunks + drop, (s->nchunks - drop) * sizeof(*s->chunks));
                    s->nchunks -= drop;
                    if (s->nchunks == 0) {
                        ts_free(s->chunks);
                        s->chunks = NULL;
                        s->cchunks = 0;
                    }
                }
                if (s->open.count > 0 && s->open.t < mint) {
                    dropped_samples += s->open.count;
                    ts_xor_chunk_fini(&s->open); /* queriers only ever copy it */
                    drop++;
                }
                atomic_fetch_sub(&h->num_chunks, drop);
                atomic_fetch_sub(&h->num_samples, dropped_samples);
                if (series_empty(s)) {
                    if (s->pending == 0 && !s->dead) {
                        s->dead = 1;
                        TS_GROW(dead.v, dead.cap, dead.n + 1);
                        dead.v[dead.n++] = s;
                    }
                } else {
                    int64_t smin = s->nchunks ? s->chunks[0].mint : s->open.mint;
                    int64_t smax = s->open.count ? s->open.t : s->chunks[s->nchunks - 1].maxt;
                    if (smin < new_mint)
                        new_mint = smin;
                    if (smax > new_maxt)
                        new_maxt = smax;
                }
                ts__series_unlock(h, s);
            }
        }
        pthread_rwlock_unlock(&st->lock);
    }

    if (dead.n > 0) {
        qsort(dead.v, dead.n, sizeof(*dead.v), cmp_series_ref);
        uint64_t *refs = ts_malloc(dead.n * sizeof(*refs));
        for (size_t i = 0; i < dead.n; i++) {
            ts__series *s = dead.v[i];
            refs[i] = s->ref;
            lock_two(h, s->labels->hash, s->ref);
            hash_unlink(hash_stripe(h, s->labels->hash), s);
            ref_unlink(h, ref_stripe(h, s->ref), s);
            unlock_two(h, s->labels->hash, s->ref);
        }
        pthread_rwlock_wrlock(&h->postings_lock);
        ts__postings_del_many(h->postings, refs, dead.n);
        pthread_rwlock_unlock(&h->postings_lock);
        ts_free(refs);
        atomic_fetch_sub(&h->num_series, dead.n);
        atomic_fetch_add(&h->removed_total, dead.n);
    }
    g->series = dead.v; /* freed with the batch */
    g->nseries = dead.n;
    g->cseries = dead.cap;
    retire(h, g);

    /* Concurrent commits may have widened the range meanwhile: only raise
     * mint, and only reset maxt when nothing is left. */
    cur = atomic_load(&h->mint);
    while (new_mint > cur && !atomic_compare_exchange_weak(&h->mint, &cur, new_mint)) {
    }
    if (new_maxt == INT64_MIN && atomic_load(&h->num_samples) == 0)
        atomic_store(&h->maxt, INT64_MIN);
    pthread_mutex_unlock(&h->trunc_mu);
}

void
ts_head_foreach_series(ts_head *h, void (*fn)(void *ctx, uint64_t ref, const ts_labels *ls),
                       void *ctx)
{
    for (int i = 0; i < TS__HEAD_STRIPES; i++) {
        ts__stripe *st = &h->stripes[i];
        pthread_rwlock_rdlock(&st->lock);
        for (uint32_t b = 0; b < st->nref_buckets; b++) {
            for (ts__series *s = st->by_ref[b]; s; s = s->next_ref) {
                ts__series_lock(h, s);
                bool dead = s->dead;
                ts__series_unlock(h, s);
                if (!dead)
                    fn(ctx, s->ref, s->labels);
            }
        }
        pthread_rwlock_unlock(&st->lock);
    }
}

void
ts_head_stats_get(ts_head *h, ts_head_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->num_series = atomic_load(&h->num_series);
    st->num_samples = atomic_load(&h->num_samples);
    st->num_chunks = atomic_load(&h->num_chunks);
    st->mint = atomic_load(&h->mint);
    st->maxt = atomic_load(&h->maxt);
    if (st->num_samples == 0) {
        st->mint = INT64_MAX;
        st->maxt = INT64_MIN;
    }
    st->appended_total = atomic_load(&h->appended_total);
    st->out_of_order_total = atomic_load(&h->ooo_total);
    st->duplicate_total = atomic_load(&h->dup_total);
    st->too_old_total = atomic_load(&h->too_old_total);
    st->series_created_total = atomic_load(&h->created_total);
    st->series_removed_total = atomic_load(&h->removed_total);
    st->chunk_segments = atomic_load(&h->chunks.nmapped);
    st->chunk_segment_bytes = st->chunk_segments * h->chunks.seg_size;
    st->chunk_bytes_mapped = atomic_load(&h->chunks.mapped_live);
    st->chunk_bytes_heap = atomic_load(&h->chunks.heap_bytes);
    st->chunks_unmapped_total = atomic_load(&h->chunks.unmapped_total);
}

int64_t
ts_head_mint(ts_head *h)
{
    return atomic_load(&h->num_samples) ? atomic_load(&h->mint) : INT64_MAX;
}

int64_t
ts_head_maxt(ts_head *h)
{
    return atomic_load(&h->num_samples) ? atomic_load(&h->maxt) : INT64_MIN;
}

uint64_t
ts_head_last_ref(ts_head *h)
{
    return atomic_load(&h->next_ref);
}
