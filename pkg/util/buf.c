#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
ts_buf_init(ts_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void
ts_buf_fini(ts_buf *b)
{
    ts_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void
ts_buf_reset(ts_buf *b)
{
    b->len = 0;
}

int
ts_buf_reserve(ts_buf *b, size_t n)
{
    size_t need = b->len + n + 1; /* +1 keeps room for ts_buf_cstr's NUL */
    if (need < b->len || (b->max && b->len + n > b->max))
        return TS_ELIMIT;
    if (need > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < need)
            ncap *= 2;
        b->p = ts_realloc(b->p, ncap);
        b->cap = ncap;
    }
    return TS_OK;
}

int
ts_buf_put(ts_buf *b, const void *p, size_t n)
{
    int rc = ts_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return TS_OK;
}

int
ts_buf_puts(ts_buf *b, const char *s)
{
    return ts_buf_put(b, s, strlen(s));
}

int
ts_buf_putc(ts_buf *b, uint8_t c)
{
    int rc = ts_buf_reserve(b, 1);
    if (rc)
        return rc;
    b->p[b->len++] = c;
    return TS_OK;
}

int
ts_buf_printf(ts_buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return TS_EINVAL;
    if ((size_t)n < sizeof(tmp))
        return ts_buf_put(b, tmp, (size_t)n);
    int rc = ts_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TS_OK;
}

int
ts_buf_put_be16(ts_buf *b, uint16_t v)
{
    uint8_t t[2];
    ts_put_be16(t, v);
    return ts_buf_put(b, t, 2);
}

int
ts_buf_put_be32(ts_buf *b, uint32_t v)
{
    uint8_t t[4];
    ts_put_be32(t, v);
    return ts_buf_put(b, t, 4);
}

int
ts_buf_put_be64(ts_buf *b, uint64_t v)
{
    uint8_t t[8];
    ts_put_be64(t, v);
    return ts_buf_put(b, t, 8);
}

size_t
ts_uvarint_encode(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

size_t
ts_uvarint_decode(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    for (size_t i = 0; p + i < end && i < 10; i++) {
        uint8_t c = p[i];
        if (i == 9 && c > 1)
            return 0; /* overflows 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            return i + 1;
        }
        shift += 7;
    }
    return 0;
}

int
ts_buf_put_uvarint(ts_buf *b, uint64_t v)
{
    uint8_t t[10];
    return ts_buf_put(b, t, ts_uvarint_encode(t, v));
}

int
ts_buf_put_varint(ts_buf *b, int64_t v)
{
    uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    return ts_buf_put_uvarint(b, zz);
}

int
ts_buf_put_uvarint_str(ts_buf *b, const char *s, size_t n)
{
    int rc = ts_buf_put_uvarint(b, n);
    return rc ? rc : ts_buf_put(b, s, n);
}

const char *
ts_buf_cstr(ts_buf *b)
{
    if (ts_buf_reserve(b, 0) != TS_OK)
        return NULL;
    b->p[b->len] = '\0';
    return (const char *)b->p;
}

uint8_t *
ts_buf_steal(ts_buf *b, size_t *len)
{
    uint8_t *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

static const uint8_t *
need(ts_dec *d, size_t n)
{
    if (d->err || (size_t)(d->end - d->p) < n) {
        d->err = TS_ECORRUPT;
        return NULL;
    }
    const uint8_t *p = d->p;
    d->p += n;
    return p;
}

uint8_t
ts_dec_byte(ts_dec *d)
{
    const uint8_t *p = need(d, 1);
    return p ? p[0] : 0;
}

uint16_t
ts_dec_be16(ts_dec *d)
{
    const uint8_t *p = need(d, 2);
    return p ? ts_get_be16(p) : 0;
}

uint32_t
ts_dec_be32(ts_dec *d)
{
    const uint8_t *p = need(d, 4);
    return p ? ts_get_be32(p) : 0;
}

uint64_t
ts_dec_be64(ts_dec *d)
{
    const uint8_t *p = need(d, 8);
    return p ? ts_get_be64(p) : 0;
}

uint64_t
ts_dec_uvarint(ts_dec *d)
{
    uint64_t v = 0;
    if (d->err)
        return 0;
    size_t n = ts_uvarint_decode(d->p, d->end, &v);
    if (!n) {
        d->err = TS_ECORRUPT;
        return 0;
    }
    d->p += n;
    return v;
}

int64_t
ts_dec_varint(ts_dec *d)
{
    uint64_t zz = ts_dec_uvarint(d);
    return (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
}

const uint8_t *
ts_dec_bytes(ts_dec *d, size_t n)
{
    return need(d, n);
}

const char *
ts_dec_uvarint_str(ts_dec *d, size_t *n)
{
    uint64_t len = ts_dec_uvarint(d);
    const uint8_t *p = need(d, (size_t)len);
    *n = p ? (size_t)len : 0;
    return (const char *)p;
}
