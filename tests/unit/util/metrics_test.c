#include "pkg/util/metrics.h"
#include "tests/testutil/t.h"

static void
collect(void *ctx, ts_metrics_writer *w)
{
    int *calls = ctx;
    (*calls)++;
    ts_mw_counter(w, "x_total", "An x.", 42);
    ts_mw_family(w, "y", "gauge", "A y.");
    ts_mw_sample(w, "y", "job=\"a\"", 1.5);
    ts_mw_sample(w, "y", "job=\"b\"", NAN);
}

static void
test_registry(void)
{
    ts_metrics_registry r;
    ts_metrics_init(&r);
    int calls = 0;
    ts_metrics_register(&r, collect, &calls);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_metrics_write(&r, &b);
    T_EQ(calls, 1);
    T_STREQ(ts_buf_cstr(&b), "# HELP x_total An x.\n# TYPE x_total counter\nx_total 42\n"
                             "# HELP y A y.\n# TYPE y gauge\ny{job=\"a\"} 1.5\ny{job=\"b\"} NaN\n");
    ts_buf_fini(&b);
}

static void
test_histogram(void)
{
    static const double bounds[] = {0.1, 1};
    ts_histogram h;
    ts_histogram_init(&h, bounds, 2);
    ts_histogram_observe(&h, 0.05);
    ts_histogram_observe(&h, 0.5);
    ts_histogram_observe(&h, 5);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_metrics_writer w = {&b, NULL};
    ts_mw_histogram(&w, "d", "h=\"x\"", &h);
    T_STREQ(ts_buf_cstr(&b), "d_bucket{h=\"x\",le=\"0.1\"} 1\nd_bucket{h=\"x\",le=\"1\"} 2\n"
                             "d_bucket{h=\"x\",le=\"+Inf\"} 3\nd_sum{h=\"x\"} 5.55\n"
                             "d_count{h=\"x\"} 3\n");
    ts_buf_fini(&b);
}

T_MAIN({"registry", test_registry}, {"histogram", test_histogram})
