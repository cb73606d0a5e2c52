#include "pkg/util/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ts_metrics_init(ts_metrics_registry *r)
{
    r->n = 0;
}

void
ts_metrics_register(ts_metrics_registry *r, ts_metrics_collect_fn fn, void *ctx)
{
    if (r->n < sizeof(r->c) / sizeof(r->c[0])) {
        r->c[r->n].fn = fn;
        r->c[r->n].ctx = ctx;
        r->n++;
    }
}

void
ts_metrics_write(ts_metrics_registry *r, ts_buf *out)
{
    ts_metrics_writer w = {out, NULL};
    for (size_t i = 0; i < r->n; i++)
        r->c[i].fn(r->c[i].ctx, &w);
}

void
ts_mw_family(ts_metrics_writer *w, const char *name, const char *type, const char *help)
{
    ts_buf_printf(w->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    w->family = name;
}

static void
put_value(ts_buf *out, double v)
{
    if (isnan(v))
        ts_buf_puts(out, "NaN");
    else if (isinf(v))
        ts_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        ts_buf_printf(out, "%lld", (long long)v);
    else {
        /* shortest text that reads back as the same double, as Go prints it */
        char tmp[32];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        ts_buf_puts(out, tmp);
    }
}

void
ts_mw_sample(ts_metrics_writer *w, const char *name, const char *labels, double v)
{
    if (labels && labels[0])
        ts_buf_printf(w->out, "%s{%s} ", name, labels);
    else
        ts_buf_printf(w->out, "%s ", name);
    put_value(w->out, v);
    ts_buf_putc(w->out, '\n');
}

void
ts_mw_counter(ts_metrics_writer *w, const char *name, const char *help, double v)
{
    ts_mw_family(w, name, "counter", help);
    ts_mw_sample(w, name, NULL, v);
}

void
ts_mw_gauge(ts_metrics_writer *w, const char *name, const char *help, double v)
{
    ts_mw_family(w, name, "gauge", help);
    ts_mw_sample(w, name, NULL, v);
}

void
ts_histogram_init(ts_histogram *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->nbounds = n < TS_HIST_MAX_BUCKETS ? n : TS_HIST_MAX_BUCKETS;
    memcpy(h->bounds, bounds, h->nbounds * sizeof(double));
}

void
ts_histogram_observe(ts_histogram *h, double v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    __atomic_add_fetch(&h->counts[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->sum_micro, (uint64_t)(v > 0 ? v * 1e6 : 0), __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
}

void
ts_mw_histogram(ts_metrics_writer *w, const char *name, const char *labels, const ts_histogram *h)
{
    char metric[256], lbl[512];
    uint64_t cum = 0;
    const char *sep = labels && labels[0] ? "," : "";
    snprintf(metric, sizeof(metric), "%s_bucket", name);
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
        if (i < h->nbounds)
            snprintf(lbl, sizeof(lbl), "%s%sle=\"%g\"", labels ? labels : "", sep, h->bounds[i]);
        else
            snprintf(lbl, sizeof(lbl), "%s%sle=\"+Inf\"", labels ? labels : "", sep);
        ts_mw_sample(w, metric, lbl, (double)cum);
    }
    snprintf(metric, sizeof(metric), "%s_sum", name);
    ts_mw_sample(w, metric, labels, (double)__atomic_load_n(&h->sum_micro, __ATOMIC_RELAXED) / 1e6);
    snprintf(metric, sizeof(metric), "%s_count", name);
    ts_mw_sample(w, metric, labels, (double)__atomic_load_n(&h->count, __ATOMIC_RELAXED));
}
