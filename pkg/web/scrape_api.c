/*
 * /api/v1/targets, /api/v1/targets/metadata and /api/v1/metadata over a
 * scrape manager (Prometheus 2.42's JSON; web imports scrape, as Prometheus'
 * web/api/v1 does).  Each `data` is written by one function that the HTTP
 * handler and the shard's store API (MetaRequest) both call, so the querier
 * merges exactly what a shard shows.
 *
 * targets: activeTargets then droppedTargets, each in the manager's order
 * (job by job in order of job name, as 2.42); `state=active|dropped|any` (or empty,
 * case-insensitive) picks the lists, any other value gives two empty lists,
 * as 2.42; `scrapePool` keeps only that job's targets, in both lists.  A
 * dropped target may carry "dropReason" (not in Prometheus' answer: why this
 * shard does not scrape it, e.g. another shard owns it).  While a discoverer
 * of the shard (a kubernetes_sd, file_sd or dns_sd entry) is failing, `data`
 * gets a third key, "discoveryErrors" (not in Prometheus' answer either; see
 * ts_web_scrape_write_discovery_errors); without failures the answer is
 * byte for byte Prometheus'.
 *
 * targets/metadata: per active target matching `match_target` (a series
 * selector over the target's labels), its metadata entries (`metric`: only
 * that name, and then no "metric" key, as Prometheus); `limit` is checked
 * before each target, so a target's entries are never cut (Prometheus' rule:
 * the answer may pass limit by one target's worth).
 *
 * metadata: metric metadata from the targets' last scrapes, as Prometheus
 * collects it: per metric name the distinct (type, help, unit) entries,
 * names in sorted order (Go's JSON map order); `metric` filters, `limit`
 * caps the number of metrics.
 */
#include "pkg/web/scrape_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/promql/parser/ast.h"
#include "pkg/util/time.h"
#include "pkg/util/gotime.h"
#include "pkg/web/api.h"
#include "pkg/web/params.h"

/* ----------------------------------------------------------- /api/v1/targets */

typedef struct targets_ctx {
    ts_jsonw *j;
    bool dropped;     /* which list is being written */
    const char *pool; /* scrapePool filter, or NULL */
} targets_ctx;

static void
write_labels(ts_jsonw *j, const ts_labels *ls)
{
    ts_labels_write_json(j, ls ? ls : ts_labels_empty());
}

static void
target_json(void *ctx, const ts_scrape_target_info *t)
{
    targets_ctx *c = ctx;
    if (t->dropped != c->dropped || (c->pool && strcmp(c->pool, t->job) != 0))
        return;
    ts_jsonw *j = c->j;
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "discoveredLabels");
    write_labels(j, t->discovered);
    if (t->dropped && t->drop_reason && t->drop_reason[0]) {
        /* not in Prometheus' answer: why this shard does not scrape it */
        ts_jsonw_key(j, "dropReason");
        ts_jsonw_str(j, t->drop_reason);
    }
    if (!t->dropped) {
        char buf[64];
        ts_jsonw_key(j, "labels");
        write_labels(j, t->labels);
        ts_jsonw_key(j, "scrapePool");
        ts_jsonw_str(j, t->job);
        ts_jsonw_key(j, "scrapeUrl");
        ts_jsonw_str(j, t->scrape_url);
        ts_jsonw_key(j, "globalUrl");
        ts_jsonw_str(j, t->scrape_url);
        ts_jsonw_key(j, "lastError");
        ts_jsonw_str(j, t->last_error);
        ts_jsonw_key(j, "lastScrape");
        if (t->last_scrape_ms) {
            ts_gotime_format_rfc3339nano(t->last_scrape_ms * 1000000, buf, sizeof(buf));
            ts_jsonw_str(j, buf);
        } else {
            ts_jsonw_str(j, "0001-01-01T00:00:00Z");
        }
        ts_jsonw_key(j, "lastScrapeDuration");
        ts_jsonw_double(j, t->last_scrape_duration_s);
        ts_jsonw_key(j, "health");
        ts_jsonw_str(j, ts_target_health_name(t->health));
        ts_jsonw_key(j, "scrapeInterval");
        ts_jsonw_str(j, ts_duration_format(t->interval_ms, buf, sizeof(buf)));
        ts_jsonw_key(j, "scrapeTimeout");
        ts_jsonw_str(j, ts_duration_format(t->timeout_ms, buf, sizeof(buf)));
    }
    ts_jsonw_obj_end(j);
}

void
ts_web_scrape_write_discovery_errors(const ts_discovery_failure *f, size_t n, ts_jsonw *j)
{
    if (n == 0)
        return;
    char buf[64];
    ts_jsonw_key(j, "discoveryErrors");
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "scrapePool");
        ts_jsonw_str(j, f[i].job);
        ts_jsonw_key(j, "mechanism");
        ts_jsonw_str(j, f[i].mechanism);
        if (f[i].role) {
            ts_jsonw_key(j, "role");
            ts_jsonw_str(j, f[i].role);
        }
        ts_jsonw_key(j, "lastError");
        ts_jsonw_str(j, f[i].error);
        ts_jsonw_key(j, "lastErrorTime");
        ts_gotime_format_rfc3339nano(f[i].error_ms * 1000000, buf, sizeof(buf));
        ts_jsonw_str(j, buf);
        if (f[i].success_ms > 0) {
            ts_jsonw_key(j, "lastSuccessTime");
            ts_gotime_format_rfc3339nano(f[i].success_ms * 1000000, buf, sizeof(buf));
            ts_jsonw_str(j, buf);
        }
        ts_jsonw_obj_end(j);
    }
    ts_jsonw_arr_end(j);
}

void
ts_web_scrape_write_targets(const ts_web_targets_src *src, const char *state, const char *pool,
                            ts_jsonw *j)
{
    ts_scrape_manager *m = src ? src->scrape : NULL;
    bool active, dropped;
    ts_web_param_targets_state(state, &active, &dropped);
    targets_ctx c = {.j = j, .pool = pool && pool[0] ? pool : NULL};
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "activeTargets");
    ts_jsonw_arr_begin(j);
    if (active && m)
        ts_scrape_manager_targets(m, target_json, &c);
    ts_jsonw_arr_end(j);
    ts_jsonw_key(j, "droppedTargets");
    ts_jsonw_arr_begin(j);
    c.dropped = true;
    if (dropped && m)
        ts_scrape_manager_targets(m, target_json, &c);
    ts_jsonw_arr_end(j);
    if (src && src->discovery) {
        ts_discovery_failure *f;
        size_t n;
        ts_discovery_manager_failures(src->discovery, c.pool, &f, &n);
        ts_web_scrape_write_discovery_errors(f, n, j);
        ts_discovery_failures_free(f, n);
    }
    ts_jsonw_obj_end(j);
}

int
ts_web_scrape_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_web_scrape_write_targets(ctx, ts_web_req_param(req, "state"),
                                ts_web_req_param(req, "scrapePool"), j);
    ts_web_api_success_end(resp, j, NULL, 0);
    return TS_OK;
}

/* -------------------------------------------------- /api/v1/targets/metadata */

typedef struct tmd_ctx {
    ts_jsonw *j;
    ts_matcher *const *ms;
    size_t nms;
    const char *metric; /* or NULL */
    long limit;
    long n; /* entries written */
} tmd_ctx;

static void
target_md_json(void *ctx, const ts_scrape_target_info *t, const ts_scrape_metadata *md, size_t n)
{
    tmd_ctx *c = ctx;
    if (c->limit >= 0 && c->n >= c->limit)
        return;
    for (size_t i = 0; i < c->nms; i++) {
        const char *v = t->labels ? ts_labels_get(t->labels, c->ms[i]->name) : NULL;
        if (!ts_matcher_matches(c->ms[i], v ? v : ""))
            return;
    }
    ts_jsonw *j = c->j;
    for (size_t i = 0; i < n; i++) {
        if (c->metric && strcmp(c->metric, md[i].metric) != 0)
            continue;
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "target");
        write_labels(j, t->labels);
        if (!c->metric) { /* Prometheus: omitempty, and empty when a metric was asked for */
            ts_jsonw_key(j, "metric");
            ts_jsonw_str(j, md[i].metric);
        }
        ts_jsonw_key(j, "type");
        ts_jsonw_str(j, md[i].type);
        ts_jsonw_key(j, "help");
        ts_jsonw_str(j, md[i].help ? md[i].help : "");
        ts_jsonw_key(j, "unit");
        ts_jsonw_str(j, md[i].unit ? md[i].unit : "");
        ts_jsonw_obj_end(j);
        c->n++;
    }
}

void
ts_web_scrape_write_targets_metadata(ts_scrape_manager *m, ts_matcher *const *ms, size_t nms,
                                     const char *metric, long limit, ts_jsonw *j)
{
    tmd_ctx c = {.j = j,
                 .ms = ms,
                 .nms = nms,
                 .metric = metric && metric[0] ? metric : NULL,
                 .limit = limit};
    ts_jsonw_arr_begin(j);
    if (m)
        ts_scrape_manager_metadata(m, target_md_json, &c);
    ts_jsonw_arr_end(j);
}

int
ts_web_scrape_handle_targets_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    long limit;
    if (!ts_web_param_limit(ts_web_req_param(req, "limit"), &limit)) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
        return TS_OK;
    }
    ts_matcher **ms;
    size_t nms;
    char msg[TS_ERROR_MSG_MAX + 64];
    if (ts_web_param_match_target(ts_web_req_param(req, "match_target"), &ms, &nms, msg,
                                  sizeof(msg)) != TS_OK) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, msg);
        return TS_OK;
    }
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_web_scrape_write_targets_metadata(ctx, ms, nms, ts_web_req_param(req, "metric"), limit, j);
    ts_promql_matchers_free(ms, nms);
    return ts_web_api_success_end(resp, j, NULL, 0);
}

/* ---------------------------------------------------------- /api/v1/metadata */

typedef struct md_entry {
    const char *metric, *type, *help, *unit;
    size_t seq; /* discovery order, the tiebreak of md_cmp */
} md_entry;

typedef struct md_ctx {
    ts_arena *a;
    md_entry *e;
    size_t n, cap;
    const char *only;
} md_ctx;

static void
collect_md(void *ctx, const ts_scrape_target_info *t, const ts_scrape_metadata *md, size_t n)
{
    md_ctx *c = ctx;
    for (size_t i = 0; i < n; i++) {
        if (c->only && strcmp(c->only, md[i].metric) != 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < c->n && !dup; k++)
            dup = strcmp(c->e[k].metric, md[i].metric) == 0 &&
                  strcmp(c->e[k].type, md[i].type) == 0 && strcmp(c->e[k].help, md[i].help) == 0 &&
                  strcmp(c->e[k].unit, md[i].unit) == 0;
        if (dup)
            continue;
        if (c->n == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 64;
            md_entry *g = ts_arena_alloc(c->a, ncap * sizeof(*g));
            if (c->n)
                memcpy(g, c->e, c->n * sizeof(*g));
            c->e = g;
            c->cap = ncap;
        }
        c->e[c->n] =
            (md_entry){ts_arena_strdup(c->a, md[i].metric), ts_arena_strdup(c->a, md[i].type),
                       ts_arena_strdup(c->a, md[i].help ? md[i].help : ""),
                       ts_arena_strdup(c->a, md[i].unit ? md[i].unit : ""), c->n};
        c->n++;
    }
}

static int
md_cmp(const void *a, const void *b)
{
    /* by name; entries of one name keep their discovery order (qsort is not stable, and moves
     * the entries, so the order is their sequence number, not their address) */
    const md_entry *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

void
ts_web_scrape_write_metadata(ts_scrape_manager *m, ts_arena *a, const char *only, long limit,
                             ts_jsonw *j)
{
    md_ctx c = {.a = a, .only = only && only[0] ? only : NULL};
    if (m)
        ts_scrape_manager_metadata(m, collect_md, &c);
    if (c.n)
        qsort(c.e, c.n, sizeof(*c.e), md_cmp);
    ts_jsonw_obj_begin(j);
    long metrics = 0;
    for (size_t i = 0; i < c.n;) {
        if (limit >= 0 && metrics >= limit)
            break;
        ts_jsonw_key(j, c.e[i].metric);
        ts_jsonw_arr_begin(j);
        size_t k = i;
        for (; k < c.n && strcmp(c.e[k].metric, c.e[i].metric) == 0; k++) {
            ts_jsonw_obj_begin(j);
            ts_jsonw_key(j, "type");
            ts_jsonw_str(j, c.e[k].type);
            ts_jsonw_key(j, "help");
            ts_jsonw_str(j, c.e[k].help);
            ts_jsonw_key(j, "unit");
            ts_jsonw_str(j, c.e[k].unit);
            ts_jsonw_obj_end(j);
        }
        ts_jsonw_arr_end(j);
        metrics++;
        i = k;
    }
    ts_jsonw_obj_end(j);
}

int
ts_web_scrape_handle_metadata(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    long limit;
    if (!ts_web_param_limit(ts_web_req_param(req, "limit"), &limit)) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
        return TS_OK;
    }
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_web_scrape_write_metadata(ctx, ts_web_req_arena(req), ts_web_req_param(req, "metric"), limit,
                                 j);
    return ts_web_api_success_end(resp, j, NULL, 0);
}
