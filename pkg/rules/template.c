/*
 * Alert templates (see template.h for the accepted subset).
 *
 * One walker does both jobs: with d == NULL it only checks the text (rule
 * load time), with data it also writes the expansion.  Because both go
 * through the same code, a text that passed the check cannot meet an
 * unknown construct at evaluation time.
 *
 * An action is tokenised (operands, "literals", function names, '|'),
 * split into commands at '|' and evaluated left to right with typed values
 * (number or string): every type error is found by the check, so expansion
 * cannot fail.  Go prints a float64 with %v, i.e. strconv 'g' with the
 * shortest digits (ts_format_float_go in pkg/util/floatfmt.c).
 */
#include "pkg/rules/template.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/floatfmt.h"
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

/* ---- actions: a typed pipeline --------------------------------------------------- */

enum { V_NUM, V_STR };

/* A value: its type is known at check time; content only when expanding. */
typedef struct val {
    int type;
    double num;
    char str[512];
} val;

typedef struct tok {
    const char *p;
    size_t n;
    bool quoted; /* a "..." literal (p/n: the unescaped text is built on use) */
} tok;

static bool
tok_is(tok t, const char *s)
{
    return !t.quoted && t.n == strlen(s) && memcmp(t.p, s, t.n) == 0;
}

static bool
tok_prefix(tok t, const char *s, tok *rest)
{
    size_t n = strlen(s);
    if (t.quoted || t.n <= n || memcmp(t.p, s, n) != 0)
        return false;
    *rest = (tok){t.p + n, t.n - n, false};
    return true;
}

/* Resolves an operand: a data reference or a string literal.  0 when t is neither. */
static int
operand(tok t, const ts_rule_tmpl_data *d, val *v)
{
    if (t.quoted) {
        /* Go escapes: \" \\ \n \t */
        size_t k = 0;
        for (size_t i = 0; i < t.n && k + 1 < sizeof(v->str); i++) {
            char c = t.p[i];
            if (c == '\\' && i + 1 < t.n) {
                c = t.p[++i];
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
            }
            v->str[k++] = c;
        }
        v->str[k] = '\0';
        v->type = V_STR;
        return 1;
    }
    tok name;
    const ts_labels *map = NULL;
    if (tok_prefix(t, "$labels.", &name) || tok_prefix(t, ".Labels.", &name)) {
        map = d ? d->labels : NULL;
    } else if (tok_prefix(t, "$externalLabels.", &name) ||
               tok_prefix(t, ".ExternalLabels.", &name)) {
        map = d ? d->external_labels : NULL;
    } else if (tok_is(t, "$value") || tok_is(t, ".Value")) {
        v->type = V_NUM;
        v->num = d ? d->value : 0;
        return 1;
    } else if (tok_is(t, "$externalURL") || tok_is(t, ".ExternalURL")) {
        v->type = V_STR;
        snprintf(v->str, sizeof(v->str), "%s", d && d->external_url ? d->external_url : "");
        return 1;
    } else {
        return 0;
    }
    for (size_t i = 0; i < name.n; i++)
        if (!(isalnum((unsigned char)name.p[i]) || name.p[i] == '_'))
            return 0;
    v->type = V_STR;
    v->str[0] = '\0';
    if (d) {
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)name.n, name.p);
        const char *s = map ? ts_labels_get(map, key) : NULL;
        snprintf(v->str, sizeof(v->str), "%s", s ? s : "");
    }
    return 1;
}

static void
humanize_duration(double v, char *buf, size_t size)
{
    if (isnan(v) || isinf(v)) {
        go_4g(v, "", buf, size);
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    if (fabs(v) >= 1) {
        const char *sign = v < 0 ? "-" : "";
        v = fabs(v);
        long long dur = (long long)v;
        long long sec = dur % 60, min = (dur / 60) % 60, hours = (dur / 3600) % 24,
                  days = dur / 86400;
        if (days)
            snprintf(buf, size, "%s%lldd %lldh %lldm %llds", sign, days, hours, min, sec);
        else if (hours)
            snprintf(buf, size, "%s%lldh %lldm %llds", sign, hours, min, sec);
        else if (min)
            snprintf(buf, size, "%s%lldm %llds", sign, min, sec);
        else
            snprintf(buf, size, "%s%.4gs", sign, v);
        return;
    }
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
        prefix = small[i];
        v *= 1000;
    }
    char suf[8];
    snprintf(suf, sizeof(suf), "%ss", prefix);
    go_4g(v, suf, buf, size);
}

static void
humanize_1024(double v, char *buf, size_t size)
{
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        go_4g(v, "", buf, size);
        return;
    }
    static const char *const big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) >= 1024; i++) {
        prefix = big[i];
        v /= 1024;
    }
    go_4g(v, prefix, buf, size);
}

/* printf with Go verbs checked against the argument types:
 * numbers: %f %e %g %v (flags, width, precision); strings: %s %v %q-less; %% literal. */
static int
go_printf(const char *fmt, const val *args, size_t nargs, val *res, bool expand, const char **why)
{
    size_t k = 0, ai = 0;
    res->type = V_STR;
    res->str[0] = '\0';
    for (const char *p = fmt; *p;) {
        if (*p != '%') {
            if (expand && k + 1 < sizeof(res->str))
                res->str[k++] = *p;
            p++;
            continue;
        }
        const char *spec = p++;
        if (*p == '%') {
            if (expand && k + 1 < sizeof(res->str))
                res->str[k++] = '%';
            p++;
            continue;
        }
        while (*p && strchr("+- #0", *p))
            p++;
        while (isdigit((unsigned char)*p))
            p++;
        bool prec = false;
        if (*p == '.') {
            prec = true;
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
        char verb = *p;
        if (!verb || !strchr("feEgGvs", verb) || p - spec > 12) {
            *why = "printf: only the verbs %f %e %g %v (numbers) and %s %v (strings) are supported";
            return TS_EINVAL;
        }
        p++;
        if (ai >= nargs) {
            *why = "printf: missing argument for a verb";
            return TS_EINVAL;
        }
        const val *a = &args[ai++];
        bool num_verb = verb != 's';
        if (a->type == V_NUM ? !num_verb : (verb != 's' && verb != 'v')) {
            *why = "printf: verb does not match the argument type ($value is a number, labels "
                   "are strings)";
            return TS_EINVAL;
        }
        if (!expand)
            continue;
        char one[600], cfmt[24];
        if (a->type == V_NUM && (verb == 'v' || ((verb == 'g' || verb == 'G') && !prec)) &&
            p - spec == 2) {
            ts_format_float_go(a->num, 'g', one, sizeof(one));
        } else if (a->type == V_NUM && (isnan(a->num) || isinf(a->num))) {
            ts_format_float_go(a->num, 'g', one, sizeof(one));
        } else {
            snprintf(cfmt, sizeof(cfmt), "%.*s", (int)(p - spec), spec);
            if (verb == 'v')
                cfmt[strlen(cfmt) - 1] = a->type == V_NUM ? 'g' : 's';
                /* cfmt is one verb checked above against the argument's type */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            if (a->type == V_NUM)
                snprintf(one, sizeof(one), cfmt, a->num);
            else
                snprintf(one, sizeof(one), cfmt, a->str);
#pragma GCC diagnostic pop
        }
        for (const char *q = one; *q && k + 1 < sizeof(res->str); q++)
            res->str[k++] = *q;
    }
    if (ai != nargs) {
        *why = "printf: more arguments than verbs";
        return TS_EINVAL;
    }
    res->str[k] = '\0';
    return TS_OK;
}

/* Calls function f with args (the piped value last). */
static int
call(tok f, val *args, size_t nargs, val *res, bool expand, const char **why)
{
    static const char *const num1[] = {"humanize", "humanize1024", "humanizeDuration",
                                       "humanizePercentage"};
    for (size_t i = 0; i < 4; i++) {
        if (!tok_is(f, num1[i]))
            continue;
        if (nargs != 1 || args[0].type != V_NUM) {
            *why = "humanize functions take one number ($value)";
            return TS_EINVAL;
        }
        res->type = V_STR;
        double v = args[0].num;
        if (!expand)
            return TS_OK;
        if (i == 0)
            ts_rule_humanize(v, res->str, sizeof(res->str));
        else if (i == 1)
            humanize_1024(v, res->str, sizeof(res->str));
        else if (i == 2)
            humanize_duration(v, res->str, sizeof(res->str));
        else
            go_4g(v * 100, "%", res->str, sizeof(res->str));
        return TS_OK;
    }
    if (tok_is(f, "toUpper") || tok_is(f, "toLower")) {
        if (nargs != 1 || args[0].type != V_STR) {
            *why = "toUpper/toLower take one string";
            return TS_EINVAL;
        }
        *res = args[0];
        for (char *c = res->str; *c; c++)
            *c = (char)(tok_is(f, "toUpper") ? toupper((unsigned char)*c)
                                             : tolower((unsigned char)*c));
        return TS_OK;
    }
    if (tok_is(f, "printf")) {
        if (nargs < 1 || args[0].type != V_STR) {
            *why = "printf needs a format string";
            return TS_EINVAL;
        }
        char fmt[512];
        snprintf(fmt, sizeof(fmt), "%s", args[0].str);
        return go_printf(fmt, args + 1, nargs - 1, res, expand, why);
    }
    *why = "unsupported function or keyword (supported: humanize, humanize1024, humanizeDuration, "
           "humanizePercentage, printf, toUpper, toLower)";
    return TS_EINVAL;
}

/* Checks (d NULL) or expands one action body [p, p+n): CMD ('|' CMD)*, where CMD is an
 * operand alone or a function with operand arguments; a piped value is the last argument. */
static int
action(const char *p, size_t n, const ts_rule_tmpl_data *d, out *o, const char **why)
{
    tok t[16];
    size_t nt = 0, i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)p[i]))
            i++;
        if (i >= n)
            break;
        if (nt == 16) {
            *why = "action too long for the supported template subset";
            return TS_EINVAL;
        }
        if (p[i] == '"') {
            size_t s0 = ++i;
            while (i < n && p[i] != '"')
                i += p[i] == '\\' ? 2 : 1;
            if (i >= n) {
                *why = "unterminated quoted string";
                return TS_EINVAL;
            }
            t[nt++] = (tok){p + s0, i - s0, true};
            i++;
            continue;
        }
        if (p[i] == '`' || p[i] == '(' || p[i] == ')') {
            *why = "raw strings and parentheses are not supported";
            return TS_EINVAL;
        }
        size_t s0 = i;
        if (p[i] == '|')
            i++;
        else
            while (i < n && !isspace((unsigned char)p[i]) && p[i] != '|' && p[i] != '"')
                i++;
        t[nt++] = (tok){p + s0, i - s0, false};
    }
    if (nt == 0) {
        *why = "missing value for command";
        return TS_EINVAL;
    }
    val *piped = NULL, cur, args[8];
    size_t c0 = 0;
    while (c0 < nt) {
        size_t c1 = c0;
        while (c1 < nt && !tok_is(t[c1], "|"))
            c1++;
        if (c1 == c0) {
            *why = "missing command in pipeline";
            return TS_EINVAL;
        }
        if (operand(t[c0], d, &cur)) {
            if (c1 - c0 != 1 || piped) {
                *why = piped ? "can't give argument to non-function" : "unexpected operand";
                return TS_EINVAL;
            }
        } else {
            size_t na = 0;
            for (size_t k = c0 + 1; k < c1; k++) {
                if (na == 7 || !operand(t[k], d, &args[na])) {
                    *why = "unsupported argument (arguments are $labels.NAME, $value, "
                           "$externalLabels.NAME, $externalURL or \"strings\")";
                    return TS_EINVAL;
                }
                na++;
            }
            if (piped)
                args[na++] = *piped;
            if (call(t[c0], args, na, &cur, d != NULL, why) != TS_OK)
                return TS_EINVAL;
        }
        piped = &cur;
        c0 = c1 + (c1 < nt);
        if (c1 < nt && c0 == nt) {
            *why = "missing command after |";
            return TS_EINVAL;
        }
    }
    if (d) {
        if (cur.type == V_NUM) {
            char buf[64];
            ts_format_float_go(cur.num, 'g', buf, sizeof(buf));
            put(o, buf, strlen(buf));
        } else {
            put(o, cur.str, strlen(cur.str));
        }
    }
    return TS_OK;
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
ts_rule_template_expand(ts_arena *a, const char *name, const char *text, const ts_rule_tmpl_data *d)
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
