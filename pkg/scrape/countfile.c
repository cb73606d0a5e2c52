/*
 * The shard count from a file (--shard.count-file): how a running shard learns that shards were
 * added or removed without a restart.  The Helm chart mounts the file from a ConfigMap; the
 * kubelet replaces such a file by swapping a symlink, so the watch is a stat poll of the path
 * (uv_fs_poll follows the symlink: a new inode, size or mtime is a change) rather than an inotify
 * watch of one inode.  On a change, and whenever the owner asks (a config reload), the file is
 * read again; a valid count that differs from the current one goes to
 * ts_scrape_manager_set_shards with the handoff period, an invalid one is logged and ignored
 * (the shard keeps its count).
 *
 * The file holds one decimal integer >= 1, surrounding white space allowed (a ConfigMap value
 * written by hand often ends in a newline).
 */
#include "pkg/scrape/scrape.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

#define COUNT_FILE_MAX 4096
#define POLL_MS 1000

struct ts_scrape_count_watch {
    ts_scrape_manager *m;
    char *path;
    uint32_t index, count;
    int64_t handoff_ms;
    void (*on_change)(void *ctx, uint32_t count);
    void *ctx;
    uv_fs_poll_t poll;
};

int
ts_scrape_count_file_read(const char *path, uint32_t *count, ts_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ts_fs_read_file(path, COUNT_FILE_MAX, &buf, &len);
    if (rc)
        return ts_error_set(err, rc, "reading shard count file %s: %s", path, ts_strerror(rc));
    const char *p = buf;
    while (isspace((unsigned char)*p))
        p++;
    char *end = NULL;
    errno = 0;
    unsigned long v = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : 0;
    if (end)
        while (isspace((unsigned char)*end))
            end++;
    bool ok = end && *end == 0 && errno == 0 && v >= 1 && v <= UINT32_MAX && len == strlen(buf);
    if (!ok) {
        /* quote at most a line of what is there */
        char shown[64];
        size_t n = strcspn(buf, "\n");
        snprintf(shown, sizeof(shown), "%.*s", (int)(n < 40 ? n : 40), buf);
        for (char *c = shown; *c; c++) /* the message goes into a quoted log value */
            if (*c == '"' || *c == '\\' || !isprint((unsigned char)*c))
                *c = '?';
        ts_free(buf);
        return ts_error_set(err, TS_EPARSE,
                            "shard count file %s: want a whole number of shards >= 1, got '%s'",
                            path, shown);
    }
    ts_free(buf);
    *count = (uint32_t)v;
    return TS_OK;
}

void
ts_scrape_count_watch_reread(ts_scrape_count_watch *w)
{
    if (!w)
        return;
    uint32_t count;
    ts_error err;
    ts_error_clear(&err);
    if (ts_scrape_count_file_read(w->path, &count, &err)) {
        TS_LOG(TS_LOG_ERROR, "shard", "error reading the shard count; keeping the current one",
               "count=%u err=\"%s\"", w->count, err.msg);
        return;
    }
    if (count == w->count)
        return;
    TS_LOG(TS_LOG_INFO, "shard", "shard count changed",
           "file=%s from=%u to=%u index=%u handoff=%lldms", w->path, w->count, count, w->index,
           (long long)w->handoff_ms);
    if (w->index >= count)
        TS_LOG(TS_LOG_WARN, "shard",
               "this shard's index is not below the shard count: it owns no targets",
               "index=%u count=%u", w->index, count);
    int rc = ts_scrape_manager_set_shards(w->m, w->index, count, w->handoff_ms);
    if (rc) {
        TS_LOG(TS_LOG_ERROR, "shard", "error applying the shard count", "count=%u err=\"%s\"",
               count, ts_strerror(rc));
        return;
    }
    w->count = count;
    if (w->on_change)
        w->on_change(w->ctx, count);
}

static void
on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    ts_scrape_count_watch *w = h->data;
    (void)prev;
    (void)curr;
    if (status < 0) {
        /* vanished or unreadable: reported by the read, the count stays */
        TS_LOG(TS_LOG_ERROR, "shard", "error reading the shard count; keeping the current one",
               "count=%u err=\"%s: %s\"", w->count, w->path, uv_strerror(status));
        return;
    }
    ts_scrape_count_watch_reread(w);
}

static void
watch_closed(uv_handle_t *h)
{
    ts_scrape_count_watch *w = h->data;
    ts_free(w->path);
    ts_free(w);
}

int
ts_scrape_count_watch_start(uv_loop_t *loop, ts_scrape_manager *m, const char *path, uint32_t index,
                            uint32_t count, int64_t handoff_ms,
                            void (*on_change)(void *ctx, uint32_t count), void *ctx,
                            ts_scrape_count_watch **out)
{
    if (!loop || !m || !path || count == 0)
        return TS_EINVAL;
    ts_scrape_count_watch *w = ts_calloc(1, sizeof(*w));
    w->m = m;
    w->path = ts_strdup(path);
    w->index = index;
    w->count = count;
    w->handoff_ms = handoff_ms;
    w->on_change = on_change;
    w->ctx = ctx;
    uv_fs_poll_init(loop, &w->poll);
    w->poll.data = w;
    int rc = uv_fs_poll_start(&w->poll, on_poll, w->path, POLL_MS);
    if (rc) {
        *out = NULL;
        ts_scrape_count_watch_close(w); /* freed when libuv lets go of the handle */
        return rc;
    }
    *out = w;
    return TS_OK;
}

void
ts_scrape_count_watch_close(ts_scrape_count_watch *w)
{
    if (w)
        uv_close((uv_handle_t *)&w->poll, watch_closed);
}
