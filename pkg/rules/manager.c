/*
 * The rule manager (design in manager.h).
 *
 * State: a manager holds the loaded rule files (their arenas hold the rule
 * definitions) and an array of groups sorted by (file, name), the order of
 * Prometheus' /api/v1/rules.  Each rule keeps:
 *   - prev: the label sets it wrote at its last evaluation (heap, sorted), to
 *     write stale markers for the ones that disappear;
 *   - for alerting rules, its alerts (heap label sets), each PENDING, FIRING
 *     or INACTIVE (resolved, kept 15 min for the notifier);
 *   - health, last error, last evaluation time and duration for the API.
 *
 * Evaluation of a rule at t (ms; the group's instant truncated as
 * Prometheus' timestamp.FromTime does):
 *   recording: vector = query(expr, t) (a scalar becomes one sample without
 *   labels); each sample gets __name__ = record, then the rule's labels (an
 *   empty value deletes); duplicates fail the rule.
 *   alerting:  for each sample: labels = sample labels - __name__ + templated
 *   rule labels + alertname; annotations templated.  New label sets start
 *   PENDING (activeAt = t); a known active one gets the new value and
 *   annotations; PENDING turns FIRING once t - activeAt >= for.  Alerts that
 *   disappear resolve (pending ones are dropped), unless keep_firing_for
 *   holds them.  Output: ALERTS{alertstate} = 1 and ALERTS_FOR_STATE =
 *   activeAt in seconds, for each pending/firing alert.
 * The output is appended and committed, then stale markers are appended for
 * prev - output, and prev becomes output.
 */
#include "pkg/rules/manager.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "pkg/promql/parser/ast.h"
#include "pkg/rules/rulefmt.h"
#include "pkg/rules/template.h"
#include "pkg/util/buf.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/gotime.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define RESOLVED_RETENTION_NS (15LL * 60 * 1000000000)
#define NS_PER_MS 1000000LL
#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        __typeof__(a) t_ = (a);                                                                    \
        (a) = (b);                                                                                 \
        (b) = t_;                                                                                  \
    } while (0)

enum { ST_INACTIVE, ST_PENDING, ST_FIRING };
static const char *const state_names[] = {"inactive", "pending", "firing"};
enum { H_UNKNOWN, H_OK, H_BAD };
static const char *const health_names[] = {"unknown", "ok", "err"};

typedef struct alert {
    ts_labels *labels, *annotations;
    int state;
    double value;
    int64_t active_at_ns, fired_at_ns, resolved_at_ns, keep_firing_since_ns;
    int64_t last_sent_ns, valid_until_ns;
} alert;

typedef struct rule {
    const ts_rule *def; /* in a file arena */
    bool alerting;
    char *query; /* Prometheus' String() of the expression (heap) */
    ts_labels **prev;
    size_t nprev;
    alert **alerts;
    size_t nalerts;
    bool restored; /* writes ALERTS series (see manager.h) */
    int health;
    char *last_error;
    int64_t last_eval_ns;
    double eval_seconds;
} rule;

/* A group's evaluation history: the API and self-metrics report it, and a
 * reload that keeps the group carries it over whole. */
typedef struct group_state {
    int64_t last_eval_ns;
    double last_duration;
    uint64_t evals_total, failures_total;
    uint64_t iterations_total, missed_total; /* scheduled instants, and those skipped */
    uint64_t last_samples;                   /* samples the rules' queries returned */
    int64_t last_slot_ns;                    /* the instant of the last evaluation */
    int evals_done;
    bool should_restore;
    /* rule evaluations over partial data (partial_policy): skipped (abort), recorded (warn) */
    uint64_t partial_skipped_total, partial_recorded_total;
} group_state;

typedef struct group {
    char *file, *name, *key; /* key: "file;name" */
    int64_t interval_ms;
    uint64_t limit;
    ts_rule_partial partial; /* partial_response_strategy (used with partial_policy) */
    rule *rules;
    size_t nrules;
    int64_t next_eval_ns;
    uint64_t cur_samples; /* samples the rules' queries returned in this evaluation */
    group_state st;       /* kept by a reload that keeps the group */
    ts_labels **stale;    /* series of rules dropped by a reload: stale at the next evaluation */
    size_t nstale;
} group;

struct ts_rules_manager {
    ts_rules_manager_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping, loaded_once;
    ts_rule_file **files;
    size_t nfiles;
    group *groups;
    size_t ngroups;
    ts_labels *ext;
};

static int64_t
now_ns(const ts_rules_manager *m)
{
    if (m->o.now_ns)
        return m->o.now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ schedule */

int64_t
ts_rules_eval_timestamp(const char *file, const char *name, int64_t interval_ms, int64_t now)
{
    /* labels.Labels{file, name}.Hash() of Prometheus 2.42: xxhash64 over name\xffvalue\xff */
    size_t fl = strlen(file), nl = strlen(name);
    size_t n = 5 + fl + 1 + 5 + nl + 1;
    char *b = ts_malloc(n);
    size_t k = 0;
    memcpy(b + k, "file\xff", 5);
    k += 5;
    memcpy(b + k, file, fl);
    k += fl;
    b[k++] = '\xff';
    memcpy(b + k, "name\xff", 5);
    k += 5;
    memcpy(b + k, name, nl);
    k += nl;
    b[k++] = '\xff';
    uint64_t h = XXH64(b, k, 0);
    ts_free(b);
    int64_t iv = interval_ms * NS_PER_MS;
    int64_t offset = (int64_t)(h % (uint64_t)iv);
    int64_t adj = now - offset;
    int64_t base = adj - (adj % iv);
    return base + offset;
}

/* ------------------------------------------------------------ rule state */

static void
alert_free(alert *a)
{
    if (!a)
        return;
    ts_labels_free(a->labels);
    ts_labels_free(a->annotations);
    ts_free(a);
}

static void
rule_fini(rule *r)
{
    ts_free(r->query);
    for (size_t i = 0; i < r->nprev; i++)
        ts_labels_free(r->prev[i]);
    ts_free(r->prev);
    for (size_t i = 0; i < r->nalerts; i++)
        alert_free(r->alerts[i]);
    ts_free(r->alerts);
    ts_free(r->last_error);
}

static void
group_fini(group *g)
{
    for (size_t i = 0; i < g->nrules; i++)
        rule_fini(&g->rules[i]);
    ts_free(g->rules);
    for (size_t i = 0; i < g->nstale; i++)
        ts_labels_free(g->stale[i]);
    ts_free(g->stale);
    ts_free(g->file);
    ts_free(g->name);
    ts_free(g->key);
}

static void
set_error(rule *r, const char *msg)
{
    ts_free(r->last_error);
    r->last_error = msg ? ts_strdup(msg) : NULL;
    r->health = msg ? H_BAD : H_OK;
}

typedef struct pair {
    ts_labels *ls;
    double v;
} pair;

static int
pair_cmp(const void *a, const void *b)
{
    return ts_labels_cmp(((const pair *)a)->ls, ((const pair *)b)->ls);
}

/* Sorts ls[] by labels, keeping each value with its label set (O(n log n)). */
static void
sort_pairs(ts_labels **ls, double *v, size_t n)
{
    pair *p = ts_calloc(n + 1, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] = (pair){ls[i], v[i]};
    qsort(p, n, sizeof(*p), pair_cmp);
    for (size_t i = 0; i < n; i++) {
        ls[i] = p[i].ls;
        v[i] = p[i].v;
    }
    ts_free(p);
}

/* Appends the new output (sorted, heap label sets, ownership taken), stale
 * markers for prev - out, and makes out the new prev. */
static void
write_output(ts_rules_manager *m, rule *r, ts_labels **out, double *vals, size_t n, int64_t t)
{
    ts_appender *app = m->o.appender(m->o.appender_ctx);
    for (size_t i = 0; i < n; i++) {
        int rc = app->ops->append(app, 0, out[i], t, vals[i], NULL);
        if (rc && rc != TS_EOOO && rc != TS_EDUPSAMPLE && rc != TS_ETOOOLD)
            TS_LOG(TS_LOG_WARN, "rules", "rule sample appending failed", "err=%s", ts_strerror(rc));
    }
    /* prev and out are sorted: a merge finds prev - out */
    size_t i = 0, k = 0;
    while (i < r->nprev) {
        int c = k < n ? ts_labels_cmp(r->prev[i], out[k]) : -1;
        if (c < 0) {
            /* only mark a series stale when nothing else wrote it this round
             * (Prometheus' check of the error): a failing append is fine */
            app->ops->append(app, 0, r->prev[i], t, ts_stale_nan(), NULL);
            i++;
        } else if (c == 0) {
            i++;
            k++;
        } else {
            k++;
        }
    }
    int rc = app->ops->commit(app);
    if (rc)
        TS_LOG(TS_LOG_WARN, "rules", "rule sample appending failed", "err=%s", ts_strerror(rc));
    for (size_t x = 0; x < r->nprev; x++)
        ts_labels_free(r->prev[x]);
    ts_free(r->prev);
    r->prev = out;
    r->nprev = n;
}

/* How a rule's evaluation went beyond its error code. */
typedef struct eval_note {
    bool partial; /* its query saw partial data (partial_policy only) */
    bool skipped; /* ... and the group's strategy (abort) recorded nothing */
} eval_note;

/* Runs a query and returns the samples as a vector (scalar -> one sample).
 * With partial_policy, storage warnings mark the result partial (note), and
 * under abort the result is dropped: an error saying why, note->skipped. */
static int
run_query(ts_rules_manager *m, const group *g, const rule *r, int64_t t, ts_promql_query **q,
          const ts_promql_vsample **vec, size_t *n, ts_promql_vsample *scalar_buf, eval_note *note,
          ts_error *err)
{
    int rc = ts_promql_query_instant(m->o.engine, m->o.queryable, r->def->expr,
                                     strlen(r->def->expr), t, q, err);
    if (rc)
        return rc;
    const ts_promql_result *res = ts_promql_query_result(*q);
    if (m->o.partial_policy && res->nwarnings) {
        note->partial = true;
        if (g->partial == TS_RULE_PARTIAL_ABORT) {
            note->skipped = true;
            /* the shards without an answer by name (a fan-out warning is "<shard>: no
             * replica answered: <each store's error>", too long to list several whole in
             * one message), then any other warning as it is */
            static const char none[] = ": no replica answered";
            ts_buf b;
            ts_buf_init(&b, 256);
            size_t nshards = 0;
            for (size_t i = 0; i < res->nwarnings; i++) {
                const char *w = res->warnings[i], *e = strstr(w, none);
                if (e)
                    ts_buf_printf(&b, "%s%.*s",
                                  nshards++ ? ", " : "no replica answered: ", (int)(e - w), w);
            }
            for (size_t i = 0; i < res->nwarnings; i++)
                if (!strstr(res->warnings[i], none))
                    ts_buf_printf(&b, "%s%s", b.len ? "; " : "", res->warnings[i]);
            ts_buf_putc(&b, '\0');
            rc = ts_error_set(err, TS_EIO,
                              "partial data, nothing recorded (partial_response_strategy: "
                              "abort): %s",
                              (const char *)b.p);
            ts_buf_fini(&b);
            ts_promql_query_close(*q);
            *q = NULL;
            return rc;
        }
    }
    if (res->type == TS_PROMQL_VT_VECTOR) {
        *vec = res->vec;
        *n = res->nvec;
        return TS_OK;
    }
    if (res->type == TS_PROMQL_VT_SCALAR) {
        scalar_buf->labels = ts_labels_empty();
        scalar_buf->t = t;
        scalar_buf->v = res->scalar;
        *vec = scalar_buf;
        *n = 1;
        return TS_OK;
    }
    ts_promql_query_close(*q);
    *q = NULL;
    return ts_error_set(err, TS_EINVAL, "rule result is not a vector or scalar");
}

static bool
has_dup(ts_labels **ls, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (ts_labels_equal(ls[i - 1], ls[i]))
            return true;
    return false;
}

static void
free_sets(ts_labels **ls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_labels_free(ls[i]);
    ts_free(ls);
}

static int
eval_recording(ts_rules_manager *m, group *g, rule *r, int64_t t, eval_note *note, ts_error *err)
{
    ts_promql_query *q = NULL;
    const ts_promql_vsample *vec;
    size_t n;
    ts_promql_vsample sbuf;
    int rc = run_query(m, g, r, t, &q, &vec, &n, &sbuf, note, err);
    if (rc)
        return rc;
    g->cur_samples += n;
    ts_labels **out = ts_calloc(n + 1, sizeof(*out));
    double *vals = ts_calloc(n + 1, sizeof(*vals));
    ts_labels_builder b;
    ts_labels_builder_init(&b, NULL);
    for (size_t i = 0; i < n; i++) {
        ts_labels_builder_reset(&b, vec[i].labels);
        ts_labels_builder_set(&b, TS_METRIC_NAME, r->def->record);
        const ts_labels *rl = r->def->labels;
        for (size_t k = 0; k < rl->n; k++)
            ts_labels_builder_set(&b, rl->l[k].name, rl->l[k].value);
        out[i] = ts_labels_builder_build(&b, NULL);
        vals[i] = vec[i].v;
    }
    ts_labels_builder_fini(&b);
    ts_promql_query_close(q);
    ts_labels **sorted = out;
    double *svals = vals;
    sort_pairs(sorted, svals, n);
    rc = TS_OK;
    if (has_dup(sorted, n))
        rc = ts_error_set(err, TS_EINVAL,
                          "vector contains metrics with the same labelset after applying rule "
                          "labels");
    else if (g->limit > 0 && n > g->limit)
        rc = ts_error_set(err, TS_ELIMIT, "exceeded limit of %llu with %zu series",
                          (unsigned long long)g->limit, n);
    if (rc) {
        free_sets(sorted, n);
        ts_free(svals);
        return rc;
    }
    write_output(m, r, sorted, svals, n, t);
    ts_free(svals);
    return TS_OK;
}

static ts_labels *
expand_set(ts_arena *a, const ts_labels *tmpl, const char *rule_name, const ts_rule_tmpl_data *d,
           const char *add_name, const char *add_value, const ts_labels *base)
{
    ts_labels_builder b;
    ts_labels_builder_init(&b, base);
    if (base)
        ts_labels_builder_del(&b, TS_METRIC_NAME);
    char tname[300];
    snprintf(tname, sizeof(tname), "__alert_%s", rule_name);
    for (size_t k = 0; k < tmpl->n; k++)
        ts_labels_builder_set(&b, tmpl->l[k].name,
                              ts_rule_template_expand(a, tname, tmpl->l[k].value, d));
    if (add_name)
        ts_labels_builder_set(&b, add_name, add_value);
    ts_labels *ls = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
    return ls;
}

static alert *
find_alert(rule *r, const ts_labels *ls)
{
    for (size_t i = 0; i < r->nalerts; i++)
        if (ts_labels_equal(r->alerts[i]->labels, ls))
            return r->alerts[i];
    return NULL;
}

static ts_labels *
alert_series(const alert *a, const char *metric, bool with_state)
{
    ts_labels_builder b;
    ts_labels_builder_init(&b, a->labels);
    ts_labels_builder_set(&b, TS_METRIC_NAME, metric);
    if (with_state)
        ts_labels_builder_set(&b, "alertstate", state_names[a->state]);
    ts_labels *ls = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
    return ls;
}

static int
eval_alerting(ts_rules_manager *m, group *g, rule *r, int64_t t, int64_t ts_ns, eval_note *note,
              ts_error *err)
{
    ts_promql_query *q = NULL;
    const ts_promql_vsample *vec;
    size_t n;
    ts_promql_vsample sbuf;
    /* an error here (a skipped partial evaluation too) returns before the
     * alerts are touched: they keep their state */
    int rc = run_query(m, g, r, t, &q, &vec, &n, &sbuf, note, err);
    if (rc)
        return rc;
    g->cur_samples += n;
    ts_arena a;
    ts_arena_init(&a, 4096);
    /* the alerts of this evaluation */
    alert **now = ts_calloc(n + 1, sizeof(*now));
    for (size_t i = 0; i < n && rc == TS_OK; i++) {
        ts_labels_builder lb;
        ts_labels_builder_init(&lb, vec[i].labels);
        ts_labels_builder_del(&lb, TS_METRIC_NAME);
        ts_labels *sample_ls = ts_labels_builder_build(&lb, &a);
        ts_labels_builder_fini(&lb);
        ts_rule_tmpl_data d = {.labels = sample_ls,
                               .external_labels = m->ext,
                               .external_url = m->o.external_url,
                               .value = vec[i].v};
        alert *x = ts_calloc(1, sizeof(*x));
        x->labels = expand_set(&a, r->def->labels, r->def->alert, &d, "alertname", r->def->alert,
                               vec[i].labels);
        x->annotations = expand_set(&a, r->def->annotations, r->def->alert, &d, NULL, NULL, NULL);
        x->state = ST_PENDING;
        x->active_at_ns = ts_ns;
        x->value = vec[i].v;
        now[i] = x;
        for (size_t k = 0; k < i; k++)
            if (ts_labels_equal(now[k]->labels, x->labels))
                rc = ts_error_set(err, TS_EINVAL,
                                  "vector contains metrics with the same labelset after applying "
                                  "alert labels");
    }
    ts_promql_query_close(q);
    ts_arena_fini(&a);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            alert_free(now[i]);
        ts_free(now);
        return rc;
    }
    /* merge into the rule's alerts */
    for (size_t i = 0; i < n; i++) {
        alert *old = find_alert(r, now[i]->labels);
        if (old && old->state != ST_INACTIVE) {
            old->value = now[i]->value;
            ts_labels_free(old->annotations);
            old->annotations = now[i]->annotations;
            now[i]->annotations = NULL;
            old->keep_firing_since_ns = 0;
            alert_free(now[i]);
            now[i] = old;
        } else if (old) {
            /* a resolved alert comes back: a new alert replaces it */
            for (size_t k = 0; k < r->nalerts; k++)
                if (r->alerts[k] == old)
                    r->alerts[k] = now[i];
            alert_free(old);
        } else {
            r->alerts = ts_realloc(r->alerts, (r->nalerts + 1) * sizeof(*r->alerts));
            r->alerts[r->nalerts++] = now[i];
        }
    }
    /* alerts not in this result */
    size_t keep = 0;
    for (size_t k = 0; k < r->nalerts; k++) {
        alert *x = r->alerts[k];
        bool present = false;
        for (size_t i = 0; i < n && !present; i++)
            present = now[i] == x;
        if (!present) {
            bool keep_firing = false;
            if (x->state == ST_FIRING && r->def->keep_firing_for_ms > 0) {
                if (!x->keep_firing_since_ns)
                    x->keep_firing_since_ns = ts_ns;
                keep_firing =
                    ts_ns - x->keep_firing_since_ns < r->def->keep_firing_for_ms * NS_PER_MS;
            }
            if (x->state == ST_PENDING ||
                (x->resolved_at_ns && ts_ns - x->resolved_at_ns > RESOLVED_RETENTION_NS)) {
                alert_free(x);
                continue;
            }
            if (x->state != ST_INACTIVE && !keep_firing) {
                x->state = ST_INACTIVE;
                x->resolved_at_ns = ts_ns;
            }
        }
        if (x->state == ST_PENDING && ts_ns - x->active_at_ns >= r->def->for_ms * NS_PER_MS) {
            x->state = ST_FIRING;
            x->fired_at_ns = ts_ns;
        }
        r->alerts[keep++] = x;
    }
    r->nalerts = keep;
    ts_free(now);
    size_t active = 0;
    for (size_t k = 0; k < r->nalerts; k++)
        active += r->alerts[k]->state != ST_INACTIVE;
    if (g->limit > 0 && active > g->limit) {
        for (size_t k = 0; k < r->nalerts; k++)
            alert_free(r->alerts[k]);
        r->nalerts = 0;
        return ts_error_set(err, TS_ELIMIT, "exceeded limit of %llu with %zu alerts",
                            (unsigned long long)g->limit, active);
    }
    /* ALERTS and ALERTS_FOR_STATE */
    ts_labels **out = ts_calloc(2 * active + 1, sizeof(*out));
    double *vals = ts_calloc(2 * active + 1, sizeof(*vals));
    size_t no = 0;
    if (r->restored) {
        for (size_t k = 0; k < r->nalerts; k++) {
            alert *x = r->alerts[k];
            if (x->state == ST_INACTIVE)
                continue;
            out[no] = alert_series(x, "ALERTS", true);
            vals[no++] = 1;
            out[no] = alert_series(x, "ALERTS_FOR_STATE", false);
            vals[no++] = (double)(x->active_at_ns / 1000000000);
        }
    }
    sort_pairs(out, vals, no);
    write_output(m, r, out, vals, no, t);
    ts_free(vals);
    return TS_OK;
}

/* Collects the alerts to send after an evaluation, as Prometheus' sendAlerts:
 * firing and resolved (kept 15 min) alerts are sent when they resolved since
 * the last send, or when the last send is more than the resend delay (1m,
 * Prometheus' --rules.alert.resend-delay) ago; an active alert is valid until
 * 4 x max(resend delay, interval) from now. */
static void
notify_group(ts_rules_manager *m, group *g, int64_t ts_ns)
{
    if (!m->o.notify)
        return;
    size_t cap = 0;
    for (size_t i = 0; i < g->nrules; i++)
        cap += g->rules[i].nalerts;
    if (!cap)
        return;
    ts_rules_alert *v = ts_calloc(cap, sizeof(*v));
    char **urls = ts_calloc(cap, sizeof(*urls));
    size_t n = 0;
    int64_t resend = 60000LL * NS_PER_MS;
    for (size_t i = 0; i < g->nrules; i++) {
        rule *r = &g->rules[i];
        for (size_t k = 0; k < r->nalerts; k++) {
            alert *x = r->alerts[k];
            if (x->state == ST_PENDING)
                continue;
            bool resolved_since = x->resolved_at_ns > x->last_sent_ns;
            bool never_sent = x->last_sent_ns == 0;
            if (!resolved_since && !never_sent && !(x->last_sent_ns + resend < ts_ns))
                continue;
            x->last_sent_ns = ts_ns;
            /* valid until 4 resend delays (Prometheus: 4 * max(resendDelay, interval)) */
            int64_t iv = g->interval_ms * NS_PER_MS > resend ? g->interval_ms * NS_PER_MS : resend;
            x->valid_until_ns = ts_ns + 4 * iv;
            const char *base = m->o.external_url ? m->o.external_url : "";
            /* generatorURL: <external>/graph?g0.expr=<expr>&g0.tab=1 (expr escaped) */
            size_t ql = strlen(r->query);
            char *u = ts_malloc(strlen(base) + ql * 3 + 64);
            size_t ul = strlen(base) + ql * 3 + 64;
            size_t p = (size_t)snprintf(u, ul, "%s/graph?g0.expr=", base);
            for (size_t c = 0; c < ql; c++) {
                unsigned char ch = (unsigned char)r->query[c];
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~')
                    u[p++] = (char)ch;
                else if (ch == ' ')
                    u[p++] = '+';
                else
                    p += (size_t)snprintf(u + p, ul - p, "%%%02X", ch);
            }
            snprintf(u + p, ul - p, "&g0.tab=1");
            urls[n] = u;
            v[n] = (ts_rules_alert){
                .labels = x->labels,
                .annotations = x->annotations,
                .starts_at_ns = x->fired_at_ns ? x->fired_at_ns : x->active_at_ns,
                .ends_at_ns = x->state == ST_INACTIVE ? x->resolved_at_ns : x->valid_until_ns,
                .generator_url = u,
            };
            n++;
        }
    }
    if (n)
        m->o.notify(m->o.notify_ctx, v, n);
    for (size_t i = 0; i < n; i++)
        ts_free(urls[i]);
    ts_free(urls);
    ts_free(v);
}

/* Prometheus' RestoreForState (--rules.alert.for-outage-tolerance, default
 * 1h; --rules.alert.for-grace-period, default 10m): after the second
 * evaluation since start, each active alert of a rule with for >= the grace
 * period takes its activeAt back from the newest ALERTS_FOR_STATE sample of
 * the outage tolerance (its value: activeAt in whole seconds; its time: when
 * the server went down): an alert that was firing keeps that activeAt; one
 * that was pending has it shifted by the time the server was down (so it
 * keeps the time it had spent pending), or so that it fires no sooner than
 * the grace period from now; then the rules start writing ALERTS. */
#define OUTAGE_TOLERANCE_NS (3600LL * 1000000000)
#define FOR_GRACE_NS (600LL * 1000000000)

static int64_t
for_grace_ns(const ts_rules_manager *m)
{
    return m->o.for_grace_period_ms > 0 ? m->o.for_grace_period_ms * NS_PER_MS : FOR_GRACE_NS;
}

static void
restore_alert(ts_querier *q, int64_t grace_ns, const rule *r, alert *a, int64_t ts_ns)
{
    ts_labels *ls = alert_series(a, "ALERTS_FOR_STATE", false);
    ts_matcher **ms = ts_calloc(ls->n + 1, sizeof(*ms));
    size_t nm = 0;
    for (size_t i = 0; i < ls->n; i++)
        if (ts_matcher_new(&ms[nm], TS_MATCH_EQ, ls->l[i].name, ls->l[i].value, NULL) == TS_OK)
            nm++;
    ts_series_set *ss = NULL;
    bool found = false;
    int64_t t = 0;
    double v = 0;
    if (q->ops->select(q, false, NULL, ms, nm, &ss, NULL) == TS_OK) {
        while (!found && ts_ss_next(ss)) {
            ts_series *se = ts_ss_at(ss);
            if (se->labels->n != nm)
                continue;
            found = true;
            ts_iterator *it = se->ops->iterator(se);
            bool any = false;
            while (ts_it_next(it) != TS_VAL_NONE) {
                ts_it_at(it, &t, &v);
                any = true;
            }
            found = any && ts_it_err(it) == TS_OK;
            ts_it_free(it);
        }
        ts_ss_free(ss);
    }
    for (size_t i = 0; i < nm; i++)
        ts_matcher_free(ms[i]);
    ts_free(ms);
    ts_labels_free(ls);
    if (!found || ts_is_stale_nan(v))
        return;
    int64_t down_at = (t / 1000) * 1000000000;
    int64_t active_at = (int64_t)v * 1000000000;
    int64_t hold = r->def->for_ms * NS_PER_MS;
    int64_t remaining = hold - (down_at - active_at);
    if (remaining <= 0)
        ; /* it was firing: it keeps its activeAt, the next evaluation fires it again */
    else if (remaining < grace_ns)
        active_at = ts_ns + grace_ns - hold;
    else
        active_at += ts_ns - down_at;
    a->active_at_ns = active_at;
}

static void
restore_for_state(ts_rules_manager *m, group *g, int64_t ts_ns)
{
    ts_querier *q = NULL;
    ts_queryable *sq = m->o.state_queryable ? m->o.state_queryable : m->o.queryable;
    int64_t tolerance = m->o.for_outage_tolerance_ms > 0 ? m->o.for_outage_tolerance_ms * NS_PER_MS
                                                         : OUTAGE_TOLERANCE_NS;
    int64_t grace = for_grace_ns(m);
    if (ts_queryable_querier(sq, (ts_ns - tolerance) / NS_PER_MS, ts_ns / NS_PER_MS, &q) != TS_OK)
        q = NULL;
    for (size_t i = 0; i < g->nrules; i++) {
        rule *r = &g->rules[i];
        if (r->alerting && q && r->def->for_ms * NS_PER_MS >= grace)
            for (size_t k = 0; k < r->nalerts; k++)
                restore_alert(q, grace, r, r->alerts[k], ts_ns);
        r->restored = true;
    }
    if (q)
        ts_querier_close(q);
}

static void
eval_group(ts_rules_manager *m, group *g, int64_t ts_ns)
{
    int64_t t = ts_ns / NS_PER_MS;
    uint64_t t0 = ts_mono_ns();
    g->st.last_eval_ns = now_ns(m);
    g->st.last_slot_ns = ts_ns;
    g->st.iterations_total++;
    g->cur_samples = 0;
    for (size_t i = 0; i < g->nrules; i++) {
        rule *r = &g->rules[i];
        uint64_t r0 = ts_mono_ns();
        r->last_eval_ns = now_ns(m);
        ts_error err;
        ts_error_clear(&err);
        g->st.evals_total++;
        eval_note note = {0};
        int rc = r->alerting ? eval_alerting(m, g, r, t, ts_ns, &note, &err)
                             : eval_recording(m, g, r, t, &note, &err);
        const char *rname = r->alerting ? r->def->alert : r->def->record;
        if (note.skipped)
            g->st.partial_skipped_total++;
        else if (note.partial && rc == TS_OK)
            g->st.partial_recorded_total++;
        if (rc) {
            g->st.failures_total++;
            set_error(r, err.msg[0] ? err.msg : ts_strerror(rc));
            TS_LOG(TS_LOG_WARN, "rules",
                   note.skipped ? "Rule evaluation skipped: partial data"
                                : "Evaluating rule failed",
                   "group=%s rule=%s err=\"%s\"", g->name, rname, r->last_error);
        } else {
            set_error(r, NULL);
            if (note.partial)
                TS_LOG(TS_LOG_WARN, "rules",
                       "Rule evaluated over partial data (partial_response_strategy: warn)",
                       "group=%s rule=%s", g->name, rname);
        }
        r->eval_seconds = (double)(ts_mono_ns() - r0) / 1e9;
    }
    if (g->nstale) {
        ts_appender *app = m->o.appender(m->o.appender_ctx);
        for (size_t i = 0; i < g->nstale; i++) {
            app->ops->append(app, 0, g->stale[i], t, ts_stale_nan(), NULL);
            ts_labels_free(g->stale[i]);
        }
        app->ops->commit(app);
        ts_free(g->stale);
        g->stale = NULL;
        g->nstale = 0;
    }
    g->st.evals_done++;
    /* at the first load, alerting rules start writing ALERTS after the second evaluation */
    if (g->st.should_restore && g->st.evals_done >= 2) {
        restore_for_state(m, g, now_ns(m));
        g->st.should_restore = false;
    }
    g->st.last_samples = g->cur_samples;
    notify_group(m, g, ts_ns);
    g->st.last_duration = (double)(ts_mono_ns() - t0) / 1e9;
}

/* ------------------------------------------------------------ loading */

static bool
same_rule(const rule *a, const rule *b)
{
    const ts_rule *x = a->def, *y = b->def;
    const char *nx = x->alert ? x->alert : x->record, *ny = y->alert ? y->alert : y->record;
    return a->alerting == b->alerting && strcmp(nx, ny) == 0 &&
           ts_labels_equal(x->labels, y->labels);
}

/* Moves the state of old's rules into the matching rules of g. */
static void
copy_state(group *g, group *old)
{
    bool *used = ts_calloc(old->nrules + 1, sizeof(bool));
    for (size_t i = 0; i < g->nrules; i++) {
        rule *r = &g->rules[i];
        for (size_t k = 0; k < old->nrules; k++) {
            rule *o = &old->rules[k];
            if (used[k] || !same_rule(r, o))
                continue;
            used[k] = true;
            SWAP(r->prev, o->prev);
            SWAP(r->nprev, o->nprev);
            SWAP(r->alerts, o->alerts);
            SWAP(r->nalerts, o->nalerts);
            SWAP(r->last_error, o->last_error);
            r->health = o->health;
            r->last_eval_ns = o->last_eval_ns;
            r->eval_seconds = o->eval_seconds;
            r->restored = o->restored;
            break;
        }
    }
    /* the series of old rules without a successor end at the next evaluation */
    for (size_t k = 0; k < old->nrules; k++) {
        rule *o = &old->rules[k];
        if (used[k] || !o->nprev)
            continue;
        g->stale = ts_realloc(g->stale, (g->nstale + o->nprev) * sizeof(*g->stale));
        memcpy(g->stale + g->nstale, o->prev, o->nprev * sizeof(*o->prev));
        g->nstale += o->nprev;
        o->nprev = 0;
    }
    if (old->nstale) { /* a reload before the next evaluation: take its markers too */
        g->stale = ts_realloc(g->stale, (g->nstale + old->nstale) * sizeof(*g->stale));
        memcpy(g->stale + g->nstale, old->stale, old->nstale * sizeof(*g->stale));
        g->nstale += old->nstale;
        old->nstale = 0;
    }
    ts_free(used);
    g->st = old->st;
}

static int
group_cmp(const void *a, const void *b)
{
    const group *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

/* Writes stale markers at t for everything a dropped group wrote. */
static void
mark_group_stale(ts_rules_manager *m, group *g, int64_t t)
{
    ts_appender *app = m->o.appender(m->o.appender_ctx);
    for (size_t i = 0; i < g->nrules; i++)
        for (size_t k = 0; k < g->rules[i].nprev; k++)
            app->ops->append(app, 0, g->rules[i].prev[k], t, ts_stale_nan(), NULL);
    for (size_t k = 0; k < g->nstale; k++)
        app->ops->append(app, 0, g->stale[k], t, ts_stale_nan(), NULL);
    app->ops->commit(app);
}

int
ts_rules_manager_update(ts_rules_manager *m, char *const *paths, size_t npaths,
                        int64_t default_interval_ms, const ts_labels *ext, ts_error *err)
{
    ts_rule_file **files = ts_calloc(npaths + 1, sizeof(*files));
    int rc = TS_OK;
    for (size_t i = 0; i < npaths && rc == TS_OK; i++) {
        rc = ts_rule_file_load_ex(paths[i], m->o.partial_policy ? TS_RULEFMT_RULER : 0, &files[i],
                                  err);
        if (rc)
            ts_error_set(err, rc, "%s:%d: %s", paths[i], err->line, err->msg);
    }
    if (rc) {
        for (size_t i = 0; i < npaths; i++)
            ts_rule_file_free(files[i]);
        ts_free(files);
        return rc;
    }
    if (default_interval_ms <= 0)
        default_interval_ms = 60000;
    size_t ng = 0;
    for (size_t i = 0; i < npaths; i++)
        ng += files[i]->ngroups;
    group *gs = ts_calloc(ng + 1, sizeof(*gs));
    size_t k = 0;
    for (size_t i = 0; i < npaths; i++) {
        for (size_t j = 0; j < files[i]->ngroups; j++) {
            const ts_rule_group *src = &files[i]->groups[j];
            group *g = &gs[k++];
            g->file = ts_strdup(paths[i]);
            g->name = ts_strdup(src->name);
            size_t kl = strlen(g->file) + strlen(g->name) + 2;
            g->key = ts_malloc(kl);
            snprintf(g->key, kl, "%s;%s", g->file, g->name);
            g->interval_ms = src->interval_ms > 0 ? src->interval_ms : default_interval_ms;
            g->limit = src->limit;
            g->partial = src->partial_response;
            g->nrules = src->nrules;
            g->rules = ts_calloc(src->nrules + 1, sizeof(rule));
            for (size_t x = 0; x < src->nrules; x++) {
                rule *r = &g->rules[x];
                r->def = &src->rules[x];
                r->alerting = r->def->alert != NULL;
                /* the expression parsed at load (rulefmt checked it) */
                ts_arena a;
                ts_arena_init(&a, 1024);
                ts_promql_expr *e;
                ts_error perr;
                if (ts_promql_parse(&a, r->def->expr, strlen(r->def->expr), &e, &perr) == TS_OK) {
                    r->query = ts_strdup(ts_promql_to_string(&a, e));
                    ts_promql_expr_free(e);
                } else {
                    r->query = ts_strdup(r->def->expr);
                }
                ts_arena_fini(&a);
            }
            g->st.should_restore = !m->loaded_once;
            for (size_t x = 0; x < g->nrules; x++)
                g->rules[x].restored = !g->st.should_restore;
        }
    }
    qsort(gs, ng, sizeof(*gs), group_cmp);

    pthread_mutex_lock(&m->mu);
    int64_t now = now_ns(m);
    for (size_t i = 0; i < ng; i++) {
        group *g = &gs[i];
        for (size_t o = 0; o < m->ngroups; o++)
            if (m->groups[o].key && strcmp(m->groups[o].key, g->key) == 0) {
                copy_state(g, &m->groups[o]);
                ts_free(m->groups[o].key);
                m->groups[o].key = NULL; /* taken over */
                break;
            }
        g->next_eval_ns = ts_rules_eval_timestamp(g->file, g->name, g->interval_ms, now) +
                          g->interval_ms * NS_PER_MS;
    }
    for (size_t o = 0; o < m->ngroups; o++) {
        if (m->groups[o].key) /* gone: its series end now */
            mark_group_stale(m, &m->groups[o], now / NS_PER_MS);
        group_fini(&m->groups[o]);
    }
    ts_free(m->groups);
    for (size_t i = 0; i < m->nfiles; i++)
        ts_rule_file_free(m->files[i]);
    ts_free(m->files);
    m->groups = gs;
    m->ngroups = ng;
    m->files = files;
    m->nfiles = npaths;
    ts_labels_free(m->ext);
    m->ext = ts_labels_dup(ext ? ext : ts_labels_empty());
    m->loaded_once = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return TS_OK;
}

/* ------------------------------------------------------------ lifecycle */

int
ts_rules_manager_new(const ts_rules_manager_opts *o, ts_rules_manager **out)
{
    ts_rules_manager *m = ts_calloc(1, sizeof(*m));
    m->o = *o;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->ext = ts_labels_dup(ts_labels_empty());
    *out = m;
    return TS_OK;
}

static void *
run(void *arg)
{
    ts_rules_manager *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        group *next = NULL;
        for (size_t i = 0; i < m->ngroups; i++)
            if (!next || m->groups[i].next_eval_ns < next->next_eval_ns)
                next = &m->groups[i];
        int64_t now = now_ns(m);
        if (!next) {
            pthread_cond_wait(&m->cv, &m->mu);
            continue;
        }
        if (next->next_eval_ns > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next->next_eval_ns - now;
            int64_t abs = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + wait;
            ts.tv_sec = abs / 1000000000;
            ts.tv_nsec = abs % 1000000000;
            pthread_cond_timedwait(&m->cv, &m->mu, &ts);
            continue;
        }
        int64_t iv = next->interval_ms * NS_PER_MS;
        int64_t ts_ns = next->next_eval_ns;
        /* skip missed instants, evaluating the latest due one */
        int64_t missed = (now - ts_ns) / iv;
        if (missed > 0) {
            TS_LOG(TS_LOG_WARN, "rules", "Rule group evaluation missed", "group=%s missed=%lld",
                   next->name, (long long)missed);
            ts_ns += missed * iv;
            next->st.missed_total += (uint64_t)missed;
            next->st.iterations_total += (uint64_t)missed;
        }
        eval_group(m, next, ts_ns);
        next->next_eval_ns = ts_ns + iv;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int
ts_rules_manager_start(ts_rules_manager *m)
{
    if (m->started)
        return TS_OK;
    if (pthread_create(&m->thread, NULL, run, m) != 0)
        return TS_ENOMEM;
    m->started = true;
    return TS_OK;
}

void
ts_rules_manager_eval_all(ts_rules_manager *m, int64_t t_ms)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++)
        eval_group(m, &m->groups[i], t_ms * NS_PER_MS);
    pthread_mutex_unlock(&m->mu);
}

void
ts_rules_manager_free(ts_rules_manager *m)
{
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stopping = true;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    for (size_t i = 0; i < m->ngroups; i++)
        group_fini(&m->groups[i]);
    ts_free(m->groups);
    for (size_t i = 0; i < m->nfiles; i++)
        ts_rule_file_free(m->files[i]);
    ts_free(m->files);
    ts_labels_free(m->ext);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    ts_free(m);
}

/* ------------------------------------------------------------ API */

static void
write_time(ts_jsonw *j, int64_t ns)
{
    char buf[64];
    if (ns == 0) {
        ts_jsonw_str(j, "0001-01-01T00:00:00Z");
        return;
    }
    ts_gotime_format_rfc3339nano(ns, buf, sizeof(buf));
    ts_jsonw_str(j, buf);
}

static void
write_alert(ts_jsonw *j, const alert *x)
{
    char buf[64];
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "labels");
    ts_labels_write_json(j, x->labels);
    ts_jsonw_key(j, "annotations");
    ts_labels_write_json(j, x->annotations);
    ts_jsonw_key(j, "state");
    ts_jsonw_str(j, state_names[x->state]);
    ts_jsonw_key(j, "activeAt");
    write_time(j, x->active_at_ns);
    ts_jsonw_key(j, "value");
    ts_format_float_go(x->value, 'e', buf, sizeof(buf));
    ts_jsonw_str(j, buf);
    ts_jsonw_obj_end(j);
}

static int
alert_pcmp(const void *a, const void *b)
{
    return ts_labels_cmp((*(alert *const *)a)->labels, (*(alert *const *)b)->labels);
}

/* The active (pending/firing) alerts of r, sorted by labels (Prometheus'
 * order is a map's); *n set; caller frees the array. */
static alert **
active_alerts(const rule *r, size_t *n)
{
    alert **v = ts_calloc(r->nalerts + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < r->nalerts; i++)
        if (r->alerts[i]->state != ST_INACTIVE)
            v[k++] = r->alerts[i];
    qsort(v, k, sizeof(*v), alert_pcmp);
    *n = k;
    return v;
}

void
ts_rules_manager_rules_json(ts_rules_manager *m, ts_jsonw *j, const char *type)
{
    bool want_alert = !type || !type[0] || strcmp(type, "alert") == 0;
    bool want_record = !type || !type[0] || strcmp(type, "record") == 0;
    pthread_mutex_lock(&m->mu);
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "groups");
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < m->ngroups; i++) {
        group *g = &m->groups[i];
        ts_jsonw_obj_begin(j);
        ts_jsonw_key(j, "name");
        ts_jsonw_str(j, g->name);
        ts_jsonw_key(j, "file");
        ts_jsonw_str(j, g->file);
        ts_jsonw_key(j, "rules");
        ts_jsonw_arr_begin(j);
        for (size_t k = 0; k < g->nrules; k++) {
            rule *r = &g->rules[k];
            if (r->alerting ? !want_alert : !want_record)
                continue;
            ts_jsonw_obj_begin(j);
            if (r->alerting) {
                int st = ST_INACTIVE;
                for (size_t x = 0; x < r->nalerts; x++)
                    if (r->alerts[x]->state > st)
                        st = r->alerts[x]->state;
                ts_jsonw_key(j, "state");
                ts_jsonw_str(j, state_names[st]);
            }
            ts_jsonw_key(j, "name");
            ts_jsonw_str(j, r->alerting ? r->def->alert : r->def->record);
            ts_jsonw_key(j, "query");
            ts_jsonw_str(j, r->query);
            if (r->alerting) {
                ts_jsonw_key(j, "duration");
                ts_jsonw_double(j, (double)r->def->for_ms / 1000.0);
                ts_jsonw_key(j, "keepFiringFor");
                ts_jsonw_double(j, (double)r->def->keep_firing_for_ms / 1000.0);
            }
            if (r->alerting || r->def->labels->n) { /* recording: omitempty */
                ts_jsonw_key(j, "labels");
                ts_labels_write_json(j, r->def->labels);
            }
            if (r->alerting) {
                ts_jsonw_key(j, "annotations");
                ts_labels_write_json(j, r->def->annotations);
                ts_jsonw_key(j, "alerts");
                ts_jsonw_arr_begin(j);
                size_t na;
                alert **v = active_alerts(r, &na);
                for (size_t x = 0; x < na; x++)
                    write_alert(j, v[x]);
                ts_free(v);
                ts_jsonw_arr_end(j);
            }
            ts_jsonw_key(j, "health");
            ts_jsonw_str(j, health_names[r->health]);
            if (r->last_error) {
                ts_jsonw_key(j, "lastError");
                ts_jsonw_str(j, r->last_error);
            }
            ts_jsonw_key(j, "evaluationTime");
            ts_jsonw_double(j, r->eval_seconds);
            ts_jsonw_key(j, "lastEvaluation");
            write_time(j, r->last_eval_ns);
            ts_jsonw_key(j, "type");
            ts_jsonw_str(j, r->alerting ? "alerting" : "recording");
            ts_jsonw_obj_end(j);
        }
        ts_jsonw_arr_end(j);
        ts_jsonw_key(j, "interval");
        ts_jsonw_double(j, (double)g->interval_ms / 1000.0);
        ts_jsonw_key(j, "limit");
        ts_jsonw_uint(j, g->limit);
        if (m->o.partial_policy) { /* as Thanos Ruler's rules API */
            ts_jsonw_key(j, "partialResponseStrategy");
            ts_jsonw_str(j, g->partial == TS_RULE_PARTIAL_WARN ? "WARN" : "ABORT");
        }
        ts_jsonw_key(j, "evaluationTime");
        ts_jsonw_double(j, g->st.last_duration);
        ts_jsonw_key(j, "lastEvaluation");
        write_time(j, g->st.last_eval_ns);
        ts_jsonw_obj_end(j);
    }
    ts_jsonw_arr_end(j);
    ts_jsonw_obj_end(j);
    pthread_mutex_unlock(&m->mu);
}

void
ts_rules_manager_alerts_json(ts_rules_manager *m, ts_jsonw *j)
{
    pthread_mutex_lock(&m->mu);
    ts_jsonw_obj_begin(j);
    ts_jsonw_key(j, "alerts");
    ts_jsonw_arr_begin(j);
    for (size_t i = 0; i < m->ngroups; i++)
        for (size_t k = 0; k < m->groups[i].nrules; k++) {
            size_t na;
            alert **v = active_alerts(&m->groups[i].rules[k], &na);
            for (size_t x = 0; x < na; x++)
                write_alert(j, v[x]);
            ts_free(v);
        }
    ts_jsonw_arr_end(j);
    ts_jsonw_obj_end(j);
    pthread_mutex_unlock(&m->mu);
}

size_t
ts_rules_manager_output_names(ts_rules_manager *m, char ***out)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    bool alerts = false;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++)
        for (size_t j = 0; j < m->groups[i].nrules; j++) {
            const rule *r = &m->groups[i].rules[j];
            if (r->alerting) {
                alerts = true;
                continue;
            }
            TS_GROW(v, cap, n + 2);
            v[n++] = ts_strdup(r->def->record);
        }
    pthread_mutex_unlock(&m->mu);
    if (alerts) {
        TS_GROW(v, cap, n + 2);
        v[n++] = ts_strdup("ALERTS");
        v[n++] = ts_strdup("ALERTS_FOR_STATE");
    }
    *out = v;
    return n;
}

/* rule_group="<file;name>" with the label value escaped (\\, \" and newline). */
static void
group_label(const group *g, char *q, size_t size)
{
    size_t n = (size_t)snprintf(q, size, "rule_group=\"");
    for (const char *p = g->key; *p && n + 4 < size; p++) {
        if (*p == '\\' || *p == '"') {
            q[n++] = '\\';
            q[n++] = *p;
        } else if (*p == '\n') {
            q[n++] = '\\';
            q[n++] = 'n';
        } else {
            q[n++] = *p;
        }
    }
    q[n++] = '"';
    q[n] = '\0';
}

void
ts_rules_manager_collect(void *ctx, ts_metrics_writer *w)
{
    ts_rules_manager *m = ctx;
    pthread_mutex_lock(&m->mu);
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"prometheus_rule_evaluation_failures_total", "counter",
         "The total number of rule evaluation failures."},
        {"prometheus_rule_evaluations_total", "counter", "The total number of rule evaluations."},
        {"prometheus_rule_group_interval_seconds", "gauge", "The interval of a rule group."},
        {"prometheus_rule_group_iterations_missed_total", "counter",
         "The total number of rule group evaluations missed due to slow rule group evaluation."},
        {"prometheus_rule_group_iterations_total", "counter",
         "The total number of scheduled rule group evaluations, whether executed or missed."},
        {"prometheus_rule_group_last_duration_seconds", "gauge",
         "The duration of the last rule group evaluation."},
        {"prometheus_rule_group_last_evaluation_samples", "gauge",
         "The number of samples returned during the last rule group evaluation."},
        {"prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge",
         "The timestamp of the last rule group evaluation in seconds."},
        {"prometheus_rule_group_rules", "gauge", "The number of rules."},
        /* the global ruler's partial-data policy (manager.h) */
        {"tessera_rule_evaluations_partial_recorded_total", "counter",
         "Rule evaluations over partial data recorded anyway (partial_response_strategy: warn)."},
        {"tessera_rule_evaluations_partial_skipped_total", "counter",
         "Rule evaluations over partial data that recorded nothing (partial_response_strategy: "
         "abort)."},
    };
    size_t nfams = sizeof(fams) / sizeof(fams[0]) - (m->o.partial_policy ? 0 : 2);
    for (size_t f = 0; f < nfams && m->ngroups; f++) {
        ts_mw_family(w, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < m->ngroups; i++) {
            group *g = &m->groups[i];
            char q[1024];
            group_label(g, q, sizeof(q));
            double v = 0;
            switch (f) {
            case 0: v = (double)g->st.failures_total; break;
            case 1: v = (double)g->st.evals_total; break;
            case 2: v = (double)g->interval_ms / 1000.0; break;
            case 3: v = (double)g->st.missed_total; break;
            case 4: v = (double)g->st.iterations_total; break;
            case 5: v = g->st.last_duration; break;
            case 6: v = (double)g->st.last_samples; break;
            case 7: v = (double)g->st.last_slot_ns / 1e9; break;
            case 8: v = (double)g->nrules; break;
            case 9: v = (double)g->st.partial_recorded_total; break;
            default: v = (double)g->st.partial_skipped_total; break;
            }
            ts_mw_sample(w, fams[f].name, q, v);
        }
    }
    pthread_mutex_unlock(&m->mu);
}
