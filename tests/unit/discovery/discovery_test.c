/* Tests for pkg/discovery: static groups, file_sd parsing and re-reading on
 * change, dns_sd lookups of localhost, and the manager on a real uv loop. */
#include "pkg/discovery/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pkg/util/buf.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"

static void
test_static_group(void)
{
    ts_config *c = NULL;
    ts_error err;
    const char *y = "scrape_configs:\n"
                    "- job_name: j\n"
                    "  static_configs:\n"
                    "  - targets: ['a:1', 'b:2']\n"
                    "    labels: {env: prod}\n"
                    "  - targets: ['c:3']\n";
    T_OK(ts_config_parse(y, strlen(y), "", &c, &err));
    ts_target_group g;
    ts_discovery_static_group(&c->scrape[0].static_configs[0], 0, &g);
    T_STREQ(g.source, "0");
    T_EQ(g.ntargets, 2);
    T_STREQ(ts_labels_get(g.targets[1], "__address__"), "b:2");
    T_STREQ(ts_labels_get(g.labels, "env"), "prod");
    ts_target_group g2;
    ts_target_group_copy(&g2, &g);
    ts_target_group_fini(&g);
    T_STREQ(ts_labels_get(g2.targets[0], "__address__"), "a:1");
    ts_target_group_fini(&g2);
    ts_discovery_static_group(&c->scrape[0].static_configs[1], 1, &g);
    T_STREQ(g.source, "1");
    T_EQ(g.ntargets, 1);
    T_EQ(ts_labels_len(g.labels), 0);
    ts_target_group_fini(&g);
    ts_config_free(c);
}

static void
test_file_parse(void)
{
    ts_target_group *gs;
    size_t n;
    ts_error err;
    const char *json = "[{\"targets\": [\"h1:9100\", \"h2:9100\"], \"labels\": {\"team\": \"x\"}},"
                       " {\"targets\": [\"h3:80\"]}]";
    T_OK(ts_discovery_file_parse("/d/t.json", json, strlen(json), false, &gs, &n, &err));
    T_EQ(n, 2);
    T_STREQ(gs[0].source, "/d/t.json:0");
    T_STREQ(gs[1].source, "/d/t.json:1");
    T_EQ(gs[0].ntargets, 2);
    T_STREQ(ts_labels_get(gs[0].targets[1], "__address__"), "h2:9100");
    T_STREQ(ts_labels_get(gs[0].labels, "team"), "x");
    T_STREQ(ts_labels_get(gs[0].labels, "__meta_filepath"), "/d/t.json");
    T_STREQ(ts_labels_get(gs[1].labels, "__meta_filepath"), "/d/t.json");
    ts_target_groups_free(gs, n);

    const char *yml = "- targets:\n  - 'a:1'\n  labels:\n    foo: bar\n";
    T_OK(ts_discovery_file_parse("x.yml", yml, strlen(yml), false, &gs, &n, &err));
    T_EQ(n, 1);
    T_STREQ(ts_labels_get(gs[0].targets[0], "__address__"), "a:1");
    T_STREQ(ts_labels_get(gs[0].labels, "foo"), "bar");
    ts_target_groups_free(gs, n);

    /* empty file = no groups */
    T_OK(ts_discovery_file_parse("x.json", "", 0, false, &gs, &n, &err));
    T_EQ(n, 0);
    ts_target_groups_free(gs, n);

    /* errors: bad syntax, not a list, a URL as target, bad label name */
    T_EQ(ts_discovery_file_parse("x.json", "[{", 2, false, &gs, &n, &err), TS_EPARSE);
    T_EQ(ts_discovery_file_parse("x.json", "{\"a\": 1}", 8, false, &gs, &n, &err), TS_EPARSE);
    const char *url = "[{\"targets\": [\"http://h:1/metrics\"]}]";
    T_EQ(ts_discovery_file_parse("x.json", url, strlen(url), false, &gs, &n, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "not a valid hostname") != NULL);
    /* store files (url_targets) list URLs */
    const char *store = "- targets: ['tls+tcp://h:1', 'h:2']\n";
    T_OK(ts_discovery_file_parse("s.yml", store, strlen(store), true, &gs, &n, &err));
    T_EQ(n, 1);
    T_STREQ(ts_labels_get(gs[0].targets[0], "__address__"), "tls+tcp://h:1");
    ts_target_groups_free(gs, n);
    const char *badlbl = "[{\"targets\": [\"h:1\"], \"labels\": {\"0bad\": \"v\"}}]";
    T_EQ(ts_discovery_file_parse("x.json", badlbl, strlen(badlbl), false, &gs, &n, &err),
         TS_EINVAL);
    T_TRUE(strstr(err.msg, "not a valid label name") != NULL);
}

static void
test_file_glob(void)
{
    const char *dir = t_tmpdir();
    char p[512];
    const char *names[] = {"b.json", "a.json", "c.yml"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        T_OK(ts_fs_write_file_atomic(p, "[]", 2));
    }
    snprintf(p, sizeof(p), "%s/*.json", dir);
    char **v;
    size_t n;
    T_OK(ts_discovery_file_glob(p, &v, &n));
    T_EQ(n, 2);
    T_TRUE(strstr(v[0], "/a.json") != NULL);
    T_TRUE(strstr(v[1], "/b.json") != NULL);
    for (size_t i = 0; i < n; i++)
        ts_free(v[i]);
    ts_free(v);
    snprintf(p, sizeof(p), "%s/*.nomatch", dir);
    T_OK(ts_discovery_file_glob(p, &v, &n));
    T_EQ(n, 0);
    ts_free(v);
}

static void
test_dns_localhost(void)
{
    ts_target_group g;
    ts_error err;
    T_OK(ts_discovery_dns_lookup("localhost", "A", 9100, &g, &err));
    T_STREQ(g.source, "localhost");
    T_TRUE(g.ntargets >= 1);
    T_STREQ(ts_labels_get(g.targets[0], "__address__"), "127.0.0.1:9100");
    T_STREQ(ts_labels_get(g.targets[0], "__meta_dns_name"), "localhost");
    ts_target_group_fini(&g);
    T_EQ(ts_discovery_dns_lookup("no-such-host.invalid", "A", 1, &g, &err), TS_ENOTFOUND);
    T_EQ(ts_discovery_dns_lookup("localhost", "TXT", 1, &g, &err), TS_EUNSUPPORTED);
    /* SRV of a name that has no such record fails cleanly (no network needed
     * to get an answer for the reserved .invalid TLD: the stub resolver may
     * time out instead, which is also a clean failure). */
}

/* A one-shot DNS server on loopback UDP: answers the next query with two
 * SRV records (node1.example.org:9100, node2.example.org:9200), or NXDOMAIN
 * for names other than _prom._tcp.example.org. */
typedef struct dns_srv {
    int fd, port;
    pthread_t th;
} dns_srv;

static size_t
put_name(uint8_t *p, const char *name)
{
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (uint8_t)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

static void *
dns_serve(void *arg)
{
    dns_srv *d = arg;
    uint8_t q[512], r[1024];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 12)
        return NULL;
    /* the question runs from byte 12 to the end of QTYPE/QCLASS */
    size_t qend = 12;
    while (qend < (size_t)n && q[qend])
        qend += q[qend] + 1u;
    qend += 5; /* root label, QTYPE, QCLASS */
    uint8_t want[256], want_mx[256];
    size_t wl = put_name(want, "_prom._tcp.example.org");
    size_t wml = put_name(want_mx, "example.org");
    size_t ql = qend - 4 - 12;
    bool match = ql == wl && memcmp(q + 12, want, wl) == 0;
    bool mx = ql == wml && memcmp(q + 12, want_mx, wml) == 0 && q[qend - 3] == 15;
    memcpy(r, q, qend);
    r[2] = 0x81;
    r[3] = match || mx ? 0x80 : 0x83; /* NOERROR / NXDOMAIN */
    r[6] = 0;
    r[7] = match ? 2 : mx ? 1 : 0; /* ANCOUNT */
    r[8] = r[9] = r[10] = r[11] = 0;
    size_t o = qend;
    if (mx) {
        uint8_t rd[300];
        size_t rl = 0;
        rd[rl++] = 0;
        rd[rl++] = 10; /* preference */
        rl += put_name(rd + rl, "mail.example.org");
        const uint8_t hdr[] = {0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, (uint8_t)rl};
        memcpy(r + o, hdr, sizeof(hdr));
        o += sizeof(hdr);
        memcpy(r + o, rd, rl);
        o += rl;
    }
    const char *targets[] = {"node1.example.org", "node2.example.org"};
    int ports[] = {9100, 9200};
    for (int i = 0; match && i < 2; i++) {
        r[o++] = 0xc0; /* pointer to the question name */
        r[o++] = 12;
        r[o++] = 0;
        r[o++] = 33; /* SRV */
        r[o++] = 0;
        r[o++] = 1; /* IN */
        r[o++] = 0;
        r[o++] = 0;
        r[o++] = 0;
        r[o++] = 60; /* TTL */
        uint8_t rd[300];
        size_t rl = 0;
        rd[rl++] = 0;
        rd[rl++] = 10; /* priority */
        rd[rl++] = 0;
        rd[rl++] = 5; /* weight */
        rd[rl++] = (uint8_t)(ports[i] >> 8);
        rd[rl++] = (uint8_t)ports[i];
        rl += put_name(rd + rl, targets[i]);
        r[o++] = (uint8_t)(rl >> 8);
        r[o++] = (uint8_t)rl;
        memcpy(r + o, rd, rl);
        o += rl;
    }
    sendto(d->fd, r, o, 0, (struct sockaddr *)&from, fl);
    return NULL;
}

static void
dns_start(dns_srv *d)
{
    d->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(d->fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(d->fd, (struct sockaddr *)&a, &l);
    d->port = ntohs(a.sin_port);
    pthread_create(&d->th, NULL, dns_serve, d);
}

static void
dns_stop(dns_srv *d)
{
    pthread_join(d->th, NULL);
    close(d->fd);
}

static void
test_dns_srv(void)
{
    dns_srv d;
    dns_start(&d);
    ts_target_group g;
    ts_error err;
    int rc = ts_discovery_dns_lookup_at("127.0.0.1", d.port, "_prom._tcp.example.org", "SRV", 0, &g,
                                        &err);
    dns_stop(&d);
    T_OK(rc);
    T_EQ(g.ntargets, 2);
    T_STREQ(g.source, "_prom._tcp.example.org");
    T_STREQ(ts_labels_get(g.targets[0], "__address__"), "node1.example.org:9100");
    T_STREQ(ts_labels_get(g.targets[0], "__meta_dns_srv_record_target"), "node1.example.org.");
    T_STREQ(ts_labels_get(g.targets[0], "__meta_dns_srv_record_port"), "9100");
    T_STREQ(ts_labels_get(g.targets[1], "__address__"), "node2.example.org:9200");
    T_STREQ(ts_labels_get(g.targets[1], "__meta_dns_name"), "_prom._tcp.example.org");
    ts_target_group_fini(&g);

    dns_start(&d);
    rc = ts_discovery_dns_lookup_at("127.0.0.1", d.port, "_other._tcp.example.org", "SRV", 0, &g,
                                    &err);
    dns_stop(&d);
    T_EQ(rc, TS_ENOTFOUND);
    T_TRUE(strstr(err.msg, "_other._tcp.example.org") != NULL);

    dns_start(&d);
    rc = ts_discovery_dns_lookup_at("127.0.0.1", d.port, "example.org", "MX", 25, &g, &err);
    dns_stop(&d);
    T_OK(rc);
    T_EQ(g.ntargets, 1);
    T_STREQ(ts_labels_get(g.targets[0], "__address__"), "mail.example.org:25");
    T_STREQ(ts_labels_get(g.targets[0], "__meta_dns_mx_record_target"), "mail.example.org.");
    ts_target_group_fini(&g);
}

/* ------------------------------------------------------------- the manager */

typedef struct seen {
    int calls;
    char job[64];
    char addrs[1024]; /* sorted-ish "addr,addr," of the last update */
    size_t ntargets;
} seen;

static void
on_update(void *ctx, const char *job, const ts_target_group *gs, size_t n)
{
    seen *s = ctx;
    s->calls++;
    snprintf(s->job, sizeof(s->job), "%s", job);
    s->addrs[0] = 0;
    s->ntargets = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < gs[i].ntargets; k++) {
            size_t l = strlen(s->addrs);
            snprintf(s->addrs + l, sizeof(s->addrs) - l, "%s,",
                     ts_labels_get(gs[i].targets[k], "__address__"));
            s->ntargets++;
        }
}

static void
wake_cb(uv_timer_t *t)
{
}

/* Runs the loop until the update count exceeds `calls` and addrs equals
 * want (or want is NULL), for at most ms. */
static bool
run_until(uv_loop_t *loop, seen *s, int calls, const char *want, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, wake_cb, 10, 10);
    int64_t end = ts_now_ms() + ms;
    bool ok = false;
    while (ts_now_ms() < end) {
        uv_run(loop, UV_RUN_ONCE);
        if (s->calls > calls && (!want || strcmp(s->addrs, want) == 0)) {
            ok = true;
            break;
        }
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static void
test_manager_file_sd(void)
{
    const char *dir = t_tmpdir();
    char cfgpath[512], tpath[512], yaml[1024];
    snprintf(cfgpath, sizeof(cfgpath), "%s/prometheus.yml", dir);
    snprintf(tpath, sizeof(tpath), "%s/targets.json", dir);
    const char *v1 = "[{\"targets\": [\"127.0.0.1:1111\"], \"labels\": {\"a\": \"1\"}}]";
    T_OK(ts_fs_write_file_atomic(tpath, v1, strlen(v1)));
    snprintf(yaml, sizeof(yaml),
             "scrape_configs:\n"
             "- job_name: files\n"
             "  file_sd_configs:\n"
             "  - files: ['targets.json']\n" /* relative to the config's directory */
             "    refresh_interval: 1h\n");
    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(yaml, strlen(yaml), cfgpath, &c, &err));

    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    ts_discovery_manager *m;
    T_OK(ts_discovery_manager_new(&loop, on_update, &s, &m));
    T_OK(ts_discovery_manager_apply_config(m, c));
    T_TRUE(run_until(&loop, &s, 0, "127.0.0.1:1111,", 5000));
    T_STREQ(s.job, "files");

    /* change the file: the watch picks it up long before the 1h refresh */
    int calls = s.calls;
    const char *v2 = "[{\"targets\": [\"127.0.0.1:2222\", \"127.0.0.1:3333\"]}]";
    T_OK(ts_fs_write_file_atomic(tpath, v2, strlen(v2)));
    T_TRUE(run_until(&loop, &s, calls, "127.0.0.1:2222,127.0.0.1:3333,", 5000));

    /* a broken file keeps the last good targets */
    calls = s.calls;
    T_OK(ts_fs_write_file_atomic(tpath, "[{\"targets\": ", 13));
    T_TRUE(run_until(&loop, &s, calls, NULL, 5000));
    T_STREQ(s.addrs, "127.0.0.1:2222,127.0.0.1:3333,");
    {
        ts_metrics_registry reg;
        ts_metrics_init(&reg);
        ts_metrics_register(&reg, ts_discovery_manager_write_metrics, m);
        ts_buf out;
        ts_buf_init(&out, 0);
        ts_metrics_write(&reg, &out);
        const char *txt = ts_buf_cstr(&out);
        T_TRUE(strstr(txt, "\nprometheus_sd_file_read_errors_total 1\n") != NULL);
        T_TRUE(strstr(txt, "\nprometheus_sd_discovered_targets{config=\"files\",name=\"scrape\"} "
                           "2\n") != NULL);
        ts_buf_fini(&out);
    }
    /* ... and the discoverer is failing, with the file and the parser's error */
    {
        ts_discovery_failure *f;
        size_t nf;
        ts_discovery_manager_failures(m, NULL, &f, &nf);
        T_EQ(nf, 1);
        T_STREQ(f[0].job, "files");
        T_STREQ(f[0].mechanism, "file_sd");
        T_TRUE(f[0].role == NULL);
        T_TRUE(strncmp(f[0].error, tpath, strlen(tpath)) == 0);
        T_TRUE(f[0].error_ms > 0 && f[0].success_ms > 0 && f[0].success_ms <= f[0].error_ms);
        ts_discovery_failures_free(f, nf);
        ts_discovery_manager_failures(m, "other-job", &f, &nf);
        T_EQ(nf, 0);
        ts_discovery_failures_free(f, nf);
    }

    /* a new file matching nothing yet: removing the file empties the job */
    calls = s.calls;
    T_EQ(unlink(tpath), 0);
    T_TRUE(run_until(&loop, &s, calls, "", 5000));
    T_EQ(s.ntargets, 0);
    {
        /* no file is no error: it works again */
        ts_discovery_failure *f;
        size_t nf;
        ts_discovery_manager_failures(m, "files", &f, &nf);
        T_EQ(nf, 0);
        ts_discovery_failures_free(f, nf);
    }

    /* reload without the job: reported once with no groups */
    ts_config *c2 = NULL;
    const char *y2 = "scrape_configs:\n- job_name: other\n  static_configs:\n"
                     "  - targets: ['x:1']\n";
    T_OK(ts_config_parse(y2, strlen(y2), "", &c2, &err));
    calls = s.calls;
    T_OK(ts_discovery_manager_apply_config(m, c2));
    T_TRUE(run_until(&loop, &s, calls + 1, "x:1,", 5000));

    ts_discovery_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    ts_config_free(c);
    ts_config_free(c2);
}

static void
test_manager_dns_and_static(void)
{
    const char *yaml = "scrape_configs:\n"
                       "- job_name: mixed\n"
                       "  static_configs:\n"
                       "  - targets: ['s:1']\n"
                       "  dns_sd_configs:\n"
                       "  - names: ['localhost']\n"
                       "    type: A\n"
                       "    port: 9999\n";
    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(yaml, strlen(yaml), "", &c, &err));
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    ts_discovery_manager *m;
    T_OK(ts_discovery_manager_new(&loop, on_update, &s, &m));
    T_OK(ts_discovery_manager_apply_config(m, c));
    /* the first report waits for the DNS lookup: never "s:1" alone */
    T_TRUE(run_until(&loop, &s, 0, NULL, 5000));
    T_EQ(s.calls, 1);
    T_TRUE(strncmp(s.addrs, "s:1,127.0.0.1:9999,", 19) == 0);
    {
        ts_metrics_registry reg;
        ts_metrics_init(&reg);
        ts_metrics_register(&reg, ts_discovery_manager_write_metrics, m);
        ts_buf out;
        ts_buf_init(&out, 0);
        ts_metrics_write(&reg, &out);
        const char *txt = ts_buf_cstr(&out);
        T_TRUE(strstr(txt, "\nprometheus_sd_dns_lookups_total 1\n") != NULL);
        T_TRUE(strstr(txt, "\nprometheus_sd_dns_lookup_failures_total 0\n") != NULL);
        ts_buf_fini(&out);
    }
    ts_discovery_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    ts_config_free(c);
}

/* Discoverers that fail from the start: a name that does not resolve (dns_sd)
 * and a kubernetes_sd that cannot start (in-cluster, outside a cluster).  They
 * are listed in config order with no success time; the job is still reported
 * (with the static target). */
static void
test_manager_failures(void)
{
    unsetenv("KUBERNETES_SERVICE_HOST");
    const char *yaml = "scrape_configs:\n"
                       "- job_name: dns\n"
                       "  static_configs: [{targets: ['s:1']}]\n"
                       "  dns_sd_configs:\n"
                       "  - names: ['no-such-host.invalid']\n"
                       "    type: A\n"
                       "    port: 1\n"
                       "- job_name: k8s\n"
                       "  kubernetes_sd_configs:\n"
                       "  - role: endpointslice\n";
    ts_config *c = NULL;
    ts_error err;
    T_OK(ts_config_parse(yaml, strlen(yaml), "", &c, &err));
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    ts_discovery_manager *m;
    T_OK(ts_discovery_manager_new(&loop, on_update, &s, &m));
    T_OK(ts_discovery_manager_apply_config(m, c));
    ts_discovery_failure *f = NULL;
    size_t nf = 0;
    int64_t end = ts_now_ms() + 20000; /* the resolver may take its time to say no */
    while (nf < 2 && ts_now_ms() < end) {
        ts_discovery_failures_free(f, nf);
        run_until(&loop, &s, s.calls, NULL, 200);
        ts_discovery_manager_failures(m, NULL, &f, &nf);
    }
    T_EQ(nf, 2);
    T_STREQ(f[0].job, "dns");
    T_STREQ(f[0].mechanism, "dns_sd");
    T_TRUE(f[0].role == NULL);
    T_TRUE(strstr(f[0].error, "no-such-host.invalid") != NULL);
    T_EQ(f[0].success_ms, 0);
    T_STREQ(f[1].job, "k8s");
    T_STREQ(f[1].mechanism, "kubernetes_sd");
    T_STREQ(f[1].role, "endpointslice");
    T_TRUE(strstr(f[1].error, "cannot start: unable to load in-cluster configuration") != NULL);
    T_TRUE(f[1].error_ms > 0);
    T_EQ(f[1].success_ms, 0);
    ts_discovery_failures_free(f, nf);
    /* a reload without them: nothing fails */
    ts_config *c2 = NULL;
    const char *y2 = "scrape_configs:\n- job_name: other\n  static_configs:\n"
                     "  - targets: ['x:1']\n";
    T_OK(ts_config_parse(y2, strlen(y2), "", &c2, &err));
    T_OK(ts_discovery_manager_apply_config(m, c2));
    ts_discovery_manager_failures(m, NULL, &f, &nf);
    T_EQ(nf, 0);
    ts_discovery_manager_close(m);
    T_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    T_EQ(uv_loop_close(&loop), 0);
    ts_config_free(c);
    ts_config_free(c2);
}

/* --store.tls-secure: addresses without a scheme (static, file, DNS) are
 * dialed as tls+tcp://; a URL keeps its own scheme, tcp:// included. */
typedef struct {
    char urls[4][64];
    size_t n;
} got_stores;

static void
on_stores(void *ctx, const char *const *urls, size_t n)
{
    got_stores *g = ctx;
    g->n = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        snprintf(g->urls[g->n++], sizeof(g->urls[0]), "%s", urls[i]);
}

static void
test_stores_scheme(void)
{
    const char *addrs[] = {"h:1", "tcp://h:2", "tls+tcp://h:3"};
    for (int secure = 0; secure < 2; secure++) {
        ts_discovery_stores_opts o = {.static_addrs = addrs, .nstatic = 3, .tls = secure};
        got_stores g = {0};
        ts_discovery_stores *s = NULL;
        ts_error err;
        ts_error_clear(&err);
        T_OK(ts_discovery_stores_start(&o, on_stores, &g, &s, &err));
        ts_discovery_stores_stop(s);
        T_EQ(g.n, 3);
        T_STREQ(g.urls[0], secure ? "tls+tcp://h:1" : "tcp://h:1");
        T_STREQ(g.urls[1], "tcp://h:2");
        T_STREQ(g.urls[2], "tls+tcp://h:3");
    }
}

T_MAIN({"static_group", test_static_group}, {"file_parse", test_file_parse},
       {"file_glob", test_file_glob}, {"dns_localhost", test_dns_localhost},
       {"dns_srv", test_dns_srv}, {"manager_file_sd", test_manager_file_sd},
       {"manager_dns_and_static", test_manager_dns_and_static},
       {"manager_failures", test_manager_failures}, {"stores_scheme", test_stores_scheme})
