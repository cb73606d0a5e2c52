/*
 * The web configuration file: parsing and validation (strict, as
 * exporter-toolkit's yaml.UnmarshalStrict), and the basic-auth check with a
 * cache of successful bcrypt checks.  See webconfig.h.
 */
#include "pkg/web/webconfig.h"
#include "pkg/config/yaml.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <xxhash.h>

#define MAX_FILE (1u << 20)
#define CACHE_MAX 100

static int fail(ts_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ts_yaml_vfail(err, "", NULL, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* yaml.v2's strict error for a key the type does not have. */
static int
check_keys(const ts_ynode *map, const char *type, const char *const *allowed, ts_error *err)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ts_ynode *k = map->kids[i];
        bool ok = false;
        for (size_t j = 0; allowed[j] && !ok; j++)
            ok = k->type == TS_YNODE_SCALAR && strcmp(k->str, allowed[j]) == 0;
        if (!ok)
            return fail(err, TS_EPARSE,
                        "yaml: unmarshal errors:\n  line %d: field %s not found in type %s",
                        k->line, k->type == TS_YNODE_SCALAR ? k->str : "?", type);
    }
    return 0;
}

static int
want_map(const ts_ynode *n, ts_error *err)
{
    if (n->type != TS_YNODE_MAP)
        return fail(err, TS_EPARSE,
                    "yaml: unmarshal errors:\n  line %d: cannot unmarshal %s into map", n->line,
                    ts_ynode_kind(n));
    return 0;
}

static const char *
scalar(const ts_ynode *n)
{
    return n && n->type == TS_YNODE_SCALAR && !ts_ynode_is_null(n) ? n->str : NULL;
}

/* A path from the file, joined to the config file's directory when relative. */
static char *
resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir[0])
        return ts_strdup(p);
    size_t nd = strlen(dir), np = strlen(p);
    char *s = ts_malloc(nd + np + 2);
    memcpy(s, dir, nd);
    s[nd] = '/';
    memcpy(s + nd + 1, p, np + 1);
    return s;
}

static int
tls_version(const char *s, int *out, ts_error *err)
{
    static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = 10 + i;
            return 0;
        }
    return fail(err, TS_EINVAL, "unknown TLS version: %s", s);
}

/* golang.org/x/crypto/bcrypt's Cost() checks, with its messages. */
static int
check_hash(const char *h, ts_error *err)
{
    size_t n = strlen(h);
    if (n < 59)
        return fail(err, TS_EINVAL,
                    "crypto/bcrypt: hashedSecret too short to be a bcrypted password");
    if (h[0] != '$')
        return fail(err, TS_EINVAL,
                    "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started "
                    "with '%c'",
                    h[0]);
    size_t vlen = h[2] == '$' ? 3 : 4; /* "$2$" or "$2a$" */
    if (h[1] > '2')
        return fail(err, TS_EINVAL,
                    "crypto/bcrypt: bcrypt algorithm version '%c' requested is newer than current "
                    "version '2'",
                    h[1]);
    if (vlen == 4 && h[3] != '$')
        return fail(err, TS_EINVAL,
                    "crypto/bcrypt: hashedSecret too short to be a bcrypted password");
    const char *c = h + vlen;
    if (c[0] < '0' || c[0] > '9' || c[1] < '0' || c[1] > '9')
        return fail(err, TS_EINVAL, "strconv.Atoi: parsing \"%.2s\": invalid syntax", c);
    int cost = (c[0] - '0') * 10 + (c[1] - '0');
    if (cost < 4 || cost > 31)
        return fail(err, TS_EINVAL, "crypto/bcrypt: cost %d is outside allowed range (4,31)", cost);
    return 0;
}

static const char *const header_names[] = {"Strict-Transport-Security", "X-Content-Type-Options",
                                           "X-Frame-Options",           "X-XSS-Protection",
                                           "Content-Security-Policy",   NULL};

static int
check_header(const char *k, const char *v, ts_error *err)
{
    int i = 0;
    while (header_names[i] && strcmp(header_names[i], k) != 0)
        i++;
    if (!header_names[i])
        return fail(err, TS_EINVAL, "HTTP header \"%s\" can not be configured", k);
    if (i == 1 && strcmp(v, "nosniff") != 0)
        return fail(err, TS_EINVAL,
                    "invalid value for %s. Expected one of: [\"nosniff\"], but got: \"%s\"", k, v);
    if (i == 2 && strcmp(v, "deny") != 0 && strcmp(v, "sameorigin") != 0)
        return fail(err, TS_EINVAL,
                    "invalid value for %s. Expected one of: [\"deny\" \"sameorigin\"], but got: "
                    "\"%s\"",
                    k, v);
    return 0;
}

/* Go's crypto/tls suite names (tls.CipherSuites and InsecureCipherSuites) and OpenSSL's names
 * for them; TLS 1.3 suites are accepted and, as in Go, not configurable (NULL). */
static const char *const cipher_names[][2] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", NULL},
    {"TLS_AES_256_GCM_SHA384", NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL},
};

/* cipher_suites: Go's names, translated into an OpenSSL cipher list. */
static int
parse_ciphers(ts_web_config *c, const ts_ynode *cs, ts_error *err)
{
    if (!cs || ts_ynode_is_null(cs))
        return 0;
    if (cs->type != TS_YNODE_SEQ)
        return fail(err, TS_EPARSE,
                    "yaml: unmarshal errors:\n  line %d: cannot unmarshal %s into []web.Cipher",
                    cs->line, ts_ynode_kind(cs));
    ts_buf b;
    ts_buf_init(&b, 0);
    for (size_t i = 0; i < cs->n; i++) {
        const char *name = scalar(cs->kids[i]);
        size_t j = 0, nn = sizeof cipher_names / sizeof cipher_names[0];
        while (j < nn && (!name || strcmp(cipher_names[j][0], name) != 0))
            j++;
        if (j == nn) {
            ts_buf_fini(&b);
            return fail(err, TS_EINVAL, "unknown cipher: %s", name ? name : "");
        }
        if (!cipher_names[j][1])
            continue;
        if (b.len)
            ts_buf_putc(&b, ':');
        ts_buf_puts(&b, cipher_names[j][1]);
    }
    if (b.len)
        c->ciphers = ts_strdup(ts_buf_cstr(&b));
    ts_buf_fini(&b);
    return 0;
}

/* curve_preferences: Go's curve names as an OpenSSL groups list. */
static int
parse_curves(ts_web_config *c, const ts_ynode *cp, ts_error *err)
{
    static const char *const names[][2] = {{"CurveP256", "P-256"},
                                           {"CurveP384", "P-384"},
                                           {"CurveP521", "P-521"},
                                           {"X25519", "X25519"}};
    if (!cp || ts_ynode_is_null(cp))
        return 0;
    if (cp->type != TS_YNODE_SEQ)
        return fail(err, TS_EPARSE,
                    "yaml: unmarshal errors:\n  line %d: cannot unmarshal %s into []web.Curve",
                    cp->line, ts_ynode_kind(cp));
    ts_buf b;
    ts_buf_init(&b, 0);
    for (size_t i = 0; i < cp->n; i++) {
        const char *name = scalar(cp->kids[i]);
        size_t j = 0;
        while (j < 4 && (!name || strcmp(names[j][0], name) != 0))
            j++;
        if (j == 4) {
            ts_buf_fini(&b);
            return fail(err, TS_EINVAL, "unknown curve: %s", name ? name : "");
        }
        if (b.len)
            ts_buf_putc(&b, ':');
        ts_buf_puts(&b, names[j][1]);
    }
    if (b.len)
        c->groups = ts_strdup(ts_buf_cstr(&b));
    ts_buf_fini(&b);
    return 0;
}

static int
parse_tls(ts_web_config *c, const ts_ynode *t, const char *dir, ts_error *err)
{
    static const char *const keys[] = {"cert_file",
                                       "key_file",
                                       "client_auth_type",
                                       "client_ca_file",
                                       "min_version",
                                       "max_version",
                                       "cipher_suites",
                                       "curve_preferences",
                                       "prefer_server_cipher_suites",
                                       NULL};
    int rc;
    if ((rc = want_map(t, err)) || (rc = check_keys(t, "web.TLSConfig", keys, err)))
        return rc;
    const char *cert = scalar(ts_ynode_get(t, "cert_file"));
    const char *key = scalar(ts_ynode_get(t, "key_file"));
    const char *auth = scalar(ts_ynode_get(t, "client_auth_type"));
    const char *ca = scalar(ts_ynode_get(t, "client_ca_file"));
    c->min_version = 12;
    c->max_version = 13;
    const char *v;
    if ((v = scalar(ts_ynode_get(t, "min_version"))) && (rc = tls_version(v, &c->min_version, err)))
        return rc;
    if ((v = scalar(ts_ynode_get(t, "max_version"))) && (rc = tls_version(v, &c->max_version, err)))
        return rc;
    if (!cert && !key && !auth && !ca)
        return 0; /* no TLS (Go: tls_server_config without files is plain HTTP) */
    if (!cert)
        return fail(err, TS_EINVAL, "missing cert_file");
    if (!key)
        return fail(err, TS_EINVAL, "missing key_file");
    c->tls = true;
    c->cert_file = resolve(dir, cert);
    c->key_file = resolve(dir, key);
    size_t n;
    if (ts_fs_read_file(c->cert_file, MAX_FILE, &c->cert_pem, &n) != 0)
        return fail(err, TS_EINVAL, "failed to load X509KeyPair: open %s: %s", c->cert_file,
                    strerror(errno));
    if (ts_fs_read_file(c->key_file, MAX_FILE, &c->key_pem, &n) != 0)
        return fail(err, TS_EINVAL, "failed to load X509KeyPair: open %s: %s", c->key_file,
                    strerror(errno));
    if (!strstr(c->cert_pem, "-----BEGIN CERTIFICATE-----"))
        return fail(err, TS_EINVAL,
                    "failed to load X509KeyPair: tls: failed to find any PEM data in certificate "
                    "input");
    if (!strstr(c->key_pem, "PRIVATE KEY-----"))
        return fail(err, TS_EINVAL,
                    "failed to load X509KeyPair: tls: failed to find any PEM data in key input");
    if (ca) {
        c->ca_file = resolve(dir, ca);
        char *pem = NULL;
        if (ts_fs_read_file(c->ca_file, MAX_FILE, &pem, &n) != 0)
            return fail(err, TS_EINVAL, "open %s: %s", c->ca_file, strerror(errno));
        ts_free(pem);
    }
    if (!auth || !auth[0] || strcmp(auth, "NoClientCert") == 0)
        c->client_auth = TS_WEB_CLIENT_NONE;
    else if (strcmp(auth, "RequestClientCert") == 0)
        c->client_auth = TS_WEB_CLIENT_REQUEST;
    else if (strcmp(auth, "RequireAndVerifyClientCert") == 0)
        c->client_auth = TS_WEB_CLIENT_REQUIRED;
    else if (strcmp(auth, "RequireAnyClientCert") == 0 || strcmp(auth, "RequireClientCert") == 0)
        c->client_auth = TS_WEB_CLIENT_REQUIRE_ANY; /* the second: exporter-toolkit's old name */
    else if (strcmp(auth, "VerifyClientCertIfGiven") == 0)
        c->client_auth = TS_WEB_CLIENT_VERIFY_IF_GIVEN;
    else
        return fail(err, TS_EINVAL, "Invalid ClientAuth: %s", auth);
    if (ca && c->client_auth == TS_WEB_CLIENT_NONE)
        return fail(err, TS_EINVAL,
                    "Client CA's have been configured without a Client Auth Policy");
    if (c->client_auth == TS_WEB_CLIENT_REQUIRED && !ca)
        return fail(err, TS_EINVAL,
                    "client_auth_type RequireAndVerifyClientCert needs client_ca_file");
    if ((rc = parse_ciphers(c, ts_ynode_get(t, "cipher_suites"), err)) ||
        (rc = parse_curves(c, ts_ynode_get(t, "curve_preferences"), err)))
        return rc;
    const char *pref = scalar(ts_ynode_get(t, "prefer_server_cipher_suites"));
    if (pref && strcmp(pref, "true") != 0 && strcmp(pref, "false") != 0)
        return fail(err, TS_EPARSE,
                    "yaml: unmarshal errors:\n  cannot unmarshal !!str `%s` into bool", pref);
    c->prefer_server_ciphers = !pref || strcmp(pref, "true") == 0;
    if (c->min_version > c->max_version)
        return fail(err, TS_EINVAL, "min_version is above max_version");
    return 0;
}

static int
parse(ts_web_config *c, const ts_ynode *root, const char *dir, ts_error *err)
{
    static const char *const keys[] = {"tls_server_config", "http_server_config",
                                       "basic_auth_users", NULL};
    int rc;
    if ((rc = want_map(root, err)) || (rc = check_keys(root, "web.Config", keys, err)))
        return rc;
    const ts_ynode *t = ts_ynode_get(root, "tls_server_config");
    if (t && !ts_ynode_is_null(t) && (rc = parse_tls(c, t, dir, err)))
        return rc;
    const ts_ynode *h = ts_ynode_get(root, "http_server_config");
    if (h && !ts_ynode_is_null(h)) {
        static const char *const hkeys[] = {"http2", "headers", NULL};
        if ((rc = want_map(h, err)) || (rc = check_keys(h, "web.HTTPConfig", hkeys, err)))
            return rc;
        const ts_ynode *hd = ts_ynode_get(h, "headers");
        if (hd && !ts_ynode_is_null(hd)) {
            if ((rc = want_map(hd, err)))
                return rc;
            c->headers = ts_calloc(hd->n + 1, sizeof *c->headers);
            for (size_t i = 0; i + 1 < hd->n; i += 2) {
                const char *k = scalar(hd->kids[i]), *v = scalar(hd->kids[i + 1]);
                if (!v)
                    v = "";
                if ((rc = check_header(k ? k : "", v, err)))
                    return rc;
                c->headers[2 * c->nheaders] = ts_strdup(k);
                c->headers[2 * c->nheaders + 1] = ts_strdup(v);
                c->nheaders++;
            }
        }
    }
    const ts_ynode *u = ts_ynode_get(root, "basic_auth_users");
    if (u && !ts_ynode_is_null(u)) {
        if ((rc = want_map(u, err)))
            return rc;
        c->users = ts_calloc(u->n / 2 + 1, sizeof *c->users);
        for (size_t i = 0; i + 1 < u->n; i += 2) {
            const char *name = scalar(u->kids[i]), *hash = scalar(u->kids[i + 1]);
            if (!hash)
                hash = "";
            if ((rc = check_hash(hash, err)))
                return rc;
            c->users[c->nusers].name = ts_strdup(name ? name : "");
            c->users[c->nusers].hash = ts_strdup(hash);
            c->nusers++;
        }
    }
    return 0;
}

int
ts_web_config_load(const char *path, ts_web_config **out, ts_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    if (ts_fs_read_file(path, MAX_FILE, &text, &len) != 0)
        return fail(err, -errno, "open %s: %s", path, strerror(errno));
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_ynode *root = NULL;
    ts_web_config *c = ts_calloc(1, sizeof *c);
    c->min_version = 12;
    c->max_version = 13;
    int rc = ts_yaml_load(text, len, &a, &root, err);
    if (rc == 0 && root) {
        char *dir = ts_strdup(path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
        rc = parse(c, root, dir, err);
        ts_free(dir);
    }
    ts_arena_fini(&a);
    ts_free(text);
    if (rc != 0) {
        ts_web_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
ts_web_config_free(ts_web_config *c)
{
    if (!c)
        return;
    ts_free(c->cert_pem);
    ts_free(c->key_pem);
    ts_free(c->cert_file);
    ts_free(c->key_file);
    ts_free(c->ca_file);
    ts_free(c->ciphers);
    ts_free(c->groups);
    for (size_t i = 0; i < c->nusers; i++) {
        ts_free(c->users[i].name);
        ts_free(c->users[i].hash);
    }
    ts_free(c->users);
    for (size_t i = 0; i < 2 * c->nheaders; i++)
        ts_free(c->headers[i]);
    ts_free(c->headers);
    ts_free(c);
}

/* ---- basic auth */

typedef struct centry {
    XXH128_hash_t key;
    char hash[80]; /* the bcrypt hash the password was checked against */
} centry;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bcrypt_mu = PTHREAD_MUTEX_INITIALIZER; /* one bcrypt at a time, as ET */
static centry cache[CACHE_MAX];
static size_t ncache;
static uint64_t seed;

static bool
ct_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static XXH128_hash_t
cache_key(const char *user, const char *pass, size_t plen)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        abort();
    XXH3_128bits_reset_withSeed(st, seed);
    XXH3_128bits_update(st, user, strlen(user) + 1);
    XXH3_128bits_update(st, pass, plen);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static int
b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

bool
ts_web_config_check_auth(const ts_web_config *c, const char *authz)
{
    if (!c || c->nusers == 0)
        return true;
    if (!authz || strncasecmp(authz, "Basic ", 6) != 0)
        return false;
    const char *s = authz + 6;
    size_t n = strlen(s);
    if (n > 4096)
        return false;
    char dec[3072 + 4];
    size_t dn = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[dn++] = (char)((acc >> bits) & 0xff);
        }
    }
    dec[dn] = '\0';
    char *colon = memchr(dec, ':', dn);
    if (!colon)
        return false;
    *colon = '\0';
    const char *user = dec, *pass = colon + 1;
    size_t plen = dn - (size_t)(pass - dec);
    const char *hash = NULL;
    for (size_t i = 0; i < c->nusers; i++)
        if (strcmp(c->users[i].name, user) == 0)
            hash = c->users[i].hash;
    /* an unknown user still pays one bcrypt (against a fixed hash), so timing does not tell
     * which users exist */
    static const char dummy[] = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    bool known = hash != NULL;
    if (!hash)
        hash = dummy;
    pthread_mutex_lock(&cache_mu);
    if (seed == 0 && getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15u;
    XXH128_hash_t key = cache_key(user, pass, plen);
    bool hit = false;
    for (size_t i = 0; i < ncache && !hit; i++)
        hit = XXH128_isEqual(cache[i].key, key) && ct_equal(cache[i].hash, hash);
    pthread_mutex_unlock(&cache_mu);
    if (hit)
        return known;
    if (memchr(pass, '\0', plen))
        return false; /* crypt cannot see past a NUL */
    struct crypt_data *cd = ts_calloc(1, sizeof *cd);
    pthread_mutex_lock(&bcrypt_mu);
    char *out = crypt_rn(pass, hash, cd, (int)sizeof *cd);
    pthread_mutex_unlock(&bcrypt_mu);
    bool ok = out && out[0] != '*' && ct_equal(out, hash) && known;
    ts_free(cd);
    if (ok && strlen(hash) < sizeof cache[0].hash) {
        pthread_mutex_lock(&cache_mu);
        size_t slot = ncache < CACHE_MAX ? ncache++ : (size_t)(key.low64 % CACHE_MAX);
        cache[slot].key = key;
        memcpy(cache[slot].hash, hash, strlen(hash) + 1); /* fits: checked above */
        pthread_mutex_unlock(&cache_mu);
    }
    return ok;
}
