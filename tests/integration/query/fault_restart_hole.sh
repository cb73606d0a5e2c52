#!/usr/bin/env bash
# Fault: a replica restarted after a 30 s hole in its data.  Over the whole
# window the deduplicated answer has no gap (the peer fills the hole) and
# equals the healthy cluster's.
HOLE=${HOLE:-30}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

sleep 10
t0=$(date +%s)
kill -9 "${PID[0a]}" "${PID[1a]}" # a hole in one replica of each shard
t_kill=$(date +%s)
query_through $((t_kill + HOLE))
start_shard 0a
start_shard 1a
wait_http "http://${HOST[0a]}:${WEB[0a]}/-/ready"
wait_http "http://${HOST[1a]}:${WEB[1a]}/-/ready"
until_true 15 healthy 4 || fail "the restarted replicas are not used again"
# both replicas now answer; a's have a ${HOLE}s hole the dedup must fill
sleep 5
query_through $(($(date +%s) + 5))
check_window "$t0" "$(($(date +%s) - 1))"
# the hole is really there in replica a alone (else this test proves nothing)
r=$(curl -sf --get --data-urlencode 'query=count_over_time(up{job="node"}[40s])' \
    --data-urlencode "time=$((t_kill + HOLE))" "http://${HOST[0a]}:${WEB[0a]}/api/v1/query")
jq -e '[.data.result[].value[1] | tonumber] | all(. < 20)' <<<"$r" >/dev/null ||
    fail "replica 0a has no hole: $r"
echo "PASS query fault_restart_hole (${HOLE}s hole; query latencies: $(lat_summary))"
