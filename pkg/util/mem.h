/*
 * Allocation.  ts_malloc and friends never return NULL: on out-of-memory they
 * log and abort (as redis zmalloc does).  Limits on sizes that come from
 * outside (scrape bodies, frames, query samples) are enforced where the data
 * enters, with TS_ELIMIT, so an abort here means the machine is truly out of
 * memory, not that an input was hostile.
 */
#ifndef TS_UTIL_MEM_H
#define TS_UTIL_MEM_H

#include <stddef.h>

void *ts_malloc(size_t n);
void *ts_calloc(size_t count, size_t size);
void *ts_realloc(void *p, size_t n);
char *ts_strdup(const char *s);
char *ts_strndup(const char *s, size_t n);
void ts_free(void *p);

/* Allocation accounting, for tests that bound a job's memory: between
 * ts_mem_count_start() and ts_mem_count_stop(), every ts_malloc/ts_calloc/
 * ts_realloc/ts_free made by the calling thread adds or removes the block's
 * usable size to a running total; stop returns the highest total reached
 * (bytes, relative to the start).  Other threads are not counted.  When
 * counting is off the cost is one thread-local test per call. */
void ts_mem_count_start(void);
size_t ts_mem_count_stop(void);
/* The running total (may be negative if the thread freed older memory). */
long long ts_mem_count_current(void);

/* Grows *arr (of element size elem) so it can hold at least need elements;
 * *cap is updated.  Doubles capacity to keep appends amortised O(1). */
void ts_grow(void **arr, size_t *cap, size_t need, size_t elem);

#define TS_GROW(arr, cap, need) ts_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* Invariant checks that stay on in release builds (redis serverAssert). */
#define TS_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ts__assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)
_Noreturn void ts__assert_fail(const char *expr, const char *file, int line);

#endif
