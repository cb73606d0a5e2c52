/*
 * Byte buffers for encoding and decoding binary formats.
 *
 * ts_buf is a growable, optionally bounded output buffer (curl's dynbuf):
 * once an append would take it past max, the append fails with TS_ELIMIT and
 * the buffer is left as it was.  ts_dec is a read cursor over borrowed bytes
 * with a sticky error: every get after a short read returns 0 and dec->err
 * stays TS_ECORRUPT, so a decoder checks once at the end (Prometheus'
 * encoding.Decbuf).  All multi-byte integers are big-endian; varints are
 * the protobuf/Go encoding (LEB128, zig-zag for signed).
 */
#ifndef TS_UTIL_BUF_H
#define TS_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_buf {
    uint8_t *p;
    size_t len, cap;
    size_t max; /* 0 = unbounded */
} ts_buf;

void ts_buf_init(ts_buf *b, size_t max);
void ts_buf_fini(ts_buf *b);
void ts_buf_reset(ts_buf *b); /* len = 0, keeps memory */
/* Ensures room for n more bytes; TS_ELIMIT past max. */
int ts_buf_reserve(ts_buf *b, size_t n);
int ts_buf_put(ts_buf *b, const void *p, size_t n);
int ts_buf_puts(ts_buf *b, const char *s);
int ts_buf_putc(ts_buf *b, uint8_t c);
int ts_buf_printf(ts_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ts_buf_put_be16(ts_buf *b, uint16_t v);
int ts_buf_put_be32(ts_buf *b, uint32_t v);
int ts_buf_put_be64(ts_buf *b, uint64_t v);
int ts_buf_put_uvarint(ts_buf *b, uint64_t v);
int ts_buf_put_varint(ts_buf *b, int64_t v);
/* uvarint length prefix + bytes */
int ts_buf_put_uvarint_str(ts_buf *b, const char *s, size_t n);
/* Makes the contents a NUL-terminated C string (the NUL is not counted in len). */
const char *ts_buf_cstr(ts_buf *b);
/* Hands the memory to the caller (free with ts_free) and empties b. */
uint8_t *ts_buf_steal(ts_buf *b, size_t *len);

static inline void
ts_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void
ts_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void
ts_put_be64(uint8_t *p, uint64_t v)
{
    ts_put_be32(p, (uint32_t)(v >> 32));
    ts_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t
ts_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
ts_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t
ts_get_be64(const uint8_t *p)
{
    return ((uint64_t)ts_get_be32(p) << 32) | ts_get_be32(p + 4);
}

/* Encodes v as a uvarint into p (at least 10 bytes); returns bytes written. */
size_t ts_uvarint_encode(uint8_t *p, uint64_t v);
/* Decodes a uvarint from [p, end); returns bytes consumed or 0 on error. */
size_t ts_uvarint_decode(const uint8_t *p, const uint8_t *end, uint64_t *v);

typedef struct ts_dec {
    const uint8_t *p, *end;
    int err; /* TS_OK or TS_ECORRUPT, sticky */
} ts_dec;

static inline void
ts_dec_init(ts_dec *d, const void *p, size_t n)
{
    d->p = (const uint8_t *)p;
    d->end = d->p + n;
    d->err = 0;
}
static inline size_t
ts_dec_len(const ts_dec *d)
{
    return (size_t)(d->end - d->p);
}
uint8_t ts_dec_byte(ts_dec *d);
uint16_t ts_dec_be16(ts_dec *d);
uint32_t ts_dec_be32(ts_dec *d);
uint64_t ts_dec_be64(ts_dec *d);
uint64_t ts_dec_uvarint(ts_dec *d);
int64_t ts_dec_varint(ts_dec *d);
/* Returns a pointer to the next n bytes (borrowed) and skips them; NULL on short read. */
const uint8_t *ts_dec_bytes(ts_dec *d, size_t n);
/* uvarint length + bytes; *n receives the length. */
const char *ts_dec_uvarint_str(ts_dec *d, size_t *n);

#endif
