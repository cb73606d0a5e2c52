/*
 * The web console's serving (pkg/web/console.c) and the server's route
 * prefix: the home redirect, the page HTML with the component filled in,
 * hashed assets (immutable, gzip as stored, inflated for clients without
 * gzip, byte-identical either way), 404s, and Prometheus' computation of
 * --web.external-url and --web.route-prefix.
 */
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "pkg/web/console.h"
#include "pkg/web/server.h"
#include "tests/testutil/t.h"

#include <curl/curl.h>
#include <strings.h>
#include <zlib.h>

typedef struct reply {
    long status;
    ts_buf body;
    char ctype[128], cenc[32], cache[128], location[256];
} reply;

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
    ts_buf_put(&((reply *)ud)->body, p, size * n);
    return size * n;
}

static void
header_value(const char *p, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len > nl + 2 && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
        snprintf(out, cap, "%.*s", (int)(len - nl - 4), p + nl + 2);
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    header_value(p, len, "Content-Type", r->ctype, sizeof r->ctype);
    header_value(p, len, "Content-Encoding", r->cenc, sizeof r->cenc);
    header_value(p, len, "Cache-Control", r->cache, sizeof r->cache);
    header_value(p, len, "Location", r->location, sizeof r->location);
    return len;
}

/* GET path; accept_encoding NULL = no Accept-Encoding header.  The body is
 * as sent (curl does not decode it). */
static void
get(int port, const char *path, const char *accept_encoding, reply *r)
{
    memset(r, 0, sizeof *r);
    ts_buf_init(&r->body, 0);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *h = NULL;
    char ae[128];
    if (accept_encoding) {
        snprintf(ae, sizeof ae, "Accept-Encoding: %s", accept_encoding);
        h = curl_slist_append(h, ae);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void
reply_fini(reply *r)
{
    ts_buf_fini(&r->body);
}

static size_t
gunzip(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 31) != Z_OK)
        return 0;
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = inflate(&z, Z_FINISH);
    size_t got = z.total_out;
    inflateEnd(&z);
    return zr == Z_STREAM_END ? got : 0;
}

static int
h_api(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return ts_web_resp_text(w, 200, "text/plain", ts_web_req_path(r));
}

static ts_web_server *
start(const char *prefix, const char *component, const char *ext_path, ts_web_console **c)
{
    ts_web_server *s;
    ts_error err;
    ts_web_server_opts o = {.listen = "127.0.0.1:0", .route_prefix = prefix};
    if (ts_web_server_new(&s, &o, &err) != TS_OK)
        return NULL;
    ts_web_server_route(s, "GET", "/api/v1/x", false, h_api, NULL);
    ts_web_console_opts co = {.component = component, .external_path = ext_path};
    if (ts_web_console_register(s, &co, c) != TS_OK || ts_web_server_start(s, &err) != TS_OK) {
        ts_web_server_free(s);
        return NULL;
    }
    return s;
}

static const ts_web_asset *
first_static(const char *ext)
{
    for (size_t i = 0; i < ts_web_nassets; i++) {
        const char *n = ts_web_assets[i].name;
        if (strncmp(n, "static/", 7) == 0 && strlen(n) > strlen(ext) &&
            strcmp(n + strlen(n) - strlen(ext), ext) == 0)
            return &ts_web_assets[i];
    }
    return NULL;
}

static void
test_pages_and_assets(void)
{
    ts_web_console *c = NULL;
    ts_web_server *s = start(NULL, "query", "", &c);
    T_TRUE(s != NULL);
    int port = ts_web_server_port(s);
    reply r;

    get(port, "/", NULL, &r);
    T_EQ(r.status, 302);
    T_STREQ(r.location, "/graph");
    reply_fini(&r);

    /* the page, with the component filled in, naming hashed assets that exist */
    get(port, "/graph?g0.expr=up&g0.tab=1", NULL, &r);
    T_EQ(r.status, 200);
    T_STREQ(r.ctype, "text/html; charset=utf-8");
    T_STREQ(r.cache, "no-cache");
    T_STREQ(r.cenc, "");
    const char *html = ts_buf_cstr(&r.body);
    T_TRUE(strstr(html, "content=\"query\"") != NULL);
    T_TRUE(strstr(html, "TESSERA_COMPONENT") == NULL);
    const char *js = strstr(html, "src=\"static/");
    T_TRUE(js != NULL);
    char jsname[128];
    snprintf(jsname, sizeof jsname, "%.*s", (int)strcspn(js + 5, "\""), js + 5);
    T_TRUE(ts_web_console_asset(jsname) != NULL);
    reply_fini(&r);

    get(port, "/stores", "gzip", &r);
    T_EQ(r.status, 200);
    T_STREQ(r.cenc, "gzip");
    reply_fini(&r);
    get(port, "/tsdb-status", NULL, &r); /* the querier has Stores instead */
    T_EQ(r.status, 404);
    reply_fini(&r);

    /* an asset: immutable, gzip bytes as stored; the same bytes inflated without gzip */
    const ts_web_asset *a = first_static(".js");
    T_TRUE(a != NULL);
    char path[300];
    snprintf(path, sizeof path, "/%s", a->name);
    get(port, path, "gzip, deflate, br", &r);
    T_EQ(r.status, 200);
    T_STREQ(r.ctype, "text/javascript; charset=utf-8");
    T_STREQ(r.cache, "public, max-age=31536000, immutable");
    T_STREQ(r.cenc, "gzip");
    T_EQ(r.body.len, a->gz_len);
    uint8_t *raw = ts_malloc(a->raw_len + 1);
    T_EQ(gunzip(r.body.p, r.body.len, raw, a->raw_len + 1), a->raw_len);
    reply_fini(&r);
    get(port, path, "gzip;q=0, identity", &r);
    T_EQ(r.status, 200);
    T_STREQ(r.cenc, "");
    T_EQ(r.body.len, a->raw_len);
    T_TRUE(memcmp(r.body.p, raw, a->raw_len) == 0);
    ts_free(raw);
    reply_fini(&r);

    get(port, "/static/main-NOSUCHHASH.js", "gzip", &r);
    T_EQ(r.status, 404);
    reply_fini(&r);
    get(port, "/graph/", NULL, &r);
    T_EQ(r.status, 404);
    reply_fini(&r);
    ts_web_server_free(s);
    ts_web_console_free(c);
}

static void
test_route_prefix(void)
{
    /* --web.external-url=http://h/prom/ (route prefix from its path) */
    ts_web_console *c = NULL;
    ts_web_server *s = start("/prom", "shard", "/prom", &c);
    T_TRUE(s != NULL);
    int port = ts_web_server_port(s);
    reply r;
    get(port, "/", NULL, &r);
    T_EQ(r.status, 302);
    T_STREQ(r.location, "/prom");
    reply_fini(&r);
    get(port, "/prom", NULL, &r);
    T_EQ(r.status, 302);
    T_STREQ(r.location, "/prom/graph");
    reply_fini(&r);
    get(port, "/prom/", NULL, &r);
    T_EQ(r.status, 302);
    T_STREQ(r.location, "/prom/graph");
    reply_fini(&r);
    get(port, "/prom/targets", NULL, &r);
    T_EQ(r.status, 200);
    T_TRUE(strstr(ts_buf_cstr(&r.body), "content=\"shard\"") != NULL);
    reply_fini(&r);
    get(port, "/prom/api/v1/x", NULL, &r); /* handlers see the path below the prefix */
    T_EQ(r.status, 200);
    T_STREQ(ts_buf_cstr(&r.body), "/api/v1/x");
    reply_fini(&r);
    get(port, "/api/v1/x", NULL, &r);
    T_EQ(r.status, 404);
    reply_fini(&r);
    get(port, "/prometheus/graph", NULL, &r);
    T_EQ(r.status, 404);
    reply_fini(&r);
    ts_web_server_free(s);
    ts_web_console_free(c);

    /* a proxy strips /ext: routes at /, links and the redirect under /ext */
    s = start("/", "shard", "/ext", &c);
    T_TRUE(s != NULL);
    get(ts_web_server_port(s), "/", NULL, &r);
    T_EQ(r.status, 302);
    T_STREQ(r.location, "/ext/graph");
    reply_fini(&r);
    ts_web_server_free(s);
    ts_web_console_free(c);
}

static void
check_url(const char *flag, const char *want_url, const char *want_path, const char *rp,
          const char *want_prefix)
{
    char *url, *path;
    ts_error err;
    T_OK(ts_web_external_url(flag, "0.0.0.0:9090", "host1", &url, &path, &err));
    T_STREQ(url, want_url);
    T_STREQ(path, want_path);
    char *p = ts_web_route_prefix(rp, path);
    T_STREQ(p, want_prefix);
    ts_free(p);
    ts_free(url);
    ts_free(path);
}

static void
test_url_flags(void)
{
    check_url("", "http://host1:9090", "", "", "/");
    check_url("http://example.com/", "http://example.com", "", "", "/");
    check_url("http://example.com/prom/", "http://example.com/prom", "/prom", "", "/prom");
    check_url("https://e.com:8443/a/b//", "https://e.com:8443/a/b", "/a/b", "", "/a/b");
    check_url("http://e.com/prom", "http://e.com/prom", "/prom", "/", "/");
    check_url("http://e.com/prom", "http://e.com/prom", "/prom", "other/", "/other");
    check_url("e.com/prom", "/e.com/prom", "/e.com/prom", "", "/e.com/prom");
    char *url, *path;
    ts_error err;
    T_EQ(ts_web_external_url("\"http://x/\"", "0.0.0.0:9090", "h", &url, &path, &err), TS_EINVAL);
    T_STREQ(err.msg, "URL must not begin or end with quotes");
    T_EQ(ts_web_external_url("", "nocolon", "h", &url, &path, &err), TS_EINVAL);
    ts_web_server *s;
    ts_web_server_opts o = {.listen = "127.0.0.1:0", .route_prefix = "/a b"};
    T_EQ(ts_web_server_new(&s, &o, &err), TS_EINVAL);
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

T_MAIN({"pages_and_assets", test_pages_and_assets}, {"route_prefix", test_route_prefix},
       {"url_flags", test_url_flags})
