/*
 * ts_str: a non-owning slice of bytes, not NUL-terminated (h2o_iovec_t).
 * It borrows from whatever buffer it points into; copy with
 * ts_arena_strndup(arena, s.p, s.len) to keep it.
 */
#ifndef TS_UTIL_STR_H
#define TS_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct ts_str {
    const char *p;
    size_t len;
} ts_str;

#define TS_STR_LIT(s) ((ts_str){(s), sizeof(s) - 1})

static inline ts_str
ts_str_c(const char *s)
{
    return (ts_str){s, strlen(s)};
}

static inline bool
ts_str_eq(ts_str a, ts_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool
ts_str_eqc(ts_str a, const char *b)
{
    return ts_str_eq(a, ts_str_c(b));
}

/* memcmp-order comparison (Go's string comparison order). */
static inline int
ts_str_cmp(ts_str a, ts_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
static inline int
ts_str_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Encodes the code point r (at most 0x10FFFF) as UTF-8 into out, which has room for 4 bytes;
 * returns the number of bytes written. */
static inline size_t
ts_str_put_utf8(char *out, unsigned r)
{
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (char)(0xC0 | (r >> 6));
        out[1] = (char)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (char)(0xE0 | (r >> 12));
        out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        out[2] = (char)(0x80 | (r & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (r >> 18));
    out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
    out[3] = (char)(0x80 | (r & 0x3F));
    return 4;
}

#endif
