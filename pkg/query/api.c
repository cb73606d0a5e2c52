/*
 * What the querier's stores look like from outside: /api/v1/stores (the
 * shape of Thanos' /api/v1/stores entries, all stores under "store") and the
 * tessera_query_stores gauge, both from a snapshot of the endpoints; the
 * fan-out's counters; and the per-request options of Thanos' query API
 * (dedup, partial_response, store_response_timeout).
 */
#include "pkg/query/api.h"

#include <string.h>

#include "pkg/util/gotime.h"
#include "pkg/web/api.h"

static bool
bool_param(const char *v, bool def)
{
    if (!v || !v[0])
        return def;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

ts_query_fanout_opts
ts_query_api_fanout_opts(const ts_query_fanout_opts *def, ts_web_req *req)
{
    ts_query_fanout_opts fo = *def;
    if (req) {
        fo.dedup = bool_param(ts_web_req_param(req, "dedup"), fo.dedup);
        fo.partial_response =
            bool_param(ts_web_req_param(req, "partial_response"), fo.partial_response);
        const char *rt = ts_web_req_param(req, "store_response_timeout");
        int64_t ns;
        ts_error err;
        if (rt && rt[0] && ts_web_api_parse_duration(rt, &ns, &err) == TS_OK && ns > 0)
            fo.response_timeout_ms = ns / 1000000;
    }
    return fo;
}

int
ts_query_api_stores(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_endpoints *e = ctx;
    ts_arena *a = ts_web_req_arena(req);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, a, &st);
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "store");
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "name");
        ts_jsonw_str(j, st[i].url);
        ts_jsonw_key(j, "healthy");
        ts_jsonw_bool(j, st[i].healthy);
        ts_jsonw_key(j, "lastCheck");
        if (st[i].last_check_ms) {
            ts_gotime_format_rfc3339nano(st[i].last_check_ms * 1000000, buf, sizeof(buf));
            ts_jsonw_str(j, buf);
        } else {
            ts_jsonw_null(j);
        }
        ts_jsonw_key(j, "lastError");
        if (st[i].last_error[0])
            ts_jsonw_str(j, st[i].last_error);
        else
            ts_jsonw_null(j);
        ts_jsonw_key(j, "labelSets");
        ts_jsonw_arr_begin(j);
        ts_labels_write_json(j, st[i].labels);
        ts_jsonw_arr_end(j);
        ts_jsonw_key(j, "minTime");
        ts_jsonw_int(j, st[i].mint);
        ts_jsonw_key(j, "maxTime");
        ts_jsonw_int(j, st[i].maxt);
        ts_jsonw_key(j, "componentType");
        ts_jsonw_str(j, st[i].component);
        /* the shard identity from Info: replicas share it */
        ts_jsonw_key(j, "shardIndex");
        if (st[i].shard_count)
            ts_jsonw_int(j, st[i].shard_index);
        else
            ts_jsonw_null(j);
        ts_jsonw_key(j, "shardCount");
        if (st[i].shard_count)
            ts_jsonw_int(j, st[i].shard_count);
        else
            ts_jsonw_null(j);
        ts_jsonw_obj_end(j);
    }
    ts_jsonw_arr_end(j);
    ts_jsonw_obj_end(j);
    ts_web_api_success_end(resp, j, NULL, 0);
    ts_query_endpoints_release(e, st, n);
    return TS_OK;
}

void
ts_query_endpoints_write_metrics(void *ctx, ts_metrics_writer *w)
{
    ts_endpoints *e = ctx;
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_query_endpoint_status *st;
    size_t n = ts_query_endpoints_snapshot(e, &a, &st);
    size_t healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += st[i].healthy;
    ts_query_endpoints_release(e, st, n);
    ts_arena_fini(&a);
    ts_mw_family(w, "tessera_query_stores", "gauge", "Stores known to the querier, by health.");
    ts_mw_sample(w, "tessera_query_stores", "state=\"healthy\"", (double)healthy);
    ts_mw_sample(w, "tessera_query_stores", "state=\"unhealthy\"", (double)(n - healthy));
}

void
ts_query_fanout_write_metrics(void *ctx, ts_metrics_writer *w)
{
    ts_query_fanout_stats *fs = ctx;
    ts_mw_counter(w, "tessera_query_replica_failures_total",
                  "Store requests that failed while a replica of the same shard answered (the "
                  "answer stayed complete).",
                  (double)__atomic_load_n(&fs->replica_failures_total, __ATOMIC_RELAXED));
    ts_mw_counter(w, "tessera_query_slow_replicas_skipped_total",
                  "Replicas not waited for because a peer of their shard had answered "
                  "(--store.slow-replica-timeout).",
                  (double)__atomic_load_n(&fs->slow_replicas_skipped_total, __ATOMIC_RELAXED));
    ts_mw_counter(w, "tessera_query_partial_responses_total",
                  "Selects answered without a shard (no replica answered): a warning.",
                  (double)__atomic_load_n(&fs->partial_responses_total, __ATOMIC_RELAXED));
    ts_mw_counter(w, "tessera_query_partial_errors_total",
                  "Selects failed because a shard had no answering replica (strict mode).",
                  (double)__atomic_load_n(&fs->partial_errors_total, __ATOMIC_RELAXED));
}
