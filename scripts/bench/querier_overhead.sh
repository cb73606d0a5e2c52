#!/usr/bin/env bash
# The global query path against one shard and against Prometheus, on the real
# layout (issue 11 §3; see scripts/bench/README.md):
#
#   scripts/bench/querier_overhead.sh [--quick] [--scale=N] [--runs=N] [--warmup=S]
#                                     [--no-load] [--load-secs=S] [--tessera=BIN] [--keep] [--hold]
#   SCALE=N has the effect of --scale=N.
#
# One run starts, on loopback:
#   - `tessera bench targets` processes (one per loopback address 127.0.0.X, so
#     the shards' rendezvous hashing of __address__ can split them: the
#     addresses are picked with a probe shard so both shards own as many);
#   - 2 shards x 2 replicas (`--shard.index/--shard.count`, external label
#     replica=a|b) and a `tessera query` over the four stores;
#   - one `tessera shard` scraping every target (no shard flags);
#   - one Prometheus (Debian's, 2.42) scraping every target.
# All scrape the same targets at the same time.  After a warm-up it times
# each query on the three, interleaved (querier, shard, Prometheus, repeat),
# and prints per query and overall the median and p99 latencies and the
# ratios querier/shard and querier/Prometheus.  Before timing, every answer
# of the querier is compared with the shard's: the same series (label sets,
# the replica label aside), as many points, and the sums of all values
# within 5% (the two scrape at slightly different instants, so equal values
# are not expected); a query whose answers differ is flagged in the table, so
# a fast wrong answer (a store, shard or batch missing) cannot pass unnoticed.
#
# Then (unless --no-load) a load phase: `wrk` (Debian's) sends small and
# medium queries over 16 and 64 connections for --load-secs to each of the
# three in turn; requests/s and the ratios are printed.
#
# Default: 100 targets x 2000 series (200k active series, as compare.sh) every
# 15 s, 180 s of warm-up, 20 timed runs per query.  --quick: 10 x 500 every
# 5 s, 90 s of warm-up, 10 runs.  --scale=N multiplies the number of targets.
# --hold: start everything, warm up, print the URLs and pids, and wait until
# interrupted (for profiling: perf record -p PID while wrk runs).
# The "1 h" range queries end at the evaluation time: the data covers only the
# warm-up, the steps before it are empty.  Not a test: numbers depend on the
# machine and on everything else running on it; compare ratios of one run.
# The last line of stdout is
#   ratios querier/shard p50=X p99=X querier/prometheus p50=X p99=X [rps querier/shard=X querier/prometheus=X]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=0 scale=${SCALE:-1} runs="" warmup="" keep=0 tessera="" load=1 load_secs=10 hold=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --scale=*) scale=${a#*=} ;;
    --runs=*) runs=${a#*=} ;;
    --warmup=*) warmup=${a#*=} ;;
    --no-load) load=0 ;;
    --load-secs=*) load_secs=${a#*=} ;;
    --tessera=*) tessera=${a#*=} ;;
    --keep) keep=1 ;;
    --hold) hold=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "querier_overhead.sh: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }' || { echo "querier_overhead.sh: bad scale \"$scale\"" >&2; exit 2; }
if [ "$quick" = 1 ]; then
    targets=10 series=500 interval=5 def_warmup=90 def_runs=10
else
    targets=100 series=2000 interval=15 def_warmup=180 def_runs=20
fi
warmup=${warmup:-$def_warmup}
[ "$warmup" -ge $((60 + 3 * interval)) ] ||
    echo "querier_overhead.sh: warning: a warm-up under $((60 + 3 * interval)) s leaves no full rate window to compare answers on" >&2
runs=${runs:-$def_runs}
targets=$(awk -v t="$targets" -v s="$scale" 'BEGIN { n = int(t * s + 0.5); print (n < 2 ? 2 : n) }')
# one bench targets process per address; an even number of them, half per shard
groups=$(awk -v t="$targets" 'BEGIN { g = (t < 10 ? t : 10); g -= g % 2; print (g < 2 ? 2 : g) }')
per_group=$(((targets + groups - 1) / groups))
targets=$((per_group * groups))

. "$here/lib.sh"

command -v prometheus >/dev/null || die "prometheus not found (apt-get install prometheus)"
command -v jq >/dev/null || die "jq not found"
command -v python3 >/dev/null || die "python3 not found (compares the answers)"
if [ "$load" = 1 ] && ! command -v wrk >/dev/null; then
    log "wrk not found (apt-get install wrk): skipping the load phase"
    load=0
fi
find_tessera
make_tmp qbench

# ------------------------------------------- addresses split by the shards
# A probe shard (index 0 of 2) is given 40 candidate addresses; the ones it
# keeps belong to shard 0, the others to shard 1.
tport=$(free_port)
{
    printf 'global: {scrape_interval: 1h}\nscrape_configs:\n  - job_name: probe\n    static_configs:\n      - targets: ['
    for i in $(seq 2 41); do printf '"127.0.0.%d:%d"%s' "$i" "$tport" "$([ "$i" = 41 ] || echo ,)"; done
    printf ']\n'
} >"$tmp/probe.yml"
pp=$(free_port)
start probe "$tessera" shard --config.file="$tmp/probe.yml" --storage.tsdb.path="$tmp/probe-data" \
    --web.listen-address=127.0.0.1:"$pp" --store.listen-address= --shard.index=0 --shard.count=2 --log.level=warn
probe_pid=$last_pid
wait_ready "http://127.0.0.1:$pp" "$probe_pid" 120 || die "probe shard did not start: $(tail -3 "$tmp/probe.log")"
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$pp/api/v1/targets" >"$tmp/probe.json" || true
    [ "$(jq '(.data.activeTargets | length) + (.data.droppedTargets | length)' "$tmp/probe.json" 2>/dev/null)" = 40 ] && break
    sleep 0.1
done
jq -r '.data.activeTargets[].labels.instance' "$tmp/probe.json" | cut -d: -f1 >"$tmp/own0"
kill -TERM "$probe_pid"
wait "$probe_pid" 2>/dev/null || true
addrs=()
n0=0 n1=0
for i in $(seq 2 41); do
    a=127.0.0.$i
    if grep -qx "$a" "$tmp/own0"; then
        [ $n0 -lt $((groups / 2)) ] && { addrs+=("$a"); n0=$((n0 + 1)); }
    else
        [ $n1 -lt $((groups / 2)) ] && { addrs+=("$a"); n1=$((n1 + 1)); }
    fi
done
[ $n0 = $((groups / 2)) ] && [ $n1 = $((groups / 2)) ] || die "probe: could not split addresses ($n0 + $n1)"

# ------------------------------------------------------------- targets
log "starting $targets targets x $series series ($groups addresses x $per_group targets, $((targets * series)) series) every ${interval}s"
for g in "${!addrs[@]}"; do
    start "targets$g" "$tessera" bench targets --listen="${addrs[$g]}:$tport" --targets="$per_group" \
        --series="$series" --seed=$((g + 1)) --log.level=warn
done
for g in "${!addrs[@]}"; do
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://${addrs[$g]}:$tport/metrics/0" && break
        sleep 0.1
    done
done
# instance g<group>-t<i>
instance() { echo "g$1-t$2"; }
write_config() { # file [replica]
    {
        printf 'global:\n  scrape_interval: %ss\n  scrape_timeout: %ss\n' "$interval" "$((interval > 10 ? 10 : interval))"
        [ -z "${2:-}" ] || printf '  external_labels: {replica: %s}\n' "$2"
        printf 'scrape_configs:\n  - job_name: bench\n    static_configs:\n'
        for g in "${!addrs[@]}"; do
            for i in $(seq 0 $((per_group - 1))); do
                printf '      - targets: ["%s:%s"]\n        labels: {__metrics_path__: "/metrics/%d", instance: "%s"}\n' \
                    "${addrs[$g]}" "$tport" "$i" "$(instance "$g" "$i")"
            done
        done
    } >"$1"
}
write_config "$tmp/all.yml"
write_config "$tmp/a.yml" a
write_config "$tmp/b.yml" b

# -------------------------------------------------------------- servers
stores=() store_pids=()
for idx in 0 1; do
    for r in a b; do
        wp=$(free_port) sp=$(free_port)
        start "shard$idx$r" "$tessera" shard --config.file="$tmp/$r.yml" --storage.tsdb.path="$tmp/d$idx$r" \
            --web.listen-address=127.0.0.1:"$wp" --store.listen-address=tcp://127.0.0.1:"$sp" \
            --shard.index=$idx --shard.count=2 --log.level=warn
        wait_ready "http://127.0.0.1:$wp" "$last_pid" 120 || die "shard $idx$r did not start: $(tail -3 "$tmp/shard$idx$r.log")"
        stores+=("--store=tcp://127.0.0.1:$sp")
        store_pids+=("$last_pid")
    done
done
declare -A url pid
sp1=$(free_port) wp1=$(free_port)
start one "$tessera" shard --config.file="$tmp/all.yml" --storage.tsdb.path="$tmp/one" \
    --web.listen-address=127.0.0.1:"$wp1" --store.listen-address=tcp://127.0.0.1:"$sp1" --log.level=warn
url[s]=http://127.0.0.1:$wp1 pid[s]=$last_pid
pp=$(free_port)
start prometheus prometheus --config.file="$tmp/all.yml" --storage.tsdb.path="$tmp/prom" \
    --web.listen-address=127.0.0.1:"$pp" --log.level=warn
url[p]=http://127.0.0.1:$pp pid[p]=$last_pid
qp=$(free_port)
start querier "$tessera" query --web.listen-address=127.0.0.1:"$qp" "${stores[@]}" \
    --query.replica-label=replica --log.level=warn
url[q]=http://127.0.0.1:$qp pid[q]=$last_pid
for s in s p q; do
    wait_ready "${url[$s]}" "${pid[$s]}" 120 || die "$s did not start"
done
declare -A name=([q]=querier [s]=shard [p]=prometheus)
# the systems started a few seconds apart: answers are compared only from a
# minute (the widest rate window) and two scrapes after the last one started
t_cmp=$(($(date +%s) + 60 + 2 * interval))
log "querier ${url[q]}, shard ${url[s]}, prometheus ${url[p]}; warming up ${warmup}s"
sleep "$warmup"
# every store must be known and every shard must have scraped its targets
for _ in $(seq 1 300); do
    n=$(curl -s -G --data-urlencode 'query=count(up == 1)' "${url[q]}/api/v1/query" | jq -r '.data.result[0].value[1] // 0')
    [ "$n" = "$targets" ] && break
    sleep 0.2
done
[ "$n" = "$targets" ] || log "warning: the querier sees $n of $targets targets up"
for s in s p; do
    n=$(curl -s -G --data-urlencode 'query=count(up == 1)' "${url[$s]}/api/v1/query" | jq -r '.data.result[0].value[1] // 0')
    [ "$n" = "$targets" ] || log "warning: ${name[$s]} sees $n of $targets targets up"
done
log "shard 0 and shard 1 own $((groups / 2)) addresses each (${addrs[*]})"
if [ "$hold" = 1 ]; then
    log "holding: querier ${url[q]} (pid ${pid[q]}), shard ${url[s]} (pid ${pid[s]}), prometheus ${url[p]} (pid ${pid[p]}); stores ${stores[*]}; interrupt to stop"
    while :; do
        sleep 3600 &
        wait $! # (a foreground sleep would hold off the TERM trap until it ends)
    done
fi

# ------------------------------------------------------------- queries
t1=$(($(date +%s) - interval)) # fixed evaluation time, one interval back so every scrape landed
rng=$((warmup < 600 ? warmup : 600))
I=$(instance 0 0)
J=$(instance $((groups - 1)) 0)
queries=(
    # compare.sh's set
    "instant|http_requests_total{code=\"500\"}"
    "instant|rate(http_requests_total[1m])"
    "instant|sum by (code) (rate(http_requests_total[1m]))"
    "instant|histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket[1m])))"
    "instant|topk(10, rate(node_network_receive_bytes_total[1m]))"
    "instant|max_over_time(sum(rate(node_cpu_seconds_total[1m]))[${rng}s:${interval}s])"
    "window|sum by (mode) (rate(node_cpu_seconds_total[1m]))"
    "window|histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
    "window|avg(node_filesystem_avail_bytes)"
    # Grafana-like panels: 1 h at 15 s steps
    "hour|rate(node_network_receive_bytes_total{instance=\"$I\"}[1m])"
    "hour|sum by (mode) (rate(node_cpu_seconds_total{instance=~\"$I|$J\"}[1m]))"
    "hour|sum by (code) (rate(http_requests_total[1m]))"
    "hour|histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{instance=\"$J\"}[1m])))"
    "hour|node_hwmon_temp_celsius{instance=\"$I\"}"
    "hour|sum(rate(node_network_receive_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_network_transmit_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_disk_read_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_disk_io_time_seconds_total{instance=\"$I\"}[1m])) + sum(rate(node_cpu_seconds_total{instance=\"$I\",mode!=\"idle\"}[1m])) - sum(node_filesystem_avail_bytes{instance=\"$I\"}) + sum(node_hwmon_temp_celsius{instance=\"$I\"})"
    "instant|sum(rate(node_network_receive_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_network_transmit_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_disk_read_bytes_total{instance=\"$I\"}[1m])) + sum(rate(node_disk_io_time_seconds_total{instance=\"$I\"}[1m])) + sum(rate(node_cpu_seconds_total{instance=\"$I\",mode!=\"idle\"}[1m])) - sum(node_filesystem_avail_bytes{instance=\"$I\"}) + sum(node_hwmon_temp_celsius{instance=\"$I\"})"
)
run_query() { # system index body-file -> "http_code seconds"
    local s=$1 q=${queries[$2]} body=$3 kind out
    kind=${q%%|*}
    q=${q#*|}
    case $kind in
    instant) set -- --data-urlencode "time=$t1" "${url[$s]}/api/v1/query" ;;
    window) set -- --data-urlencode "start=$((t1 - rng))" --data-urlencode "end=$t1" \
        --data-urlencode "step=$interval" "${url[$s]}/api/v1/query_range" ;;
    hour) set -- --data-urlencode "start=$((t1 - 3600))" --data-urlencode "end=$t1" \
        --data-urlencode "step=15" "${url[$s]}/api/v1/query_range" ;;
    esac
    out=$(curl -s -o "$body" -w '%{http_code} %{time_total}' --max-time 120 -G --data-urlencode "query=$q" "$@") || out="000 0"
    grep -q '"status":"success"' "$body" 2>/dev/null || out="${out%% *}x ${out#* }"
    echo "$out"
}
# Points before t_cmp are left out (see there).  The querier and the shard
# scrape the same targets at slightly different
# instants (and the generator floors its counters), so per-point values of a
# rate may differ a lot while both are right.  What must hold: the same series
# (label sets, the replica label aside; for topk only as many), as many points
# (within 2%), and the sum of the absolute values of all points within 5%: a
# lost store, shard or batch would show in one of them.
cat >"$tmp/cmp.py" <<'PY'
import json, math, sys
def load(f):
    d = json.load(open(f))["data"]
    out = {}
    if d["resultType"] == "scalar":
        return {(): [d["result"][1]]}
    for r in d["result"]:
        m = {k: v for k, v in r["metric"].items() if k != "replica"}
        pts = r.get("values") or ([r["value"]] if "value" in r else [])
        pts = [v for t, v in pts if float(t) >= since]
        if pts:
            out[tuple(sorted(m.items()))] = pts
    return out
since = float(sys.argv[4])
a, b = load(sys.argv[1]), load(sys.argv[2])
topk = sys.argv[3] == "1"
def total(x):
    return sum(abs(float(v)) for vs in x.values() for v in vs if not math.isnan(float(v)))
pa, pb = sum(len(v) for v in a.values()), sum(len(v) for v in b.values())
ta, tb = total(a), total(b)
same = (len(a) == len(b)) if topk else (set(a) == set(b))
ok = same and abs(pa - pb) <= 0.02 * max(pa, pb) and abs(ta - tb) <= 0.05 * max(ta, tb)
dev = abs(ta - tb) / max(ta, tb) * 100 if max(ta, tb) > 0 else 0
print("yes" if ok and pa > 0 else "NO", len(a), len(b), pa, pb, "%.2f" % dev)
PY
declare -A agree
log "checking answers: querier vs shard"
for i in "${!queries[@]}"; do
    for s in q s p; do
        read -r code _ < <(run_query "$s" "$i" "$tmp/ans.$s.$i")
        [ "$code" = 200 ] || log "${name[$s]}: query $i failed (HTTP $code): $(head -c 300 "$tmp/ans.$s.$i" 2>/dev/null)"
    done
    topk=0
    case ${queries[$i]} in *topk*) topk=1 ;; esac
    if read -r ok na nb pa pb dev < <(python3 "$tmp/cmp.py" "$tmp/ans.q.$i" "$tmp/ans.s.$i" $topk "$t_cmp" 2>/dev/null); then
        if [ "$ok" = yes ]; then
            agree[$i]="yes: $na series, $pa points, sums $dev% apart"
        else
            agree[$i]="NO: querier $na series $pa points, shard $nb series $pb points, sums $dev% apart"
        fi
    else
        agree[$i]="NO: an answer failed"
    fi
    log "query $i: ${agree[$i]}"
done

log "timing ${#queries[@]} queries x $runs runs, interleaved"
: >"$tmp/lat"
for r in $(seq 1 "$runs"); do
    for i in "${!queries[@]}"; do
        for s in q s p; do
            read -r code secs < <(run_query "$s" "$i" "$tmp/body")
            [ "$code" = 200 ] && echo "$s $i $secs" >>"$tmp/lat"
        done
    done
done
pct() { # system quantile [query] -> ms
    awk -v s="$1" -v only="${3:-}" '$1 == s && (only == "" || $2 == only) { print $3 }' "$tmp/lat" | sort -g |
        awk -v q="$2" '{ v[NR] = $1 } END {
            if (NR == 0) exit
            i = int(q * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
            printf "%.2f", v[i] * 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b + 0 > 0) printf "%.2f", a / b; else print "na" }'; }

uptime_now=$(uptime | sed 's/.*load average: //')
echo "## Querier over 2 shards x 2 replicas vs one shard vs Prometheus $(prometheus --version 2>&1 | awk 'NR == 1 { print $3 }')"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), scripts/bench/querier_overhead.sh$([ "$quick" = 1 ] && echo ' --quick') --scale=$scale:"
echo "$targets targets x $series series ($((targets * series)) active series) every ${interval}s, ${warmup}s of warm-up,"
echo "$runs timed runs per query (interleaved); load average $uptime_now; $(nproc) CPUs."
# the checkout the binary was built in (its build dir lives inside it)
src=$(git -C "$(dirname "$tessera")" rev-parse --show-toplevel 2>/dev/null || true)
rev="outside a checkout"
[ -z "$src" ] || rev="commit $(git -C "$src" rev-parse --short HEAD)"
echo "Tessera: $tessera ($rev)."
echo
echo "| query | querier p50 / p99 ms | shard p50 / p99 ms | Prometheus p50 / p99 ms | q/shard p50 | q/shard p99 | q/prom p50 | q/prom p99 | querier = shard |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
geo_s=0 geo_p=0 nq=0
for i in "${!queries[@]}"; do
    q=${queries[$i]}
    q50=$(pct q 0.5 "$i") q99=$(pct q 0.99 "$i")
    s50=$(pct s 0.5 "$i") s99=$(pct s 0.99 "$i")
    p50=$(pct p 0.5 "$i") p99=$(pct p 0.99 "$i")
    r1=$(ratio "$q50" "$s50")
    r3=$(ratio "$q50" "$p50")
    if [ "$r1" != na ] && [ "$r3" != na ]; then
        geo_s=$(awk -v g="$geo_s" -v r="$r1" 'BEGIN { print g + log(r) }')
        geo_p=$(awk -v g="$geo_p" -v r="$r3" 'BEGIN { print g + log(r) }')
        nq=$((nq + 1))
    fi
    qt=${q#*|}
    [ ${#qt} -gt 90 ] && qt="${qt:0:87}..."
    echo "| ${q%%|*}: \`$qt\` | $q50 / $q99 | $s50 / $s99 | $p50 / $p99 | $r1 | $(ratio "$q99" "$s99") | $r3 | $(ratio "$q99" "$p99") | ${agree[$i]} |"
done
a50s=$(ratio "$(pct q 0.5)" "$(pct s 0.5)") a99s=$(ratio "$(pct q 0.99)" "$(pct s 0.99)")
a50p=$(ratio "$(pct q 0.5)" "$(pct p 0.5)") a99p=$(ratio "$(pct q 0.99)" "$(pct p 0.99)")
echo "| **all runs** | $(pct q 0.5) / $(pct q 0.99) | $(pct s 0.5) / $(pct s 0.99) | $(pct p 0.5) / $(pct p 0.99) | $a50s | $a99s | $a50p | $a99p | |"
echo
[ $nq -gt 0 ] && echo "Geometric mean of the per-query median ratios: querier/shard $(awk -v g="$geo_s" -v n=$nq 'BEGIN { printf "%.2f", exp(g / n) }'), querier/Prometheus $(awk -v g="$geo_p" -v n=$nq 'BEGIN { printf "%.2f", exp(g / n) }')."
echo "Targets (issue 11): querier p50 <= 1.5x shard and <= 0.7x Prometheus; p99 <= 2x shard."
final="ratios querier/shard p50=$a50s p99=$a99s querier/prometheus p50=$a50p p99=$a99p"

# ---------------------------------------------------------------- load
if [ "$load" = 1 ]; then
    enc() { jq -rn --arg q "$1" '$q | @uri'; }
    load_queries=(
        "small|instant|up{instance=\"$I\"}"
        "small|instant|up"
        "medium|instant|sum by (mode) (rate(node_cpu_seconds_total{instance=~\"$I|$J\"}[1m]))"
        "medium|range|rate(node_network_receive_bytes_total{instance=\"$I\"}[1m])"
    )
    echo
    echo "Load: \`wrk -t2 -cC -d${load_secs}s\` per query and system, one after the other (requests/s; answers other than 200, if any, in brackets)."
    echo
    echo "CPU ms per request: utime+stime over the wrk run divided by the requests; the querier's"
    echo "includes its four stores (all processes also scrape meanwhile)."
    echo
    echo "| query | conns | querier req/s | shard req/s | Prometheus req/s | q/shard | q/prom | CPU ms/req querier+stores / shard / Prometheus |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    hz=$(getconf CLK_TCK)
    ticks() { # pids... -> utime+stime ticks
        local p t=0
        for p in "$@"; do t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'))); done
        echo "$t"
    }
    declare -A cpu_pids=([q]="${pid[q]} ${store_pids[*]}" [s]="${pid[s]}" [p]="${pid[p]}")
    lsum_q=0 lsum_s=0 lsum_p=0
    for lq in "${load_queries[@]}"; do
        size=${lq%%|*} lq=${lq#*|}
        kind=${lq%%|*} expr=${lq#*|}
        if [ "$kind" = instant ]; then
            path="/api/v1/query?query=$(enc "$expr")&time=$t1"
        else
            path="/api/v1/query_range?query=$(enc "$expr")&start=$((t1 - 3600))&end=$t1&step=15"
        fi
        for c in 16 64; do
            declare -A rps=() bad=() cpr=()
            for s in q s p; do
                # shellcheck disable=SC2086 # pid lists
                c0=$(ticks ${cpu_pids[$s]})
                wrk -t2 -c"$c" -d"${load_secs}s" "${url[$s]}$path" >"$tmp/wrk.$s" 2>&1 || true
                # shellcheck disable=SC2086
                c1=$(ticks ${cpu_pids[$s]})
                nreq=$(awk '/requests in/ { print $1 }' "$tmp/wrk.$s")
                cpr[$s]=$(awk -v d=$((c1 - c0)) -v n="${nreq:-0}" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / hz / n; else print "na" }')
                rps[$s]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/wrk.$s")
                rps[$s]=${rps[$s]:-0}
                bad[$s]=$(awk '/Non-2xx/ { printf " (%s non-2xx)", $NF }' "$tmp/wrk.$s")
            done
            lsum_q=$((lsum_q + rps[q])) lsum_s=$((lsum_s + rps[s])) lsum_p=$((lsum_p + rps[p]))
            echo "| $size $kind: \`$expr\` | $c | ${rps[q]}${bad[q]} | ${rps[s]}${bad[s]} | ${rps[p]}${bad[p]} | $(ratio "${rps[q]}" "${rps[s]}") | $(ratio "${rps[q]}" "${rps[p]}") | ${cpr[q]} / ${cpr[s]} / ${cpr[p]} |"
        done
    done
    echo
    echo "Sum of requests/s over the rows: querier $lsum_q, shard $lsum_s, Prometheus $lsum_p; load average after: $(uptime | sed 's/.*load average: //')."
    final="$final rps querier/shard=$(ratio $lsum_q $lsum_s) querier/prometheus=$(ratio $lsum_q $lsum_p)"
fi
echo
echo "$final"
