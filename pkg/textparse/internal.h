/*
 * Internals shared by textparse.c (the handle, dispatch), promtext.c and
 * openmetrics.c (one line parser per format) and lex.c (what both formats
 * share: lines, errors, tokens, labels, numbers).  Files depend in one
 * direction: textparse.c -> promtext.c, openmetrics.c -> lex.c.
 *
 * Both formats are line-oriented (a raw newline can never appear inside a
 * token: label values and help text escape it as \n), so the parser first
 * cuts the next line out of the buffer (bounded by max_line, NUL-free), then
 * parses it with a cursor that never leaves [line, line end).  Unescaped
 * strings never grow, so reserving the line's length in the scratch buffer
 * before parsing a line means the scratch never moves while slices into it
 * are handed out.
 */
#ifndef TS_TEXTPARSE_INTERNAL_H
#define TS_TEXTPARSE_INTERNAL_H

#include "pkg/textparse/textparse.h"

struct ts_textparse {
    ts_tp_format format;
    const char *buf;
    size_t len, pos; /* pos: start of the next unread line */
    size_t max_line;
    int lineno; /* line number of the line being parsed (1-based) */
    bool failed, done;
    bool seen_eof; /* OpenMetrics "# EOF" */

    /* the current entry */
    ts_str mname;
    ts_str series; /* raw name + label set */
    ts_tp_label *labels;
    size_t nlabels, caplabels;
    double value;
    int64_t ts;
    bool has_ts, has_exemplar;
    ts_metric_type mtype;
    ts_str text;

    /* Lazy labels (ts_textparse_set_lazy_labels, text format only): next()
     * only finds the extent of the label set; labels_pending says its
     * labels are still to be parsed, from lbrace ('{') within the line
     * [lline, lend). */
    bool lazy, labels_pending;
    const char *lline, *lbrace, *lend;

    char *scratch; /* unescaped strings of the current line */
    size_t scratch_len, scratch_cap;

    ts_error err;
};

/* ---- lex.c ---- */

/* A cursor over one line [p, e). */
typedef struct ts__tp_cur {
    const char *line; /* start of the line, for error context */
    const char *p, *e;
} ts__tp_cur;

/* Line fetching.  Returns 1 with the line in *cur (newline excluded;
 * *terminated says whether a '\n' ended it), 0 at end of input, or -1 on
 * error (too long, NUL byte; p->err set). */
int ts__tp_fetch_line(ts_textparse *p, ts__tp_cur *cur, bool *terminated);

/* Sets the error (TS_EPARSE, current line) and returns TS_TP_ERROR. */
ts_tp_entry ts__tp_fail(ts_textparse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* As fail, formatted as Prometheus does:
 * "<what>, got \"<tok>\" while parsing: \"<line up to here>\"". */
ts_tp_entry ts__tp_fail_got(ts_textparse *p, const ts__tp_cur *c, const char *what);
/* Quotes s into out (Go %q-like, truncated with "..." past max bytes). */
void ts__tp_quote(char *out, size_t outsize, const char *s, size_t n, size_t max);

/* Token helpers. */
bool ts__tp_is_name_start(int c);
bool ts__tp_is_name_char(int c);
/* Metric name [a-zA-Z_:][a-zA-Z0-9_:]*; returns false when none is there. */
bool ts__tp_metric_name(ts__tp_cur *c, ts_str *out);
/* Label name [a-zA-Z_][a-zA-Z0-9_]*. */
bool ts__tp_label_name(ts__tp_cur *c, ts_str *out);
/* A non-empty run of bytes up to a space, tab or the end of the line. */
ts_str ts__tp_word(ts__tp_cur *c);

/* Parses a "{...}" label set starting at '{'.  lenient: text-format rules
 * (whitespace between tokens, a trailing comma); otherwise OpenMetrics' strict
 * ones.  Appends to p->labels (exemplar=false) or just validates
 * (exemplar=true).  Returns TS_TP_SERIES on success, TS_TP_ERROR on failure. */
ts_tp_entry ts__tp_labels(ts_textparse *p, ts__tp_cur *c, bool lenient, bool exemplar);
/* Checks p->labels for a repeated name (and for __name__, which the metric
 * name already sets). */
ts_tp_entry ts__tp_check_dup_labels(ts_textparse *p);

/* Unescapes s into the scratch buffer (reserved for the line) if it holds a
 * backslash; quote_too: also \" (label values, OpenMetrics help). */
ts_str ts__tp_unescape(ts_textparse *p, ts_str s, bool quote_too);
void ts__tp_scratch_reserve(ts_textparse *p, size_t n);

/* Go's strconv.ParseFloat restricted as Prometheus does (no hex, no '_').
 * Returns 0, or -1 with *why ("invalid syntax", "value out of range",
 * "unsupported character in float"). */
int ts__tp_parse_float(ts_str s, double *out, const char **why);
/* strconv.ParseInt(s, 10, 64). */
int ts__tp_parse_int(ts_str s, int64_t *out, const char **why);
bool ts__tp_utf8_valid(const char *s, size_t n);

/* ---- promtext.c, openmetrics.c ---- */

/* Per-format line parsers: they fetch lines themselves. */
ts_tp_entry ts__tp_promtext_next(ts_textparse *p);
ts_tp_entry ts__tp_openmetrics_next(ts_textparse *p);

#endif
