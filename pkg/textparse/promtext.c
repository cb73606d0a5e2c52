/*
 * The Prometheus text exposition format 0.0.4 (Prometheus' promparse.go).
 *
 * One entry per line:
 *
 *   # HELP <metric> <text>          help; text unescapes \\ and \n
 *   # TYPE <metric> <type>          counter|gauge|histogram|summary|untyped
 *   # <anything else>               a comment
 *   <metric>[{l="v",...}] <value> [<timestamp ms>]
 *   (blank or whitespace-only)      skipped
 *
 * The format is lenient where Prometheus 2.42 is (checked by scraping
 * edge cases with it): spaces or tabs, one or more, separate tokens (also
 * inside the braces), comment lines may be indented, lines may end with
 * whitespace, a trailing comma may close a label set, blank and
 * whitespace-only lines are skipped, and the last line needs no newline.
 * A sample line may not be indented (Prometheus takes the whitespace into the
 * name and rejects it).  Values use Go's float syntax (Inf, -Inf, NaN, 1e-3,
 * ...); timestamps are unsigned integer milliseconds (no sign).  HELP without
 * text is an empty help; TYPE without text is an invalid type "".  Unlike
 * Prometheus, a NUL byte anywhere is an error.  There is no end marker.
 */
#include <stdio.h>

#include "pkg/textparse/internal.h"

static void
skip_ws(ts__tp_cur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool
at_word(ts__tp_cur *c, const char *w, size_t n)
{
    return (size_t)(c->e - c->p) >= n && memcmp(c->p, w, n) == 0 &&
           (c->p + n == c->e || c->p[n] == ' ' || c->p[n] == '\t');
}

static ts_tp_entry
parse_meta(ts_textparse *p, ts__tp_cur *c, bool help)
{
    const char *kind = help ? "HELP" : "TYPE";
    c->p += 4;
    skip_ws(c);
    if (!ts__tp_metric_name(c, &p->mname)) {
        char what[40];
        snprintf(what, sizeof(what), "expected metric name after %s", kind);
        return ts__tp_fail_got(p, c, what);
    }
    ts_str text = {c->p, 0};
    if (c->p < c->e) {
        if (*c->p != ' ' && *c->p != '\t')
            return ts__tp_fail(p, "expected text in %s", kind);
        c->p++; /* one separator; the rest of the line is the text */
        text = (ts_str){c->p, (size_t)(c->e - c->p)};
    }
    if (help) {
        if (!ts__tp_utf8_valid(text.p, text.len)) {
            char q[80];
            ts__tp_quote(q, sizeof(q), text.p, text.len, 32);
            return ts__tp_fail(p, "help text %s is not a valid utf8 string", q);
        }
        p->text = ts__tp_unescape(p, text, false);
        return TS_TP_HELP;
    }
    static const struct {
        const char *name;
        ts_metric_type t;
    } types[] = {{"counter", TS_MT_COUNTER},
                 {"gauge", TS_MT_GAUGE},
                 {"histogram", TS_MT_HISTOGRAM},
                 {"summary", TS_MT_SUMMARY},
                 {"untyped", TS_MT_UNKNOWN}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (ts_str_eqc(text, types[i].name)) {
            p->mtype = types[i].t;
            p->text = text;
            return TS_TP_TYPE;
        }
    char q[80];
    ts__tp_quote(q, sizeof(q), text.p, text.len, 32);
    return ts__tp_fail(p, "invalid metric type %s", q);
}

/* Lazy labels: moves c past the label set at '{' without parsing it: to
 * just after the first '}' outside a quoted value (a backslash in a value
 * escapes the next byte, as in ts__tp_labels).  For a valid label set that
 * is where ts__tp_labels ends too.  False (c unchanged) when the line has no
 * such '}'. */
static bool
skip_label_set(ts__tp_cur *c)
{
    bool quoted = false;
    for (const char *q = c->p + 1; q < c->e; q++) {
        if (quoted) {
            if (*q == '\\' && q + 1 < c->e)
                q++;
            else if (*q == '"')
                quoted = false;
        } else if (*q == '"') {
            quoted = true;
        } else if (*q == '}') {
            c->p = q + 1;
            return true;
        }
    }
    return false;
}

static ts_tp_entry parse_value(ts_textparse *p, ts__tp_cur *c);

static ts_tp_entry
parse_series(ts_textparse *p, ts__tp_cur *c)
{
    if (!ts__tp_metric_name(c, &p->mname))
        return ts__tp_fail_got(p, c, "expected a valid start token");
    skip_ws(c);
    if (c->p < c->e && *c->p == '{') {
        const char *brace = c->p;
        if (p->lazy && skip_label_set(c)) {
            p->labels_pending = true;
            p->lline = c->line;
            p->lbrace = brace;
            p->lend = c->e;
        } else if (ts__tp_labels(p, c, true, false) == TS_TP_ERROR) {
            return TS_TP_ERROR;
        }
        skip_ws(c);
    }
    ts_tp_entry e = parse_value(p, c);
    if (e == TS_TP_ERROR && p->labels_pending) {
        /* eager parsing would have failed on the label syntax first (but
         * checks for repeated names only after the value) */
        ts_error verr = p->err;
        p->labels_pending = false;
        ts__tp_cur lc = {p->lline, p->lbrace, p->lend};
        if (ts__tp_labels(p, &lc, true, false) != TS_TP_ERROR)
            p->err = verr;
        return TS_TP_ERROR;
    }
    if (e == TS_TP_ERROR || p->labels_pending)
        return e; /* pending: ts_textparse_parse_labels checks duplicates */
    return ts__tp_check_dup_labels(p);
}

/* The rest of a sample line after the series: value, optional timestamp. */
static ts_tp_entry
parse_value(ts_textparse *p, ts__tp_cur *c)
{
    /* the series text ends before the whitespace that precedes the value */
    const char *end = c->p;
    while (end > p->mname.p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    p->series = (ts_str){p->mname.p, (size_t)(end - p->mname.p)};
    ts_str v = ts__tp_word(c);
    if (v.len == 0)
        return ts__tp_fail_got(p, c, "expected value after metric");
    const char *why;
    char q[80];
    if (ts__tp_parse_float(v, &p->value, &why) != 0) {
        ts__tp_quote(q, sizeof(q), v.p, v.len, 40);
        if (why[0] == 'u')
            return ts__tp_fail(p, "%s", why);
        return ts__tp_fail(p, "strconv.ParseFloat: parsing %s: %s", q, why);
    }
    skip_ws(c);
    if (c->p < c->e) {
        /* a timestamp is unsigned digits (Prometheus' lexer: no sign, no dot) */
        const char *ts = c->p;
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9')
            c->p++;
        if (c->p == ts)
            return ts__tp_fail_got(p, c, "expected timestamp or new record");
        if (c->p < c->e && *c->p != ' ' && *c->p != '\t')
            return ts__tp_fail_got(p, c, "expected next entry after timestamp");
        ts_str t = {ts, (size_t)(c->p - ts)};
        if (ts__tp_parse_int(t, &p->ts, &why) != 0) {
            ts__tp_quote(q, sizeof(q), t.p, t.len, 40);
            return ts__tp_fail(p, "strconv.ParseInt: parsing %s: %s", q, why);
        }
        p->has_ts = true;
        skip_ws(c);
        if (c->p < c->e)
            return ts__tp_fail_got(p, c, "expected next entry after timestamp");
    }
    return TS_TP_SERIES;
}

ts_tp_entry
ts__tp_promtext_next(ts_textparse *p)
{
    for (;;) {
        ts__tp_cur c;
        bool terminated;
        int r = ts__tp_fetch_line(p, &c, &terminated);
        if (r == 0)
            return TS_TP_EOF;
        if (r < 0)
            return TS_TP_ERROR;
        const char *line = c.p;
        skip_ws(&c);
        if (c.p == c.e)
            continue; /* blank line */
        if (*c.p != '#') {
            /* Prometheus takes the whitespace into the metric name and then
             * rejects the sample; say so directly */
            if (c.p > line)
                return ts__tp_fail(p, "invalid metric name: whitespace before the metric name");
            return parse_series(p, &c);
        }
        c.p++;
        const char *after_hash = c.p;
        skip_ws(&c);
        if (c.p > after_hash && at_word(&c, "HELP", 4))
            return parse_meta(p, &c, true);
        if (c.p > after_hash && at_word(&c, "TYPE", 4))
            return parse_meta(p, &c, false);
        p->text = (ts_str){c.p, (size_t)(c.e - c.p)};
        return TS_TP_COMMENT;
    }
}
