/*
 * Tests for pkg/bench: the generated exposition parses (our textparse and
 * the real `promtool check metrics`), has exactly S series with HELP/TYPE,
 * cumulative histograms and counters that only grow between scrapes (but
 * for rare resets), churns as asked; the HTTP server serves every target
 * with keep-alive and gzip, checked with libcurl.
 */
#include "pkg/bench/bench.h"
#include "pkg/textparse/textparse.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#define NOW_MS 1764000000000LL /* a fixed wall time: tests are deterministic */

static ts_bench_gen *
make_gen(size_t targets, size_t series, double churn)
{
    ts_bench_opts o = {.targets = targets,
                       .series = series,
                       .churn = churn,
                       .churn_interval_ms = 60000,
                       .seed = 7,
                       .start_ms = NOW_MS};
    ts_bench_gen *g = NULL;
    ts_error e;
    ts_error_clear(&e);
    if (ts_bench_gen_new(&o, &g, &e) != TS_OK)
        fprintf(stderr, "gen: %s\n", e.msg);
    return g;
}

/* One parsed sample. */
typedef struct sample {
    char *series; /* raw series text */
    char *name;
    char *group; /* series text without the le label (histogram grouping) */
    double le;   /* buckets: bound; else NAN */
    double v;
    ts_metric_type type; /* of its family */
} sample;

typedef struct parsed {
    sample *s;
    size_t n, cap;
    size_t helps, types;
    bool ok;
} parsed;

static void
parsed_free(parsed *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ts_free(p->s[i].series);
        ts_free(p->s[i].name);
        ts_free(p->s[i].group);
    }
    ts_free(p->s);
    memset(p, 0, sizeof(*p));
}

/* Parses a text exposition with pkg/textparse; p->ok is false on a parse
 * error or a series whose family had no TYPE line. */
static void
parse(const char *buf, size_t len, parsed *p)
{
    memset(p, 0, sizeof(*p));
    ts_textparse *tp;
    if (ts_textparse_new(&tp, TS_TP_PROMTEXT, buf, len, NULL) != TS_OK)
        return;
    p->ok = true;
    ts_metric_type cur = TS_MT_UNKNOWN;
    char curname[256] = "";
    for (;;) {
        ts_tp_entry e = ts_textparse_next(tp);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) {
            fprintf(stderr, "parse error line %d: %s\n", ts_textparse_error(tp)->line,
                    ts_textparse_error(tp)->msg);
            p->ok = false;
            break;
        }
        ts_str name = ts_textparse_metric_name(tp);
        if (e == TS_TP_HELP)
            p->helps++;
        if (e == TS_TP_TYPE) {
            p->types++;
            cur = ts_textparse_type(tp);
            snprintf(curname, sizeof(curname), "%.*s", (int)name.len, name.p);
        }
        if (e != TS_TP_SERIES)
            continue;
        if (strncmp(name.p, curname, strlen(curname)) != 0 || curname[0] == '\0') {
            fprintf(stderr, "series %.*s outside its family %s\n", (int)name.len, name.p, curname);
            p->ok = false;
        }
        TS_GROW(p->s, p->cap, p->n + 1);
        sample *s = &p->s[p->n++];
        ts_str st = ts_textparse_series_text(tp);
        s->series = ts_strndup(st.p, st.len);
        s->name = ts_strndup(name.p, name.len);
        s->v = ts_textparse_value(tp);
        s->type = cur;
        s->le = NAN;
        size_t nl;
        const ts_tp_label *l = ts_textparse_labels(tp, &nl);
        /* group: name + labels other than le, in order */
        ts_buf gb;
        ts_buf_init(&gb, 0);
        size_t base = name.len;
        if (cur == TS_MT_HISTOGRAM) /* strip _bucket/_sum/_count */
            base = strlen(curname);
        ts_buf_put(&gb, name.p, base);
        for (size_t i = 0; i < nl; i++) {
            if (ts_str_eqc(l[i].name, "le")) {
                char tmp[64];
                snprintf(tmp, sizeof(tmp), "%.*s", (int)l[i].value.len, l[i].value.p);
                s->le = strcmp(tmp, "+Inf") == 0 ? INFINITY : strtod(tmp, NULL);
                continue;
            }
            ts_buf_printf(&gb, ",%.*s=%.*s", (int)l[i].name.len, l[i].name.p, (int)l[i].value.len,
                          l[i].value.p);
        }
        s->group = ts_strdup(ts_buf_cstr(&gb));
        ts_buf_fini(&gb);
    }
    ts_textparse_free(tp);
}

static void
render(const ts_bench_gen *g, size_t target, int64_t t, ts_buf *b)
{
    ts_buf_reset(b);
    TS_ASSERT(ts_bench_gen_render(g, target, t, b) == TS_OK);
}

/* --------------------------------------------------------------- tests */

static void
test_exact_series_counts(void)
{
    static const size_t sizes[] = {1, 2, 13, 100, 999, 2000, 12345};
    ts_buf b;
    ts_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ts_bench_gen *g = make_gen(2, sizes[i], 0);
        T_TRUE(g != NULL);
        T_EQ(ts_bench_gen_series(g), sizes[i]);
        render(g, 1, NOW_MS, &b);
        parsed p;
        parse((const char *)b.p, b.len, &p);
        bool ok = p.ok;
        size_t n = p.n, helps = p.helps, types = p.types;
        parsed_free(&p);
        size_t fam = ts_bench_gen_families(g);
        ts_bench_gen_free(g);
        T_TRUE(ok);
        T_EQ(n, sizes[i]);
        T_EQ(helps, fam);
        T_EQ(types, fam);
    }
    ts_buf_fini(&b);
}

/* Histogram shape: within each histogram the buckets' le and counts rise,
 * then +Inf equals the _count that follows, and _sum is positive. */
typedef struct hist_check {
    size_t hist, buckets;
    bool cumulative, inf_is_count, hist_sum;
} hist_check;

static hist_check
check_histograms(const parsed *p)
{
    hist_check h = {0, 0, true, true, true};
    for (size_t i = 0; i < p->n; i++) {
        const sample *s = &p->s[i];
        if (s->type != TS_MT_HISTOGRAM || !strstr(s->name, "_bucket"))
            continue;
        h.buckets++;
        /* the previous line of the same histogram has a smaller le and no more count */
        if (i > 0 && !isinf(p->s[i - 1].le) && !isnan(p->s[i - 1].le) &&
            strcmp(p->s[i - 1].group, s->group) == 0) {
            if (!(p->s[i - 1].le < s->le && p->s[i - 1].v <= s->v))
                h.cumulative = false;
        }
        if (isinf(s->le)) { /* +Inf: _sum and _count follow */
            h.hist++;
            if (i + 2 >= p->n || !strstr(p->s[i + 2].name, "_count") || p->s[i + 2].v != s->v ||
                strcmp(p->s[i + 2].group, s->group) != 0)
                h.inf_is_count = false;
            if (i + 1 >= p->n || !strstr(p->s[i + 1].name, "_sum") || !(p->s[i + 1].v > 0))
                h.hist_sum = false;
        }
    }
    return h;
}

/* Compares two scrapes of one target: counter-like series (counters and
 * every histogram series) that grew or fell; *same: same series, in order. */
typedef struct scrape_cmp {
    size_t mono, grew, fell, gauges, gauges_moved;
    bool same;
} scrape_cmp;

static scrape_cmp
compare_scrapes(const parsed *a, const parsed *c)
{
    scrape_cmp r = {0, 0, 0, 0, 0, a->n == c->n};
    for (size_t i = 0; i < a->n && i < c->n; i++) {
        if (strcmp(a->s[i].series, c->s[i].series) != 0)
            r.same = false;
        if (a->s[i].type == TS_MT_GAUGE) {
            r.gauges++;
            r.gauges_moved += a->s[i].v != c->s[i].v;
            continue;
        }
        r.mono++;
        if (c->s[i].v > a->s[i].v)
            r.grew++;
        else if (c->s[i].v < a->s[i].v)
            r.fell++;
    }
    return r;
}

static void
test_families_and_histograms(void)
{
    ts_bench_gen *g = make_gen(3, 2000, 0);
    ts_buf b;
    ts_buf_init(&b, 0);
    render(g, 0, NOW_MS, &b);
    parsed p;
    parse((const char *)b.p, b.len, &p);
    T_TRUE(p.ok);
    T_EQ(p.n, 2000);
    T_TRUE(ts_bench_gen_families(g) >= 10);
    size_t counters = 0, gauges = 0;
    bool unique = true;
    for (size_t i = 0; i < p.n; i++) {
        counters += p.s[i].type == TS_MT_COUNTER;
        gauges += p.s[i].type == TS_MT_GAUGE;
    }
    hist_check h = check_histograms(&p);
    for (size_t i = 0; i + 1 < p.n && unique; i++)
        for (size_t j = i + 1; j < p.n && j < i + 40; j++)
            if (strcmp(p.s[i].series, p.s[j].series) == 0)
                unique = false;
    parsed_free(&p);
    ts_buf_fini(&b);
    ts_bench_gen_free(g);
    T_TRUE(counters > 500);
    T_TRUE(gauges > 200);
    T_TRUE(h.hist > 20);
    T_TRUE(h.buckets > h.hist * 5);
    T_TRUE(h.cumulative);
    T_TRUE(h.inf_is_count);
    T_TRUE(h.hist_sum);
    T_TRUE(unique);
}

/* Counters (and histogram series) never fall between two scrapes except on
 * rare resets; values do change; gauges wander. */
static void
test_values_advance(void)
{
    ts_bench_gen *g = make_gen(2, 3000, 0);
    ts_buf b;
    ts_buf_init(&b, 0);
    parsed a, c;
    render(g, 1, NOW_MS, &b);
    parse((const char *)b.p, b.len, &a);
    render(g, 1, NOW_MS + 15000, &b);
    parse((const char *)b.p, b.len, &c);
    T_TRUE(a.ok && c.ok);
    T_EQ(a.n, c.n);
    scrape_cmp r = compare_scrapes(&a, &c);
    /* a reset inside 15 s is rare: period >= 30 min for ~3% of groups */
    T_TRUE(r.same);
    T_TRUE(r.fell <= r.mono / 100);
    T_TRUE(r.grew > r.mono / 2);
    T_TRUE(r.gauges_moved > r.gauges / 2);
    parsed_free(&a);
    parsed_free(&c);

    /* over 3 hours, some counters reset (fell) and most did not */
    render(g, 1, NOW_MS, &b);
    parse((const char *)b.p, b.len, &a);
    size_t resets = 0, total = 0;
    for (int step = 1; step <= 12; step++) {
        render(g, 1, NOW_MS + step * 15 * 60 * 1000LL, &b);
        parse((const char *)b.p, b.len, &c);
        for (size_t i = 0; i < a.n && i < c.n; i++) {
            if (a.s[i].type == TS_MT_COUNTER) {
                total++;
                resets += c.s[i].v < a.s[i].v;
            }
        }
        parsed_free(&a);
        a = c;
    }
    parsed_free(&a);
    T_TRUE(resets > 0);
    T_TRUE(resets < total / 20);
    ts_buf_fini(&b);
    ts_bench_gen_free(g);
}

static void
test_targets_differ_and_repeat(void)
{
    ts_bench_gen *g = make_gen(2, 500, 0);
    ts_buf b0, b1, b0again;
    ts_buf_init(&b0, 0);
    ts_buf_init(&b1, 0);
    ts_buf_init(&b0again, 0);
    render(g, 0, NOW_MS, &b0);
    render(g, 1, NOW_MS, &b1);
    render(g, 0, NOW_MS, &b0again);
    /* same moment, same target: same bytes (two scrapers agree) */
    T_EQ(b0.len, b0again.len);
    T_TRUE(memcmp(b0.p, b0again.p, b0.len) == 0);
    /* other target: other values */
    T_TRUE(b0.len != b1.len || memcmp(b0.p, b1.p, b0.len) != 0);
    T_EQ(ts_bench_gen_render(g, 2, NOW_MS, &b1), TS_EINVAL);
    ts_buf_fini(&b0);
    ts_buf_fini(&b1);
    ts_buf_fini(&b0again);
    ts_bench_gen_free(g);
}

/* Counts series texts of b that are not in a. */
static size_t
new_series(const parsed *a, const parsed *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool found = false;
        for (size_t j = 0; j < a->n && !found; j++)
            found = strcmp(a->s[j].series, b->s[i].series) == 0;
        n += !found;
    }
    return n;
}

static void
test_churn(void)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    parsed a, c;
    int64_t t = NOW_MS - NOW_MS % 60000 + 1000; /* just after an interval starts */
    ts_bench_gen *g = make_gen(1, 1000, 0.3);
    render(g, 0, t, &b);
    parse((const char *)b.p, b.len, &a);
    render(g, 0, t + 30000, &b); /* same interval: same labels */
    parse((const char *)b.p, b.len, &c);
    T_EQ(new_series(&a, &c), 0);
    parsed_free(&c);
    render(g, 0, t + 60000, &b); /* next interval: about 30% new */
    parse((const char *)b.p, b.len, &c);
    T_TRUE(c.ok);
    T_EQ(c.n, 1000);
    size_t fresh = new_series(&a, &c);
    T_TRUE(fresh > 150 && fresh < 450);
    parsed_free(&a);
    parsed_free(&c);
    ts_bench_gen_free(g);

    g = make_gen(1, 1000, 0);
    render(g, 0, t, &b);
    parse((const char *)b.p, b.len, &a);
    render(g, 0, t + 600000, &b);
    parse((const char *)b.p, b.len, &c);
    T_EQ(new_series(&a, &c), 0);
    parsed_free(&a);
    parsed_free(&c);
    ts_bench_gen_free(g);
    ts_buf_fini(&b);
}

static void
test_bad_options(void)
{
    ts_bench_gen *g;
    ts_error e;
    ts_bench_opts o = {.targets = 0, .series = 10};
    T_EQ(ts_bench_gen_new(&o, &g, &e), TS_EINVAL);
    T_TRUE(g == NULL);
    o.targets = 1;
    o.series = 0;
    T_EQ(ts_bench_gen_new(&o, &g, &e), TS_EINVAL);
    o.series = 10;
    o.churn = 1.5;
    T_EQ(ts_bench_gen_new(&o, &g, &e), TS_EINVAL);
    o.churn = NAN;
    T_EQ(ts_bench_gen_new(&o, &g, &e), TS_EINVAL);
    o.churn = 0;
    o.series = TS_BENCH_MAX_SERIES + 1;
    T_EQ(ts_bench_gen_new(&o, &g, &e), TS_ELIMIT);
    T_TRUE(strstr(e.msg, "at most") != NULL);
    /* a bounded output buffer fills up with TS_ELIMIT, never overflows */
    o.series = 1000;
    T_OK(ts_bench_gen_new(&o, &g, &e));
    ts_buf b;
    ts_buf_init(&b, 4096);
    T_EQ(ts_bench_gen_render(g, 0, NOW_MS, &b), TS_ELIMIT);
    T_TRUE(b.len <= 4096);
    ts_buf_fini(&b);
    ts_bench_gen_free(g);
}

/* The real promtool lints the exposition (exit 0: no problems found). */
static void
test_promtool_check_metrics(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        T_FAIL_("promtool not installed (apt-get install prometheus)");
    ts_bench_gen *g = make_gen(1, 2000, 0.1);
    ts_buf b;
    ts_buf_init(&b, 0);
    render(g, 0, NOW_MS, &b);
    char path[512], cmd[1200];
    snprintf(path, sizeof(path), "%s/metrics.txt", t_tmpdir());
    FILE *f = fopen(path, "w");
    T_TRUE(f != NULL);
    fwrite(b.p, 1, b.len, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s >%s.out 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "head -20 %s.out >&2", path);
        (void)system(cmd);
    }
    ts_buf_fini(&b);
    ts_bench_gen_free(g);
    T_EQ(rc, 0);
}

/* ---------------------------------------------------------------- server */

typedef struct srv {
    uv_loop_t loop;
    uv_async_t stop;
    ts_bench_server *s;
    ts_bench_gen *g;
    pthread_t th;
    ts_bench_stats last;
} srv;

static void
on_stop(uv_async_t *a)
{
    srv *v = a->data;
    ts_bench_server_stats(v->s, &v->last);
    ts_bench_server_stop(v->s);
    uv_close((uv_handle_t *)a, NULL);
}

static void *
srv_main(void *arg)
{
    srv *v = arg;
    uv_run(&v->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int
srv_start(srv *v, size_t targets, size_t series)
{
    memset(v, 0, sizeof(*v));
    v->g = make_gen(targets, series, 0);
    uv_loop_init(&v->loop);
    uv_async_init(&v->loop, &v->stop, on_stop);
    v->stop.data = v;
    ts_error e;
    int rc = ts_bench_server_start(&v->loop, v->g, "127.0.0.1", 0, &v->s, &e);
    if (rc != TS_OK)
        return rc;
    pthread_create(&v->th, NULL, srv_main, v);
    return ts_bench_server_port(v->s);
}

static void
srv_stop(srv *v)
{
    uv_async_send(&v->stop);
    pthread_join(v->th, NULL);
    uv_loop_close(&v->loop);
    ts_bench_gen_free(v->g);
}

typedef struct resp {
    ts_buf body;
    char ctype[128];
    bool gzip;
} resp;

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    ts_buf_put(&r->body, p, sz * n);
    return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0)
        snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)(len - 16), p + 14);
    if (len > 18 && strncasecmp(p, "Content-Encoding: ", 18) == 0 && strstr(p, "gzip"))
        r->gzip = true;
    return len;
}

static long
fetch(CURL *h, int port, const char *path, bool gzip, resp *r)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    ts_buf_reset(&r->body);
    r->ctype[0] = '\0';
    r->gzip = false;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, gzip ? "gzip" : NULL);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(h) != CURLE_OK)
        return -1;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static void
test_server_serves_all_targets(void)
{
    srv v;
    int port = srv_start(&v, 5, 800);
    T_TRUE(port > 0);
    CURL *h = curl_easy_init();
    resp r;
    ts_buf_init(&r.body, 0);
    long connects = 0, n;
    bool ok = true;
    for (int i = 0; i < 5 && ok; i++) {
        char path[64];
        snprintf(path, sizeof(path), i % 2 ? "/target/%d/metrics" : "/metrics/%d", i);
        long code = fetch(h, port, path, false, &r);
        parsed p;
        parse((const char *)r.body.p, r.body.len, &p);
        if (code != 200 || !p.ok || p.n != 800 ||
            strcmp(r.ctype, "text/plain; version=0.0.4; charset=utf-8") != 0) {
            fprintf(stderr, "target %d: code %ld, %zu series, type \"%s\"\n", i, code, p.n,
                    r.ctype);
            ok = false;
        }
        parsed_free(&p);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n);
        connects += n;
    }
    T_TRUE(ok);
    T_EQ(connects, 1); /* keep-alive: one connection for all requests */

    /* gzip when asked (if built with zlib): curl decodes it, the body still parses */
    T_EQ(fetch(h, port, "/metrics/3", true, &r), 200);
#ifdef TS_BENCH_GZIP
    T_TRUE(r.gzip);
#else
    T_FALSE(r.gzip);
#endif
    parsed p;
    parse((const char *)r.body.p, r.body.len, &p);
    T_TRUE(p.ok);
    T_EQ(p.n, 800);
    parsed_free(&p);

    /* two scrapes of one target over HTTP, a second apart: the same series,
     * histograms well formed, counters not falling (but for a rare reset) */
    parsed first, second;
    T_EQ(fetch(h, port, "/metrics/2", true, &r), 200);
    parse((const char *)r.body.p, r.body.len, &first);
    usleep(1100 * 1000);
    T_EQ(fetch(h, port, "/metrics/2", true, &r), 200);
    parse((const char *)r.body.p, r.body.len, &second);
    scrape_cmp sc = compare_scrapes(&first, &second);
    hist_check hc = check_histograms(&second);
    bool both_ok = first.ok && second.ok;
    parsed_free(&first);
    parsed_free(&second);
    T_TRUE(both_ok);
    T_TRUE(sc.same);
    T_TRUE(sc.grew > 0);
    T_TRUE(sc.fell <= sc.mono / 100);
    T_TRUE(hc.hist > 0 && hc.cumulative && hc.inf_is_count && hc.hist_sum);

    T_EQ(fetch(h, port, "/metrics/5", false, &r), 404); /* only 5 targets */
    T_EQ(fetch(h, port, "/metrics/x", false, &r), 404);
    T_EQ(fetch(h, port, "/", false, &r), 404);
    T_EQ(fetch(h, port, "/metrics/0?foo=1", false, &r), 200);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    T_EQ(fetch(h, port, "/metrics/0", false, &r), 405);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_cleanup(h);
    ts_buf_fini(&r.body);
    srv_stop(&v);
    T_EQ(v.last.requests, 13);
}

/* Several clients at once, each with its own connection, while the server
 * is stopped with connections still open: everything is freed (ASan). */
static void
test_server_concurrent_and_stop(void)
{
    srv v;
    int port = srv_start(&v, 4, 300);
    T_TRUE(port > 0);
    CURLM *m = curl_multi_init();
    CURL *hs[8];
    resp rs[8];
    for (int i = 0; i < 8; i++) {
        ts_buf_init(&rs[i].body, 0);
        hs[i] = curl_easy_init();
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics/%d", port, i % 4);
        curl_easy_setopt(hs[i], CURLOPT_URL, url);
        curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(hs[i], CURLOPT_WRITEDATA, &rs[i]);
        curl_easy_setopt(hs[i], CURLOPT_ACCEPT_ENCODING, i % 2 ? "gzip" : NULL);
        curl_easy_setopt(hs[i], CURLOPT_TIMEOUT, 10L);
        curl_multi_add_handle(m, hs[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int done = 0;
    for (int i = 0; i < 8; i++) {
        long code = 0;
        curl_easy_getinfo(hs[i], CURLINFO_RESPONSE_CODE, &code);
        parsed p;
        parse((const char *)rs[i].body.p, rs[i].body.len, &p);
        done += code == 200 && p.ok && p.n == 300;
        parsed_free(&p);
    }
    /* stop with the 8 keep-alive connections still open */
    srv_stop(&v);
    for (int i = 0; i < 8; i++) {
        curl_multi_remove_handle(m, hs[i]);
        curl_easy_cleanup(hs[i]);
        ts_buf_fini(&rs[i].body);
    }
    curl_multi_cleanup(m);
    T_EQ(done, 8);
    T_EQ(v.last.connections, 8);
}

static int
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
test_setup(void)
{
    T_OK(setup());
}

static void
test_cleanup(void)
{
    curl_global_cleanup();
}

T_MAIN({"setup", test_setup}, {"exact_series_counts", test_exact_series_counts},
       {"families_and_histograms", test_families_and_histograms},
       {"values_advance", test_values_advance},
       {"targets_differ_and_repeat", test_targets_differ_and_repeat}, {"churn", test_churn},
       {"bad_options", test_bad_options}, {"promtool_check_metrics", test_promtool_check_metrics},
       {"server_serves_all_targets", test_server_serves_all_targets},
       {"server_concurrent_and_stop", test_server_concurrent_and_stop}, {"cleanup", test_cleanup})
