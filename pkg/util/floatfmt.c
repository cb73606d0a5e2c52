/*
 * Go-compatible float text (see floatfmt.h for the forms).
 *
 * Shortest round-trip digits: Go's strconv picks the shortest decimal that
 * parses back to the same double, and among those the one closest to it
 * (ties to the even digit).  shortest() computes exactly these digits in
 * integer arithmetic with the Schubfach method (see schubfach() below): one
 * 64x126-bit multiplication for the value and for each end of its rounding
 * interval, against a table of powers of ten built once from exact big
 * integers (pow10_init, about 10 KiB).  Integers below 2^53 are written
 * directly.  The API formats one value per sample, so this is on the hot path
 * of large answers; tests/unit/util/floatfmt_test.c checks the digits against
 * a slow reference made of the C library's correctly rounded printf/strtod.
 *
 * The digits (without leading or trailing zeros) and the decimal point
 * position are then laid out in Go's 'f', 'e' or 'g' notation.
 *
 * Parsing checks the text against Go's grammar for ParseFloat (readFloat and
 * underscoreOK in Go's strconv) first, because strtod takes more (leading
 * spaces, "0x10" without an exponent, "nan(...)", "infx" prefixes), then
 * hands the checked text, underscores removed, to strtod, which rounds
 * correctly like Go.
 */
#include "pkg/util/floatfmt.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ formatting */

typedef struct decimal {
    /* significant digits, no leading/trailing zeros ("0" never: zero has nd = 0);
     * 40 bytes so that the layouts can copy a fixed 24 from any start <= 16 */
    char d[40];
    int nd; /* number of digits */
    int dp; /* value = 0.d[0]d[1]... * 10^dp */
} decimal;

/* floor(q * log10(2)), floor(q * log10(2) + log10(3/4)) and floor(e * log2(10)):
 * fixed-point constants scaled by 2^41 (log10(2) = 661971961083.4 / 2^41,
 * log10(3/4) = -274743187320.9 / 2^41, log2(10) = 7304997133928.9 / 2^41), exact for
 * |q| <= 1100 and |e| <= 400 (the unit test checks every value in the ranges used).
 * GCC's >> of a negative int64 is an arithmetic shift, i.e. a floor. */
static inline int
flog10_pow2(int q)
{
    return (int)(((int64_t)q * 661971961083LL) >> 41);
}

static inline int
flog10_34_pow2(int q)
{
    return (int)(((int64_t)q * 661971961083LL - 274743187321LL) >> 41);
}

static inline int
flog2_pow10(int e)
{
    return (int)(((int64_t)e * 7304997133929LL) >> 41);
}

/* ---- Powers of ten, 126 significant bits
 *
 * G[e - POW_EMIN] = floor(10^e * 2^(125 - flog2_pow10(e))) + 1, a number in
 * (2^125, 2^126]: 10^e rounded up to 126 bits.  Built once from exact big
 * integers: for e >= 0 the top 126 bits of 5^e (10^e = 5^e * 2^e, the power of
 * two only moves the binary point); for e < 0 the quotient floor(2^N / 5^-e),
 * obtained by dividing 2^BIG_NMAX by 5 again and again (floor(floor(a/b)/c) =
 * floor(a/(bc))) and dropping the low bits. */
#define POW_EMIN (-292) /* 10^-k for the k of the largest doubles */
#define POW_EMAX 324    /* ... and of the smallest subnormals */
#define BIG_WORDS 28
#define BIG_NMAX (32 * BIG_WORDS - 1)

typedef unsigned __int128 u128;

static u128 pow10_tab[POW_EMAX - POW_EMIN + 1];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;
static atomic_bool pow10_ready; /* set (release) once the table is complete */

typedef struct big {
    uint32_t w[BIG_WORDS]; /* little-endian 32-bit words */
} big;

static void
big_mul5(big *b)
{
    uint64_t carry = 0;
    for (int i = 0; i < BIG_WORDS; i++) {
        uint64_t x = (uint64_t)b->w[i] * 5 + carry;
        b->w[i] = (uint32_t)x;
        carry = x >> 32;
    }
    TS_ASSERT(carry == 0);
}

static void
big_div5(big *b)
{
    uint64_t rem = 0;
    for (int i = BIG_WORDS - 1; i >= 0; i--) {
        uint64_t x = (rem << 32) | b->w[i];
        b->w[i] = (uint32_t)(x / 5);
        rem = x % 5;
    }
}

static int
big_bitlen(const big *b)
{
    for (int i = BIG_WORDS - 1; i >= 0; i--)
        if (b->w[i])
            return 32 * i + 32 - __builtin_clz(b->w[i]);
    return 0;
}

/* floor(b / 2^sh); the caller makes sure the result fits in 128 bits. */
static u128
big_shr(const big *b, int sh)
{
    u128 r = 0;
    for (int bit = 127; bit >= 0; bit--) {
        int src = sh + bit;
        r <<= 1;
        if (src < 32 * BIG_WORDS && (b->w[src / 32] >> (src % 32) & 1))
            r |= 1;
    }
    return r;
}

static void
pow10_init(void)
{
    big p; /* 5^e */
    memset(&p, 0, sizeof p);
    p.w[0] = 1;
    for (int e = 0; e <= POW_EMAX; e++) {
        if (e > 0)
            big_mul5(&p);
        int len = big_bitlen(&p);
        u128 top = len <= 126 ? big_shr(&p, 0) << (126 - len) : big_shr(&p, len - 126);
        pow10_tab[e - POW_EMIN] = top + 1;
    }
    big a; /* floor(2^BIG_NMAX / 5^m) */
    memset(&a, 0, sizeof a);
    a.w[BIG_NMAX / 32] = 1u << (BIG_NMAX % 32);
    for (int m = 1; m <= -POW_EMIN; m++) {
        big_div5(&a);
        int n = 125 - flog2_pow10(-m) - m; /* 10^-m * 2^(125 - r) = 2^n / 5^m */
        TS_ASSERT(n <= BIG_NMAX);
        pow10_tab[-m - POW_EMIN] = big_shr(&a, BIG_NMAX - n) + 1;
    }
    atomic_store_explicit(&pow10_ready, true, memory_order_release);
}

/* Round to odd of x = g * cp / 2^127: the floor, with its lowest bit set when
 * x is not an integer.  An integer result stays exact and any other becomes
 * odd, so comparing it with even numbers (4s, 4s + 2) gives the same answer as
 * comparing x itself.  g exceeds the true power of ten by less than one unit,
 * which adds less than cp < 2^60 units of 2^-127 to the product: that is why
 * "not an integer" looks only at the fraction bits from 2^-63 down to 2^-126
 * and ignores the lowest 64 bits of the product, where the excess lands.  An
 * exact power (10^e = 5^e 2^e for small e >= 0) thus still gives an exact
 * result, and Schubfach's analysis shows that no fraction of a double's
 * product falls inside the margins this leaves (2^-63 above an integer,
 * 2^-67 below one). */
static inline uint64_t
mul_rop(u128 g, uint64_t cp)
{
    u128 lo = (u128)(uint64_t)g * cp;
    u128 mid = (u128)(uint64_t)(g >> 64) * cp + (lo >> 64); /* floor(g cp / 2^64) */
    uint64_t r = (uint64_t)(mid >> 63);
    uint64_t inexact = ((uint64_t)mid << 1) != 0;
    return r | inexact;
}

/* Shortest digits of v = c * 2^q (c > 0; c < 2^53) by the Schubfach method
 * (R. Giulietti, "The Schubfach way to render doubles", 2020):
 *
 *  - v rounds from the interval R = [v - 2^q/2, v + 2^q/2] (the lower half
 *    width is 2^q/4 when c = 2^52 is the smallest mantissa of its binade),
 *    both ends included when c is even (strtod rounds half to even).
 *  - k is the largest exponent with 10^k <= |R|, so R holds at least one
 *    multiple of 10^k and at most one of 10^(k+1).
 *  - Everything is scaled by 4 * 10^-k so that the ends and the value are
 *    (nearly) integers: vb = 4 v 10^-k, vbl, vbr the ends, s = floor(v 10^-k).
 *    They come from one 64x126-bit product each, rounded to odd (mul_rop),
 *    which the paper proves decides every comparison below exactly.
 *  - If a multiple of 10^(k+1) lies in R it is the unique shortest candidate.
 *    Otherwise the shortest have the precision 10^k: of s and s + 1 take the
 *    one in R, or, when both are, the closer to v (a tie, which only an exact
 *    vb can produce, goes to the even one, as Go does).
 *
 * Returns the digits as an integer (maybe with trailing zeros) and sets
 * *exp10 so that the decimal is digits * 10^exp10. */
static uint64_t
schubfach(uint64_t c, int q, int *exp10)
{
    bool asym = c == (1ull << 52) && q > -1074;
    int k = asym ? flog10_34_pow2(q) : flog10_pow2(q);
    int h = q + flog2_pow10(-k) + 2; /* 2..5: keeps cb << h below 2^60 */
    u128 g = pow10_tab[-k - POW_EMIN];
    uint64_t cb = c << 2;
    uint64_t vb = mul_rop(g, cb << h);
    uint64_t vbl = mul_rop(g, (cb - (asym ? 1 : 2)) << h);
    uint64_t vbr = mul_rop(g, (cb + 2) << h);
    uint64_t open = c & 1; /* ends excluded: x in R iff vbl + 1 <= x (x a multiple of 4) */
    uint64_t s = vb >> 2;

    uint64_t u10 = s / 10 * 10, w10 = u10 + 10;
    bool u10in = vbl + open <= u10 << 2, w10in = (w10 << 2) + open <= vbr;
    if (u10in != w10in) {
        *exp10 = k + 1;
        return (u10in ? u10 : w10) / 10;
    }
    bool uin = vbl + open <= s << 2, win = ((s + 1) << 2) + open <= vbr;
    *exp10 = k;
    if (uin != win)
        return uin ? s : s + 1;
    uint64_t mid = (s << 2) + 2;
    return vb < mid || (vb == mid && (s & 1) == 0) ? s : s + 1;
}

static const char two_digits[201] = "00010203040506070809"
                                    "10111213141516171819"
                                    "20212223242526272829"
                                    "30313233343536373839"
                                    "40414243444546474849"
                                    "50515253545556575859"
                                    "60616263646566676869"
                                    "70717273747576777879"
                                    "80818283848586878889"
                                    "90919293949596979899";

/* Number of decimal digits of x: from its bit length (1233 / 4096 is just
 * above log10(2)) the count is t or t + 1. */
static inline int
count_digits(uint64_t x)
{
    static const uint64_t p10[20] = {1ull,
                                     10ull,
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
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};
    x |= 1; /* 0 has one digit, as 1 has; no 10^t is odd, so the count stays */
    int bits = 64 - __builtin_clzll(x);
    int t = (bits * 1233) >> 12;
    return t + 1 - (x < p10[t]);
}

/* The 8 digits of x < 10^8 at q, with leading zeros: two independent 32-bit
 * halves, a short chain of divisions by constants. */
static inline void
put_8digits(char *q, uint32_t x)
{
    uint32_t hi = x / 10000, lo = x % 10000;
    memcpy(q, two_digits + 2 * (hi / 100), 2);
    memcpy(q + 2, two_digits + 2 * (hi % 100), 2);
    memcpy(q + 4, two_digits + 2 * (lo / 100), 2);
    memcpy(q + 6, two_digits + 2 * (lo % 100), 2);
}

/* Decimal digits of x at p (room for 20); returns their number. */
static size_t
put_u64(char *p, uint64_t x)
{
    int n = count_digits(x);
    char *q = p + n;
    while (x >= 10000000) { /* 8 digits at a time while 8 or more remain */
        q -= 8;
        put_8digits(q, (uint32_t)(x % 100000000));
        x /= 100000000;
    }
    if (q > p) { /* the leading 1..7 digits */
        uint32_t y = (uint32_t)x;
        while (y >= 100) {
            q -= 2;
            memcpy(q, two_digits + 2 * (y % 100), 2);
            y /= 100;
        }
        if (y >= 10)
            memcpy(q - 2, two_digits + 2 * y, 2);
        else
            q[-1] = (char)('0' + y);
    }
    return (size_t)n;
}

/* dec = x (> 0) * 10^exp10, trailing zeros dropped. */
static void
set_decimal(decimal *dec, uint64_t x, int exp10)
{
    if (x % 10 == 0) { /* strip zeros: 8 at a time, then 4, 2, 1 */
        while (x % 100000000 == 0) {
            x /= 100000000;
            exp10 += 8;
        }
        static const uint64_t step[] = {10000, 100, 10};
        static const int nz[] = {4, 2, 1};
        for (int i = 0; i < 3; i++)
            if (x % step[i] == 0) {
                x /= step[i];
                exp10 += nz[i];
            }
    }
    int n = (int)put_u64(dec->d, x);
    dec->nd = n;
    dec->dp = n + exp10;
}

/* Shortest round-trip digits of a finite |v|. */
static void
shortest(double v, decimal *dec)
{
    dec->nd = 0;
    dec->dp = 0;
    if (v == 0)
        return;
    if (v < 9007199254740992.0 && v == (double)(int64_t)v) {
        /* an integer below 2^53 is exact and its neighbours are integers too:
         * its own digits are the shortest form */
        set_decimal(dec, (uint64_t)v, 0);
        return;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int be = (int)(bits >> 52 & 0x7ff);
    uint64_t c = bits & ((1ull << 52) - 1);
    int q;
    if (be) {
        c |= 1ull << 52;
        q = be - 1075;
    } else {
        q = -1074;
    }
    if (!atomic_load_explicit(&pow10_ready, memory_order_acquire))
        pthread_once(&pow10_once, pow10_init);
    int exp10;
    uint64_t x = schubfach(c, q, &exp10);
    set_decimal(dec, x, exp10);
}

/* The layouts below write into a buffer of TS_FLOAT_BUF_MAX bytes, which
 * always suffices: the longest text is '-' and the 'f' form of 5e-324
 * ("0." + 323 zeros + "5"), 327 bytes.  They return the length (no NUL). */

/* Digit copies are a fixed 24 bytes (two moves instead of a memcpy call):
 * the bytes past the digits land where the layout writes next or past the
 * returned length, and p always has room (at most 327 + 24 bytes used). */
#define COPY_DIGITS(dst, src) memcpy((dst), (src), 24)

static size_t
layout_f(char *p, const decimal *d)
{
    char *start = p;
    if (d->nd == 0) {
        *p++ = '0';
    } else if (d->dp <= 0) { /* 0.000ddd */
        *p++ = '0';
        *p++ = '.';
        memset(p, '0', (size_t)-d->dp);
        p += -d->dp;
        COPY_DIGITS(p, d->d);
        p += d->nd;
    } else if (d->dp < d->nd) { /* ddd.ddd (dp <= 16) */
        COPY_DIGITS(p, d->d);
        p += d->dp;
        *p++ = '.';
        COPY_DIGITS(p, d->d + d->dp);
        p += d->nd - d->dp;
    } else { /* ddd000 */
        COPY_DIGITS(p, d->d);
        p += d->nd;
        memset(p, '0', (size_t)(d->dp - d->nd));
        p += d->dp - d->nd;
    }
    return (size_t)(p - start);
}

/* d.ddde+XX: at least two exponent digits, as Go writes them. */
static size_t
layout_e(char *p, const decimal *d)
{
    char *start = p;
    *p++ = d->nd ? d->d[0] : '0';
    if (d->nd > 1) {
        *p++ = '.';
        COPY_DIGITS(p, d->d + 1);
        p += d->nd - 1;
    }
    int exp = d->nd ? d->dp - 1 : 0;
    *p++ = 'e';
    *p++ = exp < 0 ? '-' : '+';
    if (exp < 0)
        exp = -exp;
    if (exp >= 100) {
        *p++ = (char)('0' + exp / 100);
        exp %= 100;
    }
    memcpy(p, two_digits + 2 * exp, 2);
    return (size_t)(p + 2 - start);
}

/* Go strconv.FormatFloat(v, fmt, -1, 64) at p (TS_FLOAT_BUF_MAX bytes). */
static size_t
format_go(double v, char fmt, char *p)
{
    if (isnan(v)) {
        memcpy(p, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(p, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    size_t n = 0;
    if (signbit(v))
        p[n++] = '-';
    decimal d;
    shortest(fabs(v), &d);
    if (fmt == 'g') {
        int exp = d.nd ? d.dp - 1 : 0;
        /* Go uses precision 6 for the %e-or-%f decision of shortest %g */
        fmt = (exp < -4 || exp >= 6) ? 'e' : 'f';
    }
    return n + (fmt == 'e' ? layout_e(p + n, &d) : layout_f(p + n, &d));
}

/* Prometheus' marshalValue at p (TS_FLOAT_BUF_MAX bytes). */
static size_t
format_prom(double v, char *p)
{
    double a = fabs(v);
    char fmt = (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f';
    return format_go(v, fmt, p);
}

/* Copies a text of length n made in tmp to (buf, size): cut to size - 1
 * bytes and NUL-terminated; returns n. */
static size_t
finish(const char *tmp, size_t n, char *buf, size_t size)
{
    if (size) {
        size_t m = n < size - 1 ? n : size - 1;
        if (tmp != buf)
            memcpy(buf, tmp, m);
        buf[m] = '\0';
    }
    return n;
}

size_t
ts_format_float_go(double v, char fmt, char *buf, size_t size)
{
    char tmp[TS_FLOAT_BUF_MAX];
    char *p = size >= TS_FLOAT_BUF_MAX ? buf : tmp;
    return finish(p, format_go(v, fmt, p), buf, size);
}

size_t
ts_format_prom_value(double v, char *buf, size_t size)
{
    char tmp[TS_FLOAT_BUF_MAX];
    char *p = size >= TS_FLOAT_BUF_MAX ? buf : tmp;
    return finish(p, format_prom(v, p), buf, size);
}

size_t
ts__format_u64(char *p, uint64_t x)
{
    return put_u64(p, x);
}

/* ------------------------------------------------------------ parsing */

/* Go's underscoreOK: '_' only between digits, a base prefix counting as a
 * digit ("0x_1p0", "1_000.5"; not "_1", "1_", "1_.5"). */
static bool
underscores_ok(const char *s, size_t n)
{
    char saw = '^'; /* ^ start, 0 digit or prefix, _ underscore, ! other */
    size_t i = 0;
    if (n && (s[0] == '+' || s[0] == '-'))
        i++;
    bool hex = false;
    if (n - i >= 2 && s[i] == '0' && strchr("bBoOxX", s[i + 1])) {
        hex = s[i + 1] == 'x' || s[i + 1] == 'X';
        i += 2;
        saw = '0';
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c) || (hex && isxdigit(c))) {
            saw = '0';
        } else if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
        } else {
            if (saw == '_')
                return false;
            saw = '!';
        }
    }
    return saw != '_';
}

/* Go's special(): [+-]inf, [+-]infinity, nan (any case), the whole text. */
static bool
parse_special(const char *s, size_t n, double *out)
{
    size_t i = n && (s[0] == '+' || s[0] == '-');
    if ((n - i == 3 && strncasecmp(s + i, "inf", 3) == 0) ||
        (n - i == 8 && strncasecmp(s + i, "infinity", 8) == 0)) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        *out = NAN;
        return true;
    }
    return false;
}

/* Go's readFloat grammar over all of s[0:n]: [+-] then decimal digits with
 * an optional '.', optional e[+-]digits; or 0x, hex digits with an optional
 * '.', and a mandatory p[+-]digits; '_' anywhere among them (checked by
 * underscores_ok).  Sets *underscores when there is one. */
static bool
syntax_ok(const char *s, size_t n, bool *underscores)
{
    size_t i = 0;
    *underscores = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    bool hex = n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X');
    if (hex)
        i += 2;
    bool digits = false, dot = false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '_')
            *underscores = true;
        else if (c == '.' && !dot)
            dot = true;
        else if (hex ? isxdigit(c) : isdigit(c))
            digits = true;
        else
            break;
    }
    if (!digits)
        return false;
    if (i < n && (hex ? (s[i] == 'p' || s[i] == 'P') : (s[i] == 'e' || s[i] == 'E'))) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        for (; i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'); i++)
            if (s[i] == '_')
                *underscores = true;
    } else if (hex) {
        return false; /* a hexadecimal mantissa needs a 'p' exponent */
    }
    return i == n && (!*underscores || underscores_ok(s, n));
}

int
ts_parse_float_go(const char *s, size_t n, double *out)
{
    if (parse_special(s, n, out))
        return TS_OK;
    bool underscores;
    if (!syntax_ok(s, n, &underscores))
        return TS_EPARSE;
    /* strtod wants a NUL-terminated text: copy it, without the underscores */
    char stack[128];
    char *t = n < sizeof stack ? stack : ts_malloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            t[m++] = s[i];
    t[m] = '\0';
    errno = 0;
    char *end;
    double v = strtod(t, &end);
    bool whole = end == t + m, overflow = errno == ERANGE && isinf(v);
    if (t != stack)
        ts_free(t);
    if (!whole)
        return TS_EPARSE; /* not reached: the grammar is a subset of strtod's */
    if (overflow)
        return -ERANGE;
    *out = v;
    return TS_OK;
}
