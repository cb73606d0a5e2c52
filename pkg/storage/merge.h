/*
 * Merging: several sorted series sets (or queriers) seen as one.
 *
 * Series with equal label sets are combined into one series whose samples
 * are the union by timestamp; where two inputs have a sample at the same
 * timestamp, the first input (lowest index) wins.  This is Prometheus'
 * "chained" merge, used to put head and blocks together.  HA replica
 * deduplication (penalty algorithm) is a different thing and lives in
 * pkg/query.
 */
#ifndef TS_STORAGE_MERGE_H
#define TS_STORAGE_MERGE_H

#include "pkg/storage/storage.h"

/* Takes ownership of sets[0..n) (each must be sorted); the array itself is
 * copied.  Warnings of all inputs are carried over; the first error ends
 * the merged set with that error. */
ts_series_set *ts_merge_series_sets(ts_series_set **sets, size_t n);

/* How a merged set turns several series with equal labels into one. */
typedef struct ts_merge_combiner {
    /* A sample iterator over the parts' iterators its[0..n) (takes ownership). */
    ts_iterator *(*iterators)(void *ctx, ts_iterator **its, size_t n);
    bool chunks; /* the merged series offers the parts' chunks, one part after another */
    void *ctx;
} ts_merge_combiner;

/* The k-way merge behind ts_merge_series_sets, with the way equal series are
 * combined given by comb (borrowed for the set's life).  Series with equal
 * labels from any inputs, repeats within one input included, become one.  An
 * input ending with an error ends the set with that error, or with
 * errors_as_warnings becomes a warning while the other inputs go on. */
ts_series_set *ts_merge_series_sets_by(ts_series_set **sets, size_t n,
                                       const ts_merge_combiner *comb, bool errors_as_warnings);

/* A sample iterator over the union of its[0..n) (takes ownership). */
ts_iterator *ts_merge_iterators(ts_iterator **its, size_t n);

/* A querier over the union of qs[0..n) (takes ownership; closes them on
 * close).  select always asks its inputs for sorted sets. */
ts_querier *ts_merge_queriers(ts_querier **qs, size_t n, int64_t mint, int64_t maxt);

/* Sorts and de-duplicates strs[0..*n) in place. */
void ts_strs_sort_unique(const char **strs, size_t *n);

#endif
