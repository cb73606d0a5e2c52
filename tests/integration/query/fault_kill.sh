#!/usr/bin/env bash
# Fault: SIGKILL of a replica.  Queries through the querier never wait for
# the dead store (lost connection: in-flight requests fail at once; known
# down: not asked), answers stay complete (no warning) and equal the healthy
# cluster's over the fault window; the failure is counted and logged once;
# the replica restarted is used again without restarting the querier.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

sleep 10 # history before the fault
t0=$(date +%s)
check_instant
kill -9 "${PID[0a]}"
t_kill=$(date +%s)
# the very next queries: no stall (the connection is gone)
check_instant
query_through $((t_kill + 15))
until_true 10 healthy 3 || fail "the querier did not mark the killed store down"
[ "$(metric tessera_query_replica_failures_total)" != 0 ] ||
    fail "replica failures not counted: $(grep replica_failures "$TS_TMP/metrics.txt")"
check_window "$t0" "$(($(date +%s) - 1))"
n=$(grep -c "store is unhealthy.*$(store_addr 0a)" "$TS_TMP/querier.log" || true)
[ "$n" = 1 ] || fail "the store's failure was logged $n times, want once per state change"
# back: used again, without restarting the querier
start_shard 0a
wait_http "http://${HOST[0a]}:${WEB[0a]}/-/ready"
t_back=$(date +%s)
until_true 10 healthy 4 || fail "the restarted replica is not used again"
echo "replica back in use after $(($(date +%s) - t_back)) s"
check_instant
check_window "$t0" "$(($(date +%s) - 1))"
echo "PASS query fault_kill (query latencies: $(lat_summary))"
