#!/usr/bin/env bash
# A target that moves from one shard to another keeps one series identity in
# the querier: its old data (old shard) and new data (new shard) form a
# single series.  Shard membership is not a label: shards of one replica
# share their external labels.
. "$(dirname "$0")/../lib.sh"

ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
conf() { # targets
    cat >"$TS_TMP/$1.yml" <<YML
global: {scrape_interval: 500ms, scrape_timeout: 500ms, external_labels: {replica: a}}
scrape_configs:
  - job_name: node
    static_configs: [{targets: [$2]}]
YML
}
conf old "'127.0.0.1:$ne'"
conf new "'127.0.0.1:$ne'"
declare -A W S
for k in old new; do W[$k]=$(free_port); S[$k]=$(free_port); done
run() {
    start "shard-$1" "$TESSERA" shard --config.file="$TS_TMP/$1.yml" --storage.tsdb.path="$TS_TMP/d-$1" \
        --web.listen-address=127.0.0.1:${W[$1]} --store.listen-address=tcp://127.0.0.1:${S[$1]}
    wait_http "http://127.0.0.1:${W[$1]}/-/ready"
}
t0=$(date +%s)
run old
sleep 4
# the target moves: the new shard starts scraping it, then the old one lets go
# (a reload without it; it writes stale markers as Prometheus does)
old_pid=$LAST_PID
run new
sleep 1
conf old ""
kill -HUP "$old_pid"
sleep 4
t1=$(date +%s)
qp=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --store=127.0.0.1:${S[old]} \
    --store=127.0.0.1:${S[new]}
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"
healthy() { [ "$(curl -sf "$Q/api/v1/stores" | jq '[.data.store[] | select(.healthy)] | length')" = 2 ]; }
until_true 20 healthy || fail "stores not healthy"
res=$(curl -sf --get --data-urlencode 'query=up{job="node"}' --data-urlencode start=$t0 \
      --data-urlencode end=$t1 --data-urlencode step=1 "$Q/api/v1/query_range")
n=$(jq '.data.result | length' <<<"$res")
[ "$n" = 1 ] || fail "expected one series across the move, got $n: $res"
steps=$(jq '.data.result[0].values | length' <<<"$res")
first=$(jq '.data.result[0].values[0][0]' <<<"$res"); last=$(jq '.data.result[0].values[-1][0]' <<<"$res")
# staleness may hide at most a couple of steps right at the hand-over
maxgap=$(jq '[.data.result[0].values | . as $v | range(1; length) | $v[.][0] - $v[. - 1][0]] | max // 0' <<<"$res")
[ "$maxgap" -le 3 ] || fail "gap of ${maxgap}s in the moved series: $res"
[ "$first" -le $((t0 + 2)) ] || fail "the moved series starts late ($first, t0=$t0)"
[ "$last" -ge $((t1 - 1)) ] || fail "the moved series stops at $last before $t1"
# both shards hold a part of it
for k in old new; do
    c=$(q "http://127.0.0.1:${W[$k]}" "count_over_time(up{job=\"node\"}[1h])" | jq -r '.data.result[0].value[1] // 0')
    [ "$c" -gt 0 ] || fail "shard $k holds no samples of the target"
done
echo "PASS move: one series of $steps values (largest gap ${maxgap}s), old part on one shard, new part on the other"
