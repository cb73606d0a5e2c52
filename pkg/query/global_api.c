/*
 * The querier's non-series Prometheus API (issue 12 §3), answered from every
 * store's own answer over the store API's MetaRequest (proto/store.proto).
 *
 * Design: a store returns the JSON `data` of its own HTTP handler for the
 * endpoint (the shard writes it with the same function), not a protobuf
 * mirror of it: the querier then merges exactly what each shard shows, the
 * shapes cannot drift between the two, and a new field costs nothing on the
 * wire.  The querier parses each answer (jansson), merges, and writes
 * Prometheus' shape again.
 *
 * The stores are asked at once by the fan-out (ts_query_fanout_meta), with
 * its complete/partial rule and the request's partial_response and
 * store_response_timeout over the querier's flags, as for queries; replicas
 * are always grouped (the union does not depend on dedup).  A shard without
 * an answer is a warning naming it ("warnings" in the reply), or an error
 * with partial_response=false.
 *
 * Done: /api/v1/metadata (union of the metas per metric, `metric`, `limit`).
 * Not yet: targets, targets/metadata, rules, alerts.
 */
#include "pkg/query/global_api.h"
#include "pkg/query/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/jsonw.h"
#include "pkg/util/mem.h"

/* Adds metas (type, help, unit) of one store's data object into merged (set union). */
static void
merge_metadata(json_t *merged, json_t *data)
{
    const char *name;
    json_t *arr;
    json_object_foreach(data, name, arr)
    {
        if (!json_is_array(arr))
            continue;
        json_t *have = json_object_get(merged, name);
        if (!have) {
            have = json_array();
            json_object_set_new(merged, name, have);
        }
        size_t i;
        json_t *m;
        json_array_foreach(arr, i, m)
        {
            bool dup = false;
            size_t k;
            json_t *h;
            json_array_foreach(have, k, h)
            {
                if (json_equal(h, m)) {
                    dup = true;
                    break;
                }
            }
            if (!dup)
                json_array_append(have, m);
        }
    }
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
ts_query_global_api_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    const ts_query_global_api *g = ctx;
    const char *metric = ts_web_req_param(req, "metric");
    const char *limit_s = ts_web_req_param(req, "limit");
    long limit = -1;
    if (limit_s && limit_s[0]) {
        char *end;
        limit = strtol(limit_s, &end, 10);
        if (*end) {
            ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
            return TS_OK;
        }
    }
    const char *params[2];
    size_t np = 0;
    if (metric && metric[0]) {
        params[np++] = "metric";
        params[np++] = metric;
    }
    ts_query_fanout_opts fo = ts_query_api_fanout_opts(&g->fanout->opts, req);
    fo.dedup = true;
    ts_fanout f;
    ts_query_fanout_init(&f, g->fanout->e, &fo);
    ts_arena *a = ts_web_req_arena(req);
    ts_query_fanout_meta_answer ans;
    ts_error err;
    ts_error_clear(&err);
    if (ts_query_fanout_meta(&f, TS_STORE_META_METADATA, params, np, a, &ans, &err) != TS_OK) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_UNAVAILABLE, err.msg);
        return TS_OK;
    }
    json_t *merged = json_object();
    for (size_t i = 0; i < ans.n; i++) {
        json_t *data = json_loadb(ans.json[i], ans.len[i], 0, NULL);
        if (json_is_object(data))
            merge_metadata(merged, data);
        json_decref(data);
    }
    size_t nkeys = json_object_size(merged);
    const char **keys = ts_arena_alloc(a, (nkeys + 1) * sizeof(*keys));
    size_t k = 0;
    const char *name;
    json_t *v;
    json_object_foreach(merged, name, v) keys[k++] = name;
    qsort(keys, nkeys, sizeof(*keys), cmp_str);
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_jsonw_obj_begin(j);
    for (size_t i = 0; i < nkeys && (limit < 0 || (long)i < limit); i++) {
        ts_jsonw_key(j, keys[i]);
        char *s = json_dumps(json_object_get(merged, keys[i]), JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) {
            ts_jsonw_raw(j, s, strlen(s));
            free(s);
        } else {
            ts_jsonw_null(j);
        }
    }
    ts_jsonw_obj_end(j);
    json_decref(merged);
    return ts_web_api_success_end(resp, j, ans.warnings, ans.nwarnings);
}
