#!/usr/bin/env bash
# Fault: SIGSTOP of a replica (a hung host: the connection stays up, nothing
# answers), then SIGCONT.  No query waits for it beyond the slow-replica
# bound (its peer answered); a failed probe marks it down, so it is not asked
# at all; answers stay complete and equal the healthy cluster's, no gap; after
# SIGCONT it is used again without restarting the querier.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

sleep 10
t0=$(date +%s)
kill -STOP "${PID[0a]}"
t_stop=$(date +%s)
check_instant # the first query after the stop: the peer answers, 0a is skipped
query_through $((t_stop + 15))
until_true 10 healthy 3 || fail "the querier did not mark the stopped store down"
check_window "$t0" "$(($(date +%s) - 1))"
kill -CONT "${PID[0a]}"
t_cont=$(date +%s)
until_true 15 healthy 4 || fail "the resumed replica is not used again"
echo "replica back in use $(($(date +%s) - t_cont)) s after SIGCONT"
query_through $(($(date +%s) + 5))
check_window "$t0" "$(($(date +%s) - 1))"
echo "PASS query fault_stop (query latencies: $(lat_summary))"
