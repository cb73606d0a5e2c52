/*
 * Label matchers: =, !=, =~, !~.
 *
 * Regexes are fully anchored, as Prometheus anchors them ("^(?:re)$"): the
 * whole value must match.  Syntax is RE2's as far as PCRE2 shares it (all of
 * what PromQL users write: classes, \d \w \s, (?i), alternation, repetition);
 * PCRE2 is compiled with JIT and a match limit so a hostile pattern cannot
 * hang a query.  A missing label matches as the empty string.
 *
 * Thread-safety: a built matcher is immutable; ts_matcher_matches may be
 * called from many threads at once.
 */
#ifndef TS_LABELS_MATCHER_H
#define TS_LABELS_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/util/err.h"

typedef enum ts_match_type {
    TS_MATCH_EQ = 0,
    TS_MATCH_NEQ = 1,
    TS_MATCH_RE = 2,
    TS_MATCH_NRE = 3,
} ts_match_type;

typedef struct ts_matcher {
    ts_match_type type;
    char *name;
    char *value;
    void *re;    /* pcre2_code *, for RE/NRE */
    int literal; /* RE whose pattern has no metacharacters: compared as a string */
    /* RE that is an alternation of literals ("a|b\\.c", optionally in one
     * group "(...)" or "(?:...)", as Grafana's multi-value variables write
     * them): the alternatives, sorted, matched by binary search instead of
     * PCRE2 (no compiled-size limit, O(log n)); re is then NULL. */
    char **set;
    size_t nset;
} ts_matcher;

/* Builds a matcher (copies name and value).  Bad regexes fail with TS_EPARSE
 * and a message like Go's: "error parsing regexp: missing closing ): `(a`".
 * Free with ts_matcher_free (accepts NULL). */
int ts_matcher_new(ts_matcher **out, ts_match_type type, const char *name, const char *value,
                   ts_error *err);
void ts_matcher_free(ts_matcher *m);

/* value is the label's value, "" when the label is absent. */
bool ts_matcher_matches(const ts_matcher *m, const char *value);
/* Whether a missing label (empty value) matches. */
static inline bool
ts_matcher_matches_empty(const ts_matcher *m)
{
    return ts_matcher_matches(m, "");
}

/* "=", "!=", "=~", "!~" */
const char *ts_match_type_str(ts_match_type t);

/* Appends `name="value"` (Go-quoted) forms; returns snprintf-like length. */
size_t ts_matcher_format(const ts_matcher *m, char *buf, size_t size);

#endif
