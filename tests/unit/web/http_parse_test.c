/*
 * pkg/web/http_parse.c: request heads, good and malformed (bare LF, bare CR,
 * no version, obs-fold, huge heads, Content-Length forms), and a head fed one
 * byte at a time at every split point.
 */
#include "pkg/web/http_parse.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

/* Parses a complete head given whole; returns the status (0 = ok) and fills h. */
static int
parse(const char *text, ts_arena *a, ts__http_head *h, const char **why)
{
    size_t scan = 0, n = strlen(text);
    long end = ts__http_head_end(text, n, &scan, TS_HTTP_MAX_HEAD);
    if (end <= 0)
        return end == 0 ? -1 : (int)-end;
    return ts__http_parse_head(text, (size_t)end, a, h, why);
}

static void
test_good(void)
{
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why;
    T_EQ(parse("GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nX-A:  b c \t\r\n\r\n", &a, &h,
               &why),
         0);
    T_STREQ(h.method, "GET");
    T_STREQ(h.target, "/api/v1/query?query=up");
    T_EQ(h.minor, 1);
    T_EQ(h.nheaders, 2);
    T_STREQ(ts__http_header_get(&h, "host"), "x");
    T_STREQ(ts__http_header_get(&h, "x-a"), "b c"); /* surrounding spaces trimmed */
    T_TRUE(ts__http_header_get(&h, "X-B") == NULL);
    /* bare LF line ends are accepted (as Go's net/http); HTTP/1.0 */
    T_EQ(
        parse("POST /x HTTP/1.0\nContent-Length: 3\nConnection: Keep-Alive, foo\n\n", &a, &h, &why),
        0);
    T_EQ(h.minor, 0);
    T_TRUE(ts__http_header_has_token(&h, "Connection", "keep-alive"));
    T_TRUE(ts__http_header_has_token(&h, "connection", "FOO"));
    T_FALSE(ts__http_header_has_token(&h, "Connection", "close"));
    uint64_t len;
    T_EQ(ts__http_body_length(&h, 100, &len, &why), 0);
    T_EQ(len, 3);
    /* empty value, obs-text in a value */
    T_EQ(parse("GET / HTTP/1.1\r\nX-E:\r\nX-U: caf\xc3\xa9\r\n\r\n", &a, &h, &why), 0);
    T_STREQ(ts__http_header_get(&h, "X-E"), "");
    T_STREQ(ts__http_header_get(&h, "X-U"), "caf\xc3\xa9");
    /* empty lines before a request are skipped by the caller */
    T_EQ(ts__http_skip_empty("\r\n\n\r\nGET", 8), 5);
    T_EQ(ts__http_skip_empty("\r", 1), 0);
    ts_arena_fini(&a);
}

static void
test_malformed(void)
{
    static const struct {
        const char *text;
        int status;
    } cases[] = {
        {"GET /\r\n\r\n", 400},                         /* no version (HTTP/0.9) */
        {"GET / \r\n\r\n", 400},                        /* empty version */
        {"GET  / HTTP/1.1\r\n\r\n", 400},               /* two spaces */
        {"GET / HTTP/1.1 \r\n\r\n", 400},               /* trailing space */
        {" GET / HTTP/1.1\r\n\r\n", 400},               /* leading space */
        {"G(T / HTTP/1.1\r\n\r\n", 400},                /* method not a token */
        {"GET / HTTP/2.0\r\n\r\n", 505},                /* another version */
        {"GET / HTTP/1.1x\r\n\r\n", 400},               /* garbage version */
        {"GET / http/1.1\r\n\r\n", 400},                /* case matters */
        {"GET /\ra HTTP/1.1\r\n\r\n", 400},             /* bare CR in the target */
        {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},     /* bare CR in a value */
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},  /* obs-fold */
        {"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 400}, /* obs-fold with a tab */
        {"GET / HTTP/1.1\r\nA b\r\n\r\n", 400},         /* no colon */
        {"GET / HTTP/1.1\r\n: b\r\n\r\n", 400},         /* empty name */
        {"GET / HTTP/1.1\r\nA : b\r\n\r\n", 400},       /* space before the colon */
        {"GET / HTTP/1.1\r\nA\x01: b\r\n\r\n", 400},    /* control in a name */
        {"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400},    /* DEL in a value */
        {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400},    /* control in a value */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_arena a;
        ts_arena_init(&a, 0);
        ts__http_head h;
        const char *why = NULL;
        int st = parse(cases[i].text, &a, &h, &why);
        if (st != cases[i].status)
            fprintf(stderr, "case %zu: got %d\n", i, st);
        T_EQ(st, cases[i].status);
        T_TRUE(why != NULL && why[0]);
        ts_arena_fini(&a);
    }
    /* a NUL byte inside the head */
    static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why;
    size_t scan = 0;
    long end = ts__http_head_end(nul, sizeof nul - 1, &scan, TS_HTTP_MAX_HEAD);
    T_EQ(end, (long)(sizeof nul - 1));
    T_EQ(ts__http_parse_head(nul, (size_t)end, &a, &h, &why), 400);
    ts_arena_fini(&a);
}

static int
body_status(const char *headers, uint64_t max, uint64_t *len)
{
    char text[512];
    snprintf(text, sizeof text, "POST / HTTP/1.1\r\n%s\r\n", headers);
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why;
    int st = parse(text, &a, &h, &why);
    if (st == 0)
        st = ts__http_body_length(&h, max, len, &why);
    ts_arena_fini(&a);
    return st;
}

static void
test_content_length(void)
{
    uint64_t len = 99;
    T_EQ(body_status("", 10, &len), 0);
    T_EQ(len, 0);
    T_EQ(body_status("Content-Length: 10\r\n", 10, &len), 0);
    T_EQ(len, 10);
    T_EQ(body_status("Content-Length: 11\r\n", 10, &len), 413);
    T_EQ(body_status("Content-Length: 5\r\ncontent-length: 5\r\n", 10, &len), 0); /* same value */
    T_EQ(len, 5);
    T_EQ(body_status("Content-Length: 5\r\nContent-Length: 6\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: -1\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: +1\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: 1 2\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: 1,1\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: 0x10\r\n", 100, &len), 400);
    T_EQ(body_status("Content-Length:\r\n", 10, &len), 400);
    T_EQ(body_status("Content-Length: 18446744073709551615\r\n", UINT64_MAX, &len), 400);
    T_EQ(body_status("Content-Length: 99999999999999999999999\r\n", UINT64_MAX, &len), 400);
    T_EQ(body_status("Content-Length: 92233720368547758070\r\n", UINT64_MAX, &len), 400);
    T_EQ(body_status("Content-Length: 9300000000000000000\r\n", UINT64_MAX, &len), 400);
    T_EQ(body_status("Content-Length: 9223372036854775808\r\n", UINT64_MAX, &len), 400);
    T_EQ(body_status("Content-Length: 9223372036854775807\r\n", UINT64_MAX, &len), 0);
    T_EQ(len, 9223372036854775807ull);
    T_EQ(body_status("Transfer-Encoding: chunked\r\n", 10, &len), 411);
    T_EQ(body_status("Transfer-Encoding: gzip\r\n", 10, &len), 501);
    T_EQ(body_status("Transfer-Encoding: identity\r\nContent-Length: 2\r\n", 10, &len), 0);
    T_EQ(len, 2);
}

/* A head fed in two pieces split at every byte, and one byte at a time: the
 * end is found exactly when the last byte arrives, never before. */
static void
test_split_reads(void)
{
    static const char req[] = "\r\nPOST /api/v1/query HTTP/1.1\r\nHost: a\nContent-Length: 7\r\n"
                              "X-Empty:\r\n\r\nquery=1";
    size_t skip = ts__http_skip_empty(req, sizeof req - 1);
    T_EQ(skip, 2);
    const char *head = req + skip;
    size_t total = strlen(head), head_len = total - 7;
    for (size_t cut = 0; cut <= total; cut++) {
        size_t scan = 0;
        long e1 = ts__http_head_end(head, cut, &scan, TS_HTTP_MAX_HEAD);
        T_EQ(e1, cut >= head_len ? (long)head_len : 0);
        long e2 = ts__http_head_end(head, total, &scan, TS_HTTP_MAX_HEAD);
        T_EQ(e2, (long)head_len);
    }
    size_t scan = 0;
    for (size_t n = 0; n <= total; n++) {
        long e = ts__http_head_end(head, n, &scan, TS_HTTP_MAX_HEAD);
        T_EQ(e, n >= head_len ? (long)head_len : 0);
        if (e > 0)
            break;
    }
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why;
    T_EQ(ts__http_parse_head(head, head_len, &a, &h, &why), 0);
    T_EQ(h.nheaders, 3);
    ts_arena_fini(&a);
}

/* Heads over the limit: 414 when the request line alone passes it, 431 when
 * the headers do; a head just under the limit parses. */
static void
test_huge(void)
{
    size_t max = TS_HTTP_MAX_HEAD;
    size_t cap = max + 4096;
    char *b = ts_malloc(cap);
    /* a 100 KiB query string: fine */
    size_t n = (size_t)snprintf(b, cap, "GET /q?x=");
    memset(b + n, 'a', 100 * 1024);
    n += 100 * 1024;
    n += (size_t)snprintf(b + n, cap - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    size_t scan = 0;
    T_EQ(ts__http_head_end(b, n, &scan, max), (long)n);
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why;
    T_EQ(ts__http_parse_head(b, n, &a, &h, &why), 0);
    T_EQ(strlen(h.target), 100 * 1024 + 5);
    ts_arena_fini(&a);
    /* a request line of max bytes without an end */
    memcpy(b, "GET /q?x=", 9);
    memset(b + 9, 'a', cap - 9);
    scan = 0;
    T_EQ(ts__http_head_end(b, max - 1, &scan, max), 0);
    T_EQ(ts__http_head_end(b, max, &scan, max), -414);
    scan = 0;
    T_EQ(ts__http_head_end(b, cap, &scan, max), -414);
    /* headers past the limit */
    n = (size_t)snprintf(b, cap, "GET / HTTP/1.1\r\nX-Big: ");
    memset(b + n, 'h', cap - n);
    scan = 0;
    T_EQ(ts__http_head_end(b, cap, &scan, max), -431);
    /* many small headers past the limit */
    n = (size_t)snprintf(b, cap, "GET / HTTP/1.1\r\n");
    while (n + 8 < cap) {
        memcpy(b + n, "A: bcd\r\n", 8);
        n += 8;
    }
    scan = 0;
    T_EQ(ts__http_head_end(b, n, &scan, max), -431);
    /* exactly at the limit: accepted */
    n = (size_t)snprintf(b, cap, "GET / HTTP/1.1\r\nX-Big: ");
    memset(b + n, 'h', max - n - 4);
    memcpy(b + max - 4, "\r\n\r\n", 4);
    scan = 0;
    T_EQ(ts__http_head_end(b, max, &scan, max), (long)max);
    ts_arena_init(&a, 0);
    T_EQ(ts__http_parse_head(b, max, &a, &h, &why), 0);
    T_EQ(strlen(ts__http_header_get(&h, "x-big")), max - strlen("GET / HTTP/1.1\r\nX-Big: ") - 4);
    ts_arena_fini(&a);
    ts_free(b);
}

T_MAIN({"good", test_good}, {"malformed", test_malformed}, {"content_length", test_content_length},
       {"split_reads", test_split_reads}, {"huge", test_huge})
