#!/bin/sh
# Integration test: `tessera tsdb import openmetrics` against the real
# `promtool tsdb create-blocks-from openmetrics` on the same generated file.
#
#   import_test.sh TESSERA_BIN GEN_OPENMETRICS_BIN
#
# Checks:
#  - both import a ~5h file of 60 series into the same 2h-aligned blocks:
#    same count, and per block the same min time, max time, samples, series
#    (both print promtool's block table; promtool's is cross-checked with
#    `promtool tsdb list`);
#  - every sample is the same: `tessera tsdb dump` and `promtool tsdb dump`
#    print identical lines (labels, value in Go's %g, timestamp), sorted;
#  - `tessera tsdb inspect` lists every block we wrote, with the total samples;
#  - bad files (no # EOF, out-of-order sample, bad value, missing timestamp)
#    fail with a non-zero exit, a FILE:LINE: message, and no block left behind;
#    promtool rejects the no-EOF and bad-value files too.
set -u
tessera=$1
gen=$2
command -v promtool >/dev/null 2>&1 || { echo "promtool not installed: cannot compare" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/import_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# ---------------------------------------------------------------- good file
"$gen" -n 60 -d 5 -s 1700001234 -S 7 > "$tmp/good.om" || { echo "generator failed"; exit 1; }
lines=$(wc -l < "$tmp/good.om")

if "$tessera" tsdb import openmetrics "$tmp/good.om" "$tmp/t" > "$tmp/t.out" 2> "$tmp/t.err"; then
    ok "tessera import exit 0"
else
    bad "tessera import failed: $(cat "$tmp/t.err")"
fi
if promtool tsdb create-blocks-from openmetrics "$tmp/good.om" "$tmp/p" > "$tmp/p.out" 2> "$tmp/p.err"; then
    ok "promtool import exit 0"
else
    bad "promtool import failed: $(cat "$tmp/p.err")"
fi

# MIN TIME, MAX TIME, NUM SAMPLES, NUM SERIES of each block, by min time
blocks() { awk 'NR > 1 && NF >= 8 {print $2, $3, $5, $7}' "$1" | sort -n; }
blocks "$tmp/t.out" > "$tmp/t.blocks"
blocks "$tmp/p.out" > "$tmp/p.blocks"
promtool tsdb list "$tmp/p" | awk 'NR > 1 && NF >= 8 {print $2, $3, $5, $7}' | sort -n > "$tmp/p.list"
nblocks=$(wc -l < "$tmp/p.blocks")
if [ "$nblocks" -ge 3 ] && cmp -s "$tmp/p.blocks" "$tmp/p.list"; then
    ok "promtool wrote $nblocks blocks (table = tsdb list)"
else
    bad "promtool blocks unexpected: $(cat "$tmp/p.blocks") / list: $(cat "$tmp/p.list")"
fi
if cmp -s "$tmp/t.blocks" "$tmp/p.blocks"; then
    ok "same blocks (min, max, samples, series) as promtool"
else
    bad "blocks differ: tessera:"; cat "$tmp/t.blocks"; echo "promtool:"; cat "$tmp/p.blocks"
fi
# 60 series x 1200 scrapes, all in the file
total=$(awk '{s += $3} END {print s}' "$tmp/t.blocks")
if [ "$total" = 72000 ]; then ok "72000 samples imported"; else bad "samples: $total (file has $lines lines)"; fi
# every 2h window boundary is respected: a block never crosses a multiple of 7200000 ms
if awk '{ if (int($1 / 7200000) != int(($2 - 1) / 7200000)) exit 1 }' "$tmp/t.blocks"; then
    ok "blocks aligned to 2h"
else
    bad "a block crosses a 2h boundary"
fi

# every sample, value and timestamp (promtool's dump wants a wal dir)
mkdir -p "$tmp/p/wal"
promtool tsdb dump "$tmp/p" 2> "$tmp/pd.err" | LC_ALL=C sort > "$tmp/p.dump"
"$tessera" tsdb dump "$tmp/t" 2> "$tmp/td.err" | LC_ALL=C sort > "$tmp/t.dump"
ndump=$(wc -l < "$tmp/p.dump")
if [ "$ndump" = 72000 ] && cmp -s "$tmp/t.dump" "$tmp/p.dump"; then
    ok "tsdb dump identical to promtool's ($ndump samples)"
else
    bad "dumps differ ($ndump promtool lines; $(cat "$tmp/pd.err" "$tmp/td.err")):"
    diff "$tmp/t.dump" "$tmp/p.dump" | head -5
fi

# an ugly but valid file: metadata, escapes, an empty label, exemplars,
# special and extreme values, float-second timestamps that truncate, a
# series that jumps back into an earlier 2h window (fine for promtool)
cat > "$tmp/ugly.om" <<'UGLY'
# HELP esc_total A "help" with \\ and \n escapes.
# TYPE esc_total counter
esc_total{path="a\\b\"c\nd",empty=""} 1 1700000000.001 # {trace_id="x"} 1 1700000000.000
esc_total{path="a\\b\"c\nd",empty=""} 2.5 1700000015.999
# TYPE odd gauge
# UNIT odd_seconds seconds
odd{v="nan"} NaN 1700000000
odd{v="inf"} +Inf 1700000000
odd{v="inf"} -Inf 1700000010
odd{v="small"} 1e-05 1700000000.0019
odd{v="small"} 5e-324 1700000001.001
odd{v="big"} 1.23456789012e+11 1700000000
odd{v="big"} -0 1700007200
odd{v="unicode",w="żółw"} 0.1 1700000000
# TYPE h histogram
h_bucket{le="0.5"} 1 1700000000 # {} 0.3
h_bucket{le="+Inf"} 2 1700000000
h_sum 0.7 1700000000
h_count 2 1700000000
back 1 1700010000
back 2 1700000000
back 3 1700000001
# EOF
UGLY
if "$tessera" tsdb import openmetrics "$tmp/ugly.om" "$tmp/ut" > /dev/null 2> "$tmp/ut.err" &&
    promtool tsdb create-blocks-from openmetrics "$tmp/ugly.om" "$tmp/up" > /dev/null 2> "$tmp/up.err"; then
    mkdir -p "$tmp/up/wal"
    promtool tsdb dump "$tmp/up" 2>/dev/null | LC_ALL=C sort > "$tmp/up.dump"
    "$tessera" tsdb dump "$tmp/ut" 2>/dev/null | LC_ALL=C sort > "$tmp/ut.dump"
    if [ "$(wc -l < "$tmp/up.dump")" = 17 ] && cmp -s "$tmp/ut.dump" "$tmp/up.dump"; then
        ok "ugly file: same 17 samples as promtool"
    else
        bad "ugly file dumps differ:"; diff "$tmp/ut.dump" "$tmp/up.dump"
    fi
else
    bad "ugly file import failed: $(cat "$tmp/ut.err" "$tmp/up.err")"
fi

# -r: promtool's human-readable times (and sizes, which differ by design)
"$tessera" tsdb import openmetrics -r "$tmp/good.om" "$tmp/tr" | awk 'NR > 1 {print $2, $3, $4, $5, $6, $7, $8, $9, $11}' | sort > "$tmp/tr.cols"
promtool tsdb create-blocks-from openmetrics -r "$tmp/good.om" "$tmp/pr" | awk 'NR > 1 {print $2, $3, $4, $5, $6, $7, $8, $9, $11}' | sort > "$tmp/pr.cols"
if [ -s "$tmp/tr.cols" ] && cmp -s "$tmp/tr.cols" "$tmp/pr.cols" && grep -q "+0000 UTC" "$tmp/tr.cols"; then
    ok "-r prints promtool's human-readable times"
else
    bad "-r output differs:"; cat "$tmp/tr.cols" "$tmp/pr.cols"
fi

# ------------------------------------------------------------------ inspect
if "$tessera" tsdb inspect "$tmp/t" > "$tmp/inspect.out" 2>&1; then
    missing=0
    for u in $(awk 'NR > 1 && NF >= 8 {print $1}' "$tmp/t.out"); do
        grep -q "^$u " "$tmp/inspect.out" || missing=1
    done
    itotal=$(awk '/^TOTAL/ {print $(NF - 3)}' "$tmp/inspect.out")
    if [ $missing = 0 ] && [ "$itotal" = "$total" ]; then
        ok "inspect lists every block, total $itotal samples"
    else
        bad "inspect output:"; cat "$tmp/inspect.out"
    fi
else
    bad "inspect failed: $(cat "$tmp/inspect.out")"
fi

# ---------------------------------------------------------------- bad files
# expect_fail NAME EXPECTED_STDERR_PREFIX CONTENT
expect_fail() {
    name=$1
    want=$2
    printf '%b' "$3" > "$tmp/$name.om"
    if "$tessera" tsdb import openmetrics "$tmp/$name.om" "$tmp/out_$name" > /dev/null 2> "$tmp/$name.err"; then
        bad "$name: tessera accepted it"
        return
    fi
    got=$(head -n 1 "$tmp/$name.err")
    case "$got" in
    "$tmp/$name.om:$want"*) ok "$name: $got" ;;
    *) bad "$name: got '$got', want '$tmp/$name.om:$want...'" ;;
    esac
    if [ -n "$(ls -A "$tmp/out_$name" 2>/dev/null)" ]; then
        bad "$name: left files in the output dir"
    fi
}
expect_fail noeof "3: data does not end with # EOF" 'a 1 1\na 2 2\n'
expect_fail ooo "3: out of order sample" 'a 1 10\nb 1 10\na 2 5\n# EOF\n'
expect_fail badvalue "2: strconv.ParseFloat: parsing \"x\": invalid syntax" 'a 1 1\na x 2\n# EOF\n'
expect_fail nots "2: expected timestamp for series got none" '# TYPE a gauge\na 1\n# EOF\n'
expect_fail afteref "2: unexpected data after # EOF" '# EOF\na 1 1\n'
# back into an earlier window, then out of order inside it: found by the
# validation pass, or (back in the later window) by that window's head
expect_fail oooback "3: out of order sample" 'a 1 7300\na 2 100\na 3 50\n# EOF\n'
expect_fail oooback2 "3: out of order sample" 'a 1 7300\na 2 100\na 3 7250\n# EOF\n'
expect_fail dup "2: duplicate sample for timestamp" 'a 1 100\na 2 100\n# EOF\n'

# the real program rejects the same syntax errors
for name in noeof badvalue afteref; do
    if promtool tsdb create-blocks-from openmetrics "$tmp/$name.om" "$tmp/pout_$name" > /dev/null 2>&1; then
        bad "promtool accepted $name"
    else
        ok "promtool rejects $name too"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
