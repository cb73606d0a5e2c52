#!/usr/bin/env bash
# Querier overhead: the same queries against one shard directly and through
# `tessera query` over 2x2 stores holding the same data (four shards scrape the
# same synthetic targets; two are replica "a", two replica "b"), so the
# querier's answer equals the single shard's and the difference is its cost:
# fan-out to 4 stores over nng, decoding chunks, merging and deduplicating.
#
#   scripts/bench/querier_overhead.sh [--bin=PATH] [--targets=T] [--series=S] [--runs=N]
# Prints a table of median latencies and, last, `ratio querier/shard=X`.
# Not a test: numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/cmd/tessera/tessera targets=20 series=500 runs=20
for a in "$@"; do
    case $a in
    --bin=*) bin=${a#*=} ;; --targets=*) targets=${a#*=} ;; --series=*) series=${a#*=} ;;
    --runs=*) runs=${a#*=} ;; *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done
tmp=$(mktemp -d /tmp/tessera-qbench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
port() { echo $(( RANDOM % 12000 + 20000 )); }
tp=$(port)
"$bin" bench targets --listen=127.0.0.1:$tp --targets=$targets --series=$series >"$tmp/targets.log" 2>&1 &
pids+=($!)
tlist=""
for i in $(seq 0 $((targets - 1))); do tlist+="'127.0.0.1:$tp',"; done
stores=()
for k in 1 2 3 4; do
    r=$([ $k -le 2 ] && echo a || echo b)
    web=$(port); st=$(port)
    cat >"$tmp/s$k.yml" <<YML
global: {scrape_interval: 5s, external_labels: {replica: $r}}
scrape_configs:
YML
    for i in $(seq 0 $((targets - 1))); do
        printf '  - job_name: t%d\n    metrics_path: /metrics/%d\n    static_configs: [{targets: [127.0.0.1:%d]}]\n' \
            "$i" "$i" "$tp" >>"$tmp/s$k.yml"
    done
    "$bin" shard --config.file="$tmp/s$k.yml" --storage.tsdb.path="$tmp/d$k" --web.listen-address=127.0.0.1:$web \
        --store.listen-address=tcp://127.0.0.1:$st --log.level=warn >"$tmp/s$k.log" 2>&1 &
    pids+=($!)
    stores+=("--store=127.0.0.1:$st")
    [ $k = 1 ] && shard=http://127.0.0.1:$web
done
qp=$(port)
"$bin" query --web.listen-address=127.0.0.1:$qp "${stores[@]}" --log.level=warn >"$tmp/q.log" 2>&1 &
pids+=($!)
querier=http://127.0.0.1:$qp
echo "scraping $((targets * series)) series into 4 shards for 70 s ..."
sleep 70
queries=(
    'up'
    'count({__name__=~".+"})'
    'sum by (job) (rate(http_requests_total[1m]))'
    'topk(5, rate(node_network_receive_bytes_total[1m]))'
    'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))'
)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # url query -> median seconds over runs (range query over the last minute)
    local now
    now=$(date +%s)
    for _ in $(seq "$runs"); do
        curl -s -o /dev/null -w '%{time_total}\n' --get --data-urlencode "query=$2" \
            --data-urlencode start=$((now - 60)) --data-urlencode end=$now --data-urlencode step=5 \
            "$1/api/v1/query_range"
    done | median
}
printf '| query | shard (s) | querier over 2x2 (s) | ratio |\n|---|---|---|---|\n'
sum_s=0 sum_q=0
for e in "${queries[@]}"; do
    s=$(measure "$shard" "$e"); q=$(measure "$querier" "$e")
    printf '| `%s` | %s | %s | %.2f |\n' "$e" "$s" "$q" "$(echo "$q / $s" | bc -l)"
    sum_s=$(echo "$sum_s + $s" | bc -l); sum_q=$(echo "$sum_q + $q" | bc -l)
done
printf 'ratio querier/shard=%.2f\n' "$(echo "$sum_q / $sum_s" | bc -l)"
