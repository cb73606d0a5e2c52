/*
 * Shared by the pkg/web tests: a libcurl client, the test data set, and a
 * real Prometheus started on loopback over the same data (written as blocks
 * by promtool).  Static functions: include once per test executable.
 */
#ifndef TS_TESTS_UNIT_WEB_HELPERS_H
#define TS_TESTS_UNIT_WEB_HELPERS_H

#include "pkg/tsdb/head/head.h"
#include "pkg/util/buf.h"
#include "pkg/web/server.h"
#include "tests/testutil/t.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------ HTTP client */

typedef struct reply {
    long status;
    ts_buf body;
    char ctype[128];
    char allow[128];
    char acao[128];    /* Access-Control-Allow-Origin */
    char cenc[32];     /* Content-Encoding */
    int nheaders_cors; /* how many Access-Control-* and Vary headers */
} reply;

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
    ts_buf_put(&((reply *)ud)->body, p, size * n);
    return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0)
        snprintf(r->ctype, sizeof r->ctype, "%.*s", (int)(len - 16), p + 14);
    if (len > 18 && strncasecmp(p, "Content-Encoding: ", 18) == 0)
        snprintf(r->cenc, sizeof r->cenc, "%.*s", (int)(len - 20), p + 18);
    if (len > 29 && strncasecmp(p, "Access-Control-Allow-Origin: ", 29) == 0)
        snprintf(r->acao, sizeof r->acao, "%.*s", (int)(len - 31), p + 29);
    if (strncasecmp(p, "Access-Control-", 15) == 0 || strncasecmp(p, "Vary: ", 6) == 0)
        r->nheaders_cors++;
    if (len > 7 && strncasecmp(p, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof r->allow, "%.*s", (int)(len - 9), p + 7);
    return len;
}

static int http_quiet; /* no message for failed requests (readiness polling) */

/* GET (post == NULL) or POST form; body in r (caller frees with reply_fini). */
static int
http(int port, const char *method, const char *path, const char *post, size_t post_len, reply *r)
{
    memset(r, 0, sizeof *r);
    ts_buf_init(&r->body, 0);
    size_t ulen = strlen(path) + 64;
    char *url = malloc(ulen);
    snprintf(url, ulen, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send "/../" and "/./" as written */
    struct curl_slist *hdrs = NULL;
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(post_len ? post_len : strlen(post)));
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    if (method && strncmp(method, "GZIP-", 5) == 0) { /* "GZIP-GET": accept and decode gzip */
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
        method += 5;
    } else if (method && strncmp(method, "ANYENC-", 7) == 0) { /* all curl supports */
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        method += 7;
    }
    if (method && strncmp(method, "ORIGIN-", 7) == 0) { /* "ORIGIN-GET": with an Origin header */
        hdrs = curl_slist_append(hdrs, "Origin: http://example.org");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        method += 7;
    }
    if (method && strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !http_quiet)
        fprintf(stderr, "  curl %s: %s\n", path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(url);
    return rc == CURLE_OK ? 0 : -1;
}

static void
reply_fini(reply *r)
{
    ts_buf_fini(&r->body);
}

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

/* Series written to the head (and, for the live comparison, to Prometheus). */
static const char *const series_def[][8] = {
    {"__name__", "up", "job", "api", "instance", "a:1", NULL, NULL},
    {"__name__", "up", "job", "api", "instance", "b:1", NULL, NULL},
    {"__name__", "up", "job", "node", "instance", "c:1", NULL, NULL},
    {"__name__", "http_requests_total", "job", "api", "code", "<500>&", NULL, NULL},
    {"__name__", "http_requests_total", "job", "api", "code", "200", "path", "/a\"b\\c \xc3\xa9"},
};
#define NSERIES 5
#define NSAMPLES 10
/* Loads series_def into a new head, sample k of series i = (base + 15s*k, i + k). */
static int
load_head(ts_head **out, int64_t base)
{
    if (ts_head_new(out, NULL))
        return -1;
    ts_appender *app = ts_head_appender(*out);
    for (int i = 0; i < NSERIES; i++) {
        ts_label l[4];
        size_t n = 0;
        for (; n < 4 && series_def[i][2 * n]; n++)
            l[n] = (ts_label){series_def[i][2 * n], series_def[i][2 * n + 1]};
        ts_labels *ls = ts_labels_new(l, n);
        for (int k = 0; k < NSAMPLES; k++)
            app->ops->append(app, 0, ls, base + k * 15000, i + k, NULL);
        ts_labels_free(ls);
    }
    return app->ops->commit(app);
}

/* Writes series_def's samples as OpenMetrics for promtool. */
static int
write_openmetrics(const char *path, int64_t base)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const char *last = "";
    for (int i = 0; i < NSERIES; i++) {
        if (strcmp(last, series_def[i][1]) != 0)
            fprintf(f, "# TYPE %s gauge\n", series_def[i][1]);
        last = series_def[i][1];
        for (int k = 0; k < NSAMPLES; k++) {
            fprintf(f, "%s{", series_def[i][1]);
            for (int l = 1; l < 4 && series_def[i][2 * l]; l++) {
                fprintf(f, "%s%s=\"", l > 1 ? "," : "", series_def[i][2 * l]);
                for (const char *c = series_def[i][2 * l + 1]; *c; c++)
                    fprintf(f, "%s%c", (*c == '"' || *c == '\\') ? "\\" : "", *c);
                fputc('"', f);
            }
            fprintf(f, "} %d %lld\n", i + k, (long long)(base / 1000 + k * 15));
        }
    }
    fputs("# EOF\n", f);
    return fclose(f);
}

/* Sends the same request to both servers; 1 when status, Allow or body differ. */
static int
compare_m(int pa, int pb, const char *method, const char *path)
{
    reply a, b;
    http(pa, method, path, NULL, 0, &a);
    http(pb, method, path, NULL, 0, &b);
    int bad = a.status != b.status || strcmp(a.allow, b.allow) != 0 ||
              strcmp(a.acao, b.acao) != 0 || a.nheaders_cors != b.nheaders_cors ||
              strcmp(a.ctype, b.ctype) != 0 || strcmp(a.cenc, b.cenc) != 0 ||
              strcmp(ts_buf_cstr(&a.body), ts_buf_cstr(&b.body)) != 0;
    if (bad)
        fprintf(stderr,
                "  %s %s\n    prometheus %ld [%s] (%s) %s\n    tessera    %ld [%s] (%s) %s\n",
                method ? method : "GET", path, a.status, a.allow, a.ctype, ts_buf_cstr(&a.body),
                b.status, b.allow, b.ctype, ts_buf_cstr(&b.body));
    reply_fini(&a);
    reply_fini(&b);
    return bad;
}

static int
compare(int pa, int pb, const char *path)
{
    return compare_m(pa, pb, NULL, path);
}

typedef struct prom {
    int port;
    char dir[256];
} prom;

static int
prom_echo(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return 0;
}

/* Starts Prometheus over series_def (at base) on a free port; 0 when ready. */
static int
prom_start(prom *p, int64_t base)
{
    /* a free port: bind one and let it go */
    ts_web_server *tmp;
    ts_error err;
    if (ts_web_server_new(&tmp, &(ts_web_server_opts){.listen = "127.0.0.1:0"}, &err) ||
        ts_web_server_route(tmp, "GET", "/", false, prom_echo, NULL) ||
        ts_web_server_start(tmp, &err))
        return -1;
    p->port = ts_web_server_port(tmp);
    ts_web_server_free(tmp);
    snprintf(p->dir, sizeof p->dir, "%s", t_tmpdir());
    char om[512], cmd[2048];
    snprintf(om, sizeof om, "%s/data.om", p->dir);
    if (write_openmetrics(om, base))
        return -1;
    snprintf(cmd, sizeof cmd,
             "printf 'global:\\n  scrape_interval: 15s\\n' > %s/p.yml && "
             "promtool tsdb create-blocks-from openmetrics %s %s/data >%s/promtool.log 2>&1 && "
             "(prometheus --config.file=%s/p.yml --storage.tsdb.path=%s/data "
             "--web.listen-address=127.0.0.1:%d >%s/log 2>&1 & echo $! > %s/pid)",
             p->dir, om, p->dir, p->dir, p->dir, p->dir, p->port, p->dir, p->dir);
    if (system(cmd) != 0)
        return -1;
    for (int i = 0; i < 100; i++) {
        reply r;
        http_quiet = 1;
        bool ok = http(p->port, NULL, "/-/ready", NULL, 0, &r) == 0 && r.status == 200;
        http_quiet = 0;
        reply_fini(&r);
        if (ok)
            return 0;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    return -1;
}

static void
prom_stop(prom *p)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "kill $(cat %s/pid) 2>/dev/null; sleep 0.5", p->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not stop prometheus\n");
}

#endif
