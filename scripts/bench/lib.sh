# Start-up shared by the benchmarks (sourced by compare.sh, soak.sh and
# querier_overhead.sh): an optimised tessera binary, a temp dir whose cleanup
# stops every process started, free ports, starting servers and waiting for
# /-/ready, and `tessera bench targets` with a prometheus.yml scraping it.
#
# The sourcing script has `set -euo pipefail` and sets `root` (its checkout),
# `keep` (1: keep the temp dir) and `tessera` ("" or --tessera=BIN) first.
#
# tests/integration/lib.sh is not sourced: sourcing it makes a temp dir of its
# own and installs an EXIT trap that SIGKILLs every process, where a benchmark
# stops its servers with SIGTERM and waits for their clean shutdown; and of
# its helpers only free_port is of use here, a weaker one (no connect check).
#
# shellcheck shell=bash disable=SC2154,SC2034 # root, keep, url, pid, name: the caller's; ready_secs: for it

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
now() { date +%s.%N; }

# find_tessera: unless $tessera is set, the first optimised build in this
# checkout that has `bench targets` (a sanitizer build would measure the
# sanitizer), or one built into build-bench; dies if the one taken has no
# `bench targets`.
has_bench() { "$1" bench targets --help >/dev/null 2>&1; }
find_tessera() {
    local b
    if [ -z "$tessera" ]; then
        for b in "$root"/build-bench/cmd/tessera/tessera "$root"/build*rel*/cmd/tessera/tessera \
            "$root"/build/cmd/tessera/tessera "$root"/build*/cmd/tessera/tessera; do
            if [ -x "$b" ] && has_bench "$b" && ! grep -qa AddressSanitizer "$b"; then
                tessera=$b
                break
            fi
        done
    fi
    if [ -z "$tessera" ]; then
        log "no optimised tessera binary with 'bench targets': building one in build-bench"
        cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$root/build-bench" --target tessera -j2 >/dev/null
        tessera=$root/build-bench/cmd/tessera/tessera
    fi
    [ -x "$tessera" ] && has_bench "$tessera" || die "$tessera has no 'bench targets' command"
    if grep -qa AddressSanitizer "$tessera"; then
        log "warning: $tessera is a sanitizer build; its figures are not representative"
    fi
}

# make_tmp NAME: $tmp, a new temp dir; on exit every pid in $pids gets
# SIGTERM and is waited for, and the dir is removed (kept with keep=1).
make_tmp() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-$1.XXXXXX")
    pids=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}

# A TCP port nobody listens on or accepts at now, below Linux's ephemeral
# range (32768-60999), where outgoing connections take their local ports.
# Not $RANDOM: every $(free_port) subshell would repeat the same value.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000))
        if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] &&
            ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port"
}

# start NAME CMD...: runs CMD in the background, appending its output to
# $tmp/NAME.log; its pid is $last_pid, and stopped by cleanup.
start() {
    local n=$1
    shift
    "$@" >>"$tmp/$n.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}

# wait_ready URL PID SECONDS: until URL/-/ready answers 200 (0), or PID has
# exited or SECONDS have passed (1).
wait_ready() {
    local deadline=$(($(date +%s) + $3))
    while :; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/-/ready")" = 200 ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# start_ready KEY SECONDS PORTS_FN START_FN: starts server KEY with START_FN
# KEY (which must set pid[KEY]) and waits for ${url[KEY]}/-/ready.  Ports are
# only free when checked: another program (a test under ctest) may take one
# before the server binds it, so when the server's log ($tmp/${name[KEY]}.log)
# says an address is in use, it is stopped, PORTS_FN KEY picks new ports (and
# sets url[KEY]) and it starts again, up to 3 times.  Returns 1 if it never
# became ready; sets ready_secs, the seconds from the last start to ready.
# The caller declares the associative arrays url, pid and name and picks the
# first ports itself.  Not to be called in a subshell: it records the pid.
start_ready() {
    local s=$1 limit=$2 ports_fn=$3 start_fn=$4 attempt t0 mark logf="$tmp/${name[$1]}.log"
    ready_secs=""
    for attempt in 1 2 3; do
        mark=0
        [ -f "$logf" ] && mark=$(wc -l <"$logf")
        "$start_fn" "$s"
        t0=$(now)
        if wait_ready "${url[$s]}" "${pid[$s]}" "$limit"; then
            ready_secs=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.6f", a - b }')
            return 0
        fi
        grep -qi 'address.*in use' <<<"$(tail -n +"$((mark + 1))" "$logf" 2>/dev/null)" || return 1
        [ "$attempt" -lt 3 ] || return 1
        log "${name[$s]}: a port was taken meanwhile; retrying on other ports"
        kill -TERM "${pid[$s]}" 2>/dev/null || true
        wait "${pid[$s]}" 2>/dev/null || true
        "$ports_fn" "$s"
    done
    return 1
}

# Sum of every series of metric $2 in the /metrics of $1 (empty if absent).
metric_sum() {
    curl -s --max-time 10 "$1/metrics" | awk -v n="$2" '
        $1 == n || index($1, n "{") == 1 { s += $2; found = 1 }
        END { if (found) printf "%.0f", s }'
}

# start_bench_targets ARGS...: `tessera bench targets` on a free loopback port
# with ARGS (--targets, --series, ...); sets taddr (host:port; target i is
# /metrics/i) and targets_pid.
start_bench_targets() {
    "$tessera" bench targets --listen=127.0.0.1:0 "$@" --log.level=warn \
        >"$tmp/targets.out" 2>"$tmp/targets.log" &
    targets_pid=$!
    pids+=("$targets_pid")
    for _ in $(seq 1 100); do
        grep -q '^listening on ' "$tmp/targets.out" && break
        sleep 0.1
    done
    taddr=$(sed -n 's/^listening on //p' "$tmp/targets.out")
    [ -n "$taddr" ] || die "bench targets did not start: $(cat "$tmp/targets.log")"
}

# write_targets_config FILE INTERVAL N: a prometheus.yml scraping the N targets
# of $taddr every INTERVAL seconds as job "bench", instance "target-<i>".
write_targets_config() {
    local i
    {
        printf 'global:\n  scrape_interval: %ss\n  scrape_timeout: %ss\n' "$2" "$(($2 > 10 ? 10 : $2))"
        printf 'scrape_configs:\n  - job_name: bench\n    static_configs:\n'
        for i in $(seq 0 $(($3 - 1))); do
            printf '      - targets: ["%s"]\n        labels: {__metrics_path__: "/metrics/%d", instance: "target-%d"}\n' \
                "$taddr" "$i" "$i"
        done
    } >"$1"
}
