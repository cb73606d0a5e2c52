/*
 * PromQL test-file runner (see promqltest.h for the format).
 *
 * The script is split into lines (trimmed; comment lines become blank, so
 * they end a block, as test.go's getLines does).  Commands are handled in
 * order: `load` parses its series lines and appends them through one head
 * appender (samples at 0, step, 2*step, ... from the epoch), `clear`
 * replaces the head, and each `eval` runs its query through the engine and
 * compares the result with the expected lines like test.go's compareResult:
 * every actual element must be expected (same label set), values must agree
 * within a relative 1e-6 (NaN == NaN), every expected element must be
 * present, and for eval_ordered positions must match.
 *
 * Series descriptions are parsed here (not with the PromQL parser) because
 * the value list syntax (`0+10x100`, `_x3`, `stale`) belongs to the test
 * format only.
 */
#include "pkg/promql/promqltest/promqltest.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/regex.h"
#include "pkg/promql/engine/engine.h"
#include "pkg/promql/parser/ast.h"
#include "pkg/storage/storage.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define MAX_SERIES_VALUES 10000000 /* bound on one line's expansion */

typedef struct runner {
    const char *name;
    ts_promqltest_stats *stats;
    ts_promqltest_report_fn report;
    void *ctx;
    ts_head *head;
    ts_queryable qb;
    ts_promql_engine *eng;
    ts_arena a;  /* per command */
    bool native; /* a native-histogram series was loaded since the last clear */
} runner;

static void say(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
say(runner *r, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (r->report)
        r->report(r->ctx, buf);
}

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

static int
reset_head(runner *r)
{
    ts_head_free(r->head);
    r->head = NULL;
    /* Test files load data in any order across load blocks (each block starts
     * at 0), so the head's appendable window must cover everything: a very
     * long chunk range (Prometheus' test storage uses a 24h one). */
    ts_head_opts o = {.chunk_range_ms = 100LL * 365 * 86400 * 1000};
    int rc = ts_head_new(&r->head, &o);
    r->qb.querier = head_querier;
    r->qb.impl = r->head;
    return rc;
}

/* ------------------------------------------------------------- lexing */

typedef struct cur {
    const char *p, *end;
} cur;

static void
skip_ws(cur *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p))
        c->p++;
}

static bool
is_name_start(char ch, bool metric)
{
    return isalpha((unsigned char)ch) || ch == '_' || (metric && ch == ':');
}

static bool
is_name_char(char ch, bool metric)
{
    return isalnum((unsigned char)ch) || ch == '_' || (metric && ch == ':');
}

/* A quoted string ("...", '...' or `...`) with Go escapes, into the arena. */
static char *
parse_quoted(cur *c, ts_arena *a)
{
    if (c->p >= c->end)
        return NULL;
    char q = *c->p;
    if (q != '"' && q != '\'' && q != '`')
        return NULL;
    c->p++;
    char *out = ts_arena_alloc(a, (size_t)(c->end - c->p) * 4 + 1);
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        char ch = *c->p++;
        if (ch == '\\' && q != '`' && c->p < c->end) {
            char esc = *c->p++;
            switch (esc) {
            case 'n': out[n++] = '\n'; break;
            case 't': out[n++] = '\t'; break;
            case 'r': out[n++] = '\r'; break;
            case 'a': out[n++] = '\a'; break;
            case 'b': out[n++] = '\b'; break;
            case 'f': out[n++] = '\f'; break;
            case 'v': out[n++] = '\v'; break;
            case 'x': {
                if (c->end - c->p < 2)
                    return NULL;
                char hex[3] = {c->p[0], c->p[1], 0};
                out[n++] = (char)strtol(hex, NULL, 16);
                c->p += 2;
                break;
            }
            case 'u': {
                if (c->end - c->p < 4)
                    return NULL;
                char hex[5] = {c->p[0], c->p[1], c->p[2], c->p[3], 0};
                unsigned long cp = strtoul(hex, NULL, 16);
                c->p += 4;
                if (cp < 0x80) {
                    out[n++] = (char)cp;
                } else if (cp < 0x800) {
                    out[n++] = (char)(0xC0 | (cp >> 6));
                    out[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    out[n++] = (char)(0xE0 | (cp >> 12));
                    out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[n++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: out[n++] = esc; break;
            }
        } else {
            out[n++] = ch;
        }
    }
    if (c->p >= c->end)
        return NULL;
    c->p++;
    out[n] = 0;
    return out;
}

/* metric{name="value", ...}: labels into the arena. */
static const ts_labels *
parse_labels(cur *c, ts_arena *a)
{
    ts_label ls[128];
    size_t n = 0;
    skip_ws(c);
    if (c->p < c->end && is_name_start(*c->p, true)) {
        const char *s = c->p;
        while (c->p < c->end && is_name_char(*c->p, true))
            c->p++;
        ls[n++] = (ts_label){TS_METRIC_NAME, ts_arena_strndup(a, s, (size_t)(c->p - s))};
    }
    skip_ws(c);
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        for (;;) {
            skip_ws(c);
            if (c->p < c->end && *c->p == '}') {
                c->p++;
                break;
            }
            if (c->p >= c->end || !is_name_start(*c->p, false) || n >= 128)
                return NULL;
            const char *s = c->p;
            while (c->p < c->end && is_name_char(*c->p, false))
                c->p++;
            char *name = ts_arena_strndup(a, s, (size_t)(c->p - s));
            skip_ws(c);
            if (c->p >= c->end || *c->p != '=')
                return NULL;
            c->p++;
            skip_ws(c);
            char *v = parse_quoted(c, a);
            if (!v)
                return NULL;
            ls[n++] = (ts_label){name, v};
            skip_ws(c);
            if (c->p < c->end && *c->p == ',')
                c->p++;
        }
    }
    /* n == 0 (`{}`) is the empty label set. */
    return ts_labels_new_arena(a, ls, n);
}

/* A (possibly signed) number, Inf or NaN. */
static bool
scan_number(cur *c, double *out)
{
    const char *s = c->p;
    const char *p = s;
    if (p < c->end && (*p == '+' || *p == '-'))
        p++;
    if (p < c->end && isalpha((unsigned char)*p)) {
        while (p < c->end && isalpha((unsigned char)*p))
            p++;
    } else {
        /* No hex here: in `0x5` the x is the repetition operator (as
         * Prometheus' lexer in series-description mode). */
        {
            while (p < c->end && (isdigit((unsigned char)*p) || *p == '.'))
                p++;
            if (p < c->end && (*p == 'e' || *p == 'E')) {
                const char *q = p + 1;
                if (q < c->end && (*q == '+' || *q == '-'))
                    q++;
                if (q < c->end && isdigit((unsigned char)*q)) {
                    while (q < c->end && isdigit((unsigned char)*q))
                        q++;
                    p = q;
                }
            }
        }
    }
    if (p == s || ts_parse_float_go(s, (size_t)(p - s), out) != TS_OK)
        return false;
    c->p = p;
    return true;
}

static bool
scan_uint(cur *c, uint64_t *out)
{
    if (c->p >= c->end || !isdigit((unsigned char)*c->p))
        return false;
    uint64_t v = 0;
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        v = v * 10 + (uint64_t)(*c->p - '0');
        if (v > MAX_SERIES_VALUES)
            return false;
        c->p++;
    }
    *out = v;
    return true;
}

/* One expanded value list entry. */
typedef struct seqval {
    double v;
    bool omitted;
} seqval;

typedef struct seq {
    seqval *v;
    size_t n, cap;
} seq;

static void
seq_add(seq *s, double v, bool omitted)
{
    TS_GROW(s->v, s->cap, s->n + 1);
    s->v[s->n++] = (seqval){v, omitted};
}

/* Parses the value list after the labels: `_`, `_xN`, `stale`, `v`, `vxN`,
 * `v+dxN`, `v-dxN`. */
static bool
parse_values(cur *c, seq *out)
{
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end)
            return true;
        if (*c->p == '_') {
            c->p++;
            if (c->p < c->end && *c->p == 'x') {
                c->p++;
                uint64_t n;
                if (!scan_uint(c, &n))
                    return false;
                for (uint64_t i = 0; i < n; i++)
                    seq_add(out, 0, true);
            } else {
                seq_add(out, 0, true);
            }
        } else if ((size_t)(c->end - c->p) >= 5 && strncmp(c->p, "stale", 5) == 0) {
            c->p += 5;
            seq_add(out, ts_stale_nan(), false);
        } else {
            double v;
            if (!scan_number(c, &v))
                return false;
            if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
                double d;
                if (!scan_number(c, &d) || c->p >= c->end || *c->p != 'x')
                    return false;
                c->p++;
                uint64_t n;
                if (!scan_uint(c, &n))
                    return false;
                seq_add(out, v, false);
                for (uint64_t i = 1; i <= n; i++) {
                    v += d;
                    seq_add(out, v, false);
                }
            } else if (c->p < c->end && *c->p == 'x') {
                c->p++;
                uint64_t n;
                if (!scan_uint(c, &n))
                    return false;
                for (uint64_t i = 0; i <= n; i++)
                    seq_add(out, v, false);
            } else {
                seq_add(out, v, false);
            }
        }
        if (c->p < c->end && !isspace((unsigned char)*c->p))
            return false;
    }
}

/* ------------------------------------------------------------- commands */

typedef struct line {
    const char *p;
    size_t len;
    int no; /* 1-based */
} line;

static bool
starts_with(const line *l, const char *pfx)
{
    size_t n = strlen(pfx);
    return l->len >= n && memcmp(l->p, pfx, n) == 0;
}

/* Reads the next whitespace-separated word. */
static bool
next_word(cur *c, const char **w, size_t *n)
{
    skip_ws(c);
    if (c->p >= c->end)
        return false;
    *w = c->p;
    while (c->p < c->end && !isspace((unsigned char)*c->p))
        c->p++;
    *n = (size_t)(c->p - *w);
    return true;
}

static bool
word_is(const char *w, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(w, s, n) == 0;
}

static int
do_load(runner *r, const line *cmd, const line *body, size_t nbody)
{
    cur c = {cmd->p + 4, cmd->p + cmd->len};
    const char *w;
    size_t wn;
    int64_t step;
    if (!next_word(&c, &w, &wn) || ts_duration_parse(w, wn, &step) != 0) {
        say(r, "%s:%d: invalid load command: %.*s", r->name, cmd->no, (int)cmd->len, cmd->p);
        return TS_EPARSE;
    }
    /* Parse every line first: a later line for the same label set replaces
     * an earlier one (test.go keeps the definitions in a map by label hash). */
    const ts_labels **ls = ts_arena_calloc(&r->a, nbody + 1, sizeof(*ls));
    seq *vals = ts_arena_calloc(&r->a, nbody + 1, sizeof(*vals));
    int rc = 0;
    for (size_t i = 0; i < nbody && rc == 0; i++) {
        cur lc = {body[i].p, body[i].p + body[i].len};
        if (memmem(body[i].p, body[i].len, "{{", 2)) {
            /* Native histogram samples: not supported, so the evals that
             * follow (until clear) are skipped. */
            r->native = true;
            continue;
        }
        ls[i] = parse_labels(&lc, &r->a);
        if (!ls[i] || !parse_values(&lc, &vals[i])) {
            say(r, "%s:%d: invalid series line: %.*s", r->name, body[i].no, (int)body[i].len,
                body[i].p);
            rc = TS_EPARSE;
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (ls[j] && ts_labels_equal(ls[j], ls[i]))
                ls[j] = NULL;
    }
    ts_appender *app = ts_head_appender(r->head);
    for (size_t i = 0; i < nbody && rc == 0; i++) {
        if (!ls[i])
            continue;
        uint64_t ref = 0;
        for (size_t j = 0; j < vals[i].n && rc == 0; j++) {
            if (vals[i].v[j].omitted)
                continue;
            rc = app->ops->append(app, ref, ls[i], (int64_t)j * step, vals[i].v[j].v, &ref);
            if (rc != 0)
                say(r, "%s:%d: append failed: %s", r->name, body[i].no, ts_strerror(rc));
        }
    }
    for (size_t i = 0; i < nbody; i++)
        ts_free(vals[i].v);
    if (rc != 0) {
        app->ops->rollback(app);
        return rc;
    }
    rc = app->ops->commit(app);
    if (rc != 0)
        say(r, "%s:%d: commit failed: %s", r->name, cmd->no, ts_strerror(rc));
    return rc;
}

/* Relative comparison as test.go's almostEqual. */
static bool
almost_equal(double a, double b)
{
    const double eps = 0.000001, min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || diff < min_normal)
        return diff < eps * min_normal;
    return diff / (fabs(a) + fabs(b)) < eps;
}

typedef struct expect {
    const ts_labels *l; /* NULL for a scalar */
    seq vals;
    int line;
} expect;

typedef struct evalcmd {
    const line *cmd;
    bool fail, ordered, range;
    int64_t t, start, end, step;
    const char *expr;
    size_t exprlen;
    expect *ex;
    size_t nex;
    const char *fail_msg; /* eval_fail: `expected_fail_message <text>` (exact) */
    const char *fail_re;  /* eval_fail: `expected_fail_regexp <re>` (unanchored) */
} evalcmd;

static void
fmt_float(double v, char *buf, size_t n)
{
    if (ts_is_stale_nan(v))
        snprintf(buf, n, "stale");
    else if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, n, "%.17g", v);
}

/* Reports a failure with the expected lines and the actual result. */
static void
report_failure(runner *r, const evalcmd *ec, const ts_promql_result *res, const char *what,
               const char *why)
{
    say(r, "%s:%d: %s%.*s: %s", r->name, ec->cmd->no, what, (int)ec->cmd->len, ec->cmd->p, why);
    char num[64], lb[1024];
    say(r, "  expected:%s", ec->nex ? "" : " (nothing)");
    for (size_t i = 0; i < ec->nex; i++) {
        const expect *x = &ec->ex[i];
        if (x->l)
            ts_labels_format(x->l, lb, sizeof(lb));
        else
            lb[0] = 0;
        char vals[512] = "";
        size_t off = 0;
        for (size_t j = 0; j < x->vals.n && off < sizeof(vals) - 64; j++) {
            if (x->vals.v[j].omitted)
                snprintf(num, sizeof(num), "_");
            else
                fmt_float(x->vals.v[j].v, num, sizeof(num));
            off += (size_t)snprintf(vals + off, sizeof(vals) - off, " %s", num);
        }
        say(r, "    %s%s", lb, vals);
    }
    if (!res)
        return;
    switch (res->type) {
    case TS_PROMQL_VT_SCALAR:
        fmt_float(res->scalar, num, sizeof(num));
        say(r, "  actual: scalar %s", num);
        break;
    case TS_PROMQL_VT_STRING: say(r, "  actual: string \"%s\"", res->str); break;
    case TS_PROMQL_VT_VECTOR:
        say(r, "  actual:%s", res->nvec ? "" : " (empty vector)");
        for (size_t i = 0; i < res->nvec; i++) {
            ts_labels_format(res->vec[i].labels, lb, sizeof(lb));
            fmt_float(res->vec[i].v, num, sizeof(num));
            say(r, "    %s %s", lb, num);
        }
        break;
    case TS_PROMQL_VT_MATRIX:
        say(r, "  actual:%s", res->nmat ? "" : " (empty matrix)");
        for (size_t i = 0; i < res->nmat && i < 50; i++) {
            ts_labels_format(res->mat[i].labels, lb, sizeof(lb));
            char vals[512] = "";
            size_t off = 0;
            for (size_t j = 0; j < res->mat[i].n && off < sizeof(vals) - 64; j++) {
                fmt_float(res->mat[i].samples[j].v, num, sizeof(num));
                off += (size_t)snprintf(vals + off, sizeof(vals) - off, " %s@%" PRId64, num,
                                        res->mat[i].samples[j].t);
            }
            say(r, "    %s%s", lb, vals);
        }
        break;
    default: break;
    }
}

static const expect *
find_expect(const evalcmd *ec, const ts_labels *l, size_t *pos)
{
    for (size_t i = 0; i < ec->nex; i++)
        if (ec->ex[i].l && ts_labels_equal(ec->ex[i].l, l)) {
            *pos = i;
            return &ec->ex[i];
        }
    return NULL;
}

/* Compares an instant vector (elements with labels and values); returns NULL
 * or a message in the arena. */
static const char *
compare_vector(runner *r, const evalcmd *ec, const ts_promql_vsample *v, size_t n, bool ordered)
{
    bool *seen = ts_arena_calloc(&r->a, ec->nex + 1, 1);
    char lb[1024], a1[64], a2[64];
    for (size_t i = 0; i < n; i++) {
        size_t pos;
        const expect *x = find_expect(ec, v[i].labels, &pos);
        ts_labels_format(v[i].labels, lb, sizeof(lb));
        if (!x)
            return ts_arena_sprintf(&r->a, "unexpected metric %s in result", lb);
        if (ordered && pos != i)
            return ts_arena_sprintf(&r->a, "expected metric %s at position %zu but was at %zu", lb,
                                    pos + 1, i + 1);
        if (x->vals.n != 1 || !almost_equal(x->vals.v[0].v, v[i].v)) {
            fmt_float(x->vals.n ? x->vals.v[0].v : NAN, a1, sizeof(a1));
            fmt_float(v[i].v, a2, sizeof(a2));
            return ts_arena_sprintf(&r->a, "expected %s for %s but got %s", a1, lb, a2);
        }
        seen[pos] = true;
    }
    for (size_t i = 0; i < ec->nex; i++)
        if (!seen[i]) {
            if (ec->ex[i].l)
                ts_labels_format(ec->ex[i].l, lb, sizeof(lb));
            else
                snprintf(lb, sizeof(lb), "(scalar)");
            return ts_arena_sprintf(&r->a, "expected metric %s not found", lb);
        }
    return NULL;
}

static const char *
compare_scalar(runner *r, const evalcmd *ec, double v)
{
    char a1[64], a2[64];
    if (ec->nex != 1 || ec->ex[0].l || ec->ex[0].vals.n != 1)
        return "got a scalar, expected a vector";
    if (!almost_equal(ec->ex[0].vals.v[0].v, v)) {
        fmt_float(ec->ex[0].vals.v[0].v, a1, sizeof(a1));
        fmt_float(v, a2, sizeof(a2));
        return ts_arena_sprintf(&r->a, "expected scalar %s but got %s", a1, a2);
    }
    return NULL;
}

static const char *
compare_instant(runner *r, const evalcmd *ec, const ts_promql_result *res)
{
    switch (res->type) {
    case TS_PROMQL_VT_VECTOR: return compare_vector(r, ec, res->vec, res->nvec, ec->ordered);
    case TS_PROMQL_VT_SCALAR: return compare_scalar(r, ec, res->scalar);
    case TS_PROMQL_VT_MATRIX: return "received range result on instant evaluation";
    default: return "received string result on instant evaluation";
    }
}

/* The middle step of the range-mode re-run, as an instant vector. */
static const char *
compare_range_middle(runner *r, const evalcmd *ec, const ts_promql_result *inst,
                     const ts_promql_result *rr)
{
    ts_promql_vsample *v = ts_arena_calloc(&r->a, rr->nmat + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < rr->nmat; i++)
        for (size_t j = 0; j < rr->mat[i].n; j++)
            if (rr->mat[i].samples[j].t == ec->t) {
                v[n++] = (ts_promql_vsample){rr->mat[i].labels, ec->t, rr->mat[i].samples[j].v};
                break;
            }
    if (inst->type == TS_PROMQL_VT_SCALAR)
        return n ? compare_scalar(r, ec, v[0].v) : "range mode: no scalar at the middle step";
    return compare_vector(r, ec, v, n, false);
}

/* Range evals (our extension): each expected series has one value per step. */
static const char *
compare_range(runner *r, const evalcmd *ec, const ts_promql_result *res)
{
    char lb[1024], a1[64], a2[64];
    size_t nsteps = (size_t)((ec->end - ec->start) / ec->step) + 1;
    bool *seen = ts_arena_calloc(&r->a, ec->nex + 1, 1);
    for (size_t i = 0; i < res->nmat; i++) {
        const ts_promql_mseries *s = &res->mat[i];
        size_t pos;
        const expect *x = find_expect(ec, s->labels, &pos);
        ts_labels_format(s->labels, lb, sizeof(lb));
        if (!x)
            return ts_arena_sprintf(&r->a, "unexpected series %s in result", lb);
        seen[pos] = true;
        size_t k = 0;
        for (size_t st = 0; st < nsteps; st++) {
            int64_t t = ec->start + (int64_t)st * ec->step;
            bool want = st < x->vals.n && !x->vals.v[st].omitted;
            bool have = k < s->n && s->samples[k].t == t;
            if (want != have)
                return ts_arena_sprintf(&r->a, "series %s: at %" PRId64 " expected %s", lb, t,
                                        want ? "a value, got none" : "no value, got one");
            if (have) {
                if (!almost_equal(x->vals.v[st].v, s->samples[k].v)) {
                    fmt_float(x->vals.v[st].v, a1, sizeof(a1));
                    fmt_float(s->samples[k].v, a2, sizeof(a2));
                    return ts_arena_sprintf(&r->a, "series %s at %" PRId64 ": expected %s got %s",
                                            lb, t, a1, a2);
                }
                k++;
            }
        }
    }
    for (size_t i = 0; i < ec->nex; i++)
        if (!seen[i]) {
            ts_labels_format(ec->ex[i].l, lb, sizeof(lb));
            return ts_arena_sprintf(&r->a, "expected series %s not found", lb);
        }
    return NULL;
}

static bool
needs_native_histograms(const evalcmd *ec)
{
    static const char *const fns[] = {"histogram_count", "histogram_sum", "histogram_fraction"};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        size_t n = strlen(fns[i]);
        for (size_t j = 0; j + n <= ec->exprlen; j++)
            if (memcmp(ec->expr + j, fns[i], n) == 0)
                return true;
    }
    return false;
}

/* Runs one query of an eval (the original or an @ variant) at time t and
 * compares it; returns true when it passes, else reports and returns false. */
static bool
run_one(runner *r, const evalcmd *ec, const char *expr, size_t len, int64_t t)
{
    ts_promql_query *q = NULL;
    ts_error err = {0};
    int rc;
    const char *what =
        expr == ec->expr ? "" : ts_arena_sprintf(&r->a, "(as %s at %" PRId64 "ms) ", expr, t);
    if (ec->range)
        rc = ts_promql_query_range(r->eng, &r->qb, expr, len, ec->start, ec->end, ec->step, &q,
                                   &err);
    else
        rc = ts_promql_query_instant(r->eng, &r->qb, expr, len, t, &q, &err);
    if (ec->fail) {
        ts_promql_query_close(q);
        if (rc == 0) {
            report_failure(r, ec, NULL, what, "expected an error but got none");
            return false;
        }
        if (ec->fail_msg && strcmp(ec->fail_msg, err.msg) != 0) {
            report_failure(r, ec, NULL, what,
                           ts_arena_sprintf(&r->a, "expected error \"%s\" but got \"%s\"",
                                            ec->fail_msg, err.msg));
            return false;
        }
        if (ec->fail_re) {
            ts_regex *re = NULL;
            ts_error rerr = {0};
            char *pat = ts_arena_sprintf(&r->a, "(?s).*(?:%s).*", ec->fail_re);
            bool ok = ts_regex_new(&re, pat, &rerr) == 0 &&
                      ts_regex_match_str(re, err.msg, strlen(err.msg), NULL);
            ts_regex_free(re);
            if (!ok) {
                report_failure(r, ec, NULL, what,
                               ts_arena_sprintf(&r->a,
                                                "expected error matching `%s` but got \"%s\"",
                                                ec->fail_re, err.msg));
                return false;
            }
        }
        return true;
    }
    if (rc != 0) {
        report_failure(r, ec, NULL, what, ts_arena_sprintf(&r->a, "error: %s", err.msg));
        return false;
    }
    const ts_promql_result *res = ts_promql_query_result(q);
    const char *why = ec->range ? compare_range(r, ec, res) : compare_instant(r, ec, res);
    if (why) {
        report_failure(r, ec, res, what, why);
        ts_promql_query_close(q);
        return false;
    }
    if (!ec->range && !ec->ordered) {
        /* Same query as a range query around t; its middle step must agree. */
        evalcmd mid = *ec;
        mid.t = t;
        ts_promql_query *rq = NULL;
        rc = ts_promql_query_range(r->eng, &r->qb, expr, len, t - 60000, t + 60000, 60000, &rq,
                                   &err);
        if (rc != 0) {
            report_failure(r, ec, NULL, what,
                           ts_arena_sprintf(&r->a, "error in range mode: %s", err.msg));
            ts_promql_query_close(q);
            return false;
        }
        const ts_promql_result *rres = ts_promql_query_result(rq);
        why = compare_range_middle(r, &mid, res, rres);
        if (why) {
            report_failure(r, ec, rres, ts_arena_sprintf(&r->a, "%s(range mode) ", what), why);
            ts_promql_query_close(rq);
            ts_promql_query_close(q);
            return false;
        }
        ts_promql_query_close(rq);
    }
    ts_promql_query_close(q);
    return true;
}

/* Functions whose result depends on the evaluation time itself, so pinning
 * the selectors with @ does not make the query step-invariant (Prometheus'
 * AtModifierUnsafeFunctions). */
static bool
at_unsafe(ts_promql_func_id id)
{
    switch (id) {
    case TS_PROMQL_FN_DAYS_IN_MONTH:
    case TS_PROMQL_FN_DAY_OF_MONTH:
    case TS_PROMQL_FN_DAY_OF_WEEK:
    case TS_PROMQL_FN_DAY_OF_YEAR:
    case TS_PROMQL_FN_HOUR:
    case TS_PROMQL_FN_MINUTE:
    case TS_PROMQL_FN_MONTH:
    case TS_PROMQL_FN_YEAR:
    case TS_PROMQL_FN_PREDICT_LINEAR:
    case TS_PROMQL_FN_TIME:
    case TS_PROMQL_FN_TIMESTAMP: return true;
    default: return false;
    }
}

/* Adds `@ ts` to every selector and subquery without one; the inside of a
 * subquery that has (or gets) an @ is left alone. */
static void
pin_at(ts_promql_expr *x, int64_t ts, bool *unsafe)
{
    if (!x)
        return;
    switch (x->kind) {
    case TS_PROMQL_VECTOR_SELECTOR:
        if (x->u.vs.at == TS_PROMQL_AT_NONE) {
            x->u.vs.at = TS_PROMQL_AT_TIMESTAMP;
            x->u.vs.at_ms = ts;
        }
        return;
    case TS_PROMQL_MATRIX_SELECTOR: pin_at(x->u.ms.vs, ts, unsafe); return;
    case TS_PROMQL_SUBQUERY:
        if (x->u.sq.at == TS_PROMQL_AT_NONE) {
            x->u.sq.at = TS_PROMQL_AT_TIMESTAMP;
            x->u.sq.at_ms = ts;
        }
        return;
    case TS_PROMQL_CALL:
        if (at_unsafe(x->u.call.func->id))
            *unsafe = true;
        for (size_t i = 0; i < x->u.call.nargs; i++)
            pin_at(x->u.call.args[i], ts, unsafe);
        return;
    case TS_PROMQL_AGGREGATE:
        pin_at(x->u.agg.param, ts, unsafe);
        pin_at(x->u.agg.expr, ts, unsafe);
        return;
    case TS_PROMQL_BINARY:
        pin_at(x->u.bin.lhs, ts, unsafe);
        pin_at(x->u.bin.rhs, ts, unsafe);
        return;
    case TS_PROMQL_UNARY: pin_at(x->u.unary.expr, ts, unsafe); return;
    case TS_PROMQL_PAREN: pin_at(x->u.paren, ts, unsafe); return;
    case TS_PROMQL_STEP_INVARIANT: pin_at(x->u.step_invariant, ts, unsafe); return;
    default: return;
    }
}

/* Prometheus' test.go also runs every instant eval as the same expression
 * with all selectors pinned to `@ t`, at other evaluation times (-10t, 0,
 * t/5, t, 10t; or -1s, 0, 1s when t is 0): a step-invariant query must give
 * the same answer at any time.  Returns the rewritten expression or NULL. */
static char *
at_variant(runner *r, const evalcmd *ec)
{
    ts_promql_expr *root = NULL;
    ts_error err = {0};
    if (ts_promql_parse(&r->a, ec->expr, ec->exprlen, &root, &err) != 0)
        return NULL;
    bool unsafe = false;
    pin_at(root, ec->t, &unsafe);
    char *s = unsafe ? NULL : ts_promql_to_string(&r->a, root);
    ts_promql_expr_free(root);
    return s;
}

static void
run_eval(runner *r, evalcmd *ec)
{
    if (r->native || needs_native_histograms(ec)) {
        say(r, "%s:%d: skipped (needs native histograms): %.*s", r->name, ec->cmd->no,
            (int)ec->cmd->len, ec->cmd->p);
        r->stats->skipped++;
        return;
    }
    bool ok = run_one(r, ec, ec->expr, ec->exprlen, ec->t);
    char *v = ok && !ec->range ? at_variant(r, ec) : NULL;
    if (v) {
        int64_t t = ec->t;
        int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t};
        int64_t zero[3] = {-1000, 0, 1000};
        const int64_t *ts = t == 0 ? zero : times;
        size_t n = t == 0 ? 3 : 5;
        for (size_t i = 0; i < n && ok; i++)
            ok = run_one(r, ec, v, strlen(v), ts[i]);
    }
    if (ok)
        r->stats->passed++;
    else
        r->stats->failed++;
}

/* Parses `eval[_fail|_ordered|_warn] instant at <time> <expr>` or
 * `eval... range from <t> to <t> step <d> <expr>` and its expected lines. */
static int
parse_eval(runner *r, const line *cmd, const line *body, size_t nbody, evalcmd *ec)
{
    memset(ec, 0, sizeof(*ec));
    ec->cmd = cmd;
    cur c = {cmd->p, cmd->p + cmd->len};
    const char *w;
    size_t wn;
    next_word(&c, &w, &wn);
    if (word_is(w, wn, "eval_fail"))
        ec->fail = true;
    else if (word_is(w, wn, "eval_ordered"))
        ec->ordered = true;
    else if (!word_is(w, wn, "eval") && !word_is(w, wn, "eval_warn"))
        goto bad;
    if (!next_word(&c, &w, &wn))
        goto bad;
    if (word_is(w, wn, "instant")) {
        if (!next_word(&c, &w, &wn) || !word_is(w, wn, "at") || !next_word(&c, &w, &wn) ||
            ts_duration_parse(w, wn, &ec->t) != 0)
            goto bad;
    } else if (word_is(w, wn, "range")) {
        ec->range = true;
        if (!next_word(&c, &w, &wn) || !word_is(w, wn, "from") || !next_word(&c, &w, &wn) ||
            ts_duration_parse(w, wn, &ec->start) != 0 || !next_word(&c, &w, &wn) ||
            !word_is(w, wn, "to") || !next_word(&c, &w, &wn) ||
            ts_duration_parse(w, wn, &ec->end) != 0 || !next_word(&c, &w, &wn) ||
            !word_is(w, wn, "step") || !next_word(&c, &w, &wn) ||
            ts_duration_parse(w, wn, &ec->step) != 0 || ec->step <= 0 || ec->end < ec->start)
            goto bad;
    } else {
        goto bad;
    }
    skip_ws(&c);
    if (c.p >= c.end)
        goto bad;
    ec->expr = c.p;
    ec->exprlen = (size_t)(c.end - c.p);
    ec->ex = ts_arena_calloc(&r->a, nbody + 1, sizeof(expect));
    for (size_t i = 0; i < nbody; i++) {
        cur lc = {body[i].p, body[i].p + body[i].len};
        const char *fw;
        size_t fwn;
        cur wc = lc;
        if (ec->fail && next_word(&wc, &fw, &fwn) &&
            (word_is(fw, fwn, "expected_fail_message") ||
             word_is(fw, fwn, "expected_fail_regexp"))) {
            skip_ws(&wc);
            char *arg = ts_arena_strndup(&r->a, wc.p, (size_t)(wc.end - wc.p));
            if (word_is(fw, fwn, "expected_fail_message"))
                ec->fail_msg = arg;
            else
                ec->fail_re = arg;
            continue;
        }
        expect *x = &ec->ex[ec->nex];
        x->line = body[i].no;
        double v;
        cur nc = lc;
        if (scan_number(&nc, &v) && (skip_ws(&nc), nc.p == nc.end)) {
            x->l = NULL;
            seq_add(&x->vals, v, false);
            ec->nex++;
            break; /* a scalar is the whole result */
        }
        x->l = parse_labels(&lc, &r->a);
        if (!x->l || !parse_values(&lc, &x->vals) || x->vals.n == 0) {
            say(r, "%s:%d: invalid expected result line: %.*s", r->name, body[i].no,
                (int)body[i].len, body[i].p);
            return TS_EPARSE;
        }
        ec->nex++;
    }
    return 0;
bad:
    say(r, "%s:%d: invalid eval command: %.*s", r->name, cmd->no, (int)cmd->len, cmd->p);
    return TS_EPARSE;
}

static void
free_eval(evalcmd *ec)
{
    for (size_t i = 0; i < ec->nex; i++)
        ts_free(ec->ex[i].vals.v);
}

int
ts_promqltest_run(const char *name, const char *text, size_t len, ts_promqltest_stats *stats,
                  ts_promqltest_report_fn report, void *ctx)
{
    runner r = {.name = name, .stats = stats, .report = report, .ctx = ctx};
    ts_arena_init(&r.a, 0);
    /* As test.go's engine: at most 10000 samples in memory, 5m lookback, 1m
     * default subquery step. */
    ts_promql_engine_opts eo = {.max_samples = 10000};
    int rc = ts_promql_engine_new(&r.eng, &eo);
    if (rc == 0)
        rc = reset_head(&r);
    /* Split into trimmed lines. */
    line *lines = NULL;
    size_t nl = 0, cap = 0;
    const char *p = text, *end = text + len;
    int no = 0;
    while (rc == 0 && p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        no++;
        const char *s = p, *t = e;
        while (s < t && isspace((unsigned char)*s))
            s++;
        while (t > s && isspace((unsigned char)t[-1]))
            t--;
        if (s < t && *s == '#')
            t = s;
        TS_GROW(lines, cap, nl + 1);
        lines[nl++] = (line){s, (size_t)(t - s), no};
        p = e + 1;
    }
    for (size_t i = 0; rc == 0 && i < nl; i++) {
        const line *l = &lines[i];
        if (l->len == 0)
            continue;
        size_t j = i + 1;
        while (j < nl && lines[j].len > 0)
            j++;
        ts_arena_reset(&r.a);
        if (starts_with(l, "load") && (l->len == 4 || isspace((unsigned char)l->p[4]))) {
            rc = do_load(&r, l, &lines[i + 1], j - i - 1);
            i = j - 1;
        } else if (l->len == 5 && starts_with(l, "clear")) {
            rc = reset_head(&r);
            r.native = false;
        } else if (starts_with(l, "eval")) {
            evalcmd ec;
            rc = parse_eval(&r, l, &lines[i + 1], j - i - 1, &ec);
            if (rc == 0)
                run_eval(&r, &ec);
            free_eval(&ec);
            i = j - 1;
        } else {
            say(&r, "%s:%d: unknown command: %.*s", name, l->no, (int)l->len, l->p);
            rc = TS_EPARSE;
        }
    }
    if (rc != 0)
        stats->failed++;
    ts_free(lines);
    ts_head_free(r.head);
    ts_promql_engine_free(r.eng);
    ts_arena_fini(&r.a);
    return rc;
}

int
ts_promqltest_run_file(const char *path, ts_promqltest_stats *stats, ts_promqltest_report_fn report,
                       void *ctx)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int rc = -errno;
        char buf[512];
        snprintf(buf, sizeof(buf), "%s: %s", path, ts_strerror(rc));
        if (report)
            report(ctx, buf);
        stats->failed++;
        return rc;
    }
    ts_buf b;
    ts_buf_init(&b, 64u << 20);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = ts_buf_put(&b, chunk, n);
    fclose(f);
    if (rc == 0)
        rc = ts_promqltest_run(path, (const char *)b.p, b.len, stats, report, ctx);
    else
        stats->failed++;
    ts_buf_fini(&b);
    return rc;
}
