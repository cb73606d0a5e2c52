#include "pkg/labels/matcher.h"
#include "pkg/util/mem.h"

#include "pkg/labels/internal.h"

#include <stdio.h>
#include <string.h>

static bool
is_literal(const char *s)
{
    for (; *s; s++)
        if (strchr("\\^$.|?*+()[]{}", *s))
            return false;
    return true;
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
    ts_free(m->name);
    ts_free(m->value);
    ts_free(m);
}

static bool
re_match(const ts_matcher *m, const char *value)
{
    if (m->literal)
        return strcmp(m->value, value) == 0;
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
