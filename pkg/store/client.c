/*
 * Store API client: a remote store seen as a ts_queryable.
 *
 * One req0 socket per store, dialed in the background (nng reconnects by
 * itself).  Every request is an asynchronous call (ts_store_call): its own
 * nng context and aio, a small state machine in the aio callback (send,
 * then receive) and a done callback.  The reply is decoded by its owner,
 * on the query's own thread, never on one of nng's few threads (a big reply
 * of one query would hold back the replies of the others).
 * The synchronous paths (a plain querier, SeriesNext, Info) wait on a call;
 * the fan-out starts one call per store and waits for them together.
 *
 * Faults: a pipe callback tracks the connection.  When it goes, every call
 * in flight is aborted at once (nng's req would keep it for a resend on the
 * next connection, so a dead store would hold a query until its deadline),
 * and until a new connection comes up, query calls fail without being sent;
 * probes (Info) still wait for a connection.  Each reply is bounded by
 * min(query deadline, now + response timeout), and that bound is what the
 * request's deadline tells the server.
 *
 * A select() returns a series set that pulls batches on demand: it holds
 * every batch it has received (series stay valid until the set is freed, as
 * pkg/storage requires) and asks for the next one when the current is used
 * up.  Samples are decoded from the XOR chunks as they are iterated.  Series
 * and chunk samples are counted as batches come in, against the request's
 * and the query's limits.
 */
#include "pkg/store/codec.h"
#include "pkg/store/store.h"
#include "pkg/store/tls.h"
#include "pkg/tsdb/chunkenc/xor.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ts_store_client {
    nng_socket sock;
    nng_dialer dialer;
    nng_tls_config *tls;
    /* the settings tls was made from (owned copies), for a diagnosis */
    ts_store_client_tls tls_opts;
    char url[256];
    ts_queryable qb;
    /* recursive: nng may finish an aborted aio on the aborting thread */
    pthread_mutex_t mu;
    int npipes; /* connections up now (0 or 1: one dialer) */
    bool lost;  /* a connection went down and none came back since */
    uint64_t connects;
    ts_store_call *inflight; /* calls not yet done (guarded by mu) */
};

#define DEFAULT_TIMEOUT_MS (2 * 60 * 1000)

enum { CALL_SEND, CALL_RECV, CALL_DONE };

struct ts_store_call {
    ts_store_client *c;
    nng_ctx ctx;
    bool ctx_open;
    nng_aio *aio;
    int state;    /* guarded by c->mu */
    bool aborted; /* guarded by c->mu */
    int abort_rv;
    int64_t deadline; /* of this reply */
    int64_t wait_ms;  /* what the deadline allowed, for the error text */
    uint8_t expect;
    ts_arena *arena; /* where the reply is unpacked */
    ProtobufCMessage *resp;
    nng_msg *msg; /* the reply as received, until decoded */
    ts_error err; /* err.code != 0: failed */
    ts_store_call_done_fn done;
    void *arg;
    ts_store_call *prev, *next;
    /* what the call is for */
    struct rset *set; /* select: the set the first batch goes to */
    struct batch *b;
    ts_arena own; /* the reply's arena when call_new got none (labels, meta) */
};

static void
call_unlink(ts_store_call *k)
{
    ts_store_client *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else if (c->inflight == k)
        c->inflight = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

/* Marks the call done and tells its owner (who may free it at once). */
static void
call_finish(ts_store_call *k)
{
    ts_store_client *c = k->c;
    pthread_mutex_lock(&c->mu);
    call_unlink(k);
    k->state = CALL_DONE;
    pthread_mutex_unlock(&c->mu);
    k->done(k->arg, k->err.code);
}

static void
call_fail_nng(ts_store_call *k, int rv)
{
    const char *url = k->c->url;
    if (rv == NNG_ETIMEDOUT && k->state == CALL_SEND)
        ts_error_set(&k->err, TS_ETIMEOUT, "store %s: not connected (waited %lld ms)", url,
                     (long long)k->wait_ms);
    else if (rv == NNG_ETIMEDOUT)
        ts_error_set(&k->err, TS_ETIMEOUT, "store %s: no answer within %lld ms", url,
                     (long long)k->wait_ms);
    else if (rv == NNG_ECONNRESET)
        ts_error_set(&k->err, TS_EIO, "store %s: connection lost", url);
    else if (rv == NNG_ECANCELED)
        ts_error_set(&k->err, TS_ECANCELED, "store %s: request canceled", url);
    else
        ts_error_set(&k->err, TS_EIO, "store %s: %s", url, nng_strerror(rv));
    call_finish(k);
}

static void
call_cb(void *arg)
{
    ts_store_call *k = arg;
    ts_store_client *c = k->c;
    int rv = nng_aio_result(k->aio);
    if (k->state == CALL_SEND) {
        if (rv) {
            nng_msg *m = nng_aio_get_msg(k->aio);
            nng_aio_set_msg(k->aio, NULL);
            if (m)
                nng_msg_free(m); /* not sent: still ours */
            call_fail_nng(k, rv);
            return;
        }
        pthread_mutex_lock(&c->mu);
        if (k->aborted) {
            pthread_mutex_unlock(&c->mu);
            call_fail_nng(k, k->abort_rv);
            return;
        }
        k->state = CALL_RECV;
        int64_t left = k->deadline - ts_now_ms();
        nng_aio_set_timeout(k->aio, (nng_duration)(left > 0 ? left : 1));
        nng_ctx_recv(k->ctx, k->aio);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (rv) {
        call_fail_nng(k, rv);
        return;
    }
    /* kept as bytes: the owner decodes it on its own thread (call_decode),
     * so a big reply never holds one of nng's few threads from the replies
     * of other queries */
    k->msg = nng_aio_get_msg(k->aio);
    nng_aio_set_msg(k->aio, NULL);
    call_finish(k);
}

/* Decodes the reply of a finished call (on the owner's thread); sets k->err. */
static void
call_decode(ts_store_call *k)
{
    if (!k->msg || k->err.code)
        return;
    ts_store_client *c = k->c;
    nng_msg *msg = k->msg;
    k->msg = NULL;
    uint8_t got;
    ProtobufCMessage *m;
    int rc = ts_store_frame_unpack(nng_msg_body(msg), nng_msg_len(msg), 1u << 30, k->arena, &got,
                                   &m, &k->err);
    nng_msg_free(msg);
    if (rc) {
        ts_error_prefix(&k->err, "store %s: ", c->url);
    } else if (got == TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR) {
        Tessera__Store__V1__Error *e = (Tessera__Store__V1__Error *)m;
        ts_error_set(&k->err, e->code < 0 ? e->code : TS_EIO, "store %s: %s", c->url,
                     e->message ? e->message : "error");
    } else if (got != k->expect) {
        ts_error_set(&k->err, TS_ECORRUPT, "store %s: unexpected reply frame type %u", c->url, got);
    } else {
        k->resp = m;
    }
}

/* A call not yet sent; its reply is unpacked into a, or into the call's own
 * arena when a is NULL (kept until the call is freed). */
static ts_store_call *
call_new(ts_store_client *c, int64_t deadline, ts_arena *a, uint8_t expect,
         ts_store_call_done_fn done, void *arg)
{
    ts_store_call *k = ts_calloc(1, sizeof(*k));
    k->c = c;
    k->deadline = deadline;
    k->expect = expect;
    k->done = done;
    k->arg = arg;
    if (a) {
        k->arena = a;
    } else {
        ts_arena_init(&k->own, 4096);
        k->arena = &k->own;
    }
    ts_error_clear(&k->err);
    return k;
}

/* Sends the call's request.  Never fails to leave a call: an error found
 * here finishes it at once (done runs before this returns).  wait_connect:
 * wait (up to the deadline) for a connection even if the last one was lost
 * (probes); queries fail at once then. */
static void
call_go(ts_store_call *k, uint8_t type, const ProtobufCMessage *req, bool wait_connect)
{
    ts_store_client *c = k->c;
    ts_store_call_done_fn done = k->done;
    void *arg = k->arg;
    int64_t deadline = k->deadline;
    k->wait_ms = deadline - ts_now_ms();
    if (k->wait_ms <= 0) {
        ts_error_set(&k->err, TS_ETIMEOUT, "store %s: deadline exceeded", c->url);
        k->state = CALL_DONE;
        done(arg, k->err.code);
        return;
    }
    ts_buf frame;
    ts_buf_init(&frame, 0);
    int rc = ts_store_frame_pack(&frame, type, req);
    nng_msg *msg = NULL;
    int rv = 0;
    if (rc) {
        ts_error_set(&k->err, rc, "store %s: encoding request: %s", c->url, ts_strerror(rc));
    } else if ((rv = nng_ctx_open(&k->ctx, c->sock)) || !(k->ctx_open = true) ||
               (rv = nng_aio_alloc(&k->aio, call_cb, k)) || (rv = nng_msg_alloc(&msg, 0)) ||
               (rv = nng_msg_append(msg, frame.p, frame.len))) {
        ts_error_set(&k->err, TS_EIO, "store %s: %s", c->url, nng_strerror(rv));
    }
    ts_buf_fini(&frame);
    if (k->err.code) {
        if (msg)
            nng_msg_free(msg);
        k->state = CALL_DONE;
        done(arg, k->err.code);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->lost && !wait_connect) {
        pthread_mutex_unlock(&c->mu);
        nng_msg_free(msg);
        ts_error_set(&k->err, TS_EIO, "store %s: not connected (connection lost)", c->url);
        k->state = CALL_DONE;
        done(arg, k->err.code);
        return;
    }
    k->next = c->inflight;
    if (c->inflight)
        c->inflight->prev = k;
    c->inflight = k;
    k->state = CALL_SEND;
    nng_aio_set_timeout(k->aio, (nng_duration)k->wait_ms);
    nng_aio_set_msg(k->aio, msg);
    nng_ctx_send(k->ctx, k->aio);
    pthread_mutex_unlock(&c->mu);
}

/* A call still sending its request is not aborted, only marked: call_cb
 * ends it with ECANCELED once the send is done (or timed out).  With nng 1.5,
 * aborting a req context's send could leave the socket's close waiting
 * forever (drop_prefetched in pkg/query/fanout.c waits for the same reason).
 * While connected a request is out within microseconds; a queued one (no
 * connection yet) ends at its send timeout, the response timeout. */
void
ts_store_call_cancel(ts_store_call *k)
{
    ts_store_client *c = k->c;
    pthread_mutex_lock(&c->mu);
    if (k->state != CALL_DONE && !k->aborted) {
        k->aborted = true;
        k->abort_rv = NNG_ECANCELED;
        if (k->state == CALL_RECV)
            nng_aio_abort(k->aio, NNG_ECANCELED);
    }
    pthread_mutex_unlock(&c->mu);
}

static void
call_free(ts_store_call *k)
{
    if (k->msg)
        nng_msg_free(k->msg);
    if (k->aio)
        nng_aio_free(k->aio);
    if (k->ctx_open)
        nng_ctx_close(k->ctx);
    ts_arena_fini(&k->own);
    ts_free(k);
}

/* A pipe came or went.  With one dialer there is at most one: when it goes,
 * every request on it fails now (nng's req would park them for a resend). */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    ts_store_client *c = arg;
    pthread_mutex_lock(&c->mu);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        c->npipes++;
        c->lost = false;
        c->connects++;
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        if (c->npipes > 0)
            c->npipes--;
        if (c->npipes == 0) {
            c->lost = true;
            for (ts_store_call *k = c->inflight; k; k = k->next) {
                if (k->aborted)
                    continue;
                k->aborted = true;
                k->abort_rv = NNG_ECONNRESET;
                nng_aio_abort(k->aio, NNG_ECONNRESET);
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void
waiter_done(void *arg, int rc)
{
    (void)rc;
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void
waiter_init(waiter *w)
{
    w->done = false;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

/* Waits for done, then frees the waiter's mutex and condition. */
static void
waiter_wait(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* One request/reply, waited for. */
static int
roundtrip(ts_store_client *c, uint8_t type, const ProtobufCMessage *req, int64_t deadline,
          ts_arena *a, uint8_t expect, bool wait_connect, ProtobufCMessage **resp, ts_error *err)
{
    waiter w;
    waiter_init(&w);
    ts_store_call *k = call_new(c, deadline, a, expect, waiter_done, &w);
    call_go(k, type, req, wait_connect);
    waiter_wait(&w);
    call_decode(k);
    int rc = k->err.code;
    if (rc && err)
        *err = k->err;
    *resp = k->resp;
    call_free(k);
    return rc;
}

/* The deadline of one reply: the query's, or sooner by the response timeout. */
static int64_t
reply_deadline(const ts_store_query_opts *o, int64_t query_deadline)
{
    if (o->response_timeout_ms <= 0)
        return query_deadline;
    int64_t d = ts_now_ms() + o->response_timeout_ms;
    return d < query_deadline ? d : query_deadline;
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
    ts_store_query_opts opts;
    int64_t mint, maxt, deadline;
    batch *first, *cur;
    size_t idx; /* next index in cur */
    rseries *at;
    uint64_t nseries, nsamples; /* fetched so far */
} rset;

/* Samples in an XOR chunk: its 2-byte big-endian header. */
static uint64_t
chunk_samples(const Tessera__Store__V1__Chunk *c)
{
    return c->data.len >= 2 ? (uint64_t)(c->data.data[0] << 8 | c->data.data[1]) : 0;
}

/* Takes a batch in; TS_ELIMIT (message in the set's error) past a limit. */
static int
add_batch(rset *s, batch *b)
{
    Tessera__Store__V1__SeriesBatch *pb = b->b;
    b->series = TS_ARENA_ARRAY(&b->arena, rseries, pb->n_series + 1);
    uint64_t samples = 0;
    for (size_t i = 0; i < pb->n_series; i++) {
        rseries *rs = &b->series[i];
        rs->base.ops = &rseries_ops;
        rs->base.labels =
            ts_store_labels_from_pb(&b->arena, pb->series[i]->labels, pb->series[i]->n_labels);
        rs->pb = pb->series[i];
        rs->mint = s->mint;
        rs->maxt = s->maxt;
        for (size_t k = 0; k < rs->pb->n_chunks; k++)
            samples += chunk_samples(rs->pb->chunks[k]);
    }
    for (size_t i = 0; i < pb->n_warnings; i++)
        ts_ss_add_warning(&s->base, "%s", pb->warnings[i]);
    if (s->cur)
        s->cur->next = b;
    else
        s->first = b;
    s->cur = b;
    s->idx = 0;
    s->nseries += pb->n_series;
    s->nsamples += samples;
    const ts_store_query_opts *o = &s->opts;
    if (o->max_series && s->nseries > o->max_series)
        return ts_error_set(&s->base.error, TS_ELIMIT,
                            "store %s: exceeded series limit: limit %llu violated (got %llu) "
                            "(--store.limits.request-series)",
                            s->c->url, (unsigned long long)o->max_series,
                            (unsigned long long)s->nseries);
    if (o->max_samples && s->nsamples > o->max_samples)
        return ts_error_set(&s->base.error, TS_ELIMIT,
                            "store %s: exceeded samples limit: limit %llu violated (got %llu) "
                            "(--store.limits.request-samples)",
                            s->c->url, (unsigned long long)o->max_samples,
                            (unsigned long long)s->nsamples);
    uint64_t fetched =
        o->query_samples ? __atomic_add_fetch(o->query_samples, samples, __ATOMIC_RELAXED) : 0;
    if (o->query_max_samples && fetched > o->query_max_samples)
        return ts_error_set(&s->base.error, TS_ELIMIT,
                            "query processing would load too many samples into memory in query "
                            "execution (%llu fetched from stores, --query.max-samples=%llu)",
                            (unsigned long long)fetched, (unsigned long long)o->query_max_samples);
    return TS_OK;
}

/* Frees every batch (a failed set holds nothing). */
static void
drop_batches(rset *s)
{
    for (batch *b = s->first; b;) {
        batch *n = b->next;
        ts_arena_fini(&b->arena);
        ts_free(b);
        b = n;
    }
    s->first = s->cur = NULL;
}

static bool
rset_next(ts_series_set *ss)
{
    rset *s = (rset *)ss;
    while (s->cur && !s->base.error.code) {
        if (s->idx < s->cur->b->n_series) {
            s->at = &s->cur->series[s->idx++];
            return true;
        }
        if (s->cur->b->done)
            return false;
        Tessera__Store__V1__SeriesNextRequest req = TESSERA__STORE__V1__SERIES_NEXT_REQUEST__INIT;
        req.cursor = s->cur->b->cursor;
        int64_t deadline = reply_deadline(&s->opts, s->deadline);
        req.deadline_unix_ms = deadline;
        batch *b = ts_calloc(1, sizeof(*b));
        ts_arena_init(&b->arena, 64 * 1024);
        ProtobufCMessage *m;
        int rc =
            roundtrip(s->c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_NEXT_REQUEST, &req.base,
                      deadline, &b->arena, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH,
                      false, &m, &s->base.error);
        if (rc) {
            ts_arena_fini(&b->arena);
            ts_free(b);
            return false;
        }
        b->b = (Tessera__Store__V1__SeriesBatch *)m;
        if (add_batch(s, b))
            return false; /* past a limit: the query fails and frees the set at once */
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
    drop_batches(s);
    ts_ss_free_warnings(ss);
    ts_free(s);
}

static const ts_series_set_ops rset_ops = {rset_next, rset_at, rset_free};

/* ------------------------------------------------------------ requests */

static int64_t
query_deadline(const ts_store_query_opts *o)
{
    return ts_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
}

ts_store_call *
ts_store_client_select_start(ts_store_client *c, int64_t mint, int64_t maxt,
                             const ts_store_query_opts *opts, const ts_select_hints *hints,
                             ts_matcher *const *ms, size_t nms, ts_store_call_done_fn done,
                             void *arg)
{
    static const ts_store_query_opts none;
    rset *s = ts_calloc(1, sizeof(*s));
    s->base.ops = &rset_ops;
    s->c = c;
    s->opts = opts ? *opts : none;
    s->mint = mint;
    s->maxt = maxt;
    s->deadline = query_deadline(&s->opts);
    batch *b = ts_calloc(1, sizeof(*b));
    ts_arena_init(&b->arena, 64 * 1024);
    Tessera__Store__V1__SeriesRequest req = TESSERA__STORE__V1__SERIES_REQUEST__INIT;
    Tessera__Store__V1__Hints h = TESSERA__STORE__V1__HINTS__INIT;
    int64_t deadline = reply_deadline(&s->opts, s->deadline);
    req.min_time = mint;
    req.max_time = maxt;
    req.matchers = ts_store_matchers_to_pb(&b->arena, ms, nms);
    req.n_matchers = nms;
    req.deadline_unix_ms = deadline;
    req.partial_response_strategy = s->opts.abort_on_error
                                        ? TESSERA__STORE__V1__PARTIAL_RESPONSE_STRATEGY__ABORT
                                        : TESSERA__STORE__V1__PARTIAL_RESPONSE_STRATEGY__WARN;
    req.without_replica_labels = (char **)s->opts.without_replica_labels;
    req.n_without_replica_labels = s->opts.nwithout;
    if (hints) {
        req.skip_chunks = hints->skip_chunks;
        h.step_ms = hints->step;
        h.range_ms = hints->range;
        h.func = (char *)(hints->func ? hints->func : "");
        req.hints = &h;
    }
    /* set and batch are attached before the call can finish */
    ts_store_call *call = call_new(c, deadline, &b->arena,
                                   TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH, done, arg);
    call->set = s;
    call->b = b;
    call_go(call, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST, &req.base, false);
    return call;
}
ts_store_call *
ts_store_client_labels_start(ts_store_client *c, int64_t mint, int64_t maxt,
                             const ts_store_query_opts *opts, const char *name,
                             ts_matcher *const *ms, size_t nms, ts_store_call_done_fn done,
                             void *arg)
{
    static const ts_store_query_opts none;
    const ts_store_query_opts *o = opts ? opts : &none;
    int64_t deadline = reply_deadline(o, query_deadline(o));
    ts_store_call *k = call_new(c, deadline, NULL,
                                name ? TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_RESPONSE
                                     : TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_RESPONSE,
                                done, arg);
    if (name) {
        Tessera__Store__V1__LabelValuesRequest req = TESSERA__STORE__V1__LABEL_VALUES_REQUEST__INIT;
        req.label = (char *)name;
        req.start = mint;
        req.end = maxt;
        req.matchers = ts_store_matchers_to_pb(&k->own, ms, nms);
        req.n_matchers = nms;
        req.deadline_unix_ms = deadline;
        req.without_replica_labels = (char **)o->without_replica_labels;
        req.n_without_replica_labels = o->nwithout;
        call_go(k, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_REQUEST, &req.base, false);
    } else {
        Tessera__Store__V1__LabelNamesRequest req = TESSERA__STORE__V1__LABEL_NAMES_REQUEST__INIT;
        req.start = mint;
        req.end = maxt;
        req.matchers = ts_store_matchers_to_pb(&k->own, ms, nms);
        req.n_matchers = nms;
        req.deadline_unix_ms = deadline;
        req.without_replica_labels = (char **)o->without_replica_labels;
        req.n_without_replica_labels = o->nwithout;
        call_go(k, TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_REQUEST, &req.base, false);
    }
    return k;
}

int
ts_store_call_series(ts_store_call *k, ts_series_set **out, ts_error *err)
{
    rset *s = k->set;
    batch *b = k->b;
    call_decode(k);
    int rc = k->err.code;
    *out = NULL;
    if (rc) {
        if (err)
            *err = k->err;
        ts_arena_fini(&b->arena);
        ts_free(b);
        ts_free(s);
    } else {
        b->b = (Tessera__Store__V1__SeriesBatch *)k->resp;
        if ((rc = add_batch(s, b)) != 0) {
            if (err)
                *err = s->base.error;
            ts_ss_free(&s->base);
        } else {
            *out = &s->base;
        }
    }
    call_free(k);
    return rc;
}

int
ts_store_call_strings(ts_store_call *k, ts_arena *a, const char ***out, size_t *n, ts_error *err)
{
    call_decode(k);
    int rc = k->err.code;
    *out = NULL;
    *n = 0;
    if (rc) {
        if (err)
            *err = k->err;
    } else {
        char **v;
        size_t nv;
        if (k->expect == TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_RESPONSE) {
            Tessera__Store__V1__LabelValuesResponse *r =
                (Tessera__Store__V1__LabelValuesResponse *)k->resp;
            v = r->values;
            nv = r->n_values;
        } else {
            Tessera__Store__V1__LabelNamesResponse *r =
                (Tessera__Store__V1__LabelNamesResponse *)k->resp;
            v = r->names;
            nv = r->n_names;
        }
        const char **res = ts_arena_alloc(a, (nv + 1) * sizeof(char *));
        for (size_t i = 0; i < nv; i++)
            res[i] = ts_arena_strdup(a, v[i]);
        *out = res;
        *n = nv;
    }
    call_free(k);
    return rc;
}

/* ------------------------------------------------------------ querier */

typedef struct rq {
    ts_querier base;
    ts_store_client *c;
    ts_store_query_opts opts;
} rq;

static int
rq_select(ts_querier *qq, bool sorted, const ts_select_hints *hints, ts_matcher *const *ms,
          size_t nms, ts_series_set **out, ts_error *err)
{
    rq *q = (rq *)qq;
    waiter w;
    waiter_init(&w);
    ts_store_call *k = ts_store_client_select_start(q->c, q->base.mint, q->base.maxt, &q->opts,
                                                    hints, ms, nms, waiter_done, &w);
    waiter_wait(&w);
    return ts_store_call_series(k, out, err);
}

static int
rq_labels(rq *q, const char *name, ts_matcher *const *ms, size_t nms, ts_arena *a,
          const char ***out, size_t *n, ts_error *err)
{
    waiter w;
    waiter_init(&w);
    ts_store_call *k = ts_store_client_labels_start(q->c, q->base.mint, q->base.maxt, &q->opts,
                                                    name, ms, nms, waiter_done, &w);
    waiter_wait(&w);
    return ts_store_call_strings(k, a, out, n, err);
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
    /* a probe waits for a connection: it is what finds a lost store back */
    int rc = roundtrip(c, TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_REQUEST, &req.base,
                       ts_now_ms() + timeout_ms, a,
                       TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE, true, &m, err);
    if (rc)
        return rc;
    Tessera__Store__V1__InfoResponse *r = (Tessera__Store__V1__InfoResponse *)m;
    out->external_labels = r->n_label_sets ? ts_store_labels_from_pb(a, r->label_sets[0]->labels,
                                                                     r->label_sets[0]->n_labels)
                                           : ts_labels_new_arena(a, NULL, 0);
    out->mint = r->min_time;
    out->maxt = r->max_time;
    out->component = r->component_type ? r->component_type : "";
    out->shard_index = r->shard ? r->shard->index : 0;
    out->shard_count = r->shard ? r->shard->count : 0;
    out->meta_kinds_listed = r->meta_kinds != NULL;
    out->meta_kinds = 0;
    for (size_t i = 0; r->meta_kinds && i < r->meta_kinds->n_kinds; i++) {
        int k = (int)r->meta_kinds->kinds[i]; /* a kind newer than this version is left out */
        if (k >= 0 && k < TS_STORE_META_NKINDS)
            out->meta_kinds |= TS_STORE_META_BIT(k);
    }
    return TS_OK;
}

ts_store_call *
ts_store_client_meta_start(ts_store_client *c, int kind, const char *const *params, size_t nparams,
                           const ts_store_query_opts *opts, ts_store_call_done_fn done, void *arg)
{
    static const ts_store_query_opts none;
    const ts_store_query_opts *o = opts ? opts : &none;
    int64_t deadline = reply_deadline(o, query_deadline(o));
    ts_store_call *k =
        call_new(c, deadline, NULL, TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_RESPONSE, done, arg);
    Tessera__Store__V1__MetaRequest req = TESSERA__STORE__V1__META_REQUEST__INIT;
    req.kind = (Tessera__Store__V1__MetaRequest__Kind)kind;
    req.n_params = nparams / 2;
    req.params = TS_ARENA_ARRAY(&k->own, Tessera__Store__V1__Label *, req.n_params + 1);
    for (size_t i = 0; i < req.n_params; i++) {
        Tessera__Store__V1__Label *l = TS_ARENA_ARRAY(&k->own, Tessera__Store__V1__Label, 1);
        tessera__store__v1__label__init(l);
        l->name = (char *)params[2 * i];
        l->value = (char *)params[2 * i + 1];
        req.params[i] = l;
    }
    req.deadline_unix_ms = deadline;
    call_go(k, TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_REQUEST, &req.base, false);
    return k;
}

int
ts_store_call_json(ts_store_call *k, ts_arena *a, const char **json, size_t *len, ts_error *err)
{
    call_decode(k);
    int rc = k->err.code;
    *json = NULL;
    *len = 0;
    if (rc) {
        if (err)
            *err = k->err;
    } else {
        Tessera__Store__V1__MetaResponse *r = (Tessera__Store__V1__MetaResponse *)k->resp;
        *json = r->data_json.len
                    ? ts_arena_strndup(a, (const char *)r->data_json.data, r->data_json.len)
                    : "";
        *len = r->data_json.len;
    }
    call_free(k);
    return rc;
}

bool
ts_store_client_connected(ts_store_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool up = c->npipes > 0;
    pthread_mutex_unlock(&c->mu);
    return up;
}

bool
ts_store_client_lost(ts_store_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool lost = c->lost;
    pthread_mutex_unlock(&c->mu);
    return lost;
}

uint64_t
ts_store_client_connects(ts_store_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->connects;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void
tls_opts_free(ts_store_client_tls *t)
{
    ts_free((char *)t->ca_file);
    ts_free((char *)t->cert_file);
    ts_free((char *)t->key_file);
    ts_free((char *)t->server_name);
}

bool
ts_store_client_tls_diagnose(ts_store_client *c, int64_t timeout_ms, char *why, size_t cap)
{
    if (!c->tls)
        return false;
    return ts__store_tls_diagnose(c->url, &c->tls_opts, timeout_ms, why, cap);
}

int
ts_store_client_new(ts_store_client **out, const char *url, const ts_store_client_tls *tls,
                    ts_error *err)
{
    ts_store_client *c = ts_calloc(1, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->qb.querier = qb_querier;
    c->qb.impl = c;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    int rv = nng_req0_open(&c->sock);
    if (rv) {
        pthread_mutex_destroy(&c->mu);
        ts_free(c);
        return ts_error_set(err, TS_EIO, "store %s: %s", url, nng_strerror(rv));
    }
    /* never resend a request on our own: a slow query must not run twice */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 1u << 30);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 5000);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
    if ((rv = nng_dialer_create(&c->dialer, c->sock, url))) {
        nng_close(c->sock);
        ts_free(c);
        return ts_error_set(err, TS_EINVAL, "store %s: %s", url, nng_strerror(rv));
    }
    if (strncmp(url, "tls+", 4) == 0) {
        if (tls) {
            c->tls_opts.ca_file = tls->ca_file ? ts_strdup(tls->ca_file) : NULL;
            c->tls_opts.cert_file = tls->cert_file ? ts_strdup(tls->cert_file) : NULL;
            c->tls_opts.key_file = tls->key_file ? ts_strdup(tls->key_file) : NULL;
            c->tls_opts.server_name = tls->server_name ? ts_strdup(tls->server_name) : NULL;
        }
        ts_error terr;
        ts_error_clear(&terr);
        rv = 0;
        if (ts__store_tls_client(&c->tls, url, tls, &terr) != TS_OK ||
            (rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls))) {
            if (c->tls)
                nng_tls_config_free(c->tls);
            tls_opts_free(&c->tls_opts);
            nng_close(c->sock);
            pthread_mutex_destroy(&c->mu);
            ts_free(c);
            return ts_error_set(err, TS_EINVAL, "store %s: TLS setup: %s", url,
                                rv ? nng_strerror(rv) : terr.msg);
        }
    }
    /* non-blocking: a store that is down now is retried in the background */
    if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK))) {
        if (c->tls)
            nng_tls_config_free(c->tls);
        tls_opts_free(&c->tls_opts);
        nng_close(c->sock);
        ts_free(c);
        return ts_error_set(err, TS_EINVAL, "store %s: %s", url, nng_strerror(rv));
    }
    *out = c;
    return TS_OK;
}

const char *
ts_store_meta_kind_name(int kind)
{
    switch (kind) {
    case TS_STORE_META_METADATA: return "metric metadata";
    case TS_STORE_META_TARGETS: return "targets";
    case TS_STORE_META_TARGETS_METADATA: return "targets metadata";
    case TS_STORE_META_RULES: return "rules";
    case TS_STORE_META_ALERTS: return "alerts";
    }
    return "an unknown kind of metadata";
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
    tls_opts_free(&c->tls_opts);
    pthread_mutex_destroy(&c->mu);
    ts_free(c);
}
