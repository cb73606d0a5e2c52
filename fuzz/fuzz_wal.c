/*
 * libFuzzer target: WAL segment reading and repair (pkg/tsdb/wal).  The input is written as
 * segment 00000000 of a fresh WAL directory (under $TMPDIR), which ts_wal_open replays (each
 * record through the record decoders, as the head's replay does) and repairs; the directory is
 * removed afterwards.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/tsdb/record/record.h"
#include "pkg/tsdb/wal/wal.h"
#include "pkg/util/arena.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_dir[4096];

static int
replay(void *ctx, const uint8_t *rec, size_t n)
{
    ts_arena *a = ctx;
    ts_record_series *s;
    ts_record_sample *smp;
    size_t cnt;
    (void)ts_record_decode_series(rec, n, a, &s, &cnt);
    (void)ts_record_decode_samples(rec, n, a, &smp, &cnt);
    ts_arena_reset(a);
    return 0;
}

static void
cleanup(void)
{
    (void)ts_fs_remove_all(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz-wal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    (void)ts_log_set_level("error");
    atexit(cleanup);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char wal[4200], seg[4300];
    snprintf(wal, sizeof wal, "%s/wal", fuzz_dir);
    (void)ts_fs_remove_all(wal);
    if (mkdir(wal, 0755) != 0)
        abort();
    snprintf(seg, sizeof seg, "%s/00000000", wal);
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    ts_wal_opts o;
    ts_wal_opts_default(&o);
    o.segment_size = 1u << 20;
    o.fsync_interval_ms = -1;
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_error err = {0};
    ts_wal *w = NULL;
    if (ts_wal_open(wal, &o, replay, &a, &w, &err) == 0)
        ts_wal_close(w);
    ts_arena_fini(&a);
    (void)ts_fs_remove_all(wal);
    return 0;
}
