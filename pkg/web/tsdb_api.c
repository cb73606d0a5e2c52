/*
 * /api/v1/status/tsdb over a TSDB (Prometheus 2.42's JSON): head statistics
 * and Prometheus' top-10 cardinality lists, computed from the head's label
 * index (label names and values) and series counts per selector.  The
 * per-pair list costs one select per label pair, so it is left empty past
 * 20000 pairs.
 */
#include "pkg/web/tsdb_api.h"

#include <stdlib.h>
#include <string.h>

#include "pkg/tsdb/head/head.h"
#include "pkg/web/api.h"

typedef struct stat_item {
    const char *name;
    uint64_t value;
} stat_item;

static int
stat_cmp(const void *a, const void *b)
{
    const stat_item *x = a, *y = b;
    return x->value < y->value ? 1 : x->value > y->value ? -1 : strcmp(x->name, y->name);
}

static void
write_top10(ts_jsonw *j, const char *key, stat_item *items, size_t n)
{
    if (n)
        qsort(items, n, sizeof(*items), stat_cmp);
    ts_jsonw_key(j, key);
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < n && i < 10; i++) {
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "name");
        ts_jsonw_str(j, items[i].name);
        ts_jsonw_key(j, "value");
        ts_jsonw_uint(j, items[i].value);
        ts_jsonw_obj_end(j);
    }
    ts_jsonw_arr_end(j);
}

static uint64_t
count_series(ts_querier *q, const char *name, const char *value)
{
    ts_matcher *m;
    if (ts_matcher_new(&m, TS_MATCH_EQ, name, value, NULL) != TS_OK)
        return 0;
    ts_select_hints h = {.skip_chunks = true, .func = "series"};
    ts_series_set *ss = NULL;
    uint64_t n = 0;
    if (q->ops->select(q, false, &h, &m, 1, &ss, NULL) == TS_OK) {
        while (ts_ss_next(ss))
            n++;
        ts_ss_free(ss);
    }
    ts_matcher_free(m);
    return n;
}

int
ts_web_tsdb_handle_status(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_db *db = ctx;
    ts_arena *a = ts_web_req_arena(req);
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    stat_item *by_metric = NULL, *values = NULL, *memory = NULL, *pairs = NULL;
    size_t nmetric = 0, nnames = 0, npairs = 0, total_pairs = 0;
    ts_querier *q = NULL;
    if (ts_head_querier(ts_db_head(db), INT64_MIN, INT64_MAX, &q) == TS_OK) {
        const char **names;
        size_t nn = 0;
        if (q->ops->label_names(q, NULL, 0, a, &names, &nn, NULL) != TS_OK)
            nn = 0;
        const char ***vals = TS_ARENA_ARRAY(a, const char **, nn + 1);
        size_t *nv = TS_ARENA_ARRAY(a, size_t, nn + 1);
        values = TS_ARENA_ARRAY(a, stat_item, nn + 1);
        memory = TS_ARENA_ARRAY(a, stat_item, nn + 1);
        for (size_t i = 0; i < nn; i++) {
            if (q->ops->label_values(q, names[i], NULL, 0, a, &vals[i], &nv[i], NULL) != TS_OK)
                nv[i] = 0;
            uint64_t bytes = 0;
            for (size_t k = 0; k < nv[i]; k++)
                bytes += strlen(vals[i][k]);
            values[nnames] = (stat_item){names[i], nv[i]};
            memory[nnames++] = (stat_item){names[i], bytes};
            total_pairs += nv[i];
            if (strcmp(names[i], TS_METRIC_NAME) == 0) {
                by_metric = TS_ARENA_ARRAY(a, stat_item, nv[i] + 1);
                for (size_t k = 0; k < nv[i]; k++)
                    by_metric[nmetric++] =
                        (stat_item){vals[i][k], count_series(q, TS_METRIC_NAME, vals[i][k])};
            }
        }
        if (total_pairs <= 20000) {
            pairs = TS_ARENA_ARRAY(a, stat_item, total_pairs + 1);
            for (size_t i = 0; i < nn; i++)
                for (size_t k = 0; k < nv[i]; k++)
                    pairs[npairs++] =
                        (stat_item){ts_arena_sprintf(a, "%s=%s", names[i], vals[i][k]),
                                    count_series(q, names[i], vals[i][k])};
        }
        ts_querier_close(q);
    }
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "headStats");
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "numSeries");
    ts_jsonw_uint(j, st.head.num_series);
    ts_jsonw_key(j, "numLabelPairs");
    ts_jsonw_uint(j, total_pairs);
    ts_jsonw_key(j, "chunkCount");
    ts_jsonw_uint(j, st.head.num_chunks);
    ts_jsonw_key(j, "minTime");
    ts_jsonw_int(j, st.head.num_series ? st.head.mint : INT64_MAX);
    ts_jsonw_key(j, "maxTime");
    ts_jsonw_int(j, st.head.num_series ? st.head.maxt : INT64_MIN);
    ts_jsonw_obj_end(j);
    write_top10(j, "seriesCountByMetricName", by_metric, nmetric);
    write_top10(j, "labelValueCountByLabelName", values, nnames);
    write_top10(j, "memoryInBytesByLabelName", memory, nnames);
    write_top10(j, "seriesCountByLabelValuePair", pairs, npairs);
    ts_jsonw_obj_end(j);
    ts_web_api_success_end(resp, j, NULL, 0);
    return TS_OK;
}
