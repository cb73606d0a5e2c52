/*
 * Alert templates (see template.h for the accepted subset).
 *
 * One walker does both jobs: with d == NULL it only checks the text (rule
 * load time), with data it also writes the expansion.  Because both go
 * through the same code, a text that passed the check cannot meet an
 * unknown construct at evaluation time.
 *
 * An action is split into words; the forms accepted are
 *     VALUE                 VALUE := $labels.N | .Labels.N | $externalLabels.N
 *     humanize VALUE                  | .ExternalLabels.N | $value | .Value
 *     VALUE | humanize                | $externalURL | .ExternalURL
 * Go prints a float64 with %v, i.e. strconv 'g' with the shortest digits.
 */
#include "pkg/rules/template.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/mem.h"

/* A growable output string (heap, copied to the arena at the end). */
typedef struct out {
    char *p;
    size_t n, cap;
} out;

static void
put(out *o, const char *s, size_t n)
{
    if (!o)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t c = o->cap ? o->cap : 64;
        while (c < o->n + n + 1)
            c *= 2;
        o->p = ts_realloc(o->p, c);
        o->cap = c;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

void
ts_rule_format_float(double v, char fmt, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* shortest precision whose %e form reads back as v */
    char e[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    snprintf(e, sizeof(e), "%.*e", p - 1, v);
    if (fmt == 'e') {
        snprintf(buf, size, "%s", e);
        return;
    }
    int exp = v == 0 ? 0 : (int)strtol(strchr(e, 'e') + 1, NULL, 10);
    /* strconv 'g' with shortest digits decides with a precision of 6 */
    int eprec = 6;
    if (exp < -4 || exp >= eprec) {
        snprintf(buf, size, "%s", e);
        return;
    }
    int frac = p - 1 - exp;
    snprintf(buf, size, "%.*f", frac > 0 ? frac : 0, v);
}

static void
go_4g(double v, const char *suffix, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "NaN%s", suffix);
    else if (isinf(v))
        snprintf(buf, size, "%s%s", v > 0 ? "+Inf" : "-Inf", suffix);
    else
        snprintf(buf, size, "%.4g%s", v, suffix);
}

void
ts_rule_humanize(double v, char *buf, size_t size)
{
    if (v == 0 || isnan(v) || isinf(v)) {
        go_4g(v, "", buf, size);
        return;
    }
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (size_t i = 0; i < 8 && fabs(v) >= 1000; i++) {
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = small[i];
            v *= 1000;
        }
    }
    go_4g(v, prefix, buf, size);
}

typedef struct word {
    const char *p;
    size_t n;
} word;

static bool
word_is(word w, const char *s)
{
    return w.n == strlen(s) && memcmp(w.p, s, w.n) == 0;
}

static bool
has_prefix(word w, const char *s, word *rest)
{
    size_t n = strlen(s);
    if (w.n <= n || memcmp(w.p, s, n) != 0)
        return false;
    rest->p = w.p + n;
    rest->n = w.n - n;
    return true;
}

/* Resolves a VALUE word.  Returns 0 when w is not a value form.  *is_num
 * tells whether the value is the sample value (humanize needs a number). */
static int
value_word(word w, const ts_rule_tmpl_data *d, out *o, bool *is_num, bool humanize)
{
    word name;
    const ts_labels *map = NULL;
    bool is_map = false;
    *is_num = false;
    if (has_prefix(w, "$labels.", &name) || has_prefix(w, ".Labels.", &name)) {
        is_map = true;
        map = d ? d->labels : NULL;
    } else if (has_prefix(w, "$externalLabels.", &name) ||
               has_prefix(w, ".ExternalLabels.", &name)) {
        is_map = true;
        map = d ? d->external_labels : NULL;
    } else if (word_is(w, "$value") || word_is(w, ".Value")) {
        *is_num = true;
        if (d) {
            char buf[64];
            if (humanize)
                ts_rule_humanize(d->value, buf, sizeof(buf));
            else
                ts_rule_format_float(d->value, 'g', buf, sizeof(buf));
            put(o, buf, strlen(buf));
        }
        return 1;
    } else if (word_is(w, "$externalURL") || word_is(w, ".ExternalURL")) {
        if (d && d->external_url)
            put(o, d->external_url, strlen(d->external_url));
        return 1;
    } else {
        return 0;
    }
    if (!is_map)
        return 0;
    for (size_t i = 0; i < name.n; i++)
        if (!(isalnum((unsigned char)name.p[i]) || name.p[i] == '_'))
            return 0;
    if (d) {
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)name.n, name.p);
        const char *v = map ? ts_labels_get(map, key) : NULL;
        if (v)
            put(o, v, strlen(v));
        else
            put(o, "<no value>", 10);
    }
    return 1;
}

/* Checks (d NULL) or expands one action body [p, p+n). */
static int
action(const char *p, size_t n, const ts_rule_tmpl_data *d, out *o, const char **why)
{
    word w[4];
    size_t nw = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)p[i]))
            i++;
        if (i >= n)
            break;
        size_t s = i;
        if (p[i] == '"' || p[i] == '`' || p[i] == '(') {
            *why = nw && isalpha((unsigned char)w[0].p[0])
                       ? "unsupported function or keyword (supported: humanize)"
                       : "only $labels/$value/$externalLabels/$externalURL and humanize are "
                         "supported";
            return TS_EINVAL;
        }
        while (i < n && !isspace((unsigned char)p[i]) && p[i] != '|')
            i++;
        if (i == s) /* a '|' */
            i++;
        if (nw == 4) {
            *why = "action too long for the supported template subset";
            return TS_EINVAL;
        }
        w[nw++] = (word){p + s, i - s};
    }
    if (nw == 0) {
        *why = "missing value for command";
        return TS_EINVAL;
    }
    bool num;
    if (nw == 1 && value_word(w[0], d, o, &num, false))
        return TS_OK;
    const ts_rule_tmpl_data *none = NULL;
    if (nw == 2 && word_is(w[0], "humanize") && value_word(w[1], none, NULL, &num, false) && num) {
        value_word(w[1], d, o, &num, true);
        return TS_OK;
    }
    if (nw == 3 && word_is(w[1], "|") && word_is(w[2], "humanize") &&
        value_word(w[0], none, NULL, &num, false) && num) {
        value_word(w[0], d, o, &num, true);
        return TS_OK;
    }
    if (nw >= 1 && w[0].n > 0 && isalpha((unsigned char)w[0].p[0]) && !word_is(w[0], "humanize")) {
        *why = "unsupported function or keyword (supported: humanize)";
        return TS_EINVAL;
    }
    *why = "unsupported action (supported: $labels.NAME, .Labels.NAME, $value, .Value, "
           "$externalLabels.NAME, $externalURL, humanize)";
    return TS_EINVAL;
}

/* Walks the whole text; on error fills err and returns TS_EINVAL. */
static int
walk(const char *name, const char *text, const ts_rule_tmpl_data *d, out *o, ts_error *err)
{
    const char *p = text;
    size_t len = strlen(text);
    const char *end = text + len;
    bool trim_next = false;
    while (p < end) {
        const char *open = strstr(p, "{{");
        const char *lit_end = open ? open : end;
        const char *ls = p;
        if (trim_next)
            while (ls < lit_end && isspace((unsigned char)*ls))
                ls++;
        const char *le = lit_end;
        bool trim_left = open && open + 2 < end && open[2] == '-' && open + 3 < end &&
                         isspace((unsigned char)open[3]);
        if (trim_left)
            while (le > ls && isspace((unsigned char)le[-1]))
                le--;
        put(o, ls, (size_t)(le - ls));
        if (!open)
            break;
        const char *body = open + 2 + (trim_left ? 1 : 0);
        const char *close = strstr(body, "}}");
        if (!close)
            return ts_error_set(err, TS_EINVAL, "template: %s:%d: unclosed action", name,
                                (int)(open - text) + 1);
        const char *be = close;
        trim_next = false;
        if (be - body >= 2 && be[-1] == '-' && isspace((unsigned char)be[-2])) {
            trim_next = true;
            be--;
        }
        /* a comment action */
        const char *cs = body;
        while (cs < be && isspace((unsigned char)*cs))
            cs++;
        const char *ce = be;
        while (ce > cs && isspace((unsigned char)ce[-1]))
            ce--;
        if (ce - cs >= 4 && cs[0] == '/' && cs[1] == '*' && ce[-1] == '/' && ce[-2] == '*') {
            p = close + 2;
            continue;
        }
        const char *why = NULL;
        if (action(body, (size_t)(be - body), d, o, &why) != TS_OK)
            return ts_error_set(err, TS_EINVAL, "template: %s:%d: %.*s: %s", name,
                                (int)(open - text) + 1, (int)(close + 2 - open), open, why);
        p = close + 2;
    }
    return TS_OK;
}

int
ts_rule_template_check(const char *name, const char *text, ts_error *err)
{
    return walk(name, text, NULL, NULL, err);
}

char *
ts_rule_template_expand(ts_arena *a, const char *name, const char *text,
                        const ts_rule_tmpl_data *d)
{
    static const ts_rule_tmpl_data zero = {0};
    out o = {0};
    ts_error err;
    ts_error_clear(&err);
    char *res;
    if (walk(name, text, d ? d : &zero, &o, &err) != TS_OK)
        res = ts_arena_sprintf(a, "<error expanding template: %s>", err.msg);
    else
        res = ts_arena_strdup(a, o.p ? o.p : "");
    ts_free(o.p);
    return res;
}
