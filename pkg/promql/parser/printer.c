/*
 * PromQL printer: an expression back to text in Prometheus' String() form (promql/parser
 * printer.go of 2.42), which is what /api/v1/format_query returns and what error messages and
 * round-trip tests compare against.
 *
 * Rules worth knowing: numbers print as Go's %v (shortest round-trip digits, exponent form
 * below 1e-4 and from 1e6 on: 1e+06, 1e-07, +Inf, NaN); strings and matcher values are
 * Go-quoted with double quotes; a selector prints its name then its other matchers sorted as
 * strings ({a="1",b!="2"}, no spaces); modifiers print as `@ <seconds with 3 decimals>` then
 * `offset <duration>`; durations use the largest units (1h30m, 1w, 1y; years and weeks only
 * when exact); `by ()` with no labels prints nothing but `without ()` prints; `on ()`
 * prints, while an empty `ignoring ()` with its group modifier disappears.
 */
#include "pkg/promql/parser/ast.h"
#include "pkg/util/floatfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/parser/lex.h"
#include "pkg/util/mem.h"

/* Appends Go's %q of s. */
static int
put_quoted(ts_buf *out, const char *s, size_t n)
{
    size_t need = ts_promql_go_quote(NULL, 0, s, n);
    char stackbuf[256];
    char *b = need < sizeof(stackbuf) ? stackbuf : ts_malloc(need + 1);
    ts_promql_go_quote(b, need + 1, s, n);
    int rc = ts_buf_put(out, b, need);
    if (b != stackbuf)
        ts_free(b);
    return rc;
}

/* Go's strconv.FormatFloat(v, 'g', -1, 64). */
static void
format_go_float(double v, char *buf, size_t size)
{
    ts_format_float_go(v, 'g', buf, size);
}

/* model.Duration.String(): y and w only when they divide exactly, then d h m s ms. */
static void
format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
        bool exact;
    } units[] = {
        {"y", 365LL * 24 * 3600 * 1000, true},
        {"w", 7LL * 24 * 3600 * 1000, true},
        {"d", 24LL * 3600 * 1000, false},
        {"h", 3600LL * 1000, false},
        {"m", 60LL * 1000, false},
        {"s", 1000, false},
        {"ms", 1, false},
    };
    size_t o = 0;
    buf[0] = 0;
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    if (ms < 0) {
        o += (size_t)snprintf(buf, size, "-");
        ms = ms == INT64_MIN ? INT64_MAX : -ms;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && o < size; i++) {
        if (units[i].exact && ms % units[i].ms != 0)
            continue;
        int64_t q = ms / units[i].ms;
        if (q > 0) {
            o += (size_t)snprintf(buf + o, size - o, "%lld%s", (long long)q, units[i].unit);
            ms -= q * units[i].ms;
        }
    }
}

static int
put_duration(ts_buf *out, int64_t ms)
{
    char b[64];
    format_duration(ms, b, sizeof(b));
    return ts_buf_puts(out, b);
}

static int
put_at_offset(ts_buf *out, ts_promql_at_kind at, int64_t at_ms, int64_t offset)
{
    int rc = 0;
    if (at == TS_PROMQL_AT_TIMESTAMP)
        rc = ts_buf_printf(out, " @ %.3f", (double)at_ms / 1000.0);
    else if (at == TS_PROMQL_AT_START)
        rc = ts_buf_puts(out, " @ start()");
    else if (at == TS_PROMQL_AT_END)
        rc = ts_buf_puts(out, " @ end()");
    if (rc == 0 && offset > 0) {
        rc = ts_buf_puts(out, " offset ");
        if (rc == 0)
            rc = put_duration(out, offset);
    } else if (rc == 0 && offset < 0) {
        rc = ts_buf_puts(out, " offset -");
        if (rc == 0)
            rc = put_duration(out, offset == INT64_MIN ? INT64_MAX : -offset);
    }
    return rc;
}

static int
put_labels(ts_buf *out, char **l, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = ts_buf_puts(out, ", ");
        if (rc == 0)
            rc = ts_buf_puts(out, l[i]);
    }
    return rc;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name{sorted other matchers} without modifiers */
static int
put_selector_body(ts_buf *out, const ts_promql_vector_selector *vs)
{
    int rc = 0;
    char **strs = ts_calloc(vs->nmatchers ? vs->nmatchers : 1, sizeof(char *));
    size_t ns = 0;
    for (size_t i = 0; i < vs->nmatchers; i++) {
        const ts_matcher *m = vs->matchers[i];
        /* as printer.go: skip the __name__="<Name>" matcher (Name is "" without a name) */
        if (m->type == TS_MATCH_EQ && strcmp(m->name, "__name__") == 0 &&
            strcmp(m->value, vs->name ? vs->name : "") == 0)
            continue;
        ts_buf b;
        ts_buf_init(&b, 0);
        ts_buf_puts(&b, m->name);
        ts_buf_puts(&b, ts_match_type_str(m->type));
        put_quoted(&b, m->value, strlen(m->value));
        ts_buf_putc(&b, 0);
        size_t len;
        strs[ns++] = (char *)ts_buf_steal(&b, &len);
    }
    qsort(strs, ns, sizeof(char *), cmp_str);
    if (vs->name)
        rc = ts_buf_puts(out, vs->name);
    if (rc == 0 && ns > 0) {
        rc = ts_buf_putc(out, '{');
        for (size_t i = 0; i < ns && rc == 0; i++) {
            if (i)
                rc = ts_buf_putc(out, ',');
            if (rc == 0)
                rc = ts_buf_puts(out, strs[i]);
        }
        if (rc == 0)
            rc = ts_buf_putc(out, '}');
    }
    for (size_t i = 0; i < ns; i++)
        ts_free(strs[i]);
    ts_free(strs);
    return rc;
}

int
ts_promql_format(const ts_promql_expr *e, ts_buf *out)
{
    int rc = 0;
    if (!e)
        return ts_buf_puts(out, "<nil>");
    switch (e->kind) {
    case TS_PROMQL_NUMBER: {
        char b[64];
        format_go_float(e->u.number, b, sizeof(b));
        return ts_buf_puts(out, b);
    }
    case TS_PROMQL_STRING: return put_quoted(out, e->u.string.p, e->u.string.len);
    case TS_PROMQL_VECTOR_SELECTOR:
        rc = put_selector_body(out, &e->u.vs);
        if (rc == 0)
            rc = put_at_offset(out, e->u.vs.at, e->u.vs.at_ms, e->u.vs.original_offset);
        return rc;
    case TS_PROMQL_MATRIX_SELECTOR: {
        const ts_promql_expr *v = e->u.ms.vs;
        if (v->kind != TS_PROMQL_VECTOR_SELECTOR) {
            rc = ts_promql_format(v, out);
            if (rc == 0)
                rc = ts_buf_putc(out, '[');
            if (rc == 0)
                rc = put_duration(out, e->u.ms.range_ms);
            return rc == 0 ? ts_buf_putc(out, ']') : rc;
        }
        rc = put_selector_body(out, &v->u.vs);
        if (rc == 0)
            rc = ts_buf_putc(out, '[');
        if (rc == 0)
            rc = put_duration(out, e->u.ms.range_ms);
        if (rc == 0)
            rc = ts_buf_putc(out, ']');
        if (rc == 0)
            rc = put_at_offset(out, v->u.vs.at, v->u.vs.at_ms, v->u.vs.original_offset);
        return rc;
    }
    case TS_PROMQL_SUBQUERY:
        rc = ts_promql_format(e->u.sq.expr, out);
        if (rc == 0)
            rc = ts_buf_putc(out, '[');
        if (rc == 0)
            rc = put_duration(out, e->u.sq.range_ms);
        if (rc == 0)
            rc = ts_buf_putc(out, ':');
        if (rc == 0 && e->u.sq.step_ms != 0)
            rc = put_duration(out, e->u.sq.step_ms);
        if (rc == 0)
            rc = ts_buf_putc(out, ']');
        if (rc == 0)
            rc = put_at_offset(out, e->u.sq.at, e->u.sq.at_ms, e->u.sq.original_offset);
        return rc;
    case TS_PROMQL_CALL:
        rc = ts_buf_printf(out, "%s(", e->u.call.func->name);
        for (size_t i = 0; i < e->u.call.nargs && rc == 0; i++) {
            if (i)
                rc = ts_buf_puts(out, ", ");
            if (rc == 0)
                rc = ts_promql_format(e->u.call.args[i], out);
        }
        return rc == 0 ? ts_buf_putc(out, ')') : rc;
    case TS_PROMQL_AGGREGATE: {
        const ts_promql_aggregate *a = &e->u.agg;
        rc = ts_buf_puts(out, ts_promql_agg_op_str(a->op));
        if (rc == 0 && (a->without || a->ngrouping > 0)) {
            rc = ts_buf_puts(out, a->without ? " without (" : " by (");
            if (rc == 0)
                rc = put_labels(out, a->grouping, a->ngrouping);
            if (rc == 0)
                rc = ts_buf_puts(out, ") ");
        }
        if (rc == 0)
            rc = ts_buf_putc(out, '(');
        if (rc == 0 && a->param) {
            rc = ts_promql_format(a->param, out);
            if (rc == 0)
                rc = ts_buf_puts(out, ", ");
        }
        if (rc == 0)
            rc = ts_promql_format(a->expr, out);
        return rc == 0 ? ts_buf_putc(out, ')') : rc;
    }
    case TS_PROMQL_BINARY: {
        const ts_promql_binary *b = &e->u.bin;
        rc = ts_promql_format(b->lhs, out);
        if (rc == 0)
            rc =
                ts_buf_printf(out, " %s%s", ts_promql_op_str(b->op), b->return_bool ? " bool" : "");
        const ts_promql_vector_matching *vm = b->matching;
        if (rc == 0 && vm && (vm->nlabels > 0 || vm->on)) {
            rc = ts_buf_puts(out, vm->on ? " on (" : " ignoring (");
            if (rc == 0)
                rc = put_labels(out, vm->labels, vm->nlabels);
            if (rc == 0)
                rc = ts_buf_putc(out, ')');
            if (rc == 0 && (vm->card == TS_PROMQL_CARD_MANY_TO_ONE ||
                            vm->card == TS_PROMQL_CARD_ONE_TO_MANY)) {
                rc = ts_buf_puts(out, vm->card == TS_PROMQL_CARD_MANY_TO_ONE ? " group_left ("
                                                                             : " group_right (");
                if (rc == 0)
                    rc = put_labels(out, vm->include, vm->ninclude);
                if (rc == 0)
                    rc = ts_buf_putc(out, ')');
            }
        }
        if (rc == 0)
            rc = ts_buf_putc(out, ' ');
        return rc == 0 ? ts_promql_format(b->rhs, out) : rc;
    }
    case TS_PROMQL_UNARY:
        rc = ts_buf_puts(out, ts_promql_op_str(e->u.unary.op));
        return rc == 0 ? ts_promql_format(e->u.unary.expr, out) : rc;
    case TS_PROMQL_PAREN:
        rc = ts_buf_putc(out, '(');
        if (rc == 0)
            rc = ts_promql_format(e->u.paren, out);
        return rc == 0 ? ts_buf_putc(out, ')') : rc;
    case TS_PROMQL_STEP_INVARIANT: return ts_promql_format(e->u.step_invariant, out);
    }
    return 0;
}

char *
ts_promql_to_string(ts_arena *arena, const ts_promql_expr *e)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_promql_format(e, &b);
    char *s = ts_arena_strndup(arena, (const char *)b.p ? (const char *)b.p : "", b.len);
    ts_buf_fini(&b);
    return s;
}
