/*
 * Service discovery: where scrape targets come from (Prometheus discovery/).
 *
 * A target group is what one source produces: a list of targets (each a
 * label set holding at least __address__), labels common to all of them,
 * and a source name that identifies the group within its job.  Three
 * mechanisms are implemented:
 *
 *   static_configs   one group per entry, source "<index>" as Prometheus
 *   file_sd_configs  JSON or YAML files, globs in the last path element,
 *                    re-read when the directory changes (uv_fs_event) and
 *                    every refresh_interval; group source "<file>:<index>",
 *                    label __meta_filepath.  A file that fails to read or
 *                    parse keeps its last good groups and logs an error.
 *   dns_sd_configs   A / AAAA (getaddrinfo), SRV and MX (res_query), looked up
 *                    on the libuv thread pool every refresh_interval; labels
 *                    __meta_dns_name, __meta_dns_srv_record_target,
 *                    __meta_dns_srv_record_port.  A failed lookup keeps the
 *                    previous result.
 *
 * The manager runs every provider of every job on one uv_loop_t and calls
 * back with the complete list of groups of a job whenever any of them
 * changes.  A job is first reported once each of its providers has produced
 * its first result, so a reload never reports a half-discovered job.
 *
 * Each file_sd, dns_sd and kubernetes_sd entry of a job (a "discoverer")
 * keeps its health: whether its last attempt failed, with what error, and
 * when it last failed and last worked; ts_discovery_manager_failures lists
 * the failing ones (/api/v1/targets' discoveryErrors).  Each change of state
 * is logged once ("Service discovery failing", "... failing with a different
 * error", "... works again"); single attempts only at debug level.
 *
 * Thread-safety: everything runs on the loop's thread; the manager must only
 * be used from it, except ts_discovery_manager_write_metrics and
 * ts_discovery_manager_failures (any thread).
 */
#ifndef TS_DISCOVERY_DISCOVERY_H
#define TS_DISCOVERY_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pkg/config/config.h"
#include "pkg/labels/labels.h"
#include "pkg/util/err.h"
#include "pkg/util/metrics.h"

/* ----------------------------------------------------------- target groups */

typedef struct ts_target_group {
    char *source;        /* heap */
    ts_labels **targets; /* heap label sets, each with __address__ */
    size_t ntargets;
    ts_labels *labels; /* heap; common labels (never NULL once filled) */
} ts_target_group;

/* Frees the contents (not g itself); accepts a zeroed group. */
void ts_target_group_fini(ts_target_group *g);
/* Frees an array of n groups and the array. */
void ts_target_groups_free(ts_target_group *gs, size_t n);
/* Deep copy into *dst. */
void ts_target_group_copy(ts_target_group *dst, const ts_target_group *src);

/* The group of static_configs[index] of a scrape config (source "<index>"). */
void ts_discovery_static_group(const ts_static_config *sc, size_t index, ts_target_group *out);

/* ----------------------------------------------------------------- file_sd */

/* Parses the contents of one file_sd file (JSON if path ends in .json, else
 * YAML): a list of {targets: [..], labels: {..}}.  Each group gets source
 * "<path>:<i>" and the label __meta_filepath=<path>.  A target holding '/'
 * is refused as Prometheus does, unless url_targets (store files, where a
 * target may be a URL such as tls+tcp://host:port).  On success *out is a
 * heap array of *n groups (free with ts_target_groups_free).  Bad content:
 * TS_EPARSE/TS_EINVAL with a message in err. */
int ts_discovery_file_parse(const char *path, const char *text, size_t len, bool url_targets,
                            ts_target_group **out, size_t *n, ts_error *err);

/* Expands one file_sd pattern (glob in the last element only, as Go's
 * filepath.Glob) into sorted heap paths; *out freed by the caller with
 * ts_free on each and on the array.  No match is not an error (n = 0). */
int ts_discovery_file_glob(const char *pattern, char ***out, size_t *n);

/* ------------------------------------------------------------------ dns_sd */

/* Looks name up synchronously (blocking: call it off the loop).  type is
 * "A", "AAAA", "SRV" or "MX", or "A+AAAA" (both address families, as
 * Thanos' dns+ store addresses); port is used for all but SRV.  On success fills *out with
 * one group (source = name).  TS_ENOTFOUND when the name does not resolve,
 * TS_EUNSUPPORTED for other types. */
int ts_discovery_dns_lookup(const char *name, const char *type, int port, ts_target_group *out,
                            ts_error *err);

/* Same, but SRV queries go to the given IPv4 DNS server (tests run one on
 * loopback); server_ip NULL = the system resolver.  A/AAAA always use
 * getaddrinfo. */
int ts_discovery_dns_lookup_at(const char *server_ip, int server_port, const char *name,
                               const char *type, int port, ts_target_group *out, ts_error *err);

/* ----------------------------------------------------------------- manager */

typedef struct ts_discovery_manager ts_discovery_manager;

/* Called on the loop thread with every group of the job (borrowed, valid for
 * the call).  n = 0 means the job has no targets (or was removed). */
typedef void (*ts_discovery_update_fn)(void *ctx, const char *job, const ts_target_group *groups,
                                       size_t n);

/* A manager on loop (borrowed; must outlive the manager). */
int ts_discovery_manager_new(uv_loop_t *loop, ts_discovery_update_fn fn, void *ctx,
                             ts_discovery_manager **out);

/* Replaces all providers with those of cfg (borrowed only for the call:
 * everything needed is copied).  Relative file_sd paths are resolved
 * against the directory of cfg->path.  Jobs no longer present are reported
 * once with n = 0. */
int ts_discovery_manager_apply_config(ts_discovery_manager *m, const ts_config *cfg);

/* Lets file_sd targets be URLs (see ts_discovery_file_parse's url_targets):
 * for a manager that finds stores, not scrape targets.  Before apply_config. */
void ts_discovery_manager_allow_url_targets(ts_discovery_manager *m);

/* Stops everything and frees the manager once its handles have closed (the
 * caller keeps running the loop until then, e.g. uv_run(loop, UV_RUN_DEFAULT)
 * returns).  No callback is made after this call.  Accepts NULL. */
void ts_discovery_manager_close(ts_discovery_manager *m);

/* A discoverer that is failing now (see the top): its last attempt failed. */
typedef struct ts_discovery_failure {
    char *job;             /* heap: the scrape config's job_name */
    const char *mechanism; /* static: "kubernetes_sd", "file_sd" or "dns_sd" */
    const char *role;      /* static: kubernetes_sd's role ("pod", ...); NULL for others */
    char *error;           /* heap: what failed and, where known, what to do about it */
    int64_t error_ms;      /* wall clock of the last failure, Unix ms */
    int64_t success_ms;    /* wall clock of the last success, Unix ms; 0 = none since
                              the discoverer started (start or reload) */
} ts_discovery_failure;

/* The discoverers failing now, in config order (job, then *_sd_configs
 * entry), only those of job when it is neither NULL nor "".  *out is a heap
 * array of *n (ts_discovery_failures_free; NULL when none).  Any thread. */
void ts_discovery_manager_failures(ts_discovery_manager *m, const char *job,
                                   ts_discovery_failure **out, size_t *n);
/* Frees what ts_discovery_manager_failures returned.  Accepts NULL. */
void ts_discovery_failures_free(ts_discovery_failure *f, size_t n);

/* ------------------------------------------------------ store discovery */

/* Where a querier or the ruler finds its stores (the flags --store,
 * --store.sd-files, --store.sd-dns; stores.c has the forms).  All borrowed
 * for the call of ts_discovery_stores_start. */
typedef struct ts_discovery_stores_opts {
    const char *const *static_addrs; /* host:port or URL */
    size_t nstatic;
    const char *sd_file;       /* file_sd format; NULL or "" = none */
    const char *const *sd_dns; /* "dnssrv+NAME", "dns+HOST:PORT" */
    size_t nsd_dns;
    /* the scheme of addresses that have none: false tcp://, true tls+tcp://
     * (--store.tls-secure); a URL keeps its own scheme */
    bool tls;
    int64_t refresh_ms;    /* file re-read and DNS interval; default 5 s */
    int64_t first_wait_ms; /* start waits this long for the first set; default 60 s */
} ts_discovery_stores_opts;

/* Called on the discovery thread with the whole current set of store URLs
 * (addresses without a scheme get tcp://, or tls+tcp:// with opts.tls; each once; borrowed for the
 * call), after start, after each refresh and whenever a file or DNS answer changes. */
typedef void (*ts_discovery_stores_fn)(void *ctx, const char *const *urls, size_t n);

typedef struct ts_discovery_stores ts_discovery_stores;

/* Starts a manager with the store job on a loop thread of its own and waits
 * (bounded by first_wait_ms) until fn has been called with the first set. */
int ts_discovery_stores_start(const ts_discovery_stores_opts *o, ts_discovery_stores_fn fn,
                              void *ctx, ts_discovery_stores **out, ts_error *err);
/* Re-reads the file and re-resolves every name now; returns once fn has been
 * called with the result (true) or after timeout_ms (false).  Any thread. */
bool ts_discovery_stores_refresh(ts_discovery_stores *s, int64_t timeout_ms);
/* Stops the thread; no call of fn after it returns.  Accepts NULL. */
void ts_discovery_stores_stop(ts_discovery_stores *s);

/* A ts_metrics collector (register with ctx = the manager): Prometheus'
 * prometheus_sd_* self-metrics.  Safe from any thread. */
void ts_discovery_manager_write_metrics(void *m, ts_metrics_writer *w);

#endif
