/*
 * Go's time texts, as Prometheus writes them: RFC 3339 with nanoseconds
 * (Go's time.RFC3339Nano layout in UTC: "2026-11-25T08:45:30.546128968Z",
 * trailing fraction zeros dropped, no fraction when it is zero), the form of
 * activeAt/lastScrape/lastEvaluation in API answers and of startsAt/endsAt in
 * alerts sent to Alertmanager.
 *
 * Dates are proleptic Gregorian over the whole int64 range (days <-> civil
 * date conversions after Howard Hinnant's algorithms), so any ns value gives
 * a text.  Thread-safe; nothing allocates.
 */
#ifndef TS_UTIL_GOTIME_H
#define TS_UTIL_GOTIME_H

#include <stddef.h>
#include <stdint.h>

/* ns since the Unix epoch as time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
 * into buf (NUL-terminated, cut to size - 1; 40 bytes always suffice). */
void ts_gotime_format_rfc3339nano(int64_t ns, char *buf, size_t size);

#endif
