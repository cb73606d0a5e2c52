/*
 * A small YAML document tree on top of libyaml, with line numbers on every
 * node, so configuration errors can name the file, line and key.  Anchors
 * and aliases are resolved (an alias points at the anchored node).  All
 * nodes live in the arena passed to ts_yaml_load.
 */
#ifndef TS_CONFIG_YAML_H
#define TS_CONFIG_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "pkg/util/arena.h"
#include "pkg/util/err.h"

typedef enum ts_ynode_type {
    TS_YNODE_SCALAR,
    TS_YNODE_SEQ,
    TS_YNODE_MAP,
} ts_ynode_type;

typedef struct ts_ynode ts_ynode;
struct ts_ynode {
    ts_ynode_type type;
    int line, col;   /* 1-based */
    const char *str; /* scalar value (NUL-terminated; may contain NUL? no: rejected) */
    bool plain;      /* scalar was unquoted (so "null", "~", "" mean null) */
    ts_ynode **kids; /* seq: items; map: key0, value0, key1, value1, ... */
    size_t n;        /* number of kids (maps: 2 x pairs) */
};

/* Parses text (len bytes) into a tree.  An empty document gives *root =
 * NULL.  Syntax errors: TS_EPARSE, err->line set, err->msg like
 * "yaml: line 2: did not find expected '-' indicator". */
int ts_yaml_load(const char *text, size_t len, ts_arena *a, ts_ynode **root, ts_error *err);

/* Reports a decoding error at node n: fills err (may be NULL) with
 * "PATH: message" ("message" alone when path is empty), err->line and
 * err->col from n (0 when n is NULL).  Returns code. */
int ts_yaml_vfail(ts_error *err, const char *path, const ts_ynode *n, int code, const char *fmt,
                  va_list ap) __attribute__((format(printf, 5, 0)));

/* True for a plain null scalar (null, Null, NULL, ~, empty). */
bool ts_ynode_is_null(const ts_ynode *n);
/* The value under the scalar key `key` of a map; NULL when map is NULL, not a
 * map, or has no such key. */
const ts_ynode *ts_ynode_get(const ts_ynode *map, const char *key);
/* YAML name of the node's kind for messages: "!!str", "!!seq", "!!map". */
const char *ts_ynode_kind(const ts_ynode *n);

#endif
