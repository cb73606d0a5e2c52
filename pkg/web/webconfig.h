/*
 * Prometheus' web configuration file (--web.config.file, exporter-toolkit
 * v0.8.2 as in Prometheus 2.42): TLS for the HTTP listener, basic auth users
 * with bcrypt hashes, and extra response headers.
 *
 *   ts_web_config *c;
 *   if (ts_web_config_load("web.yml", &c, &err) != 0) ...  // err: why
 *   if (c->tls) ...                                          // serve https
 *   ts_web_config_check_auth(c, "Basic dXNlcjpwYXNz")        // true: let in
 *   ts_web_config_free(c);
 *
 * Validation is what `promtool check web-config` does: strict keys, bcrypt
 * hashes well formed, header names and values allowed, TLS cert/key loadable
 * (the PEM files are read here; OpenSSL loads them when serving, tls.h),
 * cipher_suites and curve_preferences names known (Go's names, kept here
 * translated into OpenSSL's).
 *
 * bcrypt checks use libxcrypt's crypt_rn (never our own bcrypt).  A
 * successful check is cached (a seeded 128-bit xxHash of user and password,
 * plus the bcrypt hash it was checked against, so an edited hash never
 * matches an old entry), so a dashboard's many requests pay bcrypt once;
 * results are compared in constant time.  Thread-safe.
 */
#ifndef TS_WEB_WEBCONFIG_H
#define TS_WEB_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/util/err.h"

enum {
    TS_WEB_CLIENT_NONE,            /* NoClientCert */
    TS_WEB_CLIENT_REQUEST,         /* RequestClientCert: asked for, not required, not checked */
    TS_WEB_CLIENT_REQUIRED,        /* RequireAndVerifyClientCert */
    TS_WEB_CLIENT_REQUIRE_ANY,     /* RequireAnyClientCert: required, not checked */
    TS_WEB_CLIENT_VERIFY_IF_GIVEN, /* VerifyClientCertIfGiven */
};

typedef struct ts_web_user {
    char *name, *hash;
} ts_web_user;

typedef struct ts_web_config {
    bool tls;
    char *cert_pem, *key_pem;             /* file contents */
    char *cert_file, *key_file, *ca_file; /* resolved against the config file's directory */
    int client_auth;                      /* TS_WEB_CLIENT_* */
    int min_version, max_version;         /* 10..13 */
    char *ciphers; /* OpenSSL cipher list from cipher_suites (TLS <= 1.2); NULL: default */
    char *groups;  /* OpenSSL groups list from curve_preferences; NULL: default */
    bool
        prefer_server_ciphers; /* prefer_server_cipher_suites (default true, as exporter-toolkit) */
    ts_web_user *users;
    size_t nusers;
    char **headers;  /* name, value, name, value ... */
    size_t nheaders; /* pairs */
} ts_web_config;

/* Reads and validates path.  Errors: TS_EPARSE/TS_EINVAL/-errno, text in err
 * as promtool words it where we can ("missing key_file"). */
int ts_web_config_load(const char *path, ts_web_config **out, ts_error *err);
void ts_web_config_free(ts_web_config *c);

/* Whether an Authorization header value lets the request in (always true
 * without users). */
bool ts_web_config_check_auth(const ts_web_config *c, const char *authorization);

#endif
