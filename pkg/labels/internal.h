/* Internals shared by matcher.c and regex.c (not part of the public API). */
#ifndef TS_LABELS_INTERNAL_H
#define TS_LABELS_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Per-thread PCRE2 match data (32 capture pairs) and a match context with a
 * bounded match limit.  Freed automatically when the thread exits. */
void ts__re_scratch(pcre2_match_data **md, pcre2_match_context **mc);

#endif
