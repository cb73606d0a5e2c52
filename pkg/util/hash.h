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

/* Rendezvous (highest random weight) hashing: the bucket in [0, n) that
 * wins key.  Every bucket scores hash(key, bucket); the highest wins.  Going
 * from n to n+1 buckets moves only the keys the new bucket wins, about
 * 1/(n+1) of them (hashmod would move most).  Used to spread scrape targets
 * over shards by their __address__. */
uint32_t ts_rendezvous(const void *key, size_t len, uint32_t n);

/* CRC32-C; pass crc = 0 to start, or a previous result to continue. */
uint32_t ts_crc32c(uint32_t crc, const void *p, size_t n);

#endif
