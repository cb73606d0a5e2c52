/*
 * TLS of the store API: nng_tls_config objects built from the flags' files.
 *
 * Mutual TLS follows Thanos' gRPC server and client: the server presents its
 * certificate and, given a client CA, requires a client certificate signed by
 * it (the handshake fails otherwise, so such a client never gets a
 * connection); the client verifies the server against its CA when it has one,
 * and presents its own certificate when it has one.
 *
 * Certificates and keys come as separate PEM files (as Prometheus'
 * cert_file/key_file and Thanos' flags); nng wants them as two strings, so
 * they are read here (bounded: a certificate file is not megabytes).
 *
 * Server name: with a CA, the client checks the name in the server's
 * certificate: --store.tls-server-name when given, otherwise the URL's host
 * when it is a DNS name (as Go's crypto/tls does).  mbedTLS 2.28 matches names
 * against the CN and DNS SANs only, never IP SANs, so a store addressed by IP
 * is checked for its chain only, unless a server name is given.
 *
 * Why a handshake failed: nng maps every mbedTLS failure a client meets
 * (certificate not verified, wrong name, the server's fatal alert when it
 * refuses our certificate) to NNG_ECRYPTO, and a background dialer only counts
 * it; nothing says which.  ts__store_tls_diagnose makes one handshake of its
 * own with OpenSSL under the same settings and reads the reason from it: the
 * verification result (OpenSSL's words: "unable to get local issuer
 * certificate", "hostname mismatch", "certificate has expired"), or the alert
 * the server sent.  TLS 1.2 at most, as nng's mbedTLS 2.28: in TLS 1.2 the
 * server's verdict on our certificate comes before the handshake ends, so a
 * refused certificate fails the handshake here too.  mbedTLS sends no alert
 * when a required client certificate is missing, it just closes: that case
 * reads "closed by the store" plus what we presented (nothing).
 */
#include "pkg/store/tls.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PEM_MAX (1 << 20)

static int
own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file, ts_error *err)
{
    char *cert = NULL, *key = NULL;
    int rc = ts_fs_read_file(cert_file, PEM_MAX, &cert, NULL);
    if (rc != TS_OK)
        return ts_error_set(err, TS_EINVAL, "reading TLS certificate %s: %s", cert_file,
                            ts_strerror(rc));
    rc = ts_fs_read_file(key_file, PEM_MAX, &key, NULL);
    if (rc != TS_OK) {
        ts_free(cert);
        return ts_error_set(err, TS_EINVAL, "reading TLS key %s: %s", key_file, ts_strerror(rc));
    }
    int rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
    ts_free(cert);
    ts_free(key);
    if (rv)
        return ts_error_set(err, TS_EINVAL, "TLS certificate %s with key %s: %s", cert_file,
                            key_file, nng_strerror(rv));
    return TS_OK;
}

static int
ca(nng_tls_config *cfg, const char *ca_file, ts_error *err)
{
    /* nng reads the file itself; check first so a missing file says so
     * (nng would only say "Object not found" or "Cryptographic error") */
    char *pem = NULL;
    int rc = ts_fs_read_file(ca_file, PEM_MAX, &pem, NULL);
    if (rc != TS_OK)
        return ts_error_set(err, TS_EINVAL, "reading TLS CA %s: %s", ca_file, ts_strerror(rc));
    int rv = nng_tls_config_ca_chain(cfg, pem, NULL);
    ts_free(pem);
    if (rv)
        return ts_error_set(err, TS_EINVAL, "TLS CA %s: %s", ca_file, nng_strerror(rv));
    return TS_OK;
}

int
ts__store_tls_server(nng_tls_config **out, const char *cert_file, const char *key_file,
                     const char *client_ca_file, ts_error *err)
{
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
    if (rv)
        return ts_error_set(err, TS_EIO, "TLS: %s", nng_strerror(rv));
    int rc = own_cert(cfg, cert_file, key_file, err);
    if (rc == TS_OK && client_ca_file) {
        rc = ca(cfg, client_ca_file, err);
        if (rc == TS_OK && (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)))
            rc = ts_error_set(err, TS_EINVAL, "TLS client authentication: %s", nng_strerror(rv));
    }
    if (rc != TS_OK) {
        nng_tls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return TS_OK;
}

/* The host of tls+tcp://HOST:PORT when it is a DNS name, copied to buf;
 * false for an IP address (or no host). */
static bool
dns_host(const char *url, char *buf, size_t cap)
{
    const char *h = strstr(url, "://");
    if (!h)
        return false;
    h += 3;
    if (*h == '[') /* [v6]:port */
        return false;
    const char *colon = strrchr(h, ':');
    size_t n = colon ? (size_t)(colon - h) : strlen(h);
    if (n == 0 || n >= cap)
        return false;
    memcpy(buf, h, n);
    buf[n] = 0;
    unsigned char addr[16];
    return inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1;
}

int
ts__store_tls_client(nng_tls_config **out, const char *url, const ts_store_client_tls *tls,
                     ts_error *err)
{
    static const ts_store_client_tls none = {0};
    if (!tls)
        tls = &none;
    if (!tls->cert_file != !tls->key_file)
        return ts_error_set(err, TS_EINVAL,
                            "a TLS client certificate needs both a certificate and a key file");
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (rv)
        return ts_error_set(err, TS_EIO, "TLS: %s", nng_strerror(rv));
    int rc = TS_OK;
    if (tls->ca_file) {
        /* auth mode "required" is nng's default for a client */
        rc = ca(cfg, tls->ca_file, err);
        char host[256];
        const char *name = tls->server_name;
        if (!name && url && dns_host(url, host, sizeof(host)))
            name = host;
        if (rc == TS_OK && name && (rv = nng_tls_config_server_name(cfg, name)))
            rc = ts_error_set(err, TS_EINVAL, "TLS server name %s: %s", name, nng_strerror(rv));
    } else if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE))) {
        rc = ts_error_set(err, TS_EINVAL, "TLS: %s", nng_strerror(rv));
    }
    if (rc == TS_OK && tls->cert_file)
        rc = own_cert(cfg, tls->cert_file, tls->key_file, err);
    if (rc != TS_OK) {
        nng_tls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return TS_OK;
}

int
ts_store_client_tls_check(const ts_store_client_tls *tls, ts_error *err)
{
    nng_tls_config *cfg;
    int rc = ts__store_tls_client(&cfg, NULL, tls, err);
    if (rc == TS_OK)
        nng_tls_config_free(cfg);
    return rc;
}

/* Connects to host:port within timeout_ms; the socket (blocking, with send
 * and receive timeouts) or -1. */
static int
dial(const char *host, const char *port, int64_t timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int err = 0;
        socklen_t len = sizeof(err);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || poll(&p, 1, (int)timeout_ms) != 1 ||
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* The alert the server sent, kept by the info callback. */
typedef struct {
    char alert[64];
} diag_state;

static void
on_info(const SSL *ssl, int where, int ret)
{
    diag_state *d = SSL_get_app_data(ssl);
    /* SSL_CB_READ_ALERT and SSL_CB_WRITE_ALERT share the SSL_CB_ALERT bit:
     * test both bits, or an alert we send would count as the store's */
    if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ) && d && !d->alert[0])
        snprintf(d->alert, sizeof(d->alert), "%s", SSL_alert_desc_string_long(ret));
}

bool
ts__store_tls_diagnose(const char *url, const ts_store_client_tls *tls, int64_t timeout_ms,
                       char *why, size_t cap)
{
    static const ts_store_client_tls none = {0};
    if (!tls)
        tls = &none;
    /* host and port of tls+tcp://HOST:PORT or tls+tcp://[V6]:PORT */
    const char *h = strstr(url, "://");
    if (!h)
        return false;
    h += 3;
    char host[256];
    const char *colon;
    size_t n;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':')
            return false;
        n = (size_t)(close - h - 1);
        h++;
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        n = colon ? (size_t)(colon - h) : 0;
    }
    if (!colon || n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, h, n);
    host[n] = 0;
    char name_buf[256];
    const char *name = tls->server_name;
    if (!name && dns_host(url, name_buf, sizeof(name_buf)))
        name = name_buf;

    int fd = dial(host, colon + 1, timeout_ms);
    if (fd < 0)
        return false; /* not a TLS problem: the probe's own error says it */
    bool failed = false;
    diag_state d = {{0}};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    if (!ctx)
        goto out;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_info_callback(ctx, on_info);
    if (tls->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1)
            goto out;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (tls->cert_file && tls->key_file &&
        (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) != 1))
        goto out;
    ssl = SSL_new(ctx);
    if (!ssl)
        goto out;
    SSL_set_app_data(ssl, &d);
    if (name) {
        SSL_set_tlsext_host_name(ssl, name);
        if (tls->ca_file)
            X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), name, 0);
    }
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_connect(ssl) == 1)
        goto out; /* TLS is fine: the probe failed for another reason */
    failed = true;
    long vr = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_error();
    if (tls->ca_file && vr != X509_V_OK) {
        if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
            snprintf(why, cap,
                     "TLS handshake: certificate verify failed (hostname mismatch: the store's "
                     "certificate is not valid for %s)",
                     name);
        else
            snprintf(why, cap, "TLS handshake: certificate verify failed (%s)",
                     X509_verify_cert_error_string(vr));
    } else if (d.alert[0]) {
        snprintf(why, cap, "TLS handshake: refused by the store (alert: %s; %s)", d.alert,
                 tls->cert_file ? "it does not accept our client certificate"
                                : "no client certificate was presented");
    } else if (e && ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(why, cap, "TLS handshake: %s", buf);
    } else {
        snprintf(why, cap, "TLS handshake: closed by the store (%s)",
                 tls->cert_file ? "it may not accept our client certificate"
                                : "no client certificate was presented; it may require one");
    }
out:
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return failed;
}
