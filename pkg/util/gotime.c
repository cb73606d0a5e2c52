/*
 * Go time semantics and texts (see gotime.h).  Everything that Go computes
 * in wrapping int64 arithmetic is done here in uint64 and converted back, so
 * it is defined in C and gives Go's bits.
 */
#include "pkg/util/gotime.h"
#include "pkg/util/err.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ reading */

/* Go's int64(f) on amd64: out-of-range and NaN give MinInt64. */
static int64_t
go_f2i(double f)
{
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)f;
}

static int64_t
wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static int64_t
wrap_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

ts_gotime
ts_gotime_unix(int64_t sec, int64_t nsec)
{
    if (nsec < 0 || nsec >= 1000000000) {
        int64_t n = nsec / 1000000000;
        sec = wrap_add(sec, n);
        nsec -= n * 1000000000;
        if (nsec < 0) {
            nsec += 1000000000;
            sec = wrap_add(sec, -1);
        }
    }
    return (ts_gotime){sec, nsec};
}

int64_t
ts_gotime_ms(ts_gotime t)
{
    return wrap_add(wrap_mul(t.sec, 1000), t.nsec / 1000000);
}

int64_t
ts_gotime_unix_nano_ms(ts_gotime t)
{
    return wrap_add(wrap_mul(t.sec, 1000000000), t.nsec) / 1000000;
}

static bool
is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool
digits_n(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int
ts_gotime_parse_rfc3339(const char *s, ts_gotime *out)
{
    int y, mo, d, h, mi, se;
    if (strlen(s) < 20 || !digits_n(s, 4, &y) || s[4] != '-' || !digits_n(s + 5, 2, &mo) ||
        s[7] != '-' || !digits_n(s + 8, 2, &d) || s[10] != 'T' || !digits_n(s + 11, 2, &h) ||
        s[13] != ':' || !digits_n(s + 14, 2, &mi) || s[16] != ':' || !digits_n(s + 17, 2, &se))
        return TS_EPARSE;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
        mi > 59 || se > 59)
        return TS_EPARSE;
    const char *p = s + 19;
    int64_t nsec = 0;
    if ((*p == '.' || *p == ',') && isdigit((unsigned char)p[1])) {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 9) {
                nsec = nsec * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        while (nd++ < 9)
            nsec *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits_n(p + 1, 2, &oh) || p[3] != ':' || !digits_n(p + 4, 2, &om))
            return TS_EPARSE;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return TS_EPARSE;
    }
    if (*p)
        return TS_EPARSE;
    int64_t sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    *out = (ts_gotime){sec, nsec};
    return TS_OK;
}

/* Prometheus' MinTime/MaxTime in seconds (time.Unix(math.MinInt64/1000+62135596801, 0),
 * time.Unix(math.MaxInt64/1000-62135596801, 999999999)). */
#define MIN_TIME_SEC (INT64_MIN / 1000 + 62135596801LL)
#define MAX_TIME_SEC (INT64_MAX / 1000 - 62135596801LL)

ts_gotime
ts_gotime_prom_min(void)
{
    return (ts_gotime){MIN_TIME_SEC, 0};
}

ts_gotime
ts_gotime_prom_max(void)
{
    return (ts_gotime){MAX_TIME_SEC, 999999999};
}

int
ts_gotime_parse_prom_time(const char *s, ts_gotime *out)
{
    double f;
    if (ts_parse_float_go(s, strlen(s), &f) == TS_OK) {
        double ip;
        double frac = modf(f, &ip);
        if (isinf(f))
            frac = NAN; /* Go's math.Modf(±Inf) = (±Inf, NaN) */
        frac = round(frac * 1000) / 1000;
        *out = ts_gotime_unix(go_f2i(ip), go_f2i(frac * 1e9));
        return TS_OK;
    }
    return ts_gotime_parse_rfc3339(s, out);
}

int
ts_gotime_parse_prom_duration(const char *s, int64_t *ns)
{
    double f;
    if (ts_parse_float_go(s, strlen(s), &f) == TS_OK) {
        double v = f * 1e9;
        if (v > 9223372036854775807.0 || v < -9223372036854775808.0)
            return -ERANGE;
        *ns = go_f2i(v); /* NaN: MinInt64, as in Go */
        return TS_OK;
    }
    int64_t ms;
    if (*s && ts_duration_parse(s, strlen(s), &ms) == TS_OK && ms <= INT64_MAX / 1000000) {
        *ns = ms * 1000000;
        return TS_OK;
    }
    return TS_EPARSE;
}

/* ------------------------------------------------------------ writing */

void
ts_gotime_format_rfc3339nano(int64_t ns, char *buf, size_t size)
{
    int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
    if (nsec < 0)
        nsec += 1000000000, sec--;
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0)
        rem += 86400, days--;
    /* civil_from_days (Howard Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    char frac[16] = "";
    if (nsec) {
        snprintf(frac, sizeof frac, ".%09lld", (long long)nsec);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            n--;
        frac[n] = '\0';
    }
    snprintf(buf, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld%sZ", (long long)y, (long long)m,
             (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60),
             (long long)(rem % 60), frac);
}
