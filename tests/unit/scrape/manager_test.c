/*
 * Tests for pkg/scrape/manager.c (one pool per job): jobs added, changed and
 * removed by a reload, targets following file_sd, and the shard count changed
 * at run time (set_shards, with its handoff; the count file and its watch).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkg/storage/storage.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/hash.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"
#include "tests/unit/scrape/scrape_helper.h"

/* Reloads that add and remove jobs: a new job starts scraping, a removed
 * job stops without staleness markers (Prometheus' pool stop), the other
 * job's loop keeps running. */
static void
test_reload_jobs(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/r", 200, "text/plain", "r 1\n", 4, false, 0);
    char ya[512], yab[1024], yb[512];
    snprintf(ya, sizeof(ya),
             "global: {scrape_interval: 200ms, scrape_timeout: 100ms}\n"
             "scrape_configs:\n- job_name: A\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             s.port);
    snprintf(yab, sizeof(yab),
             "%s- job_name: B\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['localhost:%d']}]\n",
             ya, s.port);
    snprintf(yb, sizeof(yb),
             "global: {scrape_interval: 200ms, scrape_timeout: 100ms}\n"
             "scrape_configs:\n- job_name: B\n  metrics_path: /r\n"
             "  static_configs: [{targets: ['localhost:%d']}]\n",
             s.port);
    ts_config *c = parse_cfg(ya);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 500);
    size_t na;
    T_FEQ(last_value(h, "r", "A", &na), 1);

    ts_config *c2 = parse_cfg(yab);
    T_OK(ts_scrape_manager_apply_config(m, c2));
    ts_config_free(c);
    sync_static(m, c2);
    run_for(&loop, 500);
    size_t na2, nb;
    T_FEQ(last_value(h, "r", "B", &nb), 1);
    T_FEQ(last_value(h, "r", "A", &na2), 1);
    T_TRUE(na2 > na); /* A kept scraping across the reload */

    ts_config *c3 = parse_cfg(yb);
    T_OK(ts_scrape_manager_apply_config(m, c3));
    ts_config_free(c2);
    sync_static(m, c3);
    run_for(&loop, 50);
    size_t na3;
    last_value(h, "r", "A", &na3);
    run_for(&loop, 800);
    size_t na4, nb2;
    T_FEQ(last_value(h, "r", "A", &na4), 1); /* no stale marker */
    T_EQ(na4, na3);                          /* and no more scrapes */
    T_FEQ(last_value(h, "up", "A", NULL), 1);
    last_value(h, "r", "B", &nb2);
    T_TRUE(nb2 > nb);
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    T_EQ(tl.n, 1);
    T_STREQ(tl.t[0].job, "B");

    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c3);
}

/* file_sd -> discovery manager -> scrape manager: targets follow the file */
static void
test_file_sd_follow(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    server_start(&loop, &s);
    route_set(&s, "/metrics", 200, "text/plain", "a 1\n", 4, false, 0);
    const char *dir = t_tmpdir();
    char tpath[512], cpath[512], y[512], t1[128], t2[128], body[256];
    snprintf(tpath, sizeof(tpath), "%s/targets.json", dir);
    snprintf(cpath, sizeof(cpath), "%s/prometheus.yml", dir);
    snprintf(t1, sizeof(t1), "127.0.0.1:%d", s.port);
    snprintf(t2, sizeof(t2), "localhost:%d", s.port);
    snprintf(body, sizeof(body), "[{\"targets\": [\"%s\"], \"labels\": {\"src\": \"file\"}}]", t1);
    FILE *f = fopen(tpath, "w");
    fputs(body, f);
    fclose(f);
    snprintf(y, sizeof(y),
             "scrape_configs:\n- job_name: fsd\n  scrape_interval: 200ms\n"
             "  scrape_timeout: 100ms\n"
             "  file_sd_configs: [{files: ['%s/*.json'], refresh_interval: 1h}]\n",
             dir);
    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(y, strlen(y), cpath, &c, &err));
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    ts_discovery_manager *d;
    T_OK(ts_discovery_manager_new(&loop, ts_scrape_manager_sync, m, &d));
    T_OK(ts_discovery_manager_apply_config(d, c));
    run_for(&loop, 600);
    int64_t ts[256];
    double vs[256];
    size_t n;
    T_EQ(read_job(h, "a", "fsd", "instance", t1, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(n >= 1);
    T_FEQ(vs[n - 1], 1);
    T_EQ(read_job(h, "a", "fsd", "src", "file", ts, vs, 256, &n, NULL, 0), 1);

    /* the file changes: the new target is scraped, the old one goes stale */
    snprintf(body, sizeof(body), "[{\"targets\": [\"%s\"]}]", t2);
    f = fopen(tpath, "w");
    fputs(body, f);
    fclose(f);
    run_for(&loop, 1200);
    T_EQ(read_job(h, "up", "fsd", "instance", t2, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(n >= 1);
    T_FEQ(vs[n - 1], 1);
    T_EQ(read_job(h, "a", "fsd", "instance", t1, ts, vs, 256, &n, NULL, 0), 1);
    T_TRUE(ts_is_stale_nan(vs[n - 1]));
    tlist tl = {0};
    ts_scrape_manager_targets(m, collect, &tl);
    T_EQ(tl.n, 1);
    T_TRUE(strstr(tl.t[0].discovered, "__meta_filepath") != NULL);

    ts_discovery_manager_close(d);
    ts_scrape_manager_close(m);
    server_stop(&s);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    server_free(&s);
    ts_head_free(h);
    ts_config_free(c);
}

/* ts_scrape_manager_set_shards: 12 targets (closed loopback ports: each scrape fails fast but
 * writes `up`), first one shard of 1, then 0 of 3 with a handoff, then 1 of 2 with another. */
#define SH_N 12

/* The port of "host:port" (0 when there is none). */
static int
port_of(const char *hostport)
{
    const char *c = strrchr(hostport, ':');
    if (!c)
        return 0;
    char *end;
    long p = strtol(c + 1, &end, 10);
    return *end || p < 0 || p > 65535 ? 0 : (int)p;
}
typedef struct shstate {
    bool active[SH_N], dropped[SH_N];
} shstate;

static void
sh_collect(void *ctx, const ts_scrape_target_info *t)
{
    shstate *st = ctx;
    const char *inst = ts_labels_get(t->labels ? t->labels : t->discovered,
                                     t->labels ? "instance" : "__address__");
    int port = inst ? port_of(inst) : -1;
    if (port < 1 || port > SH_N)
        return;
    if (t->dropped)
        st->dropped[port - 1] = true;
    else
        st->active[port - 1] = true;
}

static size_t
sh_ups(ts_head *h, int port, double *last)
{
    int64_t ts[512];
    double vs[512];
    size_t n;
    char inst[32];
    snprintf(inst, sizeof(inst), "127.0.0.1:%d", port);
    read_job(h, "up", "sh", "instance", inst, ts, vs, 512, &n, NULL, 0);
    *last = n ? vs[n - 1] : 0;
    return n;
}

static uint32_t
sh_owner(int port, uint32_t count)
{
    char a[32];
    snprintf(a, sizeof(a), "127.0.0.1:%d", port);
    return ts_rendezvous(a, strlen(a), count);
}

static void
test_set_shards(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char y[1024];
    int off = snprintf(y, sizeof(y),
                       "global: {scrape_interval: 100ms, scrape_timeout: 50ms}\n"
                       "scrape_configs:\n- job_name: sh\n  static_configs: [{targets: [");
    for (int i = 1; i <= SH_N; i++)
        off += snprintf(y + off, sizeof(y) - (size_t)off, "%s'127.0.0.1:%d'", i > 1 ? ", " : "", i);
    snprintf(y + off, sizeof(y) - (size_t)off, "]}]\n");
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    run_for(&loop, 350);
    shstate st = {0};
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_TRUE(st.active[i] && !st.dropped[i]);
    T_EQ(ts_scrape_manager_set_shards(m, 0, 0, 0), TS_EINVAL);

    /* 1 -> 3 shards, this is shard 0, handoff 600 ms: the lost targets still run meanwhile */
    int lost = 0, kept = 0;
    T_OK(ts_scrape_manager_set_shards(m, 0, 3, 600));
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    size_t before[SH_N];
    double v;
    for (int i = 0; i < SH_N; i++) {
        T_TRUE(st.active[i] && !st.dropped[i]);
        before[i] = sh_ups(h, i + 1, &v);
        if (sh_owner(i + 1, 3) == 0)
            kept++;
        else
            lost++;
    }
    T_TRUE(lost > 0 && kept > 0);
    run_for(&loop, 300);
    for (int i = 0; i < SH_N; i++) /* every target scraped during the handoff */
        T_TRUE(sh_ups(h, i + 1, &v) > before[i] && v == 0);
    run_for(&loop, 600);
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++) {
        bool own = sh_owner(i + 1, 3) == 0;
        T_EQ(st.active[i], own);
        T_EQ(st.dropped[i], !own);
        before[i] = sh_ups(h, i + 1, &v);
        if (!own) /* ended with a staleness marker */
            T_TRUE(ts_is_stale_nan(v));
    }
    run_for(&loop, 300);
    for (int i = 0; i < SH_N; i++) { /* the lost ones are not scraped any more */
        size_t n = sh_ups(h, i + 1, &v);
        T_TRUE(sh_owner(i + 1, 3) == 0 ? n > before[i] : n == before[i]);
    }

    /* -> shard 1 of 2, handoff 500 ms: its targets start at once; the running ones of shard 0
     * of 3 stay for the handoff; a target neither ran here nor owned is not started */
    T_OK(ts_scrape_manager_set_shards(m, 1, 2, 500));
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    int neither = 0;
    for (int i = 0; i < SH_N; i++) {
        bool was = sh_owner(i + 1, 3) == 0, own = sh_owner(i + 1, 2) == 1;
        T_EQ(st.active[i], was || own);
        neither += !was && !own;
    }
    T_TRUE(neither > 0);
    run_for(&loop, 800);
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_EQ(st.active[i], sh_owner(i + 1, 2) == 1);

    /* no handoff: lost targets stop at once */
    T_OK(ts_scrape_manager_set_shards(m, 0, 2, 0));
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_EQ(st.active[i], sh_owner(i + 1, 2) == 0);

    ts_scrape_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    ts_head_free(h);
    ts_config_free(c);
}

static void
write_count(const char *dir, const char *text)
{
    char tmp[512], path[512];
    snprintf(tmp, sizeof(tmp), "%s/.tmp", dir);
    snprintf(path, sizeof(path), "%s/count", dir);
    FILE *f = fopen(tmp, "w");
    T_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    T_EQ(rename(tmp, path), 0); /* a new inode, as a ConfigMap's symlink swap gives */
}

static void
note_count(void *ctx, uint32_t count)
{
    *(uint32_t *)ctx = count;
}

/* The count file: what it may hold, and a watch that applies changes to a manager. */
static void
test_count_file(void)
{
    char dir[] = "/tmp/tessera-countfile-XXXXXX";
    T_TRUE(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/count", dir);
    uint32_t n = 0;
    ts_error err;
    struct {
        const char *text;
        uint32_t want; /* 0: refused */
    } cases[] = {{"3", 3}, {"3\n", 3},        {"  12 \n", 12}, {"1", 1},
                 {"0", 0}, {"-1", 0},         {"three", 0},    {"3 4", 0},
                 {"", 0},  {"4294967296", 0}, {"2x", 0},       {"+2", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_count(dir, cases[i].text);
        ts_error_clear(&err);
        n = 0;
        int rc = ts_scrape_count_file_read(path, &n, &err);
        if (cases[i].want) {
            T_OK(rc);
            T_EQ(n, cases[i].want);
        } else {
            T_EQ(rc, TS_EPARSE);
            T_TRUE(strstr(err.msg, "want a whole number of shards >= 1") != NULL);
        }
    }
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    T_TRUE(ts_scrape_count_file_read(missing, &n, &err) != TS_OK);
    T_TRUE(strstr(err.msg, "No such file") != NULL);

    /* a watch on a manager with 12 targets, shard 0 of 1, no handoff */
    uv_loop_t loop;
    uv_loop_init(&loop);
    char y[1024];
    int off = snprintf(y, sizeof(y),
                       "global: {scrape_interval: 100ms, scrape_timeout: 50ms}\n"
                       "scrape_configs:\n- job_name: sh\n  static_configs: [{targets: [");
    for (int i = 1; i <= SH_N; i++)
        off += snprintf(y + off, sizeof(y) - (size_t)off, "%s'127.0.0.1:%d'", i > 1 ? ", " : "", i);
    snprintf(y + off, sizeof(y) - (size_t)off, "]}]\n");
    ts_config *c = parse_cfg(y);
    ts_head *h;
    ts_head_opts ho = {0};
    T_OK(ts_head_new(&h, &ho));
    ts_scrape_opts o = {.loop = &loop, .appender = head_appender, .appender_ctx = h};
    ts_scrape_manager *m;
    T_OK(ts_scrape_manager_new(&o, &m));
    T_OK(ts_scrape_manager_apply_config(m, c));
    sync_static(m, c);
    write_count(dir, "1\n");
    ts_scrape_count_watch *w;
    uint32_t told = 0;
    T_OK(ts_scrape_count_watch_start(&loop, m, path, 0, 1, 0, note_count, &told, &w));
    run_for(&loop, 300);
    shstate st = {0};
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_TRUE(st.active[i]);

    write_count(dir, "3\n"); /* seen by the poll within a second or two */
    bool done = false;
    for (int t = 0; t < 40 && !done; t++) {
        run_for(&loop, 100);
        memset(&st, 0, sizeof(st));
        ts_scrape_manager_targets(m, sh_collect, &st);
        done = true;
        for (int i = 0; i < SH_N; i++)
            done = done && st.active[i] == (sh_owner(i + 1, 3) == 0);
    }
    T_TRUE(done);
    T_EQ(told, 3);

    write_count(dir, "lots\n"); /* refused: the count stays 3 */
    run_for(&loop, 2500);
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_EQ(st.active[i], sh_owner(i + 1, 3) == 0);

    /* reread on demand (a reload): 2 now */
    write_count(dir, "2");
    ts_scrape_count_watch_reread(w);
    memset(&st, 0, sizeof(st));
    ts_scrape_manager_targets(m, sh_collect, &st);
    for (int i = 0; i < SH_N; i++)
        T_EQ(st.active[i], sh_owner(i + 1, 2) == 0);
    T_EQ(told, 2);

    ts_scrape_count_watch_close(w);
    ts_scrape_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    ts_head_free(h);
    ts_config_free(c);
    unlink(path);
    rmdir(dir);
}

T_MAIN({"reload_jobs", test_reload_jobs}, {"file_sd_follow", test_file_sd_follow},
       {"set_shards", test_set_shards}, {"count_file", test_count_file})
