/*
 * Store API server.
 *
 * A rep0 socket with `workers` threads, each owning one nng context and
 * serving requests synchronously (recv, handle, send).  Handling a request
 * may read a lot of data, so it happens on our threads, never inside nng's.
 *
 * Series requests: the matching series are selected from the queryable, their
 * output labels (own labels + external labels - replica labels) computed and
 * sorted, and the result kept under a cursor; each reply packs the next batch
 * (at most batch_series series and about batch_bytes of chunk data).  Chunks
 * come straight from the series' chunk iterator (no re-encoding); series
 * without chunk form are encoded to XOR here.
 *
 * Rule series: a shard's rules write series that other shards' rules write
 * too (the same `sum by (job) (up)` in every shard).  The owner tells the
 * server which metric names its rules write (ts_store_server_set_rule_series);
 * series with those names get one more label (`shard="<index>"`), added like
 * an external label but to those series only, so two shards' partial results
 * stay two series in the querier while scraped series (which move between
 * shards) keep the same labels everywhere.  Matchers on that label are
 * checked here against the output labels (a series without it has "").
 *
 * Every malformed frame gets an error reply (never a crash) and is counted.
 */
#include "pkg/store/codec.h"
#include "pkg/store/store.h"
#include "pkg/store/tls.h"
#include "pkg/storage/merge.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_IDLE_MS (60 * 1000)
#define MAX_CURSORS 1024

typedef struct cursor {
    uint64_t id;
    ts_querier *q;
    ts_series_set *ss;
    ts_arena arena;     /* output labels */
    ts_series **series; /* sorted by out */
    ts_labels **out;
    size_t n, pos;
    bool skip_chunks;
    int64_t mint, maxt;
    int64_t last_used;
    bool busy; /* a worker is filling a batch from it */
    char **warnings;
    size_t nwarnings;
} cursor;

struct ts_store_server {
    ts_store_server_opts opts;
    nng_socket sock;
    nng_listener listener;
    nng_tls_config *tls;
    char url[256];
    pthread_t *threads;
    int nthreads;
    /* Workers start every nng receive and send under a read lock, after
     * checking `stopping`; ts_store_server_stop sets it under the write lock
     * before it closes the socket.  So no operation starts on a context the
     * close is freeing: nng 1.5 can crash then (a destroyed mutex in
     * nng_ctx_send, when a worker finished a slow request during the stop). */
    pthread_rwlock_t ops_lock;
    bool stopping;
    pthread_mutex_t mu;
    ts_labels *ext; /* guarded by mu; replaced on reload */
    /* rule series marks, guarded by mu: names sorted */
    char *mark_name, *mark_value;
    char **mark_names;
    size_t nmark_names;
    cursor **cursors;
    size_t ncursors, capcursors;
    uint64_t next_cursor;
    ts_store_server_stats stats;
};

static void
cursor_free(cursor *c)
{
    if (!c)
        return;
    ts_ss_free(c->ss);
    ts_querier_close(c->q);
    ts_arena_fini(&c->arena);
    for (size_t i = 0; i < c->nwarnings; i++)
        ts_free(c->warnings[i]);
    ts_free(c->warnings);
    ts_free(c->series);
    ts_free(c->out);
    ts_free(c);
}

/* Drops idle cursors.  Caller holds mu. */
static void
expire_cursors(ts_store_server *s, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < s->ncursors; i++) {
        cursor *c = s->cursors[i];
        if (!c->busy && now - c->last_used > CURSOR_IDLE_MS)
            cursor_free(c);
        else
            s->cursors[k++] = c;
    }
    s->ncursors = k;
}

static ts_labels *
ext_labels_ref(ts_store_server *s, ts_arena *a)
{
    pthread_mutex_lock(&s->mu);
    ts_labels *ls = ts_labels_dup_arena(a, s->ext);
    pthread_mutex_unlock(&s->mu);
    return ls;
}

/* A snapshot of the rule series marks (strings in a). */
typedef struct marks {
    const char *name, *value; /* name NULL: none */
    const char **names;
    size_t n;
} marks;

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
marks_ref(ts_store_server *s, ts_arena *a, const ts_labels *ext, marks *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_lock(&s->mu);
    /* a configured external label of the same name wins for every series */
    if (s->mark_name && s->nmark_names && !ts_labels_has(ext, s->mark_name)) {
        m->name = ts_arena_strdup(a, s->mark_name);
        m->value = ts_arena_strdup(a, s->mark_value);
        m->names = ts_arena_alloc(a, s->nmark_names * sizeof(char *));
        for (size_t i = 0; i < s->nmark_names; i++)
            m->names[i] = ts_arena_strdup(a, s->mark_names[i]);
        m->n = s->nmark_names;
    }
    pthread_mutex_unlock(&s->mu);
}

static bool
marked(const marks *m, const ts_labels *own)
{
    if (!m->name)
        return false;
    const char *n = ts_labels_get(own, TS_METRIC_NAME);
    return n && bsearch(&n, m->names, m->n, sizeof(char *), str_cmp) != NULL;
}

static bool
in_list(const char *name, char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/*
 * Splits matchers into those on external labels (evaluated here against the
 * external value) and the rest (passed to the queryable).  Returns false when
 * an external-label matcher rules the whole store out.
 */
static bool
split_matchers(const ts_labels *ext, ts_matcher **ms, size_t n, ts_matcher **local, size_t *nlocal)
{
    *nlocal = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = ts_labels_get(ext, ms[i]->name);
        if (v) {
            if (!ts_matcher_matches(ms[i], v))
                return false;
        } else {
            local[(*nlocal)++] = ms[i];
        }
    }
    return true;
}

/* Output labels: own labels overlaid with external ones (and the rule mark
 * when extra is not NULL), minus replica labels. */
static ts_labels *
output_labels(ts_arena *a, const ts_labels *own, const ts_labels *ext, const ts_label *extra,
              char **without, size_t nwithout)
{
    ts_label stack[64];
    size_t cap = own->n + ext->n + 1;
    ts_label *l = cap <= 64 ? stack : ts_malloc(cap * sizeof(ts_label));
    size_t k = 0;
    for (size_t i = 0; i < own->n; i++)
        if (!ts_labels_has(ext, own->l[i].name) && !in_list(own->l[i].name, without, nwithout) &&
            !(extra && strcmp(own->l[i].name, extra->name) == 0))
            l[k++] = own->l[i];
    for (size_t i = 0; i < ext->n; i++)
        if (!in_list(ext->l[i].name, without, nwithout))
            l[k++] = ext->l[i];
    if (extra && !in_list((char *)extra->name, without, nwithout))
        l[k++] = *extra;
    ts_labels *out = ts_labels_new_arena(a, l, k);
    if (l != stack)
        ts_free(l);
    return out;
}

static int
error_reply(ts_store_server *s, ts_buf *out, int code, const char *msg)
{
    Tessera__Store__V1__Error e = TESSERA__STORE__V1__ERROR__INIT;
    e.code = code;
    e.message = (char *)msg;
    ts_buf_reset(out);
    __atomic_add_fetch(&s->stats.errors_total, 1, __ATOMIC_RELAXED);
    return ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR, &e.base);
}

static bool
deadline_passed(int64_t deadline)
{
    return deadline > 0 && ts_now_ms() > deadline;
}

static int
handle_info(ts_store_server *s, ts_arena *a, ts_buf *out)
{
    Tessera__Store__V1__InfoResponse r = TESSERA__STORE__V1__INFO_RESPONSE__INIT;
    Tessera__Store__V1__LabelSet set = TESSERA__STORE__V1__LABEL_SET__INIT;
    Tessera__Store__V1__LabelSet *sets[1] = {&set};
    ts_labels *ext = ext_labels_ref(s, a);
    set.labels = ts_store_labels_to_pb(a, ext);
    set.n_labels = ext->n;
    r.label_sets = sets;
    r.n_label_sets = 1;
    r.min_time = INT64_MIN;
    r.max_time = INT64_MAX;
    if (s->opts.time_range)
        s->opts.time_range(s->opts.time_range_ctx, &r.min_time, &r.max_time);
    r.component_type = (char *)(s->opts.component ? s->opts.component : "shard");
    Tessera__Store__V1__ShardInfo shard = TESSERA__STORE__V1__SHARD_INFO__INIT;
    pthread_mutex_lock(&s->mu); /* the count changes at run time (ts_store_server_set_shard) */
    if (s->opts.shard_count) {
        shard.index = s->opts.shard_index;
        shard.count = s->opts.shard_count;
        r.shard = &shard;
    }
    pthread_mutex_unlock(&s->mu);
    /* the MetaRequest kinds served: none without a callback, unsaid for a callback without them */
    Tessera__Store__V1__MetaKinds kinds = TESSERA__STORE__V1__META_KINDS__INIT;
    Tessera__Store__V1__MetaRequest__Kind listed[TS_STORE_META_NKINDS];
    uint32_t served = s->opts.meta ? s->opts.meta_kinds : 0;
    if (!s->opts.meta || served) {
        for (int k = 0; k < TS_STORE_META_NKINDS; k++)
            if (served & TS_STORE_META_BIT(k))
                listed[kinds.n_kinds++] = (Tessera__Store__V1__MetaRequest__Kind)k;
        kinds.kinds = listed;
        r.meta_kinds = &kinds;
    }
    return ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE, &r.base);
}

/* Appends a chunk (data copied into a) to the growing arena array *arr. */
static void
push_chunk(ts_arena *a, Tessera__Store__V1__Chunk ***arr, size_t *n, size_t *cap, int64_t mint,
           int64_t maxt, const uint8_t *data, size_t len)
{
    Tessera__Store__V1__Chunk *c = TS_ARENA_NEW(a, Tessera__Store__V1__Chunk);
    tessera__store__v1__chunk__init(c);
    c->min_time = mint;
    c->max_time = maxt;
    c->data.data = ts_arena_memdup(a, data, len);
    c->data.len = len;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        Tessera__Store__V1__Chunk **g = ts_arena_alloc(a, ncap * sizeof(*g));
        if (*n)
            memcpy(g, *arr, *n * sizeof(*g));
        *arr = g;
        *cap = ncap;
    }
    (*arr)[(*n)++] = c;
}

/* Encodes a series' samples in [mint, maxt] as XOR chunks of up to 120 samples. */
static size_t
encode_samples(ts_arena *a, ts_series *se, int64_t mint, int64_t maxt,
               Tessera__Store__V1__Chunk ***out)
{
    size_t n = 0, cap = 0;
    Tessera__Store__V1__Chunk **arr = NULL;
    ts_iterator *it = se->ops->iterator(se);
    ts_xor_chunk *xc = NULL;
    for (ts_val_type vt = ts_it_seek(it, mint);; vt = ts_it_next(it)) {
        int64_t t = 0;
        double v = 0;
        bool have = vt == TS_VAL_FLOAT;
        if (have)
            ts_it_at(it, &t, &v);
        if (have && t > maxt)
            have = false;
        if (xc && (!have || ts_xor_chunk_count(xc) >= 120)) {
            size_t len;
            const uint8_t *b = ts_xor_chunk_bytes(xc, &len);
            push_chunk(a, &arr, &n, &cap, ts_xor_chunk_mint(xc), ts_xor_chunk_maxt(xc), b, len);
            ts_xor_chunk_free(xc);
            xc = NULL;
        }
        if (!have)
            break;
        if (!xc)
            xc = ts_xor_chunk_new();
        ts_xor_chunk_append(xc, t, v);
    }
    ts_xor_chunk_free(xc);
    ts_it_free(it);
    *out = arr;
    return n;
}

static size_t
series_chunks(ts_arena *a, ts_series *se, int64_t mint, int64_t maxt,
              Tessera__Store__V1__Chunk ***out)
{
    ts_chunk_iterator *ci = se->ops->chunks ? se->ops->chunks(se) : NULL;
    if (!ci)
        return encode_samples(a, se, mint, maxt, out);
    size_t n = 0, cap = 0;
    Tessera__Store__V1__Chunk **arr = NULL;
    while (ci->ops->next(ci)) {
        const ts_chunk_meta *m = ci->ops->at(ci);
        if (m->maxt < mint || m->mint > maxt || m->enc != TS_ENC_XOR)
            continue;
        push_chunk(a, &arr, &n, &cap, m->mint, m->maxt, m->data, m->len);
    }
    ci->ops->free(ci);
    *out = arr;
    return n;
}

/* Packs the next batch of cursor c into out; frees c when done (returns 1). */
static int
fill_batch(ts_store_server *s, cursor *c, ts_arena *a, ts_buf *out, int64_t deadline, bool *done)
{
    Tessera__Store__V1__SeriesBatch b = TESSERA__STORE__V1__SERIES_BATCH__INIT;
    uint32_t max_series = s->opts.batch_series ? s->opts.batch_series : 256;
    size_t max_bytes = s->opts.batch_bytes ? s->opts.batch_bytes : (1u << 20);
    size_t room = c->n - c->pos < max_series ? c->n - c->pos : max_series;
    b.series = TS_ARENA_ARRAY(a, Tessera__Store__V1__Series *, room + 1);
    size_t bytes = 0;
    while (c->pos < c->n && b.n_series < max_series && bytes < max_bytes) {
        if (deadline_passed(deadline))
            return TS_ETIMEOUT;
        Tessera__Store__V1__Series *se = TS_ARENA_NEW(a, Tessera__Store__V1__Series);
        tessera__store__v1__series__init(se);
        se->labels = ts_store_labels_to_pb(a, c->out[c->pos]);
        se->n_labels = c->out[c->pos]->n;
        if (!c->skip_chunks) {
            se->n_chunks = series_chunks(a, c->series[c->pos], c->mint, c->maxt, &se->chunks);
            for (size_t i = 0; i < se->n_chunks; i++)
                bytes += se->chunks[i]->data.len + 16;
        }
        bytes += c->out[c->pos]->size;
        b.series[b.n_series++] = se;
        c->pos++;
    }
    if (c->nwarnings) { /* warnings travel with the first batch */
        b.warnings = c->warnings;
        b.n_warnings = c->nwarnings;
    }
    *done = c->pos >= c->n;
    b.done = *done;
    b.cursor = *done ? 0 : c->id;
    __atomic_add_fetch(&s->stats.series_sent_total, b.n_series, __ATOMIC_RELAXED);
    int rc = ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH, &b.base);
    /* warnings only once */
    for (size_t i = 0; i < c->nwarnings; i++)
        ts_free(c->warnings[i]);
    ts_free(c->warnings);
    c->warnings = NULL;
    c->nwarnings = 0;
    return rc;
}

typedef struct sort_item {
    ts_series *s;
    ts_labels *out;
} sort_item;

static int
sort_cmp(const void *a, const void *b)
{
    return ts_labels_cmp(((const sort_item *)a)->out, ((const sort_item *)b)->out);
}

static int
handle_series(ts_store_server *s, const Tessera__Store__V1__SeriesRequest *r, ts_arena *a,
              ts_buf *out)
{
    ts_error e;
    ts_error_clear(&e);
    if (deadline_passed(r->deadline_unix_ms))
        return error_reply(s, out, TS_ETIMEOUT, "deadline exceeded before the query started");
    ts_matcher **ms;
    int rc = ts_store_matchers_from_pb(r->matchers, r->n_matchers, &ms, &e);
    if (rc)
        return error_reply(s, out, rc, e.msg);
    cursor *c = ts_calloc(1, sizeof(*c));
    ts_arena_init(&c->arena, 64 * 1024);
    c->mint = r->min_time;
    c->maxt = r->max_time;
    c->skip_chunks = r->skip_chunks;
    ts_labels *ext = ext_labels_ref(s, &c->arena);
    marks mk;
    marks_ref(s, &c->arena, ext, &mk);
    ts_matcher **local = ts_calloc(r->n_matchers + 1, sizeof(*local));
    ts_matcher **post = ts_calloc(r->n_matchers + 1, sizeof(*post));
    size_t nlocal = 0, npost = 0;
    ts_matcher *all = NULL;
    bool possible = split_matchers(ext, ms, r->n_matchers, local, &nlocal);
    if (mk.name) { /* matchers on the rule mark are checked on the output labels */
        size_t k = 0;
        for (size_t i = 0; i < nlocal; i++) {
            if (strcmp(local[i]->name, mk.name) == 0)
                post[npost++] = local[i];
            else
                local[k++] = local[i];
        }
        nlocal = k;
    }
    if (possible && nlocal == 0) {
        ts_matcher_new(&all, TS_MATCH_RE, TS_METRIC_NAME, ".+", NULL);
        local[nlocal++] = all;
    }
    if (possible) {
        rc = ts_queryable_querier(s->opts.queryable, r->min_time, r->max_time, &c->q);
        if (rc == TS_OK) {
            ts_select_hints h = {
                .start = r->min_time, .end = r->max_time, .skip_chunks = r->skip_chunks};
            if (r->hints) {
                h.step = r->hints->step_ms;
                h.range = r->hints->range_ms;
                h.func = r->hints->func && r->hints->func[0] ? r->hints->func : NULL;
            }
            rc = c->q->ops->select(c->q, true, &h, local, nlocal, &c->ss, &e);
        } else {
            ts_error_set(&e, rc, "opening querier: %s", ts_strerror(rc));
        }
    }
    ts_matcher_free(all);
    ts_free(local);
    if (rc) {
        for (size_t i = 0; i < r->n_matchers; i++)
            ts_matcher_free(ms[i]);
        ts_free(ms);
        ts_free(post);
        cursor_free(c);
        return error_reply(s, out, rc, e.msg);
    }
    /* collect and sort by output labels */
    sort_item *items = NULL;
    size_t n = 0, cap = 0;
    ts_label mark = {mk.name, mk.value};
    while (c->ss && ts_ss_next(c->ss)) {
        ts_series *se = ts_ss_at(c->ss);
        const ts_label *extra = marked(&mk, se->labels) ? &mark : NULL;
        ts_labels *ol = output_labels(&c->arena, se->labels, ext, extra, r->without_replica_labels,
                                      r->n_without_replica_labels);
        bool ok = true;
        for (size_t i = 0; i < npost && ok; i++) {
            const char *v = ts_labels_get(ol, post[i]->name);
            ok = ts_matcher_matches(post[i], v ? v : "");
        }
        if (!ok)
            continue;
        TS_GROW(items, cap, n + 1);
        items[n].s = se;
        items[n].out = ol;
        n++;
    }
    for (size_t i = 0; i < r->n_matchers; i++)
        ts_matcher_free(ms[i]);
    ts_free(ms);
    ts_free(post);
    if (c->ss && c->ss->error.code) {
        ts_free(items);
        int code = c->ss->error.code;
        char msg[TS_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", c->ss->error.msg);
        cursor_free(c);
        return error_reply(s, out, code, msg);
    }
    if (c->ss) {
        for (size_t i = 0; i < c->ss->nwarnings; i++) {
            c->warnings = ts_realloc(c->warnings, (c->nwarnings + 1) * sizeof(char *));
            c->warnings[c->nwarnings++] = ts_strdup(c->ss->warnings[i]);
        }
    }
    if (n)
        qsort(items, n, sizeof(*items), sort_cmp);
    c->series = ts_malloc((n ? n : 1) * sizeof(*c->series));
    c->out = ts_malloc((n ? n : 1) * sizeof(*c->out));
    for (size_t i = 0; i < n; i++) {
        c->series[i] = items[i].s;
        c->out[i] = items[i].out;
    }
    c->n = n;
    ts_free(items);
    pthread_mutex_lock(&s->mu);
    c->id = ++s->next_cursor;
    pthread_mutex_unlock(&s->mu);
    bool done;
    rc = fill_batch(s, c, a, out, r->deadline_unix_ms, &done);
    if (rc || done) {
        cursor_free(c);
        if (rc)
            return error_reply(s, out, rc,
                               rc == TS_ETIMEOUT ? "deadline exceeded" : ts_strerror(rc));
        return TS_OK;
    }
    pthread_mutex_lock(&s->mu);
    int64_t now = ts_now_ms();
    expire_cursors(s, now);
    if (s->ncursors >= MAX_CURSORS) {
        pthread_mutex_unlock(&s->mu);
        cursor_free(c);
        return error_reply(s, out, TS_ELIMIT, "too many open series cursors");
    }
    c->last_used = now;
    TS_GROW(s->cursors, s->capcursors, s->ncursors + 1);
    s->cursors[s->ncursors++] = c;
    pthread_mutex_unlock(&s->mu);
    return TS_OK;
}

static int
handle_next(ts_store_server *s, const Tessera__Store__V1__SeriesNextRequest *r, ts_arena *a,
            ts_buf *out)
{
    pthread_mutex_lock(&s->mu);
    cursor *c = NULL;
    size_t idx = 0;
    for (size_t i = 0; i < s->ncursors; i++) {
        if (s->cursors[i]->id == r->cursor && !s->cursors[i]->busy) {
            c = s->cursors[i];
            idx = i;
            break;
        }
    }
    if (c)
        c->busy = true;
    pthread_mutex_unlock(&s->mu);
    if (!c)
        return error_reply(s, out, TS_ENOTFOUND, "unknown or expired series cursor");
    bool done = false;
    int rc = fill_batch(s, c, a, out, r->deadline_unix_ms, &done);
    pthread_mutex_lock(&s->mu);
    c->busy = false;
    c->last_used = ts_now_ms();
    if (rc || done) {
        /* find it again: the array may have shifted */
        for (idx = 0; idx < s->ncursors && s->cursors[idx] != c; idx++)
            ;
        if (idx < s->ncursors)
            s->cursors[idx] = s->cursors[--s->ncursors];
        cursor_free(c);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc)
        return error_reply(s, out, rc, rc == TS_ETIMEOUT ? "deadline exceeded" : ts_strerror(rc));
    return TS_OK;
}

/* Label names or values (name != NULL). */
static int
handle_labels(ts_store_server *s, const char *name, int64_t start, int64_t end,
              Tessera__Store__V1__LabelMatcher **pbms, size_t npbms, char **without,
              size_t nwithout, int64_t deadline, ts_arena *a, ts_buf *out)
{
    ts_error e;
    ts_error_clear(&e);
    if (deadline_passed(deadline))
        return error_reply(s, out, TS_ETIMEOUT, "deadline exceeded before the query started");
    ts_matcher **ms;
    int rc = ts_store_matchers_from_pb(pbms, npbms, &ms, &e);
    if (rc)
        return error_reply(s, out, rc, e.msg);
    ts_labels *ext = ext_labels_ref(s, a);
    marks mk;
    marks_ref(s, a, ext, &mk);
    ts_matcher **local = ts_calloc(npbms + 1, sizeof(*local));
    size_t nlocal = 0;
    bool possible = split_matchers(ext, ms, npbms, local, &nlocal);
    const char **vals = NULL;
    size_t nvals = 0;
    bool replica = name && in_list((char *)name, without, nwithout);
    if (possible && !replica) {
        ts_querier *q;
        rc = ts_queryable_querier(s->opts.queryable, start, end, &q);
        /* does any series of the rule marks match?  Then the mark's name
         * and value are among the answers. */
        bool has_mark = false;
        if (rc == TS_OK && mk.name && !in_list((char *)mk.name, without, nwithout) &&
            (!name || strcmp(name, mk.name) == 0)) {
            const char **names;
            size_t nn;
            ts_error me;
            ts_error_clear(&me);
            if (q->ops->label_values(q, TS_METRIC_NAME, local, nlocal, a, &names, &nn, &me) ==
                TS_OK)
                for (size_t i = 0; i < nn && !has_mark; i++)
                    has_mark = bsearch(&names[i], mk.names, mk.n, sizeof(char *), str_cmp);
        }
        if (rc == TS_OK) {
            const char *ev = name ? ts_labels_get(ext, name) : NULL;
            if (ev) {
                /* an external label: its one value, if any series exists */
                const char **names;
                size_t nn;
                rc = q->ops->label_names(q, local, nlocal, a, &names, &nn, &e);
                if (rc == TS_OK && nn > 0) {
                    vals = ts_arena_alloc(a, sizeof(char *));
                    vals[0] = ev;
                    nvals = 1;
                }
            } else if (name) {
                rc = q->ops->label_values(q, name, local, nlocal, a, &vals, &nvals, &e);
                if (rc == TS_OK && has_mark) {
                    const char **all = ts_arena_alloc(a, (nvals + 1) * sizeof(char *));
                    if (nvals)
                        memcpy(all, vals, nvals * sizeof(char *));
                    all[nvals++] = mk.value;
                    ts_strs_sort_unique(all, &nvals);
                    vals = all;
                }
            } else {
                rc = q->ops->label_names(q, local, nlocal, a, &vals, &nvals, &e);
                if (rc == TS_OK && nvals > 0) {
                    const char **all = ts_arena_alloc(a, (nvals + ext->n + 1) * sizeof(char *));
                    size_t k = 0;
                    for (size_t i = 0; i < nvals; i++)
                        if (!in_list((char *)vals[i], without, nwithout))
                            all[k++] = vals[i];
                    for (size_t i = 0; i < ext->n; i++)
                        if (!in_list((char *)ext->l[i].name, without, nwithout))
                            all[k++] = ext->l[i].name;
                    if (has_mark)
                        all[k++] = mk.name;
                    ts_strs_sort_unique(all, &k);
                    vals = all;
                    nvals = k;
                }
            }
            ts_querier_close(q);
        }
    }
    for (size_t i = 0; i < npbms; i++)
        ts_matcher_free(ms[i]);
    ts_free(ms);
    ts_free(local);
    if (rc)
        return error_reply(s, out, rc, e.msg[0] ? e.msg : ts_strerror(rc));
    if (name) {
        Tessera__Store__V1__LabelValuesResponse r = TESSERA__STORE__V1__LABEL_VALUES_RESPONSE__INIT;
        r.values = (char **)vals;
        r.n_values = nvals;
        return ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_RESPONSE,
                                   &r.base);
    }
    Tessera__Store__V1__LabelNamesResponse r = TESSERA__STORE__V1__LABEL_NAMES_RESPONSE__INIT;
    r.names = (char **)vals;
    r.n_names = nvals;
    return ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_RESPONSE,
                               &r.base);
}

/* MetaRequest: the owner's callback writes the JSON (see store.h). */
static void
handle_meta(ts_store_server *s, const Tessera__Store__V1__MetaRequest *r, ts_arena *a, ts_buf *out)
{
    if (!s->opts.meta) {
        error_reply(s, out, TS_EUNSUPPORTED, "this store serves no metadata, targets or rules");
        return;
    }
    if (deadline_passed(r->deadline_unix_ms)) {
        error_reply(s, out, TS_ETIMEOUT, "deadline passed");
        return;
    }
    const char **params = ts_arena_alloc(a, (2 * r->n_params + 1) * sizeof(*params));
    for (size_t i = 0; i < r->n_params; i++) {
        params[2 * i] = r->params[i]->name ? r->params[i]->name : "";
        params[2 * i + 1] = r->params[i]->value ? r->params[i]->value : "";
    }
    ts_buf json;
    ts_buf_init(&json, 0);
    ts_error e;
    ts_error_clear(&e);
    int rc = s->opts.meta(s->opts.meta_ctx, (int)r->kind, params, 2 * r->n_params, &json, &e);
    if (rc) {
        error_reply(s, out, rc, e.msg[0] ? e.msg : "meta request failed");
    } else {
        Tessera__Store__V1__MetaResponse resp = TESSERA__STORE__V1__META_RESPONSE__INIT;
        resp.data_json.data = json.p;
        resp.data_json.len = json.len;
        ts_store_frame_pack(out, TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_RESPONSE, &resp.base);
    }
    ts_buf_fini(&json);
}

static void
handle(ts_store_server *s, const uint8_t *p, size_t n, ts_arena *a, ts_buf *out)
{
    __atomic_add_fetch(&s->stats.requests_total, 1, __ATOMIC_RELAXED);
    ts_error e;
    ts_error_clear(&e);
    uint8_t type;
    ProtobufCMessage *m;
    size_t max = s->opts.max_frame ? s->opts.max_frame : TS_STORE_MAX_FRAME;
    int rc = ts_store_frame_unpack(p, n, max, a, &type, &m, &e);
    if (rc == TS_OK && type >= TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE) {
        rc = TS_ECORRUPT;
        ts_error_set(&e, rc, "frame type %u is not a request", type);
    }
    if (rc) {
        __atomic_add_fetch(&s->stats.bad_frames_total, 1, __ATOMIC_RELAXED);
        TS_LOG(TS_LOG_WARN, "store", "bad request frame", "err=\"%s\" bytes=%zu", e.msg, n);
        error_reply(s, out, rc, e.msg);
        return;
    }
    switch (type) {
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_REQUEST: handle_info(s, a, out); break;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST:
        handle_series(s, (Tessera__Store__V1__SeriesRequest *)m, a, out);
        break;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_NEXT_REQUEST:
        handle_next(s, (Tessera__Store__V1__SeriesNextRequest *)m, a, out);
        break;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_REQUEST: {
        Tessera__Store__V1__LabelNamesRequest *r = (Tessera__Store__V1__LabelNamesRequest *)m;
        handle_labels(s, NULL, r->start, r->end, r->matchers, r->n_matchers,
                      r->without_replica_labels, r->n_without_replica_labels, r->deadline_unix_ms,
                      a, out);
        break;
    }
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_REQUEST: {
        Tessera__Store__V1__LabelValuesRequest *r = (Tessera__Store__V1__LabelValuesRequest *)m;
        handle_labels(s, r->label ? r->label : "", r->start, r->end, r->matchers, r->n_matchers,
                      r->without_replica_labels, r->n_without_replica_labels, r->deadline_unix_ms,
                      a, out);
        break;
    }
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_REQUEST:
        handle_meta(s, (Tessera__Store__V1__MetaRequest *)m, a, out);
        break;
    }
}

/* Starts a receive (send = false) or a send on ctx unless the server is
 * stopping (see ops_lock).  Returns false when stopping. */
static bool
start_op(ts_store_server *s, nng_ctx ctx, nng_aio *aio, bool send)
{
    pthread_rwlock_rdlock(&s->ops_lock);
    bool go = !s->stopping;
    if (go && send)
        nng_ctx_send(ctx, aio);
    else if (go)
        nng_ctx_recv(ctx, aio);
    pthread_rwlock_unlock(&s->ops_lock);
    return go;
}

static void *
worker(void *arg)
{
    ts_store_server *s = arg;
    nng_ctx ctx;
    nng_aio *aio;
    pthread_rwlock_rdlock(&s->ops_lock);
    int orv = s->stopping ? NNG_ECLOSED : nng_ctx_open(&ctx, s->sock);
    pthread_rwlock_unlock(&s->ops_lock);
    if (orv != 0)
        return NULL;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_ctx_close(ctx);
        return NULL;
    }
    ts_arena a;
    ts_arena_init(&a, 256 * 1024);
    ts_buf out;
    ts_buf_init(&out, 0);
    for (;;) {
        if (!start_op(s, ctx, aio, false))
            break;
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0)
            continue;
        nng_msg *msg = nng_aio_get_msg(aio);
        ts_arena_reset(&a);
        ts_buf_reset(&out);
        handle(s, nng_msg_body(msg), nng_msg_len(msg), &a, &out);
        nng_msg_clear(msg);
        if (nng_msg_append(msg, out.p, out.len) != 0) {
            nng_msg_free(msg);
            continue;
        }
        nng_aio_set_msg(aio, msg);
        if (!start_op(s, ctx, aio, true)) {
            nng_msg_free(msg);
            break;
        }
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(nng_aio_get_msg(aio));
        /* keep the arena from holding on to one huge reply forever */
        if (out.cap > (8u << 20))
            ts_buf_fini(&out);
    }
    ts_buf_fini(&out);
    ts_arena_fini(&a);
    nng_aio_free(aio);
    /* The socket's close has closed ctx already (we leave only then). */
    return NULL;
}

int
ts_store_server_start(ts_store_server **out, const ts_store_server_opts *opts, ts_error *err)
{
    ts_store_server *s = ts_calloc(1, sizeof(*s));
    s->opts = *opts;
    pthread_mutex_init(&s->mu, NULL);
    pthread_rwlock_init(&s->ops_lock, NULL);
    s->ext = opts->external_labels ? ts_labels_dup(opts->external_labels) : ts_labels_new(NULL, 0);
    int rv = nng_rep0_open(&s->sock);
    if (rv) {
        ts_error_set(err, TS_EIO, "store: opening socket: %s", nng_strerror(rv));
        goto fail;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
                        opts->max_frame ? opts->max_frame : TS_STORE_MAX_FRAME);
    if ((rv = nng_listener_create(&s->listener, s->sock, opts->listen_url))) {
        ts_error_set(err, TS_EINVAL, "store: listen address %s: %s", opts->listen_url,
                     nng_strerror(rv));
        goto fail;
    }
    if (strncmp(opts->listen_url, "tls+", 4) == 0) {
        if (!opts->tls_cert_file || !opts->tls_key_file) {
            ts_error_set(err, TS_EINVAL, "store: %s needs a TLS certificate and key",
                         opts->listen_url);
            goto fail;
        }
        ts_error terr;
        ts_error_clear(&terr);
        if (ts__store_tls_server(&s->tls, opts->tls_cert_file, opts->tls_key_file,
                                 opts->tls_client_ca_file, &terr) != TS_OK) {
            ts_error_set(err, terr.code, "store: %s", terr.msg);
            goto fail;
        }
        if ((rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, s->tls))) {
            ts_error_set(err, TS_EINVAL, "store: TLS setup: %s", nng_strerror(rv));
            goto fail;
        }
    }
    if ((rv = nng_listener_start(s->listener, 0))) {
        ts_error_set(err, TS_EIO, "store: listen on %s: %s", opts->listen_url, nng_strerror(rv));
        goto fail;
    }
    /* resolve the bound port for tcp://host:0 */
    nng_sockaddr sa;
    snprintf(s->url, sizeof(s->url), "%s", opts->listen_url);
    if (nng_listener_get_addr(s->listener, NNG_OPT_LOCADDR, &sa) == 0 &&
        sa.s_family == NNG_AF_INET) {
        const uint8_t *ip = (const uint8_t *)&sa.s_in.sa_addr;
        unsigned port = ((sa.s_in.sa_port & 0xff) << 8) | (sa.s_in.sa_port >> 8);
        const char *scheme_end = strstr(opts->listen_url, "://");
        int slen = scheme_end ? (int)(scheme_end - opts->listen_url) : 3;
        snprintf(s->url, sizeof(s->url), "%.*s://%u.%u.%u.%u:%u", slen, opts->listen_url, ip[0],
                 ip[1], ip[2], ip[3], port);
    }
    s->nthreads = opts->workers > 0 ? opts->workers : 4;
    s->threads = ts_calloc((size_t)s->nthreads, sizeof(pthread_t));
    for (int i = 0; i < s->nthreads; i++)
        pthread_create(&s->threads[i], NULL, worker, s);
    TS_LOG(TS_LOG_INFO, "store", "store API listening", "url=%s", s->url);
    *out = s;
    return TS_OK;
fail:
    if (nng_socket_id(s->sock) > 0)
        nng_close(s->sock);
    if (s->tls)
        nng_tls_config_free(s->tls);
    ts_labels_free(s->ext);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->ops_lock);
    ts_free(s);
    return err ? err->code : TS_EIO;
}

void
ts_store_server_set_external_labels(ts_store_server *s, const ts_labels *ls)
{
    ts_labels *n = ls ? ts_labels_dup(ls) : ts_labels_new(NULL, 0);
    pthread_mutex_lock(&s->mu);
    ts_labels *old = s->ext;
    s->ext = n;
    pthread_mutex_unlock(&s->mu);
    ts_labels_free(old);
}

void
ts_store_server_set_shard(ts_store_server *s, uint32_t index, uint32_t count)
{
    pthread_mutex_lock(&s->mu);
    s->opts.shard_index = index;
    s->opts.shard_count = count;
    pthread_mutex_unlock(&s->mu);
}

void
ts_store_server_set_rule_series(ts_store_server *s, const char *label_name, const char *value,
                                const char *const *names, size_t n)
{
    char *ln = label_name && n ? ts_strdup(label_name) : NULL;
    char *lv = label_name && n ? ts_strdup(value ? value : "") : NULL;
    char **ns = NULL;
    if (ln) {
        ns = ts_malloc(n * sizeof(char *));
        for (size_t i = 0; i < n; i++)
            ns[i] = ts_strdup(names[i]);
        qsort(ns, n, sizeof(char *), str_cmp);
    }
    pthread_mutex_lock(&s->mu);
    char *oln = s->mark_name, *olv = s->mark_value;
    char **ons = s->mark_names;
    size_t on = s->nmark_names;
    s->mark_name = ln;
    s->mark_value = lv;
    s->mark_names = ns;
    s->nmark_names = ln ? n : 0;
    pthread_mutex_unlock(&s->mu);
    ts_free(oln);
    ts_free(olv);
    for (size_t i = 0; i < on; i++)
        ts_free(ons[i]);
    ts_free(ons);
}

const char *
ts_store_server_url(const ts_store_server *s)
{
    return s->url;
}

void
ts_store_server_stats_get(ts_store_server *s, ts_store_server_stats *st)
{
    pthread_mutex_lock(&s->mu);
    st->requests_total = __atomic_load_n(&s->stats.requests_total, __ATOMIC_RELAXED);
    st->bad_frames_total = __atomic_load_n(&s->stats.bad_frames_total, __ATOMIC_RELAXED);
    st->errors_total = __atomic_load_n(&s->stats.errors_total, __ATOMIC_RELAXED);
    st->series_sent_total = __atomic_load_n(&s->stats.series_sent_total, __ATOMIC_RELAXED);
    st->open_cursors = s->ncursors;
    pthread_mutex_unlock(&s->mu);
}

void
ts_store_server_write_metrics(void *srv, ts_metrics_writer *w)
{
    ts_store_server_stats st;
    ts_store_server_stats_get(srv, &st);
    ts_mw_counter(w, "tessera_store_requests_total", "Store API requests received.",
                  (double)st.requests_total);
    ts_mw_counter(w, "tessera_store_bad_frames_total",
                  "Store API frames that could not be decoded (answered with an error).",
                  (double)st.bad_frames_total);
    ts_mw_counter(w, "tessera_store_errors_total", "Store API error replies.",
                  (double)st.errors_total);
    ts_mw_counter(w, "tessera_store_series_sent_total", "Series sent over the store API.",
                  (double)st.series_sent_total);
    ts_mw_gauge(w, "tessera_store_open_cursors", "Series cursors open on the store API.",
                (double)st.open_cursors);
}

void
ts_store_server_stop(ts_store_server *s)
{
    if (!s)
        return;
    pthread_rwlock_wrlock(&s->ops_lock);
    s->stopping = true;
    pthread_rwlock_unlock(&s->ops_lock);
    nng_close(s->sock);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    ts_free(s->threads);
    for (size_t i = 0; i < s->ncursors; i++)
        cursor_free(s->cursors[i]);
    ts_free(s->cursors);
    if (s->tls)
        nng_tls_config_free(s->tls);
    ts_labels_free(s->ext);
    ts_store_server_set_rule_series(s, NULL, NULL, NULL, 0);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->ops_lock);
    ts_free(s);
}
