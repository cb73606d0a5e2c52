/* Tests for pkg/tsdb/record: round trips and hostile input. */
#include "pkg/tsdb/record/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/storage/storage.h"
#include "pkg/util/err.h"
#include "tests/testutil/t.h"

static uint64_t
bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double
from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void
test_series_roundtrip(void)
{
    ts_labels *a = ts_labels_from_strings(4, "__name__", "up", "job", "node");
    ts_labels *b = ts_labels_from_strings(2, "__name__", "x\xff\x00y");
    ts_record_series in[3] = {{1, a}, {UINT64_MAX, b}, {42, ts_labels_empty()}};
    ts_buf buf;
    ts_buf_init(&buf, 0);
    T_OK(ts_record_encode_series(&buf, in, 3));
    T_EQ(ts_record_type(buf.p, buf.len), TS_REC_SERIES);
    ts_arena ar;
    ts_arena_init(&ar, 0);
    ts_record_series *out;
    size_t n;
    T_OK(ts_record_decode_series(buf.p, buf.len, &ar, &out, &n));
    T_EQ(n, 3);
    for (size_t i = 0; i < 3; i++) {
        T_EQ(out[i].ref, in[i].ref);
        T_TRUE(ts_labels_equal(out[i].labels, in[i].labels));
    }
    T_STREQ(ts_labels_get(out[0].labels, "job"), "node");
    /* the wrong decoder refuses it */
    ts_record_sample *sm;
    T_EQ(ts_record_decode_samples(buf.p, buf.len, &ar, &sm, &n), TS_ECORRUPT);
    ts_arena_fini(&ar);
    ts_buf_fini(&buf);
    ts_labels_free(a);
    ts_labels_free(b);
}

static void
test_samples_roundtrip(void)
{
    enum { N = 1000 };
    ts_record_sample in[N];
    for (int i = 0; i < N; i++) {
        in[i].ref = (uint64_t)(1000 - i * 3 + (i % 7 == 0 ? UINT64_MAX / 2 : 0));
        in[i].t = (i % 11 == 0) ? INT64_MIN + i : 1700000000000 + i * 15000 - (i % 5) * 100000;
        in[i].v = i * 1.5 - 7;
    }
    in[3].v = ts_stale_nan();
    in[4].v = from_bits(0x7ff8000000000123ULL); /* another NaN payload */
    in[5].v = -0.0;
    in[6].t = INT64_MAX;
    ts_buf buf;
    ts_buf_init(&buf, 0);
    T_OK(ts_record_encode_samples(&buf, in, N));
    T_EQ(ts_record_type(buf.p, buf.len), TS_REC_SAMPLES);
    ts_arena ar;
    ts_arena_init(&ar, 0);
    ts_record_sample *out;
    size_t n;
    T_OK(ts_record_decode_samples(buf.p, buf.len, &ar, &out, &n));
    T_EQ(n, N);
    for (int i = 0; i < N; i++) {
        T_EQ(out[i].ref, in[i].ref);
        T_EQ(out[i].t, in[i].t);
        T_EQ(bits_of(out[i].v), bits_of(in[i].v));
    }
    T_TRUE(ts_is_stale_nan(out[3].v));
    /* empty record */
    ts_buf_reset(&buf);
    T_OK(ts_record_encode_samples(&buf, in, 0));
    T_EQ(buf.len, 1);
    T_OK(ts_record_decode_samples(buf.p, buf.len, &ar, &out, &n));
    T_EQ(n, 0);
    T_EQ(ts_record_type(buf.p, 0), 0);
    ts_arena_fini(&ar);
    ts_buf_fini(&buf);
}

/* Every truncation of a valid record either fails cleanly or yields a
 * prefix of the entries. */
/* The heap variant decodes the same sets, as heap sets (reference-counted,
 * outliving the arena); truncated input fails without leaving any behind
 * (ASan's leak check). */
static void
test_series_heap(void)
{
    ts_labels *a = ts_labels_from_strings(4, "__name__", "up", "job", "node");
    ts_labels *b = ts_labels_from_strings(6, "__name__", "x", "a", "1", "zz", "2");
    ts_record_series in[3] = {{7, a}, {8, b}, {9, ts_labels_empty()}};
    ts_buf buf;
    ts_buf_init(&buf, 0);
    T_OK(ts_record_encode_series(&buf, in, 3));
    ts_arena ar;
    ts_arena_init(&ar, 0);
    ts_record_series *out;
    size_t n;
    T_OK(ts_record_decode_series_heap(buf.p, buf.len, &ar, &out, &n));
    T_EQ(n, 3);
    ts_labels *kept[3];
    for (size_t i = 0; i < n; i++) {
        T_EQ(out[i].ref, in[i].ref);
        T_TRUE(ts_labels_equal(out[i].labels, in[i].labels));
        T_EQ(out[i].labels->hash, in[i].labels->hash);
        T_EQ(atomic_load(&out[i].labels->refs), 1); /* a heap set */
        kept[i] = (ts_labels *)out[i].labels;
    }
    ts_arena_fini(&ar); /* the sets live on */
    T_STREQ(ts_labels_get(kept[1], "zz"), "2");
    for (size_t i = 0; i < 3; i++)
        ts_labels_free(kept[i]);

    ts_arena_init(&ar, 0);
    for (size_t cut = 0; cut < buf.len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, buf.p, cut);
        int rc = ts_record_decode_series_heap(copy, cut, &ar, &out, &n);
        if (rc == TS_OK) {
            T_TRUE(n < 3);
            for (size_t i = 0; i < n; i++) {
                T_TRUE(ts_labels_equal(out[i].labels, in[i].labels));
                ts_labels_free((ts_labels *)out[i].labels);
            }
        } else {
            T_EQ(rc, TS_ECORRUPT);
        }
        free(copy);
        ts_arena_reset(&ar);
    }
    ts_arena_fini(&ar);
    ts_buf_fini(&buf);
    ts_labels_free(a);
    ts_labels_free(b);
}

static void
test_truncated(void)
{
    ts_labels *a = ts_labels_from_strings(4, "__name__", "metric_name", "instance", "host:9100");
    ts_record_series ser[4] = {{1, a}, {2, a}, {3, a}, {4, a}};
    ts_record_sample sam[20];
    for (int i = 0; i < 20; i++)
        sam[i] = (ts_record_sample){(uint64_t)i, 1000 + i, i * 0.25};
    ts_buf bs, bm;
    ts_buf_init(&bs, 0);
    ts_buf_init(&bm, 0);
    T_OK(ts_record_encode_series(&bs, ser, 4));
    T_OK(ts_record_encode_samples(&bm, sam, 20));
    ts_arena ar;
    ts_arena_init(&ar, 0);
    for (size_t cut = 0; cut < bs.len; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact size so ASan catches overreads */
        memcpy(copy, bs.p, cut);
        ts_record_series *out;
        size_t n;
        int rc = ts_record_decode_series(copy, cut, &ar, &out, &n);
        if (rc == TS_OK) {
            T_TRUE(n < 4);
            for (size_t i = 0; i < n; i++)
                T_TRUE(ts_labels_equal(out[i].labels, a));
        } else {
            T_EQ(rc, TS_ECORRUPT);
        }
        free(copy);
    }
    for (size_t cut = 0; cut < bm.len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, bm.p, cut);
        ts_record_sample *out;
        size_t n;
        int rc = ts_record_decode_samples(copy, cut, &ar, &out, &n);
        if (rc == TS_OK) {
            T_TRUE(n < 20);
            for (size_t i = 0; i < n; i++)
                T_EQ(out[i].t, sam[i].t);
        } else {
            T_EQ(rc, TS_ECORRUPT);
        }
        free(copy);
    }
    ts_arena_fini(&ar);
    ts_buf_fini(&bs);
    ts_buf_fini(&bm);
    ts_labels_free(a);
}

/* Random bytes (with a valid type byte) never crash or over-read. */
static void
test_random_input(void)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    ts_arena ar;
    ts_arena_init(&ar, 0);
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 97);
        uint8_t *p = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            p[i] = (uint8_t)seed;
            /* bias towards small varints / lengths so decoding gets deep */
            if ((seed >> 40) % 3 == 0)
                p[i] &= 0x07;
        }
        if (n > 0)
            p[0] = (iter & 1) ? TS_REC_SERIES : TS_REC_SAMPLES;
        ts_record_series *s;
        ts_record_sample *m;
        size_t cnt;
        int rc1 = ts_record_decode_series(p, n, &ar, &s, &cnt);
        int rc2 = ts_record_decode_samples(p, n, &ar, &m, &cnt);
        T_TRUE(rc1 == TS_OK || rc1 == TS_ECORRUPT);
        T_TRUE(rc2 == TS_OK || rc2 == TS_ECORRUPT);
        (rc1 == TS_OK || rc2 == TS_OK) ? ok++ : bad++;
        free(p);
        ts_arena_reset(&ar);
    }
    T_TRUE(ok > 0 && bad > 0); /* both paths were exercised */
    ts_arena_fini(&ar);
}

T_MAIN({"series_roundtrip", test_series_roundtrip}, {"series_heap", test_series_heap},
       {"samples_roundtrip", test_samples_roundtrip}, {"truncated", test_truncated},
       {"random_input", test_random_input})
