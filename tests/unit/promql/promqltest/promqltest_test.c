/* Unit tests for pkg/promql/promqltest: the test-file runner itself (value
 * expansion, comparison rules, failure reports, counting). */
#include "pkg/promql/promqltest/promqltest.h"

#include <string.h>

#include "tests/testutil/t.h"

static char report_buf[16384];

static void
collect(void *ctx, const char *line)
{
    (void)ctx;
    size_t n = strlen(report_buf);
    snprintf(report_buf + n, sizeof(report_buf) - n, "%s\n", line);
}

static ts_promqltest_stats
run(const char *script)
{
    ts_promqltest_stats st = {0};
    report_buf[0] = 0;
    ts_promqltest_run("t.test", script, strlen(script), &st, collect, NULL);
    return st;
}

static void
test_expansions(void)
{
    /* 1+1x3 -> 1 2 3 4; _x2 -> two gaps; 7x1 -> 7 7; stale ends the series. */
    ts_promqltest_stats st = run("load 1m\n"
                                 "  a 1+1x3 _x2 7x1 stale\n"
                                 "  b{x=\"y\"} -1-1x2 Inf -Inf NaN\n"
                                 "\n"
                                 "eval instant at 3m a\n"
                                 "  a 4\n"
                                 "\n"
                                 "eval instant at 5m count_over_time(a[5m])\n"
                                 "  {} 4\n"
                                 "\n"
                                 "eval instant at 7m a\n"
                                 "  a 7\n"
                                 "\n"
                                 "eval instant at 8m a\n"
                                 "\n"
                                 "eval instant at 2m b\n"
                                 "  b{x=\"y\"} -3\n"
                                 "\n"
                                 "eval instant at 4m b\n"
                                 "  b{x=\"y\"} -Inf\n"
                                 "\n"
                                 "eval instant at 5m b\n"
                                 "  b{x=\"y\"} NaN\n"
                                 "\n"
                                 "eval instant at 0m 1 + 2\n"
                                 "  3\n");
    if (st.failed)
        fprintf(stderr, "%s", report_buf);
    T_EQ(st.passed, 8);
    T_EQ(st.failed, 0);
    T_EQ(st.skipped, 0);
}

static void
test_failures_reported(void)
{
    ts_promqltest_stats st = run("load 1m\n"
                                 "  a{i=\"1\"} 1\n"
                                 "  a{i=\"2\"} 2\n"
                                 "\n"
                                 "# wrong value\n"
                                 "eval instant at 0m a\n"
                                 "  a{i=\"1\"} 1\n"
                                 "  a{i=\"2\"} 3\n"
                                 "\n"
                                 "eval instant at 0m a{i=\"1\"}\n"
                                 "  a{i=\"1\"} 1.0000000001\n"
                                 "\n"
                                 "eval_ordered instant at 0m sort_desc(a)\n"
                                 "  a{i=\"1\"} 1\n"
                                 "  a{i=\"2\"} 2\n"
                                 "\n"
                                 "eval_fail instant at 0m a\n"
                                 "\n"
                                 "eval_fail instant at 0m -a + on() a\n"
                                 "\n"
                                 "eval instant at 0m a\n"
                                 "  a{i=\"1\"} 1\n");
    /* Passing: the near-equal value (relative 1e-6 tolerance), the expected failure. */
    T_EQ(st.passed, 2);
    T_EQ(st.failed, 4);
    T_TRUE(strstr(report_buf, "t.test:6: eval instant at 0m a: expected 3 for") != NULL);
    T_TRUE(strstr(report_buf, "t.test:13:") != NULL);
    T_TRUE(strstr(report_buf, "at position") != NULL);
    T_TRUE(strstr(report_buf, "t.test:17:") != NULL);
    T_TRUE(strstr(report_buf, "expected an error but got none") != NULL);
    T_TRUE(strstr(report_buf, "t.test:21:") != NULL);
    T_TRUE(strstr(report_buf, "unexpected metric") != NULL ||
           strstr(report_buf, "not found") != NULL);
    T_TRUE(strstr(report_buf, "  expected:") != NULL);
    T_TRUE(strstr(report_buf, "  actual:") != NULL);
}

static void
test_skip_and_errors(void)
{
    ts_promqltest_stats st = run("load 1m\n"
                                 "  a 1\n"
                                 "\n"
                                 "eval instant at 0m histogram_count(a)\n"
                                 "\n"
                                 "clear\n"
                                 "\n"
                                 "eval instant at 0m a\n");
    T_EQ(st.passed, 1); /* after clear, `a` is empty as expected */
    T_EQ(st.skipped, 1);
    T_EQ(st.failed, 0);
    T_TRUE(strstr(report_buf, "t.test:4: skipped (needs native histograms)") != NULL);

    st = run("load 1m\n"
             "  h {{schema:0 sum:5 count:4 buckets:[1 2 1]}}\n"
             "  a 1\n"
             "\n"
             "eval instant at 0m a\n"
             "  a 1\n"
             "\n"
             "clear\n"
             "load 1m\n"
             "  a 2\n"
             "\n"
             "eval instant at 0m a\n"
             "  a 2\n");
    T_EQ(st.skipped, 1);
    T_EQ(st.passed, 1);
    T_EQ(st.failed, 0);

    st = run("load 1m\n  a 1 bogus\n\neval instant at 0m a\n  a 1\n");
    T_EQ(st.failed, 1);
    T_TRUE(strstr(report_buf, "t.test:2: invalid series line") != NULL);

    st = run("frobnicate\n");
    T_EQ(st.failed, 1);
    T_TRUE(strstr(report_buf, "unknown command") != NULL);

    st = run("eval instant at 5x a\n");
    T_EQ(st.failed, 1);
    T_TRUE(strstr(report_buf, "invalid eval command") != NULL);
}

static void
test_range_eval(void)
{
    ts_promqltest_stats st = run("load 1m\n"
                                 "  a 0+1x4\n"
                                 "\n"
                                 "eval range from 0 to 4m step 2m a * 2\n"
                                 "  {} 0 4 8\n"
                                 "\n"
                                 "eval range from 0 to 6m step 2m a\n"
                                 "  a 0 2 4 4\n"
                                 "\n"
                                 "eval range from 0 to 4m step 2m a\n"
                                 "  a 0 _ 4\n");
    T_EQ(st.passed, 2);
    T_EQ(st.failed, 1);
    T_TRUE(strstr(report_buf, "t.test:10:") != NULL);
}

static void
test_expected_fail_text(void)
{
    ts_promqltest_stats st = run("load 1m\n"
                                 "  a{i=\"1\"} 1\n"
                                 "  b{i=\"1\"} 1\n"
                                 "\n"
                                 "eval_fail instant at 0m -{i=\"1\"}\n"
                                 "  expected_fail_message vector cannot contain metrics with the "
                                 "same labelset\n"
                                 "\n"
                                 "eval_fail instant at 0m -{i=\"1\"}\n"
                                 "  expected_fail_regexp same label(set|s)\n"
                                 "\n"
                                 "eval_fail instant at 0m -{i=\"1\"}\n"
                                 "  expected_fail_message something else\n"
                                 "\n"
                                 "eval_fail instant at 0m -{i=\"1\"}\n"
                                 "  expected_fail_regexp ^labelset\n");
    T_EQ(st.passed, 2);
    T_EQ(st.failed, 2);
    T_TRUE(strstr(report_buf, "t.test:11: eval_fail") != NULL);
    T_TRUE(strstr(report_buf, "expected error \"something else\"") != NULL);
    T_TRUE(strstr(report_buf, "t.test:14: eval_fail") != NULL);
}

T_MAIN({"expansions", test_expansions}, {"expected_fail_text", test_expected_fail_text},
       {"failures_reported", test_failures_reported}, {"skip_and_errors", test_skip_and_errors},
       {"range_eval", test_range_eval})
