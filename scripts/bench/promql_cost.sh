#!/usr/bin/env bash
# PromQL query cost: the same data (N series over 2h at 15 s, from
# gen_openmetrics) imported into Tessera (`tessera tsdb import`) and into
# Prometheus 2.42 (`promtool tsdb create-blocks-from`), each server started on
# its blocks, and the same instant and range queries timed through the HTTP
# API (median of R runs).  Prints a table and, last, the ratios.
#
#   scripts/bench/promql_cost.sh [--bin=PATH] [--series=N] [--runs=R]
# Not a test: numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/cmd/tessera/tessera series=10000 runs=5
for a in "$@"; do
    case $a in
    --bin=*) bin=${a#*=} ;; --series=*) series=${a#*=} ;; --runs=*) runs=${a#*=} ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done
tmp=$(mktemp -d /tmp/tessera-qcost-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
start=1700000000
echo "generating $series series x 2h ..."
scripts/bench/gen_openmetrics.sh -n "$series" -d 2 -s $start >"$tmp/data.om"
echo "importing (tessera, then promtool) ..."
"$bin" tsdb import openmetrics -q "$tmp/data.om" "$tmp/tessera" >/dev/null
promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/prom" >/dev/null
rm -f "$tmp/data.om"
echo "scrape_configs: []" >"$tmp/empty.yml"
tp=$(( RANDOM % 6000 + 20000 )); pp=$((tp + 1)); sp=$((tp + 2))
"$bin" shard --config.file="$tmp/empty.yml" --storage.tsdb.path="$tmp/tessera" --web.listen-address=127.0.0.1:$tp \
    --store.listen-address=tcp://127.0.0.1:$sp --storage.tsdb.retention.time=100y --log.level=warn >"$tmp/t.log" 2>&1 &
pids+=($!)
prometheus --config.file="$tmp/empty.yml" --storage.tsdb.path="$tmp/prom" --web.listen-address=127.0.0.1:$pp \
    --storage.tsdb.retention.time=100y >"$tmp/p.log" 2>&1 &
pids+=($!)
for u in 127.0.0.1:$tp 127.0.0.1:$pp; do
    for _ in $(seq 300); do curl -sf -o /dev/null "http://$u/-/ready" && break; sleep 0.1; done
done
t_end=$((start + 7200 - 60)) t_start=$((start + 600))
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # url kind query
    for _ in $(seq "$runs"); do
        if [ "$2" = instant ]; then
            curl -s -o /dev/null -w '%{time_total}\n' --get --data-urlencode "query=$3" \
                --data-urlencode time=$t_end "$1/api/v1/query"
        else
            curl -s -o /dev/null -w '%{time_total}\n' --get --data-urlencode "query=$3" \
                --data-urlencode start=$t_start --data-urlencode end=$t_end --data-urlencode step=60 \
                "$1/api/v1/query_range"
        fi
    done | median
}
count=$(curl -s --get --data-urlencode 'query=count(http_requests_total)' --data-urlencode time=$t_end \
        "http://127.0.0.1:$tp/api/v1/query" | jq -r '.data.result[0].value[1]')
echo "series of http_requests_total: $count (of $series in total); range queries: 1h50m at 60 s steps"
printf '| query | kind | tessera (s) | prometheus (s) | ratio |\n|---|---|---|---|---|\n'
for e in 'rate(http_requests_total[5m])' 'sum by (job) (rate(http_requests_total[5m]))'; do
    for k in instant range; do
        t=$(timeit "http://127.0.0.1:$tp" $k "$e"); p=$(timeit "http://127.0.0.1:$pp" $k "$e")
        printf '| `%s` | %s | %s | %s | %.2f |\n' "$e" "$k" "$t" "$p" "$(echo "$t / $p" | bc -l)"
    done
done
