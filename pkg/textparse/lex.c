/*
 * The lexing that both text formats share (Prometheus textparse's lexers
 * have one per format; here the common parts are one unit): line fetching
 * with its limits, the label-set grammar (in a lenient text-format flavour
 * and a strict OpenMetrics one), unescaping into the scratch buffer, number
 * parsing with Go's strconv rules (Prometheus parses with
 * strconv.ParseFloat/ParseInt, so "Inf", "+inf", "infinity", "NaN", "1e3"
 * and ".5" are values but "0x1p3", "1_000" and "+NaN" are not), UTF-8
 * validation, and error formatting.
 *
 * Used by promtext.c, openmetrics.c and textparse.c; it calls none of them.
 * See internal.h for why the scratch buffer never moves while a line's
 * slices are live.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/textparse/internal.h"
#include "pkg/util/mem.h"

/* Prometheus' value.NormalNaN: the NaN every parsed "NaN" becomes. */
#define NORMAL_NAN_BITS 0x7ff8000000000001ULL

/* ------------------------------------------------------------ lines, errors */

int
ts__tp_fetch_line(ts_textparse *p, ts__tp_cur *cur, bool *terminated)
{
    if (p->pos >= p->len)
        return 0;
    const char *s = p->buf + p->pos;
    size_t left = p->len - p->pos;
    size_t look = left < p->max_line + 1 ? left : p->max_line + 1;
    const char *nl = memchr(s, '\n', look);
    size_t n = nl ? (size_t)(nl - s) : left;
    p->lineno++;
    if (n > p->max_line) {
        p->err.code = TS_ELIMIT;
        p->err.line = p->lineno;
        p->err.pos = p->pos;
        snprintf(p->err.msg, sizeof(p->err.msg), "line too long (more than %zu bytes)",
                 p->max_line);
        return -1;
    }
    const char *nul = memchr(s, '\0', n);
    if (nul) {
        p->err.code = TS_EPARSE;
        p->err.line = p->lineno;
        p->err.col = (int)(nul - s) + 1;
        p->err.pos = p->pos + (size_t)(nul - s);
        snprintf(p->err.msg, sizeof(p->err.msg), "invalid NUL byte at column %d", p->err.col);
        return -1;
    }
    cur->line = cur->p = s;
    cur->e = s + n;
    *terminated = nl != NULL;
    p->pos += n + (nl ? 1 : 0);
    p->scratch_len = 0;
    ts__tp_scratch_reserve(p, n);
    return 1;
}

ts_tp_entry
ts__tp_fail(ts_textparse *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->err.code = TS_EPARSE;
    p->err.line = p->lineno;
    vsnprintf(p->err.msg, sizeof(p->err.msg), fmt, ap);
    va_end(ap);
    return TS_TP_ERROR;
}

void
ts__tp_quote(char *out, size_t outsize, const char *s, size_t n, size_t max)
{
    size_t o = 0;
    bool cut = n > max;
    if (cut)
        n = max;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < outsize)                                                                       \
            out[o++] = (c);                                                                        \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c == '\n') {
            PUT('\\');
            PUT('n');
        } else if (c == '\t') {
            PUT('\\');
            PUT('t');
        } else if (c == '\r') {
            PUT('\\');
            PUT('r');
        } else if (c < 0x20 || c >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            PUT('\\');
            PUT('x');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        } else {
            PUT((char)c);
        }
    }
    if (cut) {
        PUT('.');
        PUT('.');
        PUT('.');
    }
    PUT('"');
#undef PUT
    out[o < outsize ? o : outsize - 1] = '\0';
}

ts_tp_entry
ts__tp_fail_got(ts_textparse *p, const ts__tp_cur *c, const char *what)
{
    char tok[16], ctx[120];
    if (c->p < c->e)
        ts__tp_quote(tok, sizeof(tok), c->p, 1, 1);
    else
        ts__tp_quote(tok, sizeof(tok), "\n", 1, 1);
    size_t upto = (size_t)(c->p - c->line) + (c->p < c->e ? 1 : 0);
    /* show at most the last 60 bytes of the line up to the error */
    const char *from = c->line;
    if (upto > 60) {
        from += upto - 60;
        upto = 60;
    }
    ts__tp_quote(ctx, sizeof(ctx), from, upto, 60);
    return ts__tp_fail(p, "%s, got %s while parsing: %s", what, tok, ctx);
}

/* ------------------------------------------------------------------ tokens */

bool
ts__tp_is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

bool
ts__tp_is_name_char(int c)
{
    return ts__tp_is_name_start(c) || (c >= '0' && c <= '9');
}

/* name_chars[c]: 1 for [a-zA-Z_:], 2 for [0-9] (names are the bulk of a
 * scrape's bytes: one table load per byte instead of five compares). */
static const unsigned char name_chars[256] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['_'] = 1, [':'] = 1, ['0'] = 2, ['1'] = 2,
    ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2, ['9'] = 2,
};

bool
ts__tp_metric_name(ts__tp_cur *c, ts_str *out)
{
    const char *s = c->p;
    if (s >= c->e || name_chars[(unsigned char)*s] != 1)
        return false;
    while (c->p < c->e && name_chars[(unsigned char)*c->p])
        c->p++;
    *out = (ts_str){s, (size_t)(c->p - s)};
    return true;
}

bool
ts__tp_label_name(ts__tp_cur *c, ts_str *out)
{
    const char *s = c->p;
    if (s >= c->e || *s == ':' || !ts__tp_is_name_start((unsigned char)*s))
        return false;
    while (c->p < c->e && *c->p != ':' && ts__tp_is_name_char((unsigned char)*c->p))
        c->p++;
    *out = (ts_str){s, (size_t)(c->p - s)};
    return true;
}

ts_str
ts__tp_word(ts__tp_cur *c)
{
    const char *s = c->p;
    while (c->p < c->e && *c->p != ' ' && *c->p != '\t')
        c->p++;
    return (ts_str){s, (size_t)(c->p - s)};
}

static void
skip_ws(ts__tp_cur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

void
ts__tp_scratch_reserve(ts_textparse *p, size_t n)
{
    if (p->scratch_cap < n) {
        ts_free(p->scratch);
        p->scratch_cap = n < 256 ? 256 : n;
        p->scratch = ts_malloc(p->scratch_cap);
    }
}

ts_str
ts__tp_unescape(ts_textparse *p, ts_str s, bool quote_too)
{
    if (!memchr(s.p, '\\', s.len))
        return s;
    /* the scratch holds the whole line, and unescaping never grows a string */
    TS_ASSERT(p->scratch_len + s.len <= p->scratch_cap);
    char *out = p->scratch + p->scratch_len;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '\\' && i + 1 < s.len) {
            char d = s.p[i + 1];
            if (d == '\\' || d == 'n' || (quote_too && d == '"')) {
                out[o++] = d == 'n' ? '\n' : d;
                i++;
                continue;
            }
        }
        out[o++] = c;
    }
    p->scratch_len += o;
    return (ts_str){out, o};
}

/* ------------------------------------------------------------------ labels */

static void
add_label(ts_textparse *p, ts_str name, ts_str value)
{
    TS_GROW(p->labels, p->caplabels, p->nlabels + 1);
    p->labels[p->nlabels].name = name;
    p->labels[p->nlabels].value = value;
    p->nlabels++;
}

ts_tp_entry
ts__tp_labels(ts_textparse *p, ts__tp_cur *c, bool lenient, bool exemplar)
{
    TS_ASSERT(c->p < c->e && *c->p == '{');
    c->p++;
    if (lenient)
        skip_ws(c);
    if (c->p < c->e && *c->p == '}') {
        c->p++;
        return TS_TP_SERIES;
    }
    for (;;) {
        ts_str name;
        if (!ts__tp_label_name(c, &name))
            return ts__tp_fail_got(p, c, "expected label name");
        if (lenient)
            skip_ws(c);
        if (c->p >= c->e || *c->p != '=')
            return ts__tp_fail_got(p, c, "expected equal");
        c->p++;
        if (lenient)
            skip_ws(c);
        if (c->p >= c->e || *c->p != '"')
            return ts__tp_fail_got(p, c, "expected label value");
        const char *vs = ++c->p;
        while (c->p < c->e && *c->p != '"') {
            if (*c->p == '\\' && c->p + 1 < c->e)
                c->p++;
            c->p++;
        }
        if (c->p >= c->e)
            return ts__tp_fail_got(p, c, "expected label value");
        ts_str raw = {vs, (size_t)(c->p - vs)};
        c->p++; /* closing quote */
        if (!ts__tp_utf8_valid(raw.p, raw.len)) {
            char q[80];
            ts__tp_quote(q, sizeof(q), raw.p, raw.len, 32);
            return ts__tp_fail(p, "invalid UTF-8 label value: %s", q);
        }
        if (!exemplar)
            add_label(p, name, ts__tp_unescape(p, raw, true));
        if (lenient)
            skip_ws(c);
        if (c->p < c->e && *c->p == ',') {
            c->p++;
            if (lenient) {
                skip_ws(c);
                if (c->p < c->e && *c->p == '}') {
                    c->p++;
                    return TS_TP_SERIES;
                }
            }
            continue;
        }
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            return TS_TP_SERIES;
        }
        return ts__tp_fail_got(p, c, "expected comma or brace close");
    }
}

static int
cmp_label_name(const void *a, const void *b)
{
    const ts_tp_label *x = a, *y = b;
    return ts_str_cmp(x->name, y->name);
}

ts_tp_entry
ts__tp_check_dup_labels(ts_textparse *p)
{
    size_t n = p->nlabels;
    const ts_tp_label *dup = NULL;
    ts_tp_label *sorted = NULL;
    for (size_t i = 0; i < n && !dup; i++)
        if (ts_str_eqc(p->labels[i].name, TS_METRIC_NAME))
            dup = &p->labels[i];
    if (!dup && n <= 16) {
        for (size_t i = 0; i < n && !dup; i++)
            for (size_t j = i + 1; j < n && !dup; j++)
                if (ts_str_eq(p->labels[i].name, p->labels[j].name))
                    dup = &p->labels[i];
    } else if (!dup) {
        sorted = ts_malloc(n * sizeof(*sorted));
        memcpy(sorted, p->labels, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), cmp_label_name);
        for (size_t i = 1; i < n && !dup; i++)
            if (ts_str_eq(sorted[i - 1].name, sorted[i].name))
                dup = &sorted[i];
    }
    ts_tp_entry e = TS_TP_SERIES;
    if (dup)
        e = ts__tp_fail(p, "label name \"%.*s\" is not unique",
                        (int)(dup->name.len < 64 ? dup->name.len : 64), dup->name.p);
    ts_free(sorted);
    return e;
}

/* ----------------------------------------------------------------- numbers */

static size_t
prefix_ci(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    while (i < n && word[i] && (s[i] | 0x20) == word[i])
        i++;
    return i;
}

/* Exact fast path for a validated decimal (no specials): with at most 15
 * mantissa digits the mantissa m is an exact double, and for a decimal
 * exponent |e| <= 22 so is 10^|e|; one IEEE multiplication or division of
 * two exact values is correctly rounded, so m * 10^e gives the same double as
 * strtod (Clinger's fast path).  Returns false when it does not apply. */
static bool
fast_decimal(ts_str s, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = false;
    if (s.p[0] == '+' || s.p[0] == '-')
        neg = s.p[i++] == '-';
    uint64_t m = 0;
    int digits = 0, frac = 0;
    for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++, digits++)
        m = m * 10 + (uint64_t)(s.p[i] - '0');
    if (i < s.len && s.p[i] == '.')
        for (i++; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++, digits++, frac++)
            m = m * 10 + (uint64_t)(s.p[i] - '0');
    if (digits > 15)
        return false;
    int e = 0;
    if (i < s.len) { /* e/E [+-] digits: validated by the caller */
        i++;
        bool eneg = false;
        if (s.p[i] == '+' || s.p[i] == '-')
            eneg = s.p[i++] == '-';
        for (; i < s.len; i++) {
            e = e * 10 + (s.p[i] - '0');
            if (e > 1000)
                return false;
        }
        if (eneg)
            e = -e;
    }
    e -= frac;
    if (e < -22 || e > 22)
        return false;
    double v = (double)m;
    v = e >= 0 ? v * pow10[e] : v / pow10[-e];
    *out = neg ? -v : v;
    return true;
}

int
ts__tp_parse_float(ts_str s, double *out, const char **why)
{
    *why = "invalid syntax";
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == 'p' || s.p[i] == 'P' || s.p[i] == '_') {
            *why = "unsupported character in float";
            return -1;
        }
    if (s.len == 0)
        return -1;
    size_t i = 0;
    bool neg = false, sign = false;
    if (s.p[0] == '+' || s.p[0] == '-') {
        neg = s.p[0] == '-';
        sign = true;
        i = 1;
    }
    /* specials: [+-]inf, [+-]infinity, nan (case-insensitive) */
    size_t rest = s.len - i;
    if ((rest == 3 && prefix_ci(s.p + i, rest, "inf") == 3) ||
        (rest == 8 && prefix_ci(s.p + i, rest, "infinity") == 8)) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (!sign && rest == 3 && prefix_ci(s.p, 3, "nan") == 3) {
        uint64_t bits = NORMAL_NAN_BITS;
        memcpy(out, &bits, sizeof(bits));
        return 0;
    }
    /* decimal: digits [. digits] [e [+-] digits], at least one mantissa digit */
    size_t digits = 0;
    while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
        i++, digits++;
    if (i < s.len && s.p[i] == '.') {
        i++;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return -1;
    if (i < s.len && (s.p[i] == 'e' || s.p[i] == 'E')) {
        i++;
        if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
            i++, ed++;
        if (!ed)
            return -1;
    }
    if (i != s.len)
        return -1;
    if (fast_decimal(s, out))
        return 0;
    char stack[128];
    char *tmp = s.len < sizeof(stack) ? stack : ts_malloc(s.len + 1);
    memcpy(tmp, s.p, s.len);
    tmp[s.len] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    int e = errno;
    if (tmp != stack)
        ts_free(tmp);
    if (e == ERANGE && isinf(v)) {
        *why = "value out of range";
        return -1;
    }
    *out = v;
    return 0;
}

int
ts__tp_parse_int(ts_str s, int64_t *out, const char **why)
{
    *why = "invalid syntax";
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.p[0] == '+' || s.p[0] == '-')) {
        neg = s.p[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool range = false;
    for (; i < s.len; i++) {
        char c = s.p[i];
        if (c < '0' || c > '9')
            return -1;
        if (v > (lim - (uint64_t)(c - '0')) / 10)
            range = true;
        else
            v = v * 10 + (uint64_t)(c - '0');
    }
    if (range) {
        *why = "value out of range";
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

bool
ts__tp_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}
