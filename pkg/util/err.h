/*
 * Error codes and rich errors.
 *
 * Every fallible function returns int: TS_OK (0) on success, a negative code
 * on failure.  System errors are -errno (so ts_strerror(-ENOENT) reads "No
 * such file or directory"); Tessera's own codes sit below TS__EBASE so they
 * never collide with errno values.  Where a caller needs more than a code (a
 * PromQL position, a YAML line, a WAL offset) it passes a ts_error that the
 * callee fills in; the message lives inside the struct, never on the heap.
 */
#ifndef TS_UTIL_ERR_H
#define TS_UTIL_ERR_H

#include <stddef.h>

#define TS_OK 0
#define TS__EBASE (-10000)
enum {
    TS_EINVAL = TS__EBASE - 1,   /* bad argument or input */
    TS_ENOMEM = TS__EBASE - 2,   /* reserved: allocation never fails (we abort) */
    TS_ELIMIT = TS__EBASE - 3,   /* a size limit from outside was exceeded */
    TS_ECORRUPT = TS__EBASE - 4, /* on-disk or on-wire data failed a check */
    TS_EPARSE = TS__EBASE - 5,   /* syntax error in text input */
    TS_ENOTFOUND = TS__EBASE - 6,
    TS_EOOO = TS__EBASE - 7,       /* out-of-order sample */
    TS_EDUPSAMPLE = TS__EBASE - 8, /* same timestamp, different value */
    TS_ETOOOLD = TS__EBASE - 9,    /* sample older than the head's appendable window */
    TS_ETIMEOUT = TS__EBASE - 10,
    TS_ECANCELED = TS__EBASE - 11,
    TS_ECLOSED = TS__EBASE - 12,
    TS_EEXIST = TS__EBASE - 13,
    TS_EUNSUPPORTED = TS__EBASE - 14,
    TS_EIO = TS__EBASE - 15, /* I/O error without a more precise errno */
};

/* Returns a static, human-readable text for any code returned by ts_* or -errno. */
const char *ts_strerror(int code);

#define TS_ERROR_MSG_MAX 256

/* A rich error filled in by a callee.  pos/line/col are 0 when unknown. */
typedef struct ts_error {
    int code;
    int line;   /* 1-based line in a file, 0 if none */
    int col;    /* 1-based column, 0 if none */
    size_t pos; /* byte offset into the input, for parsers */
    char msg[TS_ERROR_MSG_MAX];
} ts_error;

/* Clears err (no-op when err is NULL). */
void ts_error_clear(ts_error *err);

/* Sets code and a printf-formatted message; returns code so callers can write
 * `return ts_error_set(err, TS_EPARSE, "...")`.  err may be NULL. */
int ts_error_set(ts_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with a printf-formatted context string
 * ("loading foo.yml: " + msg).  No-op when err is NULL. */
void ts_error_prefix(ts_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
