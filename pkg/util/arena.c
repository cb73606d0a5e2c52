#include "pkg/util/arena.h"
#include "pkg/util/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct ts_arena_block {
    ts_arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

void
ts_arena_init(ts_arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->allocated = 0;
}

void
ts_arena_fini(ts_arena *a)
{
    ts_arena_block *b = a->head;
    while (b) {
        ts_arena_block *n = b->next;
        ts_free(b);
        b = n;
    }
    a->head = NULL;
    a->allocated = 0;
}

ts_arena *
ts_arena_new(size_t block_size)
{
    ts_arena *a = ts_malloc(sizeof(*a));
    ts_arena_init(a, block_size);
    return a;
}

void
ts_arena_free(ts_arena *a)
{
    if (!a)
        return;
    ts_arena_fini(a);
    ts_free(a);
}

void
ts_arena_reset(ts_arena *a)
{
    if (!a->head)
        return;
    ts_arena_block *last = a->head;
    while (last->next) {
        ts_arena_block *n = last->next;
        ts_free(last);
        last = n;
    }
    /* keep the oldest block (the first one allocated, typically default-sized) */
    last->used = 0;
    a->head = last;
    a->allocated = 0;
}

void *
ts_arena_alloc(ts_arena *a, size_t n)
{
    n = ALIGN16(n ? n : 1);
    ts_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = n > a->block_size / 4 ? n : a->block_size;
        if (b && sz == n && b->size - b->used >= a->block_size / 4) {
            /* big allocation: give it its own block behind the current one */
            ts_arena_block *big = ts_malloc(sizeof(*big) + n);
            big->size = big->used = n;
            big->next = b->next;
            b->next = big;
            a->allocated += n;
            return big->data;
        }
        ts_arena_block *nb = ts_malloc(sizeof(*nb) + sz);
        nb->size = sz;
        nb->used = 0;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->allocated += n;
    return p;
}

void *
ts_arena_calloc(ts_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        ts__assert_fail("arena calloc overflow", __FILE__, __LINE__);
    void *p = ts_arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

char *
ts_arena_strndup(ts_arena *a, const char *s, size_t n)
{
    char *p = ts_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
ts_arena_strdup(ts_arena *a, const char *s)
{
    return ts_arena_strndup(a, s, strlen(s));
}

void *
ts_arena_memdup(ts_arena *a, const void *p, size_t n)
{
    void *q = ts_arena_alloc(a, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *
ts_arena_sprintf(ts_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = ts_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
