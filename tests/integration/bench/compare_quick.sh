#!/bin/sh
# Smoke run of the benchmark harness: `scripts/bench/compare.sh --quick` with
# the binary under test must complete against a real Prometheus 2.42.
#
#   compare_quick.sh TESSERA_BIN
#
# Checks the run, never the figures (CI's binary is a sanitizer build on a
# shared machine): exit status 0, a last line
#   ratios ingest_cpu=X rss_per_series=X bytes_per_sample=X query_p50=X query_p99=X restart=X
# where every X is a positive number (so each of the six measurements really
# happened on both sides), every query answered on both sides, and the report
# file (--out, so the committed docs/BENCHMARKS.md is left alone) holding the
# table.
set -u
tessera=$1
root=$(cd "$(dirname "$0")/../../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/compare_quick.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

"$root/scripts/bench/compare.sh" --quick --tessera="$tessera" --out="$tmp/report.md" \
    >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ "$rc" = 0 ] && ok "compare.sh --quick exited 0" || bad "compare.sh --quick exited $rc"

last=$(tail -n 1 "$tmp/stdout")
echo "$last"
n=0
for key in ingest_cpu rss_per_series bytes_per_sample query_p50 query_p99 restart; do
    v=$(printf '%s\n' "$last" | tr ' ' '\n' | sed -n "s/^$key=//p")
    if awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) }'; then
        n=$((n + 1))
    else
        bad "ratio $key is \"$v\", not a positive number"
    fi
done
[ "$n" = 6 ] && ok "all six ratios measured"

if grep -q '^| ingest CPU s per 1M samples |' "$tmp/report.md" 2>/dev/null &&
    grep -q '^| ready after SIGKILL s |' "$tmp/report.md"; then
    ok "report written to --out"
else
    bad "report file missing or without the table"
fi
if grep -q 'failed' "$tmp/report.md" 2>/dev/null; then
    bad "a query failed: $(grep failed "$tmp/report.md" | head -3)"
else
    ok "every query answered on both sides"
fi
if [ "$fail" != 0 ]; then
    echo "--- compare.sh stderr (last 30 lines)"
    tail -n 30 "$tmp/stderr"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
