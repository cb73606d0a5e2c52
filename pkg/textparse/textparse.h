/*
 * Pull parsers for the two text exposition formats (Prometheus'
 * model/textparse): the Prometheus text format 0.0.4 (promtext.c) and
 * OpenMetrics 1.0 (openmetrics.c).  Both sit behind one handle:
 *
 *   ts_textparse *p;
 *   ts_textparse_new(&p, TS_TP_OPENMETRICS, buf, len, NULL);
 *   for (;;) {
 *       ts_tp_entry e = ts_textparse_next(p);
 *       if (e == TS_TP_EOF) break;
 *       if (e == TS_TP_ERROR) { report ts_textparse_error(p); break; }
 *       if (e == TS_TP_SERIES) { name, labels, value, timestamp accessors }
 *   }
 *   ts_textparse_free(p);
 *
 * Zero-copy: every ts_str an accessor returns points into the caller's input
 * buffer, or (for a label value or help text that contained escapes) into a
 * scratch buffer the parser owns.  Either way it is BORROWED and valid only
 * until the next call to ts_textparse_next() or ts_textparse_free().  The
 * input buffer must outlive the parser and is never modified.
 *
 * Series: the metric name and the label pairs in input order (without
 * __name__; values unescaped: \\ \" \n, other escapes kept verbatim as
 * Prometheus does), the value (NaN is returned as Prometheus' normal NaN
 * 0x7ff8000000000001, never as the stale marker), and an optional timestamp
 * in milliseconds (the text format writes ms; OpenMetrics writes float
 * seconds, converted as Prometheus does with int64(ts*1000)).
 * Histogram and summary lines (_bucket/_count/_sum/_created, le/quantile
 * labels) are ordinary series.  OpenMetrics exemplars (" # {...} v [ts]"
 * after a sample) are validated and skipped.
 *
 * Errors: next() returns TS_TP_ERROR and the parser stays failed; the error
 * has the 1-based line number and Prometheus' wording where it has one.
 * Lines longer than opts.max_line fail with TS_ELIMIT; NUL bytes, invalid
 * UTF-8 in label values and help text, and duplicate label names are errors.
 *
 * Thread-safety: a parser is used by one thread.
 */
#ifndef TS_TEXTPARSE_TEXTPARSE_H
#define TS_TEXTPARSE_TEXTPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"
#include "pkg/util/str.h"

typedef enum ts_tp_format {
    TS_TP_PROMTEXT = 0, /* text/plain; version=0.0.4 */
    TS_TP_OPENMETRICS,  /* application/openmetrics-text; version=1.0.0 */
} ts_tp_format;

typedef enum ts_tp_entry {
    TS_TP_ERROR = -1, /* see ts_textparse_error() */
    TS_TP_EOF = 0,    /* end of input (OpenMetrics: after "# EOF") */
    TS_TP_SERIES,
    TS_TP_TYPE,
    TS_TP_HELP,
    TS_TP_UNIT,    /* OpenMetrics only */
    TS_TP_COMMENT, /* text format only ("# anything else") */
} ts_tp_entry;

typedef enum ts_metric_type {
    TS_MT_UNKNOWN = 0, /* "untyped" in the text format, "unknown" in OpenMetrics */
    TS_MT_COUNTER,
    TS_MT_GAUGE,
    TS_MT_HISTOGRAM,
    TS_MT_GAUGEHISTOGRAM,
    TS_MT_SUMMARY,
    TS_MT_INFO,
    TS_MT_STATESET,
} ts_metric_type;

typedef struct ts_tp_label {
    ts_str name, value;
} ts_tp_label;

typedef struct ts_textparse_opts {
    size_t max_line; /* longest accepted line in bytes; 0 = 1 MiB */
} ts_textparse_opts;

#define TS_TEXTPARSE_DEFAULT_MAX_LINE (1u << 20)

typedef struct ts_textparse ts_textparse;

/* A parser over buf[0..len) (borrowed: must outlive the parser).  opts may be
 * NULL.  Free with ts_textparse_free (accepts NULL). */
int ts_textparse_new(ts_textparse **out, ts_tp_format format, const char *buf, size_t len,
                     const ts_textparse_opts *opts);
void ts_textparse_free(ts_textparse *p);

/* Picks the format for an HTTP Content-Type header value (parameters and
 * case ignored): application/openmetrics-text -> TS_TP_OPENMETRICS; anything
 * else, including NULL or empty, -> TS_TP_PROMTEXT (Prometheus' fallback). */
ts_tp_format ts_textparse_format_for_content_type(const char *content_type);
/* "prometheus text" / "openmetrics" */
const char *ts_textparse_format_name(ts_tp_format f);

/* Advances to the next entry. */
ts_tp_entry ts_textparse_next(ts_textparse *p);

/* Lazy labels (text format 0.0.4; a no-op for OpenMetrics): next() checks a
 * SERIES entry's name, value and timestamp but only finds where its label
 * set ends, so a caller that recognises the series by its series text
 * (ts_textparse_series_text) never pays for parsing the labels.  Before
 * reading the labels (ts_textparse_labels, ts_textparse_build_labels) the
 * caller must call ts_textparse_parse_labels, which may fail: a label error
 * then ends the parse as if next() had returned it.  Errors are the same as
 * in eager mode, and so is their order within a line (a label error wins
 * over a value error on the same line); only a label error on a line whose
 * labels are never asked for goes unreported, and two lines with equal
 * series text always parse to the same labels. */
void ts_textparse_set_lazy_labels(ts_textparse *p, bool lazy);
/* Parses the current SERIES entry's labels if still pending.  Returns
 * TS_TP_SERIES, or TS_TP_ERROR with ts_textparse_error set (the parser is
 * then failed: next() returns TS_TP_ERROR). */
ts_tp_entry ts_textparse_parse_labels(ts_textparse *p);

/* The error after next() returned TS_TP_ERROR (code TS_EPARSE or TS_ELIMIT,
 * line set, msg without a file prefix). */
const ts_error *ts_textparse_error(const ts_textparse *p);
/* 1-based line number of the current entry. */
int ts_textparse_line(const ts_textparse *p);

/* ------------------------------------------------- accessors (borrowed) */

/* Metric name of a SERIES, TYPE, HELP or UNIT entry. */
ts_str ts_textparse_metric_name(const ts_textparse *p);
/* The raw text of a SERIES entry's metric name and label set, exactly as in
 * the input ("a{x=\"1\"}"): two lines with equal series text are the same
 * series, which lets callers cache label-set lookups. */
ts_str ts_textparse_series_text(const ts_textparse *p);
/* Labels of a SERIES entry, in input order, __name__ not included. */
const ts_tp_label *ts_textparse_labels(const ts_textparse *p, size_t *n);
double ts_textparse_value(const ts_textparse *p);
/* True and *ts (ms) set when the SERIES entry had a timestamp. */
bool ts_textparse_timestamp(const ts_textparse *p, int64_t *ts);
/* Whether the sample carried an exemplar (OpenMetrics; it is not returned). */
bool ts_textparse_has_exemplar(const ts_textparse *p);
/* TYPE entry's type (also remembered: the type of the last TYPE line). */
ts_metric_type ts_textparse_type(const ts_textparse *p);
/* HELP text (unescaped), UNIT text, or COMMENT text (after "# "). */
ts_str ts_textparse_text(const ts_textparse *p);

/* Builds the label set of the current SERIES entry, __name__ included,
 * sorted, empty values dropped (as Prometheus does).  In arena a, or on the
 * heap when a is NULL (free with ts_labels_free). */
ts_labels *ts_textparse_build_labels(const ts_textparse *p, ts_arena *a);

const char *ts_metric_type_name(ts_metric_type t);

#endif
