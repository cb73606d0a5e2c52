/*
 * WAL record payloads shared by the head (which produces them on commit) and
 * the WAL (which encodes, checksums, compresses and replays them).
 * The byte encoding is specified in pkg/tsdb/docs/format/wal.md.
 */
#ifndef TS_TSDB_RECORD_RECORD_H
#define TS_TSDB_RECORD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/util/buf.h"
#include "pkg/util/arena.h"

enum {
    TS_REC_SERIES = 1,  /* new series: ref + labels */
    TS_REC_SAMPLES = 2, /* float samples: ref + t + v */
};

typedef struct ts_record_series {
    uint64_t ref;            /* head series ref (stable for the life of the series) */
    const ts_labels *labels; /* borrowed */
} ts_record_series;

typedef struct ts_record_sample {
    uint64_t ref;
    int64_t t;
    double v; /* bit-exact, stale NaN included */
} ts_record_sample;

/* Append an encoded record (type byte first) to out. */
int ts_record_encode_series(ts_buf *out, const ts_record_series *s, size_t n);
int ts_record_encode_samples(ts_buf *out, const ts_record_sample *s, size_t n);
/* Type of an encoded record (first byte), or 0 if empty. */
int ts_record_type(const uint8_t *p, size_t n);
/* Decode; labels are allocated in arena a.  TS_ECORRUPT on malformed input
 * (never reads out of bounds).  *out is an arena array. */
int ts_record_decode_series(const uint8_t *p, size_t n, ts_arena *a, ts_record_series **out,
                            size_t *count);
/* ts_record_decode_series with each label set on the heap (ts_labels_new),
 * for a caller that keeps them: the head shares a heap set instead of
 * copying it.  The caller frees each with ts_labels_free; on error nothing
 * is left to free.  The array is still in arena a. */
int ts_record_decode_series_heap(const uint8_t *p, size_t n, ts_arena *a, ts_record_series **out,
                                 size_t *count);
int ts_record_decode_samples(const uint8_t *p, size_t n, ts_arena *a, ts_record_sample **out,
                             size_t *count);

#endif
