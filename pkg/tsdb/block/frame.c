/*
 * Frames: the unit of compression and checksumming in block files.
 *
 *   be32 raw_len     length of the data once decompressed
 *   be32 comp_len    length of the zstd frame that follows
 *   comp_len bytes   one zstd frame
 *   be32 crc32c      CRC32-Castagnoli over the 8 header bytes and the zstd bytes
 *
 * Every read checks the bounds against the bytes available, the CRC, the
 * raw length against TS__FRAME_MAX_RAW and that zstd produced exactly
 * raw_len bytes, so a truncated or flipped file gives TS_ECORRUPT and never
 * an out-of-bounds access or an unbounded allocation.
 */
#include "pkg/tsdb/block/internal.h"

#include <zstd.h>

#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

int
ts__frame_put(ts_buf *out, const void *raw, size_t n, int level, ZSTD_CCtx *cctx)
{
    if (n > TS__FRAME_MAX_RAW)
        return TS_ELIMIT;
    size_t bound = ZSTD_compressBound(n);
    size_t start = out->len;
    int rc = ts_buf_reserve(out, TS__FRAME_OVERHEAD + bound);
    if (rc)
        return rc;
    uint8_t *hdr = out->p + start;
    size_t clen = cctx ? ZSTD_compressCCtx(cctx, hdr + TS__FRAME_HDR, bound, raw, n, level)
                       : ZSTD_compress(hdr + TS__FRAME_HDR, bound, raw, n, level);
    if (ZSTD_isError(clen))
        return TS_EIO;
    ts_put_be32(hdr, (uint32_t)n);
    ts_put_be32(hdr + 4, (uint32_t)clen);
    uint32_t crc = ts_crc32c(0, hdr, TS__FRAME_HDR + clen);
    ts_put_be32(hdr + TS__FRAME_HDR + clen, crc);
    out->len = start + TS__FRAME_OVERHEAD + clen;
    return TS_OK;
}

int
ts__frame_check(const uint8_t *p, size_t avail, size_t *frame_len, const char *what, ts_error *err)
{
    if (avail < TS__FRAME_OVERHEAD)
        return ts_error_set(err, TS_ECORRUPT, "%s: truncated frame header", what);
    uint32_t rlen = ts_get_be32(p);
    uint32_t clen = ts_get_be32(p + 4);
    if (clen > avail - TS__FRAME_OVERHEAD)
        return ts_error_set(err, TS_ECORRUPT, "%s: frame of %u bytes runs past the end", what,
                            clen);
    if (rlen > TS__FRAME_MAX_RAW)
        return ts_error_set(err, TS_ECORRUPT, "%s: frame claims %u raw bytes", what, rlen);
    uint32_t want = ts_get_be32(p + TS__FRAME_HDR + clen);
    if (ts_crc32c(0, p, TS__FRAME_HDR + clen) != want)
        return ts_error_set(err, TS_ECORRUPT, "%s: checksum mismatch", what);
    if (frame_len)
        *frame_len = TS__FRAME_OVERHEAD + clen;
    return TS_OK;
}

int
ts__frame_get(const uint8_t *p, size_t avail, uint8_t **raw, size_t *raw_len, size_t *frame_len,
              const char *what, ts_error *err)
{
    *raw = NULL;
    *raw_len = 0;
    int rc = ts__frame_check(p, avail, frame_len, what, err);
    if (rc)
        return rc;
    uint32_t rlen = ts_get_be32(p);
    uint32_t clen = ts_get_be32(p + 4);
    uint8_t *out = ts_malloc((size_t)rlen + 1);
    size_t got = ZSTD_decompress(out, rlen, p + TS__FRAME_HDR, clen);
    if (ZSTD_isError(got) || got != rlen) {
        ts_free(out);
        return ts_error_set(err, TS_ECORRUPT, "%s: bad zstd data", what);
    }
    out[rlen] = 0;
    *raw = out;
    *raw_len = rlen;
    return TS_OK;
}
