/*
 * The head's in-memory postings index (Prometheus index.MemPostings).
 *
 * label name -> label value -> sorted array of series refs, plus one array
 * of all refs.  Both levels are open-addressing hash tables with linear
 * probing and backward-shift deletion, keyed by strings the index owns
 * (a value's string lives as long as some series carries it).  Refs are
 * handed out by a counter, so adding a new series is an append at the end
 * of each list; replayed series may arrive in any order and are inserted in
 * place.
 *
 * Selecting: each matcher that does not match the empty string narrows the
 * candidates to the union of the lists of its matching values (one lookup
 * for =, a scan of the label's values otherwise); the candidates are the
 * intersection of those sets.  Matchers that match "" cannot narrow (a
 * series without the label matches them) and are left to the caller, which
 * checks every candidate's labels.  With no narrowing matcher, all refs are
 * candidates.
 *
 * Labels with an empty value are not indexed (as in Prometheus, an empty
 * value is the same as an absent label).
 *
 * Not thread-safe by itself: the head guards it with postings_lock.
 */
#include "pkg/tsdb/head/internal.h"

#include <stdlib.h>
#include <string.h>

#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

typedef struct plist {
    uint64_t *r;
    uint32_t n, cap;
} plist;

typedef struct sment {
    char *key; /* NULL = empty slot */
    uint64_t hash;
    void *val; /* plist * (values) or smap * (names) */
} sment;

typedef struct smap {
    sment *e;
    uint32_t cap, n; /* cap is 0 or a power of two */
} smap;

struct ts__postings {
    smap names; /* name -> smap of value -> plist */
    plist all;
};

/* --------------------------------------------------------- sorted lists */

static size_t
lower_bound(const uint64_t *r, size_t lo, size_t n, uint64_t x)
{
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
plist_add(plist *l, uint64_t ref)
{
    size_t at = l->n;
    if (l->n > 0 && l->r[l->n - 1] >= ref) {
        at = lower_bound(l->r, 0, l->n, ref);
        if (l->r[at] == ref)
            return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 2;
        l->r = ts_realloc(l->r, l->cap * sizeof(*l->r));
    }
    memmove(l->r + at + 1, l->r + at, (l->n - at) * sizeof(*l->r));
    l->r[at] = ref;
    l->n++;
}

/* Shrinks the allocation when it is mostly empty, so lists emptied by
 * truncation give memory back. */
static void
plist_maybe_shrink(plist *l)
{
    if (l->cap > 16 && l->n < l->cap / 4) {
        l->cap = l->n * 2;
        l->r = ts_realloc(l->r, l->cap * sizeof(*l->r));
    }
}

static void
plist_del(plist *l, uint64_t ref)
{
    size_t at = lower_bound(l->r, 0, l->n, ref);
    if (at == l->n || l->r[at] != ref)
        return;
    memmove(l->r + at, l->r + at + 1, (l->n - at - 1) * sizeof(*l->r));
    l->n--;
    plist_maybe_shrink(l);
}

/* Removes every ref that is in the sorted array del[0..ndel). */
static void
plist_del_many(plist *l, const uint64_t *del, size_t ndel)
{
    size_t w = 0, j = 0;
    for (size_t i = 0; i < l->n; i++) {
        uint64_t x = l->r[i];
        while (j < ndel && del[j] < x)
            j++;
        if (j < ndel && del[j] == x)
            continue;
        l->r[w++] = x;
    }
    l->n = (uint32_t)w;
    plist_maybe_shrink(l);
}

/* ------------------------------------------------------------ string map */

static uint64_t
str_hash(const char *s)
{
    return ts_hash64(s, strlen(s));
}

static sment *
smap_find(const smap *m, const char *key, uint64_t hash)
{
    if (m->cap == 0)
        return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
        sment *e = &m->e[i];
        if (!e->key)
            return NULL;
        if (e->hash == hash && strcmp(e->key, key) == 0)
            return e;
    }
}

static void
smap_grow(smap *m)
{
    uint32_t ncap = m->cap ? m->cap * 2 : 8;
    sment *ne = ts_calloc(ncap, sizeof(*ne));
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->e[i].key)
            continue;
        uint32_t j = (uint32_t)m->e[i].hash & (ncap - 1);
        while (ne[j].key)
            j = (j + 1) & (ncap - 1);
        ne[j] = m->e[i];
    }
    ts_free(m->e);
    m->e = ne;
    m->cap = ncap;
}

/* Finds key, or inserts it (copied) with val NULL. */
static sment *
smap_upsert(smap *m, const char *key, uint64_t hash)
{
    sment *e = smap_find(m, key, hash);
    if (e)
        return e;
    if ((m->n + 1) * 4 > m->cap * 3)
        smap_grow(m);
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (m->e[i].key)
        i = (i + 1) & mask;
    m->e[i].key = ts_strdup(key);
    m->e[i].hash = hash;
    m->e[i].val = NULL;
    m->n++;
    return &m->e[i];
}

/* Deletes entry e (its key is freed, its val is the caller's) by shifting
 * later entries of the probe run back into the hole. */
static void
smap_delete(smap *m, sment *e)
{
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)(e - m->e);
    ts_free(e->key);
    for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (!m->e[j].key)
            break;
        uint32_t home = (uint32_t)m->e[j].hash & mask;
        /* e[j] may move to i if i lies cyclically in [home, j). */
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->e[i] = m->e[j];
            i = j;
        }
    }
    m->e[i].key = NULL;
    m->e[i].val = NULL;
    m->n--;
}

static void
smap_fini(smap *m, void (*free_val)(void *))
{
    for (uint32_t i = 0; i < m->cap; i++) {
        if (m->e[i].key) {
            ts_free(m->e[i].key);
            free_val(m->e[i].val);
        }
    }
    ts_free(m->e);
    memset(m, 0, sizeof(*m));
}

static void
free_plist(void *p)
{
    plist *l = p;
    ts_free(l->r);
    ts_free(l);
}

static void
free_values(void *p)
{
    smap *vm = p;
    smap_fini(vm, free_plist);
    ts_free(vm);
}

/* ---------------------------------------------------------- the index */

ts__postings *
ts__postings_new(void)
{
    return ts_calloc(1, sizeof(ts__postings));
}

void
ts__postings_free(ts__postings *p)
{
    if (!p)
        return;
    smap_fini(&p->names, free_values);
    ts_free(p->all.r);
    ts_free(p);
}

void
ts__postings_add(ts__postings *p, uint64_t ref, const ts_labels *ls)
{
    for (uint32_t i = 0; i < ls->n; i++) {
        if (ls->l[i].value[0] == '\0')
            continue; /* an empty value is an absent label */
        sment *ne = smap_upsert(&p->names, ls->l[i].name, str_hash(ls->l[i].name));
        if (!ne->val)
            ne->val = ts_calloc(1, sizeof(smap));
        smap *vm = ne->val;
        sment *ve = smap_upsert(vm, ls->l[i].value, str_hash(ls->l[i].value));
        if (!ve->val)
            ve->val = ts_calloc(1, sizeof(plist));
        plist_add(ve->val, ref);
    }
    plist_add(&p->all, ref);
}

void
ts__postings_del(ts__postings *p, uint64_t ref, const ts_labels *ls)
{
    for (uint32_t i = 0; i < ls->n; i++) {
        sment *ne = smap_find(&p->names, ls->l[i].name, str_hash(ls->l[i].name));
        if (!ne)
            continue;
        smap *vm = ne->val;
        sment *ve = smap_find(vm, ls->l[i].value, str_hash(ls->l[i].value));
        if (!ve)
            continue;
        plist *l = ve->val;
        plist_del(l, ref);
        if (l->n == 0) {
            free_plist(l);
            smap_delete(vm, ve);
        }
        if (vm->n == 0) {
            free_values(vm);
            smap_delete(&p->names, ne);
        }
    }
    plist_del(&p->all, ref);
}

void
ts__postings_del_many(ts__postings *p, const uint64_t *refs, size_t n)
{
    if (n == 0)
        return;
    for (uint32_t i = 0; i < p->names.cap;) {
        sment *ne = &p->names.e[i];
        if (!ne->key) {
            i++;
            continue;
        }
        smap *vm = ne->val;
        for (uint32_t j = 0; j < vm->cap;) {
            sment *ve = &vm->e[j];
            if (!ve->key) {
                j++;
                continue;
            }
            plist *l = ve->val;
            plist_del_many(l, refs, n);
            if (l->n == 0) {
                free_plist(l);
                smap_delete(vm, ve); /* a later entry may now sit at j: look again */
            } else {
                j++;
            }
        }
        if (vm->n == 0) {
            free_values(vm);
            smap_delete(&p->names, ne);
        } else {
            i++;
        }
    }
    plist_del_many(&p->all, refs, n);
}

/* ------------------------------------------------------------ selecting */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A candidate set: borrowed from a list, or owned. */
typedef struct cset {
    const uint64_t *r;
    size_t n;
    uint64_t *owned;
} cset;

static int
cmp_cset(const void *a, const void *b)
{
    size_t x = ((const cset *)a)->n, y = ((const cset *)b)->n;
    return x < y ? -1 : x > y;
}

/* The set of refs whose value of m->name matches m (m does not match ""). */
static cset
matcher_set(ts__postings *p, const ts_matcher *m)
{
    cset s = {NULL, 0, NULL};
    sment *ne = smap_find(&p->names, m->name, str_hash(m->name));
    if (!ne)
        return s;
    smap *vm = ne->val;
    if (m->type == TS_MATCH_EQ || (m->type == TS_MATCH_RE && m->literal)) {
        sment *ve = smap_find(vm, m->value, str_hash(m->value));
        if (ve) {
            s.r = ((plist *)ve->val)->r;
            s.n = ((plist *)ve->val)->n;
        }
        return s;
    }
    /* Union of the lists of every matching value. */
    const plist *one = NULL;
    size_t nlists = 0, total = 0;
    for (uint32_t i = 0; i < vm->cap; i++) {
        if (vm->e[i].key && ts_matcher_matches(m, vm->e[i].key)) {
            one = vm->e[i].val;
            nlists++;
            total += one->n;
        }
    }
    if (nlists == 1) {
        s.r = one->r;
        s.n = one->n;
        return s;
    }
    if (nlists == 0)
        return s;
    uint64_t *u = ts_malloc(total * sizeof(*u));
    size_t k = 0;
    for (uint32_t i = 0; i < vm->cap; i++) {
        if (vm->e[i].key && ts_matcher_matches(m, vm->e[i].key)) {
            const plist *l = vm->e[i].val;
            memcpy(u + k, l->r, l->n * sizeof(*u));
            k += l->n;
        }
    }
    /* A series has one value per name, so the lists are disjoint. */
    qsort(u, k, sizeof(*u), cmp_u64);
    s.r = s.owned = u;
    s.n = k;
    return s;
}

void
ts__postings_select(ts__postings *p, ts_matcher *const *ms, size_t nms, bool *exact, ts__refs *out)
{
    out->r = NULL;
    out->n = out->cap = 0;
    cset *sets = ts_malloc((nms ? nms : 1) * sizeof(*sets));
    size_t nsets = 0;
    bool empty = false;
    for (size_t i = 0; i < nms; i++) {
        exact[i] = false;
        if (ts_matcher_matches_empty(ms[i]))
            continue;
        exact[i] = true;
        sets[nsets] = matcher_set(p, ms[i]);
        if (sets[nsets].n == 0)
            empty = true;
        nsets++;
    }
    if (!empty) {
        if (nsets == 0) {
            out->n = out->cap = p->all.n;
            out->r = ts_malloc((out->n ? out->n : 1) * sizeof(uint64_t));
            if (out->n)
                memcpy(out->r, p->all.r, out->n * sizeof(uint64_t));
        } else {
            /* Intersect, smallest first, probing the others by binary search. */
            qsort(sets, nsets, sizeof(*sets), cmp_cset);
            out->cap = sets[0].n;
            out->r = ts_malloc(out->cap * sizeof(uint64_t));
            size_t n = 0;
            size_t *pos = ts_calloc(nsets, sizeof(size_t));
            for (size_t i = 0; i < sets[0].n; i++) {
                uint64_t x = sets[0].r[i];
                bool all = true;
                for (size_t k = 1; k < nsets && all; k++) {
                    pos[k] = lower_bound(sets[k].r, pos[k], sets[k].n, x);
                    all = pos[k] < sets[k].n && sets[k].r[pos[k]] == x;
                }
                if (all)
                    out->r[n++] = x;
            }
            out->n = n;
            ts_free(pos);
        }
    }
    for (size_t i = 0; i < nsets; i++)
        ts_free(sets[i].owned);
    ts_free(sets);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
keys_sorted(const smap *m, ts_arena *a, const char ***out, size_t *n)
{
    const char **v = ts_arena_alloc(a, (m->n ? m->n : 1) * sizeof(*v));
    size_t k = 0;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->e[i].key)
            v[k++] = ts_arena_strdup(a, m->e[i].key);
    qsort(v, k, sizeof(*v), cmp_str);
    *out = v;
    *n = k;
}

void
ts__postings_label_values(ts__postings *p, const char *name, ts_arena *a, const char ***out,
                          size_t *n)
{
    sment *ne = smap_find(&p->names, name, str_hash(name));
    if (!ne) {
        *out = ts_arena_alloc(a, sizeof(**out));
        *n = 0;
        return;
    }
    keys_sorted(ne->val, a, out, n);
}

void
ts__postings_label_names(ts__postings *p, ts_arena *a, const char ***out, size_t *n)
{
    keys_sorted(&p->names, a, out, n);
}
