/*
 * WAL record codecs (Prometheus tsdb/record): the payloads the head hands to
 * the WAL on commit and gets back on replay.  The WAL frames, checksums and
 * compresses these bytes; this file only knows their inner layout.
 *
 * Byte layout (also in pkg/tsdb/docs/format/wal.md); integers big-endian,
 * uvarint/varint as in pkg/util/buf.h:
 *
 *   series record:  0x01, then per series until the end of the record:
 *                   ref be64 | nlabels uvarint | (name uvarint_str, value uvarint_str) * nlabels
 *   samples record: 0x02, then (only if there are samples)
 *                   base_ref be64 | base_t be64 (the first sample's ref and t),
 *                   then per sample until the end of the record:
 *                   ref - base_ref varint | t - base_t varint | value bits be64
 *
 * Values are stored as their raw 64 bits, so Prometheus' stale-marker NaN
 * (and every other NaN payload) survives bit-exactly.  Deltas are taken
 * modulo 2^64, so any ref/t combination round-trips.
 *
 * Decoders never trust a count from the input: the number of entries is
 * bounded by the bytes actually present, and every read goes through the
 * sticky-error ts_dec cursor, so garbage input yields TS_ECORRUPT, never an
 * out-of-bounds read or a huge allocation.
 */
#include "pkg/tsdb/record/record.h"

#include <stdbool.h>
#include <string.h>

#include "pkg/util/err.h"

/* Smallest encodings, used to bound arrays allocated while decoding. */
#define MIN_SERIES_BYTES 9  /* ref be64 + nlabels uvarint(0) */
#define MIN_SAMPLE_BYTES 10 /* two 1-byte varints + be64 */
#define MIN_LABEL_BYTES 2   /* two empty uvarint_strs */

int
ts_record_encode_series(ts_buf *out, const ts_record_series *s, size_t n)
{
    int rc = ts_buf_putc(out, TS_REC_SERIES);
    for (size_t i = 0; i < n && rc == TS_OK; i++) {
        const ts_labels *ls = s[i].labels ? s[i].labels : ts_labels_empty();
        rc = ts_buf_put_be64(out, s[i].ref);
        if (rc == TS_OK)
            rc = ts_buf_put_uvarint(out, ls->n);
        for (uint32_t j = 0; j < ls->n && rc == TS_OK; j++) {
            rc = ts_buf_put_uvarint_str(out, ls->l[j].name, strlen(ls->l[j].name));
            if (rc == TS_OK)
                rc = ts_buf_put_uvarint_str(out, ls->l[j].value, strlen(ls->l[j].value));
        }
    }
    return rc;
}

int
ts_record_encode_samples(ts_buf *out, const ts_record_sample *s, size_t n)
{
    int rc = ts_buf_putc(out, TS_REC_SAMPLES);
    if (n == 0 || rc != TS_OK)
        return rc;
    uint64_t base_ref = s[0].ref;
    uint64_t base_t = (uint64_t)s[0].t;
    rc = ts_buf_put_be64(out, base_ref);
    if (rc == TS_OK)
        rc = ts_buf_put_be64(out, base_t);
    for (size_t i = 0; i < n && rc == TS_OK; i++) {
        uint64_t bits;
        memcpy(&bits, &s[i].v, sizeof(bits));
        rc = ts_buf_put_varint(out, (int64_t)(s[i].ref - base_ref));
        if (rc == TS_OK)
            rc = ts_buf_put_varint(out, (int64_t)((uint64_t)s[i].t - base_t));
        if (rc == TS_OK)
            rc = ts_buf_put_be64(out, bits);
    }
    return rc;
}

int
ts_record_type(const uint8_t *p, size_t n)
{
    return n == 0 ? 0 : p[0];
}

static void
free_heap_labels(ts_record_series *res, size_t k)
{
    for (size_t i = 0; i < k; i++)
        ts_labels_free((ts_labels *)res[i].labels);
}

/* Decodes a series record; label sets go to the heap when heap (freed
 * again on error), else to arena a. */
static int
decode_series(const uint8_t *p, size_t n, ts_arena *a, bool heap, ts_record_series **out,
              size_t *count)
{
    *out = NULL;
    *count = 0;
    if (ts_record_type(p, n) != TS_REC_SERIES)
        return TS_ECORRUPT;
    ts_dec d;
    ts_dec_init(&d, p + 1, n - 1);
    size_t cap = ts_dec_len(&d) / MIN_SERIES_BYTES;
    ts_record_series *res = cap ? TS_ARENA_ARRAY(a, ts_record_series, cap) : NULL;
    size_t k = 0;
    ts_label *tmp = NULL;
    size_t tmpcap = 0;
    while (ts_dec_len(&d) > 0 && d.err == TS_OK) {
        if (k >= cap)
            goto corrupt;
        uint64_t ref = ts_dec_be64(&d);
        uint64_t nl = ts_dec_uvarint(&d);
        if (d.err != TS_OK || nl > ts_dec_len(&d) / MIN_LABEL_BYTES)
            goto corrupt;
        if (nl > tmpcap || !tmp) {
            /* at least one element: ts_labels_new_arena gets a non-NULL array */
            tmpcap = nl > 8 ? (size_t)nl : 8;
            tmp = ts_arena_alloc(a, tmpcap * sizeof(ts_label));
        }
        for (uint64_t j = 0; j < nl; j++) {
            size_t nlen, vlen;
            const char *name = ts_dec_uvarint_str(&d, &nlen);
            const char *value = ts_dec_uvarint_str(&d, &vlen);
            if (d.err != TS_OK)
                goto corrupt;
            tmp[j].name = ts_arena_strndup(a, name, nlen);
            tmp[j].value = ts_arena_strndup(a, value, vlen);
        }
        res[k].ref = ref;
        res[k].labels =
            heap ? ts_labels_new(tmp, (size_t)nl) : ts_labels_new_arena(a, tmp, (size_t)nl);
        k++;
    }
    if (d.err != TS_OK)
        goto corrupt;
    *out = res;
    *count = k;
    return TS_OK;

corrupt:
    if (heap)
        free_heap_labels(res, k);
    return TS_ECORRUPT;
}

int
ts_record_decode_series(const uint8_t *p, size_t n, ts_arena *a, ts_record_series **out,
                        size_t *count)
{
    return decode_series(p, n, a, false, out, count);
}

int
ts_record_decode_series_heap(const uint8_t *p, size_t n, ts_arena *a, ts_record_series **out,
                             size_t *count)
{
    return decode_series(p, n, a, true, out, count);
}

int
ts_record_decode_samples(const uint8_t *p, size_t n, ts_arena *a, ts_record_sample **out,
                         size_t *count)
{
    *out = NULL;
    *count = 0;
    if (ts_record_type(p, n) != TS_REC_SAMPLES)
        return TS_ECORRUPT;
    ts_dec d;
    ts_dec_init(&d, p + 1, n - 1);
    if (ts_dec_len(&d) == 0)
        return TS_OK; /* an empty samples record */
    uint64_t base_ref = ts_dec_be64(&d);
    uint64_t base_t = ts_dec_be64(&d);
    if (d.err != TS_OK)
        return TS_ECORRUPT;
    size_t cap = ts_dec_len(&d) / MIN_SAMPLE_BYTES;
    ts_record_sample *res = cap ? TS_ARENA_ARRAY(a, ts_record_sample, cap) : NULL;
    size_t k = 0;
    while (ts_dec_len(&d) > 0) {
        if (k >= cap)
            return TS_ECORRUPT;
        int64_t dref = ts_dec_varint(&d);
        int64_t dt = ts_dec_varint(&d);
        uint64_t bits = ts_dec_be64(&d);
        if (d.err != TS_OK)
            return TS_ECORRUPT;
        res[k].ref = base_ref + (uint64_t)dref;
        res[k].t = (int64_t)(base_t + (uint64_t)dt);
        memcpy(&res[k].v, &bits, sizeof(bits));
        k++;
    }
    *out = res;
    *count = k;
    return TS_OK;
}
