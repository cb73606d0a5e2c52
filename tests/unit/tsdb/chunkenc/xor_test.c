/*
 * Tests for pkg/tsdb/chunkenc/xor.c: byte format against hand-computed
 * bytes, bucket edges, bit-exact round trips, limits, seek, and decoding of
 * truncated and garbled input (run under ASan: no out-of-bounds reads).
 */
#include "pkg/tsdb/chunkenc/xor.h"

#include <dirent.h>
#include <float.h>
#include <stdint.h>

#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

static uint64_t
bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double
from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* n bits (<= 64) of an encoded chunk's bit stream, starting at bit off after the header. */
static uint64_t
stream_bits(const uint8_t *p, size_t off, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        size_t b = off + (size_t)i;
        v = (v << 1) | ((p[2 + b / 8] >> (7 - b % 8)) & 1);
    }
    return v;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t
rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* Encodes n samples, decodes them and checks every timestamp and value bit. */
static int
roundtrip(const int64_t *ts, const double *vs, size_t n)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (size_t i = 0; i < n; i++) {
        if (ts_xor_chunk_append(c, ts[i], vs[i]) != 0) {
            fprintf(stderr, "  append %zu failed\n", i);
            ts_xor_chunk_free(c);
            return 0;
        }
    }
    int ok = ts_xor_chunk_count(c) == n;
    if (n > 0)
        ok = ok && ts_xor_chunk_mint(c) == ts[0] && ts_xor_chunk_maxt(c) == ts[n - 1];
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    ts_xor_iter it;
    ts_xor_iter_init(&it, p, len);
    size_t i = 0;
    while (ok && ts_it_next(&it.base) == TS_VAL_FLOAT) {
        int64_t t;
        double v;
        ts_it_at(&it.base, &t, &v);
        if (i >= n || t != ts[i] || bits_of(v) != bits_of(vs[i])) {
            fprintf(stderr, "  sample %zu: got (%lld, %016llx)\n", i, (long long)t,
                    (unsigned long long)bits_of(v));
            ok = 0;
        }
        i++;
    }
    ok = ok && i == n && ts_it_err(&it.base) == 0;
    ts_xor_chunk_free(c);
    return ok;
}

/*
 * Hand-computed bytes for the samples (1000, 1.0) (2000, 1.0) (3000, 2.0)
 * (4010, 2.0), following the spec in xor.c:
 *
 *   00 04                    count = 4
 *   D0 0F                    varint(1000): zig-zag 2000 = 0x7d0 -> LEB128 d0 0f
 *   3F F0 00 00 00 00 00 00  bits of 1.0
 *   E8 07                    uvarint(1000) = e8 07
 *   then bits:  0                     v == previous
 *               0                     dod = 0
 *               11 00001 001011 11111111111
 *                                     2.0 ^ 1.0 = 0x7ff0000000000000: new
 *                                     window, leading 1, 11 significant bits
 *               10 00000000001010     dod = 10 in the 14-bit bucket
 *               0                     v == previous
 *               00000                 padding
 *   = 0011 0000 | 1001 0111 | 1111 1111 | 1110 0000 | 0000 0010 | 1000 0000
 *   = 30 97 FF E0 02 80
 */
static void
test_bytes_by_hand(void)
{
    static const uint8_t want[] = {0x00, 0x04, 0xD0, 0x0F, 0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0xE8, 0x07, 0x30, 0x97, 0xFF, 0xE0, 0x02, 0x80};
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, 1000, 1.0));
    T_OK(ts_xor_chunk_append(c, 2000, 1.0));
    T_OK(ts_xor_chunk_append(c, 3000, 2.0));
    T_OK(ts_xor_chunk_append(c, 4010, 2.0));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    int same = len == sizeof(want) && memcmp(p, want, len) == 0;
    if (!same) {
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, "%02X ", p[i]);
        fprintf(stderr, "\n");
    }
    ts_xor_chunk_free(c);
    T_TRUE(same);
}

/* Second hand-computed case: a reused window ('10') and a negative first
 * timestamp.  Samples (-1, 0.0) (0, 1.0) (1, 0.5):
 *   00 03                     count = 3
 *   01                        varint(-1): zig-zag 1
 *   00 00 00 00 00 00 00 00   bits of 0.0
 *   01                        uvarint(1)
 *   then bits:  11 00010 001010 1111111111
 *                             1.0 ^ 0.0 = 0x3ff0000000000000: new window,
 *                             leading 2, trailing 52, 10 significant bits
 *               0             dod = (1 - 0) - (0 - -1) = 0
 *               10 0000000001 0.5 ^ 1.0 = 0x0010000000000000: leading 11,
 *                             trailing 52 fit the window (2, 52): its 10
 *                             bits of x >> 52 = 1
 *               0000          padding
 *   = 1100 0100 | 0101 0111 | 1111 1110 | 1000 0000 | 0001 0000
 *   = C4 57 FE 80 10
 */
static void
test_bytes_by_hand_reused_window(void)
{
    static const uint8_t want[] = {0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x01, 0xC4, 0x57, 0xFE, 0x80, 0x10};
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, -1, 0.0));
    T_OK(ts_xor_chunk_append(c, 0, 1.0));
    T_OK(ts_xor_chunk_append(c, 1, 0.5));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    int same = len == sizeof(want) && memcmp(p, want, len) == 0;
    if (!same) {
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, "%02X ", p[i]);
        fprintf(stderr, "\n");
    }
    ts_xor_chunk_free(c);
    T_TRUE(same);
}

/* t = 0, D, 2D + d with D = 10^6: the third sample's dod is d and starts at
 * stream bit 8 (varint 0) + 64 (value) + 24 (uvarint 10^6) + 1 (same value) = 97. */
static void
check_bucket(int64_t d, uint64_t prefix, int prefix_bits, int width)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, 0, 5.0));
    T_OK(ts_xor_chunk_append(c, 1000000, 5.0));
    T_OK(ts_xor_chunk_append(c, 2000000 + d, 5.0));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    uint64_t got_prefix = stream_bits(p, 97, prefix_bits);
    uint64_t field = stream_bits(p, 97 + (size_t)prefix_bits, width);
    uint64_t mask = width == 64 ? ~0ULL : ((1ULL << width) - 1);
    int ok = got_prefix == prefix && field == ((uint64_t)d & mask);
    ts_xor_chunk_free(c);
    if (!ok)
        fprintf(stderr, "  dod %lld: prefix %llx field %llx\n", (long long)d,
                (unsigned long long)got_prefix, (unsigned long long)field);
    T_TRUE(ok);
    int64_t ts[3] = {0, 1000000, 2000000 + d};
    double vs[3] = {5.0, 5.0, 5.0};
    T_TRUE(roundtrip(ts, vs, 3));
}

static void
test_dod_buckets(void)
{
    /* bucket n holds -(2^(n-1) - 1) .. 2^(n-1) */
    check_bucket(1, 0x2, 2, 14);
    check_bucket(-1, 0x2, 2, 14);
    check_bucket(8192, 0x2, 2, 14);
    check_bucket(-8191, 0x2, 2, 14);
    check_bucket(8193, 0x6, 3, 17);
    check_bucket(-8192, 0x6, 3, 17);
    check_bucket(65536, 0x6, 3, 17);
    check_bucket(-65535, 0x6, 3, 17);
    check_bucket(65537, 0xe, 4, 20);
    check_bucket(-65536, 0xe, 4, 20);
    check_bucket(524288, 0xe, 4, 20);
    check_bucket(-524287, 0xe, 4, 20);
    check_bucket(524289, 0xf, 4, 64);
    check_bucket(-524288, 0xf, 4, 64);
    check_bucket(1000000000000LL, 0xf, 4, 64);
}

static void
test_special_values(void)
{
    double vals[] = {
        NAN,
        ts_stale_nan(),
        INFINITY,
        -INFINITY,
        -0.0,
        0.0,
        1.0,
        -1.0,
        DBL_MAX,
        -DBL_MAX,
        DBL_MIN,
        4.9e-324,
        from_bits(0x7ff8000000000001ULL),
        from_bits(0xfff0000000000001ULL),
        ts_stale_nan(),
        ts_stale_nan(),
        42.5,
        NAN,
        -0.0,
        0.0,
    };
    size_t n = sizeof(vals) / sizeof(vals[0]);
    int64_t ts[32];
    for (size_t i = 0; i < n; i++)
        ts[i] = 1600000000000LL + (int64_t)i * 15000;
    T_TRUE(roundtrip(ts, vals, n));

    /* The stale marker comes back as the stale marker, not just "a NaN". */
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, 1, 3.0));
    T_OK(ts_xor_chunk_append(c, 2, ts_stale_nan()));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    ts_xor_iter it;
    ts_xor_iter_init(&it, p, len);
    int64_t t;
    double v;
    T_EQ(ts_it_next(&it.base), TS_VAL_FLOAT);
    T_EQ(ts_it_next(&it.base), TS_VAL_FLOAT);
    ts_it_at(&it.base, &t, &v);
    T_EQ(t, 2);
    T_TRUE(ts_is_stale_nan(v));
    T_EQ(ts_it_next(&it.base), TS_VAL_NONE);
    T_EQ(ts_it_err(&it.base), 0);
    ts_xor_chunk_free(c);
}

static void
test_irregular_and_huge_gaps(void)
{
    int64_t ts[] = {INT64_MIN + 1,
                    -5000000000000LL,
                    -1,
                    0,
                    1,
                    2,
                    1000000000001LL,
                    1000000000002LL,
                    1000000000003LL,
                    1000000015003LL,
                    1000000015004LL,
                    INT64_MAX - 1,
                    INT64_MAX};
    size_t n = sizeof(ts) / sizeof(ts[0]);
    double vs[16];
    for (size_t i = 0; i < n; i++)
        vs[i] = (double)i * 1.5;
    T_TRUE(roundtrip(ts, vs, n));

    /* 1 ms, then 10^12 ms, then back to 1 ms steps */
    int64_t ts2[] = {0, 1, 1000000000001LL, 1000000000002LL, 1000000000003LL};
    double vs2[] = {1, 2, 3, 4, 5};
    T_TRUE(roundtrip(ts2, vs2, 5));

    /* jittery scrape timestamps */
    int64_t ts3[500];
    double vs3[500];
    int64_t t = 1700000000000LL;
    for (int i = 0; i < 500; i++) {
        t += 15000 + (int64_t)(rng() % 2001) - 1000;
        ts3[i] = t;
        vs3[i] = (double)(rng() % 1000);
    }
    T_TRUE(roundtrip(ts3, vs3, 500));
}

static void
test_order_rejected(void)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, 100, 1.0));
    T_OK(ts_xor_chunk_append(c, 200, 2.0));
    size_t len1;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len1);
    uint8_t before[64];
    memcpy(before, p, len1);
    T_EQ(ts_xor_chunk_append(c, 200, 3.0), TS_EOOO);
    T_EQ(ts_xor_chunk_append(c, 150, 3.0), TS_EOOO);
    T_EQ(ts_xor_chunk_append(c, -1, 3.0), TS_EOOO);
    size_t len2;
    p = ts_xor_chunk_bytes(c, &len2);
    T_EQ(len2, len1);
    T_TRUE(memcmp(p, before, len1) == 0);
    T_EQ(ts_xor_chunk_count(c), 2);
    T_EQ(ts_xor_chunk_maxt(c), 200);
    /* still appendable after the rejections */
    T_OK(ts_xor_chunk_append(c, 300, 3.0));
    T_EQ(ts_xor_chunk_count(c), 3);
    ts_xor_chunk_free(c);
}

static void
test_constant_values_compress(void)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (int i = 0; i < 120; i++)
        T_OK(ts_xor_chunk_append(c, 1700000000000LL + i * 15000, 7.0));
    size_t len;
    ts_xor_chunk_bytes(c, &len);
    /* header 2, then varint(t0) 6 bytes (zig-zag 3.4e12 < 2^42) + value 8 +
     * uvarint(15000) 2 (< 2^14) = 128 bits, then 1 bit dod + 1 bit value for
     * each of the 118 others = 236 bits: 364 bits = 46 bytes (rounded up) */
    T_EQ(len, 2 + 46);
    ts_xor_chunk_free(c);
    int64_t ts[120];
    double vs[120];
    for (int i = 0; i < 120; i++) {
        ts[i] = 1700000000000LL + i * 15000;
        vs[i] = 7.0;
    }
    T_TRUE(roundtrip(ts, vs, 120));
}

static void
test_random_values(void)
{
    for (int round = 0; round < 20; round++) {
        int64_t ts[240];
        double vs[240];
        int64_t t = (int64_t)(rng() % 1000000) - 500000;
        for (int i = 0; i < 240; i++) {
            t += 1 + (int64_t)(rng() % (round % 2 ? 100 : 100000000));
            ts[i] = t;
            switch (round % 4) {
            case 0:
                vs[i] = from_bits(rng()); /* arbitrary bits, NaN payloads included */
                break;
            case 1:
                vs[i] = (double)(rng() % 100); /* small integers */
                break;
            case 2:
                vs[i] = (double)i + (double)(rng() % 1000) / 1000.0; /* counter-like */
                break;
            default: vs[i] = (rng() % 3 == 0) ? ts_stale_nan() : (double)(rng() % 7) * 0.1;
            }
        }
        T_TRUE(roundtrip(ts, vs, 240));
    }
}

static void
test_full_chunk_65535(void)
{
    size_t n = TS_XOR_MAX_SAMPLES;
    int64_t *ts = ts_malloc(n * sizeof(*ts));
    double *vs = ts_malloc(n * sizeof(*vs));
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += 1 + (int64_t)(rng() % 30000);
        ts[i] = t;
        vs[i] = (double)(rng() % 1000) / 8.0;
    }
    int ok = roundtrip(ts, vs, n);
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (size_t i = 0; i < n; i++)
        ts_xor_chunk_append(c, ts[i], vs[i]);
    int full = ts_xor_chunk_append(c, t + 1, 1.0);
    uint16_t count = ts_xor_chunk_count(c);
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    uint16_t header = ts_xor_bytes_count(p, len);
    ts_xor_chunk_free(c);
    ts_free(ts);
    ts_free(vs);
    T_TRUE(ok);
    T_EQ(full, TS_ELIMIT);
    T_EQ(count, 65535);
    T_EQ(header, 65535);
}

static void
test_empty_and_steal(void)
{
    ts_xor_chunk c;
    ts_xor_chunk_init(&c);
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(&c, &len);
    T_EQ(len, 2);
    T_EQ(p[0], 0);
    T_EQ(p[1], 0);
    ts_xor_iter it;
    ts_xor_iter_init(&it, p, len);
    T_EQ(ts_it_next(&it.base), TS_VAL_NONE);
    T_EQ(ts_it_err(&it.base), 0);

    for (int i = 0; i < 50; i++)
        T_OK(ts_xor_chunk_append(&c, i * 10, i * 0.5));
    size_t blen;
    const uint8_t *b = ts_xor_chunk_bytes(&c, &blen);
    uint8_t copy[512];
    T_TRUE(blen <= sizeof(copy));
    memcpy(copy, b, blen);
    size_t slen;
    uint8_t *stolen = ts_xor_chunk_steal(&c, &slen);
    T_EQ(ts_xor_chunk_count(&c), 0);
    int same = slen == blen && memcmp(stolen, copy, blen) == 0;
    ts_free(stolen);
    T_TRUE(same);
    /* the emptied encoder starts a fresh chunk */
    T_OK(ts_xor_chunk_append(&c, 5, 1.0));
    T_EQ(ts_xor_chunk_mint(&c), 5);
    ts_xor_chunk_fini(&c);
}

static void
test_seek(void)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (int i = 0; i < 120; i++)
        T_OK(ts_xor_chunk_append(c, 1000 + i * 10, (double)i));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    ts_iterator *it = ts_xor_iterator_new(p, len);
    int64_t t;
    double v;
    /* before the first sample: lands on the first */
    T_EQ(ts_it_seek(it, 0), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1000);
    /* between samples: the next one */
    T_EQ(ts_it_seek(it, 1055), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1060);
    T_FEQ(v, 6.0);
    /* exact hit */
    T_EQ(ts_it_seek(it, 1500), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1500);
    /* backwards: stays put */
    T_EQ(ts_it_seek(it, 1010), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1500);
    /* next after seek continues */
    T_EQ(ts_it_next(it), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 1510);
    T_FEQ(v, 51.0);
    /* the last one, then past the end */
    T_EQ(ts_it_seek(it, 2190), TS_VAL_FLOAT);
    ts_it_at(it, &t, &v);
    T_EQ(t, 2190);
    T_EQ(ts_it_seek(it, 2191), TS_VAL_NONE);
    T_EQ(ts_it_seek(it, 0), TS_VAL_NONE);
    T_EQ(ts_it_next(it), TS_VAL_NONE);
    T_EQ(ts_it_err(it), 0);
    ts_it_free(it);
    ts_xor_chunk_free(c);
}

/*
 * Prometheus' bstream appends an empty byte after every whole-byte write at a
 * byte boundary; it stays when nothing follows.  A single sample (0, 1.0):
 *   00 01                     count 1
 *   00                        varint(0)
 *   3F F0 00 00 00 00 00 00   1.0, written as 8 whole bytes, aligned
 *   00                        the empty byte left after the last one
 * Adding (1, 1.0) uses that byte for uvarint(1) = 01 and the '0' value bit
 * goes into a new byte: ... 01 00.  A third sample with a new value whose
 * window has 8 significant bits ends with a whole-byte write that is not
 * aligned, so no empty byte follows.
 */
static void
test_trailing_empty_byte(void)
{
    static const uint8_t one[] = {0x00, 0x01, 0x00, 0x3F, 0xF0, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t two[] = {0x00, 0x02, 0x00, 0x3F, 0xF0, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x01, 0x00};
    ts_xor_chunk *c = ts_xor_chunk_new();
    T_OK(ts_xor_chunk_append(c, 0, 1.0));
    size_t len;
    const uint8_t *p = ts_xor_chunk_bytes(c, &len);
    int ok1 = len == sizeof(one) && memcmp(p, one, len) == 0;
    T_OK(ts_xor_chunk_append(c, 1, 1.0));
    p = ts_xor_chunk_bytes(c, &len);
    int ok2 = len == sizeof(two) && memcmp(p, two, len) == 0;
    ts_xor_chunk_free(c);
    T_TRUE(ok1);
    T_TRUE(ok2);
}

/* Every strict prefix of a valid chunk decodes a prefix of the samples and
 * then fails with TS_ECORRUPT; nothing reads past the prefix (ASan). */
static void
test_truncated(void)
{
    enum { N = 120 };
    int64_t ts[N];
    double vs[N];
    ts_xor_chunk *c = ts_xor_chunk_new();
    int64_t t = 1700000000000LL;
    for (int i = 0; i < N; i++) {
        t += (i % 7 == 3) ? 1000000 : 15000 + (int64_t)(rng() % 5);
        ts[i] = t;
        vs[i] = (i % 11 == 0) ? ts_stale_nan() : from_bits(rng() & 0xfff0ffffffff00ffULL);
        T_OK(ts_xor_chunk_append(c, ts[i], vs[i]));
    }
    size_t len;
    const uint8_t *full = ts_xor_chunk_bytes(c, &len);
    for (size_t cut = 0; cut <= len; cut++) {
        /* copy into an exact-size heap buffer so ASan sees any overrun */
        uint8_t *p = ts_malloc(cut ? cut : 1);
        memcpy(p, full, cut);
        ts_xor_iter it;
        ts_xor_iter_init(&it, cut ? p : NULL, cut);
        size_t i = 0;
        int bad = 0;
        while (ts_it_next(&it.base) == TS_VAL_FLOAT) {
            int64_t tt;
            double vv;
            ts_it_at(&it.base, &tt, &vv);
            if (i >= N || tt != ts[i] || bits_of(vv) != bits_of(vs[i]))
                bad = 1;
            i++;
        }
        int err = ts_it_err(&it.base);
        ts_free(p);
        T_FALSE(bad);
        if (cut < len && !(cut == len - 1 && full[len - 1] == 0)) {
            T_EQ(err, TS_ECORRUPT);
            T_TRUE(i < N);
        } else {
            /* the whole chunk, or all but a trailing empty byte (see
             * test_trailing_empty_byte) */
            T_EQ(err, 0);
            T_EQ(i, N);
        }
    }
    ts_xor_chunk_free(c);
}

/* Garbled input: flipped bits, random bytes, inflated counts.  The decoder
 * must terminate without reading out of bounds; it may or may not notice. */
static void
test_garbled(void)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (int i = 0; i < 60; i++)
        T_OK(ts_xor_chunk_append(c, i * 1000 + (i % 3), (double)(rng() % 50)));
    size_t len;
    const uint8_t *full = ts_xor_chunk_bytes(c, &len);
    uint8_t *p = ts_malloc(len);
    size_t corrupt = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(p, full, len);
        p[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        ts_xor_iter it;
        ts_xor_iter_init(&it, p, len);
        size_t n = 0;
        while (ts_it_next(&it.base) == TS_VAL_FLOAT)
            n++;
        T_TRUE(n <= 65535);
        if (ts_it_err(&it.base) == TS_ECORRUPT)
            corrupt++;
    }
    ts_free(p);
    /* flipping header bits that raise the count must be noticed, at least */
    T_TRUE(corrupt > 0);

    for (int round = 0; round < 2000; round++) {
        size_t n = 2 + rng() % 64;
        uint8_t *r = ts_malloc(n);
        for (size_t i = 0; i < n; i++)
            r[i] = (uint8_t)rng();
        ts_iterator *it = ts_xor_iterator_new(r, n);
        size_t got = 0;
        while (ts_it_next(it) == TS_VAL_FLOAT)
            got++;
        T_TRUE(got <= ts_xor_bytes_count(r, n));
        ts_it_seek(it, INT64_MAX);
        ts_it_free(it);
        ts_free(r);
    }

    /* a count larger than the stream holds */
    uint8_t hdr[] = {0xff, 0xff, 0x00};
    ts_xor_iter it;
    ts_xor_iter_init(&it, hdr, sizeof(hdr));
    T_EQ(ts_it_next(&it.base), TS_VAL_NONE);
    T_EQ(ts_it_err(&it.base), TS_ECORRUPT);
    ts_xor_chunk_free(c);
}

/*
 * Cross-check against the real Prometheus encoder: write samples as
 * OpenMetrics, let `promtool tsdb create-blocks-from openmetrics` build a
 * block, then read the XOR chunks out of the block's chunk file (format:
 * 8-byte header, then per chunk uvarint length, encoding byte, data, CRC32).
 * Each chunk must decode to the input samples, and re-encoding those samples
 * with our encoder must give exactly promtool's bytes.
 */
/* Random finite doubles from random bit patterns: every window size and
 * position of the XOR value encoding. */
static double
wild_value(void)
{
    for (;;) {
        uint64_t u = ((uint64_t)rng() << 32) ^ (uint64_t)rng();
        double v;
        memcpy(&v, &u, sizeof(v));
        if (isfinite(v))
            return v;
    }
}

/* Timestamp steps that land in every delta-of-delta bucket: 0, 14, 17, 20
 * and 64 bits. */
static int64_t
wild_step_ms(void)
{
    switch (rng() % 5) {
    case 0: return 15000;
    case 1: return 15000 + (int64_t)(rng() % 16000) - 8000;
    case 2: return 60000 + (int64_t)(rng() % 120000);
    case 3: return 500000 + (int64_t)(rng() % 1000000);
    default: return 3600000 + (int64_t)(rng() % 3600000);
    }
}

/* Our encoder against the chunks promtool writes for the same samples
 * (plain: scrape-like data with gaps and specials; wild: random bit-pattern
 * values and steps in every dod bucket). */
static void
promtool_compare(int wild)
{
    enum { N = 1500 };
    int64_t ts[N];
    double vs[N];
    static const int frac_ms[] = {0, 500, 250, 125, 375, 875};
    const char *dir = t_tmpdir();
    char path[512], cmd[1400];
    snprintf(path, sizeof(path), "%s/in.om", dir);
    FILE *f = fopen(path, "w");
    T_TRUE(f != NULL);
    fprintf(f, "# TYPE m gauge\n");
    int64_t sec = 1700000000;
    int64_t wild_ms = sec * 1000;
    for (int i = 0; i < N; i++) {
        if (wild) {
            wild_ms += wild_step_ms();
            ts[i] = wild_ms;
            vs[i] = rng() % 8 ? wild_value() : (double)(rng() % 1000);
            fprintf(f, "m{a=\"b\"} %.17g %lld.%03lld\n", vs[i], (long long)(ts[i] / 1000),
                    (long long)(ts[i] % 1000));
            continue;
        }
        sec += (i % 17 == 5) ? 600 : 15 + (int64_t)(rng() % 3); /* gaps and jitter */
        ts[i] = sec * 1000 + frac_ms[rng() % 6];
        switch (rng() % 6) {
        case 0: vs[i] = NAN; break;
        case 1: vs[i] = INFINITY; break;
        case 2: vs[i] = -0.0; break;
        case 3: vs[i] = 42.0; break;
        default: vs[i] = (double)(rng() % 100000) / 64.0;
        }
        fprintf(f, "m{a=\"b\"} %.17g %lld.%03lld\n", vs[i], (long long)(ts[i] / 1000),
                (long long)(ts[i] % 1000));
    }
    fprintf(f, "# EOF\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "promtool tsdb create-blocks-from openmetrics %s/in.om %s/out >%s/promtool.log 2>&1",
             dir, dir, dir);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s/promtool.log >&2", dir);
        T_TRUE(system(cmd) == 0);
        T_FAIL_("promtool (Debian package prometheus) failed or is not installed");
    }

    /* Every block directory under out/, in name (= time) order. */
    snprintf(path, sizeof(path), "%s/out", dir);
    struct dirent **ents;
    int nents = scandir(path, &ents, NULL, alphasort);
    T_TRUE(nents > 0);
    size_t next = 0, nchunks = 0;
    int bad = 0;
    for (int e = 0; e < nents; e++) {
        char cpath[1024];
        snprintf(cpath, sizeof(cpath), "%s/out/%s/chunks/000001", dir, ents[e]->d_name);
        FILE *cf = ents[e]->d_name[0] == '.' ? NULL : fopen(cpath, "rb");
        free(ents[e]);
        if (!cf)
            continue;
        static uint8_t file[1 << 20];
        size_t flen = fread(file, 1, sizeof(file), cf);
        fclose(cf);
        if (flen < 8 || ts_get_be32(file) != 0x85BD40DD) {
            bad = 1;
            continue;
        }
        const uint8_t *p = file + 8, *end = file + flen;
        while (p < end && !bad) {
            uint64_t clen;
            size_t k = ts_uvarint_decode(p, end, &clen);
            if (k == 0 || clen > (size_t)(end - p) - k - 1) {
                bad = 1;
                break;
            }
            p += k;
            uint8_t enc = *p++;
            const uint8_t *data = p;
            p += clen + 4; /* data, CRC */
            if (enc != TS_ENC_XOR || p > end) {
                bad = 1;
                break;
            }
            nchunks++;
            ts_xor_chunk *mine = ts_xor_chunk_new();
            ts_xor_iter it;
            ts_xor_iter_init(&it, data, clen);
            while (ts_it_next(&it.base) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(&it.base, &t, &v);
                if (next >= N || t != ts[next] ||
                    !(bits_of(v) == bits_of(vs[next]) || (isnan(v) && isnan(vs[next])))) {
                    fprintf(stderr, "  sample %zu: promtool has (%lld, %g)\n", next, (long long)t,
                            v);
                    bad = 1;
                }
                next++;
                if (ts_xor_chunk_append(mine, t, v) != 0)
                    bad = 1;
            }
            size_t mlen;
            const uint8_t *mb = ts_xor_chunk_bytes(mine, &mlen);
            if (ts_it_err(&it.base) != 0 || mlen != clen || memcmp(mb, data, clen) != 0) {
                fprintf(stderr, "  chunk %zu: our bytes differ from promtool's\n", nchunks);
                for (size_t b = 0; b < clen || b < mlen; b++)
                    fprintf(stderr, "  %4zu %02X %02X%s\n", b, b < clen ? data[b] : 0,
                            b < mlen ? mb[b] : 0,
                            (b < clen && b < mlen && data[b] == mb[b]) ? "" : " <<");
                bad = 1;
            }
            ts_xor_chunk_free(mine);
        }
    }
    free(ents);
    T_FALSE(bad);
    T_EQ(next, N);
    T_TRUE(nchunks >= 12); /* 1500 samples: cut at 120 and at block boundaries */
}

/*
 * A literal transcription of the format (bit by bit, as Prometheus' bstream
 * writes: writeBits = whole bytes, then single bits; a byte written on a
 * boundary appends an empty byte), to check the encoder's word-at-a-time
 * writer after every single append, so every chunk end is covered: promtool
 * only shows the bytes of whole chunks.
 */
typedef struct ref_chunk {
    uint8_t b[4096];
    size_t len; /* bytes of stream (the 2-byte count excluded) */
    int free;   /* 0..8 */
    int n, leading, trailing;
    int64_t t, tdelta;
    uint64_t v;
} ref_chunk;

static void
ref_bit(ref_chunk *r, int bit)
{
    if (r->free == 0) {
        r->b[r->len++] = 0;
        r->free = 8;
    }
    if (bit)
        r->b[r->len - 1] |= (uint8_t)(1u << (r->free - 1));
    r->free--;
}

static void
ref_byte(ref_chunk *r, uint8_t byte)
{
    if (r->free == 0) {
        r->b[r->len++] = 0;
        r->free = 8;
    }
    r->b[r->len - 1] |= (uint8_t)(byte >> (8 - r->free));
    r->b[r->len++] = (uint8_t)((unsigned)byte << r->free);
}

static void
ref_bits(ref_chunk *r, uint64_t v, int n)
{
    for (; n >= 8; n -= 8)
        ref_byte(r, (uint8_t)(v >> (n - 8)));
    for (; n > 0; n--)
        ref_bit(r, (int)((v >> (n - 1)) & 1));
}

static void
ref_uvarint(ref_chunk *r, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        ref_bits(r, (v & 0x7f) | 0x80, 8);
    ref_bits(r, v, 8);
}

static void
ref_append(ref_chunk *r, int64_t t, double val)
{
    uint64_t v = bits_of(val);
    if (r->n == 0) {
        ref_uvarint(r, ((uint64_t)t << 1) ^ (uint64_t)(t >> 63));
        ref_bits(r, v, 64);
    } else {
        uint64_t delta = (uint64_t)t - (uint64_t)r->t;
        if (r->n == 1) {
            ref_uvarint(r, delta);
        } else {
            int64_t dod = (int64_t)(delta - (uint64_t)r->tdelta);
            static const int width[] = {14, 17, 20};
            int k = 0;
            while (k < 3 &&
                   !(dod >= -((1LL << (width[k] - 1)) - 1) && dod <= (1LL << (width[k] - 1))))
                k++;
            if (dod == 0)
                ref_bit(r, 0);
            else if (k < 3)
                ref_bits(r, (const uint64_t[]){0x2, 0x6, 0xe}[k], k + 2),
                    ref_bits(r, (uint64_t)dod & ((1ULL << width[k]) - 1), width[k]);
            else
                ref_bits(r, 0xf, 4), ref_bits(r, (uint64_t)dod, 64);
        }
        r->tdelta = (int64_t)delta;
        uint64_t x = v ^ r->v;
        if (x == 0) {
            ref_bit(r, 0);
        } else {
            int lead = __builtin_clzll(x) > 31 ? 31 : __builtin_clzll(x),
                trail = __builtin_ctzll(x);
            if (r->n >= 2 && r->leading >= 0 && lead >= r->leading && trail >= r->trailing) {
                ref_bits(r, 2, 2);
                ref_bits(r, x >> r->trailing, 64 - r->leading - r->trailing);
            } else {
                r->leading = lead;
                r->trailing = trail;
                ref_bits(r, 3, 2);
                ref_bits(r, (uint64_t)lead, 5);
                ref_bits(r, (uint64_t)((64 - lead - trail) & 63), 6);
                ref_bits(r, x >> trail, 64 - lead - trail);
            }
        }
    }
    r->t = t;
    r->v = v;
    r->n++;
}

static void
test_bstream_reference(void)
{
    size_t compared = 0;
    int bad = 0;
    for (int chunk = 0; chunk < 3000 && !bad; chunk++) {
        ref_chunk r = {.leading = -1};
        ts_xor_chunk *c = ts_xor_chunk_new();
        int kind = chunk % 4, len = 1 + (int)(rng() % 150);
        int64_t t = (int64_t)(rng() % 2000000000000ULL) - 500000000000LL;
        double v = (double)(rng() % 1000);
        for (int i = 0; i < len && !bad; i++) {
            t += kind == 0 ? 15000 : kind == 1 ? wild_step_ms() : 1 + (int64_t)(rng() % 100000);
            switch (kind == 3 ? (int)(rng() % 4) : kind) {
            case 0: v += (double)(rng() % 10); break;                /* counters, small windows */
            case 1: v = wild_value(); break;                         /* any window */
            case 2: v = rng() % 3 ? v : (double)(rng() % 64); break; /* repeats */
            default: v = (double)(rng() % 100000) / 64.0;
            }
            ref_append(&r, t, v);
            T_OK(ts_xor_chunk_append(c, t, v));
            size_t mlen;
            const uint8_t *mb = ts_xor_chunk_bytes(c, &mlen);
            compared++;
            if (mlen != r.len + 2 || memcmp(mb + 2, r.b, r.len) != 0 ||
                ts_get_be16(mb) != (uint16_t)r.n) {
                fprintf(stderr, "  chunk %d kind %d sample %d: %zu bytes, reference %zu\n", chunk,
                        kind, i, mlen, r.len + 2);
                bad = 1;
            }
        }
        ts_xor_chunk_free(c);
    }
    T_FALSE(bad);
    T_TRUE(compared > 100000);
}

static void
test_promtool_bytes(void)
{
    promtool_compare(0);
}

static void
test_promtool_bytes_wild(void)
{
    promtool_compare(1);
}

T_MAIN({"bytes_by_hand", test_bytes_by_hand},
       {"bytes_by_hand_reused_window", test_bytes_by_hand_reused_window},
       {"trailing_empty_byte", test_trailing_empty_byte}, {"dod_buckets", test_dod_buckets},
       {"special_values", test_special_values},
       {"irregular_and_huge_gaps", test_irregular_and_huge_gaps},
       {"order_rejected", test_order_rejected},
       {"constant_values_compress", test_constant_values_compress},
       {"random_values", test_random_values}, {"full_chunk_65535", test_full_chunk_65535},
       {"empty_and_steal", test_empty_and_steal}, {"seek", test_seek},
       {"truncated", test_truncated}, {"garbled", test_garbled},
       {"promtool_bytes", test_promtool_bytes}, {"promtool_bytes_wild", test_promtool_bytes_wild},
       {"bstream_reference", test_bstream_reference})
