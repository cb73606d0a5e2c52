/*
 * One scrape loop per target (Prometheus scrapeLoop).
 *
 * Schedule: the first scrape happens at the target's offset within the
 * interval (hash of labels and URL, xor the jitter seed, modulo the interval,
 * pinned to absolute time as Prometheus' Target.offset), then every interval.
 * The timer is one-shot and re-armed against an absolute due time, so the
 * cadence does not drift; a due time already passed is skipped.
 *
 * One scrape: GET via the shared curl multi (pkg/util/curluv.c); the body accumulates
 * in a bounded ts_buf (body_size_limit; curl inflates gzip first, so the
 * limit applies to the decoded body as in Prometheus).  Then:
 *
 *   app = appender()
 *   ok  -> parse + append samples; error -> rollback, app = appender(),
 *          append an empty scrape (markers for every previous series)
 *   failed HTTP -> append an empty scrape
 *   report series (up, scrape_duration_seconds, ...) with the target labels
 *   commit
 *
 * Samples: target labels are merged into each sample's labels (honor_labels
 * keeps the sample's value; otherwise a clashing sample label moves to
 * exported_<name>), metric_relabel_configs run, then the limits; the
 * result is cached per series text (loop->lcache), so a series seen before
 * costs one hash lookup instead (Prometheus' scrape cache).  Series
 * without an explicit timestamp are tracked (loop->series, stamped with the
 * attempt that saw them) so those missing next time get a stale marker; the
 * table survives from scrape to scrape, so a steady target costs no
 * allocation per series, and a failed attempt changes nothing in it but
 * stamps that the next success ignores.  Appender errors for out-of-order,
 * duplicate and too-old samples skip the sample, as Prometheus does.
 *
 * End of run (target gone): the loop keeps its timer, notes the time of the
 * next scheduled scrape, waits one more interval and a tenth, then writes
 * stale markers for the last scrape's series and the report series at that
 * noted time, and closes.
 */
#include "pkg/scrape/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/relabel/relabel.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/fs.h"
#include "pkg/util/hash.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#define ACCEPT_HEADER                                                                              \
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"             \
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define USER_AGENT "Prometheus/2.42.0"
#define BODY_HARD_MAX ((size_t)1 << 30)

static const char *const report_names[TS__NREPORT] = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
};

/* ------------------------------------------------------------ series sets */

uint64_t
ts__sset_gen_next(void)
{
    static _Atomic uint64_t gen;
    return atomic_fetch_add(&gen, 1) + 1;
}

void
ts__sset_clear(ts__sset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        ts_labels_free(s->e[i].ls);
    ts_free(s->e);
    memset(s, 0, sizeof(*s));
    s->gen = ts__sset_gen_next();
}

ts__sset_entry *
ts__sset_find(const ts__sset *s, const ts_labels *ls)
{
    if (!s->cap)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = ts_labels_hash(ls) & mask;; i = (i + 1) & mask) {
        ts__sset_entry *e = &s->e[i];
        if (!e->ls)
            return NULL;
        if (ts_labels_hash(e->ls) == ts_labels_hash(ls) && ts_labels_equal(e->ls, ls))
            return e;
    }
}

/* Places an entry whose labels are not in s yet (takes ownership of
 * e.ls); s must have room. */
static ts__sset_entry *
sset_place(ts__sset *s, ts__sset_entry e)
{
    size_t mask = s->cap - 1, k = ts_labels_hash(e.ls) & mask;
    while (s->e[k].ls)
        k = (k + 1) & mask;
    s->e[k] = e;
    s->n++;
    return &s->e[k];
}

static void
sset_grow(ts__sset *s)
{
    ts__sset old = *s;
    s->gen = ts__sset_gen_next(); /* entries move */
    s->cap = old.cap ? old.cap * 2 : 64;
    s->e = ts_calloc(s->cap, sizeof(*s->e));
    s->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.e[i].ls)
            sset_place(s, old.e[i]);
    ts_free(old.e);
}

ts__sset_entry *
ts__sset_add(ts__sset *s, const ts_labels *ls, uint64_t ref, bool *added)
{
    ts__sset_entry *e = ts__sset_find(s, ls);
    *added = false;
    if (e)
        return e;
    if ((s->n + 1) * 4 > s->cap * 3)
        sset_grow(s);
    *added = true;
    return sset_place(s, (ts__sset_entry){ts_labels_share(ls), ref, 0, TS__NEVER});
}

/* ------------------------------------------------------------ label cache */

/* Series key (as written) -> the final labels computed for it (target labels
 * merged, metric relabeling applied, limits passed), or NULL when metric
 * relabeling drops it.  Valid for the loop's lifetime: a loop's
 * configuration never changes (a changed job gets new loops).  Entries not
 * used by a successful scrape are evicted after it.
 *
 * Layout, for a target that lists its series in the same order every time:
 * entries sit in a dense array in insertion order and their keys in one
 * byte buffer in the same order; an open-addressing index (entry index + 1)
 * finds a key by hash.  A lookup first tries the entry after the previous
 * hit, so a steady scrape walks both arrays sequentially and needs neither
 * the key's hash nor the index. */
typedef struct lc_entry {
    size_t koff, klen; /* key bytes at keys[koff..koff+klen) */
    uint64_t hash;
    ts_labels *ls;
    uint64_t used; /* attempt that last used it */
    /* The loop's tracked-series entry for ls, valid while loop->series.gen
     * == sgen (saves the lookup by labels on every scrape); NULL = unknown. */
    ts__sset_entry *se;
    uint64_t sgen;
    /* The head's ref for ls as last returned by the appender (0 = none):
     * read here, in scrape order, instead of through se, whose table is in
     * hash order (a cache miss per sample). */
    uint64_t ref;
    /* tracked: the attempt that last stamped se for this key; ok: the last
     * successful attempt that did (set by lc_evict).  ok == loop->last_ok
     * means the series was in the last successful scrape, so it is not
     * "added", without reading se. */
    uint64_t tracked, ok;
} lc_entry;

struct ts__lcache {
    lc_entry *e; /* insertion order */
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 = empty; nslots is 0 or a power of two */
    size_t nslots;
    char *keys;
    size_t klen, kcap;
    size_t next; /* the entry after the last hit: the likely next key */
};

static void
lc_index_put(struct ts__lcache *c, size_t idx)
{
    size_t mask = c->nslots - 1;
    size_t k = c->e[idx].hash & mask;
    while (c->slots[k])
        k = (k + 1) & mask;
    c->slots[k] = (uint32_t)idx + 1;
}

static void
lc_reindex(struct ts__lcache *c, size_t nslots)
{
    ts_free(c->slots);
    c->nslots = nslots;
    c->slots = ts_calloc(nslots, sizeof(*c->slots));
    for (size_t i = 0; i < c->n; i++)
        lc_index_put(c, i);
}

static bool
lc_match(const struct ts__lcache *c, const lc_entry *e, const char *key, size_t klen)
{
    return e->klen == klen && memcmp(c->keys + e->koff, key, klen) == 0;
}

/* *h gets the key's hash when it had to be computed (else stays 0 and
 * lc_add computes it). */
static lc_entry *
lc_find(struct ts__lcache *c, const char *key, size_t klen, uint64_t *h)
{
    *h = 0;
    if (c->next < c->n && lc_match(c, &c->e[c->next], key, klen))
        return &c->e[c->next++];
    if (!c->nslots)
        return NULL;
    *h = ts_hash64(key, klen);
    size_t mask = c->nslots - 1;
    for (size_t i = *h & mask;; i = (i + 1) & mask) {
        uint32_t k = c->slots[i];
        if (!k)
            return NULL;
        lc_entry *e = &c->e[k - 1];
        if (e->hash == *h && lc_match(c, e, key, klen)) {
            c->next = k;
            return e;
        }
    }
}

/* Takes ownership of ls (may be NULL = dropped).  h: as left by lc_find. */
static lc_entry *
lc_add(struct ts__lcache *c, const char *key, size_t klen, uint64_t h, ts_labels *ls, uint64_t used)
{
    if (!h)
        h = ts_hash64(key, klen);
    TS_GROW(c->keys, c->kcap, c->klen + klen + 1); /* never NULL once used */
    memcpy(c->keys + c->klen, key, klen);
    TS_GROW(c->e, c->cap, c->n + 1);
    c->e[c->n] = (lc_entry){c->klen, klen, h, ls, used, NULL, 0, 0, 0, 0};
    c->klen += klen;
    c->n++;
    if (c->n * 4 > c->nslots * 3)
        lc_reindex(c, c->nslots ? c->nslots * 2 : 256);
    else
        lc_index_put(c, c->n - 1);
    c->next = c->n;
    return &c->e[c->n - 1];
}

/* Drops the entries the last successful attempt did not use (keeping the
 * order of the others). */
static void
lc_evict(struct ts__lcache *c, uint64_t attempt)
{
    size_t live = 0;
    for (size_t i = 0; i < c->n; i++) {
        lc_entry *e = &c->e[i];
        live += e->used == attempt;
        if (e->tracked == attempt)
            e->ok = attempt;
    }
    if (live == c->n)
        return;
    size_t n = 0, klen = 0;
    for (size_t i = 0; i < c->n; i++) {
        lc_entry *e = &c->e[i];
        if (e->used != attempt) {
            ts_labels_free(e->ls);
            continue;
        }
        memmove(c->keys + klen, c->keys + e->koff, e->klen); /* klen <= koff */
        e->koff = klen;
        klen += e->klen;
        c->e[n++] = *e;
    }
    c->n = n;
    c->klen = klen;
    size_t nslots = 256;
    while (n * 4 > nslots * 3)
        nslots *= 2;
    lc_reindex(c, nslots);
    c->next = 0;
}

static void
lc_free(struct ts__lcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        ts_labels_free(c->e[i].ls);
    ts_free(c->e);
    ts_free(c->slots);
    ts_free(c->keys);
    ts_free(c);
}

/* ------------------------------------------------------------------- setup */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ts__loop *l = userdata;
    size_t n = size * nmemb;
    if (ts_buf_put(&l->body, ptr, n) != TS_OK) {
        l->body_too_big = true;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t
header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
    ts__loop *l = userdata;
    size_t n = size * nitems;
    if (n > 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 500 Internal Server Error\r\n": keep "500 Internal Server Error" */
        const char *sp = memchr(ptr, ' ', n);
        size_t k = 0;
        if (sp) {
            sp++;
            while (sp < ptr + n && *sp != '\r' && *sp != '\n' && k + 1 < sizeof(l->status_line))
                l->status_line[k++] = *sp++;
        }
        l->status_line[k] = 0;
    }
    return n;
}

static char *
read_secret(const char *file)
{
    char *s = NULL;
    size_t len = 0;
    if (ts_fs_read_file(file, 1 << 20, &s, &len) != TS_OK) {
        TS_LOG(TS_LOG_ERROR, "scrape", "Cannot read credentials file", "file=\"%s\"", file);
        return ts_strdup("");
    }
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = 0;
    return s;
}

static void
setup_easy(ts__loop *l, const ts_scrape_config *sc)
{
    CURL *e = l->easy;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)l->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, l->curl_err);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    const ts_http_config *h = &sc->http;
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, h->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    if (!h->enable_http2)
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    char hdr[256], secs[64];
    l->headers = curl_slist_append(NULL, ACCEPT_HEADER);
    /* Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus writes the header */
    ts_format_float_go((double)l->timeout_ms / 1000.0, 'f', secs, sizeof(secs));
    snprintf(hdr, sizeof(hdr), "X-Prometheus-Scrape-Timeout-Seconds: %s", secs);
    l->headers = curl_slist_append(l->headers, hdr);
    if (h->has_basic_auth) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, h->basic_auth_username ? h->basic_auth_username : "");
        char *pw = h->basic_auth_password_file
                       ? read_secret(h->basic_auth_password_file)
                       : ts_strdup(h->basic_auth_password ? h->basic_auth_password : "");
        curl_easy_setopt(e, CURLOPT_PASSWORD, pw); /* curl copies */
        ts_free(pw);
    }
    if (h->has_authorization) {
        char *cred = h->auth_credentials_file
                         ? read_secret(h->auth_credentials_file)
                         : ts_strdup(h->auth_credentials ? h->auth_credentials : "");
        size_t n = strlen(cred) + 64;
        char *a = ts_malloc(n);
        snprintf(a, n, "Authorization: %s %s", h->auth_type ? h->auth_type : "Bearer", cred);
        l->headers = curl_slist_append(l->headers, a);
        ts_free(a);
        ts_free(cred);
    }
    const ts_tls_config *t = &h->tls;
    ts_curl_set_url_server_name(e, l->url, t->server_name, &l->headers, &l->connect_to);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
    if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
    if (t->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
    if (t->insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (t->min_version) {
        long v = CURL_SSLVERSION_TLSv1_2;
        if (strcmp(t->min_version, "TLS10") == 0)
            v = CURL_SSLVERSION_TLSv1_0;
        else if (strcmp(t->min_version, "TLS11") == 0)
            v = CURL_SSLVERSION_TLSv1_1;
        else if (strcmp(t->min_version, "TLS13") == 0)
            v = CURL_SSLVERSION_TLSv1_3;
        curl_easy_setopt(e, CURLOPT_SSLVERSION, v);
    }
    if (h->proxy_url)
        curl_easy_setopt(e, CURLOPT_PROXY, h->proxy_url);
    size_t max = BODY_HARD_MAX;
    if (sc->body_size_limit > 0 && (uint64_t)sc->body_size_limit < max)
        max = (size_t)sc->body_size_limit;
    ts_buf_init(&l->body, max);
}

static void timer_cb(uv_timer_t *t);

ts__loop *
ts__loop_new(ts_scrape_manager *m, ts__pool *p, ts_labels *labels, ts_labels *discovered,
             uint64_t hash)
{
    ts__loop *l = ts_calloc(1, sizeof(*l));
    l->m = m;
    l->pool = p;
    l->hash = hash;
    l->labels = labels;
    l->discovered = discovered;
    ts_labels_builder b;
    ts_labels_builder_init(&b, labels);
    for (size_t i = 0; i < labels->n; i++)
        if (strncmp(labels->l[i].name, "__", 2) == 0)
            ts_labels_builder_del(&b, labels->l[i].name);
    l->public_labels = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
    char url[4096];
    size_t n = ts_scrape_target_url(p->sc, labels, url, sizeof(url));
    if (n >= sizeof(url)) {
        l->url = ts_malloc(n + 1);
        ts_scrape_target_url(p->sc, labels, l->url, n + 1);
    } else {
        l->url = ts_strdup(url);
    }
    const char *iv = ts_labels_get(labels, "__scrape_interval__");
    const char *tv = ts_labels_get(labels, "__scrape_timeout__");
    /* populate_labels validated both */
    if (!iv || ts_duration_parse(iv, strlen(iv), &l->interval_ms) || l->interval_ms <= 0)
        l->interval_ms = p->sc->scrape_interval_ms;
    if (!tv || ts_duration_parse(tv, strlen(tv), &l->timeout_ms) || l->timeout_ms <= 0)
        l->timeout_ms = p->sc->scrape_timeout_ms;
    ts_arena_init(&l->arena, 0);
    l->lcache = ts_calloc(1, sizeof(*l->lcache));
    l->easy = curl_easy_init();
    TS_ASSERT(l->easy != NULL);
    setup_easy(l, p->sc);

    /* offset within the interval, pinned to absolute time */
    uint64_t lh = ts_labels_hash(labels);
    uint64_t h = ts_hash64_seed(l->url, strlen(l->url), lh) ^ m->o.jitter_seed;
    int64_t iv_ms = l->interval_ms;
    int64_t now = ts_now_ms();
    int64_t base = iv_ms - now % iv_ms;
    int64_t next = base + (int64_t)(h % (uint64_t)iv_ms);
    if (next > iv_ms)
        next -= iv_ms;
    uv_timer_init(m->o.loop, &l->timer);
    l->timer.data = l;
    l->next_due = uv_now(m->o.loop) + (uint64_t)next;
    uv_timer_start(&l->timer, timer_cb, (uint64_t)next, 0);
    m->live_loops++;
    return l;
}

/* ---------------------------------------------------------------- closing */

static void meta_free(ts_scrape_metadata *md, size_t n);

static void
loop_closed(uv_handle_t *h)
{
    ts__loop *l = h->data;
    ts_scrape_manager *m = l->m;
    curl_easy_cleanup(l->easy);
    curl_slist_free_all(l->headers);
    curl_slist_free_all(l->connect_to);
    ts_buf_fini(&l->body);
    ts__sset_clear(&l->series);
    lc_free(l->lcache);
    ts_arena_fini(&l->arena);
    ts_labels_free(l->labels);
    ts_labels_free(l->public_labels);
    ts_labels_free(l->discovered);
    meta_free(l->meta, l->nmeta);
    meta_free(l->new_meta, l->nnew_meta);
    ts_free(l->url);
    ts_free(l);
    m->live_loops--;
    ts__manager_maybe_free(m);
}

static void
loop_close(ts__loop *l)
{
    if (l->state == TS__LOOP_CLOSING)
        return;
    if (l->scraping) {
        ts_curluv_cancel(l->m->http, l->easy);
        l->scraping = false;
    }
    l->state = TS__LOOP_CLOSING;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, loop_closed);
}

static void
ending_unlink(ts__loop *l)
{
    for (ts__loop **pp = &l->m->ending; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    l->next = NULL;
}

/* ---------------------------------------------------------------- appending */

typedef struct scrape_ctx {
    ts__loop *l;
    const ts_scrape_config *sc;
    ts_appender *app;
    int64_t t;
    uint64_t total, added, series_added;
    bool sample_limit_hit;
    ts_labels_builder b;
    ts_error *err;
} scrape_ctx;

static bool
builder_has(const ts_labels_builder *b, const char *name)
{
    return ts_labels_builder_get(b, name) != NULL;
}

/* Target labels into the sample's labels (Prometheus mutateSampleLabels). */
static void
merge_target_labels(scrape_ctx *c, ts_labels_builder *b)
{
    const ts_labels *tl = c->l->public_labels;
    for (size_t i = 0; i < tl->n; i++) {
        const char *name = tl->l[i].name;
        const char *have = ts_labels_builder_get(b, name);
        if (c->sc->honor_labels) {
            if (!have)
                ts_labels_builder_set(b, name, tl->l[i].value);
            continue;
        }
        if (have) {
            char *keep = ts_arena_strdup(&c->l->arena, have);
            char *exp = ts_arena_sprintf(&c->l->arena, "exported_%s", name);
            while (builder_has(b, exp) || ts_labels_get(tl, exp))
                exp = ts_arena_sprintf(&c->l->arena, "exported_%s", exp);
            ts_labels_builder_set(b, exp, keep);
        }
        ts_labels_builder_set(b, name, tl->l[i].value);
    }
}

static int
check_label_limits(scrape_ctx *c, const ts_labels *ls)
{
    const ts_scrape_config *sc = c->sc;
    const char *metric = ts_labels_get(ls, TS_METRIC_NAME);
    if (sc->label_limit && ls->n > sc->label_limit)
        return ts_error_set(
            c->err, TS_ELIMIT,
            "label_limit exceeded (metric: %.50s, number of label: %u, limit: %llu)", metric, ls->n,
            (unsigned long long)sc->label_limit);
    for (size_t i = 0; i < ls->n; i++) {
        size_t nl = strlen(ls->l[i].name), vl = strlen(ls->l[i].value);
        if (sc->label_name_length_limit && nl > sc->label_name_length_limit)
            return ts_error_set(c->err, TS_ELIMIT,
                                "label_name_length_limit exceeded (metric: %.50s, label: %.50s, "
                                "name length: %zu, limit: %llu)",
                                metric, ls->l[i].name, nl,
                                (unsigned long long)sc->label_name_length_limit);
        if (sc->label_value_length_limit && vl > sc->label_value_length_limit)
            return ts_error_set(c->err, TS_ELIMIT,
                                "label_value_length_limit exceeded (metric: %.50s, label: %.50s, "
                                "value length: %zu, limit: %llu)",
                                metric, ls->l[i].name, vl,
                                (unsigned long long)sc->label_value_length_limit);
    }
    return TS_OK;
}

static bool
append_error_is_soft(int rc)
{
    return rc == TS_EOOO || rc == TS_EDUPSAMPLE || rc == TS_ETOOOLD;
}

/* Counts a rejected sample (soft append error) for /metrics. */
static void
count_rejected(ts__loop *l, int rc)
{
    ts__scrape_stats *st = &l->m->stats;
    if (rc == TS_EOOO)
        atomic_fetch_add(&st->out_of_order, 1);
    else if (rc == TS_EDUPSAMPLE)
        atomic_fetch_add(&st->duplicate, 1);
    else if (rc == TS_ETOOOLD)
        atomic_fetch_add(&st->out_of_bounds, 1);
}

static int
on_sample(void *ctx, const ts__sample *s)
{
    scrape_ctx *c = ctx;
    ts__loop *l = c->l;
    c->total++;
    uint64_t kh;
    lc_entry *ce = lc_find(l->lcache, s->key, s->klen, &kh);
    const ts_labels *ls;
    int rc;
    if (ce) {
        ce->used = l->attempt;
        if (!ce->ls)
            return TS_OK; /* dropped by metric relabeling */
        ls = ce->ls;
    } else {
        ts_labels_builder *b = ts__sample_builder(s, c->err, &rc);
        if (!b)
            return rc;
        merge_target_labels(c, b);
        if (c->sc->nmetric_relabel &&
            !ts_relabel_process(c->sc->metric_relabel, c->sc->nmetric_relabel, b)) {
            lc_add(l->lcache, s->key, s->klen, kh, NULL, l->attempt);
            return TS_OK; /* dropped */
        }
        ts_labels *built = ts_labels_builder_build(b, NULL);
        if (built->n == 0) { /* relabeled to nothing: dropped */
            ts_labels_free(built);
            lc_add(l->lcache, s->key, s->klen, kh, NULL, l->attempt);
            return TS_OK;
        }
        if (!ts_labels_has(built, TS_METRIC_NAME)) {
            ts_labels_free(built);
            return ts_error_set(c->err, TS_EINVAL, "__name__ label is mandatory");
        }
        if ((rc = check_label_limits(c, built))) {
            ts_labels_free(built);
            return rc;
        }
        ce = lc_add(l->lcache, s->key, s->klen, kh, built, l->attempt);
        ls = ce->ls;
    }
    c->added++;
    if (c->sc->sample_limit && c->added > c->sc->sample_limit) {
        c->sample_limit_hit = true; /* keep counting, append nothing more */
        return TS_OK;
    }
    bool explicit_ts = c->sc->honor_timestamps && s->has_ts;
    int64_t t = explicit_ts ? s->ts : c->t;
    /* The steady state reads only ce (sequential) and writes e. */
    ts__sset_entry *e = ce->se && ce->sgen == l->series.gen ? ce->se : NULL;
    uint64_t ref = e ? ce->ref : 0, ref_out = 0;
    if (!e && (e = ts__sset_find(&l->series, ls)))
        ref = e->ref;
    rc = c->app->ops->append(c->app, ref, ls, t, s->v, &ref_out);
    if (rc && !append_error_is_soft(rc))
        return ts_error_set(c->err, rc, "append: %s", ts_strerror(rc));
    count_rejected(l, rc);
    if (ref_out)
        ref = ref_out;
    ce->ref = ref;
    if (explicit_ts) {
        if (e)
            e->ref = ref; /* known, but not tracked for staleness */
        return TS_OK;
    }
    if (!e) {
        bool added;
        e = ts__sset_add(&l->series, ls, ref, &added);
        c->series_added++;
    } else if ((l->last_ok == 0 || ce->ok != l->last_ok) && e->seen_cur != l->attempt &&
               e->seen_ok != l->last_ok) {
        c->series_added++; /* known, but not in the last successful scrape */
    }
    e->ref = ref;
    e->seen_cur = l->attempt;
    ce->se = e;
    ce->sgen = l->series.gen;
    ce->tracked = l->attempt;
    return TS_OK;
}

static char *
strndup_or_empty(const char *s, size_t n)
{
    return s ? ts_strndup(s, n) : ts_strdup("");
}

static void
meta_free(ts_scrape_metadata *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ts_free(md[i].metric);
        ts_free(md[i].type);
        ts_free(md[i].help);
        ts_free(md[i].unit);
    }
    ts_free(md);
}

/* HELP/TYPE/UNIT of one family usually come together: update the last
 * entry when it is the same metric, else start a new one. */
static void
on_meta(void *ctx, char kind, const char *metric, size_t mlen, const char *text, size_t tlen)
{
    scrape_ctx *c = ctx;
    ts__loop *l = c->l;
    ts_scrape_metadata *e = l->nnew_meta ? &l->new_meta[l->nnew_meta - 1] : NULL;
    if (!e || strlen(e->metric) != mlen || memcmp(e->metric, metric, mlen) != 0) {
        if (l->nnew_meta >= 100000)
            return; /* bounded: a target with more families keeps the first ones */
        TS_GROW(l->new_meta, l->new_meta_cap, l->nnew_meta + 1);
        e = &l->new_meta[l->nnew_meta++];
        e->metric = strndup_or_empty(metric, mlen);
        e->type = ts_strdup("unknown");
        e->help = ts_strdup("");
        e->unit = ts_strdup("");
    }
    char **slot = kind == 'T' ? &e->type : kind == 'H' ? &e->help : &e->unit;
    ts_free(*slot);
    *slot = strndup_or_empty(text, tlen);
}

/* Appends body (NULL/empty = a failed scrape) and the staleness markers for
 * series of the previous scrape that are gone.  On error nothing of the
 * loop's state changes (the caller rolls back). */
static int
append_scrape(scrape_ctx *c, const char *ctype, const char *body, size_t len)
{
    ts__loop *l = c->l;
    l->attempt++;
    int rc = TS_OK;
    meta_free(l->new_meta, l->nnew_meta);
    l->new_meta = NULL;
    l->nnew_meta = l->new_meta_cap = 0;
    if (len > 0)
        rc = ts__scrape_parse(ctype, body, len, on_sample, on_meta, c, c->err);
    if (!rc && c->sample_limit_hit) {
        atomic_fetch_add(&l->m->stats.exceeded_sample_limit, 1);
        rc = ts_error_set(c->err, TS_ELIMIT, "sample limit exceeded");
    }
    if (rc)
        return rc; /* the stamps of this attempt are ignored from now on */
    /* Pass 1: stale markers for series of the last successful scrape that
     * this one did not see (nothing changes yet, so an error can roll back). */
    double stale = ts_stale_nan();
    bool evict = false;
    for (size_t i = 0; i < l->series.cap; i++) {
        const ts__sset_entry *e = &l->series.e[i];
        if (!e->ls || e->seen_cur == l->attempt)
            continue;
        evict = true;
        if (l->last_ok == 0 || e->seen_ok != l->last_ok)
            continue;
        rc = c->app->ops->append(c->app, e->ref, e->ls, c->t, stale, NULL);
        if (rc && !append_error_is_soft(rc))
            return ts_error_set(c->err, rc, "append stale marker: %s", ts_strerror(rc));
    }
    /* Pass 2: this attempt is the last successful one; drop what it did
     * not see (rebuilding the table, only when something goes). */
    if (evict) {
        size_t n = 0;
        for (size_t i = 0; i < l->series.cap; i++)
            n += l->series.e[i].ls && l->series.e[i].seen_cur == l->attempt;
        ts__sset keep = {0};
        keep.gen = ts__sset_gen_next(); /* entries move */
        if (n) {
            keep.cap = 64;
            while (n * 4 > keep.cap * 3)
                keep.cap *= 2;
            keep.e = ts_calloc(keep.cap, sizeof(*keep.e));
        }
        for (size_t i = 0; i < l->series.cap; i++) {
            ts__sset_entry *e = &l->series.e[i];
            if (e->ls && e->seen_cur == l->attempt) {
                e->seen_ok = l->attempt;
                sset_place(&keep, *e); /* moves the labels */
                e->ls = NULL;
            }
        }
        ts__sset_clear(&l->series); /* frees the labels of the dropped ones */
        l->series = keep;
    } else {
        for (size_t i = 0; i < l->series.cap; i++)
            if (l->series.e[i].ls)
                l->series.e[i].seen_ok = l->attempt;
    }
    l->last_ok = l->attempt;
    lc_evict(l->lcache, l->attempt);
    if (len > 0) { /* a successful scrape replaces the metadata */
        uv_mutex_lock(&l->m->mu);
        ts_scrape_metadata *old = l->meta;
        size_t nold = l->nmeta;
        l->meta = l->new_meta;
        l->nmeta = l->nnew_meta;
        uv_mutex_unlock(&l->m->mu);
        meta_free(old, nold);
        l->new_meta = NULL;
        l->nnew_meta = l->new_meta_cap = 0;
    }
    return TS_OK;
}

static void
append_report(ts__loop *l, ts_appender *app, int64_t t, const double v[TS__NREPORT])
{
    ts_labels_builder b;
    ts_labels_builder_init(&b, l->public_labels);
    for (int i = 0; i < TS__NREPORT; i++) {
        ts_labels_builder_set(&b, TS_METRIC_NAME, report_names[i]);
        ts_labels *ls = ts_labels_builder_build(&b, &l->arena);
        uint64_t ref = 0;
        int rc = app->ops->append(app, l->report_ref[i], ls, t, v[i], &ref);
        if (rc == TS_OK && ref)
            l->report_ref[i] = ref;
    }
    ts_labels_builder_fini(&b);
}

static void
set_state(ts__loop *l, const char *err, int64_t start_ms, double dur_s)
{
    uv_mutex_lock(&l->m->mu);
    l->health = err ? TS_HEALTH_DOWN : TS_HEALTH_UP;
    snprintf(l->last_error, sizeof(l->last_error), "%s", err ? err : "");
    l->last_scrape_ms = start_ms;
    l->last_duration_s = dur_s;
    uv_mutex_unlock(&l->m->mu);
}

/* The body is not kept between scrapes: a loop spends most of its interval
 * idle, and 100 targets of 2000 series would otherwise pin ~25 MB (~130 bytes
 * per series) of buffers.  Its size is remembered, so the next scrape
 * reserves it at once instead of growing by doubling. */
static void
body_release(ts__loop *l)
{
    l->body_hint = l->body.len;
    size_t max = l->body.max;
    ts_buf_fini(&l->body);
    ts_buf_init(&l->body, max);
}

/* The scrape is over (body in l->body unless scrape_err): append and report. */
static void
finish_scrape(ts__loop *l, const char *scrape_err, const char *ctype)
{
    const ts_scrape_config *sc = l->pool->sc;
    ts_error err;
    ts_error_clear(&err);
    scrape_ctx c = {.l = l, .sc = sc, .t = l->scrape_ts, .err = &err};
    c.app = l->m->o.appender(l->m->o.appender_ctx);
    const char *failure = scrape_err;
    int rc;
    if (!scrape_err) {
        rc = append_scrape(&c, ctype, (const char *)l->body.p, l->body.len);
        if (rc) {
            c.app->ops->rollback(c.app);
            failure = err.msg;
            TS_LOG(TS_LOG_DEBUG, "scrape", "Append failed", "target=\"%s\" err=\"%s\"", l->url,
                   err.msg);
            c.app = l->m->o.appender(l->m->o.appender_ctx);
            ts_error e2;
            ts_error_clear(&e2);
            c.err = &e2;
            c.sample_limit_hit = false;
            append_scrape(&c, NULL, NULL, 0);
        }
    } else {
        append_scrape(&c, NULL, NULL, 0);
    }
    char fail_copy[TS_ERROR_MSG_MAX];
    snprintf(fail_copy, sizeof(fail_copy), "%s", failure ? failure : "");
    /* as Prometheus: the duration covers the request, parsing and appending */
    double dur_s = (double)(ts_mono_ns() - l->start_ns) / 1e9;
    double v[TS__NREPORT] = {failure ? 0 : 1, dur_s, (double)c.total, (double)c.added,
                             (double)c.series_added};
    append_report(l, c.app, l->scrape_ts, v);
    rc = c.app->ops->commit(c.app);
    if (rc)
        TS_LOG(TS_LOG_WARN, "scrape", "Scrape commit failed", "target=\"%s\" err=\"%s\"", l->url,
               ts_strerror(rc));
    set_state(l, failure ? fail_copy : NULL, l->scrape_ts, dur_s);
    if (failure)
        TS_LOG(TS_LOG_DEBUG, "scrape", "Scrape failed", "target=\"%s\" err=\"%s\"", l->url,
               fail_copy);
    ts_arena_reset(&l->arena);
    body_release(l);
}

static void
http_done(void *ctx, CURL *easy, CURLcode res)
{
    ts__loop *l = ctx;
    l->scraping = false;
    char msg[TS_ERROR_MSG_MAX];
    const char *scrape_err = NULL;
    char *ctype = NULL;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (res == CURLE_OK && code != 200) {
        snprintf(msg, sizeof(msg), "server returned HTTP status %s", l->status_line);
        scrape_err = msg;
    } else if (res == CURLE_WRITE_ERROR && l->body_too_big) {
        atomic_fetch_add(&l->m->stats.exceeded_body_size_limit, 1);
        snprintf(msg, sizeof(msg), "body size limit exceeded");
        scrape_err = msg;
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, sizeof(msg), "Get \"%s\": context deadline exceeded", l->url);
        scrape_err = msg;
    } else if (res == CURLE_COULDNT_CONNECT) {
        /* Go's wording: dial tcp 127.0.0.1:80: connect: connection refused */
        long oserr = 0, port = 0;
        char *ip = NULL;
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
        curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip);
        curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port);
        char es[128];
        snprintf(es, sizeof(es), "%s", oserr ? strerror((int)oserr) : "connection refused");
        if (es[0] >= 'A' && es[0] <= 'Z')
            es[0] = (char)(es[0] - 'A' + 'a');
        if (ip && ip[0] && strchr(ip, ':'))
            snprintf(msg, sizeof(msg), "Get \"%s\": dial tcp [%s]:%ld: connect: %s", l->url, ip,
                     port, es);
        else if (ip && ip[0])
            snprintf(msg, sizeof(msg), "Get \"%s\": dial tcp %s:%ld: connect: %s", l->url, ip, port,
                     es);
        else /* curl may not report the address of a failed connect */
            snprintf(msg, sizeof(msg), "Get \"%s\": dial tcp %s: connect: %s", l->url,
                     ts_labels_get(l->labels, "__address__"), es);
        scrape_err = msg;
    } else if (res != CURLE_OK) {
        snprintf(msg, sizeof(msg), "Get \"%s\": %s", l->url,
                 l->curl_err[0] ? l->curl_err : curl_easy_strerror(res));
        scrape_err = msg;
    }
    char ct[128] = "";
    if (!scrape_err && curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
        snprintf(ct, sizeof(ct), "%s", ctype);
    finish_scrape(l, scrape_err, ct);
}

static void
start_scrape(ts__loop *l)
{
    ts_buf_reset(&l->body);
    if (l->body_hint)
        (void)ts_buf_reserve(&l->body,
                             l->body_hint + l->body_hint / 8); /* past max: grows as it comes */
    l->body_too_big = false;
    l->curl_err[0] = 0;
    l->status_line[0] = 0;
    l->scrape_ts = ts_now_ms();
    l->start_ns = ts_mono_ns();
    l->scraping = true;
    ts_curluv_start(l->m->http, l->easy, http_done, l);
}

/* End-of-run markers: an empty scrape (stale markers for the last series)
 * and stale report series, at l->stale_ts. */
static void
write_end_markers(ts__loop *l)
{
    ts_appender *app = l->m->o.appender(l->m->o.appender_ctx);
    double stale = ts_stale_nan();
    int rc = TS_OK;
    for (size_t i = 0; i < l->series.cap && !rc; i++) {
        const ts__sset_entry *e = &l->series.e[i];
        if (!e->ls || e->seen_ok != l->last_ok)
            continue;
        rc = app->ops->append(app, e->ref, e->ls, l->stale_ts, stale, NULL);
        if (append_error_is_soft(rc))
            rc = TS_OK;
    }
    if (rc) {
        app->ops->rollback(app);
        return;
    }
    double v[TS__NREPORT];
    for (int i = 0; i < TS__NREPORT; i++)
        v[i] = stale;
    append_report(l, app, l->stale_ts, v);
    app->ops->commit(app);
}

static void
schedule_next(ts__loop *l)
{
    uint64_t now = uv_now(l->m->o.loop);
    l->next_due += (uint64_t)l->interval_ms;
    while (l->next_due <= now)
        l->next_due += (uint64_t)l->interval_ms;
    uv_timer_start(&l->timer, timer_cb, l->next_due - now, 0);
}

static void
timer_cb(uv_timer_t *t)
{
    ts__loop *l = t->data;
    switch (l->state) {
    case TS__LOOP_RUNNING:
        if (l->pool->forced_err[0] && !l->scraping) {
            /* target_limit exceeded: every target of the pool fails */
            char e[sizeof(l->pool->forced_err)];
            memcpy(e, l->pool->forced_err, sizeof(e));
            l->scrape_ts = ts_now_ms();
            l->start_ns = ts_mono_ns();
            finish_scrape(l, e, "");
        } else if (!l->scraping) {
            start_scrape(l);
        }
        schedule_next(l);
        break;
    case TS__LOOP_END_WAIT1:
        l->stale_ts = ts_now_ms();
        l->state = TS__LOOP_END_WAIT2;
        schedule_next(l);
        break;
    case TS__LOOP_END_WAIT2:
        l->state = TS__LOOP_END_WAIT3;
        uv_timer_start(&l->timer, timer_cb, (uint64_t)(l->interval_ms / 10), 0);
        break;
    case TS__LOOP_END_WAIT3:
        write_end_markers(l);
        ending_unlink(l);
        loop_close(l);
        break;
    case TS__LOOP_CLOSING: break;
    }
}

void
ts__loop_stop(ts__loop *l, bool write_stale_markers)
{
    l->pool = NULL;
    if (l->scraping) {
        ts_curluv_cancel(l->m->http, l->easy);
        l->scraping = false;
    }
    if (!write_stale_markers || l->state != TS__LOOP_RUNNING || l->last_scrape_ms == 0 ||
        l->m->closing) {
        if (l->state != TS__LOOP_RUNNING)
            ending_unlink(l);
        loop_close(l);
        return;
    }
    l->state = TS__LOOP_END_WAIT1;
    l->next = l->m->ending;
    l->m->ending = l;
}
