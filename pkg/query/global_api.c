/*
 * The querier's non-series Prometheus API (issue 12 §3), answered from every
 * store's own answer over the store API's MetaRequest (proto/store.proto).
 *
 * Design: a store returns the JSON `data` of its own HTTP handler for the
 * endpoint (the shard and the ruler write it with the same functions), not a
 * protobuf mirror of it: the querier then merges exactly what each store
 * shows, the shapes cannot drift between the two, and a new field costs
 * nothing on the wire.  The querier parses each answer (jansson), merges, and
 * writes Prometheus' shape again (write_json: numbers through ts_jsonw, so a
 * float comes out in Go's shortest form, as the store wrote it).
 *
 * The stores are asked at once by the fan-out (ts_query_fanout_meta), with
 * its complete/partial rule and the request's partial_response and
 * store_response_timeout over the querier's flags, as for queries; replicas
 * are always grouped.  A shard without an answer is a warning naming it
 * ("warnings" in the reply), or an error with partial_response=false.  A
 * store lists the kinds it serves in its Info: one that lists them without
 * this kind (a ruler has no targets) is not asked; one that does not list
 * them (an older version, during a rolling upgrade) is asked, and its
 * "unsupported" is a gap, warned about like a shard without an answer (its
 * targets or rules are missing, not empty).
 *
 * The merges (each a function of the parsed answers, unit-tested on JSON):
 *  - metadata: per metric the set union of {type, help, unit}; names sorted;
 *    `metric` asked of the stores, `limit` applied to the union.
 *  - targets: the stores are always asked for both lists (state=any; the
 *    dropped list needs the active one, below), `scrapePool` passed on.
 *    Active: one entry per target (scrape pool, scrape URL, labels): replicas
 *    of a shard scrape the same targets, and a target moving between shards
 *    may be active on both for the handoff.  Of several copies the healthier
 *    one is kept (up > unknown > down), then the one scraped last, then the
 *    first store by URL: the global view has a target's data while any
 *    replica scrapes it (dedup fills one replica's gaps from the other), so
 *    its best copy says what the global view gets; a replica's own problem
 *    shows on that replica's page.  Sorted by scrape pool (Prometheus 2.42's
 *    order), then labels.  Dropped: one entry per discovered label set; a
 *    target a shard dropped because another shard owns it ("dropReason":
 *    "owned by shard ...") is left out when a store has it active (it is not
 *    dropped in the cluster), and stays, with its reason, when its owner did
 *    not answer.  Then `state` picks the lists (2.42: an unknown state gives
 *    two empty lists).  discoveryErrors (a shard's failing discoverers, see
 *    pkg/web/scrape_api.c): one entry per (scrapePool, mechanism, role,
 *    lastError), as shards and replicas with one config fail alike; of
 *    several copies the one that failed last is kept.  Sorted by scrape
 *    pool, then mechanism, role and error.  The key is there only when an
 *    entry is, as on a shard.
 *  - targets/metadata: the union of the entries (equal entries, from
 *    replicas, once), grouped by target (targets sorted by labels, entries in
 *    the first answer's order); `limit` as Prometheus applies it, checked
 *    before each target.  `match_target` is checked here (bad_data) and
 *    applied by the stores, as `metric`.
 *  - rules: groups are keyed by (shard identity, file, name): replicas of one
 *    store identity (same component, shard index/count and external labels
 *    less the replica labels) hold the same group, which is shown once; the
 *    copy kept is the one evaluated last (its state is the freshest), then
 *    the first store by URL.  The same group in two shards (a rule file
 *    every shard loads) is shown once per shard, as its results are distinct
 *    series (`shard` label).  Sorted by file, then name (Prometheus' order),
 *    then shard.  `type` is asked of the stores; `rule_name[]`,
 *    `rule_group[]` and `file[]` (Prometheus 2.44's filters, not in 2.42) are
 *    applied here, and a group none of whose rules is left is then dropped
 *    (2.44), while a `type` filter alone keeps empty groups (2.42).
 *  - alerts: one per label set (replicas fire the same alert); the copy kept
 *    is firing over pending, then the earliest activeAt (when the alert
 *    really started), then the first store by URL.  Sorted by labels.
 */
#include "pkg/query/global_api.h"
#include "pkg/query/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/promql/parser/ast.h"
#include "pkg/util/gotime.h"
#include "pkg/util/mem.h"
#include "pkg/web/params.h"

/* ------------------------------------------------------------ JSON helpers */

void
ts_query_global_api_write_json(ts_jsonw *j, const json_t *v)
{
    json_t *x = (json_t *)v; /* jansson's iterators take non-const */
    switch (json_typeof(x)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        ts_jsonw_obj_begin(j);
        json_object_foreach(x, k, e)
        {
            ts_jsonw_key(j, k);
            ts_query_global_api_write_json(j, e);
        }
        ts_jsonw_obj_end(j);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        ts_jsonw_arr_begin(j);
        json_array_foreach(x, i, e) ts_query_global_api_write_json(j, e);
        ts_jsonw_arr_end(j);
        break;
    }
    case JSON_STRING: ts_jsonw_strn(j, json_string_value(x), json_string_length(x)); break;
    case JSON_INTEGER: ts_jsonw_int(j, (int64_t)json_integer_value(x)); break;
    case JSON_REAL: ts_jsonw_double(j, json_real_value(x)); break;
    case JSON_TRUE: ts_jsonw_bool(j, true); break;
    case JSON_FALSE: ts_jsonw_bool(j, false); break;
    case JSON_NULL: ts_jsonw_null(j); break;
    }
}

/* v's text with sorted keys, a key for label sets (caller frees with ts_free). */
static char *
canon(const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *c = ts_strdup(s ? s : "");
    free(s); /* jansson's allocation */
    return c;
}

static const char *
str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* An RFC 3339 field as ns (time zero or unparsable: INT64_MIN), for "which is newer". */
static int64_t
time_of(const json_t *obj, const char *key)
{
    ts_gotime t;
    if (ts_gotime_parse_rfc3339(str_of(obj, key), &t) != TS_OK || t.sec < -9000000000LL ||
        t.sec > 9000000000LL)
        return INT64_MIN;
    return t.sec * 1000000000LL + t.nsec;
}

static bool
in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* An element of a merged list with the keys it is sorted by. */
typedef struct item {
    json_t *v; /* borrowed from the answers */
    char *k1;  /* heap (canon or strdup) */
    char *k2;
    const char *k3; /* borrowed */
    size_t seq;     /* first-seen order, the last tiebreak */
} item;

typedef struct items {
    item *v;
    size_t n, cap;
    json_t *index; /* dedup key -> position in v */
} items;

static void
items_init(items *l)
{
    memset(l, 0, sizeof(*l));
    l->index = json_object();
}

static void
items_fini(items *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ts_free(l->v[i].k1);
        ts_free(l->v[i].k2);
    }
    ts_free(l->v);
    json_decref(l->index);
}

/* The position of the element with dedup key, or -1. */
static long
items_find(const items *l, const char *key)
{
    json_t *p = json_object_get(l->index, key);
    return p ? (long)json_integer_value(p) : -1;
}

/* Appends v under key; takes k1 and k2. */
static void
items_add(items *l, const char *key, json_t *v, char *k1, char *k2, const char *k3)
{
    TS_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n] = (item){.v = v, .k1 = k1, .k2 = k2, .k3 = k3 ? k3 : "", .seq = l->n};
    if (key)
        json_object_set_new(l->index, key, json_integer((json_int_t)l->n));
    l->n++;
}

static int
item_cmp(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int c = strcmp(x->k1, y->k1);
    if (!c)
        c = strcmp(x->k2 ? x->k2 : "", y->k2 ? y->k2 : "");
    if (!c)
        c = strcmp(x->k3, y->k3);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The sorted elements as a new array (references taken). */
static json_t *
items_array(items *l)
{
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), item_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append(arr, l->v[i].v);
    return arr;
}

/* ------------------------------------------------------------ merges */

json_t *
ts_query_global_api_merge_metadata(json_t *const *data, size_t n, long limit)
{
    json_t *merged = json_object();
    for (size_t d = 0; d < n; d++) {
        const char *name;
        json_t *arr;
        json_object_foreach(data[d], name, arr)
        {
            if (!json_is_array(arr))
                continue;
            json_t *have = json_object_get(merged, name);
            if (!have) {
                have = json_array();
                json_object_set_new(merged, name, have);
            }
            size_t i, k;
            json_t *m, *h;
            json_array_foreach(arr, i, m)
            {
                bool dup = false;
                json_array_foreach(have, k, h) dup = dup || json_equal(h, m);
                if (!dup)
                    json_array_append(have, m);
            }
        }
    }
    /* names sorted (Go's JSON map order), then cut to limit */
    items l;
    items_init(&l);
    const char *name;
    json_t *v;
    json_object_foreach(merged, name, v) items_add(&l, NULL, v, ts_strdup(name), NULL, NULL);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), item_cmp);
    json_t *out = json_object();
    for (size_t i = 0; i < l.n && (limit < 0 || (long)i < limit); i++)
        json_object_set(out, l.v[i].k1, l.v[i].v);
    items_fini(&l);
    json_decref(merged);
    return out;
}

static int
health_rank(const json_t *t)
{
    const char *h = str_of(t, "health");
    return strcmp(h, "up") == 0 ? 2 : strcmp(h, "unknown") == 0 ? 1 : 0;
}

/* Whether a is a better copy of one target than b (see the header). */
static bool
better_target(const json_t *a, const json_t *b)
{
    int ha = health_rank(a), hb = health_rank(b);
    if (ha != hb)
        return ha > hb;
    return time_of(a, "lastScrape") > time_of(b, "lastScrape");
}

json_t *
ts_query_global_api_merge_targets(json_t *const *data, size_t n, bool active, bool dropped)
{
    items act, drop;
    items_init(&act);
    items_init(&drop);
    json_t *active_disc = json_object(); /* discovered label sets of active targets */
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(data[d], "activeTargets"), i, t)
        {
            if (!json_is_object(t))
                continue;
            char *labels = canon(json_object_get(t, "labels"));
            char *disc = canon(json_object_get(t, "discoveredLabels"));
            json_object_set_new(active_disc, disc, json_true());
            ts_free(disc);
            const char *pool = str_of(t, "scrapePool");
            size_t klen = strlen(pool) + strlen(str_of(t, "scrapeUrl")) + strlen(labels) + 3;
            char *key = ts_malloc(klen);
            snprintf(key, klen, "%s\n%s\n%s", pool, str_of(t, "scrapeUrl"), labels);
            long at = items_find(&act, key);
            if (at < 0) {
                items_add(&act, key, t, ts_strdup(pool), labels, str_of(t, "scrapeUrl"));
            } else {
                if (better_target(t, act.v[at].v))
                    act.v[at].v = t;
                ts_free(labels);
            }
            ts_free(key);
        }
    }
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(data[d], "droppedTargets"), i, t)
        {
            if (!json_is_object(t))
                continue;
            char *disc = canon(json_object_get(t, "discoveredLabels"));
            bool owned_elsewhere = strncmp(str_of(t, "dropReason"), "owned by shard", 14) == 0;
            if ((owned_elsewhere && json_object_get(active_disc, disc)) ||
                items_find(&drop, disc) >= 0) {
                ts_free(disc);
                continue;
            }
            /* sorted by job, as Prometheus lists dropped targets pool by pool */
            const char *job = str_of(json_object_get(t, "discoveredLabels"), "job");
            items_add(&drop, disc, t, ts_strdup(job), disc, NULL);
        }
    }
    items errs;
    items_init(&errs);
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(data[d], "discoveryErrors"), i, e)
        {
            if (!json_is_object(e))
                continue;
            const char *pool = str_of(e, "scrapePool");
            size_t klen = strlen(pool) + strlen(str_of(e, "mechanism")) +
                          strlen(str_of(e, "role")) + strlen(str_of(e, "lastError")) + 4;
            char *key = ts_malloc(klen);
            snprintf(key, klen, "%s\n%s\n%s\n%s", pool, str_of(e, "mechanism"), str_of(e, "role"),
                     str_of(e, "lastError"));
            long at = items_find(&errs, key);
            if (at < 0)
                items_add(&errs, key, e, ts_strdup(pool), ts_strdup(key), NULL);
            else if (time_of(e, "lastErrorTime") > time_of(errs.v[at].v, "lastErrorTime"))
                errs.v[at].v = e;
            ts_free(key);
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, "activeTargets", active ? items_array(&act) : json_array());
    json_object_set_new(out, "droppedTargets", dropped ? items_array(&drop) : json_array());
    if (errs.n)
        json_object_set_new(out, "discoveryErrors", items_array(&errs));
    items_fini(&act);
    items_fini(&drop);
    items_fini(&errs);
    json_decref(active_disc);
    return out;
}

json_t *
ts_query_global_api_merge_targets_metadata(json_t *const *data, size_t n, long limit)
{
    items l;
    items_init(&l);
    json_t *seen = json_object();
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *e;
        json_array_foreach(data[d], i, e)
        {
            if (!json_is_object(e))
                continue;
            char *key = canon(e);
            if (json_object_get(seen, key)) {
                ts_free(key);
                continue;
            }
            json_object_set_new(seen, key, json_true());
            ts_free(key);
            items_add(&l, NULL, e, canon(json_object_get(e, "target")), NULL, NULL);
        }
    }
    json_t *arr = items_array(&l);
    /* Prometheus' limit: checked before each target, a target's entries are never cut */
    json_t *out = json_array();
    const char *cur = NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (!cur || strcmp(cur, l.v[i].k1) != 0) {
            if (limit >= 0 && (long)json_array_size(out) >= limit)
                break;
            cur = l.v[i].k1;
        }
        json_array_append(out, l.v[i].v);
    }
    json_decref(arr);
    json_decref(seen);
    items_fini(&l);
    return out;
}

json_t *
ts_query_global_api_merge_rules(json_t *const *data, const char *const *shard, size_t n,
                                const ts_query_global_api_rule_filter *f)
{
    items l;
    items_init(&l);
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(data[d], "groups"), i, g)
        {
            if (!json_is_object(g))
                continue;
            const char *name = str_of(g, "name"), *file = str_of(g, "file");
            if ((f && f->ngroups && !in_set(name, f->groups, f->ngroups)) ||
                (f && f->nfiles && !in_set(file, f->files, f->nfiles)))
                continue;
            size_t klen = strlen(shard[d]) + strlen(file) + strlen(name) + 3;
            char *key = ts_malloc(klen);
            snprintf(key, klen, "%s\n%s\n%s", shard[d], file, name);
            long at = items_find(&l, key);
            if (at < 0)
                items_add(&l, key, g, ts_strdup(file), ts_strdup(name), shard[d]);
            else if (time_of(g, "lastEvaluation") > time_of(l.v[at].v, "lastEvaluation"))
                l.v[at].v = g;
            ts_free(key);
        }
    }
    json_t *groups = items_array(&l);
    json_t *out_groups = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        if (!f || !f->nnames) {
            json_array_append(out_groups, g);
            continue;
        }
        json_t *rules = json_array();
        size_t k;
        json_t *r;
        json_array_foreach(json_object_get(g, "rules"), k, r)
        {
            if (in_set(str_of(r, "name"), f->names, f->nnames))
                json_array_append(rules, r);
        }
        if (json_array_size(rules)) {
            json_t *c = json_copy(g); /* shallow: only "rules" changes */
            json_object_set(c, "rules", rules);
            json_array_append_new(out_groups, c);
        }
        json_decref(rules);
    }
    json_decref(groups);
    items_fini(&l);
    json_t *out = json_object();
    json_object_set_new(out, "groups", out_groups);
    return out;
}

static int
alert_rank(const json_t *a)
{
    const char *s = str_of(a, "state");
    return strcmp(s, "firing") == 0 ? 2 : strcmp(s, "pending") == 0 ? 1 : 0;
}

json_t *
ts_query_global_api_merge_alerts(json_t *const *data, size_t n)
{
    items l;
    items_init(&l);
    for (size_t d = 0; d < n; d++) {
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(data[d], "alerts"), i, a)
        {
            if (!json_is_object(a))
                continue;
            char *labels = canon(json_object_get(a, "labels"));
            long at = items_find(&l, labels);
            if (at < 0) {
                items_add(&l, labels, a, labels, NULL, NULL);
                continue;
            }
            json_t *b = l.v[at].v;
            int ra = alert_rank(a), rb = alert_rank(b);
            int64_t ta = time_of(a, "activeAt"), tb = time_of(b, "activeAt");
            if (ra > rb || (ra == rb && ta != INT64_MIN && (tb == INT64_MIN || ta < tb)))
                l.v[at].v = a;
            ts_free(labels);
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, "alerts", items_array(&l));
    items_fini(&l);
    return out;
}

/* ------------------------------------------------------------ handlers */

/* One request's answers, parsed. */
typedef struct answers {
    ts_query_fanout_meta_answer ans;
    json_t **data; /* parsed answers (n), each an object or array */
    const char **shard;
    size_t n;
} answers;

static void
answers_fini(answers *a)
{
    for (size_t i = 0; i < a->n; i++)
        json_decref(a->data[i]);
    ts_free(a->data);
    ts_free(a->shard);
}

/* Asks every store for kind; false after answering the error. */
static bool
ask(const ts_query_global_api *g, ts_web_req *req, ts_web_resp *resp, int kind,
    const char *const *params, size_t np, answers *out)
{
    memset(out, 0, sizeof(*out));
    ts_query_fanout_opts fo = ts_query_api_fanout_opts(&g->fanout->opts, req);
    fo.dedup = true;
    ts_fanout f;
    ts_query_fanout_init(&f, g->fanout->e, &fo);
    ts_error err;
    ts_error_clear(&err);
    if (ts_query_fanout_meta(&f, kind, params, np, ts_web_req_arena(req), &out->ans, &err) !=
        TS_OK) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_UNAVAILABLE, err.msg);
        return false;
    }
    out->data = ts_calloc(out->ans.n + 1, sizeof(*out->data));
    out->shard = ts_calloc(out->ans.n + 1, sizeof(*out->shard));
    ts_arena *a = ts_web_req_arena(req);
    for (size_t i = 0; i < out->ans.n; i++) {
        json_error_t jerr;
        json_t *v = json_loadb(out->ans.json[i], out->ans.len[i], 0, &jerr);
        if (!v) { /* not worth failing the others for, but the answer is partial: say so */
            const char **w = ts_arena_alloc(a, (out->ans.nwarnings + 1) * sizeof(*w));
            if (out->ans.nwarnings)
                memcpy(w, out->ans.warnings, out->ans.nwarnings * sizeof(*w));
            w[out->ans.nwarnings++] =
                ts_arena_sprintf(a, "%s: its answer is not valid JSON (%s) and is left out",
                                 out->ans.shard[i] ? out->ans.shard[i] : "?", jerr.text);
            out->ans.warnings = w;
            continue;
        }
        out->data[out->n] = v;
        out->shard[out->n++] = out->ans.shard[i];
    }
    return true;
}

/* Answers merged (consumed) with the answers' warnings. */
static int
respond(ts_web_resp *resp, json_t *merged, answers *a)
{
    ts_jsonw j;
    ts_web_api_success_begin(resp, &j);
    ts_query_global_api_write_json(&j, merged);
    json_decref(merged);
    int rc = ts_web_api_success_end(resp, &j, a->ans.warnings, a->ans.nwarnings);
    answers_fini(a);
    return rc;
}

/* Adds name=value to params when value is set. */
static void
param(const char **params, size_t *np, const char *name, const char *value)
{
    if (value && value[0]) {
        params[(*np)++] = name;
        params[(*np)++] = value;
    }
}

int
ts_query_global_api_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    long limit;
    if (!ts_web_param_limit(ts_web_req_param(req, "limit"), &limit)) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
        return TS_OK;
    }
    const char *params[2];
    size_t np = 0;
    param(params, &np, "metric", ts_web_req_param(req, "metric"));
    answers a;
    if (!ask(ctx, req, resp, TS_STORE_META_METADATA, params, np, &a))
        return TS_OK;
    return respond(resp, ts_query_global_api_merge_metadata(a.data, a.n, limit), &a);
}

int
ts_query_global_api_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    bool active, dropped;
    ts_web_param_targets_state(ts_web_req_param(req, "state"), &active, &dropped);
    /* both lists always: the dropped one is judged against the active one */
    const char *params[4] = {"state", "any"};
    size_t np = 2;
    param(params, &np, "scrapePool", ts_web_req_param(req, "scrapePool"));
    answers a;
    if (!ask(ctx, req, resp, TS_STORE_META_TARGETS, params, np, &a))
        return TS_OK;
    return respond(resp, ts_query_global_api_merge_targets(a.data, a.n, active, dropped), &a);
}

int
ts_query_global_api_handle_targets_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    long limit;
    if (!ts_web_param_limit(ts_web_req_param(req, "limit"), &limit)) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
        return TS_OK;
    }
    const char *match = ts_web_req_param(req, "match_target");
    ts_matcher **ms;
    size_t nms;
    char msg[TS_ERROR_MSG_MAX + 64];
    if (ts_web_param_match_target(match, &ms, &nms, msg, sizeof(msg)) != TS_OK) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, msg);
        return TS_OK;
    }
    ts_promql_matchers_free(ms, nms); /* checked here, applied by the stores */
    const char *params[6];
    size_t np = 0;
    param(params, &np, "match_target", match);
    param(params, &np, "metric", ts_web_req_param(req, "metric"));
    param(params, &np, "limit", ts_web_req_param(req, "limit"));
    answers a;
    if (!ask(ctx, req, resp, TS_STORE_META_TARGETS_METADATA, params, np, &a))
        return TS_OK;
    return respond(resp, ts_query_global_api_merge_targets_metadata(a.data, a.n, limit), &a);
}

int
ts_query_global_api_handle_rules(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    const char *type;
    char msg[300];
    if (!ts_web_param_rules_type(ts_web_req_param(req, "type"), &type, msg, sizeof(msg))) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, msg);
        return TS_OK;
    }
    /* each ts_web_req_params result lives until the next call: copied into the arena */
    ts_arena *ar = ts_web_req_arena(req);
    ts_query_global_api_rule_filter f = {0};
    const char *const *vals;
    const char *const **dst[3] = {&f.names, &f.groups, &f.files};
    size_t *cnt[3] = {&f.nnames, &f.ngroups, &f.nfiles};
    static const char *const names[3] = {"rule_name[]", "rule_group[]", "file[]"};
    for (int k = 0; k < 3; k++) {
        size_t nv = ts_web_req_params(req, names[k], &vals);
        const char **copy = ts_arena_alloc(ar, (nv + 1) * sizeof(*copy));
        for (size_t i = 0; i < nv; i++)
            copy[i] = ts_arena_strdup(ar, vals[i]);
        *dst[k] = copy;
        *cnt[k] = nv;
    }
    const char *params[2];
    size_t np = 0;
    param(params, &np, "type", type);
    answers a;
    if (!ask(ctx, req, resp, TS_STORE_META_RULES, params, np, &a))
        return TS_OK;
    return respond(resp, ts_query_global_api_merge_rules(a.data, a.shard, a.n, &f), &a);
}

int
ts_query_global_api_handle_alerts(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    answers a;
    if (!ask(ctx, req, resp, TS_STORE_META_ALERTS, NULL, 0, &a))
        return TS_OK;
    return respond(resp, ts_query_global_api_merge_alerts(a.data, a.n), &a);
}
