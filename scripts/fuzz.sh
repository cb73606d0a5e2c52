#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in fuzz/ (docs/ARCHITECTURE.md, "Fuzzing").
#
#   scripts/fuzz.sh [--smoke | --seconds=N | --build-only] [--build-dir=DIR] [target...]
#
# Configures a clang build (default build-fuzz, -DTS_FUZZ=ON), builds the targets (all when
# none is named) and runs each for N seconds (--smoke: 10 s each; default 60 s) on a copy of its
# seed corpus fuzz/corpus/<target>/ in a temporary directory, so the repository is never
# written (new interesting inputs are printed at the end; copy them in by hand if wanted).
# Fails (exit 1) when a target crashes, leaks, times out or runs out of memory, and prints the
# path of the input that did it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs=60
bdir="$root/build-fuzz"
targets=()
build_only=0
for a in "$@"; do
    case "$a" in
    --smoke) secs=10 ;;
    --seconds=*) secs="${a#--seconds=}" ;;
    --build-only) build_only=1 ;;
    --build-dir=*) bdir="${a#--build-dir=}" ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $a" >&2; exit 2 ;;
    *) targets+=("$a") ;;
    esac
done
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || { echo "fuzz.sh: bad --seconds" >&2; exit 2; }
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$root"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/deps.sh)" >&2; exit 2; }

mkdir -p "$bdir"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$bdir" -DCMAKE_C_COMPILER=clang -DTS_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >"$bdir/fuzz-configure.log" 2>&1 ||
    { cat "$bdir/fuzz-configure.log" >&2; exit 1; }
cmake --build "$bdir" -j"${FUZZ_JOBS:-2}" --target "${targets[@]}" >"$bdir/fuzz-build.log" 2>&1 ||
    { tail -50 "$bdir/fuzz-build.log" >&2; exit 1; }
[ $build_only = 1 ] && { echo "built ${targets[*]} in $bdir/fuzz"; exit 0; }

work="$(mktemp -d "${TMPDIR:-/tmp}/tessera-fuzz.XXXXXX")"
keep=0
trap '[ $keep = 1 ] || rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
    bin="$bdir/fuzz/$t"
    [ -x "$bin" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
    corpus="$work/$t/corpus"
    art="$work/$t/artifacts/"
    mkdir -p "$corpus" "$art"
    [ -d "$root/fuzz/corpus/$t" ] && cp -r "$root/fuzz/corpus/$t/." "$corpus/"
    nseed=$(find "$corpus" -type f | wc -l)
    log="$work/$t/log"
    rc=0
    # -timeout: one input taking this long is a bug (a hang); -rss_limit_mb bounds memory.
    TMPDIR="$work/$t" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$art" -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    nnew=$(( $(find "$corpus" -type f | wc -l) - nseed ))
    if [ $rc -ne 0 ] || [ -n "$(ls -A "$art")" ]; then
        keep=1
        failed+=("$t")
        echo "FAIL $t (exit $rc) after ${execs:-?} executions"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 || true
        for f in "$art"*; do [ -e "$f" ] && echo "  crashing input: $f"; done
        echo "  log: $log"
    else
        echo "ok   $t: ${execs:-?} executions in ${secs}s, ${cov:-cov: ?}, $nnew new corpus inputs"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]} (inputs kept in $work)"
    exit 1
fi
