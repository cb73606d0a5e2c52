#!/usr/bin/env bash
# Fault: a partition (the replica's link set down inside its network
# namespace): nothing reaches it, nothing comes back, no RST.  Queries are
# bounded (slow-replica bound, then a failed probe marks it down), answers
# complete and equal the healthy cluster's, no gap; when the link comes back
# the replica is used again without restarting the querier.
NETNS=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

sleep 10
t0=$(date +%s)
ip netns exec "$NS" ip link set "$VN" down || fail "cannot set the link down"
t_cut=$(date +%s)
query_through $((t_cut + 15))
until_true 10 healthy 3 || fail "the querier did not mark the cut-off store down"
check_window "$t0" "$(($(date +%s) - 1))"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip route replace default via "$NET.1"
t_up=$(date +%s)
until_true 20 healthy 4 || fail "the replica is not used again after the partition"
echo "replica back in use $(($(date +%s) - t_up)) s after the link came up"
query_through $(($(date +%s) + 5))
check_window "$t0" "$(($(date +%s) - 1))"
echo "PASS query fault_partition (query latencies: $(lat_summary))"
