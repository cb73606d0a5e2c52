/*
 * TLS for the web listeners, with OpenSSL (a maintained TLS library; never
 * our own TLS).  server.c owns the sockets and the event loop; this file
 * turns a web configuration's tls_server_config into an SSL_CTX and moves
 * bytes between a connection's socket and its TLS session through memory
 * BIOs, so the loop never blocks on OpenSSL.
 *
 *   ts__tls_ctx *ctx;  ts__tls_ctx_new(&ctx, webconfig, &err);      // once per config/cert change
 *   ts__tls_conn *t = ts__tls_conn_new(ctx);                        // per accepted connection
 *   ts__tls_feed(t, bytes_from_socket, n);                          // ciphertext in
 *   ts__tls_read(t, out, cap, &got)                                 // plaintext out (handshakes
 * too) ts__tls_write(t, plaintext, n);                                 // plaintext in
 *   ts__tls_pending(t, &buf, &n)                                    // ciphertext to send (heap;
 * caller frees)
 *
 * Mapping of exporter-toolkit's tls_server_config (as Go's crypto/tls does it):
 *  - cert_file/key_file: the certificate chain and its key, read from the
 *    files each time a context is made (server.c makes a new one when the
 *    config or either file changes);
 *  - client_auth_type: NoClientCert (no request), RequestClientCert (asked,
 *    not required, not verified), RequireAnyClientCert (required, not
 *    verified), VerifyClientCertIfGiven (verified when sent),
 *    RequireAndVerifyClientCert (required and verified); client_ca_file is
 *    the trust store and the list of CAs announced to clients;
 *  - min_version/max_version: the protocol range (TLS 1.0/1.1 also need
 *    OpenSSL's security level 0, which is set only when they are allowed);
 *  - cipher_suites: Go's names mapped to OpenSSL's for TLS 1.2 and below;
 *    like Go, the list does not change TLS 1.3's suites;
 *  - prefer_server_cipher_suites: SSL_OP_CIPHER_SERVER_PREFERENCE;
 *  - curve_preferences: the key exchange groups (X25519, P-256/384/521).
 *
 * Thread-safety: a ts__tls_ctx is immutable once made and refcounted (a
 * connection holds its SSL_CTX); a ts__tls_conn belongs to one thread.
 */
#ifndef TS_WEB_TLS_H
#define TS_WEB_TLS_H

#include <stddef.h>

#include "pkg/util/err.h"
#include "pkg/web/webconfig.h"

typedef struct ts__tls_ctx ts__tls_ctx;
typedef struct ts__tls_conn ts__tls_conn;

/* Makes a server context from c (c->tls must be true).  Errors: TS_EINVAL
 * with the reason in err (unreadable certificate or key, bad CA file, no
 * usable cipher).  Free with ts__tls_ctx_free. */
int ts__tls_ctx_new(ts__tls_ctx **out, const ts_web_config *c, ts_error *err);
void ts__tls_ctx_free(ts__tls_ctx *ctx);

/* A server-side session on ctx (which it keeps a reference to). */
ts__tls_conn *ts__tls_conn_new(ts__tls_ctx *ctx);
void ts__tls_conn_free(ts__tls_conn *t);

/* Hands ciphertext read from the socket to the session. */
void ts__tls_feed(ts__tls_conn *t, const void *p, size_t n);

/* Advances the handshake and decrypts what it can into out[0, cap):
 * returns 0 (with *got bytes, maybe 0: need more input), 1 at the peer's
 * close_notify, or -1 when the session failed (bad handshake: the reason
 * is in why, NUL-terminated, at most whylen bytes). */
int ts__tls_read(ts__tls_conn *t, void *out, size_t cap, size_t *got, char *why, size_t whylen);

/* Encrypts plaintext (the whole of it; memory BIOs never block). */
int ts__tls_write(ts__tls_conn *t, const void *p, size_t n);

/* Takes the ciphertext waiting to be sent: *buf (heap, caller frees with
 * ts_free) and *n, or *buf NULL when there is none. */
void ts__tls_pending(ts__tls_conn *t, char **buf, size_t *n);

#endif
