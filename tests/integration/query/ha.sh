#!/usr/bin/env bash
# The global querier over 2 shards x 2 HA replicas (all real processes on
# loopback), checking DESIGN.md §6 and the issue's must-shows:
#  1. count(up) through the querier = the number of distinct targets
#  2. a replica SIGKILLed for a while and restarted: no gap in a range query
#     through the querier, same answer as the untouched replica alone
#  3. both replicas of a shard down: warning naming the store (partial
#     response) or an error (strict); back up: full answers again
#  4. a new shard pair added through the sd file is used within a refresh
. "$(dirname "$0")/../lib.sh"

KILL_SECONDS=${KILL_SECONDS:-30}
ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne

declare -A WEB STORE PID
shard_conf() { # shard index, shard count, replica, key
    local f="$TS_TMP/s$4.yml"
    cat >"$f" <<YML
global:
  scrape_interval: 1s
  external_labels: {replica: $3}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
  - job_name: shards
    static_configs: [{targets: [$TARGETS]}]
YML
    echo "$f"
}
start_shard() { # index count replica [key: which ports and data dir, default index+replica]
    local key=${4:-$1$3}
    "$TESSERA" shard --config.file="$(shard_conf "$1" "$2" "$3" "$key")" --storage.tsdb.path="$TS_TMP/d$key" \
        --web.listen-address=127.0.0.1:${WEB[$key]} --store.listen-address=tcp://127.0.0.1:${STORE[$key]} \
        --shard.index=$1 --shard.count=$2 >>"$TS_TMP/shard$key.log" 2>&1 &
    PID[$key]=$!
    TS_PIDS+=("${PID[$key]}")
}
for k in 0a 0b 1a 1b 2a 2b; do WEB[$k]=$(free_port); STORE[$k]=$(free_port); done
TARGETS=""
for k in 0a 0b 1a 1b; do TARGETS+="'127.0.0.1:${WEB[$k]}', "; done
TARGETS=${TARGETS%, }
for k in 0a 0b 1a 1b; do start_shard "${k:0:1}" 2 "${k:1:1}"; done
for k in 0a 0b 1a 1b; do wait_http "http://127.0.0.1:${WEB[$k]}/-/ready"; done

sd="$TS_TMP/stores.yml"
printf -- "- targets: ['127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s']\n" \
    "${STORE[0a]}" "${STORE[0b]}" "${STORE[1a]}" "${STORE[1b]}" >"$sd"
qp=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --store.sd-files="$sd" \
    --store.sd-interval=1s --query.replica-label=replica
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"
healthy() { [ "$(curl -sf "$Q/api/v1/stores" | jq '[.data.store[] | select(.healthy)] | length')" = "$1" ]; }
until_true 20 healthy 4 || fail "stores not healthy: $(curl -s "$Q/api/v1/stores")"

# 1. every target counted once: 1 node_exporter + 4 shards
val() { q "$Q" "$1" | jq -r '.data.result[0].value[1] // "none"'; }
five() { [ "$(val 'count(up == 1)')" = 5 ]; }
until_true 30 five || fail "count(up) through the querier is $(val 'count(up)'), want 5"
[ "$(q "$Q" 'count by (replica) (up)' | jq -c '[.data.result[].metric]')" = '[{}]' ] ||
    fail "replica label leaked through dedup: $(q "$Q" 'count by (replica) (up)')"
nodedup() { curl -sf --get --data-urlencode 'query=count(up)' --data-urlencode dedup=false "$Q/api/v1/query" |
            jq -r '.data.result[0].value[1]'; }
all_replicas() { [ "$(nodedup)" = 10 ]; } # 5 targets x replicas a and b
until_true 20 all_replicas || fail "dedup=false should see each replica's series, got $(nodedup)"
nodedup=$(nodedup)
echo "ok 1: count(up)=5 through the querier, $nodedup without dedup"

# 2. kill replica a of the shard that scrapes the node_exporter (targets are
#    spread by rendezvous hashing, so find out which one), bring it back
owns_node() { curl -sf "http://127.0.0.1:${WEB[$1]}/api/v1/targets" |
              jq -e '[.data.activeTargets[] | select(.labels.job == "node")] | length == 1' >/dev/null; }
if owns_node 0a; then S=0; elif owns_node 1a; then S=1; else fail "no shard scrapes the node_exporter"; fi
owns_node ${S}b || fail "replicas of shard $S disagree on the node target"
other="$((1 - S))a"
curl -sf "http://127.0.0.1:${WEB[$other]}/api/v1/targets" |
    jq -e '[.data.droppedTargets[] | select(.dropReason // "" | test("owned by shard"))] | length >= 1' >/dev/null ||
    fail "the other shard does not list the node target as dropped with a reason"
sleep 5 # some history before the outage
t_kill=$(date +%s)
kill -9 "${PID[${S}a]}"
sleep "$KILL_SECONDS"
start_shard $S 2 a
wait_http "http://127.0.0.1:${WEB[${S}a]}/-/ready"
sleep 3
t_end=$(date +%s)
t_start=$((t_kill - 5))
range() { # URL QUERY [extra curl args]
    local u=$1 e=$2
    shift 2
    curl -sf --get --data-urlencode "query=$e" --data-urlencode "start=$t_start" \
        --data-urlencode "end=$t_end" --data-urlencode step=1 "$@" "$u/api/v1/query_range"
}
through=$(range "$Q" 'up{job="node"}' | jq -c '[.data.result[0].values[] | .[0]]') || fail "range query failed"
# every step from before the kill to the end has a value (no gap) ...
first=$(jq '.[0]' <<<"$through"); last=$(jq '.[-1]' <<<"$through")
nsteps=$(jq length <<<"$through")
[ "$first" -le "$t_kill" ] && [ "$last" -ge $((t_end - 1)) ] || fail "querier range $first..$last misses [$t_kill, $t_end]"
[ "$nsteps" = $((last - first + 1)) ] || fail "gap through the querier: $nsteps values over $((last - first + 1)) steps"
# ... and the answer is the untouched replica's
values() { range "$1" 'up{job="node"}' | jq -c '.data.result[0].values'; }
untouched=http://127.0.0.1:${WEB[${S}b]}
vu=$(values "$untouched")
# from the untouched replica's first point on: before it (a loaded machine can start its scrapes a
# second after the window's start) the querier rightly answers from the other replica
vq=$(values "$Q" | jq -c --argjson t0 "$(jq '.[0][0]' <<<"$vu")" 'map(select(.[0] >= $t0))')
[ "$vq" = "$vu" ] || fail "querier and the untouched replica differ: $(jq -c '[length, first, last]' <<<"$vq") vs $(jq -c '[length, first, last]' <<<"$vu"): $(diff <(jq -c '.[]' <<<"$vq") <(jq -c '.[]' <<<"$vu") | head -5 | tr '\n' ' ')"
echo "ok 2: no gap over $nsteps steps around a ${KILL_SECONDS}s outage of a replica"

# 3. both replicas of shard 1 down
kill -9 "${PID[1a]}" "${PID[1b]}"
until_true 20 healthy 2 || fail "querier did not notice the dead stores"
resp=$(curl -sf --get --data-urlencode 'query=count(up)' "$Q/api/v1/query")
jq -e '.status == "success" and (.warnings | length) >= 1' <<<"$resp" >/dev/null || fail "no warning: $resp"
grep -q "${STORE[1a]}" <<<"$(jq -r '.warnings | join(" ")' <<<"$resp")" || fail "warning does not name the store: $resp"
code=$(curl -s -o "$TS_TMP/strict.json" -w '%{http_code}' --get --data-urlencode 'query=count(up)' \
       --data-urlencode partial_response=false "$Q/api/v1/query")
[ "$code" != 200 ] && jq -e '.status == "error"' "$TS_TMP/strict.json" >/dev/null || fail "strict mode answered $code"
start_shard 1 2 a
start_shard 1 2 b
until_true 30 healthy 4 || fail "stores did not come back"
resp=$(curl -sf --get --data-urlencode 'query=count(up)' "$Q/api/v1/query")
jq -e '(.warnings // []) | length == 0' <<<"$resp" >/dev/null || fail "still warnings after recovery: $resp"
echo "ok 3: partial response warning, strict error, recovery"

# 4. a third shard pair, added through the sd file at runtime
TARGETS="'127.0.0.1:${WEB[2a]}'"
start_shard 0 1 a 2a # a separate pair (shard count 1) scraping its own target
start_shard 0 1 b 2b
wait_http "http://127.0.0.1:${WEB[2a]}/-/ready"
printf -- "- targets: ['127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s', '127.0.0.1:%s']\n" \
    "${STORE[0a]}" "${STORE[0b]}" "${STORE[1a]}" "${STORE[1b]}" "${STORE[2a]}" "${STORE[2b]}" >"$sd"
until_true 10 healthy 6 || fail "new stores not used: $(curl -s "$Q/api/v1/stores")"
seen() { [ "$(val "count(up{instance=\"127.0.0.1:${WEB[2a]}\"})")" = 1 ]; }
until_true 15 seen || fail "data of the new shard not visible through the querier"
echo "ok 4: new shard pair used after an sd file change"
echo "PASS query ha"
