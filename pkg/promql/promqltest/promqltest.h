/*
 * Runner for Prometheus' PromQL test-file format (promql/test.go, 2.42):
 *
 *   load <step>                      followed by series lines, e.g.
 *     metric{a="b"} 0+10x100 _ stale 1 NaN -Inf _x3 5x2
 *   clear                            drop all data
 *   eval instant at <time> <expr>    followed by expected result lines:
 *     {labels} value | metric{labels} value | a bare number (scalar)
 *   eval_fail instant at ...         the query must fail; optional lines
 *     expected_fail_message <text>   the error text must be exactly this
 *     expected_fail_regexp <re>      the error text must match (unanchored)
 *   eval_ordered instant at ...      result order must match the expected lines
 *   eval_warn instant at ...         like eval (warnings are not checked)
 *   eval range from <start> to <end> step <step> <expr>
 *                                    (our extension) expected lines are series
 *                                    with one value per step (`_` = absent)
 *
 * A block ends at a blank line or a comment line.  Times and steps are
 * Prometheus durations from the Unix epoch.  Data goes into a fresh
 * in-memory head (pkg/tsdb/head) per file and after each `clear`, queried
 * through its querier.  As test.go does, an instant eval is also run as a
 * range query from t-1m to t+1m step 1m (its middle step must match), and,
 * unless it uses a time-dependent function, once more with every selector
 * pinned by `@ t` at the times -10t, 0, t/5, t and 10t (or -1s, 0, 1s for
 * t = 0), each of which must give the same expected result.
 * Values compare with relative tolerance 1e-6, NaN equals NaN.
 *
 * Output goes through a callback, one line per call (no trailing newline):
 * for each failing eval "file:line: <message>" with the query, expected and
 * actual results.  Evals that need native histograms (a histogram_count/
 * sum/fraction call, or any eval after a load with `{{...}}` histogram
 * samples, until the next clear) are listed as "file:line: skipped (needs
 * native histograms): ..." and counted as skipped, never as passed.
 */
#ifndef TS_PROMQL_PROMQLTEST_PROMQLTEST_H
#define TS_PROMQL_PROMQLTEST_PROMQLTEST_H

#include <stddef.h>

#include "pkg/util/err.h"

typedef struct ts_promqltest_stats {
    size_t passed, failed, skipped;
} ts_promqltest_stats;

typedef void (*ts_promqltest_report_fn)(void *ctx, const char *line);

/* Runs the test script text (len bytes) named name (for messages), adding to
 * *stats.  Returns 0, or an error code for a script that cannot be run at all
 * (bad syntax in a load block or command line: counted as one failure and
 * reported). */
int ts_promqltest_run(const char *name, const char *text, size_t len, ts_promqltest_stats *stats,
                      ts_promqltest_report_fn report, void *ctx);

/* Reads and runs a file. */
int ts_promqltest_run_file(const char *path, ts_promqltest_stats *stats,
                           ts_promqltest_report_fn report, void *ctx);

#endif
