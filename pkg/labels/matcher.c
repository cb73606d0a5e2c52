#include "pkg/labels/matcher.h"
#include "pkg/util/mem.h"

#include "pkg/labels/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
is_literal(const char *s)
{
    for (; *s; s++)
        if (strchr("\\^$.|?*+()[]{}", *s))
            return false;
    return true;
}

/* Whether s is well-formed UTF-8 (Go's regexp refuses a pattern that is
 * not; a set must not accept what the regex path would refuse). */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
        if (!len || i + len > n || (len == 2 && c < 0xC2))
            return false;
        unsigned cp = len == 1 ? c : c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

static int
cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fills m->set when pattern is an alternation of literals: parts split at
 * unescaped '|', each made of plain characters and backslash-escaped ASCII
 * punctuation ("\." is "."; Go reads any escaped non-word character as
 * itself), the whole optionally in one group "(...)" or
 * "(?:...)".  Anything else (classes, repeats, flags, \d, nested groups)
 * leaves the set empty and the pattern to PCRE2. */
static void
try_set(ts_matcher *m, const char *pattern)
{
    size_t n = strlen(pattern);
    const char *p = pattern, *end = pattern + n;
    if (n >= 2 && p[0] == '(' && p[n - 1] == ')' && p[n - 2] != '\\') {
        p += strncmp(p, "(?:", 3) == 0 ? 3 : 1;
        end--;
    }
    if (!utf8_valid((const unsigned char *)p, (size_t)(end - p)))
        return;
    size_t nparts = 1;
    for (const char *q = p; q < end; q++) {
        if (*q == '\\') {
            if (q + 1 >= end || !strchr("\\^$.|?*+()[]{}-/ #&~,:;<=>!@%'\"`", q[1]))
                return;
            q++;
        } else if (*q == '|') {
            nparts++;
        } else if (strchr("^$.?*+()[]{}", *q)) {
            return;
        }
    }
    if (nparts < 2)
        return; /* one literal: m->literal's case, or a single escaped one for PCRE2 */
    char **set = ts_malloc(nparts * sizeof(*set));
    char *buf = ts_malloc((size_t)(end - p) + 1);
    size_t k = 0, len = 0;
    for (const char *q = p;; q++) {
        if (q == end || *q == '|') {
            buf[len] = '\0';
            set[k++] = ts_strdup(buf);
            len = 0;
            if (q == end)
                break;
        } else {
            if (*q == '\\')
                q++;
            buf[len++] = *q;
        }
    }
    ts_free(buf);
    qsort(set, k, sizeof(*set), cmp_strp);
    m->set = set;
    m->nset = k;
}

int
ts_matcher_new(ts_matcher **out, ts_match_type type, const char *name, const char *value,
               ts_error *err)
{
    ts_matcher *m = ts_calloc(1, sizeof(*m));
    m->type = type;
    m->name = ts_strdup(name);
    m->value = ts_strdup(value);
    if (type == TS_MATCH_RE || type == TS_MATCH_NRE) {
        if (is_literal(value)) {
            m->literal = 1;
        } else if (try_set(m, value), m->set) {
            /* matched by binary search in m->set */
        } else {
            /* anchored at both ends by options, not by wrapping the text:
             * a pattern like "a)|(b" must be a syntax error, as in Go */
            int ecode;
            PCRE2_SIZE eoff;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_ANCHORED |
                                               PCRE2_ENDANCHORED,
                                           &ecode, &eoff, NULL);
            if (!re) {
                PCRE2_UCHAR msg[200];
                pcre2_get_error_message(ecode, msg, sizeof(msg));
                ts_error_set(err, TS_EPARSE, "error parsing regexp: %s: `%s`", (char *)msg, value);
                ts_matcher_free(m);
                return TS_EPARSE;
            }
            pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort */
            m->re = re;
        }
    }
    *out = m;
    return TS_OK;
}

void
ts_matcher_free(ts_matcher *m)
{
    if (!m)
        return;
    if (m->re)
        pcre2_code_free(m->re);
    for (size_t i = 0; i < m->nset; i++)
        ts_free(m->set[i]);
    ts_free(m->set);
    ts_free(m->name);
    ts_free(m->value);
    ts_free(m);
}

static bool
re_match(const ts_matcher *m, const char *value)
{
    if (m->literal)
        return strcmp(m->value, value) == 0;
    if (m->set)
        return bsearch(&value, m->set, m->nset, sizeof(*m->set), cmp_strp) != NULL;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    ts__re_scratch(&md, &mc);
    int rc = pcre2_match(m->re, (PCRE2_SPTR)value, strlen(value), 0, 0, md, mc);
    return rc >= 0;
}

bool
ts_matcher_matches(const ts_matcher *m, const char *value)
{
    switch (m->type) {
    case TS_MATCH_EQ: return strcmp(m->value, value) == 0;
    case TS_MATCH_NEQ: return strcmp(m->value, value) != 0;
    case TS_MATCH_RE: return re_match(m, value);
    case TS_MATCH_NRE: return !re_match(m, value);
    }
    return false;
}

const char *
ts_match_type_str(ts_match_type t)
{
    static const char *const s[] = {"=", "!=", "=~", "!~"};
    return (unsigned)t < 4 ? s[t] : "?";
}

size_t
ts_matcher_format(const ts_matcher *m, char *buf, size_t size)
{
    /* value quoting matches Go's %q for the common printable case */
    size_t off = (size_t)snprintf(buf, size, "%s%s\"", m->name, ts_match_type_str(m->type));
    for (const char *p = m->value; *p; p++) {
        char tmp[3] = {0};
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = *p;
        } else if (*p == '\n') {
            tmp[0] = '\\';
            tmp[1] = 'n';
        } else {
            tmp[0] = *p;
        }
        for (char *t = tmp; *t; t++) {
            if (off + 1 < size)
                buf[off] = *t;
            off++;
        }
    }
    if (off + 1 < size)
        buf[off] = '"';
    off++;
    if (size)
        buf[off < size ? off : size - 1] = '\0';
    return off;
}
