/*
 * Label sets: immutable, sorted by name, hashed once.
 *
 * A ts_labels is one contiguous allocation: the header, the array of
 * (name, value) pointers, then the strings themselves.  It is never modified
 * after it is built, so it can be shared freely between threads and copied
 * with one memcpy-like dup.  Use a ts_labels_builder to derive a new set
 * (relabeling, PromQL's label manipulation).
 *
 * Sharing: a heap set carries a reference count.  ts_labels_share takes one
 * more reference instead of copying (the scraper's cache, its staleness set
 * and the head's series hold one object per series, not three copies), and
 * ts_labels_free drops one; the last drop frees it.  Arena sets and the empty
 * set are not counted: sharing one copies it to the heap.
 *
 * Empty values: as in Prometheus, a label with an empty value is the same as
 * an absent label.  The builder drops them; ts_labels_new keeps what it is
 * given (callers that read from disk rely on that being exact).
 *
 * Ordering is Prometheus' labels.Compare: pairwise by name, then value
 * (byte order), then the shorter set first.
 */
#ifndef TS_LABELS_LABELS_H
#define TS_LABELS_LABELS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/util/arena.h"
#include "pkg/util/jsonw.h"

#define TS_METRIC_NAME "__name__"

typedef struct ts_label {
    const char *name;
    const char *value;
} ts_label;

typedef struct ts_labels {
    uint32_t n;            /* number of labels */
    uint32_t size;         /* total bytes of this allocation */
    uint64_t hash;         /* ts_labels_hash */
    _Atomic uint32_t refs; /* heap: references held (>= 1); 0: arena or static, never freed */
    ts_label l[];          /* sorted by name; strings follow the array */
} ts_labels;

/* Building.  Each copies its input; heap results are freed with
 * ts_labels_free, arena results die with the arena. */
ts_labels *ts_labels_new(const ts_label *ls, size_t n);
ts_labels *ts_labels_new_arena(ts_arena *a, const ts_label *ls, size_t n);
/* From alternating name, value C strings: ts_labels_from_strings(4, "a","1","b","2"). */
ts_labels *ts_labels_from_strings(size_t nstrings, ...);
ts_labels *ts_labels_dup(const ts_labels *ls);
ts_labels *ts_labels_dup_arena(ts_arena *a, const ts_labels *ls);
/* Another reference to ls (the same object) when it is a heap set, else a
 * heap copy; either way the caller frees the result with ts_labels_free. */
ts_labels *ts_labels_share(const ts_labels *ls);
/* Drops one reference (frees on the last); NULL, arena and static sets are ignored. */
void ts_labels_free(ts_labels *ls);
/* The empty set (static, never freed). */
const ts_labels *ts_labels_empty(void);

/* Access. */
static inline size_t
ts_labels_len(const ts_labels *ls)
{
    return ls->n;
}
/* Returns the value of name, or NULL when absent (binary search). */
const char *ts_labels_get(const ts_labels *ls, const char *name);
bool ts_labels_has(const ts_labels *ls, const char *name);

/* Comparison and hashing. */
int ts_labels_cmp(const ts_labels *a, const ts_labels *b);
bool ts_labels_equal(const ts_labels *a, const ts_labels *b);
/* Stable 64-bit hash of the whole set (xxh3 over name\xffvalue\xff...). */
static inline uint64_t
ts_labels_hash(const ts_labels *ls)
{
    return ls->hash;
}
/* Hash over only the given names (include=true) or all but them
 * (include=false); names need not be sorted.  For PromQL on()/ignoring()
 * and by()/without(). */
uint64_t ts_labels_hash_subset(const ts_labels *ls, const char *const *names, size_t nnames,
                               bool include);

/* Formatting as Prometheus prints a label set: {a="1", b="2"} with Go-style
 * quoting.  Returns the length that the full text needs (snprintf-like). */
size_t ts_labels_format(const ts_labels *ls, char *buf, size_t size);
/* Same into an arena string. */
char *ts_labels_to_string(ts_arena *a, const ts_labels *ls);
/* As a JSON object value {"a":"1","b":"2"} in label order, the way Prometheus'
 * API and its Alertmanager client encode a label set (NULL writes {}). */
void ts_labels_write_json(ts_jsonw *w, const ts_labels *ls);

/* Validation: [a-zA-Z_][a-zA-Z0-9_]* for label names, plus ':' for metric names. */
bool ts_label_name_valid(const char *s, size_t n);
bool ts_metric_name_valid(const char *s, size_t n);

/*
 * Builder: a mutable view used to derive a label set.  set() with an empty
 * value deletes.  The builder copies strings it is given into its own arena,
 * so the inputs may die after the call.
 */
typedef struct ts_labels_builder {
    ts_arena arena;
    ts_label *l;
    size_t n, cap;
} ts_labels_builder;

void ts_labels_builder_init(ts_labels_builder *b, const ts_labels *base); /* base may be NULL */
void ts_labels_builder_fini(ts_labels_builder *b);
void ts_labels_builder_reset(ts_labels_builder *b, const ts_labels *base);
void ts_labels_builder_set(ts_labels_builder *b, const char *name, const char *value);
void ts_labels_builder_del(ts_labels_builder *b, const char *name);
const char *ts_labels_builder_get(const ts_labels_builder *b, const char *name);
/* Keep only names in the list (include=true) or drop them (false). */
void ts_labels_builder_keep(ts_labels_builder *b, const char *const *names, size_t n, bool include);
/* Builds a sorted set (empty values dropped) in the arena, or on the heap when a is NULL. */
ts_labels *ts_labels_builder_build(ts_labels_builder *b, ts_arena *a);

#endif
