/*
 * PromQL lexer (internal to pkg/promql/parser).
 *
 * Turns query text into tokens on demand.  Like Prometheus' promql/parser/lex.go it is a state
 * machine whose state depends on context: inside `{...}` keywords are plain identifiers and
 * only matcher operators are recognised; right after `[` a duration is expected; inside `[...]`
 * letters and `:` lex as the subquery colon.  Lexical errors come back as a T_ERROR token whose
 * message is in lx->err (the texts match Prometheus', e.g. "unclosed left parenthesis"); after
 * an error or the end of input every further call returns T_EOF.
 */
#ifndef TS_PROMQL_PARSER_LEX_H
#define TS_PROMQL_PARSER_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ts__pq_tok_type {
    T_EOF = 0,
    T_ERROR,
    T_COMMENT,
    T_IDENT,        /* foo (no colon) */
    T_METRIC_IDENT, /* foo:bar */
    T_NUMBER,       /* 1, 1.5e3, 0x1f, Inf, NaN */
    T_DURATION,     /* 5m, 1h30m */
    T_STRING,       /* "..." '...' `...` (quotes included) */
    /* punctuation */
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_EQL, /* = (matchers) */
    T_COLON,
    /* operators */
    T_OPS_START_,
    T_SUB,
    T_ADD,
    T_MUL,
    T_MOD,
    T_DIV,
    T_LAND,
    T_LOR,
    T_LUNLESS,
    T_EQLC, /* == */
    T_NEQ,
    T_LTE,
    T_LSS,
    T_GTE,
    T_GTR,
    T_EQL_REGEX,
    T_NEQ_REGEX,
    T_POW,
    T_ATAN2,
    T_AT,
    T_OPS_END_,
    /* aggregators (same order as ts_promql_agg_op) */
    T_AGG_START_,
    T_SUM,
    T_AVG,
    T_COUNT,
    T_MIN,
    T_MAX,
    T_GROUP,
    T_STDDEV,
    T_STDVAR,
    T_TOPK,
    T_BOTTOMK,
    T_QUANTILE,
    T_COUNT_VALUES,
    T_AGG_END_,
    /* keywords */
    T_KW_START_,
    T_BOOL,
    T_BY,
    T_GROUP_LEFT,
    T_GROUP_RIGHT,
    T_IGNORING,
    T_OFFSET,
    T_ON,
    T_WITHOUT,
    T_KW_END_,
    /* @ modifier preprocessors */
    T_START,
    T_END,
} ts__pq_tok_type;

typedef struct ts__pq_tok {
    ts__pq_tok_type type;
    uint32_t pos; /* byte offset of the first character */
    uint32_t len; /* byte length of the token text */
} ts__pq_tok;

typedef enum ts__pq_lex_state {
    LS_STATEMENTS = 0, /* top level */
    LS_BRACES,         /* inside {...} */
    LS_DURATION,       /* right after [ */
    LS_DONE,           /* after EOF or an error */
} ts__pq_lex_state;

typedef struct ts__pq_lexer {
    const char *in;
    size_t len;
    size_t pos;   /* next unread byte */
    size_t start; /* start of the token being scanned */
    ts__pq_lex_state state;
    int paren_depth;
    bool bracket_open;
    bool got_colon;
    char err[160]; /* message of the last T_ERROR */
} ts__pq_lexer;

void ts__pq_lex_init(ts__pq_lexer *lx, const char *in, size_t len);
/* Scans the next token (comments are returned as T_COMMENT). */
void ts__pq_lex_next(ts__pq_lexer *lx, ts__pq_tok *t);

/* Formats a rune the way Go's %q does ('a', '\n', '\x00', 'é'); returns buf. */
char *ts__pq_quote_rune(int32_t r, char *buf, size_t size);
/* Decodes one UTF-8 rune from s (n bytes available); *w gets its width (>= 1).  Invalid bytes
 * give 0xFFFD with width 1. */
int32_t ts__pq_decode_rune(const char *s, size_t n, size_t *w);

#endif
