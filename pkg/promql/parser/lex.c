/*
 * PromQL lexer: a state machine over the query bytes, scanning one token per call.
 *
 * States (ts__pq_lex_state):
 *   LS_STATEMENTS  the top level: operators, numbers/durations, strings, identifiers and
 *                  keywords (case-insensitive, looked up in kw_table), brackets.  Inside an
 *                  open `[` letters and `:` are the subquery colon (a second one is an error).
 *   LS_BRACES      inside `{...}`: identifiers (keywords are plain names here), strings,
 *                  `,`, and the matcher operators = != =~ !~.
 *   LS_DURATION    right after `[` (and its spaces): a duration must follow.
 *   LS_DONE        after end of input or an error: always T_EOF.
 * The lexer counts parentheses and tracks brackets, so "unclosed left parenthesis" and friends
 * are reported by the lexer, at the end of input, as Prometheus does.
 *
 * Numbers are scanned, not converted: [0-9]*(.[0-9]*)?([eE][+-]?[0-9]*)? or 0x<hex digits>,
 * and must not be followed by a letter or digit; if they are, the text is tried as a duration
 * (digits followed by y w d h m s ms units).  Conversion and the duration's validity are the
 * parser's job, so the error texts come out where Prometheus produces them.
 */
#include "pkg/promql/parser/lex.h"
#include "pkg/util/str.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EOF_RUNE (-1)

static const struct {
    const char *word;
    ts__pq_tok_type type;
} kw_table[] = {
    {"and", T_LAND},
    {"or", T_LOR},
    {"unless", T_LUNLESS},
    {"atan2", T_ATAN2},
    {"sum", T_SUM},
    {"avg", T_AVG},
    {"count", T_COUNT},
    {"min", T_MIN},
    {"max", T_MAX},
    {"group", T_GROUP},
    {"stddev", T_STDDEV},
    {"stdvar", T_STDVAR},
    {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK},
    {"quantile", T_QUANTILE},
    {"count_values", T_COUNT_VALUES},
    {"offset", T_OFFSET},
    {"by", T_BY},
    {"without", T_WITHOUT},
    {"on", T_ON},
    {"ignoring", T_IGNORING},
    {"group_left", T_GROUP_LEFT},
    {"group_right", T_GROUP_RIGHT},
    {"bool", T_BOOL},
    {"start", T_START},
    {"end", T_END},
    {"inf", T_NUMBER},
    {"nan", T_NUMBER},
};

void
ts__pq_lex_init(ts__pq_lexer *lx, const char *in, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->in = in;
    lx->len = len;
    lx->state = LS_STATEMENTS;
}

int32_t
ts__pq_decode_rune(const char *s, size_t n, size_t *w)
{
    const unsigned char *p = (const unsigned char *)s;
    *w = 1;
    if (n == 0)
        return EOF_RUNE;
    if (p[0] < 0x80)
        return p[0];
    int need;
    int32_t r, min;
    if ((p[0] & 0xE0) == 0xC0) {
        need = 1, r = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        need = 2, r = p[0] & 0x0F, min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        need = 3, r = p[0] & 0x07, min = 0x10000;
    } else {
        return 0xFFFD;
    }
    if ((size_t)need >= n)
        return 0xFFFD;
    for (int i = 1; i <= need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0xFFFD;
        r = (r << 6) | (p[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
        return 0xFFFD;
    *w = (size_t)need + 1;
    return r;
}

/* Approximates Go's unicode.IsPrint: ASCII graphic and space, and everything from U+00A0 on
 * apart from the soft hyphen and the replacement-free surrogate range. */
static bool
rune_printable(int32_t r)
{
    if (r < 0x80)
        return r >= 0x20 && r < 0x7F;
    return r >= 0xA0 && r != 0xAD && r <= 0x10FFFF;
}

char *
ts__pq_quote_rune(int32_t r, char *buf, size_t size)
{
    if (r < 0)
        r = 0xFFFD;
    switch (r) {
    case '\'': snprintf(buf, size, "'\\''"); return buf;
    case '\\': snprintf(buf, size, "'\\\\'"); return buf;
    case '\a': snprintf(buf, size, "'\\a'"); return buf;
    case '\b': snprintf(buf, size, "'\\b'"); return buf;
    case '\f': snprintf(buf, size, "'\\f'"); return buf;
    case '\n': snprintf(buf, size, "'\\n'"); return buf;
    case '\r': snprintf(buf, size, "'\\r'"); return buf;
    case '\t': snprintf(buf, size, "'\\t'"); return buf;
    case '\v': snprintf(buf, size, "'\\v'"); return buf;
    default: break;
    }
    if (rune_printable(r)) {
        char u[5] = {0};
        ts_str_put_utf8(u, (unsigned)r);
        snprintf(buf, size, "'%s'", u);
    } else if (r < 0x80) {
        snprintf(buf, size, "'\\x%02x'", (unsigned)r);
    } else if (r <= 0xFFFF) {
        snprintf(buf, size, "'\\u%04x'", (unsigned)r);
    } else {
        snprintf(buf, size, "'\\U%08x'", (unsigned)r);
    }
    return buf;
}

/* Go's %#U: "U+0071 'q'" (the quoted char only when printable). */
static char *
format_rune_u(int32_t r, char *buf, size_t size)
{
    if (r < 0)
        r = 0xFFFD;
    if (rune_printable(r)) {
        char u[5] = {0};
        ts_str_put_utf8(u, (unsigned)r);
        snprintf(buf, size, "U+%04X '%s'", (unsigned)r, u);
    } else {
        snprintf(buf, size, "U+%04X", (unsigned)r);
    }
    return buf;
}

/* ---- cursor helpers (as lex.go's next/backup/peek, with an explicit last width) ---------- */

typedef struct cursor {
    ts__pq_lexer *lx;
    size_t width; /* width of the last rune read, 0 at end of input */
} cursor;

static int32_t
next(cursor *c)
{
    ts__pq_lexer *lx = c->lx;
    if (lx->pos >= lx->len) {
        c->width = 0;
        return EOF_RUNE;
    }
    size_t w;
    int32_t r = ts__pq_decode_rune(lx->in + lx->pos, lx->len - lx->pos, &w);
    c->width = w;
    lx->pos += w;
    return r;
}

static void
backup(cursor *c)
{
    c->lx->pos -= c->width;
    c->width = 0;
}

static int32_t
peek(cursor *c)
{
    int32_t r = next(c);
    backup(c);
    return r;
}

static bool
accept(cursor *c, const char *valid)
{
    int32_t r = next(c);
    if (r > 0 && r < 0x80 && strchr(valid, (int)r))
        return true;
    backup(c);
    return false;
}

static void
accept_run(cursor *c, const char *valid)
{
    while (accept(c, valid))
        ;
}

static bool
is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}
static bool
is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
static bool
is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}
static bool
is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

static void
emit(ts__pq_lexer *lx, ts__pq_tok *t, ts__pq_tok_type type)
{
    t->type = type;
    t->pos = (uint32_t)lx->start;
    t->len = (uint32_t)(lx->pos - lx->start);
    lx->start = lx->pos;
}

static void errorf(ts__pq_lexer *lx, ts__pq_tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errorf(ts__pq_lexer *lx, ts__pq_tok *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err, sizeof(lx->err), fmt, ap);
    va_end(ap);
    t->type = T_ERROR;
    t->pos = (uint32_t)lx->start;
    t->len = 0;
    lx->state = LS_DONE;
}

/* Scans a number's characters; true when what follows is not alphanumeric (so it is a
 * number, not the start of a duration). */
static bool
scan_number(cursor *c)
{
    const char *digits = "0123456789";
    if (accept(c, "0") && accept(c, "xX"))
        digits = "0123456789abcdefABCDEF";
    accept_run(c, digits);
    if (accept(c, "."))
        accept_run(c, digits);
    if (accept(c, "eE")) {
        accept(c, "+-");
        accept_run(c, "0123456789");
    }
    return !is_alnum(peek(c));
}

/* After the leading digits of a duration: unit, then more <digits><unit> groups.  Leaves the
 * cursor one rune past the end (the caller backs up), as lex.go does. */
static bool
accept_remaining_duration(cursor *c)
{
    if (!accept(c, "smhdwy"))
        return false;
    accept(c, "s"); /* ms; bad combinations are caught by the duration parser */
    while (accept(c, "0123456789")) {
        while (accept(c, "0123456789"))
            ;
        if (!accept(c, "smhdw")) /* y can only come first */
            return false;
        accept(c, "s");
    }
    return !is_alnum(next(c));
}

static void
lex_escape(cursor *c, ts__pq_tok *t, int32_t quote, bool *failed)
{
    ts__pq_lexer *lx = c->lx;
    char rb[32];
    int n;
    uint32_t base, max;
    int32_t ch = next(c);
    switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\': return;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': n = 3, base = 8, max = 255; break;
    case 'x':
        ch = next(c);
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        ch = next(c);
        n = 4, base = 16, max = 0x10FFFF;
        break;
    case 'U':
        ch = next(c);
        n = 8, base = 16, max = 0x10FFFF;
        break;
    case EOF_RUNE:
        errorf(lx, t, "escape sequence not terminated");
        *failed = true;
        return;
    default:
        if (ch == quote)
            return;
        errorf(lx, t, "unknown escape sequence %s", format_rune_u(ch, rb, sizeof(rb)));
        *failed = true;
        return;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = 16;
        if (ch >= '0' && ch <= '9')
            d = (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (uint32_t)(ch - 'A' + 10);
        if (d >= base) {
            if (ch == EOF_RUNE)
                errorf(lx, t, "escape sequence not terminated");
            else
                errorf(lx, t, "illegal character %s in escape sequence",
                       format_rune_u(ch, rb, sizeof(rb)));
            *failed = true;
            return;
        }
        x = x * base + d;
        n--;
        if (n > 0)
            ch = next(c);
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) {
        errorf(lx, t, "escape sequence is an invalid Unicode code point");
        *failed = true;
    }
}

/* A quoted string; the opening quote has been read. */
static void
lex_string(cursor *c, ts__pq_tok *t, int32_t quote)
{
    ts__pq_lexer *lx = c->lx;
    for (;;) {
        int32_t r = next(c);
        if (r == '\\') {
            bool failed = false;
            lex_escape(c, t, quote, &failed);
            if (failed)
                return;
        } else if (r == 0xFFFD) {
            errorf(lx, t, "invalid UTF-8 rune");
            return;
        } else if (r == EOF_RUNE || r == '\n') {
            errorf(lx, t, "unterminated quoted string");
            return;
        } else if (r == quote) {
            break;
        }
    }
    emit(lx, t, T_STRING);
}

static void
lex_raw_string(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    for (;;) {
        int32_t r = next(c);
        if (r == 0xFFFD) {
            errorf(lx, t, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_RUNE) {
            errorf(lx, t, "unterminated raw string");
            return;
        }
        if (r == '`')
            break;
    }
    emit(lx, t, T_STRING);
}

static void
lex_comment(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    lx->pos++; /* '#' */
    while (lx->pos < lx->len && lx->in[lx->pos] != '\n' && lx->in[lx->pos] != '\r')
        lx->pos++;
    emit(lx, t, T_COMMENT);
}

static void
lex_keyword_or_identifier(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    for (;;) {
        int32_t r = next(c);
        if (!(is_alnum(r) || r == ':')) {
            backup(c);
            break;
        }
    }
    const char *w = lx->in + lx->start;
    size_t n = lx->pos - lx->start;
    for (size_t i = 0; i < sizeof(kw_table) / sizeof(kw_table[0]); i++) {
        if (strlen(kw_table[i].word) == n && strncasecmp(kw_table[i].word, w, n) == 0) {
            emit(lx, t, kw_table[i].type);
            return;
        }
    }
    emit(lx, t, memchr(w, ':', n) ? T_METRIC_IDENT : T_IDENT);
}

static void
lex_number_or_duration(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    if (scan_number(c)) {
        emit(lx, t, T_NUMBER);
        return;
    }
    if (accept_remaining_duration(c)) {
        backup(c);
        emit(lx, t, T_DURATION);
        return;
    }
    errorf(lx, t, "bad number or duration syntax: \"%.*s\"", (int)(lx->pos - lx->start),
           lx->in + lx->start);
}

static void
lex_duration(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    lx->state = LS_STATEMENTS;
    if (scan_number(c)) {
        errorf(lx, t, "missing unit character in duration");
        return;
    }
    if (!accept_remaining_duration(c)) {
        errorf(lx, t, "bad duration syntax: \"%.*s\"", (int)(lx->pos - lx->start),
               lx->in + lx->start);
        return;
    }
    backup(c);
    emit(lx, t, T_DURATION);
}

/* One step inside braces; returns true when a token was produced. */
static bool
lex_inside_braces(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    char rb[32];
    if (lx->pos < lx->len && lx->in[lx->pos] == '#') {
        lex_comment(c, t);
        return true;
    }
    int32_t r = next(c);
    if (r == EOF_RUNE) {
        errorf(lx, t, "unexpected end of input inside braces");
    } else if (is_space(r)) {
        lx->start = lx->pos;
        return false;
    } else if (is_alpha(r)) {
        while (is_alnum(next(c)))
            ;
        backup(c);
        emit(lx, t, T_IDENT);
    } else if (r == ',') {
        emit(lx, t, T_COMMA);
    } else if (r == '"' || r == '\'') {
        lex_string(c, t, r);
    } else if (r == '`') {
        lex_raw_string(c, t);
    } else if (r == '=') {
        if (next(c) == '~') {
            emit(lx, t, T_EQL_REGEX);
        } else {
            backup(c);
            emit(lx, t, T_EQL);
        }
    } else if (r == '!') {
        int32_t nr = next(c);
        if (nr == '~')
            emit(lx, t, T_NEQ_REGEX);
        else if (nr == '=')
            emit(lx, t, T_NEQ);
        else
            errorf(lx, t, "unexpected character after '!' inside braces: %s",
                   ts__pq_quote_rune(nr, rb, sizeof(rb)));
    } else if (r == '{') {
        errorf(lx, t, "unexpected left brace %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
    } else if (r == '}') {
        emit(lx, t, T_RBRACE);
        lx->state = LS_STATEMENTS;
    } else {
        errorf(lx, t, "unexpected character inside braces: %s",
               ts__pq_quote_rune(r, rb, sizeof(rb)));
    }
    return true;
}

/* One step at the top level; returns true when a token was produced. */
static bool
lex_statements(cursor *c, ts__pq_tok *t)
{
    ts__pq_lexer *lx = c->lx;
    char rb[32];
    if (lx->pos < lx->len && lx->in[lx->pos] == '#') {
        lex_comment(c, t);
        return true;
    }
    int32_t r = next(c);
    switch (r) {
    case EOF_RUNE:
        if (lx->paren_depth != 0) {
            errorf(lx, t, "unclosed left parenthesis");
        } else if (lx->bracket_open) {
            errorf(lx, t, "unclosed left bracket");
        } else {
            emit(lx, t, T_EOF);
            lx->state = LS_DONE;
        }
        return true;
    case ',': emit(lx, t, T_COMMA); return true;
    case '*': emit(lx, t, T_MUL); return true;
    case '/': emit(lx, t, T_DIV); return true;
    case '%': emit(lx, t, T_MOD); return true;
    case '+': emit(lx, t, T_ADD); return true;
    case '-': emit(lx, t, T_SUB); return true;
    case '^': emit(lx, t, T_POW); return true;
    case '@': emit(lx, t, T_AT); return true;
    case '=': {
        int32_t n = peek(c);
        if (n == '=') {
            next(c);
            emit(lx, t, T_EQLC);
        } else if (n == '~') {
            errorf(lx, t, "unexpected character after '=': %s",
                   ts__pq_quote_rune(n, rb, sizeof(rb)));
        } else {
            emit(lx, t, T_EQL);
        }
        return true;
    }
    case '!': {
        int32_t n = next(c);
        if (n != '=')
            errorf(lx, t, "unexpected character after '!': %s",
                   ts__pq_quote_rune(n, rb, sizeof(rb)));
        else
            emit(lx, t, T_NEQ);
        return true;
    }
    case '<':
        if (peek(c) == '=') {
            next(c);
            emit(lx, t, T_LTE);
        } else {
            emit(lx, t, T_LSS);
        }
        return true;
    case '>':
        if (peek(c) == '=') {
            next(c);
            emit(lx, t, T_GTE);
        } else {
            emit(lx, t, T_GTR);
        }
        return true;
    case '"':
    case '\'': lex_string(c, t, r); return true;
    case '`': lex_raw_string(c, t); return true;
    case '(':
        emit(lx, t, T_LPAREN);
        lx->paren_depth++;
        return true;
    case ')':
        if (lx->paren_depth <= 0) {
            /* lex.go emits the ')' and fails on the next call; the parser sees the error
             * right after the parenthesis, so report it there. */
            lx->start = lx->pos;
            errorf(lx, t, "unexpected right parenthesis %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
            return true;
        }
        emit(lx, t, T_RPAREN);
        lx->paren_depth--;
        return true;
    case '{':
        emit(lx, t, T_LBRACE);
        lx->state = LS_BRACES;
        return true;
    case '[':
        if (lx->bracket_open) {
            errorf(lx, t, "unexpected left bracket %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
            return true;
        }
        lx->got_colon = false;
        emit(lx, t, T_LBRACKET);
        while (is_space(peek(c)))
            next(c);
        lx->start = lx->pos;
        lx->bracket_open = true;
        lx->state = LS_DURATION;
        return true;
    case ']':
        if (!lx->bracket_open) {
            errorf(lx, t, "unexpected right bracket %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
            return true;
        }
        emit(lx, t, T_RBRACKET);
        lx->bracket_open = false;
        return true;
    default: break;
    }
    if (is_space(r)) {
        lx->start = lx->pos;
        return false;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(c)))) {
        lx->pos = lx->start; /* unread r (peek() spent the one-rune backup) */
        lex_number_or_duration(c, t);
        return true;
    }
    if (is_alpha(r) || r == ':') {
        if (!lx->bracket_open) {
            lx->pos = lx->start;
            lex_keyword_or_identifier(c, t);
            return true;
        }
        if (lx->got_colon) {
            errorf(lx, t, "unexpected colon %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
            return true;
        }
        emit(lx, t, T_COLON);
        lx->got_colon = true;
        return true;
    }
    errorf(lx, t, "unexpected character: %s", ts__pq_quote_rune(r, rb, sizeof(rb)));
    return true;
}

void
ts__pq_lex_next(ts__pq_lexer *lx, ts__pq_tok *t)
{
    cursor c = {lx, 0};
    for (;;) {
        lx->start = lx->pos;
        switch (lx->state) {
        case LS_DONE:
            t->type = T_EOF;
            t->pos = (uint32_t)lx->len;
            t->len = 0;
            return;
        case LS_DURATION: lex_duration(&c, t); return;
        case LS_BRACES:
            if (lex_inside_braces(&c, t))
                return;
            break;
        case LS_STATEMENTS:
            if (lex_statements(&c, t))
                return;
            break;
        }
    }
}
