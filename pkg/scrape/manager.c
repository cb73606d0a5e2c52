/*
 * The scrape manager: one pool per job (Prometheus scrapePool), each with
 * one loop per unique target (loop.c).
 *
 * sync(job, groups): every target of every group becomes a discovered label
 * set (target labels win over group labels), goes through
 * ts_scrape_populate_labels, and is either active (kept), dropped by
 * relabeling (remembered for the API) or invalid (logged).  Active targets
 * are identified by a hash of their labels and scrape URL; a target already
 * running keeps its loop (only its discovered labels are refreshed), a new
 * one gets a new loop, and a loop whose target is gone is stopped with
 * end-of-run staleness markers.
 *
 * apply_config: a job whose scrape config fingerprint (every field that
 * affects scraping) is unchanged just points at the new config; a changed
 * job re-syncs its last groups with restart = true, which replaces each loop
 * by a new one that inherits the old loop's series (so staleness still
 * works across the reload); a removed job's loops stop silently, as
 * Prometheus' pool stop does.
 *
 * set_shards: the shard count (or index) changed while running.  Every pool re-syncs its last
 * groups; a target owned by another shard now stays active if it already has a loop here and the
 * handoff period has not ended (so the new owner has time to start), and a one-shot timer
 * re-syncs every pool when it ends, which stops those loops with staleness markers.
 *
 * Locking: m->mu guards the pools array, each pool's loops/dropped arrays,
 * loops' discovered labels and API state; it is taken for writes on the
 * loop thread and by ts_scrape_manager_targets from any thread.
 */
#include "pkg/scrape/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/hash.h"
#include "pkg/util/log.h"
#include "pkg/util/mem.h"

/* -------------------------------------------------------------- fingerprint */

static void
fp_str(ts_buf *b, const char *s)
{
    ts_buf_puts(b, s ? s : "\x01(null)");
    ts_buf_putc(b, 0xff);
}

static void
fp_u64(ts_buf *b, uint64_t v)
{
    ts_buf_put_be64(b, v);
}

static void
fp_labels(ts_buf *b, const ts_labels *ls)
{
    for (size_t i = 0; ls && i < ls->n; i++) {
        fp_str(b, ls->l[i].name);
        fp_str(b, ls->l[i].value);
    }
    ts_buf_putc(b, 0xfe);
}

static void
fp_relabel(ts_buf *b, const ts_relabel_config *r, size_t n)
{
    fp_u64(b, n);
    for (size_t i = 0; i < n; i++) {
        fp_u64(b, r[i].nsource);
        for (size_t k = 0; k < r[i].nsource; k++)
            fp_str(b, r[i].source_labels[k]);
        fp_str(b, r[i].separator);
        fp_str(b, r[i].regex_src);
        fp_u64(b, r[i].modulus);
        fp_str(b, r[i].target_label);
        fp_str(b, r[i].replacement);
        fp_u64(b, (uint64_t)r[i].action);
    }
}

static uint64_t
config_fingerprint(const ts_scrape_config *sc)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    fp_str(&b, sc->job_name);
    fp_u64(&b, (uint64_t)sc->scrape_interval_ms);
    fp_u64(&b, (uint64_t)sc->scrape_timeout_ms);
    fp_str(&b, sc->metrics_path);
    fp_str(&b, sc->scheme);
    fp_u64(&b, sc->nparams);
    for (size_t i = 0; i < sc->nparams; i++) {
        fp_str(&b, sc->params[i].name);
        for (size_t k = 0; k < sc->params[i].values.n; k++)
            fp_str(&b, sc->params[i].values.v[k]);
    }
    fp_u64(&b, sc->honor_labels | (uint64_t)sc->honor_timestamps << 1);
    const ts_http_config *h = &sc->http;
    fp_str(&b, h->basic_auth_username);
    fp_str(&b, h->basic_auth_password);
    fp_str(&b, h->basic_auth_password_file);
    fp_u64(&b, h->has_basic_auth | (uint64_t)h->has_authorization << 1 |
                   (uint64_t)h->follow_redirects << 2 | (uint64_t)h->enable_http2 << 3 |
                   (uint64_t)h->tls.insecure_skip_verify << 4);
    fp_str(&b, h->auth_type);
    fp_str(&b, h->auth_credentials);
    fp_str(&b, h->auth_credentials_file);
    fp_str(&b, h->tls.ca_file);
    fp_str(&b, h->tls.cert_file);
    fp_str(&b, h->tls.key_file);
    fp_str(&b, h->tls.server_name);
    fp_str(&b, h->tls.min_version);
    fp_str(&b, h->proxy_url);
    fp_u64(&b, sc->sample_limit);
    fp_u64(&b, sc->label_limit);
    fp_u64(&b, sc->label_name_length_limit);
    fp_u64(&b, sc->label_value_length_limit);
    fp_u64(&b, sc->target_limit);
    fp_u64(&b, (uint64_t)sc->body_size_limit);
    fp_relabel(&b, sc->relabel, sc->nrelabel);
    fp_relabel(&b, sc->metric_relabel, sc->nmetric_relabel);
    /* static targets are discovery input, not scrape behaviour, but keep
     * them in: a changed static list re-syncs anyway */
    for (size_t i = 0; i < sc->nstatic; i++) {
        for (size_t k = 0; k < sc->static_configs[i].targets.n; k++)
            fp_str(&b, sc->static_configs[i].targets.v[k]);
        fp_labels(&b, sc->static_configs[i].labels);
    }
    uint64_t fp = ts_hash64(b.p, b.len);
    ts_buf_fini(&b);
    return fp;
}

/* -------------------------------------------------------------------- pools */

static ts__pool *
pool_new(const ts_scrape_config *sc)
{
    ts__pool *p = ts_calloc(1, sizeof(*p));
    p->job = ts_strdup(sc->job_name);
    p->sc = sc;
    p->fingerprint = config_fingerprint(sc);
    return p;
}

static void
pool_free_dropped(ts__pool *p)
{
    for (size_t i = 0; i < p->ndropped; i++) {
        ts_labels_free(p->dropped[i]);
        ts_free(p->drop_reasons[i]);
    }
    ts_free(p->dropped);
    ts_free(p->drop_reasons);
    p->dropped = NULL;
    p->drop_reasons = NULL;
    p->ndropped = 0;
}

/* Stops every loop (silently) and frees the pool. */
static void
pool_free(ts__pool *p)
{
    for (size_t i = 0; i < p->nloops; i++)
        ts__loop_stop(p->loops[i], false);
    ts_free(p->loops);
    pool_free_dropped(p);
    ts_target_groups_free(p->groups, p->ngroups);
    ts_free(p->job);
    ts_free(p);
}

/* Is a loop for this (relabeled) target running in the pool?  (hash as pool_sync computes it) */
static bool
pool_running(const ts__pool *p, const ts_labels *res, uint64_t h)
{
    for (size_t k = 0; k < p->nloops; k++)
        if (p->loops[k]->hash == h && ts_labels_equal(p->loops[k]->labels, res))
            return true;
    return false;
}

static uint64_t
target_hash(const ts_scrape_config *sc, const ts_labels *res)
{
    char url[4096];
    ts_scrape_target_url(sc, res, url, sizeof(url));
    return ts_hash64_seed(url, strlen(url), ts_labels_hash(res));
}

/* Is a handoff period (ts_scrape_manager_set_shards) running?  Its one-shot timer is pending until
 * it ends (libuv stops a one-shot timer before its callback runs). */
static bool
handoff_running(const ts_scrape_manager *m)
{
    return m->handoff_timer && uv_is_active((const uv_handle_t *)m->handoff_timer);
}

typedef struct active {
    ts_labels *labels, *discovered;
    uint64_t hash;
} active;

static void
pool_sync(ts_scrape_manager *m, ts__pool *p, bool restart)
{
    const ts_scrape_config *sc = p->sc;
    active *act = NULL;
    size_t nact = 0, actcap = 0;
    ts_labels **dropped = NULL;
    char **reasons = NULL;
    size_t ndropped = 0, dropcap = 0, reasoncap = 0;
    for (size_t g = 0; g < p->ngroups; g++) {
        const ts_target_group *tg = &p->groups[g];
        for (size_t t = 0; t < tg->ntargets; t++) {
            ts_labels_builder b;
            ts_labels_builder_init(&b, tg->labels);
            const ts_labels *tl = tg->targets[t];
            for (size_t i = 0; i < tl->n; i++)
                ts_labels_builder_set(&b, tl->l[i].name, tl->l[i].value);
            ts_labels *disc = ts_labels_builder_build(&b, NULL);
            ts_labels_builder_fini(&b);
            ts_labels *res, *orig;
            ts_error err;
            ts_error_clear(&err);
            int rc = ts_scrape_populate_labels(sc, disc, &res, &orig, &err);
            ts_labels_free(disc);
            if (rc) {
                TS_LOG(TS_LOG_ERROR, "scrape", "Creating target failed",
                       "job=\"%s\" err=\"instance %zu in group %s: %s\"", p->job, t,
                       tg->source ? tg->source : "", err.msg);
                continue;
            }
            char *reason = NULL;
            if (res && m->o.shard_count > 1) {
                /* another shard's target?  decided on the relabeled address,
                 * so every replica of every shard agrees */
                const char *addr = ts_labels_get(res, "__address__");
                uint32_t owner = ts_rendezvous(addr, strlen(addr), m->o.shard_count);
                bool handoff = owner != m->o.shard_index && handoff_running(m) &&
                               pool_running(p, res, target_hash(sc, res));
                if (owner != m->o.shard_index && !handoff) {
                    char buf[96];
                    snprintf(buf, sizeof(buf), "owned by shard %u of %u (this is shard %u)", owner,
                             m->o.shard_count, m->o.shard_index);
                    reason = ts_strdup(buf);
                    ts_labels_free(res);
                    res = NULL;
                }
            }
            if (!res) {
                TS_GROW(dropped, dropcap, ndropped + 1);
                TS_GROW(reasons, reasoncap, ndropped + 1);
                reasons[ndropped] = reason;
                dropped[ndropped++] = orig;
                continue;
            }
            uint64_t h = target_hash(sc, res);
            bool dup = false;
            for (size_t i = 0; i < nact && !dup; i++)
                dup = act[i].hash == h && ts_labels_equal(act[i].labels, res);
            if (dup) {
                ts_labels_free(res);
                ts_labels_free(orig);
                continue;
            }
            TS_GROW(act, actcap, nact + 1);
            act[nact++] = (active){res, orig, h};
        }
    }

    /* target_limit (Prometheus refreshTargetLimitErr): too many targets
     * make every scrape of the pool fail with this error */
    if (sc->target_limit && nact > sc->target_limit)
        atomic_fetch_add(&m->stats.exceeded_target_limit, 1);
    if (sc->target_limit && nact > sc->target_limit)
        snprintf(p->forced_err, sizeof(p->forced_err),
                 "target_limit exceeded (number of targets: %zu, limit: %llu)", nact,
                 (unsigned long long)sc->target_limit);
    else
        p->forced_err[0] = 0;

    ts__loop **old = p->loops;
    size_t nold = p->nloops;
    bool *claimed = ts_calloc(nold ? nold : 1, sizeof(bool));
    ts__loop **loops = ts_calloc(nact ? nact : 1, sizeof(ts__loop *));
    ts__loop **to_stop = ts_calloc(nold ? nold : 1, sizeof(ts__loop *));
    size_t nstop = 0;
    bool *stop_stale = ts_calloc(nold ? nold : 1, sizeof(bool));
    for (size_t i = 0; i < nact; i++) {
        ts__loop *found = NULL;
        for (size_t k = 0; k < nold && !found; k++)
            if (!claimed[k] && old[k]->hash == act[i].hash &&
                ts_labels_equal(old[k]->labels, act[i].labels)) {
                claimed[k] = true;
                found = old[k];
            }
        if (found && !restart) {
            uv_mutex_lock(&m->mu);
            ts_labels_free(found->discovered);
            found->discovered = act[i].discovered;
            uv_mutex_unlock(&m->mu);
            ts_labels_free(act[i].labels);
            loops[i] = found;
            continue;
        }
        ts__loop *l = ts__loop_new(m, p, act[i].labels, act[i].discovered, act[i].hash);
        if (found) {
            /* restart: the new loop continues the old one's series */
            ts__sset tmp = l->series;
            l->series = found->series;
            found->series = tmp;
            l->attempt = found->attempt;
            l->last_ok = found->last_ok;
            memcpy(l->report_ref, found->report_ref, sizeof(l->report_ref));
            uv_mutex_lock(&m->mu);
            l->health = found->health;
            memcpy(l->last_error, found->last_error, sizeof(l->last_error));
            l->last_scrape_ms = found->last_scrape_ms;
            l->last_duration_s = found->last_duration_s;
            uv_mutex_unlock(&m->mu);
            stop_stale[nstop] = false;
            to_stop[nstop++] = found;
        }
        loops[i] = l;
    }
    for (size_t k = 0; k < nold; k++)
        if (!claimed[k]) {
            stop_stale[nstop] = true;
            to_stop[nstop++] = old[k];
        }
    uv_mutex_lock(&m->mu);
    p->loops = loops;
    p->nloops = nact;
    pool_free_dropped(p);
    p->dropped = dropped;
    p->drop_reasons = reasons;
    p->ndropped = ndropped;
    uv_mutex_unlock(&m->mu);
    for (size_t i = 0; i < nstop; i++)
        ts__loop_stop(to_stop[i], stop_stale[i]);
    ts_free(old);
    ts_free(claimed);
    ts_free(to_stop);
    ts_free(stop_stale);
    ts_free(act);
}

/* ------------------------------------------------------------------ manager */

int
ts_scrape_manager_new(const ts_scrape_opts *opts, ts_scrape_manager **out)
{
    if (!opts || !opts->loop || !opts->appender)
        return TS_EINVAL;
    ts_scrape_manager *m = ts_calloc(1, sizeof(*m));
    m->o = *opts;
    m->http = ts_curluv_new(opts->loop);
    uv_mutex_init(&m->mu);
    *out = m;
    return TS_OK;
}

static void
handoff_closed(uv_handle_t *h)
{
    ts_scrape_manager *m = h->data;
    ts_free(h);
    m->live_loops--;
    ts__manager_maybe_free(m);
}

static void
handoff_end(uv_timer_t *t)
{
    ts_scrape_manager *m = t->data;
    if (m->closing)
        return;
    for (size_t i = 0; i < m->npools; i++)
        pool_sync(m, m->pools[i], false);
}

int
ts_scrape_manager_set_shards(ts_scrape_manager *m, uint32_t index, uint32_t count,
                             int64_t handoff_ms)
{
    if (count == 0)
        return TS_EINVAL;
    if (m->closing)
        return TS_ECLOSED;
    if (index == m->o.shard_index && count == m->o.shard_count)
        return TS_OK;
    if (handoff_ms > 0) {
        if (!m->handoff_timer) {
            m->handoff_timer = ts_calloc(1, sizeof(*m->handoff_timer));
            uv_timer_init(m->o.loop, m->handoff_timer);
            m->handoff_timer->data = m;
            m->live_loops++; /* m outlives the timer handle (handoff_closed) */
        }
        uv_update_time(m->o.loop);
        uv_timer_start(m->handoff_timer, handoff_end, (uint64_t)handoff_ms, 0);
    } else if (m->handoff_timer) {
        uv_timer_stop(m->handoff_timer);
    }
    m->o.shard_index = index;
    m->o.shard_count = count;
    for (size_t i = 0; i < m->npools; i++)
        pool_sync(m, m->pools[i], false);
    return TS_OK;
}

static ts__pool *
find_pool(ts_scrape_manager *m, const char *job)
{
    for (size_t i = 0; i < m->npools; i++)
        if (strcmp(m->pools[i]->job, job) == 0)
            return m->pools[i];
    return NULL;
}

int
ts_scrape_manager_apply_config(ts_scrape_manager *m, const ts_config *cfg)
{
    if (m->closing)
        return TS_ECLOSED;
    ts__pool **pools = ts_calloc(cfg->nscrape ? cfg->nscrape : 1, sizeof(ts__pool *));
    ts__pool **resync = ts_calloc(cfg->nscrape ? cfg->nscrape : 1, sizeof(ts__pool *));
    size_t npools = 0, nresync = 0;
    for (size_t i = 0; i < cfg->nscrape; i++) {
        const ts_scrape_config *sc = &cfg->scrape[i];
        ts__pool *p = find_pool(m, sc->job_name);
        if (!p) {
            p = pool_new(sc);
            atomic_fetch_add(&m->stats.pools_created, 1);
        } else {
            uint64_t fp = config_fingerprint(sc);
            p->sc = sc;
            if (fp != p->fingerprint) {
                p->fingerprint = fp;
                resync[nresync++] = p;
                atomic_fetch_add(&m->stats.pool_reloads, 1);
            }
        }
        pools[npools++] = p;
    }
    ts__pool **old = m->pools;
    size_t nold = m->npools;
    uv_mutex_lock(&m->mu);
    m->pools = pools;
    m->npools = npools;
    uv_mutex_unlock(&m->mu);
    for (size_t i = 0; i < nold; i++) {
        bool kept = false;
        for (size_t k = 0; k < npools && !kept; k++)
            kept = pools[k] == old[i];
        if (!kept)
            pool_free(old[i]);
    }
    ts_free(old);
    for (size_t i = 0; i < nresync; i++)
        pool_sync(m, resync[i], true);
    ts_free(resync);
    return TS_OK;
}

void
ts_scrape_manager_sync(void *mp, const char *job, const ts_target_group *groups, size_t n)
{
    ts_scrape_manager *m = mp;
    if (m->closing)
        return;
    ts__pool *p = find_pool(m, job);
    if (!p)
        return;
    ts_target_group *copy = ts_calloc(n ? n : 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        ts_target_group_copy(&copy[i], &groups[i]);
    ts_target_groups_free(p->groups, p->ngroups);
    p->groups = copy;
    p->ngroups = n;
    pool_sync(m, p, false);
}

void
ts__manager_maybe_free(ts_scrape_manager *m)
{
    if (m->closing && m->live_loops == 0) {
        uv_mutex_destroy(&m->mu);
        ts_free(m);
    }
}

void
ts_scrape_manager_close(ts_scrape_manager *m)
{
    if (!m)
        return;
    m->closing = true;
    while (m->ending)
        ts__loop_stop(m->ending, false);
    ts__pool **pools = m->pools;
    size_t n = m->npools;
    uv_mutex_lock(&m->mu);
    m->pools = NULL;
    m->npools = 0;
    uv_mutex_unlock(&m->mu);
    /* keep m alive while loops close: bump the count during teardown */
    m->live_loops++;
    if (m->handoff_timer) {
        uv_close((uv_handle_t *)m->handoff_timer, handoff_closed);
        m->handoff_timer = NULL;
    }
    for (size_t i = 0; i < n; i++)
        pool_free(pools[i]);
    ts_free(pools);
    ts_curluv_close(m->http, NULL, NULL);
    m->http = NULL;
    m->live_loops--;
    ts__manager_maybe_free(m);
}

/* What the API shows of one loop (called under m->mu; pointers borrowed from the loop). */
static ts_scrape_target_info
target_info(const ts__pool *p, const ts__loop *l)
{
    return (ts_scrape_target_info){
        .job = p->job,
        .scrape_url = l->url,
        .discovered = l->discovered,
        .labels = l->public_labels,
        .health = l->health,
        .last_error = l->last_error,
        .last_scrape_ms = l->last_scrape_ms,
        .last_scrape_duration_s = l->last_duration_s,
        .interval_ms = l->interval_ms,
        .timeout_ms = l->timeout_ms,
    };
}

static int
cmp_pool_job(const void *a, const void *b)
{
    return strcmp((*(const ts__pool *const *)a)->job, (*(const ts__pool *const *)b)->job);
}

void
ts_scrape_manager_targets(ts_scrape_manager *m,
                          void (*fn)(void *ctx, const ts_scrape_target_info *t), void *ctx)
{
    uv_mutex_lock(&m->mu);
    /* pools by job name, as Prometheus' /api/v1/targets lists them (sortKeys) */
    const ts__pool **order = ts_malloc((m->npools ? m->npools : 1) * sizeof(*order));
    for (size_t i = 0; i < m->npools; i++)
        order[i] = m->pools[i];
    qsort(order, m->npools, sizeof(*order), cmp_pool_job);
    for (size_t i = 0; i < m->npools; i++) {
        const ts__pool *p = order[i];
        for (size_t k = 0; k < p->nloops; k++) {
            const ts__loop *l = p->loops[k];
            ts_scrape_target_info t = target_info(p, l);
            fn(ctx, &t);
        }
    }
    for (size_t i = 0; i < m->npools; i++) {
        const ts__pool *p = order[i];
        for (size_t k = 0; k < p->ndropped; k++) {
            ts_scrape_target_info t = {
                .job = p->job,
                .scrape_url = "",
                .discovered = p->dropped[k],
                .dropped = true,
                .drop_reason = p->drop_reasons[k] ? p->drop_reasons[k] : "",
                .last_error = "",
            };
            fn(ctx, &t);
        }
    }
    uv_mutex_unlock(&m->mu);
    ts_free(order);
}

void
ts_scrape_manager_metadata(ts_scrape_manager *m,
                           void (*fn)(void *ctx, const ts_scrape_target_info *t,
                                      const ts_scrape_metadata *md, size_t n),
                           void *ctx)
{
    uv_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->npools; i++) {
        const ts__pool *p = m->pools[i];
        for (size_t k = 0; k < p->nloops; k++) {
            const ts__loop *l = p->loops[k];
            ts_scrape_target_info t = target_info(p, l);
            fn(ctx, &t, l->meta, l->nmeta);
        }
    }
    uv_mutex_unlock(&m->mu);
}

/* Escapes a label value for the text format (\\, \", \n). */
static void
label_escape(const char *s, char *out, size_t size)
{
    size_t k = 0;
    for (; *s && k + 3 < size; s++) {
        if (*s == '\\' || *s == '"') {
            out[k++] = '\\';
            out[k++] = *s;
        } else if (*s == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else {
            out[k++] = *s;
        }
    }
    out[k] = 0;
}

void
ts_scrape_manager_write_metrics(void *mp, ts_metrics_writer *w)
{
    ts_scrape_manager *m = mp;
    ts__scrape_stats *st = &m->stats;
    ts_mw_counter(w, "prometheus_target_scrape_pools_total",
                  "Total number of scrape pool creation attempts.",
                  (double)atomic_load(&st->pools_created));
    ts_mw_counter(w, "prometheus_target_scrape_pool_reloads_total",
                  "Total number of scrape pool reloads.", (double)atomic_load(&st->pool_reloads));
    ts_mw_counter(w, "prometheus_target_scrape_pool_exceeded_target_limit_total",
                  "Total number of times scrape pools hit the target limit, during sync or "
                  "config reload.",
                  (double)atomic_load(&st->exceeded_target_limit));
    ts_mw_counter(w, "prometheus_target_scrapes_exceeded_sample_limit_total",
                  "Total number of scrapes that hit the sample limit and were rejected.",
                  (double)atomic_load(&st->exceeded_sample_limit));
    ts_mw_counter(w, "prometheus_target_scrapes_exceeded_body_size_limit_total",
                  "Total number of scrapes that hit the body size limit",
                  (double)atomic_load(&st->exceeded_body_size_limit));
    ts_mw_counter(w, "prometheus_target_scrapes_sample_out_of_order_total",
                  "Total number of samples rejected due to not being out of the expected order.",
                  (double)atomic_load(&st->out_of_order));
    ts_mw_counter(w, "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                  "Total number of samples rejected due to duplicate timestamps but different "
                  "values.",
                  (double)atomic_load(&st->duplicate));
    ts_mw_counter(w, "prometheus_target_scrapes_sample_out_of_bounds_total",
                  "Total number of samples rejected due to timestamp falling outside of the "
                  "time bounds.",
                  (double)atomic_load(&st->out_of_bounds));
    ts_mw_family(w, "prometheus_target_scrape_pool_targets", "gauge",
                 "Current number of targets in this scrape pool.");
    uv_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->npools; i++) {
        char esc[512], lbl[600];
        label_escape(m->pools[i]->job, esc, sizeof(esc));
        snprintf(lbl, sizeof(lbl), "scrape_job=\"%s\"", esc);
        ts_mw_sample(w, "prometheus_target_scrape_pool_targets", lbl, (double)m->pools[i]->nloops);
    }
    uv_mutex_unlock(&m->mu);
}
