/*
 * pkg/util/gotime.c: Go's time semantics and texts.  Expected texts are Go's
 * time.Unix(0, ns).UTC().Format(time.RFC3339Nano) (as Prometheus 2.42 prints
 * activeAt, lastScrape and alert times); expected parses are what Prometheus
 * 2.42's API makes of its time and duration parameters (tests/unit/web
 * checks the API's error texts on top of these).
 */
#include "pkg/util/gotime.h"
#include "pkg/util/err.h"
#include "tests/testutil/t.h"

#include <errno.h>
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

static void
test_unix_and_ms(void)
{
    ts_gotime t = ts_gotime_unix(1, -1); /* time.Unix(1, -1) = 0.999999999 */
    T_EQ(t.sec, 0);
    T_EQ(t.nsec, 999999999);
    t = ts_gotime_unix(0, 2500000000LL);
    T_EQ(t.sec, 2);
    T_EQ(t.nsec, 500000000);
    T_EQ(ts_gotime_ms(ts_gotime_unix(-2, 500000000)), -1500);
    T_EQ(ts_gotime_unix_nano_ms(ts_gotime_unix(1435781451, 781000000)), 1435781451781);
    /* Prometheus' MinTime/MaxTime as ms (timestamp.FromTime) */
    T_EQ(ts_gotime_ms(ts_gotime_prom_min()), -9223309901257974000LL);
    T_EQ(ts_gotime_ms(ts_gotime_prom_max()), 9223309901257974999LL);
}

static void
test_parse(void)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"1435781451.781", 1435781451781},
        {"1435781451.7809", 1435781451781}, /* rounded to ms */
        {"-1.5", -1500},
        {"1_000", 1000000},
        {"0x1p4", 16000},
        {"2015-07-01T20:10:51.781Z", 1435781451781},
        {"2015-07-01T20:10:51,781Z", 1435781451781},
        {"2015-07-01T20:10:51+02:00", 1435774251000},
        {"2015-07-01T20:10:51.7819999Z", 1435781451781}, /* truncated */
        {"2016-02-29T00:00:00Z", 1456704000000},
        {"1969-12-31T23:59:59.5Z", -500},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ts_gotime t = {0, 0};
        T_OK(ts_gotime_parse_prom_time(ok[i].in, &t));
        T_EQ(ts_gotime_ms(t), ok[i].ms);
    }
    static const char *const bad[] = {"",
                                      "x",
                                      "0x10",
                                      "1e400",
                                      "2015-02-29T00:00:00Z",
                                      "2015-07-01 20:10:51Z",
                                      "2015-07-01T20:10:51",
                                      "2015-07-01T24:00:00Z",
                                      "2015-07-01T20:10:51+0200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_gotime t = {7, 7};
        T_EQ(ts_gotime_parse_prom_time(bad[i], &t), TS_EPARSE);
        T_EQ(t.sec, 7); /* untouched */
    }
    /* RFC 3339 alone takes no float */
    ts_gotime t;
    T_EQ(ts_gotime_parse_rfc3339("1435781451", &t), TS_EPARSE);
    T_OK(ts_gotime_parse_rfc3339("1970-01-01T00:00:00.000000001Z", &t));
    T_EQ(t.sec, 0);
    T_EQ(t.nsec, 1);

    int64_t ns;
    T_OK(ts_gotime_parse_prom_duration("15", &ns));
    T_EQ(ns, 15000000000LL);
    T_OK(ts_gotime_parse_prom_duration("0.5", &ns));
    T_EQ(ns, 500000000);
    T_OK(ts_gotime_parse_prom_duration("1m30s", &ns));
    T_EQ(ns, 90000000000LL);
    T_EQ(ts_gotime_parse_prom_duration("1e300", &ns), -ERANGE);
    T_EQ(ts_gotime_parse_prom_duration("", &ns), TS_EPARSE);
    T_EQ(ts_gotime_parse_prom_duration("z", &ns), TS_EPARSE);
    T_EQ(ts_gotime_parse_prom_duration("300y", &ns), TS_EPARSE);
}

T_MAIN({"format_rfc3339nano", test_format_rfc3339nano}, {"unix_and_ms", test_unix_and_ms},
       {"parse", test_parse})
