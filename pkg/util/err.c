#include "pkg/util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
ts_strerror(int code)
{
    switch (code) {
    case TS_OK: return "ok";
    case TS_EINVAL: return "invalid argument";
    case TS_ENOMEM: return "out of memory";
    case TS_ELIMIT: return "limit exceeded";
    case TS_ECORRUPT: return "corrupt data";
    case TS_EPARSE: return "parse error";
    case TS_ENOTFOUND: return "not found";
    case TS_EOOO: return "out of order sample";
    case TS_EDUPSAMPLE: return "duplicate sample for timestamp";
    case TS_ETOOOLD: return "out of bounds";
    case TS_ETIMEOUT: return "timeout";
    case TS_ECANCELED: return "canceled";
    case TS_ECLOSED: return "closed";
    case TS_EEXIST: return "already exists";
    case TS_EUNSUPPORTED: return "unsupported";
    case TS_EIO: return "i/o error";
    }
    if (code < 0 && code > TS__EBASE)
        return strerror(-code);
    return "unknown error";
}

void
ts_error_clear(ts_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int
ts_error_set(ts_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void
ts_error_prefix(ts_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char pre[TS_ERROR_MSG_MAX], old[TS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s%s", pre, old);
}
