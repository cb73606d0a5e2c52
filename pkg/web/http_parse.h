/*
 * HTTP/1.x request heads (RFC 9112): finding where a head ends in bytes that
 * arrive in pieces, parsing it, and deciding how long the body is.  Pure
 * functions over a buffer, no I/O: the server (server.c) feeds them what it
 * read, the unit tests and the fuzz target feed them anything.
 *
 *   size_t scan = 0;
 *   long n = ts__http_head_end(buf, len, &scan, TS_HTTP_MAX_HEAD);
 *   // 0: read more and call again (scan remembers how far it looked)
 *   // < 0: -414 or -431, the head is too large: answer that and close
 *   ts__http_head h;
 *   int st = ts__http_parse_head(buf, (size_t)n, &arena, &h, &why);  // 0, 400 or 505
 *   uint64_t body;
 *   st = ts__http_body_length(&h, max_body, &body, &why);           // 0, 400, 411, 413, 501
 *
 * What is accepted (as Go's net/http, Prometheus' server, where RFC 9112 leaves a choice):
 *  - lines end in CRLF or a bare LF; a CR anywhere else is refused (400);
 *  - the request line is exactly "METHOD SP target SP HTTP/1.x"; another
 *    HTTP version is 505, no version (HTTP/0.9) or extra spaces 400;
 *  - header lines "name: value" with a token name (no space before the
 *    colon); obsolete line folding (a line starting with SP/HTAB) is refused
 *    (400, which RFC 9112 section 5.2 allows); control characters other
 *    than HTAB in a value are refused;
 *  - Content-Length: digits only; repeated with the same value is one value,
 *    with different values 400; larger than max_body 413; above 2^63-1
 *    400 (Go parses it into 63 bits);
 *  - Transfer-Encoding: "chunked" is answered 411 (chunked request bodies are
 *    not supported: clients send Content-Length), any other coding 501.
 *
 * The head limit is Go's: http.DefaultMaxHeaderBytes (1 MiB) plus the 4096
 * bytes of slack its reader allows.
 *
 * Thread-safety: none needed (no state).
 */
#ifndef TS_WEB_HTTP_PARSE_H
#define TS_WEB_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/util/arena.h"

#define TS_HTTP_MAX_HEAD ((1u << 20) + 4096)

typedef struct ts__http_header {
    char *name, *value; /* NUL-terminated arena copies; value without surrounding spaces */
} ts__http_header;

typedef struct ts__http_head {
    char *method, *target; /* arena copies */
    int minor;             /* HTTP/1.<minor>: 0 or 1 */
    ts__http_header *headers;
    size_t nheaders;
} ts__http_head;

/* Finds the end of the request head at the start of buf[0, len).  Returns the
 * head's length (through its empty line) when it is complete, 0 when more
 * bytes are needed, or -414 (the request line alone passes max) / -431 (the
 * headers do) when no end lies within the first max bytes.  *scan must be 0
 * for a new head; the function keeps there how far it has looked, so feeding
 * a head byte by byte costs O(n) in all.  Leading empty lines are the
 * caller's (ts__http_skip_empty). */
long ts__http_head_end(const char *buf, size_t len, size_t *scan, size_t max);

/* How many leading bytes of buf are empty lines (CRLF or LF) that a client
 * may send between requests (RFC 9112 section 2.2); the caller drops them. */
size_t ts__http_skip_empty(const char *buf, size_t len);

/* Parses a complete head (buf[0, len) as found by ts__http_head_end) into h,
 * with copies in a.  Returns 0, or the status to answer (400, 505) with a
 * static reason in *why. */
int ts__http_parse_head(const char *buf, size_t len, ts_arena *a, ts__http_head *h,
                        const char **why);

/* The first value of header name (case-insensitive), NULL when absent. */
const char *ts__http_header_get(const ts__http_head *h, const char *name);

/* Whether a comma-separated header (Connection) lists token (case-insensitive). */
int ts__http_header_has_token(const ts__http_head *h, const char *name, const char *token);

/* The body's length from the framing headers: 0 and *len (0 without a body),
 * or the status to answer (400, 411, 413, 501) with a static reason in *why. */
int ts__http_body_length(const ts__http_head *h, uint64_t max_body, uint64_t *len,
                         const char **why);

#endif
