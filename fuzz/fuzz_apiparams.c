/*
 * libFuzzer target: the HTTP API's parameter parsing (pkg/util/gotime.c, floatfmt.c): the
 * input as a time (float seconds or RFC 3339), as a duration (float seconds or a Prometheus
 * duration), as a Go float, and a parsed float formatted back as the API prints values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/parser/ast.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/gotime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink; /* unsigned: sums wrap without UB */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ts_gotime t;
    if (ts_gotime_parse_prom_time(s, &t) == 0) {
        char buf[64];
        fuzz_sink += (uint64_t)ts_gotime_ms(t);
        uint64_t ms = (uint64_t)ts_gotime_unix_nano_ms(t); /* wraps like Go, no UB */
        ts_gotime_format_rfc3339nano((int64_t)(ms * 1000000u), buf, sizeof buf);
    }
    if (ts_gotime_parse_rfc3339(s, &t) == 0)
        fuzz_sink += (uint64_t)ts_gotime_ms(t);
    int64_t ns = 0;
    if (ts_gotime_parse_prom_duration(s, &ns) == 0)
        fuzz_sink += (uint64_t)ns;
    double v = 0;
    if (ts_parse_float_go(s, size, &v) == 0) {
        char buf[TS_FLOAT_BUF_MAX];
        fuzz_sink += (uint64_t)ts_format_prom_value(v, buf, sizeof buf);
        fuzz_sink += (uint64_t)ts_format_float_go(v, 'g', buf, sizeof buf);
        fuzz_sink += (uint64_t)ts_format_float_go(v, 'e', buf, sizeof buf);
    }
    int64_t ms = 0;
    if (ts_promql_parse_duration(s, size, &ms) == 0)
        fuzz_sink += (uint64_t)ms;
    if (ts_promql_parse_number(s, size, &v) == 0)
        fuzz_sink += v > 0;
    free(s);
    return 0;
}
