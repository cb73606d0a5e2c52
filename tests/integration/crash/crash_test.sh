#!/bin/bash
# Crash test: SIGKILL the writer at random moments, then check that every
# sample it reported as committed is there (and nothing beyond what it could
# have committed), then damage the WAL tail on purpose and check it opens.
#   crash_test.sh /path/to/crash_writer [iterations]
set -u
W=$1
ITER=${2:-25}
NS=40
STEP=1000
DIR=$(mktemp -d /tmp/tessera-crash-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
DB=$DIR/db
expected=-1

fail() {
    echo "FAIL: $*"
    echo "--- writer stderr (tail)"; tail -n 20 "$DIR/err" 2>/dev/null
    echo "--- verify output"; cat "$DIR/verify" 2>/dev/null
    exit 1
}

# Runs the writer for $1 ms, SIGKILLs it, updates $expected.
run_and_kill() {
    "$W" write "$DB" $NS $STEP >"$DIR/out" 2>"$DIR/err" &
    local pid=$!
    sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    local rc=$?
    [ $rc -eq 137 ] || fail "writer exited by itself with status $rc (not killed)"
    local s c
    s=$(awk '/^start /{v=$2} END{if (v != "") print v}' "$DIR/out")
    c=$(awk '/^committed /{v=$2} END{if (v != "") print v}' "$DIR/out")
    if [ -n "$s" ] && [ $((s - STEP)) -gt "$expected" ]; then expected=$((s - STEP)); fi
    if [ -n "$c" ]; then expected=$c; fi
    commits=$(grep -c '^committed ' "$DIR/out")
}

verify() { # [lenient]
    "$W" verify "$DB" $NS $STEP "$expected" "$@" >"$DIR/verify" 2>"$DIR/verify.err" ||
        fail "verify $* (expected last=$expected)"
    grep -q '^verified' "$DIR/verify" || fail "verify printed no verdict"
}

# The last WAL segment that has data (verify's open adds an empty one).
last_segment() {
    local f
    for f in $(ls "$DB/wal" | grep -E '^[0-9]{8}$' | sort -r); do
        if [ -s "$DB/wal/$f" ]; then echo "$DB/wal/$f"; return; fi
    done
}

# Makes sure some segment has data to damage: right after a checkpoint all
# of it may live in the checkpoint; then let the writer run a little more.
segment_to_damage() {
    local k
    for k in 1 2 3 4 5; do
        seg=$(last_segment)
        [ -n "$seg" ] && return
        run_and_kill 150
        verify
    done
    fail "no WAL segment with data"
}

total=0; debris=0; torn=0
for i in $(seq 1 "$ITER"); do
    ms=$((RANDOM % 450 + 30))
    run_and_kill $ms
    total=$((total + commits))
    verify
    # a kill alone must never look like damage
    grep 'level=error' "$DIR/verify.err" && fail "error logged while opening after a SIGKILL"
    grep -q 'removing half-written block\|tmp-for-deletion' "$DIR/verify.err" && debris=$((debris + 1))
    grep -q 'damaged wal tail' "$DIR/verify.err" && torn=$((torn + 1))
    echo "run $i: killed after ${ms}ms, $commits commits, $(cat "$DIR/verify")"
done
[ "$expected" -gt $((STEP * 100)) ] || fail "too little was written ($expected)"
ls "$DB" | grep -qE '^[0-9A-Z]{26}$' || fail "no block was ever written (compaction never ran)"

# Damage 1: cut the last WAL segment somewhere in its last 4 KiB.
segment_to_damage
size=$(stat -c %s "$seg")
cut=$((RANDOM % 4096 + 1)); [ $cut -gt "$size" ] && cut=$size
truncate -s $((size - cut)) "$seg"
verify lenient
echo "truncated $(basename "$seg") by $cut bytes: $(cat "$DIR/verify")"
expected=$(sed -n 's/.* last=\(-\{0,1\}[0-9]*\) .*/\1/p' "$DIR/verify")
run_and_kill 200
verify
echo "after truncation, writer + kill: $(cat "$DIR/verify")"

# Damage 2: random garbage over the last 4 KiB page of the last segment.
segment_to_damage
size=$(stat -c %s "$seg")
off=$(((size - 1) / 4096 * 4096))
dd if=/dev/urandom of="$seg" bs=1 seek=$off count=$((size - off)) conv=notrunc status=none
verify lenient
echo "garbled $((size - off)) bytes of $(basename "$seg") at $off: $(cat "$DIR/verify")"
expected=$(sed -n 's/.* last=\(-\{0,1\}[0-9]*\) .*/\1/p' "$DIR/verify")
run_and_kill 200
verify
echo "after garbling, writer + kill: $(cat "$DIR/verify")"

# Damage 3: a zero-filled tail (as after a crash with preallocated space):
# nothing may be lost at all.
segment_to_damage
truncate -s +8192 "$seg"
verify
echo "zero-filled tail of $(basename "$seg"): $(cat "$DIR/verify")"
grep -q 'wal_repairs=1' "$DIR/verify" || fail "zero tail was not repaired"

echo "PASS: $ITER SIGKILLs ($debris left block debris, $torn a torn WAL tail), $total commits checked, 3 damaged WAL tails opened"
