/*
 * Time and durations.  Tessera keeps time as int64 milliseconds since the
 * Unix epoch, as Prometheus does.  Durations use Prometheus' syntax
 * (model.ParseDuration): one or more of <int><unit> with units y w d h m s ms
 * in that order, e.g. "1h30m", "90s", "5m", "1y"; a year is 365 days.
 */
#ifndef TS_UTIL_TIME_H
#define TS_UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock now, in ms. */
int64_t ts_now_ms(void);
/* Monotonic clock, in ns (for measuring durations). */
uint64_t ts_mono_ns(void);

/* Parses a Prometheus duration of length n into ms, as model.ParseDuration
 * does (the one duration parser: config, rules, flags, the API and PromQL
 * use it).  "0" is accepted.  TS_EPARSE when it is empty, has an unknown
 * unit or units out of order, or exceeds Go's time.Duration (int64 ns, about
 * 292 years). */
int ts_duration_parse(const char *s, size_t n, int64_t *ms);
/* The same; on failure *why (when not NULL) is Prometheus' reason: "empty
 * duration string", "not a valid duration string" or "duration out of range". */
int ts_duration_parse_why(const char *s, size_t n, int64_t *ms, const char **why);
/* Formats ms the way Prometheus prints durations ("1h30m", "5m", "0s") into
 * buf; returns buf. */
char *ts_duration_format(int64_t ms, char *buf, size_t size);

#endif
