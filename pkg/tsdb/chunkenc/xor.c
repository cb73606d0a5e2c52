/*
 * XOR chunk encoder and decoder (Gorilla, as Prometheus' chunkenc/xor.go).
 *
 * Byte format (all of it; see also pkg/tsdb/docs/format/chunks-xor.md):
 *
 *   +----------------+--------------------------------------------------+
 *   | count (2B, BE) | bit stream, most significant bit of a byte first |
 *   +----------------+--------------------------------------------------+
 *
 * The bit stream holds the samples one after the other, not byte aligned:
 *
 *   sample 0:  t as a signed varint (zig-zag LEB128, 8 bits per byte)
 *              v as its 64 raw IEEE-754 bits
 *   sample 1:  t - t0 as an unsigned varint (8 bits per byte)
 *              v as an XOR value (below)
 *   sample n:  dod = (t_n - t_n-1) - (t_n-1 - t_n-2), in the first bucket
 *              whose range holds it:
 *                 '0'                       dod == 0
 *                 '10'   + 14 bits          -8191   <= dod <= 8192
 *                 '110'  + 17 bits          -65535  <= dod <= 65536
 *                 '1110' + 20 bits          -524287 <= dod <= 524288
 *                 '1111' + 64 bits          anything else
 *              (the n-bit fields are two's complement; a field value
 *              greater than 2^(n-1) means field - 2^n)
 *              v as an XOR value
 *
 * XOR value: x = bits(v) ^ bits(previous v).
 *   '0'                         x == 0 (same value)
 *   '10' + m bits               x fits the previous window: its leading and
 *                               trailing zero counts are >= the previous
 *                               ones; m = 64 - leading - trailing, the bits
 *                               are x >> trailing
 *   '11' + 5 bits leading + 6 bits m + m bits
 *                               a new window; leading is capped at 31 to fit
 *                               5 bits, m == 64 is written as 0
 *
 * Arithmetic on timestamps is done modulo 2^64 (as Go does), so any strictly
 * increasing sequence round-trips, however large the gaps, without signed
 * overflow.  The padding bits of the last byte are zero.  As in Prometheus
 * (whose bstream appends a fresh byte after every whole-byte write), a
 * stream whose last write was a whole byte at a byte boundary ends with one
 * extra zero byte: e.g. a one-sample chunk is 2 + varint + 8 + 1 bytes.
 * Readers ignore bytes after the last sample.
 *
 * The decoder reads bits through a bounds-checked cursor: any read past the
 * end, a varint longer than 10 bytes, a window that does not fit 64 bits or
 * a '10' window before any window was defined ends iteration with
 * TS_ECORRUPT.
 */
#include "pkg/tsdb/chunkenc/xor.h"

#include <string.h>

#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"

#define HEADER_LEN 2

static inline uint64_t
f2u(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static inline double
u2f(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* ------------------------------------------------------------ bit writer */

/* Makes room for at least n more bytes. */
static void
reserve(ts_xor_chunk *c, size_t n)
{
    if ((size_t)c->len + n <= c->cap)
        return;
    size_t cap = c->cap ? c->cap : 16;
    while (cap < (size_t)c->len + n)
        cap *= 2;
    c->b = ts_realloc(c->b, cap);
    c->cap = (uint32_t)cap;
}

/*
 * Bit writing must give Prometheus' bstream bytes exactly, because its quirk
 * is part of the byte format: free_bits is 0..8, and 8 means "the last byte
 * is an empty byte already appended".  bstream splits a write into whole
 * bytes first, then single bits, and a whole-byte write at a byte boundary
 * fills the current byte and appends an empty one.  So a write of n bits
 * that starts at a byte boundary with n a multiple of 8 leaves one trailing
 * zero byte (free_bits 8); any other write that ends on a boundary leaves
 * none (free_bits 0).  Nothing else about the history matters: both states
 * continue the same way.
 *
 * The bits themselves go in with one big-endian 64-bit load and store at the
 * byte holding the current bit position (two for writes of more than 57
 * bits), instead of bstream's byte and bit steps: the encoder's hottest loop
 * during ingestion and WAL replay.  That touches up to 8 bytes past the
 * logical end, so the buffer keeps WRITE_SLACK spare bytes; what lies past
 * len is never read.
 */
#define WRITE_SLACK 8

static inline uint64_t
load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return __builtin_bswap64(v);
}

static inline void
store_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof(v));
}

/* Puts the low n bits of v (1 <= n <= 57) at bit position pos of s; the bits
 * of s after pos+n within the same 8 bytes become zero. */
static inline void
put_bits(uint8_t *s, uint64_t pos, uint64_t v, int n)
{
    uint8_t *p = s + (pos >> 3);
    int o = (int)(pos & 7);
    uint64_t keep = o ? load_be64(p) & (~0ULL << (64 - o)) : 0;
    store_be64(p, keep | ((v & ((1ULL << n) - 1)) << (64 - o - n)));
}

/* Writes the low nbits (1..64) of v, most significant first, as bstream
 * would with a sequence of writes whose last one was `last` bits long (that
 * decides the trailing empty byte).  The caller has reserved enough room
 * (including WRITE_SLACK). */
static inline void
write_bits(ts_xor_chunk *c, uint64_t v, int nbits, int last)
{
    uint8_t *s = c->b + HEADER_LEN;
    uint64_t pos = (uint64_t)(c->len - HEADER_LEN) * 8 - c->free_bits;
    if (nbits > 57) {
        put_bits(s, pos, v >> 32, nbits - 32);
        put_bits(s, pos + (uint64_t)nbits - 32, v, 32);
    } else {
        put_bits(s, pos, v, nbits);
    }
    uint64_t end = pos + (uint64_t)nbits;
    if (end & 7) {
        c->len = (uint32_t)(HEADER_LEN + (end >> 3) + 1);
        c->free_bits = (uint8_t)(8 - (end & 7));
    } else if ((last & 7) == 0) { /* ends on a boundary, so the last write began on one */
        c->len = (uint32_t)(HEADER_LEN + (end >> 3) + 1); /* bstream's trailing empty byte */
        c->b[c->len - 1] = 0;
        c->free_bits = 8;
    } else {
        c->len = (uint32_t)(HEADER_LEN + (end >> 3));
        c->free_bits = 0;
    }
}

/* A sample's fields (control bits, dod, value window, value bits) are
 * gathered in a 64-bit accumulator and written together: one or two stores
 * per sample instead of one per field. */
typedef struct bitw {
    ts_xor_chunk *c;
    uint64_t acc; /* the low n bits are pending, oldest first */
    int n, last;  /* pending bits; length of the last field put */
} bitw;

static inline void
bw_flush(bitw *w)
{
    if (w->n) {
        write_bits(w->c, w->acc, w->n, w->last);
        w->acc = 0;
        w->n = 0;
    }
}

/* Puts the low k bits (1..64) of v after the pending ones. */
static inline void
bw_put(bitw *w, uint64_t v, int k)
{
    if (w->n + k > 57) {
        bw_flush(w);
        if (k > 57) {
            write_bits(w->c, v, k, k);
            return;
        }
    }
    w->acc = (w->acc << k) | (v & ((1ULL << k) - 1));
    w->n += k;
    w->last = k;
}

static void
write_uvarint(bitw *w, uint64_t v)
{
    while (v >= 0x80) {
        bw_put(w, (v & 0x7f) | 0x80, 8);
        v >>= 7;
    }
    bw_put(w, v, 8);
}

static inline void
write_value(bitw *w, uint64_t vbits)
{
    ts_xor_chunk *c = w->c;
    uint64_t x = vbits ^ c->vbits;
    if (x == 0) {
        bw_put(w, 0, 1);
        return;
    }
    int leading = __builtin_clzll(x);
    int trailing = __builtin_ctzll(x);
    if (leading > 31)
        leading = 31;
    if (c->leading != 0xff && leading >= c->leading && trailing >= c->trailing) {
        int m = 64 - c->leading - c->trailing;
        bw_put(w, 2, 2); /* '10' */
        bw_put(w, x >> c->trailing, m);
        return;
    }
    c->leading = (uint8_t)leading;
    c->trailing = (uint8_t)trailing;
    int m = 64 - leading - trailing;
    bw_put(w, 3, 2); /* '11' */
    bw_put(w, (uint64_t)leading, 5);
    bw_put(w, (uint64_t)(m & 63), 6);
    bw_put(w, x >> trailing, m);
}

/* Whether dod fits an nbits bucket: -(2^(n-1) - 1) <= dod <= 2^(n-1). */
static inline int
in_bucket(int64_t dod, int nbits)
{
    int64_t half = (int64_t)1 << (nbits - 1);
    return dod >= -(half - 1) && dod <= half;
}

/* -------------------------------------------------------------- encoder */

void
ts_xor_chunk_init(ts_xor_chunk *c)
{
    memset(c, 0, sizeof(*c));
    c->leading = 0xff;
}

void
ts_xor_chunk_fini(ts_xor_chunk *c)
{
    ts_free(c->b);
    ts_xor_chunk_init(c);
}

ts_xor_chunk *
ts_xor_chunk_new(void)
{
    ts_xor_chunk *c = ts_malloc(sizeof(*c));
    ts_xor_chunk_init(c);
    return c;
}

void
ts_xor_chunk_free(ts_xor_chunk *c)
{
    if (!c)
        return;
    ts_free(c->b);
    ts_free(c);
}

int
ts_xor_chunk_append(ts_xor_chunk *c, int64_t t, double v)
{
    if (c->count == TS_XOR_MAX_SAMPLES)
        return TS_ELIMIT;
    if (c->count > 0 && t <= c->t)
        return TS_EOOO;
    /* Worst case: 4 + 64 bits of dod, 2 + 5 + 6 + 64 bits of value, a
     * 10-byte varint: 20 bytes; plus the header on first use and the
     * writer's slack. */
    reserve(c, 24 + WRITE_SLACK);
    if (c->len == 0) {
        c->b[0] = c->b[1] = 0;
        c->len = HEADER_LEN;
        c->free_bits = 0;
    }
    uint64_t vbits = f2u(v);
    bitw w = {.c = c};
    if (c->count == 0) {
        /* zig-zag, then uvarint */
        uint64_t zz = ((uint64_t)t << 1) ^ (uint64_t)(t >> 63);
        write_uvarint(&w, zz);
        bw_put(&w, vbits, 64);
        c->mint = t;
    } else if (c->count == 1) {
        uint64_t delta = (uint64_t)t - (uint64_t)c->t;
        write_uvarint(&w, delta);
        write_value(&w, vbits);
        c->tdelta = (int64_t)delta;
    } else {
        uint64_t delta = (uint64_t)t - (uint64_t)c->t;
        int64_t dod = (int64_t)(delta - (uint64_t)c->tdelta);
        if (dod == 0) {
            bw_put(&w, 0, 1);
        } else if (in_bucket(dod, 14)) {
            bw_put(&w, 0x2, 2);
            bw_put(&w, (uint64_t)dod, 14);
        } else if (in_bucket(dod, 17)) {
            bw_put(&w, 0x6, 3);
            bw_put(&w, (uint64_t)dod, 17);
        } else if (in_bucket(dod, 20)) {
            bw_put(&w, 0xe, 4);
            bw_put(&w, (uint64_t)dod, 20);
        } else {
            bw_put(&w, 0xf, 4);
            bw_put(&w, (uint64_t)dod, 64);
        }
        write_value(&w, vbits);
        c->tdelta = (int64_t)delta;
    }
    bw_flush(&w);
    c->t = t;
    c->vbits = vbits;
    c->count++;
    c->b[0] = (uint8_t)(c->count >> 8);
    c->b[1] = (uint8_t)c->count;
    return TS_OK;
}

uint16_t
ts_xor_chunk_count(const ts_xor_chunk *c)
{
    return c->count;
}

int64_t
ts_xor_chunk_mint(const ts_xor_chunk *c)
{
    return c->count ? c->mint : 0;
}

int64_t
ts_xor_chunk_maxt(const ts_xor_chunk *c)
{
    return c->count ? c->t : 0;
}

const uint8_t *
ts_xor_chunk_bytes(const ts_xor_chunk *c, size_t *len)
{
    static const uint8_t empty[HEADER_LEN] = {0, 0};
    if (c->len == 0) {
        *len = HEADER_LEN;
        return empty;
    }
    *len = c->len;
    return c->b;
}

uint8_t *
ts_xor_chunk_steal(ts_xor_chunk *c, size_t *len)
{
    uint8_t *p;
    if (c->len == 0) {
        p = ts_calloc(1, HEADER_LEN);
        *len = HEADER_LEN;
    } else {
        p = ts_realloc(c->b, c->len);
        *len = c->len;
    }
    ts_xor_chunk_init(c);
    return p;
}

size_t
ts_xor_chunk_alloc_size(const ts_xor_chunk *c)
{
    return c->cap;
}

/* -------------------------------------------------------------- decoder */

/*
 * Bit reader: buf holds the next `valid` bits of the stream, left-aligned
 * (its top bit is the next bit).  Refilling loads 8 bytes at once where the
 * stream has them and takes the whole bytes that fit; the bits of the
 * partly fitting byte land below the valid ones, where they are the
 * stream's own next bits, so that a later refill ORs the same bits in again.
 * Near the end of the stream it goes a byte at a time.
 */
static inline void
refill(ts_xor_iter *it)
{
    if (it->valid < 64 && it->len - it->bytepos >= 8) {
        it->buf |= ts_get_be64(it->data + it->bytepos) >> it->valid;
        unsigned take = (63 - it->valid) >> 3;
        it->bytepos += take;
        it->valid += take * 8;
        return;
    }
    while (it->valid <= 56 && it->bytepos < it->len) {
        it->buf |= (uint64_t)it->data[it->bytepos++] << (56 - it->valid);
        it->valid += 8;
    }
}

/* Reads nbits (1..56) into *out; false when too few remain. */
static inline bool
read_small(ts_xor_iter *it, int nbits, uint64_t *out)
{
    if (it->valid < (unsigned)nbits) {
        refill(it);
        if (it->valid < (unsigned)nbits)
            return false;
    }
    *out = it->buf >> (64 - nbits);
    it->buf <<= nbits;
    it->valid -= (unsigned)nbits;
    return true;
}

/* Reads nbits (0..64) into *out; false when too few remain. */
static inline bool
read_bits(ts_xor_iter *it, int nbits, uint64_t *out)
{
    if (nbits == 0) {
        *out = 0;
        return true;
    }
    if (nbits <= 56)
        return read_small(it, nbits, out);
    uint64_t hi, lo;
    if (!read_small(it, nbits - 32, &hi) || !read_small(it, 32, &lo))
        return false;
    *out = (hi << 32) | lo;
    return true;
}

/* Number of leading one bits among the next (up to) max bits, and whether
 * the stream holds the full prefix (the ones plus a terminating zero, or max
 * ones).  Consumes the prefix. */
static inline bool
read_ones(ts_xor_iter *it, int max, int *ones)
{
    if (it->valid < (unsigned)max)
        refill(it);
    uint64_t inv = ~it->buf;
    int n = inv ? __builtin_clzll(inv) : 64;
    if (n > max)
        n = max;
    int len = n < max ? n + 1 : max;
    if ((unsigned)len > it->valid)
        return false;
    it->buf <<= len;
    it->valid -= (unsigned)len;
    *ones = n;
    return true;
}

static bool
read_uvarint(ts_xor_iter *it, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0, shift = 0; i < 10; i++, shift += 7) {
        uint64_t b;
        if (!read_bits(it, 8, &b))
            return false;
        if (b < 0x80) {
            if (i == 9 && b > 1)
                return false; /* overflows 64 bits */
            *out = v | (b << shift);
            return true;
        }
        v |= (b & 0x7f) << shift;
    }
    return false;
}

static bool
read_value(ts_xor_iter *it)
{
    int ones;
    if (!read_ones(it, 2, &ones))
        return false;
    if (ones == 0)
        return true; /* '0': unchanged */
    if (ones == 2) { /* '11': a new window */
        uint64_t hdr;
        if (!read_small(it, 11, &hdr))
            return false;
        uint64_t leading = hdr >> 6, m = hdr & 63;
        if (m == 0)
            m = 64;
        if (leading + m > 64)
            return false;
        it->leading = (uint8_t)leading;
        it->trailing = (uint8_t)(64 - leading - m);
    } else if (it->leading == 0xff) {
        return false; /* '10': reuse of a window that was never defined */
    }
    uint64_t x;
    if (!read_bits(it, 64 - it->leading - it->trailing, &x))
        return false;
    it->vbits ^= x << it->trailing;
    return true;
}

static bool
read_dod(ts_xor_iter *it, int64_t *dod)
{
    int ones;
    if (!read_ones(it, 4, &ones))
        return false;
    static const int widths[5] = {0, 14, 17, 20, 64};
    int w = widths[ones];
    if (w == 0) {
        *dod = 0;
        return true;
    }
    uint64_t raw;
    if (!read_bits(it, w, &raw))
        return false;
    if (w < 64 && raw > ((uint64_t)1 << (w - 1)))
        raw -= (uint64_t)1 << w; /* negative, modulo 2^64 */
    *dod = (int64_t)raw;
    return true;
}

static ts_val_type
fail(ts_xor_iter *it)
{
    it->err = TS_ECORRUPT;
    it->done = 1;
    return TS_VAL_NONE;
}

static ts_val_type
iter_next(ts_iterator *base)
{
    ts_xor_iter *it = (ts_xor_iter *)base;
    if (it->done)
        return TS_VAL_NONE;
    if (it->nread >= it->total) {
        it->done = 1;
        return TS_VAL_NONE;
    }
    if (it->nread == 0) {
        uint64_t zz;
        if (!read_uvarint(it, &zz) || !read_bits(it, 64, &it->vbits))
            return fail(it);
        it->t = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
    } else if (it->nread == 1) {
        uint64_t delta;
        if (!read_uvarint(it, &delta) || !read_value(it))
            return fail(it);
        it->tdelta = (int64_t)delta;
        it->t = (int64_t)((uint64_t)it->t + delta);
    } else {
        int64_t dod;
        if (!read_dod(it, &dod) || !read_value(it))
            return fail(it);
        it->tdelta = (int64_t)((uint64_t)it->tdelta + (uint64_t)dod);
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->tdelta);
    }
    it->nread++;
    return TS_VAL_FLOAT;
}

static ts_val_type
iter_seek(ts_iterator *base, int64_t t)
{
    ts_xor_iter *it = (ts_xor_iter *)base;
    if (it->done)
        return TS_VAL_NONE;
    if (it->nread > 0 && it->t >= t)
        return TS_VAL_FLOAT;
    for (;;) {
        if (iter_next(base) == TS_VAL_NONE)
            return TS_VAL_NONE;
        if (it->t >= t)
            return TS_VAL_FLOAT;
    }
}

static void
iter_at(const ts_iterator *base, int64_t *t, double *v)
{
    const ts_xor_iter *it = (const ts_xor_iter *)base;
    if (t)
        *t = it->t;
    if (v)
        *v = u2f(it->vbits);
}

static int
iter_err(const ts_iterator *base)
{
    return ((const ts_xor_iter *)base)->err;
}

static void
iter_free_noop(ts_iterator *base)
{
}

static void
iter_free_heap(ts_iterator *base)
{
    ts_free(base);
}

static const ts_iterator_ops stack_ops = {iter_next, iter_seek, iter_at, iter_err, iter_free_noop};
static const ts_iterator_ops heap_ops = {iter_next, iter_seek, iter_at, iter_err, iter_free_heap};

void
ts_xor_iter_init(ts_xor_iter *it, const uint8_t *data, size_t len)
{
    memset(it, 0, sizeof(*it));
    it->base.ops = &stack_ops;
    it->leading = 0xff;
    if (!data || len < HEADER_LEN) {
        it->err = TS_ECORRUPT;
        it->done = 1;
        return;
    }
    it->total = ts_get_be16(data);
    it->data = data + HEADER_LEN;
    it->len = len - HEADER_LEN;
}

ts_iterator *
ts_xor_iterator_new(const uint8_t *data, size_t len)
{
    ts_xor_iter *it = ts_malloc(sizeof(*it));
    ts_xor_iter_init(it, data, len);
    it->base.ops = &heap_ops;
    it->heap = 1;
    return &it->base;
}

uint16_t
ts_xor_bytes_count(const uint8_t *data, size_t len)
{
    return (data && len >= HEADER_LEN) ? ts_get_be16(data) : 0;
}
