/*
 * WAL replay into the head (Prometheus Head.loadWAL), split from db.c:
 * db.c opens the WAL and hands each record to ts__replay_record.
 *
 * Series records recreate series with their original refs; a label set
 * seen again under a second ref is aliased to the first (replay_series).
 * Samples records drop samples older than min_t (already in a block),
 * redirect aliased refs and are appended by a pool of worker threads while
 * the opening thread reads on ("Parallel replay" below).  Undecodable or
 * unknown records are logged and skipped: a WAL that the reader accepted
 * never fails the open here.
 */
#include "pkg/tsdb/replay.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "pkg/tsdb/record/record.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

/* A small open-addressing map uint64 -> uint64 (key 0 is never stored:
 * refs start at 1, and a zero hash is simply not recorded). */
typedef struct u64map {
    uint64_t *keys, *vals;
    size_t n, cap; /* cap: power of two */
} u64map;

static u64map *
u64map_new(void)
{
    u64map *m = ts_calloc(1, sizeof(*m));
    m->cap = 1024;
    m->keys = ts_calloc(m->cap, sizeof(uint64_t));
    m->vals = ts_calloc(m->cap, sizeof(uint64_t));
    return m;
}

static void
u64map_free(u64map *m)
{
    if (!m)
        return;
    ts_free(m->keys);
    ts_free(m->vals);
    ts_free(m);
}

static uint64_t *
u64map_slot(u64map *m, uint64_t key)
{
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return &m->keys[i];
}

static bool
u64map_get(u64map *m, uint64_t key, uint64_t *val)
{
    uint64_t *k = u64map_slot(m, key);
    if (*k != key || key == 0)
        return false;
    *val = m->vals[k - m->keys];
    return true;
}

/* Inserts or overwrites key. */
static void
u64map_put(u64map *m, uint64_t key, uint64_t val)
{
    if (key == 0)
        return;
    if ((m->n + 1) * 2 > m->cap) {
        u64map old = *m;
        m->cap *= 2;
        m->n = 0;
        m->keys = ts_calloc(m->cap, sizeof(uint64_t));
        m->vals = ts_calloc(m->cap, sizeof(uint64_t));
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i])
                u64map_put(m, old.keys[i], old.vals[i]);
        ts_free(old.keys);
        ts_free(old.vals);
    }
    uint64_t *k = u64map_slot(m, key);
    if (*k == 0) {
        *k = key;
        m->n++;
    }
    m->vals[k - m->keys] = val;
}

/* Parallel replay (as Prometheus' Head.loadWAL).  The opening thread reads
 * the WAL, decodes records, replays series records itself and resolves each
 * samples record against the head (ts_head_replay_resolve: refs -> series,
 * at the record's place in the log, so a ref is looked up exactly when the
 * serial replay would); the resolved samples are then partitioned by series
 * among the workers, which append them (ts_head_replay_apply).  All samples
 * of a series go to one worker, in log order, so each series sees its
 * samples in the order the serial replay gives it, and the order checks
 * (out-of-order, duplicates) decide exactly as they would there.  A series
 * is created before any later record is resolved, and samples reach a
 * worker through its mutex-protected queue, which orders the creation
 * before the appends.
 *
 * Each worker has a queue of at most REPLAY_QUEUE full batches; the reader
 * waits when it is full, so memory stays bounded whatever the WAL size.
 * Emptied batch buffers go back to the worker's spare list for reuse. */
#define REPLAY_MAX_WORKERS 8
#define REPLAY_ARENA_BLOCK (4u << 20)
#define REPLAY_BATCH 4096 /* items per hand-off */
#define REPLAY_QUEUE 4    /* full batches a worker may have waiting */

typedef struct replay_worker {
    pthread_t thread;
    ts_head *head;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a batch queued or taken, or stop */
    ts_head_replay_item *queue[REPLAY_QUEUE];
    size_t queue_n[REPLAY_QUEUE];
    size_t qfirst, qlen;
    ts_head_replay_item *spare[REPLAY_QUEUE + 2];
    size_t nspare;
    bool stop;
    uint64_t failed; /* items whose series was gone; read after join */
    /* reader side only: the batch being filled */
    ts_head_replay_item *fill;
    size_t nfill;
} replay_worker;

typedef struct replay_pool {
    size_t n;
    replay_worker w[REPLAY_MAX_WORKERS];
} replay_pool;

static void *
replay_worker_main(void *arg)
{
    replay_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->qlen == 0 && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->qlen == 0)
            break; /* stopped and drained */
        ts_head_replay_item *b = w->queue[w->qfirst];
        size_t n = w->queue_n[w->qfirst];
        w->qfirst = (w->qfirst + 1) % REPLAY_QUEUE;
        w->qlen--;
        pthread_cond_signal(&w->cv); /* room for the reader */
        pthread_mutex_unlock(&w->mu);
        size_t failed = ts_head_replay_apply(w->head, b, n);
        pthread_mutex_lock(&w->mu);
        w->failed += failed;
        if (w->nspare < sizeof(w->spare) / sizeof(w->spare[0]))
            w->spare[w->nspare++] = b;
        else
            ts_free(b);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* One worker per CPU, as Prometheus has: on 2 cores, 2 workers beside the
 * reader opened a 200k-series WAL in a median 677 ms against 757 ms with 1
 * (the CPU time is the same; a third runnable thread keeps both cores busy
 * when the reader waits, and gets a larger share when other processes
 * compete for the cores). */
static size_t
replay_default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > REPLAY_MAX_WORKERS ? REPLAY_MAX_WORKERS : (size_t)n;
}

/* Starts n workers (1..REPLAY_MAX_WORKERS); returns NULL when not even one
 * thread could be created (the caller replays serially then). */
static replay_pool *
replay_pool_start(ts_head *head, size_t n)
{
    replay_pool *p = ts_calloc(1, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        replay_worker *w = &p->w[i];
        w->head = head;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thread, NULL, replay_worker_main, w) != 0) {
            pthread_cond_destroy(&w->cv);
            pthread_mutex_destroy(&w->mu);
            break;
        }
        p->n++;
    }
    if (p->n == 0) {
        ts_free(p);
        return NULL;
    }
    return p;
}

/* Hands w's filled batch to it, waiting while its queue is full. */
static void
replay_push(replay_worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen == REPLAY_QUEUE)
        pthread_cond_wait(&w->cv, &w->mu);
    size_t at = (w->qfirst + w->qlen) % REPLAY_QUEUE;
    w->queue[at] = w->fill;
    w->queue_n[at] = w->nfill;
    w->qlen++;
    pthread_cond_signal(&w->cv);
    w->fill = w->nspare ? w->spare[--w->nspare] : NULL;
    pthread_mutex_unlock(&w->mu);
    if (!w->fill)
        w->fill = ts_malloc(REPLAY_BATCH * sizeof(*w->fill));
    w->nfill = 0;
}

/* Which worker appends the samples of series s: any fixed function of the
 * series does; a multiplicative hash of its address spreads them evenly,
 * scaled to [0, n) by a multiply instead of a (slow) division. */
static size_t
replay_worker_of(const replay_pool *p, const struct ts__series *s)
{
    uint64_t x = (uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ULL;
    return (size_t)(((x >> 32) * p->n) >> 32);
}

/* Distributes resolved samples among the workers. */
static void
replay_dispatch(replay_pool *p, const ts_head_replay_item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        replay_worker *w = &p->w[replay_worker_of(p, it[i].series)];
        if (!w->fill)
            w->fill = ts_malloc(REPLAY_BATCH * sizeof(*w->fill));
        w->fill[w->nfill++] = it[i];
        if (w->nfill == REPLAY_BATCH)
            replay_push(w);
    }
}

/* Hands over the partial batches, waits for the workers to apply
 * everything, stops them and frees the pool.  Returns the number of items
 * the workers could not apply. */
static uint64_t
replay_pool_finish(replay_pool *p)
{
    if (!p)
        return 0;
    uint64_t failed = 0;
    for (size_t i = 0; i < p->n; i++) {
        replay_worker *w = &p->w[i];
        if (w->nfill > 0)
            replay_push(w);
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (size_t i = 0; i < p->n; i++) {
        replay_worker *w = &p->w[i];
        pthread_join(w->thread, NULL);
        failed += w->failed;
        ts_free(w->fill);
        for (size_t j = 0; j < w->nspare; j++)
            ts_free(w->spare[j]);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    ts_free(p);
    return failed;
}

/* ------------------------------------------------------------- the replay */

struct ts__replay {
    ts_head *head;
    int64_t min_t;     /* samples before it are in a block already */
    int workers;       /* as ts__replay_new's; -1 once threads could not start */
    ts_arena arena;    /* one decoded record at a time */
    u64map *alias;     /* duplicate ref -> that first ref */
    replay_pool *pool; /* sample appliers; NULL until the first samples record */
    uint64_t nseries, nsamples, dropped;
};

ts__replay *
ts__replay_new(ts_head *head, int64_t min_t, int workers)
{
    ts__replay *r = ts_calloc(1, sizeof(*r));
    r->head = head;
    r->min_t = min_t;
    r->workers = workers;
    /* Big enough for a decoded record, so that resetting it after each
     * record keeps its one block instead of freeing and faulting in fresh
     * memory every time. */
    ts_arena_init(&r->arena, REPLAY_ARENA_BLOCK);
    r->alias = u64map_new();
    return r;
}

void
ts__replay_finish(ts__replay *r, ts__replay_stats *st)
{
    if (!r)
        return;
    size_t nworkers = r->pool ? r->pool->n : 0;
    r->dropped += replay_pool_finish(r->pool);
    if (st) {
        st->series = r->nseries;
        st->samples = r->nsamples;
        st->samples_dropped = r->dropped;
        st->workers = nworkers;
    }
    ts_arena_fini(&r->arena);
    u64map_free(r->alias);
    ts_free(r);
}

/* Replays one series.  The same label set can appear under two refs (a
 * series removed from the head by truncation, then created again before a
 * checkpoint dropped the old record, and a crash in between): the head
 * refuses the second ref (TS_EEXIST), and its samples are then redirected
 * to the first, as Prometheus does on replay. */
static void
replay_series(ts__replay *r, uint64_t ref, const ts_labels *ls)
{
    uint64_t first, prev;
    int rc = ts_head_replay_series_ref(r->head, ref, ls, &first);
    if (rc == TS_OK) {
        /* a ref once aliased may be given to another series later */
        if (r->alias->n && u64map_get(r->alias, ref, &prev))
            u64map_put(r->alias, ref, ref);
        return;
    }
    if (rc == TS_EEXIST && first != 0 && first != ref) {
        u64map_put(r->alias, ref, first);
        return;
    }
    TS_LOG(TS_LOG_WARN, "tsdb", "WAL series record rejected by the head",
           "ref=%" PRIu64 " err=\"%s\"", ref, ts_strerror(rc));
}

int
ts__replay_record(void *ctx, const uint8_t *rec, size_t n)
{
    ts__replay *r = ctx;
    ts_arena *a = &r->arena;
    ts_arena_reset(a);
    int type = ts_record_type(rec, n);
    if (type == TS_REC_SERIES) {
        ts_record_series *s;
        size_t k;
        /* heap label sets: a new series shares its set instead of copying it */
        if (ts_record_decode_series_heap(rec, n, a, &s, &k) != TS_OK) {
            TS_LOG(TS_LOG_WARN, "tsdb", "skipping undecodable WAL series record", "bytes=%zu", n);
            return TS_OK;
        }
        r->nseries += k;
        for (size_t i = 0; i < k; i++) {
            replay_series(r, s[i].ref, s[i].labels);
            ts_labels_free((ts_labels *)s[i].labels);
        }
    } else if (type == TS_REC_SAMPLES) {
        ts_record_sample *s;
        size_t k;
        if (ts_record_decode_samples(rec, n, a, &s, &k) != TS_OK) {
            TS_LOG(TS_LOG_WARN, "tsdb", "skipping undecodable WAL samples record", "bytes=%zu", n);
            return TS_OK;
        }
        /* Drop samples already in a block and redirect aliased refs in
         * place (the decoded array is ours), then apply the rest at once. */
        size_t keep = 0;
        for (size_t i = 0; i < k; i++) {
            if (s[i].t < r->min_t) {
                r->dropped++;
                continue;
            }
            s[keep] = s[i];
            if (r->alias->n)
                u64map_get(r->alias, s[keep].ref, &s[keep].ref);
            keep++;
        }
        r->nsamples += k;
        if (!r->pool && r->workers >= 0 && keep > 0) {
            size_t nw = r->workers > 0 ? (size_t)r->workers : replay_default_workers();
            r->pool = replay_pool_start(r->head, nw > REPLAY_MAX_WORKERS ? REPLAY_MAX_WORKERS : nw);
            if (!r->pool)
                r->workers = -1; /* no threads: serial from now on */
        }
        if (!r->pool) {
            r->dropped += ts_head_replay_samples(r->head, s, keep);
            return TS_OK;
        }
        ts_head_replay_item *it = ts_arena_alloc(a, (keep ? keep : 1) * sizeof(*it));
        size_t nit;
        r->dropped += ts_head_replay_resolve(r->head, s, keep, it, &nit);
        replay_dispatch(r->pool, it, nit);
    } else {
        TS_LOG(TS_LOG_WARN, "tsdb", "skipping WAL record of unknown type", "type=%d", type);
    }
    return TS_OK;
}
