/*
 * Target labels and URLs (Prometheus 2.42 scrape/target.go).
 *
 * populate_labels turns one discovered label set (target labels merged with
 * the group's labels, the target's winning) into the target's label set:
 * defaults for job/__scheme__/__metrics_path__/__scrape_interval__/
 * __scrape_timeout__, __param_<name> from the job's params, relabel_configs,
 * then the checks and clean-ups listed in scrape.h.  Go's net.SplitHostPort
 * decides whether __address__ already has a port (it is reimplemented here
 * with the same acceptance rules: brackets for IPv6, at most one colon
 * otherwise).
 */
#include "pkg/scrape/scrape.h"

#include <stdio.h>
#include <string.h>

#include "pkg/util/mem.h"
#include "pkg/util/time.h"

/* Go's net.SplitHostPort succeeds (syntax only, the port may be empty). */
static bool
split_host_port_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return false;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end)
            return false;
        if (end + 1 != colon) /* "]" must be followed by the last colon */
            return false;
        if (memchr(s + 1, '[', (size_t)(end - s - 1)) || strchr(end + 1, '[') ||
            strchr(end + 1, ']'))
            return false;
        return true;
    }
    if (memchr(s, ':', (size_t)(colon - s)))
        return false; /* too many colons */
    if (strchr(s, '[') || strchr(s, ']'))
        return false;
    return true;
}

static bool
utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2))
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

int
ts_scrape_populate_labels(const ts_scrape_config *sc, const ts_labels *discovered, ts_labels **res,
                          ts_labels **orig, ts_error *err)
{
    *res = NULL;
    *orig = NULL;
    char ibuf[32], tbuf[32];
    ts_duration_format(sc->scrape_interval_ms, ibuf, sizeof(ibuf));
    ts_duration_format(sc->scrape_timeout_ms, tbuf, sizeof(tbuf));
    const char *defaults[][2] = {
        {"job", sc->job_name},        {"__scrape_interval__", ibuf},
        {"__scrape_timeout__", tbuf}, {"__metrics_path__", sc->metrics_path},
        {"__scheme__", sc->scheme},
    };
    ts_labels_builder b;
    ts_labels_builder_init(&b, discovered);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        const char *v = ts_labels_get(discovered, defaults[i][0]);
        if (!v || !v[0])
            ts_labels_builder_set(&b, defaults[i][0], defaults[i][1] ? defaults[i][1] : "");
    }
    for (size_t i = 0; i < sc->nparams; i++) {
        if (sc->params[i].values.n == 0)
            continue;
        size_t n = strlen(sc->params[i].name) + 9;
        char *name = ts_malloc(n);
        snprintf(name, n, "__param_%s", sc->params[i].name);
        ts_labels_builder_set(&b, name, sc->params[i].values.v[0]);
        ts_free(name);
    }
    ts_labels *pre = ts_labels_builder_build(&b, NULL);
    int rc = TS_OK;
    if (!ts_relabel_process(sc->relabel, sc->nrelabel, &b)) {
        *orig = pre; /* dropped by relabeling: kept for the API */
        goto out;
    }
    ts_labels *post = ts_labels_builder_build(&b, NULL);
    const char *addr0 = ts_labels_get(post, "__address__");
    if (!addr0 || !addr0[0]) {
        rc = ts_error_set(err, TS_EINVAL, "no address");
        goto fail;
    }
    const char *scheme = ts_labels_get(post, "__scheme__");
    char *addr = ts_strdup(addr0);
    if (!split_host_port_ok(addr)) {
        size_t n = strlen(addr) + 8;
        char *probe = ts_malloc(n);
        snprintf(probe, n, "%s:1234", addr);
        bool add = split_host_port_ok(probe);
        ts_free(probe);
        if (add) {
            const char *port = NULL;
            if (!scheme || !scheme[0] || strcmp(scheme, "http") == 0)
                port = ":80";
            else if (strcmp(scheme, "https") == 0)
                port = ":443";
            if (!port) {
                ts_free(addr);
                rc = ts_error_set(err, TS_EINVAL, "invalid scheme: \"%s\"", sc->scheme);
                goto fail;
            }
            char *a2 = ts_malloc(strlen(addr) + 5);
            snprintf(a2, strlen(addr) + 5, "%s%s", addr, port);
            ts_free(addr);
            addr = a2;
            ts_labels_builder_set(&b, "__address__", addr);
        }
    }
    if (strchr(addr, '/')) {
        rc = ts_error_set(err, TS_EINVAL, "\"%s\" is not a valid hostname", addr);
        ts_free(addr);
        goto fail;
    }
    const char *iv = ts_labels_get(post, "__scrape_interval__");
    const char *tv = ts_labels_get(post, "__scrape_timeout__");
    int64_t ims = 0, tms = 0;
    if (!iv || ts_duration_parse(iv, strlen(iv), &ims)) {
        rc = ts_error_set(err, TS_EINVAL,
                          "error parsing scrape interval: not a valid duration "
                          "string: \"%s\"",
                          iv ? iv : "");
    } else if (ims == 0) {
        rc = ts_error_set(err, TS_EINVAL, "scrape interval cannot be 0");
    } else if (!tv || ts_duration_parse(tv, strlen(tv), &tms)) {
        rc = ts_error_set(err, TS_EINVAL,
                          "error parsing scrape timeout: not a valid duration "
                          "string: \"%s\"",
                          tv ? tv : "");
    } else if (tms == 0) {
        rc = ts_error_set(err, TS_EINVAL, "scrape timeout cannot be 0");
    } else if (tms > ims) {
        rc = ts_error_set(err, TS_EINVAL,
                          "scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")",
                          tv, iv);
    }
    if (rc) {
        ts_free(addr);
        goto fail;
    }
    for (size_t i = 0; i < post->n; i++)
        if (strncmp(post->l[i].name, "__meta_", 7) == 0)
            ts_labels_builder_del(&b, post->l[i].name);
    const char *inst = ts_labels_get(post, "instance");
    if (!inst || !inst[0])
        ts_labels_builder_set(&b, "instance", addr);
    ts_free(addr);
    ts_labels *final = ts_labels_builder_build(&b, NULL);
    for (size_t i = 0; i < final->n; i++) {
        if (!utf8_valid(final->l[i].value)) {
            rc = ts_error_set(err, TS_EINVAL, "invalid label value for \"%s\": \"%s\"",
                              final->l[i].name, final->l[i].value);
            ts_labels_free(final);
            goto fail;
        }
    }
    ts_labels_free(post);
    *res = final;
    *orig = pre;
    goto out;
fail:
    ts_labels_free(post);
    ts_labels_free(pre);
out:
    ts_labels_builder_fini(&b);
    return rc;
}

/* Appends s percent-encoded as Go's url.QueryEscape does. */
static size_t
query_escape(const char *s, char *buf, size_t size, size_t at)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[4];
        size_t n;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            tmp[0] = (char)*p;
            n = 1;
        } else if (*p == ' ') {
            tmp[0] = '+';
            n = 1;
        } else {
            tmp[0] = '%';
            tmp[1] = hex[*p >> 4];
            tmp[2] = hex[*p & 15];
            n = 3;
        }
        for (size_t i = 0; i < n; i++, at++)
            if (at + 1 < size)
                buf[at] = tmp[i];
    }
    if (size)
        buf[at < size ? at : size - 1] = 0;
    return at;
}

typedef struct qparam {
    const char *name, *value;
} qparam;

static int
qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    return strcmp(x->name, y->name);
}

size_t
ts_scrape_target_url(const ts_scrape_config *sc, const ts_labels *target, char *buf, size_t size)
{
    const char *scheme = ts_labels_get(target, "__scheme__");
    const char *addr = ts_labels_get(target, "__address__");
    const char *path = ts_labels_get(target, "__metrics_path__");
    int n = snprintf(buf, size, "%s://%s%s", scheme ? scheme : "http", addr ? addr : "",
                     path ? path : "");
    size_t at = n < 0 ? 0 : (size_t)n;
    /* Query: the job's params, with each __param_<k> label replacing the
     * first value of k (or adding it); sorted by key as url.Values.Encode. */
    size_t cap = target->n + 1;
    for (size_t i = 0; sc && i < sc->nparams; i++)
        cap += sc->params[i].values.n;
    qparam *q = ts_calloc(cap, sizeof(*q));
    size_t nq = 0;
    for (size_t i = 0; sc && i < sc->nparams; i++)
        for (size_t k = 0; k < sc->params[i].values.n; k++)
            q[nq++] = (qparam){sc->params[i].name, sc->params[i].values.v[k]};
    for (size_t i = 0; i < target->n; i++) {
        if (strncmp(target->l[i].name, "__param_", 8) != 0)
            continue;
        const char *k = target->l[i].name + 8;
        bool replaced = false;
        for (size_t j = 0; j < nq && !replaced; j++)
            if (strcmp(q[j].name, k) == 0) {
                q[j].value = target->l[i].value;
                replaced = true;
            }
        if (!replaced)
            q[nq++] = (qparam){k, target->l[i].value};
    }
    /* stable sort by key (insertion sort keeps value order within a key) */
    for (size_t i = 1; i < nq; i++)
        for (size_t j = i; j > 0 && qparam_cmp(&q[j - 1], &q[j]) > 0; j--) {
            qparam t = q[j];
            q[j] = q[j - 1];
            q[j - 1] = t;
        }
    for (size_t i = 0; i < nq; i++) {
        if (at + 1 < size)
            buf[at] = i == 0 ? '?' : '&';
        at++;
        at = query_escape(q[i].name, buf, size, at);
        if (at + 1 < size)
            buf[at] = '=';
        at++;
        at = query_escape(q[i].value, buf, size, at);
    }
    if (size)
        buf[at < size ? at : size - 1] = 0;
    ts_free(q);
    return at;
}

const char *
ts_target_health_name(ts_target_health h)
{
    switch (h) {
    case TS_HEALTH_UP: return "up";
    case TS_HEALTH_DOWN: return "down";
    default: return "unknown";
    }
}

static uint64_t
fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t
ts_scrape_jitter_seed(const char *hostname, const ts_labels *external)
{
    uint64_t h = 14695981039346656037ULL;
    h = fnv1a(h, hostname ? hostname : "", hostname ? strlen(hostname) : 0);
    const ts_labels *ls = external ? external : ts_labels_empty();
    size_t need = ts_labels_format(ls, NULL, 0);
    char *buf = ts_malloc(need + 1);
    ts_labels_format(ls, buf, need + 1);
    h = fnv1a(h, buf, need);
    ts_free(buf);
    return h;
}
