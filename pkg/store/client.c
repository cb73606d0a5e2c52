/*
 * Store API client: a remote store seen as a ts_queryable.
 *
 * One req0 socket per store, dialed in the background (nng reconnects by
 * itself).  Each request opens its own nng context, so many queries can be
 * in flight at once, and carries a deadline that both sides honour: the
 * aio times out here, the server refuses to start or continue work past it.
 *
 * A select() returns a series set that pulls batches on demand: it holds
 * every batch it has received (series stay valid until the set is freed, as
 * pkg/storage requires) and asks for the next one when the current is used
 * up.  Samples are decoded from the XOR chunks as they are iterated.
 */
#include "pkg/store/codec.h"
#include "pkg/store/store.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <string.h>

struct ts_store_client {
    nng_socket sock;
    nng_dialer dialer;
    nng_tls_config *tls;
    char url[256];
    ts_queryable qb;
};

#define DEFAULT_TIMEOUT_MS (2 * 60 * 1000)

static int
roundtrip(ts_store_client *c, uint8_t type, const ProtobufCMessage *req, int64_t deadline,
          ts_arena *a, uint8_t expect, ProtobufCMessage **resp, ts_error *err)
{
    ts_buf frame;
    ts_buf_init(&frame, 0);
    int rc = ts_store_frame_pack(&frame, type, req);
    if (rc) {
        ts_buf_fini(&frame);
        return ts_error_set(err, rc, "store %s: encoding request: %s", c->url, ts_strerror(rc));
    }
    int64_t left = deadline - ts_now_ms();
    if (left <= 0) {
        ts_buf_fini(&frame);
        return ts_error_set(err, TS_ETIMEOUT, "store %s: deadline exceeded", c->url);
    }
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int rv = nng_ctx_open(&ctx, c->sock);
    if (rv) {
        ts_buf_fini(&frame);
        return ts_error_set(err, TS_EIO, "store %s: %s", c->url, nng_strerror(rv));
    }
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) || (rv = nng_msg_alloc(&msg, 0)) ||
        (rv = nng_msg_append(msg, frame.p, frame.len))) {
        rc = ts_error_set(err, TS_EIO, "store %s: %s", c->url, nng_strerror(rv));
        goto out;
    }
    nng_aio_set_timeout(aio, (nng_duration)left);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio))) {
        rc = ts_error_set(err, rv == NNG_ETIMEDOUT ? TS_ETIMEOUT : TS_EIO, "store %s: %s", c->url,
                          rv == NNG_ETIMEDOUT ? "deadline exceeded" : nng_strerror(rv));
        goto out; /* msg still owned by us */
    }
    msg = NULL; /* sent: nng owns it */
    left = deadline - ts_now_ms();
    nng_aio_set_timeout(aio, (nng_duration)(left > 0 ? left : 1));
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio))) {
        rc = ts_error_set(err, rv == NNG_ETIMEDOUT ? TS_ETIMEOUT : TS_EIO, "store %s: %s", c->url,
                          rv == NNG_ETIMEDOUT ? "deadline exceeded" : nng_strerror(rv));
        goto out;
    }
    msg = nng_aio_get_msg(aio);
    uint8_t got;
    ProtobufCMessage *m;
    rc = ts_store_frame_unpack(nng_msg_body(msg), nng_msg_len(msg), 1u << 30, a, &got, &m, err);
    if (rc) {
        ts_error_prefix(err, "store %s: ", c->url);
        goto out;
    }
    if (got == TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR) {
        Tessera__Store__V1__Error *e = (Tessera__Store__V1__Error *)m;
        rc = ts_error_set(err, e->code < 0 ? e->code : TS_EIO, "store %s: %s", c->url,
                          e->message ? e->message : "error");
        goto out;
    }
    if (got != expect) {
        rc = ts_error_set(err, TS_ECORRUPT, "store %s: unexpected reply frame type %u", c->url, got);
        goto out;
    }
    *resp = m;
out:
    if (msg)
        nng_msg_free(msg);
    if (aio)
        nng_aio_free(aio);
    nng_ctx_close(ctx);
    ts_buf_fini(&frame);
    return rc;
}

/* ------------------------------------------------------------ iterators */

typedef struct rit {
    ts_iterator base;
    Tessera__Store__V1__Chunk **chunks;
    size_t n, ci;
    ts_xor_iter xi;
    bool in_chunk, have;
    int64_t mint, maxt, last, t;
    double v;
    int err;
} rit;

static ts_val_type
rit_next(ts_iterator *it)
{
    rit *r = (rit *)it;
    for (;;) {
        if (!r->in_chunk) {
            if (r->ci >= r->n)
                return r->have = false, TS_VAL_NONE;
            Tessera__Store__V1__Chunk *c = r->chunks[r->ci++];
            if (c->max_time < r->mint || c->max_time <= r->last)
                continue;
            ts_xor_iter_init(&r->xi, c->data.data, c->data.len);
            r->in_chunk = true;
        }
        if (ts_it_next(&r->xi.base) != TS_VAL_FLOAT) {
            if (ts_it_err(&r->xi.base)) {
                r->err = ts_it_err(&r->xi.base);
                return r->have = false, TS_VAL_NONE;
            }
            r->in_chunk = false;
            continue;
        }
        int64_t t;
        double v;
        ts_it_at(&r->xi.base, &t, &v);
        if (t <= r->last || t < r->mint)
            continue;
        if (t > r->maxt) {
            r->ci = r->n;
            r->in_chunk = false;
            return r->have = false, TS_VAL_NONE;
        }
        r->last = r->t = t;
        r->v = v;
        r->have = true;
        return TS_VAL_FLOAT;
    }
}

static ts_val_type
rit_seek(ts_iterator *it, int64_t t)
{
    rit *r = (rit *)it;
    if (r->have && r->t >= t)
        return TS_VAL_FLOAT;
    if (t > r->mint)
        r->mint = t; /* also lets next() skip whole chunks that end before t */
    return rit_next(it);
}

static void
rit_at(const ts_iterator *it, int64_t *t, double *v)
{
    const rit *r = (const rit *)it;
    *t = r->t;
    *v = r->v;
}

static int
rit_err(const ts_iterator *it)
{
    return ((const rit *)it)->err;
}

static void
rit_free(ts_iterator *it)
{
    ts_free(it);
}

static const ts_iterator_ops rit_ops = {rit_next, rit_seek, rit_at, rit_err, rit_free};

typedef struct rcit {
    ts_chunk_iterator base;
    Tessera__Store__V1__Chunk **chunks;
    size_t n, i;
    ts_chunk_meta m;
} rcit;

static bool
rcit_next(ts_chunk_iterator *it)
{
    rcit *r = (rcit *)it;
    if (r->i >= r->n)
        return false;
    Tessera__Store__V1__Chunk *c = r->chunks[r->i++];
    r->m.mint = c->min_time;
    r->m.maxt = c->max_time;
    r->m.enc = TS_ENC_XOR;
    r->m.data = c->data.data;
    r->m.len = c->data.len;
    return true;
}

static const ts_chunk_meta *
rcit_at(const ts_chunk_iterator *it)
{
    return &((const rcit *)it)->m;
}

static int
rcit_err(const ts_chunk_iterator *it)
{
    return 0;
}

static void
rcit_free(ts_chunk_iterator *it)
{
    ts_free(it);
}

static const ts_chunk_iterator_ops rcit_ops = {rcit_next, rcit_at, rcit_err, rcit_free};

typedef struct rseries {
    ts_series base;
    Tessera__Store__V1__Series *pb;
    int64_t mint, maxt;
} rseries;

static ts_iterator *
rseries_iterator(ts_series *s)
{
    rseries *rs = (rseries *)s;
    rit *r = ts_calloc(1, sizeof(*r));
    r->base.ops = &rit_ops;
    r->chunks = rs->pb->chunks;
    r->n = rs->pb->n_chunks;
    r->mint = rs->mint;
    r->maxt = rs->maxt;
    r->last = INT64_MIN;
    return &r->base;
}

static ts_chunk_iterator *
rseries_chunks(ts_series *s)
{
    rseries *rs = (rseries *)s;
    rcit *r = ts_calloc(1, sizeof(*r));
    r->base.ops = &rcit_ops;
    r->chunks = rs->pb->chunks;
    r->n = rs->pb->n_chunks;
    return &r->base;
}

static const ts_series_ops rseries_ops = {rseries_iterator, rseries_chunks};

/* ------------------------------------------------------------ series set */

typedef struct batch {
    ts_arena arena;
    Tessera__Store__V1__SeriesBatch *b;
    rseries *series;
    struct batch *next;
} batch;

typedef struct rset {
    ts_series_set base;
    ts_store_client *c;
    int64_t mint, maxt, deadline;
    batch *first, *cur;
    size_t idx; /* next index in cur */
    rseries *at;
} rset;

static void
add_batch(rset *s, batch *b)
{
    Tessera__Store__V1__SeriesBatch *pb = b->b;
    b->series = TS_ARENA_ARRAY(&b->arena, rseries, pb->n_series + 1);
    for (size_t i = 0; i < pb->n_series; i++) {
        rseries *rs = &b->series[i];
        rs->base.ops = &rseries_ops;
        rs->base.labels = ts_store_labels_from_pb(&b->arena, pb->series[i]->labels,
                                                  pb->series[i]->n_labels);
        rs->pb = pb->series[i];
        rs->mint = s->mint;
        rs->maxt = s->maxt;
    }
    for (size_t i = 0; i < pb->n_warnings; i++)
        ts_ss_add_warning(&s->base, "%s", pb->warnings[i]);
    if (s->cur)
        s->cur->next = b;
    else
        s->first = b;
    s->cur = b;
    s->idx = 0;
}

static bool
rset_next(ts_series_set *ss)
{
    rset *s = (rset *)ss;
    while (s->cur) {
        if (s->idx < s->cur->b->n_series) {
            s->at = &s->cur->series[s->idx++];
            return true;
        }
        if (s->cur->b->done)
            return false;
        Tessera__Store__V1__SeriesNextRequest req = TESSERA__STORE__V1__SERIES_NEXT_REQUEST__INIT;
        req.cursor = s->cur->b->cursor;
        req.deadline_unix_ms = s->deadline;
        batch *b = ts_calloc(1, sizeof(*b));
        ts_arena_init(&b->arena, 64 * 1024);
        ProtobufCMessage *m;
        int rc = roundtrip(s->c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_NEXT_REQUEST,
                           &req.base, s->deadline, &b->arena,
                           TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH, &m, &s->base.error);
        if (rc) {
            ts_arena_fini(&b->arena);
            ts_free(b);
            return false;
        }
        b->b = (Tessera__Store__V1__SeriesBatch *)m;
        add_batch(s, b);
    }
    return false;
}

static ts_series *
rset_at(ts_series_set *ss)
{
    return &((rset *)ss)->at->base;
}

static void
rset_free(ts_series_set *ss)
{
    rset *s = (rset *)ss;
    for (batch *b = s->first; b;) {
        batch *n = b->next;
        ts_arena_fini(&b->arena);
        ts_free(b);
        b = n;
    }
    ts_ss_free_warnings(ss);
    ts_free(s);
}

static const ts_series_set_ops rset_ops = {rset_next, rset_at, rset_free};

/* ------------------------------------------------------------ querier */

typedef struct rq {
    ts_querier base;
    ts_store_client *c;
    ts_store_query_opts opts;
} rq;

static int64_t
deadline_of(const rq *q)
{
    return ts_now_ms() + (q->opts.timeout_ms > 0 ? q->opts.timeout_ms : DEFAULT_TIMEOUT_MS);
}

static int
rq_select(ts_querier *qq, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    rq *q = (rq *)qq;
    rset *s = ts_calloc(1, sizeof(*s));
    s->base.ops = &rset_ops;
    s->c = q->c;
    s->mint = q->base.mint;
    s->maxt = q->base.maxt;
    s->deadline = deadline_of(q);
    batch *b = ts_calloc(1, sizeof(*b));
    ts_arena_init(&b->arena, 64 * 1024);
    Tessera__Store__V1__SeriesRequest req = TESSERA__STORE__V1__SERIES_REQUEST__INIT;
    Tessera__Store__V1__Hints h = TESSERA__STORE__V1__HINTS__INIT;
    req.min_time = q->base.mint;
    req.max_time = q->base.maxt;
    req.matchers = ts_store_matchers_to_pb(&b->arena, ms, nms);
    req.n_matchers = nms;
    req.deadline_unix_ms = s->deadline;
    req.partial_response_strategy = q->opts.abort_on_error
                                        ? TESSERA__STORE__V1__PARTIAL_RESPONSE_STRATEGY__ABORT
                                        : TESSERA__STORE__V1__PARTIAL_RESPONSE_STRATEGY__WARN;
    req.without_replica_labels = (char **)q->opts.without_replica_labels;
    req.n_without_replica_labels = q->opts.nwithout;
    if (hints) {
        req.skip_chunks = hints->skip_chunks;
        h.step_ms = hints->step;
        h.range_ms = hints->range;
        h.func = (char *)(hints->func ? hints->func : "");
        req.hints = &h;
    }
    ProtobufCMessage *m;
    int rc = roundtrip(q->c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST, &req.base,
                       s->deadline, &b->arena, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH,
                       &m, err);
    if (rc) {
        ts_arena_fini(&b->arena);
        ts_free(b);
        ts_free(s);
        *out = NULL;
        return rc;
    }
    b->b = (Tessera__Store__V1__SeriesBatch *)m;
    add_batch(s, b);
    *out = &s->base;
    return TS_OK;
}

static int
rq_labels(rq *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
          const char ***out, size_t *n, ts_error *err)
{
    int64_t deadline = deadline_of(q);
    ProtobufCMessage *m;
    int rc;
    if (name) {
        Tessera__Store__V1__LabelValuesRequest req = TESSERA__STORE__V1__LABEL_VALUES_REQUEST__INIT;
        req.label = (char *)name;
        req.start = q->base.mint;
        req.end = q->base.maxt;
        req.matchers = ts_store_matchers_to_pb(a, ms, nms);
        req.n_matchers = nms;
        req.deadline_unix_ms = deadline;
        req.without_replica_labels = (char **)q->opts.without_replica_labels;
        req.n_without_replica_labels = q->opts.nwithout;
        rc = roundtrip(q->c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_REQUEST, &req.base,
                       deadline, a, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_RESPONSE, &m,
                       err);
        if (rc == TS_OK) {
            Tessera__Store__V1__LabelValuesResponse *r = (Tessera__Store__V1__LabelValuesResponse *)m;
            *out = (const char **)r->values;
            *n = r->n_values;
        }
        return rc;
    }
    Tessera__Store__V1__LabelNamesRequest req = TESSERA__STORE__V1__LABEL_NAMES_REQUEST__INIT;
    req.start = q->base.mint;
    req.end = q->base.maxt;
    req.matchers = ts_store_matchers_to_pb(a, ms, nms);
    req.n_matchers = nms;
    req.deadline_unix_ms = deadline;
    req.without_replica_labels = (char **)q->opts.without_replica_labels;
    req.n_without_replica_labels = q->opts.nwithout;
    rc = roundtrip(q->c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_REQUEST, &req.base,
                   deadline, a, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_RESPONSE, &m, err);
    if (rc == TS_OK) {
        Tessera__Store__V1__LabelNamesResponse *r = (Tessera__Store__V1__LabelNamesResponse *)m;
        *out = (const char **)r->names;
        *n = r->n_names;
    }
    return rc;
}

static int
rq_label_values(ts_querier *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
                const char ***out, size_t *n, ts_error *err)
{
    return rq_labels((rq *)q, name, ms, nms, a, out, n, err);
}

static int
rq_label_names(ts_querier *q, ts_matcher *const *ms, size_t nms, ts_arena *a, const char ***out,
               size_t *n, ts_error *err)
{
    return rq_labels((rq *)q, NULL, ms, nms, a, out, n, err);
}

static void
rq_close(ts_querier *q)
{
    ts_free(q);
}

static const ts_querier_ops rq_ops = {rq_select, rq_label_values, rq_label_names, rq_close};

int
ts_store_client_querier(ts_store_client *c, int64_t mint, int64_t maxt,
                        const ts_store_query_opts *opts, ts_querier **out)
{
    rq *q = ts_calloc(1, sizeof(*q));
    q->base.ops = &rq_ops;
    q->base.mint = mint;
    q->base.maxt = maxt;
    q->c = c;
    if (opts)
        q->opts = *opts;
    *out = &q->base;
    return TS_OK;
}

static int
qb_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_store_client_querier(qb->impl, mint, maxt, NULL, out);
}

ts_queryable *
ts_store_client_queryable(ts_store_client *c)
{
    return &c->qb;
}

int
ts_store_client_info(ts_store_client *c, int64_t timeout_ms, ts_arena *a, ts_store_info *out,
                     ts_error *err)
{
    Tessera__Store__V1__InfoRequest req = TESSERA__STORE__V1__INFO_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = roundtrip(c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_REQUEST, &req.base,
                       ts_now_ms() + timeout_ms, a,
                       TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE, &m, err);
    if (rc)
        return rc;
    Tessera__Store__V1__InfoResponse *r = (Tessera__Store__V1__InfoResponse *)m;
    out->external_labels =
        r->n_label_sets ? ts_store_labels_from_pb(a, r->label_sets[0]->labels,
                                                  r->label_sets[0]->n_labels)
                        : ts_labels_new_arena(a, NULL, 0);
    out->mint = r->min_time;
    out->maxt = r->max_time;
    out->component = r->component_type ? r->component_type : "";
    return TS_OK;
}

int
ts_store_client_new(ts_store_client **out, const char *url, const char *tls_ca_file, ts_error *err)
{
    ts_store_client *c = ts_calloc(1, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->qb.querier = qb_querier;
    c->qb.impl = c;
    int rv = nng_req0_open(&c->sock);
    if (rv) {
        ts_free(c);
        return ts_error_set(err, TS_EIO, "store %s: %s", url, nng_strerror(rv));
    }
    /* never resend a request on our own: a slow query must not run twice */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 1u << 30);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 5000);
    if ((rv = nng_dialer_create(&c->dialer, c->sock, url))) {
        nng_close(c->sock);
        ts_free(c);
        return ts_error_set(err, TS_EINVAL, "store %s: %s", url, nng_strerror(rv));
    }
    if (strncmp(url, "tls+", 4) == 0) {
        if ((rv = nng_tls_config_alloc(&c->tls, NNG_TLS_MODE_CLIENT)) ||
            (tls_ca_file && (rv = nng_tls_config_ca_file(c->tls, tls_ca_file))) ||
            (!tls_ca_file && (rv = nng_tls_config_auth_mode(c->tls, NNG_TLS_AUTH_MODE_NONE))) ||
            (rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls))) {
            if (c->tls)
                nng_tls_config_free(c->tls);
            nng_close(c->sock);
            ts_free(c);
            return ts_error_set(err, TS_EINVAL, "store %s: TLS setup: %s", url, nng_strerror(rv));
        }
    }
    /* non-blocking: a store that is down now is retried in the background */
    if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK))) {
        if (c->tls)
            nng_tls_config_free(c->tls);
        nng_close(c->sock);
        ts_free(c);
        return ts_error_set(err, TS_EINVAL, "store %s: %s", url, nng_strerror(rv));
    }
    *out = c;
    return TS_OK;
}

const char *
ts_store_client_url(const ts_store_client *c)
{
    return c->url;
}

void
ts_store_client_free(ts_store_client *c)
{
    if (!c)
        return;
    nng_close(c->sock);
    if (c->tls)
        nng_tls_config_free(c->tls);
    ts_free(c);
}
