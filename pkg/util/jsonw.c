/*
 * Streaming JSON writer and Go-compatible float formatting (see jsonw.h for
 * the exact forms).
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
 */
#include "pkg/util/jsonw.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ floats */

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

/* ------------------------------------------------------------------ writer */

void
ts_jsonw_init(ts_jsonw *w, ts_buf *o)
{
    memset(w, 0, sizeof *w);
    w->out = o;
}

static void
put(ts_jsonw *w, const void *p, size_t n)
{
    if (w->err)
        return;
    int rc = ts_buf_put(w->out, p, n);
    if (rc)
        w->err = rc;
}

static void
putc_(ts_jsonw *w, char c)
{
    put(w, &c, 1);
}

/* Called before every value or key: updates the state and says whether a
 * separating comma goes first. */
static bool
need_comma(ts_jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return false;
    }
    bool comma = w->nonempty[w->depth];
    w->nonempty[w->depth] = true;
    return comma;
}

static void
sep(ts_jsonw *w)
{
    if (need_comma(w))
        putc_(w, ',');
}

static void
open_(ts_jsonw *w, char c)
{
    sep(w);
    if (w->depth >= TS_JSONW_MAX_DEPTH) {
        if (!w->err)
            w->err = TS_ELIMIT;
        return;
    }
    putc_(w, c);
    w->depth++;
    w->nonempty[w->depth] = false;
}

static void
close_(ts_jsonw *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    putc_(w, c);
}

void
ts_jsonw_obj_begin(ts_jsonw *w)
{
    open_(w, '{');
}
void
ts_jsonw_obj_end(ts_jsonw *w)
{
    close_(w, '}');
}
void
ts_jsonw_arr_begin(ts_jsonw *w)
{
    open_(w, '[');
}
void
ts_jsonw_arr_end(ts_jsonw *w)
{
    close_(w, ']');
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF, as Go does. */
static size_t
utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, *cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, *cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return len;
}

/* Bytes a JSON string holds as they are: printable ASCII except " \\ < > &. */
static const uint8_t plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The escape of the character at p[i] (i < n, p[i] not a plain byte): its
 * text in rep and that length, or 0 when the *adv bytes stay as they are
 * (valid UTF-8 other than U+2028/U+2029).  Never longer than 6 bytes for
 * each byte consumed. */
static size_t
escape_at(const unsigned char *p, size_t n, size_t i, char rep[8], size_t *adv)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = p[i];
    *adv = 1;
    if (c < 0x80) {
        char e = c == '"'    ? '"'
                 : c == '\\' ? '\\'
                 : c == '\n' ? 'n'
                 : c == '\r' ? 'r'
                 : c == '\t' ? 't'
                             : 0;
        if (e) {
            rep[0] = '\\';
            rep[1] = e;
            return 2;
        }
        memcpy(rep, "\\u00", 4); /* control bytes and < > & */
        rep[4] = hex[c >> 4];
        rep[5] = hex[c & 15];
        return 6;
    }
    uint32_t cp;
    size_t len = utf8_len(p + i, n - i, &cp);
    if (len == 0) {
        memcpy(rep, "\\ufffd", 6);
        return 6;
    }
    *adv = len;
    if (cp == 0x2028 || cp == 0x2029) {
        memcpy(rep, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        return 6;
    }
    return 0;
}

/* A string value or key: the separating comma if due, the escaped string,
 * then tail (':' after a key) unless it is 0.  Normally written straight into
 * the buffer; when the buffer cannot take the worst case (6 bytes per input
 * byte) it goes piece by piece, for the same bytes and the same error. */
static void
string_(ts_jsonw *w, const char *s, size_t n, char tail)
{
    const unsigned char *p = (const unsigned char *)s;
    bool comma = need_comma(w);
    if (!w->err && n < ((size_t)1 << 48) && ts_buf_reserve(w->out, 6 * n + 4) == TS_OK) {
        char *start = (char *)w->out->p + w->out->len, *q = start;
        if (comma)
            *q++ = ',';
        *q++ = '"';
        size_t i = 0;
        for (;;) {
            size_t j = i;
            while (j < n && plain_byte[p[j]])
                j++;
            memcpy(q, p + i, j - i);
            q += j - i;
            if (j == n)
                break;
            char rep[8];
            size_t adv, len = escape_at(p, n, j, rep, &adv);
            if (len)
                memcpy(q, rep, len);
            else
                memcpy(q, p + j, len = adv);
            q += len;
            i = j + adv;
        }
        *q++ = '"';
        if (tail)
            *q++ = tail;
        w->out->len += (size_t)(q - start);
        return;
    }
    if (comma)
        putc_(w, ',');
    putc_(w, '"');
    size_t start = 0, i = 0;
    while (i < n) {
        if (plain_byte[p[i]]) {
            i++;
            continue;
        }
        char rep[8];
        size_t adv, len = escape_at(p, n, i, rep, &adv);
        if (len) {
            put(w, p + start, i - start);
            put(w, rep, len);
            start = i + adv;
        }
        i += adv;
    }
    put(w, p + start, n - start);
    putc_(w, '"');
    if (tail)
        putc_(w, tail);
}

void
ts_jsonw_keyn(ts_jsonw *w, const char *k, size_t n)
{
    string_(w, k, n, ':');
    w->after_key = true;
}

void
ts_jsonw_key(ts_jsonw *w, const char *k)
{
    ts_jsonw_keyn(w, k, strlen(k));
}

void
ts_jsonw_strn(ts_jsonw *w, const char *s, size_t n)
{
    string_(w, s ? s : "", s ? n : 0, 0);
}

void
ts_jsonw_str(ts_jsonw *w, const char *s)
{
    ts_jsonw_strn(w, s, s ? strlen(s) : 0);
}

void
ts_jsonw_int(ts_jsonw *w, int64_t v)
{
    char b[24];
    size_t n = 0;
    if (v < 0)
        b[n++] = '-';
    /* unsigned negation keeps INT64_MIN defined */
    n += put_u64(b + n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    sep(w);
    put(w, b, n);
}

void
ts_jsonw_uint(ts_jsonw *w, uint64_t v)
{
    char b[24];
    size_t n = put_u64(b, v);
    sep(w);
    put(w, b, n);
}

void
ts_jsonw_bool(ts_jsonw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void
ts_jsonw_null(ts_jsonw *w)
{
    sep(w);
    put(w, "null", 4);
}

void
ts_jsonw_raw(ts_jsonw *w, const char *json, size_t n)
{
    sep(w);
    put(w, json, n);
}

void
ts_jsonw_double(ts_jsonw *w, double v)
{
    if (!isfinite(v)) {
        ts_jsonw_null(w);
        return;
    }
    char b[TS_FLOAT_BUF_MAX];
    double a = fabs(v);
    size_t n;
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        n = ts_format_float_go(v, 'e', b, sizeof b);
        /* encoding/json trims a leading exponent zero: 1e-07 -> 1e-7 */
        if (n >= 4 && b[n - 4] == 'e' && b[n - 3] == '-' && b[n - 2] == '0') {
            b[n - 2] = b[n - 1];
            b[--n] = '\0';
        }
    } else {
        n = ts_format_float_go(v, 'f', b, sizeof b);
    }
    sep(w);
    put(w, b, n);
}

void
ts_jsonw_prom_value(ts_jsonw *w, double v)
{
    char b[TS_FLOAT_BUF_MAX + 2];
    b[0] = '"';
    size_t n = format_prom(v, b + 1);
    b[n + 1] = '"';
    sep(w);
    put(w, b, n + 2);
}

void
ts_jsonw_go_float_str(ts_jsonw *w, double v)
{
    char b[TS_FLOAT_BUF_MAX + 2];
    b[0] = '"';
    size_t n = format_go(v, 'f', b + 1);
    b[n + 1] = '"';
    sep(w);
    put(w, b, n + 2);
}

/* marshalTimestamp at p (room for 24 bytes); returns the length.  Go writes
 * '-' then the magnitude; unsigned arithmetic keeps INT64_MIN defined. */
static size_t
format_prom_time(int64_t ms, char *p)
{
    size_t n = 0;
    if (ms < 0)
        p[n++] = '-';
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    n += put_u64(p + n, mag / 1000);
    unsigned frac = (unsigned)(mag % 1000);
    if (frac) {
        p[n++] = '.';
        p[n++] = (char)('0' + frac / 100);
        memcpy(p + n, two_digits + 2 * (frac % 100), 2);
        n += 2;
    }
    return n;
}

void
ts_jsonw_prom_time(ts_jsonw *w, int64_t ms)
{
    char b[24];
    size_t n = format_prom_time(ms, b);
    sep(w);
    put(w, b, n);
}

void
ts_jsonw_prom_point(ts_jsonw *w, int64_t ms, double v)
{
    /* ",[" time ","" value ""]" */
    enum { POINT_MAX = 2 + 24 + 2 + TS_FLOAT_BUF_MAX + 2 };
    if (w->err || w->depth >= TS_JSONW_MAX_DEPTH || ts_buf_reserve(w->out, POINT_MAX) != TS_OK) {
        /* at a limit: piece by piece, for the same error and the same bytes */
        ts_jsonw_arr_begin(w);
        ts_jsonw_prom_time(w, ms);
        ts_jsonw_prom_value(w, v);
        ts_jsonw_arr_end(w);
        return;
    }
    char *start = (char *)w->out->p + w->out->len, *p = start;
    if (need_comma(w))
        *p++ = ',';
    *p++ = '[';
    p += format_prom_time(ms, p);
    *p++ = ',';
    *p++ = '"';
    p += format_prom(v, p);
    *p++ = '"';
    *p++ = ']';
    w->nonempty[w->depth + 1] = true; /* as the array's elements leave it */
    w->out->len += (size_t)(p - start);
}

void
ts_jsonw_prom_time_float(ts_jsonw *w, int64_t ms)
{
    ts_jsonw_double(w, (double)ms / 1000.0);
}
