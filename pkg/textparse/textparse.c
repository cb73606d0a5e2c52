/*
 * The parser handle: creation, dispatch of next() to the format's line
 * parser (promtext.c or openmetrics.c), lazy label parsing, and the
 * accessors of the current entry.  The lexing both formats share lives in
 * lex.c, so the files depend in one direction only:
 *
 *     textparse.c -> promtext.c, openmetrics.c -> lex.c
 *     textparse.c -> lex.c (lazy labels)
 */
#include "pkg/textparse/textparse.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "pkg/textparse/internal.h"
#include "pkg/util/mem.h"

int
ts_textparse_new(ts_textparse **out, ts_tp_format format, const char *buf, size_t len,
                 const ts_textparse_opts *opts)
{
    if (format != TS_TP_PROMTEXT && format != TS_TP_OPENMETRICS)
        return TS_EINVAL;
    ts_textparse *p = ts_calloc(1, sizeof(*p));
    p->format = format;
    p->buf = buf;
    p->len = buf ? len : 0;
    p->max_line = opts && opts->max_line ? opts->max_line : TS_TEXTPARSE_DEFAULT_MAX_LINE;
    if (p->max_line > SIZE_MAX / 2)
        p->max_line = SIZE_MAX / 2; /* so max_line + 1 never wraps */
    *out = p;
    return TS_OK;
}

void
ts_textparse_free(ts_textparse *p)
{
    if (!p)
        return;
    ts_free(p->labels);
    ts_free(p->scratch);
    ts_free(p);
}

ts_tp_format
ts_textparse_format_for_content_type(const char *ct)
{
    if (!ct)
        return TS_TP_PROMTEXT;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    static const char om[] = "application/openmetrics-text";
    size_t n = sizeof(om) - 1;
    if (strncasecmp(ct, om, n) == 0 &&
        (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t'))
        return TS_TP_OPENMETRICS;
    return TS_TP_PROMTEXT;
}

const char *
ts_textparse_format_name(ts_tp_format f)
{
    return f == TS_TP_OPENMETRICS ? "openmetrics" : "prometheus text";
}

const char *
ts_metric_type_name(ts_metric_type t)
{
    static const char *const names[] = {"unknown",        "counter", "gauge", "histogram",
                                        "gaugehistogram", "summary", "info",  "stateset"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

ts_tp_entry
ts_textparse_next(ts_textparse *p)
{
    if (p->failed)
        return TS_TP_ERROR;
    if (p->done)
        return TS_TP_EOF;
    p->nlabels = 0;
    p->labels_pending = false;
    p->has_ts = p->has_exemplar = false;
    p->mname = p->text = p->series = (ts_str){NULL, 0};
    p->scratch_len = 0;
    ts_tp_entry e =
        p->format == TS_TP_OPENMETRICS ? ts__tp_openmetrics_next(p) : ts__tp_promtext_next(p);
    if (e == TS_TP_ERROR)
        p->failed = true;
    else if (e == TS_TP_EOF)
        p->done = true;
    return e;
}

void
ts_textparse_set_lazy_labels(ts_textparse *p, bool lazy)
{
    p->lazy = lazy;
}

/* Lazy labels: parses the pending label set of the current entry and checks
 * it for repeated names (TS_TP_SERIES), or sets the error (TS_TP_ERROR). */
static ts_tp_entry
pending_labels(ts_textparse *p)
{
    TS_ASSERT(p->labels_pending);
    p->labels_pending = false;
    ts__tp_cur c = {p->lline, p->lbrace, p->lend};
    if (ts__tp_labels(p, &c, true, false) == TS_TP_ERROR)
        return TS_TP_ERROR;
    return ts__tp_check_dup_labels(p);
}

ts_tp_entry
ts_textparse_parse_labels(ts_textparse *p)
{
    if (p->failed)
        return TS_TP_ERROR;
    if (!p->labels_pending)
        return TS_TP_SERIES;
    ts_tp_entry e = pending_labels(p);
    if (e == TS_TP_ERROR)
        p->failed = true;
    return e;
}

const ts_error *
ts_textparse_error(const ts_textparse *p)
{
    return &p->err;
}

int
ts_textparse_line(const ts_textparse *p)
{
    return p->lineno;
}

ts_str
ts_textparse_metric_name(const ts_textparse *p)
{
    return p->mname;
}

ts_str
ts_textparse_series_text(const ts_textparse *p)
{
    return p->series;
}

const ts_tp_label *
ts_textparse_labels(const ts_textparse *p, size_t *n)
{
    TS_ASSERT(!p->labels_pending); /* lazy mode: ts_textparse_parse_labels first */
    *n = p->nlabels;
    return p->labels;
}

double
ts_textparse_value(const ts_textparse *p)
{
    return p->value;
}

bool
ts_textparse_timestamp(const ts_textparse *p, int64_t *ts)
{
    if (p->has_ts && ts)
        *ts = p->ts;
    return p->has_ts;
}

bool
ts_textparse_has_exemplar(const ts_textparse *p)
{
    return p->has_exemplar;
}

ts_metric_type
ts_textparse_type(const ts_textparse *p)
{
    return p->mtype;
}

ts_str
ts_textparse_text(const ts_textparse *p)
{
    return p->text;
}

ts_labels *
ts_textparse_build_labels(const ts_textparse *p, ts_arena *a)
{
    TS_ASSERT(!p->labels_pending); /* lazy mode: ts_textparse_parse_labels first */
    ts_arena tmp;
    ts_arena *sa = a;
    if (!a) {
        ts_arena_init(&tmp, 0);
        sa = &tmp;
    }
    ts_label *ls = ts_arena_alloc(sa, (p->nlabels + 1) * sizeof(ts_label));
    size_t n = 0;
    ls[n].name = TS_METRIC_NAME;
    ls[n++].value = ts_arena_strndup(sa, p->mname.p, p->mname.len);
    for (size_t i = 0; i < p->nlabels; i++) {
        if (p->labels[i].value.len == 0)
            continue; /* an empty value is an absent label */
        ls[n].name = ts_arena_strndup(sa, p->labels[i].name.p, p->labels[i].name.len);
        ls[n++].value = ts_arena_strndup(sa, p->labels[i].value.p, p->labels[i].value.len);
    }
    ts_labels *out = a ? ts_labels_new_arena(a, ls, n) : ts_labels_new(ls, n);
    if (!a)
        ts_arena_fini(&tmp);
    return out;
}
