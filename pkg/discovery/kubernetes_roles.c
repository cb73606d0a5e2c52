/*
 * Kubernetes roles: target groups from cached API objects.
 *
 * Each role turns one object of its kind into one target group whose source
 * is "<kind>/<namespace>/<name>" ("node/<name>" for nodes), exactly as
 * Prometheus 2.42 names them, so a group replaces the previous one of the
 * same object.  The labels (all under __meta_kubernetes_) and addresses are
 * those of Prometheus 2.42 discovery/kubernetes/{node,pod,service,endpoints,
 * endpointslice,ingress}.go; read docs/ARCHITECTURE.md "kubernetes_sd" for
 * the list.  Points worth knowing:
 *
 *   - Kubernetes label and annotation keys are sanitized (every byte outside
 *     [A-Za-z0-9_] becomes '_') and each gives a value label plus a
 *     "..._present_..." label set to "true".
 *   - Labels with empty values are dropped (as Prometheus' label builder
 *     does when the target's labels are populated).
 *   - node: address = first address of the first type present in the order
 *     InternalIP, InternalDNS, ExternalIP, ExternalDNS, LegacyHostIP,
 *     Hostname, joined with the kubelet port; no address -> no group.
 *   - pod: no pod IP -> an empty group (the pod's targets go away); a
 *     container without ports gives one target at the bare pod IP.
 *   - endpoints / endpointslice: endpoint addresses joined with the Service
 *     of the same name (group labels) and, through targetRef kind Pod, with
 *     the pod (pod labels, and container labels for the container port equal
 *     to the endpoint port); then every container port of those pods that no
 *     endpoint port covered gives an extra target with pod and container
 *     labels only.
 *
 * Unlike 2.42, which rebuilds an endpoints group only on endpoints, service
 * and node events, the caller rebuilds every group after any change, so a
 * pod's new labels reach its endpoints' targets at once (as Prometheus does
 * from v2.55).
 */
#include "pkg/discovery/kubernetes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/mem.h"

#define META "__meta_kubernetes_"

static const char *const role_names[TS__K8S_NROLES] = {"node",      "pod",           "service",
                                                       "endpoints", "endpointslice", "ingress"};

int
ts__k8s_role_parse(const char *name)
{
    for (int i = 0; i < TS__K8S_NROLES; i++)
        if (strcmp(role_names[i], name) == 0)
            return i;
    return -1;
}

const char *
ts__k8s_role_name(ts__k8s_role r)
{
    return r < TS__K8S_NROLES ? role_names[r] : "?";
}

/* ------------------------------------------------------------ JSON access */

static const json_t *
jget(const json_t *o, const char *k)
{
    return json_is_object(o) ? json_object_get(o, k) : NULL;
}

/* String member or NULL. */
static const char *
jstr(const json_t *o, const char *k)
{
    const json_t *v = jget(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* String member or "". */
static const char *
jstr0(const json_t *o, const char *k)
{
    const char *s = jstr(o, k);
    return s ? s : "";
}

static bool
jint(const json_t *o, const char *k, long long *out)
{
    const json_t *v = jget(o, k);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

static size_t
jlen(const json_t *a)
{
    return json_is_array(a) ? json_array_size(a) : 0;
}

static const json_t *
jat(const json_t *a, size_t i)
{
    return json_array_get(a, i);
}

static const json_t *
meta(const json_t *o)
{
    return jget(o, "metadata");
}

bool
ts__k8s_object_key(const json_t *obj, char *buf, size_t size)
{
    const char *name = jstr(meta(obj), "name");
    const char *ns = jstr(meta(obj), "namespace");
    if (!name || !name[0])
        return false;
    int w = ns && ns[0] ? snprintf(buf, size, "%s/%s", ns, name) : snprintf(buf, size, "%s", name);
    return w > 0 && (size_t)w < size;
}

static const json_t *
cache_get(const ts__k8s_cache *c, ts__k8s_kind kind, const char *key)
{
    for (size_t i = 0; i < c->nstores[kind]; i++) {
        const json_t *o = json_object_get(c->stores[kind][i], key);
        if (o)
            return o;
    }
    return NULL;
}

/* ---------------------------------------------------------------- labels */

void
ts__k8s_sanitize(const char *in, char *buf, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++) {
        char ch = in[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        buf[i] = ok ? ch : '_';
    }
    buf[i] = '\0';
}

static void
set(ts_labels_builder *b, const char *name, const char *value)
{
    if (value)
        ts_labels_builder_set(b, name, value);
}

/* name = META + part (+ suffix). */
static void
setm(ts_labels_builder *b, const char *part, const char *value)
{
    char name[256];
    snprintf(name, sizeof(name), META "%s", part);
    set(b, name, value);
}

/* For every key k of a map of strings (metadata.labels, annotations, ...):
 * META<prefix>_<k'> = value and META<prefix>present_<k'> = "true", where
 * present_prefix is e.g. "pod_labelpresent_" for prefix "pod_label_". */
static void
set_map(ts_labels_builder *b, const json_t *map, const char *prefix, const char *present_prefix)
{
    if (!json_is_object(map))
        return;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        if (!json_is_string(v))
            continue;
        char san[512], name[700];
        ts__k8s_sanitize(k, san, sizeof(san));
        snprintf(name, sizeof(name), META "%s%s", prefix, san);
        ts_labels_builder_set(b, name, json_string_value(v));
        snprintf(name, sizeof(name), META "%s%s", present_prefix, san);
        ts_labels_builder_set(b, name, "true");
    }
}

/* host:port, with IPv6 hosts in brackets (Go's net.JoinHostPort). */
static void
join_host_port(char *buf, size_t size, const char *host, long long port)
{
    if (strchr(host, ':'))
        snprintf(buf, size, "[%s]:%lld", host, port);
    else
        snprintf(buf, size, "%s:%lld", host, port);
}

static void
fmt_int(char *buf, size_t size, long long v)
{
    snprintf(buf, size, "%lld", v);
}

/* ------------------------------------------------------------ group list */

typedef struct groups {
    ts_target_group *g;
    size_t n, cap;
} groups;

typedef struct targets {
    ts_labels **t;
    size_t n, cap;
} targets;

static void
targets_add(targets *ts, ts_labels_builder *b)
{
    TS_GROW(ts->t, ts->cap, ts->n + 1);
    ts->t[ts->n++] = ts_labels_builder_build(b, NULL);
}

static void
groups_add(groups *gs, const char *source, ts_labels_builder *common, targets *ts)
{
    TS_GROW(gs->g, gs->cap, gs->n + 1);
    ts_target_group *g = &gs->g[gs->n++];
    memset(g, 0, sizeof(*g));
    g->source = ts_strdup(source);
    g->labels = common ? ts_labels_builder_build(common, NULL) : ts_labels_new(NULL, 0);
    g->targets = ts->t ? ts->t : ts_calloc(1, sizeof(ts_labels *));
    g->ntargets = ts->n;
    memset(ts, 0, sizeof(*ts));
}

static void
source_of(char *buf, size_t size, const char *kind, const json_t *obj)
{
    const char *ns = jstr0(meta(obj), "namespace"), *name = jstr0(meta(obj), "name");
    if (ns[0])
        snprintf(buf, size, "%s/%s/%s", kind, ns, name);
    else
        snprintf(buf, size, "%s/%s", kind, name);
}

/* ------------------------------------------------------------------ node */

/* Node metadata on a pod or endpoint target (attach_metadata.node). */
static void
add_node_labels(ts_labels_builder *b, const ts__k8s_cache *c, const char *node_name)
{
    if (!c->attach_node || !node_name)
        return;
    const json_t *node = cache_get(c, TS__K8S_KIND_NODE, node_name);
    if (!node)
        return;
    setm(b, "node_name", node_name);
    set_map(b, jget(meta(node), "labels"), "node_label_", "node_labelpresent_");
}

static void
build_node(const json_t *node, groups *gs)
{
    static const char *const order[] = {"InternalIP",  "InternalDNS",  "ExternalIP",
                                        "ExternalDNS", "LegacyHostIP", "Hostname"};
    const json_t *addrs = jget(jget(node, "status"), "addresses");
    const char *addr = NULL;
    for (size_t t = 0; t < sizeof(order) / sizeof(order[0]) && !addr; t++)
        for (size_t i = 0; i < jlen(addrs) && !addr; i++)
            if (strcmp(jstr0(jat(addrs, i), "type"), order[t]) == 0)
                addr = jstr0(jat(addrs, i), "address");
    if (!addr)
        return; /* Prometheus: "No node address found", no group */
    const char *name = jstr0(meta(node), "name");
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    setm(&common, "node_name", name);
    setm(&common, "node_provider_id", jstr(jget(node, "spec"), "providerID"));
    set_map(&common, jget(meta(node), "labels"), "node_label_", "node_labelpresent_");
    set_map(&common, jget(meta(node), "annotations"), "node_annotation_",
            "node_annotationpresent_");
    long long port = 0;
    jint(jget(jget(jget(node, "status"), "daemonEndpoints"), "kubeletEndpoint"), "Port", &port);
    char hp[512];
    join_host_port(hp, sizeof(hp), addr, port);
    set(&tb, "__address__", hp);
    set(&tb, "instance", name);
    /* the first address of each type present */
    for (size_t i = 0; i < jlen(addrs); i++) {
        const char *type = jstr0(jat(addrs, i), "type");
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(jstr0(jat(addrs, k), "type"), type) != 0;
        if (!first || !type[0])
            continue;
        char raw[300], san[300];
        snprintf(raw, sizeof(raw), META "node_address_%s", type);
        ts__k8s_sanitize(raw, san, sizeof(san));
        set(&tb, san, jstr0(jat(addrs, i), "address"));
    }
    targets ts = {0};
    targets_add(&ts, &tb);
    char src[600];
    source_of(src, sizeof(src), "node", node);
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

/* ------------------------------------------------------------------- pod */

/* Prometheus' podLabels(): everything but the namespace. */
static void
pod_labels(ts_labels_builder *b, const json_t *pod)
{
    const json_t *md = meta(pod), *status = jget(pod, "status"), *spec = jget(pod, "spec");
    setm(b, "pod_name", jstr(md, "name"));
    setm(b, "pod_ip", jstr(status, "podIP"));
    const char *ready = "unknown";
    const json_t *conds = jget(status, "conditions");
    for (size_t i = 0; i < jlen(conds); i++) {
        if (strcmp(jstr0(jat(conds, i), "type"), "Ready") == 0) {
            const char *st = jstr0(jat(conds, i), "status");
            ready = strcmp(st, "True") == 0      ? "true"
                    : strcmp(st, "False") == 0   ? "false"
                    : strcmp(st, "Unknown") == 0 ? "unknown"
                                                 : st;
            break;
        }
    }
    char low[64];
    size_t k = 0;
    for (; ready[k] && k + 1 < sizeof(low); k++)
        low[k] = (char)(ready[k] >= 'A' && ready[k] <= 'Z' ? ready[k] + 32 : ready[k]);
    low[k] = '\0';
    setm(b, "pod_ready", low);
    setm(b, "pod_phase", jstr(status, "phase"));
    setm(b, "pod_node_name", jstr(spec, "nodeName"));
    setm(b, "pod_host_ip", jstr(status, "hostIP"));
    setm(b, "pod_uid", jstr(md, "uid"));
    const json_t *owners = jget(md, "ownerReferences");
    for (size_t i = 0; i < jlen(owners); i++) {
        const json_t *o = jat(owners, i);
        if (!json_is_true(jget(o, "controller")))
            continue;
        const char *kind = jstr0(o, "kind"), *name = jstr0(o, "name");
        if (kind[0])
            setm(b, "pod_controller_kind", kind);
        if (name[0])
            setm(b, "pod_controller_name", name);
        break;
    }
    set_map(b, jget(md, "labels"), "pod_label_", "pod_labelpresent_");
    set_map(b, jget(md, "annotations"), "pod_annotation_", "pod_annotationpresent_");
}

static const char *
container_id(const json_t *statuses, const char *name)
{
    for (size_t i = 0; i < jlen(statuses); i++)
        if (strcmp(jstr0(jat(statuses, i), "name"), name) == 0)
            return jstr(jat(statuses, i), "containerID");
    return NULL;
}

static void
build_pod(const ts__k8s_cache *c, const json_t *pod, groups *gs)
{
    char src[600];
    source_of(src, sizeof(src), "pod", pod);
    targets ts = {0};
    const json_t *status = jget(pod, "status"), *spec = jget(pod, "spec");
    const char *ip = jstr0(status, "podIP");
    if (!ip[0]) {
        groups_add(gs, src, NULL, &ts); /* starting or evicted: no targets */
        return;
    }
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    pod_labels(&common, pod);
    setm(&common, "namespace", jstr(meta(pod), "namespace"));
    add_node_labels(&common, c, jstr(spec, "nodeName"));
    for (int init = 0; init < 2; init++) {
        const json_t *cs = jget(spec, init ? "initContainers" : "containers");
        const json_t *st = jget(status, init ? "initContainerStatuses" : "containerStatuses");
        for (size_t i = 0; i < jlen(cs); i++) {
            const json_t *ctr = jat(cs, i);
            const char *cname = jstr0(ctr, "name");
            const json_t *ports = jget(ctr, "ports");
            ts_labels_builder_reset(&tb, NULL);
            setm(&tb, "pod_container_name", cname);
            setm(&tb, "pod_container_id", container_id(st, cname));
            setm(&tb, "pod_container_image", jstr(ctr, "image"));
            setm(&tb, "pod_container_init", init ? "true" : "false");
            if (jlen(ports) == 0) {
                set(&tb, "__address__", ip);
                targets_add(&ts, &tb);
                continue;
            }
            for (size_t p = 0; p < jlen(ports); p++) {
                const json_t *port = jat(ports, p);
                long long num = 0;
                jint(port, "containerPort", &num);
                char hp[300], nb[32];
                join_host_port(hp, sizeof(hp), ip, num);
                fmt_int(nb, sizeof(nb), num);
                set(&tb, "__address__", hp);
                setm(&tb, "pod_container_port_number", nb);
                ts_labels_builder_del(&tb, META "pod_container_port_name");
                ts_labels_builder_del(&tb, META "pod_container_port_protocol");
                setm(&tb, "pod_container_port_name", jstr(port, "name"));
                setm(&tb, "pod_container_port_protocol", jstr(port, "protocol"));
                targets_add(&ts, &tb);
            }
        }
    }
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

/* --------------------------------------------------------------- service */

static void
service_labels(ts_labels_builder *b, const json_t *svc)
{
    setm(b, "service_name", jstr(meta(svc), "name"));
    setm(b, "namespace", jstr(meta(svc), "namespace"));
    set_map(b, jget(meta(svc), "labels"), "service_label_", "service_labelpresent_");
    set_map(b, jget(meta(svc), "annotations"), "service_annotation_", "service_annotationpresent_");
}

static void
build_service(const json_t *svc, groups *gs)
{
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    service_labels(&common, svc);
    const json_t *spec = jget(svc, "spec");
    const char *type = jstr0(spec, "type");
    const json_t *ports = jget(spec, "ports");
    targets ts = {0};
    for (size_t i = 0; i < jlen(ports); i++) {
        const json_t *port = jat(ports, i);
        long long num = 0;
        jint(port, "port", &num);
        char host[600], hp[700], nb[32];
        snprintf(host, sizeof(host), "%s.%s.svc", jstr0(meta(svc), "name"),
                 jstr0(meta(svc), "namespace"));
        join_host_port(hp, sizeof(hp), host, num);
        fmt_int(nb, sizeof(nb), num);
        ts_labels_builder_reset(&tb, NULL);
        set(&tb, "__address__", hp);
        setm(&tb, "service_port_name", jstr(port, "name"));
        setm(&tb, "service_port_number", nb);
        setm(&tb, "service_port_protocol", jstr(port, "protocol"));
        setm(&tb, "service_type", type);
        if (strcmp(type, "ExternalName") == 0)
            setm(&tb, "service_external_name", jstr(spec, "externalName"));
        else
            setm(&tb, "service_cluster_ip", jstr(spec, "clusterIP"));
        if (strcmp(type, "LoadBalancer") == 0)
            setm(&tb, "service_loadbalancer_ip", jstr(spec, "loadBalancerIP"));
        targets_add(&ts, &tb);
    }
    char src[600];
    source_of(src, sizeof(src), "svc", svc);
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

/* ------------------------------------------- endpoints and endpointslice */

/* Pods seen through endpoint targetRefs, with the endpoint ports already
 * turned into targets, for the extra container-port targets. */
typedef struct seen_pod {
    const json_t *pod;
    long long *ports;
    size_t nports, cap;
} seen_pod;

typedef struct seen {
    seen_pod *p;
    size_t n, cap;
} seen;

static seen_pod *
seen_get(seen *s, const json_t *pod)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].pod == pod)
            return &s->p[i];
    TS_GROW(s->p, s->cap, s->n + 1);
    seen_pod *sp = &s->p[s->n++];
    memset(sp, 0, sizeof(*sp));
    sp->pod = pod;
    return sp;
}

static void
seen_add_port(seen_pod *sp, bool has_port, long long port)
{
    if (!has_port)
        return;
    TS_GROW(sp->ports, sp->cap, sp->nports + 1);
    sp->ports[sp->nports++] = port;
}

static void
seen_free(seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        ts_free(s->p[i].ports);
    ts_free(s->p);
}

static const json_t *
resolve_pod(const ts__k8s_cache *c, const json_t *ref)
{
    if (!ref || strcmp(jstr0(ref, "kind"), "Pod") != 0)
        return NULL;
    char key[600];
    const char *ns = jstr0(ref, "namespace");
    if (ns[0])
        snprintf(key, sizeof(key), "%s/%s", ns, jstr0(ref, "name"));
    else
        snprintf(key, sizeof(key), "%s", jstr0(ref, "name"));
    return cache_get(c, TS__K8S_KIND_POD, key);
}

/* On a target that has an endpoint port: the pod's labels and, for the
 * first (non-init) container port equal to the endpoint port, container
 * labels.  protocol_from_endpoint: endpoints take the protocol from the
 * endpoint port, endpointslices from the container port. */
static void
add_pod_target_labels(ts_labels_builder *tb, const json_t *pod, bool has_port, long long port,
                      const char *ep_protocol, bool protocol_from_endpoint)
{
    pod_labels(tb, pod);
    const json_t *cs = jget(jget(pod, "spec"), "containers");
    for (size_t i = 0; i < jlen(cs) && has_port; i++) {
        const json_t *ctr = jat(cs, i);
        const json_t *ports = jget(ctr, "ports");
        for (size_t p = 0; p < jlen(ports); p++) {
            long long cp = 0;
            jint(jat(ports, p), "containerPort", &cp);
            if (cp != port)
                continue;
            char nb[32];
            fmt_int(nb, sizeof(nb), port);
            setm(tb, "pod_container_name", jstr(ctr, "name"));
            setm(tb, "pod_container_image", jstr(ctr, "image"));
            setm(tb, "pod_container_port_name", jstr(jat(ports, p), "name"));
            setm(tb, "pod_container_port_number", nb);
            setm(tb, "pod_container_port_protocol",
                 protocol_from_endpoint ? ep_protocol : jstr(jat(ports, p), "protocol"));
            break;
        }
    }
}

/* Targets for container ports of seen pods that no endpoint port covered. */
static void
add_uncovered_ports(seen *s, targets *ts, ts_labels_builder *tb)
{
    for (size_t i = 0; i < s->n; i++) {
        const seen_pod *sp = &s->p[i];
        const json_t *cs = jget(jget(sp->pod, "spec"), "containers");
        const char *ip = jstr0(jget(sp->pod, "status"), "podIP");
        for (size_t k = 0; k < jlen(cs); k++) {
            const json_t *ctr = jat(cs, k);
            const json_t *ports = jget(ctr, "ports");
            for (size_t p = 0; p < jlen(ports); p++) {
                long long cp = 0;
                jint(jat(ports, p), "containerPort", &cp);
                bool covered = false;
                for (size_t e = 0; e < sp->nports && !covered; e++)
                    covered = sp->ports[e] == cp;
                if (covered)
                    continue;
                char hp[300], nb[32];
                join_host_port(hp, sizeof(hp), ip, cp);
                fmt_int(nb, sizeof(nb), cp);
                ts_labels_builder_reset(tb, NULL);
                set(tb, "__address__", hp);
                setm(tb, "pod_container_name", jstr(ctr, "name"));
                setm(tb, "pod_container_image", jstr(ctr, "image"));
                setm(tb, "pod_container_port_name", jstr(jat(ports, p), "name"));
                setm(tb, "pod_container_port_number", nb);
                setm(tb, "pod_container_port_protocol", jstr(jat(ports, p), "protocol"));
                pod_labels(tb, sp->pod);
                targets_add(ts, tb);
            }
        }
    }
}

static void
build_endpoints(const ts__k8s_cache *c, const json_t *eps, groups *gs)
{
    const json_t *md = meta(eps);
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    setm(&common, "namespace", jstr(md, "namespace"));
    setm(&common, "endpoints_name", jstr(md, "name"));
    char key[600];
    if (ts__k8s_object_key(eps, key, sizeof(key))) {
        const json_t *svc = cache_get(c, TS__K8S_KIND_SERVICE, key);
        if (svc)
            service_labels(&common, svc);
    }
    set_map(&common, jget(md, "labels"), "endpoints_label_", "endpoints_labelpresent_");
    targets ts = {0};
    seen sn = {0};
    const json_t *subsets = jget(eps, "subsets");
    for (size_t s = 0; s < jlen(subsets); s++) {
        const json_t *ss = jat(subsets, s), *ports = jget(ss, "ports");
        for (size_t p = 0; p < jlen(ports); p++) {
            const json_t *port = jat(ports, p);
            long long num = 0;
            jint(port, "port", &num);
            for (int ready = 1; ready >= 0; ready--) {
                const json_t *addrs = jget(ss, ready ? "addresses" : "notReadyAddresses");
                for (size_t a = 0; a < jlen(addrs); a++) {
                    const json_t *addr = jat(addrs, a), *ref = jget(addr, "targetRef");
                    char hp[300];
                    join_host_port(hp, sizeof(hp), jstr0(addr, "ip"), num);
                    ts_labels_builder_reset(&tb, NULL);
                    set(&tb, "__address__", hp);
                    setm(&tb, "endpoint_port_name", jstr(port, "name"));
                    setm(&tb, "endpoint_port_protocol", jstr(port, "protocol"));
                    setm(&tb, "endpoint_ready", ready ? "true" : "false");
                    if (json_is_object(ref)) {
                        setm(&tb, "endpoint_address_target_kind", jstr(ref, "kind"));
                        setm(&tb, "endpoint_address_target_name", jstr(ref, "name"));
                    }
                    setm(&tb, "endpoint_node_name", jstr(addr, "nodeName"));
                    setm(&tb, "endpoint_hostname", jstr(addr, "hostname"));
                    add_node_labels(&tb, c, jstr(addr, "nodeName"));
                    const json_t *pod = resolve_pod(c, ref);
                    if (pod) {
                        add_pod_target_labels(&tb, pod, true, num, jstr(port, "protocol"), true);
                        seen_add_port(seen_get(&sn, pod), true, num);
                    }
                    targets_add(&ts, &tb);
                }
            }
        }
    }
    add_uncovered_ports(&sn, &ts, &tb);
    seen_free(&sn);
    char src[600];
    source_of(src, sizeof(src), "endpoints", eps);
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

static void
set_bool_field(ts_labels_builder *b, const char *label, const json_t *o, const char *k)
{
    const json_t *v = jget(o, k);
    if (json_is_boolean(v))
        setm(b, label, json_is_true(v) ? "true" : "false");
}

static void
build_endpointslice(const ts__k8s_cache *c, const json_t *es, groups *gs)
{
    const json_t *md = meta(es);
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    setm(&common, "namespace", jstr(md, "namespace"));
    setm(&common, "endpointslice_name", jstr(md, "name"));
    setm(&common, "endpointslice_address_type", jstr(es, "addressType"));
    const char *svc_name = jstr(jget(md, "labels"), "kubernetes.io/service-name");
    if (svc_name) {
        char key[600];
        snprintf(key, sizeof(key), "%s/%s", jstr0(md, "namespace"), svc_name);
        const json_t *svc = cache_get(c, TS__K8S_KIND_SERVICE, key);
        if (svc)
            service_labels(&common, svc);
    }
    targets ts = {0};
    seen sn = {0};
    const json_t *eps = jget(es, "endpoints"), *ports = jget(es, "ports");
    for (size_t e = 0; e < jlen(eps); e++) {
        const json_t *ep = jat(eps, e), *ref = jget(ep, "targetRef");
        const json_t *conds = jget(ep, "conditions");
        for (size_t p = 0; p < jlen(ports); p++) {
            const json_t *port = jat(ports, p);
            long long num = 0;
            bool has_port = jint(port, "port", &num);
            const json_t *addrs = jget(ep, "addresses");
            for (size_t a = 0; a < jlen(addrs); a++) {
                const json_t *av = jat(addrs, a);
                const char *addr = json_is_string(av) ? json_string_value(av) : "";
                char hp[300], nb[32];
                if (has_port)
                    join_host_port(hp, sizeof(hp), addr, num);
                else
                    snprintf(hp, sizeof(hp), "%s", addr);
                ts_labels_builder_reset(&tb, NULL);
                set(&tb, "__address__", hp);
                setm(&tb, "endpointslice_port_name", jstr(port, "name"));
                setm(&tb, "endpointslice_port_protocol", jstr(port, "protocol"));
                if (has_port) {
                    fmt_int(nb, sizeof(nb), num);
                    setm(&tb, "endpointslice_port", nb);
                }
                setm(&tb, "endpointslice_port_app_protocol", jstr(port, "appProtocol"));
                set_bool_field(&tb, "endpointslice_endpoint_conditions_ready", conds, "ready");
                set_bool_field(&tb, "endpointslice_endpoint_conditions_serving", conds, "serving");
                set_bool_field(&tb, "endpointslice_endpoint_conditions_terminating", conds,
                               "terminating");
                setm(&tb, "endpointslice_endpoint_hostname", jstr(ep, "hostname"));
                if (json_is_object(ref)) {
                    setm(&tb, "endpointslice_address_target_kind", jstr(ref, "kind"));
                    setm(&tb, "endpointslice_address_target_name", jstr(ref, "name"));
                }
                set_map(&tb, jget(ep, "deprecatedTopology"), "endpointslice_endpoint_topology_",
                        "endpointslice_endpoint_topology_present_");
                add_node_labels(&tb, c, jstr(ep, "nodeName"));
                const json_t *pod = resolve_pod(c, ref);
                if (pod) {
                    add_pod_target_labels(&tb, pod, has_port, num, NULL, false);
                    seen_add_port(seen_get(&sn, pod), has_port, num);
                }
                targets_add(&ts, &tb);
            }
        }
    }
    add_uncovered_ports(&sn, &ts, &tb);
    seen_free(&sn);
    char src[600];
    source_of(src, sizeof(src), "endpointslice", es);
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

/* --------------------------------------------------------------- ingress */

/* A TLS host pattern matches a rule host if equal, or if its first element
 * is "*" and the rest equals the host's rest with as many elements. */
static bool
host_matches(const char *pattern, const char *host)
{
    if (strcmp(pattern, host) == 0)
        return true;
    if (strncmp(pattern, "*.", 2) != 0 && strcmp(pattern, "*") != 0)
        return false;
    const char *pd = strchr(pattern, '.'), *hd = strchr(host, '.');
    if (!pd || !hd)
        return !pd && !hd; /* "*" matches a single-element host */
    return strcmp(pd, hd) == 0;
}

static void
build_ingress(const json_t *ing, groups *gs)
{
    const json_t *md = meta(ing), *spec = jget(ing, "spec");
    ts_labels_builder common, tb;
    ts_labels_builder_init(&common, NULL);
    ts_labels_builder_init(&tb, NULL);
    setm(&common, "ingress_name", jstr(md, "name"));
    setm(&common, "namespace", jstr(md, "namespace"));
    setm(&common, "ingress_class_name", jstr(spec, "ingressClassName"));
    set_map(&common, jget(md, "labels"), "ingress_label_", "ingress_labelpresent_");
    set_map(&common, jget(md, "annotations"), "ingress_annotation_", "ingress_annotationpresent_");
    const json_t *rules = jget(spec, "rules"), *tls = jget(spec, "tls");
    targets ts = {0};
    for (size_t r = 0; r < jlen(rules); r++) {
        const json_t *rule = jat(rules, r);
        const char *host = jstr0(rule, "host");
        const char *scheme = "http";
        for (size_t t = 0; t < jlen(tls) && scheme[4] == '\0'; t++) {
            const json_t *hosts = jget(jat(tls, t), "hosts");
            for (size_t h = 0; h < jlen(hosts); h++) {
                const json_t *hv = jat(hosts, h);
                if (json_is_string(hv) && host_matches(json_string_value(hv), host)) {
                    scheme = "https";
                    break;
                }
            }
        }
        const json_t *http = jget(rule, "http");
        const json_t *paths = jget(http, "paths");
        size_t np = json_is_object(http) ? jlen(paths) : 0;
        for (size_t p = 0; p < (json_is_object(http) ? np : 1); p++) {
            const char *path = np ? jstr0(jat(paths, p), "path") : "/";
            ts_labels_builder_reset(&tb, NULL);
            set(&tb, "__address__", host);
            setm(&tb, "ingress_scheme", scheme);
            setm(&tb, "ingress_host", host);
            setm(&tb, "ingress_path", path[0] ? path : "/");
            targets_add(&ts, &tb);
        }
    }
    char src[600];
    source_of(src, sizeof(src), "ingress", ing);
    groups_add(gs, src, &common, &ts);
    ts_labels_builder_fini(&common);
    ts_labels_builder_fini(&tb);
}

/* ----------------------------------------------------------------- build */

static int
cmp_group(const void *a, const void *b)
{
    return strcmp(((const ts_target_group *)a)->source, ((const ts_target_group *)b)->source);
}

void
ts__k8s_build(ts__k8s_role role, const ts__k8s_cache *c, ts_target_group **out, size_t *n)
{
    static const ts__k8s_kind main_kind[TS__K8S_NROLES] = {
        TS__K8S_KIND_NODE,      TS__K8S_KIND_POD,           TS__K8S_KIND_SERVICE,
        TS__K8S_KIND_ENDPOINTS, TS__K8S_KIND_ENDPOINTSLICE, TS__K8S_KIND_INGRESS};
    groups gs = {0};
    ts__k8s_kind kind = main_kind[role];
    for (size_t s = 0; s < c->nstores[kind]; s++) {
        const char *key;
        json_t *obj;
        json_object_foreach(c->stores[kind][s], key, obj)
        {
            switch (role) {
            case TS__K8S_NODE: build_node(obj, &gs); break;
            case TS__K8S_POD: build_pod(c, obj, &gs); break;
            case TS__K8S_SERVICE: build_service(obj, &gs); break;
            case TS__K8S_ENDPOINTS: build_endpoints(c, obj, &gs); break;
            case TS__K8S_ENDPOINTSLICE: build_endpointslice(c, obj, &gs); break;
            case TS__K8S_INGRESS: build_ingress(obj, &gs); break;
            default: break;
            }
        }
    }
    if (gs.n > 1)
        qsort(gs.g, gs.n, sizeof(*gs.g), cmp_group);
    *out = gs.g ? gs.g : ts_calloc(1, sizeof(ts_target_group));
    *n = gs.n;
}
