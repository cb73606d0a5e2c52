#include "pkg/labels/regex.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

/* Expands tmpl after matching pattern against s; returns a heap string or NULL on no match. */
static char *
expand(const char *pattern, const char *s, const char *tmpl)
{
    ts_regex *re;
    if (ts_regex_new(&re, pattern, NULL))
        return NULL;
    ts_regex_match m;
    char *res = NULL;
    if (ts_regex_match_str(re, s, strlen(s), &m)) {
        ts_buf b;
        ts_buf_init(&b, 0);
        ts_regex_expand(re, tmpl, s, &m, &b);
        res = ts_strdup(ts_buf_cstr(&b));
        ts_buf_fini(&b);
    }
    ts_regex_free(re);
    return res;
}

static void
check(const char *pattern, const char *s, const char *tmpl, const char *want, int line)
{
    char *got = expand(pattern, s, tmpl);
    if (!want) {
        if (got)
            fprintf(stderr, "  line %d: expected no match, got \"%s\"\n", line, got);
        t_failed_flag |= got != NULL;
    } else if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "  line %d: %s ~ %s -> %s: got \"%s\", want \"%s\"\n", line, pattern, s,
                tmpl, got ? got : "(no match)", want);
        t_failed_flag = 1;
    }
    ts_free(got);
}
#define CHECK(p, s, t, w) check(p, s, t, w, __LINE__)

static void
test_expand(void)
{
    CHECK("(.*)", "abc", "$1", "abc");
    CHECK("(a)(b)(c)", "abc", "$3$2$1", "cba");
    CHECK("(a)(b)", "ab", "${1}x", "ax");
    CHECK("(a)(b)", "ab", "$1x", ""); /* Go: group "1x" does not exist */
    CHECK("(?P<first>a)b", "ab", "$first!", "a!");
    CHECK("(?P<first>a)b", "ab", "${first}", "a");
    CHECK("(a)", "a", "$$1", "$1");
    CHECK("(a)", "a", "cost: $", "cost: $"); /* malformed: literal */
    CHECK("(a)", "a", "${1", "${1");
    CHECK("(a)?b", "b", "[$1]", "[]"); /* unset group expands to "" */
    CHECK("(a)", "a", "$9", "");
    CHECK("b", "ab", "$0", NULL); /* anchored: no match */
    CHECK("(.+):(\\d+)", "host:9100", "$1", "host");
}

static void
test_bad_pattern(void)
{
    ts_regex *re;
    ts_error e;
    ts_error_clear(&e);
    T_EQ(ts_regex_new(&re, "a(b", &e), TS_EPARSE);
    T_TRUE(strstr(e.msg, "error parsing regexp") != NULL);
}

T_MAIN({"expand", test_expand}, {"bad_pattern", test_bad_pattern})
