#include "tests/acceptance/acceptance.h"
#include "pkg/util/mem.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Fixture: 3 jobs x 4 instances of metric "up" and "requests_total", plus one
 * "odd" series without a job label and one with a stale marker.  Sample i of
 * series s is at t0 + i*15000 with value s*1000 + i. */
#define NSAMPLES 200
#define STEP 15000

typedef struct fseries {
    const char *name, *job, *instance;
} fseries;

static const fseries fixture[] = {
    {"up", "api", "a:1"},
    {"up", "api", "b:1"},
    {"up", "api", "c:1"},
    {"up", "db", "a:2"},
    {"up", "db", "b:2"},
    {"up", "web", "a:3"},
    {"requests_total", "api", "a:1"},
    {"requests_total", "api", "b:1"},
    {"requests_total", "db", "a:2"},
    {"requests_total", "web", "a:3"},
    {"odd", NULL, "x:9"},
};
#define NFIX (sizeof(fixture) / sizeof(fixture[0]))

static ts_labels *
fixture_labels(size_t i)
{
    ts_label l[3];
    size_t n = 0;
    l[n++] = (ts_label){"__name__", fixture[i].name};
    l[n++] = (ts_label){"instance", fixture[i].instance};
    if (fixture[i].job)
        l[n++] = (ts_label){"job", fixture[i].job};
    return ts_labels_new(l, n);
}

static double
fixture_value(size_t s, size_t i)
{
    if (s == NFIX - 1 && i == NSAMPLES - 1)
        return ts_stale_nan();
    return (double)(s * 1000 + i);
}

int
acc_load(ts_appender *app, int64_t t0)
{
    uint64_t refs[NFIX] = {0};
    for (size_t i = 0; i < NSAMPLES; i++) {
        for (size_t s = 0; s < NFIX; s++) {
            ts_labels *ls = fixture_labels(s);
            int rc = app->ops->append(app, refs[s], ls, t0 + (int64_t)i * STEP, fixture_value(s, i),
                                      &refs[s]);
            ts_labels_free(ls);
            if (rc) {
                app->ops->rollback(app);
                return rc;
            }
        }
    }
    return app->ops->commit(app);
}

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  acceptance FAIL %s:%d: ", __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Which fixture series match a simple predicate set. */
typedef bool (*pred)(size_t i);

static ts_labels *
with_ext(ts_labels *own, const ts_labels *ext)
{
    if (!ext || ext->n == 0)
        return own;
    ts_labels_builder b;
    ts_labels_builder_init(&b, own);
    for (size_t i = 0; i < ext->n; i++)
        ts_labels_builder_set(&b, ext->l[i].name, ext->l[i].value);
    ts_labels *out = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
    ts_labels_free(own);
    return out;
}

static int
cmp_labels_p(const void *a, const void *b)
{
    return ts_labels_cmp(*(ts_labels *const *)a, *(ts_labels *const *)b);
}

/* Selects with matchers over [mint, maxt] and compares to the fixture series
 * chosen by p: same label sets in sorted order, and exactly the fixture
 * samples within the range. */
static void
check_select(ts_queryable *qb, int64_t t0, const ts_labels *ext, int64_t mint, int64_t maxt,
             ts_matcher **ms, size_t nms, pred p, const char *what)
{
    ts_querier *q;
    int rc = ts_queryable_querier(qb, mint, maxt, &q);
    CHECK(rc == 0, "%s: querier: %d", what, rc);
    if (rc)
        return;
    ts_series_set *ss = NULL;
    ts_error err;
    ts_error_clear(&err);
    rc = q->ops->select(q, true, NULL, ms, nms, &ss, &err);
    CHECK(rc == 0, "%s: select: %s", what, err.msg);
    if (rc) {
        ts_querier_close(q);
        return;
    }
    /* expected: fixture series with at least one sample in range, sorted */
    ts_labels *want[NFIX];
    size_t want_idx[NFIX], nwant = 0;
    int64_t first_t = t0, last_t = t0 + (NSAMPLES - 1) * STEP;
    bool overlaps = !(maxt < first_t || mint > last_t);
    for (size_t i = 0; i < NFIX; i++)
        if (p(i) && overlaps)
            want[nwant++] = with_ext(fixture_labels(i), ext);
    qsort(want, nwant, sizeof(want[0]), cmp_labels_p);
    for (size_t k = 0; k < nwant; k++)
        for (size_t i = 0; i < NFIX; i++) {
            ts_labels *l = with_ext(fixture_labels(i), ext);
            if (ts_labels_equal(l, want[k]))
                want_idx[k] = i;
            ts_labels_free(l);
        }
    size_t got = 0;
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        if (got >= nwant) {
            char buf[256];
            ts_labels_format(s->labels, buf, sizeof(buf));
            CHECK(false, "%s: unexpected extra series %s", what, buf);
            got++;
            continue;
        }
        if (!ts_labels_equal(s->labels, want[got])) {
            char a[256], b[256];
            ts_labels_format(s->labels, a, sizeof(a));
            ts_labels_format(want[got], b, sizeof(b));
            CHECK(false, "%s: series %zu is %s, want %s", what, got, a, b);
        } else {
            size_t fi = want_idx[got];
            ts_iterator *it = s->ops->iterator(s);
            size_t nsamp = 0;
            bool ok = true;
            while (ts_it_next(it) == TS_VAL_FLOAT) {
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                size_t i = (size_t)((t - t0) / STEP);
                double wv = fixture_value(fi, i);
                bool same =
                    (isnan(wv) && ts_is_stale_nan(v) == ts_is_stale_nan(wv) && isnan(v)) || v == wv;
                if (t < mint || t > maxt || (t - t0) % STEP != 0 || !same) {
                    CHECK(false, "%s: bad sample t=%lld v=%g (want %g) range [%lld,%lld]", what,
                          (long long)t, v, wv, (long long)mint, (long long)maxt);
                    ok = false;
                    break;
                }
                nsamp++;
            }
            CHECK(ts_it_err(it) == 0, "%s: iterator error %d", what, ts_it_err(it));
            int64_t lo = mint > first_t ? mint : first_t, hi = maxt < last_t ? maxt : last_t;
            size_t expect =
                hi < lo ? 0 : (size_t)((hi - t0) / STEP - (lo - t0 + STEP - 1) / STEP + 1);
            CHECK(!ok || nsamp == expect, "%s: %zu samples, want %zu", what, nsamp, expect);
            ts_it_free(it);
            /* seek lands on the first sample at or after the target */
            it = s->ops->iterator(s);
            int64_t target = t0 + 100 * STEP + 1;
            if (target >= mint && target + STEP <= maxt && target < last_t) {
                CHECK(ts_it_seek(it, target) == TS_VAL_FLOAT, "%s: seek found nothing", what);
                int64_t t;
                double v;
                ts_it_at(it, &t, &v);
                CHECK(t == t0 + 101 * STEP, "%s: seek landed on %lld", what, (long long)t);
            }
            ts_it_free(it);
        }
        got++;
    }
    CHECK(ss->error.code == 0, "%s: set error %s", what, ss->error.msg);
    CHECK(got == nwant, "%s: %zu series, want %zu", what, got, nwant);
    for (size_t i = 0; i < nwant; i++)
        ts_labels_free(want[i]);
    ts_ss_free(ss);
    ts_querier_close(q);
}

static bool
p_up(size_t i)
{
    return strcmp(fixture[i].name, "up") == 0;
}
static bool
p_up_api(size_t i)
{
    return p_up(i) && fixture[i].job && strcmp(fixture[i].job, "api") == 0;
}
static bool
p_up_not_api(size_t i)
{
    return p_up(i) && !(fixture[i].job && strcmp(fixture[i].job, "api") == 0);
}
static bool
p_re(size_t i)
{
    return fixture[i].job &&
           (strcmp(fixture[i].job, "api") == 0 || strcmp(fixture[i].job, "db") == 0);
}
static bool
p_nre_inst(size_t i)
{
    return p_up(i) && strncmp(fixture[i].instance, "a:", 2) != 0;
}
static bool
p_nojob(size_t i)
{
    return !fixture[i].job;
}
static bool
p_none(size_t i)
{
    return false;
}
static bool
p_all(size_t i)
{
    return true;
}

static ts_matcher *
M(ts_match_type t, const char *n, const char *v)
{
    ts_matcher *m = NULL;
    ts_matcher_new(&m, t, n, v, NULL);
    return m;
}

static void
free_ms(ts_matcher **ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_matcher_free(ms[i]);
}

static void
check_strings(ts_queryable *qb, int64_t mint, int64_t maxt, const char *label, ts_matcher **ms,
              size_t nms, const char *const *want, size_t nwant, const char *what)
{
    ts_querier *q;
    if (ts_queryable_querier(qb, mint, maxt, &q) != 0) {
        CHECK(false, "%s: querier", what);
        return;
    }
    ts_arena a;
    ts_arena_init(&a, 0);
    const char **got;
    size_t n = 0;
    ts_error err;
    ts_error_clear(&err);
    int rc = label ? q->ops->label_values(q, label, ms, nms, &a, &got, &n, &err)
                   : q->ops->label_names(q, ms, nms, &a, &got, &n, &err);
    CHECK(rc == 0, "%s: %s", what, err.msg);
    if (rc == 0) {
        CHECK(n == nwant, "%s: %zu strings, want %zu", what, n, nwant);
        for (size_t i = 0; i < n && i < nwant; i++)
            CHECK(strcmp(got[i], want[i]) == 0, "%s: [%zu] = %s, want %s", what, i, got[i],
                  want[i]);
    }
    ts_arena_fini(&a);
    ts_querier_close(q);
}

int
acc_run(ts_queryable *qb, int64_t t0, const ts_labels *ext)
{
    failures = 0;
    int64_t end = t0 + (NSAMPLES - 1) * STEP;
    ts_matcher *ms[3];

    ms[0] = M(TS_MATCH_EQ, "__name__", "up");
    check_select(qb, t0, ext, t0, end, ms, 1, p_up, "name=up full range");
    check_select(qb, t0, ext, t0 + 50 * STEP + 7, t0 + 60 * STEP, ms, 1, p_up, "name=up sub range");
    check_select(qb, t0, ext, end + 1, end + 1000000, ms, 1, p_none, "after the data");
    check_select(qb, t0, ext, t0 - 1000000, t0 - 1, ms, 1, p_none, "before the data");
    ms[1] = M(TS_MATCH_EQ, "job", "api");
    check_select(qb, t0, ext, t0, end, ms, 2, p_up_api, "up, job=api");
    free_ms(ms + 1, 1);
    ms[1] = M(TS_MATCH_NEQ, "job", "api");
    check_select(qb, t0, ext, t0, end, ms, 2, p_up_not_api, "up, job!=api");
    free_ms(ms + 1, 1);
    ms[1] = M(TS_MATCH_NRE, "instance", "a:.*");
    check_select(qb, t0, ext, t0, end, ms, 2, p_nre_inst, "up, instance!~a:.*");
    free_ms(ms, 2);

    ms[0] = M(TS_MATCH_RE, "job", "api|db");
    check_select(qb, t0, ext, t0, end, ms, 1, p_re, "job=~api|db");
    free_ms(ms, 1);
    ms[0] = M(TS_MATCH_EQ, "job", "");
    ms[1] = M(TS_MATCH_RE, "__name__", ".+");
    check_select(qb, t0, ext, t0, end, ms, 2, p_nojob, "job=\"\" (absent)");
    free_ms(ms, 2);
    ms[0] = M(TS_MATCH_RE, "__name__", ".+");
    check_select(qb, t0, ext, t0, end, ms, 1, p_all, "all series");
    free_ms(ms, 1);
    ms[0] = M(TS_MATCH_EQ, "__name__", "nope");
    check_select(qb, t0, ext, t0, end, ms, 1, p_none, "no such metric");
    free_ms(ms, 1);

    static const char *const jobs[] = {"api", "db", "web"};
    check_strings(qb, t0, end, "job", NULL, 0, jobs, 3, "label values job");
    ms[0] = M(TS_MATCH_EQ, "__name__", "requests_total");
    static const char *const insts[] = {"a:1", "a:2", "a:3", "b:1"};
    check_strings(qb, t0, end, "instance", ms, 1, insts, 4,
                  "label values instance{requests_total}");
    free_ms(ms, 1);
    static const char *names_plain[] = {"__name__", "instance", "job"};
    const char *names[8];
    size_t nnames = 0;
    for (size_t i = 0; i < 3; i++)
        names[nnames++] = names_plain[i];
    for (size_t i = 0; ext && i < ext->n; i++)
        names[nnames++] = ext->l[i].name;
    /* sort (ext labels may land anywhere) */
    for (size_t i = 1; i < nnames; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    check_strings(qb, t0, end, NULL, NULL, 0, names, nnames, "label names");
    ms[0] = M(TS_MATCH_EQ, "__name__", "odd");
    const char *odd_names[8];
    size_t nodd = 0;
    odd_names[nodd++] = "__name__";
    odd_names[nodd++] = "instance";
    for (size_t i = 0; ext && i < ext->n; i++)
        odd_names[nodd++] = ext->l[i].name;
    for (size_t i = 1; i < nodd; i++)
        for (size_t j = i; j > 0 && strcmp(odd_names[j - 1], odd_names[j]) > 0; j--) {
            const char *t = odd_names[j];
            odd_names[j] = odd_names[j - 1];
            odd_names[j - 1] = t;
        }
    check_strings(qb, t0, end, NULL, ms, 1, odd_names, nodd, "label names{odd}");
    free_ms(ms, 1);
    return failures;
}
