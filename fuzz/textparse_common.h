/*
 * Shared body of the text-format fuzz targets (fuzz_promtext, fuzz_openmetrics): parse the
 * whole input as one scrape body, walking every entry and touching every accessor the
 * scrape loop uses, so out-of-bounds reads in any of them are caught.
 */
#ifndef TS_FUZZ_TEXTPARSE_COMMON_H
#define TS_FUZZ_TEXTPARSE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/textparse/textparse.h"
#include "pkg/util/arena.h"

static volatile size_t fuzz_sink;

static void
fuzz_textparse_run(ts_tp_format format, const uint8_t *data, size_t size, int lazy)
{
    ts_textparse *p = NULL;
    ts_textparse_opts opts = {.max_line = 4096};
    if (ts_textparse_new(&p, format, (const char *)data, size, &opts) != 0)
        return;
    ts_textparse_set_lazy_labels(p, lazy != 0);
    ts_arena a;
    ts_arena_init(&a, 4096);
    for (int i = 0; i < 100000; i++) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) {
            fuzz_sink += ts_textparse_error(p)->msg[0];
            break;
        }
        fuzz_sink += (size_t)ts_textparse_line(p);
        if (e == TS_TP_SERIES) {
            if (ts_textparse_parse_labels(p) == TS_TP_ERROR)
                break;
            ts_str name = ts_textparse_metric_name(p), text = ts_textparse_series_text(p);
            fuzz_sink += name.len + text.len;
            size_t n = 0;
            const ts_tp_label *ls = ts_textparse_labels(p, &n);
            for (size_t j = 0; j < n; j++)
                fuzz_sink += ls[j].name.len + ls[j].value.len;
            int64_t ts = 0;
            fuzz_sink += ts_textparse_timestamp(p, &ts) + ts_textparse_has_exemplar(p);
            fuzz_sink += ts_textparse_value(p) > 0;
            ts_labels *built = ts_textparse_build_labels(p, &a);
            fuzz_sink += built != NULL;
            ts_arena_reset(&a);
        } else {
            fuzz_sink += ts_textparse_metric_name(p).len + ts_textparse_text(p).len;
            fuzz_sink += (size_t)ts_textparse_type(p);
        }
    }
    ts_arena_fini(&a);
    ts_textparse_free(p);
}

#endif
