/*
 * The web console's handlers: the home redirect, the page HTML and the
 * hashed static assets (console.h), and Prometheus' URL flags.
 *
 * The HTML is the one asset changed at run time: its placeholder
 * TESSERA_COMPONENT becomes the component kind, once at registration, and
 * the result is gzip-compressed then, so every answer is a copy of bytes.
 * Static assets go out as stored (gzip -9 from the build); a client that
 * does not accept gzip gets them inflated per request (curl without
 * --compressed: rare, and they are small).
 */
#include "pkg/web/console.h"
#include "pkg/util/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#define COMPONENT_PLACEHOLDER "TESSERA_COMPONENT"

struct ts_web_console {
    char *external_path;
    char *home;    /* <external path>/graph */
    uint8_t *html; /* page with the component filled in */
    size_t html_len;
    uint8_t *html_gz;
    size_t html_gz_len;
};

static const char *const shard_pages[] = {
    "/graph",  "/alerts", "/rules",  "/targets",    "/service-discovery",
    "/status", "/flags",  "/config", "/tsdb-status"};
static const char *const query_pages[] = {
    "/graph",  "/alerts", "/rules",  "/targets", "/service-discovery",
    "/status", "/flags",  "/config", "/stores"};

const ts_web_asset *
ts_web_console_asset(const char *name)
{
    for (size_t i = 0; i < ts_web_nassets; i++)
        if (strcmp(ts_web_assets[i].name, name) == 0)
            return &ts_web_assets[i];
    return NULL;
}

/* Inflates a gzip member of known size into a heap buffer (NULL on error). */
static uint8_t *
inflate_all(const uint8_t *gz, size_t gz_len, size_t raw_len)
{
    uint8_t *out = ts_malloc(raw_len + 1);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 31) != Z_OK) {
        ts_free(out);
        return NULL;
    }
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = out;
    z.avail_out = (uInt)raw_len + 1;
    int zr = inflate(&z, Z_FINISH);
    size_t n = z.total_out;
    inflateEnd(&z);
    if (zr != Z_STREAM_END || n != raw_len) {
        ts_free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

static uint8_t *
gzip_all(const uint8_t *p, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)n);
    uint8_t *out = ts_malloc(cap);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        ts_free(out);
        return NULL;
    }
    return out;
}

/* Whether Accept-Encoding lists gzip (or "*") without q=0. */
static bool
accepts_gzip(const char *ae)
{
    while (ae && *ae) {
        while (*ae == ' ' || *ae == '\t' || *ae == ',')
            ae++;
        size_t n = strcspn(ae, ",");
        size_t tok = strcspn(ae, ";, \t");
        bool match = (tok == 4 && strncasecmp(ae, "gzip", 4) == 0) || (tok == 1 && ae[0] == '*');
        if (match) {
            const char *q = ae + tok;
            const char *end = ae + n;
            const char *qp = NULL;
            for (; q + 1 < end; q++)
                if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                    qp = q + 2;
                    break;
                }
            if (!qp)
                return true;
            /* q=0, q=0.0, q=0.000: refused */
            bool zero = *qp == '0';
            for (const char *c = qp + 1; zero && c < end && *c != ' ' && *c != ';'; c++)
                if (*c != '.' && *c != '0')
                    zero = false;
            return !zero;
        }
        ae += n;
    }
    return false;
}

/* Writes body bytes stored gzip-compressed: as they are when the client
 * takes gzip, else inflated. */
static int
send_gz(ts_web_req *r, ts_web_resp *w, const uint8_t *gz, size_t gz_len, const uint8_t *raw,
        size_t raw_len)
{
    ts_web_resp_header(w, "Vary", "Accept-Encoding");
    ts_buf *b = ts_web_resp_body(w);
    ts_buf_reset(b);
    if (accepts_gzip(ts_web_req_header(r, "Accept-Encoding"))) {
        ts_web_resp_header(w, "Content-Encoding", "gzip");
        return ts_buf_put(b, gz, gz_len);
    }
    if (raw)
        return ts_buf_put(b, raw, raw_len);
    uint8_t *p = inflate_all(gz, gz_len, raw_len);
    if (!p)
        return TS_EIO;
    int rc = ts_buf_put(b, p, raw_len);
    ts_free(p);
    return rc;
}

/* Go's http.Redirect for GET: 302, Location, a tiny HTML body. */
static int
h_home(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_console *c = ctx;
    ts_web_resp_header(w, "Location", c->home);
    ts_web_resp_header(w, "Content-Type", "text/html; charset=utf-8");
    ts_web_resp_status(w, 302);
    ts_buf *b = ts_web_resp_body(w);
    ts_buf_reset(b);
    ts_buf_puts(b, "<a href=\"");
    ts_buf_puts(b, c->home); /* our own path: no characters that need escaping */
    return ts_buf_puts(b, "\">Found</a>.\n\n");
}

static int
h_page(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_console *c = ctx;
    ts_web_resp_header(w, "Content-Type", "text/html; charset=utf-8");
    ts_web_resp_header(w, "Cache-Control", "no-cache");
    return send_gz(r, w, c->html_gz, c->html_gz_len, c->html, c->html_len);
}

static int
h_static(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    char name[256];
    const char *rest = ts_web_req_path_rest(r);
    const ts_web_asset *a = NULL;
    if (strlen(rest) < sizeof name - 8) {
        snprintf(name, sizeof name, "static/%s", rest);
        a = ts_web_console_asset(name);
    }
    if (!a) {
        ts_web_resp_text(w, 404, "text/plain; charset=utf-8", "404 page not found\n");
        ts_web_resp_header(w, "X-Content-Type-Options", "nosniff");
        return 0;
    }
    ts_web_resp_header(w, "Content-Type", a->content_type);
    ts_web_resp_header(w, "Cache-Control",
                       a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    return send_gz(r, w, a->gz, a->gz_len, NULL, a->raw_len);
}

int
ts_web_console_register(ts_web_server *s, const ts_web_console_opts *o, ts_web_console **out)
{
    *out = NULL;
    const ts_web_asset *idx = ts_web_console_asset("index.html");
    if (!idx)
        return TS_EINVAL;
    uint8_t *raw = inflate_all(idx->gz, idx->gz_len, idx->raw_len);
    if (!raw)
        return TS_EINVAL;
    ts_web_console *c = ts_calloc(1, sizeof *c);
    const char *ext = o && o->external_path ? o->external_path : "";
    const char *comp = o && o->component ? o->component : "shard";
    c->external_path = ts_strdup(ext);
    size_t el = strlen(ext);
    c->home = ts_malloc(el + sizeof "/graph");
    memcpy(c->home, ext, el);
    memcpy(c->home + el, "/graph", sizeof "/graph");

    /* fill in the component (every occurrence) */
    ts_buf b;
    ts_buf_init(&b, 0);
    const char *p = (const char *)raw;
    const char *m;
    while ((m = strstr(p, COMPONENT_PLACEHOLDER)) != NULL) {
        ts_buf_put(&b, p, (size_t)(m - p));
        ts_buf_puts(&b, comp);
        p = m + strlen(COMPONENT_PLACEHOLDER);
    }
    ts_buf_puts(&b, p);
    ts_free(raw);
    c->html_len = b.len;
    c->html = ts_malloc(b.len + 1);
    memcpy(c->html, b.p, b.len);
    ts_buf_fini(&b);
    c->html_gz = gzip_all(c->html, c->html_len, &c->html_gz_len);
    if (!c->html_gz) {
        ts_web_console_free(c);
        return TS_EIO;
    }

    bool query = strcmp(comp, "query") == 0;
    const char *const *pages = query ? query_pages : shard_pages;
    size_t npages =
        query ? sizeof query_pages / sizeof *query_pages : sizeof shard_pages / sizeof *shard_pages;
    int rc = ts_web_server_route(s, "GET", "/", false, h_home, c);
    for (size_t i = 0; rc == TS_OK && i < npages; i++)
        rc = ts_web_server_route(s, "GET", pages[i], false, h_page, c);
    if (rc == TS_OK)
        rc = ts_web_server_route(s, "GET", "/static/", true, h_static, c);
    if (rc != TS_OK) {
        ts_web_console_free(c);
        return rc;
    }
    *out = c;
    return TS_OK;
}

void
ts_web_console_free(ts_web_console *c)
{
    if (!c)
        return;
    ts_free(c->external_path);
    ts_free(c->home);
    ts_free(c->html);
    ts_free(c->html_gz);
    ts_free(c);
}

/* ------------------------------------------------------------ URL flags */

static char *
cat3(const char *a, size_t na, const char *b, size_t nb, const char *c)
{
    size_t nc = strlen(c);
    char *s = ts_malloc(na + nb + nc + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

int
ts_web_external_url(const char *flag, const char *listen, const char *hostname, char **url,
                    char **path, ts_error *err)
{
    *url = *path = NULL;
    if (!flag || !*flag) {
        const char *colon = listen ? strrchr(listen, ':') : NULL;
        if (!colon)
            return ts_error_set(err, TS_EINVAL, "address %s: missing port in address",
                                listen ? listen : "");
        const char *h = hostname && *hostname ? hostname : "localhost";
        *url = cat3("http://", 7, h, strlen(h), colon);
        *path = ts_strdup("");
        return TS_OK;
    }
    size_t n = strlen(flag);
    if (flag[0] == '"' || flag[0] == '\'' || flag[n - 1] == '"' || flag[n - 1] == '\'')
        return ts_error_set(err, TS_EINVAL, "URL must not begin or end with quotes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)flag[i] < 0x20 || flag[i] == 0x7f)
            return ts_error_set(err, TS_EINVAL,
                                "parse external URL \"%s\": net/url: invalid control character "
                                "in URL",
                                flag);
    /* scheme://authority, then the path up to '?' or '#' */
    size_t path_at = 0;
    const char *sep = strstr(flag, "://");
    if (sep && sep > flag) {
        for (const char *c = flag; c < sep; c++)
            if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
                sep = NULL;
    }
    if (sep && sep > flag)
        path_at = (size_t)(sep + 3 - flag) + strcspn(sep + 3, "/?#");
    size_t path_len = strcspn(flag + path_at, "?#");
    const char *pp = flag + path_at;
    while (path_len && pp[path_len - 1] == '/')
        path_len--;
    bool slash = path_len && pp[0] != '/';
    char *p = cat3(slash ? "/" : "", slash ? 1 : 0, pp, path_len, "");
    *path = p;
    *url = cat3(flag, path_at, p, strlen(p), "");
    return TS_OK;
}

char *
ts_web_route_prefix(const char *flag, const char *external_path)
{
    const char *p = flag && *flag ? flag : external_path ? external_path : "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    return cat3("/", 1, p, n, "");
}
