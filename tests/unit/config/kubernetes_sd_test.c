/* kubernetes_sd_configs decoding and validation.  The error texts are those
 * of Prometheus 2.42 (discovery/kubernetes/kubernetes.go SDConfig
 * UnmarshalYAML, prometheus/common HTTPClientConfig.Validate); ours add the
 * line and key path as every other config error does. */
#include "pkg/config/config.h"
#include "tests/testutil/t.h"

static int
parse(const char *text, ts_config **c, ts_error *e)
{
    ts_error_clear(e);
    return ts_config_parse(text, strlen(text), "/etc/prometheus/test.yml", c, e);
}

static void
test_full(void)
{
    ts_config *c;
    ts_error e;
    T_OK(parse("scrape_configs:\n"
               "  - job_name: pods\n"
               "    kubernetes_sd_configs:\n"
               "      - role: pod\n"
               "        namespaces: {names: [a, b], own_namespace: true}\n"
               "        selectors:\n"
               "          - role: pod\n"
               "            label: 'app in (x,y),!legacy,tier=web'\n"
               "            field: 'spec.nodeName=n1,status.phase!=Failed'\n"
               "        attach_metadata: {node: true}\n"
               "      - role: endpoints\n"
               "        api_server: https://10.0.0.1:6443\n"
               "        bearer_token_file: /var/run/token\n"
               "        tls_config: {ca_file: /ca.crt, insecure_skip_verify: false}\n"
               "        proxy_url: http://proxy:3128\n"
               "        selectors: [{role: service, label: 'a=b'}, {role: pod}]\n"
               "      - role: node\n"
               "        kubeconfig_file: kube/config\n"
               "      - role: ingress\n"
               "        api_server: http://127.0.0.1:8080\n"
               "        basic_auth: {username: u, password: p}\n",
               &c, &e));
    T_EQ(c->scrape[0].nkubernetes_sd, 4);
    const ts_kubernetes_sd_config *k = &c->scrape[0].kubernetes_sd[0];
    T_STREQ(k->role, "pod");
    T_TRUE(k->api_server == NULL);
    T_TRUE(k->own_namespace);
    T_EQ(k->namespaces.n, 2);
    T_STREQ(k->namespaces.v[1], "b");
    T_TRUE(k->attach_node);
    T_FALSE(k->http_custom);
    T_EQ(k->nselectors, 1);
    T_STREQ(k->selectors[0].field, "spec.nodeName=n1,status.phase!=Failed");
    k = &c->scrape[0].kubernetes_sd[1];
    T_STREQ(k->api_server, "https://10.0.0.1:6443");
    T_TRUE(k->http_custom);
    T_STREQ(k->http.auth_type, "Bearer");
    T_STREQ(k->http.auth_credentials_file, "/var/run/token");
    T_STREQ(k->http.tls.ca_file, "/ca.crt");
    T_STREQ(k->http.proxy_url, "http://proxy:3128");
    T_EQ(k->nselectors, 2);
    T_STREQ(k->selectors[1].label, "");
    k = &c->scrape[0].kubernetes_sd[2];
    T_STREQ(k->kubeconfig_file, "kube/config");
    k = &c->scrape[0].kubernetes_sd[3];
    T_STREQ(k->http.basic_auth_username, "u");
    ts_config_free(c);
    /* alertmanagers may use kubernetes_sd_configs too (accepted, not used) */
    T_OK(
        parse("alerting:\n  alertmanagers:\n    - kubernetes_sd_configs: [{role: pod}]\n", &c, &e));
    ts_config_free(c);
}

#define K "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - "

static const struct {
    const char *yaml;
    int line;
    const char *msg;
} bad[] = {
    {K "api_server: http://x\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: role missing (one of: pod, service, endpoints, "
     "endpointslice, node, ingress)"},
    {K "role: nodes\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: unknown Kubernetes SD role \"nodes\""},
    {K "role: pod\n        foo: 1\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0]: field foo not found in type kubernetes.plain"},
    {K "role: pod\n        api_server: http://x\n        kubeconfig_file: k\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: cannot use 'kubeconfig_file' and 'api_server' "
     "simultaneously"},
    {K "role: pod\n        kubeconfig_file: k\n        bearer_token: t\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: cannot use a custom HTTP client configuration "
     "together with 'kubeconfig_file'"},
    {K "role: pod\n        bearer_token: t\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: to use custom HTTP client configuration please "
     "provide the 'api_server' URL explicitly"},
    {K "role: pod\n        tls_config: {insecure_skip_verify: true}\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: to use custom HTTP client configuration please "
     "provide the 'api_server' URL explicitly"},
    {K "role: pod\n        api_server: http://x\n        namespaces: {own_namespace: true}\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: cannot use 'api_server' and "
     "'namespaces.own_namespace' simultaneously"},
    {K "role: pod\n        kubeconfig_file: k\n        namespaces: {own_namespace: true}\n", 4,
     "scrape_configs[0].kubernetes_sd_configs[0]: cannot use 'kubeconfig_file' and "
     "'namespaces.own_namespace' simultaneously"},
    {K "role: pod\n        selectors: [{role: pod}, {role: pod}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[1]: duplicated selector role: pod"},
    {K "role: pod\n        selectors: [{role: node}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: pod role supports only pod "
     "selectors"},
    {K "role: endpoints\n        selectors: [{role: node}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: endpoints role supports only pod, "
     "service, endpoints selectors"},
    {K "role: endpointslice\n        selectors: [{role: endpoints}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: endpointslice role supports only "
     "pod, service, endpointslice selectors"},
    {K "role: node\n        selectors: [{role: node, field: 'metadata.name'}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: invalid selector: "
     "'metadata.name'; can't understand 'metadata.name'"},
    {K "role: node\n        selectors: [{role: node, label: 'a in b'}]\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: unable to parse requirement: "
     "invalid label selector 'a in b'"},
    {K "role: pod\n        namespaces: {name: [x]}\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].namespaces: field name not found in type "
     "kubernetes.plain"},
    {K "role: pod\n        attach_metadata: {nodes: true}\n", 5,
     "scrape_configs[0].kubernetes_sd_configs[0].attach_metadata: field nodes not found in type "
     "kubernetes.AttachMetadataConfig"},
    {K "role: pod\n        api_server: http://x\n        bearer_token: a\n        "
       "bearer_token_file: b\n",
     6,
     "scrape_configs[0].kubernetes_sd_configs[0]: at most one of bearer_token & "
     "bearer_token_file must be configured"},
    {"scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: {role: pod}\n", 3,
     "scrape_configs[0].kubernetes_sd_configs: cannot unmarshal !!map into "
     "[]*kubernetes.SDConfig"},
};

static void
test_bad(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ts_config *c = NULL;
        ts_error e;
        int rc = parse(bad[i].yaml, &c, &e);
        if (rc == 0 || strcmp(e.msg, bad[i].msg) != 0 || e.line != bad[i].line) {
            fprintf(stderr, "  case %zu: rc=%d line=%d msg=\"%s\"\n  want line=%d msg=\"%s\"\n", i,
                    rc, e.line, e.msg, bad[i].line, bad[i].msg);
            t_failed_flag = 1;
        }
        T_TRUE(c == NULL);
    }
}

T_MAIN({"full", test_full}, {"bad", test_bad})
