/*
 * The compact ("columnar") on-disk form of an XOR chunk.
 *
 * Gorilla XOR bit streams are dense and unaligned, so zstd finds little in
 * them.  Before a chunk goes into a chunk group, the writer decodes it and
 * tries this byte-aligned form instead, which zstd compresses far better:
 *
 *   byte     0x81 (record kind; raw XOR records use kind 1)
 *   uvarint  length of the rest of the record (lets readers skip it)
 *   uvarint  n                     samples, 1..65535
 *   varint   t0 - chunk mint       (chunk mint is in the index; usually 0)
 *   varint   t1 - t0               if n > 1
 *   varint   dod_i                 for i >= 2: (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})
 *   byte     value mode:
 *     0  raw:     be64 bits of v0, then be64 (bits_i XOR bits_{i-1}) for i >= 1
 *     1  decimal: byte d (0..6), byte order (1 = deltas, 2 = delta-of-deltas),
 *                 then n varints of k_i = v_i * 10^d (first absolute, then
 *                 deltas or delta-of-deltas of k); v_i = (double)k_i / 10^d.
 *
 * Timestamps are all written before values.  The form is only used when it
 * gives back the original chunk exactly: the writer decodes its own record,
 * re-encodes the samples with pkg/tsdb/chunkenc and compares the bytes with
 * the input chunk.  The XOR encoder is deterministic, so a reader rebuilding
 * the chunk returns byte-identical raw XOR chunks.  Anything that does not
 * round-trip (a chunk from a different encoder, odd floats) stays raw.
 */
#include "pkg/tsdb/block/internal.h"

#include <math.h>
#include <string.h>

#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/mem.h"

#define MAX_DECIMALS 6

static const double p10[MAX_DECIMALS + 1] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};

/* Wrapping subtraction: extreme timestamps must not be UB (the round trip
 * check rejects anything that does not come back exactly). */
static int64_t
wsub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static uint64_t
dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double
bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* Smallest d such that every value is exactly (double)k / 10^d with |k| < 2^53. */
static int
decimal_scale(const double *v, size_t n, int64_t *k)
{
    for (int d = 0; d <= MAX_DECIMALS; d++) {
        size_t i;
        for (i = 0; i < n; i++) {
            if (!isfinite(v[i]))
                return -1;
            double x = v[i] * p10[d];
            if (!(fabs(x) < 9007199254740992.0))
                break;
            int64_t ki = (int64_t)llround(x);
            if (dbits((double)ki / p10[d]) != dbits(v[i]))
                break;
            k[i] = ki;
        }
        if (i == n)
            return d;
    }
    return -1;
}

static size_t
varint_size(int64_t x)
{
    uint64_t u = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
    size_t s = 1;
    while (u >= 0x80) {
        u >>= 7;
        s++;
    }
    return s;
}

int
ts__col_decode(ts_dec *d, int64_t mint, ts_buf *out)
{
    uint64_t n = ts_dec_uvarint(d);
    if (d->err || n == 0 || n > TS_XOR_MAX_SAMPLES)
        return TS_ECORRUPT;
    int64_t *t = ts_malloc(n * sizeof(*t));
    double *v = ts_malloc(n * sizeof(*v));
    int rc = TS_ECORRUPT;
    /* wrapping arithmetic: garbage in gives garbage (caught below), not UB */
    t[0] = (int64_t)((uint64_t)mint + (uint64_t)ts_dec_varint(d));
    int64_t delta = 0;
    for (uint64_t i = 1; i < n; i++) {
        int64_t x = ts_dec_varint(d);
        delta = i == 1 ? x : (int64_t)((uint64_t)delta + (uint64_t)x);
        t[i] = (int64_t)((uint64_t)t[i - 1] + (uint64_t)delta);
    }
    uint8_t mode = ts_dec_byte(d);
    if (mode == 0) {
        uint64_t bits = 0;
        for (uint64_t i = 0; i < n; i++) {
            bits ^= ts_dec_be64(d);
            v[i] = bitsd(bits);
        }
    } else if (mode == 1) {
        uint8_t dec = ts_dec_byte(d), order = ts_dec_byte(d);
        if (dec > MAX_DECIMALS || order < 1 || order > 2)
            goto out;
        int64_t k = 0, kd = 0;
        for (uint64_t i = 0; i < n; i++) {
            int64_t x = ts_dec_varint(d);
            if (i == 0)
                k = x;
            else if (order == 1 || i == 1)
                kd = x, k = (int64_t)((uint64_t)k + (uint64_t)kd);
            else
                kd = (int64_t)((uint64_t)kd + (uint64_t)x),
                k = (int64_t)((uint64_t)k + (uint64_t)kd);
            v[i] = (double)k / p10[dec];
        }
    } else {
        goto out;
    }
    if (d->err)
        goto out;
    ts_xor_chunk c;
    ts_xor_chunk_init(&c);
    for (uint64_t i = 0; i < n; i++)
        if (ts_xor_chunk_append(&c, t[i], v[i]) != TS_OK) {
            ts_xor_chunk_fini(&c);
            goto out;
        }
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(&c, &len);
    ts_buf_put_uvarint(out, len);
    ts_buf_put(out, p, len);
    ts_xor_chunk_fini(&c);
    rc = TS_OK;
out:
    ts_free(t);
    ts_free(v);
    return rc;
}

int
ts__col_encode(ts_buf *out, const uint8_t * xor, size_t len, int64_t mint)
{
    size_t n = ts_xor_bytes_count(xor, len);
    if (n == 0)
        return 0;
    int64_t *t = ts_malloc(n * sizeof(*t));
    double *v = ts_malloc(n * sizeof(*v));
    int64_t *k = ts_malloc(n * sizeof(*k));
    ts_buf rec, check;
    ts_buf_init(&rec, 0);
    ts_buf_init(&check, 0);
    int ok = 0;

    ts_xor_iter it;
    ts_xor_iter_init(&it, xor, len);
    size_t got = 0;
    while (got < n && ts_it_next(&it.base) == TS_VAL_FLOAT) {
        ts_it_at(&it.base, &t[got], &v[got]);
        got++;
    }
    if (got != n || ts_it_err(&it.base) != 0 || ts_it_next(&it.base) != TS_VAL_NONE)
        goto out;

    ts_buf_put_uvarint(&rec, n);
    ts_buf_put_varint(&rec, wsub(t[0], mint));
    for (size_t i = 1; i < n; i++)
        ts_buf_put_varint(&rec, i == 1 ? wsub(t[1], t[0])
                                       : wsub(wsub(t[i], t[i - 1]), wsub(t[i - 1], t[i - 2])));

    int d = decimal_scale(v, n, k);
    if (d < 0) {
        ts_buf_putc(&rec, 0);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t b = dbits(v[i]);
            ts_buf_put_be64(&rec, b ^ prev);
            prev = b;
        }
    } else {
        /* deltas or delta-of-deltas, whichever is smaller */
        size_t s1 = 0, s2 = 0;
        for (size_t i = 1; i < n; i++) {
            s1 += varint_size(k[i] - k[i - 1]);
            s2 += varint_size(i == 1 ? k[1] - k[0] : (k[i] - k[i - 1]) - (k[i - 1] - k[i - 2]));
        }
        int order = s2 < s1 ? 2 : 1;
        ts_buf_putc(&rec, 1);
        ts_buf_putc(&rec, (uint8_t)d);
        ts_buf_putc(&rec, (uint8_t)order);
        ts_buf_put_varint(&rec, k[0]);
        for (size_t i = 1; i < n; i++) {
            int64_t x = k[i] - k[i - 1];
            if (order == 2 && i > 1)
                x -= k[i - 1] - k[i - 2];
            ts_buf_put_varint(&rec, x);
        }
    }

    /* Round trip: the record must give back exactly the input bytes. */
    ts_dec dec;
    ts_dec_init(&dec, rec.p, rec.len);
    if (ts__col_decode(&dec, mint, &check) != TS_OK || ts_dec_len(&dec) != 0)
        goto out;
    ts_dec cd;
    ts_dec_init(&cd, check.p, check.len);
    uint64_t clen = ts_dec_uvarint(&cd);
    if (clen != len || ts_dec_len(&cd) != len || memcmp(cd.p, xor, len) != 0)
        goto out;
    ts_buf_putc(out, TS__REC_COLUMNAR);
    ts_buf_put_uvarint(out, rec.len);
    ts_buf_put(out, rec.p, rec.len);
    ok = 1;
out:
    ts_buf_fini(&rec);
    ts_buf_fini(&check);
    ts_free(t);
    ts_free(v);
    ts_free(k);
    return ok;
}
