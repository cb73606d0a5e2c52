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
 */
#include "pkg/store/tls.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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
