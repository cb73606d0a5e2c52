/*
 * Leveled compaction (Prometheus tsdb/compact.go, simplified).
 *
 * Planning, given block metas sorted by mint and the range ladder
 * ranges[0] < ranges[1] < ... (e.g. 2h, 6h, 24h):
 *
 *  1. Overlapping blocks first: the first run of two or more blocks in which
 *     each block starts before the run's maximum maxt so far is merged
 *     ("vertical" compaction).
 *  2. Otherwise the most recent block (largest mint) is left out, so a fresh
 *     block stays untouched for one block period (Prometheus does this to
 *     give backups a window).
 *  3. For each range r of ranges[1..], in order, the remaining blocks are
 *     split into groups aligned to r: a group holds consecutive blocks that
 *     all lie within [t0, t0 + r), t0 = floor(mint / r) * r of its first
 *     block; a block that crosses such a boundary (too big for r) belongs to
 *     no group.  The first group with at least two blocks that either spans
 *     the whole range (last maxt - first mint == r) or ends no later than the
 *     mint of the most recent remaining block is chosen.  The second
 *     condition lets an incomplete range be compacted once newer data has
 *     moved past it, and stops a range that may still grow from being
 *     compacted too early.
 *
 * Prometheus also re-compacts blocks with many tombstones; we have none.
 *
 * Merging: ts_compact opens a querier on every input block over the union of
 * their ranges, merges them with ts_merge_queriers (samples with the same
 * timestamp appear once) and writes the result with ts_block_write at level
 * max(input levels) + 1, sources the union of the inputs' sources.  Series
 * present in one input only keep their chunks byte for byte; a series whose
 * chunks from different inputs overlap in time is re-encoded by the writer.
 */
#include "pkg/tsdb/block/internal.h"

#include <limits.h>
#include <string.h>

#include "pkg/storage/merge.h"
#include "pkg/util/mem.h"

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

size_t
ts_compact_plan(const ts_block_meta *const *metas, size_t n, const int64_t *ranges, size_t nranges,
                size_t *first)
{
    *first = 0;
    if (n < 2)
        return 0;

    /* 1. Overlaps. */
    for (size_t i = 0; i + 1 < n; i++) {
        int64_t maxt = metas[i]->maxt;
        size_t j = i + 1;
        while (j < n && metas[j]->mint < maxt) {
            if (metas[j]->maxt > maxt)
                maxt = metas[j]->maxt;
            j++;
        }
        if (j - i >= 2) {
            *first = i;
            return j - i;
        }
    }

    /* 2. Leave out the newest block. */
    n--;
    if (n < 2 || nranges < 2)
        return 0;
    int64_t high = metas[n - 1]->mint;

    /* 3. The ladder. */
    for (size_t r = 1; r < nranges; r++) {
        int64_t rng = ranges[r];
        if (rng <= 0)
            continue;
        for (size_t i = 0; i < n;) {
            int64_t t0 = floor_div(metas[i]->mint, rng) * rng;
            if (metas[i]->maxt > t0 + rng) { /* does not fit this range */
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && metas[j]->maxt <= t0 + rng && metas[j]->mint >= t0)
                j++;
            size_t cnt = j - i;
            if (cnt >= 2) {
                int64_t span = metas[j - 1]->maxt - metas[i]->mint;
                if (span == rng || metas[j - 1]->maxt <= high) {
                    *first = i;
                    return cnt;
                }
            }
            i = j > i ? j : i + 1;
        }
    }
    return 0;
}

int
ts_block_write_querier(const char *parent_dir, ts_querier *q, int64_t mint, int64_t maxt, int level,
                       const ts_block_meta *const *parents, size_t nparents,
                       ts_block_meta *meta_out, ts_error *err)
{
    memset(meta_out, 0, sizeof(*meta_out));
    ts_matcher *all = NULL;
    int rc = ts_matcher_new(&all, TS_MATCH_RE, TS_METRIC_NAME, ".*", err);
    ts_series_set *set = NULL;
    ts_select_hints hints = {.start = mint, .end = maxt - 1, .stream = true};
    if (!rc)
        rc = q->ops->select(q, true, &hints, &all, 1, &set, err);
    if (!rc)
        rc = ts_block_write(parent_dir, set, mint, maxt, level, parents, nparents, meta_out, err);
    ts_matcher_free(all);
    return rc;
}

int
ts_compact(const char *parent_dir, ts_block *const *blocks, size_t n, ts_block_meta *meta_out,
           ts_error *err)
{
    memset(meta_out, 0, sizeof(*meta_out));
    if (n == 0)
        return ts_error_set(err, TS_EINVAL, "compact: no blocks");
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    int level = 0;
    const ts_block_meta **metas = ts_malloc(n * sizeof(*metas));
    ts_querier **qs = ts_malloc(n * sizeof(*qs));
    for (size_t i = 0; i < n; i++) {
        metas[i] = ts_block_get_meta(blocks[i]);
        if (metas[i]->mint < mint)
            mint = metas[i]->mint;
        if (metas[i]->maxt > maxt)
            maxt = metas[i]->maxt;
        if (metas[i]->level > level)
            level = metas[i]->level;
    }
    /* Queriers are inclusive; blocks are [mint, maxt). */
    for (size_t i = 0; i < n; i++)
        ts_block_querier(blocks[i], mint, maxt - 1, &qs[i]);
    ts_querier *q = ts_merge_queriers(qs, n, mint, maxt - 1);
    ts_free(qs);
    int rc = ts_block_write_querier(parent_dir, q, mint, maxt, level + 1, metas, n, meta_out, err);
    ts_querier_close(q);
    ts_free(metas);
    return rc;
}
