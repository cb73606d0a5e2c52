/*
 * Arena: a bump allocator for memory that dies together (one query, one API
 * request, one scrape's parse).  Allocation is a pointer bump inside a block;
 * blocks are chained and freed all at once by ts_arena_free() or recycled by
 * ts_arena_reset().  Individual allocations are never freed.
 *
 * Not thread-safe: one arena belongs to one thread at a time.
 * Long-lived state (head series, postings, WAL buffers) never lives here.
 */
#ifndef TS_UTIL_ARENA_H
#define TS_UTIL_ARENA_H

#include <stddef.h>

typedef struct ts_arena_block ts_arena_block;

typedef struct ts_arena {
    ts_arena_block *head; /* current block, newest first */
    size_t block_size;    /* default size of new blocks */
    size_t allocated;     /* bytes handed out (for limits and stats) */
} ts_arena;

/* Caller-allocated: init with a block size (0 picks 64 KiB), fini to free. */
void ts_arena_init(ts_arena *a, size_t block_size);
void ts_arena_fini(ts_arena *a);

/* Heap-allocated variant; ts_arena_free accepts NULL. */
ts_arena *ts_arena_new(size_t block_size);
void ts_arena_free(ts_arena *a);

/* Frees every block but the first, which is kept for reuse. */
void ts_arena_reset(ts_arena *a);

/* Returns n bytes aligned to 16 (never NULL); valid until reset/fini. */
void *ts_arena_alloc(ts_arena *a, size_t n);
void *ts_arena_calloc(ts_arena *a, size_t count, size_t size);
char *ts_arena_strdup(ts_arena *a, const char *s);
char *ts_arena_strndup(ts_arena *a, const char *s, size_t n);
void *ts_arena_memdup(ts_arena *a, const void *p, size_t n);
/* printf into the arena. */
char *ts_arena_sprintf(ts_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define TS_ARENA_NEW(a, type) ((type *)ts_arena_calloc((a), 1, sizeof(type)))
#define TS_ARENA_ARRAY(a, type, n) ((type *)ts_arena_calloc((a), (n), sizeof(type)))

#endif
