/*
 * The head appender (Prometheus headAppender).
 *
 * append() finds or creates the series (by ref hint, else by labels: a new
 * series becomes visible in the index at once, with no samples), takes an
 * appender reference on it (so truncation cannot remove it under us) and
 * validates the sample against, in order:
 *   - the appendable window (head.h; ts__head_min_valid_time) -> TS_ETOOOLD
 *     (checked before the series is looked up or created);
 *   - the last sample of the series in this batch, or else the last
 *     committed one: older -> TS_EOOO; same t with other value bits ->
 *     TS_EDUPSAMPLE; same t and same bits -> accepted and dropped.
 * Rejections are counted in the head's statistics; the batch stays usable.
 *
 * commit() hands the batch to opts.log first: a series record for every
 * touched series whose record was never logged (normally those this batch
 * created; after a concurrent rollback possibly others), then the samples.
 * If the log fails, the batch is rolled back and the error returned, or with
 * opts.keep_unlogged applied all the same with its series records left
 * unlogged (a later commit logs them).  Then the samples are applied in
 * order.  A concurrent commit to the same series
 * may have moved it on since append(); samples that became out of order are
 * counted and dropped, like Prometheus does at commit.
 *
 * rollback() drops the batch and removes the series this batch created and
 * that are still empty (unless a querier is open; truncation removes them
 * later).
 *
 * The batch: one entry per touched series (found through a small
 * open-addressing table keyed by the series pointer) and one array of
 * samples; no allocation per sample beyond amortised array growth.  A
 * thread keeps the arrays of its last finished appender (in a pthread key,
 * freed at thread exit) and its next appender starts with them, so a scrape
 * loop's appender does not regrow them (and rehash the table) every scrape.
 * commit's series and sample record arrays are kept the same way.
 */
#include "pkg/tsdb/head/internal.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

typedef struct entry {
    ts__series *s;
    bool created;  /* by this appender */
    bool has;      /* a sample of this series is in the batch */
    bool released; /* commit dropped our reference while applying */
    bool logged;   /* its series record was known to be logged (stays so) */
    bool tolog;    /* commit handed its series record to the log */
    uint32_t left; /* samples of this series not applied yet */
    int64_t t;     /* the batch's last sample of the series */
    uint64_t vbits;
} entry;

typedef struct pending {
    uint32_t ent;
    int64_t t;
    double v;
} pending;

/* An appender's arrays with their capacities: what a thread keeps for its
 * next appender (see the design comment). */
typedef struct app_arrays {
    entry *ents;
    size_t cents;
    uint32_t *slots; /* entry index + 1, 0 = empty; capacity nslots (power of two) */
    uint32_t nslots;
    pending *samples;
    size_t csamples;
} app_arrays;

typedef struct head_appender {
    ts_appender base;
    ts_head *h;
    app_arrays arr;
    size_t nents, nsamples; /* used of arr.ents, arr.samples */
} head_appender;

static void
arrays_free(app_arrays *x)
{
    ts_free(x->ents);
    ts_free(x->slots);
    ts_free(x->samples);
    *x = (app_arrays){0};
}

/* Arrays kept for the thread's next appender (see the design comment). */
typedef struct spare {
    app_arrays arr; /* all NULL: none kept */
    ts_record_series *recs;
    size_t crecs;
    ts_record_sample *smp;
    size_t csmp;
} spare;

#define SPARE_MAX_SAMPLES ((size_t)1 << 20) /* larger batches free their arrays */

static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void
spare_free(void *p)
{
    spare *sp = p;
    if (!sp)
        return;
    arrays_free(&sp->arr);
    ts_free(sp->recs);
    ts_free(sp->smp);
    ts_free(sp);
}

static void
spare_key_init(void)
{
    TS_ASSERT(pthread_key_create(&spare_key, spare_free) == 0);
}

/* The calling thread's spare arrays (created empty on first use). */
static spare *
spare_get(void)
{
    pthread_once(&spare_once, spare_key_init);
    spare *sp = pthread_getspecific(spare_key);
    if (!sp) {
        sp = ts_calloc(1, sizeof(*sp));
        TS_ASSERT(pthread_setspecific(spare_key, sp) == 0);
    }
    return sp;
}

static inline uint64_t
f2u(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static inline uint32_t
ptr_slot(const ts__series *s, uint32_t nslots)
{
    uintptr_t p = (uintptr_t)s;
    return (uint32_t)((p >> 4) * 0x9E3779B97F4A7C15ULL >> 32) & (nslots - 1);
}

static entry *
find_entry(head_appender *a, const ts__series *s)
{
    if (a->arr.nslots == 0)
        return NULL;
    for (uint32_t i = ptr_slot(s, a->arr.nslots);; i = (i + 1) & (a->arr.nslots - 1)) {
        uint32_t k = a->arr.slots[i];
        if (k == 0)
            return NULL;
        if (a->arr.ents[k - 1].s == s)
            return &a->arr.ents[k - 1];
    }
}

static void
slots_put(uint32_t *slots, uint32_t nslots, const ts__series *s, uint32_t idx1)
{
    uint32_t i = ptr_slot(s, nslots);
    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = idx1;
}

static entry *
add_entry(head_appender *a, ts__series *s, bool created)
{
    if ((a->nents + 1) * 2 > a->arr.nslots) {
        uint32_t n = a->arr.nslots ? a->arr.nslots * 2 : 16;
        uint32_t *slots = ts_calloc(n, sizeof(*slots));
        for (size_t i = 0; i < a->nents; i++)
            slots_put(slots, n, a->arr.ents[i].s, (uint32_t)i + 1);
        ts_free(a->arr.slots);
        a->arr.slots = slots;
        a->arr.nslots = n;
    }
    TS_GROW(a->arr.ents, a->arr.cents, a->nents + 1);
    entry *e = &a->arr.ents[a->nents++];
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->created = created;
    slots_put(a->arr.slots, a->arr.nslots, s, (uint32_t)a->nents);
    return e;
}

static int
app_append(ts_appender *base, uint64_t ref, const ts_labels *ls, int64_t t, double v,
           uint64_t *ref_out)
{
    head_appender *a = (head_appender *)base;
    ts_head *h = a->h;
    ts__last last = {false, 0, 0, false};
    ts__series *s = NULL;
    bool created = false;
    /* The window first, as Prometheus does: a too-old sample of an unknown
     * series does not create it. */
    if (t < ts__head_min_valid_time(h, TS__WINDOW_APPEND)) {
        atomic_fetch_add(&h->too_old_total, 1);
        return TS_ETOOOLD;
    }
    if (ref != 0)
        s = ts__series_acquire_ref(h, ref, &last);
    if (!s) {
        int rc = ts__series_acquire_labels(h, ls, &s, &created, &last);
        if (rc != TS_OK)
            return rc;
    }
    entry *e = find_entry(a, s);
    if (e)
        ts__series_release(h, s, false); /* we already hold a reference */
    else
        e = add_entry(a, s, created);
    if (last.logged)
        e->logged = true;
    if (ref_out)
        *ref_out = s->ref;

    uint64_t vbits = f2u(v);
    bool has = e->has || last.has;
    int64_t lt = e->has ? e->t : last.t;
    uint64_t lv = e->has ? e->vbits : last.vbits;
    if (has && t <= lt) {
        if (t < lt) {
            atomic_fetch_add(&h->ooo_total, 1);
            return TS_EOOO;
        }
        if (vbits == lv)
            return TS_OK; /* identical duplicate: ignored */
        atomic_fetch_add(&h->dup_total, 1);
        return TS_EDUPSAMPLE;
    }
    TS_GROW(a->arr.samples, a->arr.csamples, a->nsamples + 1);
    a->arr.samples[a->nsamples++] = (pending){(uint32_t)(e - a->arr.ents), t, v};
    e->has = true;
    e->t = t;
    e->vbits = vbits;
    e->left++;
    return TS_OK;
}

/* Frees the appender; its arrays become the thread's spares unless it has
 * some already (a thread with two appenders open) or they are huge. */
static void
app_free(head_appender *a)
{
    spare *sp = spare_get();
    bool spare_empty = !sp->arr.ents && !sp->arr.slots && !sp->arr.samples;
    if (spare_empty && a->arr.csamples <= SPARE_MAX_SAMPLES && a->arr.cents <= SPARE_MAX_SAMPLES)
        sp->arr = a->arr;
    else
        arrays_free(&a->arr);
    ts_free(a);
}

/* Drops the references still held; removes series this batch created that
 * ended up empty. */
static void
release_all(head_appender *a)
{
    for (size_t i = 0; i < a->nents; i++) {
        entry *e = &a->arr.ents[i];
        if (!e->released)
            ts__series_release(a->h, e->s, e->created);
    }
}

static int
app_rollback(ts_appender *base)
{
    head_appender *a = (head_appender *)base;
    release_all(a);
    app_free(a);
    return TS_OK;
}

static int
app_commit(ts_appender *base)
{
    head_appender *a = (head_appender *)base;
    ts_head *h = a->h;

    if (h->opts.log && (a->nsamples > 0 || a->nents > 0)) {
        /* the record arrays are the thread's spares (only used here) */
        spare *sp = spare_get();
        TS_GROW(sp->recs, sp->crecs, a->nents ? a->nents : 1);
        TS_GROW(sp->smp, sp->csmp, a->nsamples ? a->nsamples : 1);
        ts_record_series *recs = sp->recs;
        size_t nrecs = 0;
        /* Series seen logged at append() need no look (and no lock). */
        for (size_t i = 0; i < a->nents; i++) {
            entry *e = &a->arr.ents[i];
            if (e->logged)
                continue;
            ts__series_lock(h, e->s);
            if (!e->s->logged) {
                recs[nrecs++] = (ts_record_series){e->s->ref, e->s->labels};
                e->tolog = true;
            }
            ts__series_unlock(h, e->s);
        }
        ts_record_sample *smp = sp->smp;
        for (size_t i = 0; i < a->nsamples; i++) {
            const pending *p = &a->arr.samples[i];
            smp[i] = (ts_record_sample){a->arr.ents[p->ent].s->ref, p->t, p->v};
        }
        int rc = TS_OK;
        if (nrecs > 0 || a->nsamples > 0)
            rc = h->opts.log(h->opts.log_ctx, recs, nrecs, smp, a->nsamples);
        if (rc == TS_OK) {
            for (size_t i = 0; i < a->nents; i++) {
                ts__series *s = a->arr.ents[i].s;
                if (!a->arr.ents[i].tolog)
                    continue; /* logged already */
                ts__series_lock(h, s);
                s->logged = 1;
                ts__series_unlock(h, s);
            }
        }
        if (sp->csmp > SPARE_MAX_SAMPLES || sp->crecs > SPARE_MAX_SAMPLES) {
            ts_free(sp->recs);
            ts_free(sp->smp);
            sp->recs = NULL;
            sp->smp = NULL;
            sp->crecs = sp->csmp = 0;
        }
        if (rc != TS_OK && !h->opts.keep_unlogged) {
            app_rollback(base);
            return rc < 0 ? rc : TS_EIO;
        }
    } else if (!h->opts.log) {
        /* No WAL: records are trivially "logged". */
        for (size_t i = 0; i < a->nents; i++) {
            ts__series *s = a->arr.ents[i].s;
            ts__series_lock(h, s);
            s->logged = 1;
            ts__series_unlock(h, s);
        }
    }

    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    uint64_t ok = 0, ooo = 0, dup = 0, chunks = 0;
    ts__series *locked = NULL;
    for (size_t i = 0; i < a->nsamples; i++) {
        const pending *p = &a->arr.samples[i];
        ts__series *s = a->arr.ents[p->ent].s;
        if (s != locked) {
            if (locked)
                ts__series_unlock(h, locked);
            ts__series_lock(h, s);
            locked = s;
        }
        bool new_chunk;
        int rc = ts__series_append(h, s, p->t, p->v, &new_chunk);
        if (rc == TS_OK) {
            ok++;
            chunks += new_chunk;
            if (p->t < mint)
                mint = p->t;
            if (p->t > maxt)
                maxt = p->t;
        } else if (rc == TS_EOOO) {
            ooo++;
        } else if (rc == TS_EDUPSAMPLE) {
            dup++;
        }
        /* After the series' last sample, drop our reference while the lock
         * is held anyway (saves release_all a lock round trip), unless the
         * series is one we created that is still empty: release_all removes
         * those. */
        entry *e = &a->arr.ents[p->ent];
        if (--e->left == 0 && !(e->created && s->nchunks == 0 && s->open.count == 0)) {
            TS_ASSERT(s->pending > 0);
            s->pending--;
            e->released = true;
        }
    }
    if (locked)
        ts__series_unlock(h, locked);
    if (ok > 0) {
        /* samples first: ts_head_mint/maxt read num_samples to tell "empty" */
        atomic_fetch_add(&h->num_samples, ok);
        atomic_fetch_add(&h->num_chunks, chunks);
        ts__head_widen(h, mint, maxt);
        atomic_fetch_add(&h->appended_total, ok);
    }
    if (ooo)
        atomic_fetch_add(&h->ooo_total, ooo);
    if (dup)
        atomic_fetch_add(&h->dup_total, dup);
    release_all(a);
    app_free(a);
    return TS_OK;
}

static const ts_appender_ops head_appender_ops = {app_append, app_commit, app_rollback};

ts_appender *
ts_head_appender(ts_head *h)
{
    head_appender *a = ts_calloc(1, sizeof(*a));
    a->base.ops = &head_appender_ops;
    a->h = h;
    spare *sp = spare_get();
    a->arr = sp->arr; /* the spares, if any */
    sp->arr = (app_arrays){0};
    if (a->arr.slots)
        memset(a->arr.slots, 0, a->arr.nslots * sizeof(*a->arr.slots));
    return &a->base;
}
