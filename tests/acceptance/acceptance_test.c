/*
 * Runs the storage acceptance suite against each implementation:
 *  - the head (pkg/tsdb/head)
 *  - a store client talking over real nng tcp to a store server serving a head
 *  - the same with external labels and replica-label stripping
 */
#include "pkg/store/store.h"
#include "pkg/tsdb/db.h"
#include "pkg/tsdb/head/head.h"
#include "tests/acceptance/acceptance.h"
#include "tests/testutil/t.h"

#define T0 1700000000000LL

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

static ts_head *
loaded_head(void)
{
    ts_head *h;
    ts_head_opts o = {.chunk_range_ms = 2 * 3600 * 1000};
    if (ts_head_new(&h, &o))
        return NULL;
    if (acc_load(ts_head_appender(h), T0)) {
        ts_head_free(h);
        return NULL;
    }
    return h;
}

static void
test_head(void)
{
    ts_head *h = loaded_head();
    T_TRUE(h != NULL);
    ts_queryable qb = {head_querier, h};
    T_EQ(acc_run(&qb, T0, NULL), 0);
    ts_head_free(h);
}

static void
test_store_client(void)
{
    ts_head *h = loaded_head();
    T_TRUE(h != NULL);
    ts_queryable qb = {head_querier, h};
    ts_store_server *srv;
    ts_error err;
    ts_error_clear(&err);
    /* small batches so the cursor paging is exercised */
    ts_store_server_opts so = {
        .listen_url = "tcp://127.0.0.1:0", .queryable = &qb, .batch_series = 2, .workers = 2};
    T_OK(ts_store_server_start(&srv, &so, &err));
    ts_store_client *c;
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), NULL, &err));
    T_EQ(acc_run(ts_store_client_queryable(c), T0, NULL), 0);
    ts_store_server_stats st;
    ts_store_server_stats_get(srv, &st);
    T_EQ(st.open_cursors, 0);
    T_EQ(st.bad_frames_total, 0);
    T_TRUE(st.series_sent_total > 0);
    ts_store_client_free(c);
    ts_store_server_stop(srv);
    ts_head_free(h);
}

static void
test_store_external_labels(void)
{
    ts_head *h = loaded_head();
    ts_queryable qb = {head_querier, h};
    ts_labels *ext = ts_labels_from_strings(4, "replica", "a", "shard", "0");
    ts_store_server *srv;
    ts_error err;
    ts_error_clear(&err);
    ts_store_server_opts so = {.listen_url = "tcp://127.0.0.1:0",
                               .queryable = &qb,
                               .external_labels = ext,
                               .batch_series = 3};
    T_OK(ts_store_server_start(&srv, &so, &err));
    ts_store_client *c;
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), NULL, &err));
    /* external labels appear on every series and in label names */
    T_EQ(acc_run(ts_store_client_queryable(c), T0, ext), 0);
    /* without the replica label: the suite sees only shard="0" */
    static const char *const without[] = {"replica"};
    ts_store_query_opts qo = {
        .timeout_ms = 10000, .without_replica_labels = without, .nwithout = 1};
    ts_labels *shard_only = ts_labels_from_strings(2, "shard", "0");
    ts_querier *q;
    T_OK(ts_store_client_querier(c, T0, T0 + 1000000, &qo, &q));
    ts_matcher *m;
    T_OK(ts_matcher_new(&m, TS_MATCH_EQ, "replica", "a", NULL));
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    int n = 0;
    while (ts_ss_next(ss)) {
        T_FALSE(ts_labels_has(ts_ss_at(ss)->labels, "replica"));
        T_STREQ(ts_labels_get(ts_ss_at(ss)->labels, "shard"), "0");
        n++;
    }
    T_EQ(n, 11);
    ts_ss_free(ss);
    ts_matcher_free(m);
    /* a matcher on an external label that does not match rules the store out */
    T_OK(ts_matcher_new(&m, TS_MATCH_EQ, "shard", "1", NULL));
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    T_FALSE(ts_ss_next(ss));
    ts_ss_free(ss);
    ts_matcher_free(m);
    ts_querier_close(q);
    /* Info reports the external labels */
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_OK(ts_store_client_info(c, 5000, &a, &info, &err));
    T_TRUE(ts_labels_equal(info.external_labels, ext));
    T_STREQ(info.component, "shard");
    ts_arena_fini(&a);
    ts_labels_free(shard_only);
    ts_store_client_free(c);
    ts_store_server_stop(srv);
    ts_labels_free(ext);
    ts_head_free(h);
}

/* The TSDB: head only, after a restart (WAL replay), and after compaction
 * into blocks (10-minute blocks, so the 50-minute fixture spans several). */
static void
test_db(void)
{
    const char *dir = t_tmpdir();
    ts_db_opts o;
    ts_db_opts_default(&o);
    o.block_range_ms = 10 * 60 * 1000;
    o.retention_ms = 0;
    ts_db *db;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_OK(acc_load(ts_db_appender(db), T0));
    T_EQ(acc_run(ts_db_queryable(db), T0, NULL), 0);
    ts_db_close(db);
    T_OK(ts_db_open(dir, &o, &db, &err));
    T_EQ(acc_run(ts_db_queryable(db), T0, NULL), 0);
    T_OK(ts_db_compact(db, &err));
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    T_TRUE(st.num_blocks >= 2);
    T_EQ(acc_run(ts_db_queryable(db), T0, NULL), 0);
    ts_db_close(db);
}

T_MAIN({"head", test_head}, {"db", test_db}, {"store_client", test_store_client},
       {"store_external_labels", test_store_external_labels})
