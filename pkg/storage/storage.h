/*
 * The storage interface: the narrow waist between the places data comes from
 * (the local TSDB, a remote store over nng, the querier's merged and
 * deduplicated view) and the places it goes (the PromQL engine, the store API
 * server, the HTTP API).  Modelled on Prometheus' storage/interface.go.
 *
 * Everything here is a vtable ("ops") plus a base struct that an
 * implementation embeds as its first member, so a `struct my_set *` can be
 * passed as a `ts_series_set *`.
 *
 * Lifetimes (read these before writing an implementation or a caller):
 *  - A ts_querier covers [mint, maxt] (ms, inclusive) and is closed with
 *    ts_querier_close().  Every series set it returned must be freed first.
 *  - A ts_series_set owns the ts_series it yields: a series pointer returned
 *    by at() stays valid (labels and all) until the set is freed, even after
 *    next() moves on, so the engine can hold on to series.  Exception: with
 *    ts_select_hints.stream a series (and anything borrowed from it) is only
 *    valid until the next next() (compaction streams series this way).
 *  - A ts_iterator or ts_chunk_iterator obtained from a series is freed by its
 *    caller, before the series set is freed.
 *  - Strings returned by label_names/label_values live in the caller's arena.
 *
 * Thread-safety: queriers, sets and iterators are used by one thread at a
 * time.  Different queriers of one queryable may be used concurrently.
 */
#ifndef TS_STORAGE_STORAGE_H
#define TS_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/matcher.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"

typedef struct ts_sample {
    int64_t t; /* ms since epoch */
    double v;
} ts_sample;

/* Prometheus' staleness marker: a NaN with this exact bit pattern.  Stored and
 * returned bit-exactly; use ts_is_stale_nan() to test (v != v is true for every NaN). */
#define TS_STALE_NAN_BITS 0x7ff0000000000002ULL
double ts_stale_nan(void);
bool ts_is_stale_nan(double v);

/* ---------------------------------------------------------------- iterators */

typedef enum ts_val_type {
    TS_VAL_NONE = 0,  /* exhausted (or error: check err()) */
    TS_VAL_FLOAT = 1, /* a float sample is available via at() */
} ts_val_type;

typedef struct ts_iterator ts_iterator;
typedef struct ts_iterator_ops {
    /* Advances to the next sample. */
    ts_val_type (*next)(ts_iterator *it);
    /* Advances to the first sample with timestamp >= t.  If the current
     * sample already satisfies that, stays put.  Never moves backwards. */
    ts_val_type (*seek)(ts_iterator *it, int64_t t);
    /* The current sample; only valid after next/seek returned TS_VAL_FLOAT. */
    void (*at)(const ts_iterator *it, int64_t *t, double *v);
    /* TS_OK, or the error that ended iteration. */
    int (*err)(const ts_iterator *it);
    void (*free)(ts_iterator *it);
} ts_iterator_ops;

struct ts_iterator {
    const ts_iterator_ops *ops;
};

static inline ts_val_type
ts_it_next(ts_iterator *it)
{
    return it->ops->next(it);
}
static inline ts_val_type
ts_it_seek(ts_iterator *it, int64_t t)
{
    return it->ops->seek(it, t);
}
static inline void
ts_it_at(const ts_iterator *it, int64_t *t, double *v)
{
    it->ops->at(it, t, v);
}
static inline int
ts_it_err(const ts_iterator *it)
{
    return it->ops->err(it);
}
static inline void
ts_it_free(ts_iterator *it)
{
    if (it)
        it->ops->free(it);
}

/* ------------------------------------------------------------------- chunks */

/* Chunk encodings; values as Prometheus' chunkenc.Encoding. */
enum { TS_ENC_NONE = 0, TS_ENC_XOR = 1 };

typedef struct ts_chunk_meta {
    int64_t mint, maxt;  /* first and last sample time in the chunk */
    uint8_t enc;         /* TS_ENC_XOR */
    const uint8_t *data; /* encoded bytes, borrowed: valid until the next next() */
    size_t len;
} ts_chunk_meta;

typedef struct ts_chunk_iterator ts_chunk_iterator;
typedef struct ts_chunk_iterator_ops {
    bool (*next)(ts_chunk_iterator *it);
    const ts_chunk_meta *(*at)(const ts_chunk_iterator *it);
    int (*err)(const ts_chunk_iterator *it);
    void (*free)(ts_chunk_iterator *it);
} ts_chunk_iterator_ops;

struct ts_chunk_iterator {
    const ts_chunk_iterator_ops *ops;
};

/* ------------------------------------------------------------------- series */

typedef struct ts_series ts_series;
typedef struct ts_series_ops {
    /* A new sample iterator over the series, restricted to the querier's
     * [mint, maxt].  Caller frees. */
    ts_iterator *(*iterator)(ts_series *s);
    /* A new iterator over the series' encoded chunks (may extend beyond
     * [mint, maxt]: readers trim).  NULL when the implementation has no
     * chunk form; callers then encode from iterator(). */
    ts_chunk_iterator *(*chunks)(ts_series *s);
} ts_series_ops;

struct ts_series {
    const ts_series_ops *ops;
    const ts_labels *labels; /* owned by the series set */
};

/* --------------------------------------------------------------- series sets */

typedef struct ts_series_set ts_series_set;
typedef struct ts_series_set_ops {
    bool (*next)(ts_series_set *ss);
    ts_series *(*at)(ts_series_set *ss);
    void (*free)(ts_series_set *ss);
} ts_series_set_ops;

struct ts_series_set {
    const ts_series_set_ops *ops;
    /* Set by the implementation when next() returns false because of an
     * error (error.code != 0).  Warnings are non-fatal notes (a store that
     * did not answer, in partial-response mode); owned by the set. */
    ts_error error;
    char **warnings;
    size_t nwarnings;
};

static inline bool
ts_ss_next(ts_series_set *ss)
{
    return ss->ops->next(ss);
}
static inline ts_series *
ts_ss_at(ts_series_set *ss)
{
    return ss->ops->at(ss);
}
static inline void
ts_ss_free(ts_series_set *ss)
{
    if (ss)
        ss->ops->free(ss);
}
/* Helpers for implementations: add a warning (copied), free warnings. */
void ts_ss_add_warning(ts_series_set *ss, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ts_ss_free_warnings(ts_series_set *ss);

/* A series set that yields nothing (optionally with an error); free as usual. */
ts_series_set *ts_series_set_empty(const ts_error *err);

/* ------------------------------------------------------------------ querier */

/* Hints for select (Prometheus' SelectHints): what the caller will do with
 * the data, so a store can prune.  All optional (zero = unknown). */
typedef struct ts_select_hints {
    int64_t start, end; /* ms; the data range actually needed */
    int64_t step;       /* ms, range queries */
    int64_t range;      /* ms, range selector width */
    const char *func;   /* surrounding function name, e.g. "rate"; "series" = labels only */
    bool by;
    const char *const *grouping;
    size_t ngrouping;
    bool skip_chunks; /* only labels are needed (series API) */
    /* The caller uses each series (its labels, iterators made from it) only
     * until the next next(), as compaction does: the set may reuse the
     * memory of the series before, so a set of any size costs the same. */
    bool stream;
} ts_select_hints;

typedef struct ts_querier ts_querier;
typedef struct ts_querier_ops {
    /* Series matching all matchers (at least one), whose samples overlap
     * [mint, maxt].  sorted: series come in ts_labels_cmp order.  On error
     * returns a code and sets *out to NULL; err (may be NULL) gets the text. */
    int (*select)(ts_querier *q, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
                  size_t nms, ts_series_set **out, ts_error *err);
    /* Sorted unique values of label `name` among series matching ms (nms may
     * be 0 = all series), allocated in arena a. */
    int (*label_values)(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms,
                        ts_arena *a, const char ***out, size_t *n, ts_error *err);
    /* Sorted unique label names among series matching ms (nms may be 0). */
    int (*label_names)(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a,
                       const char ***out, size_t *n, ts_error *err);
    void (*close)(ts_querier *q);
    /* Optional (NULL: none).  The selects that will follow, in this order
     * (hints[i], ms[i], nms[i]; the same pointers will be passed to select),
     * so a remote querier can ask for all of them at once instead of one
     * round trip after another.  A select that was not announced, or comes
     * out of order, works as without; announced selects never made are
     * dropped at close. */
    void (*prefetch)(ts_querier *q, const ts_select_hints *hints, ts_matcher *const *const *ms,
                     const size_t *nms, size_t n);
} ts_querier_ops;

struct ts_querier {
    const ts_querier_ops *ops;
    int64_t mint, maxt;
};

static inline void
ts_querier_close(ts_querier *q)
{
    if (q)
        q->ops->close(q);
}

/* Something that hands out queriers for a time range: the TSDB, a store
 * client, the querier's fan-out.  impl is the implementation's state. */
typedef struct ts_queryable {
    int (*querier)(struct ts_queryable *self, int64_t mint, int64_t maxt, ts_querier **out);
    void *impl;
} ts_queryable;

static inline int
ts_queryable_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return qb->querier(qb, mint, maxt, out);
}

/* ----------------------------------------------------------------- appender */

/*
 * An appender batches samples and makes them durable and visible atomically
 * on commit (WAL first, then head), or discards them on rollback.  Both end
 * the appender's life.  Not thread-safe: one appender per scrape loop.
 */
typedef struct ts_appender ts_appender;
typedef struct ts_appender_ops {
    /* ref: a hint from a previous append of the same series (0 = unknown);
     * *ref_out (may be NULL) receives the series' ref for next time.  ls is
     * borrowed for the call.  Errors: TS_EOOO, TS_EDUPSAMPLE, TS_ETOOOLD
     * (the sample is rejected and counted; the batch stays usable). */
    int (*append)(ts_appender *a, uint64_t ref, const ts_labels *ls, int64_t t, double v,
                  uint64_t *ref_out);
    int (*commit)(ts_appender *a);
    int (*rollback)(ts_appender *a);
} ts_appender_ops;

struct ts_appender {
    const ts_appender_ops *ops;
};

#endif
