/*
 * kubernetes_sd_configs inside pkg/discovery (names ts__k8s_*: shared by
 * kubernetes_roles.c, kubernetes.c and manager.c only; unit tests use them
 * too).
 *
 * Two halves:
 *
 *   kubernetes_roles.c  the caches of API objects (jansson values keyed by
 *                       "<namespace>/<name>", or "<name>" for nodes) and the
 *                       target groups each role builds from them, with the
 *                       labels and addresses of Prometheus 2.42
 *                       discovery/kubernetes.  Pure functions of the caches.
 *   kubernetes.c        the API client: list, then watch, per resource and
 *                       namespace, with libcurl on the manager's uv loop;
 *                       keeps the caches and calls back with all groups of
 *                       the provider after every batch of changes.
 *
 * Everything runs on the loop thread, except ts__k8s_write_metrics.
 */
#ifndef TS_DISCOVERY_KUBERNETES_H
#define TS_DISCOVERY_KUBERNETES_H

#include <jansson.h>

#include "pkg/discovery/discovery.h"

typedef enum {
    TS__K8S_NODE,
    TS__K8S_POD,
    TS__K8S_SERVICE,
    TS__K8S_ENDPOINTS,
    TS__K8S_ENDPOINTSLICE,
    TS__K8S_INGRESS,
    TS__K8S_NROLES
} ts__k8s_role;

/* Role from its config name; -1 if unknown. */
int ts__k8s_role_parse(const char *name);
const char *ts__k8s_role_name(ts__k8s_role r);

/* The API object kinds a cache holds (a role reads several). */
typedef enum {
    TS__K8S_KIND_NODE,
    TS__K8S_KIND_POD,
    TS__K8S_KIND_SERVICE,
    TS__K8S_KIND_ENDPOINTS,
    TS__K8S_KIND_ENDPOINTSLICE,
    TS__K8S_KIND_INGRESS,
    TS__K8S_NKINDS
} ts__k8s_kind;

/* Objects of one kind may come from several informers (one per namespace):
 * stores[kind] is a list of JSON objects, each mapping key -> object. */
#define TS__K8S_MAX_STORES 64
typedef struct ts__k8s_cache {
    json_t *stores[TS__K8S_NKINDS][TS__K8S_MAX_STORES]; /* borrowed */
    size_t nstores[TS__K8S_NKINDS];
    bool attach_node; /* attach_metadata.node: node labels on pod/endpoint targets */
} ts__k8s_cache;

/* The key an object is stored under: "ns/name" ("name" when it has no
 * namespace).  Writes at most size bytes; false if metadata.name is missing. */
bool ts__k8s_object_key(const json_t *obj, char *buf, size_t size);

/* Builds every group of the role from the cache (one per object of the
 * role's kind; objects that give none, e.g. a node without an address, are
 * skipped), sorted by source.  *out is a heap array (ts_target_groups_free). */
void ts__k8s_build(ts__k8s_role role, const ts__k8s_cache *c, ts_target_group **out, size_t *n);

/* "a.b/c-d" -> "a_b_c_d" (Prometheus strutil.SanitizeLabelName), into buf. */
void ts__k8s_sanitize(const char *in, char *buf, size_t size);

/* ------------------------------------------------------------- the client */

typedef struct ts__k8s ts__k8s;

/* Called with all groups of the provider (ownership passes to the callee)
 * after the first complete sync of every informer and after each batch of
 * changes.  */
typedef void (*ts__k8s_update_fn)(void *ctx, ts_target_group *groups, size_t n);
/* Called once, after ts__k8s_stop, when every handle is closed. */
typedef void (*ts__k8s_closed_fn)(void *ctx);
/* Called after every request that changes what the provider knows of its
 * health: err NULL = every informer's last request worked (at_ms: now);
 * else the error of the first informer that is failing (at_ms: when it last
 * failed).  Wall-clock ms.  err is borrowed for the call. */
typedef void (*ts__k8s_health_fn)(void *ctx, const char *err, int64_t at_ms);

/* Starts discovery for one kubernetes_sd_configs entry (borrowed for the
 * call).  base_dir resolves a relative kubeconfig_file.  Fails (with err)
 * when the configuration cannot work at all (in-cluster variables missing,
 * unreadable kubeconfig or token file): Prometheus logs those and runs
 * without the provider. */
int ts__k8s_start(uv_loop_t *loop, const ts_kubernetes_sd_config *cfg, const char *base_dir,
                  ts__k8s_update_fn fn, ts__k8s_health_fn health, ts__k8s_closed_fn closed,
                  void *ctx, ts__k8s **out, ts_error *err);
/* Stops; no update callback afterwards; closed() follows asynchronously. */
void ts__k8s_stop(ts__k8s *k);

/* The text a failed request of kind's informer shows in /api/v1/targets'
 * discoveryErrors: "<code> <reason>: <the API server's Status message>",
 * the body's start when it is no Status, and for 401, 403 and 404 a hint at
 * the fix (403: the RBAC verbs and resource the service account lacks).
 * body may be NULL.  Pure; writes at most size bytes. */
void ts__k8s_http_error_text(long code, const char *body, size_t len, ts__k8s_kind kind,
                             const char *path, char *buf, size_t size);

/* prometheus_sd_kubernetes_* self-metrics (process-wide, as Prometheus'). */
void ts__k8s_write_metrics(ts_metrics_writer *w);

#endif
