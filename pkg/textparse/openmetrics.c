/*
 * OpenMetrics 1.0 text format (Prometheus' openmetricsparse.go).
 *
 * One entry per line, every line ending in '\n', exactly one space between
 * tokens, no blank lines, no leading or trailing whitespace:
 *
 *   # HELP <metric> <text>     text unescapes \\ \" \n (may be empty)
 *   # TYPE <metric> <type>     counter|gauge|histogram|gaugehistogram|
 *                              summary|info|stateset|unknown
 *   # UNIT <metric> <unit>     the unit must be a "_<unit>" suffix of the name
 *   <metric>[{l="v",...}] <value>[ <timestamp>][ # {l="v",...} <value>[ <timestamp>]]
 *   # EOF                      required; nothing may follow it
 *
 * Timestamps are float seconds, converted to ms as Prometheus does
 * (int64(ts*1000), truncating); NaN and infinite timestamps are rejected, and
 * so (unlike Go, where the conversion would silently wrap) are timestamps
 * outside the int64 millisecond range.  Exemplars are only allowed on
 * metrics named *_total or *_bucket; they are validated and dropped.
 * Any other "#" line is an error (there are no comments in OpenMetrics).
 * Label sets are strict: no spaces, no trailing comma; "{}" is allowed.
 */
#include <math.h>
#include <stdio.h>

#include "pkg/textparse/internal.h"

static bool
starts(const ts__tp_cur *c, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(c->e - c->p) >= n && memcmp(c->p, w, n) == 0;
}

static bool
ends_with(ts_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.p + s.len - n, suffix, n) == 0;
}

static ts_tp_entry
float_error(ts_textparse *p, ts_str v, const char *why)
{
    char q[80];
    if (why[0] == 'u')
        return ts__tp_fail(p, "%s", why);
    ts__tp_quote(q, sizeof(q), v.p, v.len, 40);
    return ts__tp_fail(p, "strconv.ParseFloat: parsing %s: %s", q, why);
}

/* A float seconds timestamp -> ms; -1 on a bad one (error set). */
static int
parse_ts(ts_textparse *p, ts_str t, int64_t *ms, const char *invalid)
{
    double f;
    const char *why;
    if (ts__tp_parse_float(t, &f, &why) != 0) {
        float_error(p, t, why);
        return -1;
    }
    /* 9.2e15 s is the int64 ms limit; past it the conversion is undefined in C */
    if (isnan(f) || isinf(f) || fabs(f) >= 9.2e15) {
        ts__tp_fail(p, "%s", invalid);
        return -1;
    }
    *ms = (int64_t)(f * 1000.0);
    return 0;
}

static ts_tp_entry
parse_meta(ts_textparse *p, ts__tp_cur *c)
{
    char kind[5];
    memcpy(kind, c->p + 2, 4);
    kind[4] = '\0';
    c->p += 7; /* "# HELP " */
    if (!ts__tp_metric_name(c, &p->mname)) {
        char what[40];
        snprintf(what, sizeof(what), "expected metric name after %s", kind);
        return ts__tp_fail_got(p, c, what);
    }
    if (c->p >= c->e || *c->p != ' ')
        return ts__tp_fail(p, "expected text in %s", kind);
    c->p++;
    ts_str text = {c->p, (size_t)(c->e - c->p)};
    char q[80], q2[80];
    if (kind[0] == 'H') {
        if (!ts__tp_utf8_valid(text.p, text.len)) {
            ts__tp_quote(q, sizeof(q), text.p, text.len, 32);
            return ts__tp_fail(p, "help text %s is not a valid utf8 string", q);
        }
        p->text = ts__tp_unescape(p, text, true);
        return TS_TP_HELP;
    }
    if (kind[0] == 'U') {
        if (text.len > 0) {
            ts_str m = p->mname;
            if (!(m.len > text.len && m.p[m.len - text.len - 1] == '_' &&
                  memcmp(m.p + m.len - text.len, text.p, text.len) == 0)) {
                ts__tp_quote(q, sizeof(q), text.p, text.len, 32);
                ts__tp_quote(q2, sizeof(q2), m.p, m.len, 32);
                return ts__tp_fail(p, "unit %s not a suffix of metric %s", q, q2);
            }
        }
        p->text = text;
        return TS_TP_UNIT;
    }
    static const struct {
        const char *name;
        ts_metric_type t;
    } types[] = {{"counter", TS_MT_COUNTER},     {"gauge", TS_MT_GAUGE},
                 {"histogram", TS_MT_HISTOGRAM}, {"gaugehistogram", TS_MT_GAUGEHISTOGRAM},
                 {"summary", TS_MT_SUMMARY},     {"info", TS_MT_INFO},
                 {"stateset", TS_MT_STATESET},   {"unknown", TS_MT_UNKNOWN}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (ts_str_eqc(text, types[i].name)) {
            p->mtype = types[i].t;
            p->text = text;
            return TS_TP_TYPE;
        }
    ts__tp_quote(q, sizeof(q), text.p, text.len, 32);
    return ts__tp_fail(p, "invalid metric type %s", q);
}

/* " # {labels} value[ ts]" with c at '#'. */
static ts_tp_entry
parse_exemplar(ts_textparse *p, ts__tp_cur *c)
{
    c->p += 2;
    if (c->p >= c->e || *c->p != '{')
        return ts__tp_fail_got(p, c, "expected next entry after timestamp");
    if (!ends_with(p->mname, "_total") && !ends_with(p->mname, "_bucket"))
        return ts__tp_fail(p, "metric name %.*s does not support exemplars",
                           (int)(p->mname.len < 64 ? p->mname.len : 64), p->mname.p);
    if (ts__tp_labels(p, c, false, true) == TS_TP_ERROR)
        return TS_TP_ERROR;
    if (c->p >= c->e || *c->p != ' ')
        return ts__tp_fail_got(p, c, "expected value after exemplar labels");
    c->p++;
    ts_str v = ts__tp_word(c);
    double ev;
    const char *why;
    if (v.len == 0)
        return ts__tp_fail_got(p, c, "expected value after exemplar labels");
    if (ts__tp_parse_float(v, &ev, &why) != 0)
        return float_error(p, v, why);
    if (c->p < c->e && *c->p == ' ') {
        c->p++;
        int64_t ets;
        if (parse_ts(p, ts__tp_word(c), &ets, "invalid exemplar timestamp") != 0)
            return TS_TP_ERROR;
    }
    if (c->p < c->e)
        return ts__tp_fail_got(p, c, "expected next entry after exemplar timestamp");
    p->has_exemplar = true;
    return TS_TP_SERIES;
}

static ts_tp_entry
parse_series(ts_textparse *p, ts__tp_cur *c)
{
    if (!ts__tp_metric_name(c, &p->mname))
        return ts__tp_fail_got(p, c, "expected a valid start token");
    if (c->p < c->e && *c->p == '{' && ts__tp_labels(p, c, false, false) == TS_TP_ERROR)
        return TS_TP_ERROR;
    p->series = (ts_str){p->mname.p, (size_t)(c->p - p->mname.p)};
    if (c->p >= c->e || *c->p != ' ')
        return ts__tp_fail_got(p, c, "expected value after metric");
    c->p++;
    ts_str v = ts__tp_word(c);
    if (v.len == 0)
        return ts__tp_fail_got(p, c, "expected value after metric");
    const char *why;
    if (ts__tp_parse_float(v, &p->value, &why) != 0)
        return float_error(p, v, why);
    if (c->p < c->e) {
        if (*c->p != ' ')
            return ts__tp_fail_got(p, c, "expected timestamp or # symbol");
        c->p++;
        if (starts(c, "# ")) {
            if (parse_exemplar(p, c) == TS_TP_ERROR)
                return TS_TP_ERROR;
        } else {
            ts_str t = ts__tp_word(c);
            if (t.len == 0)
                return ts__tp_fail_got(p, c, "expected timestamp or # symbol");
            if (parse_ts(p, t, &p->ts, "invalid timestamp") != 0)
                return TS_TP_ERROR;
            p->has_ts = true;
            if (c->p < c->e) {
                if (!starts(c, " # "))
                    return ts__tp_fail_got(p, c, "expected next entry after timestamp");
                c->p++;
                if (parse_exemplar(p, c) == TS_TP_ERROR)
                    return TS_TP_ERROR;
            }
        }
    }
    return ts__tp_check_dup_labels(p);
}

ts_tp_entry
ts__tp_openmetrics_next(ts_textparse *p)
{
    ts__tp_cur c;
    bool terminated;
    int r = ts__tp_fetch_line(p, &c, &terminated);
    if (r < 0)
        return TS_TP_ERROR;
    if (r == 0) {
        p->lineno++;
        return ts__tp_fail(p, "data does not end with # EOF");
    }
    if (starts(&c, "# EOF")) {
        if (c.e - c.p != 5 || p->pos < p->len) {
            if (c.e - c.p == 5)
                p->lineno++;
            return ts__tp_fail(p, "unexpected data after # EOF");
        }
        p->seen_eof = true;
        return TS_TP_EOF;
    }
    if (!terminated)
        return ts__tp_fail(p, "data does not end with # EOF");
    if (starts(&c, "# HELP ") || starts(&c, "# TYPE ") || starts(&c, "# UNIT "))
        return parse_meta(p, &c);
    return parse_series(p, &c);
}
