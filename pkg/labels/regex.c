#include "pkg/labels/regex.h"
#include "pkg/util/mem.h"

#include "pkg/labels/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ts_regex {
    pcre2_code *code;
    char *pattern;
};

int
ts_regex_new(ts_regex **out, const char *pattern, ts_error *err)
{
    /* anchored by options, not by wrapping the text (see matcher.c) */
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                      &ecode, &eoff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        return ts_error_set(err, TS_EPARSE, "error parsing regexp: %s: `%s`", (char *)msg, pattern);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    ts_regex *re = ts_malloc(sizeof(*re));
    re->code = code;
    re->pattern = ts_strdup(pattern);
    *out = re;
    return TS_OK;
}

void
ts_regex_free(ts_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    ts_free(re->pattern);
    ts_free(re);
}

const char *
ts_regex_pattern(const ts_regex *re)
{
    return re->pattern;
}

bool
ts_regex_match_str(const ts_regex *re, const char *s, size_t n, ts_regex_match *m)
{
    pcre2_match_data *md;
    pcre2_match_context *mc;
    ts__re_scratch(&md, &mc);
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, md, mc);
    if (rc < 0)
        return false;
    if (m) {
        uint32_t cap = 0;
        pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &cap);
        int ng = (int)cap + 1;
        if (ng > TS_REGEX_MAX_GROUPS)
            ng = TS_REGEX_MAX_GROUPS;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        m->ngroups = ng;
        for (int i = 0; i < ng; i++) {
            if (i < rc && ov[2 * i] != PCRE2_UNSET) {
                m->start[i] = (long)ov[2 * i];
                m->end[i] = (long)ov[2 * i + 1];
            } else {
                m->start[i] = m->end[i] = -1;
            }
        }
    }
    return true;
}

static bool
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Group number for a reference name: a decimal number, or a named group.
 * Returns -1 when there is no such group. */
static int
group_index(const ts_regex *re, const char *name, size_t len)
{
    bool digits = len > 0;
    for (size_t i = 0; i < len; i++)
        digits = digits && name[i] >= '0' && name[i] <= '9';
    if (digits) {
        if (len > 8)
            return -1;
        char tmp[16];
        memcpy(tmp, name, len);
        tmp[len] = '\0';
        return (int)strtol(tmp, NULL, 10);
    }
    char tmp[128];
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    int idx = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)tmp);
    return idx > 0 ? idx : -1;
}

int
ts_regex_expand(const ts_regex *re, const char *tmpl, const char *s, const ts_regex_match *m,
                ts_buf *out)
{
    int rc = TS_OK;
    for (const char *p = tmpl; *p && rc == TS_OK; p++) {
        if (*p != '$') {
            rc = ts_buf_putc(out, (uint8_t)*p);
            continue;
        }
        if (p[1] == '$') {
            rc = ts_buf_putc(out, '$');
            p++;
            continue;
        }
        const char *name = p + 1;
        bool brace = *name == '{';
        if (brace)
            name++;
        size_t len = 0;
        while (name_char(name[len]))
            len++;
        if (len == 0 || (brace && name[len] != '}')) {
            rc = ts_buf_putc(out, '$'); /* malformed: literal $ */
            continue;
        }
        int g = group_index(re, name, len);
        if (g >= 0 && g < m->ngroups && m->start[g] >= 0)
            rc = ts_buf_put(out, s + m->start[g], (size_t)(m->end[g] - m->start[g]));
        p = name + len - 1 + (brace ? 1 : 0);
    }
    return rc;
}
