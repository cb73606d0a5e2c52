#!/usr/bin/env bash
# Scaling out without restarts (--shard.count-file), as the Helm chart does it: every shard reads
# the shard count from one file (the chart mounts it from a ConfigMap) and re-reads it when it
# changes.  2 shards (one replica each, replica label from POD_NAME as in the chart) scrape N
# targets (N `tessera bench targets` processes: the address decides the shard) behind a querier;
# then 3 is written to the file (atomic rename, as the kubelet swaps a ConfigMap volume), the
# two learn it, and 4 s later a third shard starts (the handoff period, 15 s, covers that).
#  1. before: each target is scraped by exactly one of the two shards
#  2. after: the two shards are the same processes (no restart; one start-up line each) and
#     logged the new count; each target is active on exactly one shard; the targets that moved
#     all went to the new shard (none between the old ones), about a third of them
#  3. through the querier, over the whole change: count(up) is N at every step, and each target
#     is one series with a sample in every 4 s window (scrape interval 1 s)
#  4. a count file with garbage is an error in the log; the shards keep their count (and at
#     start-up, a missing or bad count file is a usage error)
. "$(dirname "$0")/../lib.sh"

N=30
HANDOFF=15s
ports=()
for ((k = 0; k < N; k++)); do
    p=$(free_port)
    ports+=("$p")
    start "bench$k" "$TESSERA" bench targets --listen=127.0.0.1:$p --targets=1 --series=5
done
targets=$(printf "'127.0.0.1:%s'," "${ports[@]}")
cat >"$TS_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  external_labels:
    replica: \${POD_NAME}
scrape_configs:
  - job_name: bench
    metrics_path: /metrics/0
    static_configs: [{targets: [${targets%,}]}]
YML
mkdir -p "$TS_TMP/count"
CF=$TS_TMP/count/shards
set_count() { # atomically, as a ConfigMap volume changes
    printf '%s\n' "$1" >"$TS_TMP/count/.tmp" && mv "$TS_TMP/count/.tmp" "$CF"
}
set_count 2

# a count file that is missing or bad at start-up is a usage error (exit code 2), said clearly
for bad in missing three; do
    [ "$bad" = three ] && printf 'three\n' >"$TS_TMP/badcount"
    rc=0
    "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/dbad" \
        --web.listen-address=127.0.0.1:$(free_port) --store.listen-address= \
        --shard.count-file="$TS_TMP/badcount" >"$TS_TMP/bad.out" 2>&1 || rc=$?
    [ $rc = 2 ] && grep -q -- '--shard.count-file: .*badcount' "$TS_TMP/bad.out" ||
        fail "count file $bad at start-up: exit $rc, $(cat "$TS_TMP/bad.out")"
done
grep -q "want a whole number of shards >= 1, got 'three'" "$TS_TMP/bad.out" || fail "$(cat "$TS_TMP/bad.out")"

declare -A WEB STORE PID
start_shard() { # index
    local i=$1
    WEB[$i]=$(free_port)
    STORE[$i]=$(free_port)
    start "shard$i" env POD_NAME=t-shard-$i-0 "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" \
        --storage.tsdb.path="$TS_TMP/d$i" --web.listen-address=127.0.0.1:${WEB[$i]} \
        --store.listen-address=tcp://127.0.0.1:${STORE[$i]} --enable-feature=expand-external-labels \
        --shard.index="$i" --shard.count-file="$CF" --shard.handoff-period=$HANDOFF
    PID[$i]=$LAST_PID
}
start_shard 0
start_shard 1
S2_STORE=$(free_port)
qp=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --query.replica-label=replica \
    --store=127.0.0.1:${STORE[0]} --store=127.0.0.1:${STORE[1]} --store=127.0.0.1:$S2_STORE
Q=http://127.0.0.1:$qp
for i in 0 1; do wait_http "http://127.0.0.1:${WEB[$i]}/-/ready"; done
wait_http "$Q/-/ready"

# the instances a shard scrapes (active targets), sorted
active() { curl -sf "http://127.0.0.1:${WEB[$1]}/api/v1/targets?state=active" |
    jq -r '.data.activeTargets[].labels.instance' | sort; }
# every target active on exactly one of the given shards
exactly_once() {
    local all
    all=$(for i in "$@"; do active "$i"; done | sort)
    [ "$(wc -l <<<"$all")" = "$N" ] && [ "$(uniq <<<"$all" | wc -l)" = "$N" ]
}
up_count() { q "$Q" 'count(up{job="bench"} == 1)' | jq -r '.data.result[0].value[1] // 0'; }
all_up() { [ "$(up_count)" = "$N" ]; }
until_true 60 exactly_once 0 1 || fail "2 shards: targets not split: $(active 0 | wc -l) + $(active 1 | wc -l)"
until_true 60 all_up || fail "count(up == 1) through the querier: $(up_count), want $N"
active 0 >"$TS_TMP/before0"
active 1 >"$TS_TMP/before1"
echo "ok 1: 2 shards split $N targets $(wc -l <"$TS_TMP/before0")/$(wc -l <"$TS_TMP/before1")"
sleep 5 # some history before the change
t0=$(date +%s)

# The worst order: the running shards learn the new count first, and the new shard starts
# seconds later (in Kubernetes its pod may need a while); the handoff covers that.
set_count 3
for i in 0 1; do
    learned() { grep -q 'shard count changed.*from=2.*to=3' "$TS_TMP/shard$1.log"; }
    until_true 20 learned "$i" || fail "shard $i did not learn the new count"
done
sleep 4
WEB[2]=$(free_port)
start "shard2" env POD_NAME=t-shard-2-0 "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" \
    --storage.tsdb.path="$TS_TMP/d2" --web.listen-address=127.0.0.1:${WEB[2]} \
    --store.listen-address=tcp://127.0.0.1:$S2_STORE --enable-feature=expand-external-labels \
    --shard.index=2 --shard.count-file="$CF" --shard.handoff-period=$HANDOFF
PID[2]=$LAST_PID
wait_http "http://127.0.0.1:${WEB[2]}/-/ready"
# after the handoff period, each target on exactly one of the three
until_true 60 exactly_once 0 1 2 || fail "3 shards: $(active 0 | wc -l) + $(active 1 | wc -l) + $(active 2 | wc -l)"
for i in 0 1; do
    kill -0 "${PID[$i]}" 2>/dev/null || fail "shard $i is gone"
    [ "$(grep -ci 'server is ready to receive web requests' "$TS_TMP/shard$i.log")" = 1 ] ||
        fail "shard $i started more than once"
    active "$i" >"$TS_TMP/after$i"
    extra=$(comm -13 "$TS_TMP/before$i" "$TS_TMP/after$i")
    [ -z "$extra" ] || fail "targets moved between the old shards: shard $i took $extra"
done
moved=$(active 2 | wc -l)
[ "$moved" -ge $((N / 10)) ] && [ "$moved" -le $((N * 6 / 10)) ] ||
    fail "$moved of $N targets moved to the new shard, want about a third"
echo "ok 2: same shard processes (pids ${PID[0]} ${PID[1]}), $moved of $N targets moved to the new shard"

sleep 5 # some history after the handoff
t1=$(date +%s)
range() { # query
    curl -sf --get --data-urlencode "query=$1" --data-urlencode "start=$((t0 - 5))" \
        --data-urlencode "end=$t1" --data-urlencode step=1 "$Q/api/v1/query_range"
}
steps=$((t1 - t0 + 6))
range 'count(up{job="bench"})' >"$TS_TMP/count.json"
bad=$(jq -r --arg n "$N" '[.data.result[0].values[] | select(.[1] != $n)] | length' "$TS_TMP/count.json")
got=$(jq -r '.data.result[0].values | length' "$TS_TMP/count.json")
[ "$got" = "$steps" ] && [ "$bad" = 0 ] ||
    fail "count(up) over the change: $got of $steps steps, $bad not $N: $(jq -c '.data.result[0].values' "$TS_TMP/count.json")"
range 'count_over_time(up{job="bench"}[4s])' >"$TS_TMP/cot.json"
nseries=$(jq '.data.result | length' "$TS_TMP/cot.json")
[ "$nseries" = "$N" ] || fail "$nseries series of up through the querier, want $N (one per target)"
gaps=$(jq -r --argjson s "$steps" '[.data.result[] | select((.values | length) != $s) | .metric.instance] | join(" ")' \
    "$TS_TMP/cot.json")
[ -z "$gaps" ] || fail "targets with a gap (no sample in some 4 s window): $gaps"
echo "ok 3: through the querier, count(up) = $N at each of $steps steps; every target one series, no gap"

printf 'three\n' >"$TS_TMP/count/.tmp" && mv "$TS_TMP/count/.tmp" "$CF"
complained() { grep -q 'level=error.*shard count' "$TS_TMP/shard$1.log"; }
until_true 20 complained 0 || fail "no error for a count file holding 'three'"
sleep 2
exactly_once 0 1 2 || fail "a bad count file changed the shards' targets"
echo "ok 4: a bad count file is an error in the log; the shards keep counting 3"
