/*
 * Regular expressions with capture groups and Go-style template expansion,
 * for relabeling and PromQL's label_replace.  Same engine and anchoring as
 * the matchers (matcher.h): patterns are compiled as ^(?:re)$ with PCRE2
 * (UTF mode, JIT, bounded match effort).
 *
 * Thread-safety: a compiled ts_regex is immutable; matching uses per-thread
 * scratch, so one regex may be used by several threads.
 */
#ifndef TS_LABELS_REGEX_H
#define TS_LABELS_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/util/buf.h"
#include "pkg/util/err.h"

typedef struct ts_regex ts_regex;

#define TS_REGEX_MAX_GROUPS 32

/* Capture offsets of one match: group i spans [start[i], end[i]), -1 if unset. */
typedef struct ts_regex_match {
    int ngroups; /* including group 0 */
    long start[TS_REGEX_MAX_GROUPS];
    long end[TS_REGEX_MAX_GROUPS];
} ts_regex_match;

/* Compiles an anchored regex; TS_EPARSE with "error parsing regexp: ..." on bad syntax. */
int ts_regex_new(ts_regex **out, const char *pattern, ts_error *err);
void ts_regex_free(ts_regex *re);
const char *ts_regex_pattern(const ts_regex *re);

/* Whole-string match; m (may be NULL) receives the groups. */
bool ts_regex_match_str(const ts_regex *re, const char *s, size_t n, ts_regex_match *m);

/* Appends template expanded with the groups of m over subject s, as Go's
 * Regexp.ExpandString: $1, ${1}, $name, ${name}, $$ for a literal $.  A name
 * runs over [A-Za-z0-9_] as far as it can ("$1x" is the group named "1x",
 * which does not exist and expands to ""), unknown groups expand to "", and
 * a malformed reference is copied literally. */
int ts_regex_expand(const ts_regex *re, const char *tmpl, const char *s, const ts_regex_match *m,
                    ts_buf *out);

#endif
