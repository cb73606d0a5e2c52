/*
 * Hashing: xxHash3 (libxxhash) for in-memory tables and series identity,
 * CRC32-Castagnoli for on-disk checksums (as Prometheus' index, chunk and
 * WAL formats use).
 */
#ifndef TS_UTIL_HASH_H
#define TS_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ts_hash64(const void *p, size_t n);
uint64_t ts_hash64_seed(const void *p, size_t n, uint64_t seed);

/* CRC32-C; pass crc = 0 to start, or a previous result to continue. */
uint32_t ts_crc32c(uint32_t crc, const void *p, size_t n);

#endif
