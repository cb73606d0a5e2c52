/*
 * The rule manager against a real TSDB (ts_db in a temp dir) and the real
 * engine: groups are evaluated at fixed timestamps with
 * ts_rules_manager_eval_all, and the recorded samples, stale markers, ALERTS
 * series and alert states are read back from the database.  Also: templates
 * (expansion, load-time errors) and Go float formatting.
 */
#include "pkg/rules/manager.h"
#include "pkg/rules/rulefmt.h"
#include "pkg/rules/template.h"
#include "pkg/tsdb/db.h"
#include "pkg/util/buf.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct env {
    ts_queryable qb; /* the DB, with warnings when inject_warning is set */
    ts_db *db;
    ts_promql_engine *eng;
    ts_rules_manager *m;
    char dir[512];
} env;

static ts_appender *
app_fn(void *ctx)
{
    return ts_db_appender(ctx);
}

static int64_t fake_now_ns; /* 0: the real clock */

/* ---- a queryable over the DB that can report a warning with every select, as the fan-out
 * does when a shard had no answering replica; and the manager options tests may set */
static bool inject_warning, opt_partial_policy;

typedef struct warn_set {
    ts_series_set base;
    ts_series_set *in;
} warn_set;

static bool
warn_set_next(ts_series_set *ss)
{
    warn_set *w = (warn_set *)ss;
    bool more = ts_ss_next(w->in);
    if (!more)
        w->base.error = w->in->error;
    return more;
}

static ts_series *
warn_set_at(ts_series_set *ss)
{
    return ts_ss_at(((warn_set *)ss)->in);
}

static void
warn_set_free(ts_series_set *ss)
{
    warn_set *w = (warn_set *)ss;
    ts_ss_free(w->in);
    ts_ss_free_warnings(ss);
    ts_free(w);
}

static const ts_series_set_ops warn_set_ops = {warn_set_next, warn_set_at, warn_set_free};

typedef struct warn_querier {
    ts_querier base;
    ts_querier *in;
} warn_querier;

static int
wq_select(ts_querier *q, bool sorted, const ts_select_hints *h, ts_matcher *const *ms, size_t nms,
          ts_series_set **out, ts_error *err)
{
    ts_series_set *in;
    int rc =
        ((warn_querier *)q)->in->ops->select(((warn_querier *)q)->in, sorted, h, ms, nms, &in, err);
    if (rc)
        return rc;
    warn_set *w = ts_calloc(1, sizeof(*w));
    w->base.ops = &warn_set_ops;
    w->in = in;
    if (inject_warning)
        ts_ss_add_warning(&w->base, "shard 1/2: no replica answered");
    *out = &w->base;
    return TS_OK;
}

static int
wq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    ts_querier *in = ((warn_querier *)q)->in;
    return in->ops->label_values(in, name, ms, nms, a, out, n, err);
}

static int
wq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    ts_querier *in = ((warn_querier *)q)->in;
    return in->ops->label_names(in, ms, nms, a, out, n, err);
}

static void
wq_close(ts_querier *q)
{
    ts_querier_close(((warn_querier *)q)->in);
    ts_free(q);
}

static const ts_querier_ops warn_querier_ops = {wq_select, wq_label_values, wq_label_names,
                                                wq_close};

static int
warn_qb_querier(ts_queryable *self, int64_t mint, int64_t maxt, ts_querier **out)
{
    ts_querier *in;
    int rc = ts_queryable_querier(ts_db_queryable(self->impl), mint, maxt, &in);
    if (rc)
        return rc;
    warn_querier *w = ts_calloc(1, sizeof(*w));
    w->base.ops = &warn_querier_ops;
    w->base.mint = mint;
    w->base.maxt = maxt;
    w->in = in;
    *out = &w->base;
    return TS_OK;
}

/* What the notify callback saw last (and how often it was called). */
static struct {
    int calls;
    size_t n;
    int64_t starts_at_ns, ends_at_ns;
    char url[200];
} sent;

static void
notify_fn(void *ctx, const ts_rules_alert *a, size_t n)
{
    sent.calls++;
    sent.n = n;
    sent.starts_at_ns = a[0].starts_at_ns;
    sent.ends_at_ns = a[0].ends_at_ns;
    snprintf(sent.url, sizeof(sent.url), "%s", a[0].generator_url);
}

static int64_t
fake_now(void)
{
    return fake_now_ns;
}

static int
env_open(env *e, const char *rules_yaml)
{
    snprintf(e->dir, sizeof(e->dir), "%s", t_tmpdir());
    char p[600];
    snprintf(p, sizeof(p), "%s/db", e->dir);
    ts_error err;
    ts_error_clear(&err);
    if (ts_db_open(p, NULL, &e->db, &err))
        return -1;
    if (ts_promql_engine_new(&e->eng, NULL))
        return -1;
    e->qb = (ts_queryable){.querier = warn_qb_querier, .impl = e->db};
    ts_rules_manager_opts o = {.engine = e->eng,
                               .queryable = &e->qb,
                               .state_queryable = ts_db_queryable(e->db),
                               .partial_policy = opt_partial_policy,
                               .appender = app_fn,
                               .appender_ctx = e->db,
                               .external_url = "http://x:9090",
                               .now_ns = fake_now_ns ? fake_now : NULL,
                               .notify = notify_fn};
    ts_rules_manager_new(&o, &e->m);
    snprintf(p, sizeof(p), "%s/r.yml", e->dir);
    if (ts_fs_write_file_atomic(p, rules_yaml, strlen(rules_yaml)))
        return -1;
    char *paths[] = {p};
    ts_labels *ext = ts_labels_from_strings(2, "env", "prod");
    int rc = ts_rules_manager_update(e->m, paths, 1, 60000, ext, &err);
    ts_labels_free(ext);
    if (rc)
        fprintf(stderr, "update: %s\n", err.msg);
    return rc;
}

static void
env_close(env *e)
{
    ts_rules_manager_free(e->m);
    ts_promql_engine_free(e->eng);
    ts_db_close(e->db);
}

static void
put(env *e, const char *a, int64_t t, double v)
{
    ts_appender *app = ts_db_appender(e->db);
    ts_labels *ls = ts_labels_from_strings(4, "__name__", "m", "a", a);
    app->ops->append(app, 0, ls, t, v, NULL);
    app->ops->commit(app);
    ts_labels_free(ls);
}

/* The raw sample of the series selected by expr (one series) at t:
 * returns 1 and *v when present. */
static int
raw_at(env *e, const char *name, const char *lname, const char *lval, int64_t t, double *v)
{
    ts_querier *q;
    if (ts_queryable_querier(ts_db_queryable(e->db), INT64_MIN, INT64_MAX, &q))
        return -1;
    ts_matcher *ms[2];
    size_t nm = 1;
    ts_matcher_new(&ms[0], TS_MATCH_EQ, "__name__", name, NULL);
    if (lname)
        ts_matcher_new(&ms[nm++], TS_MATCH_EQ, lname, lval, NULL);
    ts_series_set *ss = NULL;
    int found = 0;
    if (q->ops->select(q, true, NULL, ms, nm, &ss, NULL) == TS_OK) {
        while (ts_ss_next(ss)) {
            ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
            while (ts_it_next(it) != TS_VAL_NONE) {
                int64_t st;
                double sv;
                ts_it_at(it, &st, &sv);
                if (st == t) {
                    *v = sv;
                    found = 1;
                }
            }
            ts_it_free(it);
        }
        ts_ss_free(ss);
    }
    for (size_t i = 0; i < nm; i++)
        ts_matcher_free(ms[i]);
    ts_querier_close(q);
    return found;
}

static char *
json_of(env *e, bool alerts)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &b);
    if (alerts)
        ts_rules_manager_alerts_json(e->m, &j);
    else
        ts_rules_manager_rules_json(e->m, &j, NULL);
    char *s = ts_malloc(b.len + 1);
    memcpy(s, b.p, b.len);
    s[b.len] = '\0';
    ts_buf_fini(&b);
    return s;
}

static void
test_recording(void)
{
    env e;
    T_OK(env_open(&e, "groups:\n"
                      "- name: g\n"
                      "  rules:\n"
                      "  - record: r:sum\n"
                      "    expr: sum(m)\n"
                      "    labels: {team: a}\n"
                      "  - record: r:twice\n" /* sees the first rule's output */
                      "    expr: r:sum * 2\n"
                      "  - record: r:big\n"
                      "    expr: m > 5\n"
                      "  - record: r:scalar\n"
                      "    expr: '42'\n"));
    put(&e, "1", 50000, 3);
    put(&e, "2", 50000, 7);
    ts_rules_manager_eval_all(e.m, 60000);
    double v;
    T_EQ(raw_at(&e, "r:sum", "team", "a", 60000, &v), 1);
    T_FEQ(v, 10);
    T_EQ(raw_at(&e, "r:twice", NULL, NULL, 60000, &v), 1);
    T_FEQ(v, 20);
    T_EQ(raw_at(&e, "r:big", "a", "2", 60000, &v), 1);
    T_FEQ(v, 7);
    T_EQ(raw_at(&e, "r:big", "a", "1", 60000, &v), 0);
    T_EQ(raw_at(&e, "r:scalar", NULL, NULL, 60000, &v), 1);
    T_FEQ(v, 42);
    /* a=2 drops below 5: r:big{a="2"} gets a stale marker at the next evaluation */
    put(&e, "1", 110000, 9);
    put(&e, "2", 110000, 1);
    ts_rules_manager_eval_all(e.m, 120000);
    T_EQ(raw_at(&e, "r:big", "a", "2", 120000, &v), 1);
    T_TRUE(ts_is_stale_nan(v));
    T_EQ(raw_at(&e, "r:big", "a", "1", 120000, &v), 1);
    T_FEQ(v, 9);
    T_EQ(raw_at(&e, "r:sum", "team", "a", 120000, &v), 1);
    T_FEQ(v, 10);
    char *js = json_of(&e, false);
    T_TRUE(strstr(js, "\"name\":\"r:sum\",\"query\":\"sum(m)\",\"labels\":{\"team\":\"a\"},"
                      "\"health\":\"ok\"") != NULL);
    T_TRUE(strstr(js, "\"interval\":60,\"limit\":0") != NULL);
    ts_free(js);

    /* a reload that drops r:big from group g: r:big ends (stale) at g's next evaluation,
     * r:sum goes on */
    char p[600];
    snprintf(p, sizeof(p), "%s/r.yml", e.dir);
    const char *y1 = "groups:\n- name: g\n  rules:\n  - record: r:sum\n    expr: sum(m)\n"
                     "    labels: {team: a}\n";
    T_OK(ts_fs_write_file_atomic(p, y1, strlen(y1)));
    char *paths[] = {p};
    ts_error err;
    T_OK(ts_rules_manager_update(e.m, paths, 1, 60000, NULL, &err));
    ts_rules_manager_eval_all(e.m, 180000);
    T_EQ(raw_at(&e, "r:big", "a", "1", 180000, &v), 1);
    T_TRUE(ts_is_stale_nan(v));
    T_EQ(raw_at(&e, "r:sum", "team", "a", 180000, &v), 1);
    T_FEQ(v, 10);

    /* a reload that removes group g: its series get stale markers at the reload's wall time */
    const char *y2 = "groups:\n- name: g2\n  rules:\n  - record: r:other\n    expr: sum(m)\n";
    T_OK(ts_fs_write_file_atomic(p, y2, strlen(y2)));
    T_OK(ts_rules_manager_update(e.m, paths, 1, 60000, NULL, &err));
    ts_querier *q;
    T_OK(ts_queryable_querier(ts_db_queryable(e.db), INT64_MIN, INT64_MAX, &q));
    ts_matcher *mt;
    ts_matcher_new(&mt, TS_MATCH_EQ, "__name__", "r:sum", NULL);
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &mt, 1, &ss, NULL));
    T_TRUE(ts_ss_next(ss));
    ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
    int64_t lt = 0;
    double lv = 0;
    while (ts_it_next(it) != TS_VAL_NONE)
        ts_it_at(it, &lt, &lv);
    ts_it_free(it);
    ts_ss_free(ss);
    ts_matcher_free(mt);
    ts_querier_close(q);
    T_TRUE(ts_is_stale_nan(lv));
    T_TRUE(lt > 180000);
    env_close(&e);
}

static void
test_recording_errors(void)
{
    env e;
    T_OK(env_open(&e, "groups:\n"
                      "- name: g\n"
                      "  limit: 1\n"
                      "  rules:\n"
                      "  - record: r:dup\n"
                      "    expr: m\n"
                      "    labels: {a: same}\n"
                      "  - record: r:str\n"
                      "    expr: '\"text\"'\n"));
    put(&e, "1", 50000, 3);
    put(&e, "2", 50000, 7);
    ts_rules_manager_eval_all(e.m, 60000);
    char *js = json_of(&e, false);
    T_TRUE(strstr(js, "\"health\":\"err\",\"lastError\":\"vector contains metrics with the same "
                      "labelset after applying rule labels\"") != NULL);
    T_TRUE(strstr(js, "\"lastError\":\"rule result is not a vector or scalar\"") != NULL);
    ts_free(js);
    double v;
    T_EQ(raw_at(&e, "r:dup", NULL, NULL, 60000, &v), 0);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_metrics_writer w = {.out = &b};
    ts_rules_manager_collect(e.m, &w);
    char *txt = ts_malloc(b.len + 1);
    memcpy(txt, b.p, b.len);
    txt[b.len] = '\0';
    char want[700];
    snprintf(want, sizeof(want),
             "prometheus_rule_evaluation_failures_total{rule_group=\"%s/r.yml;g\"} 2", e.dir);
    T_TRUE(strstr(txt, want) != NULL);
    static const char *const more[] = {
        "prometheus_rule_group_rules{rule_group=\"%s/r.yml;g\"} 2\n",
        "prometheus_rule_group_last_evaluation_samples{rule_group=\"%s/"
        "r.yml;g\"} 2\n",
        "prometheus_rule_group_last_evaluation_timestamp_seconds{rule_"
        "group=\"%s/r.yml;g\"} 60\n",
        "prometheus_rule_group_iterations_total{rule_group=\"%s/r.yml;"
        "g\"} 1\n",
        "prometheus_rule_group_interval_seconds{rule_group=\"%s/r.yml;"
        "g\"} 60\n"};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(want, sizeof(want), more[i], e.dir);
#pragma GCC diagnostic pop
        if (!strstr(txt, want))
            fprintf(stderr, "missing %s in\n%s", want, txt);
        T_TRUE(strstr(txt, want) != NULL);
    }
    ts_free(txt);
    ts_buf_fini(&b);
    env_close(&e);
}

/* Has ALERTS{alertname="High", a=A, alertstate=STATE} = 1 at t? */
static int
alerts_at(env *e, const char *a, const char *state, int64_t t)
{
    ts_querier *q;
    if (ts_queryable_querier(ts_db_queryable(e->db), INT64_MIN, INT64_MAX, &q))
        return -1;
    ts_matcher *ms[3];
    ts_matcher_new(&ms[0], TS_MATCH_EQ, "__name__", "ALERTS", NULL);
    ts_matcher_new(&ms[1], TS_MATCH_EQ, "a", a, NULL);
    ts_matcher_new(&ms[2], TS_MATCH_EQ, "alertstate", state, NULL);
    ts_series_set *ss = NULL;
    int found = 0;
    if (q->ops->select(q, true, NULL, ms, 3, &ss, NULL) == TS_OK) {
        while (ts_ss_next(ss)) {
            const ts_labels *ls = ts_ss_at(ss)->labels;
            if (strcmp(ts_labels_get(ls, "alertname"), "High") != 0 ||
                strcmp(ts_labels_get(ls, "sev"), a) != 0)
                found = -2;
            ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
            while (ts_it_next(it) != TS_VAL_NONE) {
                int64_t st;
                double sv;
                ts_it_at(it, &st, &sv);
                if (st == t && found == 0)
                    found = sv == 1 ? 1 : ts_is_stale_nan(sv) ? 2 : -3;
            }
            ts_it_free(it);
        }
        ts_ss_free(ss);
    }
    for (size_t i = 0; i < 3; i++)
        ts_matcher_free(ms[i]);
    ts_querier_close(q);
    return found;
}

static void
test_alerting(void)
{
    env e;
    T_OK(env_open(&e, "groups:\n"
                      "- name: g\n"
                      "  interval: 30s\n"
                      "  rules:\n"
                      "  - alert: High\n"
                      "    expr: m > 5\n"
                      "    for: 1m\n"
                      "    labels: {sev: '{{ $labels.a }}'}\n"
                      "    annotations: {s: 'v={{ $value }} {{ .Labels.a }} "
                      "{{ $externalLabels.env }} {{ humanize $value }}'}\n"));
    put(&e, "1", 50000, 3);
    put(&e, "2", 50000, 7000);
    /* first evaluation after the first load: pending, but no ALERTS yet (Prometheus writes
     * them only after the second evaluation, once it restored `for` state) */
    ts_rules_manager_eval_all(e.m, 60000);
    char *js = json_of(&e, true);
    T_STREQ(js, "{\"alerts\":[{\"labels\":{\"a\":\"2\",\"alertname\":\"High\",\"sev\":\"2\"},"
                "\"annotations\":{\"s\":\"v=7000 2 prod 7k\"},\"state\":\"pending\","
                "\"activeAt\":\"1970-01-01T00:01:00Z\",\"value\":\"7e+03\"}]}");
    ts_free(js);
    T_EQ(alerts_at(&e, "2", "pending", 60000), 0);
    put(&e, "2", 65000, 8000);
    ts_rules_manager_eval_all(e.m, 70000);
    T_EQ(alerts_at(&e, "2", "pending", 70000), 0);
    ts_rules_manager_eval_all(e.m, 80000);
    T_EQ(alerts_at(&e, "2", "pending", 80000), 1);
    double v;
    T_EQ(raw_at(&e, "ALERTS_FOR_STATE", "a", "2", 80000, &v), 1);
    T_FEQ(v, 60);
    /* after `for` (1m since activeAt 60s): firing */
    put(&e, "2", 110000, 9000);
    ts_rules_manager_eval_all(e.m, 120000);
    T_EQ(alerts_at(&e, "2", "firing", 120000), 1);
    T_EQ(alerts_at(&e, "2", "pending", 120000), 2); /* the pending series went stale */
    js = json_of(&e, false);
    T_TRUE(
        strstr(js,
               "{\"state\":\"firing\",\"name\":\"High\",\"query\":\"m \\u003e 5\",\"duration\":60,"
               "\"keepFiringFor\":0,\"labels\":{\"sev\":\"{{ $labels.a }}\"}") != NULL);
    ts_free(js);
    /* the condition ends: resolved (inactive, not listed), ALERTS firing goes stale */
    put(&e, "2", 140000, 1);
    ts_rules_manager_eval_all(e.m, 150000);
    T_EQ(alerts_at(&e, "2", "firing", 150000), 2);
    js = json_of(&e, true);
    T_STREQ(js, "{\"alerts\":[]}");
    ts_free(js);
    js = json_of(&e, false);
    T_TRUE(strstr(js, "\"state\":\"inactive\"") != NULL);
    ts_free(js);
    env_close(&e);
}

/* After a restart, a pending alert of a rule with for >= 10m takes its activeAt back from
 * ALERTS_FOR_STATE, shifted by the downtime (Prometheus' RestoreForState). */
static void
test_restore_for_state(void)
{
    fake_now_ns = 1010LL * 1000000000;
    env e;
    T_OK(env_open(&e, "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: m > 5\n"
                      "    for: 15m\n"));
    /* the previous run: active since 40 s, last written at 100 s (then it went down) */
    ts_appender *app = ts_db_appender(e.db);
    ts_labels *fs =
        ts_labels_from_strings(6, "__name__", "ALERTS_FOR_STATE", "a", "2", "alertname", "Long");
    app->ops->append(app, 0, fs, 90000, 40, NULL);
    app->ops->append(app, 0, fs, 100000, 40, NULL);
    app->ops->commit(app);
    ts_labels_free(fs);
    put(&e, "2", 995000, 7);
    ts_rules_manager_eval_all(e.m, 1000000);
    ts_rules_manager_eval_all(e.m, 1005000); /* then the restore, at "now" = 1010 s */
    char *js = json_of(&e, true);
    /* 40 s + (1010 s - 100 s) down = 950 s = 00:15:50 */
    T_TRUE(strstr(js, "\"state\":\"pending\",\"activeAt\":\"1970-01-01T00:15:50Z\"") != NULL);
    ts_free(js);
    put(&e, "2", 1840000, 7);
    ts_rules_manager_eval_all(e.m, 1845000);
    js = json_of(&e, true);
    T_TRUE(strstr(js, "\"state\":\"pending\"") != NULL);
    ts_free(js);
    ts_rules_manager_eval_all(e.m, 1850000); /* 950 s + 15 m */
    js = json_of(&e, true);
    T_TRUE(strstr(js, "\"state\":\"firing\"") != NULL);
    ts_free(js);
    double v;
    T_EQ(raw_at(&e, "ALERTS_FOR_STATE", "a", "2", 1850000, &v), 1);
    T_FEQ(v, 950);
    fake_now_ns = 0;
    env_close(&e);
}

/* keep_firing_for holds a firing alert after its condition ends; notifications go out when
 * an alert fires, again after the 1m resend delay, and when it resolves. */
static void
test_keep_firing_and_notify(void)
{
    env e;
    T_OK(env_open(&e, "groups:\n- name: g\n  rules:\n  - alert: K\n    expr: m > 5\n"
                      "    keep_firing_for: 1m\n"));
    memset(&sent, 0, sizeof(sent));
    put(&e, "2", 55000, 7);
    ts_rules_manager_eval_all(e.m, 60000);
    T_EQ(sent.calls, 1);
    T_EQ(sent.n, 1);
    T_EQ(sent.starts_at_ns, 60000LL * 1000000);
    T_EQ(sent.ends_at_ns, 300000LL * 1000000); /* valid for 4 x max(1m resend, 1m interval) */
    T_STREQ(sent.url, "http://x:9090/graph?g0.expr=m+%3E+5&g0.tab=1");
    put(&e, "2", 65000, 7);
    ts_rules_manager_eval_all(e.m, 70000);
    T_EQ(sent.calls, 1); /* not yet resent */
    put(&e, "2", 80000, 1);
    ts_rules_manager_eval_all(e.m, 90000); /* condition gone: kept firing */
    char *js = json_of(&e, true);
    T_TRUE(strstr(js, "\"state\":\"firing\"") != NULL);
    ts_free(js);
    ts_rules_manager_eval_all(e.m, 125000); /* 65 s after the last send: resent */
    T_EQ(sent.calls, 2);
    T_EQ(sent.ends_at_ns, 365000LL * 1000000);
    ts_rules_manager_eval_all(e.m, 150000); /* 60 s after it started to keep firing */
    T_EQ(sent.calls, 3);                    /* resolved: sent at once */
    T_EQ(sent.ends_at_ns, 150000LL * 1000000);
    js = json_of(&e, true);
    T_STREQ(js, "{\"alerts\":[]}");
    ts_free(js);
    ts_rules_manager_eval_all(e.m, 160000);
    T_EQ(sent.calls, 3);
    ts_rules_manager_eval_all(e.m, 215000); /* resolved alerts are resent too */
    T_EQ(sent.calls, 4);
    T_EQ(sent.ends_at_ns, 150000LL * 1000000);
    ts_rules_manager_eval_all(e.m, 150000 + 16 * 60000); /* > 15 min after: forgotten */
    T_EQ(sent.calls, 4);
    env_close(&e);
}

static void
test_templates(void)
{
    ts_labels *ls = ts_labels_from_strings(4, "instance", "h:1", "job", "j");
    ts_labels *ext = ts_labels_from_strings(2, "dc", "eu");
    ts_rule_tmpl_data d = {
        .labels = ls, .external_labels = ext, .external_url = "http://p", .value = 1234567};
    ts_arena a;
    ts_arena_init(&a, 0);
    T_STREQ(ts_rule_template_expand(&a, "t",
                                    "{{$labels.instance}} {{ .Labels.job }}|{{ $value }}|"
                                    "{{ $value | humanize }}|{{ $externalLabels.dc }}|"
                                    "{{ $externalURL }}|{{ $labels.nope }}",
                                    &d),
            "h:1 j|1.234567e+06|1.235M|eu|http://p|");
    T_STREQ(ts_rule_template_expand(&a, "t", "a  {{- /* c */ -}}  b {{- $value }}", &d),
            "ab1.234567e+06");
    T_STREQ(ts_rule_template_expand(&a, "t",
                                    "{{ printf \"%.2f\" $value }}|{{ $value | printf \"%.1e\" }}|"
                                    "{{ printf \"%s: %v\" $labels.instance $value }}|"
                                    "{{ toUpper $labels.job }}|{{ $labels.job | toUpper }}",
                                    &d),
            "1234567.00|1.2e+06|h:1: 1.234567e+06|J|J");
    static const struct {
        double v;
        const char *fn, *want;
    } hs[] = {
        {0.1234, "humanizePercentage", "12.34%"},
        {3725, "humanizeDuration", "1h 2m 5s"},
        {90061, "humanizeDuration", "1d 1h 1m 1s"},
        {0.5, "humanizeDuration", "500ms"},
        {12.3456, "humanizeDuration", "12.35s"},
        {2048, "humanize1024", "2ki"},
        {0.001, "humanize", "1m"},
        {1e9, "humanize", "1G"},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        char tx[100];
        snprintf(tx, sizeof(tx), "{{ %s $value }}", hs[i].fn);
        d.value = hs[i].v;
        T_STREQ(ts_rule_template_expand(&a, "t", tx, &d), hs[i].want);
    }
    ts_error err;
    T_EQ(ts_rule_template_check("t", "{{ query \"up\" }}", &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "template: t:1: {{ query \"up\" }}: unsupported function") != NULL);
    T_EQ(ts_rule_template_check("t", "{{ printf \"%d\" $value }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ printf \"%f\" $labels.a }}", &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "verb does not match") != NULL);
    T_EQ(ts_rule_template_check("t", "{{ printf \"%f %f\" $value }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ $value | $labels.a }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ toUpper $value }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ $value | }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ if $value }}x{{ end }}", &err), TS_EINVAL);
    T_EQ(ts_rule_template_check("t", "{{ $labels.a ", &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "unclosed action") != NULL);
    T_EQ(ts_rule_template_check("t", "{{ humanize $labels.a }}", &err), TS_EINVAL);
    ts_arena_fini(&a);
    ts_labels_free(ls);
    ts_labels_free(ext);

    /* an unsupported template fails the rule file at load, with its place */
    static const char Y[] = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"
                            "    annotations:\n      s: '{{ query \"up\" }}'\n";
    ts_rule_file *f;
    T_EQ(ts_rule_file_parse(Y, strlen(Y), NULL, &f, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "annotation \"s\": template: __alert_A:1:") != NULL);
    /* recording rules' labels are not templates */
    static const char Y2[] = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n"
                             "    labels: {x: '{{ weird }}'}\n";
    T_OK(ts_rule_file_parse(Y2, strlen(Y2), NULL, &f, &err));
    ts_rule_file_free(f);
}

static void
test_format(void)
{
    char b[64];
    static const struct {
        double v;
        char f;
        const char *want;
    } cases[] = {
        {1, 'g', "1"},       {0.5, 'g', "0.5"},        {123456, 'g', "123456"},
        {1e6, 'g', "1e+06"}, {1e-5, 'g', "1e-05"},     {0.0001, 'g', "0.0001"},
        {1, 'e', "1e+00"},   {7000, 'e', "7e+03"},     {0.125, 'e', "1.25e-01"},
        {NAN, 'g', "NaN"},   {-INFINITY, 'e', "-Inf"}, {0, 'g', "0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_format_float_go(cases[i].v, cases[i].f, b, sizeof(b));
        T_STREQ(b, cases[i].want);
    }
    ts_rule_humanize(0.0012, b, sizeof(b));
    T_STREQ(b, "1.2m");
    ts_rule_humanize(0, b, sizeof(b));
    T_STREQ(b, "0");
}

static void
test_schedule(void)
{
    /* instants are interval apart and fall at the same offset in each interval */
    int64_t iv = 15000;
    int64_t now = 1700000000123456789LL;
    int64_t t1 = ts_rules_eval_timestamp("rules.yml", "g1", iv, now);
    T_TRUE(t1 <= now && now - t1 < iv * 1000000);
    int64_t t2 = ts_rules_eval_timestamp("rules.yml", "g1", iv, now + iv * 1000000);
    T_EQ(t2 - t1, iv * 1000000);
    int64_t t3 = ts_rules_eval_timestamp("rules.yml", "g2", iv, now);
    T_NE(t1, t3);
}

/* The global ruler's partial-data policy: while the queryable warns (a shard had no answering
 * replica), an abort group (the default) records nothing, not even stale markers, its alerts
 * neither resolve nor fire, and it counts and reports the skip; a warn group records the
 * partial value.  Without partial_policy (a shard) warnings are ignored and the key refused. */
static void
test_partial_policy(void)
{
    static const char Y[] = "groups:\n"
                            "- name: strict\n  rules:\n"
                            "  - record: r:strict\n    expr: sum(m)\n"
                            "  - alert: High\n    expr: m > 5\n"
                            "  - alert: Low\n    expr: m < 2\n"
                            "- name: lenient\n  partial_response_strategy: warn\n  rules:\n"
                            "  - record: r:warn\n    expr: sum(m)\n";
    opt_partial_policy = true;
    env e;
    T_OK(env_open(&e, Y));
    put(&e, "1", 50000, 3);
    put(&e, "2", 50000, 7);
    ts_rules_manager_eval_all(e.m, 60000);
    double v;
    T_EQ(raw_at(&e, "r:strict", NULL, NULL, 60000, &v), 1);
    T_FEQ(v, 10);
    char *js = json_of(&e, true);
    T_TRUE(strstr(js, "\"alertname\":\"High\"") && strstr(js, "\"state\":\"firing\""));
    T_TRUE(strstr(js, "\"alertname\":\"Low\"") == NULL);
    ts_free(js);

    /* a=2 drops, a=1 falls below 2: over complete data High would resolve and Low fire */
    put(&e, "1", 110000, 1);
    put(&e, "2", 110000, 1);
    inject_warning = true;
    ts_rules_manager_eval_all(e.m, 120000);
    T_EQ(raw_at(&e, "r:strict", NULL, NULL, 120000, &v), 0); /* no value, no stale marker */
    T_EQ(raw_at(&e, "r:warn", NULL, NULL, 120000, &v), 1);   /* the partial value */
    T_FEQ(v, 2);
    js = json_of(&e, true);
    T_TRUE(strstr(js, "\"alertname\":\"High\"") && strstr(js, "\"state\":\"firing\""));
    T_TRUE(strstr(js, "\"alertname\":\"Low\"") == NULL);
    ts_free(js);
    js = json_of(&e, false);
    T_TRUE(strstr(js,
                  "\"health\":\"err\",\"lastError\":\"partial data, nothing recorded "
                  "(partial_response_strategy: abort): no replica answered: shard 1/2\"") != NULL);
    T_TRUE(strstr(js, "\"limit\":0,\"partialResponseStrategy\":\"ABORT\"") != NULL);
    T_TRUE(strstr(js, "\"limit\":0,\"partialResponseStrategy\":\"WARN\"") != NULL);
    ts_free(js);
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_metrics_writer w = {.out = &b};
    ts_rules_manager_collect(e.m, &w);
    ts_buf_putc(&b, '\0');
    const char *txt = (const char *)b.p;
    char want[700];
    snprintf(want, sizeof(want),
             "tessera_rule_evaluations_partial_skipped_total{rule_group=\"%s/r.yml;strict\"} 3\n",
             e.dir); /* r:strict, High and Low */
    T_TRUE(strstr(txt, want) != NULL);
    snprintf(want, sizeof(want),
             "tessera_rule_evaluations_partial_recorded_total{rule_group=\"%s/r.yml;lenient\"} 1\n",
             e.dir);
    T_TRUE(strstr(txt, want) != NULL);
    snprintf(want, sizeof(want),
             "prometheus_rule_evaluation_failures_total{rule_group=\"%s/r.yml;strict\"} 3\n",
             e.dir);
    T_TRUE(strstr(txt, want) != NULL);
    ts_buf_fini(&b);

    /* complete again: the alerts change as the data says, r:strict is recorded */
    inject_warning = false;
    ts_rules_manager_eval_all(e.m, 180000);
    T_EQ(raw_at(&e, "r:strict", NULL, NULL, 180000, &v), 1);
    T_FEQ(v, 2);
    js = json_of(&e, true);
    T_TRUE(strstr(js, "\"alertname\":\"High\"") == NULL);
    T_TRUE(strstr(js, "\"alertname\":\"Low\"") != NULL);
    ts_free(js);
    js = json_of(&e, false);
    T_TRUE(strstr(js, "\"health\":\"err\"") == NULL);
    ts_free(js);
    env_close(&e);

    /* a shard's manager: the key is refused, and warnings do not matter */
    opt_partial_policy = false;
    T_TRUE(env_open(&e, Y) != TS_OK);
    env_close(&e);
    T_OK(env_open(&e, "groups:\n- name: g\n  rules:\n  - record: r:x\n    expr: sum(m)\n"));
    put(&e, "1", 50000, 3);
    inject_warning = true;
    ts_rules_manager_eval_all(e.m, 60000);
    inject_warning = false;
    T_EQ(raw_at(&e, "r:x", NULL, NULL, 60000, &v), 1);
    T_FEQ(v, 3);
    ts_buf_init(&b, 0);
    w = (ts_metrics_writer){.out = &b};
    ts_rules_manager_collect(e.m, &w);
    ts_buf_putc(&b, '\0');
    T_TRUE(strstr((const char *)b.p, "tessera_rule_evaluations_partial") == NULL);
    ts_buf_fini(&b);
    env_close(&e);
}

/* An alert that was firing when the ruler went down keeps its activeAt (whole seconds, as
 * ALERTS_FOR_STATE holds it) and fires again at the next evaluation (Prometheus sets it in
 * every case of RestoreForState, firing ones included). */
static void
test_restore_firing(void)
{
    fake_now_ns = 2010LL * 1000000000;
    env e;
    T_OK(env_open(&e, "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: m > 5\n"
                      "    for: 15m\n"));
    ts_appender *app = ts_db_appender(e.db);
    ts_labels *fs =
        ts_labels_from_strings(6, "__name__", "ALERTS_FOR_STATE", "a", "2", "alertname", "Long");
    app->ops->append(app, 0, fs, 1990000, 40, NULL); /* active since 40 s, firing since 940 s */
    app->ops->append(app, 0, fs, 2000000, 40, NULL); /* down at 2000 s */
    app->ops->commit(app);
    ts_labels_free(fs);
    put(&e, "2", 2001000, 7);
    ts_rules_manager_eval_all(e.m, 2002000);
    ts_rules_manager_eval_all(e.m, 2005000); /* then the restore */
    char *js = json_of(&e, true);
    T_TRUE(strstr(js, "\"activeAt\":\"1970-01-01T00:00:40Z\"") != NULL);
    ts_free(js);
    ts_rules_manager_eval_all(e.m, 2008000);
    js = json_of(&e, true);
    T_TRUE(strstr(js, "\"state\":\"firing\",\"activeAt\":\"1970-01-01T00:00:40Z\"") != NULL);
    ts_free(js);
    fake_now_ns = 0;
    env_close(&e);
}

T_MAIN({"recording", test_recording}, {"partial_policy", test_partial_policy},
       {"restore_firing", test_restore_firing}, {"recording_errors", test_recording_errors},
       {"alerting", test_alerting}, {"restore_for_state", test_restore_for_state},
       {"keep_firing_and_notify", test_keep_firing_and_notify}, {"templates", test_templates},
       {"format", test_format}, {"schedule", test_schedule})
