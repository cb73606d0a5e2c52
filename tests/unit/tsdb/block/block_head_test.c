/*
 * Blocks cut from the head (pkg/tsdb/head), as the TSDB does: two 2h blocks
 * written from head queriers, then compacted.  Every block must give back
 * exactly the head's series, samples and chunk bytes for its range.
 */
#include "pkg/tsdb/block/block.h"

#include "pkg/tsdb/head/head.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#define H2 (2 * 3600 * 1000LL)

static ts_matcher *
all_matcher(void)
{
    ts_matcher *m = NULL;
    ts_error err;
    TS_ASSERT(ts_matcher_new(&m, TS_MATCH_RE, "__name__", ".*", &err) == 0);
    return m;
}

/* Compares two queriers over [mint, maxt]: same label sets in the same order,
 * same samples; with chunks = true also the same chunk bytes.  Returns the
 * number of series, or -1 on a difference. */
static int
same(ts_querier *a, ts_querier *b, bool chunks)
{
    ts_matcher *m = all_matcher();
    ts_series_set *sa, *sb;
    ts_error err;
    if (a->ops->select(a, true, NULL, &m, 1, &sa, &err) ||
        b->ops->select(b, true, NULL, &m, 1, &sb, &err))
        return -1;
    int n = 0, bad = 0;
    for (;;) {
        bool na = ts_ss_next(sa), nb = ts_ss_next(sb);
        if (na != nb) {
            bad = 1;
            break;
        }
        if (!na)
            break;
        ts_series *x = ts_ss_at(sa), *y = ts_ss_at(sb);
        if (!ts_labels_equal(x->labels, y->labels)) {
            bad = 1;
            break;
        }
        ts_iterator *ix = x->ops->iterator(x), *iy = y->ops->iterator(y);
        for (;;) {
            ts_val_type vx = ts_it_next(ix), vy = ts_it_next(iy);
            if (vx != vy) {
                bad = 1;
                break;
            }
            if (vx == TS_VAL_NONE)
                break;
            int64_t tx, ty;
            double dx, dy;
            ts_it_at(ix, &tx, &dx);
            ts_it_at(iy, &ty, &dy);
            if (tx != ty || memcmp(&dx, &dy, sizeof(dx)) != 0)
                bad = 1;
        }
        bad |= ts_it_err(ix) != 0 || ts_it_err(iy) != 0;
        ts_it_free(ix);
        ts_it_free(iy);
        if (chunks) {
            ts_chunk_iterator *cx = x->ops->chunks(x), *cy = y->ops->chunks(y);
            for (;;) {
                bool ox = cx->ops->next(cx), oy = cy->ops->next(cy);
                if (ox != oy) {
                    bad = 1;
                    break;
                }
                if (!ox)
                    break;
                const ts_chunk_meta *mx = cx->ops->at(cx), *my = cy->ops->at(cy);
                if (mx->mint != my->mint || mx->maxt != my->maxt || mx->len != my->len ||
                    memcmp(mx->data, my->data, mx->len) != 0)
                    bad = 1;
            }
            cx->ops->free(cx);
            cy->ops->free(cy);
        }
        n++;
    }
    bad |= sa->error.code != 0 || sb->error.code != 0;
    ts_ss_free(sa);
    ts_ss_free(sb);
    ts_matcher_free(m);
    return bad ? -1 : n;
}

static void
test_blocks_from_head(void)
{
    ts_head *h;
    ts_head_opts o = {.chunk_range_ms = H2};
    T_OK(ts_head_new(&h, &o));
    /* 60 series over [0, 3h): counters, gauges, a histogram */
    ts_appender *app = ts_head_appender(h);
    uint64_t rs = 99;
    for (int64_t i = 0; i < 720; i++) {
        for (int s = 0; s < 60; s++) {
            char inst[16], le[16];
            snprintf(inst, sizeof(inst), "host-%d", s % 6);
            snprintf(le, sizeof(le), "%d", s / 6);
            ts_labels *ls = s < 30 ? ts_labels_from_strings(6, "__name__", "requests_total",
                                                            "instance", inst, "le", le)
                                   : ts_labels_from_strings(6, "__name__", "temperature",
                                                            "instance", inst, "sensor", le);
            rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t t = i * 15000 + (int64_t)(s % 6) * 1000 + (int64_t)(rs >> 62);
            double v = s < 30 ? (double)(i * (s + 1)) : 20.0 + (double)(rs >> 54) / 100.0;
            T_OK(app->ops->append(app, 0, ls, t, v, NULL));
            ts_labels_free(ls);
        }
    }
    T_OK(app->ops->commit(app));

    const char *dir = t_tmpdir();
    ts_block *blocks[2];
    for (int k = 0; k < 2; k++) {
        ts_querier *hq;
        T_OK(ts_head_querier(h, k * H2, (k + 1) * H2 - 1, &hq));
        ts_matcher *m = all_matcher();
        ts_series_set *ss;
        ts_error err = {0};
        T_OK(hq->ops->select(hq, true, NULL, &m, 1, &ss, &err));
        ts_block_meta meta;
        T_OK(ts_block_write(dir, ss, k * H2, (k + 1) * H2, 0, NULL, 0, &meta, &err));
        ts_matcher_free(m);
        T_EQ(meta.num_series, 60);
        T_EQ(meta.num_samples, k == 0 ? 60 * 480 : 60 * 240);
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, meta.ulid);
        T_OK(ts_block_open(p, &blocks[k], &err));
        ts_querier *bq;
        ts_block_querier(blocks[k], k * H2, (k + 1) * H2 - 1, &bq);
        /* chunk bytes too: head chunks never straddle the 2h boundary */
        T_EQ(same(hq, bq, true), 60);
        ts_querier_close(hq);
        ts_querier_close(bq);
        ts_block_meta_fini(&meta);
    }

    ts_block_meta cm;
    ts_error err = {0};
    T_OK(ts_compact(dir, blocks, 2, &cm, &err));
    T_EQ(cm.level, 2);
    T_EQ(cm.num_samples, 60 * 720);
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, cm.ulid);
    ts_block *c;
    T_OK(ts_block_open(p, &c, &err));
    ts_querier *hq, *bq;
    T_OK(ts_head_querier(h, 0, 2 * H2 - 1, &hq));
    ts_block_querier(c, 0, 2 * H2 - 1, &bq);
    T_EQ(same(hq, bq, true), 60);
    ts_querier_close(hq);
    ts_querier_close(bq);
    /* the comparison does notice a difference: head [0,4h) vs the first block */
    T_OK(ts_head_querier(h, 0, 2 * H2 - 1, &hq));
    ts_block_querier(blocks[0], 0, 2 * H2 - 1, &bq);
    T_EQ(same(hq, bq, false), -1);
    ts_querier_close(hq);
    ts_querier_close(bq);
    /* a middle window, samples only */
    T_OK(ts_head_querier(h, H2 - 3600000, H2 + 123456, &hq));
    ts_block_querier(c, H2 - 3600000, H2 + 123456, &bq);
    T_EQ(same(hq, bq, false), 60);
    ts_querier_close(hq);
    ts_querier_close(bq);

    ts_block_unref(c);
    ts_block_unref(blocks[0]);
    ts_block_unref(blocks[1]);
    ts_block_meta_fini(&cm);
    ts_head_free(h);
}

T_MAIN({"blocks_from_head", test_blocks_from_head})
