/*
 * /api/v1/targets and /api/v1/metadata over a scrape manager (Prometheus
 * 2.42's JSON; web imports scrape, as Prometheus' web/api/v1 does).
 *
 * targets: activeTargets then droppedTargets, each in the manager's order
 * (job by job in configuration order); `state=active|dropped|any` picks the
 * lists.  A dropped target may carry "dropReason" (not in Prometheus'
 * answer: why this shard does not scrape it, e.g. another shard owns it).
 *
 * metadata: metric metadata from the targets' last scrapes, as Prometheus
 * collects it: per metric name the distinct (type, help, unit) entries,
 * names in sorted order (Go's JSON map order); `metric` filters, `limit`
 * caps the number of metrics.
 */
#include "pkg/web/scrape_api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/util/time.h"
#include "pkg/util/gotime.h"
#include "pkg/web/api.h"

/* ----------------------------------------------------------- /api/v1/targets */

typedef struct targets_ctx {
    ts_jsonw *j;
    bool dropped; /* which list is being written */
    bool any;
    const char *state;
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
    if (t->dropped != c->dropped)
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

int
ts_web_scrape_handle_targets(ts_web_req *req, ts_web_resp *resp, void *ctx)
{
    ts_scrape_manager *m = ctx;
    const char *state = ts_web_req_param(req, "state");
    if (!state || !state[0])
        state = "any";
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    targets_ctx c = {.j = j, .state = state};
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "activeTargets");
    ts_jsonw_arr_begin(j);
    if (strcasecmp(state, "dropped") != 0 && m)
        ts_scrape_manager_targets(m, target_json, &c);
    ts_jsonw_arr_end(j);
    ts_jsonw_key(j, "droppedTargets");
    ts_jsonw_arr_begin(j);
    c.dropped = true;
    if (strcasecmp(state, "active") != 0 && m)
        ts_scrape_manager_targets(m, target_json, &c);
    ts_jsonw_arr_end(j);
    ts_jsonw_obj_end(j);
    ts_web_api_success_end(resp, j, NULL, 0);
    return TS_OK;
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

bool
ts_web_scrape_parse_limit(const char *limit_s, long *limit)
{
    *limit = -1;
    if (!limit_s || !limit_s[0])
        return true;
    char *end;
    *limit = strtol(limit_s, &end, 10);
    return *end == 0;
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
    if (!ts_web_scrape_parse_limit(ts_web_req_param(req, "limit"), &limit)) {
        ts_web_api_respond_error(resp, TS_WEB_API_ERR_BAD_DATA, "limit must be a number");
        return TS_OK;
    }
    ts_jsonw jw, *j = &jw;
    ts_web_api_success_begin(resp, j);
    ts_web_scrape_write_metadata(ctx, ts_web_req_arena(req), ts_web_req_param(req, "metric"), limit,
                                 j);
    return ts_web_api_success_end(resp, j, NULL, 0);
}
