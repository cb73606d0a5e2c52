/*
 * Rule files (Prometheus 2.42 rulefmt).
 *
 * Two passes over the YAML tree of pkg/config/yaml.h, in the order promtool
 * uses, so the first error we report is the first one promtool reports:
 *
 *  1. decode: the strict YAML unmarshal (yaml.v3 with KnownFields).  Every
 *     mapping's keys are checked against the Go type's fields, repeated keys
 *     are rejected, and scalars are converted (durations, ints).  Messages use
 *     yaml.v3's texts ("field X not found in type rulefmt.RuleNode",
 *     "cannot unmarshal !!seq into string").  The result is the ts_rule_file
 *     plus, per rule, the YAML nodes of its fields (for positions in pass 2).
 *
 *  2. validate: rulefmt's RuleGroups.Validate / RuleNode.Validate, group by
 *     group and rule by rule, with their texts ("Groupname must not be
 *     empty", "only one of 'record' and 'alert' must be set", ...).  Rule
 *     messages carry promtool's `group "g", rule N, "name": ` prefix (N is
 *     1-based, the name is the alert name, else the record name).
 *
 * Every message starts with a key path ("groups[0].rules[2].expr: ") and
 * err->line/col point at the node that is wrong (for errors about a missing
 * field, at the rule or group itself).  Annotation templates are not parsed.
 */
/* _GNU_SOURCE (for GLOB_PERIOD) comes from the build flags */
#include "pkg/rules/rulefmt.h"
#include "pkg/rules/template.h"

#include "pkg/config/yaml.h"
#include "pkg/promql/parser/ast.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE_BYTES (64u << 20)

/* YAML nodes of one rule's fields (NULL when absent), kept for pass 2. */
typedef struct rule_nodes {
    const ts_ynode *map, *record, *alert, *expr, *for_, *kff, *labels, *annotations;
} rule_nodes;

typedef struct group_nodes {
    const ts_ynode *map, *name;
    rule_nodes *rules;
} group_nodes;

typedef struct dctx {
    ts_rule_file *f;
    ts_error *err;
    unsigned flags; /* TS_RULEFMT_* */
    char path[256];
} dctx;

static int fail(dctx *d, const ts_ynode *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(dctx *d, const ts_ynode *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_yaml_vfail(d->err, d->path, n, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Key path: set_path replaces it (the passes know their position). */
static void set_path(dctx *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_path(dctx *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->path, sizeof(d->path), fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- decode */

/* Go's strconv.ParseInt(s, 0, 64) as yaml.v3 uses it for ints: an optional
 * sign, then decimal, 0x hex, 0o / leading-0 octal or 0b binary, '_' between
 * digits.  Returns false when s is not such an int or overflows. */
static bool
parse_go_int(const char *s, long long *out)
{
    char buf[80];
    size_t n = 0;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
    else if (s[0] == '0' && s[1])
        base = 8, s += 1;
    for (; *s; s++) {
        if (*s == '_')
            continue;
        if (n + 1 >= sizeof(buf) || !isxdigit((unsigned char)*s))
            return false;
        buf[n++] = *s;
    }
    buf[n] = '\0';
    if (n == 0)
        return false;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(buf, &end, base);
    if (errno || *end || u > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
        return false;
    *out = !neg ? (long long)u : u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)u;
    return true;
}

/* The tag yaml.v3 resolves a node to, for "cannot unmarshal" messages. */
static const char *
tag_of(const ts_ynode *n)
{
    if (n->type != TS_YNODE_SCALAR || !n->plain)
        return ts_ynode_kind(n);
    if (ts_ynode_is_null(n))
        return "!!null";
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    for (int i = 0; bools[i]; i++)
        if (strcmp(n->str, bools[i]) == 0)
            return "!!bool";
    long long x;
    if (parse_go_int(n->str, &x))
        return "!!int";
    const char *s = n->str;
    if (*s == '-' || *s == '+')
        s++;
    char *end;
    errno = 0;
    (void)strtod(n->str, &end);
    if (*end == '\0' && isdigit((unsigned char)*s))
        return "!!float";
    return "!!str";
}

/* yaml.v3's message for a node that does not fit gotype. */
static int
type_error(dctx *d, const ts_ynode *n, const char *gotype)
{
    if (n->type == TS_YNODE_SCALAR)
        return fail(d, n, TS_EPARSE, "cannot unmarshal %s `%s` into %s", tag_of(n), n->str, gotype);
    return fail(d, n, TS_EPARSE, "cannot unmarshal %s into %s", tag_of(n), gotype);
}

/* A string and where it was (an index in file order), for finding repeats by
 * sorting: maps and group lists come from outside and may be huge, so no
 * quadratic scans. */
typedef struct keypos {
    const char *s;
    size_t pos;
} keypos;

static int
cmp_keypos(const void *a, const void *b)
{
    const keypos *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Repeated keys, reported as yaml.v3 does: the earliest key that has a later
 * twin, at the twin's line ("mapping key \"a\" already defined at line N"). */
static int
check_dups(dctx *d, const ts_ynode *n)
{
    size_t np = n->n / 2;
    if (np < 2)
        return TS_OK;
    keypos *kp = ts_malloc(np * sizeof(*kp));
    for (size_t i = 0; i < np; i++)
        kp[i] = (keypos){n->kids[2 * i]->str, i};
    qsort(kp, np, sizeof(*kp), cmp_keypos);
    size_t first = SIZE_MAX, twin = 0;
    for (size_t i = 1; i < np; i++) {
        bool run_start = i < 2 || strcmp(kp[i - 2].s, kp[i].s) != 0;
        if (run_start && strcmp(kp[i - 1].s, kp[i].s) == 0 && kp[i - 1].pos < first) {
            first = kp[i - 1].pos;
            twin = kp[i].pos;
        }
    }
    ts_free(kp);
    if (first == SIZE_MAX)
        return TS_OK;
    const ts_ynode *k0 = n->kids[2 * first], *k1 = n->kids[2 * twin];
    return fail(d, k1, TS_EPARSE, "mapping key \"%s\" already defined at line %d", k1->str,
                k0->line);
}

/* Checks that n is a mapping with scalar keys, no key twice, and (when known
 * is not NULL) only known keys, in yaml.v3's order: key types, repeats, then
 * unknown fields.  Null is accepted as an empty mapping. */
static int
check_map(dctx *d, const ts_ynode *n, const char *gotype, const char *const *known)
{
    if (ts_ynode_is_null(n))
        return TS_OK;
    if (n->type != TS_YNODE_MAP)
        return type_error(d, n, gotype);
    for (size_t i = 0; i + 1 < n->n; i += 2)
        if (n->kids[i]->type != TS_YNODE_SCALAR)
            return type_error(d, n->kids[i], "string");
    int rc = check_dups(d, n);
    for (size_t i = 0; !rc && known && i + 1 < n->n; i += 2) {
        const ts_ynode *k = n->kids[i];
        bool found = false;
        for (const char *const *p = known; *p && !found; p++)
            found = strcmp(*p, k->str) == 0;
        if (!found)
            rc = fail(d, k, TS_EPARSE, "field %s not found in type %s", k->str, gotype);
    }
    return rc;
}

/* Short name for the map lookup used on nearly every line below. */
static inline const ts_ynode *
get(const ts_ynode *map, const char *key)
{
    return ts_ynode_get(map, key);
}

/* A string field: any scalar (yaml.v3 takes 5 or true as text); null is "". */
static int
get_str(dctx *d, const ts_ynode *v, const char **out)
{
    *out = "";
    if (!v || ts_ynode_is_null(v))
        return TS_OK;
    if (v->type != TS_YNODE_SCALAR)
        return type_error(d, v, "string");
    *out = ts_arena_strdup(&d->f->arena, v->str);
    return TS_OK;
}

static int
get_duration(dctx *d, const ts_ynode *v, int64_t *out)
{
    *out = 0;
    if (!v || ts_ynode_is_null(v))
        return TS_OK;
    if (v->type != TS_YNODE_SCALAR)
        return type_error(d, v, "string");
    if (ts_duration_parse(v->str, strlen(v->str), out) != TS_OK)
        return fail(d, v, TS_EPARSE, "not a valid duration string: \"%s\"", v->str);
    return TS_OK;
}

/* The group's limit (a Go int).  Prometheus treats limit <= 0 as "no limit". */
static int
get_limit(dctx *d, const ts_ynode *v, uint64_t *out)
{
    *out = 0;
    if (!v || ts_ynode_is_null(v))
        return TS_OK;
    long long x;
    if (v->type == TS_YNODE_SCALAR && v->plain && parse_go_int(v->str, &x)) {
        *out = x > 0 ? (uint64_t)x : 0;
        return TS_OK;
    }
    /* yaml.v3 truncates a float into an int field (promtool takes "limit: 1.5") */
    if (v->type == TS_YNODE_SCALAR && strcmp(tag_of(v), "!!float") == 0) {
        double f = strtod(v->str, NULL);
        if (f >= 0 && f < 9.2e18) {
            *out = (uint64_t)f;
            return TS_OK;
        }
        if (f < 0 && f > -9.2e18) {
            *out = 0;
            return TS_OK;
        }
    }
    return type_error(d, v, "int");
    return TS_OK;
}

/* labels / annotations: map[string]string (arena label set). */
static int
get_labels(dctx *d, const ts_ynode *v, ts_labels **out)
{
    ts_arena *a = &d->f->arena;
    if (!v || ts_ynode_is_null(v)) {
        *out = ts_labels_new_arena(a, NULL, 0);
        return TS_OK;
    }
    int rc = check_map(d, v, "map[string]string", NULL);
    if (rc)
        return rc;
    size_t n = v->n / 2;
    ts_label *ls = TS_ARENA_ARRAY(a, ts_label, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        const ts_ynode *val = v->kids[2 * i + 1];
        ls[i].name = v->kids[2 * i]->str;
        if ((rc = get_str(d, val, &ls[i].value)))
            return rc;
    }
    *out = ts_labels_new_arena(a, ls, n);
    return TS_OK;
}

static int
decode_rule(dctx *d, const ts_ynode *n, ts_rule *r, rule_nodes *rn)
{
    static const char *const known[] = {"record",          "alert",  "expr",        "for",
                                        "keep_firing_for", "labels", "annotations", NULL};
    int rc = check_map(d, n, "rulefmt.RuleNode", known);
    if (rc)
        return rc;
    rn->map = n;
    rn->record = get(n, "record");
    rn->alert = get(n, "alert");
    rn->expr = get(n, "expr");
    rn->for_ = get(n, "for");
    rn->kff = get(n, "keep_firing_for");
    rn->labels = get(n, "labels");
    rn->annotations = get(n, "annotations");
    r->line = n->line;
    /* each field with its key path, in the struct's order (as yaml.v3 reports) */
    const char *record = "", *alert = "", *expr = "";
    size_t base = strlen(d->path);
#define FIELD(key, call)                                                                           \
    do {                                                                                           \
        snprintf(d->path + base, sizeof(d->path) - base, ".%s", key);                              \
        if ((rc = (call)))                                                                         \
            return rc;                                                                             \
    } while (0)
    FIELD("record", get_str(d, rn->record, &record));
    FIELD("alert", get_str(d, rn->alert, &alert));
    FIELD("expr", get_str(d, rn->expr, &expr));
    FIELD("for", get_duration(d, rn->for_, &r->for_ms));
    FIELD("keep_firing_for", get_duration(d, rn->kff, &r->keep_firing_for_ms));
    FIELD("labels", get_labels(d, rn->labels, &r->labels));
    FIELD("annotations", get_labels(d, rn->annotations, &r->annotations));
#undef FIELD
    d->path[base] = '\0';
    r->record = record[0] ? record : NULL;
    r->alert = alert[0] ? alert : NULL;
    r->expr = expr;
    return TS_OK;
}

/* Thanos' partial_response_strategy: warn or abort in any case; empty is
 * abort (Thanos' default for rules: a partial sum recorded as the truth is
 * worse than a gap). */
static int
get_partial(dctx *d, const ts_ynode *v, ts_rule_partial *out)
{
    *out = TS_RULE_PARTIAL_ABORT;
    const char *s;
    int rc = get_str(d, v, &s);
    if (rc || !s[0] || strcasecmp(s, "abort") == 0)
        return rc;
    if (strcasecmp(s, "warn") == 0) {
        *out = TS_RULE_PARTIAL_WARN;
        return TS_OK;
    }
    return fail(d, v, TS_EPARSE, "unknown partial_response_strategy \"%s\" (warn or abort)", s);
}

static int
decode_group(dctx *d, size_t gi, const ts_ynode *n, ts_rule_group *g, group_nodes *gn)
{
    static const char *const known[] = {"name", "interval", "limit", "rules", NULL};
    static const char *const known_ruler[] = {
        "name", "interval", "limit", "rules", "partial_response_strategy", NULL};
    set_path(d, "groups[%zu]", gi);
    int rc =
        check_map(d, n, "rulefmt.RuleGroup", d->flags & TS_RULEFMT_RULER ? known_ruler : known);
    if (rc)
        return rc;
    gn->map = n;
    gn->name = get(n, "name");
    set_path(d, "groups[%zu].name", gi);
    if ((rc = get_str(d, gn->name, &g->name)))
        return rc;
    set_path(d, "groups[%zu].interval", gi);
    if ((rc = get_duration(d, get(n, "interval"), &g->interval_ms)))
        return rc;
    set_path(d, "groups[%zu].limit", gi);
    if ((rc = get_limit(d, get(n, "limit"), &g->limit)))
        return rc;
    set_path(d, "groups[%zu].partial_response_strategy", gi);
    if ((rc = get_partial(d, get(n, "partial_response_strategy"), &g->partial_response)))
        return rc;
    const ts_ynode *rules = get(n, "rules");
    if (!rules || ts_ynode_is_null(rules))
        return TS_OK;
    set_path(d, "groups[%zu].rules", gi);
    if (rules->type != TS_YNODE_SEQ)
        return type_error(d, rules, "[]rulefmt.RuleNode");
    g->rules = TS_ARENA_ARRAY(&d->f->arena, ts_rule, rules->n ? rules->n : 1);
    gn->rules = TS_ARENA_ARRAY(&d->f->arena, rule_nodes, rules->n ? rules->n : 1);
    for (size_t i = 0; i < rules->n; i++) {
        if (ts_ynode_is_null(rules->kids[i]))
            continue; /* yaml.v3 drops null items ("- " alone): promtool ignores them */
        size_t ri = g->nrules++;
        set_path(d, "groups[%zu].rules[%zu]", gi, ri);
        if ((rc = decode_rule(d, rules->kids[i], &g->rules[ri], &gn->rules[ri])))
            return rc;
    }
    return TS_OK;
}

static int
decode_file(dctx *d, const ts_ynode *root, group_nodes **gnodes)
{
    static const char *const known[] = {"groups", NULL};
    int rc = check_map(d, root, "rulefmt.RuleGroups", known);
    if (rc)
        return rc;
    const ts_ynode *groups = get(root, "groups");
    if (!groups || ts_ynode_is_null(groups))
        return TS_OK;
    set_path(d, "groups");
    if (groups->type != TS_YNODE_SEQ)
        return type_error(d, groups, "[]rulefmt.RuleGroup");
    ts_arena *a = &d->f->arena;
    d->f->groups = TS_ARENA_ARRAY(a, ts_rule_group, groups->n ? groups->n : 1);
    *gnodes = TS_ARENA_ARRAY(a, group_nodes, groups->n ? groups->n : 1);
    for (size_t i = 0; i < groups->n; i++) {
        if (ts_ynode_is_null(groups->kids[i]))
            continue; /* dropped, as for rules */
        size_t gi = d->f->ngroups++;
        if ((rc = decode_group(d, gi, groups->kids[i], &d->f->groups[gi], &(*gnodes)[gi])))
            return rc;
    }
    return TS_OK;
}

/* -------------------------------------------------------------- validate */

/* Fails with promtool's rule prefix: `group "g", rule N, "name": `. */
static int
rule_fail(dctx *d, const ts_ynode *n, const ts_rule_group *g, size_t ri, const ts_rule *r,
          const char *msg)
{
    const char *name = r->alert ? r->alert : r->record ? r->record : "";
    return fail(d, n, TS_EINVAL, "group \"%s\", rule %zu, \"%s\": %s", g->name, ri + 1, name, msg);
}

static int
validate_rule(dctx *d, size_t gi, const ts_rule_group *g, size_t ri, const ts_rule *r,
              const rule_nodes *rn)
{
    char msg[TS_ERROR_MSG_MAX];
    set_path(d, "groups[%zu].rules[%zu]", gi, ri);
    if (r->record && r->alert) {
        set_path(d, "groups[%zu].rules[%zu].alert", gi, ri);
        return rule_fail(d, rn->alert, g, ri, r, "only one of 'record' and 'alert' must be set");
    }
    if (!r->record && !r->alert)
        return rule_fail(d, rn->map, g, ri, r, "one of 'record' or 'alert' must be set");

    if (r->expr[0] == '\0') {
        const ts_ynode *at = rn->expr ? rn->expr : rn->map;
        if (rn->expr)
            set_path(d, "groups[%zu].rules[%zu].expr", gi, ri);
        return rule_fail(d, at, g, ri, r, "field 'expr' must be set in rule");
    }
    ts_arena tmp;
    ts_arena_init(&tmp, 0);
    ts_promql_expr *e = NULL;
    ts_error perr;
    ts_error_clear(&perr);
    int prc = ts_promql_parse(&tmp, r->expr, strlen(r->expr), &e, &perr);
    ts_promql_expr_free(e);
    ts_arena_fini(&tmp);
    if (prc) {
        set_path(d, "groups[%zu].rules[%zu].expr", gi, ri);
        snprintf(msg, sizeof(msg), "could not parse expression: %s", perr.msg);
        return rule_fail(d, rn->expr, g, ri, r, msg);
    }

    if (r->record) {
        if (ts_labels_len(r->annotations) > 0) {
            set_path(d, "groups[%zu].rules[%zu].annotations", gi, ri);
            return rule_fail(d, rn->annotations, g, ri, r,
                             "invalid field 'annotations' in recording rule");
        }
        if (r->for_ms != 0) {
            set_path(d, "groups[%zu].rules[%zu].for", gi, ri);
            return rule_fail(d, rn->for_, g, ri, r, "invalid field 'for' in recording rule");
        }
        if (r->keep_firing_for_ms != 0) {
            set_path(d, "groups[%zu].rules[%zu].keep_firing_for", gi, ri);
            return rule_fail(d, rn->kff, g, ri, r,
                             "invalid field 'keep_firing_for' in recording rule");
        }
        if (!ts_metric_name_valid(r->record, strlen(r->record))) {
            set_path(d, "groups[%zu].rules[%zu].record", gi, ri);
            snprintf(msg, sizeof(msg), "invalid recording rule name: %s", r->record);
            return rule_fail(d, rn->record, g, ri, r, msg);
        }
    }

    /* Names are checked in file order (Go walks a map in random order). */
    for (size_t i = 0; rn->labels && !ts_ynode_is_null(rn->labels) && i < rn->labels->n; i += 2) {
        const ts_ynode *k = rn->labels->kids[i];
        if (!ts_label_name_valid(k->str, strlen(k->str)) || strcmp(k->str, TS_METRIC_NAME) == 0) {
            set_path(d, "groups[%zu].rules[%zu].labels", gi, ri);
            snprintf(msg, sizeof(msg), "invalid label name: %s", k->str);
            return rule_fail(d, k, g, ri, r, msg);
        }
    }
    const ts_ynode *an = rn->annotations;
    for (size_t i = 0; an && !ts_ynode_is_null(an) && i < an->n; i += 2) {
        const ts_ynode *k = an->kids[i];
        if (!ts_label_name_valid(k->str, strlen(k->str))) {
            set_path(d, "groups[%zu].rules[%zu].annotations", gi, ri);
            snprintf(msg, sizeof(msg), "invalid annotation name: %s", k->str);
            return rule_fail(d, k, g, ri, r, msg);
        }
    }
    /* Alert templates must use the subset pkg/rules/template.h supports, so an
     * unsupported construct fails here, never at evaluation. */
    if (r->alert) {
        char tname[TS_ERROR_MSG_MAX / 2];
        snprintf(tname, sizeof(tname), "__alert_%s", r->alert);
        for (int pass = 0; pass < 2; pass++) {
            const ts_labels *ls = pass == 0 ? r->labels : r->annotations;
            const ts_ynode *node = pass == 0 ? rn->labels : rn->annotations;
            for (size_t i = 0; i < ls->n; i++) {
                ts_error terr;
                ts_error_clear(&terr);
                if (ts_rule_template_check(tname, ls->l[i].value, &terr) == TS_OK)
                    continue;
                set_path(d, "groups[%zu].rules[%zu].%s", gi, ri,
                         pass == 0 ? "labels" : "annotations");
                snprintf(msg, sizeof(msg), "%s \"%s\": %s", pass == 0 ? "label" : "annotation",
                         ls->l[i].name, terr.msg);
                return rule_fail(d, node, g, ri, r, msg);
            }
        }
    }
    return TS_OK;
}

static int
validate_file(dctx *d, const group_nodes *gnodes)
{
    const ts_rule_file *f = d->f;
    /* repeated[i]: group i's name was used by an earlier group */
    bool *repeated = ts_calloc(f->ngroups ? f->ngroups : 1, sizeof(bool));
    keypos *kp = ts_malloc((f->ngroups ? f->ngroups : 1) * sizeof(*kp));
    for (size_t i = 0; i < f->ngroups; i++)
        kp[i] = (keypos){f->groups[i].name, i};
    qsort(kp, f->ngroups, sizeof(*kp), cmp_keypos);
    for (size_t i = 1; i < f->ngroups; i++)
        repeated[kp[i].pos] = strcmp(kp[i - 1].s, kp[i].s) == 0;
    ts_free(kp);

    int rc = TS_OK;
    for (size_t gi = 0; gi < f->ngroups && !rc; gi++) {
        const ts_rule_group *g = &f->groups[gi];
        const group_nodes *gn = &gnodes[gi];
        if (g->name[0] == '\0') {
            set_path(d, "groups[%zu]", gi);
            rc = fail(d, gn->map, TS_EINVAL, "Groupname must not be empty");
        } else if (repeated[gi]) {
            set_path(d, "groups[%zu].name", gi);
            rc = fail(d, gn->name, TS_EINVAL, "groupname: \"%s\" is repeated in the same file",
                      g->name);
        }
        for (size_t ri = 0; ri < g->nrules && !rc; ri++)
            rc = validate_rule(d, gi, g, ri, &g->rules[ri], &gn->rules[ri]);
    }
    ts_free(repeated);
    return rc;
}

/* ------------------------------------------------------------------ API */

int
ts_rule_file_parse(const char *text, size_t len, const char *path, ts_rule_file **out,
                   ts_error *err)
{
    return ts_rule_file_parse_ex(text, len, path, 0, out, err);
}

int
ts_rule_file_parse_ex(const char *text, size_t len, const char *path, unsigned flags,
                      ts_rule_file **out, ts_error *err)
{
    *out = NULL;
    if (len > MAX_FILE_BYTES)
        return ts_error_set(err, TS_ELIMIT, "rule file larger than %u bytes", MAX_FILE_BYTES);
    ts_rule_file *f = ts_calloc(1, sizeof(*f));
    ts_arena_init(&f->arena, 0);
    f->path = path ? ts_arena_strdup(&f->arena, path) : NULL;
    ts_ynode *root = NULL;
    int rc = ts_yaml_load(text, len, &f->arena, &root, err);
    dctx d = {.f = f, .err = err, .flags = flags};
    group_nodes *gnodes = NULL;
    if (!rc)
        rc = decode_file(&d, root, &gnodes);
    if (!rc)
        rc = validate_file(&d, gnodes);
    if (rc) {
        ts_rule_file_free(f);
        return rc;
    }
    *out = f;
    return TS_OK;
}

int
ts_rule_file_load(const char *path, ts_rule_file **out, ts_error *err)
{
    return ts_rule_file_load_ex(path, 0, out, err);
}

int
ts_rule_file_load_ex(const char *path, unsigned flags, ts_rule_file **out, ts_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    int rc = ts_fs_read_file(path, MAX_FILE_BYTES, &text, &len);
    if (rc)
        return ts_error_set(err, rc, "open %s: %s", path, ts_strerror(rc));
    rc = ts_rule_file_parse_ex(text, len, path, flags, out, err);
    ts_free(text);
    return rc;
}

void
ts_rule_file_free(ts_rule_file *f)
{
    if (!f)
        return;
    ts_arena_fini(&f->arena); /* labels and strings are arena-owned */
    ts_free(f);
}

size_t
ts_rule_file_count(const ts_rule_file *f)
{
    size_t n = 0;
    for (size_t i = 0; f && i < f->ngroups; i++)
        n += f->groups[i].nrules;
    return n;
}

/* ---------------------------------------------------------------- globs */

/* Prometheus' config check, the regexp `^[^*]*(\*[^/]*)?$`: no '/' after
 * the first '*' (globs only in the last path element). */
static bool
rule_path_ok(const char *p)
{
    const char *star = strchr(p, '*');
    return !star || !strchr(star, '/');
}

/* Go's filepath.Match syntax (Unix): a '[' class must be closed, must not be
 * empty, ranges need both ends; '\' escapes and must not end the pattern. */
static bool
glob_syntax_ok(const char *p)
{
    for (; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return false;
        } else if (*p == '[') {
            p++;
            if (*p == '^')
                p++;
            bool first = true;
            for (;; first = false) {
                if (*p == ']' && !first)
                    break;
                if (*p == '\0' || *p == '-' || (*p == ']' && first))
                    return false;
                if (*p == '\\' && !*++p)
                    return false;
                p++;
                if (*p == '-') {
                    p++;
                    if (*p == '\0' || *p == ']' || *p == '-')
                        return false;
                    if (*p == '\\' && !*++p)
                        return false;
                    p++;
                }
            }
        }
    }
    return true;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ts_rule_paths(const char *config_path, const char *const *patterns, size_t n, char ***out,
              size_t *nout, ts_error *err)
{
    *out = NULL;
    *nout = 0;
    /* the config file's directory; NULL when it is the working directory */
    char *dir = NULL;
    const char *slash = config_path ? strrchr(config_path, '/') : NULL;
    if (slash)
        dir = ts_strndup(config_path, slash == config_path ? 1 : (size_t)(slash - config_path));
    char **v = NULL;
    size_t nv = 0, cap = 0;
    int rc = TS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *pat = patterns[i];
        if (!rule_path_ok(pat)) {
            rc = ts_error_set(err, TS_EINVAL, "invalid rule file path \"%s\"", pat);
            break;
        }
        /* absolute, or relative to a config in the working directory: as written
         * (so messages name "rules/a.yml", as promtool does) */
        char *full;
        if (pat[0] == '/' || !dir) {
            full = ts_strdup(pat);
        } else {
            size_t fl = strlen(dir) + 1 + strlen(pat) + 1;
            full = ts_malloc(fl);
            snprintf(full, fl, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", pat);
        }
        if (!glob_syntax_ok(full)) {
            rc = ts_error_set(err, TS_EINVAL,
                              "error retrieving rule files for %s: syntax error in pattern", full);
            ts_free(full);
            break;
        }
        glob_t g;
        memset(&g, 0, sizeof(g));
        int flags = 0;
#ifdef GLOB_PERIOD
        flags |= GLOB_PERIOD; /* Go's '*' matches a leading dot too */
#endif
        int grc = glob(full, flags, NULL, &g);
        if (grc == 0) {
            for (size_t j = 0; j < g.gl_pathc; j++) {
                const char *m = g.gl_pathv[j];
                const char *base = strrchr(m, '/');
                base = base ? base + 1 : m;
                /* glob(3) with GLOB_PERIOD also yields "." and ".." */
                if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                    continue;
                TS_GROW(v, cap, nv + 1);
                v[nv++] = ts_strdup(m);
            }
        } else if (grc != GLOB_NOMATCH) {
            rc = ts_error_set(err, TS_EIO, "error retrieving rule files for %s: glob failed", full);
        }
        globfree(&g);
        ts_free(full);
    }
    ts_free(dir);
    if (rc) {
        ts_rule_paths_free(v, nv);
        return rc;
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < nv; i++) {
        if (w > 0 && strcmp(v[w - 1], v[i]) == 0)
            ts_free(v[i]);
        else
            v[w++] = v[i];
    }
    *out = v;
    *nout = w;
    return TS_OK;
}

void
ts_rule_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_free(paths[i]);
    ts_free(paths);
}
