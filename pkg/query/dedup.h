/*
 * HA deduplication (Thanos' penalty algorithm, pkg/dedup/iter.go), written
 * against pkg/storage's iterators.
 *
 * Replicas of one series (equal labels once the replica labels are gone)
 * are read as one: follow a replica; the other is skipped ahead by a
 * penalty of twice the last gap between emitted samples (5 s before any
 * gap is known), so it only takes over when the followed replica has a gap
 * longer than about two scrape intervals.  More than two replicas chain
 * pairwise.  For counters (the query's function is rate, increase, irate or
 * resets) a switch never makes the value go down: the new replica's values
 * are lifted by the difference ("counter cannot go down").
 */
#ifndef TS_QUERY_DEDUP_H
#define TS_QUERY_DEDUP_H

#include <stdbool.h>

#include "pkg/storage/storage.h"

#define TS_QUERY_DEDUP_INITIAL_PENALTY_MS 5000

/* Penalty iterator over replicas its[0..n) (takes ownership; n >= 1). */
ts_iterator *ts_query_dedup_iterators(ts_iterator **its, size_t n, bool counter);

/* Merges sorted series sets (takes ownership).  Series with equal label sets
 * (from any inputs, or repeated within one input) become one series whose
 * samples are deduplicated with the penalty algorithm.  Warnings are carried
 * over.  An input that ends with an error ends the merged set with that
 * error, or, with errors_as_warnings (partial response), becomes a warning
 * while the other inputs go on. */
ts_series_set *ts_query_dedup_series_sets(ts_series_set **sets, size_t n, bool counter,
                                          bool errors_as_warnings);

/* Whether a PromQL function's input should get counter adjustment. */
bool ts_query_dedup_is_counter_func(const char *func);

#endif
