/*
 * jsonw: structure, string escaping and float forms.  The expected texts were
 * taken from responses of a real Prometheus 2.42 (Debian's prometheus, queried
 * with `vector(X)` for sample values and `X` for scalars).
 */
#include "pkg/util/err.h"
#include "pkg/util/jsonw.h"
#include "tests/testutil/t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fcase {
    double v;
    const char *vec;    /* sample value (marshalValue) */
    const char *scalar; /* scalar value (FormatFloat 'f', -1) */
} fcase;

static void
test_float_forms(void)
{
    static const fcase cases[] = {
        {0.1, "0.1", "0.1"},
        {1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666", "0.6666666666666666"},
        {100, "100", "100"},
        {1e20, "100000000000000000000", "100000000000000000000"},
        {9.999999999999999e20, "999999999999999900000", "999999999999999900000"},
        {1e21, "1e+21", "1000000000000000000000"},
        {123456789012345678.0, "123456789012345680", "123456789012345680"},
        {9007199254740993.0, "9007199254740992", "9007199254740992"},
        {1e-6, "0.000001", "0.000001"},
        {9.99e-7, "9.99e-07", "0.000000999"},
        {1.5e-7, "1.5e-07", "0.00000015"},
        {1e-7, "1e-07", "0.0000001"},
        {-2.5, "-2.5", "-2.5"},
        {1e100, "1e+100", NULL},
        {0.000123, "0.000123", "0.000123"},
        {12345.6789, "12345.6789", "12345.6789"},
        {1e15 + 0.3, "1000000000000000.2", "1000000000000000.2"},
        {-1e-10, "-1e-10", "-0.0000000001"},
        {3.14159e25, "3.14159e+25", "31415900000000000000000000"},
        {4.35e-5, "0.0000435", "0.0000435"},
        {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
        {1.7976931348623157e308, "1.7976931348623157e+308", NULL},
        {5e-324, "5e-324", NULL},
        {2.2250738585072014e-308, "2.2250738585072014e-308", NULL},
        {-0.0, "-0", "-0"},
        {0, "0", "0"},
        {1435781451.781, "1435781451.781", "1435781451.781"},
        {NAN, "NaN", "NaN"},
        {INFINITY, "+Inf", "+Inf"},
        {-INFINITY, "-Inf", "-Inf"},
    };
    char b[TS_FLOAT_BUF_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_format_prom_value(cases[i].v, b, sizeof b);
        T_STREQ(b, cases[i].vec);
        if (cases[i].scalar) {
            ts_format_float_go(cases[i].v, 'f', b, sizeof b);
            T_STREQ(b, cases[i].scalar);
        }
    }
    /* the longest 'f' forms fit and are exact */
    size_t n = ts_format_float_go(5e-324, 'f', b, sizeof b);
    T_EQ(n, 326);
    T_TRUE(strncmp(b, "0.0000", 6) == 0 && b[n - 1] == '5');
    n = ts_format_float_go(1.7976931348623157e308, 'f', b, sizeof b);
    T_EQ(n, 309);
    T_TRUE(strncmp(b, "17976931348623157000", 20) == 0);
    /* 'g' as Go: exponent form from 1e+06 on, and below 1e-4 */
    ts_format_float_go(1e6, 'g', b, sizeof b);
    T_STREQ(b, "1e+06");
    ts_format_float_go(123456.5, 'g', b, sizeof b);
    T_STREQ(b, "123456.5");
    ts_format_float_go(0.0001, 'g', b, sizeof b);
    T_STREQ(b, "0.0001");
    ts_format_float_go(0.00001234, 'g', b, sizeof b);
    T_STREQ(b, "1.234e-05");
    /* a small buffer truncates but reports the full length */
    char small[4];
    T_EQ(ts_format_float_go(12345.5, 'f', small, sizeof small), 7);
    T_STREQ(small, "123");
}

static const char *
render(ts_buf *b)
{
    return ts_buf_cstr(b);
}

static void
test_timestamps(void)
{
    /* marshalTimestamp forms seen from Prometheus: [1435781451.780,...],
     * [0.001,...], [-1.500,...], [1,...], [-0.001,...]; scalars use float64/1000. */
    static const struct {
        int64_t ms;
        const char *vec, *scalar;
    } cases[] = {
        {1435781451780, "1435781451.780", "1435781451.78"},
        {1435781451781, "1435781451.781", "1435781451.781"},
        {1, "0.001", "0.001"},
        {-1500, "-1.500", "-1.5"},
        {1000, "1", "1"},
        {0, "0", "0"},
        {-1, "-0.001", "-0.001"},
        {1435774251000, "1435774251", "1435774251"},
        {INT64_MIN, "-9223372036854775.808", "-9223372036854776"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_buf b;
        ts_buf_init(&b, 0);
        ts_jsonw w;
        ts_jsonw_init(&w, &b);
        ts_jsonw_prom_time(&w, cases[i].ms);
        T_STREQ(render(&b), cases[i].vec);
        ts_buf_reset(&b);
        ts_jsonw_init(&w, &b);
        ts_jsonw_prom_time_float(&w, cases[i].ms);
        T_STREQ(render(&b), cases[i].scalar);
        ts_buf_fini(&b);
    }
}

static void
test_structure(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw w;
    ts_jsonw_init(&w, &b);
    ts_jsonw_obj_begin(&w);
    ts_jsonw_key(&w, "status");
    ts_jsonw_str(&w, "success");
    ts_jsonw_key(&w, "data");
    ts_jsonw_arr_begin(&w);
    ts_jsonw_obj_begin(&w);
    ts_jsonw_obj_end(&w);
    ts_jsonw_arr_begin(&w);
    ts_jsonw_prom_time(&w, 1500);
    ts_jsonw_prom_value(&w, 1e21);
    ts_jsonw_arr_end(&w);
    ts_jsonw_int(&w, -42);
    ts_jsonw_uint(&w, UINT64_MAX);
    ts_jsonw_bool(&w, true);
    ts_jsonw_null(&w);
    ts_jsonw_double(&w, 1e-7);
    ts_jsonw_double(&w, 1e21);
    ts_jsonw_double(&w, NAN);
    ts_jsonw_raw(&w, "{\"x\":1}", 7);
    ts_jsonw_arr_end(&w);
    ts_jsonw_key(&w, "empty");
    ts_jsonw_arr_begin(&w);
    ts_jsonw_arr_end(&w);
    ts_jsonw_obj_end(&w);
    T_OK(ts_jsonw_err(&w));
    T_STREQ(render(&b), "{\"status\":\"success\",\"data\":[{},[1.500,\"1e+21\"],-42,"
                        "18446744073709551615,true,null,1e-7,1e+21,null,{\"x\":1}],\"empty\":[]}");
    ts_buf_fini(&b);
}

static void
test_strings(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw w;
    ts_jsonw_init(&w, &b);
    /* Prometheus printed this string result as
     * "\u003ca\u0026b\u003e\u2028\u2029\u0008\u000c\n\t\r\u0001<DEL>\u0000" */
    static const char in[] = "<a&b>\xe2\x80\xa8\xe2\x80\xa9\b\f\n\t\r\x01\x7f";
    ts_jsonw_strn(&w, in, sizeof in); /* includes the NUL */
    T_STREQ(render(&b),
            "\"\\u003ca\\u0026b\\u003e\\u2028\\u2029\\u0008\\u000c\\n\\t\\r\\u0001\x7f\\u0000\"");
    /* label value with invalid bytes: "\u003c\u0026\u003e\ufffd\ufffd" */
    ts_buf_reset(&b);
    ts_jsonw_init(&w, &b);
    ts_jsonw_str(&w, "<&>\xff\xfe");
    T_STREQ(render(&b), "\"\\u003c\\u0026\\u003e\\ufffd\\ufffd\"");
    /* valid multibyte kept; quote and backslash; truncated, overlong and surrogate sequences */
    ts_buf_reset(&b);
    ts_jsonw_init(&w, &b);
    ts_jsonw_str(&w,
                 "\xc3\xa9\"\\\xf0\x9f\x98\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80");
    T_STREQ(render(&b), "\"\xc3\xa9\\\"\\\\\xf0\x9f\x98\x80|\\ufffd\\ufffd|\\ufffd\\ufffd|"
                        "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd\"");
    /* keys are escaped too, NULL string is "" */
    ts_buf_reset(&b);
    ts_jsonw_init(&w, &b);
    ts_jsonw_obj_begin(&w);
    ts_jsonw_key(&w, "a\"b");
    ts_jsonw_str(&w, NULL);
    ts_jsonw_obj_end(&w);
    T_STREQ(render(&b), "{\"a\\\"b\":\"\"}");
    ts_buf_fini(&b);
}

static void
test_limits(void)
{
    ts_buf b;
    ts_buf_init(&b, 16);
    ts_jsonw w;
    ts_jsonw_init(&w, &b);
    ts_jsonw_arr_begin(&w);
    for (int i = 0; i < 100; i++)
        ts_jsonw_str(&w, "abcdef");
    ts_jsonw_arr_end(&w);
    T_EQ(ts_jsonw_err(&w), TS_ELIMIT);
    T_TRUE(b.len <= 16);
    ts_buf_fini(&b);

    ts_buf_init(&b, 0);
    ts_jsonw_init(&w, &b);
    for (int i = 0; i < TS_JSONW_MAX_DEPTH + 5; i++)
        ts_jsonw_arr_begin(&w);
    T_EQ(ts_jsonw_err(&w), TS_ELIMIT);
    ts_buf_fini(&b);
}

/* Property: every finite double's text parses back to the same bits, in
 * both notations, and the digits are as short as "%.17g" or shorter. */
static void
test_roundtrip_random(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char b[TS_FLOAT_BUF_MAX];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        double v;
        if (i % 3 == 0) {
            memcpy(&v, &x, sizeof v); /* any bit pattern */
        } else {
            v = (double)(x >> 11) / (double)(1ull << 53) * pow(10, (int)(x % 40) - 20);
        }
        if (!isfinite(v))
            continue;
        ts_format_prom_value(v, b, sizeof b);
        double back = strtod(b, NULL);
        if (memcmp(&back, &v, sizeof v) != 0)
            T_FAIL_("prom value %.17g -> %s -> %.17g", v, b, back);
        ts_format_float_go(v, 'f', b, sizeof b);
        back = strtod(b, NULL);
        if (memcmp(&back, &v, sizeof v) != 0)
            T_FAIL_("'f' %.17g -> %s -> %.17g", v, b, back);
        /* no trailing zeros after a decimal point, no exponent in 'f' */
        size_t n = strlen(b);
        T_TRUE(strchr(b, 'e') == NULL);
        if (strchr(b, '.'))
            T_TRUE(b[n - 1] != '0' && b[n - 1] != '.');
    }
}

/* Random bytes as strings: the output is valid JSON text for the string
 * (only printable ASCII or valid UTF-8 between the quotes) and never crashes. */
static void
test_strings_random(void)
{
    uint64_t x = 12345;
    ts_buf b;
    ts_buf_init(&b, 0);
    for (int i = 0; i < 20000; i++) {
        unsigned char in[16];
        for (size_t k = 0; k < sizeof in; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[k] = (unsigned char)x;
        }
        ts_buf_reset(&b);
        ts_jsonw w;
        ts_jsonw_init(&w, &b);
        ts_jsonw_strn(&w, (const char *)in, (size_t)(x % 17));
        T_OK(ts_jsonw_err(&w));
        T_TRUE(b.len >= 2 && b.p[0] == '"' && b.p[b.len - 1] == '"');
        for (size_t k = 1; k + 1 < b.len; k++)
            T_TRUE(b.p[k] >= 0x20); /* no raw control bytes */
    }
    ts_buf_fini(&b);
}

T_MAIN({"float_forms", test_float_forms}, {"timestamps", test_timestamps},
       {"structure", test_structure}, {"strings", test_strings}, {"limits", test_limits},
       {"roundtrip_random", test_roundtrip_random}, {"strings_random", test_strings_random})
