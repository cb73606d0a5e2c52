#!/usr/bin/env bash
# A local Tessera cluster on loopback: 2 shards x 2 HA replicas and a global
# querier, scraping a node_exporter and the cluster's own /metrics.
#
#   scripts/cluster.sh [--base-port=N] [--dir=DIR] [--bin=PATH]   start (foreground; Ctrl-C stops)
#   scripts/cluster.sh --stop [--dir=DIR]                         stop a cluster started elsewhere
#
# Ports (base 19090 by default): querier N, shard web N+1..N+4, store API
# N+11..N+14, node_exporter N+20.  Data and logs live in DIR
# (default ./tessera-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
base=19090
dir=tessera-cluster
bin=build/cmd/tessera/tessera
stop=0
for a in "$@"; do
    case $a in
    --base-port=*) base=${a#*=} ;;
    --dir=*) dir=${a#*=} ;;
    --bin=*) bin=${a#*=} ;;
    --stop) stop=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done

stop_all() {
    [ -f "$dir/pids" ] || return 0
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$dir/pids"
    for _ in $(seq 50); do
        alive=0
        while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$dir/pids"
        [ $alive = 0 ] && break
        sleep 0.1
    done
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/pids"
    rm -f "$dir/pids"
    echo "cluster stopped"
}
if [ $stop = 1 ]; then stop_all; exit 0; fi
[ -x "$bin" ] || { echo "no tessera binary at $bin (build first)" >&2; exit 1; }
[ -f "$dir/pids" ] && stop_all
mkdir -p "$dir"
: >"$dir/pids"
trap 'stop_all; exit 0' INT TERM

q=$base; ne=$((base + 20))
prometheus-node-exporter --web.listen-address=127.0.0.1:$ne >"$dir/node_exporter.log" 2>&1 &
echo $! >>"$dir/pids"
targets="'127.0.0.1:$q'"
for i in 1 2 3 4; do targets+=", '127.0.0.1:$((base + i))'"; done
stores=()
i=0
for shard in 0 1; do
    for replica in a b; do
        i=$((i + 1))
        web=$((base + i)); store=$((base + 10 + i))
        cat >"$dir/shard$shard$replica.yml" <<YML
# shard $shard, replica $replica: both replicas of a shard share this config
# except the replica label, and --shard.index/--shard.count split the targets.
global:
  scrape_interval: 5s
  external_labels:
    replica: $replica
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
  - job_name: tessera
    static_configs: [{targets: [$targets]}]
YML
        "$bin" shard --config.file="$dir/shard$shard$replica.yml" --storage.tsdb.path="$dir/data-$shard$replica" \
            --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store \
            --shard.index=$shard --shard.count=2 --web.enable-lifecycle >"$dir/shard$shard$replica.log" 2>&1 &
        echo $! >>"$dir/pids"
        stores+=("--store=127.0.0.1:$store")
    done
done
"$bin" query --web.listen-address=127.0.0.1:$q "${stores[@]}" --query.replica-label=replica \
    >"$dir/query.log" 2>&1 &
echo $! >>"$dir/pids"
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$q/-/ready" && break
    sleep 0.1
done
cat <<MSG
Tessera cluster running (logs and data in $dir/):
  querier      http://127.0.0.1:$q        (Prometheus API; point Grafana or promtool here)
  shards       http://127.0.0.1:$((base + 1))..$((base + 4))   (shard 0: a, b; shard 1: a, b)
  stores       http://127.0.0.1:$q/api/v1/stores
Try:
  promtool query instant http://127.0.0.1:$q 'count by (job) (up)'
  promtool query instant http://127.0.0.1:$q 'sum by (mode) (rate(node_cpu_seconds_total[1m]))'
Stop with Ctrl-C (or: scripts/cluster.sh --stop --dir=$dir).
MSG
wait
