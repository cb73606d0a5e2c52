/*
 * The querier's non-series Prometheus API (issue 12 §3), answered from every
 * store's own answer over the store API's MetaRequest (proto/store.proto).
 *
 * Design: a store returns the JSON `data` of its own HTTP handler for the
 * endpoint (the shard writes it with the same function), not a protobuf
 * mirror of it: the querier then merges exactly what each shard shows, the
 * shapes cannot drift between the two, and a new field costs nothing on the
 * wire.  The querier parses each answer (jansson), merges, and writes
 * Prometheus' shape again.  Calls go to the healthy stores one after the
 * other, each bounded by the store response timeout (metadata is small and
 * rarely asked; no fan-out machinery needed).
 *
 * Completeness as for queries: stores with the same shard identity (Info) are
 * replicas; the answer is complete while one store of every shard answered.
 * A shard without an answer is a warning naming it ("warnings" in the reply),
 * or an error with partial_response=false.
 *
 * Done: /api/v1/metadata (union of the metas per metric, `metric`, `limit`).
 * Not yet: targets, targets/metadata, rules, alerts.
 */
#include "pkg/query/global_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/store/store.h"
#include "pkg/util/jsonw.h"
#include "pkg/util/mem.h"

typedef struct group {
    uint32_t index, count; /* count 0: a store without identity (own group) */
    const char *url;
    bool answered;
    char err[512];
} group;

static group *
group_of(group *g, size_t *ng, const ts_query_endpoint_status *st)
{
    for (size_t i = 0; i < *ng; i++)
        if (st->shard_count ? (g[i].count == st->shard_count && g[i].index == st->shard_index)
                            : (!g[i].count && strcmp(g[i].url, st->url) == 0))
            return &g[i];
    g[*ng] = (group){.index = st->shard_index, .count = st->shard_count, .url = st->url};
    return &g[(*ng)++];
}

static void
note_err(group *g, const char *url, const char *msg)
{
    size_t l = strlen(g->err);
    snprintf(g->err + l, sizeof(g->err) - l, "%s%s: %s", l ? ", " : "", url, msg);
}

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
    const char *pr = ts_web_req_param(req, "partial_response");
    bool strict = pr && (strcmp(pr, "false") == 0 || strcmp(pr, "0") == 0);
    long limit = -1;
    if (limit_s && limit_s[0]) {
        char *end;
        limit = strtol(limit_s, &end, 10);
        if (*end) {
            ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
            return TS_OK;
        }
    }
    const char *params[4];
    size_t np = 0;
    if (metric && metric[0]) {
        params[np++] = "metric";
        params[np++] = metric;
    }
    ts_arena *a = ts_web_req_arena(req);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(g->endpoints, a, &st);
    group *groups = ts_arena_alloc(a, (n + 1) * sizeof(*groups));
    size_t ngroups = 0;
    json_t *merged = json_object();
    for (size_t i = 0; i < n; i++) {
        group *gr = group_of(groups, &ngroups, &st[i]);
        if (!st[i].healthy) {
            note_err(gr, st[i].url, st[i].last_error[0] ? st[i].last_error : "not healthy");
            continue;
        }
        const char *js;
        size_t len;
        ts_error err;
        ts_error_clear(&err);
        int rc = ts_store_client_meta(st[i].client, TS_STORE_META_METADATA, params, np,
                                      g->timeout_ms, a, &js, &len, &err);
        if (rc == TS_EUNSUPPORTED) { /* e.g. a ruler: it has no metadata, nothing is missing */
            gr->answered = true;
            continue;
        }
        json_t *data = rc ? NULL : json_loadb(js, len, 0, NULL);
        if (!data || !json_is_object(data)) {
            note_err(gr, st[i].url, rc ? err.msg : "bad answer");
            json_decref(data);
            continue;
        }
        gr->answered = true;
        merge_metadata(merged, data);
        json_decref(data);
    }
    ts_query_endpoints_release(g->endpoints, st, n);
    const char **warn = ts_arena_alloc(a, (ngroups + 1) * sizeof(*warn));
    size_t nwarn = 0;
    for (size_t i = 0; i < ngroups; i++) {
        if (groups[i].answered)
            continue;
        char *w = ts_arena_alloc(a, 700);
        if (groups[i].count)
            snprintf(w, 700, "shard %u/%u: no store answered (%s)", groups[i].index,
                     groups[i].count, groups[i].err);
        else
            snprintf(w, 700, "store %s: %s", groups[i].url, groups[i].err);
        warn[nwarn++] = w;
    }
    if (strict && nwarn) {
        json_decref(merged);
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_UNAVAILABLE, warn[0]);
        return TS_OK;
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
    return ts_web_api_success_end(resp, j, warn, nwarn);
}
