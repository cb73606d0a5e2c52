/*
 * Tests for pkg/tsdb/block: write, open, select with every matcher type
 * (checked against a brute-force evaluation of the matchers), label
 * names/values, iterator and chunk bounds, compaction and its plan,
 * atomicity of the .tmp directory, reference counting, and corrupted or
 * truncated files (run under ASan: errors, never crashes).
 */
#include "pkg/tsdb/block/block.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "pkg/storage/merge.h"
#include "pkg/tsdb/block/internal.h"
#include "pkg/util/hash.h"
#include "pkg/util/fs.h"
#include "tests/testutil/t.h"
#include "tests/unit/tsdb/block/tset.h"

/* ------------------------------------------------------------ fixtures */

#define NSER 7
static tseries *ser[NSER];

/* Seven series over [0, 10000): samples every 10 ms with a per-series phase.
 * Series 5 has no chunk form (re-encoded by the writer). */
static void
make_series(void)
{
    ser[0] =
        tser_new(ts_labels_from_strings(6, "__name__", "up", "instance", "1", "job", "a"), 120);
    ser[1] =
        tser_new(ts_labels_from_strings(6, "__name__", "up", "instance", "2", "job", "b"), 120);
    ser[2] = tser_new(
        ts_labels_from_strings(6, "__name__", "http_requests_total", "code", "200", "job", "a"),
        50);
    ser[3] = tser_new(
        ts_labels_from_strings(6, "__name__", "http_requests_total", "code", "500", "job", "a"),
        120);
    ser[4] = tser_new(ts_labels_from_strings(4, "__name__", "node_load1", "instance", "1"), 120);
    ser[5] = tser_new(ts_labels_from_strings(4, "__name__", "node_load1", "instance", "2"), 0);
    ser[6] = tser_new(ts_labels_from_strings(4, "__name__", "weird", "job", ""), 120);
    for (int i = 0; i < NSER; i++)
        for (int64_t t = i; t < 10000; t += 10)
            tser_add(ser[i], t, (double)(t * (i + 1)) / 7.0);
}

static void
free_series(void)
{
    for (int i = 0; i < NSER; i++) {
        tser_free(ser[i]);
        ser[i] = NULL;
    }
}

/* Writes ser[] into a new block under dir; returns the block dir path. */
static char *
write_block(const char *dir, int64_t mint, int64_t maxt, ts_block_meta *meta)
{
    ts_error err = {0};
    int rc = ts_block_write(dir, tset_new(ser, NSER, true), mint, maxt, 0, NULL, 0, meta, &err);
    if (rc) {
        fprintf(stderr, "write: %s\n", err.msg);
        return NULL;
    }
    char *p = ts_malloc(strlen(dir) + TS_ULID_LEN + 2);
    sprintf(p, "%s/%s", dir, meta->ulid);
    return p;
}

static ts_matcher *
M(ts_match_type t, const char *n, const char *v)
{
    ts_matcher *m = NULL;
    ts_error err;
    TS_ASSERT(ts_matcher_new(&m, t, n, v, &err) == 0);
    return m;
}

/* Brute force: does series s match all matchers (absent label = "")? */
static bool
brute(const tseries *s, ts_matcher *const *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = ts_labels_get(s->ls, ms[i]->name);
        if (!ts_matcher_matches(ms[i], v ? v : ""))
            return false;
    }
    return true;
}

/* Runs select and compares the label sets with the brute-force answer
 * among series having samples in [mint, maxt]; returns the count or -1. */
static int
check_select(ts_block *b, int64_t mint, int64_t maxt, ts_matcher *const *ms, size_t n)
{
    ts_querier *q;
    ts_block_querier(b, mint, maxt, &q);
    ts_series_set *ss = NULL;
    ts_error err = {0};
    if (q->ops->select(q, true, NULL, ms, n, &ss, &err) != 0) {
        fprintf(stderr, "select: %s\n", err.msg);
        ts_querier_close(q);
        return -1;
    }
    /* expected, in label order */
    tseries *sorted[NSER];
    memcpy(sorted, ser, sizeof(sorted));
    qsort(sorted, NSER, sizeof(*sorted), tser_cmp);
    size_t k = 0;
    int got = 0, bad = 0;
    const ts_labels *prev = NULL;
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        if (prev && ts_labels_cmp(prev, s->labels) >= 0)
            bad = 1; /* not sorted */
        prev = s->labels;
        while (k < NSER && !(brute(sorted[k], ms, n) && sorted[k]->s[0].t <= maxt &&
                             sorted[k]->s[sorted[k]->n - 1].t >= mint))
            k++;
        if (k == NSER || !ts_labels_equal(sorted[k]->ls, s->labels))
            bad = 1;
        k++;
        got++;
    }
    while (k < NSER) {
        if (brute(sorted[k], ms, n) && sorted[k]->s[0].t <= maxt &&
            sorted[k]->s[sorted[k]->n - 1].t >= mint)
            bad = 1; /* missing */
        k++;
    }
    if (ss->error.code)
        bad = 1;
    ts_ss_free(ss);
    ts_querier_close(q);
    return bad ? -1 : got;
}

/* ------------------------------------------------------------ tests */

static void
test_ulid(void)
{
    char a[TS_ULID_LEN + 1], b[TS_ULID_LEN + 1];
    ts_ulid_new(1700000000000, a);
    ts_ulid_new(1700000000000, b);
    T_EQ(strlen(a), 26);
    T_TRUE(strcmp(a, b) != 0);     /* random part differs */
    T_TRUE(memcmp(a, b, 10) == 0); /* time part (48 bits = 10 chars) equal */
    ts_ulid_new(1700000000001, b);
    T_TRUE(strcmp(a, b) < 0); /* sorts by time */
    ts_ulid_new(0, a);
    T_TRUE(memcmp(a, "0000000000", 10) == 0);
    /* 2^48-1 ms: the largest time: "7ZZZZZZZZZ" */
    ts_ulid_new(0xFFFFFFFFFFFFLL, a);
    T_TRUE(memcmp(a, "7ZZZZZZZZZ", 10) == 0);
    /* known value: 1469918176385 ms -> 01ARYZ6S41 (ulid spec example) */
    ts_ulid_new(1469918176385LL, a);
    T_TRUE(memcmp(a, "01ARYZ6S41", 10) == 0);
}

static void
test_write_open_meta(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    T_EQ(wm.num_series, NSER);
    T_EQ(wm.num_samples, NSER * 1000);
    T_EQ(wm.level, 1);
    T_EQ(wm.nsources, 1);
    T_STREQ(wm.sources[0], wm.ulid);

    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    const ts_block_meta *m = ts_block_get_meta(b);
    T_STREQ(m->ulid, wm.ulid);
    T_EQ(m->mint, 0);
    T_EQ(m->maxt, 10000);
    T_EQ(m->num_series, NSER);
    T_EQ(m->num_samples, NSER * 1000);
    T_EQ(m->num_chunks, wm.num_chunks);
    /* 6 series with 120-sample chunks -> 9 chunks; one with 50-sample chunks -> 20 */
    T_EQ(m->num_chunks, 6 * 9 + 20);
    T_EQ(m->level, 1);
    T_EQ(m->nsources, 1);
    T_TRUE(m->size_bytes > 0);
    T_STREQ(ts_block_dir(b), bdir);

    /* meta.json is Prometheus' format: promtool-style keys present */
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/meta.json", bdir);
    T_OK(ts_fs_read_file(path, 1 << 20, &text, &len));
    T_TRUE(strstr(text, "\"numSamples\": 7000") != NULL);
    T_TRUE(strstr(text, "\"version\": 1") != NULL);
    T_TRUE(strstr(text, "\"minTime\": 0") != NULL);
    ts_free(text);

    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

static void
test_select_matchers(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));

    struct {
        int n;
        ts_match_type t[3];
        const char *name[3], *val[3];
        int want; /* expected count (also checked against brute force) */
    } cases[] = {
        {1, {TS_MATCH_EQ}, {"job"}, {"a"}, 3},
        {1, {TS_MATCH_NEQ}, {"job"}, {"a"}, 4}, /* b + three without job */
        {1, {TS_MATCH_RE}, {"job"}, {"a|b"}, 4},
        {1, {TS_MATCH_NRE}, {"job"}, {"a"}, 4},
        {1, {TS_MATCH_EQ}, {"job"}, {""}, 3}, /* lacking job (incl. job="") */
        {1, {TS_MATCH_RE}, {"job"}, {"a|"}, 6},
        {1, {TS_MATCH_NEQ}, {"job"}, {""}, 4},
        {1, {TS_MATCH_RE}, {"job"}, {".+"}, 4},
        {1, {TS_MATCH_RE}, {"job"}, {".*"}, 7},
        {1, {TS_MATCH_NRE}, {"job"}, {".*"}, 0},
        {1, {TS_MATCH_NRE}, {"job"}, {".+"}, 3},
        {2, {TS_MATCH_EQ, TS_MATCH_RE}, {"__name__", "job"}, {"up", ".+"}, 2},
        {2, {TS_MATCH_RE, TS_MATCH_NEQ}, {"__name__", "code"}, {"http.*", "500"}, 1},
        {2, {TS_MATCH_RE, TS_MATCH_EQ}, {"__name__", "instance"}, {"node_.*", ""}, 0},
        {2, {TS_MATCH_NEQ, TS_MATCH_NRE}, {"__name__", "instance"}, {"up", "1"}, 4},
        {3,
         {TS_MATCH_RE, TS_MATCH_NEQ, TS_MATCH_EQ},
         {"__name__", "instance", "job"},
         {"up|node_load1", "1", ""},
         1},
        {1, {TS_MATCH_EQ}, {"foo"}, {"bar"}, 0}, /* label absent from the block */
        {1, {TS_MATCH_EQ}, {"foo"}, {""}, 7},
        {1, {TS_MATCH_NEQ}, {"foo"}, {"bar"}, 7},
        {1, {TS_MATCH_NRE}, {"foo"}, {"b.*"}, 7},
        {1, {TS_MATCH_RE}, {"foo"}, {"b.*"}, 0},
        {1, {TS_MATCH_EQ}, {"__name__"}, {"nope"}, 0},
        {1, {TS_MATCH_RE}, {"code"}, {"2.."}, 1},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        ts_matcher *ms[3];
        for (int i = 0; i < cases[c].n; i++)
            ms[i] = M(cases[c].t[i], cases[c].name[i], cases[c].val[i]);
        int got = check_select(b, 0, 9999, ms, (size_t)cases[c].n);
        for (int i = 0; i < cases[c].n; i++)
            ts_matcher_free(ms[i]);
        if (got != cases[c].want)
            fprintf(stderr, "  case %zu: got %d want %d\n", c, got, cases[c].want);
        T_EQ(got, cases[c].want);
    }
    /* time filter: series i starts at t=i, so [0,3] covers series 0..3 only */
    ts_matcher *all = M(TS_MATCH_RE, "__name__", ".+");
    T_EQ(check_select(b, 0, 3, &all, 1), 4);
    T_EQ(check_select(b, 20000, 30000, &all, 1), 0);
    T_EQ(check_select(b, -100, -1, &all, 1), 0);
    ts_matcher_free(all);

    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

static void
test_iterators_and_chunks(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));

    /* Full range: every sample back bit-exactly. */
    ts_querier *q;
    ts_block_querier(b, 0, 9999, &q);
    ts_matcher *all = M(TS_MATCH_RE, "__name__", ".*");
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &all, 1, &ss, &err));
    int nseen = 0;
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        const tseries *src = NULL;
        for (int i = 0; i < NSER; i++)
            if (ts_labels_equal(ser[i]->ls, s->labels))
                src = ser[i];
        T_TRUE(src != NULL);
        ts_iterator *it = s->ops->iterator(s);
        size_t k = 0;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            int64_t t;
            double v;
            ts_it_at(it, &t, &v);
            T_TRUE(k < src->n);
            T_EQ(t, src->s[k].t);
            T_FEQ(v, src->s[k].v);
            k++;
        }
        T_EQ(ts_it_err(it), 0);
        T_EQ(k, src->n);
        ts_it_free(it);
        nseen++;
    }
    T_EQ(nseen, NSER);
    ts_ss_free(ss);
    ts_querier_close(q);

    /* Bounded querier [2005, 5000]: samples strictly inside, chunks overlapping. */
    ts_block_querier(b, 2005, 5000, &q);
    ts_matcher *up = M(TS_MATCH_EQ, "job", "a");
    T_OK(q->ops->select(q, true, NULL, &up, 1, &ss, &err));
    while (ts_ss_next(ss)) {
        ts_series *s = ts_ss_at(ss);
        ts_iterator *it = s->ops->iterator(s);
        int64_t first = -1, last = -1, t;
        double v;
        size_t cnt = 0;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            ts_it_at(it, &t, &v);
            if (first < 0)
                first = t;
            T_TRUE(t >= 2005 && t <= 5000);
            last = t;
            cnt++;
        }
        T_TRUE(first >= 2005 && first < 2015);
        T_TRUE(last <= 5000 && last > 4990);
        T_TRUE(cnt >= 299 && cnt <= 300);
        ts_it_free(it);

        /* seek */
        it = s->ops->iterator(s);
        T_EQ(ts_it_seek(it, 3001), TS_VAL_FLOAT);
        ts_it_at(it, &t, &v);
        T_TRUE(t >= 3001 && t < 3011);
        int64_t t2;
        T_EQ(ts_it_seek(it, 100), TS_VAL_FLOAT); /* never backwards */
        ts_it_at(it, &t2, &v);
        T_EQ(t2, t);
        T_EQ(ts_it_seek(it, 4985), TS_VAL_FLOAT);
        ts_it_at(it, &t, &v);
        T_TRUE(t >= 4985 && t <= 5000);
        T_EQ(ts_it_seek(it, 5001), TS_VAL_NONE); /* past maxt */
        ts_it_free(it);

        /* chunks overlap [2005, 5000]; bytes equal the encoder's output */
        ts_chunk_iterator *ci = s->ops->chunks(s);
        int nch = 0;
        while (ci->ops->next(ci)) {
            const ts_chunk_meta *cm = ci->ops->at(ci);
            T_TRUE(cm->maxt >= 2005 && cm->mint <= 5000);
            T_EQ(cm->enc, TS_ENC_XOR);
            ts_iterator *xi = ts_xor_iterator_new(cm->data, cm->len);
            T_EQ(ts_it_next(xi), TS_VAL_FLOAT);
            ts_it_at(xi, &t, &v);
            T_EQ(t, cm->mint);
            ts_it_free(xi);
            nch++;
        }
        T_EQ(ci->ops->err(ci), 0);
        ci->ops->free(ci);
        T_TRUE(nch >= 3);
    }
    T_EQ(ss->error.code, 0);
    ts_ss_free(ss);
    ts_querier_close(q);

    /* raw chunk bytes equal what the input series' encoder produced */
    ts_block_querier(b, 0, 9999, &q);
    ts_matcher *code = M(TS_MATCH_EQ, "code", "200");
    T_OK(q->ops->select(q, true, NULL, &code, 1, &ss, &err));
    T_TRUE(ts_ss_next(ss));
    {
        ts_chunk_iterator *a = ts_ss_at(ss)->ops->chunks(ts_ss_at(ss));
        ts_chunk_iterator *e = ser[2]->base.ops->chunks(&ser[2]->base);
        int n = 0;
        while (e->ops->next(e)) {
            T_TRUE(a->ops->next(a));
            const ts_chunk_meta *x = a->ops->at(a), *y = e->ops->at(e);
            T_EQ(x->len, y->len);
            T_TRUE(memcmp(x->data, y->data, x->len) == 0);
            T_EQ(x->mint, y->mint);
            T_EQ(x->maxt, y->maxt);
            n++;
        }
        T_FALSE(a->ops->next(a));
        T_EQ(n, 20);
        a->ops->free(a);
        e->ops->free(e);
    }
    T_FALSE(ts_ss_next(ss));
    ts_ss_free(ss);
    ts_querier_close(q);

    ts_matcher_free(code);
    ts_matcher_free(up);
    ts_matcher_free(all);
    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

static uint64_t
bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

/* Every kind of value and timestamp pattern comes back bit-exactly, and
 * chunks() gives the input chunk bytes exactly, whether the writer stored
 * them in the compact form or raw. */
static void
test_chunk_forms(void)
{
    enum { K = 9 };
    tseries *s[K];
    uint64_t st = 12345;
    for (int k = 0; k < K; k++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", k);
        s[k] = tser_new(ts_labels_from_strings(2, "__name__", name), k == 8 ? 7 : 120);
        int64_t t = k == 7 ? -4000000000000LL : 1000;
        for (int i = 0; i < 500; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            double v;
            switch (k) {
            case 0: v = i * 3; break;                               /* integers */
            case 1: v = round((i * 1.37 + 100) * 100) / 100; break; /* 2 decimals */
            case 2: v = (double)(st >> 11) / 3.0; break;            /* arbitrary floats */
            case 3: v = i % 5 == 0 ? ts_stale_nan() : i; break;     /* stale markers */
            case 4: v = i % 3 == 0 ? INFINITY : (i % 3 == 1 ? -0.0 : -INFINITY); break;
            case 5: v = 1e300 * (i % 2 ? 1 : -1); break;
            case 6: v = 0.1 * i; break;     /* inexact decimals */
            case 7: v = 1; break;           /* negative, huge times */
            default: v = 123456.789; break; /* small chunks */
            }
            tser_add(s[k], t, v);
            t += k == 7 ? 1000000000LL * (1 + (int64_t)(st % 3)) : 15000 + (int64_t)(st % 7) - 3;
        }
    }
    s[8]->trailing = true; /* not our encoder's bytes: must stay raw, byte-identical */
    const char *dir = t_tmpdir();
    ts_block_meta m;
    ts_error err = {0};
    T_OK(ts_block_write(dir, tset_new(s, K, true), INT64_MIN, INT64_MAX, 0, NULL, 0, &m, &err));
    T_EQ(m.num_samples, K * 500);
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, m.ulid);
    ts_block *b;
    T_OK(ts_block_open(p, &b, &err));
    ts_querier *q;
    ts_block_querier(b, INT64_MIN, INT64_MAX, &q);
    ts_matcher *all = M(TS_MATCH_RE, "__name__", ".+");
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &all, 1, &ss, &err));
    int n = 0;
    while (ts_ss_next(ss)) {
        ts_series *rs = ts_ss_at(ss);
        const tseries *src = NULL;
        for (int k = 0; k < K; k++)
            if (ts_labels_equal(s[k]->ls, rs->labels))
                src = s[k];
        T_TRUE(src != NULL);
        ts_iterator *it = rs->ops->iterator(rs);
        size_t i = 0;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            int64_t t;
            double v;
            ts_it_at(it, &t, &v);
            T_TRUE(i < src->n);
            T_EQ(t, src->s[i].t);
            T_EQ(bits_of(v), bits_of(src->s[i].v));
            i++;
        }
        T_EQ(i, src->n);
        T_EQ(ts_it_err(it), 0);
        ts_it_free(it);
        ts_chunk_iterator *a = rs->ops->chunks(rs);
        ts_chunk_iterator *e = src->base.ops->chunks((ts_series *)&src->base);
        while (e->ops->next(e)) {
            T_TRUE(a->ops->next(a));
            const ts_chunk_meta *x = a->ops->at(a), *y = e->ops->at(e);
            T_EQ(x->len, y->len);
            T_TRUE(memcmp(x->data, y->data, x->len) == 0);
            T_EQ(x->mint, y->mint);
            T_EQ(x->maxt, y->maxt);
        }
        T_FALSE(a->ops->next(a));
        T_EQ(a->ops->err(a), 0);
        a->ops->free(a);
        e->ops->free(e);
        n++;
    }
    T_EQ(n, K);
    T_EQ(ss->error.code, 0);
    ts_ss_free(ss);
    ts_querier_close(q);
    ts_matcher_free(all);
    ts_block_unref(b);
    ts_block_meta_fini(&m);
    for (int k = 0; k < K; k++)
        tser_free(s[k]);
}

static void
test_clip_on_write(void)
{
    /* Writing [2000, 4000) keeps only those samples, from chunks that
     * cross the boundaries (re-encoded) and from the plain series. */
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 2000, 4000, &wm);
    T_TRUE(bdir != NULL);
    T_EQ(wm.num_samples, NSER * 200);
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    ts_querier *q;
    ts_block_querier(b, INT64_MIN, INT64_MAX, &q);
    ts_matcher *all = M(TS_MATCH_RE, "__name__", ".*");
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &all, 1, &ss, &err));
    int n = 0;
    while (ts_ss_next(ss)) {
        ts_iterator *it = ts_ss_at(ss)->ops->iterator(ts_ss_at(ss));
        size_t cnt = 0;
        int64_t t;
        double v;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            ts_it_at(it, &t, &v);
            T_TRUE(t >= 2000 && t < 4000);
            cnt++;
        }
        T_EQ(cnt, 200);
        ts_it_free(it);
        n++;
    }
    T_EQ(n, NSER);
    ts_ss_free(ss);
    ts_querier_close(q);
    ts_matcher_free(all);
    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);

    /* Nothing in range: no block. */
    ts_block_meta em;
    T_OK(ts_block_write(dir, tset_new(ser, NSER, true), 20000, 30000, 0, NULL, 0, &em, &err));
    T_STREQ(em.ulid, "");
    /* Unsorted input: TS_EINVAL, nothing left behind. */
    T_EQ(ts_block_write(dir, tset_new(ser, NSER, false), 0, 10000, 0, NULL, 0, &em, &err),
         TS_EINVAL);
    DIR *d = opendir(dir);
    int entries = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        entries += de->d_name[0] != '.' || strlen(de->d_name) > 2;
    closedir(d);
    T_EQ(entries, 1); /* only the first block */
    free_series();
}

static int
contains(const char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

static void
test_label_names_values(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    ts_querier *q;
    ts_block_querier(b, 0, 9999, &q);
    ts_arena a;
    ts_arena_init(&a, 0);
    const char **v;
    size_t n;

    T_OK(q->ops->label_names(q, NULL, 0, &a, &v, &n, &err));
    T_EQ(n, 4);
    T_STREQ(v[0], "__name__");
    T_STREQ(v[1], "code");
    T_STREQ(v[2], "instance");
    T_STREQ(v[3], "job");

    T_OK(q->ops->label_values(q, "__name__", NULL, 0, &a, &v, &n, &err));
    T_EQ(n, 4);
    T_STREQ(v[0], "http_requests_total");
    T_STREQ(v[1], "node_load1");
    T_STREQ(v[2], "up");
    T_STREQ(v[3], "weird");

    T_OK(q->ops->label_values(q, "job", NULL, 0, &a, &v, &n, &err));
    T_EQ(n, 3); /* "", a, b (series 6 stores job="") */
    T_STREQ(v[1], "a");

    T_OK(q->ops->label_values(q, "nope", NULL, 0, &a, &v, &n, &err));
    T_EQ(n, 0);

    ts_matcher *m = M(TS_MATCH_EQ, "__name__", "up");
    T_OK(q->ops->label_values(q, "instance", &m, 1, &a, &v, &n, &err));
    T_EQ(n, 2);
    T_OK(q->ops->label_values(q, "code", &m, 1, &a, &v, &n, &err));
    T_EQ(n, 0);
    T_OK(q->ops->label_names(q, &m, 1, &a, &v, &n, &err));
    T_EQ(n, 3);
    T_FALSE(contains(v, n, "code"));
    ts_matcher_free(m);

    m = M(TS_MATCH_EQ, "job", "");
    T_OK(q->ops->label_values(q, "__name__", &m, 1, &a, &v, &n, &err));
    T_EQ(n, 2);
    T_STREQ(v[0], "node_load1");
    T_STREQ(v[1], "weird");
    T_OK(q->ops->label_names(q, &m, 1, &a, &v, &n, &err));
    T_EQ(n, 3); /* __name__, instance, job (job="" stored on "weird") */
    ts_matcher_free(m);

    ts_arena_fini(&a);
    ts_querier_close(q);
    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

static void
test_refcount_delete(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    ts_querier *q;
    ts_block_querier(b, 0, 9999, &q);
    ts_block_mark_deleted(b);
    ts_block_unref(b);
    T_TRUE(ts_fs_exists(bdir)); /* the querier still holds it */
    ts_matcher *m = M(TS_MATCH_EQ, "job", "a");
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &m, 1, &ss, &err));
    ts_querier_close(q);
    T_TRUE(ts_fs_exists(bdir)); /* ... and so does the set */
    int n = 0;
    while (ts_ss_next(ss))
        n++;
    T_EQ(n, 3);
    ts_ss_free(ss);
    T_FALSE(ts_fs_exists(bdir));
    ts_matcher_free(m);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

/* Copies a file (for making a fake .tmp directory). */
static int
copy_file(const char *from, const char *to)
{
    char *data;
    size_t len;
    int rc = ts_fs_read_file(from, 1 << 30, &data, &len);
    if (rc)
        return rc;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    rc = fd < 0 ? -1 : ts_fs_write_all(fd, data, len);
    if (fd >= 0)
        close(fd);
    ts_free(data);
    return rc;
}

static void
test_tmp_dir_not_a_block(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    /* A complete copy under <ULID>.tmp (a crash just before the rename). */
    char tmp[512], p1[600], p2[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", bdir);
    snprintf(p1, sizeof(p1), "%s/chunks", tmp);
    T_OK(ts_fs_mkdir_all(p1, 0755));
    const char *files[] = {"meta.json", "index", "chunks/000001"};
    for (int i = 0; i < 3; i++) {
        snprintf(p1, sizeof(p1), "%s/%s", bdir, files[i]);
        snprintf(p2, sizeof(p2), "%s/%s", tmp, files[i]);
        T_OK(copy_file(p1, p2));
    }
    ts_block *b = NULL;
    ts_error err = {0};
    T_EQ(ts_block_open(tmp, &b, &err), TS_ECORRUPT);
    T_TRUE(b == NULL);
    T_TRUE(strstr(err.msg, "meta.json") != NULL);
    /* A half-written one (no meta.json yet). */
    snprintf(p2, sizeof(p2), "%s/meta.json", tmp);
    unlink(p2);
    T_EQ(ts_block_open(tmp, &b, &err), TS_ECORRUPT);
    T_TRUE(strstr(err.msg, "meta.json") != NULL);
    /* A directory that does not exist. */
    snprintf(p2, sizeof(p2), "%s/01ARYZ6S41TSV4RRFFQ69G5FAV", dir);
    T_TRUE(ts_block_open(p2, &b, &err) != 0);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

/* Reads everything from an opened block; returns the number of errors seen. */
static int
read_all(ts_block *b)
{
    ts_querier *q;
    ts_block_querier(b, INT64_MIN, INT64_MAX, &q);
    ts_matcher *ms[2] = {M(TS_MATCH_RE, "__name__", ".*"), M(TS_MATCH_NEQ, "job", "b")};
    int errors = 0;
    for (int k = 1; k <= 2; k++) {
        ts_series_set *ss = NULL;
        ts_error err = {0};
        if (q->ops->select(q, true, NULL, ms, (size_t)k, &ss, &err) != 0) {
            errors++;
            continue;
        }
        while (ts_ss_next(ss)) {
            ts_series *s = ts_ss_at(ss);
            ts_iterator *it = s->ops->iterator(s);
            while (ts_it_next(it) == TS_VAL_FLOAT)
                ;
            errors += ts_it_err(it) != 0;
            ts_it_free(it);
            ts_chunk_iterator *ci = s->ops->chunks(s);
            while (ci->ops->next(ci))
                ;
            errors += ci->ops->err(ci) != 0;
            ci->ops->free(ci);
        }
        errors += ss->error.code != 0;
        ts_ss_free(ss);
    }
    ts_arena a;
    ts_arena_init(&a, 0);
    const char **v;
    size_t n;
    ts_error err;
    errors += q->ops->label_names(q, ms, 1, &a, &v, &n, &err) != 0;
    errors += q->ops->label_values(q, "job", ms + 1, 1, &a, &v, &n, &err) != 0;
    ts_arena_fini(&a);
    ts_matcher_free(ms[0]);
    ts_matcher_free(ms[1]);
    ts_querier_close(q);
    return errors;
}

static int
rewrite(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return -1;
    int rc = ts_fs_write_all(fd, data, len);
    close(fd);
    return rc;
}

static void
test_corruption(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    const char *files[] = {"index", "chunks/000001", "meta.json"};
    for (int f = 0; f < 3; f++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", bdir, files[f]);
        char *orig;
        size_t len;
        T_OK(ts_fs_read_file(path, 1 << 30, &orig, &len));
        char *mod = ts_malloc(len + 1);
        size_t step = len / 97 + 1;
        int open_fail = 0, read_fail = 0, tries = 0;
        /* flips */
        for (size_t pos = 0; pos < len; pos += step) {
            memcpy(mod, orig, len);
            mod[pos] ^= (char)(0x5A ^ (pos & 0xff));
            if (mod[pos] == orig[pos])
                mod[pos] ^= 1;
            T_OK(rewrite(path, mod, len));
            ts_block *b = NULL;
            ts_error err = {0};
            int rc = ts_block_open(bdir, &b, &err);
            tries++;
            if (rc) {
                T_TRUE(err.msg[0] != 0);
                open_fail++;
                continue;
            }
            read_fail += read_all(b) > 0;
            ts_block_unref(b);
        }
        /* truncations */
        for (size_t cut = 0; cut < len; cut += step) {
            T_OK(rewrite(path, orig, cut));
            ts_block *b = NULL;
            ts_error err = {0};
            int rc = ts_block_open(bdir, &b, &err);
            tries++;
            if (rc) {
                open_fail++;
                continue;
            }
            read_fail += read_all(b) > 0;
            ts_block_unref(b);
        }
        T_OK(rewrite(path, orig, len));
        fprintf(stderr, "  %s: %d damaged versions, %d rejected on open, %d failed on read\n",
                files[f], tries, open_fail, read_fail);
        if (f == 0) /* every index byte but 3 reserved header bytes is checked */
            T_TRUE(open_fail >= tries - 1);
        else if (f == 1) /* chunk damage shows at the latest when reading */
            T_TRUE(open_fail + read_fail >= tries - 1);
        else
            T_TRUE(open_fail > 0);
        ts_free(mod);
        ts_free(orig);
    }
    /* the restored block is fine again */
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    T_EQ(read_all(b), 0);
    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

/* Rewrites the frame at f (total size flen) with its decompressed contents
 * damaged (byte pos XORed with x, or cut at pos when x == 0), keeping the
 * frame's size: the new zstd data is padded with a skippable zstd frame and
 * the CRC is recomputed, so the damage gets past the checksums and reaches
 * the decoders.  Returns 0, or -1 if the size could not be kept. */
static int
reframe(uint8_t *f, size_t flen, size_t pos, uint8_t x)
{
    uint32_t rlen = ts_get_be32(f), clen = ts_get_be32(f + 4);
    if (pos >= rlen || flen != clen + 12u)
        return -1;
    uint8_t *raw = ts_malloc(rlen + 1);
    if (ZSTD_decompress(raw, rlen, f + 8, clen) != rlen) {
        ts_free(raw);
        return -1;
    }
    uint32_t nlen = rlen;
    if (x)
        raw[pos] ^= x;
    else
        nlen = (uint32_t)pos;
    size_t cap = ZSTD_compressBound(nlen);
    uint8_t *c = ts_malloc(cap);
    int levels[] = {9, 1, 3, 6, 12, 19, -1};
    int rc = -1;
    for (int i = 0; i < 7 && rc; i++) {
        size_t n = ZSTD_compress(c, cap, raw, nlen, levels[i]);
        if (ZSTD_isError(n) || !(n == clen || n + 8 <= clen))
            continue;
        memcpy(f + 8, c, n);
        if (n < clen) { /* skippable frame: magic, size, filler */
            uint32_t pad = (uint32_t)(clen - n - 8);
            uint8_t *p = f + 8 + n;
            p[0] = 0x50, p[1] = 0x2A, p[2] = 0x4D, p[3] = 0x18;
            p[4] = (uint8_t)pad, p[5] = (uint8_t)(pad >> 8), p[6] = (uint8_t)(pad >> 16),
            p[7] = (uint8_t)(pad >> 24);
            memset(p + 8, 0, pad);
        }
        ts_put_be32(f, nlen);
        ts_put_be32(f + 8 + clen, ts_crc32c(0, f, 8 + clen));
        rc = 0;
    }
    ts_free(c);
    ts_free(raw);
    return rc;
}

/* Damage inside checksummed, compressed sections: every frame of the index
 * and of the chunk segment gets bytes flipped and its contents cut; the
 * reader must fail cleanly or read on, never crash or read out of bounds. */
static void
test_corruption_past_checksums(void)
{
    make_series();
    const char *dir = t_tmpdir();
    ts_block_meta wm;
    char *bdir = write_block(dir, 0, 10000, &wm);
    T_TRUE(bdir != NULL);
    const char *files[] = {"index", "chunks/000001"};
    for (int fi = 0; fi < 2; fi++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", bdir, files[fi]);
        char *orig;
        size_t len;
        T_OK(ts_fs_read_file(path, 1 << 30, &orig, &len));
        size_t end = fi == 0 ? len - 28 : len; /* the index ends with its TOC */
        int tried = 0, open_fail = 0, read_fail = 0, frames = 0;
        uint8_t *mod = ts_malloc(len);
        for (size_t off = 8; off + 12 <= end; frames++) {
            size_t flen = ts_get_be32((uint8_t *)orig + off + 4) + 12u;
            uint32_t rlen = ts_get_be32((uint8_t *)orig + off);
            size_t step = rlen / 24 + 1;
            for (size_t pos = 0; pos < rlen; pos += step) {
                for (int kind = 0; kind < 2; kind++) {
                    memcpy(mod, orig, len);
                    if (reframe(mod + off, flen, pos, kind ? (uint8_t)(0x80 | pos) : 0) != 0)
                        continue;
                    T_OK(rewrite(path, (char *)mod, len));
                    ts_block *b = NULL;
                    ts_error err = {0};
                    tried++;
                    if (ts_block_open(bdir, &b, &err) != 0) {
                        T_TRUE(err.msg[0] != 0);
                        open_fail++;
                        continue;
                    }
                    read_fail += read_all(b) > 0;
                    ts_block_unref(b);
                }
            }
            off += flen;
        }
        T_OK(rewrite(path, orig, len));
        fprintf(stderr,
                "  %s: %d frames, %d damaged versions, %d rejected on open, %d failed "
                "on read\n",
                files[fi], frames, tried, open_fail, read_fail);
        T_TRUE(tried > 20);
        T_TRUE(open_fail + read_fail > 0);
        ts_free(mod);
        ts_free(orig);
    }
    ts_block *b;
    ts_error err = {0};
    T_OK(ts_block_open(bdir, &b, &err));
    T_EQ(read_all(b), 0);
    ts_block_unref(b);
    ts_block_meta_fini(&wm);
    ts_free(bdir);
    free_series();
}

/* The compact chunk decoder on damaged records. */
static void
test_colenc_damage(void)
{
    ts_xor_chunk *c = ts_xor_chunk_new();
    for (int i = 0; i < 120; i++)
        ts_xor_chunk_append(c, 1000 + i * 15000 + (i % 7 == 0), round(i * 1.37 * 100) / 100);
    size_t len;
    const uint8_t *x = ts_xor_chunk_bytes(c, &len);
    ts_buf rec, out;
    ts_buf_init(&rec, 0);
    ts_buf_init(&out, 0);
    T_EQ(ts__col_encode(&rec, x, len, 1000), 1);
    T_EQ(rec.p[0], 0x81);
    T_TRUE(rec.len < len); /* smaller before zstd already */
    ts_dec d;
    ts_dec_init(&d, rec.p + 1, rec.len - 1);
    size_t blen = ts_dec_uvarint(&d);
    T_EQ(blen, ts_dec_len(&d));
    const uint8_t *body = d.p;
    T_OK(ts__col_decode(&d, 1000, &out));
    T_EQ(ts_dec_len(&d), 0);
    /* the rebuilt chunk is the input chunk */
    ts_dec od;
    ts_dec_init(&od, out.p, out.len);
    T_EQ(ts_dec_uvarint(&od), len);
    T_EQ(ts_dec_len(&od), len);
    T_TRUE(memcmp(od.p, x, len) == 0);
    int bad = 0;
    for (size_t cut = 0; cut < blen; cut++) {
        ts_buf_reset(&out);
        ts_dec_init(&d, body, cut);
        bad += ts__col_decode(&d, 1000, &out) == TS_ECORRUPT;
    }
    T_EQ(bad, (int)blen); /* every truncation is detected */
    uint8_t *m = ts_malloc(blen);
    for (size_t pos = 0; pos < blen; pos++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(m, body, blen);
            m[pos] ^= (uint8_t)(1 << bit);
            ts_buf_reset(&out);
            ts_dec_init(&d, m, blen);
            int rc = ts__col_decode(&d, 1000, &out);
            T_TRUE(rc == TS_OK || rc == TS_ECORRUPT);
        }
    ts_free(m);
    ts_buf_fini(&rec);
    ts_buf_fini(&out);
    ts_xor_chunk_free(c);
}

/* ------------------------------------------------------------ compaction */

static void
test_compact(void)
{
    /* Three adjacent blocks [0,1000) [1000,2000) [2000,3000).  Series A is
     * in all three, B only in the second; C has a sample at t=1000 in both
     * the first block's data and the second's (they overlap: the first block
     * is written with range [0, 1001)). */
    const char *dir = t_tmpdir();
    ts_block *blocks[3];
    ts_error err = {0};
    int64_t ranges[3][2] = {{0, 1001}, {1000, 2000}, {2000, 3000}};
    for (int k = 0; k < 3; k++) {
        tseries *s[3];
        size_t n = 0;
        s[n] = tser_new(ts_labels_from_strings(2, "__name__", "A"), 30);
        for (int64_t t = ranges[k][0]; t < ranges[k][1]; t += 10)
            tser_add(s[n], t, (double)t);
        n++;
        if (k == 1) {
            s[n] = tser_new(ts_labels_from_strings(2, "__name__", "B"), 0);
            for (int64_t t = 1005; t < 2000; t += 100)
                tser_add(s[n], t, 1.5);
            n++;
        }
        if (k < 2) {
            s[n] = tser_new(ts_labels_from_strings(2, "__name__", "C"), 120);
            tser_add(s[n], 1000, k == 0 ? 7.0 : 8.0);
            n++;
        }
        ts_block_meta m;
        T_OK(ts_block_write(dir, tset_new(s, n, true), ranges[k][0], ranges[k][1], 0, NULL, 0, &m,
                            &err));
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, m.ulid);
        T_OK(ts_block_open(p, &blocks[k], &err));
        ts_block_meta_fini(&m);
        for (size_t i = 0; i < n; i++)
            tser_free(s[i]);
    }
    ts_block_meta out;
    T_OK(ts_compact(dir, blocks, 3, &out, &err));
    T_EQ(out.level, 2);
    T_EQ(out.nsources, 3);
    T_EQ(out.mint, 0);
    T_EQ(out.maxt, 3000);
    T_EQ(out.num_series, 3);
    /* A: 0..2990 once each (t=1000 is in two inputs), B: 10, C: 1 */
    T_EQ(out.num_samples, 300 + 10 + 1);
    for (int k = 0; k < 3; k++) {
        const ts_block_meta *m = ts_block_get_meta(blocks[k]);
        int found = 0;
        for (size_t i = 0; i < out.nsources; i++)
            found += strcmp(out.sources[i], m->ulid) == 0;
        T_EQ(found, 1);
    }
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, out.ulid);
    ts_block *c;
    T_OK(ts_block_open(p, &c, &err));
    T_EQ(ts_block_get_meta(c)->level, 2);
    ts_querier *q;
    ts_block_querier(c, 0, 2999, &q);
    ts_matcher *all = M(TS_MATCH_RE, "__name__", ".+");
    ts_series_set *ss;
    T_OK(q->ops->select(q, true, NULL, &all, 1, &ss, &err));
    const char *names[] = {"A", "B", "C"};
    size_t counts[] = {300, 10, 1};
    for (int i = 0; i < 3; i++) {
        T_TRUE(ts_ss_next(ss));
        ts_series *s = ts_ss_at(ss);
        T_STREQ(ts_labels_get(s->labels, "__name__"), names[i]);
        ts_iterator *it = s->ops->iterator(s);
        size_t cnt = 0;
        int64_t prev = -1, t;
        double v;
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            ts_it_at(it, &t, &v);
            T_TRUE(t > prev); /* each timestamp once */
            if (i == 0)
                T_FEQ(v, (double)t);
            if (i == 2)
                T_FEQ(v, 7.0); /* the first block wins, as in the chained merge */
            prev = t;
            cnt++;
        }
        T_EQ(ts_it_err(it), 0);
        T_EQ(cnt, counts[i]);
        ts_it_free(it);
    }
    T_FALSE(ts_ss_next(ss));
    ts_ss_free(ss);
    ts_querier_close(q);
    ts_matcher_free(all);
    ts_block_unref(c);
    for (int k = 0; k < 3; k++)
        ts_block_unref(blocks[k]);
    ts_block_meta_fini(&out);
}

static void
test_compact_plan(void)
{
    const int64_t H = 3600 * 1000;
    int64_t ladder[] = {2 * H, 6 * H, 18 * H};
    ts_block_meta m[8];
    const ts_block_meta *pm[8];
    size_t first;
#define SETB(i, a, b)                                                                              \
    (memset(&m[i], 0, sizeof(m[i])), m[i].mint = (a), m[i].maxt = (b), pm[i] = &m[i])
    /* nothing / one block */
    T_EQ(ts_compact_plan(pm, 0, ladder, 3, &first), 0);
    SETB(0, 0, 2 * H);
    T_EQ(ts_compact_plan(pm, 1, ladder, 3, &first), 0);
    /* three 2h blocks filling [0,6h) plus a newer one: compact the three */
    SETB(1, 2 * H, 4 * H);
    SETB(2, 4 * H, 6 * H);
    SETB(3, 6 * H, 8 * H);
    T_EQ(ts_compact_plan(pm, 4, ladder, 3, &first), 3);
    T_EQ(first, 0);
    /* the newest block is left out, so [0,2h) [2h,4h) remain: the 6h range
     * is not full and may still grow -> wait */
    T_EQ(ts_compact_plan(pm, 3, ladder, 3, &first), 0);
    /* two blocks only, the second is the newest: nothing */
    T_EQ(ts_compact_plan(pm, 2, ladder, 3, &first), 0);
    /* an incomplete range [0,6h) that newer data has moved past: compacted */
    SETB(0, 0, 2 * H);
    SETB(1, 2 * H, 4 * H);
    SETB(2, 8 * H, 10 * H);
    SETB(3, 10 * H, 12 * H);
    T_EQ(ts_compact_plan(pm, 4, ladder, 3, &first), 2);
    T_EQ(first, 0);
    /* ... but not while the most recent remaining block is in it */
    SETB(0, 6 * H, 8 * H);
    SETB(1, 8 * H, 10 * H);
    SETB(2, 10 * H, 12 * H);
    T_EQ(ts_compact_plan(pm, 3, ladder, 3, &first), 0);
    /* gap: [0,2h) [4h,6h) then newest [6h,8h): spans [0,6h) fully -> merge 2 */
    SETB(0, 0, 2 * H);
    SETB(1, 4 * H, 6 * H);
    SETB(2, 6 * H, 8 * H);
    T_EQ(ts_compact_plan(pm, 3, ladder, 3, &first), 2);
    /* already compacted 6h blocks, then 2h ones: the 18h level */
    SETB(0, 0, 6 * H);
    SETB(1, 6 * H, 12 * H);
    SETB(2, 12 * H, 18 * H);
    SETB(3, 18 * H, 20 * H);
    T_EQ(ts_compact_plan(pm, 4, ladder, 3, &first), 3);
    T_EQ(first, 0);
    /* a 6h block then two 2h in the next 6h range, the second newest: the
     * 6h one alone cannot merge; [6h,8h) alone before the newest: nothing */
    SETB(0, 0, 6 * H);
    SETB(1, 6 * H, 8 * H);
    SETB(2, 8 * H, 10 * H);
    T_EQ(ts_compact_plan(pm, 3, ladder, 3, &first), 0);
    /* overlapping blocks come first, wherever they are */
    SETB(0, 0, 2 * H);
    SETB(1, 2 * H, 4 * H);
    SETB(2, 3 * H, 5 * H);
    SETB(3, 6 * H, 8 * H);
    T_EQ(ts_compact_plan(pm, 4, ladder, 3, &first), 2);
    T_EQ(first, 1);
    /* a block crossing the range boundary is skipped for that range */
    SETB(0, 1 * H, 7 * H);
    SETB(1, 7 * H, 8 * H);
    SETB(2, 8 * H, 10 * H);
    T_EQ(ts_compact_plan(pm, 3, ladder, 3, &first), 0);
    /* only one range in the ladder: never compacts non-overlapping blocks */
    SETB(0, 0, 2 * H);
    SETB(1, 2 * H, 4 * H);
    SETB(2, 4 * H, 6 * H);
    T_EQ(ts_compact_plan(pm, 3, ladder, 1, &first), 0);
#undef SETB
}

T_MAIN({"ulid", test_ulid}, {"write_open_meta", test_write_open_meta},
       {"select_matchers", test_select_matchers},
       {"iterators_and_chunks", test_iterators_and_chunks}, {"chunk_forms", test_chunk_forms},
       {"clip_on_write", test_clip_on_write}, {"label_names_values", test_label_names_values},
       {"refcount_delete", test_refcount_delete}, {"tmp_dir_not_a_block", test_tmp_dir_not_a_block},
       {"corruption", test_corruption},
       {"corruption_past_checksums", test_corruption_past_checksums},
       {"colenc_damage", test_colenc_damage}, {"compact", test_compact},
       {"compact_plan", test_compact_plan})
