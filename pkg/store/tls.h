/*
 * TLS configurations of the store API (internal to pkg/store): nng's TLS
 * (mbedTLS) set up from the PEM files the flags name, for the server and
 * the client alike.
 */
#ifndef TS_STORE_TLS_H
#define TS_STORE_TLS_H

#include "pkg/store/store.h"
#include "pkg/util/err.h"

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* A server configuration: own certificate and key, and when client_ca_file
 * is given, client certificates required and verified against it.  On
 * success *out is the caller's (nng_tls_config_free). */
int ts__store_tls_server(nng_tls_config **out, const char *cert_file, const char *key_file,
                         const char *client_ca_file, ts_error *err);

/* A client configuration for url (tls+tcp://HOST:PORT), from tls (NULL =
 * encryption only).  On success *out is the caller's. */
int ts__store_tls_client(nng_tls_config **out, const char *url, const ts_store_client_tls *tls,
                         ts_error *err);

/* See ts_store_client_tls_diagnose: the handshake with url's store under
 * tls's settings (NULL = none). */
bool ts__store_tls_diagnose(const char *url, const ts_store_client_tls *tls, int64_t timeout_ms,
                            char *why, size_t cap);

#endif
