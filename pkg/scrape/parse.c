/*
 * The parse step of a scrape: body bytes -> samples.
 *
 * This is the only place in pkg/scrape that knows about exposition formats;
 * the parsing itself is pkg/textparse.  The format is chosen from the
 * Content-Type as Prometheus' textparse.New does (OpenMetrics for
 * application/openmetrics-text, the text format 0.0.4 otherwise).  Each
 * SERIES entry is handed to the callback as a key (the series text exactly
 * as written: equal texts are the same series), its value and optional
 * timestamp; the labels are only parsed and built when the callback asks
 * (ts__sample_builder; the parser runs in lazy-labels mode), so a loop that
 * has already computed the final labels of that key skips the work;
 * HELP/TYPE/UNIT lines go to the metadata callback, comments are skipped.
 * The first parse error ends the scrape with TS_EPARSE (or TS_ELIMIT for an
 * over-long line) and a message naming the line.  A label error in a line
 * whose key the loop already knows cannot happen (the same text parsed
 * before).
 */
#include "pkg/scrape/internal.h"

#include <stdio.h>

#include "pkg/textparse/textparse.h"

typedef struct pstate {
    ts_textparse *p;
    ts_arena a;
    ts_labels_builder lb;
    bool built;
} pstate;

static int
parse_error(ts_textparse *p, ts_error *err)
{
    const ts_error *pe = ts_textparse_error(p);
    return ts_error_set(err, pe->code ? pe->code : TS_EPARSE, "%s", pe->msg);
}

ts_labels_builder *
ts__sample_builder(const ts__sample *s, ts_error *err, int *rc)
{
    pstate *ps = s->parser_;
    *rc = TS_OK;
    if (!ps->built) {
        if (ts_textparse_parse_labels(ps->p) == TS_TP_ERROR) {
            *rc = parse_error(ps->p, err);
            return NULL;
        }
        ts_arena_reset(&ps->a);
        ts_labels *ls = ts_textparse_build_labels(ps->p, &ps->a);
        ts_labels_builder_reset(&ps->lb, ls);
        ps->built = true;
    }
    return &ps->lb;
}

int
ts__scrape_parse(const char *content_type, const char *body, size_t len, ts__sample_fn fn,
                 ts__meta_fn meta, void *ctx, ts_error *err)
{
    ts_tp_format fmt = ts_textparse_format_for_content_type(content_type);
    ts_textparse *p = NULL;
    int rc = ts_textparse_new(&p, fmt, body, len, NULL);
    if (rc)
        return ts_error_set(err, rc, "%s: cannot create parser", ts_textparse_format_name(fmt));
    ts_textparse_set_lazy_labels(p, true);
    pstate ps = {.p = p};
    ts_arena_init(&ps.a, 0);
    ts_labels_builder_init(&ps.lb, NULL);
    for (;;) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) {
            rc = parse_error(p, err);
            break;
        }
        if (e == TS_TP_TYPE || e == TS_TP_HELP || e == TS_TP_UNIT) {
            if (meta) {
                ts_str name = ts_textparse_metric_name(p);
                ts_str text = ts_textparse_text(p);
                if (e == TS_TP_TYPE)
                    text = ts_str_c(ts_metric_type_name(ts_textparse_type(p)));
                meta(ctx,
                     e == TS_TP_TYPE   ? 'T'
                     : e == TS_TP_HELP ? 'H'
                                       : 'U',
                     name.p, name.len, text.p, text.len);
            }
            continue;
        }
        if (e != TS_TP_SERIES)
            continue;
        ts_str key = ts_textparse_series_text(p);
        ps.built = false;
        ts__sample s = {.key = key.p, .klen = key.len, .parser_ = &ps};
        s.v = ts_textparse_value(p);
        s.has_ts = ts_textparse_timestamp(p, &s.ts);
        rc = fn(ctx, &s);
        if (rc)
            break;
    }
    ts_labels_builder_fini(&ps.lb);
    ts_arena_fini(&ps.a);
    ts_textparse_free(p);
    return rc;
}
