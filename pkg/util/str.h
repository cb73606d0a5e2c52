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

#endif
