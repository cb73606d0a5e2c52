/*
 * Go time texts (see gotime.h).
 */
#include "pkg/util/gotime.h"

#include <stdio.h>
#include <string.h>

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
