/* The store server against hostile frames: each gets an error reply and is
 * counted; the server keeps serving. */
#include "pkg/store/codec.h"
#include "pkg/store/store.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/time.h"
#include "tests/testutil/t.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>
#include <zstd.h>

static int
head_querier(ts_queryable *qb, int64_t mint, int64_t maxt, ts_querier **out)
{
    return ts_head_querier(qb->impl, mint, maxt, out);
}

/* Sends raw bytes, returns the reply's frame type (or -1) and error code. */
static int
send_raw(nng_socket s, const void *p, size_t n, int *code)
{
    if (nng_send(s, (void *)p, n, 0) != 0)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
        return -1;
    ts_arena a;
    ts_arena_init(&a, 0);
    uint8_t type = 0;
    ProtobufCMessage *m;
    int t = -1;
    if (ts_store_frame_unpack((uint8_t *)buf, len, 1 << 20, &a, &type, &m, NULL) == 0) {
        t = type;
        if (type == TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR)
            *code = ((Tessera__Store__V1__Error *)m)->code;
    }
    ts_arena_fini(&a);
    nng_free(buf, len);
    return t;
}

static void
test_bad_frames(void)
{
    ts_head *h;
    ts_head_opts o = {.chunk_range_ms = 7200000};
    T_OK(ts_head_new(&h, &o));
    ts_queryable qb = {head_querier, h};
    ts_store_server *srv;
    ts_error err;
    ts_store_server_opts so = {
        .listen_url = "tcp://127.0.0.1:0", .queryable = &qb, .max_frame = 1 << 16};
    T_OK(ts_store_server_start(&srv, &so, &err));
    nng_socket s;
    T_OK(nng_req0_open(&s));
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    T_OK(nng_dial(s, ts_store_server_url(srv), NULL, 0));

    const int ERR = TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR;
    int code = 0;
    uint8_t empty[1] = {0};
    T_EQ(send_raw(s, empty, 0, &code), ERR); /* empty frame */
    uint8_t unknown[] = {200, 1, 2, 3};
    T_EQ(send_raw(s, unknown, sizeof(unknown), &code), ERR); /* unknown type */
    T_EQ(code, TS_ECORRUPT);
    uint8_t badz[] = {TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST, 0xde, 0xad, 0xbe, 0xef};
    T_EQ(send_raw(s, badz, sizeof(badz), &code), ERR); /* not zstd */
    /* valid zstd, garbage protobuf */
    uint8_t garbage[64], frame[256];
    memset(garbage, 0xff, sizeof(garbage));
    frame[0] = TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST;
    size_t z = ZSTD_compress(frame + 1, sizeof(frame) - 1, garbage, sizeof(garbage), 1);
    T_EQ(send_raw(s, frame, z + 1, &code), ERR);
    T_EQ(code, TS_ECORRUPT);
    /* truncated: a valid frame cut short */
    T_EQ(send_raw(s, frame, z / 2, &code), ERR);
    /* oversized: decompresses past the server's 64 KiB limit */
    size_t big = 1 << 20;
    uint8_t *zeros = calloc(1, big), *bframe = malloc(ZSTD_compressBound(big) + 1);
    bframe[0] = TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST;
    z = ZSTD_compress(bframe + 1, ZSTD_compressBound(big), zeros, big, 1);
    T_EQ(send_raw(s, bframe, z + 1, &code), ERR);
    T_EQ(code, TS_ELIMIT);
    free(zeros);
    free(bframe);
    /* a response type sent as a request */
    ts_buf b;
    ts_buf_init(&b, 0);
    Tessera__Store__V1__InfoResponse ir = TESSERA__STORE__V1__INFO_RESPONSE__INIT;
    T_OK(ts_store_frame_pack(&b, TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE, &ir.base));
    T_EQ(send_raw(s, b.p, b.len, &code), ERR);
    /* a bad regex in a matcher is an error reply, not a bad frame */
    ts_buf_reset(&b);
    Tessera__Store__V1__SeriesRequest sr = TESSERA__STORE__V1__SERIES_REQUEST__INIT;
    Tessera__Store__V1__LabelMatcher m = TESSERA__STORE__V1__LABEL_MATCHER__INIT, *mp = &m;
    m.type = TESSERA__STORE__V1__LABEL_MATCHER__TYPE__RE;
    m.name = "job";
    m.value = "(";
    sr.matchers = &mp;
    sr.n_matchers = 1;
    sr.max_time = 1000;
    T_OK(ts_store_frame_pack(&b, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST, &sr.base));
    T_EQ(send_raw(s, b.p, b.len, &code), ERR);
    T_EQ(code, TS_EPARSE);
    /* an unknown cursor */
    ts_buf_reset(&b);
    Tessera__Store__V1__SeriesNextRequest nr = TESSERA__STORE__V1__SERIES_NEXT_REQUEST__INIT;
    nr.cursor = 12345;
    T_OK(ts_store_frame_pack(&b, TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_NEXT_REQUEST,
                             &nr.base));
    T_EQ(send_raw(s, b.p, b.len, &code), ERR);
    T_EQ(code, TS_ENOTFOUND);
    ts_buf_fini(&b);

    ts_store_server_stats st;
    ts_store_server_stats_get(srv, &st);
    T_EQ(st.bad_frames_total, 7);
    T_EQ(st.errors_total, 9);
    /* still serving */
    ts_store_client *c;
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), NULL, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_OK(ts_store_client_info(c, 5000, &a, &info, &err));
    ts_arena_fini(&a);
    ts_store_client_free(c);
    nng_close(s);
    ts_store_server_stop(srv);
    ts_head_free(h);
}

static void
test_unreachable_store_times_out(void)
{
    ts_store_client *c;
    ts_error err;
    ts_error_clear(&err);
    /* nothing listens there: the request waits for a connection until its deadline */
    T_OK(ts_store_client_new(&c, "tcp://127.0.0.1:1", NULL, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_EQ(ts_store_client_info(c, 300, &a, &info, &err), TS_ETIMEOUT);
    T_TRUE(strstr(err.msg, "not connected (waited ") != NULL);
    T_TRUE(strstr(err.msg, "tcp://127.0.0.1:1") != NULL);
    ts_arena_fini(&a);
    ts_store_client_free(c);
}

/* tls+tcp://: a self-signed certificate made with openssl; a client that
 * trusts it talks to the store, a plain tcp client does not, and one that
 * does not trust it is told why by ts_store_client_tls_diagnose. */
static void
test_tls(void)
{
    const char *dir = t_tmpdir();
    char cmd[1024], cert[512], key[512];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    T_OK(system(cmd));
    ts_head *h;
    ts_head_opts o = {.chunk_range_ms = 7200000};
    T_OK(ts_head_new(&h, &o));
    ts_queryable qb = {head_querier, h};
    ts_labels *ext = ts_labels_from_strings(2, "replica", "tls");
    ts_store_server *srv;
    ts_error err;
    ts_error_clear(&err);
    /* a TLS listener without a certificate is refused with a clear error */
    ts_store_server_opts bad = {.listen_url = "tls+tcp://127.0.0.1:0", .queryable = &qb};
    T_NE(ts_store_server_start(&srv, &bad, &err), 0);
    T_TRUE(strstr(err.msg, "certificate") != NULL);
    ts_store_server_opts so = {.listen_url = "tls+tcp://127.0.0.1:0",
                               .queryable = &qb,
                               .external_labels = ext,
                               .tls_cert_file = cert,
                               .tls_key_file = key};
    int rc = ts_store_server_start(&srv, &so, &err);
    if (rc)
        fprintf(stderr, "  tls server: %s\n", err.msg);
    T_OK(rc);
    T_TRUE(strncmp(ts_store_server_url(srv), "tls+tcp://127.0.0.1:", 20) == 0);
    ts_store_client *c;
    ts_store_client_tls ctls = {.ca_file = cert};
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), &ctls, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_OK(ts_store_client_info(c, 5000, &a, &info, &err));
    T_STREQ(ts_labels_get(info.external_labels, "replica"), "tls");
    /* a handshake that works has nothing to explain */
    char why[384] = "";
    T_TRUE(!ts_store_client_tls_diagnose(c, 2000, why, sizeof(why)));
    ts_store_client_free(c);
    /* a CA that did not sign the store's certificate: the probe only times
     * out (nng retries the handshake and says nothing), the diagnosis says why */
    char other[512];
    snprintf(other, sizeof(other), "%s/other.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/other.key -out %s -days 1 "
             "-subj /CN=other >/dev/null 2>&1",
             dir, other);
    T_OK(system(cmd));
    ts_store_client_tls wrong = {.ca_file = other};
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), &wrong, &err));
    T_NE(ts_store_client_info(c, 500, &a, &info, &err), 0);
    T_TRUE(ts_store_client_tls_diagnose(c, 2000, why, sizeof(why)));
    T_STREQ(why, "TLS handshake: certificate verify failed (self-signed certificate)");
    ts_store_client_free(c);
    /* plain tcp to the TLS port gets no answer */
    char plain[128];
    snprintf(plain, sizeof(plain), "tcp://%s", ts_store_server_url(srv) + strlen("tls+tcp://"));
    T_OK(ts_store_client_new(&c, plain, NULL, &err));
    T_NE(ts_store_client_info(c, 500, &a, &info, &err), 0);
    ts_store_client_free(c);
    ts_arena_fini(&a);
    ts_store_server_stop(srv);
    ts_labels_free(ext);
    ts_head_free(h);
}

/* A raw rep socket that takes requests and never answers (a hung host). */
static void
silent_store(nng_socket *rep, char *url, size_t n)
{
    nng_listener l;
    T_OK(nng_rep0_open(rep));
    T_OK(nng_listen(*rep, "tcp://127.0.0.1:0", &l, 0));
    nng_sockaddr sa;
    T_OK(nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa));
    snprintf(url, n, "tcp://127.0.0.1:%d", ntohs(sa.s_in.sa_port));
}

typedef struct closer {
    nng_socket rep;
    int delay_ms;
} closer;

static void *
close_after(void *arg)
{
    closer *c = arg;
    char *buf = NULL;
    size_t len = 0;
    nng_recv(c->rep, &buf, &len, NNG_FLAG_ALLOC); /* the request is in: now vanish */
    nng_free(buf, len);
    usleep((useconds_t)c->delay_ms * 1000);
    nng_close(c->rep);
    return NULL;
}

/* A silent store is bounded by the response timeout, not the query's. */
static void
test_response_timeout(void)
{
    char url[64];
    nng_socket rep;
    silent_store(&rep, url, sizeof(url));
    ts_store_client *c;
    ts_error err;
    T_OK(ts_store_client_new(&c, url, NULL, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_EQ(ts_store_client_info(c, 300, &a, &info, &err), TS_ETIMEOUT); /* connected, silent */
    ts_store_query_opts o = {.timeout_ms = 60000, .response_timeout_ms = 400};
    ts_querier *q;
    T_OK(ts_store_client_querier(c, 0, 1000, &o, &q));
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "up", NULL);
    ts_series_set *ss;
    int64_t t0 = ts_now_ms();
    T_EQ(q->ops->select(q, true, NULL, &m, 1, &ss, &err), TS_ETIMEOUT);
    int64_t took = ts_now_ms() - t0;
    T_TRUE(took >= 350 && took < 2000);
    if (!strstr(err.msg, "no answer within"))
        fprintf(stderr, "  got: %s\n", err.msg);
    T_TRUE(strstr(err.msg, "no answer within") != NULL);
    ts_matcher_free(m);
    ts_querier_close(q);
    ts_arena_fini(&a);
    ts_store_client_free(c);
    nng_close(rep);
}

/* A connection lost while a request is in flight fails it at once (nng's req
 * alone would wait for a new connection and resend), and later requests fail
 * at once while the store stays away. */
static void
test_lost_connection_fails_at_once(void)
{
    char url[64];
    closer cl = {.delay_ms = 200};
    silent_store(&cl.rep, url, sizeof(url));
    ts_store_client *c;
    ts_error err;
    T_OK(ts_store_client_new(&c, url, NULL, &err));
    int64_t until = ts_now_ms() + 5000;
    while (!ts_store_client_connected(c) && ts_now_ms() < until)
        usleep(10 * 1000);
    T_TRUE(ts_store_client_connected(c));
    T_FALSE(ts_store_client_lost(c));
    pthread_t th;
    pthread_create(&th, NULL, close_after, &cl);
    ts_store_query_opts o = {.timeout_ms = 60000, .response_timeout_ms = 30000};
    ts_querier *q;
    T_OK(ts_store_client_querier(c, 0, 1000, &o, &q));
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "up", NULL);
    ts_series_set *ss;
    int64_t t0 = ts_now_ms();
    T_EQ(q->ops->select(q, true, NULL, &m, 1, &ss, &err), TS_EIO);
    int64_t took = ts_now_ms() - t0;
    T_TRUE(took < 2000);
    T_TRUE(strstr(err.msg, "connection lost") != NULL);
    pthread_join(th, NULL);
    until = ts_now_ms() + 1000; /* the pipe event may come just after the failure */
    while (!ts_store_client_lost(c) && ts_now_ms() < until)
        usleep(5 * 1000);
    T_TRUE(ts_store_client_lost(c));
    t0 = ts_now_ms();
    T_EQ(q->ops->select(q, true, NULL, &m, 1, &ss, &err), TS_EIO); /* known down: no wait */
    T_TRUE(ts_now_ms() - t0 < 100);
    T_TRUE(strstr(err.msg, "not connected") != NULL);
    ts_matcher_free(m);
    ts_querier_close(q);
    ts_store_client_free(c);
}

/* Info carries the shard identity; per-request series and sample limits. */
static void
test_shard_info_and_limits(void)
{
    ts_head *h;
    ts_head_opts ho = {.chunk_range_ms = 7200000};
    T_OK(ts_head_new(&h, &ho));
    ts_appender *app = ts_head_appender(h);
    for (int k = 0; k < 10; k++) {
        char inst[16];
        snprintf(inst, sizeof(inst), "i%d", k);
        ts_labels *ls = ts_labels_from_strings(4, "__name__", "up", "instance", inst);
        for (int i = 0; i < 100; i++)
            app->ops->append(app, 0, ls, 1000 * i, 1, NULL);
        ts_labels_free(ls);
    }
    app->ops->commit(app);
    ts_queryable qb = {head_querier, h};
    ts_store_server *srv;
    ts_error err;
    ts_store_server_opts so = {.listen_url = "tcp://127.0.0.1:0",
                               .queryable = &qb,
                               .shard_index = 1,
                               .shard_count = 2,
                               .batch_series = 3};
    T_OK(ts_store_server_start(&srv, &so, &err));
    ts_store_client *c;
    T_OK(ts_store_client_new(&c, ts_store_server_url(srv), NULL, &err));
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_store_info info;
    T_OK(ts_store_client_info(c, 5000, &a, &info, &err));
    T_EQ(info.shard_index, 1);
    T_EQ(info.shard_count, 2);
    /* the shard count changed at run time (--shard.count-file): Info says so */
    ts_store_server_set_shard(srv, 1, 3);
    T_OK(ts_store_client_info(c, 5000, &a, &info, &err));
    T_EQ(info.shard_index, 1);
    T_EQ(info.shard_count, 3);
    ts_store_server_set_shard(srv, 1, 2);
    ts_matcher *m;
    ts_matcher_new(&m, TS_MATCH_EQ, "__name__", "up", NULL);
    struct {
        uint64_t series, samples, query_max;
        int want_series;
        const char *msg;
    } cases[] = {
        {0, 0, 0, 10, NULL},
        {10, 1000, 0, 10, NULL},
        {9, 0, 0, -1, "exceeded series limit: limit 9 violated"},
        {0, 999, 0, -1, "exceeded samples limit: limit 999 violated"},
        {0, 0, 500, -1, "--query.max-samples=500"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t fetched = 0;
        ts_store_query_opts o = {.timeout_ms = 5000,
                                 .max_series = cases[i].series,
                                 .max_samples = cases[i].samples,
                                 .query_samples = &fetched,
                                 .query_max_samples = cases[i].query_max};
        ts_querier *q;
        T_OK(ts_store_client_querier(c, 0, 1000000, &o, &q));
        ts_series_set *ss;
        ts_error_clear(&err);
        int rc = q->ops->select(q, true, NULL, &m, 1, &ss, &err);
        int n = 0;
        if (rc == 0) {
            while (ts_ss_next(ss))
                n++;
            rc = ss->error.code;
            err = ss->error;
            ts_ss_free(ss);
        }
        if (cases[i].msg) {
            T_EQ(rc, TS_ELIMIT);
            T_TRUE(strstr(err.msg, cases[i].msg) != NULL);
        } else {
            T_OK(rc);
            T_EQ(n, cases[i].want_series);
            T_EQ(fetched, 1000);
        }
        ts_querier_close(q);
    }
    ts_matcher_free(m);
    ts_arena_fini(&a);
    ts_store_client_free(c);
    ts_store_server_stop(srv);
    ts_head_free(h);
}

T_MAIN({"bad_frames", test_bad_frames},
       {"unreachable_store_times_out", test_unreachable_store_times_out}, {"tls", test_tls},
       {"response_timeout", test_response_timeout},
       {"lost_connection_fails_at_once", test_lost_connection_fails_at_once},
       {"shard_info_and_limits", test_shard_info_and_limits})
