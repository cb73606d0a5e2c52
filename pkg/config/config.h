/*
 * prometheus.yml: the Prometheus 2.42 configuration file, parsed with libyaml
 * into plain structs with Prometheus' defaults, and validated with its error
 * texts.  Every error carries the line (err->line) and its message starts
 * with the key path, e.g.
 *     scrape_configs[0]: field foo not found in type config.ScrapeConfig
 * so callers print "FILE:LINE: MESSAGE".
 *
 * Sections a shard does not use yet (remote_write, remote_read,
 * storage, tracing) are accepted and kept as raw YAML nodes so a user's file
 * loads unmodified; they are not validated further.
 *
 * A ts_config is immutable once loaded and freed with ts_config_free.  All
 * its strings live in its own arena.
 */
#ifndef TS_CONFIG_CONFIG_H
#define TS_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "pkg/config/yaml.h"
#include "pkg/labels/labels.h"
#include "pkg/relabel/relabel.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"

typedef struct ts_strlist {
    const char **v;
    size_t n;
} ts_strlist;

typedef struct ts_tls_config {
    const char *ca_file, *cert_file, *key_file, *server_name, *min_version;
    bool insecure_skip_verify;
} ts_tls_config;

typedef struct ts_http_config {
    const char *basic_auth_username, *basic_auth_password, *basic_auth_password_file;
    bool has_basic_auth;
    const char *auth_type; /* authorization.type, default "Bearer" when credentials set */
    const char *auth_credentials, *auth_credentials_file;
    bool has_authorization;
    ts_tls_config tls;
    const char *proxy_url;
    bool follow_redirects; /* default true */
    bool enable_http2;     /* default true */
} ts_http_config;

typedef struct ts_static_config {
    ts_strlist targets;
    ts_labels *labels; /* heap; freed with the config */
    int line;
} ts_static_config;

typedef struct ts_file_sd_config {
    ts_strlist files;
    int64_t refresh_interval_ms; /* default 5m */
} ts_file_sd_config;

typedef struct ts_dns_sd_config {
    ts_strlist names;
    const char *type; /* SRV (default), A, AAAA, MX */
    int port;
    int64_t refresh_interval_ms; /* default 30s */
} ts_dns_sd_config;

/* kubernetes_sd_configs entry (Prometheus discovery/kubernetes SDConfig). */
typedef struct ts_kubernetes_selector {
    const char *role, *label, *field; /* label/field "" when unset */
} ts_kubernetes_selector;

typedef struct ts_kubernetes_sd_config {
    const char *role;            /* node pod service endpoints endpointslice ingress */
    const char *api_server;      /* NULL: in-cluster (unless kubeconfig_file) */
    const char *kubeconfig_file; /* NULL or as written (relative to the config's dir) */
    ts_http_config http;         /* inline HTTP client options (used with api_server) */
    bool http_custom;            /* any HTTP option differs from the default */
    ts_strlist namespaces;       /* namespaces.names */
    bool own_namespace;          /* namespaces.own_namespace */
    ts_kubernetes_selector *selectors;
    size_t nselectors;
    bool attach_node; /* attach_metadata.node */
    int line;
} ts_kubernetes_sd_config;

typedef struct ts_param {
    const char *name;
    ts_strlist values;
} ts_param;

typedef struct ts_scrape_config {
    const char *job_name;
    int line; /* line of the list item */
    int64_t scrape_interval_ms, scrape_timeout_ms;
    const char *metrics_path; /* default /metrics */
    const char *scheme;       /* default http */
    ts_param *params;
    size_t nparams;
    bool honor_labels;     /* default false */
    bool honor_timestamps; /* default true */
    ts_http_config http;
    uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit,
        target_limit;
    int64_t body_size_limit; /* bytes, 0 = none */
    ts_static_config *static_configs;
    size_t nstatic;
    ts_file_sd_config *file_sd;
    size_t nfile_sd;
    ts_dns_sd_config *dns_sd;
    size_t ndns_sd;
    ts_kubernetes_sd_config *kubernetes_sd;
    size_t nkubernetes_sd;
    ts_relabel_config *relabel;
    size_t nrelabel;
    ts_relabel_config *metric_relabel;
    size_t nmetric_relabel;
} ts_scrape_config;

/* One entry of alerting.alertmanagers (Prometheus' AlertmanagerConfig).  Only
 * static_configs are used to find Alertmanagers; file/dns SD are accepted. */
typedef struct ts_alertmanager_config {
    const char *scheme;      /* default "http" */
    const char *path_prefix; /* default "" */
    int64_t timeout_ms;      /* default 10s */
    const char *api_version; /* default "v2" */
    ts_static_config *static_configs;
    size_t nstatic;
    ts_relabel_config *relabel; /* relabel_configs (heap array) */
    size_t nrelabel;
    ts_http_config http;
    int line;
} ts_alertmanager_config;

typedef struct ts_config {
    ts_arena arena;
    const char *path;               /* file it came from ("" for a string) */
    int64_t scrape_interval_ms;     /* global, default 1m */
    int64_t scrape_timeout_ms;      /* global, default 10s */
    int64_t evaluation_interval_ms; /* global, default 1m */
    ts_labels *external_labels;     /* heap; never NULL (may be empty) */
    const char *query_log_file;
    ts_strlist rule_files; /* as written (globs, resolved relative to the file's dir) */
    ts_scrape_config *scrape;
    size_t nscrape;
    const char *text; /* the original file contents, for /api/v1/status/config */
    /* alerting: (used by pkg/rules/notifier.c) */
    ts_alertmanager_config *alertmanagers;
    size_t nalertmanagers;
    ts_relabel_config *alert_relabel;
    size_t nalert_relabel;
} ts_config;

/* Parses YAML text.  path is used for relative rule_files/file_sd paths and
 * messages ("" if none).  On error returns TS_EPARSE/TS_EINVAL and fills err. */
int ts_config_parse(const char *text, size_t len, const char *path, ts_config **out, ts_error *err);
/* Reads and parses a file. */
int ts_config_load(const char *path, ts_config **out, ts_error *err);
/* A global ruler's file (tessera rule): prometheus.yml's format, of which
 * only global, rule_files and alerting may appear; any other top-level key
 * is an error naming it and its line. */
int ts_config_load_ruler(const char *path, ts_config **out, ts_error *err);

void ts_config_free(ts_config *c);

/* Environment variable expansion in external label values: Prometheus'
 * --enable-feature=expand-external-labels, used by the Helm chart so each
 * replica takes `replica: ${POD_NAME}` from its pod name.
 *
 * ts_config_expand_env expands "$NAME" and "${NAME}" in s with the rules of
 * Go's os.Expand (NAME is [A-Za-z0-9_]+, or one special character such as
 * "$1"; "${}" and an unclosed "${" are dropped; a lone "$" at the end or
 * before another character stays) and Prometheus' mapping: "$$" gives "$",
 * a variable that is unset or empty gives "" (*nempty is incremented when
 * nempty is not NULL).  The result lives in arena a.
 *
 * ts_config_expand_external_labels applies it to every value of
 * c->external_labels, after ts_config_parse/ts_config_load and before the
 * config is shared.  As in Prometheus a value that expands to "" is kept as
 * an empty value (no error); each empty variable is logged as a warning.
 * Returns the number of labels whose value changed. */
const char *ts_config_expand_env(ts_arena *a, const char *s, size_t *nempty);
size_t ts_config_expand_external_labels(ts_config *c);

/* The config text for /api/v1/status/config, with the values of secret
 * fields (passwords, credentials, bearer tokens, client secrets, inline keys)
 * replaced by "<secret>", as Prometheus never shows them.  Allocated in a. */
char *ts_config_masked_text(const ts_config *c, ts_arena *a);

/* Parses "10MB", "512KiB", "1GB" (Base2 units as Prometheus' units.Base2Bytes). */
int ts_config_parse_bytes(const char *s, int64_t *out, ts_error *err);

#endif
