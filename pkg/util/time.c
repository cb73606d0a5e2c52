#include "pkg/util/time.h"
#include "pkg/util/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
ts_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

int
ts_duration_parse_why(const char *s, size_t n, int64_t *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return TS_OK;
    }
    if (n == 0) {
        *why = "empty duration string";
        return TS_EPARSE;
    }
    /* The whole text is checked before the range, as Go matches its regular
     * expression first: "300y5x" is bad syntax, not out of range. */
    size_t i = 0, next_unit = 0;
    int64_t total_ns = 0;
    bool overflow = false;
    while (i < n) {
        size_t d0 = i;
        int64_t v = 0; /* saturates, as Go's strconv.Atoi */
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (s[i] - '0');
        if (i == d0) {
            *why = "not a valid duration string";
            return TS_EPARSE;
        }
        size_t u = NUNITS;                                 /* none */
        if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') { /* "ms" before "m" */
            u = NUNITS - 1;
        } else if (i < n) {
            for (size_t k = 0; k < NUNITS - 1 && u == NUNITS; k++)
                if (s[i] == units[k].name[0])
                    u = k;
        }
        if (u == NUNITS || u < next_unit) {
            *why = "not a valid duration string"; /* unknown unit, or units not in order */
            return TS_EPARSE;
        }
        int64_t unit_ns = units[u].ms * 1000000;
        if (v > INT64_MAX / unit_ns || total_ns > INT64_MAX - v * unit_ns)
            overflow = true;
        else
            total_ns += v * unit_ns;
        i += strlen(units[u].name);
        next_unit = u + 1;
    }
    if (overflow) {
        *why = "duration out of range"; /* beyond Go's time.Duration (int64 ns) */
        return TS_EPARSE;
    }
    *out = total_ns / 1000000;
    return TS_OK;
}

int
ts_duration_parse(const char *s, size_t n, int64_t *out)
{
    return ts_duration_parse_why(s, n, out, NULL);
}

char *
ts_duration_format(int64_t ms, char *buf, size_t size)
{
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    size_t off = 0;
    if (ms < 0) {
        off += (size_t)snprintf(buf, size, "-");
        ms = -ms;
    }
    /* Prometheus prints y w d h m s ms, skipping zero parts; years and weeks
     * only when the rest is a whole number of them, as model.Duration.String
     * does ("366d", not "1y1d"). */
    int64_t rest = ms;
    for (size_t u = 0; u < NUNITS && off < size; u++) {
        int64_t q = rest / units[u].ms;
        if ((units[u].name[0] == 'w' || units[u].name[0] == 'y') && (rest % units[u].ms) != 0)
            continue;
        if (q) {
            off += (size_t)snprintf(buf + off, size - off, "%lld%s", (long long)q, units[u].name);
            rest -= q * units[u].ms;
        }
    }
    return buf;
}
