/*
 * libFuzzer target: the PromQL parser (pkg/promql/parser).  Parses the input as an expression
 * and, when it parses, prints it back and re-parses the printed form (the printer's output is
 * what the querier sends on), then parses the input as an API series selector (match[]).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/parser/ast.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_error err = {0};
    ts_promql_expr *e = NULL;
    if (ts_promql_parse(&a, (const char *)data, size, &e, &err) == 0) {
        char *s = ts_promql_to_string(&a, e);
        if (s != NULL) {
            ts_promql_expr *e2 = NULL;
            ts_error err2 = {0};
            if (ts_promql_parse(&a, s, strlen(s), &e2, &err2) == 0)
                ts_promql_expr_free(e2);
        }
        ts_promql_expr_free(e);
    }
    ts_arena_fini(&a);

    ts_matcher **ms = NULL;
    size_t n = 0;
    if (ts_promql_parse_series_selector((const char *)data, size, &ms, &n, &err) == 0)
        ts_promql_matchers_free(ms, n);
    return 0;
}
