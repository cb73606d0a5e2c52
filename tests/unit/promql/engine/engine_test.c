/* Unit tests for pkg/promql/engine: queries over a real in-memory head. */
#include "pkg/promql/engine/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pkg/tsdb/head/head.h"
#include "tests/testutil/t.h"

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

/* up{job="a"} = 0,1,2,..., up{job="b"} = 10,20,... and other{job="a"} = 1, every 15s
 * for 10 minutes. */
static ts_head *
make_head(ts_queryable *qb)
{
    ts_head *h = NULL;
    ts_head_opts o = {0};
    if (ts_head_new(&h, &o) != 0)
        return NULL;
    ts_appender *app = ts_head_appender(h);
    ts_labels *a = ts_labels_from_strings(4, "__name__", "up", "job", "a");
    ts_labels *b = ts_labels_from_strings(4, "__name__", "up", "job", "b");
    ts_labels *oth = ts_labels_from_strings(4, "__name__", "other", "job", "a");
    for (int i = 0; i <= 40; i++) {
        app->ops->append(app, 0, a, i * 15000, i, NULL);
        app->ops->append(app, 0, b, i * 15000, i * 10.0, NULL);
        app->ops->append(app, 0, oth, i * 15000, 1, NULL);
    }
    app->ops->commit(app);
    ts_labels_free(a);
    ts_labels_free(b);
    ts_labels_free(oth);
    qb->querier = head_querier;
    qb->impl = h;
    return h;
}

static int
query(ts_promql_engine *e, ts_queryable *qb, const char *s, int64_t t, ts_promql_query **q,
      ts_error *err)
{
    return ts_promql_query_instant(e, qb, s, strlen(s), t, q, err);
}

static void
test_instant_vector(void)
{
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    T_TRUE(h != NULL);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    ts_promql_query *q;
    ts_error err = {0};
    T_OK(query(e, &qb, "up", 60000, &q, &err));
    const ts_promql_result *r = ts_promql_query_result(q);
    T_EQ(r->type, TS_PROMQL_VT_VECTOR);
    T_EQ(r->nvec, 2);
    for (size_t i = 0; i < r->nvec; i++) {
        T_EQ(r->vec[i].t, 60000);
        const char *job = ts_labels_get(r->vec[i].labels, "job");
        T_FEQ(r->vec[i].v, strcmp(job, "a") == 0 ? 4 : 40);
    }
    ts_promql_query_close(q);

    T_OK(query(e, &qb, "sum(up) * 2", 60000, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->nvec, 1);
    T_FEQ(r->vec[0].v, 88);
    T_EQ(ts_labels_len(r->vec[0].labels), 0);
    ts_promql_query_close(q);

    T_OK(query(e, &qb, "scalar(up{job=\"b\"}) / 4", 60000, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->type, TS_PROMQL_VT_SCALAR);
    T_FEQ(r->scalar, 10);
    ts_promql_query_close(q);

    T_OK(query(e, &qb, "\"hello\"", 0, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->type, TS_PROMQL_VT_STRING);
    T_STREQ(r->str, "hello");
    ts_promql_query_close(q);

    /* A range selector gives a matrix with the raw samples of [t-1m, t]. */
    T_OK(query(e, &qb, "up{job=\"a\"}[1m]", 60000, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->type, TS_PROMQL_VT_MATRIX);
    T_EQ(r->nmat, 1);
    T_EQ(r->mat[0].n, 5);
    T_EQ(r->mat[0].samples[0].t, 0);
    T_EQ(r->mat[0].samples[4].t, 60000);
    ts_promql_query_close(q);

    char num[400];
    ts_promql_format_value(0.1, num, sizeof(num));
    T_STREQ(num, "0.1");
    ts_promql_format_value(-1e21, num, sizeof(num));
    T_STREQ(num, "-1000000000000000000000");
    ts_promql_format_value(-INFINITY, num, sizeof(num));
    T_STREQ(num, "-Inf");
    ts_promql_format_value(-1.7976931348623157e308, num, sizeof(num));
    T_EQ(strlen(num), 310);

    ts_promql_engine_free(e);
    ts_head_free(h);
}

static void
test_range_query(void)
{
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    ts_promql_query *q;
    ts_error err = {0};
    const char *s = "up{job=\"a\"} * 2";
    T_OK(ts_promql_query_range(e, &qb, s, strlen(s), 0, 120000, 30000, &q, &err));
    const ts_promql_result *r = ts_promql_query_result(q);
    T_EQ(r->type, TS_PROMQL_VT_MATRIX);
    T_EQ(r->nmat, 1);
    T_EQ(r->mat[0].n, 5);
    for (size_t i = 0; i < 5; i++) {
        T_EQ(r->mat[0].samples[i].t, (int64_t)i * 30000);
        T_FEQ(r->mat[0].samples[i].v, 4.0 * i);
    }
    T_FALSE(ts_labels_has(r->mat[0].labels, "__name__"));
    ts_promql_query_close(q);

    /* Scalars give one series without labels; results are sorted by labels. */
    s = "time()";
    T_OK(ts_promql_query_range(e, &qb, s, strlen(s), 0, 60000, 60000, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->nmat, 1);
    T_EQ(r->mat[0].n, 2);
    T_FEQ(r->mat[0].samples[1].v, 60);
    ts_promql_query_close(q);

    s = "up";
    T_OK(ts_promql_query_range(e, &qb, s, strlen(s), 0, 60000, 15000, &q, &err));
    r = ts_promql_query_result(q);
    T_EQ(r->nmat, 2);
    T_STREQ(ts_labels_get(r->mat[0].labels, "job"), "a");
    T_STREQ(ts_labels_get(r->mat[1].labels, "job"), "b");
    ts_promql_query_close(q);

    /* Range queries need a scalar or instant vector. */
    s = "up[1m]";
    T_EQ(ts_promql_query_range(e, &qb, s, strlen(s), 0, 60000, 15000, &q, &err), TS_EPARSE);
    T_TRUE(q == NULL);
    T_TRUE(strstr(err.msg, "invalid expression type \"range vector\" for range query") != NULL);
    T_EQ(ts_promql_query_range(e, &qb, "up", 2, 60000, 0, 15000, &q, &err), TS_EINVAL);

    ts_promql_engine_free(e);
    ts_head_free(h);
}

static void
test_errors(void)
{
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    ts_promql_query *q = (ts_promql_query *)1;
    ts_error err = {0};
    T_EQ(query(e, &qb, "sum(", 0, &q, &err), TS_EPARSE);
    T_TRUE(q == NULL);
    T_TRUE(strstr(err.msg, "parse error") != NULL);

    T_EQ(query(e, &qb, "-{job=\"a\"}", 0, &q, &err), TS_EINVAL);
    T_STREQ(err.msg, "vector cannot contain metrics with the same labelset");

    T_EQ(query(e, &qb, "up{job=\"a\"} + on() up", 0, &q, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "many-to-many matching not allowed") != NULL);
    ts_promql_engine_free(e);

    /* Sample limit: two series selected at one step exceed a limit of 1. */
    ts_promql_engine_opts o = {.max_samples = 1};
    T_OK(ts_promql_engine_new(&e, &o));
    T_OK(query(e, &qb, "up{job=\"a\"}", 0, &q, &err));
    ts_promql_query_close(q);
    T_EQ(query(e, &qb, "up", 0, &q, &err), TS_ELIMIT);
    T_STREQ(err.msg, "query processing would load too many samples into memory in query execution");
    ts_promql_engine_free(e);

    /* Memory: a subquery with billions of inner steps hits the memory bound
     * (not the machine's), with the sample-limit text. */
    ts_promql_engine_opts mo = {.max_bytes = 8 << 20, .timeout_ms = -1};
    T_OK(ts_promql_engine_new(&e, &mo));
    T_EQ(query(e, &qb, "max_over_time(sum(up)[100y:1ms])", 60000, &q, &err), TS_ELIMIT);
    T_STREQ(err.msg, "query processing would load too many samples into memory in query execution");
    ts_promql_engine_free(e);

    /* Timeout: a long range query with a 1 ms budget. */
    ts_promql_engine_opts to = {.timeout_ms = 1};
    T_OK(ts_promql_engine_new(&e, &to));
    const char *s = "max_over_time(up[10m:1s])";
    T_EQ(ts_promql_query_range(e, &qb, s, strlen(s), 0, 86400000, 1000, &q, &err), TS_ETIMEOUT);
    T_STREQ(err.msg, "query timed out in expression evaluation");
    ts_promql_engine_free(e);
    ts_head_free(h);
}

static void
test_lookback_option(void)
{
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine_opts o = {.lookback_ms = 60000};
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, &o));
    ts_promql_query *q;
    ts_error err = {0};
    /* Last samples at 600s: visible at 660s, gone at 661s with a 1m lookback. */
    T_OK(query(e, &qb, "count(up)", 660000, &q, &err));
    T_EQ(ts_promql_query_result(q)->nvec, 1);
    ts_promql_query_close(q);
    T_OK(query(e, &qb, "count(up)", 661000, &q, &err));
    T_EQ(ts_promql_query_result(q)->nvec, 0);
    ts_promql_query_close(q);
    ts_promql_engine_free(e);
    ts_head_free(h);
}

/* A range query of s over [start, end] must give, at each step, what an
 * instant query gives at that time, and nothing else. */
static void
check_range_matches_instant(ts_promql_engine *e, ts_queryable *qb, const char *s, int64_t start,
                            int64_t end, int64_t step)
{
    ts_promql_query *rq;
    ts_error err = {0};
    T_OK(ts_promql_query_range(e, qb, s, strlen(s), start, end, step, &rq, &err));
    const ts_promql_result *rr = ts_promql_query_result(rq);
    size_t ranged = 0, instant = 0;
    for (int64_t t = start; t <= end; t += step) {
        ts_promql_query *iq;
        T_OK(query(e, qb, s, t, &iq, &err));
        const ts_promql_result *ir = ts_promql_query_result(iq);
        size_t n = ir->type == TS_PROMQL_VT_SCALAR ? 1 : ir->nvec;
        instant += n;
        for (size_t i = 0; i < n; i++) {
            const ts_labels *l =
                ir->type == TS_PROMQL_VT_SCALAR ? ts_labels_empty() : ir->vec[i].labels;
            double v = ir->type == TS_PROMQL_VT_SCALAR ? ir->scalar : ir->vec[i].v;
            int found = 0;
            for (size_t j = 0; j < rr->nmat && !found; j++) {
                if (!ts_labels_equal(rr->mat[j].labels, l))
                    continue;
                for (size_t k = 0; k < rr->mat[j].n; k++)
                    if (rr->mat[j].samples[k].t == t) {
                        double w = rr->mat[j].samples[k].v;
                        found = (w == v || (isnan(w) && isnan(v))) ? 1 : -1;
                    }
            }
            if (found != 1)
                fprintf(stderr, "  %s at %lld: instant element %zu %s in range result\n", s,
                        (long long)t, i, found ? "differs" : "missing");
            T_EQ(found, 1);
        }
        ts_promql_query_close(iq);
    }
    for (size_t j = 0; j < rr->nmat; j++)
        ranged += rr->mat[j].n;
    T_EQ(ranged, instant); /* nothing extra in the range result */
    T_TRUE(instant > 0);
    ts_promql_query_close(rq);
}

static void
test_range_matches_instant(void)
{
    static const char *const exprs[] = {
        "rate(up[1m])",
        "sum by (job) (up)",
        "max_over_time(up[2m:30s])",
        "up offset 30s",
        "up @ 300",
        "topk(1, up)",
        "-up{job=\"a\"}",
        "up > 5",
        "up + on(job) group_left other",
        "absent(nonexistent)",
        "time()",
        "count_values(\"v\", up{job=\"a\"} % 3)",
        "avg_over_time(rate(up[1m])[3m:20s] offset 10s)",
        "up unless on(job) other",
        "quantile(0.3, up) + 1",
    };
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    for (size_t x = 0; x < sizeof(exprs) / sizeof(exprs[0]); x++)
        check_range_matches_instant(e, &qb, exprs[x], 0, 660000, 45000);
    ts_promql_engine_free(e);
    ts_head_free(h);
}

/* Series that come and go, so that the inputs of a node change between steps
 * (positions shift, groups appear and vanish): the per-node caches of a range
 * query (group ids by input position, labels without __name__) must give
 * what fresh instant queries give.  c{g=...,i=k} lives for a different span
 * for each k; d{...} shares c's labels but the name, in a span of its own. */
static ts_head *
make_churn_head(ts_queryable *qb)
{
    ts_head *h = NULL;
    ts_head_opts o = {0};
    if (ts_head_new(&h, &o) != 0)
        return NULL;
    ts_appender *app = ts_head_appender(h);
    char iv[8];
    for (int k = 0; k < 8; k++) {
        snprintf(iv, sizeof(iv), "%d", k);
        ts_labels *c =
            ts_labels_from_strings(6, "__name__", "c", "g", k % 3 ? "odd" : "even", "i", iv);
        ts_labels *d = ts_labels_from_strings(6, "__name__", "d", "g", "x", "i", iv);
        for (int i = 0; i <= 60; i++) {
            /* c{i=k} exists for steps [4k, 4k + 30); d{i=k} for [50, 60] */
            if (i >= 4 * k && i < 4 * k + 30)
                app->ops->append(app, 0, c, i * 15000, i * (k + 1), NULL);
            if (i >= 50)
                app->ops->append(app, 0, d, i * 15000, i, NULL);
        }
        ts_labels_free(c);
        ts_labels_free(d);
    }
    app->ops->commit(app);
    qb->querier = head_querier;
    qb->impl = h;
    return h;
}

static void
test_range_churn(void)
{
    static const char *const exprs[] = {
        "sum by (g) (rate(c[1m]))",
        "count by (g) (c)",
        "max without (i) (c)",
        "topk(2, rate(c[1m]))",
        "sum by (g) (rate({__name__=~\"c|d\", i=\"1\"}[30s]))",
        "rate({__name__=~\"c|d\", g=\"x\"}[1m])",
        "avg_over_time(sum by (g) (rate(c[1m]))[2m:15s])",
        "count_values(\"v\", floor(rate(c[1m]) * 10))",
    };
    ts_queryable qb;
    ts_head *h = make_churn_head(&qb);
    T_TRUE(h != NULL);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    for (size_t x = 0; x < sizeof(exprs) / sizeof(exprs[0]); x++)
        check_range_matches_instant(e, &qb, exprs[x], 0, 900000, 15000);
    ts_head_free(h);

    /* a{j="1"} and b{j="1"} differ only by name and live at different times. */

    ts_head *h2 = NULL;
    ts_head_opts o = {0};
    T_OK(ts_head_new(&h2, &o));
    ts_appender *app = ts_head_appender(h2);
    ts_labels *a = ts_labels_from_strings(4, "__name__", "a", "j", "1");
    ts_labels *b = ts_labels_from_strings(4, "__name__", "b", "j", "1");
    for (int i = 0; i <= 40; i++) {
        if (i < 10)
            app->ops->append(app, 0, a, i * 15000, i, NULL);
        if (i >= 20)
            app->ops->append(app, 0, b, i * 15000, i, NULL);
    }
    app->ops->commit(app);
    ts_labels_free(a);
    ts_labels_free(b);
    qb.impl = h2;
    /* Never both in one 1m window: no clash at any step. */
    check_range_matches_instant(e, &qb, "rate({j=\"1\"}[1m])", 0, 600000, 15000);
    /* A 5m window holds both from t = 300s on: the same error as Prometheus. */
    ts_promql_query *q = NULL;
    ts_error err = {0};
    const char *s = "rate({j=\"1\"}[5m])";
    T_EQ(ts_promql_query_range(e, &qb, s, strlen(s), 0, 600000, 15000, &q, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "vector cannot contain metrics with the same labelset") != NULL);
    T_TRUE(q == NULL);
    ts_promql_engine_free(e);
    ts_head_free(h2);
}

/* Times at the ends of the int64 range must neither crash nor wrap around. */
static void
test_extreme_times(void)
{
    static const char *const exprs[] = {
        "up @ 9223372036854775",
        "up @ -9223372036854775",
        "rate(up[5m] @ -9223372036854775)",
        "predict_linear(up[5m] @ 9223372036854775, 60)",
        "up offset -100y",
        "up offset 100y",
        "max_over_time(up[1h:1m] @ 9223372036854775 offset -1y)",
        "count_over_time(up[1h:1m] @ -9223372036854775 offset 1y)",
        "timestamp(up @ 9223372036854775)",
    };
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        ts_promql_query *q = NULL;
        ts_error err = {0};
        int rc = query(e, &qb, exprs[i], 60000, &q, &err);
        T_TRUE(rc == 0 || rc == TS_EPARSE); /* the parser may reject out-of-range @ */
        if (rc == 0) {
            const ts_promql_result *r = ts_promql_query_result(q);
            T_EQ(r->type, TS_PROMQL_VT_VECTOR);
            T_EQ(r->nvec, 0); /* no data that far away */
        }
        ts_promql_query_close(q);
        rc = ts_promql_query_range(e, &qb, exprs[i], strlen(exprs[i]), INT64_MAX - 100000,
                                   INT64_MAX - 1, 30000, &q, &err);
        T_TRUE(rc == 0 || rc == TS_EPARSE);
        ts_promql_query_close(q);
    }
    ts_promql_engine_free(e);
    ts_head_free(h);
}

/* One engine and one head shared by several threads running queries at once. */
typedef struct par_ctx {
    ts_promql_engine *e;
    ts_queryable *qb;
    int bad;
} par_ctx;

static void *
par_worker(void *arg)
{
    par_ctx *c = arg;
    for (int i = 0; i < 30; i++) {
        int64_t t = (i % 10) * 60000;
        ts_promql_query *q;
        ts_error err = {0};
        const char *s = "sum(up{job=\"a\"}) + count(up)";
        if (ts_promql_query_instant(c->e, c->qb, s, strlen(s), t, &q, &err) != 0) {
            c->bad++;
            continue;
        }
        const ts_promql_result *r = ts_promql_query_result(q);
        /* up{job="a"} at t is t/15s; count(up) is 2. */
        if (r->nvec != 1 || r->vec[0].v != (double)(t / 15000) + 2)
            c->bad++;
        ts_promql_query_close(q);
        s = "sum(rate(up[1m]))";
        if (ts_promql_query_range(c->e, c->qb, s, strlen(s), 60000, 600000, 30000, &q, &err) != 0) {
            c->bad++;
            continue;
        }
        r = ts_promql_query_result(q);
        /* rate of job a is 1/15 per second, of job b 10/15. */
        if (r->nmat != 1 || r->mat[0].n != 19 || fabs(r->mat[0].samples[3].v - 11.0 / 15) > 1e-9)
            c->bad++;
        ts_promql_query_close(q);
    }
    return NULL;
}

static void
test_concurrent_queries(void)
{
    ts_queryable qb;
    ts_head *h = make_head(&qb);
    ts_promql_engine *e;
    T_OK(ts_promql_engine_new(&e, NULL));
    pthread_t th[4];
    par_ctx ctx[4];
    for (int i = 0; i < 4; i++) {
        ctx[i] = (par_ctx){e, &qb, 0};
        T_EQ(pthread_create(&th[i], NULL, par_worker, &ctx[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += ctx[i].bad;
    }
    T_EQ(bad, 0);
    ts_promql_engine_free(e);
    ts_head_free(h);
}

T_MAIN({"instant_vector", test_instant_vector}, {"concurrent_queries", test_concurrent_queries},
       {"extreme_times", test_extreme_times}, {"range_query", test_range_query},
       {"range_matches_instant", test_range_matches_instant}, {"range_churn", test_range_churn},
       {"errors", test_errors}, {"lookback_option", test_lookback_option})
