/*
 * libFuzzer target: block reading (pkg/tsdb/block/reader.c).  The input is a block's index and
 * its chunk segment:
 *
 *   mode <1B> | u32 big-endian length N | N bytes: the index file | the rest: chunks/000001
 *
 * written with a fixed meta.json into a block directory under $TMPDIR.  ts_block_open checks the
 * header, the TOC and every frame's CRC, and decodes the symbol, series and label tables; then
 * every way a query reads a block runs: selects through postings (a positive regex over every
 * name, an equality on a value of the first label name with a negative matcher), label names and
 * values, each series' labels, its chunks (chunk groups of the segment, compact records rebuilt
 * as XOR) and samples, and a seek.  Corrupt input must end as an error code, never a crash.
 *
 * Every section of both files is a frame (zstd + CRC32C), which random mutation almost never
 * gets past.  So with mode & 1 the target seals the frames in place before writing: each frame
 * (walked as the reader walks it, from the 8-byte header; the index's last 28 bytes are the
 * TOC) keeps its raw_len and raw bytes, and gets a zstd frame of one uncompressed block
 * (comp_len = raw_len + 9) and a correct CRC; the TOC gets its CRC.  The fuzzer then mutates
 * decompressed tables (symbols, series, postings, offsets) and chunk records directly.  Mode 0
 * writes the bytes as they are (the frame and TOC checks themselves).  The seeds are blocks
 * written by our own writer, both ways (fuzz/make_block_seeds.py).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/labels/matcher.h"
#include "pkg/tsdb/block/block.h"
#include "pkg/tsdb/block/internal.h"
#include "pkg/util/arena.h"
#include "pkg/util/hash.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define ULID "01HZZZZZZZZZZZZZZZZZZZZZZZ"

static char fuzz_dir[4096];

static void
cleanup(void)
{
    (void)ts_fs_remove_all(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz-block-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    (void)ts_log_set_level("error");
    atexit(cleanup);
    return 0;
}

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

/* Reads everything select gives: labels, chunks, samples (and a seek). */
static void
drain(ts_querier *q, ts_matcher *const *ms, size_t nms)
{
    ts_series_set *ss = NULL;
    ts_error err = {0};
    ts_select_hints hints = {0};
    if (q->ops->select(q, true, &hints, ms, nms, &ss, &err) != 0 || !ss)
        return;
    for (int n = 0; n < 1000 && ts_ss_next(ss); n++) {
        ts_series *s = ts_ss_at(ss);
        char text[512];
        (void)ts_labels_format(s->labels, text, sizeof text);
        ts_chunk_iterator *ci = s->ops->chunks ? s->ops->chunks(s) : NULL;
        if (ci) {
            while (ci->ops->next(ci))
                (void)ci->ops->at(ci);
            (void)ci->ops->err(ci);
            ci->ops->free(ci);
        }
        ts_iterator *it = s->ops->iterator(s);
        int64_t t, last = INT64_MIN;
        double v;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            ts_it_at(it, &t, &v);
            last = t;
        }
        (void)ts_it_err(it);
        ts_it_free(it);
        it = s->ops->iterator(s);
        if (ts_it_seek(it, last == INT64_MIN ? 0 : last) == TS_VAL_FLOAT)
            ts_it_at(it, &t, &v);
        ts_it_free(it);
    }
    ts_ss_free(ss);
}

static void
query(ts_block *b)
{
    ts_querier *q = NULL;
    if (ts_block_querier(b, INT64_MIN, INT64_MAX, &q) != 0 || !q)
        return;
    ts_error err = {0};
    ts_arena a;
    ts_arena_init(&a, 4096);
    const char **names = NULL, **values = NULL;
    size_t nnames = 0, nvalues = 0;
    (void)q->ops->label_names(q, NULL, 0, &a, &names, &nnames, &err);
    ts_matcher *ms[2] = {NULL, NULL};
    /* every series with a name: the postings of every value of __name__ */
    if (ts_matcher_new(&ms[0], TS_MATCH_RE, "__name__", ".+", &err) == 0)
        drain(q, ms, 1);
    ts_matcher_free(ms[0]);
    ms[0] = NULL;
    /* an equality on a value of the first label name, and a negative matcher */
    if (nnames > 0 &&
        q->ops->label_values(q, names[0], NULL, 0, &a, &values, &nvalues, &err) == 0 &&
        nvalues > 0 && ts_matcher_new(&ms[0], TS_MATCH_EQ, names[0], values[0], &err) == 0 &&
        ts_matcher_new(&ms[1], TS_MATCH_NEQ, names[nnames - 1], "x", &err) == 0)
        drain(q, ms, 2);
    ts_matcher_free(ms[0]);
    ts_matcher_free(ms[1]);
    ts_arena_fini(&a);
    ts_querier_close(q);
}

#define FILE_HDR 8
#define TOC_LEN 28
#define ZSTD_RAW_HDR 9 /* magic, frame header descriptor, window descriptor, block header */
#define ZSTD_RAW_MAX (128u << 10)

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Seals the frames of buf[FILE_HDR, end) in place (see the top comment). */
static void
seal_frames(uint8_t *buf, size_t end)
{
    size_t pos = FILE_HDR;
    while (pos + TS__FRAME_OVERHEAD + ZSTD_RAW_HDR <= end) {
        uint8_t *p = buf + pos;
        uint32_t raw = get_be32(p);
        if (raw > ZSTD_RAW_MAX || raw > end - pos - TS__FRAME_OVERHEAD - ZSTD_RAW_HDR)
            return;
        uint32_t clen = raw + ZSTD_RAW_HDR;
        put_be32(p + 4, clen);
        static const uint8_t zhdr[6] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}; /* window 128 KiB */
        memcpy(p + 8, zhdr, sizeof zhdr);
        uint32_t bh = 1u | raw << 3; /* last block, raw, size */
        p[14] = (uint8_t)bh;
        p[15] = (uint8_t)(bh >> 8);
        p[16] = (uint8_t)(bh >> 16);
        put_be32(p + 8 + clen, ts_crc32c(0, p, 8 + clen));
        pos += TS__FRAME_OVERHEAD + clen;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    bool seal = data[0] & 1;
    size_t ilen = get_be32(data + 1);
    if (ilen > size - 5)
        return 0;
    uint8_t *index = malloc(ilen + 1), *seg = malloc(size - 5 - ilen + 1);
    if (!index || !seg)
        abort();
    memcpy(index, data + 5, ilen);
    memcpy(seg, data + 5 + ilen, size - 5 - ilen);
    size_t slen = size - 5 - ilen;
    if (seal && ilen >= FILE_HDR + TOC_LEN) {
        seal_frames(index, ilen - TOC_LEN);
        uint8_t *toc = index + ilen - TOC_LEN;
        put_be32(toc + TOC_LEN - 4, ts_crc32c(0, toc, TOC_LEN - 4));
    }
    if (seal)
        seal_frames(seg, slen);
    char blk[4200], path[4300];
    snprintf(blk, sizeof blk, "%s/%s", fuzz_dir, ULID);
    (void)ts_fs_remove_all(blk);
    snprintf(path, sizeof path, "%s/chunks", blk);
    if (mkdir(blk, 0755) != 0 || mkdir(path, 0755) != 0)
        abort();
    static const char meta[] =
        "{\"ulid\":\"" ULID "\",\"minTime\":0,\"maxTime\":9000000000000,"
        "\"stats\":{\"numSamples\":1,\"numSeries\":1,\"numChunks\":1},"
        "\"compaction\":{\"level\":1,\"sources\":[\"" ULID "\"]},\"version\":1}\n";
    snprintf(path, sizeof path, "%s/meta.json", blk);
    write_file(path, (const uint8_t *)meta, sizeof meta - 1);
    snprintf(path, sizeof path, "%s/index", blk);
    write_file(path, index, ilen);
    snprintf(path, sizeof path, "%s/chunks/000001", blk);
    write_file(path, seg, slen);
    free(index);
    free(seg);
    ts_block *b = NULL;
    ts_error err = {0};
    if (ts_block_open(blk, &b, &err) == 0) {
        query(b);
        ts_block_unref(b);
    }
    return 0;
}
