/*
 * A tiny unit-test harness (in the spirit of nng's NUTS / acutest).
 *
 *   static void test_thing(void) { T_EQ(1 + 1, 2); T_STREQ(s, "x"); }
 *   T_MAIN({"thing", test_thing}, ...)
 *
 * A failed assertion prints file:line and the values, marks the test failed
 * and returns from the test function.  The executable exits non-zero if any
 * test failed and prints "N passed, M failed" last.  Run one test with
 * `./x_test name`.
 */
#ifndef TS_TESTS_T_H
#define TS_TESTS_T_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct t_case {
    const char *name;
    void (*fn)(void);
} t_case;

extern int t_failed_flag;
int t_run(const t_case *cases, size_t n, int argc, char **argv);

/* A fresh temporary directory, removed at exit unless TS_KEEP_TMP is set.
 * Returns a static path (valid until the next call). */
const char *t_tmpdir(void);
/* Path of a file under the source tree (tests/data/...). */
const char *t_src_path(const char *rel);
/* The non-negative decimal integer (at most INT_MAX) that is all of s, or -1
 * when s is NULL or anything else (the checked atoi of tests: a caller that
 * uses the result as an index sees -1 as a bad value). */
int t_parse_index(const char *s);

#define T_FAIL_(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);                                     \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        t_failed_flag = 1;                                                                         \
        return;                                                                                    \
    } while (0)

#define T_TRUE(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            T_FAIL_("expected true: %s", #c);                                                      \
    } while (0)
#define T_FALSE(c) T_TRUE(!(c))
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        int t_rc_ = (expr);                                                                        \
        if (t_rc_ != 0)                                                                            \
            T_FAIL_("%s returned %d", #expr, t_rc_);                                               \
    } while (0)
#define T_EQ(a, b)                                                                                 \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_)                                                                          \
            T_FAIL_("%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);                                 \
    } while (0)
#define T_NE(a, b)                                                                                 \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ == t_b_)                                                                          \
            T_FAIL_("%s != %s: both %lld", #a, #b, t_a_);                                          \
    } while (0)
#define T_STREQ(a, b)                                                                              \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                                             \
            T_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, t_a_ ? t_a_ : "(null)",                  \
                    t_b_ ? t_b_ : "(null)");                                                       \
    } while (0)
/* Doubles equal, or both NaN (any NaN). */
#define T_FEQ(a, b)                                                                                \
    do {                                                                                           \
        double t_a_ = (a), t_b_ = (b);                                                             \
        if (!(t_a_ == t_b_ || (isnan(t_a_) && isnan(t_b_))))                                       \
            T_FAIL_("%s == %s: %.17g != %.17g", #a, #b, t_a_, t_b_);                               \
    } while (0)

#define T_MAIN(...)                                                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const t_case cases_[] = {__VA_ARGS__};                                              \
        return t_run(cases_, sizeof(cases_) / sizeof(cases_[0]), argc, argv);                      \
    }

#endif
