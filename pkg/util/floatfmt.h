/*
 * Floats as Go and Prometheus write and read them: the one place in Tessera
 * that turns a double into text or text into a double the Go way.
 *
 * Formatting gives the shortest decimal that reads back as the same double
 * (among those, the closest; ties to the even digit), as Go's strconv does
 * with precision -1, laid out in one of these forms:
 *
 *  - 'f': strconv.FormatFloat(v, 'f', -1, 64), no exponent ("0.0000001",
 *    "1000000000000000000000"): API scalars, count_values labels, scrape
 *    timeout header.
 *  - 'e': FormatFloat(v, 'e', -1, 64), at least two exponent digits
 *    ("1e+06", "1.25e-01"): alert values in /api/v1/alerts.
 *  - 'g': FormatFloat(v, 'g', -1, 64), which is also fmt's %v of a float64:
 *    'e' when the decimal exponent is < -4 or >= 6, else 'f' ("1e+06",
 *    "0.0001", "123456"): templates, PromQL printing and error texts,
 *    `tsdb dump`.
 *  - Prometheus' marshalValue (ts_format_prom_value): 'e' when |v| < 1e-6 or
 *    |v| >= 1e21, else 'f' ("1e-07", "1e+21", "0.5"): sample values in API
 *    answers.
 *
 * Non-finite values are "NaN", "+Inf" and "-Inf" in every form; a negative
 * zero keeps its sign ("-0").
 *
 * Parsing (ts_parse_float_go) accepts exactly what Go's
 * strconv.ParseFloat(s, 64) accepts: decimal and hexadecimal floats (a hex
 * mantissa needs a 'p' exponent), '_' between digits (or after a base
 * prefix), "inf"/"infinity" in any case with an optional sign, "nan" in any
 * case without a sign; no spaces.  Overflow is an error (Go's ErrRange);
 * underflow rounds to zero or a subnormal, as in Go.
 *
 * Thread-safe; nothing here allocates except a parse of a text longer than
 * 127 bytes.
 */
#ifndef TS_UTIL_FLOATFMT_H
#define TS_UTIL_FLOATFMT_H

#include <stddef.h>
#include <stdint.h>

/* ---- Formatting.  Each writes a NUL-terminated text into buf (cut to
 * size - 1 bytes; TS_FLOAT_BUF_MAX bytes always suffice) and returns the
 * length of the whole text, as snprintf does. */
#define TS_FLOAT_BUF_MAX 400
/* Go strconv.FormatFloat(v, fmt, -1, 64) for fmt 'f', 'e' or 'g'. */
size_t ts_format_float_go(double v, char fmt, char *buf, size_t size);
/* Prometheus' marshalValue text without the quotes. */
size_t ts_format_prom_value(double v, char *buf, size_t size);

/* ---- Parsing */
/* Go strconv.ParseFloat(s[0:n], 64).  TS_OK and *out set; TS_EPARSE for a
 * text Go refuses as invalid syntax; -ERANGE when the value overflows a
 * double (*out untouched either way). */
int ts_parse_float_go(const char *s, size_t n, double *out);

/* ---- Inside pkg/util (the JSON writer's integers) */
/* The decimal digits of x at p (room for 20 bytes, no NUL); returns their number. */
size_t ts__format_u64(char *p, uint64_t x);

#endif
