/*
 * pkg/util/floatfmt.c.
 *
 * Float to text (ts_format_float_go, ts_format_prom_value) checked against a
 * slow exact reference built on the C library:
 *
 *  - glibc's printf rounds correctly in the current rounding mode, so "%.*e"
 *    under FE_TONEAREST / FE_DOWNWARD / FE_UPWARD gives the nearest p-digit
 *    decimal R (ties to even) and the two around v, F <= v <= C.  strtod (in
 *    FE_TONEAREST) tells whether a decimal reads back as v, and on which
 *    side of v a decimal that does not lies.
 *  - At p digits, some decimal reads back iff F or C does (the rounding
 *    interval is convex and contains v), and the one Go prints is the closest
 *    of them: R if R reads back, else the other of F and C.
 *  - A decimal with fewer digits is also a p-digit decimal (add zeros), so the
 *    shortest length is the first p that has one.  The full reference tries
 *    p = 1..17; the bulk check, given the n digits under test, confirms that
 *    n - 1 digits have none and that n digits give exactly these digits.
 *
 * The layout (Go's 'f', 'e', 'g' and Prometheus' value form) is compared with
 * ref_layout, the layout code the formatter had before the digits were
 * computed in integer arithmetic, applied to the reference digits.
 *
 * Sets: edge values (zeros, subnormals, DBL_MIN/MAX, every power of two, the
 * powers of ten and their neighbours, the 'g' and marshalValue thresholds,
 * integers around 2^53, ties), four mantissas of every binade, 1,000,000
 * random bit patterns and 200,000 random "human" decimals k / 10^j, fixed
 * seeds.  TS_FLOATFMT_RANDOM=N changes the number of random bit patterns (for
 * a long one-off run in a Release build: `floatfmt_test random_bits`).
 *
 * Text to float (ts_parse_float_go): a table of texts that Go's
 * strconv.ParseFloat takes or refuses, each checked against Prometheus 2.42
 * (as the time parameter of /api/v1/query, which it parses with ParseFloat).
 */
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/jsonw.h"
#include "tests/testutil/t.h"

#include <errno.h>
#include <fenv.h>
#include <math.h>
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ reference */

typedef struct refdec {
    char d[24]; /* significant digits, trailing zeros dropped */
    int nd;
    int dp; /* value = 0.d * 10^dp */
} refdec;

/* p significant digits of v > 0 rounded in the given mode; returns the
 * decimal exponent of the first digit. */
static int
round_p(double v, int p, int mode, char *m)
{
    char tmp[64];
    if (mode != FE_TONEAREST)
        fesetround(mode);
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    if (mode != FE_TONEAREST)
        fesetround(FE_TONEAREST);
    int n = 0;
    const char *c = tmp;
    for (; *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            m[n++] = *c;
    m[n] = '\0';
    return (int)strtol(c + 1, NULL, 10);
}

static double
strtod_of(const char *m, int e)
{
    /* "d.ddde-123", built by hand: printf is the slow part of this test */
    char tmp[64], *t = tmp;
    *t++ = m[0];
    *t++ = '.';
    for (const char *c = m + 1; *c; c++)
        *t++ = *c;
    *t++ = 'e';
    if (e < 0) {
        *t++ = '-';
        e = -e;
    }
    char num[8];
    int n = 0;
    do
        num[n++] = (char)('0' + e % 10);
    while ((e /= 10) > 0);
    while (n > 0)
        *t++ = num[--n];
    *t = '\0';
    return strtod(tmp, NULL);
}

static void
to_refdec(const char *m, int e, refdec *r)
{
    int n = (int)strlen(m);
    while (n > 1 && m[n - 1] == '0')
        n--;
    memcpy(r->d, m, (size_t)n);
    r->d[n] = '\0';
    r->nd = n;
    r->dp = e + 1;
}

/* The p-digit decimal Go would print for v > 0 if p digits are enough. */
static bool
ref_at(double v, int p, refdec *out)
{
    char r[24], o[24];
    int re = round_p(v, p, FE_TONEAREST, r);
    double rv = strtod_of(r, re);
    if (rv == v) {
        to_refdec(r, re, out);
        return true;
    }
    /* R is F or C: strtod is monotonic, so R < v iff strtod(R) < v (!= v
     * here); the other candidate lies on the other side of v */
    int oe = round_p(v, p, rv < v ? FE_UPWARD : FE_DOWNWARD, o);
    if (strtod_of(o, oe) != v)
        return false;
    to_refdec(o, oe, out);
    return true;
}

/* Whether some p-digit decimal reads back as v > 0: F (rounded down) or the
 * next p-digit decimal up, which is C unless F is v itself (then F reads
 * back).  One printf instead of ref_at's two, for the bulk check. */
static bool
any_at(double v, int p)
{
    char f[24];
    int fe = round_p(v, p, FE_DOWNWARD, f);
    if (strtod_of(f, fe) == v)
        return true;
    int i = p - 1;
    while (i >= 0 && f[i] == '9')
        f[i--] = '0';
    if (i >= 0) {
        f[i]++;
    } else { /* 99..9 + 1 = 100..0, one decimal place up */
        f[0] = '1';
        fe++;
    }
    return strtod_of(f, fe) == v;
}

/* Full reference: shortest, then closest, by trying every length. */
static void
ref_shortest(double v, refdec *out)
{
    for (int p = 1; p <= 17; p++)
        if (ref_at(v, p, out))
            return;
    out->nd = -1; /* impossible: 17 digits always read back */
}

/* ------------------------------------------------------------ reference layout */

typedef struct rout {
    char b[TS_FLOAT_BUF_MAX];
    size_t len;
} rout;

static void
rc(rout *o, char c)
{
    if (o->len + 1 < sizeof o->b)
        o->b[o->len++] = c;
}

static void
ref_f(rout *o, const refdec *d)
{
    if (d->dp > 0) {
        for (int i = 0; i < d->dp; i++)
            rc(o, i < d->nd ? d->d[i] : '0');
    } else {
        rc(o, '0');
    }
    if (d->nd > d->dp) {
        rc(o, '.');
        for (int i = d->dp; i < d->nd; i++)
            rc(o, i < 0 ? '0' : d->d[i]);
    }
}

static void
ref_e(rout *o, const refdec *d)
{
    rc(o, d->nd ? d->d[0] : '0');
    if (d->nd > 1) {
        rc(o, '.');
        for (int i = 1; i < d->nd; i++)
            rc(o, d->d[i]);
    }
    int exp = d->nd ? d->dp - 1 : 0;
    char num[16];
    snprintf(num, sizeof num, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    for (const char *c = num; *c; c++)
        rc(o, *c);
}

/* fmt: 'f', 'e', 'g' (Go FormatFloat, -1) or 'p' (marshalValue). */
static void
ref_layout(double v, const refdec *d, char fmt, rout *o)
{
    o->len = 0;
    if (isnan(v) || isinf(v)) {
        const char *s = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
        while (*s)
            rc(o, *s++);
        o->b[o->len] = '\0';
        return;
    }
    if (signbit(v))
        rc(o, '-');
    if (fmt == 'p') {
        double a = fabs(v);
        fmt = (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f';
    }
    if (fmt == 'g') {
        int exp = d->nd ? d->dp - 1 : 0;
        fmt = (exp < -4 || exp >= 6) ? 'e' : 'f';
    }
    if (fmt == 'e')
        ref_e(o, d);
    else
        ref_f(o, d);
    o->b[o->len] = '\0';
}

/* ------------------------------------------------------------ checks */

static long n_checked, n_diff;

static void
report(double v, const char *what, const char *got, const char *want)
{
    if (n_diff < 10) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        fprintf(stderr, "  %s of %.17g (0x%016llx): got \"%s\", want \"%s\"\n", what, v,
                (unsigned long long)bits, got, want);
    }
    n_diff++;
}

/* Digits of the value under test, read off its 'e' form. */
static void
digits_of(double v, refdec *d)
{
    char b[TS_FLOAT_BUF_MAX];
    ts_format_float_go(fabs(v), 'e', b, sizeof b);
    const char *e = strchr(b, 'e');
    int n = 0;
    for (const char *c = b; c < e; c++)
        if (*c >= '0' && *c <= '9')
            d->d[n++] = *c;
    d->d[n] = '\0';
    d->nd = n;
    d->dp = (int)strtol(e + 1, NULL, 10) + 1;
}

static void
compare_layouts(double v, const refdec *ref)
{
    static const char fmts[] = {'f', 'e', 'g', 'p'};
    char got[TS_FLOAT_BUF_MAX];
    rout want;
    for (size_t i = 0; i < sizeof fmts; i++) {
        size_t n = fmts[i] == 'p' ? ts_format_prom_value(v, got, sizeof got)
                                  : ts_format_float_go(v, fmts[i], got, sizeof got);
        ref_layout(v, ref, fmts[i], &want);
        if (n != want.len || strcmp(got, want.b) != 0) {
            char what[16];
            snprintf(what, sizeof what, "'%c' form", fmts[i]);
            report(v, what, got, want.b);
        }
    }
}

/* full: run the whole reference search; otherwise verify the n digits under
 * test (n - 1 digits must not read back, n digits must give these). */
static void
check_value_(double v, bool full, bool layouts)
{
    n_checked++;
    refdec ref = {.nd = 0, .dp = 0};
    if (isfinite(v) && v != 0) {
        double a = fabs(v);
        refdec got;
        digits_of(a, &got);
        if (full) {
            ref_shortest(a, &ref);
        } else {
            if (got.nd > 1 && any_at(a, got.nd - 1)) {
                report(v, "length", got.d, "a shorter one");
                return;
            }
            if (!ref_at(a, got.nd, &ref)) {
                report(v, "round trip", got.d, "?");
                return;
            }
        }
        if (ref.nd != got.nd || ref.dp != got.dp || strcmp(ref.d, got.d) != 0) {
            char g[48], w[48];
            snprintf(g, sizeof g, "%se%d", got.d, got.dp);
            snprintf(w, sizeof w, "%se%d", ref.d, ref.dp);
            report(v, "digits", g, w);
            return;
        }
    }
    if (layouts)
        compare_layouts(v, &ref);
}

static void
check_value(double v, bool full)
{
    check_value_(v, full, true);
}

static void
check_both_signs(double v, bool full)
{
    check_value(v, full);
    check_value(-v, full);
}

static uint64_t rng_state;

static uint64_t
rng(void)
{ /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* ------------------------------------------------------------ tests */

static void
test_reference_sane(void)
{
    /* the reference depends on printf honouring the rounding mode */
    char m[24];
    T_EQ(round_p(1.5, 1, FE_DOWNWARD, m), 0);
    T_STREQ(m, "1");
    T_EQ(round_p(1.5, 1, FE_UPWARD, m), 0);
    T_STREQ(m, "2");
    T_EQ(round_p(2.5, 1, FE_TONEAREST, m), 0);
    T_STREQ(m, "2");
    T_EQ(round_p(9.96, 1, FE_UPWARD, m), 1);
    T_STREQ(m, "1");
    T_TRUE(any_at(0.3, 1));
    T_TRUE(any_at(9.96, 1) == false && any_at(9.96, 3)); /* 9.96: "1e1" is too far */
    T_TRUE(any_at(1.0 / 3, 16) && !any_at(1.0 / 3, 15));
    T_TRUE(any_at(0x1p-1017, 16)); /* only C reads back */
    /* and finds what Go prints for known values */
    refdec r;
    ref_shortest(0.3, &r);
    T_STREQ(r.d, "3");
    T_EQ(r.dp, 0);
    ref_shortest(5e-324, &r);
    T_STREQ(r.d, "5");
    T_EQ(r.dp, -323);
    ref_shortest(1e15 + 0.3, &r); /* exactly ...000.25: the tie goes to the even 2 */
    T_STREQ(r.d, "10000000000000002");
    ref_shortest(1e23, &r);
    T_STREQ(r.d, "1");
    T_EQ(r.dp, 24);
}

static void
test_known_texts(void)
{
    static const struct {
        double v;
        char fmt;
        const char *want;
    } cases[] = {
        {0.1, 'f', "0.1"},
        {0.3, 'f', "0.3"},
        {0.1 + 0.2, 'f', "0.30000000000000004"},
        {1.0 / 3, 'f', "0.3333333333333333"},
        {123456789012345680000.0, 'f', "123456789012345680000"},
        {1e21, 'p', "1e+21"},
        {1e21, 'g', "1e+21"},
        {1e20, 'p', "100000000000000000000"},
        {1e-5, 'g', "1e-05"},
        {1e-4, 'g', "0.0001"},
        {1e-7, 'p', "1e-07"},
        {1e-6, 'p', "0.000001"},
        {1e6, 'g', "1e+06"},
        {999999, 'g', "999999"},
        {-0.0, 'f', "-0"},
        {-0.0, 'g', "-0"},
        {-0.0, 'e', "-0e+00"},
        {0, 'e', "0e+00"},
        {5e-324, 'g', "5e-324"},
        {2.2250738585072014e-308, 'g', "2.2250738585072014e-308"},
        {2.225073858507201e-308, 'g', "2.225073858507201e-308"}, /* max subnormal */
        {1.7976931348623157e308, 'e', "1.7976931348623157e+308"},
        {9007199254740993.0, 'f', "9007199254740992"},
        {9007199254740994.0, 'f', "9007199254740994"},
        {18014398509481988.0, 'f', "18014398509481988"},
        {1e23, 'g', "1e+23"},
        {8.41e21, 'g', "8.41e+21"},
        {5.0e-324 * 2, 'g', "1e-323"},
        /* powers of two: the rounding interval is narrower below than above
         * and the only 16-digit form is above, not the nearest; Prometheus
         * 2.42 prints it (the snprintf search used before tried only the
         * nearest and printed 17 digits for 46 powers of two) */
        {0x1p-1017, 'p', "7.120236347223045e-307"},
        {0x1p-808, 'p', "5.858190679279809e-244"},
        {NAN, 'f', "NaN"},
        {INFINITY, 'g', "+Inf"},
        {-INFINITY, 'p', "-Inf"},
    };
    char b[TS_FLOAT_BUF_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].fmt == 'p')
            ts_format_prom_value(cases[i].v, b, sizeof b);
        else
            ts_format_float_go(cases[i].v, cases[i].fmt, b, sizeof b);
        T_STREQ(b, cases[i].want);
    }
}

static void
test_edges(void)
{
    n_checked = n_diff = 0;
    double fixed[] = {0.0,
                      -0.0,
                      5e-324,
                      1e-323,
                      1.5e-323,
                      from_bits(0x000fffffffffffffull), /* max subnormal */
                      from_bits(0x0008000000000000ull),
                      DBL_MIN,
                      from_bits(0x0010000000000001ull),
                      DBL_MAX,
                      from_bits(0x7fefffffffffffffull - 1),
                      0.1,
                      0.2,
                      0.3,
                      0.1 + 0.2,
                      1.0 / 3,
                      2.0 / 3,
                      123456789012345680000.0,
                      123456789012345678.0,
                      1e15 + 0.3,
                      1e23,
                      9.999999999999999e20,
                      1e21,
                      1e-4,
                      1e-5,
                      1e-6,
                      1e-7,
                      999999.0,
                      999999.5,
                      1e6,
                      1435781451.781,
                      NAN,
                      INFINITY};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        check_both_signs(fixed[i], true);
        if (isfinite(fixed[i]) && fixed[i] != DBL_MAX) {
            check_both_signs(nextafter(fixed[i], INFINITY), true);
            if (fixed[i] != 0)
                check_both_signs(nextafter(fixed[i], 0), true);
        }
    }
    /* every power of two (the narrow lower half interval), with neighbours */
    for (int e = -1074; e <= 1023; e++) {
        double p = ldexp(1.0, e);
        check_value(p, true);
        check_value(nextafter(p, 0), true);
        if (e < 1023)
            check_value(nextafter(p, INFINITY), true);
    }
    /* every power of ten and its neighbours */
    for (int e = -323; e <= 308; e++) {
        char s[16];
        snprintf(s, sizeof s, "1e%d", e);
        double p = strtod(s, NULL);
        check_value(p, true);
        check_value(nextafter(p, 0), true);
        check_value(nextafter(p, INFINITY), true);
    }
    /* integers around 2^53, 2^54, 2^63 */
    for (int64_t d = -40; d <= 40; d++) {
        check_value(9007199254740992.0 + (double)d, true);
        check_value(18014398509481984.0 + 2.0 * (double)d, true);
        check_value(ldexp(1.0, 63) + ldexp((double)d, 11), true);
    }
    /* the smallest subnormals one by one */
    for (uint64_t c = 1; c <= 3000; c++)
        check_value(from_bits(c), true);
    T_EQ(n_diff, 0);
    T_TRUE(n_checked > 11000);
}

static void
test_binades(void)
{
    /* four mantissas of every exponent: both k formulas for every q */
    n_checked = n_diff = 0;
    rng_state = 7;
    for (uint64_t be = 0; be < 2047; be++) {
        uint64_t ms[] = {0, 1, (1ull << 52) - 1, rng() & ((1ull << 52) - 1)};
        for (size_t i = 0; i < 4; i++)
            if (be || ms[i])
                check_value(from_bits(be << 52 | ms[i]), true);
    }
    T_EQ(n_diff, 0);
    T_EQ(n_checked, 2047 * 4 - 1);
}

static void
test_random_bits(void)
{
    long n = 1000000;
    const char *env = getenv("TS_FLOATFMT_RANDOM");
    if (env)
        n = strtol(env, NULL, 10);
    n_checked = n_diff = 0;
    rng_state = 0x5eed;
    long nonfinite = 0;
    for (long i = 0; i < n; i++) {
        double v = from_bits(rng());
        if (!isfinite(v))
            nonfinite++;
        /* the 'f' forms of most random patterns are hundreds of characters
         * long: compare all layouts for one value in eight (time under ASan) */
        check_value_(v, false, (i & 7) == 0);
    }
    if (env)
        fprintf(stderr, "  random_bits: %ld values (%ld non-finite), %ld differences\n", n_checked,
                nonfinite, n_diff);
    T_EQ(n_diff, 0);
    T_EQ(n_checked, n);
}

static void
test_random_human(void)
{
    /* k / 10^j and k * 10^j as strtod reads them, e.g. sample values like 0.25, 1234.5 */
    n_checked = n_diff = 0;
    rng_state = 42;
    static const uint64_t p10[] = {10ull,
                                   100ull,
                                   1000ull,
                                   10000ull,
                                   100000ull,
                                   1000000ull,
                                   10000000ull,
                                   100000000ull,
                                   1000000000ull,
                                   10000000000ull,
                                   100000000000ull,
                                   1000000000000ull,
                                   10000000000000000ull,
                                   100000000000000000ull};
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng();
        uint64_t k = rng() % p10[r % 14];
        int j = (int)(r >> 8) % 25;
        char s[48];
        snprintf(s, sizeof s, "%llue%s%d", (unsigned long long)k, (r >> 16) & 7 ? "-" : "", j);
        double v = strtod(s, NULL);
        check_value((r >> 20) & 1 ? -v : v, (r >> 24) % 64 == 0);
    }
    T_EQ(n_diff, 0);
    T_EQ(n_checked, 200000);
}

static void
test_small_buffers(void)
{
    /* the length is the full length; the text is cut and terminated */
    char b[8];
    T_EQ(ts_format_float_go(0.30000000000000004, 'f', b, sizeof b), 19);
    T_STREQ(b, "0.30000");
    T_EQ(ts_format_float_go(-1.5e300, 'e', b, 1), 9);
    T_EQ(b[0], '\0');
    T_EQ(ts_format_prom_value(1e-7, b, sizeof b), 5);
    T_STREQ(b, "1e-07");
}

/* The forms the PromQL engine prints: count_values labels ('f') and the
 * topk/bottomk/limit error texts (Go's %v, which is 'g'). */
static void
test_promql_forms(void)
{
    char buf[64];
    static const struct {
        double v;
        char fmt;
        const char *want;
    } cases[] = {
        {1, 'f', "1"},
        {0.1, 'f', "0.1"},
        {-2.5, 'f', "-2.5"},
        {1.5e-7, 'f', "0.00000015"},
        {1e21, 'f', "1000000000000000000000"},
        {123456.789, 'f', "123456.789"},
        {0, 'f', "0"},
        {NAN, 'f', "NaN"},
        {-INFINITY, 'f', "-Inf"},
        {1e22, 'g', "1e+22"},
        {1.5e-7, 'g', "1.5e-07"},
        {123456, 'g', "123456"},
        {NAN, 'g', "NaN"},
        /* Prometheus 2.42: topk(1e20, ...) says "Scalar value 1e+20 overflows
         * int64", topk(1.5e19, ...) "Scalar value 1.5e+19 ..." */
        {1e20, 'g', "1e+20"},
        {1.5e19, 'g', "1.5e+19"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_format_float_go(cases[i].v, cases[i].fmt, buf, sizeof buf);
        T_STREQ(buf, cases[i].want);
    }
}

static void
test_parse_go(void)
{
    /* accepted, with the value Prometheus 2.42 gives */
    static const struct {
        const char *s;
        double want;
    } ok[] = {
        {"1", 1},
        {"+1", 1},
        {"-1.5", -1.5},
        {".5", 0.5},
        {"5.", 5},
        {"00.5", 0.5},
        {"1e3", 1000},
        {"1E+3", 1000},
        {"1e-3", 0.001},
        {"0.25", 0.25},
        {"1_000", 1000},
        {"1_0.5", 10.5},
        {"0_1", 1},
        {"1e1_0", 1e10},
        {"1e+0_1", 10},
        {"0x1p4", 16},
        {"0X1.8P1", 3},
        {"0x_1p0", 1},
        {"0x.8p1", 1},
        {"0x1p1_0", 1024},
        {"-0x1p-2", -0.25},
        {"1e-400", 0},
        {"inf", INFINITY},
        {"+Inf", INFINITY},
        {"-inf", -INFINITY},
        {"-INFINITY", -INFINITY},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -42;
        int rc = ts_parse_float_go(ok[i].s, strlen(ok[i].s), &v);
        if (rc != TS_OK)
            fprintf(stderr, "refused %s\n", ok[i].s);
        T_EQ(rc, TS_OK);
        T_FEQ(v, ok[i].want);
    }
    double v = 0;
    T_OK(ts_parse_float_go("NaN", 3, &v));
    T_TRUE(isnan(v));
    T_OK(ts_parse_float_go("nan", 3, &v));
    T_TRUE(isnan(v));

    /* refused as invalid syntax */
    static const char *const bad[] = {
        "",       " 1",    "1 ",   "0x10",   "+nan", "-NaN", "infx",  "infin",
        "1_",     "_1",    "1__0", "1_.5",   "1._5", "1e",   "1e+",   "1e_5",
        ".",      "1.2.3", "0x",   "0xp1",   "abc",  "1x",   "0b101", "0o17",
        "nan(1)", "1,5",   "0x1p", "0x1_p1", "1e5_", "+-1",  "--1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = -42;
        int rc = ts_parse_float_go(bad[i], strlen(bad[i]), &v);
        if (rc != TS_EPARSE)
            fprintf(stderr, "took \"%s\"\n", bad[i]);
        T_EQ(rc, TS_EPARSE);
        T_FEQ(v, -42); /* untouched */
    }
    /* overflow is Go's ErrRange */
    T_EQ(ts_parse_float_go("1e400", 5, &v), -ERANGE);
    T_EQ(ts_parse_float_go("-0x1p1024", 9, &v), -ERANGE);
    /* the length bounds the text: "12" of "123" */
    T_OK(ts_parse_float_go("123", 2, &v));
    T_FEQ(v, 12);
    T_EQ(ts_parse_float_go("1\0"
                           "2",
                           3, &v),
         TS_EPARSE);
    /* long texts are read whole (no length limit in Go) */
    char lng[300];
    memset(lng, '0', sizeof lng);
    lng[0] = '0', lng[1] = '.';
    lng[sizeof lng - 2] = '5';
    lng[sizeof lng - 1] = '_';
    T_EQ(ts_parse_float_go(lng, sizeof lng, &v), TS_EPARSE); /* trailing '_' */
    T_OK(ts_parse_float_go(lng, sizeof lng - 1, &v));
    T_FEQ(v, 5e-297);
    /* every shortest text reads back as its double */
    rng_state = 7;
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rng();
        double x = from_bits(bits);
        if (!isfinite(x))
            continue;
        char b[TS_FLOAT_BUF_MAX];
        size_t n = ts_format_float_go(x, "efg"[i % 3], b, sizeof b);
        double y;
        T_OK(ts_parse_float_go(b, n, &y));
        T_TRUE(memcmp(&x, &y, sizeof x) == 0);
    }
}

/* ts_jsonw_prom_point writes what arr_begin, prom_time, prom_value and
 * arr_end write, also when a bounded buffer fills up in the middle. */
static void
write_points(ts_buf *b, bool fused, size_t n, int *err)
{
    ts_jsonw w;
    ts_jsonw_init(&w, b);
    ts_jsonw_obj_begin(&w);
    ts_jsonw_key(&w, "values");
    ts_jsonw_arr_begin(&w);
    rng_state = 99;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        int64_t t = (int64_t)rng();
        if (i % 3 == 0)
            t %= 100000000000000ll; /* realistic ms, some negative */
        if (i == 5)
            t = INT64_MIN;
        if (i == 6)
            t = INT64_MAX;
        double v = i % 2 ? from_bits(r) : (double)(r % 100000) / 300.0;
        if (fused) {
            ts_jsonw_prom_point(&w, t, v);
        } else {
            ts_jsonw_arr_begin(&w);
            ts_jsonw_prom_time(&w, t);
            ts_jsonw_prom_value(&w, v);
            ts_jsonw_arr_end(&w);
        }
    }
    ts_jsonw_arr_end(&w);
    ts_jsonw_obj_end(&w);
    *err = ts_jsonw_err(&w);
}

static void
test_points(void)
{
    ts_buf full;
    int e;
    ts_buf_init(&full, 0);
    write_points(&full, false, 500, &e);
    size_t total = full.len;
    ts_buf_fini(&full);
    T_OK(e);
    for (size_t max = 0; max <= total + 500; max += max < 2000 || max > total - 500 ? 7 : 997) {
        ts_buf a, b;
        ts_buf_init(&a, max);
        ts_buf_init(&b, max);
        int ea, eb;
        write_points(&a, false, 500, &ea);
        write_points(&b, true, 500, &eb);
        T_EQ(ea, eb);
        T_EQ(ea, max && max < total ? TS_ELIMIT : TS_OK);
        T_EQ(a.len, b.len);
        T_TRUE(a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
        ts_buf_fini(&a);
        ts_buf_fini(&b);
    }
    /* and the texts themselves */
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw w;
    ts_jsonw_init(&w, &b);
    ts_jsonw_arr_begin(&w);
    ts_jsonw_prom_point(&w, 1435781451780, 0.1);
    ts_jsonw_prom_point(&w, -1500, -1e-7);
    ts_jsonw_prom_point(&w, 1, NAN);
    ts_jsonw_prom_point(&w, INT64_MIN, 1e21);
    ts_jsonw_int(&w, INT64_MIN);
    ts_jsonw_int(&w, -7);
    ts_jsonw_uint(&w, UINT64_MAX);
    ts_jsonw_arr_end(&w);
    T_OK(ts_jsonw_err(&w));
    T_STREQ(ts_buf_cstr(&b), "[[1435781451.780,\"0.1\"],[-1.500,\"-1e-07\"],[0.001,\"NaN\"],"
                             "[-9223372036854775.808,\"1e+21\"],-9223372036854775808,-7,"
                             "18446744073709551615]");
    ts_buf_fini(&b);
}

/* Integers (ts_jsonw_int/uint, also the digits of timestamps) as printf
 * writes them, around every power of ten and at random. */
static void
test_integers(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    rng_state = 3;
    uint64_t p = 1;
    for (int i = 0; i < 2000; i++) {
        uint64_t x;
        if (i < 60) {
            x = p + (uint64_t)(i % 3) - 1; /* 10^k - 1, 10^k, 10^k + 1 */
            if (i % 3 == 2)
                p *= 10;
        } else {
            x = rng() >> (rng() % 64);
        }
        char want[96];
        ts_jsonw w;
        ts_buf_reset(&b);
        ts_jsonw_init(&w, &b);
        ts_jsonw_arr_begin(&w);
        ts_jsonw_uint(&w, x);
        ts_jsonw_int(&w, (int64_t)x);
        ts_jsonw_int(&w, -(int64_t)(x >> 1));
        ts_jsonw_arr_end(&w);
        snprintf(want, sizeof want, "[%llu,%lld,%lld]", (unsigned long long)x,
                 (long long)(int64_t)x, -(long long)(x >> 1));
        T_STREQ(ts_buf_cstr(&b), want);
    }
    ts_buf_fini(&b);
}

/* ---- JSON strings: the writer against a byte-at-a-time reference (the
 * escaping of Go's encoding/json: " \\ \n \r \t short, other control bytes and
 * < > & as \u00XX, invalid UTF-8 bytes as \ufffd, U+2028/2029 escaped). */

static size_t
ref_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t v = len == 1 ? c : c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static void
ref_escape(const unsigned char *s, size_t n, char *out)
{
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t len;
        if (c == '"' || c == '\\') {
            o += snprintf(o, 8, "\\%c", c);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            o += snprintf(o, 8, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            o += snprintf(o, 8, "\\u%04x", c);
        } else if (c < 0x80) {
            *o++ = (char)c;
        } else if ((len = ref_utf8(s + i, n - i, &cp)) == 0) {
            o += snprintf(o, 8, "\\ufffd");
        } else if (cp == 0x2028 || cp == 0x2029) {
            o += snprintf(o, 8, "\\u%04x", cp);
            i += len;
            continue;
        } else {
            memcpy(o, s + i, len);
            o += len;
            i += len;
            continue;
        }
        i++;
    }
    *o++ = '"';
    *o = '\0';
}

static void
test_strings(void)
{
    static const char *const pieces[] = {
        "a",    "\"",       "\\",           "\n",           "\x01",         "\x7f",
        "<",    "&",        "\xc3\xa9",     "\xe2\x80\xa8", "\xe2\x80\xa9", "\xf0\x9f\x98\x80",
        "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf",     "\xff",         "ab_c:9"};
    rng_state = 11;
    ts_buf b;
    ts_buf_init(&b, 0);
    for (int k = 0; k < 20000; k++) {
        unsigned char s[64];
        size_t n = 0;
        int parts = (int)(rng() % 12);
        for (int i = 0; i < parts; i++) {
            const char *pc = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
            size_t l = strlen(pc);
            if (n + l > sizeof s)
                break;
            memcpy(s + n, pc, l);
            n += l;
        }
        if (k % 4 == 0) { /* and some fully random bytes */
            n = rng() % 40;
            for (size_t i = 0; i < n; i++)
                s[i] = (unsigned char)rng();
        }
        char want[64 * 6 + 16], got[64 * 18 + 32];
        ref_escape(s, n, want);
        ts_jsonw w;
        ts_buf_reset(&b);
        ts_jsonw_init(&w, &b);
        ts_jsonw_obj_begin(&w);
        ts_jsonw_keyn(&w, (const char *)s, n);
        ts_jsonw_strn(&w, (const char *)s, n);
        ts_jsonw_key(&w, "k");
        ts_jsonw_strn(&w, (const char *)s, n);
        ts_jsonw_obj_end(&w);
        T_OK(ts_jsonw_err(&w));
        snprintf(got, sizeof got, "{%s:%s,\"k\":%s}", want, want, want);
        T_STREQ(ts_buf_cstr(&b), got);
        /* bounded (one string in 16): the bytes before the limit are a
         * prefix, and it fails */
        size_t total = b.len;
        for (size_t max = 1; k % 16 == 0 && max < total; max += 1 + rng() % 5) {
            ts_buf c;
            ts_buf_init(&c, max);
            ts_jsonw_init(&w, &c);
            ts_jsonw_obj_begin(&w);
            ts_jsonw_keyn(&w, (const char *)s, n);
            ts_jsonw_strn(&w, (const char *)s, n);
            ts_jsonw_key(&w, "k");
            ts_jsonw_strn(&w, (const char *)s, n);
            ts_jsonw_obj_end(&w);
            int err = ts_jsonw_err(&w);
            bool prefix = c.len <= max && (c.len == 0 || memcmp(c.p, b.p, c.len) == 0);
            ts_buf_fini(&c);
            T_EQ(err, TS_ELIMIT);
            T_TRUE(prefix);
        }
    }
    ts_buf_fini(&b);
}

T_MAIN({"reference_sane", test_reference_sane}, {"known_texts", test_known_texts},
       {"edges", test_edges}, {"binades", test_binades}, {"random_bits", test_random_bits},
       {"random_human", test_random_human}, {"small_buffers", test_small_buffers},
       {"promql_forms", test_promql_forms}, {"parse_go", test_parse_go}, {"points", test_points},
       {"integers", test_integers}, {"strings", test_strings})
