/*
 * prometheus.yml decoding.
 *
 * The YAML tree (yaml.c) is walked by one decoder per config type.  Each
 * decoder first checks the mapping's keys against the type's known fields
 * (unknown and repeated keys are errors with the texts of Go's yaml.v2, the
 * library Prometheus uses), then reads the fields it knows with typed
 * getters, then applies Prometheus' defaults and validation.  The key path
 * of the node being decoded is kept in dctx.path so every message says
 * where it is ("scrape_configs[2].relabel_configs[0].regex: ...").
 *
 * External label expansion (--enable-feature=expand-external-labels) is a
 * separate step the caller applies after loading, so the parser stays a pure
 * function of the text: ts_config_expand_external_labels.
 */
#include "pkg/config/config.h"
#include "pkg/util/buf.h"
#include "pkg/util/fs.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct dctx {
    ts_config *c;
    ts_error *err;
    char path[512];
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

/* Path handling: push appends ".key" or "[i]", pop restores. */
static size_t
push_key(dctx *d, const char *key)
{
    size_t old = strlen(d->path);
    snprintf(d->path + old, sizeof(d->path) - old, "%s%s", old ? "." : "", key);
    return old;
}

static size_t
push_index(dctx *d, size_t i)
{
    size_t old = strlen(d->path);
    snprintf(d->path + old, sizeof(d->path) - old, "[%zu]", i);
    return old;
}

static void
pop(dctx *d, size_t old)
{
    d->path[old] = '\0';
}

/* ---------------------------------------------------------------- getters */

static const char *
dup(dctx *d, const char *s)
{
    return ts_arena_strdup(&d->c->arena, s);
}

/* Checks that n is a mapping (or null) with only known, unrepeated keys. */
static int
check_map(dctx *d, const ts_ynode *n, const char *gotype, const char *const *known)
{
    if (ts_ynode_is_null(n))
        return TS_OK;
    if (n->type != TS_YNODE_MAP)
        return fail(d, n, TS_EPARSE, "cannot unmarshal %s into %s", ts_ynode_kind(n), gotype);
    for (size_t i = 0; i < n->n; i += 2) {
        const ts_ynode *k = n->kids[i];
        if (k->type != TS_YNODE_SCALAR)
            return fail(d, k, TS_EPARSE, "cannot unmarshal %s into string", ts_ynode_kind(k));
        bool found = false;
        for (const char *const *p = known; *p; p++)
            found = found || strcmp(*p, k->str) == 0;
        if (!found)
            return fail(d, k, TS_EPARSE, "field %s not found in type %s", k->str, gotype);
        for (size_t j = 0; j < i; j += 2)
            if (strcmp(n->kids[j]->str, k->str) == 0)
                return fail(d, k, TS_EPARSE, "field %s already set in type %s", k->str, gotype);
    }
    return TS_OK;
}

/* Short name for the map lookup used on nearly every line below. */
static inline const ts_ynode *
get(const ts_ynode *map, const char *key)
{
    return ts_ynode_get(map, key);
}

static int
scalar(dctx *d, const ts_ynode *v, const char *gotype)
{
    if (v->type != TS_YNODE_SCALAR)
        return fail(d, v, TS_EPARSE, "cannot unmarshal %s into %s", ts_ynode_kind(v), gotype);
    return TS_OK;
}

/* Each getter leaves *out untouched when the key is absent or null. */
static int
get_str(dctx *d, const ts_ynode *map, const char *key, const char **out)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = scalar(d, v, "string");
    if (!rc)
        *out = dup(d, v->str);
    pop(d, old);
    return rc;
}

static int
get_bool(dctx *d, const ts_ynode *map, const char *key, bool *out)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = scalar(d, v, "bool");
    if (!rc) {
        /* yaml.v2 resolves the YAML 1.1 booleans (plain scalars only) */
        static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                        "on",   "On",   "ON",   "y",   "Y",   NULL};
        static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO",
                                        "off",   "Off",   "OFF",   "n",  "N",  NULL};
        int which = -1;
        for (int i = 0; v->plain && t[i]; i++)
            if (strcmp(v->str, t[i]) == 0)
                which = 1;
        for (int i = 0; v->plain && f[i]; i++)
            if (strcmp(v->str, f[i]) == 0)
                which = 0;
        if (which < 0)
            rc = fail(d, v, TS_EPARSE, "cannot unmarshal !!str `%s` into bool", v->str);
        else
            *out = which == 1;
    }
    pop(d, old);
    return rc;
}

static int
get_uint(dctx *d, const ts_ynode *map, const char *key, uint64_t *out)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = scalar(d, v, "uint");
    if (!rc) {
        char *end;
        const char *s = v->str;
        unsigned long long x = strtoull(s, &end, 10);
        if (!*s || *end || *s == '-' || *s == '+' || !v->plain)
            rc = fail(d, v, TS_EPARSE, "cannot unmarshal !!str `%s` into uint", s);
        else
            *out = x;
    }
    pop(d, old);
    return rc;
}

static int
get_duration(dctx *d, const ts_ynode *map, const char *key, int64_t *out)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = scalar(d, v, "model.Duration");
    if (!rc && ts_duration_parse(v->str, strlen(v->str), out) != TS_OK)
        rc = fail(d, v, TS_EPARSE, "not a valid duration string: \"%s\"", v->str);
    pop(d, old);
    return rc;
}

static int
get_strlist(dctx *d, const ts_ynode *map, const char *key, ts_strlist *out, bool *present)
{
    const ts_ynode *v = get(map, key);
    if (present)
        *present = v != NULL;
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = TS_OK;
    if (v->type != TS_YNODE_SEQ) {
        rc = fail(d, v, TS_EPARSE, "cannot unmarshal %s into []string", ts_ynode_kind(v));
    } else {
        out->v = ts_arena_alloc(&d->c->arena, (v->n ? v->n : 1) * sizeof(char *));
        out->n = 0;
        for (size_t i = 0; i < v->n && !rc; i++) {
            rc = scalar(d, v->kids[i], "string");
            if (!rc)
                out->v[out->n++] = dup(d, v->kids[i]->str);
        }
    }
    pop(d, old);
    return rc;
}

/* A map of label name -> value (external_labels, static_configs labels). */
static int
get_labels(dctx *d, const ts_ynode *map, const char *key, ts_labels **out)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v)) {
        *out = ts_labels_new(NULL, 0);
        return TS_OK;
    }
    size_t old = push_key(d, key);
    int rc = TS_OK;
    if (v->type != TS_YNODE_MAP) {
        rc = fail(d, v, TS_EPARSE, "cannot unmarshal %s into model.LabelSet", ts_ynode_kind(v));
    } else {
        size_t n = v->n / 2;
        ts_label *ls = ts_malloc((n ? n : 1) * sizeof(ts_label));
        for (size_t i = 0; i < n && !rc; i++) {
            const ts_ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
            if (k->type != TS_YNODE_SCALAR || val->type != TS_YNODE_SCALAR) {
                rc = fail(d, k, TS_EPARSE, "cannot unmarshal %s into model.LabelSet",
                          ts_ynode_kind(k->type != TS_YNODE_SCALAR ? k : val));
                break;
            }
            if (!ts_label_name_valid(k->str, strlen(k->str)))
                rc = fail(d, k, TS_EINVAL, "\"%s\" is not a valid label name", k->str);
            for (size_t j = 0; j < i && !rc; j++)
                if (strcmp(ls[j].name, k->str) == 0)
                    rc = fail(d, k, TS_EPARSE, "duplicate label name \"%s\"", k->str);
            ls[i].name = k->str;
            ls[i].value = ts_ynode_is_null(val) ? "" : val->str;
        }
        if (!rc)
            *out = ts_labels_new(ls, n);
        ts_free(ls);
    }
    pop(d, old);
    return rc;
}

/* ------------------------------------------------------------- sections */

static int
decode_relabel(dctx *d, const ts_ynode *n, ts_relabel_config *r)
{
    static const char *const known[] = {"source_labels", "separator",   "regex",  "modulus",
                                        "target_label",  "replacement", "action", NULL};
    ts_relabel_config_init(r);
    int rc = check_map(d, n, "relabel.Config", known);
    if (rc)
        return rc;
    ts_strlist src = {0};
    bool src_present = false;
    const char *sep = NULL, *target = NULL, *repl = NULL, *action = NULL, *re = NULL;
    if ((rc = get_strlist(d, n, "source_labels", &src, &src_present)) ||
        (rc = get_str(d, n, "separator", &sep)) || (rc = get_str(d, n, "regex", &re)) ||
        (rc = get_uint(d, n, "modulus", &r->modulus)) ||
        (rc = get_str(d, n, "target_label", &target)) ||
        (rc = get_str(d, n, "replacement", &repl)) || (rc = get_str(d, n, "action", &action)))
        return rc;
    for (size_t i = 0; i < src.n; i++) {
        if (!ts_label_name_valid(src.v[i], strlen(src.v[i])))
            return fail(d, get(n, "source_labels"), TS_EINVAL, "\"%s\" is not a valid label name",
                        src.v[i]);
    }
    r->source_labels = ts_malloc((src.n ? src.n : 1) * sizeof(char *));
    for (size_t i = 0; i < src.n; i++)
        r->source_labels[i] = ts_strdup(src.v[i]);
    r->nsource = src.n;
    r->source_set = src_present && src.n > 0;
    if (sep) {
        ts_free(r->separator);
        r->separator = ts_strdup(sep);
    }
    if (target) {
        ts_free(r->target_label);
        r->target_label = ts_strdup(target);
    }
    if (repl) {
        ts_free(r->replacement);
        r->replacement = ts_strdup(repl);
    }
    if (re) {
        size_t old = push_key(d, "regex");
        ts_error e;
        ts_error_clear(&e);
        rc = ts_relabel_config_set_regex(r, re, &e);
        if (rc)
            rc = fail(d, get(n, "regex"), rc, "%s", e.msg);
        pop(d, old);
        if (rc)
            return rc;
    }
    if (action) {
        size_t old = push_key(d, "action");
        ts_error e;
        ts_error_clear(&e);
        if (action[0] == '\0')
            rc = fail(d, get(n, "action"), TS_EINVAL, "relabel action cannot be empty");
        else if ((rc = ts_relabel_action_parse(action, &r->action, &e)))
            rc = fail(d, get(n, "action"), rc, "%s", e.msg);
        pop(d, old);
        if (rc)
            return rc;
    }
    ts_error e;
    ts_error_clear(&e);
    if ((rc = ts_relabel_config_validate(r, &e)))
        return fail(d, n, rc, "%s", e.msg);
    return TS_OK;
}

static int
decode_relabel_list(dctx *d, const ts_ynode *map, const char *key, ts_relabel_config **out,
                    size_t *nout)
{
    const ts_ynode *v = get(map, key);
    if (ts_ynode_is_null(v))
        return TS_OK;
    size_t old = push_key(d, key);
    int rc = TS_OK;
    if (v->type != TS_YNODE_SEQ) {
        rc = fail(d, v, TS_EPARSE, "cannot unmarshal %s into []*relabel.Config", ts_ynode_kind(v));
    } else {
        *out = ts_calloc(v->n ? v->n : 1, sizeof(ts_relabel_config));
        for (size_t i = 0; i < v->n && !rc; i++) {
            size_t o2 = push_index(d, i);
            rc = decode_relabel(d, v->kids[i], &(*out)[i]);
            *nout = i + 1; /* so free() finalises what was initialised */
            pop(d, o2);
        }
    }
    pop(d, old);
    return rc;
}

/* The keys of Prometheus' HTTPClientConfig, inlined into kubernetes_sd, scrape and
 * alertmanager configs; decode_http reads them. */
#define HTTP_CLIENT_KEYS                                                                           \
    "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",    \
        "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",                 \
        "follow_redirects", "enable_http2"

static int
decode_http(dctx *d, const ts_ynode *n, ts_http_config *h)
{
    int rc;
    h->follow_redirects = true;
    h->enable_http2 = true;
    const ts_ynode *ba = get(n, "basic_auth");
    if (!ts_ynode_is_null(ba)) {
        static const char *const known[] = {"username", "password", "password_file", NULL};
        size_t old = push_key(d, "basic_auth");
        rc = check_map(d, ba, "config.BasicAuth", known);
        if (!rc && !(rc = get_str(d, ba, "username", &h->basic_auth_username)) &&
            !(rc = get_str(d, ba, "password", &h->basic_auth_password)))
            rc = get_str(d, ba, "password_file", &h->basic_auth_password_file);
        pop(d, old);
        if (rc)
            return rc;
        h->has_basic_auth = true;
        if (h->basic_auth_password && h->basic_auth_password_file)
            return fail(d, ba, TS_EINVAL,
                        "at most one of basic_auth password & password_file must be configured");
    }
    const char *bearer = NULL, *bearer_file = NULL;
    if ((rc = get_str(d, n, "bearer_token", &bearer)) ||
        (rc = get_str(d, n, "bearer_token_file", &bearer_file)))
        return rc;
    const ts_ynode *au = get(n, "authorization");
    if (!ts_ynode_is_null(au)) {
        static const char *const known[] = {"type", "credentials", "credentials_file", NULL};
        size_t old = push_key(d, "authorization");
        rc = check_map(d, au, "config.Authorization", known);
        if (!rc && !(rc = get_str(d, au, "type", &h->auth_type)) &&
            !(rc = get_str(d, au, "credentials", &h->auth_credentials)))
            rc = get_str(d, au, "credentials_file", &h->auth_credentials_file);
        pop(d, old);
        if (rc)
            return rc;
        h->has_authorization = true;
        if (bearer || bearer_file)
            return fail(d, au, TS_EINVAL,
                        "authorization is not compatible with bearer_token & bearer_token_file");
        if (h->auth_credentials && h->auth_credentials_file)
            return fail(d, au, TS_EINVAL,
                        "at most one of authorization credentials & credentials_file must be "
                        "configured");
        if (h->auth_type && strcasecmp(h->auth_type, "basic") == 0)
            return fail(d, au, TS_EINVAL,
                        "authorization type cannot be set to \"basic\", use \"basic_auth\" "
                        "instead");
    }
    if (h->has_basic_auth && (bearer || bearer_file || h->has_authorization))
        return fail(d, ba, TS_EINVAL,
                    "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
                    "configured");
    if (bearer && bearer_file)
        return fail(d, get(n, "bearer_token"), TS_EINVAL,
                    "at most one of bearer_token & bearer_token_file must be configured");
    if (bearer || bearer_file) {
        h->has_authorization = true;
        h->auth_credentials = bearer;
        h->auth_credentials_file = bearer_file;
    }
    if (h->has_authorization && !h->auth_type)
        h->auth_type = "Bearer";
    const ts_ynode *tls = get(n, "tls_config");
    if (!ts_ynode_is_null(tls)) {
        static const char *const known[] = {
            "ca_file",     "cert_file", "key_file", "server_name", "insecure_skip_verify",
            "min_version", "ca",        "cert",     "key",         NULL};
        size_t old = push_key(d, "tls_config");
        rc = check_map(d, tls, "config.TLSConfig", known);
        if (!rc && !(rc = get_str(d, tls, "ca_file", &h->tls.ca_file)) &&
            !(rc = get_str(d, tls, "cert_file", &h->tls.cert_file)) &&
            !(rc = get_str(d, tls, "key_file", &h->tls.key_file)) &&
            !(rc = get_str(d, tls, "server_name", &h->tls.server_name)) &&
            !(rc = get_str(d, tls, "min_version", &h->tls.min_version)))
            rc = get_bool(d, tls, "insecure_skip_verify", &h->tls.insecure_skip_verify);
        pop(d, old);
        if (rc)
            return rc;
        if (h->tls.cert_file && !h->tls.key_file)
            return fail(d, tls, TS_EINVAL,
                        "exactly one of key or key_file must be configured when a client "
                        "certificate is configured");
        if (h->tls.key_file && !h->tls.cert_file)
            return fail(d, tls, TS_EINVAL,
                        "exactly one of cert or cert_file must be configured when a client key "
                        "is configured");
    }
    if ((rc = get_str(d, n, "proxy_url", &h->proxy_url)) ||
        (rc = get_bool(d, n, "follow_redirects", &h->follow_redirects)) ||
        (rc = get_bool(d, n, "enable_http2", &h->enable_http2)))
        return rc;
    return TS_OK;
}

static int
decode_static(dctx *d, const ts_ynode *n, ts_static_config *s)
{
    static const char *const known[] = {"targets", "labels", NULL};
    int rc = check_map(d, n, "targetgroup.Group", known);
    s->line = n ? n->line : 0;
    if (rc || (rc = get_strlist(d, n, "targets", &s->targets, NULL)) ||
        (rc = get_labels(d, n, "labels", &s->labels)))
        return rc;
    for (size_t i = 0; i < s->targets.n && !rc; i++) {
        if (strchr(s->targets.v[i], '/')) {
            size_t old = push_key(d, "targets");
            rc = fail(d, get(n, "targets"), TS_EINVAL, "\"%s\" is not a valid hostname",
                      s->targets.v[i]);
            pop(d, old);
        }
    }
    return rc;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int
decode_file_sd(dctx *d, const ts_ynode *n, ts_file_sd_config *f)
{
    static const char *const known[] = {"files", "refresh_interval", NULL};
    f->refresh_interval_ms = 5 * 60 * 1000;
    int rc = check_map(d, n, "file.SDConfig", known);
    if (rc || (rc = get_strlist(d, n, "files", &f->files, NULL)) ||
        (rc = get_duration(d, n, "refresh_interval", &f->refresh_interval_ms)))
        return rc;
    if (f->files.n == 0)
        return fail(d, n, TS_EINVAL,
                    "file service discovery config must contain at least one "
                    "path name");
    for (size_t i = 0; i < f->files.n; i++) {
        const char *p = f->files.v[i];
        if (!ends_with(p, ".json") && !ends_with(p, ".yml") && !ends_with(p, ".yaml"))
            return fail(d, get(n, "files"), TS_EINVAL,
                        "path name \"%s\" is not valid for file discovery", p);
    }
    return TS_OK;
}

static int
decode_dns_sd(dctx *d, const ts_ynode *n, ts_dns_sd_config *s)
{
    static const char *const known[] = {"names", "type", "port", "refresh_interval", NULL};
    s->refresh_interval_ms = 30 * 1000;
    s->type = "SRV";
    uint64_t port = 0;
    int rc = check_map(d, n, "dns.SDConfig", known);
    if (rc || (rc = get_strlist(d, n, "names", &s->names, NULL)) ||
        (rc = get_str(d, n, "type", &s->type)) || (rc = get_uint(d, n, "port", &port)) ||
        (rc = get_duration(d, n, "refresh_interval", &s->refresh_interval_ms)))
        return rc;
    if (s->names.n == 0)
        return fail(d, n, TS_EINVAL, "DNS-SD config must contain at least one SRV record name");
    if (strcmp(s->type, "SRV") != 0 && strcmp(s->type, "A") != 0 && strcmp(s->type, "AAAA") != 0 &&
        strcmp(s->type, "MX") != 0)
        return fail(d, get(n, "type"), TS_EINVAL, "invalid DNS-SD records type %s", s->type);
    if (port > 65535)
        return fail(d, get(n, "port"), TS_EINVAL, "cannot unmarshal !!int `%llu` into int",
                    (unsigned long long)port);
    s->port = (int)port;
    if (strcmp(s->type, "SRV") != 0 && s->port == 0)
        return fail(d, n, TS_EINVAL,
                    "a port is required in DNS-SD configs for all record types except SRV");
    return TS_OK;
}

/* Decodes a list-valued section with one element decoder. */
#define DECODE_LIST(d, map, key, elem_t, arr, narr, fn, gotype)                                    \
    do {                                                                                           \
        const ts_ynode *lv_ = get((map), (key));                                                   \
        if (!ts_ynode_is_null(lv_)) {                                                              \
            size_t o_ = push_key((d), (key));                                                      \
            if (lv_->type != TS_YNODE_SEQ) {                                                       \
                rc = fail((d), lv_, TS_EPARSE, "cannot unmarshal %s into %s", ts_ynode_kind(lv_),  \
                          gotype);                                                                 \
            } else {                                                                               \
                (arr) = ts_arena_calloc(&(d)->c->arena, lv_->n ? lv_->n : 1, sizeof(elem_t));      \
                for (size_t i_ = 0; i_ < lv_->n && !rc; i_++) {                                    \
                    size_t o2_ = push_index((d), i_);                                              \
                    rc = fn((d), lv_->kids[i_], &(arr)[i_]);                                       \
                    (narr) = i_ + 1;                                                               \
                    pop((d), o2_);                                                                 \
                }                                                                                  \
            }                                                                                      \
            pop((d), o_);                                                                          \
            if (rc)                                                                                \
                return rc;                                                                         \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------- kubernetes_sd */

/* k8s fields.ParseSelector: comma-separated terms (a comma may be escaped
 * with a backslash), each "key=value", "key==value" or "key!=value". */
static int
check_field_selector(dctx *d, const ts_ynode *n, const char *sel)
{
    const char *p = sel;
    while (*p) {
        const char *q = p;
        bool has_op = false;
        while (*q && *q != ',') {
            if (*q == '\\' && q[1])
                q++;
            else if (*q == '=')
                has_op = true;
            q++;
        }
        if (q > p && !has_op)
            return fail(d, n, TS_EINVAL, "invalid selector: '%s'; can't understand '%.*s'", sel,
                        (int)(q - p), p);
        p = *q ? q + 1 : q;
    }
    return TS_OK;
}

static bool
k8s_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '/';
}

/* k8s labels.Parse, reduced to its grammar: requirements separated by
 * commas outside parentheses, each "key", "!key", "key=v", "key==v",
 * "key!=v", "key in (v,..)", "key notin (v,..)", "key>n" or "key<n". */
static int
check_label_selector(dctx *d, const ts_ynode *n, const char *sel)
{
    const char *p = sel;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        if (*p == '!')
            p++;
        while (*p == ' ')
            p++;
        const char *key = p;
        while (k8s_key_char(*p))
            p++;
        bool ok = p > key;
        while (*p == ' ')
            p++;
        if (ok && *start != '!' && *p && *p != ',') {
            if (p[0] == '=' || p[0] == '!' || p[0] == '<' || p[0] == '>') {
                p += (p[0] == '!' || (p[0] == '=' && p[1] == '=')) ? 2 : 1;
                if (p[-1] == '!' && p[-2] != '!')
                    ok = false;
                while (*p == ' ')
                    p++;
                while (k8s_key_char(*p))
                    p++;
            } else if (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0) {
                p += p[0] == 'i' ? 2 : 5;
                while (*p == ' ')
                    p++;
                if (*p != '(') {
                    ok = false;
                } else {
                    const char *close = strchr(p, ')');
                    ok = close != NULL;
                    p = close ? close + 1 : p + strlen(p);
                }
            } else {
                ok = false;
            }
            while (*p == ' ')
                p++;
        }
        if (!ok || (*p && *p != ','))
            return fail(d, n, TS_EINVAL, "unable to parse requirement: invalid label selector '%s'",
                        sel);
        if (*p == ',')
            p++;
    }
    return TS_OK;
}

static const char *const k8s_roles[] = {"node",          "pod",     "service", "endpoints",
                                        "endpointslice", "ingress", NULL};

static bool
k8s_role_valid(const char *r)
{
    for (const char *const *p = k8s_roles; *p; p++)
        if (strcmp(*p, r) == 0)
            return true;
    return false;
}

static int
decode_k8s_selector(dctx *d, const ts_ynode *n, ts_kubernetes_selector *s)
{
    static const char *const known[] = {"role", "label", "field", NULL};
    s->role = s->label = s->field = "";
    int rc = check_map(d, n, "kubernetes.SelectorConfig", known);
    if (rc || (rc = get_str(d, n, "role", &s->role)) || (rc = get_str(d, n, "label", &s->label)) ||
        (rc = get_str(d, n, "field", &s->field)))
        return rc;
    if (!k8s_role_valid(s->role))
        return fail(d, get(n, "role"), TS_EINVAL, "unknown Kubernetes SD role \"%s\"", s->role);
    return TS_OK;
}

static bool
http_is_default(const ts_http_config *h)
{
    const ts_tls_config *t = &h->tls;
    return !h->has_basic_auth && !h->has_authorization && !h->proxy_url && h->follow_redirects &&
           h->enable_http2 && !t->ca_file && !t->cert_file && !t->key_file && !t->server_name &&
           !t->min_version && !t->insecure_skip_verify;
}

static int
decode_kubernetes_sd(dctx *d, const ts_ynode *n, ts_kubernetes_sd_config *k)
{
    static const char *const known[] = {"api_server",     "role",      "kubeconfig_file",
                                        "namespaces",     "selectors", "attach_metadata",
                                        HTTP_CLIENT_KEYS, NULL};
    k->line = n ? n->line : 0;
    k->role = "";
    int rc = check_map(d, n, "kubernetes.plain", known);
    if (rc || (rc = get_str(d, n, "api_server", &k->api_server)) ||
        (rc = get_str(d, n, "role", &k->role)) ||
        (rc = get_str(d, n, "kubeconfig_file", &k->kubeconfig_file)))
        return rc;
    if (k->role[0] && !k8s_role_valid(k->role))
        return fail(d, get(n, "role"), TS_EINVAL, "unknown Kubernetes SD role \"%s\"", k->role);
    if (k->api_server && !k->api_server[0])
        k->api_server = NULL;
    if (k->kubeconfig_file && !k->kubeconfig_file[0])
        k->kubeconfig_file = NULL;
    const ts_ynode *ns = get(n, "namespaces");
    if (!ts_ynode_is_null(ns)) {
        static const char *const nknown[] = {"own_namespace", "names", NULL};
        size_t old = push_key(d, "namespaces");
        if (!(rc = check_map(d, ns, "kubernetes.plain", nknown)) &&
            !(rc = get_bool(d, ns, "own_namespace", &k->own_namespace)))
            rc = get_strlist(d, ns, "names", &k->namespaces, NULL);
        pop(d, old);
        if (rc)
            return rc;
    }
    const ts_ynode *am = get(n, "attach_metadata");
    if (!ts_ynode_is_null(am)) {
        static const char *const aknown[] = {"node", NULL};
        size_t old = push_key(d, "attach_metadata");
        if (!(rc = check_map(d, am, "kubernetes.AttachMetadataConfig", aknown)))
            rc = get_bool(d, am, "node", &k->attach_node);
        pop(d, old);
        if (rc)
            return rc;
    }
    DECODE_LIST(d, n, "selectors", ts_kubernetes_selector, k->selectors, k->nselectors,
                decode_k8s_selector, "[]kubernetes.SelectorConfig");
    if (!ts_ynode_is_null(get(n, "oauth2")))
        return fail(d, get(n, "oauth2"), TS_EUNSUPPORTED,
                    "oauth2 is not supported by Tessera's kubernetes_sd_configs");
    if ((rc = decode_http(d, n, &k->http)))
        return rc;
    if (k->role[0] == '\0')
        return fail(d, n, TS_EINVAL,
                    "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
    k->http_custom = !http_is_default(&k->http);
    if (k->api_server && k->kubeconfig_file)
        return fail(d, n, TS_EINVAL,
                    "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
    if (k->kubeconfig_file && k->http_custom)
        return fail(
            d, n, TS_EINVAL,
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'");
    if (!k->api_server && k->http_custom)
        return fail(d, n, TS_EINVAL,
                    "to use custom HTTP client configuration please provide the 'api_server' URL "
                    "explicitly");
    if (k->api_server && k->own_namespace)
        return fail(d, n, TS_EINVAL,
                    "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    if (k->kubeconfig_file && k->own_namespace)
        return fail(d, n, TS_EINVAL,
                    "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
    if (k->api_server && strncmp(k->api_server, "http://", 7) != 0 &&
        strncmp(k->api_server, "https://", 8) != 0)
        return fail(d, get(n, "api_server"), TS_EINVAL,
                    "api_server \"%s\": Tessera needs an http:// or https:// URL", k->api_server);
    /* which selector roles each role accepts (Prometheus' allowedSelectors) */
    static const struct {
        const char *role, *allowed;
    } allow[] = {{"pod", "pod"},
                 {"service", "service"},
                 {"endpointslice", "pod, service, endpointslice"},
                 {"endpoints", "pod, service, endpoints"},
                 {"node", "node"},
                 {"ingress", "ingress"}};
    const char *allowed = "";
    for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
        if (strcmp(allow[i].role, k->role) == 0)
            allowed = allow[i].allowed;
    for (size_t i = 0; i < k->nselectors; i++) {
        const ts_kubernetes_selector *s = &k->selectors[i];
        const ts_ynode *sn = get(n, "selectors")->kids[i];
        char idx[32];
        snprintf(idx, sizeof(idx), "selectors[%zu]", i);
        push_key(d, idx); /* an error leaves the path on it (no pop needed) */
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->selectors[j].role, s->role) == 0)
                return fail(d, sn, TS_EINVAL, "duplicated selector role: %s", s->role);
        bool ok = false;
        const char *p = allowed;
        size_t rl = strlen(s->role);
        while (*p && !ok) {
            ok = strncmp(p, s->role, rl) == 0 && (p[rl] == ',' || p[rl] == '\0');
            p = strchr(p, ',') ? strchr(p, ',') + 2 : p + strlen(p);
        }
        if (!ok)
            return fail(d, sn, TS_EINVAL, "%s role supports only %s selectors", k->role, allowed);
        if ((rc = check_field_selector(d, sn, s->field)) ||
            (rc = check_label_selector(d, sn, s->label)))
            return rc;
        d->path[strlen(d->path) - strlen(idx) - 1] = '\0';
    }
    return TS_OK;
}

/* Service discovery mechanisms Prometheus 2.42 knows but Tessera does not
 * implement yet: accepted (so real configs load) and reported at start. */
#define UNSUPPORTED_SD                                                                             \
    "azure_sd_configs", "consul_sd_configs", "digitalocean_sd_configs", "docker_sd_configs",       \
        "dockerswarm_sd_configs", "ec2_sd_configs", "eureka_sd_configs", "gce_sd_configs",         \
        "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs", "kuma_sd_configs",            \
        "lightsail_sd_configs", "linode_sd_configs", "marathon_sd_configs", "nerve_sd_configs",    \
        "nomad_sd_configs", "openstack_sd_configs", "ovhcloud_sd_configs", "puppetdb_sd_configs",  \
        "scaleway_sd_configs", "serverset_sd_configs", "triton_sd_configs", "uyuni_sd_configs",    \
        "vultr_sd_configs"

static int
decode_scrape(dctx *d, const ts_ynode *n, ts_scrape_config *s)
{
    static const char *const known[] = {"job_name",
                                        "honor_labels",
                                        "honor_timestamps",
                                        "params",
                                        "scrape_interval",
                                        "scrape_timeout",
                                        "metrics_path",
                                        "scheme",
                                        "sample_limit",
                                        "target_limit",
                                        "label_limit",
                                        "label_name_length_limit",
                                        "label_value_length_limit",
                                        "body_size_limit",
                                        "relabel_configs",
                                        "metric_relabel_configs",
                                        "static_configs",
                                        "file_sd_configs",
                                        "dns_sd_configs",
                                        "kubernetes_sd_configs",
                                        HTTP_CLIENT_KEYS,
                                        UNSUPPORTED_SD,
                                        NULL};
    s->line = n ? n->line : 0;
    s->metrics_path = "/metrics";
    s->scheme = "http";
    s->honor_timestamps = true;
    s->job_name = "";
    int rc = check_map(d, n, "config.ScrapeConfig", known);
    if (rc)
        return rc;
    const char *body_limit = NULL;
    if ((rc = get_str(d, n, "job_name", &s->job_name)) ||
        (rc = get_bool(d, n, "honor_labels", &s->honor_labels)) ||
        (rc = get_bool(d, n, "honor_timestamps", &s->honor_timestamps)) ||
        (rc = get_duration(d, n, "scrape_interval", &s->scrape_interval_ms)) ||
        (rc = get_duration(d, n, "scrape_timeout", &s->scrape_timeout_ms)) ||
        (rc = get_str(d, n, "metrics_path", &s->metrics_path)) ||
        (rc = get_str(d, n, "scheme", &s->scheme)) ||
        (rc = get_uint(d, n, "sample_limit", &s->sample_limit)) ||
        (rc = get_uint(d, n, "target_limit", &s->target_limit)) ||
        (rc = get_uint(d, n, "label_limit", &s->label_limit)) ||
        (rc = get_uint(d, n, "label_name_length_limit", &s->label_name_length_limit)) ||
        (rc = get_uint(d, n, "label_value_length_limit", &s->label_value_length_limit)) ||
        (rc = get_str(d, n, "body_size_limit", &body_limit)) || (rc = decode_http(d, n, &s->http)))
        return rc;
    if (s->job_name[0] == '\0')
        return fail(d, n, TS_EINVAL, "job_name is empty");
    if (body_limit) {
        ts_error e;
        ts_error_clear(&e);
        size_t old = push_key(d, "body_size_limit");
        rc = ts_config_parse_bytes(body_limit, &s->body_size_limit, &e);
        if (rc)
            rc = fail(d, get(n, "body_size_limit"), rc, "%s", e.msg);
        pop(d, old);
        if (rc)
            return rc;
    }
    const ts_ynode *params = get(n, "params");
    if (!ts_ynode_is_null(params)) {
        size_t old = push_key(d, "params");
        if (params->type != TS_YNODE_MAP)
            rc = fail(d, params, TS_EPARSE, "cannot unmarshal %s into url.Values",
                      ts_ynode_kind(params));
        else {
            s->params = ts_arena_calloc(&d->c->arena, params->n / 2 + 1, sizeof(ts_param));
            for (size_t i = 0; i + 1 < params->n && !rc; i += 2) {
                ts_param *p = &s->params[s->nparams++];
                p->name = dup(d, params->kids[i]->str);
                rc = get_strlist(d, params, p->name, &p->values, NULL);
            }
        }
        pop(d, old);
        if (rc)
            return rc;
    }
    DECODE_LIST(d, n, "static_configs", ts_static_config, s->static_configs, s->nstatic,
                decode_static, "[]*targetgroup.Group");
    DECODE_LIST(d, n, "file_sd_configs", ts_file_sd_config, s->file_sd, s->nfile_sd, decode_file_sd,
                "[]*file.SDConfig");
    DECODE_LIST(d, n, "dns_sd_configs", ts_dns_sd_config, s->dns_sd, s->ndns_sd, decode_dns_sd,
                "[]*dns.SDConfig");
    DECODE_LIST(d, n, "kubernetes_sd_configs", ts_kubernetes_sd_config, s->kubernetes_sd,
                s->nkubernetes_sd, decode_kubernetes_sd, "[]*kubernetes.SDConfig");
    if ((rc = decode_relabel_list(d, n, "relabel_configs", &s->relabel, &s->nrelabel)) ||
        (rc = decode_relabel_list(d, n, "metric_relabel_configs", &s->metric_relabel,
                                  &s->nmetric_relabel)))
        return rc;
    return TS_OK;
}

static int
decode_alertmanager(dctx *d, const ts_ynode *n, ts_alertmanager_config *a)
{
    static const char *const known[] = {
        "scheme",          "path_prefix",           "timeout",         "api_version",
        "relabel_configs", "static_configs",        "file_sd_configs", "dns_sd_configs",
        HTTP_CLIENT_KEYS,  "kubernetes_sd_configs", UNSUPPORTED_SD,    NULL};
    a->line = n ? n->line : 0;
    a->scheme = "http";
    a->path_prefix = "";
    a->timeout_ms = 10 * 1000;
    a->api_version = "v2";
    int rc = check_map(d, n, "config.AlertmanagerConfig", known);
    if (rc || (rc = get_str(d, n, "scheme", &a->scheme)) ||
        (rc = get_str(d, n, "path_prefix", &a->path_prefix)) ||
        (rc = get_duration(d, n, "timeout", &a->timeout_ms)) ||
        (rc = get_str(d, n, "api_version", &a->api_version)) || (rc = decode_http(d, n, &a->http)))
        return rc;
    if (strcmp(a->api_version, "v1") != 0 && strcmp(a->api_version, "v2") != 0)
        return fail(d, get(n, "api_version"), TS_EINVAL,
                    "expected Alertmanager api version to be one of [v1 v2] but got %s",
                    a->api_version);
    DECODE_LIST(d, n, "static_configs", ts_static_config, a->static_configs, a->nstatic,
                decode_static, "[]*targetgroup.Group");
    return decode_relabel_list(d, n, "relabel_configs", &a->relabel, &a->nrelabel);
}

static int
decode_alerting(dctx *d, const ts_ynode *n, ts_config *c)
{
    static const char *const known[] = {"alert_relabel_configs", "alertmanagers", NULL};
    size_t old = push_key(d, "alerting");
    int rc = check_map(d, n, "config.AlertingConfig", known);
    if (!rc)
        rc = decode_relabel_list(d, n, "alert_relabel_configs", &c->alert_relabel,
                                 &c->nalert_relabel);
    if (!rc) {
        DECODE_LIST(d, n, "alertmanagers", ts_alertmanager_config, c->alertmanagers,
                    c->nalertmanagers, decode_alertmanager, "[]*config.AlertmanagerConfig");
    }
    pop(d, old);
    return rc;
}

static int
decode_global(dctx *d, const ts_ynode *n, ts_config *c)
{
    static const char *const known[] = {"scrape_interval", "scrape_timeout", "evaluation_interval",
                                        "external_labels", "query_log_file", NULL};
    size_t old = push_key(d, "global");
    int rc = check_map(d, n, "config.GlobalConfig", known);
    bool timeout_set = get(n, "scrape_timeout") != NULL;
    if (!rc && !(rc = get_duration(d, n, "scrape_interval", &c->scrape_interval_ms)) &&
        !(rc = get_duration(d, n, "scrape_timeout", &c->scrape_timeout_ms)) &&
        !(rc = get_duration(d, n, "evaluation_interval", &c->evaluation_interval_ms)) &&
        !(rc = get_str(d, n, "query_log_file", &c->query_log_file))) {
        ts_labels_free(c->external_labels);
        c->external_labels = NULL;
        rc = get_labels(d, n, "external_labels", &c->external_labels);
    }
    if (!rc && c->scrape_timeout_ms > c->scrape_interval_ms) {
        if (timeout_set)
            rc = fail(d, n, TS_EINVAL, "global scrape timeout greater than scrape interval");
        else
            c->scrape_timeout_ms = c->scrape_interval_ms; /* default follows a short interval */
    }
    pop(d, old);
    return rc;
}

static int
decode_root(dctx *d, const ts_ynode *root)
{
    static const char *const known[] = {"global",         "alerting",    "rule_files",
                                        "scrape_configs", "storage",     "tracing",
                                        "remote_write",   "remote_read", NULL};
    ts_config *c = d->c;
    int rc = check_map(d, root, "config.plain", known);
    if (rc)
        return rc;
    const ts_ynode *g = get(root, "global");
    if ((rc = decode_global(d, g, c)))
        return rc;
    if ((rc = get_strlist(d, root, "rule_files", &c->rule_files, NULL)))
        return rc;
    const ts_ynode *al = get(root, "alerting");
    if (!ts_ynode_is_null(al) && (rc = decode_alerting(d, al, c)))
        return rc;
    DECODE_LIST(d, root, "scrape_configs", ts_scrape_config, c->scrape, c->nscrape, decode_scrape,
                "[]*config.ScrapeConfig");
    for (size_t i = 0; i < c->nscrape; i++) {
        ts_scrape_config *s = &c->scrape[i];
        if (!s->scrape_interval_ms)
            s->scrape_interval_ms = c->scrape_interval_ms;
        if (!s->scrape_timeout_ms)
            s->scrape_timeout_ms = c->scrape_timeout_ms > s->scrape_interval_ms
                                       ? s->scrape_interval_ms
                                       : c->scrape_timeout_ms;
        const ts_ynode *item = get(root, "scrape_configs")->kids[i];
        if (s->scrape_timeout_ms > s->scrape_interval_ms) {
            snprintf(d->path, sizeof(d->path), "scrape_configs[%zu]", i);
            return fail(d, item, TS_EINVAL,
                        "scrape timeout greater than scrape interval for scrape config with job "
                        "name \"%s\"",
                        s->job_name);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->scrape[j].job_name, s->job_name) == 0) {
                snprintf(d->path, sizeof(d->path), "scrape_configs[%zu].job_name", i);
                return fail(d, get(item, "job_name"), TS_EINVAL,
                            "found multiple scrape configs with job name \"%s\"", s->job_name);
            }
        }
    }
    return TS_OK;
}

int
ts_config_parse(const char *text, size_t len, const char *path, ts_config **out, ts_error *err)
{
    ts_config *c = ts_calloc(1, sizeof(*c));
    ts_arena_init(&c->arena, 16 * 1024);
    c->path = ts_arena_strdup(&c->arena, path ? path : "");
    c->text = ts_arena_strndup(&c->arena, text, len);
    c->scrape_interval_ms = 60 * 1000;
    c->scrape_timeout_ms = 10 * 1000;
    c->evaluation_interval_ms = 60 * 1000;
    c->external_labels = ts_labels_new(NULL, 0);
    ts_ynode *root = NULL;
    ts_arena tree;
    ts_arena_init(&tree, 16 * 1024);
    ts_error local;
    if (!err)
        err = &local;
    ts_error_clear(err);
    int rc = ts_yaml_load(text, len, &tree, &root, err);
    if (rc == TS_OK) {
        dctx d = {.c = c, .err = err};
        rc = decode_root(&d, root);
    }
    ts_arena_fini(&tree);
    if (rc) {
        ts_config_free(c);
        *out = NULL;
        return rc;
    }
    *out = c;
    return TS_OK;
}

int
ts_config_load(const char *path, ts_config **out, ts_error *err)
{
    char *text;
    size_t len;
    int rc = ts_fs_read_file(path, 64 << 20, &text, &len);
    if (rc) {
        ts_error_set(err, rc, "open %s: %s", path, ts_strerror(rc));
        return rc;
    }
    rc = ts_config_parse(text, len, path, out, err);
    ts_free(text);
    return rc;
}

static const char *const ruler_keys[] = {"global", "rule_files", "alerting"};

static bool
ruler_key(const char *k)
{
    for (size_t i = 0; i < sizeof(ruler_keys) / sizeof(ruler_keys[0]); i++)
        if (strcmp(k, ruler_keys[i]) == 0)
            return true;
    return false;
}

/* The first top-level key a ruler file may not have (NULL: none). */
static const ts_ynode *
ruler_bad_key(const ts_ynode *root)
{
    if (!root || root->type != TS_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < root->n; i += 2)
        if (root->kids[i]->type == TS_YNODE_SCALAR && !ruler_key(root->kids[i]->str))
            return root->kids[i];
    return NULL;
}

int
ts_config_load_ruler(const char *path, ts_config **out, ts_error *err)
{
    char *text;
    size_t len;
    int rc = ts_fs_read_file(path, 64 << 20, &text, &len);
    if (rc) {
        ts_error_set(err, rc, "open %s: %s", path, ts_strerror(rc));
        return rc;
    }
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_ynode *root = NULL;
    rc = ts_yaml_load(text, len, &a, &root, err);
    if (rc == TS_OK) {
        const ts_ynode *bad = ruler_bad_key(root);
        if (bad) {
            rc = ts_error_set(err, TS_EINVAL,
                              "field %s is not allowed in a ruler config (only global, "
                              "rule_files and alerting)",
                              bad->str);
            err->line = bad->line;
        }
    }
    ts_arena_fini(&a);
    if (rc == TS_OK)
        rc = ts_config_parse(text, len, path, out, err);
    ts_free(text);
    return rc;
}

void
ts_config_free(ts_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nscrape; i++) {
        ts_scrape_config *s = &c->scrape[i];
        for (size_t j = 0; j < s->nstatic; j++)
            ts_labels_free(s->static_configs[j].labels);
        for (size_t j = 0; j < s->nrelabel; j++)
            ts_relabel_config_fini(&s->relabel[j]);
        ts_free(s->relabel);
        for (size_t j = 0; j < s->nmetric_relabel; j++)
            ts_relabel_config_fini(&s->metric_relabel[j]);
        ts_free(s->metric_relabel);
    }
    for (size_t i = 0; i < c->nalertmanagers; i++) {
        ts_alertmanager_config *a = &c->alertmanagers[i];
        for (size_t j = 0; j < a->nstatic; j++)
            ts_labels_free(a->static_configs[j].labels);
        for (size_t j = 0; j < a->nrelabel; j++)
            ts_relabel_config_fini(&a->relabel[j]);
        ts_free(a->relabel);
    }
    for (size_t j = 0; j < c->nalert_relabel; j++)
        ts_relabel_config_fini(&c->alert_relabel[j]);
    ts_free(c->alert_relabel);
    ts_labels_free(c->external_labels);
    ts_arena_fini(&c->arena);
    ts_free(c);
}

/* ------------------------------------------------ external label expansion */

/* Go's os.Expand: the "special" one-character shell names ($1, $$, $?...). */
static bool
is_special_var(char c)
{
    return strchr("*#$@!?-0123456789", c) != NULL && c != '\0';
}

static bool
is_name_char(char c)
{
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads the variable reference after a '$' at s (s[0] != '\0').  Sets
 * name and nlen to the name (nlen 0: no name) and returns how many bytes of s
 * the reference takes.  A return > 0 with nlen == 0 is bad syntax ("${}",
 * an unclosed "${"): those bytes are dropped along with the '$'. */
static size_t
shell_name(const char *s, const char **name, size_t *nlen)
{
    *name = s;
    *nlen = 0;
    if (s[0] == '{') {
        if (s[1] && is_special_var(s[1]) && s[2] == '}') {
            *name = s + 1;
            *nlen = 1;
            return 3;
        }
        const char *close = strchr(s + 1, '}');
        if (!close)
            return 1; /* "${" with no '}': drop "${" */
        if (close == s + 1)
            return 2; /* "${}": drop it */
        *name = s + 1;
        *nlen = (size_t)(close - s - 1);
        return *nlen + 2;
    }
    if (is_special_var(s[0])) {
        *nlen = 1;
        return 1;
    }
    size_t i = 0;
    while (is_name_char(s[i]))
        i++;
    *nlen = i;
    return i;
}

const char *
ts_config_expand_env(ts_arena *a, const char *s, size_t *nempty)
{
    if (!strchr(s, '$'))
        return s;
    /* Unbounded: the result is at most the input plus environment values,
     * both already in this process's memory. */
    ts_buf out;
    ts_buf_init(&out, 0);
    const char *p = s;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar || dollar[1] == '\0') { /* no '$' left, or a '$' at the very end */
            ts_buf_puts(&out, p);
            break;
        }
        ts_buf_put(&out, p, (size_t)(dollar - p));
        const char *name;
        size_t nlen;
        size_t w = shell_name(dollar + 1, &name, &nlen);
        if (nlen == 0 && w == 0) {
            ts_buf_putc(&out, '$'); /* "$" not followed by a name stays */
        } else if (nlen == 1 && name[0] == '$') {
            ts_buf_putc(&out, '$'); /* "$$" is an escaped '$' */
        } else if (nlen > 0) {
            char *var = ts_arena_strndup(a, name, nlen);
            const char *v = getenv(var);
            if (v && *v) {
                ts_buf_puts(&out, v);
            } else {
                TS_LOG(TS_LOG_WARN, "config", "Empty environment variable", "name=\"%s\"", var);
                if (nempty)
                    (*nempty)++;
            }
        }
        p = dollar + 1 + w;
    }
    char *r = ts_arena_strndup(a, ts_buf_cstr(&out), out.len);
    ts_buf_fini(&out);
    return r;
}

size_t
ts_config_expand_external_labels(ts_config *c)
{
    ts_labels *old = c->external_labels;
    size_t n = ts_labels_len(old), changed = 0;
    if (n == 0)
        return 0;
    ts_label *ls = ts_malloc(n * sizeof(ts_label));
    for (size_t i = 0; i < n; i++) {
        ls[i].name = old->l[i].name;
        ls[i].value = ts_config_expand_env(&c->arena, old->l[i].value, NULL);
        if (strcmp(ls[i].value, old->l[i].value) != 0) {
            changed++;
            TS_LOG(TS_LOG_DEBUG, "config", "External label replaced",
                   "label=%s input=\"%s\" output=\"%s\"", ls[i].name, old->l[i].value, ls[i].value);
        }
    }
    /* the names are still sorted: only values changed */
    c->external_labels = ts_labels_new(ls, n);
    ts_free(ls);
    ts_labels_free(old);
    return changed;
}

int
ts_config_parse_bytes(const char *s, int64_t *out, ts_error *err)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"B", 1},           {"KB", 1LL << 10}, {"KiB", 1LL << 10}, {"MB", 1LL << 20},
                 {"MiB", 1LL << 20}, {"GB", 1LL << 30}, {"GiB", 1LL << 30}, {"TB", 1LL << 40},
                 {"TiB", 1LL << 40}, {"PB", 1LL << 50}, {"PiB", 1LL << 50}, {"EB", 1LL << 60},
                 {"EiB", 1LL << 60}};
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return TS_OK;
    }
    const char *p = s;
    int64_t total = 0;
    if (!*p)
        return ts_error_set(err, TS_EINVAL, "units: invalid %s", s);
    while (*p) {
        if (*p < '0' || *p > '9')
            return ts_error_set(err, TS_EINVAL, "units: invalid %s", s);
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > INT64_MAX / 10)
                return ts_error_set(err, TS_EINVAL, "units: invalid %s", s);
            v = v * 10 + (*p++ - '0');
        }
        const char *u = p;
        while (*p && !(*p >= '0' && *p <= '9'))
            p++;
        size_t ulen = (size_t)(p - u);
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].unit) == ulen && strncmp(units[i].unit, u, ulen) == 0)
                mult = units[i].mult;
        if (!mult)
            return ts_error_set(err, TS_EINVAL, "units: unknown unit %.*s in %s", (int)ulen, u, s);
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult)
            return ts_error_set(err, TS_EINVAL, "units: invalid %s", s);
        total += v * mult;
    }
    *out = total;
    return TS_OK;
}

/* ------------------------------------------------------------ masking */

static bool
secret_key(const char *k)
{
    static const char *const names[] = {"password",      "credentials", "bearer_token",
                                        "client_secret", "secret_key",  "key",
                                        "token",         NULL};
    for (const char *const *p = names; *p; p++)
        if (strcmp(k, *p) == 0)
            return true;
    return false;
}

typedef struct span {
    int line, col;
} span;

/* Collects the positions of scalar values of secret keys in the tree. */
static void
collect_secrets(const ts_ynode *n, span **out, size_t *nout, size_t *cap, int depth)
{
    if (!n || depth > 64)
        return;
    if (n->type == TS_YNODE_MAP) {
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            const ts_ynode *k = n->kids[i], *v = n->kids[i + 1];
            if (k->type == TS_YNODE_SCALAR && secret_key(k->str) && v->type == TS_YNODE_SCALAR &&
                !ts_ynode_is_null(v)) {
                TS_GROW(*out, *cap, *nout + 1);
                (*out)[(*nout)++] = (span){v->line, v->col};
            } else {
                collect_secrets(v, out, nout, cap, depth + 1);
            }
        }
    } else if (n->type == TS_YNODE_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            collect_secrets(n->kids[i], out, nout, cap, depth + 1);
    }
}

char *
ts_config_masked_text(const ts_config *c, ts_arena *a)
{
    const char *text = c->text ? c->text : "";
    size_t len = strlen(text);
    ts_arena tree;
    ts_arena_init(&tree, 16 * 1024);
    ts_ynode *root = NULL;
    ts_error err;
    ts_error_clear(&err);
    span *sp = NULL;
    size_t nsp = 0, cap = 0;
    if (ts_yaml_load(text, len, &tree, &root, &err) == TS_OK)
        collect_secrets(root, &sp, &nsp, &cap, 0);
    ts_buf out;
    ts_buf_init(&out, 0);
    int line = 1, col = 1;
    for (size_t i = 0; i < len;) {
        bool masked = false;
        for (size_t k = 0; k < nsp && !masked; k++) {
            if (sp[k].line != line || sp[k].col != col)
                continue;
            /* the scalar runs to its closing quote, or to the end of the
             * plain token (a comment or the line's end) */
            size_t j = i;
            char q = text[i];
            if (q == '"' || q == '\'') {
                for (j = i + 1; j < len && text[j] != '\n'; j++) {
                    if (q == '"' && text[j] == '\\' && j + 1 < len) {
                        j++;
                        continue;
                    }
                    if (text[j] == q) {
                        j++;
                        break;
                    }
                }
            } else {
                while (j < len && text[j] != '\n' && text[j] != ',' && text[j] != '}' &&
                       !(text[j] == ' ' && j + 1 < len && text[j + 1] == '#'))
                    j++;
                while (j > i && text[j - 1] == ' ')
                    j--;
            }
            ts_buf_puts(&out, "<secret>");
            col += (int)(j - i);
            i = j;
            masked = true;
        }
        if (masked)
            continue;
        ts_buf_putc(&out, (uint8_t)text[i]);
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i++;
    }
    char *res = ts_arena_strndup(a, out.p ? (const char *)out.p : "", out.len);
    ts_buf_fini(&out);
    ts_free(sp);
    ts_arena_fini(&tree);
    return res;
}
