/*
 * libyaml event stream -> tree.  A stack of open collections; each scalar,
 * sequence or mapping start creates a node appended to the collection on
 * top of the stack.  Anchors are remembered in a small list (configs have
 * few); an alias event appends the anchored node again.
 */
#include "pkg/config/yaml.h"
#include "pkg/util/mem.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

typedef struct anchor {
    const char *name;
    ts_ynode *node;
} anchor;

typedef struct loader {
    ts_arena *a;
    ts_ynode *stack[64];
    size_t depth;
    size_t *caps; /* capacity of each stack level's kids array */
    size_t capstack[64];
    anchor *anchors;
    size_t nanchors, capanchors;
    ts_ynode *root;
} loader;

static ts_ynode *
new_node(loader *l, ts_ynode_type t, const yaml_mark_t *m)
{
    ts_ynode *n = TS_ARENA_NEW(l->a, ts_ynode);
    n->type = t;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void
add_kid(loader *l, ts_ynode *n)
{
    if (l->depth == 0) {
        if (!l->root)
            l->root = n;
        return;
    }
    ts_ynode *p = l->stack[l->depth - 1];
    size_t *cap = &l->capstack[l->depth - 1];
    if (p->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        ts_ynode **k = ts_arena_alloc(l->a, ncap * sizeof(*k));
        if (p->n)
            memcpy(k, p->kids, p->n * sizeof(*k));
        p->kids = k;
        *cap = ncap;
    }
    p->kids[p->n++] = n;
}

static void
remember(loader *l, const yaml_char_t *name, ts_ynode *n)
{
    if (!name)
        return;
    TS_GROW(l->anchors, l->capanchors, l->nanchors + 1);
    l->anchors[l->nanchors].name = ts_arena_strdup(l->a, (const char *)name);
    l->anchors[l->nanchors++].node = n;
}

static ts_ynode *
lookup(loader *l, const yaml_char_t *name)
{
    for (size_t i = l->nanchors; i-- > 0;)
        if (strcmp(l->anchors[i].name, (const char *)name) == 0)
            return l->anchors[i].node;
    return NULL;
}

int
ts_yaml_load(const char *text, size_t len, ts_arena *a, ts_ynode **root, ts_error *err)
{
    if (memchr(text, '\0', len)) {
        const char *z = memchr(text, '\0', len);
        int line = 1;
        for (const char *p = text; p < z; p++)
            line += *p == '\n';
        err->line = line;
        return ts_error_set(err, TS_EPARSE, "yaml: line %d: NUL byte in input", line);
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    loader l = {.a = a};
    int rc = TS_OK, done = 0, docs = 0;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            int line = (int)p.problem_mark.line + 1;
            if (err)
                err->line = line;
            rc = ts_error_set(err, TS_EPARSE, "yaml: line %d: %s", line,
                              p.problem ? p.problem : "syntax error");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                if (err)
                    err->line = (int)ev.start_mark.line + 1;
                rc = ts_error_set(err, TS_EPARSE, "yaml: line %d: expected a single document",
                                  (int)ev.start_mark.line + 1);
                done = 1;
            }
            break;
        case YAML_SCALAR_EVENT: {
            ts_ynode *n = new_node(&l, TS_YNODE_SCALAR, &ev.start_mark);
            n->str = ts_arena_strndup(a, (const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            remember(&l, ev.data.scalar.anchor, n);
            add_kid(&l, n);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            ts_ynode *n =
                new_node(&l, ev.type == YAML_SEQUENCE_START_EVENT ? TS_YNODE_SEQ : TS_YNODE_MAP,
                         &ev.start_mark);
            remember(&l,
                     ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                          : ev.data.mapping_start.anchor,
                     n);
            add_kid(&l, n);
            if (l.depth == 64) {
                if (err)
                    err->line = n->line;
                rc = ts_error_set(err, TS_ELIMIT, "yaml: line %d: nesting too deep", n->line);
                done = 1;
                break;
            }
            l.capstack[l.depth] = 0;
            l.stack[l.depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: l.depth--; break;
        case YAML_ALIAS_EVENT: {
            ts_ynode *n = lookup(&l, ev.data.alias.anchor);
            if (!n) {
                int line = (int)ev.start_mark.line + 1;
                if (err)
                    err->line = line;
                rc = ts_error_set(err, TS_EPARSE, "yaml: line %d: unknown anchor '%s' referenced",
                                  line, (const char *)ev.data.alias.anchor);
                done = 1;
                break;
            }
            add_kid(&l, n);
            break;
        }
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    ts_free(l.anchors);
    *root = rc == TS_OK ? l.root : NULL;
    return rc;
}

const ts_ynode *
ts_ynode_get(const ts_ynode *map, const char *key)
{
    if (!map || map->type != TS_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->type == TS_YNODE_SCALAR && strcmp(map->kids[i]->str, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

bool
ts_ynode_is_null(const ts_ynode *n)
{
    if (!n)
        return true;
    if (n->type != TS_YNODE_SCALAR || !n->plain)
        return false;
    return n->str[0] == '\0' || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *
ts_ynode_kind(const ts_ynode *n)
{
    if (!n)
        return "!!null";
    switch (n->type) {
    case TS_YNODE_SCALAR: return ts_ynode_is_null(n) ? "!!null" : "!!str";
    case TS_YNODE_SEQ: return "!!seq";
    case TS_YNODE_MAP: return "!!map";
    }
    return "?";
}

int
ts_yaml_vfail(ts_error *err, const char *path, const ts_ynode *n, int code, const char *fmt,
              va_list ap)
{
    if (!err)
        return code;
    char msg[TS_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (path && path[0])
        ts_error_set(err, code, "%s: %s", path, msg);
    else
        ts_error_set(err, code, "%s", msg);
    err->line = n ? n->line : 0;
    err->col = n ? n->col : 0;
    return code;
}
