/*
 * The querier's non-series Prometheus API over the store API (global_api.c):
 * /api/v1/metadata, /targets, /targets/metadata, /rules, /alerts as the
 * union over every store, replicas deduplicated.
 */
#ifndef TS_QUERY_GLOBAL_API_H
#define TS_QUERY_GLOBAL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pkg/query/fanout.h"
#include "pkg/util/jsonw.h"
#include "pkg/web/api.h"
#include "pkg/web/server.h"

typedef struct ts_query_global_api {
    const ts_fanout *fanout; /* borrowed: its stores and options (the request's over them) */
} ts_query_global_api;

/* HTTP handlers (ctx: ts_query_global_api), Prometheus' parameters. */
/* GET /api/v1/metadata[?metric=NAME][&limit=N] */
int ts_query_global_api_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/targets[?state=active|dropped|any][&scrapePool=JOB] */
int ts_query_global_api_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/targets/metadata[?match_target=SELECTOR][&metric=NAME][&limit=N] */
int ts_query_global_api_handle_targets_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/rules[?type=alert|record][&rule_name[]=..][&rule_group[]=..][&file[]=..] */
int ts_query_global_api_handle_rules(ts_web_req *req, ts_web_resp *resp, void *ctx);
/* GET /api/v1/alerts */
int ts_query_global_api_handle_alerts(ts_web_req *req, ts_web_resp *resp, void *ctx);

/* The merges (global_api.c's header states their rules).  Inputs: the stores' `data` values
 * (borrowed; elements of them are referenced by the result); the result is a new reference. */
json_t *ts_query_global_api_merge_metadata(json_t *const *data, size_t n, long limit);
json_t *ts_query_global_api_merge_targets(json_t *const *data, size_t n, bool active, bool dropped);
json_t *ts_query_global_api_merge_targets_metadata(json_t *const *data, size_t n, long limit);

/* rule_name[], rule_group[], file[] (none given: no filter) */
typedef struct ts_query_global_api_rule_filter {
    const char *const *names, *const *groups, *const *files;
    size_t nnames, ngroups, nfiles;
} ts_query_global_api_rule_filter;

/* shard[i]: which store identity answer i comes from (ts_query_fanout_meta_answer.shard);
 * f may be NULL. */
json_t *ts_query_global_api_merge_rules(json_t *const *data, const char *const *shard, size_t n,
                                        const ts_query_global_api_rule_filter *f);
json_t *ts_query_global_api_merge_alerts(json_t *const *data, size_t n);

/* Writes v with ts_jsonw: objects in their order, floats in Go's shortest form. */
void ts_query_global_api_write_json(ts_jsonw *j, const json_t *v);

#endif
