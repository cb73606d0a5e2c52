/*
 * TLS sessions over memory BIOs (OpenSSL).  See tls.h for the mapping of the
 * web configuration onto OpenSSL.
 *
 * A session's read BIO holds ciphertext the socket delivered and its write
 * BIO what OpenSSL wants sent (handshake messages, alerts, records); the
 * server moves bytes in with ts__tls_feed and out with ts__tls_pending.
 * SSL_read drives the handshake itself, so the server calls ts__tls_read
 * after each feed whatever the state.
 */
#include "pkg/web/tls.h"
#include "pkg/util/mem.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct ts__tls_ctx {
    SSL_CTX *ssl;
};

struct ts__tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
};

/* RequestClientCert and RequireAnyClientCert ask for a certificate but do not
 * check it (Go's crypto/tls does the same). */
static int
accept_any(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    (void)x;
    return 1;
}

static int
ossl_fail(ts_error *err, const char *what, const char *file)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e ? e : 0, buf, sizeof buf);
    ERR_clear_error();
    return ts_error_set(err, TS_EINVAL, "%s %s: %s", what, file ? file : "", e ? buf : "failed");
}

static int
proto_version(int v)
{
    return v == 10   ? TLS1_VERSION
           : v == 11 ? TLS1_1_VERSION
           : v == 12 ? TLS1_2_VERSION
                     : TLS1_3_VERSION;
}

int
ts__tls_ctx_new(ts__tls_ctx **out, const ts_web_config *c, ts_error *err)
{
    *out = NULL;
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (!ssl)
        return ossl_fail(err, "tls", "context");
    int rc = 0;
    if (SSL_CTX_use_certificate_chain_file(ssl, c->cert_file) != 1) {
        rc = ossl_fail(err, "failed to load X509KeyPair: certificate", c->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, c->key_file, SSL_FILETYPE_PEM) != 1) {
        rc = ossl_fail(err, "failed to load X509KeyPair: key", c->key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        rc = ossl_fail(err, "failed to load X509KeyPair: key does not match", c->cert_file);
        goto fail;
    }
    if (c->ca_file) {
        if (SSL_CTX_load_verify_locations(ssl, c->ca_file, NULL) != 1) {
            rc = ossl_fail(err, "client_ca_file", c->ca_file);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ssl, names); /* takes ownership */
    }
    switch (c->client_auth) {
    case TS_WEB_CLIENT_REQUEST: SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, accept_any); break;
    case TS_WEB_CLIENT_REQUIRE_ANY:
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
        break;
    case TS_WEB_CLIENT_VERIFY_IF_GIVEN: SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL); break;
    case TS_WEB_CLIENT_REQUIRED:
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    default: SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    }
    if (c->min_version < 12)
        SSL_CTX_set_security_level(ssl, 0); /* OpenSSL 3 refuses TLS 1.0/1.1 above level 0 */
    SSL_CTX_set_min_proto_version(ssl, proto_version(c->min_version));
    SSL_CTX_set_max_proto_version(ssl, proto_version(c->max_version));
    if (c->ciphers && SSL_CTX_set_cipher_list(ssl, c->ciphers) != 1) {
        rc = ossl_fail(err, "cipher_suites", c->ciphers);
        goto fail;
    }
    if (c->prefer_server_ciphers)
        SSL_CTX_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (c->groups && SSL_CTX_set1_groups_list(ssl, c->groups) != 1) {
        rc = ossl_fail(err, "curve_preferences", c->groups);
        goto fail;
    }
    /* Session resumption across connections is not needed (dashboards keep connections
     * alive); no session cache means no shared mutable state. */
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl, 0);
    SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    ts__tls_ctx *t = ts_calloc(1, sizeof *t);
    t->ssl = ssl;
    *out = t;
    return 0;
fail:
    SSL_CTX_free(ssl);
    return rc;
}

void
ts__tls_ctx_free(ts__tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl); /* sessions made from it hold their own references */
    ts_free(ctx);
}

ts__tls_conn *
ts__tls_conn_new(ts__tls_ctx *ctx)
{
    SSL *ssl = SSL_new(ctx->ssl);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    if (!ssl || !r || !w) {
        SSL_free(ssl);
        BIO_free(r);
        BIO_free(w);
        return NULL;
    }
    BIO_set_mem_eof_return(r, -1); /* empty means "wait", not end of stream */
    SSL_set_bio(ssl, r, w);
    SSL_set_accept_state(ssl);
    ts__tls_conn *t = ts_calloc(1, sizeof *t);
    t->ssl = ssl;
    t->rbio = r;
    t->wbio = w;
    return t;
}

void
ts__tls_conn_free(ts__tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    ts_free(t);
}

void
ts__tls_feed(ts__tls_conn *t, const void *p, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0)
            return; /* a memory BIO only fails when out of memory */
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

int
ts__tls_read(ts__tls_conn *t, void *out, size_t cap, size_t *got, char *why, size_t whylen)
{
    *got = 0;
    if (why && whylen)
        why[0] = '\0';
    while (*got < cap) {
        size_t n = 0;
        ERR_clear_error();
        int r = SSL_read_ex(t->ssl, (char *)out + *got, cap - *got, &n);
        if (r == 1) {
            *got += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
            return *got ? 0 : 1;
        if (why && whylen) {
            unsigned long le = ERR_peek_error();
            if (le)
                ERR_error_string_n(le, why, whylen);
            else
                snprintf(why, whylen, "TLS error %d", e);
        }
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int
ts__tls_write(ts__tls_conn *t, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    size_t done = 0;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, p, n, &done) != 1 || done != n) {
        ERR_clear_error();
        return TS_EIO;
    }
    return 0;
}

void
ts__tls_pending(ts__tls_conn *t, char **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    size_t avail = BIO_ctrl_pending(t->wbio);
    if (avail == 0)
        return;
    char *b = ts_malloc(avail);
    int r = BIO_read(t->wbio, b, (int)avail);
    if (r <= 0) {
        ts_free(b);
        return;
    }
    *buf = b;
    *n = (size_t)r;
}
