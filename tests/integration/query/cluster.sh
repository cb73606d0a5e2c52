# A 2 shards x 2 replicas cluster behind a querier, for the fault tests
# (sourced after lib.sh; not a test itself).
#
#   NODES node_exporters (cpu, meminfo, loadavg collectors) on $TARGET_HOST;
#   shards 0a 0b 1a 1b scraping all of them every second (--shard.index/count
#   spreads them; EXTRA_SCRAPE adds scrape configs, RULE_FILES a rule_files
#   list, evaluated every second); a querier Q over the four stores through an
#   sd file (write_sd; EXTRA_SD: more store addresses in it), and a
#   reference querier REF over replicas b only (the healthy cluster's answer:
#   one complete replica per shard, never touched by a fault).
#
# With NETNS=1 (the network fault tests) replica 0a runs in a network
# namespace of its own, linked to the host by a veth pair (10.250.N.1 host
# side, 10.250.N.2 inside, N random), so tc netem and `ip link` can delay or
# cut it.  Targets are then scraped at 10.250.N.1 by every replica (the same
# instance labels everywhere, so replicas dedup).  The namespace is removed on
# exit, whatever happens.
#
# Helpers: check_window START END (answers over a window equal the reference,
# no gap, no warning, every query within MAX_LATENCY s), timed_query, ...
NODES=${NODES:-4}
MAX_LATENCY=${MAX_LATENCY:-2.0}
NETNS=${NETNS:-0}
declare -A WEB STORE PID HOST

if [ "$NETNS" = 1 ]; then
    [ "$(id -u)" = 0 ] || fail "this test needs root (network namespaces, tc netem)"
    NS_ID=$((RANDOM % 200 + 20))
    NS=tsq$$x$NS_ID
    VH=tsqh$NS_ID$((RANDOM % 100)) # host side (<= 15 chars)
    VN=tsqn${VH#tsqh}
    NET=10.250.$NS_ID
    ns_cleanup() {
        ip netns del "$NS" 2>/dev/null || true
        ip link del "$VH" 2>/dev/null || true
        ts_cleanup
    }
    trap ns_cleanup EXIT
    ip netns add "$NS" || fail "cannot create network namespace $NS"
    ip link add "$VH" type veth peer name "$VN" || fail "cannot create veth pair"
    ip link set "$VN" netns "$NS"
    ip addr add "$NET.1/30" dev "$VH"
    ip link set "$VH" up
    ip netns exec "$NS" ip addr add "$NET.2/30" dev "$VN"
    ip netns exec "$NS" ip link set "$VN" up
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip route add default via "$NET.1"
    TARGET_HOST=$NET.1
else
    TARGET_HOST=127.0.0.1
fi

TARGETS=""
NE_PORTS=()
for ((i = 0; i < NODES; i++)); do
    p=$(free_port)
    start "ne$i" prometheus-node-exporter --web.listen-address="$TARGET_HOST:$p" \
        --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg
    NE_PORTS+=("$p")
    TARGETS+="'$TARGET_HOST:$p', "
done
TARGETS=${TARGETS%, }

for k in 0a 0b 1a 1b; do
    WEB[$k]=$(free_port)
    STORE[$k]=$(free_port)
    HOST[$k]=127.0.0.1
done
[ "$NETNS" = 1 ] && HOST[0a]=$NET.2

start_shard() { # key (0a, 0b, 1a, 1b)
    local key=$1 f="$TS_TMP/s$1.yml" h=${HOST[$1]}
    cat >"$f" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels: {replica: ${key:1:1}}
${RULE_FILES:+rule_files: [$RULE_FILES]}
scrape_configs:
  - job_name: node
    static_configs: [{targets: [$TARGETS]}]
${EXTRA_SCRAPE:-}
YML
    local run=()
    [ "$NETNS" = 1 ] && [ "$key" = 0a ] && run=(ip netns exec "$NS")
    "${run[@]}" "$TESSERA" shard --config.file="$f" --storage.tsdb.path="$TS_TMP/d$key" \
        --web.listen-address="$h:${WEB[$key]}" --store.listen-address="tcp://$h:${STORE[$key]}" \
        --shard.index="${key:0:1}" --shard.count=2 >>"$TS_TMP/shard$key.log" 2>&1 &
    PID[$key]=$!
    TS_PIDS+=("${PID[$key]}")
}
# the address Q asks for a store (with PROXY_0A=1, 0a through a delaying proxy)
store_addr() {
    if [ "${PROXY_0A:-0}" = 1 ] && [ "$1" = 0a ]; then echo "127.0.0.1:$PROXY_PORT"; else echo "${HOST[$1]}:${STORE[$1]}"; fi
}
write_sd() { # keys...: the sd file of Q
    local t="" k
    for k in "$@"; do t+="'$(store_addr "$k")', "; done
    for k in ${EXTRA_SD:-}; do t+="'$k', "; done
    printf -- "- targets: [%s]\n" "${t%, }" >"$TS_TMP/stores.yml.tmp"
    mv "$TS_TMP/stores.yml.tmp" "$TS_TMP/stores.yml"
}

for k in 0a 0b 1a 1b; do start_shard "$k"; done
if [ "${PROXY_0A:-0}" = 1 ]; then
    PROXY_PORT=$(free_port)
    DELAY_FILE=$TS_TMP/delay_ms
    start proxy python3 "$(dirname "${BASH_SOURCE[0]}")/delay_proxy.py" "$PROXY_PORT" \
        "${HOST[0a]}:${STORE[0a]}" "$DELAY_FILE"
fi
for k in 0a 0b 1a 1b; do wait_http "http://${HOST[$k]}:${WEB[$k]}/-/ready"; done
write_sd 0a 0b 1a 1b
qp=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --store.sd-files="$TS_TMP/stores.yml" \
    --store.sd-interval=1s --query.replica-label=replica ${QUERIER_FLAGS:-}
QPID=$LAST_PID
rp=$(free_port)
start reference "$TESSERA" query --web.listen-address=127.0.0.1:$rp \
    --store="$(store_addr 0b)" --store="$(store_addr 1b)" --store.sd-interval=1s
Q=http://127.0.0.1:$qp
REF=http://127.0.0.1:$rp
wait_http "$Q/-/ready"
wait_http "$REF/-/ready"

healthy_count() { curl -sf "$Q/api/v1/stores" | jq '[.data.store[] | select(.healthy)] | length'; }
healthy() { [ "$(healthy_count)" = "$1" ]; }
until_true 30 healthy 4 || fail "stores not healthy: $(curl -s "$Q/api/v1/stores")"
# the stores report their shard identity
curl -sf "$Q/api/v1/stores" | jq -e '[.data.store[] | "\(.shardIndex)/\(.shardCount)"] | sort ==
    ["0/2", "0/2", "1/2", "1/2"]' >/dev/null || fail "shard identity missing: $(curl -s "$Q/api/v1/stores")"

# timed_query URL PATH [curl args...]: prints the JSON body to stdout, checks
# the latency bound, remembers the largest latency in LAT_MAX.
timed_query() {
    local url=$1 path=$2 out="$TS_TMP/tq.json" t
    shift 2
    t=$(curl -s -o "$out" -w '%{time_total}' --max-time 30 --get "$@" "$url$path") || true
    awk -v t="$t" -v m="$MAX_LATENCY" 'BEGIN { exit !(t + 0 < m + 0) }' ||
        fail "query $path $* took ${t}s (bound ${MAX_LATENCY}s): $(head -c 300 "$out")"
    echo "$t" >>"$TS_TMP/latencies" # (runs in a subshell: keep it in a file)
    cat "$out"
}

want_count=$NODES
count_up() { timed_query "$Q" /api/v1/query --data-urlencode 'query=count(up{job="node"})'; }
full_count() { [ "$(count_up | jq -r '.data.result[0].value[1] // "none"')" = "$want_count" ]; }
until_true 30 full_count || fail "count(up) through the querier is not $want_count: $(count_up)"

# instant count(up): the right number, no warning, within the bound
check_instant() {
    local r
    r=$(count_up)
    jq -e --arg n "$want_count" '.status == "success" and ((.warnings // []) | length == 0) and
        .data.result[0].value[1] == $n' <<<"$r" >/dev/null || fail "count(up) during the fault: $r"
}

# check_window START END: range answers of the querier over [START, END]
# against the reference: count(up) at every 1 s step; rate(node_cpu_seconds_total[1m])
# at every 2 s step with the same series, no step missing, values within
# 0.03 (cpu-seconds per second) of the reference's (replicas scrape at
# different instants, so their rates differ in the last digits).
check_window() {
    local s=$1 e=$2 r ref
    r=$(timed_query "$Q" /api/v1/query_range --data-urlencode 'query=count(up{job="node"})' \
        --data-urlencode "start=$s" --data-urlencode "end=$e" --data-urlencode step=1)
    jq -e --arg n "$want_count" --argjson steps $((e - s + 1)) '.status == "success" and
        ((.warnings // []) | length == 0) and (.data.result | length == 1) and
        (.data.result[0].values | length == $steps) and
        all(.data.result[0].values[]; .[1] == $n)' <<<"$r" >/dev/null ||
        fail "count(up) over [$s, $e] has a gap or a wrong value: $(jq -c '[.warnings, (.data.result[0].values | length), [.data.result[0].values[] | select(.[1] != "'"$want_count"'")][0:5]]' <<<"$r")"
    local args=(--data-urlencode 'query=rate(node_cpu_seconds_total[1m])' --data-urlencode "start=$s"
        --data-urlencode "end=$e" --data-urlencode step=2)
    r=$(timed_query "$Q" /api/v1/query_range "${args[@]}")
    ref=$(curl -sf --get "${args[@]}" "$REF/api/v1/query_range") || fail "reference query failed"
    jq -e '.status == "success" and ((.warnings // []) | length == 0)' <<<"$r" >/dev/null ||
        fail "rate over the window: $(head -c 500 <<<"$r")"
    jq -n -e --argjson q "$r" --argjson ref "$ref" --argjson steps $(((e - s) / 2 + 1)) '
        def byseries: [.data.result[] | {key: (.metric | tojson), value: .values}] | from_entries;
        ($q | byseries) as $a | ($ref | byseries) as $b |
        ($a | keys) == ($b | keys) and ($a | keys | length) > 0 and
        all($a | to_entries[]; (.value | length) == $steps) and
        all($a | to_entries[]; . as $e | [$e.value, $b[$e.key]] | transpose |
            all(.[]; .[0][0] == .[1][0] and ((.[0][1] | tonumber) - (.[1][1] | tonumber) | fabs) <= 0.03))' \
        >/dev/null || fail "rate(node_cpu_seconds_total[1m]) over [$s, $e] differs from the healthy reference: $(
            jq -n -c --argjson q "$r" --argjson ref "$ref" '{querier: [$q.data.result[] | .values | length] | unique,
                reference: [$ref.data.result[] | .values | length] | unique, nq: ($q.data.result | length),
                nref: ($ref.data.result | length),
                worst: ([$q.data.result[] as $x | $ref.data.result[] | select(.metric == $x.metric) | [$x.values, .values] | transpose[] |
                    select(.[0] != null and .[1] != null) | ((.[0][1] | tonumber) - (.[1][1] | tonumber) | fabs)] | max)}')"
}

# lat_summary: "n=.. max=..s p50=..s" over every timed query so far
lat_summary() {
    sort -g "$TS_TMP/latencies" | awk '{ v[NR] = $1 } END { printf "n=%d max=%.3fs p50=%.3fs", NR, v[NR], v[int((NR + 1) / 2)] }'
}

# metric NAME: the querier's /metrics value (0 if absent)
metric() {
    curl -sf "$Q/metrics" >"$TS_TMP/metrics.txt" || fail "no /metrics"
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$TS_TMP/metrics.txt"
}

# Queries through the fault, every ~second, until $1 (unix seconds).
query_through() {
    local until=$1
    while [ "$(date +%s)" -lt "$until" ]; do
        check_instant
        sleep 0.5
    done
}
