/*
 * Streaming JSON writer and Go-compatible float formatting (see jsonw.h for
 * the exact forms).
 *
 * Shortest round-trip digits: Go's strconv picks the shortest decimal that
 * parses back to the same double, and among those the one closest to it.
 * We get the same digits by asking the C library for the correctly rounded
 * value with 1, 2, ... 17 significant digits ("%.*e") and keeping the first
 * that strtod maps back to the same bits: a correctly rounded p-digit
 * decimal is the closest p-digit decimal, so the first p that round-trips is
 * both shortest and closest.  Integers below 2^53 are written directly, and
 * the precision is found in 2-3 tries (see shortest()): the API formats one
 * value per sample, so this is on the hot path of large range queries.
 *
 * The digits (without leading or trailing zeros) and the decimal point
 * position are then laid out in Go's 'f', 'e' or 'g' notation.
 */
#include "pkg/util/jsonw.h"
#include "pkg/util/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ floats */

typedef struct decimal {
    char d[24]; /* significant digits, no leading/trailing zeros ("0" never: zero has nd = 0) */
    int nd;     /* number of digits */
    int dp;     /* value = 0.d[0]d[1]... * 10^dp */
} decimal;

/* Shortest round-trip digits of a finite |v|. */
static void
shortest(double v, decimal *dec)
{
    dec->nd = 0;
    dec->dp = 0;
    if (v == 0)
        return;
    char tmp[40];
    if (v < 9007199254740992.0 && v == (double)(int64_t)v) {
        /* an integer below 2^53 is exact: its digits are the shortest form */
        int64_t iv = (int64_t)v;
        char digits[24];
        int n = 0;
        while (iv) {
            digits[n++] = (char)('0' + iv % 10);
            iv /= 10;
        }
        int nd = 0;
        for (int i = n - 1; i >= 0; i--)
            dec->d[nd++] = digits[i];
        dec->dp = n;
        while (nd > 1 && dec->d[nd - 1] == '0')
            nd--;
        dec->nd = nd;
        return;
    }
    /* Round-tripping is monotonic in the number of digits (a correctly
     * rounded p+1-digit decimal is at least as close as the p-digit one).
     * Most values round-trip at 15 digits: then the 15-digit form with its
     * trailing zeros stripped (k digits) is the k-digit rounding, and it is
     * the shortest if k-1 digits do not round-trip (one more try).  Values
     * that need more take 16 or 17 digits.  2-3 tries instead of up to 17. */
    int p = 15;
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    if (strtod(tmp, NULL) == v) {
        const char *e = strchr(tmp, 'e');
        int k = 0;
        for (const char *c = tmp; c < e; c++)
            if (*c >= '0' && *c <= '9')
                k++;
        for (const char *c = e - 1; c > tmp && (*c == '0' || *c == '.'); c--)
            if (*c == '0')
                k--;
        char shorter[40];
        if (k > 1) {
            snprintf(shorter, sizeof shorter, "%.*e", k - 2, v);
            if (strtod(shorter, NULL) == v) {
                /* rare: an even shorter form exists; search it (monotonic) */
                int lo = 1, hi = k - 1;
                while (lo < hi) {
                    int mid = (lo + hi) / 2;
                    snprintf(shorter, sizeof shorter, "%.*e", mid - 1, v);
                    if (strtod(shorter, NULL) == v)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                snprintf(tmp, sizeof tmp, "%.*e", lo - 1, v);
            }
        }
    } else {
        snprintf(tmp, sizeof tmp, "%.*e", 15, v);
        if (strtod(tmp, NULL) != v)
            snprintf(tmp, sizeof tmp, "%.*e", 16, v);
    }
    /* tmp is "d.ddde[+-]XX" (or "de[+-]XX" for one digit) */
    const char *e = strchr(tmp, 'e');
    int exp10 = atoi(e + 1);
    int nd = 0;
    for (const char *c = tmp; c < e; c++)
        if (*c >= '0' && *c <= '9')
            dec->d[nd++] = *c;
    while (nd > 1 && dec->d[nd - 1] == '0')
        nd--;
    dec->nd = nd;
    dec->dp = exp10 + 1;
}

/* Appends to a fixed buffer; truncates silently (callers size it right). */
typedef struct out {
    char *p;
    size_t size, len;
} out;

static void
oc(out *o, char c)
{
    if (o->len + 1 < o->size)
        o->p[o->len] = c;
    o->len++;
}

static void
os_(out *o, const char *s)
{
    while (*s)
        oc(o, *s++);
}

static void
fmt_f(out *o, const decimal *d)
{
    /* integer part */
    if (d->dp > 0) {
        for (int i = 0; i < d->dp; i++)
            oc(o, i < d->nd ? d->d[i] : '0');
    } else {
        oc(o, '0');
    }
    /* fraction: digits after the point, if any */
    if (d->nd > d->dp) {
        oc(o, '.');
        for (int i = d->dp; i < d->nd; i++)
            oc(o, i < 0 ? '0' : d->d[i]);
    }
}

static void
fmt_e(out *o, const decimal *d)
{
    oc(o, d->nd ? d->d[0] : '0');
    if (d->nd > 1) {
        oc(o, '.');
        for (int i = 1; i < d->nd; i++)
            oc(o, d->d[i]);
    }
    int exp = d->nd ? d->dp - 1 : 0;
    oc(o, 'e');
    oc(o, exp < 0 ? '-' : '+');
    if (exp < 0)
        exp = -exp;
    char num[8];
    snprintf(num, sizeof num, "%02d", exp);
    os_(o, num);
}

static size_t
finish(out *o)
{
    if (o->size)
        o->p[o->len < o->size ? o->len : o->size - 1] = '\0';
    return o->len;
}

static bool
nonfinite(out *o, double v)
{
    if (isnan(v))
        os_(o, "NaN");
    else if (isinf(v))
        os_(o, v > 0 ? "+Inf" : "-Inf");
    else
        return false;
    return true;
}

size_t
ts_format_float_go(double v, char fmt, char *buf, size_t size)
{
    out o = {buf, size, 0};
    if (nonfinite(&o, v))
        return finish(&o);
    if (signbit(v))
        oc(&o, '-');
    decimal d;
    shortest(fabs(v), &d);
    if (fmt == 'g') {
        int exp = d.nd ? d.dp - 1 : 0;
        /* Go uses precision 6 for the %e-or-%f decision of shortest %g */
        fmt = (exp < -4 || exp >= 6) ? 'e' : 'f';
    }
    if (fmt == 'e')
        fmt_e(&o, &d);
    else
        fmt_f(&o, &d);
    return finish(&o);
}

size_t
ts_format_prom_value(double v, char *buf, size_t size)
{
    double a = fabs(v);
    char fmt = (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f';
    return ts_format_float_go(v, fmt, buf, size);
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

/* Called before every value or key: writes the separating comma. */
static void
sep(ts_jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->nonempty[w->depth])
        putc_(w, ',');
    w->nonempty[w->depth] = true;
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

static void
escaped(ts_jsonw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    putc_(w, '"');
    while (i < n) {
        unsigned char c = p[i];
        const char *rep = NULL;
        char ubuf[7];
        size_t adv = 1;
        if (c < 0x80) {
            if (c == '"')
                rep = "\\\"";
            else if (c == '\\')
                rep = "\\\\";
            else if (c == '\n')
                rep = "\\n";
            else if (c == '\r')
                rep = "\\r";
            else if (c == '\t')
                rep = "\\t";
            else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                snprintf(ubuf, sizeof ubuf, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
                rep = ubuf;
            }
        } else {
            uint32_t cp;
            adv = utf8_len(p + i, n - i, &cp);
            if (adv == 0) {
                rep = "\\ufffd";
                adv = 1;
            } else if (cp == 0x2028) {
                rep = "\\u2028";
            } else if (cp == 0x2029) {
                rep = "\\u2029";
            }
        }
        if (rep) {
            put(w, p + start, i - start);
            put(w, rep, strlen(rep));
            start = i + adv;
        }
        i += adv;
    }
    put(w, p + start, n - start);
    putc_(w, '"');
}

void
ts_jsonw_keyn(ts_jsonw *w, const char *k, size_t n)
{
    sep(w);
    escaped(w, k, n);
    putc_(w, ':');
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
    sep(w);
    escaped(w, s ? s : "", s ? n : 0);
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
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    sep(w);
    put(w, b, (size_t)n);
}

void
ts_jsonw_uint(ts_jsonw *w, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    sep(w);
    put(w, b, (size_t)n);
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
    size_t n = ts_format_prom_value(v, b + 1, TS_FLOAT_BUF_MAX);
    b[n + 1] = '"';
    sep(w);
    put(w, b, n + 2);
}

void
ts_jsonw_go_float_str(ts_jsonw *w, double v)
{
    char b[TS_FLOAT_BUF_MAX + 2];
    b[0] = '"';
    size_t n = ts_format_float_go(v, 'f', b + 1, TS_FLOAT_BUF_MAX);
    b[n + 1] = '"';
    sep(w);
    put(w, b, n + 2);
}

void
ts_jsonw_prom_time(ts_jsonw *w, int64_t ms)
{
    char b[32];
    int n;
    /* Go writes '-' then the magnitude; unsigned arithmetic keeps INT64_MIN defined. */
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(mag % 1000);
    if (frac)
        n = snprintf(b, sizeof b, "%s%llu.%03u", ms < 0 ? "-" : "",
                     (unsigned long long)(mag / 1000), frac);
    else
        n = snprintf(b, sizeof b, "%s%llu", ms < 0 ? "-" : "", (unsigned long long)(mag / 1000));
    sep(w);
    put(w, b, (size_t)n);
}

void
ts_jsonw_prom_time_float(ts_jsonw *w, int64_t ms)
{
    ts_jsonw_double(w, (double)ms / 1000.0);
}
