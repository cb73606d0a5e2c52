/*
 * Go's time semantics and texts, as Prometheus uses them.
 *
 * Reading (the API's time and duration parameters, Prometheus 2.42's
 * web/api/v1 parseTime and parseDuration):
 *  - a time is unix seconds as a Go float (strconv.ParseFloat, see
 *    floatfmt.h; the fraction rounded to ms) or RFC 3339 with an optional
 *    fraction of any length (time.RFC3339Nano layout: 'Z' or +hh:mm, ',' or
 *    '.' before the fraction, digits past the ninth ignored);
 *  - a duration is float seconds or a Prometheus duration ("1m30s", see
 *    time.h), in nanoseconds.
 * Go's conversions are kept where they matter for odd inputs: int64(f) of an
 * out-of-range or NaN float is MinInt64 (amd64), and Go's int64 arithmetic
 * wraps, so time=NaN or time=1e300 give the times Prometheus gives.  A time
 * is kept as Go keeps one, seconds and nanoseconds (ts_gotime); it becomes
 * ms in two ways, as in Prometheus: timestamp.FromTime (series, labels) and
 * UnixNano()/1e6 (the engine).
 *
 * Writing: RFC 3339 with nanoseconds
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

/* A Go time.Time in UTC: seconds since the epoch and 0 <= nsec < 1e9. */
typedef struct ts_gotime {
    int64_t sec, nsec;
} ts_gotime;

/* ---- Times */
/* time.Unix(sec, nsec): nsec outside [0, 1e9) is carried into sec. */
ts_gotime ts_gotime_unix(int64_t sec, int64_t nsec);
/* timestamp.FromTime: sec * 1000 + nsec / 1e6 (wrapping as Go's int64 does). */
int64_t ts_gotime_ms(ts_gotime t);
/* t.UnixNano() / 1e6, as the engine takes a query's times (wrapping). */
int64_t ts_gotime_unix_nano_ms(ts_gotime t);
/* Prometheus' MinTime and MaxTime (the API's default start and end). */
ts_gotime ts_gotime_prom_min(void);
ts_gotime ts_gotime_prom_max(void);

/* ---- Reading: TS_OK, or TS_EPARSE with *out untouched */
/* time.Parse(time.RFC3339Nano, s) for a NUL-terminated s. */
int ts_gotime_parse_rfc3339(const char *s, ts_gotime *out);
/* Prometheus' parseTime: float unix seconds, else RFC 3339. */
int ts_gotime_parse_prom_time(const char *s, ts_gotime *out);
/* Prometheus' parseDuration into ns: float seconds (-ERANGE when s * 1e9 is
 * beyond int64), else a Prometheus duration (TS_EPARSE when it is not one). */
int ts_gotime_parse_prom_duration(const char *s, int64_t *ns);

/* ---- Writing */

/* ns since the Unix epoch as time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
 * into buf (NUL-terminated, cut to size - 1; 40 bytes always suffice). */
void ts_gotime_format_rfc3339nano(int64_t ns, char *buf, size_t size);

#endif
