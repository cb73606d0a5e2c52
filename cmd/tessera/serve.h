/*
 * Wiring shared by the servers (`tessera shard`, `query`, `rule`): running
 * PromQL for the HTTP API, build and runtime info, the flags listing, process
 * metrics, signals, the compactor thread.  Thin glue: all logic lives in pkg/.
 */
#ifndef TS_CMD_SERVE_H
#define TS_CMD_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmd/tessera/flags.h"
#include "pkg/promql/engine/engine.h"
#include "pkg/query/endpoints.h"
#include "pkg/store/store.h"
#include "pkg/tsdb/db.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "pkg/util/metrics.h"
#include "pkg/web/api.h"

/* Runs one API query with the engine over qb and writes the result (or the
 * error, with Prometheus' error types) into out.  Counts it in stats. */
typedef struct ts_serve_query_stats {
    uint64_t queries_total, failures_total;
    ts_histogram duration; /* seconds */
} ts_serve_query_stats;

void ts_serve_query_stats_init(ts_serve_query_stats *st);
int ts_serve_run_query(ts_promql_engine *eng, ts_queryable *qb, const ts_web_api_query_params *p,
                       ts_web_api_query_out *out, ts_serve_query_stats *st);
void ts_serve_collect_query_stats(void *ctx, ts_metrics_writer *w);

/* "name", "value" pairs of all flags (for /api/v1/status/flags), in a or the heap. */
const char **ts_serve_flag_pairs(const ts_flag *flags, size_t n, size_t *nstrings);
/* /api/v1/status/buildinfo: "version" is the Prometheus API version implemented (what Grafana
 * reads), plus application "tessera", the component (ts_serve_component, set by main to the
 * subcommand's name) and Tessera's own version. */
#define TS_PROMETHEUS_API_VERSION "2.42.0"
extern const char *ts_serve_component;
ts_web_api_buildinfo ts_serve_buildinfo(void);

/* process_* metrics from /proc/self (CPU, RSS, start time, open fds). */
void ts_serve_collect_process(void *ctx, ts_metrics_writer *w);
int64_t ts_serve_start_time_ns(void);

/* Parses a --flag duration value, printing an error naming the flag. */
int ts_serve_duration_flag(const ts_flag *f, int64_t *ms);

/* Whether --enable-feature (f: repeatable, each a comma list, as Prometheus
 * takes it) names feature; logs it enabled, and warns of names not in known
 * (NULL-terminated), as component. */
bool ts_serve_feature(const ts_flag *f, const char *feature, const char *const *known,
                      const char *component);

/* --web.external-url and --web.route-prefix, as Prometheus computes them (pkg/web/console.h):
 * the external URL (from the hostname and the listen port when the flag is empty), its path
 * ("" or "/prefix") and the route prefix ("/" for none).  Heap strings. */
typedef struct ts_serve_web_urls {
    char *external_url, *external_path, *route_prefix;
} ts_serve_web_urls;

/* The flags' help texts (Prometheus' words). */
#define TS_SERVE_EXTERNAL_URL_HELP                                                                 \
    "The URL under which Tessera is externally reachable (for example, if it is served via a "     \
    "reverse proxy). Used for generating relative and absolute links back to it. If the URL has "  \
    "a path portion, it will be used to prefix all HTTP endpoints. If omitted, relevant URL "      \
    "components will be derived automatically."
#define TS_SERVE_ROUTE_PREFIX_HELP                                                                 \
    "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url."

/* The store API's MetaRequest (ts_store_server_opts.meta) for the kinds a rule manager
 * answers, RULES (param `type`) and ALERTS, with the JSON of its HTTP handlers (ctx: the
 * ts_rules_manager); any other kind is TS_EUNSUPPORTED.  Used by `tessera shard` and
 * `tessera rule`. */
int ts_serve_rules_meta(void *ctx, int kind, const char *const *params, size_t nparams,
                        ts_buf *json, ts_error *err);

/* Prints an error and returns 2 on a bad value. */
int ts_serve_web_urls_get(const char *external_url, const char *route_prefix, const char *listen,
                          const char *cmd, ts_serve_web_urls *out);
void ts_serve_web_urls_free(ts_serve_web_urls *u);

/* ---- Flag groups: the flags that several servers take alike, each written once.
 *
 * A group is a run of consecutive rows of a command's flag table.  The command
 * reserves the run in its enum (the group's first index, then
 * <FIRST>_LAST = <FIRST> + TS_SERVE_<GROUP>_NFLAGS - 1), writes the rows with
 * TS_SERVE_<GROUP>_FLAGS(<FIRST>) among its table's designated initializers, and
 * after parsing hands &flags[<FIRST>] to the group's function, which turns the
 * values into options.  A row's place in --help and /api/v1/status/flags is its
 * index, so where the command reserves the run is where the group's rows show. */

/* The store API server's TLS (Thanos' --grpc-server-tls-cert/-key/-client-ca, README
 * "Security"): `tessera shard` and `tessera rule`. */
#define TS_SERVE_STORE_SERVER_TLS_NFLAGS 3
#define TS_SERVE_STORE_SERVER_TLS_FLAGS(first)                                                     \
    [(first)] = {"store.tls-cert-file", TS_FLAG_STRING, "",                                        \
                 "TLS certificate for a tls+tcp:// store address."},                               \
    [(first) + 1] = {"store.tls-key-file", TS_FLAG_STRING, "",                                     \
                     "TLS key for a tls+tcp:// store address."},                                   \
    [(first) + 2] = {"store.tls-client-ca-file", TS_FLAG_STRING, "",                               \
                     "CA to verify the certificates of store API clients against (tls+tcp:// "     \
                     "store address); clients without one signed by it are refused. None: "        \
                     "clients are not verified."}
/* so's tls_cert_file, tls_key_file and tls_client_ca_file (NULL when unset; borrowed from the
 * flags). */
void ts_serve_store_server_tls(const ts_flag *group, ts_store_server_opts *so);

/* The store API client's TLS (Thanos' --grpc-client-tls-ca/-cert/-key, --grpc-client-server-name):
 * `tessera query` and `tessera rule`. */
#define TS_SERVE_STORE_CLIENT_TLS_NFLAGS 5
#define TS_SERVE_STORE_CLIENT_TLS_FLAGS(first)                                                     \
    [(first)] = {"store.tls-ca-file", TS_FLAG_STRING, "",                                          \
                 "CA to verify tls+tcp:// stores (none: not verified)."},                          \
    [(first) + 1] = {"store.tls-client-cert-file", TS_FLAG_STRING, "",                             \
                     "TLS client certificate presented to tls+tcp:// stores (for stores that "     \
                     "verify clients)."},                                                          \
    [(first) + 2] = {"store.tls-client-key-file", TS_FLAG_STRING, "",                              \
                     "TLS key of --store.tls-client-cert-file."},                                  \
    [(first) + 3] = {"store.tls-server-name", TS_FLAG_STRING, "",                                  \
                     "Name to verify in the certificates of tls+tcp:// stores (with "              \
                     "--store.tls-ca-file); none: the store's host name, or the chain only for "   \
                     "an IP address."},                                                            \
    [(first) + 4] = {"store.tls-secure", TS_FLAG_BOOL, "false",                                    \
                     "Dial stores given without a scheme (--store HOST:PORT, sd files, every "     \
                     "--store.sd-dns answer) over TLS, as tls+tcp://; a tcp:// URL stays plain."}
/* The client TLS the flags ask for, "" meaning unset.  The strings are borrowed from the flags. */
ts_store_client_tls ts_serve_store_client_tls(const ts_flag *group);
/* The stores to find (--store, --store.sd-files, --store.sd-dns; probed and re-read every
 * sd_interval_ms) and how to reach them (tls: the client TLS group): `tessera query` and
 * `tessera rule`.  Borrows from the flags. */
ts_query_endpoints_opts ts_serve_endpoints_opts(const ts_flag *store, const ts_flag *sd_files,
                                                const ts_flag *sd_dns, int64_t sd_interval_ms,
                                                const ts_flag *tls);

/* The web server's configuration file and limits (Prometheus' flags and defaults): every
 * server. */
#define TS_SERVE_WEB_SERVER_NFLAGS 3
#define TS_SERVE_WEB_SERVER_FLAGS(first)                                                           \
    [(first)] = {"web.config.file", TS_FLAG_STRING, "",                                            \
                 "[EXPERIMENTAL] Path to configuration file that can enable TLS or "               \
                 "authentication."},                                                               \
    [(first) + 1] = {"web.max-connections", TS_FLAG_STRING, "512",                                 \
                     "Maximum number of simultaneous connections."},                               \
    [(first) + 2] = {"web.read-timeout", TS_FLAG_STRING, "5m",                                     \
                     "Maximum duration before timing out read of the request, and closing idle "   \
                     "connections."}
/* wo's web_config_file, max_connections and read_timeout_ms.  Prints an error and returns 2 on a
 * bad value. */
int ts_serve_web_server(const ts_flag *group, ts_web_server_opts *wo);

/* The compactor thread of a server with its own TSDB (shard, ruler): calls
 * ts_db_compact every interval_ms (head blocks, block merges, retention),
 * logging failures under component.  Stop wakes it and joins it; stop on a
 * compactor that never started does nothing. */
typedef struct ts_serve_compactor {
    ts_db *db;
    const char *component;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stopping;
} ts_serve_compactor;
void ts_serve_compactor_start(ts_serve_compactor *c, ts_db *db, const char *component,
                              int64_t interval_ms);
void ts_serve_compactor_stop(ts_serve_compactor *c);

#endif
