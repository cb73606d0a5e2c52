#!/usr/bin/env bash
# kubernetes_sd_configs without api_server: in-cluster (KUBERNETES_SERVICE_HOST
# and _PORT, the service-account token, CA and namespace; own_namespace) and a
# kubeconfig file (relative path; certificate-authority-data, token), both
# over HTTPS to the stand-in API server (apiserver.py, which checks every
# request).  The service-account directory is moved with
# TESSERA_K8S_SERVICEACCOUNT_DIR, the only difference from a real pod.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

api=$(free_port); ne=$(free_port); web=$(free_port); store=$(free_port)
sa=$TS_TMP/sa
mkdir -p "$sa"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TS_TMP/key.pem" -out "$sa/ca.crt" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$TS_TMP/openssl.log" 2>&1 || fail "openssl"
echo -n "sa-token" >"$sa/token"
echo -n "monitoring" >"$sa/namespace"
start apiserver python3 "$here/apiserver.py" "$api" "$sa/token" "$sa/ca.crt" "$TS_TMP/key.pem"
start ne prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
A=https://127.0.0.1:$api
for i in $(seq 100); do curl -sf --cacert "$sa/ca.crt" -o /dev/null "$A/_test/problems" && break; sleep 0.1; done
post() { curl -sf --cacert "$sa/ca.crt" -X POST -H 'Content-Type: application/json' -d "$2" "$A/_test/$1" >/dev/null || fail "post $1"; }
for ns in monitoring default; do
    post object '{"kind":"pods","object":{"metadata":{"name":"exp","namespace":"'$ns'","uid":"u-'$ns'"},
      "spec":{"containers":[{"name":"c","image":"node-exporter","ports":[{"name":"metrics","containerPort":'$ne',"protocol":"TCP"}]}]},
      "status":{"phase":"Running","podIP":"127.0.0.1","conditions":[{"type":"Ready","status":"True"}]}}}'
done
mkdir -p "$TS_TMP/kube"
cat >"$TS_TMP/kube/config" <<YML
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c1
  cluster:
    server: $A
    certificate-authority-data: $(base64 -w0 "$sa/ca.crt")
contexts:
- name: test
  context: {cluster: c1, user: u1, namespace: default}
users:
- name: u1
  user: {token: sa-token}
YML
cat >"$TS_TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: incluster
    kubernetes_sd_configs: [{role: pod, namespaces: {own_namespace: true}}]
  - job_name: kubeconfig
    kubernetes_sd_configs: [{role: pod, kubeconfig_file: kube/config, namespaces: {names: [default]}}]
YML
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$api TESSERA_K8S_SERVICEACCOUNT_DIR=$sa \
    start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/data" \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store
shard=$LAST_PID
url=http://127.0.0.1:$web
wait_http "$url/-/ready"
both() {
    curl -sf "$url/api/v1/targets" | jq -e '.data.activeTargets | length == 2 and all(.health == "up")
      and (map(.labels.job + "/" + .discoveredLabels.__meta_kubernetes_namespace) | sort)
          == ["incluster/monitoring", "kubeconfig/default"]' >/dev/null
}
until_true 30 both || fail "targets: $(curl -s "$url/api/v1/targets")"
grep -q 'Using pod service account via in-cluster config' "$TS_TMP/shard.log" || fail "no in-cluster log line"
reqs=$(curl -sf --cacert "$sa/ca.crt" "$A/_test/requests")
jq -e 'map(.path) | unique == ["/api/v1/namespaces/default/pods", "/api/v1/namespaces/monitoring/pods"]' <<<"$reqs" >/dev/null \
    || fail "paths: $(jq -c 'map(.path) | unique' <<<"$reqs")"
p=$(curl -sf --cacert "$sa/ca.crt" "$A/_test/problems")
[ "$p" = "[]" ] || fail "API server saw bad requests: $p"

# without the service variables, in-cluster discovery cannot start: logged,
# the shard runs on
web2=$(free_port); store2=$(free_port)
start shard2 "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/data2" \
    --web.listen-address=127.0.0.1:$web2 --store.listen-address=tcp://127.0.0.1:$store2
wait_http "http://127.0.0.1:$web2/-/ready"
logged() { grep -q 'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined' "$TS_TMP/shard2.log"; }
until_true 10 logged || fail "no in-cluster error logged"
# ... and shown in /api/v1/targets as that discoverer's error (the other job works)
startfail() {
    curl -sf "http://127.0.0.1:$web2/api/v1/targets" | jq -e '.data.discoveryErrors | length == 1 and (.[0]
      | .scrapePool == "incluster" and .mechanism == "kubernetes_sd" and .role == "pod"
      and (.lastError | startswith("cannot start: unable to load in-cluster configuration")))' >/dev/null
}
until_true 10 startfail || fail "discoveryErrors: $(curl -s "http://127.0.0.1:$web2/api/v1/targets" | jq -c .data.discoveryErrors)"
kill -TERM $shard
for i in $(seq 50); do kill -0 $shard 2>/dev/null || break; sleep 0.2; done
kill -0 $shard 2>/dev/null && fail "shard did not stop on SIGTERM"
! grep -q 'Sanitizer' "$TS_TMP/shard.log" || fail "sanitizer report: $(grep -A20 Sanitizer "$TS_TMP/shard.log")"
echo PASS
