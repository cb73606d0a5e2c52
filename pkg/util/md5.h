/*
 * MD5 (RFC 1321).  Only for compatibility: Prometheus' hashmod relabel action
 * hashes with MD5, and shards must pick the same targets it would.  Never
 * for security.
 */
#ifndef TS_UTIL_MD5_H
#define TS_UTIL_MD5_H

#include <stddef.h>
#include <stdint.h>

void ts_md5(const void *data, size_t n, uint8_t out[16]);

#endif
