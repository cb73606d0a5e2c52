#!/usr/bin/env bash
# The chart's shard and querier pods, run as real processes on loopback: the
# prometheus.yml and the container args come from `helm template` (only the
# listen addresses, the config path and the data dir are rewritten for
# loopback), the environment as the pod gets it (POD_NAME = pod name).  One
# shard (shards.count=1) as an HA pair scraping a node_exporter:
#  1. both replicas start with the rendered flags and become ready
#  2. their series carry replica=<pod name> (querier with dedup off)
#  3. the querier, with its rendered flags (--store.sd-dns swapped for
#     --store), counts the pair's series once
#  4. the `helm test` Pod's script (rendered; sh + curl) passes against that querier
# The chart's kubernetes jobs are switched off: there is no API server here.
# Usage: rendered.sh CHART_DIR HELM_CACHE   (env TESSERA)
. "$(dirname "$0")/../lib.sh"
CHART=$(cd "$1" && pwd)
. "$(dirname "$0")/helm.sh"
get_helm "$2"

ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
cat >"$TS_TMP/values.yaml" <<YML
scrapeConfigs: {apiServer: false, kubelet: false, cadvisor: false, serviceEndpoints: false, pods: false}
shards:
  count: 1
  config:
    global: {scrape_interval: 1s}
    scrape_configs:
      - job_name: node
        static_configs: [{targets: ['127.0.0.1:$ne']}]
YML
"$HELM" template t "$CHART" -f "$TS_TMP/values.yaml" >"$TS_TMP/all.yaml" || fail "helm template"

# The rendered prometheus.yml and each container's args (the lines under
# `args:` of the object whose `name:` is given).
awk '/^  prometheus.yml: \|/ { on = 1; next } on && /^    / { print substr($0, 5); next } on { exit }' \
    "$TS_TMP/all.yaml" >"$TS_TMP/prometheus.yml"
grep -qF 'replica: ${POD_NAME}' "$TS_TMP/prometheus.yml" || fail "rendered config has no replica label"
args_of() { # container name
    awk -v c="$1" '
        $0 ~ "^ *- name: " c "$" { inc = 1; next }
        inc && /^ *args:/ { on = 1; next }
        on && /^ *- / { sub(/^ *- /, ""); gsub(/^"|"$/, ""); print; next }
        on { exit }' "$TS_TMP/all.yaml"
}
mapfile -t SHARD_ARGS < <(args_of shard)
mapfile -t QUERY_ARGS < <(args_of query)
[ "${SHARD_ARGS[0]:-}" = shard ] && [ "${QUERY_ARGS[0]:-}" = query ] || fail "no container args found"
printf '%s\n' "${SHARD_ARGS[@]}" | grep -qx -- '--shard.count-file=/etc/tessera-shards/count' ||
    fail "rendered shard args: ${SHARD_ARGS[*]}"
# the count map's value, as the pod sees it in its mounted file
python3 - "$TS_TMP/all.yaml" "$TS_TMP/shard-count" <<'PY' || fail "no shard count ConfigMap"
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-shard-count"):
        open(sys.argv[2], "w").write(doc["data"]["count"])
        sys.exit(0)
sys.exit(1)
PY
[ "$(cat "$TS_TMP/shard-count")" = 1 ] || fail "count map holds $(cat "$TS_TMP/shard-count"), want 1"

declare -A WEB STORE
for pod in t-tessera-shard-0-0 t-tessera-shard-0-1; do
    WEB[$pod]=$(free_port)
    STORE[$pod]=$(free_port)
    args=()
    for a in "${SHARD_ARGS[@]}"; do
        case $a in
        --config.file=*) a=--config.file=$TS_TMP/prometheus.yml ;;
        --storage.tsdb.path=*) a=--storage.tsdb.path=$TS_TMP/data-$pod ;;
        --shard.count-file=*) a=--shard.count-file=$TS_TMP/shard-count ;;
        --web.listen-address=*) a=--web.listen-address=127.0.0.1:${WEB[$pod]} ;;
        --store.listen-address=*) a=--store.listen-address=tcp://127.0.0.1:${STORE[$pod]} ;;
        esac
        args+=("$a")
    done
    start "$pod" env POD_NAME=$pod "$TESSERA" "${args[@]}"
done
for pod in "${!WEB[@]}"; do wait_http "http://127.0.0.1:${WEB[$pod]}/-/ready"; done
for pod in "${!WEB[@]}"; do wait_http "http://127.0.0.1:${WEB[$pod]}/-/healthy"; done
echo "ok 1: both replicas run with the rendered flags: ${SHARD_ARGS[*]:1}"

qp=$(free_port)
args=()
for a in "${QUERY_ARGS[@]}"; do
    case $a in
    --web.listen-address=*) a=--web.listen-address=127.0.0.1:$qp ;;
    --store.sd-dns=*) continue ;; # no cluster DNS here
    esac
    args+=("$a")
done
for pod in "${!STORE[@]}"; do args+=("--store=127.0.0.1:${STORE[$pod]}"); done
start querier "$TESSERA" "${args[@]}"
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"
nodedup() { curl -sf --get --data-urlencode "query=$1" --data-urlencode dedup=false "$Q/api/v1/query"; }
replicas() { nodedup 'count by (replica) (up{job="node"} == 1)' | jq -c '[.data.result[].metric.replica] | sort'; }
want='["t-tessera-shard-0-0","t-tessera-shard-0-1"]'
both() { [ "$(replicas)" = "$want" ]; }
until_true 30 both || fail "replica labels through the querier: $(replicas), want $want"
echo "ok 2: each replica's series carry replica=<its pod name>"

dedup() { q "$Q" 'count(up{job="node"})' | jq -r '.data.result[0].value[1] // "none"'; }
one() { [ "$(dedup)" = 1 ]; }
until_true 20 one || fail "count(up{job=\"node\"}) through the querier: $(dedup), want 1"
[ "$(q "$Q" 'count by (replica) (up)' | jq -c '[.data.result[].metric]')" = '[{}]' ] ||
    fail "replica label not deduplicated: $(q "$Q" 'count by (replica) (up)')"
echo "ok 3: the querier with the rendered flags deduplicates the pair"

# 4. The helm test hook's script, as the Pod runs it (sh -c SCRIPT, QUERY_URL from its env).
python3 - "$TS_TMP/all.yaml" "$TS_TMP/hook.sh" <<'PY' || fail "no helm test Pod in the rendered chart"
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["kind"] == "Pod" and doc["metadata"]["annotations"].get("helm.sh/hook") == "test":
        c = doc["spec"]["containers"][0]
        assert c["command"] == ["/bin/sh", "-c"], c["command"]
        open(sys.argv[2], "w").write(c["args"][0])
        sys.exit(0)
sys.exit(1)
PY
QUERY_URL=$Q timeout 120 sh -c "$(cat "$TS_TMP/hook.sh")" >"$TS_TMP/hook.out" 2>&1 ||
    fail "the helm test script failed: $(cat "$TS_TMP/hook.out")"
grep -qx 'count(up) = 1' "$TS_TMP/hook.out" || fail "helm test script output: $(cat "$TS_TMP/hook.out")"
echo "ok 4: the helm test Pod's script passes against the querier ($(tail -n 1 "$TS_TMP/hook.out"))"
