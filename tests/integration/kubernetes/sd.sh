#!/usr/bin/env bash
# kubernetes_sd_configs against a stand-in API server.  Debian ships no
# kube-apiserver, so apiserver.py (next to this script) serves Kubernetes list
# and watch replies shaped exactly as the API server's (real object JSON with
# metadata/spec/status, list pages with metadata.continue, watches as chunked
# streams of {"type","object"} events with BOOKMARKs, metav1.Status errors)
# and checks every request it gets: path, query parameters, Accept, and the
# Authorization header against the token file's current contents.
# The shard scrapes real node_exporters on loopback found through pod, node,
# endpoints and endpointslice objects; the test changes objects while the
# scrapes run (ADDED, MODIFIED, DELETED), expires resourceVersions (410 Gone
# in a watch and in a list), cuts the watches, rotates the token and forbids
# a namespace (403: the discoverer's error in /api/v1/targets' discoveryErrors,
# on the shard and through a querier, one log line; then the namespace is
# allowed and the error goes), and checks the targets API, the queries and
# the log.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

api=$(free_port); ne1=$(free_port); ne2=$(free_port); web=$(free_port); store=$(free_port); qweb=$(free_port)
echo -n "token-one" >"$TS_TMP/token"
start apiserver python3 "$here/apiserver.py" "$api" "$TS_TMP/token"
start ne1 prometheus-node-exporter --web.listen-address=127.0.0.1:$ne1
start ne2 prometheus-node-exporter --web.listen-address=127.0.0.1:$ne2
A=http://127.0.0.1:$api
wait_http "$A/_test/problems"

post() { curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$A/_test/$1" >/dev/null || fail "post $1"; }
# pod NAME METRICS_PORT [LABEL_VERSION [PORT_NAME]]: a running pod on 127.0.0.1
# with an http port (dropped by relabeling) and a metrics port (scraped unless
# PORT_NAME is not "metrics").
pod() {
    post object '{"kind":"pods","object":{"metadata":{"name":"'$1'","namespace":"default","uid":"uid-'$1'",
      "labels":{"app":"web","version":"'${3:-v1}'"},"annotations":{"prometheus.io/scrape":"true"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d4f","uid":"rs1","controller":true}]},
     "spec":{"nodeName":"n1","containers":[{"name":"app","image":"nginx:1.25","ports":[
        {"name":"http","containerPort":8080,"protocol":"TCP"},
        {"name":"'${4:-metrics}'","containerPort":'$2',"protocol":"TCP"}]}]},
     "status":{"phase":"Running","podIP":"127.0.0.1","hostIP":"127.0.0.1",
      "conditions":[{"type":"Ready","status":"True"}],
      "containerStatuses":[{"name":"app","ready":true,"containerID":"containerd://c-'$1'"}]}}}'
}
pod web-0 $ne1
pod web-1 $ne2
for i in 2 3 4; do pod other-$i $ne1 v1 admin; done   # list pages of 2: the client must follow continue
post object '{"kind":"nodes","object":{"metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"}},
  "spec":{"providerID":"kind://docker/n1"},
  "status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"n1"}],
   "daemonEndpoints":{"kubeletEndpoint":{"Port":'$ne2'}}}}}'
post object '{"kind":"services","object":{"metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
  "spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","ports":[{"name":"metrics","port":9100,"protocol":"TCP"}]}}}'
post object '{"kind":"endpoints","object":{"metadata":{"name":"web","namespace":"default"},
  "subsets":[{"addresses":[{"ip":"127.0.0.1","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"default","name":"web-0"}}],
   "ports":[{"name":"metrics","port":'$ne1',"protocol":"TCP"}]}]}}'
post object '{"kind":"endpointslices","object":{"metadata":{"name":"web-x1","namespace":"default",
   "labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
  "endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","namespace":"default","name":"web-1"}}],
  "ports":[{"name":"metrics","port":'$ne2',"protocol":"TCP"}]}}'
post object '{"kind":"ingresses","object":{"metadata":{"name":"web","namespace":"default"},
  "spec":{"rules":[{"host":"web.example.com","http":{"paths":[{"path":"/","pathType":"Prefix",
   "backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}}'
post forbid '{"namespace":"secret"}'

K="api_server: $A
        bearer_token_file: $TS_TMP/token"
cat >"$TS_TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        $K
        namespaces: {names: [default]}
        selectors: [{role: pod, label: 'app=web', field: 'status.phase=Running'}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: metrics, action: keep}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
      - {source_labels: [__meta_kubernetes_pod_label_version], target_label: version}
  - job_name: nodes
    kubernetes_sd_configs:
      - role: node
        $K
  - job_name: endpoints
    kubernetes_sd_configs:
      - role: endpoints
        $K
        attach_metadata: {node: true}
  - job_name: slices
    kubernetes_sd_configs:
      - role: endpointslice
        $K
  - job_name: services
    kubernetes_sd_configs:
      - role: service
        $K
    relabel_configs: [{action: drop, regex: '.*', source_labels: [__address__]}]
  - job_name: ingresses
    kubernetes_sd_configs:
      - role: ingress
        $K
    relabel_configs: [{action: drop, regex: '.*', source_labels: [__address__]}]
  - job_name: forbidden
    kubernetes_sd_configs:
      - role: pod
        $K
        namespaces: {names: [secret]}
YML
"$TESSERA" check config "$TS_TMP/prometheus.yml" >"$TS_TMP/check.log" 2>&1 || fail "check config: $(cat "$TS_TMP/check.log")"
start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/data" \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store --log.level=debug
shard=$LAST_PID
url=http://127.0.0.1:$web
wait_http "$url/-/ready"
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qweb --store=tcp://127.0.0.1:$store \
    --store.sd-interval=1s
Q=http://127.0.0.1:$qweb
wait_http "$Q/-/ready"

targets() { curl -sf "$url/api/v1/targets"; }
# jq over the active targets of one job
act() { targets | jq -e --arg j "$1" "[.data.activeTargets[] | select(.labels.job == \$j)] | $2" >/dev/null; }
upq() { q "$url" "$1" | jq -r '.data.result | map(.metric.pod // .metric.instance) | sort | join(",")'; }

# --- every role's targets and labels
pods_ok() { act pods 'length == 2 and all(.health == "up")'; }
until_true 30 pods_ok || fail "pod targets: $(targets)"

# --- 403 (RBAC missing for namespace "secret"): the failing discoverer is in
# /api/v1/targets as "discoveryErrors", on the shard and through the querier,
# with its role and the API server's text; only while it fails, and only for
# its scrape pool
derrs() { curl -sf "$1/api/v1/targets${2:-}" | jq -c '.data.discoveryErrors'; }
forbidden_err() {
    derrs "$1" | jq -e 'length == 1 and (.[0] | .scrapePool == "forbidden" and .mechanism == "kubernetes_sd"
      and .role == "pod"
      and (.lastError | startswith("403 Forbidden: pods is forbidden: User \"system:serviceaccount:monitoring:tessera\" cannot list resource \"pods\" in API group \"\" in the namespace \"secret\""))
      and (.lastError | endswith("(RBAC: give the service account list and watch on pods)"))
      and (.lastErrorTime | test("^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z$"))
      and (has("lastSuccessTime") | not))' >/dev/null
}
until_true 20 forbidden_err "$url" || fail "no 403 in the shard's discoveryErrors: $(derrs "$url")"
until_true 20 forbidden_err "$Q" || fail "no 403 in the querier's discoveryErrors: $(derrs "$Q")"
[ "$(derrs "$url" '?scrapePool=forbidden' | jq length)" = 1 ] || fail "scrapePool=forbidden: $(derrs "$url" '?scrapePool=forbidden')"
# another pool: Prometheus' own keys only
for u in "$url" "$Q"; do
    k=$(curl -sf "$u/api/v1/targets?scrapePool=pods" | jq -c '.data | keys_unsorted')
    [ "$k" = '["activeTargets","droppedTargets"]' ] || fail "$u scrapePool=pods has keys $k"
done
# one log line for the failing state, however many retries
nsecret() { curl -sf "$A/_test/requests" | jq '[.[] | select(.path == "/api/v1/namespaces/secret/pods")] | length'; }
retried() { [ "$(nsecret)" -ge 3 ]; }
until_true 30 retried || fail "the forbidden list was not retried: $(nsecret) requests"
nfail=$(grep -c 'msg="Service discovery failing" config="forbidden" mechanism=kubernetes_sd role=pod err="403 Forbidden: pods is forbidden' "$TS_TMP/shard.log")
[ "$nfail" = 1 ] || fail "$nfail 'Service discovery failing' lines for $(nsecret) failed requests: $(grep 'config="forbidden"' "$TS_TMP/shard.log")"
# RBAC granted (and a pod there): the error goes once the retry lists
post allow '{"namespace":"secret"}'
post object '{"kind":"pods","object":{"metadata":{"name":"vault-0","namespace":"secret","uid":"uid-vault-0"},
  "spec":{"nodeName":"n1","containers":[{"name":"app","ports":[{"name":"metrics","containerPort":'$ne2',"protocol":"TCP"}]}]},
  "status":{"phase":"Running","podIP":"127.0.0.1","hostIP":"127.0.0.1","conditions":[{"type":"Ready","status":"True"}]}}}'
no_errs() { [ "$(derrs "$1")" = null ]; }
until_true 90 no_errs "$url" || fail "discoveryErrors after the namespace was allowed: $(derrs "$url")"
secret_ok() { act forbidden 'length == 1 and .[0].labels.instance == "127.0.0.1:'$ne2'"'; }
until_true 20 secret_ok || fail "no target of the allowed namespace: $(targets)"
until_true 20 no_errs "$Q" || fail "the querier still shows discoveryErrors: $(derrs "$Q")"
grep -q 'msg="Service discovery works again" config="forbidden" mechanism=kubernetes_sd role=pod' "$TS_TMP/shard.log" ||
    fail "no recovery line: $(grep 'config="forbidden"' "$TS_TMP/shard.log")"
act pods 'map(select(.labels.pod == "web-0"))[0] | .discoveredLabels
  | .__address__ == "127.0.0.1:'$ne1'" and .__meta_kubernetes_pod_container_port_name == "metrics"
  and .__meta_kubernetes_pod_container_port_number == "'$ne1'" and .__meta_kubernetes_pod_ready == "true"
  and .__meta_kubernetes_pod_controller_kind == "ReplicaSet" and .__meta_kubernetes_pod_phase == "Running"
  and .__meta_kubernetes_pod_container_id == "containerd://c-web-0" and .__meta_kubernetes_namespace == "default"
  and .__meta_kubernetes_pod_labelpresent_app == "true" and .__meta_kubernetes_pod_annotation_prometheus_io_scrape == "true"' \
    || fail "pod labels: $(targets)"
# the http ports were dropped by relabeling: there with their discovered labels
targets | jq -e '[.data.droppedTargets[].discoveredLabels | select(.job == "pods")] | length == 8 and
  (map(select(.__meta_kubernetes_pod_name == "web-0"))[0] | .__meta_kubernetes_pod_container_port_name == "http"
   and .__address__ == "127.0.0.1:8080")' >/dev/null \
    || fail "dropped pod targets: $(targets)"
nodes_ok() { act nodes 'length == 1 and .[0].health == "up"'; }
until_true 20 nodes_ok || fail "node targets: $(targets)"
act nodes '.[0] | .labels.instance == "n1" and .discoveredLabels.__address__ == "127.0.0.1:'$ne2'" and
  .discoveredLabels.__meta_kubernetes_node_address_InternalIP == "127.0.0.1" and
  .discoveredLabels.__meta_kubernetes_node_provider_id == "kind://docker/n1" and
  .discoveredLabels.__meta_kubernetes_node_label_kubernetes_io_hostname == "n1"' || fail "node labels: $(targets)"
# endpoints: the endpoint target joined with pod web-0, service web and node n1
# (attach_metadata), plus web-0's uncovered http port as an extra target
ep_ok() { act endpoints 'length == 2'; }
until_true 20 ep_ok || fail "endpoints targets: $(targets)"
ep_up() { act endpoints 'all(.health != "unknown")'; }
until_true 20 ep_up || fail "endpoints targets never scraped: $(targets)"
act endpoints 'map(select(.discoveredLabels.__address__ == "127.0.0.1:'$ne1'"))[0] | .health == "up" and
  (.discoveredLabels | .__meta_kubernetes_endpoint_ready == "true" and .__meta_kubernetes_pod_name == "web-0"
   and .__meta_kubernetes_pod_container_name == "app" and .__meta_kubernetes_service_name == "web"
   and .__meta_kubernetes_endpoints_name == "web" and .__meta_kubernetes_node_name == "n1"
   and .__meta_kubernetes_node_label_kubernetes_io_hostname == "n1")' || fail "endpoints labels: $(targets)"
act endpoints 'map(select(.discoveredLabels.__address__ == "127.0.0.1:8080"))[0].discoveredLabels
  | .__meta_kubernetes_pod_container_port_name == "http" and (has("__meta_kubernetes_endpoint_ready") | not)' \
    || fail "endpoints extra port target: $(targets)"
slices_ok() { act slices 'length == 2 and all(.health != "unknown")'; }
until_true 20 slices_ok || fail "endpointslice targets: $(targets)"
act slices 'map(select(.discoveredLabels.__address__ == "127.0.0.1:'$ne2'"))[0] | .health == "up" and
  (.discoveredLabels | .__meta_kubernetes_endpointslice_name == "web-x1" and .__meta_kubernetes_pod_name == "web-1"
   and .__meta_kubernetes_endpointslice_endpoint_conditions_ready == "true" and .__meta_kubernetes_service_name == "web"
   and .__meta_kubernetes_endpointslice_port == "'$ne2'")' || fail "endpointslice labels: $(targets)"
targets | jq -e '[.data.droppedTargets[].discoveredLabels | select(.job == "services")][0]
  | .__address__ == "web.default.svc:9100" and .__meta_kubernetes_service_cluster_ip == "10.96.0.10"
  and .__meta_kubernetes_service_port_name == "metrics" and .__meta_kubernetes_service_type == "ClusterIP"' >/dev/null \
    || fail "service labels: $(targets)"
targets | jq -e '[.data.droppedTargets[].discoveredLabels | select(.job == "ingresses")][0]
  | .__address__ == "web.example.com" and .__meta_kubernetes_ingress_scheme == "http"
  and .__meta_kubernetes_ingress_path == "/" and .__meta_kubernetes_ingress_name == "web"' >/dev/null \
    || fail "ingress labels: $(targets)"
[ "$(upq 'up{job="pods"} == 1')" = "web-0,web-1" ] || fail "pods not scraped: $(q "$url" up)"

# --- events while scraping: ADDED, MODIFIED, DELETED
pod web-2 $web
three() { [ "$(upq 'up{job="pods"} == 1')" = "web-0,web-1,web-2" ]; }
until_true 20 three || fail "added pod not scraped: $(q "$url" 'up{job="pods"}')"
pod web-0 $ne1 v2
v2() { [ "$(q "$url" 'up{job="pods",pod="web-0",version="v2"}' | jq '.data.result | length')" = 1 ]; }
until_true 20 v2 || fail "modified pod label not seen: $(targets)"
post delete '{"kind":"pods","namespace":"default","name":"web-1"}'
gone() { act pods 'length == 2 and (map(.labels.pod) | sort) == ["web-0","web-2"]'; }
until_true 20 gone || fail "deleted pod still a target: $(targets)"

# --- 410 Gone: the watches get an ERROR 410 event; the relist from the last
# version gets 410 too; a list without resourceVersion then succeeds
nreq() { curl -sf "$A/_test/requests" | jq "$1"; }
before=$(nreq length)
post expire '{}'
pod web-3 $ne2
four() { act pods '(map(.labels.pod) | sort) == ["web-0","web-2","web-3"]'; }
until_true 30 four || fail "pod added after 410 not seen: $(targets)"
curl -sf "$A/_test/requests" | jq -e --argjson b "$before" '.[$b:] | map(select(.path == "/api/v1/namespaces/default/pods" and (.params.watch // "") == ""))
  | any(.params.resourceVersion != null and .params.resourceVersion != "0") and any(.params | has("resourceVersion") | not)' >/dev/null \
    || fail "no relist after 410: $(curl -s "$A/_test/requests" | jq -c --argjson b "$before" '.[$b:]')"
grep -q 'Watch expired, listing again' "$TS_TMP/shard.log" || fail "no 410 watch log"
grep -q 'List expired (410 Gone)' "$TS_TMP/shard.log" || fail "no 410 list log"

# --- a dropped watch: re-watched from the last version, no relist
before=$(nreq length)
post drop '{}'
pod web-4 $ne2
five() { act pods '(map(.labels.pod) | sort) == ["web-0","web-2","web-3","web-4"]'; }
until_true 30 five || fail "pod added after a dropped watch not seen: $(targets)"
curl -sf "$A/_test/requests" | jq -e --argjson b "$before" '.[$b:] | map(select(.path == "/api/v1/namespaces/default/pods"))
  | length >= 1 and all(.params.watch == "true" and (.params.resourceVersion | tonumber) > 100)' >/dev/null \
    || fail "dropped watch not resumed by a watch: $(curl -s "$A/_test/requests" | jq -c --argjson b "$before" '.[$b:]')"
grep -q 'Watch connection failed, reconnecting' "$TS_TMP/shard.log" || fail "no reconnect log"

# --- token rotation: the next request carries the new token (the server
# rejects, and records, anything else)
echo -n "token-two" >"$TS_TMP/token.new" && mv "$TS_TMP/token.new" "$TS_TMP/token"
post drop '{}'
newtok() { curl -sf "$A/_test/requests" | jq -e 'map(select(.auth == "Bearer token-two")) | length > 0' >/dev/null; }
until_true 20 newtok || fail "token-two never sent"
pod web-5 $ne1
six() { act pods 'map(.labels.pod) | index("web-5") != null'; }
until_true 30 six || fail "no updates after the token rotation: $(targets)"

# --- the 403 above: no crash, counted; the other jobs kept working
kill -0 $shard || fail "shard died"
m=$(curl -sf "$url/metrics")
grep -q '^prometheus_sd_kubernetes_events_total{event="add",role="pod"} [1-9]' <<<"$m" || fail "events metric: $(grep sd_kubernetes <<<"$m")"
grep -q '^prometheus_sd_kubernetes_events_total{event="delete",role="pod"} [1-9]' <<<"$m" || fail "delete events metric"
grep -q '^prometheus_sd_kubernetes_http_request_total{status_code="403"} [1-9]' <<<"$m" || fail "403 not counted"
grep -q '^prometheus_sd_kubernetes_http_request_total{status_code="410"} [1-9]' <<<"$m" || fail "410 not counted"

# --- every request the API server got was well-formed
curl -sf "$A/_test/requests" >"$TS_TMP/requests.json"
# no request storm: 11 informers, a few relists and reconnects
n=$(jq length "$TS_TMP/requests.json")
[ "$n" -lt 300 ] || fail "$n requests to the API server"
p=$(curl -sf "$A/_test/problems")
# requests between the token write and the client's next stat may carry the
# old token only if they started before the rename; none may after it
[ "$p" = "[]" ] || fail "API server saw bad requests: $p"
# --- a reload that drops jobs stops their informers (watches closed, no crash);
# it adds one whose API server is out of reach: a discoveryErrors entry too
sed -i '/job_name: forbidden/,$d' "$TS_TMP/prometheus.yml"
sed -i '/job_name: slices/,/job_name: services/{/job_name: services/!d}' "$TS_TMP/prometheus.yml"
dead=$(free_port)
cat >>"$TS_TMP/prometheus.yml" <<YML
  - job_name: unreachable
    kubernetes_sd_configs:
      - {role: node, api_server: 'http://127.0.0.1:$dead'}
YML
kill -HUP $shard
noslices() { targets | jq -e '[.data.activeTargets[] | select(.labels.job == "slices")] | length == 0' >/dev/null; }
until_true 20 noslices || fail "slices job still there after the reload: $(targets)"
unreachable() {
    derrs "$url" | jq -e 'length == 1 and (.[0] | .scrapePool == "unreachable" and .role == "node"
      and (.lastError | startswith("cannot reach the API server http://127.0.0.1:'$dead': ")))' >/dev/null
}
until_true 20 unreachable || fail "discoveryErrors with an unreachable API server: $(derrs "$url")"
pod web-6 $ne2
seven() { act pods 'map(.labels.pod) | index("web-6") != null'; }
until_true 30 seven || fail "no pod updates after the reload: $(targets)"
kill -TERM $shard
for i in $(seq 50); do kill -0 $shard 2>/dev/null || break; sleep 0.2; done
kill -0 $shard 2>/dev/null && fail "shard did not stop on SIGTERM"
! grep -q 'Sanitizer' "$TS_TMP/shard.log" || fail "sanitizer report: $(grep -A20 Sanitizer "$TS_TMP/shard.log")"
echo PASS
