/*
 * An in-memory series set for the block tests: series given as label sets
 * and sample arrays, offering either XOR chunks (cut every `per_chunk`
 * samples, encoded with pkg/tsdb/chunkenc) or only a sample iterator.
 */
#ifndef TS_TESTS_TSDB_BLOCK_TSET_H
#define TS_TESTS_TSDB_BLOCK_TSET_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/storage/storage.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/mem.h"

typedef struct tseries {
    ts_series base;
    ts_labels *ls;
    ts_sample *s;
    size_t n, cap;
    size_t per_chunk; /* 0 = no chunks() (writer must re-encode) */
    bool trailing;    /* append a junk byte to every chunk (valid, but not our encoder's bytes) */
} tseries;

typedef struct tset {
    ts_series_set base;
    tseries **ser; /* borrowed: the test owns the series */
    size_t n, i;
} tset;

/* ---- sample iterator over an array ---- */
typedef struct tit {
    ts_iterator base;
    const ts_sample *s;
    size_t n, i;
    bool started;
} tit;

static ts_val_type
tit_next(ts_iterator *it)
{
    tit *x = (tit *)it;
    if (x->started)
        x->i++;
    x->started = true;
    return x->i < x->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static ts_val_type
tit_seek(ts_iterator *it, int64_t t)
{
    tit *x = (tit *)it;
    if (!x->started) {
        x->started = true;
        x->i = 0;
    }
    while (x->i < x->n && x->s[x->i].t < t)
        x->i++;
    return x->i < x->n ? TS_VAL_FLOAT : TS_VAL_NONE;
}
static void
tit_at(const ts_iterator *it, int64_t *t, double *v)
{
    const tit *x = (const tit *)it;
    *t = x->s[x->i].t;
    *v = x->s[x->i].v;
}
static int
tit_err(const ts_iterator *it)
{
    return 0;
}
static void
tit_free(ts_iterator *it)
{
    ts_free(it);
}
static const ts_iterator_ops tit_ops = {tit_next, tit_seek, tit_at, tit_err, tit_free};

/* ---- chunk iterator: encodes the samples up front ---- */
typedef struct tcit {
    ts_chunk_iterator base;
    uint8_t **data;
    size_t *len;
    int64_t *mint, *maxt;
    size_t n, i;
    bool started;
    ts_chunk_meta cur;
} tcit;

static bool
tcit_next(ts_chunk_iterator *it)
{
    tcit *x = (tcit *)it;
    if (x->started)
        x->i++;
    x->started = true;
    if (x->i >= x->n)
        return false;
    x->cur = (ts_chunk_meta){x->mint[x->i], x->maxt[x->i], TS_ENC_XOR, x->data[x->i], x->len[x->i]};
    return true;
}
static const ts_chunk_meta *
tcit_at(const ts_chunk_iterator *it)
{
    return &((const tcit *)it)->cur;
}
static int
tcit_err(const ts_chunk_iterator *it)
{
    return 0;
}
static void
tcit_free(ts_chunk_iterator *it)
{
    tcit *x = (tcit *)it;
    for (size_t i = 0; i < x->n; i++)
        ts_free(x->data[i]);
    ts_free(x->data);
    ts_free(x->len);
    ts_free(x->mint);
    ts_free(x->maxt);
    ts_free(x);
}
static const ts_chunk_iterator_ops tcit_ops = {tcit_next, tcit_at, tcit_err, tcit_free};

static ts_iterator *
tser_iterator(ts_series *s)
{
    tseries *ts = (tseries *)s;
    tit *x = ts_calloc(1, sizeof(*x));
    x->base.ops = &tit_ops;
    x->s = ts->s;
    x->n = ts->n;
    return &x->base;
}

static ts_chunk_iterator *
tser_chunks(ts_series *s)
{
    tseries *ts = (tseries *)s;
    tcit *x = ts_calloc(1, sizeof(*x));
    x->base.ops = &tcit_ops;
    size_t nc = (ts->n + ts->per_chunk - 1) / ts->per_chunk;
    x->data = ts_calloc(nc + 1, sizeof(*x->data));
    x->len = ts_calloc(nc + 1, sizeof(*x->len));
    x->mint = ts_calloc(nc + 1, sizeof(*x->mint));
    x->maxt = ts_calloc(nc + 1, sizeof(*x->maxt));
    for (size_t i = 0; i < ts->n; i += ts->per_chunk) {
        ts_xor_chunk *c = ts_xor_chunk_new();
        for (size_t k = i; k < ts->n && k < i + ts->per_chunk; k++)
            ts_xor_chunk_append(c, ts->s[k].t, ts->s[k].v);
        x->mint[x->n] = ts_xor_chunk_mint(c);
        x->maxt[x->n] = ts_xor_chunk_maxt(c);
        x->data[x->n] = ts_xor_chunk_steal(c, &x->len[x->n]);
        if (ts->trailing) {
            x->data[x->n] = ts_realloc(x->data[x->n], x->len[x->n] + 1);
            x->data[x->n][x->len[x->n]++] = 0xAB;
        }
        x->n++;
        ts_xor_chunk_free(c);
    }
    return &x->base;
}

static const ts_series_ops tser_ops_chunks = {tser_iterator, tser_chunks};
static const ts_series_ops tser_ops_plain = {tser_iterator, NULL};

static tseries *
tser_new(ts_labels *ls, size_t per_chunk)
{
    tseries *s = ts_calloc(1, sizeof(*s));
    s->ls = ls;
    s->base.labels = ls;
    s->per_chunk = per_chunk;
    s->base.ops = per_chunk ? &tser_ops_chunks : &tser_ops_plain;
    return s;
}

static void
tser_add(tseries *s, int64_t t, double v)
{
    TS_GROW(s->s, s->cap, s->n + 1);
    s->s[s->n++] = (ts_sample){t, v};
}

static void
tser_free(tseries *s)
{
    if (!s)
        return;
    ts_labels_free(s->ls);
    ts_free(s->s);
    ts_free(s);
}

static bool
tset_next(ts_series_set *ss)
{
    tset *x = (tset *)ss;
    if (x->i >= x->n)
        return false;
    x->i++;
    return true;
}
static ts_series *
tset_at(ts_series_set *ss)
{
    tset *x = (tset *)ss;
    return &x->ser[x->i - 1]->base;
}
static void
tset_free(ts_series_set *ss)
{
    tset *x = (tset *)ss;
    ts_free(x->ser);
    ts_free(x);
}
static const ts_series_set_ops tset_ops = {tset_next, tset_at, tset_free};

static int
tser_cmp(const void *a, const void *b)
{
    return ts_labels_cmp((*(tseries *const *)a)->ls, (*(tseries *const *)b)->ls);
}

/* A set over ser[0..n) (sorted here by labels if sort is true). */
static ts_series_set *
tset_new(tseries **ser, size_t n, bool sort)
{
    tset *x = ts_calloc(1, sizeof(*x));
    x->base.ops = &tset_ops;
    x->ser = ts_malloc((n ? n : 1) * sizeof(*x->ser));
    memcpy(x->ser, ser, n * sizeof(*ser));
    x->n = n;
    if (sort)
        qsort(x->ser, n, sizeof(*x->ser), tser_cmp);
    return &x->base;
}

#endif
