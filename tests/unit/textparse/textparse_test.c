/*
 * Tests for pkg/textparse: each case parses an input to the end and compares
 * a dump of every entry (or the error with its line) with the expected text.
 *
 * Dump lines:  S name{l="v",...} value [@ts] [ex]   series
 *              T name type / H name "help" / U name "unit" / C "comment"
 *              EOF / ERR <line>: <message>
 */
#include "pkg/textparse/internal.h"
#include "pkg/textparse/textparse.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <stdarg.h>

static char dumpbuf[8192];
/* dumpn in lazy-labels mode: labels parsed on request, before each dump */
static bool lazy_dump;

static void
app(size_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (*o < sizeof(dumpbuf))
        *o += (size_t)vsnprintf(dumpbuf + *o, sizeof(dumpbuf) - *o, fmt, ap);
    va_end(ap);
}

static void
fmt_value(char *out, size_t n, double v)
{
    if (isnan(v)) {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        snprintf(out, n, bits == 0x7ff8000000000001ULL ? "NaN" : "NaN(other)");
    } else {
        snprintf(out, n, "%.17g", v);
    }
}

/* Parses buf[0..len) and returns the dump (static buffer). */
static const char *
dumpn(ts_tp_format f, const char *buf, size_t len, size_t max_line)
{
    ts_textparse *p;
    ts_textparse_opts o = {.max_line = max_line};
    size_t off = 0;
    dumpbuf[0] = '\0';
    if (ts_textparse_new(&p, f, buf, len, &o) != 0)
        return "new failed";
    ts_textparse_set_lazy_labels(p, lazy_dump);
    for (int guard = 0; guard < 1000; guard++) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_SERIES && lazy_dump)
            e = ts_textparse_parse_labels(p);
        if (off)
            app(&off, "\n");
        char q[256], v[64];
        ts_str s;
        switch (e) {
        case TS_TP_EOF:
            app(&off, "EOF");
            /* further calls keep returning EOF */
            if (ts_textparse_next(p) != TS_TP_EOF)
                app(&off, " (not sticky)");
            ts_textparse_free(p);
            return dumpbuf;
        case TS_TP_ERROR:
            app(&off, "ERR %d: %s", ts_textparse_error(p)->line, ts_textparse_error(p)->msg);
            if (ts_textparse_next(p) != TS_TP_ERROR)
                app(&off, " (not sticky)");
            ts_textparse_free(p);
            return dumpbuf;
        case TS_TP_SERIES: {
            s = ts_textparse_metric_name(p);
            app(&off, "S %.*s", (int)s.len, s.p);
            size_t n;
            const ts_tp_label *l = ts_textparse_labels(p, &n);
            if (n) {
                app(&off, "{");
                for (size_t i = 0; i < n; i++) {
                    ts__tp_quote(q, sizeof(q), l[i].value.p, l[i].value.len, 100);
                    app(&off, "%s%.*s=%s", i ? "," : "", (int)l[i].name.len, l[i].name.p, q);
                }
                app(&off, "}");
            }
            fmt_value(v, sizeof(v), ts_textparse_value(p));
            app(&off, " %s", v);
            int64_t ts;
            if (ts_textparse_timestamp(p, &ts))
                app(&off, " @%lld", (long long)ts);
            if (ts_textparse_has_exemplar(p))
                app(&off, " ex");
            break;
        }
        case TS_TP_TYPE:
            s = ts_textparse_metric_name(p);
            app(&off, "T %.*s %s", (int)s.len, s.p, ts_metric_type_name(ts_textparse_type(p)));
            break;
        case TS_TP_HELP:
        case TS_TP_UNIT:
            s = ts_textparse_metric_name(p);
            ts__tp_quote(q, sizeof(q), ts_textparse_text(p).p, ts_textparse_text(p).len, 100);
            app(&off, "%c %.*s %s", e == TS_TP_HELP ? 'H' : 'U', (int)s.len, s.p, q);
            break;
        case TS_TP_COMMENT:
            ts__tp_quote(q, sizeof(q), ts_textparse_text(p).p, ts_textparse_text(p).len, 100);
            app(&off, "C %s", q);
            break;
        }
    }
    ts_textparse_free(p);
    return "too many entries";
}

static const char *
om(const char *s)
{
    return dumpn(TS_TP_OPENMETRICS, s, strlen(s), 0);
}

static const char *
pt(const char *s)
{
    return dumpn(TS_TP_PROMTEXT, s, strlen(s), 0);
}

/* ------------------------------------------------------------ OpenMetrics */

static void
test_om_basic(void)
{
    T_STREQ(om("# HELP http_requests_total The total number of \\\"requests\\\".\\n\n"
               "# TYPE http_requests_total counter\n"
               "http_requests_total{code=\"200\",method=\"get\"} 1027 1700000000\n"
               "http_requests_total{code=\"400\",method=\"post\"} 3 1700000015.5\n"
               "# TYPE temp_celsius gauge\n"
               "# UNIT temp_celsius celsius\n"
               "temp_celsius 21.5\n"
               "a{} 1 -1.5\n"
               "# EOF\n"),
            "H http_requests_total \"The total number of \\\"requests\\\".\\n\"\n"
            "T http_requests_total counter\n"
            "S http_requests_total{code=\"200\",method=\"get\"} 1027 @1700000000000\n"
            "S http_requests_total{code=\"400\",method=\"post\"} 3 @1700000015500\n"
            "T temp_celsius gauge\n"
            "U temp_celsius \"celsius\"\n"
            "S temp_celsius 21.5\n"
            "S a 1 @-1500\n"
            "EOF");
    /* # EOF without a final newline is fine; an empty file is not */
    T_STREQ(om("a 1 1\n# EOF"), "S a 1 @1000\nEOF");
    T_STREQ(om("# EOF\n"), "EOF");
    T_STREQ(om(""), "ERR 1: data does not end with # EOF");
}

static void
test_om_values(void)
{
    T_STREQ(om("a NaN\na +Inf\na -Inf\na 1e3\na 1.5E-3\na .5\na 5.\na -0\na inf\na Infinity\n"
               "a 1e400x\n# EOF\n"),
            "S a NaN\nS a inf\nS a -inf\nS a 1000\nS a 0.0015\nS a 0.5\nS a 5\nS a -0\nS a inf\n"
            "S a inf\nERR 11: strconv.ParseFloat: parsing \"1e400x\": invalid syntax");
    T_STREQ(om("a 1e400\n# EOF\n"),
            "ERR 1: strconv.ParseFloat: parsing \"1e400\": value out of range");
    T_STREQ(om("a 0x1F 1\n# EOF\n"), "ERR 1: strconv.ParseFloat: parsing \"0x1F\": invalid syntax");
    T_STREQ(om("a 0x1p3 1\n# EOF\n"), "ERR 1: unsupported character in float");
    T_STREQ(om("a 1_000 1\n# EOF\n"), "ERR 1: unsupported character in float");
    T_STREQ(om("a +NaN\n# EOF\n"), "ERR 1: strconv.ParseFloat: parsing \"+NaN\": invalid syntax");
    T_STREQ(om("a 1\na x 2\n# EOF\n"),
            "S a 1\nERR 2: strconv.ParseFloat: parsing \"x\": invalid syntax");
    /* timestamps are float seconds; Go's int64(ts*1000) truncates */
    T_STREQ(om("a 1 1.5e3\na 1 1700000015.003\na 1 0.0019\na 1 1.001\n# EOF\n"),
            "S a 1 @1500000\nS a 1 @1700000015003\nS a 1 @1\nS a 1 @1000\nEOF");
    T_STREQ(om("a 1 NaN\n# EOF\n"), "ERR 1: invalid timestamp");
    T_STREQ(om("a 1 +Inf\n# EOF\n"), "ERR 1: invalid timestamp");
    T_STREQ(om("a 1 99999999999999999999\n# EOF\n"), "ERR 1: invalid timestamp");
    T_STREQ(om("a 1 abc\n# EOF\n"), "ERR 1: strconv.ParseFloat: parsing \"abc\": invalid syntax");
}

static void
test_om_eof(void)
{
    T_STREQ(om("a 1 1\na 2 2\n"), "S a 1 @1000\nS a 2 @2000\nERR 3: data does not end with # EOF");
    T_STREQ(om("a 1 1\na 2 2"), "S a 1 @1000\nERR 2: data does not end with # EOF");
    T_STREQ(om("a 1 1\n# EOF\na 2 2\n"), "S a 1 @1000\nERR 3: unexpected data after # EOF");
    T_STREQ(om("# EOF\n\n"), "ERR 2: unexpected data after # EOF");
    T_STREQ(om("# EOF \n"), "ERR 1: unexpected data after # EOF");
}

static void
test_om_syntax_errors(void)
{
    T_STREQ(om("a 1 1\n\na 2 2\n# EOF\n"),
            "S a 1 @1000\nERR 2: expected a valid start token, got \"\\n\" while parsing: \"\"");
    T_STREQ(om("# hello\n# EOF\n"),
            "ERR 1: expected a valid start token, got \"#\" while parsing: \"#\"");
    T_STREQ(om("1a 1 1\n# EOF\n"),
            "ERR 1: expected a valid start token, got \"1\" while parsing: \"1\"");
    T_STREQ(om("a  1\n# EOF\n"),
            "ERR 1: expected value after metric, got \" \" while parsing: \"a  \"");
    T_STREQ(om("a\t1 1\n# EOF\n"),
            "ERR 1: expected value after metric, got \"\\t\" while parsing: \"a\\t\"");
    T_STREQ(om("a 1 1 \n# EOF\n"),
            "ERR 1: expected next entry after timestamp, got \" \" while parsing: \"a 1 1 \"");
    T_STREQ(om("a 1 1\r\n# EOF\n"), "ERR 1: strconv.ParseFloat: parsing \"1\\r\": invalid syntax");
    T_STREQ(om("a{1x=\"1\"} 1 1\n# EOF\n"),
            "ERR 1: expected label name, got \"1\" while parsing: \"a{1\"");
    T_STREQ(om("a{x\"1\"} 1 1\n# EOF\n"),
            "ERR 1: expected equal, got \"\\\"\" while parsing: \"a{x\\\"\"");
    T_STREQ(om("a{x=\"1} 1 1\n# EOF\n"),
            "ERR 1: expected label value, got \"\\n\" while parsing: \"a{x=\\\"1} 1 1\"");
    T_STREQ(om("a{x=1} 1 1\n# EOF\n"),
            "ERR 1: expected label value, got \"1\" while parsing: \"a{x=1\"");
    T_STREQ(om("a{x=\"1\" y=\"2\"} 1 1\n# EOF\n"),
            "ERR 1: expected comma or brace close, got \" \" while parsing: \"a{x=\\\"1\\\" \"");
    T_STREQ(om("a{x=\"1\",} 1 1\n# EOF\n"),
            "ERR 1: expected label name, got \"}\" while parsing: \"a{x=\\\"1\\\",}\"");
    T_STREQ(om("a{x = \"1\"} 1 1\n# EOF\n"),
            "ERR 1: expected equal, got \" \" while parsing: \"a{x \"");
    T_STREQ(om("{\"a\"} 1 1\n# EOF\n"),
            "ERR 1: expected a valid start token, got \"{\" while parsing: \"{\"");
    T_STREQ(om("a{x=\"1\"}1\n# EOF\n"),
            "ERR 1: expected value after metric, got \"1\" while parsing: \"a{x=\\\"1\\\"}1\"");
}

static void
test_om_metadata(void)
{
    T_STREQ(om("# HELP a\n# EOF\n"), "ERR 1: expected text in HELP");
    T_STREQ(om("# HELP a \n# TYPE a unknown\n# TYPE b info\n# TYPE c stateset\n"
               "# TYPE d gaugehistogram\n# TYPE e summary\n# UNIT f \n# EOF\n"),
            "H a \"\"\nT a unknown\nT b info\nT c stateset\nT d gaugehistogram\nT e summary\n"
            "U f \"\"\nEOF");
    T_STREQ(om("# TYPE a\n# EOF\n"), "ERR 1: expected text in TYPE");
    T_STREQ(om("# TYPE a untyped\n# EOF\n"), "ERR 1: invalid metric type \"untyped\"");
    T_STREQ(om("# TYPE a counter \n# EOF\n"), "ERR 1: invalid metric type \"counter \"");
    T_STREQ(om("# UNIT a_seconds bytes\n# EOF\n"),
            "ERR 1: unit \"bytes\" not a suffix of metric \"a_seconds\"");
    T_STREQ(om("# UNIT seconds seconds\n# EOF\n"),
            "ERR 1: unit \"seconds\" not a suffix of metric \"seconds\"");
    T_STREQ(om("# UNIT a_xseconds seconds\n# EOF\n"),
            "ERR 1: unit \"seconds\" not a suffix of metric \"a_xseconds\"");
    T_STREQ(om("# TYPE 9a gauge\n# EOF\n"),
            "ERR 1: expected metric name after TYPE, got \"9\" while parsing: \"# TYPE 9\"");
    T_STREQ(om("# HELP a \xff\n# EOF\n"), "ERR 1: help text \"\\xff\" is not a valid utf8 string");
}

static void
test_om_labels_and_escapes(void)
{
    /* \\ \" \n unescape; other escapes stay as written (Prometheus) */
    T_STREQ(om("a{x=\"a\\\\b\\\"c\\nd\",y=\"a\\tb\",z=\"\"} 1 1\n# EOF\n"),
            "S a{x=\"a\\\\b\\\"c\\nd\",y=\"a\\\\tb\",z=\"\"} 1 @1000\nEOF");
    T_STREQ(om("a{x=\"1\",x=\"2\"} 1 1\n# EOF\n"), "ERR 1: label name \"x\" is not unique");
    T_STREQ(om("a{__name__=\"b\"} 1 1\n# EOF\n"), "ERR 1: label name \"__name__\" is not unique");
    T_STREQ(om("a{x=\"\xff\"} 1 1\n# EOF\n"), "ERR 1: invalid UTF-8 label value: \"\\xff\"");
    /* overlong encoding and a surrogate are invalid too; a real multi-byte char is fine */
    T_STREQ(om("a{x=\"\xc0\xaf\"} 1 1\n# EOF\n"),
            "ERR 1: invalid UTF-8 label value: \"\\xc0\\xaf\"");
    T_STREQ(om("a{x=\"\xed\xa0\x80\"} 1 1\n# EOF\n"),
            "ERR 1: invalid UTF-8 label value: \"\\xed\\xa0\\x80\"");
    T_STREQ(om("a{x=\"\xc3\xa9\"} 1 1\n# EOF\n"), "S a{x=\"\\xc3\\xa9\"} 1 @1000\nEOF");
    /* a label name may not contain ':' even though metric names may */
    T_STREQ(om("a:b{c:d=\"1\"} 1\n# EOF\n"),
            "ERR 1: expected equal, got \":\" while parsing: \"a:b{c:\"");
    /* many labels: the duplicate check switches to sorting */
    char big[2048];
    size_t o = (size_t)snprintf(big, sizeof(big), "m{");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%sl%02d=\"v\"", i ? "," : "", i % 39);
    snprintf(big + o, sizeof(big) - o, "} 1\n# EOF\n");
    T_STREQ(om(big), "ERR 1: label name \"l00\" is not unique");
}

static void
test_om_histogram_and_exemplars(void)
{
    T_STREQ(om("# TYPE h histogram\n"
               "h_bucket{le=\"0.5\"} 1 1 # {trace_id=\"abc\"} 0.3 0.9\n"
               "h_bucket{le=\"+Inf\"} 2 1 # {} 7\n"
               "h_sum 3 1\nh_count 2 1\nh_created 0.5 1\n"
               "# TYPE c counter\n"
               "c_total 5 # {a=\"b\"} 1\n"
               "# TYPE s summary\n"
               "s{quantile=\"0.99\"} 0.2 1\n"
               "# EOF\n"),
            "T h histogram\n"
            "S h_bucket{le=\"0.5\"} 1 @1000 ex\n"
            "S h_bucket{le=\"+Inf\"} 2 @1000 ex\n"
            "S h_sum 3 @1000\nS h_count 2 @1000\nS h_created 0.5 @1000\n"
            "T c counter\nS c_total 5 ex\nT s summary\nS s{quantile=\"0.99\"} 0.20000000000000001 "
            "@1000\nEOF");
    T_STREQ(om("a 1 1 # {t=\"x\"} 1 1\n# EOF\n"),
            "ERR 1: metric name a does not support exemplars");
    T_STREQ(
        om("a_total 1 1 # x\n# EOF\n"),
        "ERR 1: expected next entry after timestamp, got \"x\" while parsing: \"a_total 1 1 # x\"");
    T_STREQ(om("a_total 1 1 # {t=\"x\"}\n# EOF\n"),
            "ERR 1: expected value after exemplar labels, got \"\\n\" while parsing: \"a_total 1 1 "
            "# {t=\\\"x\\\"}\"");
    T_STREQ(om("a_total 1 1 # {t=\"x\"} 1 NaN\n# EOF\n"), "ERR 1: invalid exemplar timestamp");
    T_STREQ(om("a_total 1 1 # {t=\"x\"} 1 1 z\n# EOF\n"),
            "ERR 1: expected next entry after exemplar timestamp, got \" \" while parsing: "
            "\"a_total 1 1 # {t=\\\"x\\\"} 1 1 \"");
    T_STREQ(om("a_total 1 1 # {\"x\"} 1\n# EOF\n"),
            "ERR 1: expected label name, got \"\\\"\" while parsing: \"a_total 1 1 # {\\\"\"");
}

static void
test_om_limits(void)
{
    /* NUL anywhere is an error with its line */
    static const char nul[] = "a 1 1\na{x=\"1\0\"} 1 1\n# EOF\n";
    T_STREQ(dumpn(TS_TP_OPENMETRICS, nul, sizeof(nul) - 1, 0),
            "S a 1 @1000\nERR 2: invalid NUL byte at column 7");
    /* a line over the limit fails cleanly, one at the limit is fine */
    T_STREQ(dumpn(TS_TP_OPENMETRICS, "a 12\n# EOF\n", 11, 5), "S a 12\nEOF");
    T_STREQ(dumpn(TS_TP_OPENMETRICS, "a 1234\n# EOF\n", 13, 5),
            "ERR 1: line too long (more than 5 bytes)");
    /* an "unlimited" max_line still works */
    T_STREQ(dumpn(TS_TP_OPENMETRICS, "a 1\n# EOF\n", 10, SIZE_MAX), "S a 1\nEOF");
    /* a 4 MiB line without a newline, default 1 MiB limit */
    size_t n = 4u << 20;
    char *huge = ts_malloc(n);
    memset(huge, 'a', n);
    ts_textparse *p;
    T_OK(ts_textparse_new(&p, TS_TP_OPENMETRICS, huge, n, NULL));
    T_EQ(ts_textparse_next(p), TS_TP_ERROR);
    T_EQ(ts_textparse_error(p)->code, TS_ELIMIT);
    T_EQ(ts_textparse_error(p)->line, 1);
    ts_textparse_free(p);
    ts_free(huge);
}

/* ------------------------------------------------------- Prometheus text */

static void
test_prom_basic(void)
{
    T_STREQ(pt("# HELP go_gc Help with \\\\ and \\n and \\\" kept.\n"
               "# TYPE go_gc summary\n"
               "go_gc{quantile=\"0.5\"} 1.5e-05\n"
               "\n   \t\n"
               "go_gc_sum  3.5   1700000000000  \n"
               "  # a comment\n"
               "#no space comment\n"
               "# TYPE up untyped\n"
               "up { job = \"x\" , } 1 5\n"
               "m{} +Inf\n"
               "last 7"),
            "H go_gc \"Help with \\\\ and \\n and \\\\\\\" kept.\"\n"
            "T go_gc summary\n"
            "S go_gc{quantile=\"0.5\"} 1.5e-05\n"
            "S go_gc_sum 3.5 @1700000000000\n"
            "C \"a comment\"\n"
            "C \"no space comment\"\n"
            "T up unknown\n"
            "S up{job=\"x\"} 1 @5\n"
            "S m inf\n"
            "S last 7\n"
            "EOF");
    T_STREQ(pt(""), "EOF");
    T_STREQ(pt("# EOF\n"), "C \"EOF\"\nEOF");
}

static void
test_prom_errors(void)
{
    T_STREQ(pt("a 1\n# TYPE a gaugehistogram\n"),
            "S a 1\nERR 2: invalid metric type \"gaugehistogram\"");
    T_STREQ(pt("# TYPE a\n"), "ERR 1: invalid metric type \"\"");
    T_STREQ(pt("# TYPE a  gauge\n"), "ERR 1: invalid metric type \" gauge\"");
    T_STREQ(pt("# HELP\ta   x\n# TYPE a\tgauge\n"), "H a \"  x\"\nT a gauge\nEOF");
    T_STREQ(pt("a 1\n  b 1\n"),
            "S a 1\nERR 2: invalid metric name: whitespace before the metric name");
    T_STREQ(pt("a 1 -5\n"),
            "ERR 1: expected timestamp or new record, got \"-\" while parsing: \"a 1 -\"");
    T_STREQ(pt("a 1 +5\n"),
            "ERR 1: expected timestamp or new record, got \"+\" while parsing: \"a 1 +\"");
    T_STREQ(pt("a{x=\"1\",,y=\"2\"} 1\n"),
            "ERR 1: expected label name, got \",\" while parsing: \"a{x=\\\"1\\\",,\"");
    T_STREQ(pt("# HELP a\n"), "H a \"\"\nEOF");
    T_STREQ(pt("a 1 1.5\n"),
            "ERR 1: expected next entry after timestamp, got \".\" while parsing: \"a 1 1.\"");
    T_STREQ(pt("a 1 9223372036854775808\n"),
            "ERR 1: strconv.ParseInt: parsing \"9223372036854775808\": value out of range");
    T_STREQ(pt("a 1 9223372036854775807\n"), "S a 1 @9223372036854775807\nEOF");
    T_STREQ(pt("a 1 2 3\n"),
            "ERR 1: expected next entry after timestamp, got \"3\" while parsing: \"a 1 2 3\"");
    T_STREQ(pt("a\n"), "ERR 1: expected value after metric, got \"\\n\" while parsing: \"a\"");
    T_STREQ(pt("a{x=\"1\",x=\"1\"} 1\n"), "ERR 1: label name \"x\" is not unique");
    T_STREQ(pt("a{x=\"\xfe\"} 1\n"), "ERR 1: invalid UTF-8 label value: \"\\xfe\"");
    T_STREQ(pt("a{x=\"1\"\n"),
            "ERR 1: expected comma or brace close, got \"\\n\" while parsing: \"a{x=\\\"1\\\"\"");
    T_STREQ(pt("-a 1\n"), "ERR 1: expected a valid start token, got \"-\" while parsing: \"-\"");
    static const char nul[] = "a 1\n# HELP a x\0y\n";
    T_STREQ(dumpn(TS_TP_PROMTEXT, nul, sizeof(nul) - 1, 0),
            "S a 1\nERR 2: invalid NUL byte at column 11");
}

static void
test_build_labels(void)
{
    static const char in[] = "m{b=\"2\",a=\"1\",e=\"\",c=\"x\\ny\"} 1\n";
    ts_textparse *p;
    T_OK(ts_textparse_new(&p, TS_TP_PROMTEXT, in, sizeof(in) - 1, NULL));
    T_EQ(ts_textparse_next(p), TS_TP_SERIES);
    ts_str st = ts_textparse_series_text(p);
    T_TRUE(st.len == 28 && memcmp(st.p, in, st.len) == 0);
    ts_labels *ls = ts_textparse_build_labels(p, NULL);
    char buf[256];
    ts_labels_format(ls, buf, sizeof(buf));
    T_STREQ(buf, "{__name__=\"m\", a=\"1\", b=\"2\", c=\"x\\ny\"}");
    ts_labels_free(ls);
    ts_arena a;
    ts_arena_init(&a, 0);
    ls = ts_textparse_build_labels(p, &a);
    T_EQ(ts_labels_len(ls), 4);
    T_STREQ(ts_labels_get(ls, "c"), "x\ny");
    ts_arena_fini(&a);
    T_EQ(ts_textparse_next(p), TS_TP_EOF);
    ts_textparse_free(p);
    /* OpenMetrics: the series text of a line with an exemplar stops at the label set */
    static const char in2[] = "c_total{a=\"1\"} 1 1 # {t=\"x\"} 1\nc_total 2\n# EOF\n";
    T_OK(ts_textparse_new(&p, TS_TP_OPENMETRICS, in2, sizeof(in2) - 1, NULL));
    T_EQ(ts_textparse_next(p), TS_TP_SERIES);
    st = ts_textparse_series_text(p);
    T_TRUE(st.len == 14 && memcmp(st.p, "c_total{a=\"1\"}", 14) == 0);
    T_EQ(ts_textparse_next(p), TS_TP_SERIES);
    T_TRUE(ts_str_eqc(ts_textparse_series_text(p), "c_total"));
    T_EQ(ts_textparse_next(p), TS_TP_EOF);
    ts_textparse_free(p);
}

static void
test_content_type(void)
{
    T_EQ(ts_textparse_format_for_content_type(
             "application/openmetrics-text; version=1.0.0; charset=utf-8"),
         TS_TP_OPENMETRICS);
    T_EQ(ts_textparse_format_for_content_type("Application/OpenMetrics-Text"), TS_TP_OPENMETRICS);
    T_EQ(ts_textparse_format_for_content_type("text/plain; version=0.0.4"), TS_TP_PROMTEXT);
    T_EQ(ts_textparse_format_for_content_type("application/openmetrics-textx"), TS_TP_PROMTEXT);
    T_EQ(ts_textparse_format_for_content_type(""), TS_TP_PROMTEXT);
    T_EQ(ts_textparse_format_for_content_type(NULL), TS_TP_PROMTEXT);
    ts_textparse *p = NULL;
    T_EQ(ts_textparse_new(&p, (ts_tp_format)7, "", 0, NULL), TS_EINVAL);
    T_TRUE(p == NULL);
}

/* Mutated inputs (flipped, inserted, deleted bytes, cut ends) in exactly
 * sized heap buffers, so ASan sees any read past the end: every parse must
 * end in EOF or an error with a line number inside the input, return no more
 * entries than there are lines, and hand out only slices that lie in the
 * input or are unescaped copies of the same length or shorter. */
static void
test_mutations(void)
{
    static const char *seeds[] = {
        "# HELP a_total Some \\\\ help \\n.\n# TYPE a_total counter\n"
        "a_total{x=\"1\",y=\"a\\\"b\\\\c\\nd\"} 1.5e3 1700000000.5 # {t=\"x\"} 1 2\n"
        "# UNIT t_seconds seconds\nt_seconds NaN\nh_bucket{le=\"+Inf\"} 3 17\n# EOF\n",
        "# HELP go_gc x\n# TYPE go_gc summary\ngo_gc{quantile=\"0.5\"} 1e-05 12\n"
        "  up { job = \"x\" , } -Inf\n# comment\n\nlast 7",
    };
    static const char specials[] = "\n\"\\{}=, #\0\xff\xc3\teE+-.9_:";
    uint64_t rng = 42;
    size_t total_entries = 0, total_errors = 0;
    for (int iter = 0; iter < 4000; iter++) {
        const char *seed = seeds[iter % 2];
        size_t slen = strlen(seed);
        char tmp[1024];
        memcpy(tmp, seed, slen);
        size_t len = slen;
        int nmut = 1 + (int)(iter % 4);
        for (int m = 0; m < nmut && len > 0; m++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(rng >> 33) % len;
            char c = specials[(rng >> 20) % (sizeof(specials) - 1)];
            switch ((rng >> 10) % 4) {
            case 0: tmp[pos] = c; break;
            case 1:
                if (len < sizeof(tmp) - 1) {
                    memmove(tmp + pos + 1, tmp + pos, len - pos);
                    tmp[pos] = c;
                    len++;
                }
                break;
            case 2:
                memmove(tmp + pos, tmp + pos + 1, len - pos - 1);
                len--;
                break;
            case 3: len = pos; break;
            }
        }
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += tmp[i] == '\n';
        char *in = ts_malloc(len ? len : 1);
        memcpy(in, tmp, len);
        ts_textparse *p;
        ts_tp_format f = iter % 3 ? TS_TP_OPENMETRICS : TS_TP_PROMTEXT;
        T_OK(ts_textparse_new(&p, f, in, len, NULL));
        size_t entries = 0;
        ts_tp_entry e;
        while ((e = ts_textparse_next(p)) > TS_TP_EOF && entries <= lines) {
            entries++;
            ts_str s = ts_textparse_metric_name(p);
            if (s.len)
                T_TRUE(s.p >= in && s.p + s.len <= in + len);
            size_t n;
            const ts_tp_label *l = ts_textparse_labels(p, &n);
            for (size_t i = 0; i < n; i++) {
                T_TRUE(l[i].name.p >= in && l[i].name.p + l[i].name.len <= in + len);
                T_TRUE(l[i].value.len < len);
                if (l[i].value.len) /* touch every byte (ASan checks the scratch) */
                    T_TRUE(memchr(l[i].value.p, '\0', l[i].value.len) == NULL);
            }
        }
        T_TRUE(entries <= lines);
        T_TRUE(e == TS_TP_EOF || e == TS_TP_ERROR);
        total_entries += entries;
        total_errors += e == TS_TP_ERROR;
        if (e == TS_TP_ERROR) {
            const ts_error *err = ts_textparse_error(p);
            T_TRUE(err->line >= 1 && (size_t)err->line <= lines + 1);
            T_TRUE(err->msg[0] != '\0');
            T_TRUE(err->code == TS_EPARSE || err->code == TS_ELIMIT);
        }
        ts_textparse_free(p);
        ts_free(in);
    }
    /* the mutations leave many lines parseable and still break most inputs */
    T_TRUE(total_entries > 4000);
    T_TRUE(total_errors > 1000 && total_errors < 4000);
}

/* Lazy labels (the scrape path's mode) must give exactly the eager dump,
 * errors included (a label error wins over a value error on the same line),
 * on fixed cases and on mutated inputs; and labels never asked for are never
 * parsed. */
static void
test_lazy_matches_eager(void)
{
    static const char *fixed[] = {
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\"} 2 5\n",
        "a{x=\"}\",y=\"\\\"}\"} 1\n", /* braces and quotes in values */
        "a{x=1} zz\n",                /* label error and value error */
        "a{x=\"1\",x=\"2\"} 1\n",     /* repeated label */
        "a{x=\"1\",x=\"2\"} zz\n",    /* repeated label, bad value */
        "a{__name__=\"b\"} 1\n",
        "a{x=\"1\"} 1 x\n",
        "a{x=\"1\" 1\n",
        "a{x=\"1\"}} 1\n",
        "a{x=\"\xff\"} 1\n",
        "a { x = \"1\" , } 1\n",
        "a{} 1\n",
        "a {x=\"1\"}1\n",
        "a{x=\"1\"}\n",
        "a{,} 1\n",
        "a{x=\"a\\\\\"} 1\n",
        "a{x=\"1\"}    \t 2 \t\n",
    };
    char eager[8192];
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        lazy_dump = false;
        snprintf(eager, sizeof(eager), "%s", pt(fixed[i]));
        lazy_dump = true;
        T_STREQ(pt(fixed[i]), eager);
    }
    lazy_dump = false;
    static const char *seeds[] = {
        "# TYPE a_total counter\na_total{x=\"1\",y=\"a\\\"b\\\\c\\nd\"} 1.5e3 17\n"
        "h_bucket{le=\"+Inf\", a=\"}\"} 3 17\nt NaN\n",
        "go_gc{quantile=\"0.5\"} 1e-05 12\nup { job = \"x\" , } -Inf\n# c\n\nlast{a=\"\"} 7",
    };
    static const char specials[] = "\n\"\\{}=, #\0\xff\t9_:x";
    uint64_t rng = 7;
    size_t differ = 0, errors = 0;
    for (int iter = 0; iter < 4000; iter++) {
        const char *seed = seeds[iter % 2];
        char tmp[512];
        size_t len = strlen(seed);
        memcpy(tmp, seed, len);
        for (int m = 0; m < 1 + iter % 3 && len > 0; m++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(rng >> 33) % len;
            char c = specials[(rng >> 20) % (sizeof(specials) - 1)];
            if ((rng >> 10) % 2 == 0) {
                tmp[pos] = c;
            } else if (len < sizeof(tmp) - 1) {
                memmove(tmp + pos + 1, tmp + pos, len - pos);
                tmp[pos] = c;
                len++;
            }
        }
        char *in = ts_malloc(len);
        memcpy(in, tmp, len);
        lazy_dump = false;
        snprintf(eager, sizeof(eager), "%s", dumpn(TS_TP_PROMTEXT, in, len, 0));
        lazy_dump = true;
        differ += strcmp(dumpn(TS_TP_PROMTEXT, in, len, 0), eager) != 0;
        lazy_dump = false;
        errors += strstr(eager, "ERR ") != NULL;
        ts_free(in);
    }
    T_EQ(differ, 0);
    T_TRUE(errors > 500 && errors < 4000); /* the mutations do break lines */

    /* never asked for: a label error goes unnoticed, the value is still checked */
    static const char in[] = "a{x=1} 5\nb{y=\"2\"} zz\n";
    ts_textparse *p;
    T_OK(ts_textparse_new(&p, TS_TP_PROMTEXT, in, sizeof(in) - 1, NULL));
    ts_textparse_set_lazy_labels(p, true);
    T_EQ(ts_textparse_next(p), TS_TP_SERIES);
    T_TRUE(ts_str_eqc(ts_textparse_series_text(p), "a{x=1}"));
    T_TRUE(ts_textparse_value(p) == 5);
    T_EQ(ts_textparse_next(p), TS_TP_ERROR);
    T_EQ(ts_textparse_error(p)->line, 2);
    T_TRUE(strstr(ts_textparse_error(p)->msg, "ParseFloat") != NULL);
    ts_textparse_free(p);
    /* asked for: the error ends the parse */
    T_OK(ts_textparse_new(&p, TS_TP_PROMTEXT, in, sizeof(in) - 1, NULL));
    ts_textparse_set_lazy_labels(p, true);
    T_EQ(ts_textparse_next(p), TS_TP_SERIES);
    T_EQ(ts_textparse_parse_labels(p), TS_TP_ERROR);
    T_EQ(ts_textparse_error(p)->line, 1);
    T_TRUE(strstr(ts_textparse_error(p)->msg, "expected label value") != NULL);
    T_EQ(ts_textparse_next(p), TS_TP_ERROR);
    ts_textparse_free(p);
}

/* Sample values: every decimal form must give bit for bit what strtod gives
 * (the parser has a fast path for short mantissas and small exponents). */
static void
test_float_matches_strtod(void)
{
    static const char *fixed[] = {"0",
                                  "-0",
                                  "+0",
                                  "0.1",
                                  "-0.0",
                                  "5.",
                                  ".5",
                                  "1e22",
                                  "1e23",
                                  "123456789012345",
                                  "1234567890123456",
                                  "9007199254740993",
                                  "123456789012345e-22",
                                  "123456789012345e-23",
                                  "0.000001",
                                  "1.7976931348623157e308",
                                  "4.9e-324",
                                  "1E+5",
                                  "1e-5",
                                  "14238.34",
                                  "55629869044",
                                  "999999999999999e22"};
    char buf[64];
    double got, want;
    const char *why;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        T_EQ(ts__tp_parse_float((ts_str){fixed[i], strlen(fixed[i])}, &got, &why), 0);
        want = strtod(fixed[i], NULL);
        T_TRUE(memcmp(&got, &want, sizeof(got)) == 0);
    }
    uint64_t x = 88172645463325252ULL; /* xorshift64 */
    size_t mismatches = 0;
    for (int it = 0; it < 200000; it++) {
        size_t n = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t r = x;
        if (r & 1)
            buf[n++] = (r & 2) ? '-' : '+';
        r >>= 2;
        int nd = 1 + (int)(r % 18), dot = (int)((r >> 5) % (uint64_t)(nd + 2)) - 1;
        r >>= 10;
        for (int d = 0; d < nd; d++) {
            if (d == dot)
                buf[n++] = '.';
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[n++] = (char)('0' + x % 10);
        }
        if (r & 1)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "e%d", (int)((r >> 1) % 61) - 30);
        buf[n] = '\0';
        int rc = ts__tp_parse_float((ts_str){buf, n}, &got, &why);
        want = strtod(buf, NULL);
        if (rc != 0 || memcmp(&got, &want, sizeof(got)) != 0)
            mismatches++;
    }
    T_EQ(mismatches, 0);
}

T_MAIN({"om_basic", test_om_basic}, {"mutations", test_mutations}, {"om_values", test_om_values},
       {"om_eof", test_om_eof}, {"om_syntax_errors", test_om_syntax_errors},
       {"om_metadata", test_om_metadata}, {"om_labels_and_escapes", test_om_labels_and_escapes},
       {"om_histogram_and_exemplars", test_om_histogram_and_exemplars},
       {"om_limits", test_om_limits}, {"prom_basic", test_prom_basic},
       {"prom_errors", test_prom_errors}, {"build_labels", test_build_labels},
       {"content_type", test_content_type}, {"lazy_matches_eager", test_lazy_matches_eager},
       {"float_matches_strtod", test_float_matches_strtod})
