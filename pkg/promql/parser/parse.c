/*
 * PromQL parser: recursive descent with precedence climbing over the tokens of lex.c, then a
 * checking pass over the finished tree.
 *
 * Grammar (Prometheus 2.42, lowest precedence first; all binary operators are left-associative
 * except ^):
 *
 *   expr     := unary (binop modifiers unary)*        or < and unless < == != > < >= <=
 *                                                     < + - < * / % atan2 < ^
 *   modifiers:= [bool] [(on|ignoring) labels [(group_left|group_right) [labels]]]
 *   unary    := (+|-) expr-above-*  |  postfix        so -2^2 = -(2^2) and -a*b = (-a)*b
 *   postfix  := primary ( [d] | [d:[d]] | offset [-]d | @ (number | start() | end()) )*
 *   primary  := number | string | ( expr ) | selector | func(args) | agg [by|without (labels)]
 *               (args) [by|without (labels)]
 *   selector := name [{matchers}] | {matchers}
 *
 * Keywords are case-insensitive and most of them double as metric names where an expression
 * is expected ("sum", "by", "offset", "and", ... but not bool/on/ignoring/group_x/atan2).  A
 * unary minus applied to a number literal folds into the literal (-1 is a number).
 *
 * Errors.  Prometheus collects errors and reports the first one, in this order: syntax errors
 * and the checks its grammar actions make while parsing (number and duration syntax, unknown
 * functions, aggregation argument counts, offset/@ placement, regex compilation, ...); only
 * when the whole text parsed does it type-check the tree (function argument types and counts,
 * binary operand types and vector matching, non-empty matchers, ...).  We stop at the first
 * error of the parse phase, and run the checking pass only after a complete parse, visiting
 * nodes in the order Prometheus' checkAST does, so the first error is the same one.  Messages
 * read "<line>:<col>: parse error: <text>" with Prometheus' texts; "unexpected X in <context>,
 * expected Y" mimics its yacc error rules (an aggregation's arguments are such a context).
 *
 * Memory: nodes, strings and arrays go to the caller's arena.  Matchers are heap objects; the
 * parser records each one it creates so that an error can free them all.
 */
#include "pkg/promql/parser/ast.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/parser/lex.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/mem.h"
#include "pkg/util/str.h"
#include "pkg/util/time.h"

/* Error paths and helpers with big local buffers stay out of the recursive frames. */
#define NOINLINE __attribute__((noinline))

/* ---- Go-compatible number and duration syntax -------------------------------------------- */

enum { NUM_OK = 0, NUM_SYNTAX, NUM_RANGE };

static bool
all_digits(const char *s, size_t n, int base)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : 99;
        if (d >= base)
            return false;
    }
    return true;
}

/* strconv.ParseInt(s, 0, 64) for unsigned-looking text: 0x hex, 0-prefixed octal, decimal. */
static int
go_parse_int(const char *s, size_t n, bool neg, double *out)
{
    int base = 10;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16, s += 2, n -= 2;
    } else if (n >= 2 && s[0] == '0') {
        base = 8, s += 1, n -= 1;
    }
    if (!all_digits(s, n, base))
        return NUM_SYNTAX;
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        uint64_t d = (uint64_t)((c >= '0' && c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10);
        if (v > (limit - d) / (uint64_t)base)
            return NUM_RANGE;
        v = v * (uint64_t)base + d;
    }
    *out = neg ? -(double)v : (double)v;
    return NUM_OK;
}

/* strconv.ParseFloat(s, 64) of the unsigned text s (pkg/util/floatfmt.h), negated if neg. */
static int
go_parse_float(const char *s, size_t n, bool neg, double *out)
{
    if (n && (s[0] == '+' || s[0] == '-'))
        return NUM_SYNTAX; /* the sign was taken already */
    double v;
    int rc = ts_parse_float_go(s, n, &v);
    if (rc != TS_OK)
        return rc == -ERANGE ? NUM_RANGE : NUM_SYNTAX;
    *out = neg ? -v : v;
    return NUM_OK;
}

/* Prometheus' parser.number: ParseInt(base 0), falling back to ParseFloat.  On failure writes
 * Go's error text into msg. */
static int
parse_number_text(const char *s, size_t n, double *out, char *msg, size_t msgsz)
{
    const char *orig = s;
    size_t on = n;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++, n--;
    }
    if (go_parse_int(s, n, neg, out) == NUM_OK)
        return 0;
    int rc = go_parse_float(s, n, neg, out);
    if (rc == NUM_OK)
        return 0;
    if (msg)
        snprintf(msg, msgsz, "strconv.ParseFloat: parsing \"%.*s\": %s", (int)(on > 200 ? 200 : on),
                 orig, rc == NUM_RANGE ? "value out of range" : "invalid syntax");
    return TS_EPARSE;
}

int
ts_promql_parse_number(const char *s, size_t len, double *out)
{
    return parse_number_text(s, len, out, NULL, 0);
}

/* model.ParseDuration (pkg/util/time.h) with Prometheus' error texts in msg. */
static int
parse_duration_text(const char *s, size_t n, int64_t *ms, char *msg, size_t msgsz)
{
    const char *why = NULL;
    if (ts_duration_parse_why(s, n, ms, &why) == TS_OK)
        return 0;
    if (strcmp(why, "not a valid duration string") == 0)
        snprintf(msg, msgsz, "%s: \"%.*s\"", why, (int)(n > 100 ? 100 : n), s);
    else
        snprintf(msg, msgsz, "%s", why);
    return TS_EPARSE;
}

int
ts_promql_parse_duration(const char *s, size_t len, int64_t *ms)
{
    char msg[160];
    if (len == 0)
        return TS_EPARSE;
    return parse_duration_text(s, len, ms, msg, sizeof(msg));
}

/* ---- Parser state ------------------------------------------------------------------------ */

typedef struct parser {
    ts_arena *arena;
    const char *in;
    size_t len;
    ts__pq_lexer lx;
    ts__pq_tok la[2]; /* lookahead (comments skipped) */
    int nla;
    uint32_t last_end; /* end offset of the last consumed token */
    ts_error *err;
    bool failed;
    int agg_depth; /* > 0 while inside an aggregation's argument list */
    int nest;      /* current parse_expr recursion depth */
    ts_matcher **owned;
    size_t nowned, owned_cap;
} parser;

static ts__pq_tok
peek_n(parser *p, int i)
{
    while (p->nla <= i) {
        ts__pq_tok t;
        do {
            ts__pq_lex_next(&p->lx, &t);
        } while (t.type == T_COMMENT);
        p->la[p->nla++] = t;
    }
    return p->la[i];
}

static ts__pq_tok
peek(parser *p)
{
    return peek_n(p, 0);
}

static ts__pq_tok
advance(parser *p)
{
    ts__pq_tok t = peek(p);
    p->la[0] = p->la[1];
    p->nla--;
    if (t.type != T_EOF && t.type != T_ERROR)
        p->last_end = t.pos + t.len;
    return t;
}

static void fail(parser *p, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

NOINLINE static void
fail(parser *p, uint32_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[TS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = 1;
    size_t last_nl = (size_t)-1;
    if (pos > p->len)
        pos = (uint32_t)p->len;
    for (size_t i = 0; i < pos; i++) {
        if (p->in[i] == '\n') {
            line++;
            last_nl = i;
        }
    }
    int col = (int)(pos - last_nl);
    if (p->err) {
        ts_error_set(p->err, TS_EPARSE, "%d:%d: parse error: %s", line, col, msg);
        p->err->pos = pos;
        p->err->line = line;
        p->err->col = col;
    }
}

/* Appends Go's %q of s (at most max_runes runes, 0 = all) to buf. */
static size_t
go_quote(char *buf, size_t size, const char *s, size_t n, size_t max_runes)
{
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(o < size ? buf + o : NULL, o < size ? size - o : 0, __VA_ARGS__);        \
        if (k_ > 0)                                                                                \
            o += (size_t)k_;                                                                       \
    } while (0)
    PUT("\"");
    size_t runes = 0;
    for (size_t i = 0; i < n && (max_runes == 0 || runes < max_runes); runes++) {
        size_t w;
        int32_t r = ts__pq_decode_rune(s + i, n - i, &w);
        unsigned char c = (unsigned char)s[i];
        if (r == 0xFFFD && w == 1 && c >= 0x80) {
            PUT("\\x%02x", c);
        } else if (r == '"' || r == '\\') {
            PUT("\\%c", (char)r);
        } else if (r >= 0x20 && r < 0x7F) {
            PUT("%c", (char)r);
        } else if (r < 0x20 || r == 0x7F) {
            switch (r) {
            case '\a': PUT("\\a"); break;
            case '\b': PUT("\\b"); break;
            case '\f': PUT("\\f"); break;
            case '\n': PUT("\\n"); break;
            case '\r': PUT("\\r"); break;
            case '\t': PUT("\\t"); break;
            case '\v': PUT("\\v"); break;
            default: PUT("\\x%02x", (unsigned)r); break;
            }
        } else if (r < 0xA0 || r == 0xAD) {
            PUT("\\u%04x", (unsigned)r);
        } else {
            PUT("%.*s", (int)w, s + i);
        }
        i += w;
    }
    PUT("\"");
#undef PUT
    return o;
}

/* Prometheus' Item.desc(): how an unexpected token is named in messages. */
NOINLINE static void
tok_desc(parser *p, ts__pq_tok t, char *buf, size_t size)
{
    const char *txt = p->in + t.pos;
    size_t n = t.len;
    char q[128];
    switch (t.type) {
    case T_EOF: snprintf(buf, size, "end of input"); return;
    case T_IDENT:
    case T_METRIC_IDENT:
        go_quote(q, sizeof(q), txt, n, 0);
        snprintf(buf, size, "%s %s", t.type == T_IDENT ? "identifier" : "metric identifier", q);
        return;
    case T_NUMBER:
    case T_STRING:
    case T_DURATION: {
        const char *kind = t.type == T_NUMBER   ? "number"
                           : t.type == T_STRING ? "string"
                                                : "duration";
        if (n > 10) {
            go_quote(q, sizeof(q), txt, n, 10);
            snprintf(buf, size, "%s %s...", kind, q);
        } else {
            go_quote(q, sizeof(q), txt, n, 0);
            snprintf(buf, size, "%s %s", kind, q);
        }
        return;
    }
    case T_AT: snprintf(buf, size, "\"<Item 57385>\" <op:@>"); return;
    default: break;
    }
    if (t.type > T_OPS_START_ && t.type < T_OPS_END_)
        snprintf(buf, size, "<op:%.*s>", (int)n, txt);
    else if (t.type > T_AGG_START_ && t.type < T_AGG_END_)
        snprintf(buf, size, "<aggr:%.*s>", (int)n, txt);
    else if (t.type > T_KW_START_ && t.type < T_KW_END_)
        snprintf(buf, size, "<%.*s>", (int)n, txt);
    else {
        go_quote(q, sizeof(q), txt, n, 0);
        snprintf(buf, size, "%s", q);
    }
}

/* Reports t as unexpected.  A lexer error is reported as itself.  ctx NULL means the generic
 * error, which inside an aggregation's arguments reads "in aggregation". */
NOINLINE static void
unexpected(parser *p, ts__pq_tok t, const char *ctx, const char *expected)
{
    if (t.type == T_ERROR) {
        fail(p, t.pos, "%s", p->lx.err);
        return;
    }
    if (!ctx && p->agg_depth > 0)
        ctx = "aggregation";
    char d[200];
    tok_desc(p, t, d, sizeof(d));
    fail(p, t.pos, "unexpected %s%s%s%s%s", d, ctx ? " in " : "", ctx ? ctx : "",
         expected ? ", expected " : "", expected ? expected : "");
}

static ts_promql_expr *
new_node(parser *p, ts_promql_expr_kind kind, uint32_t start)
{
    ts_promql_expr *e = TS_ARENA_NEW(p->arena, ts_promql_expr);
    e->kind = kind;
    e->pos.start = start;
    e->pos.end = p->last_end;
    return e;
}

/* A growable array of pointers in the arena. */
typedef struct ptrvec {
    void **v;
    size_t n, cap;
} ptrvec;

static void
ptrvec_push(parser *p, ptrvec *pv, void *x)
{
    if (pv->n == pv->cap) {
        size_t nc = pv->cap ? pv->cap * 2 : 4;
        void **nv = TS_ARENA_ARRAY(p->arena, void *, nc);
        if (pv->n)
            memcpy(nv, pv->v, pv->n * sizeof(void *));
        pv->v = nv;
        pv->cap = nc;
    }
    pv->v[pv->n++] = x;
}

/* ---- Literals ---------------------------------------------------------------------------- */

NOINLINE static bool
number_from_tok(parser *p, ts__pq_tok t, double *out)
{
    char msg[300];
    if (parse_number_text(p->in + t.pos, t.len, out, msg, sizeof(msg)) != 0) {
        fail(p, t.pos, "error parsing number: %s", msg);
        return false;
    }
    return true;
}

NOINLINE static bool
duration_from_tok(parser *p, ts__pq_tok t, int64_t *ms)
{
    char msg[200];
    if (parse_duration_text(p->in + t.pos, t.len, ms, msg, sizeof(msg)) != 0) {
        fail(p, t.pos, "%s", msg);
        return false;
    }
    if (*ms == 0) {
        fail(p, t.pos, "duration must be greater than 0");
        return false;
    }
    return true;
}

/* Unquotes a STRING token the lexer already validated ("..", '..' or `..`).  The result is
 * NUL-terminated in the arena; *outlen excludes the NUL. */
NOINLINE static char *
unquote(parser *p, ts__pq_tok t, size_t *outlen)
{
    const char *s = p->in + t.pos + 1;
    size_t n = t.len >= 2 ? t.len - 2 : 0;
    char *out = ts_arena_alloc(p->arena, n + 1);
    size_t o = 0;
    if (p->in[t.pos] == '`') {
        memcpy(out, s, n);
        o = n;
    } else {
        for (size_t i = 0; i < n;) {
            if (s[i] != '\\' || i + 1 >= n) {
                out[o++] = s[i++];
                continue;
            }
            char c = s[i + 1];
            i += 2;
            switch (c) {
            case 'a': out[o++] = '\a'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'v': out[o++] = '\v'; break;
            case 'x': {
                int v = 0;
                for (int k = 0; k < 2 && i < n; k++, i++)
                    v = v * 16 + (ts_str_hexval(s[i]) < 0 ? 0 : ts_str_hexval(s[i]));
                out[o++] = (char)v;
                break;
            }
            case 'u':
            case 'U': {
                int digits = c == 'u' ? 4 : 8;
                uint32_t v = 0;
                for (int k = 0; k < digits && i < n; k++, i++)
                    v = v * 16 + (uint32_t)(ts_str_hexval(s[i]) < 0 ? 0 : ts_str_hexval(s[i]));
                /* at most 4 bytes of UTF-8 for at most 6 source characters: fits */
                o += ts_str_put_utf8(out + o, v);
                break;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7': {
                int v = c - '0';
                for (int k = 0; k < 2 && i < n; k++, i++)
                    v = v * 8 + (s[i] - '0');
                out[o++] = (char)v;
                break;
            }
            default: /* \\ \" \' */ out[o++] = c; break;
            }
        }
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

/* ---- Selectors --------------------------------------------------------------------------- */

static bool
is_metric_name_tok(ts__pq_tok_type t)
{
    switch (t) {
    case T_IDENT:
    case T_METRIC_IDENT:
    case T_LAND:
    case T_LOR:
    case T_LUNLESS:
    case T_BY:
    case T_OFFSET:
    case T_WITHOUT:
    case T_START:
    case T_END: return true;
    default: return t > T_AGG_START_ && t < T_AGG_END_;
    }
}

static void
own_matcher(parser *p, ts_matcher *m)
{
    TS_GROW(p->owned, p->owned_cap, p->nowned + 1);
    p->owned[p->nowned++] = m;
}

NOINLINE static ts_matcher *
add_matcher(parser *p, ptrvec *ms, ts_match_type type, const char *name, const char *value,
            size_t vlen, uint32_t pos)
{
    if (strlen(value) != vlen) {
        /* a NUL byte inside the value: ts_matcher works on C strings */
        fail(p, pos, "label value must not contain a NUL byte");
        return NULL;
    }
    ts_matcher *m = NULL;
    ts_error merr;
    ts_error_clear(&merr);
    if (ts_matcher_new(&m, type, name, value, &merr) != 0) {
        fail(p, pos, "%s", merr.msg[0] ? merr.msg : "invalid label matcher");
        return NULL;
    }
    own_matcher(p, m);
    ptrvec_push(p, ms, m);
    return m;
}

/* {a="b", c=~"d", ...}; the current token is '{'. */
NOINLINE static bool
parse_label_matchers(parser *p, ptrvec *ms)
{
    advance(p); /* { */
    if (peek(p).type == T_RBRACE) {
        advance(p);
        return true;
    }
    for (;;) {
        ts__pq_tok name = peek(p);
        if (name.type != T_IDENT) {
            unexpected(p, name, "label matching", "identifier or \"}\"");
            return false;
        }
        advance(p);
        ts__pq_tok op = peek(p);
        ts_match_type mt;
        switch (op.type) {
        case T_EQL: mt = TS_MATCH_EQ; break;
        case T_NEQ: mt = TS_MATCH_NEQ; break;
        case T_EQL_REGEX: mt = TS_MATCH_RE; break;
        case T_NEQ_REGEX: mt = TS_MATCH_NRE; break;
        default: unexpected(p, op, "label matching", "label matching operator"); return false;
        }
        advance(p);
        ts__pq_tok val = peek(p);
        if (val.type != T_STRING) {
            unexpected(p, val, "label matching", "string");
            return false;
        }
        advance(p);
        size_t vlen;
        char *v = unquote(p, val, &vlen);
        char *nm = ts_arena_strndup(p->arena, p->in + name.pos, name.len);
        if (!add_matcher(p, ms, mt, nm, v, vlen, name.pos))
            return false;
        ts__pq_tok t = peek(p);
        if (t.type == T_COMMA) {
            advance(p);
            if (peek(p).type == T_RBRACE) {
                advance(p);
                return true;
            }
            continue;
        }
        if (t.type == T_RBRACE) {
            advance(p);
            return true;
        }
        unexpected(p, t, "label matching", "\",\" or \"}\"");
        return false;
    }
}

/* name [{...}] or {...}; the current token is the name or '{'. */
static ts_promql_expr *
parse_vector_selector(parser *p)
{
    ts__pq_tok first = peek(p);
    ptrvec ms = {0};
    const char *name = NULL;
    if (first.type != T_LBRACE) {
        advance(p);
        name = ts_arena_strndup(p->arena, p->in + first.pos, first.len);
    }
    if (peek(p).type == T_LBRACE && !parse_label_matchers(p, &ms))
        return NULL;
    if (name && !add_matcher(p, &ms, TS_MATCH_EQ, "__name__", name, strlen(name), first.pos))
        return NULL;
    ts_promql_expr *e = new_node(p, TS_PROMQL_VECTOR_SELECTOR, first.pos);
    e->type = TS_PROMQL_VT_VECTOR;
    e->u.vs.name = name;
    e->u.vs.matchers = (ts_matcher **)ms.v;
    e->u.vs.nmatchers = ms.n;
    return e;
}

/* ---- Grouping labels --------------------------------------------------------------------- */

static bool
is_label_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool
is_maybe_label_tok(ts__pq_tok_type t)
{
    if (t == T_IDENT || t == T_METRIC_IDENT || t == T_START || t == T_END || t == T_LAND ||
        t == T_LOR || t == T_LUNLESS || t == T_ATAN2)
        return true;
    return (t > T_AGG_START_ && t < T_AGG_END_) || (t > T_KW_START_ && t < T_KW_END_);
}

/* ( label, ... ) with an optional trailing comma. */
NOINLINE static bool
parse_grouping(parser *p, char ***labels, size_t *n)
{
    ptrvec lv = {0};
    ts__pq_tok t = peek(p);
    if (t.type != T_LPAREN) {
        unexpected(p, t, "grouping opts", "\"(\"");
        return false;
    }
    advance(p);
    if (peek(p).type != T_RPAREN) {
        for (;;) {
            t = peek(p);
            if (!is_maybe_label_tok(t.type) || !is_label_name(p->in + t.pos, t.len)) {
                unexpected(p, t, "grouping opts", "label");
                return false;
            }
            advance(p);
            ptrvec_push(p, &lv, ts_arena_strndup(p->arena, p->in + t.pos, t.len));
            t = peek(p);
            if (t.type == T_COMMA) {
                advance(p);
                if (peek(p).type == T_RPAREN)
                    break;
                continue;
            }
            if (t.type == T_RPAREN)
                break;
            unexpected(p, t, "grouping opts", "\",\" or \")\"");
            return false;
        }
    }
    advance(p); /* ) */
    *labels = (char **)lv.v;
    *n = lv.n;
    return true;
}

/* ---- Expressions ------------------------------------------------------------------------- */

static ts_promql_expr *parse_expr(parser *p, int min_prec);
static bool starts_expr(ts__pq_tok_type t);
static ts_promql_expr *parse_expr_inner(parser *p, int min_prec);

/* Whether a token can begin an expression (the right operand of a binary operator). */
static bool
starts_expr(ts__pq_tok_type t)
{
    return t == T_NUMBER || t == T_STRING || t == T_LPAREN || t == T_LBRACE || t == T_ADD ||
           t == T_SUB || is_metric_name_tok(t);
}

enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

static int
binop_info(ts__pq_tok_type t, ts_promql_op *op)
{
    switch (t) {
    case T_LOR: *op = TS_PROMQL_OP_LOR; return PREC_OR;
    case T_LAND: *op = TS_PROMQL_OP_LAND; return PREC_AND;
    case T_LUNLESS: *op = TS_PROMQL_OP_LUNLESS; return PREC_AND;
    case T_EQLC: *op = TS_PROMQL_OP_EQL; return PREC_CMP;
    case T_NEQ: *op = TS_PROMQL_OP_NEQ; return PREC_CMP;
    case T_GTR: *op = TS_PROMQL_OP_GTR; return PREC_CMP;
    case T_LSS: *op = TS_PROMQL_OP_LSS; return PREC_CMP;
    case T_GTE: *op = TS_PROMQL_OP_GTE; return PREC_CMP;
    case T_LTE: *op = TS_PROMQL_OP_LTE; return PREC_CMP;
    case T_ADD: *op = TS_PROMQL_OP_ADD; return PREC_ADD;
    case T_SUB: *op = TS_PROMQL_OP_SUB; return PREC_ADD;
    case T_MUL: *op = TS_PROMQL_OP_MUL; return PREC_MUL;
    case T_DIV: *op = TS_PROMQL_OP_DIV; return PREC_MUL;
    case T_MOD: *op = TS_PROMQL_OP_MOD; return PREC_MUL;
    case T_ATAN2: *op = TS_PROMQL_OP_ATAN2; return PREC_MUL;
    case T_POW: *op = TS_PROMQL_OP_POW; return PREC_POW;
    default: return 0;
    }
}

/* Arguments in parentheses: (a, b, ...); the current token is '('. */
static bool
parse_call_args(parser *p, ptrvec *args)
{
    advance(p); /* ( */
    if (peek(p).type == T_RPAREN) {
        advance(p);
        return true;
    }
    for (;;) {
        ts_promql_expr *a = parse_expr(p, 0);
        if (!a)
            return false;
        ptrvec_push(p, args, a);
        ts__pq_tok t = peek(p);
        if (t.type == T_COMMA) {
            advance(p);
            /* yacc takes `args ,` as complete when no expression can follow */
            ts__pq_tok n = peek(p);
            if (n.type != T_ERROR && !starts_expr(n.type)) {
                fail(p, t.pos, "trailing commas not allowed in function call args");
                return false;
            }
            continue;
        }
        if (t.type == T_RPAREN) {
            advance(p);
            return true;
        }
        unexpected(p, t, NULL, NULL);
        return false;
    }
}

NOINLINE static ts_promql_expr *
parse_call(parser *p)
{
    ts__pq_tok name = advance(p);
    ptrvec args = {0};
    if (!parse_call_args(p, &args))
        return NULL;
    const ts_promql_function *fn = ts_promql_function_lookup(p->in + name.pos, name.len);
    if (!fn) {
        char q[128];
        go_quote(q, sizeof(q), p->in + name.pos, name.len, 0);
        fail(p, name.pos, "unknown function with name %s", q);
        return NULL;
    }
    ts_promql_expr *e = new_node(p, TS_PROMQL_CALL, name.pos);
    e->type = fn->return_type;
    e->u.call.func = fn;
    e->u.call.args = (ts_promql_expr **)args.v;
    e->u.call.nargs = args.n;
    return e;
}

NOINLINE static bool
parse_agg_modifier(parser *p, ts_promql_aggregate *agg)
{
    ts__pq_tok kw = advance(p); /* by / without */
    agg->without = kw.type == T_WITHOUT;
    agg->has_grouping = true;
    return parse_grouping(p, &agg->grouping, &agg->ngrouping);
}

static ts_promql_expr *
parse_aggregate(parser *p)
{
    ts__pq_tok op = advance(p);
    ts_promql_expr *e = new_node(p, TS_PROMQL_AGGREGATE, op.pos);
    ts_promql_aggregate *agg = &e->u.agg;
    agg->op = (ts_promql_agg_op)(op.type - T_SUM);
    e->type = TS_PROMQL_VT_VECTOR;
    bool have_mod = false;
    ts__pq_tok t = peek(p);
    if (t.type == T_BY || t.type == T_WITHOUT) {
        if (!parse_agg_modifier(p, agg))
            return NULL;
        have_mod = true;
    }
    t = peek(p);
    if (t.type != T_LPAREN) {
        unexpected(p, t, "aggregation", NULL);
        return NULL;
    }
    ptrvec args = {0};
    p->agg_depth++;
    bool ok = parse_call_args(p, &args);
    p->agg_depth--;
    if (!ok)
        return NULL;
    t = peek(p);
    if (!have_mod && t.type == T_ERROR) {
        /* yacc reads the token after `)` to look for by/without before it checks the
         * arguments, so a lexer error there comes first */
        unexpected(p, t, NULL, NULL);
        return NULL;
    }
    if (!have_mod && (t.type == T_BY || t.type == T_WITHOUT)) {
        if (!parse_agg_modifier(p, agg))
            return NULL;
    }
    e->pos.end = p->last_end;
    if (args.n == 0) {
        fail(p, op.pos, "no arguments for aggregate expression provided");
        return NULL;
    }
    size_t want = 1;
    if (ts_promql_agg_op_has_param(agg->op)) {
        want = 2;
        agg->param = args.v[0];
    }
    if (args.n != want) {
        fail(p, op.pos,
             "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
             want, args.n);
        return NULL;
    }
    agg->expr = args.v[want - 1];
    return e;
}

static ts_promql_expr *
parse_primary(parser *p)
{
    ts__pq_tok t = peek(p);
    switch (t.type) {
    case T_NUMBER: {
        double v;
        if (!number_from_tok(p, t, &v))
            return NULL;
        advance(p);
        ts_promql_expr *e = new_node(p, TS_PROMQL_NUMBER, t.pos);
        e->type = TS_PROMQL_VT_SCALAR;
        e->u.number = v;
        return e;
    }
    case T_STRING: {
        advance(p);
        ts_promql_expr *e = new_node(p, TS_PROMQL_STRING, t.pos);
        e->type = TS_PROMQL_VT_STRING;
        e->u.string.p = unquote(p, t, &e->u.string.len);
        return e;
    }
    case T_LPAREN: {
        advance(p);
        ts_promql_expr *inner = parse_expr(p, 0);
        if (!inner)
            return NULL;
        ts__pq_tok c = peek(p);
        if (c.type != T_RPAREN) {
            unexpected(p, c, NULL, NULL);
            return NULL;
        }
        advance(p);
        ts_promql_expr *e = new_node(p, TS_PROMQL_PAREN, t.pos);
        e->type = inner->type;
        e->u.paren = inner;
        return e;
    }
    case T_LBRACE: return parse_vector_selector(p);
    default: break;
    }
    if (t.type == T_IDENT && peek_n(p, 1).type == T_LPAREN)
        return parse_call(p);
    if (t.type > T_AGG_START_ && t.type < T_AGG_END_) {
        ts__pq_tok_type n = peek_n(p, 1).type;
        if (n == T_LPAREN || n == T_BY || n == T_WITHOUT)
            return parse_aggregate(p);
    }
    if (is_metric_name_tok(t.type))
        return parse_vector_selector(p);
    unexpected(p, t, NULL, NULL);
    return NULL;
}

/* Offset and @ apply to selectors and subqueries; returns pointers to their fields. */
static bool
modifier_target(ts_promql_expr *e, int64_t **orig_off, int64_t **off, ts_promql_at_kind **at,
                int64_t **at_ms)
{
    if (e->kind == TS_PROMQL_MATRIX_SELECTOR)
        e = e->u.ms.vs;
    if (e->kind == TS_PROMQL_VECTOR_SELECTOR) {
        *orig_off = &e->u.vs.original_offset;
        *off = &e->u.vs.offset;
        *at = &e->u.vs.at;
        *at_ms = &e->u.vs.at_ms;
        return true;
    }
    if (e->kind == TS_PROMQL_SUBQUERY) {
        *orig_off = &e->u.sq.original_offset;
        *off = &e->u.sq.offset;
        *at = &e->u.sq.at;
        *at_ms = &e->u.sq.at_ms;
        return true;
    }
    return false;
}

NOINLINE static bool
parse_offset(parser *p, ts_promql_expr *e)
{
    advance(p); /* offset */
    bool neg = false;
    if (peek(p).type == T_SUB) {
        advance(p);
        neg = true;
    }
    ts__pq_tok d = peek(p);
    if (d.type != T_DURATION) {
        unexpected(p, d, "offset", "duration");
        return false;
    }
    int64_t ms;
    if (!duration_from_tok(p, d, &ms))
        return false;
    advance(p);
    int64_t *orig_off, *off, *at_ms;
    ts_promql_at_kind *at;
    if (!modifier_target(e, &orig_off, &off, &at, &at_ms)) {
        fail(p, e->pos.start,
             "offset modifier must be preceded by an instant vector selector or "
             "range vector selector or a subquery");
        return false;
    }
    if (*orig_off != 0) {
        fail(p, e->pos.start, "offset may not be set multiple times");
        return false;
    }
    *orig_off = *off = neg ? -ms : ms;
    e->pos.end = p->last_end;
    return true;
}

/* Go's %f for the out-of-bounds message (C prints inf/nan differently). */
static void
go_format_f(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, "%sInf", v > 0 ? "+" : "-");
    else
        snprintf(buf, size, "%f", v);
}

NOINLINE static bool
parse_at(parser *p, ts_promql_expr *e)
{
    advance(p); /* @ */
    ts__pq_tok t = peek(p);
    ts_promql_at_kind kind;
    double ts = 0;
    if (t.type == T_START || t.type == T_END) {
        advance(p);
        ts__pq_tok l = peek(p);
        if (l.type != T_LPAREN) {
            unexpected(p, l, "@", "timestamp");
            return false;
        }
        advance(p);
        ts__pq_tok r = peek(p);
        if (r.type != T_RPAREN) {
            unexpected(p, r, "@", "timestamp");
            return false;
        }
        advance(p);
        kind = t.type == T_START ? TS_PROMQL_AT_START : TS_PROMQL_AT_END;
    } else {
        bool neg = false;
        if (t.type == T_ADD || t.type == T_SUB) {
            neg = t.type == T_SUB;
            advance(p);
            t = peek(p);
        }
        if (t.type != T_NUMBER) {
            unexpected(p, t, "@", "timestamp");
            return false;
        }
        if (!number_from_tok(p, t, &ts))
            return false;
        advance(p);
        if (neg)
            ts = -ts;
        kind = TS_PROMQL_AT_TIMESTAMP;
        if (isinf(ts) || isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0) {
            char b[400];
            go_format_f(ts, b, sizeof(b));
            fail(p, e->pos.start, "timestamp out of bounds for @ modifier: %s", b);
            return false;
        }
    }
    int64_t *orig_off, *off, *at_ms;
    ts_promql_at_kind *at;
    if (!modifier_target(e, &orig_off, &off, &at, &at_ms)) {
        fail(p, e->pos.start,
             "@ modifier must be preceded by an instant vector selector or range "
             "vector selector or a subquery");
        return false;
    }
    if (*at != TS_PROMQL_AT_NONE) {
        fail(p, e->pos.start, "@ <timestamp> may not be set multiple times");
        return false;
    }
    *at = kind;
    if (kind == TS_PROMQL_AT_TIMESTAMP) {
        /* timestamp.FromFloatSeconds: int64(round(ts * 1000)).  Go on amd64 turns an
         * out-of-range conversion into INT64_MIN (Prometheus then prints @ -9223372036854776);
         * do the same without C's undefined behaviour. */
        double msf = round(ts * 1000.0);
        if (msf >= 9223372036854775807.0 || msf < -9223372036854775808.0)
            *at_ms = INT64_MIN;
        else
            *at_ms = (int64_t)msf;
    }
    e->pos.end = p->last_end;
    return true;
}

/* [range] or [range:step]; the current token is '['. */
NOINLINE static ts_promql_expr *
parse_range_or_subquery(parser *p, ts_promql_expr *e)
{
    ts__pq_tok lb = advance(p);
    ts__pq_tok d = peek(p);
    if (d.type != T_DURATION) {
        unexpected(p, d, "subquery selector", "duration");
        return NULL;
    }
    int64_t range;
    if (!duration_from_tok(p, d, &range))
        return NULL;
    advance(p);
    ts__pq_tok t = peek(p);
    if (t.type == T_RBRACKET) {
        advance(p);
        const char *msg = NULL;
        if (e->kind != TS_PROMQL_VECTOR_SELECTOR)
            msg = "ranges only allowed for vector selectors";
        else if (e->u.vs.original_offset != 0)
            msg = "no offset modifiers allowed before range";
        else if (e->u.vs.at == TS_PROMQL_AT_TIMESTAMP) /* 2.42 lets @ start()/end() pass */
            msg = "no @ modifiers allowed before range";
        if (msg) {
            fail(p, lb.pos, "%s", msg);
            return NULL;
        }
        ts_promql_expr *m = new_node(p, TS_PROMQL_MATRIX_SELECTOR, e->pos.start);
        m->type = TS_PROMQL_VT_MATRIX;
        m->u.ms.vs = e;
        m->u.ms.range_ms = range;
        return m;
    }
    if (t.type != T_COLON) {
        unexpected(p, t, "subquery or range", "\":\" or \"]\"");
        return NULL;
    }
    advance(p);
    int64_t step = 0;
    t = peek(p);
    if (t.type == T_DURATION) {
        if (!duration_from_tok(p, t, &step))
            return NULL;
        advance(p);
        t = peek(p);
        if (t.type != T_RBRACKET) {
            unexpected(p, t, "subquery selector", "\"]\"");
            return NULL;
        }
    } else if (t.type != T_RBRACKET) {
        unexpected(p, t, "subquery selector", "duration or \"]\"");
        return NULL;
    }
    advance(p);
    ts_promql_expr *s = new_node(p, TS_PROMQL_SUBQUERY, e->pos.start);
    s->type = TS_PROMQL_VT_MATRIX;
    s->u.sq.expr = e;
    s->u.sq.range_ms = range;
    s->u.sq.step_ms = step;
    s->u.sq.end_pos = p->last_end;
    return s;
}

static ts_promql_expr *
parse_postfix(parser *p)
{
    ts_promql_expr *e = parse_primary(p);
    while (e) {
        ts__pq_tok t = peek(p);
        if (t.type == T_LBRACKET) {
            e = parse_range_or_subquery(p, e);
        } else if (t.type == T_OFFSET) {
            if (!parse_offset(p, e))
                return NULL;
        } else if (t.type == T_AT) {
            if (!parse_at(p, e))
                return NULL;
        } else {
            break;
        }
        if (e && e->kind == TS_PROMQL_SUBQUERY)
            e->u.sq.end_pos = p->last_end;
    }
    return e;
}

static ts_promql_expr *
parse_unary(parser *p)
{
    ts__pq_tok t = peek(p);
    if (t.type != T_ADD && t.type != T_SUB)
        return parse_postfix(p);
    advance(p);
    ts_promql_expr *operand = parse_expr(p, PREC_POW);
    if (!operand)
        return NULL;
    if (operand->kind == TS_PROMQL_NUMBER) {
        if (t.type == T_SUB)
            operand->u.number = -operand->u.number;
        operand->pos.start = t.pos;
        return operand;
    }
    ts_promql_expr *e = new_node(p, TS_PROMQL_UNARY, t.pos);
    e->type = operand->type;
    e->u.unary.op = t.type == T_SUB ? TS_PROMQL_OP_SUB : TS_PROMQL_OP_ADD;
    e->u.unary.expr = operand;
    return e;
}

static ts_promql_expr *
parse_expr(parser *p, int min_prec)
{
    if (p->nest >= TS_PROMQL_MAX_DEPTH) {
        fail(p, peek(p).pos, "expression is nested too deeply (limit %d)", TS_PROMQL_MAX_DEPTH);
        return NULL;
    }
    p->nest++;
    ts_promql_expr *r = parse_expr_inner(p, min_prec);
    p->nest--;
    return r;
}

static ts_promql_expr *
parse_expr_inner(parser *p, int min_prec)
{
    ts_promql_expr *lhs = parse_unary(p);
    while (lhs) {
        ts__pq_tok t = peek(p);
        ts_promql_op op;
        int prec = binop_info(t.type, &op);
        if (prec == 0 || prec < min_prec)
            break;
        advance(p);
        ts_promql_vector_matching *vm = TS_ARENA_NEW(p->arena, ts_promql_vector_matching);
        vm->card = TS_PROMQL_CARD_ONE_TO_ONE;
        bool ret_bool = false;
        if (peek(p).type == T_BOOL) {
            advance(p);
            ret_bool = true;
        }
        ts__pq_tok_type m = peek(p).type;
        if (m == T_ON || m == T_IGNORING) {
            advance(p);
            vm->on = m == T_ON;
            if (!parse_grouping(p, &vm->labels, &vm->nlabels))
                return NULL;
            m = peek(p).type;
            if (m == T_GROUP_LEFT || m == T_GROUP_RIGHT) {
                advance(p);
                vm->card =
                    m == T_GROUP_LEFT ? TS_PROMQL_CARD_MANY_TO_ONE : TS_PROMQL_CARD_ONE_TO_MANY;
                /* the include list is optional, but what follows must then start the right
                 * operand; anything else is reported as a bad grouping, as yacc does */
                ts__pq_tok_type n = peek(p).type;
                if ((n == T_LPAREN || !starts_expr(n)) &&
                    !parse_grouping(p, &vm->include, &vm->ninclude))
                    return NULL;
            }
        }
        ts_promql_expr *rhs = parse_expr(p, op == TS_PROMQL_OP_POW ? prec : prec + 1);
        if (!rhs)
            return NULL;
        ts_promql_expr *b = new_node(p, TS_PROMQL_BINARY, lhs->pos.start);
        b->u.bin.op = op;
        b->u.bin.lhs = lhs;
        b->u.bin.rhs = rhs;
        b->u.bin.return_bool = ret_bool;
        b->u.bin.matching = vm;
        b->type = (lhs->type == TS_PROMQL_VT_SCALAR && rhs->type == TS_PROMQL_VT_SCALAR)
                      ? TS_PROMQL_VT_SCALAR
                      : TS_PROMQL_VT_VECTOR;
        lhs = b;
    }
    return lhs;
}

/* ---- Checking pass (Prometheus' checkAST) ------------------------------------------------- */

static ts_promql_value_type check(parser *p, ts_promql_expr *e);

NOINLINE static void
expect_type(parser *p, ts_promql_expr *e, ts_promql_value_type want, const char *ctx)
{
    ts_promql_value_type t = check(p, e);
    if (!p->failed && t != want)
        fail(p, e->pos.start, "expected type %s in %s, got %s", ts_promql_value_type_doc(want), ctx,
             ts_promql_value_type_doc(t));
}

/* Start of a binary expression's operator: the first non-space after the left operand. */
static uint32_t
op_pos(parser *p, ts_promql_expr *e)
{
    uint32_t i = e->u.bin.lhs->pos.end;
    while (i < p->len &&
           (p->in[i] == ' ' || p->in[i] == '\t' || p->in[i] == '\n' || p->in[i] == '\r'))
        i++;
    return i;
}

NOINLINE static ts_promql_value_type
check_vector_selector(parser *p, ts_promql_expr *e)
{
    ts_promql_vector_selector *vs = &e->u.vs;
    if (vs->name) {
        /* the name matcher is the last one; any other __name__ matcher sets it twice */
        for (size_t i = 0; i + 1 < vs->nmatchers; i++) {
            if (strcmp(vs->matchers[i]->name, "__name__") == 0) {
                char a[128], b[128];
                go_quote(a, sizeof(a), vs->name, strlen(vs->name), 0);
                go_quote(b, sizeof(b), vs->matchers[i]->value, strlen(vs->matchers[i]->value), 0);
                fail(p, e->pos.start, "metric name must not be set twice: %s or %s", a, b);
                return e->type;
            }
        }
    }
    bool non_empty = false;
    for (size_t i = 0; i < vs->nmatchers && !non_empty; i++)
        non_empty = !ts_matcher_matches_empty(vs->matchers[i]);
    if (!non_empty)
        fail(p, e->pos.start, "vector selector must contain at least one non-empty matcher");
    return e->type;
}

NOINLINE static void
check_binary(parser *p, ts_promql_expr *e)
{
    ts_promql_binary *b = &e->u.bin;
    ts_promql_value_type lt = check(p, b->lhs);
    if (p->failed)
        return;
    ts_promql_value_type rt = check(p, b->rhs);
    if (p->failed)
        return;
    ts_promql_vector_matching *vm = b->matching;
    const char *opname = ts_promql_op_str(b->op);
    if (b->return_bool && !ts_promql_op_is_comparison(b->op)) {
        fail(p, op_pos(p, e), "bool modifier can only be used on comparison operators");
        return;
    }
    if (ts_promql_op_is_comparison(b->op) && !b->return_bool && lt == TS_PROMQL_VT_SCALAR &&
        rt == TS_PROMQL_VT_SCALAR) {
        fail(p, op_pos(p, e), "comparisons between scalars must use BOOL modifier");
        return;
    }
    if (ts_promql_op_is_set(b->op) && vm->card == TS_PROMQL_CARD_ONE_TO_ONE)
        vm->card = TS_PROMQL_CARD_MANY_TO_MANY;
    if (vm->on) {
        for (size_t i = 0; i < vm->nlabels; i++) {
            for (size_t j = 0; j < vm->ninclude; j++) {
                if (strcmp(vm->labels[i], vm->include[j]) == 0) {
                    char q[128];
                    go_quote(q, sizeof(q), vm->labels[i], strlen(vm->labels[i]), 0);
                    fail(p, op_pos(p, e), "label %s must not occur in ON and GROUP clause at once",
                         q);
                    return;
                }
            }
        }
    }
    if (lt != TS_PROMQL_VT_SCALAR && lt != TS_PROMQL_VT_VECTOR) {
        fail(p, b->lhs->pos.start,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (rt != TS_PROMQL_VT_SCALAR && rt != TS_PROMQL_VT_VECTOR) {
        fail(p, b->rhs->pos.start,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (lt != TS_PROMQL_VT_VECTOR || rt != TS_PROMQL_VT_VECTOR) {
        if (vm->nlabels > 0) {
            fail(p, e->pos.start, "vector matching only allowed between instant vectors");
            return;
        }
        b->matching = NULL;
    } else if (ts_promql_op_is_set(b->op)) {
        if (vm->card == TS_PROMQL_CARD_ONE_TO_MANY || vm->card == TS_PROMQL_CARD_MANY_TO_ONE) {
            fail(p, e->pos.start, "no grouping allowed for \"%s\" operation", opname);
            return;
        }
        if (vm->card != TS_PROMQL_CARD_MANY_TO_MANY) {
            fail(p, e->pos.start, "set operations must always be many-to-many");
            return;
        }
    }
    if ((lt == TS_PROMQL_VT_SCALAR || rt == TS_PROMQL_VT_SCALAR) && ts_promql_op_is_set(b->op))
        fail(p, e->pos.start, "set operator \"%s\" not allowed in binary scalar expression",
             opname);
}

NOINLINE static void
check_call(parser *p, ts_promql_expr *e)
{
    const ts_promql_function *fn = e->u.call.func;
    size_t got = e->u.call.nargs;
    int nargs = fn->nargs;
    if (fn->variadic == 0) {
        if ((size_t)nargs != got) {
            fail(p, e->pos.start, "expected %d argument(s) in call to \"%s\", got %zu", nargs,
                 fn->name, got);
            return;
        }
    } else {
        int na = nargs - 1;
        if ((size_t)na > got) {
            fail(p, e->pos.start, "expected at least %d argument(s) in call to \"%s\", got %zu", na,
                 fn->name, got);
            return;
        }
        if (fn->variadic > 0 && (size_t)na + (size_t)fn->variadic < got) {
            fail(p, e->pos.start, "expected at most %d argument(s) in call to \"%s\", got %zu",
                 na + fn->variadic, fn->name, got);
            return;
        }
    }
    for (size_t i = 0; i < got; i++) {
        size_t ti = i;
        if (ti >= (size_t)nargs) {
            if (fn->variadic == 0)
                break;
            ti = (size_t)nargs - 1;
        }
        ts_promql_value_type t = check(p, e->u.call.args[i]);
        if (p->failed)
            return;
        if (t != fn->arg_types[ti]) {
            fail(p, e->u.call.args[i]->pos.start,
                 "expected type %s in call to function \"%s\", got %s",
                 ts_promql_value_type_doc(fn->arg_types[ti]), fn->name,
                 ts_promql_value_type_doc(t));
            return;
        }
    }
}

static ts_promql_value_type
check(parser *p, ts_promql_expr *e)
{
    if (p->failed)
        return e->type;
    switch (e->kind) {
    case TS_PROMQL_AGGREGATE:
        expect_type(p, e->u.agg.expr, TS_PROMQL_VT_VECTOR, "aggregation expression");
        if (p->failed)
            break;
        if (e->u.agg.op == TS_PROMQL_AGG_COUNT_VALUES)
            expect_type(p, e->u.agg.param, TS_PROMQL_VT_STRING, "aggregation parameter");
        else if (ts_promql_agg_op_has_param(e->u.agg.op))
            expect_type(p, e->u.agg.param, TS_PROMQL_VT_SCALAR, "aggregation parameter");
        break;
    case TS_PROMQL_BINARY: check_binary(p, e); break;
    case TS_PROMQL_CALL: check_call(p, e); break;
    case TS_PROMQL_PAREN: check(p, e->u.paren); break;
    case TS_PROMQL_UNARY: {
        ts_promql_value_type t = check(p, e->u.unary.expr);
        if (!p->failed && t != TS_PROMQL_VT_SCALAR && t != TS_PROMQL_VT_VECTOR)
            fail(p, e->pos.start,
                 "unary expression only allowed on expressions of type scalar or instant vector, "
                 "got \"%s\"",
                 ts_promql_value_type_doc(t));
        break;
    }
    case TS_PROMQL_SUBQUERY: {
        ts_promql_value_type t = check(p, e->u.sq.expr);
        if (!p->failed && t != TS_PROMQL_VT_VECTOR)
            fail(p, e->pos.start, "subquery is only allowed on instant vector, got %s instead",
                 ts_promql_value_type_str(t));
        break;
    }
    case TS_PROMQL_MATRIX_SELECTOR: check(p, e->u.ms.vs); break;
    case TS_PROMQL_VECTOR_SELECTOR: check_vector_selector(p, e); break;
    case TS_PROMQL_STEP_INVARIANT: check(p, e->u.step_invariant); break;
    case TS_PROMQL_NUMBER:
    case TS_PROMQL_STRING: break;
    }
    return e->type;
}

/* ---- Tree height ------------------------------------------------------------------------- */

/* Height of the tree, computed with an explicit stack (the tree may be deeper than is safe to
 * recurse over: a chain like 1+1+1+... is parsed by a loop but is left-deep). */
static size_t
tree_height(ts_promql_expr *root)
{
    struct item {
        ts_promql_expr *e;
        size_t depth;
    } *st = NULL;
    size_t n = 0, cap = 0, max = 0;
    TS_GROW(st, cap, 1);
    st[n++] = (struct item){root, 1};
    while (n > 0) {
        struct item it = st[--n];
        if (it.depth > max)
            max = it.depth;
        ts_promql_expr *kids[4] = {0};
        ts_promql_expr **many = NULL;
        size_t nkids = 0, nmany = 0;
        switch (it.e->kind) {
        case TS_PROMQL_MATRIX_SELECTOR: kids[nkids++] = it.e->u.ms.vs; break;
        case TS_PROMQL_SUBQUERY: kids[nkids++] = it.e->u.sq.expr; break;
        case TS_PROMQL_CALL: many = it.e->u.call.args, nmany = it.e->u.call.nargs; break;
        case TS_PROMQL_AGGREGATE:
            kids[nkids++] = it.e->u.agg.expr;
            if (it.e->u.agg.param)
                kids[nkids++] = it.e->u.agg.param;
            break;
        case TS_PROMQL_BINARY:
            kids[nkids++] = it.e->u.bin.lhs;
            kids[nkids++] = it.e->u.bin.rhs;
            break;
        case TS_PROMQL_UNARY: kids[nkids++] = it.e->u.unary.expr; break;
        case TS_PROMQL_PAREN: kids[nkids++] = it.e->u.paren; break;
        case TS_PROMQL_STEP_INVARIANT: kids[nkids++] = it.e->u.step_invariant; break;
        default: break;
        }
        TS_GROW(st, cap, n + nkids + nmany);
        for (size_t i = 0; i < nkids; i++)
            st[n++] = (struct item){kids[i], it.depth + 1};
        for (size_t i = 0; i < nmany; i++)
            st[n++] = (struct item){many[i], it.depth + 1};
    }
    ts_free(st);
    return max;
}

/* ---- Entry points ------------------------------------------------------------------------ */

static void
parser_init(parser *p, ts_arena *arena, const char *input, size_t len, ts_error *err)
{
    memset(p, 0, sizeof(*p));
    p->arena = arena;
    p->in = input;
    p->len = len;
    p->err = err;
    ts__pq_lex_init(&p->lx, input, len);
}

static void
parser_fail_cleanup(parser *p)
{
    for (size_t i = 0; i < p->nowned; i++)
        ts_matcher_free(p->owned[i]);
    ts_free(p->owned);
    p->owned = NULL;
    p->nowned = 0;
}

int
ts_promql_parse(ts_arena *arena, const char *input, size_t len, ts_promql_expr **out, ts_error *err)
{
    *out = NULL;
    if (err)
        ts_error_clear(err);
    if (len > TS_PROMQL_MAX_QUERY_LEN)
        return ts_error_set(err, TS_ELIMIT, "query is too long (%zu bytes, limit %u)", len,
                            TS_PROMQL_MAX_QUERY_LEN);
    parser p;
    parser_init(&p, arena, input, len, err);
    ts_promql_expr *e = NULL;
    ts__pq_tok t = peek(&p);
    if (t.type == T_EOF) {
        fail(&p, 0, "no expression found in input");
    } else {
        e = parse_expr(&p, 0);
        if (e) {
            t = peek(&p);
            if (t.type != T_EOF)
                unexpected(&p, t, NULL, NULL);
        }
        if (!p.failed && tree_height(e) > TS_PROMQL_MAX_DEPTH)
            fail(&p, 0, "expression is nested too deeply (limit %d)", TS_PROMQL_MAX_DEPTH);
        if (!p.failed)
            check(&p, e);
    }
    if (p.failed) {
        parser_fail_cleanup(&p);
        return TS_EPARSE;
    }
    ts_free(p.owned); /* the matchers now belong to the tree */
    *out = e;
    return TS_OK;
}

int
ts_promql_parse_series_selector(const char *input, size_t len, ts_matcher ***out, size_t *n,
                                ts_error *err)
{
    *out = NULL;
    *n = 0;
    if (err)
        ts_error_clear(err);
    if (len > TS_PROMQL_MAX_QUERY_LEN)
        return ts_error_set(err, TS_ELIMIT, "selector is too long (%zu bytes)", len);
    ts_arena arena;
    ts_arena_init(&arena, 4096);
    parser p;
    parser_init(&p, &arena, input, len, err);
    ts_promql_expr *e = NULL;
    ts__pq_tok t = peek(&p);
    if (t.type == T_LBRACE || is_metric_name_tok(t.type))
        e = parse_vector_selector(&p);
    else
        unexpected(&p, t, NULL, NULL);
    if (e) {
        t = peek(&p);
        if (t.type != T_EOF)
            unexpected(&p, t, NULL, NULL);
    }
    if (!p.failed)
        check(&p, e);
    int rc = TS_OK;
    if (p.failed) {
        parser_fail_cleanup(&p);
        rc = TS_EPARSE;
    } else {
        ts_matcher **m = ts_malloc((e->u.vs.nmatchers ? e->u.vs.nmatchers : 1) * sizeof(*m));
        memcpy(m, e->u.vs.matchers, e->u.vs.nmatchers * sizeof(*m));
        *out = m;
        *n = e->u.vs.nmatchers;
        ts_free(p.owned);
    }
    ts_arena_fini(&arena);
    return rc;
}

void
ts_promql_matchers_free(ts_matcher **m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        ts_matcher_free(m[i]);
    ts_free(m);
}

size_t
ts_promql_go_quote(char *buf, size_t size, const char *s, size_t n)
{
    return go_quote(buf, size, s, n, 0);
}
