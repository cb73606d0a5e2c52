#!/usr/bin/env bash
# Tessera vs Prometheus on the same machine, the same scrape targets and the
# same prometheus.yml (see scripts/bench/README.md).
#
#   scripts/bench/compare.sh [--quick] [--scale=N] [--block=DUR] [--window=SECS]
#                            [--tessera=BIN] [--keep] [--out=FILE]
#
# Starts `tessera bench targets` (synthetic node_exporter-like targets), then
# Debian's `prometheus` and `tessera shard` side by side, both scraping every
# target, and measures for each:
#   ingest_cpu        CPU seconds (utime+stime from /proc/PID/stat) per million
#                     samples appended, over a window after a warm-up
#   rss_per_series    VmRSS / prometheus_tsdb_head_series at the window's end
#   bytes_per_sample  block bytes per sample after importing the same generated
#                     OpenMetrics file (tessera tsdb import / promtool tsdb
#                     create-blocks-from; scripts/bench/import_bytes.sh), since a
#                     run this short never compacts its head into blocks
#   query_p50/p99     latency of a fixed set of instant and range queries over
#                     the HTTP API, each repeated, after one untimed run
#   restart           seconds from a restart after SIGKILL (WAL full of the run's
#                     samples) until /-/ready answers 200; the systems restart
#                     one after the other, each after two scrape intervals (at
#                     most 30 s) of quiet, so neither replays its WAL while the
#                     other is still busy catching up after the queries or its
#                     own restart
# Prints a markdown table (also written to docs/BENCHMARKS.md, or to FILE with
# --out=FILE, with the date, scale and machine) and, as the last line of stdout,
#   ratios ingest_cpu=X rss_per_series=X bytes_per_sample=X query_p50=X query_p99=X restart=X
# (tessera / prometheus; "na" where a figure could not be measured).  If the
# tessera binary has no `shard` command yet, only the Prometheus half runs and
# the script still exits 0.
#
# Default: 100 targets x 2000 series (200k active series) at 15 s, about 12
# minutes.  --quick: 10 x 500 at 5 s, under 3 minutes.  --scale=N multiplies
# the number of targets (and the import size).  --block=DUR passes
# --storage.tsdb.min-block-duration=DUR to both servers and --window=SECS
# lengthens the measured window, so that head compactions and block merges
# run inside it (e.g. --block=2m --window=900: the RSS figure then includes
# them; the table gives each server's prometheus_tsdb_compactions_total).
# Everything is on loopback, on free ports, in a temp dir removed on exit (--keep keeps it).  Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=0
scale=1
block=""
window_arg=""
keep=0
tessera=""
out=""
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --scale=*) scale=${a#--scale=} ;;
    --block=*) block=${a#--block=} ;;
    --window=*) window_arg=${a#--window=} ;;
    --tessera=*) tessera=${a#--tessera=} ;;
    --keep) keep=1 ;;
    --out=*) out=${a#--out=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done
if ! awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }'; then
    echo "compare.sh: --scale wants a positive number, got \"$scale\"" >&2
    exit 2
fi

if [ "$quick" = 1 ]; then
    targets=10 series=500 interval=5 warmup=20 window=60 reps=5 imp_series=200 imp_hours=2
else
    targets=100 series=2000 interval=15 warmup=90 window=240 reps=10 imp_series=1000 imp_hours=6
fi
if [ -n "$window_arg" ]; then
    [[ "$window_arg" =~ ^[1-9][0-9]*$ ]] ||
        { echo "compare.sh: --window wants seconds, got \"$window_arg\"" >&2; exit 2; }
    window=$window_arg
fi
[ -z "$block" ] || [[ "$block" =~ ^[0-9]+[smhd]$ ]] ||
    { echo "compare.sh: --block wants a duration like 2m, got \"$block\"" >&2; exit 2; }
blockflag=${block:+--storage.tsdb.min-block-duration=$block}
targets=$(awk -v t="$targets" -v s="$scale" 'BEGIN { n = int(t * s + 0.5); print (n < 1 ? 1 : n) }')
imp_series=$(awk -v t="$imp_series" -v s="$scale" 'BEGIN { n = int(t * s + 0.5); print (n < 1 ? 1 : n) }')

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
. "$here/lib.sh"

# ------------------------------------------------------------ binaries
command -v prometheus >/dev/null || die "prometheus not found (apt-get install prometheus)"
command -v promtool >/dev/null || die "promtool not found (apt-get install prometheus)"
command -v curl >/dev/null || die "curl not found"
find_tessera
have_shard=0
"$tessera" --help 2>/dev/null | grep -q '^  shard ' && have_shard=1
log "tessera: $tessera (shard: $([ $have_shard = 1 ] && echo yes || echo 'not available'))"
make_tmp compare

hz=$(getconf CLK_TCK)
cpu_secs() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$hz" '{ printf "%.2f", ($12 + $13) / hz }'; }
rss_bytes() { awk '/^VmRSS:/ { printf "%d", $2 * 1024 }' "/proc/$1/status" 2>/dev/null || true; }
# First sample value of an instant query (empty on error or empty result).
query_value() {
    curl -s --max-time 60 -G --data-urlencode "query=$2" --data-urlencode "time=$3" \
        "$1/api/v1/query" | grep -o '"value":\[[^]]*\]' | head -1 | sed 's/.*,"\([^"]*\)"\]/\1/'
}

# -------------------------------------------------------- bench targets
log "starting $targets targets x $series series (interval ${interval}s)"
start_bench_targets --targets="$targets" --series="$series"
write_targets_config "$tmp/prometheus.yml" "$interval" "$targets"
promtool check config "$tmp/prometheus.yml" >/dev/null || die "promtool rejects the generated config"

# ------------------------------------------------------------- servers
# systems: p (prometheus), t (tessera)
declare -A url pid cmdline name
name[p]=prometheus
name[t]=tessera
systems=(p)
[ $have_shard = 1 ] && systems+=(t)

# Picks free ports for system $1 and builds its command line.  The ports are
# only free when checked: another program (a parallel test under ctest) may
# take one before the server binds it, so the first start retries with new
# ports when the server says the address is in use.
set_ports() {
    local pport tport sport
    if [ "$1" = p ]; then
        pport=$(free_port)
        url[p]=http://127.0.0.1:$pport
        cmdline[p]="prometheus --config.file=$tmp/prometheus.yml --storage.tsdb.path=$tmp/prom-data --web.listen-address=127.0.0.1:$pport --log.level=warn $blockflag"
    else
        tport=$(free_port)
        sport=$(free_port)
        url[t]=http://127.0.0.1:$tport
        cmdline[t]="$tessera shard --config.file=$tmp/prometheus.yml --storage.tsdb.path=$tmp/tessera-data --web.listen-address=127.0.0.1:$tport --store.listen-address=tcp://127.0.0.1:$sport --log.level=warn $blockflag"
    fi
}
for s in "${systems[@]}"; do set_ports "$s"; done

start_system() {
    local s=$1
    # shellcheck disable=SC2086 # the command line is ours, without spaces in paths
    start "${name[$s]}" ${cmdline[$s]}
    pid[$s]=$last_pid
}

tessera_note=""
for s in "${systems[@]}"; do
    if start_ready "$s" 120 set_ports start_system; then
        log "${name[$s]} ready on ${url[$s]} (pid ${pid[$s]})"
    elif [ "$s" = t ]; then
        log "tessera shard did not become ready; going on with prometheus alone. Its log:"
        tail -5 "$tmp/${name[$s]}.log" >&2 || true
        kill -TERM "${pid[$s]}" 2>/dev/null || true
        tessera_note="tessera shard did not become ready (see its log)."
        systems=(p)
    else
        die "${name[$s]} did not become ready: $(tail -5 "$tmp/${name[$s]}.log")"
    fi
done

# A system whose process died is dropped (its figures become na) and the
# run goes on with the other one.
drop_dead() {
    local s keep_sys=()
    for s in "${systems[@]}"; do
        if kill -0 "${pid[$s]}" 2>/dev/null; then
            keep_sys+=("$s")
        else
            log "${name[$s]} (pid ${pid[$s]}) died $1; last log lines:"
            tail -5 "$tmp/${name[$s]}.log" >&2 || true
            [ "$s" = t ] && tessera_note="tessera shard died $1 (see its log)."
        fi
    done
    systems=("${keep_sys[@]}")
}

log "warming up for ${warmup}s"
sleep "$warmup"
drop_dead "during warm-up"

declare -A cpu0 cpu1 smp0 smp1 smpmethod rss heads compactions
samples_counter() { metric_sum "${url[$1]}" prometheus_tsdb_head_samples_appended_total; }
for s in "${systems[@]}"; do
    cpu0[$s]=$(cpu_secs "${pid[$s]}")
    smp0[$s]=$(samples_counter "$s")
done
tw0=$(date +%s)
log "measuring ingestion for ${window}s"
sleep "$window"
tw1=$(date +%s)
drop_dead "during the measured window"
for s in "${systems[@]}"; do
    cpu1[$s]=$(cpu_secs "${pid[$s]}")
    smp1[$s]=$(samples_counter "$s")
    rss[$s]=$(rss_bytes "${pid[$s]}")
    heads[$s]=$(metric_sum "${url[$s]}" prometheus_tsdb_head_series)
    compactions[$s]=$(metric_sum "${url[$s]}" prometheus_tsdb_compactions_total)
    if [ -z "${heads[$s]}" ]; then
        heads[$s]=$(query_value "${url[$s]}" 'count({__name__!=""})' "$tw1")
    fi
    if [ -n "${smp0[$s]}" ] && [ -n "${smp1[$s]}" ]; then
        smpmethod[$s]=prometheus_tsdb_head_samples_appended_total
        smp1[$s]=$(awk -v a="${smp1[$s]}" -v b="${smp0[$s]}" 'BEGIN { printf "%.0f", a - b }')
    else
        smpmethod[$s]="sum_over_time(scrape_samples_scraped)"
        smp1[$s]=$(query_value "${url[$s]}" "sum(sum_over_time(scrape_samples_scraped[$((tw1 - tw0))s]))" "$tw1")
    fi
    log "${name[$s]}: cpu $(awk -v a="${cpu1[$s]}" -v b="${cpu0[$s]}" 'BEGIN { printf "%.2f", a - b }') s, samples ${smp1[$s]:-?}, rss ${rss[$s]} B, head series ${heads[$s]:-?}"
done
log "expected head series: $((targets * (series + 5))) ($targets targets x ($series + 5 report series))"

# ------------------------------------------------------------- queries
rng=$((window < 600 ? window : 600))
queries=(
    "instant|http_requests_total{code=\"500\"}"
    "instant|rate(http_requests_total[1m])"
    "instant|sum by (code) (rate(http_requests_total[1m]))"
    "instant|histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket[1m])))"
    "instant|topk(10, rate(node_network_receive_bytes_total[1m]))"
    "instant|max_over_time(sum(rate(node_cpu_seconds_total[1m]))[${rng}s:${interval}s])"
    "range|sum by (mode) (rate(node_cpu_seconds_total[1m]))"
    "range|histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
    "range|avg(node_filesystem_avail_bytes)"
)
run_query() { # system index -> "http_code seconds series" (the body is checked for success)
    local s=$1 q=${queries[$2]} kind body out
    kind=${q%%|*}
    q=${q#*|}
    body=$tmp/q.$s.json
    if [ "$kind" = instant ]; then
        out=$(curl -s -o "$body" -w '%{http_code} %{time_total}' --max-time 120 -G \
            --data-urlencode "query=$q" --data-urlencode "time=$tw1" "${url[$s]}/api/v1/query") || out="000 0"
    else
        out=$(curl -s -o "$body" -w '%{http_code} %{time_total}' --max-time 120 -G \
            --data-urlencode "query=$q" --data-urlencode "start=$((tw1 - rng))" \
            --data-urlencode "end=$tw1" --data-urlencode "step=$interval" \
            "${url[$s]}/api/v1/query_range") || out="000 0"
    fi
    grep -q '"status":"success"' "$body" 2>/dev/null || out="${out%% *}x ${out#* }"
    echo "$out $(grep -o '"metric":' "$body" 2>/dev/null | wc -l)"
}
drop_dead "before the queries"
log "timing ${#queries[@]} queries x $reps runs"
for s in "${systems[@]}"; do
    : >"$tmp/lat.$s"
    for i in "${!queries[@]}"; do
        read -r code _ nser < <(run_query "$s" "$i") # untimed first run
        echo "$nser" >"$tmp/nser.$s.$i"
        if [ "$code" != 200 ]; then
            log "${name[$s]}: query $i failed (HTTP $code): ${queries[$i]#*|}: $(head -c 300 "$tmp/q.$s.json")"
            echo "fail" >"$tmp/nser.$s.$i"
            continue
        fi
        for _ in $(seq 1 "$reps"); do
            read -r code secs _ < <(run_query "$s" "$i")
            [ "$code" = 200 ] && echo "$i $secs" >>"$tmp/lat.$s"
        done
    done
done
# percentile q of the seconds in column 2 of file $1 (optionally only query $2), in ms
pct() {
    local f=$1 q=$2 only=${3:-}
    awk -v only="$only" 'only == "" || $1 == only { print $2 }' "$f" | sort -g |
        awk -v q="$q" '{ v[NR] = $1 } END {
            if (NR == 0) exit
            i = int(q * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
            printf "%.2f", v[i] * 1000 }'
}
declare -A p50 p99
for s in "${systems[@]}"; do
    p50[$s]=$(pct "$tmp/lat.$s" 0.5)
    p99[$s]=$(pct "$tmp/lat.$s" 0.99)
done

# -------------------------------------------------------------- restart
declare -A restart
drop_dead "during the queries"
settle=$((interval * 2 < 30 ? interval * 2 : 30))
for s in "${systems[@]}"; do
    log "settling for ${settle}s before restarting ${name[$s]}"
    sleep "$settle"
    kill -KILL "${pid[$s]}"
    wait "${pid[$s]}" 2>/dev/null || true
    if start_ready "$s" 600 set_ports start_system; then
        r=$ready_secs
        restart[$s]=$(awk -v r="$r" 'BEGIN { printf "%.2f", r }')
    fi
    log "${name[$s]}: ready ${restart[$s]:-never} s after SIGKILL"
done
for s in "${systems[@]}"; do
    kill -TERM "${pid[$s]}" 2>/dev/null || true
    wait "${pid[$s]}" 2>/dev/null || true
done
kill -TERM "$targets_pid" 2>/dev/null || true

# ------------------------------------------------------ bytes per sample
declare -A bps
log "bytes per sample: importing $imp_series series x ${imp_hours}h with both tools"
if "$here/import_bytes.sh" -n "$imp_series" -d "$imp_hours" -t "$tessera" >"$tmp/import.out" 2>"$tmp/import.log"; then
    bps[t]=$(awk '$1 == "tessera" { print $5 }' "$tmp/import.out")
    bps[p]=$(awk '$1 == "prometheus" { print $5 }' "$tmp/import.out")
else
    log "import_bytes.sh failed ($(tail -1 "$tmp/import.log")); measuring promtool alone"
    "$here/gen_openmetrics.sh" -n "$imp_series" -d "$imp_hours" >"$tmp/data.om"
    if promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/promblocks" >"$tmp/pt.out" 2>&1; then
        b=$(find "$tmp/promblocks" -mindepth 2 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
        n=$(awk 'NR > 1 && NF >= 8 { s += $5 } END { print s + 0 }' "$tmp/pt.out")
        [ "$n" -gt 0 ] && bps[p]=$(calc "$b / $n")
    fi
    rm -f "$tmp/data.om"
fi

# --------------------------------------------------------------- report
fig() { [ -n "${1:-}" ] && echo "$1" || echo na; }
declare -A cpupm rsspser
for s in "${systems[@]}"; do
    if [ -n "${smp1[$s]:-}" ] && awk -v n="${smp1[$s]}" 'BEGIN { exit !(n > 0) }'; then
        cpupm[$s]=$(awk -v c="$(calc "${cpu1[$s]} - ${cpu0[$s]}")" -v n="${smp1[$s]}" 'BEGIN { printf "%.3f", c / (n / 1e6) }')
    fi
    if [ -n "${heads[$s]:-}" ] && [ "${heads[$s]%.*}" -gt 0 ] 2>/dev/null; then
        rsspser[$s]=$(awk -v r="${rss[$s]}" -v h="${heads[$s]}" 'BEGIN { printf "%.0f", r / h }')
    fi
done
ratio() {
    if [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(b + 0 > 0 && a != "") }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
    else
        echo na
    fi
}
r_cpu=$(ratio "${cpupm[t]:-}" "${cpupm[p]:-}")
r_rss=$(ratio "${rsspser[t]:-}" "${rsspser[p]:-}")
r_bps=$(ratio "${bps[t]:-}" "${bps[p]:-}")
r_p50=$(ratio "${p50[t]:-}" "${p50[p]:-}")
r_p99=$(ratio "${p99[t]:-}" "${p99[p]:-}")
r_rst=$(ratio "${restart[t]:-}" "${restart[p]:-}")

machine="$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory"
mode=$([ "$quick" = 1 ] && echo "--quick" || echo "default")
[ -z "$block" ] || mode="$mode --block=$block"
[ -z "$window_arg" ] || mode="$mode --window=$window_arg"
# the checkout the binary was built in (its build dir lives inside it), else this one
src=$(git -C "$(dirname "$tessera")" rev-parse --show-toplevel 2>/dev/null || echo "$root")
rev="commit $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ] && rev="$rev plus uncommitted changes in the tree"
{
    echo "## Tessera vs Prometheus $(prometheus --version 2>&1 | awk 'NR == 1 { print $3 }')"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), scripts/bench/compare.sh $mode --scale=$scale: $targets targets x $series series"
    echo "($((targets * series)) active series) every ${interval}s, ingestion measured over ${window}s after ${warmup}s"
    echo "of warm-up; $reps timed runs per query; bytes per sample from importing $imp_series series x ${imp_hours}h."
    echo "Machine: $machine. Both servers scrape the same targets at the same time."
    echo "Tessera: \`$(basename "$tessera")\` built from $rev."
    echo
    echo "| figure | Prometheus | Tessera | ratio T/P |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| ingest CPU s per 1M samples | $(fig "${cpupm[p]:-}") | $(fig "${cpupm[t]:-}") | $r_cpu |"
    echo "| RSS bytes per head series | $(fig "${rsspser[p]:-}") | $(fig "${rsspser[t]:-}") | $r_rss |"
    echo "| disk bytes per sample (blocks) | $(fig "${bps[p]:-}") | $(fig "${bps[t]:-}") | $r_bps |"
    echo "| query latency p50 ms | $(fig "${p50[p]:-}") | $(fig "${p50[t]:-}") | $r_p50 |"
    echo "| query latency p99 ms | $(fig "${p99[p]:-}") | $(fig "${p99[t]:-}") | $r_p99 |"
    echo "| ready after SIGKILL s | $(fig "${restart[p]:-}") | $(fig "${restart[t]:-}") | $r_rst |"
    echo "| samples in window | $(fig "${smp1[p]:-}") | $(fig "${smp1[t]:-}") | |"
    echo "| head series | $(fig "${heads[p]:-}") | $(fig "${heads[t]:-}") | |"
    echo "| RSS bytes | $(fig "${rss[p]:-}") | $(fig "${rss[t]:-}") | |"
    echo "| compactions by the window's end | $(fig "${compactions[p]:-}") | $(fig "${compactions[t]:-}") | |"
    echo
    echo "Per query (median ms / result series):"
    echo
    echo "| query | Prometheus | Tessera |"
    echo "| --- | ---: | ---: |"
    for i in "${!queries[@]}"; do
        cell() {
            [ -f "$tmp/nser.$1.$i" ] || { echo na; return; }
            local n
            n=$(cat "$tmp/nser.$1.$i")
            [ "$n" = fail ] && { echo failed; return; }
            echo "$(fig "$(pct "$tmp/lat.$1" 0.5 "$i")") / $n"
        }
        q=${queries[$i]}
        echo "| ${q%%|*}: \`${q#*|}\` | $(cell p) | $(cell t) |"
    done
    echo
    echo "Samples: Prometheus from prometheus_tsdb_head_samples_appended_total; Tessera from $(fig "${smpmethod[t]:-}")."
    [ $have_shard = 1 ] || echo "Tessera figures are missing: \`tessera shard\` was not available in $tessera."
    [ -z "$tessera_note" ] || echo "Tessera figures are incomplete: $tessera_note"
} >"$tmp/report.md"

[ -n "$out" ] || { mkdir -p "$root/docs"; out=$root/docs/BENCHMARKS.md; }
{
    echo "# Benchmarks"
    echo
    echo "Written by \`scripts/bench/compare.sh\` (see scripts/bench/README.md); rerun it to refresh."
    echo
    cat "$tmp/report.md"
} >"$out"

cat "$tmp/report.md"
echo
if [ $have_shard != 1 ]; then
    echo "NOTE: 'tessera shard' is not available in $tessera yet: only the Prometheus half ran."
fi
echo "ratios ingest_cpu=$r_cpu rss_per_series=$r_rss bytes_per_sample=$r_bps query_p50=$r_p50 query_p99=$r_p99 restart=$r_rst"
