#include "pkg/relabel/relabel.h"
#include "pkg/util/buf.h"
#include "pkg/util/md5.h"
#include "pkg/util/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const action_names[] = {
    "replace",   "keep",      "drop",      "hashmod",   "labelmap",  "labeldrop",
    "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal",
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *
ts_relabel_action_name(ts_relabel_action a)
{
    return (unsigned)a < NACTIONS ? action_names[a] : "?";
}

int
ts_relabel_action_parse(const char *s, ts_relabel_action *out, ts_error *err)
{
    for (size_t i = 0; i < NACTIONS; i++) {
        if (strcasecmp(s, action_names[i]) == 0) {
            *out = (ts_relabel_action)i;
            return TS_OK;
        }
    }
    return ts_error_set(err, TS_EINVAL, "unknown relabel action \"%s\"", s);
}

void
ts_relabel_config_init(ts_relabel_config *c)
{
    memset(c, 0, sizeof(*c));
    c->separator = ts_strdup(";");
    c->target_label = ts_strdup("");
    c->replacement = ts_strdup("$1");
    c->action = TS_RELABEL_REPLACE;
    int rc = ts_relabel_config_set_regex(c, "(.*)", NULL);
    TS_ASSERT(rc == TS_OK);
}

void
ts_relabel_config_fini(ts_relabel_config *c)
{
    for (size_t i = 0; i < c->nsource; i++)
        ts_free(c->source_labels[i]);
    ts_free(c->source_labels);
    ts_free(c->separator);
    ts_free(c->regex_src);
    ts_regex_free(c->regex);
    ts_free(c->target_label);
    ts_free(c->replacement);
    memset(c, 0, sizeof(*c));
}

int
ts_relabel_config_set_regex(ts_relabel_config *c, const char *re, ts_error *err)
{
    ts_regex *r;
    int rc = ts_regex_new(&r, re, err);
    if (rc)
        return rc;
    ts_regex_free(c->regex);
    ts_free(c->regex_src);
    c->regex = r;
    c->regex_src = ts_strdup(re);
    return TS_OK;
}

/* Prometheus' relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ */
static bool
valid_target(const char *s)
{
    if (!*s)
        return false;
    const char *p = s;
    while (*p) {
        if (isalpha((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)) {
            /* a digit may not start the whole thing */
            if (p == s && isdigit((unsigned char)*p))
                return false;
            p++;
        } else if (*p == '$') {
            p++;
            if (*p == '{') {
                p++;
                const char *start = p;
                while (isalnum((unsigned char)*p) || *p == '_')
                    p++;
                if (p == start || *p != '}')
                    return false;
                p++;
            } else {
                const char *start = p;
                while (isalnum((unsigned char)*p) || *p == '_')
                    p++;
                if (p == start)
                    return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

int
ts_relabel_config_validate(const ts_relabel_config *c, ts_error *err)
{
    const char *an = ts_relabel_action_name(c->action);
    ts_relabel_action a = c->action;
    bool default_regex = strcmp(c->regex_src, "(.*)") == 0;
    bool default_sep = strcmp(c->separator, ";") == 0;
    bool default_repl = strcmp(c->replacement, "$1") == 0;
    if (a == TS_RELABEL_HASHMOD && c->modulus == 0)
        return ts_error_set(err, TS_EINVAL,
                            "relabel configuration for hashmod requires non-zero modulus");
    bool needs_target = a == TS_RELABEL_REPLACE || a == TS_RELABEL_HASHMOD ||
                        a == TS_RELABEL_LOWERCASE || a == TS_RELABEL_UPPERCASE ||
                        a == TS_RELABEL_KEEPEQUAL || a == TS_RELABEL_DROPEQUAL;
    if (needs_target && c->target_label[0] == '\0')
        return ts_error_set(err, TS_EINVAL,
                            "relabel configuration for %s action requires 'target_label' value",
                            an);
    bool templ_target = a == TS_RELABEL_REPLACE || a == TS_RELABEL_LOWERCASE ||
                        a == TS_RELABEL_UPPERCASE || a == TS_RELABEL_KEEPEQUAL ||
                        a == TS_RELABEL_DROPEQUAL;
    if (templ_target && !valid_target(c->target_label))
        return ts_error_set(err, TS_EINVAL, "\"%s\" is invalid 'target_label' for %s action",
                            c->target_label, an);
    if ((a == TS_RELABEL_LOWERCASE || a == TS_RELABEL_UPPERCASE || a == TS_RELABEL_KEEPEQUAL ||
         a == TS_RELABEL_DROPEQUAL) &&
        !default_repl)
        return ts_error_set(err, TS_EINVAL, "'replacement' can not be set for %s action", an);
    if (a == TS_RELABEL_LABELMAP && !valid_target(c->replacement))
        return ts_error_set(err, TS_EINVAL, "\"%s\" is invalid 'replacement' for %s action",
                            c->replacement, an);
    if (a == TS_RELABEL_HASHMOD && !ts_label_name_valid(c->target_label, strlen(c->target_label)))
        return ts_error_set(err, TS_EINVAL, "\"%s\" is invalid 'target_label' for %s action",
                            c->target_label, an);
    if ((a == TS_RELABEL_KEEPEQUAL || a == TS_RELABEL_DROPEQUAL) &&
        (!default_regex || c->modulus != 0 || !default_sep || !default_repl))
        return ts_error_set(err, TS_EINVAL,
                            "%s action requires only 'source_labels' and `target_label`, and no "
                            "other fields",
                            an);
    if ((a == TS_RELABEL_LABELDROP || a == TS_RELABEL_LABELKEEP) &&
        (c->source_set || c->target_label[0] || c->modulus != 0 || !default_sep || !default_repl))
        return ts_error_set(err, TS_EINVAL, "%s action requires only 'regex', and no other fields",
                            an);
    return TS_OK;
}

/* Joins the source label values into out (NUL-terminated). */
static void
join_sources(const ts_relabel_config *c, ts_labels_builder *b, ts_buf *out)
{
    ts_buf_reset(out);
    for (size_t i = 0; i < c->nsource; i++) {
        if (i)
            ts_buf_puts(out, c->separator);
        const char *v = ts_labels_builder_get(b, c->source_labels[i]);
        if (v)
            ts_buf_puts(out, v);
    }
    ts_buf_cstr(out);
}

static bool
apply_one(const ts_relabel_config *c, ts_labels_builder *b, ts_buf *val, ts_buf *tmp)
{
    join_sources(c, b, val);
    const char *v = (const char *)val->p;
    ts_regex_match m;
    switch (c->action) {
    case TS_RELABEL_KEEP: return ts_regex_match_str(c->regex, v, val->len, NULL);
    case TS_RELABEL_DROP: return !ts_regex_match_str(c->regex, v, val->len, NULL);
    case TS_RELABEL_KEEPEQUAL:
    case TS_RELABEL_DROPEQUAL: {
        const char *t = ts_labels_builder_get(b, c->target_label);
        bool eq = strcmp(v, t ? t : "") == 0;
        return c->action == TS_RELABEL_KEEPEQUAL ? eq : !eq;
    }
    case TS_RELABEL_REPLACE: {
        if (!ts_regex_match_str(c->regex, v, val->len, &m))
            return true;
        ts_buf_reset(tmp);
        ts_regex_expand(c->regex, c->target_label, v, &m, tmp);
        char *target = ts_strdup(ts_buf_cstr(tmp));
        if (!ts_label_name_valid(target, strlen(target))) {
            ts_labels_builder_del(b, c->target_label);
            ts_free(target);
            return true;
        }
        ts_buf_reset(tmp);
        ts_regex_expand(c->regex, c->replacement, v, &m, tmp);
        const char *res = ts_buf_cstr(tmp);
        if (!res[0])
            ts_labels_builder_del(b, target);
        else
            ts_labels_builder_set(b, target, res);
        ts_free(target);
        return true;
    }
    case TS_RELABEL_LOWERCASE:
    case TS_RELABEL_UPPERCASE: {
        ts_buf_reset(tmp);
        for (size_t i = 0; i < val->len; i++)
            ts_buf_putc(tmp, (uint8_t)(c->action == TS_RELABEL_LOWERCASE ? tolower(val->p[i])
                                                                         : toupper(val->p[i])));
        ts_labels_builder_set(b, c->target_label, ts_buf_cstr(tmp));
        return true;
    }
    case TS_RELABEL_HASHMOD: {
        uint8_t d[16];
        ts_md5(val->p, val->len, d);
        uint64_t s = 0;
        for (int i = 8; i < 16; i++)
            s = (s << 8) | d[i];
        char num[32];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(s % c->modulus));
        ts_labels_builder_set(b, c->target_label, num);
        return true;
    }
    case TS_RELABEL_LABELMAP: {
        /* iterate over a snapshot: setting labels may grow the builder */
        size_t n = b->n;
        char **names = ts_malloc((n ? n : 1) * sizeof(char *));
        char **vals = ts_malloc((n ? n : 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            names[i] = ts_strdup(b->l[i].name);
            vals[i] = ts_strdup(b->l[i].value);
        }
        for (size_t i = 0; i < n; i++) {
            if (!ts_regex_match_str(c->regex, names[i], strlen(names[i]), &m))
                continue;
            ts_buf_reset(tmp);
            ts_regex_expand(c->regex, c->replacement, names[i], &m, tmp);
            ts_labels_builder_set(b, ts_buf_cstr(tmp), vals[i]);
        }
        for (size_t i = 0; i < n; i++) {
            ts_free(names[i]);
            ts_free(vals[i]);
        }
        ts_free(names);
        ts_free(vals);
        return true;
    }
    case TS_RELABEL_LABELDROP:
    case TS_RELABEL_LABELKEEP: {
        bool keep_matching = c->action == TS_RELABEL_LABELKEEP;
        size_t k = 0;
        for (size_t i = 0; i < b->n; i++) {
            const char *name = b->l[i].name;
            bool match = ts_regex_match_str(c->regex, name, strlen(name), NULL);
            if (match == keep_matching)
                b->l[k++] = b->l[i];
        }
        b->n = k;
        return true;
    }
    }
    return true;
}

bool
ts_relabel_process(const ts_relabel_config *cfgs, size_t n, ts_labels_builder *b)
{
    ts_buf val, tmp;
    ts_buf_init(&val, 0);
    ts_buf_init(&tmp, 0);
    bool keep = true;
    for (size_t i = 0; i < n && keep; i++)
        keep = apply_one(&cfgs[i], b, &val, &tmp);
    ts_buf_fini(&val);
    ts_buf_fini(&tmp);
    return keep;
}
