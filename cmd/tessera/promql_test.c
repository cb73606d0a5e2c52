/*
 * tessera promql-test FILE...: runs PromQL test files (Prometheus' format,
 * pkg/promql/promqltest).  Failures are printed as they happen; the last line
 * is "N passed, M failed" (plus ", K skipped" when some evals were skipped).
 * Exit code: 0 when nothing failed, 1 otherwise, 2 on usage errors.
 */
#include "cmd/tessera/cmd.h"

#include <stdio.h>
#include <string.h>

#include "pkg/promql/promqltest/promqltest.h"

static void
print_line(void *ctx, const char *line)
{
    fprintf((FILE *)ctx, "%s\n", line);
}

int
ts_cmd_promql_test(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: tessera promql-test FILE...\n");
        return argc < 2 ? 2 : 0;
    }
    ts_promqltest_stats st = {0};
    for (int i = 1; i < argc; i++)
        ts_promqltest_run_file(argv[i], &st, print_line, stdout);
    if (st.skipped)
        printf("%zu passed, %zu failed, %zu skipped\n", st.passed, st.failed, st.skipped);
    else
        printf("%zu passed, %zu failed\n", st.passed, st.failed);
    fflush(stdout);
    return st.failed ? 1 : 0;
}
