#!/usr/bin/env bash
# --enable-feature=expand-external-labels on real processes, the way the Helm
# chart uses it: two replicas run the SAME config with `replica: ${POD_NAME}`
# and differ only in the POD_NAME environment variable.
#  1. through a querier (dedup off) each replica's series carry its pod name
#  2. with dedup on the replica label, the pair counts once
#  3. without the feature the value stays literal, as in Prometheus
#  4. an unknown feature name is a warning, not an error
. "$(dirname "$0")/../lib.sh"

conf="$TS_TMP/shard.yml"
cat >"$conf" <<'YML'
global:
  scrape_interval: 1s
  external_labels:
    replica: ${POD_NAME}
    cluster: demo-$CLUSTER_UNSET
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['127.0.0.1:1']}]
YML
declare -A WEB STORE
start_shard() { # key, POD_NAME, extra flags...
    local key=$1 pod=$2
    shift 2
    WEB[$key]=$(free_port)
    STORE[$key]=$(free_port)
    start "shard$key" env POD_NAME="$pod" "$TESSERA" shard --config.file="$conf" \
        --storage.tsdb.path="$TS_TMP/d$key" --web.listen-address=127.0.0.1:${WEB[$key]} \
        --store.listen-address=tcp://127.0.0.1:${STORE[$key]} "$@"
}
start_shard a tessera-shard-0-0 --enable-feature=expand-external-labels,no-such-feature
start_shard b tessera-shard-0-1 --enable-feature=no-such-feature --enable-feature=expand-external-labels
start_shard c tessera-shard-0-2
for k in a b c; do wait_http "http://127.0.0.1:${WEB[$k]}/-/ready"; done

qp=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --query.replica-label=replica \
    --store=127.0.0.1:${STORE[a]} --store=127.0.0.1:${STORE[b]} --store=127.0.0.1:${STORE[c]}
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"
nodedup() { curl -sf --get --data-urlencode "query=$1" --data-urlencode dedup=false "$Q/api/v1/query"; }
by_replica() { nodedup 'count by (replica, cluster) (up)' | jq -c '[.data.result[].metric] | sort_by(.replica)'; }
want='[{"cluster":"demo-","replica":"${POD_NAME}"},{"cluster":"demo-","replica":"tessera-shard-0-0"},{"cluster":"demo-","replica":"tessera-shard-0-1"}]'
# shard c has no feature: its labels are literal, cluster "demo-$CLUSTER_UNSET"
want_c='{"cluster":"demo-$CLUSTER_UNSET","replica":"${POD_NAME}"}'
want=$(jq -c --argjson c "$want_c" '[.[1], .[2], $c] | sort_by(.replica)' <<<"$want")
got() { [ "$(by_replica)" = "$want" ]; }
until_true 30 got || fail "external labels through the querier: $(by_replica), want $want"
echo "ok 1+3: replicas labelled by pod name; without the feature the value is literal"

# 2. dedup merges a and b (same labels but the replica); c differs in cluster
dedup() { q "$Q" 'count(up)' | jq -r '.data.result[0].value[1]'; }
two() { [ "$(dedup)" = 2 ]; }
until_true 20 two || fail "count(up) with dedup: $(dedup), want 2 (pair a+b once, c once)"
echo "ok 2: the HA pair deduplicates on the expanded replica label"

# 4. unknown features only warn; the known one is announced
for k in a b; do
    grep -q 'Unknown option for --enable-feature.*no-such-feature' "$TS_TMP/shard$k.log" ||
        fail "shard $k: no warning for the unknown feature"
    grep -q 'expand-external-labels enabled' "$TS_TMP/shard$k.log" || fail "shard $k: feature not announced"
done
grep -q 'Empty environment variable.*CLUSTER_UNSET' "$TS_TMP/sharda.log" || fail "no warning for the empty variable"
if grep -q 'expand-external-labels enabled' "$TS_TMP/shardc.log"; then fail "shard c enabled a feature it was not given"; fi
echo "ok 4: unknown feature names warn (Prometheus' message), empty variables warn"
