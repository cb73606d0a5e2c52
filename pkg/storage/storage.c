#include "pkg/storage/storage.h"
#include "pkg/util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

double
ts_stale_nan(void)
{
    uint64_t bits = TS_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

bool
ts_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == TS_STALE_NAN_BITS;
}

void
ts_ss_add_warning(ts_series_set *ss, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ss->warnings = ts_realloc(ss->warnings, (ss->nwarnings + 1) * sizeof(char *));
    ss->warnings[ss->nwarnings++] = ts_strdup(buf);
}

void
ts_ss_free_warnings(ts_series_set *ss)
{
    for (size_t i = 0; i < ss->nwarnings; i++)
        ts_free(ss->warnings[i]);
    ts_free(ss->warnings);
    ss->warnings = NULL;
    ss->nwarnings = 0;
}

static bool
empty_next(ts_series_set *ss)
{
    return false;
}

static ts_series *
empty_at(ts_series_set *ss)
{
    return NULL;
}

static void
empty_free(ts_series_set *ss)
{
    ts_ss_free_warnings(ss);
    ts_free(ss);
}

static const ts_series_set_ops empty_ops = {empty_next, empty_at, empty_free};

ts_series_set *
ts_series_set_empty(const ts_error *err)
{
    ts_series_set *ss = ts_calloc(1, sizeof(*ss));
    ss->ops = &empty_ops;
    if (err)
        ss->error = *err;
    return ss;
}
