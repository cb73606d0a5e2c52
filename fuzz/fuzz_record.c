/*
 * libFuzzer target: WAL record decoding (pkg/tsdb/record), as replay does it: the type byte
 * picks the decoder; series records are decoded both into the arena and onto the heap.
 */
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/tsdb/record/record.h"
#include "pkg/util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_arena a;
    ts_arena_init(&a, 4096);
    fuzz_sink += (uint64_t)ts_record_type(data, size);
    ts_record_series *s = NULL;
    ts_record_sample *smp = NULL;
    size_t n = 0;
    if (ts_record_decode_series(data, size, &a, &s, &n) == 0)
        for (size_t i = 0; i < n; i++)
            fuzz_sink += s[i].ref;
    if (ts_record_decode_series_heap(data, size, &a, &s, &n) == 0)
        for (size_t i = 0; i < n; i++)
            ts_labels_free((ts_labels *)s[i].labels);
    if (ts_record_decode_samples(data, size, &a, &smp, &n) == 0)
        for (size_t i = 0; i < n; i++)
            fuzz_sink += smp[i].ref + (uint64_t)smp[i].t;
    ts_arena_fini(&a);
    return 0;
}
