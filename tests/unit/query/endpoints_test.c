/*
 * pkg/query/endpoints.c on its own: which stores it knows (static, a store
 * file rewritten under it), how their health moves with a real store server
 * on loopback (pkg/store serving a small head), and what a snapshot
 * promises (sorted, copied into the caller's arena, clients referenced until
 * released even when discovery drops the store meanwhile).
 */
#include "pkg/query/endpoints.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/fs.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"

#include <unistd.h>

#define T0 1700000000000LL

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

/* A store: a head with one series of 10 samples from T0, served on loopback. */
typedef struct store {
    ts_head *h;
    ts_queryable qb;
    ts_labels *ext;
    ts_store_server *srv;
    char url[128];
} store;

static void
time_range(void *ctx, int64_t *mint, int64_t *maxt)
{
    *mint = T0;
    *maxt = T0 + 9 * 15000;
}

static int
store_serve(store *st, const char *listen)
{
    ts_store_server_opts so = {.listen_url = listen,
                               .queryable = &st->qb,
                               .external_labels = st->ext,
                               .component = "shard",
                               .time_range = time_range};
    ts_error err;
    ts_error_clear(&err);
    int rc = ts_store_server_start(&st->srv, &so, &err);
    if (rc == 0)
        snprintf(st->url, sizeof(st->url), "%s", ts_store_server_url(st->srv));
    return rc;
}

static int
store_start(store *st, const char *shard)
{
    memset(st, 0, sizeof(*st));
    ts_head_opts o = {.chunk_range_ms = 7200000};
    if (ts_head_new(&st->h, &o) != 0)
        return -1;
    ts_appender *app = ts_head_appender(st->h);
    ts_labels *ls = ts_labels_from_strings(4, "__name__", "up", "job", "j");
    for (int i = 0; i < 10; i++)
        app->ops->append(app, 0, ls, T0 + i * 15000, 1, NULL);
    ts_labels_free(ls);
    app->ops->commit(app);
    st->qb = (ts_queryable){head_querier, st->h};
    st->ext = ts_labels_from_strings(4, "replica", "a", "shard", shard);
    return store_serve(st, "tcp://127.0.0.1:0");
}

static void
store_free(store *st)
{
    ts_store_server_stop(st->srv);
    ts_head_free(st->h);
    ts_labels_free(st->ext);
}

/* The status of url in a fresh snapshot (copied into *out); false if absent. */
static bool
status_of(ts_endpoints *e, const char *url, ts_arena *a, ts_query_endpoint_status *out)
{
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, a, &st);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].url, url) == 0) {
            *out = st[i];
            found = true;
        }
    ts_query_endpoints_release(e, st, n);
    return found;
}

static size_t
count_stores(ts_endpoints *e, ts_arena *a)
{
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, a, &st);
    ts_query_endpoints_release(e, st, n);
    return n;
}

/* Static stores: known and probed when start returns; an address without a
 * scheme gets tcp://; the same store twice is one endpoint; sorted by URL;
 * Info's labels, time range and component are recorded. */
static void
test_static_stores(void)
{
    store s1, s2;
    T_OK(store_start(&s1, "1"));
    T_OK(store_start(&s2, "2"));
    const char *urls[] = {s2.url, s1.url + strlen("tcp://"), s1.url};
    ts_query_endpoints_opts eo = {.static_urls = urls, .nstatic = 3, .probe_timeout_ms = 2000};
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 2);
    T_TRUE(strcmp(st[0].url, st[1].url) < 0);
    for (size_t i = 0; i < n; i++) {
        T_TRUE(strcmp(st[i].url, s1.url) == 0 || strcmp(st[i].url, s2.url) == 0);
        T_TRUE(st[i].probed);
        T_TRUE(st[i].healthy);
        T_STREQ(st[i].last_error, "");
        T_TRUE(st[i].last_check_ms > 0);
        T_STREQ(st[i].component, "shard");
        T_EQ(st[i].mint, T0);
        T_EQ(st[i].maxt, T0 + 9 * 15000);
        T_STREQ(ts_labels_get(st[i].labels, "shard"), strcmp(st[i].url, s1.url) == 0 ? "1" : "2");
        T_TRUE(st[i].client != NULL);
    }
    ts_query_endpoints_release(e, st, n);
    ts_query_endpoints_stop(e);
    ts_arena_fini(&a);
    store_free(&s1);
    store_free(&s2);
}

/* A store file rewritten under a running endpoints set: stores come and go
 * with it (the watch sees the rename), a URL target is taken as written, and a
 * broken file keeps the last good set. */
static void
test_sd_file_rewritten(void)
{
    store s1, s2;
    T_OK(store_start(&s1, "1"));
    T_OK(store_start(&s2, "2"));
    char path[512], text[1024];
    snprintf(path, sizeof(path), "%s/stores.yml", t_tmpdir());
    snprintf(text, sizeof(text), "- targets: ['%s']\n", s1.url + strlen("tcp://"));
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    /* a long refresh: changes must come through the watch, not the timer */
    ts_query_endpoints_opts eo = {
        .sd_file = path, .sd_refresh_ms = 60000, .probe_interval_ms = 100};
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status one;
    T_EQ(count_stores(e, &a), 1);
    T_TRUE(status_of(e, s1.url, &a, &one));
    T_TRUE(one.healthy);

    /* s1 replaced by s2, plus a tls+tcp:// URL nobody serves */
    snprintf(text, sizeof(text),
             "- targets: ['%s']\n  labels: {team: x}\n"
             "- targets: ['tls+tcp://127.0.0.1:1']\n",
             s2.url);
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    int64_t deadline = ts_now_ms() + 10000;
    while (ts_now_ms() < deadline && (count_stores(e, &a) != 2 || status_of(e, s1.url, &a, &one)))
        usleep(20 * 1000);
    T_EQ(count_stores(e, &a), 2);
    T_FALSE(status_of(e, s1.url, &a, &one));
    T_TRUE(status_of(e, s2.url, &a, &one));
    T_TRUE(status_of(e, "tls+tcp://127.0.0.1:1", &a, &one));

    /* broken YAML: the two stay */
    T_OK(ts_fs_write_file_atomic(path, "- targets: [", 12));
    usleep(500 * 1000);
    T_EQ(count_stores(e, &a), 2);
    T_TRUE(status_of(e, s2.url, &a, &one));

    /* emptied: no stores */
    T_OK(ts_fs_write_file_atomic(path, "[]\n", 3));
    deadline = ts_now_ms() + 10000;
    while (ts_now_ms() < deadline && count_stores(e, &a) != 0)
        usleep(20 * 1000);
    T_EQ(count_stores(e, &a), 0);

    /* refresh_now re-reads at once (and probes what it finds) */
    snprintf(text, sizeof(text), "- targets: ['%s']\n", s1.url);
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    ts_query_endpoints_refresh_now(e);
    T_TRUE(status_of(e, s1.url, &a, &one));
    T_TRUE(one.probed && one.healthy);

    ts_query_endpoints_stop(e);
    ts_arena_fini(&a);
    store_free(&s1);
    store_free(&s2);
}

/* Health follows the store: healthy, unhealthy with the error once it stops
 * (found by the background probes), healthy again once it is back on the
 * same address. */
static void
test_probe_health_transitions(void)
{
    store s;
    T_OK(store_start(&s, "1"));
    const char *urls[] = {s.url};
    ts_query_endpoints_opts eo = {
        .static_urls = urls, .nstatic = 1, .probe_interval_ms = 100, .probe_timeout_ms = 500};
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status st;
    T_TRUE(status_of(e, s.url, &a, &st));
    T_TRUE(st.healthy);
    int64_t first_check = st.last_check_ms;

    /* probes repeat every probe interval: last_check moves on */
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline && status_of(e, s.url, &a, &st) &&
           st.last_check_ms == first_check)
        usleep(20 * 1000);
    T_TRUE(st.last_check_ms > first_check);

    ts_store_server_stop(s.srv);
    s.srv = NULL;
    deadline = ts_now_ms() + 10000;
    while (ts_now_ms() < deadline && status_of(e, s.url, &a, &st) && st.healthy)
        usleep(20 * 1000);
    T_FALSE(st.healthy);
    T_TRUE(st.probed);
    T_TRUE(st.last_error[0] != '\0');
    T_STREQ(ts_labels_get(st.labels, "shard"), "1"); /* kept from the last good probe */

    char listen[128];
    snprintf(listen, sizeof(listen), "%s", s.url);
    T_OK(store_serve(&s, listen));
    /* the client redials on its own (nng's reconnect back-off): a probe may
     * need a few tries; refresh_now probes at once, whatever endpoints'
     * back-off */
    deadline = ts_now_ms() + 10000;
    do {
        ts_query_endpoints_refresh_now(e);
    } while (ts_now_ms() < deadline && status_of(e, s.url, &a, &st) && !st.healthy);
    T_TRUE(st.healthy);
    T_STREQ(st.last_error, "");

    ts_query_endpoints_stop(e);
    ts_arena_fini(&a);
    store_free(&s);
}

/* A snapshot is a copy plus references: its strings live in the caller's
 * arena, and its clients stay usable after discovery dropped the store,
 * until the snapshot is released. */
static void
test_snapshot_outlives_removal(void)
{
    store s;
    T_OK(store_start(&s, "1"));
    char path[512], text[512];
    snprintf(path, sizeof(path), "%s/stores.yml", t_tmpdir());
    snprintf(text, sizeof(text), "- targets: ['%s']\n", s.url);
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    ts_query_endpoints_opts eo = {.sd_file = path, .sd_refresh_ms = 60000};
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 1);

    T_OK(ts_fs_write_file_atomic(path, "[]\n", 3));
    ts_query_endpoints_refresh_now(e);
    T_EQ(count_stores(e, &a), 0);
    /* the held entry still works */
    T_STREQ(st[0].url, s.url);
    ts_store_info info;
    ts_error_clear(&err);
    T_OK(ts_store_client_info(st[0].client, 2000, &a, &info, &err));
    T_STREQ(ts_labels_get(info.external_labels, "shard"), "1");
    ts_query_endpoints_release(e, st, n);
    /* strings are the arena's: still readable after the release */
    T_STREQ(st[0].url, s.url);
    T_STREQ(ts_labels_get(st[0].labels, "shard"), "1");

    /* a later snapshot is empty; an empty snapshot releases cleanly */
    n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 0);
    ts_query_endpoints_release(e, st, n);
    ts_query_endpoints_stop(e);
    ts_arena_fini(&a);
    store_free(&s);
}

T_MAIN({"static_stores", test_static_stores}, {"sd_file_rewritten", test_sd_file_rewritten},
       {"probe_health_transitions", test_probe_health_transitions},
       {"snapshot_outlives_removal", test_snapshot_outlives_removal})
