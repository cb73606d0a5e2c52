/*
 * Alert templates: a small, honest subset of the Go text/template language
 * Prometheus uses for alert labels and annotations.
 *
 * Supported actions (whitespace inside {{ }} is free; {{- and -}} trim the
 * neighbouring whitespace as in Go): a pipeline CMD | CMD ..., where CMD is an
 * operand alone or a function with operand arguments (a piped value is the
 * last argument).  Operands:
 *   $labels.NAME  .Labels.NAME                  a label of the alert's sample (string)
 *   $externalLabels.NAME  .ExternalLabels.NAME  an external label (string)
 *   $value  .Value                              the sample value (number; printed as Go's %v)
 *   $externalURL  .ExternalURL                  (string)
 *   "text"                                      a string literal (\" \\ \n \t escapes)
 * Functions: humanize, humanize1024, humanizeDuration, humanizePercentage (one
 * number), toUpper, toLower (one string), printf "FORMAT" ARGS... with the
 * verbs %f %e %g %v for numbers and %s %v for strings (flags, width,
 * precision; types checked at load).  Comments: an action holding only a Go
 * comment (slash-star ... star-slash).
 * A missing label prints "" (Prometheus runs the templates with missingkey=zero).
 * Strings inside a pipeline are cut at 511 bytes.
 *
 * Anything else (if/range/with, query, other functions, variables, parentheses) is
 * refused by ts_rule_template_check with a clear message, so a rule file
 * using it fails to load; expansion never meets an unknown construct.
 */
#ifndef TS_RULES_TEMPLATE_H
#define TS_RULES_TEMPLATE_H

#include "pkg/labels/labels.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"

typedef struct ts_rule_tmpl_data {
    const ts_labels *labels;          /* the sample's labels without __name__ (may be NULL) */
    const ts_labels *external_labels; /* may be NULL */
    const char *external_url;         /* may be NULL ("") */
    double value;
} ts_rule_tmpl_data;

/* 0, or TS_EINVAL with err->msg "template: NAME:COL: <reason>". */
int ts_rule_template_check(const char *name, const char *text, ts_error *err);

/* Expands text (which passed ts_rule_template_check) into an arena string.  A text
 * that would not pass the check expands to "<error expanding template: ...>", as
 * Prometheus does on an execution error. */
char *ts_rule_template_expand(ts_arena *a, const char *name, const char *text,
                              const ts_rule_tmpl_data *d);

/* Prometheus' humanize template function (SI prefixes, %.4g). */
void ts_rule_humanize(double v, char *buf, size_t size);

#endif
