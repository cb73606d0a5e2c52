/*
 * Target groups, static_configs and file_sd parsing.
 *
 * A file_sd file is YAML or JSON (JSON parses as YAML with libyaml, so one
 * reader serves both) holding a list of groups:
 *
 *     [ { "targets": ["host:port", ...], "labels": { "name": "value", ... } }, ... ]
 *
 * Each group's labels get __meta_filepath=<path> and the group source is
 * "<path>:<index>" (Prometheus discovery/file).  Targets are checked as
 * Prometheus checks them when it reads a group: a target containing '/' is
 * not a host:port, and label names must be valid.  Store files (the querier's
 * --store.sd-files) may also list URLs such as tls+tcp://host:port, so for
 * them the '/' check is off (url_targets).
 */
#include "pkg/discovery/discovery.h"

#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "pkg/config/yaml.h"
#include "pkg/util/mem.h"

void
ts_target_group_fini(ts_target_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->ntargets; i++)
        ts_labels_free(g->targets[i]);
    ts_free(g->targets);
    ts_labels_free(g->labels);
    ts_free(g->source);
    memset(g, 0, sizeof(*g));
}

void
ts_target_groups_free(ts_target_group *gs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_target_group_fini(&gs[i]);
    ts_free(gs);
}

void
ts_target_group_copy(ts_target_group *dst, const ts_target_group *src)
{
    dst->source = ts_strdup(src->source ? src->source : "");
    dst->labels = ts_labels_dup(src->labels ? src->labels : ts_labels_empty());
    dst->ntargets = src->ntargets;
    dst->targets = ts_calloc(src->ntargets ? src->ntargets : 1, sizeof(ts_labels *));
    for (size_t i = 0; i < src->ntargets; i++)
        dst->targets[i] = ts_labels_dup(src->targets[i]);
}

static ts_labels *
address_labels(const char *addr)
{
    ts_label l = {"__address__", addr};
    return ts_labels_new(&l, 1);
}

void
ts_discovery_static_group(const ts_static_config *sc, size_t index, ts_target_group *out)
{
    char src[32];
    snprintf(src, sizeof(src), "%zu", index);
    memset(out, 0, sizeof(*out));
    out->source = ts_strdup(src);
    out->labels = ts_labels_dup(sc->labels ? sc->labels : ts_labels_empty());
    out->ntargets = sc->targets.n;
    out->targets = ts_calloc(sc->targets.n ? sc->targets.n : 1, sizeof(ts_labels *));
    for (size_t i = 0; i < sc->targets.n; i++)
        out->targets[i] = address_labels(sc->targets.v[i]);
}

/* Decodes one {targets, labels} map into g; returns TS_OK or an error. */
static int
decode_group(const char *path, size_t idx, const ts_ynode *n, bool url_targets, ts_target_group *g,
             ts_error *err)
{
    if (n->type != TS_YNODE_MAP)
        return ts_error_set(err, TS_EPARSE, "line %d: group %zu is a %s, not a map", n->line, idx,
                            ts_ynode_kind(n));
    ts_labels_builder b;
    ts_labels_builder_init(&b, NULL);
    int rc = TS_OK;
    const ts_ynode *labels = ts_ynode_get(n, "labels");
    if (labels && !ts_ynode_is_null(labels)) {
        if (labels->type != TS_YNODE_MAP) {
            rc = ts_error_set(err, TS_EPARSE, "line %d: labels must be a map", labels->line);
            goto out;
        }
        for (size_t i = 0; i + 1 < labels->n; i += 2) {
            const ts_ynode *k = labels->kids[i], *v = labels->kids[i + 1];
            if (k->type != TS_YNODE_SCALAR || v->type != TS_YNODE_SCALAR) {
                rc = ts_error_set(err, TS_EPARSE, "line %d: label names and values must be strings",
                                  k->line);
                goto out;
            }
            if (!ts_label_name_valid(k->str, strlen(k->str))) {
                rc = ts_error_set(err, TS_EINVAL, "line %d: \"%s\" is not a valid label name",
                                  k->line, k->str);
                goto out;
            }
            ts_labels_builder_set(&b, k->str, v->str);
        }
    }
    ts_labels_builder_set(&b, "__meta_filepath", path);
    g->labels = ts_labels_builder_build(&b, NULL);

    const ts_ynode *targets = ts_ynode_get(n, "targets");
    if (targets && !ts_ynode_is_null(targets)) {
        if (targets->type != TS_YNODE_SEQ) {
            rc = ts_error_set(err, TS_EPARSE, "line %d: targets must be a list", targets->line);
            goto out;
        }
        g->targets = ts_calloc(targets->n ? targets->n : 1, sizeof(ts_labels *));
        for (size_t i = 0; i < targets->n; i++) {
            const ts_ynode *t = targets->kids[i];
            if (t->type != TS_YNODE_SCALAR) {
                rc = ts_error_set(err, TS_EPARSE, "line %d: a target must be a string", t->line);
                goto out;
            }
            if (!url_targets && strchr(t->str, '/')) {
                rc = ts_error_set(err, TS_EINVAL, "line %d: \"%s\" is not a valid hostname",
                                  t->line, t->str);
                goto out;
            }
            g->targets[g->ntargets++] = address_labels(t->str);
        }
    }
    char *src = ts_malloc(strlen(path) + 32);
    snprintf(src, strlen(path) + 32, "%s:%zu", path, idx);
    g->source = src;
out:
    ts_labels_builder_fini(&b);
    return rc;
}

int
ts_discovery_file_parse(const char *path, const char *text, size_t len, bool url_targets,
                        ts_target_group **out, size_t *n, ts_error *err)
{
    *out = NULL;
    *n = 0;
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_ynode *root = NULL;
    int rc = ts_yaml_load(text, len, &a, &root, err);
    if (rc)
        goto done;
    if (!root || ts_ynode_is_null(root))
        goto done; /* an empty file is an empty list */
    if (root->type != TS_YNODE_SEQ) {
        rc = ts_error_set(err, TS_EPARSE, "line %d: expected a list of target groups, got %s",
                          root->line, ts_ynode_kind(root));
        goto done;
    }
    ts_target_group *gs = ts_calloc(root->n ? root->n : 1, sizeof(*gs));
    for (size_t i = 0; i < root->n; i++) {
        rc = decode_group(path, i, root->kids[i], url_targets, &gs[i], err);
        if (rc) {
            ts_target_groups_free(gs, i + 1);
            goto done;
        }
    }
    *out = gs;
    *n = root->n;
done:
    ts_arena_fini(&a);
    return rc;
}

int
ts_discovery_file_glob(const char *pattern, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    glob_t g;
    memset(&g, 0, sizeof(g));
    int rc = glob(pattern, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return TS_OK;
    }
    if (rc != 0) {
        globfree(&g);
        return TS_EIO;
    }
    size_t cnt = g.gl_pathc;
    char **v = ts_calloc(cnt ? cnt : 1, sizeof(char *));
    for (size_t i = 0; i < cnt; i++)
        v[i] = ts_strdup(g.gl_pathv[i]);
    globfree(&g);
    /* sorted, as filepath.Glob returns them in directory order sorted */
    for (size_t i = 1; i < cnt; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n = cnt;
    return TS_OK;
}
