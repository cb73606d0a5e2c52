#!/usr/bin/env bash
# The chart's shard, ruler and querier pods, run as real processes on loopback:
# the prometheus.yml, rule.yml, rule files and the container args come from
# `helm template` (only the listen addresses, the config and rule file paths
# and the data dir are rewritten for loopback), the environment as the pod gets
# it (POD_NAME = pod name).  One shard (shards.count=1) as an HA pair scraping a
# node_exporter, with a per-target rule from shards.rules; the ruler pair with a
# global rule from ruler.rules:
#  1. both replicas start with the rendered flags and become ready
#  2. their series carry replica=<pod name> (querier with dedup off)
#  3. the querier, with its rendered flags (--store.sd-dns swapped for
#     --store), counts the pair's series once
#  4. the `helm test` Pod's script (rendered; sh + curl) passes against that querier
#  5. the shard rule's result reaches the querier; both ruler pods run with the
#     rendered flags (their replica label is their pod name), and their global
#     rule's result is one series through the querier
# With STORE_TLS=1 the chart renders storeTLS (mutual TLS on every store API
# connection): the Secrets' files are certificates made here with openssl (the
# mounts' paths rewritten to them), and every store the querier and the ruler
# list must be a healthy tls+tcp:// one, the shards and rulers given to them as
# bare HOST:PORT as DNS would (--store.tls-secure makes those TLS).
# The chart's kubernetes jobs are switched off: there is no API server here.
# Usage: rendered.sh CHART_DIR HELM_CACHE   (env TESSERA, STORE_TLS)
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
    global: {scrape_interval: 1s, evaluation_interval: 1s}
    scrape_configs:
      - job_name: node
        static_configs: [{targets: ['127.0.0.1:$ne']}]
  rules:
    node.yml:
      groups:
        - name: node
          rules:
            - record: instance:up:copy
              expr: up
ruler:
  config:
    global: {evaluation_interval: 1s}
  rules:
    global.yml: |
      groups:
        - name: global
          rules:
            - record: global:up:count
              expr: count(up)
YML
STORE_TLS=${STORE_TLS:-0}
if [ "$STORE_TLS" = 1 ]; then
    cat >>"$TS_TMP/values.yaml" <<'YML'
storeTLS: {enabled: true, serverSecret: store-server, clientSecret: store-client, serverName: localhost}
YML
    # the two Secrets' files, as their mounts show them
    (cd "$TS_TMP" && mkdir -p tls/server tls/client &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.crt &&
        for n in server client; do
            openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost \
                -keyout tls/$n/tls.key -out $n.csr &&
                openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                    -copy_extensions copy -out tls/$n/tls.crt && cp ca.crt tls/$n/ca.crt || exit 1
        done) >/dev/null 2>&1 || fail "openssl: making the certificates"
fi
# loopback_arg ARG: a rendered flag with the Secrets' mount paths pointed at those files
loopback_arg() { printf '%s' "${1//\/etc\/tessera-store-tls\//$TS_TMP/tls/}"; }
# store_listen ARG PORT: the rendered --store.listen-address on loopback, its scheme kept
store_listen() { local u=${1#--store.listen-address=}; printf -- '--store.listen-address=%s://127.0.0.1:%s' "${u%%://*}" "$2"; }
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

# The rule files of a ConfigMap into a directory (what the pod sees under /etc/tessera-rules),
# and the rule_files globs of a config pointed at it.
python3 - "$TS_TMP/all.yaml" "$TS_TMP" <<'PY' || fail "no rule ConfigMaps"
import os, sys, yaml
found = set()
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if not doc or doc["kind"] != "ConfigMap":
        continue
    name = doc["metadata"]["name"]
    for part in ("shard-rules", "ruler-rules", "ruler-config"):
        if name.endswith("-" + part):
            d = os.path.join(sys.argv[2], part)
            os.makedirs(d, exist_ok=True)
            for k, v in (doc.get("data") or {}).items():
                open(os.path.join(d, k), "w").write(v)
            found.add(part)
sys.exit(0 if len(found) == 3 else 1)
PY
[ -s "$TS_TMP/shard-rules/node.yml" ] && [ -s "$TS_TMP/ruler-rules/global.yml" ] || fail "rule files not rendered"
sed -i "s#/etc/tessera-rules/#$TS_TMP/shard-rules/#" "$TS_TMP/prometheus.yml"
sed "s#/etc/tessera-rules/#$TS_TMP/ruler-rules/#" "$TS_TMP/ruler-config/rule.yml" >"$TS_TMP/rule.yml"
grep -qF "$TS_TMP/shard-rules/*.yml" "$TS_TMP/prometheus.yml" || fail "shard config without rule_files"
grep -qF 'replica: ${POD_NAME}' "$TS_TMP/rule.yml" || fail "ruler config has no replica label"
"$TESSERA" check config --ruler "$TS_TMP/rule.yml" >"$TS_TMP/check.out" 2>&1 ||
    fail "tessera check config --ruler on the rendered rule.yml: $(cat "$TS_TMP/check.out")"

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
        --store.listen-address=*) a=$(store_listen "$a" "${STORE[$pod]}") ;;
        esac
        args+=("$(loopback_arg "$a")")
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
    args+=("$(loopback_arg "$a")")
done
for pod in "${!STORE[@]}"; do args+=("--store=127.0.0.1:${STORE[$pod]}"); done
QUERY_LOOPBACK_ARGS=("${args[@]}")
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

# 5. Rules: the shard rule from shards.rules through the querier, then the ruler pair with its
# rendered flags (--store.sd-dns swapped for the shard replicas' --store, as for the querier).
shard_rule() { q "$Q" 'instance:up:copy' | jq -r '(.data.result | length), .data.result[0].value[1]' | tr '\n' ' '; }
one_rule() { [ "$(shard_rule)" = "1 1 " ]; }
until_true 30 one_rule || fail "the shard rule through the querier: $(shard_rule), want one series = 1"
mapfile -t RULER_ARGS < <(args_of ruler)
[ "${RULER_ARGS[0]:-}" = rule ] || fail "no ruler container args"
for want in --enable-feature=expand-external-labels --query.replica-label=replica \
    --config.file=/etc/tessera/rule.yml --storage.tsdb.path=/data; do
    printf '%s\n' "${RULER_ARGS[@]}" | grep -qx -- "$want" || fail "rendered ruler args lack $want: ${RULER_ARGS[*]}"
done
printf '%s\n' "${QUERY_ARGS[@]}" | grep -qx -- '--store.sd-dns=dnssrv+_store._tcp.t-tessera-ruler.default.svc.cluster.local' ||
    fail "the querier does not discover the ruler: ${QUERY_ARGS[*]}"
declare -A RWEB RSTORE
for pod in t-tessera-ruler-0 t-tessera-ruler-1; do
    RWEB[$pod]=$(free_port)
    RSTORE[$pod]=$(free_port)
    args=()
    for a in "${RULER_ARGS[@]}"; do
        case $a in
        --config.file=*) a=--config.file=$TS_TMP/rule.yml ;;
        --storage.tsdb.path=*) a=--storage.tsdb.path=$TS_TMP/data-$pod ;;
        --web.listen-address=*) a=--web.listen-address=127.0.0.1:${RWEB[$pod]} ;;
        --store.listen-address=*) a=$(store_listen "$a" "${RSTORE[$pod]}") ;;
        --store.sd-dns=*) continue ;;
        esac
        args+=("$(loopback_arg "$a")")
    done
    for s in "${!STORE[@]}"; do args+=("--store=127.0.0.1:${STORE[$s]}"); done
    start "$pod" env POD_NAME=$pod "$TESSERA" "${args[@]}"
done
for pod in "${!RWEB[@]}"; do wait_http "http://127.0.0.1:${RWEB[$pod]}/-/ready"; done
# a querier over shards and rulers (the rendered flags again)
qp=$(free_port)
args=()
for a in "${QUERY_LOOPBACK_ARGS[@]}"; do
    case $a in --web.listen-address=*) a=--web.listen-address=127.0.0.1:$qp ;; esac
    args+=("$a")
done
for pod in "${!RSTORE[@]}"; do args+=("--store=127.0.0.1:${RSTORE[$pod]}"); done
start querier2 "$TESSERA" "${args[@]}"
Q2=http://127.0.0.1:$qp
wait_http "$Q2/-/ready"
rrep() { nodedup2 'global:up:count' | jq -c '[.data.result[].metric.replica] | sort'; }
nodedup2() { curl -sf --get --data-urlencode "query=$1" --data-urlencode dedup=false "$Q2/api/v1/query"; }
want='["t-tessera-ruler-0","t-tessera-ruler-1"]'
rboth() { [ "$(rrep)" = "$want" ]; }
until_true 40 rboth || fail "global:up:count per ruler replica: $(rrep), want $want"
glob() { q "$Q2" 'global:up:count' | jq -c '[.data.result[] | [.metric, .value[1]]]'; }
gsingle() { [ "$(glob)" = '[[{"__name__":"global:up:count"},"1"]]' ]; }
until_true 20 gsingle || fail "global:up:count through the querier: $(glob), want one series = 1"
echo "ok 5: shard rule (shards.rules) and the ruler pair (ruler.rules, rendered flags) reach the querier, deduplicated"

if [ "$STORE_TLS" = 1 ]; then
    # every store connection was mutual TLS: the querier's four stores here; the rulers' (to the
    # shards) in ok 5, whose rule read the shards' data
    tls_only() { # URL N
        curl -sf "$1/api/v1/stores" | jq -e --argjson n "$2" '[.data.store[]] | length == $n and
            all(.name | startswith("tls+tcp://")) and all(.healthy)' >/dev/null
    }
    until_true 20 tls_only "$Q2" 4 || fail "querier stores: $(curl -sf "$Q2/api/v1/stores")"
    echo "ok 6: store API mutual TLS between every rendered component (querier -> shards and rulers, rulers -> shards)"
fi
