#include "pkg/util/mem.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread bool counting;
static __thread long long count_cur, count_peak;

static inline void
count_add(void *p)
{
    if (counting && p) {
        count_cur += (long long)malloc_usable_size(p);
        if (count_cur > count_peak)
            count_peak = count_cur;
    }
}

static inline void
count_sub(void *p)
{
    if (counting && p)
        count_cur -= (long long)malloc_usable_size(p);
}

void
ts_mem_count_start(void)
{
    count_cur = count_peak = 0;
    counting = true;
}

size_t
ts_mem_count_stop(void)
{
    counting = false;
    return count_peak > 0 ? (size_t)count_peak : 0;
}

long long
ts_mem_count_current(void)
{
    return count_cur;
}

static _Noreturn void
oom(size_t n)
{
    fprintf(stderr, "level=error component=mem msg=\"out of memory\" size=%zu\n", n);
    abort();
}

void *
ts_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    count_add(p);
    return p;
}

void *
ts_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    count_add(p);
    return p;
}

void *
ts_realloc(void *p, size_t n)
{
    count_sub(p);
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    count_add(q);
    return q;
}

char *
ts_strdup(const char *s)
{
    return ts_strndup(s, strlen(s));
}

char *
ts_strndup(const char *s, size_t n)
{
    char *p = ts_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void
ts_free(void *p)
{
    count_sub(p);
    free(p);
}

void
ts_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    *arr = ts_realloc(*arr, ncap * elem);
    *cap = ncap;
}

void
ts__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "level=error component=assert msg=\"assertion failed\" expr=\"%s\" at=%s:%d\n",
            expr, file, line);
    abort();
}
