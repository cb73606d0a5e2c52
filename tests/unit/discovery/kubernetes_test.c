/* kubernetes_sd roles: target groups built from API objects (fixtures in
 * testdata/kubernetes/, shaped as the API server's list replies).  The
 * expected labels follow Prometheus 2.42 discovery/kubernetes (node.go, pod.go, ...). */
#include "pkg/discovery/kubernetes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

static json_t *
load_store(const char *file)
{
    char path[1024];
    const char *src = getenv("TS_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/unit/discovery/testdata/kubernetes/%s", src ? src : ".",
             file);
    json_error_t e;
    json_t *list = json_load_file(path, 0, &e);
    if (!list) {
        fprintf(stderr, "%s: %s\n", path, e.text);
        abort();
    }
    json_t *store = json_object();
    json_t *items = json_object_get(list, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        char key[256];
        if (!ts__k8s_object_key(json_array_get(items, i), key, sizeof(key)))
            abort();
        json_object_set(store, key, json_array_get(items, i));
    }
    json_decref(list);
    return store;
}

typedef struct fixture {
    ts__k8s_cache c;
    json_t *all[TS__K8S_NKINDS];
} fixture;

static void
fixture_init(fixture *f, bool attach)
{
    static const char *const files[TS__K8S_NKINDS] = {"nodes.json",          "pods.json",
                                                      "services.json",       "endpoints.json",
                                                      "endpointslices.json", "ingresses.json"};
    memset(f, 0, sizeof(*f));
    for (int k = 0; k < TS__K8S_NKINDS; k++) {
        f->all[k] = load_store(files[k]);
        f->c.stores[k][0] = f->all[k];
        f->c.nstores[k] = 1;
    }
    f->c.attach_node = attach;
}

static void
fixture_fini(fixture *f)
{
    for (int k = 0; k < TS__K8S_NKINDS; k++)
        json_decref(f->all[k]);
}

static char *
fmt(const ts_labels *ls)
{
    size_t n = ts_labels_format(ls, NULL, 0);
    char *s = ts_malloc(n + 1);
    ts_labels_format(ls, s, n + 1);
    return s;
}

/* Prints every group when TS_K8S_DUMP is set (to write expectations). */
static void
dump(const ts_target_group *gs, size_t n)
{
    if (!getenv("TS_K8S_DUMP"))
        return;
    for (size_t i = 0; i < n; i++) {
        char *l = fmt(gs[i].labels);
        printf("group %s %s\n", gs[i].source, l);
        ts_free(l);
        for (size_t t = 0; t < gs[i].ntargets; t++) {
            l = fmt(gs[i].targets[t]);
            printf("  target %s\n", l);
            ts_free(l);
        }
    }
}

static void
expect_labels(const ts_labels *ls, const char *want)
{
    char *got = fmt(ls);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  got  %s\n  want %s\n", got, want);
        t_failed_flag = 1;
    }
    ts_free(got);
}

static void
build(fixture *f, ts__k8s_role role, ts_target_group **gs, size_t *n)
{
    ts__k8s_build(role, &f->c, gs, n);
    dump(*gs, *n);
}

#define M "__meta_kubernetes_"

/* Expected groups per role (reviewed against Prometheus 2.42's role code:
 * address choice, _present labels, port handling, the pod join). */
typedef struct want_group {
    const char *source, *labels;
    const char *targets[8];
} want_group;

static const want_group want_node[] = {
    {"node/n1",
     "{" M "node_annotation_node_alpha_kubernetes_io_ttl=\"0\", " M
     "node_annotationpresent_node_alpha_kubernetes_io_ttl=\"true\", " M
     "node_label_kubernetes_io_hostname=\"n1\", " M
     "node_label_topology_kubernetes_io_zone=\"z1\", " M
     "node_labelpresent_kubernetes_io_hostname=\"true\", " M
     "node_labelpresent_topology_kubernetes_io_zone=\"true\", " M "node_name=\"n1\", " M
     "node_provider_id=\"aws:///z1/i-0123\"}",
     {"{__address__=\"10.0.0.1:10250\", " M "node_address_ExternalIP=\"1.2.3.4\", " M
      "node_address_Hostname=\"n1\", " M "node_address_InternalIP=\"10.0.0.1\", instance=\"n1\"}"}},
    {"node/n2",
     "{" M "node_name=\"n2\"}",
     {"{__address__=\"n2.example.com:10250\", " M "node_address_ExternalDNS=\"n2.example.com\", " M
      "node_address_Hostname=\"n2.local\", instance=\"n2\"}"}},
};

static const want_group want_pod[] = {
    {"pod/default/pending", "{}", {}},
    {"pod/default/web-0",
     "{" M "namespace=\"default\", " M "node_label_kubernetes_io_hostname=\"n1\", " M
     "node_label_topology_kubernetes_io_zone=\"z1\", " M
     "node_labelpresent_kubernetes_io_hostname=\"true\", " M
     "node_labelpresent_topology_kubernetes_io_zone=\"true\", " M "node_name=\"n1\", " M
     "pod_annotation_prometheus_io_port=\"9100\", " M
     "pod_annotation_prometheus_io_scrape=\"true\", " M
     "pod_annotationpresent_prometheus_io_port=\"true\", " M
     "pod_annotationpresent_prometheus_io_scrape=\"true\", " M
     "pod_controller_kind=\"StatefulSet\", " M "pod_controller_name=\"web\", " M
     "pod_host_ip=\"10.0.0.1\", " M "pod_ip=\"10.1.0.5\", " M "pod_label_app=\"web\", " M
     "pod_label_app_kubernetes_io_name=\"web\", " M "pod_labelpresent_app=\"true\", " M
     "pod_labelpresent_app_kubernetes_io_name=\"true\", " M "pod_name=\"web-0\", " M
     "pod_node_name=\"n1\", " M "pod_phase=\"Running\", " M "pod_ready=\"true\", " M
     "pod_uid=\"9f0c0000-0000-4000-8000-00000000000a\"}",
     {"{__address__=\"10.1.0.5:8080\", " M "pod_container_id=\"containerd://abc123\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_init=\"false\", " M
      "pod_container_name=\"app\", " M "pod_container_port_name=\"http\", " M
      "pod_container_port_number=\"8080\", " M "pod_container_port_protocol=\"TCP\"}",
      "{__address__=\"10.1.0.5:9100\", " M "pod_container_id=\"containerd://abc123\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_init=\"false\", " M
      "pod_container_name=\"app\", " M "pod_container_port_name=\"metrics\", " M
      "pod_container_port_number=\"9100\", " M "pod_container_port_protocol=\"TCP\"}",
      "{__address__=\"10.1.0.5\", " M "pod_container_image=\"busybox:1\", " M
      "pod_container_init=\"false\", " M "pod_container_name=\"sidecar\"}",
      "{__address__=\"10.1.0.5:7000\", " M "pod_container_id=\"containerd://def456\", " M
      "pod_container_image=\"alpine:3\", " M "pod_container_init=\"true\", " M
      "pod_container_name=\"init\", " M "pod_container_port_number=\"7000\", " M
      "pod_container_port_protocol=\"UDP\"}"}},
    {"pod/other/v6",
     "{" M "namespace=\"other\", " M "pod_ip=\"fd00::5\", " M "pod_name=\"v6\", " M
     "pod_node_name=\"n9\", " M "pod_phase=\"Running\", " M "pod_ready=\"false\", " M
     "pod_uid=\"9f0c0000-0000-4000-8000-00000000000c\"}",
     {"{__address__=\"[fd00::5]:80\", " M "pod_container_image=\"i\", " M
      "pod_container_init=\"false\", " M "pod_container_name=\"c\", " M
      "pod_container_port_number=\"80\", " M "pod_container_port_protocol=\"TCP\"}"}},
};

static const want_group want_service[] = {
    {"svc/default/ext",
     "{" M "namespace=\"default\", " M "service_name=\"ext\"}",
     {"{__address__=\"ext.default.svc:443\", " M "service_external_name=\"example.com\", " M
      "service_port_number=\"443\", " M "service_port_protocol=\"TCP\", " M
      "service_type=\"ExternalName\"}"}},
    {"svc/default/lb",
     "{" M "namespace=\"default\", " M "service_name=\"lb\"}",
     {"{__address__=\"lb.default.svc:443\", " M "service_cluster_ip=\"10.96.0.11\", " M
      "service_loadbalancer_ip=\"5.6.7.8\", " M "service_port_name=\"https\", " M
      "service_port_number=\"443\", " M "service_port_protocol=\"TCP\", " M
      "service_type=\"LoadBalancer\"}"}},
    {"svc/default/noports", "{" M "namespace=\"default\", " M "service_name=\"noports\"}", {}},
    {"svc/default/web",
     "{" M "namespace=\"default\", " M "service_annotation_prometheus_io_scrape=\"true\", " M
     "service_annotationpresent_prometheus_io_scrape=\"true\", " M "service_label_app=\"web\", " M
     "service_labelpresent_app=\"true\", " M "service_name=\"web\"}",
     {"{__address__=\"web.default.svc:80\", " M "service_cluster_ip=\"10.96.0.10\", " M
      "service_port_name=\"http\", " M "service_port_number=\"80\", " M
      "service_port_protocol=\"TCP\", " M "service_type=\"ClusterIP\"}"}},
};

static const want_group want_endpoints[] = {
    {"endpoints/default/web",
     "{" M "endpoints_label_app=\"web\", " M "endpoints_labelpresent_app=\"true\", " M
     "endpoints_name=\"web\", " M "namespace=\"default\", " M
     "service_annotation_prometheus_io_scrape=\"true\", " M
     "service_annotationpresent_prometheus_io_scrape=\"true\", " M "service_label_app=\"web\", " M
     "service_labelpresent_app=\"true\", " M "service_name=\"web\"}",
     {"{__address__=\"10.1.0.5:8080\", " M "endpoint_address_target_kind=\"Pod\", " M
      "endpoint_address_target_name=\"web-0\", " M "endpoint_node_name=\"n1\", " M
      "endpoint_port_name=\"http\", " M "endpoint_port_protocol=\"TCP\", " M
      "endpoint_ready=\"true\", " M "node_label_kubernetes_io_hostname=\"n1\", " M
      "node_label_topology_kubernetes_io_zone=\"z1\", " M
      "node_labelpresent_kubernetes_io_hostname=\"true\", " M
      "node_labelpresent_topology_kubernetes_io_zone=\"true\", " M "node_name=\"n1\", " M
      "pod_annotation_prometheus_io_port=\"9100\", " M
      "pod_annotation_prometheus_io_scrape=\"true\", " M
      "pod_annotationpresent_prometheus_io_port=\"true\", " M
      "pod_annotationpresent_prometheus_io_scrape=\"true\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_name=\"app\", " M
      "pod_container_port_name=\"http\", " M "pod_container_port_number=\"8080\", " M
      "pod_container_port_protocol=\"TCP\", " M "pod_controller_kind=\"StatefulSet\", " M
      "pod_controller_name=\"web\", " M "pod_host_ip=\"10.0.0.1\", " M "pod_ip=\"10.1.0.5\", " M
      "pod_label_app=\"web\", " M "pod_label_app_kubernetes_io_name=\"web\", " M
      "pod_labelpresent_app=\"true\", " M "pod_labelpresent_app_kubernetes_io_name=\"true\", " M
      "pod_name=\"web-0\", " M "pod_node_name=\"n1\", " M "pod_phase=\"Running\", " M
      "pod_ready=\"true\", " M "pod_uid=\"9f0c0000-0000-4000-8000-00000000000a\"}",
      "{__address__=\"10.1.0.6:8080\", " M "endpoint_hostname=\"h6\", " M
      "endpoint_port_name=\"http\", " M "endpoint_port_protocol=\"TCP\", " M
      "endpoint_ready=\"false\"}",
      "{__address__=\"10.1.0.5:9100\", " M "pod_annotation_prometheus_io_port=\"9100\", " M
      "pod_annotation_prometheus_io_scrape=\"true\", " M
      "pod_annotationpresent_prometheus_io_port=\"true\", " M
      "pod_annotationpresent_prometheus_io_scrape=\"true\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_name=\"app\", " M
      "pod_container_port_name=\"metrics\", " M "pod_container_port_number=\"9100\", " M
      "pod_container_port_protocol=\"TCP\", " M "pod_controller_kind=\"StatefulSet\", " M
      "pod_controller_name=\"web\", " M "pod_host_ip=\"10.0.0.1\", " M "pod_ip=\"10.1.0.5\", " M
      "pod_label_app=\"web\", " M "pod_label_app_kubernetes_io_name=\"web\", " M
      "pod_labelpresent_app=\"true\", " M "pod_labelpresent_app_kubernetes_io_name=\"true\", " M
      "pod_name=\"web-0\", " M "pod_node_name=\"n1\", " M "pod_phase=\"Running\", " M
      "pod_ready=\"true\", " M "pod_uid=\"9f0c0000-0000-4000-8000-00000000000a\"}"}},
};

static const want_group want_endpointslice[] = {
    {"endpointslice/default/web-abc12",
     "{" M "endpointslice_address_type=\"IPv4\", " M "endpointslice_name=\"web-abc12\", " M
     "namespace=\"default\", " M "service_annotation_prometheus_io_scrape=\"true\", " M
     "service_annotationpresent_prometheus_io_scrape=\"true\", " M "service_label_app=\"web\", " M
     "service_labelpresent_app=\"true\", " M "service_name=\"web\"}",
     {"{__address__=\"10.1.0.5:8080\", " M "endpointslice_address_target_kind=\"Pod\", " M
      "endpointslice_address_target_name=\"web-0\", " M
      "endpointslice_endpoint_conditions_ready=\"true\", " M
      "endpointslice_endpoint_conditions_serving=\"true\", " M
      "endpointslice_endpoint_conditions_terminating=\"false\", " M
      "endpointslice_endpoint_topology_kubernetes_io_hostname=\"n1\", " M
      "endpointslice_endpoint_topology_present_kubernetes_io_hostname=\"true\", " M
      "endpointslice_port=\"8080\", " M "endpointslice_port_app_protocol=\"http\", " M
      "endpointslice_port_name=\"http\", " M "endpointslice_port_protocol=\"TCP\", " M
      "node_label_kubernetes_io_hostname=\"n1\", " M
      "node_label_topology_kubernetes_io_zone=\"z1\", " M
      "node_labelpresent_kubernetes_io_hostname=\"true\", " M
      "node_labelpresent_topology_kubernetes_io_zone=\"true\", " M "node_name=\"n1\", " M
      "pod_annotation_prometheus_io_port=\"9100\", " M
      "pod_annotation_prometheus_io_scrape=\"true\", " M
      "pod_annotationpresent_prometheus_io_port=\"true\", " M
      "pod_annotationpresent_prometheus_io_scrape=\"true\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_name=\"app\", " M
      "pod_container_port_name=\"http\", " M "pod_container_port_number=\"8080\", " M
      "pod_container_port_protocol=\"TCP\", " M "pod_controller_kind=\"StatefulSet\", " M
      "pod_controller_name=\"web\", " M "pod_host_ip=\"10.0.0.1\", " M "pod_ip=\"10.1.0.5\", " M
      "pod_label_app=\"web\", " M "pod_label_app_kubernetes_io_name=\"web\", " M
      "pod_labelpresent_app=\"true\", " M "pod_labelpresent_app_kubernetes_io_name=\"true\", " M
      "pod_name=\"web-0\", " M "pod_node_name=\"n1\", " M "pod_phase=\"Running\", " M
      "pod_ready=\"true\", " M "pod_uid=\"9f0c0000-0000-4000-8000-00000000000a\"}",
      "{__address__=\"10.1.0.7:8080\", " M "endpointslice_endpoint_conditions_ready=\"false\", " M
      "endpointslice_port=\"8080\", " M "endpointslice_port_app_protocol=\"http\", " M
      "endpointslice_port_name=\"http\", " M "endpointslice_port_protocol=\"TCP\"}",
      "{__address__=\"10.1.0.5:9100\", " M "pod_annotation_prometheus_io_port=\"9100\", " M
      "pod_annotation_prometheus_io_scrape=\"true\", " M
      "pod_annotationpresent_prometheus_io_port=\"true\", " M
      "pod_annotationpresent_prometheus_io_scrape=\"true\", " M
      "pod_container_image=\"nginx:1.25\", " M "pod_container_name=\"app\", " M
      "pod_container_port_name=\"metrics\", " M "pod_container_port_number=\"9100\", " M
      "pod_container_port_protocol=\"TCP\", " M "pod_controller_kind=\"StatefulSet\", " M
      "pod_controller_name=\"web\", " M "pod_host_ip=\"10.0.0.1\", " M "pod_ip=\"10.1.0.5\", " M
      "pod_label_app=\"web\", " M "pod_label_app_kubernetes_io_name=\"web\", " M
      "pod_labelpresent_app=\"true\", " M "pod_labelpresent_app_kubernetes_io_name=\"true\", " M
      "pod_name=\"web-0\", " M "pod_node_name=\"n1\", " M "pod_phase=\"Running\", " M
      "pod_ready=\"true\", " M "pod_uid=\"9f0c0000-0000-4000-8000-00000000000a\"}"}},
};

static const want_group want_ingress[] = {
    {"ingress/default/web",
     "{" M "ingress_annotation_kubernetes_io_ingress_class=\"nginx\", " M
     "ingress_annotationpresent_kubernetes_io_ingress_class=\"true\", " M
     "ingress_class_name=\"nginx\", " M "ingress_label_app=\"web\", " M
     "ingress_labelpresent_app=\"true\", " M "ingress_name=\"web\", " M "namespace=\"default\"}",
     {"{__address__=\"a.example.com\", " M "ingress_host=\"a.example.com\", " M
      "ingress_path=\"/\", " M "ingress_scheme=\"https\"}",
      "{__address__=\"a.example.com\", " M "ingress_host=\"a.example.com\", " M
      "ingress_path=\"/api\", " M "ingress_scheme=\"https\"}",
      "{__address__=\"b.other.org\", " M "ingress_host=\"b.other.org\", " M "ingress_path=\"/\", " M
      "ingress_scheme=\"http\"}"}},
};

static void
check_role(ts__k8s_role role, const want_group *want, size_t nwant, bool attach)
{
    fixture f;
    fixture_init(&f, attach);
    ts_target_group *gs;
    size_t n;
    build(&f, role, &gs, &n);
    T_EQ(n, nwant);
    for (size_t i = 0; i < n && i < nwant; i++) {
        T_STREQ(gs[i].source, want[i].source);
        expect_labels(gs[i].labels, want[i].labels);
        size_t nt = 0;
        while (nt < 8 && want[i].targets[nt])
            nt++;
        T_EQ(gs[i].ntargets, nt);
        for (size_t t = 0; t < gs[i].ntargets && t < nt; t++)
            expect_labels(gs[i].targets[t], want[i].targets[t]);
    }
    ts_target_groups_free(gs, n);
    fixture_fini(&f);
}

#define CHECK(role, w) check_role(role, w, sizeof(w) / sizeof(w[0]), true)

static void
test_node(void)
{
    CHECK(TS__K8S_NODE, want_node);
}

static void
test_pod(void)
{
    CHECK(TS__K8S_POD, want_pod);
}

static void
test_service(void)
{
    CHECK(TS__K8S_SERVICE, want_service);
}

static void
test_endpoints(void)
{
    CHECK(TS__K8S_ENDPOINTS, want_endpoints);
}

static void
test_endpointslice(void)
{
    CHECK(TS__K8S_ENDPOINTSLICE, want_endpointslice);
}

static void
test_ingress(void)
{
    CHECK(TS__K8S_INGRESS, want_ingress);
}

static void
test_no_attach(void)
{
    /* without attach_metadata.node no node labels reach pods or endpoints */
    fixture f;
    fixture_init(&f, false);
    ts_target_group *gs;
    size_t n;
    build(&f, TS__K8S_POD, &gs, &n);
    T_EQ(n, 3);
    T_STREQ(gs[1].source, "pod/default/web-0");
    T_TRUE(ts_labels_get(gs[1].labels, M "node_name") == NULL);
    T_STREQ(ts_labels_get(gs[1].labels, M "pod_node_name"), "n1");
    ts_target_groups_free(gs, n);
    build(&f, TS__K8S_ENDPOINTS, &gs, &n);
    T_EQ(n, 1);
    T_TRUE(ts_labels_get(gs[0].targets[0], M "node_name") == NULL);
    T_STREQ(ts_labels_get(gs[0].targets[0], M "endpoint_node_name"), "n1");
    ts_target_groups_free(gs, n);
    /* without the pod in the cache, no pod labels and no extra port target */
    json_object_clear(f.all[TS__K8S_KIND_POD]);
    build(&f, TS__K8S_ENDPOINTS, &gs, &n);
    T_EQ(gs[0].ntargets, 2);
    T_TRUE(ts_labels_get(gs[0].targets[0], M "pod_name") == NULL);
    ts_target_groups_free(gs, n);
    /* without the service, no service labels on the group */
    json_object_clear(f.all[TS__K8S_KIND_SERVICE]);
    build(&f, TS__K8S_ENDPOINTSLICE, &gs, &n);
    T_TRUE(ts_labels_get(gs[0].labels, M "service_name") == NULL);
    T_STREQ(ts_labels_get(gs[0].labels, M "endpointslice_name"), "web-abc12");
    ts_target_groups_free(gs, n);
    fixture_fini(&f);
}

static void
test_helpers(void)
{
    char b[64];
    ts__k8s_sanitize("app.kubernetes.io/name-x", b, sizeof(b));
    T_STREQ(b, "app_kubernetes_io_name_x");
    T_EQ(ts__k8s_role_parse("endpointslice"), TS__K8S_ENDPOINTSLICE);
    T_EQ(ts__k8s_role_parse("nodes"), -1);
    json_t *o = json_loads("{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}", 0, NULL);
    T_TRUE(ts__k8s_object_key(o, b, sizeof(b)));
    T_STREQ(b, "ns/a");
    json_decref(o);
    o = json_loads("{\"metadata\":{\"namespace\":\"ns\"}}", 0, NULL);
    T_FALSE(ts__k8s_object_key(o, b, sizeof(b)));
    json_decref(o);
}

/* The text /api/v1/targets shows for a failed request (ts__k8s_http_error_text). */
static void
test_http_error_text(void)
{
    char buf[1024];
    const char *forbidden =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"pods is forbidden: User \\\"system:serviceaccount:m:t\\\" cannot list "
        "resource \\\"pods\\\" in API group \\\"\\\" in the namespace \\\"s\\\"\","
        "\"reason\":\"Forbidden\",\"code\":403}";
    ts__k8s_http_error_text(403, forbidden, strlen(forbidden), TS__K8S_KIND_POD,
                            "/api/v1/namespaces/s/pods", buf, sizeof(buf));
    T_STREQ(buf, "403 Forbidden: pods is forbidden: User \"system:serviceaccount:m:t\" cannot list "
                 "resource \"pods\" in API group \"\" in the namespace \"s\" (RBAC: give the "
                 "service account list and watch on pods)");
    /* a kind of an API group names the group */
    ts__k8s_http_error_text(403, "{\"message\":\"no\"}", 16, TS__K8S_KIND_ENDPOINTSLICE,
                            "/apis/discovery.k8s.io/v1/endpointslices", buf, sizeof(buf));
    T_STREQ(buf, "403 Forbidden: no (RBAC: give the service account list and watch on "
                 "endpointslices in API group discovery.k8s.io)");
    /* 401 with no body; 404 names the path */
    ts__k8s_http_error_text(401, NULL, 0, TS__K8S_KIND_NODE, "/api/v1/nodes", buf, sizeof(buf));
    T_STREQ(buf, "401 Unauthorized (check the credentials: bearer token or token file, basic "
                 "auth, client certificate)");
    ts__k8s_http_error_text(404,
                            "{\"message\":\"the server could not find the requested "
                            "resource\"}",
                            62, TS__K8S_KIND_INGRESS, "/apis/networking.k8s.io/v1/ingresses", buf,
                            sizeof(buf));
    T_STREQ(buf, "404 Not Found: the server could not find the requested resource "
                 "(/apis/networking.k8s.io/v1/ingresses is not served here: is api_server right, "
                 "and is it Kubernetes 1.21 or later?)");
    /* not a Status (a proxy's page): its start on one line, cut at 200 bytes */
    char page[400];
    memset(page, 'x', sizeof(page));
    memcpy(page, "<html>\n<b>", 10);
    ts__k8s_http_error_text(502, page, sizeof(page), TS__K8S_KIND_POD, "/api/v1/pods", buf,
                            sizeof(buf));
    T_TRUE(strncmp(buf, "502 Bad Gateway: <html> <b>xxx", 30) == 0);
    T_EQ(strlen(buf), strlen("502 Bad Gateway: ") + 200 + 3);
    /* an unknown code takes the Status' reason; a bounded buffer is cut, terminated */
    ts__k8s_http_error_text(422, "{\"reason\":\"Invalid\",\"message\":\"bad selector\"}", 45,
                            TS__K8S_KIND_POD, "/api/v1/pods", buf, sizeof(buf));
    T_STREQ(buf, "422 Invalid: bad selector");
    char small[8];
    ts__k8s_http_error_text(403, forbidden, strlen(forbidden), TS__K8S_KIND_POD, "/p", small,
                            sizeof(small));
    T_STREQ(small, "403 For");
    /* not JSON at all, bad JSON, empty: no crash, the code stays */
    ts__k8s_http_error_text(500, "{\"message\":", 11, TS__K8S_KIND_POD, "/p", buf, sizeof(buf));
    T_STREQ(buf, "500 Internal Server Error: {\"message\":");
    ts__k8s_http_error_text(599, "", 0, TS__K8S_KIND_POD, "/p", buf, sizeof(buf));
    T_STREQ(buf, "599");
}

T_MAIN({"node", test_node}, {"pod", test_pod}, {"service", test_service},
       {"endpoints", test_endpoints}, {"endpointslice", test_endpointslice},
       {"ingress", test_ingress}, {"no_attach", test_no_attach}, {"helpers", test_helpers},
       {"http_error_text", test_http_error_text})
