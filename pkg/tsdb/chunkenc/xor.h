/*
 * XOR chunks: Gorilla-style compression of (timestamp, float64) samples,
 * byte-for-byte the format of Prometheus' chunkenc/xor.go (encoding 1,
 * TS_ENC_XOR).  The format is specified in pkg/tsdb/docs/format/chunks-xor.md
 * and in the design comment of xor.c.
 *
 * Two halves:
 *  - ts_xor_chunk, a growable encoder.  Samples are appended in strictly
 *    increasing time order; the encoded bytes can be read at any moment.
 *  - ts_xor_iter, a decoder over borrowed bytes implementing ts_iterator
 *    (pkg/storage).  It never trusts its input: truncated or garbled bytes end
 *    iteration with err() == TS_ECORRUPT, never an out-of-bounds read.
 *
 * Values are stored bit-exactly: every NaN payload (the stale marker
 * 0x7ff0000000000002 included), -0.0 and the infinities round-trip.
 *
 * Thread-safety: none.  A chunk or iterator is used by one thread at a time;
 * several iterators may read the same bytes concurrently.
 */
#ifndef TS_TSDB_CHUNKENC_XOR_H
#define TS_TSDB_CHUNKENC_XOR_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/storage/storage.h"

/* Most samples one chunk can hold (the count field is 16 bits). */
#define TS_XOR_MAX_SAMPLES 65535

/* ------------------------------------------------------------ the encoder */

/*
 * The encoder state.  The fields are visible only so the struct can be
 * embedded (ts_xor_chunk_init/fini, used by the head to save a pointer per
 * series); treat them as private and use the functions below.
 */
typedef struct ts_xor_chunk {
    uint8_t *b;        /* 2-byte count, then the bit stream */
    uint32_t len, cap; /* bytes used (the last one possibly partial), allocated */
    uint8_t free_bits; /* unused low bits in b[len-1] (0..8; 8 = empty last byte) */
    uint8_t leading;   /* XOR window of the last written value; 0xff = none yet */
    uint8_t trailing;
    uint16_t count; /* samples */
    int64_t mint;   /* first timestamp */
    int64_t t;      /* last timestamp */
    int64_t tdelta; /* last timestamp delta */
    uint64_t vbits; /* last value's bits */
} ts_xor_chunk;

/* Heap encoder; free with ts_xor_chunk_free (NULL ok). */
ts_xor_chunk *ts_xor_chunk_new(void);
void ts_xor_chunk_free(ts_xor_chunk *c);

/* Embedded encoder: init allocates nothing until the first append; fini frees
 * the bytes (and leaves c empty, ready for reuse). */
void ts_xor_chunk_init(ts_xor_chunk *c);
void ts_xor_chunk_fini(ts_xor_chunk *c);

/* Appends a sample.  t must be greater than the last appended t (else
 * TS_EOOO); a chunk holds at most TS_XOR_MAX_SAMPLES (else TS_ELIMIT).  On
 * error the chunk is unchanged.  The byte buffer grows geometrically. */
int ts_xor_chunk_append(ts_xor_chunk *c, int64_t t, double v);

uint16_t ts_xor_chunk_count(const ts_xor_chunk *c);
/* First / last sample time; undefined (0) when count is 0. */
int64_t ts_xor_chunk_mint(const ts_xor_chunk *c);
int64_t ts_xor_chunk_maxt(const ts_xor_chunk *c);

/* The encoded chunk (count header included).  Borrowed: valid until the next
 * append, steal, fini or free.  An empty chunk is the 2 bytes 00 00. */
const uint8_t *ts_xor_chunk_bytes(const ts_xor_chunk *c, size_t *len);

/* Hands the encoded bytes to the caller, trimmed to their exact length
 * (caller frees with ts_free), and resets c to empty.  Used when a chunk is
 * complete and will never be appended to again. */
uint8_t *ts_xor_chunk_steal(ts_xor_chunk *c, size_t *len);

/* Bytes of heap memory held by the encoder's buffer (for memory stats). */
size_t ts_xor_chunk_alloc_size(const ts_xor_chunk *c);

/* ------------------------------------------------------------ the decoder */

/*
 * Iterator over encoded bytes (borrowed; they must outlive the iterator).
 * Fields are public so it can live on the stack; treat them as private.
 */
typedef struct ts_xor_iter {
    ts_iterator base;
    const uint8_t *data; /* the bit stream (after the count) */
    size_t len;          /* its bytes */
    size_t bytepos;      /* next byte to load into buf */
    uint64_t buf;        /* next bits, left-aligned */
    unsigned valid;      /* bits in buf */
    uint16_t total;      /* samples announced by the header */
    uint16_t nread;      /* samples decoded so far */
    uint8_t leading, trailing;
    uint8_t done; /* exhausted or failed: next/seek return NONE */
    uint8_t heap; /* allocated by ts_xor_iterator_new */
    int err;
    int64_t t, tdelta;
    uint64_t vbits;
} ts_xor_iter;

/* Initialises an iterator in place; its ops->free is a no-op.  Input shorter
 * than the 2-byte header (or NULL) gives an iterator that yields nothing and
 * reports err() == TS_ECORRUPT; other damage is found while iterating. */
void ts_xor_iter_init(ts_xor_iter *it, const uint8_t *data, size_t len);
/* Heap iterator; ts_it_free() frees it. */
ts_iterator *ts_xor_iterator_new(const uint8_t *data, size_t len);

/* Number of samples announced by an encoded chunk's header (0 when len < 2). */
uint16_t ts_xor_bytes_count(const uint8_t *data, size_t len);

#endif
