/*
 * HTTP/1.x request heads: end detection, parsing and body framing.  See
 * http_parse.h for what is accepted and why.
 */
#include "pkg/web/http_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar */
static int
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

long
ts__http_head_end(const char *buf, size_t len, size_t *scan, size_t max)
{
    size_t lim = len < max ? len : max;
    size_t i = *scan;
    while (i < lim) {
        const char *nl = memchr(buf + i, '\n', lim - i);
        if (!nl) {
            i = lim;
            break;
        }
        size_t p = (size_t)(nl - buf) + 1; /* just after this LF */
        if (p < lim && buf[p] == '\n')
            return (long)(p + 1);
        if (p + 1 < lim && buf[p] == '\r' && buf[p + 1] == '\n')
            return (long)(p + 2);
        if (p >= lim || (p + 1 >= lim && buf[p] == '\r')) {
            i = (size_t)(nl - buf); /* look at this LF again when more arrives */
            break;
        }
        i = p;
    }
    *scan = i;
    if (len < max)
        return 0;
    /* max bytes without an end: which part is too long? */
    return memchr(buf, '\n', max) ? -431 : -414;
}

size_t
ts__http_skip_empty(const char *buf, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i < len && buf[i] == '\n')
            i++;
        else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            i += 2;
        else
            return i;
    }
}

/* One line of [p, end): its content (without CR LF) in *ls and *ll; returns the
 * start of the next line. */
static const char *
next_line(const char *p, const char *end, const char **ls, size_t *ll)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        nl = end;
    size_t n = (size_t)(nl - p);
    if (n && p[n - 1] == '\r')
        n--;
    *ls = p;
    *ll = n;
    return nl < end ? nl + 1 : end;
}

static int
bad(const char **why, const char *msg)
{
    *why = msg;
    return 400;
}

static int
parse_request_line(const char *s, size_t n, ts_arena *a, ts__http_head *h, const char **why)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return bad(why, "malformed HTTP request line");
    h->method = ts_arena_strndup(a, s, i);
    size_t t = ++i;
    while (i < n && s[i] != ' ') {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c == 0x7f)
            return bad(why, "malformed HTTP request target");
        i++;
    }
    if (i == t)
        return bad(why, "malformed HTTP request line");
    if (i >= n)
        return bad(why, "malformed HTTP request line: no HTTP version");
    h->target = ts_arena_strndup(a, s + t, i - t);
    const char *v = s + i + 1;
    size_t vn = n - i - 1;
    if (vn == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
        h->minor = v[7] - '0';
        return 0;
    }
    if (vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
        v[7] >= '0' && v[7] <= '9') {
        *why = "unsupported HTTP version";
        return 505;
    }
    return bad(why, "malformed HTTP version");
}

int
ts__http_parse_head(const char *buf, size_t len, ts_arena *a, ts__http_head *h, const char **why)
{
    memset(h, 0, sizeof *h);
    *why = NULL;
    const char *p = buf, *end = buf + len;
    if (memchr(buf, '\0', len))
        return bad(why, "NUL byte in the request head");
    size_t nlines = 0;
    for (const char *q = buf; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
        nlines++;
    const char *ls;
    size_t ll;
    p = next_line(p, end, &ls, &ll);
    if (memchr(ls, '\r', ll))
        return bad(why, "bare CR in the request line");
    int st = parse_request_line(ls, ll, a, h, why);
    if (st)
        return st;
    h->headers = ts_arena_alloc(a, (nlines + 1) * sizeof *h->headers);
    while (p < end) {
        p = next_line(p, end, &ls, &ll);
        if (ll == 0)
            break; /* the empty line ending the head */
        if (memchr(ls, '\r', ll))
            return bad(why, "bare CR in a header line");
        if (ls[0] == ' ' || ls[0] == '\t')
            return bad(why, "obsolete line folding in a header");
        const char *colon = memchr(ls, ':', ll);
        if (!colon || colon == ls)
            return bad(why, "malformed MIME header line");
        size_t nn = (size_t)(colon - ls);
        for (size_t i = 0; i < nn; i++)
            if (!is_tchar((unsigned char)ls[i]))
                return bad(why, "invalid header field name");
        const char *v = colon + 1, *ve = ls + ll;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++) {
            unsigned char u = (unsigned char)*c;
            if ((u < 0x20 && u != '\t') || u == 0x7f)
                return bad(why, "invalid header field value");
        }
        ts__http_header *hd = &h->headers[h->nheaders++];
        hd->name = ts_arena_strndup(a, ls, nn);
        hd->value = ts_arena_strndup(a, v, (size_t)(ve - v));
    }
    return 0;
}

const char *
ts__http_header_get(const ts__http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

int
ts__http_header_has_token(const ts__http_head *h, const char *name, const char *token)
{
    size_t tn = strlen(token);
    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, name) != 0)
            continue;
        const char *v = h->headers[i].value;
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',')
                v++;
            size_t n = strcspn(v, ",");
            size_t m = n;
            while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
                m--;
            if (m == tn && strncasecmp(v, token, tn) == 0)
                return 1;
            v += n;
        }
    }
    return 0;
}

int
ts__http_body_length(const ts__http_head *h, uint64_t max_body, uint64_t *len, const char **why)
{
    *len = 0;
    *why = NULL;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, "Transfer-Encoding") != 0)
            continue;
        const char *te = h->headers[i].value;
        if (strcasecmp(te, "identity") == 0)
            continue;
        if (strcasecmp(te, "chunked") == 0) {
            *why = "chunked request bodies are not supported: send Content-Length";
            return 411;
        }
        *why = "unsupported transfer encoding";
        return 501;
    }
    int seen = 0;
    uint64_t n = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, "Content-Length") != 0)
            continue;
        const char *v = h->headers[i].value;
        uint64_t x = 0;
        if (!*v)
            return bad(why, "bad Content-Length");
        for (const char *c = v; *c; c++) {
            if (*c < '0' || *c > '9')
                return bad(why, "bad Content-Length");
            uint64_t d = (uint64_t)(*c - '0');
            if (x > ((uint64_t)INT64_MAX - d) / 10) /* Go: strconv.ParseUint(v, 10, 63) */
                return bad(why, "bad Content-Length");
            x = x * 10 + d;
        }
        if (seen && x != n)
            return bad(why, "message cannot contain multiple Content-Length headers");
        seen = 1;
        n = x;
    }
    if (n > max_body) {
        *why = "request body too large";
        return 413;
    }
    *len = n;
    return 0;
}
