/*
 * Streaming JSON writer (see jsonw.h for the exact forms).  Numbers are
 * formatted by floatfmt.c, the one home of Go's float text; this file only
 * places them and escapes strings.
 */
#include "pkg/util/jsonw.h"
#include "pkg/util/err.h"
#include "pkg/util/floatfmt.h"

#include <math.h>
#include <string.h>

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
    n += ts__format_u64(b + n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    sep(w);
    put(w, b, n);
}

void
ts_jsonw_uint(ts_jsonw *w, uint64_t v)
{
    char b[24];
    size_t n = ts__format_u64(b, v);
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

/* marshalTimestamp at p (room for 24 bytes); returns the length.  Go writes
 * '-' then the magnitude; unsigned arithmetic keeps INT64_MIN defined. */
static size_t
format_prom_time(int64_t ms, char *p)
{
    size_t n = 0;
    if (ms < 0)
        p[n++] = '-';
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    n += ts__format_u64(p + n, mag / 1000);
    unsigned frac = (unsigned)(mag % 1000);
    if (frac) {
        p[n++] = '.';
        p[n++] = (char)('0' + frac / 100);
        p[n++] = (char)('0' + frac / 10 % 10);
        p[n++] = (char)('0' + frac % 10);
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
    p += ts_format_prom_value(v, p, TS_FLOAT_BUF_MAX); /* its NUL is overwritten next */
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
