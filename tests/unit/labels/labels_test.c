#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/matcher.h"
#include "pkg/labels/regex.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/jsonw.h"
#include "tests/testutil/t.h"

static void
test_sorted_and_get(void)
{
    ts_labels *ls = ts_labels_from_strings(6, "job", "node", "__name__", "up", "instance", "a:1");
    T_EQ(ts_labels_len(ls), 3);
    T_STREQ(ls->l[0].name, "__name__");
    T_STREQ(ls->l[1].name, "instance");
    T_STREQ(ls->l[2].name, "job");
    T_STREQ(ts_labels_get(ls, "job"), "node");
    T_TRUE(ts_labels_get(ls, "nope") == NULL);
    char buf[128];
    ts_labels_format(ls, buf, sizeof(buf));
    T_STREQ(buf, "{__name__=\"up\", instance=\"a:1\", job=\"node\"}");
    ts_labels_free(ls);
}

static void
test_cmp_hash(void)
{
    ts_labels *a = ts_labels_from_strings(4, "a", "1", "b", "2");
    ts_labels *b = ts_labels_from_strings(4, "b", "2", "a", "1");
    ts_labels *c = ts_labels_from_strings(4, "a", "1", "b", "3");
    ts_labels *d = ts_labels_from_strings(2, "a", "1");
    T_TRUE(ts_labels_equal(a, b));
    T_EQ(ts_labels_hash(a), ts_labels_hash(b));
    T_NE(ts_labels_hash(a), ts_labels_hash(c));
    T_TRUE(ts_labels_cmp(a, c) < 0);
    T_TRUE(ts_labels_cmp(d, a) < 0); /* prefix sorts first */
    /* hash is not fooled by moving bytes between name and value */
    ts_labels *e = ts_labels_from_strings(2, "ab", "c");
    ts_labels *f = ts_labels_from_strings(2, "a", "bc");
    T_NE(ts_labels_hash(e), ts_labels_hash(f));
    const char *names[] = {"b"};
    T_EQ(ts_labels_hash_subset(a, names, 1, false), ts_labels_hash(d));
    ts_labels *dup = ts_labels_dup(a);
    T_TRUE(ts_labels_equal(dup, a));
    ts_labels_free(dup);
    ts_labels_free(a);
    ts_labels_free(b);
    ts_labels_free(c);
    ts_labels_free(d);
    ts_labels_free(e);
    ts_labels_free(f);
}

static void
test_builder(void)
{
    ts_labels *base = ts_labels_from_strings(4, "a", "1", "b", "2");
    ts_labels_builder b;
    ts_labels_builder_init(&b, base);
    ts_labels_builder_set(&b, "c", "3");
    ts_labels_builder_set(&b, "a", ""); /* empty value deletes */
    ts_labels_builder_set(&b, "b", "22");
    ts_arena ar;
    ts_arena_init(&ar, 0);
    ts_labels *out = ts_labels_builder_build(&b, &ar);
    char buf[128];
    ts_labels_format(out, buf, sizeof(buf));
    T_STREQ(buf, "{b=\"22\", c=\"3\"}");
    ts_labels_builder_del(&b, "c");
    const char *keep[] = {"b"};
    ts_labels_builder_keep(&b, keep, 1, true);
    out = ts_labels_builder_build(&b, NULL);
    T_EQ(out->n, 1);
    T_STREQ(ts_labels_get(out, "b"), "22");
    ts_labels_free(out);
    ts_labels_builder_fini(&b);
    ts_arena_fini(&ar);
    ts_labels_free(base);
}

static void
test_quoting(void)
{
    ts_labels *ls = ts_labels_from_strings(2, "a", "x\"y\\z\n");
    char buf[64];
    ts_labels_format(ls, buf, sizeof(buf));
    T_STREQ(buf, "{a=\"x\\\"y\\\\z\\n\"}");
    /* truncated output still NUL-terminated and reports the full length */
    char small[4];
    size_t need = ts_labels_format(ls, small, sizeof(small));
    T_EQ(need, strlen(buf));
    T_EQ(strlen(small), 3);
    ts_labels_free(ls);
}

static void
test_names_valid(void)
{
    T_TRUE(ts_label_name_valid("job", 3));
    T_TRUE(ts_label_name_valid("_a1", 3));
    T_FALSE(ts_label_name_valid("1a", 2));
    T_FALSE(ts_label_name_valid("a:b", 3));
    T_FALSE(ts_label_name_valid("", 0));
    T_TRUE(ts_metric_name_valid("a:b_c", 5));
    T_FALSE(ts_metric_name_valid("a-b", 3));
}

static bool
m(ts_match_type t, const char *v, const char *in)
{
    ts_matcher *mt;
    if (ts_matcher_new(&mt, t, "x", v, NULL))
        return false;
    bool r = ts_matcher_matches(mt, in);
    ts_matcher_free(mt);
    return r;
}

static void
test_matchers(void)
{
    T_TRUE(m(TS_MATCH_EQ, "a", "a"));
    T_FALSE(m(TS_MATCH_EQ, "a", "ab"));
    T_TRUE(m(TS_MATCH_NEQ, "a", "b"));
    T_TRUE(m(TS_MATCH_EQ, "", "")); /* missing label matches empty */
    /* fully anchored */
    T_TRUE(m(TS_MATCH_RE, "a.*", "abc"));
    T_FALSE(m(TS_MATCH_RE, "b", "abc"));
    T_FALSE(m(TS_MATCH_RE, "a|ab", "abc"));
    T_TRUE(m(TS_MATCH_RE, "a|ab", "ab"));
    T_FALSE(m(TS_MATCH_RE, "abc", "abc\n")); /* $ must not match before a final newline */
    T_TRUE(m(TS_MATCH_RE, "(?i)ABC", "abc"));
    T_TRUE(m(TS_MATCH_RE, "\\d+", "123"));
    T_TRUE(m(TS_MATCH_RE, "", ""));
    T_FALSE(m(TS_MATCH_RE, "", "a"));
    T_TRUE(m(TS_MATCH_NRE, "a.*", "b"));
    T_FALSE(m(TS_MATCH_NRE, ".*", ""));
    T_TRUE(m(TS_MATCH_RE, "foo", "foo")); /* literal fast path */
    T_FALSE(m(TS_MATCH_RE, "foo", "foox"));
    ts_matcher *bad;
    ts_error e;
    ts_error_clear(&e);
    T_EQ(ts_matcher_new(&bad, TS_MATCH_RE, "x", "(a", &e), TS_EPARSE);
    T_TRUE(strstr(e.msg, "error parsing regexp") != NULL);
    /* a ")" in the pattern must not close an anchoring wrapper */
    T_EQ(ts_matcher_new(&bad, TS_MATCH_RE, "x", "a)|(.*", &e), TS_EPARSE);
    T_EQ(ts_matcher_new(&bad, TS_MATCH_RE, "x", ",a) x (b", &e), TS_EPARSE);
    T_FALSE(m(TS_MATCH_RE, "a|b", "ab"));
    T_TRUE(m(TS_MATCH_RE, "x|a.*", "abc"));
    ts_matcher *ok;
    T_OK(ts_matcher_new(&ok, TS_MATCH_NRE, "job", "a\"b", NULL));
    char buf[64];
    ts_matcher_format(ok, buf, sizeof(buf));
    T_STREQ(buf, "job!~\"a\\\"b\"");
    ts_matcher_free(ok);
    ts_matcher_free(NULL);
}

/* Alternations of literals (Grafana's multi-value variables) are matched as
 * a sorted set, not by PCRE2: the same answers as PCRE2 (ts_regex, the same
 * anchoring) for every pattern over inputs around them, set or not; and a
 * 110 KB alternation, past PCRE2's compiled-size limit, works. */
static void
test_set_matchers(void)
{
    static const char *const pats[] = {"a|b",
                                       "(a|b)",
                                       "(?:a|bc|)",
                                       "web\\.1|web\\.2|db-3",
                                       "a\\|b|c",
                                       "x\\\\y|z",
                                       "\xc3\xa9|\xc3\xbc|a",
                                       "|a",
                                       "(a)|(b)",
                                       "a|b.",
                                       "(?i:a|b)",
                                       "\\d|x",
                                       "a\\_b|c",
                                       "(a\\)|b",
                                       "a|(b|c)"};
    static const size_t nsets = 8; /* the first 8 are sets */
    static const char *const ins[] = {"a",     "b",    "",    "bc", "ab",   "web.1",    "webx1",
                                      "web.2", "db-3", "a|b", "c",  "x\\y", "\xc3\xa9", "\xc3\xbc",
                                      "A",     "bx",   "1",   "x",  "a_b",  "(a|b)",    "a)"};
    for (size_t i = 0; i < sizeof(pats) / sizeof(*pats); i++) {
        ts_matcher *mt = NULL;
        ts_regex *re = NULL;
        int rc1 = ts_matcher_new(&mt, TS_MATCH_RE, "x", pats[i], NULL);
        int rc2 = ts_regex_new(&re, pats[i], NULL);
        T_EQ(rc1 == TS_OK, rc2 == TS_OK);
        if (rc1 == TS_OK)
            T_EQ(mt->set != NULL, i < nsets);
        for (size_t k = 0; rc1 == TS_OK && rc2 == TS_OK && k < sizeof(ins) / sizeof(*ins); k++) {
            bool got = ts_matcher_matches(mt, ins[k]);
            bool want = ts_regex_match_str(re, ins[k], strlen(ins[k]), NULL);
            if (got != want)
                fprintf(stderr, "  %s =~ %s: set %d, pcre2 %d\n", ins[k], pats[i], got, want);
            T_EQ(got, want);
        }
        ts_matcher_free(mt);
        ts_regex_free(re);
    }
    enum { N = 5000 };
    char *big = malloc((size_t)N * 32);
    T_TRUE(big != NULL);
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(big + len, 32, "%shost-%d\\.example\\.com", i ? "|" : "", i);
    T_TRUE(len > 100000);
    ts_matcher *mt;
    T_OK(ts_matcher_new(&mt, TS_MATCH_RE, "instance", big, NULL));
    T_EQ(mt->nset, (size_t)N);
    T_TRUE(ts_matcher_matches(mt, "host-0.example.com"));
    T_TRUE(ts_matcher_matches(mt, "host-4999.example.com"));
    T_FALSE(ts_matcher_matches(mt, "host-5000.example.com"));
    T_FALSE(ts_matcher_matches(mt, "host-1xexample.com"));
    ts_matcher_free(mt);
    free(big);
}

/* ts_labels_cmp orders as comparing (name, value) pairs one by one with
 * strcmp, shorter sets first on a common prefix: checked on every pair of
 * sets drawn from strings that are prefixes of each other, hold bytes >= 0x80
 * and move characters between name and value. */
static int
pairwise_cmp(const ts_labels *a, const ts_labels *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->l[i].name, b->l[i].name);
        if (c)
            return c;
        c = strcmp(a->l[i].value, b->l[i].value);
        if (c)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n;
}

static int
sign(int v)
{
    return (v > 0) - (v < 0);
}

static void
test_cmp_order(void)
{
    ts_labels *sets[] = {
        ts_labels_from_strings(0),
        ts_labels_from_strings(2, "a", ""),
        ts_labels_from_strings(2, "a", "1"),
        ts_labels_from_strings(2, "a", "10"),
        ts_labels_from_strings(2, "ab", "1"),
        ts_labels_from_strings(2, "a", "b1"),
        ts_labels_from_strings(4, "a", "1", "b", "2"),
        ts_labels_from_strings(4, "a", "1", "bb", ""),
        ts_labels_from_strings(4, "a", "1", "b", "\xc3\xa9"),
        ts_labels_from_strings(4, "a", "\xc3\xa9", "b", "2"),
        ts_labels_from_strings(6, "a", "1", "b", "2", "c", "3"),
        ts_labels_from_strings(2, "b", "0"),
    };
    size_t n = sizeof(sets) / sizeof(sets[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            T_EQ(sign(ts_labels_cmp(sets[i], sets[j])), sign(pairwise_cmp(sets[i], sets[j])));
    T_TRUE(ts_labels_cmp(sets[0], sets[1]) < 0);
    T_TRUE(ts_labels_cmp(sets[2], sets[3]) < 0);
    T_TRUE(ts_labels_cmp(sets[3], sets[4]) < 0); /* "a" < "ab" decides before the values */
    /* Copies (heap and arena) are equal, own their strings and outlive the original. */
    ts_arena ar;
    ts_arena_init(&ar, 0);
    for (size_t i = 0; i < n; i++) {
        ts_labels *h = ts_labels_dup(sets[i]);
        ts_labels *c = ts_labels_dup_arena(&ar, h);
        T_TRUE(ts_labels_equal(h, sets[i]));
        T_EQ(ts_labels_hash(h), ts_labels_hash(sets[i]));
        ts_labels_free(sets[i]);
        for (uint32_t j = 0; j < c->n; j++) {
            T_TRUE(c->l[j].name > (const char *)c && c->l[j].value < (const char *)c + c->size);
            T_STREQ(c->l[j].name, h->l[j].name);
            T_STREQ(c->l[j].value, h->l[j].value);
        }
        T_EQ(ts_labels_cmp(c, h), 0);
        T_EQ(ts_labels_hash(c), ts_labels_hash(h));
        ts_labels_free(c); /* arena set: ignored */
        ts_labels_free(h);
    }
    ts_arena_fini(&ar);
}

/* The API's and the Alertmanager client's label object: label order, JSON escapes. */
static void
test_write_json(void)
{
    ts_labels *ls = ts_labels_from_strings(6, "job", "a\"b<", "__name__", "up", "x", "\n\xff");
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw w;
    ts_jsonw_init(&w, &b);
    ts_jsonw_arr_begin(&w);
    ts_labels_write_json(&w, ls);
    ts_labels_write_json(&w, NULL);
    ts_labels_write_json(&w, ts_labels_empty());
    ts_jsonw_arr_end(&w);
    T_OK(ts_jsonw_err(&w));
    T_STREQ(ts_buf_cstr(&b),
            "[{\"__name__\":\"up\",\"job\":\"a\\\"b\\u003c\",\"x\":\"\\n\\ufffd\"},{},{}]");
    /* a bounded buffer fails the writer, it does not overflow */
    ts_buf small;
    ts_buf_init(&small, 8);
    ts_jsonw_init(&w, &small);
    ts_labels_write_json(&w, ls);
    T_EQ(ts_jsonw_err(&w), TS_ELIMIT);
    T_TRUE(small.len <= 8);
    ts_buf_fini(&small);
    ts_buf_fini(&b);
    ts_labels_free(ls);
}

T_MAIN({"sorted_and_get", test_sorted_and_get}, {"write_json", test_write_json},
       {"cmp_hash", test_cmp_hash}, {"cmp_order", test_cmp_order}, {"builder", test_builder},
       {"quoting", test_quoting}, {"names_valid", test_names_valid}, {"matchers", test_matchers},
       {"set_matchers", test_set_matchers})
