/*
 * libFuzzer target: the HTTP request head parser (pkg/web/http_parse.c).  The
 * input is fed as the server sees it: leading empty lines dropped, the end of
 * the head searched for in two pieces (split at a point taken from the
 * input), then parsed, the framing headers read, and the rest checked against
 * what a one-piece search finds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/arena.h"
#include "pkg/web/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t cut = data[0] % (size);
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    size_t skip = ts__http_skip_empty(buf, len);
    buf += skip;
    len -= skip;
    size_t max = 1024; /* well below libFuzzer's default input size, so 414/431 are reached */
    size_t scan = 0;
    long first = ts__http_head_end(buf, cut < len ? cut : len, &scan, max);
    long end = first > 0 ? first : ts__http_head_end(buf, len, &scan, max);
    size_t scan2 = 0;
    long whole = ts__http_head_end(buf, len, &scan2, max);
    if (end != whole)
        abort(); /* pieces and one piece must agree */
    if (end <= 0)
        return 0;
    ts_arena a;
    ts_arena_init(&a, 0);
    ts__http_head h;
    const char *why = NULL;
    int st = ts__http_parse_head(buf, (size_t)end, &a, &h, &why);
    if (st == 0) {
        uint64_t blen = 0;
        st = ts__http_body_length(&h, 1u << 20, &blen, &why);
        fuzz_sink += blen + h.nheaders + strlen(h.method) + strlen(h.target);
        fuzz_sink += (uint64_t)ts__http_header_has_token(&h, "Connection", "close");
        const char *host = ts__http_header_get(&h, "Host");
        fuzz_sink += host ? strlen(host) : 0;
    } else if (!why) {
        abort(); /* every refusal says why */
    }
    ts_arena_fini(&a);
    return 0;
}
