/*
 * The engine adapter end to end: our API + PromQL engine over a head, and a
 * real Prometheus 2.42 over the same samples (promtool-written blocks),
 * asked the same query/query_range requests; status and body must be
 * byte-identical.
 */
#include "pkg/promql/engine/engine.h"
#include "pkg/util/time.h"
#include "pkg/web/api.h"
#include "pkg/web/promql_api.h"
#include "tests/testutil/t.h"
#include "tests/unit/web/helpers.h"

#include <pthread.h>

/* %1$lld = first sample time (s); samples every 15 s, ten of them. */
static const char *const paths[] = {
    "/api/v1/query?query=up&time=%1$lld.140",
    "/api/v1/query?query=up%7Bjob%3D%22api%22%7D&time=%1$lld.140",
    "/api/v1/query?query=http_requests_total&time=%1$lld.140",
    "/api/v1/query?query=sum%20by%20(job)%20(up)&time=%1$lld.140",
    "/api/v1/query?query=count(up)&time=%1$lld.140",
    "/api/v1/query?query=up%5B1m%5D&time=%1$lld.140",
    "/api/v1/query?query=up*1e21&time=%1$lld.140",
    "/api/v1/query?query=up%2F3&time=%1$lld.140",
    "/api/v1/query?query=up*1e-7&time=%1$lld.140",
    "/api/v1/query?query=time()&time=%1$lld.140",
    "/api/v1/query?query=%22hello%22&time=%1$lld.140",
    "/api/v1/query?query=scalar(count(up))&time=%1$lld.140",
    "/api/v1/query?query=vector(1)&time=%1$lld.140",
    "/api/v1/query?query=abc%7B&time=%1$lld.140",
    "/api/v1/query?query=sum(up)%20by%20(&time=%1$lld.140",
    "/api/v1/query?query=&time=%1$lld.140",
    "/api/v1/query?query=-up&time=%1$lld.140",
    "/api/v1/query?query=up%20%3D%3D%20bool%201&time=%1$lld.140",
    "/api/v1/query?query=up&time=%1$lld",
    /* (timeout=0 on a valid query is not compared: Prometheus says "... in query queue" or
     * "... in query execution" at random) */
    "/api/v1/query?query=up%7B&time=%1$lld.140&timeout=0",
    "/api/v1/query_range?query=up&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query_range?query=sum(up)&start=%1$lld&end=%1$lld.150&step=30",
    "/api/v1/query_range?query=time()&start=%1$lld&end=%1$lld.150&step=7.5",
    "/api/v1/query_range?query=up%5B1m%5D&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query_range?query=%22x%22&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query_range?query=nothing&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query_range?query=1%2B&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query_range?query=&start=%1$lld&end=%1$lld.150&step=15",
    "/api/v1/query?query=1%5B1m%5D&time=%1$lld",
    "/api/v1/query?query=rate(up%5B1m%5D)&time=%1$lld.140",
    "/api/v1/query?query=topk(1%2Cup)&time=%1$lld.140",
    "/api/v1/query?query=sort_desc(up)&time=%1$lld.140",
    "/api/v1/query?query=up%7Bjob%3D~%22a.*%22%7D%20offset%201m&time=%1$lld.140",
    "/api/v1/"
    "query?query=label_replace(up%2C%22x%22%2C%22%3C%26%3E%22%2C%22%22%2C%22%22)&time=%1$lld.140",
};

static void
test_engine_vs_prometheus(void)
{
    int64_t base = (ts_now_ms() / 1000 - 3600) * 1000;
    prom p;
    int prc = prom_start(&p, base);
    T_EQ(prc, 0); /* needs the real prometheus and promtool */
    ts_head *head;
    T_OK(load_head(&head, base));
    ts_queryable qb = {.querier = head_querier, .impl = head};
    ts_promql_engine *eng;
    T_OK(ts_promql_engine_new(&eng, NULL));
    ts_web_promql wp = {.engine = eng, .queryable = &qb};
    ts_web_server *srv;
    ts_error err;
    T_OK(ts_web_server_new(&srv, &(ts_web_server_opts){.listen = "127.0.0.1:0"}, &err));
    ts_web_api *api;
    ts_web_api_opts ao = {.queryable = &qb, .query = ts_web_promql_query, .query_ctx = &wp};
    T_OK(ts_web_api_register(srv, &ao, &api));
    T_OK(ts_web_server_start(srv, &err));
    int mismatches = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        ts_buf b;
        ts_buf_init(&b, 0);
        for (const char *c = paths[i]; *c; c++) {
            if (strncmp(c, "%1$lld", 6) == 0) {
                ts_buf_printf(&b, "%lld", (long long)(base / 1000));
                c += 5;
            } else {
                ts_buf_putc(&b, (uint8_t)*c);
            }
        }
        mismatches += compare(p.port, ts_web_server_port(srv), ts_buf_cstr(&b));
        ts_buf_fini(&b);
    }
    /* the same as a POST form */
    char form[256];
    snprintf(form, sizeof form, "query=sum(up)&time=%lld.140", (long long)(base / 1000));
    reply a, r;
    T_OK(http(p.port, NULL, "/api/v1/query", form, 0, &a));
    T_OK(http(ts_web_server_port(srv), NULL, "/api/v1/query", form, 0, &r));
    T_EQ(a.status, 200);
    T_EQ(r.status, a.status);
    T_STREQ(ts_buf_cstr(&r.body), ts_buf_cstr(&a.body));
    reply_fini(&a);
    reply_fini(&r);
    prom_stop(&p);
    ts_web_server_free(srv);
    ts_web_api_free(api);
    ts_promql_engine_free(eng);
    ts_head_free(head);
    T_EQ(mismatches, 0);
}

typedef struct qarg {
    int port;
    const char *path;
    const char *want;
    int ok;
} qarg;

static void *
query_thread(void *p)
{
    qarg *a = p;
    for (int i = 0; i < 10; i++) {
        reply r;
        if (http(a->port, NULL, a->path, NULL, 0, &r) == 0 && r.status == 200 &&
            strcmp(ts_buf_cstr(&r.body), a->want) == 0)
            a->ok++;
        reply_fini(&r);
    }
    return NULL;
}

/* Queries run concurrently on the workers give the answers they give alone. */
static void
test_concurrent_queries(void)
{
    int64_t base = 1700000000000LL;
    ts_head *head;
    T_OK(load_head(&head, base));
    ts_queryable qb = {.querier = head_querier, .impl = head};
    ts_promql_engine *eng;
    T_OK(ts_promql_engine_new(&eng, NULL));
    ts_web_promql wp = {.engine = eng, .queryable = &qb};
    ts_web_server *srv;
    ts_error err;
    T_OK(ts_web_server_new(&srv, &(ts_web_server_opts){.listen = "127.0.0.1:0", .nworkers = 4},
                           &err));
    ts_web_api *api;
    T_OK(ts_web_api_register(
        srv, &(ts_web_api_opts){.queryable = &qb, .query = ts_web_promql_query, .query_ctx = &wp},
        &api));
    T_OK(ts_web_server_start(srv, &err));
    int port = ts_web_server_port(srv);
    static const char *const queries[] = {
        "/api/v1/query?query=sum%20by%20(job)%20(up)&time=1700000140",
        "/api/v1/query_range?query=rate(up%5B1m%5D)&start=1700000000&end=1700000150&step=15",
        "/api/v1/query?query=http_requests_total%7Bcode%3D%22200%22%7D&time=1700000140",
        "/api/v1/query_range?query=count(up)&start=1700000000&end=1700000150&step=5",
    };
    enum { NQ = sizeof queries / sizeof queries[0], NT = 8 };
    reply want[NQ];
    const char *want_body[NQ];
    for (int i = 0; i < NQ; i++) {
        T_OK(http(port, NULL, queries[i], NULL, 0, &want[i]));
        T_EQ(want[i].status, 200);
        want_body[i] = ts_buf_cstr(&want[i].body); /* before any thread reads it */
    }
    pthread_t th[NT];
    qarg args[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (qarg){port, queries[i % NQ], want_body[i % NQ], 0};
        pthread_create(&th[i], NULL, query_thread, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    T_EQ(ok, NT * 10);
    for (int i = 0; i < NQ; i++)
        reply_fini(&want[i]);
    ts_web_server_free(srv);
    ts_web_api_free(api);
    ts_promql_engine_free(eng);
    ts_head_free(head);
}

static void
at_exit(void)
{
    curl_global_cleanup();
}

__attribute__((constructor)) static void
setup(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(at_exit);
}

T_MAIN({"engine_vs_prometheus", test_engine_vs_prometheus},
       {"concurrent_queries", test_concurrent_queries})
