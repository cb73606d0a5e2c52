#!/bin/sh
# Bytes per sample on disk: tessera vs Prometheus, on the same backfilled data.
#
#   scripts/bench/import_bytes.sh [-n SERIES] [-d HOURS] [-t TESSERA_BIN] [-k]
#
# Generates SERIES series over HOURS hours at a 15 s interval
# (gen_openmetrics.sh; default 2000 x 24h = 11.5M samples, ~1.1 GB of text),
# imports the file with `tessera tsdb import openmetrics` and with
# `promtool tsdb create-blocks-from openmetrics` into two temp dirs, and
# prints for both: blocks, samples, bytes of the block directories, bytes
# per sample, import wall time, and the ratio tessera/prometheus.
# -k keeps the temp dir.  Not a test: numbers only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
series=2000
hours=24
keep=0
tessera=""
while getopts n:d:t:k opt; do
    case $opt in
    n) series=$OPTARG ;;
    d) hours=$OPTARG ;;
    t) tessera=$OPTARG ;;
    k) keep=1 ;;
    *) echo "usage: $0 [-n SERIES] [-d HOURS] [-t TESSERA_BIN] [-k]" >&2; exit 2 ;;
    esac
done
if [ -z "$tessera" ]; then
    for b in "$root/build/cmd/tessera/tessera" "$root"/build*/cmd/tessera/tessera; do
        if [ -x "$b" ]; then tessera=$b; break; fi
    done
fi
[ -n "$tessera" ] && [ -x "$tessera" ] || { echo "no tessera binary (build it, or pass -t)" >&2; exit 2; }
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/import_bytes.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# bytes of the block directories (regular files under each ULID dir)
block_bytes() {
    find "$1" -mindepth 2 -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}'
}
# sum of NUM SAMPLES (column 5) and block count from a promtool-style table
table_samples() { awk 'NR > 1 && NF >= 8 {s += $5} END {printf "%d", s}' "$1"; }
table_blocks() { awk 'NR > 1 && NF >= 8 {n++} END {printf "%d", n}' "$1"; }

echo "generating $series series x ${hours}h at 15s ..." >&2
t0=$(now)
"$here/gen_openmetrics.sh" -n "$series" -d "$hours" > "$tmp/data.om"
t1=$(now)
echo "  $(wc -c < "$tmp/data.om") bytes, $(wc -l < "$tmp/data.om") lines in $(calc "$t1 - $t0") s" >&2

echo "importing with tessera ($tessera) ..." >&2
t0=$(now)
"$tessera" tsdb import openmetrics "$tmp/data.om" "$tmp/tessera" > "$tmp/tessera.out"
t1=$(now)
tess_time=$(calc "$t1 - $t0")

echo "importing with promtool ..." >&2
t0=$(now)
promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/prom" > "$tmp/prom.out"
t1=$(now)
prom_time=$(calc "$t1 - $t0")

tb=$(block_bytes "$tmp/tessera"); pb=$(block_bytes "$tmp/prom")
ts=$(table_samples "$tmp/tessera.out"); ps=$(table_samples "$tmp/prom.out")
tn=$(table_blocks "$tmp/tessera.out"); pn=$(table_blocks "$tmp/prom.out")

printf '\n%-11s %7s %12s %14s %13s %9s\n' tool blocks samples bytes bytes/sample import_s
printf '%-11s %7d %12d %14d %13.4f %9.1f\n' tessera "$tn" "$ts" "$tb" "$(calc "$tb / $ts")" "$tess_time"
printf '%-11s %7d %12d %14d %13.4f %9.1f\n' prometheus "$pn" "$ps" "$pb" "$(calc "$pb / $ps")" "$prom_time"
printf 'ratio tessera/prometheus (bytes): %.3f\n' "$(calc "$tb / $pb")"
if [ "$ts" != "$ps" ]; then
    echo "WARNING: sample counts differ" >&2
fi
[ "$keep" = 1 ] && echo "kept $tmp" >&2
exit 0
