/*
 * The fan-out querier over real store servers on loopback (nng tcp), each
 * serving a real in-memory head: 2 shards x 2 HA replicas.
 */
#include "pkg/query/fanout.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/fs.h"
#include "pkg/util/time.h"
#include "tests/acceptance/acceptance.h"
#include "tests/testutil/t.h"

#include <unistd.h>

#define T0 1700000000000LL
#define STEP 15000

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

typedef struct store {
    ts_head *h;
    int delay_ms; /* every querier opens this late (a slow replica) */
    ts_queryable qb;
    ts_store_server *srv;
    ts_labels *ext;
} store;

/* Shard s, replica r: series up{job="j<s>", instance="i<k>"} k=0..2 with a
 * counter value; replica "b" misses samples [gap_lo, gap_hi). */
static int
store_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    store *st = qb->impl;
    if (st->delay_ms)
        usleep((useconds_t)st->delay_ms * 1000);
    return ts_head_querier(st->h, mint, maxt, out);
}

static void
store_start(store *st, int shard, const char *replica, int64_t gap_lo, int64_t gap_hi,
            int64_t shift)
{
    ts_head_opts o = {.chunk_range_ms = 7200000};
    st->delay_ms = 0;
    ts_head_new(&st->h, &o);
    ts_appender *app = ts_head_appender(st->h);
    char job[16];
    snprintf(job, sizeof(job), "j%d", shard);
    for (int k = 0; k < 3; k++) {
        char inst[16];
        snprintf(inst, sizeof(inst), "i%d", k);
        ts_labels *ls = ts_labels_from_strings(6, "__name__", "up", "job", job, "instance", inst);
        for (int i = 0; i < 100; i++) {
            int64_t t = T0 + (int64_t)i * STEP + shift;
            if (t >= gap_lo && t < gap_hi)
                continue;
            app->ops->append(app, 0, ls, t, (double)(i * 10), NULL);
        }
        ts_labels_free(ls);
    }
    app->ops->commit(app);
    st->qb = (ts_queryable){store_querier, st};
    char sh[8];
    snprintf(sh, sizeof(sh), "%d", shard);
    st->ext = ts_labels_from_strings(4, "replica", replica, "shard", sh);
    ts_store_server_opts so = {.listen_url = "tcp://127.0.0.1:0",
                               .queryable = &st->qb,
                               .external_labels = st->ext,
                               .batch_series = 2};
    ts_error err;
    ts_store_server_start(&st->srv, &so, &err);
}

static void
store_stop(store *st)
{
    ts_store_server_stop(st->srv);
    st->srv = NULL;
}

static void
store_free(store *st)
{
    if (st->srv)
        ts_store_server_stop(st->srv);
    ts_head_free(st->h);
    ts_labels_free(st->ext);
}

static const char *const replica_label[] = {"replica"};

/* The querier's defaults: dedup over "replica", partial responses, 5 s. */
static ts_query_fanout_opts
ha_opts(void)
{
    return (ts_query_fanout_opts){.dedup = true,
                                  .partial_response = true,
                                  .replica_labels = replica_label,
                                  .nreplica = 1,
                                  .timeout_ms = 5000};
}

/* Counts series and samples of up{} over the whole range; collects warnings. */
static int
count(ts_queryable *qb, size_t *nseries, size_t *nsamples, size_t *nwarn, int64_t *maxgap,
      ts_error *err, const char *func)
{
    ts_querier *q;
    ts_queryable_querier(qb, T0, T0 + 200 * STEP, &q);
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "up", NULL);
    ts_series_set *ss;
    ts_select_hints h = {.func = func};
    int rc = q->ops->select(q, true, &h, &m, 1, &ss, err);
    *nseries = *nsamples = *nwarn = 0;
    *maxgap = 0;
    if (rc == 0) {
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            ts_iterator *it = s->ops->iterator(s);
            int64_t last = 0;
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                if (last && t - last > *maxgap)
                    *maxgap = t - last;
                last = t;
                (*nsamples)++;
            }
            ts_it_free(it);
            (*nseries)++;
        }
        if (ss->error.code) {
            *err = ss->error;
            rc = ss->error.code;
        }
        *nwarn = ss->nwarnings;
        if (ss->nwarnings)
            snprintf(err->msg, sizeof(err->msg), "%s", ss->warnings[0]);
        ts_ss_free(ss);
    }
    ts_matcher_free(m);
    ts_querier_close(q);
    return rc;
}

static void
test_ha_dedup_and_partial_response(void)
{
    store s[4];
    store_start(&s[0], 0, "a", 0, 0, 0);
    store_start(&s[1], 0, "b", T0 + 20 * STEP, T0 + 40 * STEP, 2000); /* b has a 5 min hole */
    store_start(&s[2], 1, "a", T0 + 60 * STEP, T0 + 70 * STEP, 0);    /* a has a hole, b not */
    store_start(&s[3], 1, "b", 0, 0, 3000);
    char url_buf[4][128];
    const char *urls[4];
    for (int i = 0; i < 4; i++) {
        snprintf(url_buf[i], sizeof(url_buf[i]), "%s", ts_store_server_url(s[i].srv));
        urls[i] = url_buf[i];
    }
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    ts_query_endpoints_opts eo = {
        .static_urls = urls, .nstatic = 4, .probe_interval_ms = 200, .probe_timeout_ms = 1000};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 4);
    for (size_t i = 0; i < n; i++) {
        T_TRUE(st[i].healthy);
        T_TRUE(ts_labels_has(st[i].labels, "replica"));
    }
    ts_query_endpoints_release(e, st, n);

    ts_fanout f;
    ts_query_fanout_opts fo = ha_opts();
    ts_query_fanout_init(&f, e, &fo);
    size_t ns, nsamp, nw;
    int64_t gap;
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 6); /* 2 shards x 3 instances, not 12 */
    T_EQ(nw, 0);
    T_TRUE(gap <= 3 * STEP); /* each replica's hole is filled by the other */
    T_TRUE(nsamp >= 6 * 95);

    /* dedup off: both replicas' series, with the replica label */
    ts_fanout f2;
    ts_query_fanout_opts fo2 = fo;
    fo2.dedup = false;
    ts_query_fanout_init(&f2, e, &fo2);
    T_OK(count(&f2.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 12);

    /* one replica of shard 0 down: its peer answered, so the answer is
     * complete: no warning, and strict mode does not fail either */
    store_stop(&s[0]);
    /* wait for the probes to notice (they run every 200 ms, 1 s timeout) */
    int64_t until = ts_now_ms() + 10000;
    bool down = false;
    while (!down && ts_now_ms() < until) {
        usleep(100 * 1000);
        n = ts_query_endpoints_snapshot(e, &a, &st);
        for (size_t i = 0; i < n; i++)
            down |= strcmp(st[i].url, urls[0]) == 0 && !st[i].healthy;
        ts_query_endpoints_release(e, st, n);
    }
    T_TRUE(down);
    ts_query_fanout_stats stats = {0};
    fo.stats = &stats;
    ts_query_fanout_init(&f, e, &fo);
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 6);
    T_EQ(nw, 0);
    T_EQ(stats.replica_failures_total, 1);
    ts_fanout f3;
    ts_query_fanout_opts fo3 = fo;
    fo3.partial_response = false;
    ts_query_fanout_init(&f3, e, &fo3);
    ts_error_clear(&err);
    T_OK(count(&f3.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 6);
    /* both replicas of shard 0 down: a warning naming the shard and both
     * stores; strict mode fails the query with the same text */
    store_stop(&s[1]);
    ts_error_clear(&err);
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 3);
    T_EQ(nw, 1);
    T_TRUE(strstr(err.msg, "shard {shard=\"0\"}: no replica answered") != NULL);
    T_TRUE(strstr(err.msg, urls[0]) != NULL);
    T_TRUE(strstr(err.msg, urls[1]) != NULL);
    T_EQ(stats.partial_responses_total, 1);
    ts_error_clear(&err);
    T_NE(count(&f3.qb, &ns, &nsamp, &nw, &gap, &err, NULL), 0);
    T_TRUE(strstr(err.msg, urls[0]) != NULL && strstr(err.msg, urls[1]) != NULL);

    /* label values across stores, replica label not among names */
    ts_querier *q;
    ts_queryable_querier(&f.qb, T0, T0 + 200 * STEP, &q);
    const char **vals;
    size_t nv;
    T_OK(q->ops->label_values(q, "job", NULL, 0, &a, &vals, &nv, &err));
    T_EQ(nv, 1);
    T_STREQ(vals[0], "j1");
    T_OK(q->ops->label_names(q, NULL, 0, &a, &vals, &nv, &err));
    for (size_t i = 0; i < nv; i++)
        T_TRUE(strcmp(vals[i], "replica") != 0);
    T_EQ(nv, 4); /* __name__ instance job shard (shard 1 answered; shard 0 is down) */
    /* pruning by external labels: shard="1" only asks shard 1's stores */
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "shard", "1", NULL);
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    int cnt = 0;
    while (ts_ss_next(ss))
        cnt++;
    T_EQ(cnt, 3);
    T_EQ(ss->nwarnings, 0); /* the dead store (shard 0) was pruned, not asked */
    ts_ss_free(ss);
    ts_matcher_free(m);
    ts_querier_close(q);

    ts_arena_fini(&a);
    ts_query_endpoints_stop(e);
    for (int i = 0; i < 4; i++)
        store_free(&s[i]);
}

/* A replica that answers late while its peer already answered does not hold
 * the query up past max(slow_replica_ms, the peer's time); replicas that
 * answer in time are still merged (the hole of one is filled by the other). */
static void
test_slow_replica_skipped(void)
{
    store s[2];
    store_start(&s[0], 0, "a", T0 + 20 * STEP, T0 + 40 * STEP, 0); /* a has a hole */
    store_start(&s[1], 0, "b", 0, 0, 1000);
    const char *urls[2] = {ts_store_server_url(s[0].srv), ts_store_server_url(s[1].srv)};
    ts_endpoints *e;
    ts_error err;
    ts_query_endpoints_opts eo = {.static_urls = urls, .nstatic = 2};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_query_fanout_stats stats = {0};
    ts_fanout f;
    ts_query_fanout_opts fo = {.dedup = true,
                               .partial_response = true,
                               .replica_labels = replica_label,
                               .nreplica = 1,
                               .timeout_ms = 20000,
                               .slow_replica_ms = 300,
                               .stats = &stats};
    ts_query_fanout_init(&f, e, &fo);
    size_t ns, nsamp, nw;
    int64_t gap;
    /* both fast: both merged, a's hole filled */
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_EQ(ns, 3);
    T_TRUE(gap <= 3 * STEP);
    T_EQ(stats.slow_replicas_skipped_total, 0);
    /* b slow (3 s): answered from a within ~300 ms, no warning */
    s[1].delay_ms = 3000;
    int64_t t0 = ts_now_ms();
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    int64_t took = ts_now_ms() - t0;
    T_TRUE(took < 1500);
    T_EQ(ns, 3);
    T_EQ(nw, 0);
    T_EQ(stats.slow_replicas_skipped_total, 1);
    /* a little slow (150 ms, inside the allowance): still merged */
    s[1].delay_ms = 150;
    T_OK(count(&f.qb, &ns, &nsamp, &nw, &gap, &err, NULL));
    T_TRUE(gap <= 3 * STEP);
    T_EQ(stats.slow_replicas_skipped_total, 1);
    s[1].delay_ms = 0;
    ts_query_endpoints_stop(e);
    store_free(&s[0]);
    store_free(&s[1]);
}

static void
test_sd_file_adds_and_removes_stores(void)
{
    store s[2];
    store_start(&s[0], 0, "a", 0, 0, 0);
    store_start(&s[1], 1, "a", 0, 0, 0);
    const char *dir = t_tmpdir();
    char path[512], text[512];
    snprintf(path, sizeof(path), "%s/stores.yml", dir);
    snprintf(text, sizeof(text), "- targets: ['%s']\n", ts_store_server_url(s[0].srv) + 6);
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    ts_endpoints *e;
    ts_error err;
    ts_query_endpoints_opts eo = {.sd_file = path, .sd_refresh_ms = 100, .probe_interval_ms = 100};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 1);
    ts_query_endpoints_release(e, st, n);
    /* add the second store: picked up within a refresh interval or two */
    snprintf(text, sizeof(text), "- targets: ['%s', '%s']\n", ts_store_server_url(s[0].srv),
             ts_store_server_url(s[1].srv));
    usleep(20 * 1000); /* a different mtime */
    T_OK(ts_fs_write_file_atomic(path, text, strlen(text)));
    int64_t deadline = ts_now_ms() + 5000;
    size_t healthy = 0;
    while (ts_now_ms() < deadline && healthy < 2) {
        usleep(50 * 1000);
        n = ts_query_endpoints_snapshot(e, &a, &st);
        healthy = 0;
        for (size_t i = 0; i < n; i++)
            healthy += st[i].healthy;
        ts_query_endpoints_release(e, st, n);
    }
    T_EQ(healthy, 2);
    /* a broken file keeps the last good list */
    T_OK(ts_fs_write_file_atomic(path, "{{{", 3));
    usleep(400 * 1000);
    n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, 2);
    ts_query_endpoints_release(e, st, n);
    ts_arena_fini(&a);
    ts_query_endpoints_stop(e);
    store_free(&s[0]);
    store_free(&s[1]);
}

/* --store.sd-dns=dns+HOST:PORT: stores found by an A/AAAA lookup */
static void
test_dns_discovery(void)
{
    store st;
    store_start(&st, 0, "a", 0, 0, 0);
    const char *url = ts_store_server_url(st.srv); /* tcp://127.0.0.1:PORT */
    char spec[64];
    snprintf(spec, sizeof(spec), "dns+localhost:%s", strrchr(url, ':') + 1);
    ts_endpoints *e;
    ts_error err;
    const char *specs[] = {"dns+nonexistent.invalid:1",
                           spec}; /* one bad name does not hide the other */
    ts_query_endpoints_opts eo = {.sd_dns = specs, .nsd_dns = 2, .probe_timeout_ms = 1000};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *sts;
    size_t n = ts_query_endpoints_snapshot(e, &a, &sts);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(sts[i].url, url) == 0 && sts[i].healthy;
    ts_query_endpoints_release(e, sts, n);
    T_TRUE(found);
    ts_arena_fini(&a);
    ts_query_endpoints_stop(e);
    store_free(&st);
}

/* Series of one select through q; SIZE_MAX if it failed or warned. */
static size_t
select_count(ts_querier *q, const ts_select_hints *h, ts_matcher *const *ms, size_t nms)
{
    ts_series_set *ss;
    ts_error err;
    ts_error_clear(&err);
    if (q->ops->select(q, true, h, ms, nms, &ss, &err) != TS_OK)
        return SIZE_MAX;
    size_t n = 0;
    while (ts_ss_next(ss))
        n++;
    if (ss->error.code || ss->nwarnings)
        n = SIZE_MAX;
    ts_ss_free(ss);
    return n;
}

static void
test_prefetch(void)
{
    /* announced selects are asked at once and taken in order; one out of
     * order, or one never made, changes nothing but the round trips */
    store s[4];
    store_start(&s[0], 0, "a", 0, 0, 0);
    store_start(&s[1], 0, "b", 0, 0, 2000);
    store_start(&s[2], 1, "a", 0, 0, 0);
    store_start(&s[3], 1, "b", 0, 0, 3000);
    const char *urls[4];
    for (int i = 0; i < 4; i++)
        urls[i] = ts_store_server_url(s[i].srv);
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    ts_query_endpoints_opts eo = {.static_urls = urls, .nstatic = 4};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_fanout f;
    ts_query_fanout_opts fo = ha_opts();
    ts_query_fanout_init(&f, e, &fo);
    ts_matcher *m[3];
    T_OK(ts_matcher_new(&m[0], TS_MATCH_EQ, "job", "j0", NULL));
    T_OK(ts_matcher_new(&m[1], TS_MATCH_EQ, "job", "j1", NULL));
    T_OK(ts_matcher_new(&m[2], TS_MATCH_EQ, "__name__", "up", NULL));
    ts_matcher *const *ms[3] = {&m[0], &m[1], &m[2]};
    size_t nms[3] = {1, 1, 1};
    ts_select_hints h[3];
    for (int i = 0; i < 3; i++)
        h[i] = (ts_select_hints){.start = T0, .end = T0 + 200 * STEP};

    /* in order: every select takes its prefetched fan-out */
    ts_querier *q;
    T_OK(ts_queryable_querier(&f.qb, T0, T0 + 200 * STEP, &q));
    T_TRUE(q->ops->prefetch != NULL);
    q->ops->prefetch(q, h, ms, nms, 3);
    T_EQ(select_count(q, &h[0], ms[0], 1), 3);
    T_EQ(select_count(q, &h[1], ms[1], 1), 3);
    T_EQ(select_count(q, &h[2], ms[2], 1), 6); /* both shards, replicas deduplicated */
    ts_querier_close(q);

    /* out of order: the second select is asked anew, the first takes its
     * fan-out, the announced second is dropped at close */
    T_OK(ts_queryable_querier(&f.qb, T0, T0 + 200 * STEP, &q));
    q->ops->prefetch(q, h, ms, nms, 2);
    T_EQ(select_count(q, &h[1], ms[1], 1), 3);
    T_EQ(select_count(q, &h[0], ms[0], 1), 3);
    ts_querier_close(q);

    /* announced, never made (a query that failed first): all dropped */
    T_OK(ts_queryable_querier(&f.qb, T0, T0 + 200 * STEP, &q));
    q->ops->prefetch(q, h, ms, nms, 3);
    ts_querier_close(q);

    for (int i = 0; i < 3; i++)
        ts_matcher_free(m[i]);
    ts_query_endpoints_stop(e);
    for (int i = 0; i < 4; i++)
        store_free(&s[i]);
}

static void
test_acceptance_through_fanout(void)
{
    /* two identical replicas of one store: dedup makes them one, and the
     * acceptance suite must see exactly the fixture plus shard="0" */
    ts_head *h;
    ts_head_opts o = {.chunk_range_ms = 7200000};
    T_OK(ts_head_new(&h, &o));
    T_OK(acc_load(ts_head_appender(h), T0));
    ts_queryable qb = {head_querier, h};
    ts_labels *ea = ts_labels_from_strings(4, "replica", "a", "shard", "0");
    ts_labels *eb = ts_labels_from_strings(4, "replica", "b", "shard", "0");
    ts_store_server *sa, *sb;
    ts_error err;
    ts_store_server_opts so = {
        .listen_url = "tcp://127.0.0.1:0", .queryable = &qb, .external_labels = ea};
    T_OK(ts_store_server_start(&sa, &so, &err));
    so.external_labels = eb;
    T_OK(ts_store_server_start(&sb, &so, &err));
    const char *urls[2] = {ts_store_server_url(sa), ts_store_server_url(sb)};
    ts_endpoints *e;
    ts_query_endpoints_opts eo = {.static_urls = urls, .nstatic = 2};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_fanout f;
    ts_query_fanout_opts fo = ha_opts();
    ts_query_fanout_init(&f, e, &fo);
    ts_labels *shard = ts_labels_from_strings(2, "shard", "0");
    T_EQ(acc_run(&f.qb, T0, shard), 0);
    ts_labels_free(shard);
    ts_query_endpoints_stop(e);
    ts_store_server_stop(sa);
    ts_store_server_stop(sb);
    ts_labels_free(ea);
    ts_labels_free(eb);
    ts_head_free(h);
}

/* ---- MetaRequest kinds across versions (a rolling upgrade) */

/* A store server with a real (empty) head and a MetaRequest callback that answers the kinds in
 * serves (a target or a rule group named after the store, "{}" for metric metadata) and
 * "unsupported" for the others, as a shard or ruler does.  listed: whether its Info lists them
 * (as this version's stores do) or not (as the stores before the list did). */
typedef struct meta_store {
    ts_head *h;
    ts_queryable qb;
    ts_store_server *srv;
    ts_labels *ext;
    const char *name;
    uint32_t serves;
    int calls[TS_STORE_META_NKINDS];
    char url[128];
} meta_store;

static int
meta_answer(void *ctx, int kind, const char *const *params, size_t nparams, ts_buf *json,
            ts_error *err)
{
    meta_store *m = ctx;
    __atomic_add_fetch(&m->calls[kind], 1, __ATOMIC_RELAXED);
    if (!(m->serves & TS_STORE_META_BIT(kind)))
        return ts_error_set(err, TS_EUNSUPPORTED, "unknown meta kind %d", kind);
    if (kind == TS_STORE_META_TARGETS)
        ts_buf_printf(json,
                      "{\"activeTargets\":[{\"scrapePool\":\"j\",\"scrapeUrl\":\"http://%s/\","
                      "\"labels\":{\"instance\":\"%s\"},\"health\":\"up\"}],"
                      "\"droppedTargets\":[]}",
                      m->name, m->name);
    else if (kind == TS_STORE_META_RULES)
        ts_buf_printf(json, "{\"groups\":[{\"name\":\"%s\",\"file\":\"f\",\"rules\":[]}]}",
                      m->name);
    else
        ts_buf_printf(json, "{}");
    return TS_OK;
}

static void
meta_store_start(meta_store *m, const char *name, const char *component, int shard,
                 const char *replica, uint32_t serves, bool listed)
{
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->serves = serves;
    ts_head_opts o = {.chunk_range_ms = 7200000};
    T_OK(ts_head_new(&m->h, &o));
    m->qb = (ts_queryable){head_querier, m->h};
    m->ext = ts_labels_from_strings(2, "replica", replica);
    ts_store_server_opts so = {.listen_url = "tcp://127.0.0.1:0",
                               .queryable = &m->qb,
                               .external_labels = m->ext,
                               .component = component,
                               .shard_index = shard < 0 ? 0 : (uint32_t)shard,
                               .shard_count = shard < 0 ? 0 : 3,
                               .meta = meta_answer,
                               .meta_ctx = m,
                               .meta_kinds = listed ? serves : 0};
    ts_error err;
    T_OK(ts_store_server_start(&m->srv, &so, &err));
    snprintf(m->url, sizeof(m->url), "%s", ts_store_server_url(m->srv));
}

static void
meta_store_free(meta_store *m)
{
    ts_store_server_stop(m->srv);
    ts_head_free(m->h);
    ts_labels_free(m->ext);
}

static void
test_meta_kinds_across_versions(void)
{
    const uint32_t rules =
        TS_STORE_META_BIT(TS_STORE_META_RULES) | TS_STORE_META_BIT(TS_STORE_META_ALERTS);
    const uint32_t old_shard = TS_STORE_META_BIT(TS_STORE_META_METADATA);
    enum { S0A, S0B, S1A, S1B, S2A, S2B, RA, RB, N };
    meta_store m[N];
    /* shard 0 upgraded; shard 1 not yet (its shards answer metric metadata only, as before
     * the other kinds, and do not list kinds); shard 2 half-way; the ruler half-way */
    meta_store_start(&m[S0A], "s0a", "shard", 0, "a", TS_STORE_META_ALL, true);
    meta_store_start(&m[S0B], "s0b", "shard", 0, "b", TS_STORE_META_ALL, true);
    meta_store_start(&m[S1A], "s1a", "shard", 1, "a", old_shard, false);
    meta_store_start(&m[S1B], "s1b", "shard", 1, "b", old_shard, false);
    meta_store_start(&m[S2A], "s2a", "shard", 2, "a", TS_STORE_META_ALL, true);
    meta_store_start(&m[S2B], "s2b", "shard", 2, "b", old_shard, false);
    meta_store_start(&m[RA], "ra", "rule", -1, "a", rules, true);
    meta_store_start(&m[RB], "rb", "rule", -1, "b", rules, false);
    const char *urls[N];
    for (int i = 0; i < N; i++)
        urls[i] = m[i].url;
    ts_endpoints *e;
    ts_error err;
    ts_error_clear(&err);
    ts_query_endpoints_opts eo = {.static_urls = urls, .nstatic = N};
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    /* what Info said */
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    T_EQ(n, N);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < N; k++)
            if (strcmp(st[i].url, m[k].url) == 0) {
                T_TRUE(st[i].healthy);
                T_EQ(st[i].meta_kinds_listed, m[k].serves != old_shard && k != RB);
                T_EQ(st[i].meta_kinds, st[i].meta_kinds_listed ? m[k].serves : 0);
            }
    ts_query_endpoints_release(e, st, n);

    ts_fanout f;
    ts_query_fanout_opts fo = ha_opts();
    ts_query_fanout_init(&f, e, &fo);
    ts_query_fanout_meta_answer ans;

    /* targets: shard 1's are missing, and the warning says so, naming both its stores; shard 2
     * is complete through its upgraded replica; the rulers are not asked (the upgraded one says
     * it has no targets, so its old replica has none either) */
    T_OK(ts_query_fanout_meta(&f, TS_STORE_META_TARGETS, NULL, 0, &a, &ans, &err));
    T_EQ(ans.n, 3);
    T_EQ(ans.nwarnings, 1);
    const char *w = ans.nwarnings ? ans.warnings[0] : "";
    T_TRUE(strstr(w, "shard 1/3") != NULL);
    T_TRUE(strstr(w, "left out") != NULL);
    T_TRUE(strstr(w, m[S1A].url) != NULL);
    T_TRUE(strstr(w, m[S1B].url) != NULL);
    T_TRUE(strstr(w, "does not serve targets") != NULL);
    T_TRUE(strstr(w, m[S2B].url) == NULL);
    T_EQ(m[RA].calls[TS_STORE_META_TARGETS], 0);
    T_EQ(m[RB].calls[TS_STORE_META_TARGETS], 0);
    T_EQ(m[S1A].calls[TS_STORE_META_TARGETS], 1);

    /* metric metadata: every shard serves it; nothing is missing */
    T_OK(ts_query_fanout_meta(&f, TS_STORE_META_METADATA, NULL, 0, &a, &ans, &err));
    T_EQ(ans.n, 6);
    T_EQ(ans.nwarnings, 0);
    T_EQ(m[RB].calls[TS_STORE_META_METADATA], 0);

    /* rules: both rulers answer (the old one serves rules, it only does not say so); shard
     * 1's are missing */
    T_OK(ts_query_fanout_meta(&f, TS_STORE_META_RULES, NULL, 0, &a, &ans, &err));
    T_EQ(ans.n, 5);
    T_EQ(ans.nwarnings, 1);
    T_TRUE(ans.nwarnings && strstr(ans.warnings[0], "shard 1/3") != NULL &&
           strstr(ans.warnings[0], "does not serve rules") != NULL);

    /* strict mode: the missing part fails the request, with the same words */
    ts_fanout strict;
    ts_query_fanout_opts so = fo;
    so.partial_response = false;
    ts_query_fanout_init(&strict, e, &so);
    ts_error_clear(&err);
    T_TRUE(ts_query_fanout_meta(&strict, TS_STORE_META_TARGETS, NULL, 0, &a, &ans, &err) != TS_OK);
    T_TRUE(strstr(err.msg, "does not serve targets") != NULL);

    /* once shard 1 is upgraded (listing every kind), its targets are in and the warning gone */
    for (int k = S1A; k <= S1B; k++) {
        meta_store_free(&m[k]);
        meta_store_start(&m[k], k == S1A ? "s1a" : "s1b", "shard", 1, k == S1A ? "a" : "b",
                         TS_STORE_META_ALL, true);
        urls[k] = m[k].url;
    }
    ts_query_endpoints_stop(e);
    T_OK(ts_query_endpoints_start(&e, &eo, &err));
    ts_query_fanout_init(&f, e, &fo);
    T_OK(ts_query_fanout_meta(&f, TS_STORE_META_TARGETS, NULL, 0, &a, &ans, &err));
    T_EQ(ans.n, 5);
    T_EQ(ans.nwarnings, 0);

    ts_arena_fini(&a);
    ts_query_endpoints_stop(e);
    for (int i = 0; i < N; i++)
        meta_store_free(&m[i]);
}

T_MAIN({"ha_dedup_and_partial_response", test_ha_dedup_and_partial_response},
       {"slow_replica_skipped", test_slow_replica_skipped},
       {"sd_file_adds_and_removes_stores", test_sd_file_adds_and_removes_stores},
       {"dns_discovery", test_dns_discovery}, {"prefetch", test_prefetch},
       {"acceptance_through_fanout", test_acceptance_through_fanout},
       {"meta_kinds_across_versions", test_meta_kinds_across_versions})
