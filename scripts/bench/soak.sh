#!/usr/bin/env bash
# Memory over time: Tessera and Prometheus side by side, with churn and short
# blocks, so that head compactions and block compactions happen many times
# (issue 16; see scripts/bench/README.md).
#
#   scripts/bench/soak.sh [--duration=30m] [--quick] [--targets=N] [--series=N]
#                         [--churn=0.1] [--churn-interval=2m] [--block=2m]
#                         [--tessera=BIN] [--keep] [--out=FILE]
#
# Starts `tessera bench targets` (N targets x S series, a fraction --churn of
# the series replaced by new ones every --churn-interval), then Debian's
# `prometheus` and `tessera shard` scraping every target, both with
# --storage.tsdb.min-block-duration=--block (the flag both accept).  Every
# second it reads each server's VmRSS and anonymous RSS (Anonymous: in
# /proc/PID/smaps_rollup); every 30 s it prints a line per server with the
# RSS and anonymous RSS at that moment, the highest RSS during the 30 s, and
# how many compactions ran (prometheus_tsdb_compactions_total, which both
# export).  At the end it prints
#   - both curves (a markdown table; also written to FILE with --out=FILE),
#   - the anonymous RSS growth from minute 5 (or 1/6 of the run) to the end,
#   - for every 30 s window in which a compaction ran, the peak RSS in it
#     against the steady RSS just before it (the worst ratio per server),
#   - whether a few queries agree between the two at the middle of the run
#     (data that went through compactions by then),
#   - as the last line of stdout:
#     ratios rss_end=X anon_end=X anon_growth=X peak_over_steady_tessera=X peak_over_steady_prometheus=X
#     (rss_end, anon_end: tessera / prometheus at the end; anon_growth:
#     tessera's growth / prometheus' growth, "na" if prometheus did not grow).
# Targets of issue 16: anon_growth <= 1 (or tessera not growing), and
# peak_over_steady_tessera <= 1.2.
#
# Default: 20 targets x 2000 series at 15 s, 10% churn every 2 min, 2 min
# blocks, 30 minutes.  --quick: 5 x 400 at 5 s, churn every 30 s, 1 min
# blocks, 3 minutes (a smoke run; figures not meaningful).  Exits non-zero
# only if something failed to run or the queries disagree, never because of
# the figures.  Everything is on loopback, on free ports, in a temp dir
# removed on exit (--keep keeps it).  Run it on a quiet machine: the two
# servers share it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=0
duration=""
targets=20
series=2000
interval=15
churn=0.1
churn_interval=2m
block=2m
keep=0
tessera=""
out=""
set_targets=0 set_series=0 set_churn_interval=0 set_block=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --duration=*) duration=${a#--duration=} ;;
    --targets=*) targets=${a#--targets=}; set_targets=1 ;;
    --series=*) series=${a#--series=}; set_series=1 ;;
    --churn=*) churn=${a#--churn=} ;;
    --churn-interval=*) churn_interval=${a#--churn-interval=}; set_churn_interval=1 ;;
    --block=*) block=${a#--block=}; set_block=1 ;;
    --tessera=*) tessera=${a#--tessera=} ;;
    --keep) keep=1 ;;
    --out=*) out=${a#--out=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$quick" = 1 ]; then
    [ -n "$duration" ] || duration=3m
    [ $set_targets = 1 ] || targets=5
    [ $set_series = 1 ] || series=400
    [ $set_churn_interval = 1 ] || churn_interval=30s
    [ $set_block = 1 ] || block=1m
    interval=5
fi
[ -n "$duration" ] || duration=30m

# seconds of a duration such as 90s, 30m, 2h (or plain seconds)
secs() {
    case $1 in
    *h) awk -v x="${1%h}" 'BEGIN { printf "%d", x * 3600 }' ;;
    *m) awk -v x="${1%m}" 'BEGIN { printf "%d", x * 60 }' ;;
    *s) awk -v x="${1%s}" 'BEGIN { printf "%d", x }' ;;
    *) awk -v x="$1" 'BEGIN { printf "%d", x }' ;;
    esac
}
dur_s=$(secs "$duration")
[ "$dur_s" -ge 60 ] || { echo "soak.sh: --duration must be at least 1m" >&2; exit 2; }
for v in "$targets" "$series"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --targets/--series want positive integers" >&2; exit 2; }
done

. "$here/lib.sh"

# ------------------------------------------------------------ binaries
command -v prometheus >/dev/null || die "prometheus not found (apt-get install prometheus)"
command -v curl >/dev/null || die "curl not found"
find_tessera
log "tessera: $tessera"
make_tmp soak

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
anon_kb() {
    awk '/^Anonymous:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/smaps_rollup" 2>/dev/null ||
        awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}
compactions() { # url -> prometheus_tsdb_compactions_total (0 if absent)
    local c
    c=$(metric_sum "$1" prometheus_tsdb_compactions_total)
    echo "${c:-0}"
}
query_json() { # url query time -> the response body
    curl -s --max-time 60 -G --data-urlencode "query=$2" --data-urlencode "time=$3" "$1/api/v1/query" || true
}
# the sample values of a response, in order, space-separated
values_of() { { grep -o '"value":\[[^]]*\]' <<<"$1" || true; } | sed 's/.*,"\([^"]*\)"\]/\1/' | tr '\n' ' '; }

# -------------------------------------------------------- bench targets
log "starting $targets targets x $series series (scrape ${interval}s, churn $churn every $churn_interval)"
start_bench_targets --targets="$targets" --series="$series" --churn="$churn" \
    --churn-interval="$churn_interval"
write_targets_config "$tmp/prometheus.yml" "$interval" "$targets"

# ------------------------------------------------------------- servers
declare -A url pid name
name[p]=prometheus
name[t]=tessera
declare -A sport
set_ports() { # system -> picks its ports (the web port in url)
    url[$1]=http://127.0.0.1:$(free_port)
    [ "$1" = p ] || sport[$1]=$(free_port)
}
start_server() { # system -> starts it on its ports
    if [ "$1" = p ]; then
        start prometheus prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
            --web.listen-address="${url[p]#http://}" --storage.tsdb.min-block-duration="$block" \
            --log.level=warn
    else
        start tessera "$tessera" shard --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tessera-data" \
            --web.listen-address="${url[t]#http://}" --store.listen-address=tcp://127.0.0.1:"${sport[t]}" \
            --storage.tsdb.min-block-duration="$block" --log.level=warn
    fi
    pid[$1]=$last_pid
}
for s in p t; do
    set_ports "$s"
    start_ready "$s" 60 set_ports start_server ||
        die "${name[$s]} did not become ready: $(tail -5 "$tmp/${name[$s]}.log")"
done
log "prometheus pid ${pid[p]} on ${url[p]}, tessera pid ${pid[t]} on ${url[t]}"

# -------------------------------------------------------------- the run
t0=$(date +%s)
samples=$tmp/samples.tsv # elapsed_s system rss_kb anon_kb max_rss_kb compactions
: >"$samples"
declare -A maxr comp
for s in p t; do comp[$s]=$(compactions "${url[$s]}"); done
log "running for ${dur_s}s; a line per server every 30 s: elapsed, RSS, anonymous, peak RSS in the window, compactions"
next=$((t0 + 30))
for s in p t; do maxr[$s]=0; done
while :; do
    nowt=$(date +%s)
    for s in p t; do
        kill -0 "${pid[$s]}" 2>/dev/null || die "${name[$s]} died: $(tail -5 "$tmp/${name[$s]}.log")"
        r=$(rss_kb "${pid[$s]}")
        [ "$r" -gt "${maxr[$s]}" ] && maxr[$s]=$r
    done
    if [ "$nowt" -ge "$next" ]; then
        el=$((nowt - t0))
        for s in p t; do
            c=$(compactions "${url[$s]}")
            r=$(rss_kb "${pid[$s]}")
            a=$(anon_kb "${pid[$s]}")
            [ "$r" -gt "${maxr[$s]}" ] && maxr[$s]=$r
            printf '%d\t%s\t%d\t%d\t%d\t%d\n' "$el" "$s" "$r" "$a" "${maxr[$s]}" "$((c - comp[$s]))" >>"$samples"
            printf '%6ds %-10s rss %7.1f MB  anon %7.1f MB  peak %7.1f MB  compactions %d\n' "$el" "${name[$s]}" \
                "$(awk -v x="$r" 'BEGIN{print x/1024}')" "$(awk -v x="$a" 'BEGIN{print x/1024}')" \
                "$(awk -v x="${maxr[$s]}" 'BEGIN{print x/1024}')" "$((c - comp[$s]))" >&2
            maxr[$s]=0
        done
        next=$((next + 30))
        [ "$el" -ge "$dur_s" ] && break
    fi
    sleep 1
done

# ------------------------------------------------------------- queries
# At the middle of the run (in blocks by now), on data both scraped alike.
tq=$((t0 + dur_s / 2))
agree=1
qlog=$tmp/queries.txt
: >"$qlog"
for q in 'count(up == 1)' 'count(group by (__name__) ({job="bench"}))' \
    'sort(count by (instance) (up))' 'count(count by (__name__, instance) ({job="bench"}))'; do
    a=$(query_json "${url[p]}" "$q" "$tq")
    b=$(query_json "${url[t]}" "$q" "$tq")
    va=$(values_of "$a")
    vb=$(values_of "$b")
    if [ -n "$va" ] && [ "$va" = "$vb" ]; then
        echo "agree: $q -> $va" >>"$qlog"
    else
        echo "DIFFER: $q -> prometheus [$va] tessera [$vb]" >>"$qlog"
        printf 'prometheus: %s\ntessera: %s\n' "$a" "$b" >>"$tmp/differ.log"
        agree=0
    fi
done

# ------------------------------------------------------------- report
from=$((dur_s / 6 < 300 ? dur_s / 6 : 300))
report=$(awk -F'\t' -v from="$from" -v tgt="$targets" -v ser="$series" -v dur="$dur_s" \
    -v churn="$churn" -v ci="$churn_interval" -v blk="$block" -v ivl="$interval" '
    function mb(k) { return sprintf("%.1f", k / 1024) }
    {
        t = $1; s = $2; n[s]++; T[s, n[s]] = t; R[s, n[s]] = $3; A[s, n[s]] = $4; M[s, n[s]] = $5; C[s, n[s]] = $6
        if (!(t in seen)) { seen[t] = 1; times[++nt] = t }
    }
    END {
        printf "Soak: %d targets x %d series at %ds, churn %s every %s, min-block-duration %s, %ds.\n\n", tgt, ser, ivl, churn, ci, blk, dur
        print "| time | Prometheus RSS (anon) MB | peak | compactions | Tessera RSS (anon) MB | peak | compactions |"
        print "|---|---|---|---|---|---|---|"
        for (i = 1; i <= nt; i++)
            printf "| %dm%02ds | %s (%s) | %s | %d | %s (%s) | %s | %d |\n", times[i] / 60, times[i] % 60,
                mb(R["p", i]), mb(A["p", i]), mb(M["p", i]), C["p", i], mb(R["t", i]), mb(A["t", i]), mb(M["t", i]), C["t", i]
        for (k = 1; k <= 2; k++) {
            s = k == 1 ? "p" : "t"
            # anonymous growth from the first sample at or after "from" to the end
            f = 0
            for (i = 1; i <= n[s]; i++) if (T[s, i] >= from) { f = i; break }
            g[s] = f ? A[s, n[s]] - A[s, f] : 0
            gfrom[s] = f ? A[s, f] : 0
            # compactions: windows whose counter rose; peak in it vs the RSS before it
            worst[s] = 0; cnt[s] = 0
            for (i = 2; i <= n[s]; i++) if (C[s, i] > C[s, i - 1] && R[s, i - 1] > 0) {
                r = M[s, i] / R[s, i - 1]; cnt[s]++
                if (r > worst[s]) { worst[s] = r; wi[s] = i }
            }
        }
        printf "\nanonymous RSS growth from %dm%02ds to the end: prometheus %+.1f MB (%s -> %s), tessera %+.1f MB (%s -> %s)\n",
            from / 60, from % 60, g["p"] / 1024, mb(gfrom["p"]), mb(A["p", n["p"]]), g["t"] / 1024, mb(gfrom["t"]), mb(A["t", n["t"]])
        for (k = 1; k <= 2; k++) {
            s = k == 1 ? "p" : "t"; nm = k == 1 ? "prometheus" : "tessera"
            if (cnt[s]) printf "%s: %d windows with compactions; worst peak/steady %.2f (peak %s MB at %ds, %s MB before)\n",
                nm, cnt[s], worst[s], mb(M[s, wi[s]]), T[s, wi[s]], mb(R[s, wi[s] - 1])
            else printf "%s: no compaction seen\n", nm
        }
        rr = R["p", n["p"]] ? sprintf("%.3f", R["t", n["t"]] / R["p", n["p"]]) : "na"
        ra = A["p", n["p"]] ? sprintf("%.3f", A["t", n["t"]] / A["p", n["p"]]) : "na"
        rg = g["p"] > 0 ? sprintf("%.3f", g["t"] / g["p"]) : "na"
        pt = cnt["t"] ? sprintf("%.3f", worst["t"]) : "na"
        pp = cnt["p"] ? sprintf("%.3f", worst["p"]) : "na"
        printf "RATIOS rss_end=%s anon_end=%s anon_growth=%s peak_over_steady_tessera=%s peak_over_steady_prometheus=%s\n", rr, ra, rg, pt, pp
    }' "$samples")
body=$(sed '/^RATIOS /d' <<<"$report")
ratios=$(sed -n 's/^RATIOS /ratios /p' <<<"$report")
{
    echo "$body"
    echo
    echo "Queries at the middle of the run ($(date -u -d "@$tq" +%H:%M:%S) UTC):"
    sed 's/^/- /' "$qlog"
} >"$tmp/report.md"
if [ -n "$out" ]; then
    {
        echo "## Soak run ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(basename "$tessera") vs prometheus $(prometheus --version 2>&1 | awk 'NR == 1 { print $3 }'))"
        echo
        cat "$tmp/report.md"
        echo
        echo "\`$ratios\`"
    } >"$out"
    log "report written to $out"
fi
cat "$tmp/report.md"
echo
[ "$agree" = 1 ] || { echo "$ratios"; die "queries disagree (see above)"; }
echo "$ratios"
