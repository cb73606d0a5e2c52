/*
 * logfmt logging to stderr: `ts=... level=info component=wal msg="..." k=v`.
 * TS_LOG checks the level before formatting anything (redis serverLog), so
 * debug lines cost one comparison when disabled.  Thread-safe: each line is
 * written with a single write(2).
 */
#ifndef TS_UTIL_LOG_H
#define TS_UTIL_LOG_H

enum { TS_LOG_DEBUG = 0, TS_LOG_INFO = 1, TS_LOG_WARN = 2, TS_LOG_ERROR = 3 };

extern int ts_log_level;

/* Parses "debug|info|warn|error"; returns 0 or TS_EINVAL. */
int ts_log_set_level(const char *name);

/* component and msg are plain strings; kvfmt is a printf format producing
 * extra `key=value` pairs (may be ""). */
void ts__log(int level, const char *component, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

#define TS_LOG(level, component, msg, ...)                                                         \
    do {                                                                                           \
        if ((level) >= ts_log_level)                                                               \
            ts__log((level), (component), (msg), __VA_ARGS__);                                     \
    } while (0)

#endif
