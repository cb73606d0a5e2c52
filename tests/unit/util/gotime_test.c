/*
 * pkg/util/gotime.c: Go's time texts.  Expected texts are Go's
 * time.Unix(0, ns).UTC().Format(time.RFC3339Nano) (as Prometheus 2.42 prints
 * activeAt, lastScrape and alert times).
 */
#include "pkg/util/gotime.h"
#include "tests/testutil/t.h"

#include <stdint.h>
#include <string.h>

static void
test_format_rfc3339nano(void)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {1795596330546128968LL, "2026-11-25T08:45:30.546128968Z"},
        {1795596330000000000LL, "2026-11-25T08:45:30Z"},
        {1500000, "1970-01-01T00:00:00.0015Z"},
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59.999999999Z"},
        {-1000000000LL, "1969-12-31T23:59:59Z"},
        {951782400000000000LL, "2000-02-29T00:00:00Z"}, /* leap day of a century leap year */
        {INT64_MAX, "2262-04-11T23:47:16.854775807Z"},
        {INT64_MIN, "1677-09-21T00:12:43.145224192Z"},
    };
    char b[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_gotime_format_rfc3339nano(cases[i].ns, b, sizeof b);
        T_STREQ(b, cases[i].want);
    }
    /* cut to the buffer, always terminated */
    char small[11];
    ts_gotime_format_rfc3339nano(0, small, sizeof small);
    T_STREQ(small, "1970-01-01");
}

T_MAIN({"format_rfc3339nano", test_format_rfc3339nano})
