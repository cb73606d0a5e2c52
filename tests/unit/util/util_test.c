#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/md5.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"

#include <errno.h>

static void
test_arena(void)
{
    ts_arena a;
    ts_arena_init(&a, 128);
    char *s = ts_arena_strdup(&a, "hello");
    T_STREQ(s, "hello");
    /* many small + one big allocation, all 16-aligned and writable */
    for (int i = 0; i < 1000; i++) {
        char *p = ts_arena_alloc(&a, (size_t)(i % 50) + 1);
        T_EQ((uintptr_t)p % 16, 0);
        memset(p, 'x', (size_t)(i % 50) + 1);
    }
    char *big = ts_arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    T_STREQ(s, "hello");
    T_STREQ(ts_arena_sprintf(&a, "%d-%s", 42, "x"), "42-x");
    ts_arena_reset(&a);
    T_EQ(a.allocated, 0);
    T_STREQ(ts_arena_strdup(&a, "again"), "again");
    ts_arena_fini(&a);
}

static void
test_buf_bounded(void)
{
    ts_buf b;
    ts_buf_init(&b, 10);
    T_OK(ts_buf_puts(&b, "12345"));
    T_OK(ts_buf_puts(&b, "67890"));
    T_EQ(ts_buf_puts(&b, "x"), TS_ELIMIT);
    T_EQ(b.len, 10);
    T_STREQ(ts_buf_cstr(&b), "1234567890");
    ts_buf_fini(&b);
}

static void
test_varint_roundtrip(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    const int64_t vals[] = {0, 1, -1, 63, -64, 300, INT64_MAX, INT64_MIN, 1LL << 40};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        T_OK(ts_buf_put_varint(&b, vals[i]));
        T_OK(ts_buf_put_uvarint(&b, (uint64_t)vals[i]));
        T_OK(ts_buf_put_be32(&b, (uint32_t)vals[i]));
    }
    ts_dec d;
    ts_dec_init(&d, b.p, b.len);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        T_EQ(ts_dec_varint(&d), vals[i]);
        T_TRUE(ts_dec_uvarint(&d) == (uint64_t)vals[i]);
        T_EQ(ts_dec_be32(&d), (uint32_t)vals[i]);
    }
    T_EQ(d.err, 0);
    T_EQ(ts_dec_len(&d), 0);
    /* reading past the end is a sticky error, never a crash */
    T_EQ(ts_dec_be64(&d), 0);
    T_EQ(d.err, TS_ECORRUPT);
    T_EQ(ts_dec_byte(&d), 0);
    /* a truncated varint */
    uint8_t trunc[] = {0x80, 0x80};
    ts_dec_init(&d, trunc, sizeof(trunc));
    ts_dec_uvarint(&d);
    T_EQ(d.err, TS_ECORRUPT);
    ts_buf_fini(&b);
}

static void
test_crc32c(void)
{
    /* Standard check value for CRC-32C of "123456789". */
    T_EQ(ts_crc32c(0, "123456789", 9), 0xE3069283u);
    /* incremental == one-shot */
    uint32_t c = ts_crc32c(0, "1234", 4);
    c = ts_crc32c(c, "56789", 5);
    T_EQ(c, 0xE3069283u);
    T_NE(ts_hash64("a", 1), ts_hash64("b", 1));
}

static void
test_rendezvous(void)
{
    /* 1000 targets; growing from n to n+1 shards moves about 1/(n+1) of them,
     * and only to the new shard; every target has exactly one owner */
    char key[64];
    for (uint32_t n = 1; n <= 8; n++) {
        int moved = 0, count_new[16] = {0};
        for (int t = 0; t < 1000; t++) {
            snprintf(key, sizeof(key), "10.0.%d.%d:9100", t / 256, t % 256);
            uint32_t a = ts_rendezvous(key, strlen(key), n);
            uint32_t b = ts_rendezvous(key, strlen(key), n + 1);
            T_TRUE(a < n && b < n + 1);
            if (a != b) {
                moved++;
                T_EQ(b, n); /* a target only ever moves to the new shard */
            }
            count_new[b]++;
        }
        double frac = moved / 1000.0, ideal = 1.0 / (n + 1);
        printf("rendezvous %u -> %u shards: moved %.3f of 1000 targets (ideal %.3f)\n", n, n + 1,
               frac, ideal);
        T_TRUE(frac > ideal * 0.7 && frac < ideal * 1.3);
        int total = 0;
        for (uint32_t s = 0; s <= n; s++) {
            total += count_new[s];
            T_TRUE(count_new[s] > 1000 / (int)(n + 1) / 2); /* roughly balanced */
        }
        T_EQ(total, 1000);
    }
}

static void
test_md5(void)
{
    /* RFC 1321 test suite values */
    static const struct {
        const char *in, *hex;
    } cases[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t d[16];
        char hex[33];
        ts_md5(cases[i].in, strlen(cases[i].in), d);
        for (int k = 0; k < 16; k++)
            snprintf(hex + 2 * k, 3, "%02x", d[k]);
        T_STREQ(hex, cases[i].hex);
    }
}

static void
test_duration(void)
{
    int64_t ms;
    T_OK(ts_duration_parse("1h30m", 5, &ms));
    T_EQ(ms, 5400000);
    T_OK(ts_duration_parse("5m", 2, &ms));
    T_EQ(ms, 300000);
    T_OK(ts_duration_parse("1ms", 3, &ms));
    T_EQ(ms, 1);
    T_OK(ts_duration_parse("2d1s", 4, &ms));
    T_EQ(ms, 2 * 86400000LL + 1000);
    T_OK(ts_duration_parse("1y", 2, &ms));
    T_EQ(ms, 365LL * 86400000);
    T_OK(ts_duration_parse("0", 1, &ms));
    T_EQ(ms, 0);
    T_EQ(ts_duration_parse("", 0, &ms), TS_EPARSE);
    T_EQ(ts_duration_parse("5", 1, &ms), TS_EPARSE);
    T_EQ(ts_duration_parse("1x", 2, &ms), TS_EPARSE);
    T_EQ(ts_duration_parse("1m1h", 4, &ms), TS_EPARSE);
    T_EQ(ts_duration_parse("-1m", 3, &ms), TS_EPARSE);
    T_EQ(ts_duration_parse("99999999999999999999s", 21, &ms), TS_EPARSE);
    /* model.ParseDuration's reasons, and its int64-ns bound (the PromQL parser's texts) */
    const char *why = NULL;
    T_OK(ts_duration_parse_why("1y2w3d4h5m6s7ms", 15, &ms, &why));
    T_EQ(ms,
         365LL * 86400000 + 14 * 86400000LL + 3 * 86400000LL + 4 * 3600000 + 5 * 60000 + 6000 + 7);
    T_EQ(ts_duration_parse_why("", 0, &ms, &why), TS_EPARSE);
    T_STREQ(why, "empty duration string");
    T_EQ(ts_duration_parse_why("5xs", 3, &ms, &why), TS_EPARSE);
    T_STREQ(why, "not a valid duration string");
    T_EQ(ts_duration_parse_why("1s1m", 4, &ms, &why), TS_EPARSE);
    T_STREQ(why, "not a valid duration string");
    T_EQ(ts_duration_parse_why("1ms1s", 5, &ms, &why), TS_EPARSE);
    T_STREQ(why, "not a valid duration string");
    T_EQ(ts_duration_parse_why("300y", 4, &ms, &why), TS_EPARSE);
    T_STREQ(why, "duration out of range");
    T_EQ(ts_duration_parse_why("99999999999999999999s", 21, &ms, &why), TS_EPARSE);
    T_STREQ(why, "duration out of range");
    T_EQ(ts_duration_parse_why("300y5x", 6, &ms, &why), TS_EPARSE); /* syntax first */
    T_STREQ(why, "not a valid duration string");
    T_OK(ts_duration_parse("292y", 4, &ms)); /* 292 years fit in int64 ns */
    T_EQ(ms, 292LL * 365 * 86400000);
    T_EQ(ts_duration_parse("293y", 4, &ms), TS_EPARSE);
    char buf[32];
    T_STREQ(ts_duration_format(5400000, buf, sizeof(buf)), "1h30m");
    T_STREQ(ts_duration_format(0, buf, sizeof(buf)), "0s");
    T_STREQ(ts_duration_format(15000, buf, sizeof(buf)), "15s");
    T_STREQ(ts_duration_format(1209600000, buf, sizeof(buf)), "2w");
    T_STREQ(ts_duration_format(86400000LL * 15, buf, sizeof(buf)), "15d");
    T_STREQ(ts_duration_format(86400000LL * 366, buf, sizeof(buf)), "366d");
    T_STREQ(ts_duration_format(86400000LL * 365, buf, sizeof(buf)), "1y");
}

static void
test_fs(void)
{
    const char *dir = t_tmpdir();
    char path[512], sub[512];
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    T_OK(ts_fs_mkdir_all(sub, 0755));
    T_OK(ts_fs_mkdir_all(sub, 0755));
    snprintf(path, sizeof(path), "%s/file", sub);
    T_OK(ts_fs_write_file_atomic(path, "data", 4));
    char *out;
    size_t n;
    T_OK(ts_fs_read_file(path, 0, &out, &n));
    T_EQ(n, 4);
    T_STREQ(out, "data");
    ts_free(out);
    T_EQ(ts_fs_read_file(path, 2, &out, &n), TS_ELIMIT);
    T_EQ(ts_fs_dir_size(dir), 4);
    snprintf(sub, sizeof(sub), "%s/a", dir);
    T_OK(ts_fs_remove_all(sub));
    T_FALSE(ts_fs_exists(sub));
    T_EQ(ts_fs_read_file(path, 0, &out, &n), -ENOENT);
}

static void
test_error(void)
{
    ts_error e;
    ts_error_clear(&e);
    T_EQ(ts_error_set(&e, TS_EPARSE, "bad %s", "thing"), TS_EPARSE);
    ts_error_prefix(&e, "file.yml:%d: ", 3);
    T_STREQ(e.msg, "file.yml:3: bad thing");
    T_STREQ(ts_strerror(-ENOENT), "No such file or directory");
    T_STREQ(ts_strerror(TS_EOOO), "out of order sample");
}

T_MAIN({"arena", test_arena}, {"buf_bounded", test_buf_bounded},
       {"varint_roundtrip", test_varint_roundtrip}, {"crc32c", test_crc32c}, {"md5", test_md5},
       {"rendezvous", test_rendezvous}, {"duration", test_duration}, {"fs", test_fs},
       {"error", test_error})
