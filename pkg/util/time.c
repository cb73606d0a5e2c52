#include "pkg/util/time.h"
#include "pkg/util/err.h"

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
    {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},            {"m", 60LL * 1000},            {"s", 1000},
    {"ms", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

int
ts_duration_parse(const char *s, size_t n, int64_t *out)
{
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return TS_OK;
    }
    if (n == 0)
        return TS_EPARSE;
    size_t i = 0, last_unit = 0;
    int64_t total = 0;
    int any = 0;
    while (i < n) {
        if (s[i] < '0' || s[i] > '9')
            return TS_EPARSE;
        int64_t v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return TS_EPARSE;
            v = v * 10 + (s[i] - '0');
            i++;
        }
        size_t u;
        /* "ms" must be tried before "m" */
        if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's')
            u = NUNITS - 1;
        else {
            for (u = 0; u < NUNITS - 1; u++)
                if (i < n && s[i] == units[u].name[0])
                    break;
            if (u == NUNITS - 1)
                return TS_EPARSE;
        }
        if (any && u <= last_unit)
            return TS_EPARSE; /* units must be strictly decreasing */
        i += strlen(units[u].name);
        if (v > INT64_MAX / units[u].ms || total > INT64_MAX - v * units[u].ms)
            return TS_EPARSE;
        total += v * units[u].ms;
        last_unit = u;
        any = 1;
    }
    *out = total;
    return TS_OK;
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
