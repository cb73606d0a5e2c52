# Shared helpers for integration tests (sourced).  Every test runs real
# processes on 127.0.0.1 with random free ports and a temp dir, and cleans up
# after itself, whatever happens.
set -euo pipefail

TESSERA=${TESSERA:-tessera}
TS_TMP=$(mktemp -d /tmp/tessera-it-XXXXXX)
TS_PIDS=()

ts_cleanup() {
    local pid
    for pid in "${TS_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ -z "${TS_KEEP_TMP:-}" ]; then rm -rf "$TS_TMP"; else echo "kept $TS_TMP"; fi
}
trap ts_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$TS_TMP"/*.log; do
        [ -f "$f" ] || continue
        echo "--- tail of $f" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

# A TCP port nobody listens on now, below the kernel's ephemeral range
# (32768+), so outgoing connections cannot be holding it.
free_port() {
    local p
    while :; do
        p=$(( RANDOM % 12000 + 20000 ))
        if ! ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return
        fi
    done
}

# start NAME CMD...: runs CMD in the background, logging to $TS_TMP/NAME.log;
# the pid is in $LAST_PID and registered for cleanup.
start() {
    local name=$1
    shift
    "$@" >"$TS_TMP/$name.log" 2>&1 &
    LAST_PID=$!
    TS_PIDS+=("$LAST_PID")
}

# wait_http URL [SECONDS]: until URL answers 200.
wait_http() {
    local url=$1 t=${2:-30} i
    for ((i = 0; i < t * 10; i++)); do
        if curl -sf -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    fail "no answer from $url within ${t}s"
}

# until_true SECONDS CMD...: retries CMD every 0.5 s.
until_true() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 2; i++)); do
        if "$@"; then return 0; fi
        sleep 0.5
    done
    return 1
}

# q URL QUERY: instant query through the HTTP API, printing the JSON.
q() {
    curl -sf --get --data-urlencode "query=$2" "$1/api/v1/query"
}
