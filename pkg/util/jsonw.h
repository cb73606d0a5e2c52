/*
 * A small streaming JSON writer into a ts_buf, producing the exact bytes
 * Prometheus 2.42's HTTP API produces (Go encoding/json as configured by
 * jsoniter.ConfigCompatibleWithStandardLibrary):
 *
 *  - strings: `"` and `\` escaped, \n \r \t short, every other control byte
 *    and the HTML-sensitive < > & as \u00XX, U+2028/U+2029 as \u2028/\u2029,
 *    each invalid UTF-8 byte replaced by \ufffd; everything else verbatim.
 *  - plain numbers (ts_jsonw_double): Go encoding/json float64 form, the
 *    shortest text that parses back to the same double, 'f' notation unless
 *    |v| < 1e-6 or >= 1e21 (then 1e-07 -> "1e-7", 1e+21 stays "1e+21").
 *  - sample values (ts_jsonw_prom_value): a JSON string in the form of
 *    Prometheus' marshalValue: shortest round-trip, 'f' notation except 'e'
 *    notation with a two-digit exponent when |v| < 1e-6 or >= 1e21 ("1e+21",
 *    "1e-07"), and "NaN", "+Inf", "-Inf".
 *  - scalar values (ts_jsonw_go_float_str): Go strconv.FormatFloat(v,'f',-1,64)
 *    as a JSON string ("1000000000000000000000", "0.0000001"), as the API's
 *    scalar and string results print them.
 *  - sample timestamps (ts_jsonw_prom_time): ms as seconds with the fraction
 *    always written with three digits when non-zero ("1435781451.780", "1",
 *    "0.001", "-1.500"), as Prometheus' marshalTimestamp does.
 *
 * Usage:
 *   ts_jsonw w; ts_jsonw_init(&w, &buf);
 *   ts_jsonw_obj_begin(&w); ts_jsonw_key(&w, "status"); ts_jsonw_str(&w, "success");
 *   ts_jsonw_obj_end(&w);
 *   if (ts_jsonw_err(&w)) ... // TS_ELIMIT when the bounded buffer filled up
 *
 * The numbers come from floatfmt.h.  Commas and colons are inserted by the
 * writer.  The first buffer error is
 * sticky: later calls do nothing, so a caller checks once at the end.
 * Nesting deeper than TS_JSONW_MAX_DEPTH fails with TS_ELIMIT.
 *
 * Not thread-safe; the writer borrows the buffer for its life.
 */
#ifndef TS_UTIL_JSONW_H
#define TS_UTIL_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/util/buf.h"
#include "pkg/util/floatfmt.h" /* the number forms below; TS_FLOAT_BUF_MAX */

#define TS_JSONW_MAX_DEPTH 64

typedef struct ts_jsonw {
    ts_buf *out; /* borrowed */
    int err;     /* sticky: TS_OK or the first error */
    int depth;
    bool after_key;                        /* a key was written; the next value needs no comma */
    bool nonempty[TS_JSONW_MAX_DEPTH + 1]; /* per level: something was written */
} ts_jsonw;

void ts_jsonw_init(ts_jsonw *w, ts_buf *out);
/* TS_OK or the first error (TS_ELIMIT). */
static inline int
ts_jsonw_err(const ts_jsonw *w)
{
    return w->err;
}

/* ---- Structure */
void ts_jsonw_obj_begin(ts_jsonw *w);
void ts_jsonw_obj_end(ts_jsonw *w);
void ts_jsonw_arr_begin(ts_jsonw *w);
void ts_jsonw_arr_end(ts_jsonw *w);
/* An object key (escaped like a string). */
void ts_jsonw_key(ts_jsonw *w, const char *k);
void ts_jsonw_keyn(ts_jsonw *w, const char *k, size_t n);

/* ---- Values */
void ts_jsonw_str(ts_jsonw *w, const char *s); /* NULL writes "" */
void ts_jsonw_strn(ts_jsonw *w, const char *s, size_t n);
void ts_jsonw_int(ts_jsonw *w, int64_t v);
void ts_jsonw_uint(ts_jsonw *w, uint64_t v);
void ts_jsonw_bool(ts_jsonw *w, bool v);
void ts_jsonw_null(ts_jsonw *w);
/* Go encoding/json float64; non-finite values (which Go refuses) write null. */
void ts_jsonw_double(ts_jsonw *w, double v);
/* Already-encoded JSON, copied verbatim as one value. */
void ts_jsonw_raw(ts_jsonw *w, const char *json, size_t n);

/* ---- Prometheus forms */
/* Sample value string (marshalValue): "1e+21", "0.5", "NaN", "+Inf". */
void ts_jsonw_prom_value(ts_jsonw *w, double v);
/* One sample of a vector or matrix result, [time, "value"]: the same bytes
 * and errors as arr_begin, prom_time, prom_value, arr_end, in one step. */
void ts_jsonw_prom_point(ts_jsonw *w, int64_t ms, double v);
/* Scalar value string: Go FormatFloat(v,'f',-1,64) ("NaN", "+Inf", "-Inf" too). */
void ts_jsonw_go_float_str(ts_jsonw *w, double v);
/* Sample timestamp (marshalTimestamp): ms as seconds, "1435781451.780". */
void ts_jsonw_prom_time(ts_jsonw *w, int64_t ms);
/* Scalar/string result timestamp: float64(ms)/1000 as encoding/json prints it. */
void ts_jsonw_prom_time_float(ts_jsonw *w, int64_t ms);

#endif
