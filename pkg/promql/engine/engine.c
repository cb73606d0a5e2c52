/*
 * PromQL engine: query lifecycle, series loading, selectors and subqueries.
 *
 * A query runs in three phases:
 *  1. Parse into the query arena (pkg/promql/parser).
 *  2. Load: walk the tree and work out, for each vector/matrix selector, the
 *     time range its evaluation can touch (query range, shifted by enclosing
 *     subquery ranges, offsets and @, widened by the lookback delta or the
 *     selector's range), then open one querier over the union and copy each
 *     selector's series (labels and samples, stale markers included) into the
 *     query arena, attached to the node through expr->aux.  The querier is
 *     closed before evaluation starts.
 *  3. Evaluate step by step (see internal.h).  Instant vector selectors take
 *     the newest sample at or before t - offset (or @ - offset) no older than
 *     the lookback delta, and yield nothing when that sample is a stale
 *     marker.  Range selectors take all samples in [end - range, end] (both
 *     ends inclusive, as 2.42) except stale markers.  Subqueries evaluate
 *     their expression at every absolute multiple of their step inside their
 *     window.
 *
 * Work shared between steps, all in the query arena: subquery results are
 * memoized per inner timestamp (sq_memo), so a range query evaluates each
 * inner step once; each loaded series keeps its labels without __name__
 * once derived (functions over a selector need no lookup per step) and
 * search hints, so that stepping forward finds the next window in a few
 * comparisons instead of a binary search; each aggregation node keeps its
 * groups by input (aggr.c); other name-dropped label sets are cached by the
 * input's hash (ts__label_cache).  Scratch arenas that outgrow their block are
 * re-created with one block of a step's size (reset_scratch).
 *
 * Limits: the deadline is checked at every step and inner subquery step;
 * the number of samples held for the current step (selected samples, range
 * windows, accumulated range result) is compared against max_samples, and so
 * is the total number of samples loaded from storage (a memory guard that
 * Prometheus, which streams from its iterators, does not need).
 */
#include "pkg/promql/engine/internal.h"
#include "pkg/promql/engine/kernels.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/mem.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/time.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_TIMEOUT_MS (2 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000
#define DEFAULT_STEP_MS (60 * 1000)
#define DEFAULT_MAX_BYTES ((size_t)2 << 30)

struct ts_promql_query {
    ts_arena arena;   /* AST, loaded series, result */
    ts_arena scratch; /* per-step intermediates */
    ts_promql_expr *root;
    ts_promql_result result;
};

/* ------------------------------------------------------------------ engine */

int
ts_promql_engine_new(ts_promql_engine **out, const ts_promql_engine_opts *opts)
{
    ts_promql_engine *e = ts_calloc(1, sizeof(*e));
    if (opts)
        e->opts = *opts;
    if (e->opts.lookback_ms <= 0)
        e->opts.lookback_ms = DEFAULT_LOOKBACK_MS;
    if (e->opts.timeout_ms == 0)
        e->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (e->opts.max_samples == 0)
        e->opts.max_samples = DEFAULT_MAX_SAMPLES;
    if (e->opts.default_step_ms <= 0)
        e->opts.default_step_ms = DEFAULT_STEP_MS;
    if (e->opts.max_bytes == 0)
        e->opts.max_bytes = DEFAULT_MAX_BYTES;
    *out = e;
    return TS_OK;
}

void
ts_promql_engine_free(ts_promql_engine *e)
{
    ts_free(e);
}

/* ------------------------------------------------------------ error paths */

void
ts__eval_fail(ts__evaluator *e, int code, const char *fmt, ...)
{
    e->code = code;
    if (e->err) {
        e->err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err->msg, sizeof(e->err->msg), fmt, ap);
        va_end(ap);
    }
    longjmp(e->jb, 1);
}

void
ts__eval_add_samples(ts__evaluator *e, size_t n)
{
    e->cur_samples += n;
    if (e->cur_samples > e->max_samples)
        ts__eval_fail(
            e, TS_ELIMIT,
            "query processing would load too many samples into memory in query execution");
}

void
ts__eval_check_time(ts__evaluator *e)
{
    size_t bytes = e->qa->allocated + e->sa->allocated;
    for (size_t i = 0; i < sizeof(e->inner) / sizeof(e->inner[0]); i++)
        if (e->inner[i])
            bytes += e->inner[i]->allocated;
    if (bytes > e->max_bytes)
        ts__eval_fail(
            e, TS_ELIMIT,
            "query processing would load too many samples into memory in query execution");
    if (e->deadline_ns && ts_mono_ns() > e->deadline_ns)
        ts__eval_fail(e, TS_ETIMEOUT, "query timed out in expression evaluation");
}

/* ----------------------------------------------------------- label helpers */

const ts_labels *
ts__labels_set(ts_arena *a, const ts_labels *l, const char *name, const char *value)
{
    ts_label *tmp = ts_arena_alloc(a, (l->n + 1) * sizeof(ts_label));
    size_t k = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (strcmp(l->l[i].name, name) != 0)
            tmp[k++] = l->l[i];
    if (value && value[0])
        tmp[k++] = (ts_label){name, value};
    return ts_labels_new_arena(a, tmp, k);
}

const ts_labels *
ts__labels_keep(ts_arena *a, const ts_labels *l, char *const *names, size_t n, bool include)
{
    ts_label *tmp = ts_arena_alloc(a, (l->n + 1) * sizeof(ts_label));
    size_t k = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++)
            listed = strcmp(l->l[i].name, names[j]) == 0;
        if (listed == include)
            tmp[k++] = l->l[i];
    }
    if (k == l->n)
        return l;
    return ts_labels_new_arena(a, tmp, k);
}

const ts_labels *
ts__label_cache_get(const ts__label_cache *c, uint64_t key)
{
    if (!c->map)
        return NULL;
    size_t *slot = ts__hash_index_get(c->map, key);
    return slot ? c->out[*slot - 1] : NULL;
}

void
ts__label_cache_put(ts__evaluator *e, ts__label_cache *c, uint64_t key, const ts_labels *out)
{
    if (c->n >= TS__LABEL_CACHE_MAX)
        return;
    if (!c->map) {
        c->map = TS_ARENA_NEW(e->qa, ts__hash_index);
        ts__hash_index_init(c->map, e->qa, 64);
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        const ts_labels **no = TS_ARENA_ARRAY(e->qa, const ts_labels *, ncap);
        if (c->n)
            memcpy(no, c->out, c->n * sizeof(*no));
        c->out = no;
        c->cap = ncap;
    }
    bool found;
    size_t *slot = ts__hash_index_put(c->map, key, &found);
    if (found)
        return;
    c->out[c->n++] = out;
    *slot = c->n;
}

/* Whether out is exactly l without its __name__ label. */
static bool
is_l_without_name(const ts_labels *out, const ts_labels *l)
{
    if (out->n + 1 != l->n)
        return false;
    uint32_t j = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        if (strcmp(l->l[i].name, TS_METRIC_NAME) == 0)
            continue;
        if (j >= out->n || strcmp(l->l[i].name, out->l[j].name) != 0 ||
            strcmp(l->l[i].value, out->l[j].value) != 0)
            return false;
        j++;
    }
    return true;
}

const ts_labels *
ts__drop_name(ts__evaluator *e, const ts_labels *l)
{
    if (!ts_labels_has(l, TS_METRIC_NAME))
        return l;
    const ts_labels *c = ts__label_cache_get(&e->dropped, ts_labels_hash(l));
    if (c && is_l_without_name(c, l))
        return c;
    const ts_labels *out = ts__labels_set(e->qa, l, TS_METRIC_NAME, "");
    ts__label_cache_put(e, &e->dropped, ts_labels_hash(l), out);
    return out;
}

const ts_labels *
ts__series_dropped(ts__evaluator *e, ts__loaded_series *ls)
{
    if (!ls->dropped)
        ls->dropped = ts_labels_has(ls->l, TS_METRIC_NAME)
                          ? ts__labels_set(e->qa, ls->l, TS_METRIC_NAME, "")
                          : ls->l;
    return ls->dropped;
}

bool
ts__sel_dropped_distinct(ts__evaluator *e, ts__selector_data *sd)
{
    if (sd->distinct_dropped == 0) {
        sd->distinct_dropped = 1;
        ts__hash_index m;
        ts__hash_index_init(&m, e->sa, sd->n);
        for (size_t i = 0; i < sd->n && sd->distinct_dropped > 0; i++) {
            const ts_labels *l = ts__series_dropped(e, &sd->series[i]);
            bool found;
            size_t *slot = ts__hash_index_put(&m, ts_labels_hash(l), &found);
            if (found) /* equal sets, or a hash collision: check at every step then */
                sd->distinct_dropped = -1;
            else
                *slot = i + 1;
        }
    }
    return sd->distinct_dropped > 0;
}

/* -------------------------------------------------------------- hash index */

void
ts__hash_index_init(ts__hash_index *m, ts_arena *a, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap <<= 1;
    m->a = a;
    m->cap = cap;
    m->len = 0;
    m->keys = ts_arena_calloc(a, cap, sizeof(uint64_t));
    m->vals = ts_arena_calloc(a, cap, sizeof(size_t));
}

/* Slot values are stored +1 so that 0 marks an empty slot. */
static size_t
hash_index_slot(const ts__hash_index *m, uint64_t key)
{
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
    while (m->vals[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

size_t *
ts__hash_index_put(ts__hash_index *m, uint64_t key, bool *found)
{
    if ((m->len + 1) * 2 > m->cap) {
        ts__hash_index old = *m;
        m->cap *= 2;
        m->keys = ts_arena_calloc(m->a, m->cap, sizeof(uint64_t));
        m->vals = ts_arena_calloc(m->a, m->cap, sizeof(size_t));
        for (size_t i = 0; i < old.cap; i++)
            if (old.vals[i]) {
                size_t s = hash_index_slot(m, old.keys[i]);
                m->keys[s] = old.keys[i];
                m->vals[s] = old.vals[i];
            }
    }
    size_t s = hash_index_slot(m, key);
    *found = m->vals[s] != 0;
    if (!*found) {
        m->keys[s] = key;
        m->vals[s] = 1;
        m->len++;
    }
    return &m->vals[s];
}

size_t *
ts__hash_index_get(const ts__hash_index *m, uint64_t key)
{
    size_t s = hash_index_slot(m, key);
    return m->vals[s] ? &m->vals[s] : NULL;
}

void
ts__check_dup_labels(ts__evaluator *e, const ts__vector_elem *v, size_t n)
{
    if (n < 2)
        return;
    ts__hash_index m;
    ts__hash_index_init(&m, e->sa, n);
    for (size_t i = 0; i < n; i++) {
        bool found;
        size_t *slot = ts__hash_index_put(&m, ts_labels_hash(v[i].l), &found);
        if (found && ts_labels_equal(v[*slot - 1].l, v[i].l))
            ts__eval_fail(e, TS_EINVAL, "vector cannot contain metrics with the same labelset");
        if (!found)
            *slot = i + 1;
    }
}

/* --------------------------------------------------------------- loading */

const ts_promql_expr *
ts__unwrap(const ts_promql_expr *x)
{
    while (x && (x->kind == TS_PROMQL_PAREN || x->kind == TS_PROMQL_STEP_INVARIANT))
        x = x->kind == TS_PROMQL_PAREN ? x->u.paren : x->u.step_invariant;
    return x;
}

/* a - b, clamped to the int64 range (times near the ends of the range come
 * from hostile @ values and offsets; wrapping around would be undefined). */
static int64_t
sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

static int64_t
at_time(const ts__evaluator *e, ts_promql_at_kind at, int64_t at_ms, int64_t t)
{
    switch (at) {
    case TS_PROMQL_AT_TIMESTAMP: return at_ms;
    case TS_PROMQL_AT_START: return e->start;
    case TS_PROMQL_AT_END: return e->end;
    default: return t;
    }
}

/* A selector to load, with the data range its evaluation can touch. */
typedef struct sel_req {
    ts_promql_expr *vs; /* the vector selector node */
    int64_t mint, maxt;
    int64_t range; /* matrix selector range, 0 for instant */
} sel_req;

typedef struct sel_list {
    sel_req *r;
    size_t n, cap;
} sel_list;

/* Collects selectors; [lo, hi] are the times at which x may be evaluated. */
static void
collect(ts__evaluator *e, ts_promql_expr *x, int64_t lo, int64_t hi, sel_list *out)
{
    if (!x)
        return;
    switch (x->kind) {
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING: return;
    case TS_PROMQL_VECTOR_SELECTOR:
    case TS_PROMQL_MATRIX_SELECTOR: {
        ts_promql_expr *vs = x->kind == TS_PROMQL_MATRIX_SELECTOR ? x->u.ms.vs : x;
        int64_t range = x->kind == TS_PROMQL_MATRIX_SELECTOR ? x->u.ms.range_ms : 0;
        const ts_promql_vector_selector *s = &vs->u.vs;
        int64_t rlo = sat_sub(at_time(e, s->at, s->at_ms, lo), s->original_offset);
        int64_t rhi = sat_sub(at_time(e, s->at, s->at_ms, hi), s->original_offset);
        TS_GROW(out->r, out->cap, out->n + 1);
        out->r[out->n++] = (sel_req){vs, sat_sub(rlo, range ? range : e->lookback), rhi, range};
        return;
    }
    case TS_PROMQL_SUBQUERY: {
        const ts_promql_subquery *sq = &x->u.sq;
        int64_t wlo =
            sat_sub(sat_sub(at_time(e, sq->at, sq->at_ms, lo), sq->original_offset), sq->range_ms);
        int64_t whi = sat_sub(at_time(e, sq->at, sq->at_ms, hi), sq->original_offset);
        collect(e, sq->expr, wlo, whi, out);
        return;
    }
    case TS_PROMQL_CALL:
        for (size_t i = 0; i < x->u.call.nargs; i++)
            collect(e, x->u.call.args[i], lo, hi, out);
        return;
    case TS_PROMQL_AGGREGATE:
        collect(e, x->u.agg.param, lo, hi, out);
        collect(e, x->u.agg.expr, lo, hi, out);
        return;
    case TS_PROMQL_BINARY:
        collect(e, x->u.bin.lhs, lo, hi, out);
        collect(e, x->u.bin.rhs, lo, hi, out);
        return;
    case TS_PROMQL_UNARY: collect(e, x->u.unary.expr, lo, hi, out); return;
    case TS_PROMQL_PAREN: collect(e, x->u.paren, lo, hi, out); return;
    case TS_PROMQL_STEP_INVARIANT: collect(e, x->u.step_invariant, lo, hi, out); return;
    }
}

static ts_select_hints
sel_hints(const sel_req *r)
{
    return (ts_select_hints){.start = r->mint, .end = r->maxt, .range = r->range};
}

static int
load_series(ts__evaluator *e, ts_querier *q, sel_req *r, ts_promql_result *res)
{
    const ts_promql_vector_selector *s = &r->vs->u.vs;
    ts_select_hints hints = sel_hints(r);
    ts_series_set *ss = NULL;
    ts_error serr = {0};
    int rc = q->ops->select(q, true, &hints, s->matchers, s->nmatchers, &ss, &serr);
    if (rc != 0)
        return ts_error_set(e->err, rc, "%s", serr.msg[0] ? serr.msg : ts_strerror(rc));
    ts__selector_data *sd = TS_ARENA_NEW(e->qa, ts__selector_data);
    size_t cap = 0;
    ts_sample *buf = NULL;
    size_t bcap = 0;
    while (ts_ss_next(ss)) {
        if (e->deadline_ns && ts_mono_ns() > e->deadline_ns) {
            ts_free(buf);
            ts_ss_free(ss);
            return ts_error_set(e->err, TS_ETIMEOUT, "expanding series: context deadline exceeded");
        }
        ts_series *se = ts_ss_at(ss);
        ts_iterator *it = se->ops->iterator(se);
        size_t n = 0;
        bool stale = false;
        ts_val_type vt = ts_it_seek(it, r->mint);
        while (vt == TS_VAL_FLOAT) {
            int64_t t;
            double v;
            ts_it_at(it, &t, &v);
            if (t > r->maxt)
                break;
            TS_GROW(buf, bcap, n + 1);
            buf[n++] = (ts_sample){t, v};
            if (ts_is_stale_nan(v))
                stale = true;
            vt = ts_it_next(it);
        }
        rc = ts_it_err(it);
        ts_it_free(it);
        if (rc != 0) {
            ts_free(buf);
            ts_ss_free(ss);
            return ts_error_set(e->err, rc, "iterating series: %s", ts_strerror(rc));
        }
        if (n == 0)
            continue;
        /* Loaded samples count against the same limit as evaluation (a
         * guard against a query loading more than memory allows). */
        e->loaded += n;
        if (e->loaded > e->max_samples) {
            ts_free(buf);
            ts_ss_free(ss);
            return ts_error_set(e->err, TS_ELIMIT,
                                "query processing would load too many samples into memory in "
                                "query execution");
        }
        if (sd->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            ts__loaded_series *ns = TS_ARENA_ARRAY(e->qa, ts__loaded_series, ncap);
            if (sd->n)
                memcpy(ns, sd->series, sd->n * sizeof(*ns));
            sd->series = ns;
            cap = ncap;
        }
        ts__loaded_series *ls = &sd->series[sd->n++];
        ls->l = ts_labels_dup_arena(e->qa, se->labels);
        ls->s = ts_arena_memdup(e->qa, buf, n * sizeof(ts_sample));
        ls->n = n;
        ls->has_stale = stale;
    }
    ts_free(buf);
    if (ss->error.code != 0) {
        rc = ss->error.code;
        ts_error_set(e->err, rc, "%s", ss->error.msg);
        ts_ss_free(ss);
        return rc;
    }
    for (size_t i = 0; i < ss->nwarnings; i++) {
        const char **nw = TS_ARENA_ARRAY(e->qa, const char *, res->nwarnings + 1);
        if (res->nwarnings)
            memcpy(nw, res->warnings, res->nwarnings * sizeof(*nw));
        nw[res->nwarnings++] = ts_arena_strdup(e->qa, ss->warnings[i]);
        res->warnings = nw;
    }
    ts_ss_free(ss);
    r->vs->aux = sd;
    return 0;
}

static int
load_all(ts__evaluator *e, ts_queryable *qb, ts_promql_expr *root, ts_promql_result *res)
{
    sel_list sl = {0};
    collect(e, root, e->start, e->end, &sl);
    if (sl.n == 0)
        return 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    for (size_t i = 0; i < sl.n; i++) {
        if (sl.r[i].mint < mint)
            mint = sl.r[i].mint;
        if (sl.r[i].maxt > maxt)
            maxt = sl.r[i].maxt;
    }
    if (!qb) {
        ts_free(sl.r);
        return ts_error_set(e->err, TS_EINVAL, "query has selectors but no queryable was given");
    }
    ts_querier *q = NULL;
    int rc = ts_queryable_querier(qb, mint, maxt, &q);
    if (rc != 0) {
        ts_free(sl.r);
        return ts_error_set(e->err, rc, "opening querier: %s", ts_strerror(rc));
    }
    if (sl.n > 1 && q->ops->prefetch) {
        /* a remote querier fetches every selector at once: one round trip
         * to the stores for the query, not one per selector */
        ts_select_hints *hs = ts_calloc(sl.n, sizeof(*hs));
        ts_matcher *const **ms = ts_calloc(sl.n, sizeof(*ms));
        size_t *nms = ts_calloc(sl.n, sizeof(*nms));
        for (size_t i = 0; i < sl.n; i++) {
            hs[i] = sel_hints(&sl.r[i]);
            ms[i] = sl.r[i].vs->u.vs.matchers;
            nms[i] = sl.r[i].vs->u.vs.nmatchers;
        }
        q->ops->prefetch(q, hs, ms, nms, sl.n);
        ts_free(hs);
        ts_free(ms);
        ts_free(nms);
    }
    for (size_t i = 0; i < sl.n && rc == 0; i++)
        rc = load_series(e, q, &sl.r[i], res);
    ts_querier_close(q);
    ts_free(sl.r);
    return rc;
}

/* ------------------------------------------------------------- selectors */

/* Number of samples with t < bound (strict) or t <= bound, starting from the
 * hint *pos: a few linear steps forward (the common case in a range query),
 * else a binary search.  Updates *pos. */
static size_t
advance(const ts_sample *s, size_t n, size_t *pos, int64_t bound, bool inclusive)
{
    size_t p = *pos <= n ? *pos : n;
    size_t lo = 0, hi = n;
#define BELOW(i) (inclusive ? s[(i)].t <= bound : s[(i)].t < bound)
    if (p > 0 && BELOW(p - 1)) {
        /* The answer is at or after p. */
        for (int k = 0; k < 8 && p < n && BELOW(p); k++)
            p++;
        if (p == n || !BELOW(p)) {
            *pos = p;
            return p;
        }
        lo = p;
    } else if (p < n && !BELOW(p)) {
        hi = p; /* the answer is at or before p */
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (BELOW(mid))
            lo = mid + 1;
        else
            hi = mid;
    }
#undef BELOW
    *pos = lo;
    return lo;
}

static ts__value
eval_vector_selector(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_vector_selector *s = &x->u.vs;
    ts__selector_data *sd = x->aux;
    if (!sd || sd->n == 0)
        return ts__value_vector(NULL, 0);
    int64_t ref = sat_sub(at_time(e, s->at, s->at_ms, t), s->offset);
    ts__vector_elem *out = ts_arena_alloc(e->sa, sd->n * sizeof(ts__vector_elem));
    size_t k = 0;
    for (size_t i = 0; i < sd->n; i++) {
        ts__loaded_series *ls = &sd->series[i];
        long j = (long)advance(ls->s, ls->n, &ls->hi, ref, true) - 1;
        if (j < 0 || ls->s[j].t < sat_sub(ref, e->lookback) || ts_is_stale_nan(ls->s[j].v))
            continue;
        out[k++] = (ts__vector_elem){ls->l, ls->s[j].v, ls->s[j].t};
    }
    ts__eval_add_samples(e, k);
    return ts__value_vector(out, k);
}

static ts__value
eval_matrix_selector(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_expr *vsx = x->u.ms.vs;
    const ts_promql_vector_selector *s = &vsx->u.vs;
    ts__selector_data *sd = vsx->aux;
    ts__value r = {0};
    r.type = TS_PROMQL_VT_MATRIX;
    r.range_ms = x->u.ms.range_ms;
    r.range_end = sat_sub(at_time(e, s->at, s->at_ms, t), s->offset);
    if (!sd || sd->n == 0)
        return r;
    int64_t mint = sat_sub(r.range_end, r.range_ms);
    r.sel = sd;
    r.mat = ts_arena_alloc(e->sa, sd->n * sizeof(ts__range_series));
    size_t total = 0;
    for (size_t i = 0; i < sd->n; i++) {
        ts__loaded_series *ls = &sd->series[i];
        size_t a = advance(ls->s, ls->n, &ls->lo, mint, false);
        long b = (long)advance(ls->s, ls->n, &ls->hi, r.range_end, true) - 1;
        if (b < (long)a)
            continue;
        size_t cnt = (size_t)b - a + 1;
        const ts_sample *win = ls->s + a;
        if (ls->has_stale) {
            ts_sample *cp = ts_arena_alloc(e->sa, cnt * sizeof(ts_sample));
            size_t m = 0;
            for (size_t j = 0; j < cnt; j++)
                if (!ts_is_stale_nan(win[j].v))
                    cp[m++] = win[j];
            win = cp;
            cnt = m;
        }
        if (cnt == 0)
            continue;
        r.mat[r.n++] = (ts__range_series){ls->l, win, cnt, ls};
        total += cnt;
    }
    ts__eval_add_samples(e, total);
    return r;
}

/* Resets a scratch arena between steps.  An arena keeps only its first
 * block over a reset, so a step that needed more would give its blocks back
 * to malloc and take fresh ones (fresh pages: page faults) at every step;
 * instead, the arena is re-created with one block the size of that step's
 * use, which the following steps then reuse. */
#define SCRATCH_BLOCK_MAX ((size_t)64 << 20)

static void
reset_scratch(ts_arena *a)
{
    size_t used = a->allocated;
    if (used <= a->block_size || a->block_size >= SCRATCH_BLOCK_MAX) {
        ts_arena_reset(a);
        return;
    }
    size_t want = used + used / 4;
    ts_arena_fini(a);
    ts_arena_init(a, want < SCRATCH_BLOCK_MAX ? want : SCRATCH_BLOCK_MAX);
}

/* Appends (t, v) to the series of labels l in an accumulating matrix. */
typedef struct acc {
    ts__hash_index map;
    ts__range_series *ser;
    size_t n, cap;
    size_t *caps; /* capacity of each series' sample array */
    ts_arena *a;
} acc;

static void
acc_init(acc *m, ts_arena *a)
{
    memset(m, 0, sizeof(*m));
    m->a = a;
    ts__hash_index_init(&m->map, a, 16);
}

static void
acc_add(acc *m, const ts_labels *l, int64_t t, double v, bool copy_labels)
{
    bool found;
    size_t *slot = ts__hash_index_put(&m->map, ts_labels_hash(l), &found);
    size_t idx;
    if (found) {
        idx = *slot - 1;
    } else {
        if (m->n == m->cap) {
            size_t ncap = m->cap ? m->cap * 2 : 8;
            ts__range_series *ns = TS_ARENA_ARRAY(m->a, ts__range_series, ncap);
            size_t *nc = TS_ARENA_ARRAY(m->a, size_t, ncap);
            if (m->n) {
                memcpy(ns, m->ser, m->n * sizeof(*ns));
                memcpy(nc, m->caps, m->n * sizeof(*nc));
            }
            m->ser = ns;
            m->caps = nc;
            m->cap = ncap;
        }
        idx = m->n++;
        m->ser[idx] = (ts__range_series){copy_labels ? ts_labels_dup_arena(m->a, l) : l, NULL, 0};
        m->caps[idx] = 0;
        *slot = idx + 1;
    }
    ts__range_series *s = &m->ser[idx];
    if (s->n == m->caps[idx]) {
        size_t ncap = m->caps[idx] ? m->caps[idx] * 2 : 4;
        ts_sample *ns = TS_ARENA_ARRAY(m->a, ts_sample, ncap);
        if (s->n)
            memcpy(ns, s->s, s->n * sizeof(*ns));
        s->s = ns;
        m->caps[idx] = ncap;
    }
    ((ts_sample *)s->s)[s->n++] = (ts_sample){t, v};
}

/* Results of a subquery's inner expression by inner timestamp, kept for the
 * whole query (hung off the subquery node's aux).  Inner steps are absolute
 * multiples of the subquery step, so consecutive outer steps (and enclosing
 * subqueries) share most of them: each is evaluated once, as Prometheus
 * evaluates a subquery once over the whole range. */
typedef struct sq_memo {
    ts__hash_index idx; /* timestamp -> index + 1 into vals */
    ts__value *vals;
    size_t n, cap;
    ts__hash_index labels; /* interned label sets (query arena) by hash */
    const ts_labels **lsets;
    size_t nl, lcap;
} sq_memo;

static const ts_labels *
intern_labels(ts__evaluator *e, sq_memo *m, const ts_labels *l)
{
    bool found;
    size_t *slot = ts__hash_index_put(&m->labels, ts_labels_hash(l), &found);
    if (found && ts_labels_equal(m->lsets[*slot - 1], l))
        return m->lsets[*slot - 1];
    const ts_labels *c = ts_labels_dup_arena(e->qa, l);
    if (found)
        return c; /* hash collision: keep the first, copy this one */
    if (m->nl == m->lcap) {
        size_t ncap = m->lcap ? m->lcap * 2 : 16;
        const ts_labels **nl = TS_ARENA_ARRAY(e->qa, const ts_labels *, ncap);
        if (m->nl)
            memcpy(nl, m->lsets, m->nl * sizeof(*nl));
        m->lsets = nl;
        m->lcap = ncap;
    }
    m->lsets[m->nl++] = c;
    *slot = m->nl;
    return c;
}

static ts__value
memo_eval(ts__evaluator *e, const ts_promql_expr *x, int64_t it)
{
    sq_memo *m = x->aux;
    if (!m) {
        m = TS_ARENA_NEW(e->qa, sq_memo);
        ts__hash_index_init(&m->idx, e->qa, 64);
        ts__hash_index_init(&m->labels, e->qa, 64);
        ((ts_promql_expr *)x)->aux = m; /* aux is the engine's to use */
    }
    size_t *slot = ts__hash_index_get(&m->idx, (uint64_t)it);
    if (slot)
        return m->vals[*slot - 1];
    /* Evaluate in this depth's own scratch arena: the result is copied into
     * the query arena below, so the arena's garbage can go right after. */
    ts_arena *outer = e->sa;
    int d = e->depth;
    if (d < (int)(sizeof(e->inner) / sizeof(e->inner[0]))) {
        if (!e->inner[d])
            e->inner[d] = ts_arena_new(0);
        e->sa = e->inner[d];
        e->depth++;
    }
    ts__value v = ts__eval(e, x->u.sq.expr, it);
    if (v.type == TS_PROMQL_VT_VECTOR) {
        ts__vector_elem *c = TS_ARENA_ARRAY(e->qa, ts__vector_elem, v.n + 1);
        for (size_t i = 0; i < v.n; i++)
            c[i] = (ts__vector_elem){intern_labels(e, m, v.vec[i].l), v.vec[i].v, v.vec[i].t};
        v.vec = c;
    }
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        ts__value *nv = TS_ARENA_ARRAY(e->qa, ts__value, ncap);
        if (m->n)
            memcpy(nv, m->vals, m->n * sizeof(*nv));
        m->vals = nv;
        m->cap = ncap;
    }
    if (e->sa != outer) {
        reset_scratch(e->sa);
        e->sa = outer;
        e->depth--;
    }
    m->vals[m->n++] = v;
    bool found;
    *ts__hash_index_put(&m->idx, (uint64_t)it, &found) = m->n;
    return v;
}

static ts__value
eval_subquery(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    const ts_promql_subquery *sq = &x->u.sq;
    int64_t step = sq->step_ms > 0 ? sq->step_ms : e->interval;
    int64_t wend = sat_sub(at_time(e, sq->at, sq->at_ms, t), sq->offset);
    int64_t wstart = sat_sub(wend, sq->range_ms);
    /* First absolute multiple of step at or after wstart (C division truncates like Go's). */
    int64_t it = step * (wstart / step);
    if (it < wstart && it <= INT64_MAX - step)
        it += step;
    acc m;
    acc_init(&m, e->sa);
    for (; it <= wend; it += step) {
        ts__eval_check_time(e);
        ts__value v = memo_eval(e, x, it);
        if (v.type == TS_PROMQL_VT_SCALAR) {
            acc_add(&m, ts_labels_empty(), it, v.scalar, false);
            ts__eval_add_samples(e, 1);
        } else {
            for (size_t i = 0; i < v.n; i++)
                acc_add(&m, v.vec[i].l, it, v.vec[i].v, false);
            ts__eval_add_samples(e, v.n);
        }
        if (it > INT64_MAX - step)
            break;
    }
    ts__value r = {0};
    r.type = TS_PROMQL_VT_MATRIX;
    r.mat = m.ser;
    r.n = m.n;
    r.range_end = wend;
    r.range_ms = sq->range_ms;
    return r;
}

ts__value
ts__eval_range_arg(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    x = ts__unwrap(x);
    if (x->kind == TS_PROMQL_MATRIX_SELECTOR)
        return eval_matrix_selector(e, x, t);
    if (x->kind == TS_PROMQL_SUBQUERY)
        return eval_subquery(e, x, t);
    ts__eval_fail(e, TS_EINVAL, "expected a range vector argument");
}

static ts__value
eval_unary(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    ts__value v = ts__eval(e, x->u.unary.expr, t);
    if (x->u.unary.op != TS_PROMQL_OP_SUB)
        return v;
    if (v.type == TS_PROMQL_VT_SCALAR) {
        v.scalar = -v.scalar;
        return v;
    }
    ts__vector_elem *out = ts_arena_alloc(e->sa, (v.n + 1) * sizeof(ts__vector_elem));
    for (size_t i = 0; i < v.n; i++)
        out[i] = (ts__vector_elem){ts__drop_name(e, v.vec[i].l), -v.vec[i].v, t};
    ts__check_dup_labels(e, out, v.n);
    return ts__value_vector(out, v.n);
}

ts__value
ts__eval(ts__evaluator *e, const ts_promql_expr *x, int64_t t)
{
    switch (x->kind) {
    case TS_PROMQL_NUMBER: return ts__value_scalar(x->u.number);
    case TS_PROMQL_STRING: {
        ts__value r = {0};
        r.type = TS_PROMQL_VT_STRING;
        r.str = x->u.string.p;
        return r;
    }
    case TS_PROMQL_PAREN: return ts__eval(e, x->u.paren, t);
    case TS_PROMQL_STEP_INVARIANT: return ts__eval(e, x->u.step_invariant, t);
    case TS_PROMQL_VECTOR_SELECTOR: return eval_vector_selector(e, x, t);
    case TS_PROMQL_MATRIX_SELECTOR: return eval_matrix_selector(e, x, t);
    case TS_PROMQL_SUBQUERY: return eval_subquery(e, x, t);
    case TS_PROMQL_UNARY: return eval_unary(e, x, t);
    case TS_PROMQL_BINARY: return ts__eval_binary(e, x, t);
    case TS_PROMQL_AGGREGATE: return ts__eval_aggregate(e, x, t);
    case TS_PROMQL_CALL: return ts__eval_call(e, x, t);
    }
    ts__eval_fail(e, TS_EINVAL, "unhandled expression kind %d", (int)x->kind);
}

/* --------------------------------------------------------------- queries */

static int
cmp_mseries(const void *a, const void *b)
{
    return ts_labels_cmp(((const ts_promql_mseries *)a)->labels,
                         ((const ts_promql_mseries *)b)->labels);
}

/* Copies an evaluated value into the result (query arena). */
static void
set_result(ts__evaluator *e, ts_promql_result *res, const ts__value *v, int64_t t)
{
    res->type = v->type;
    res->t = t;
    switch (v->type) {
    case TS_PROMQL_VT_SCALAR: res->scalar = v->scalar; break;
    case TS_PROMQL_VT_STRING: res->str = ts_arena_strdup(e->qa, v->str); break;
    case TS_PROMQL_VT_VECTOR:
        res->vec = TS_ARENA_ARRAY(e->qa, ts_promql_vsample, v->n + 1);
        for (size_t i = 0; i < v->n; i++)
            res->vec[i] =
                (ts_promql_vsample){ts_labels_dup_arena(e->qa, v->vec[i].l), t, v->vec[i].v};
        res->nvec = v->n;
        break;
    case TS_PROMQL_VT_MATRIX:
        res->mat = TS_ARENA_ARRAY(e->qa, ts_promql_mseries, v->n + 1);
        for (size_t i = 0; i < v->n; i++)
            res->mat[i] = (ts_promql_mseries){
                ts_labels_dup_arena(e->qa, v->mat[i].l),
                ts_arena_memdup(e->qa, v->mat[i].s, v->mat[i].n * sizeof(ts_sample)), v->mat[i].n};
        res->nmat = v->n;
        qsort(res->mat, res->nmat, sizeof(*res->mat), cmp_mseries);
        break;
    default: break;
    }
}

static void
free_inner(ts__evaluator *e)
{
    for (size_t i = 0; i < sizeof(e->inner) / sizeof(e->inner[0]); i++) {
        ts_arena_free(e->inner[i]);
        e->inner[i] = NULL;
    }
}

static int
run(ts_promql_engine *eng, ts_queryable *qb, const char *expr, size_t len, int64_t start,
    int64_t end, int64_t step, bool range, ts_promql_query **out, ts_error *err)
{
    *out = NULL;
    ts_error local;
    if (!err)
        err = &local;
    ts_error_clear(err);
    if (range && (step <= 0 || end < start))
        return ts_error_set(err, TS_EINVAL, "invalid range query: need step > 0 and end >= start");

    ts_promql_query *q = ts_calloc(1, sizeof(*q));
    ts_arena_init(&q->arena, 0);
    ts_arena_init(&q->scratch, 0);
    int rc = ts_promql_parse(&q->arena, expr, len, &q->root, err);
    if (rc != 0) {
        ts_promql_query_close(q);
        return rc;
    }
    if (range && q->root->type != TS_PROMQL_VT_SCALAR && q->root->type != TS_PROMQL_VT_VECTOR) {
        ts_error_set(err, TS_EPARSE,
                     "invalid expression type \"%s\" for range query, must be Scalar or instant "
                     "Vector",
                     ts_promql_value_type_doc(q->root->type));
        ts_promql_query_close(q);
        return TS_EPARSE;
    }

    /* volatile: modified between setjmp and a possible longjmp. */
    ts__evaluator *volatile e = ts_arena_alloc(&q->arena, sizeof(ts__evaluator));
    memset(e, 0, sizeof(*e));
    e->eng = eng;
    e->qa = &q->arena;
    e->sa = &q->scratch;
    e->start = start;
    e->end = end;
    e->interval = eng->opts.default_step_ms;
    e->lookback = eng->opts.lookback_ms;
    e->max_samples = eng->opts.max_samples;
    e->max_bytes = eng->opts.max_bytes;
    e->err = err;
    if (eng->opts.timeout_ms > 0)
        e->deadline_ns = ts_mono_ns() + (uint64_t)eng->opts.timeout_ms * 1000000ULL;

    ts_promql_result *res = &q->result;
    rc = load_all(e, qb, q->root, res);
    if (rc != 0) {
        ts_promql_query_close(q);
        return rc;
    }
    if (setjmp(e->jb) != 0) {
        rc = e->code;
        free_inner(e);
        ts_promql_query_close(q);
        return rc;
    }
    if (!range) {
        ts__eval_check_time(e);
        ts__value v = ts__eval(e, q->root, start);
        set_result(e, res, &v, start);
    } else {
        acc m;
        acc_init(&m, e->qa);
        size_t kept = 0;
        for (int64_t t = start; t <= end; t += step) {
            ts__eval_check_time(e);
            e->cur_samples = kept;
            ts__value v = ts__eval(e, q->root, t);
            if (v.type == TS_PROMQL_VT_SCALAR) {
                acc_add(&m, ts_labels_empty(), t, v.scalar, true);
                kept++;
            } else {
                for (size_t i = 0; i < v.n; i++)
                    acc_add(&m, v.vec[i].l, t, v.vec[i].v, true);
                kept += v.n;
            }
            ts__eval_add_samples(e, 0);
            reset_scratch(e->sa);
            if (step <= 0 || t > INT64_MAX - step)
                break;
        }
        res->type = TS_PROMQL_VT_MATRIX;
        res->mat = TS_ARENA_ARRAY(e->qa, ts_promql_mseries, m.n + 1);
        for (size_t i = 0; i < m.n; i++)
            res->mat[i] = (ts_promql_mseries){m.ser[i].l, (ts_sample *)m.ser[i].s, m.ser[i].n};
        res->nmat = m.n;
        qsort(res->mat, res->nmat, sizeof(*res->mat), cmp_mseries);
    }
    free_inner(e);
    ts_arena_fini(&q->scratch);
    ts_arena_init(&q->scratch, 0);
    *out = q;
    return 0;
}

int
ts_promql_query_instant(ts_promql_engine *e, ts_queryable *qb, const char *expr, size_t len,
                        int64_t t_ms, ts_promql_query **out, ts_error *err)
{
    return run(e, qb, expr, len, t_ms, t_ms, 0, false, out, err);
}

int
ts_promql_query_range(ts_promql_engine *e, ts_queryable *qb, const char *expr, size_t len,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms, ts_promql_query **out,
                      ts_error *err)
{
    return run(e, qb, expr, len, start_ms, end_ms, step_ms, true, out, err);
}

void
ts_promql_format_value(double v, char *buf, size_t size)
{
    ts_format_float_go(v, 'f', buf, size);
}

const ts_promql_result *
ts_promql_query_result(const ts_promql_query *q)
{
    return &q->result;
}

void
ts_promql_query_close(ts_promql_query *q)
{
    if (!q)
        return;
    ts_promql_expr_free(q->root);
    ts_arena_fini(&q->scratch);
    ts_arena_fini(&q->arena);
    ts_free(q);
}
