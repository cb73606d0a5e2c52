#!/usr/bin/env bash
# Fault: a replica whose answers are delayed.  Once its peer answered, the
# querier waits at most max(--store.slow-replica-timeout, the peer's time)
# for it, then answers without it: complete, no warning, equal to the
# healthy cluster's answer.  The delay is `tc qdisc ... netem delay` on the
# replica's link in a network namespace where the kernel has sch_netem, else
# (this kernel lacks it) a TCP proxy that delays the store's answers by as much.
DELAY_MS=${DELAY_MS:-1200}
NETNS=0
PROXY_0A=0
if [ "$(id -u)" = 0 ] && ip netns add tsqprobe$$ 2>/dev/null; then
    ip link add tsqp$$a type veth peer name tsqp$$b netns tsqprobe$$ 2>/dev/null &&
        ip netns exec tsqprobe$$ tc qdisc add dev tsqp$$b root netem delay 1ms 2>/dev/null && NETNS=1
    ip netns del tsqprobe$$
    ip link del tsqp$$a 2>/dev/null || true
fi
[ "$NETNS" = 1 ] || PROXY_0A=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

delay_on() {
    if [ "$NETNS" = 1 ]; then
        ip netns exec "$NS" tc qdisc add dev "$VN" root netem delay "${DELAY_MS}ms" || fail "cannot add netem"
        echo "delay: tc netem ${DELAY_MS}ms on the replica's link"
    else
        echo "$DELAY_MS" >"$DELAY_FILE"
        echo "delay: no sch_netem in this kernel; a proxy delays the replica's answers by ${DELAY_MS}ms"
    fi
}
delay_off() {
    if [ "$NETNS" = 1 ]; then ip netns exec "$NS" tc qdisc del dev "$VN" root; else echo 0 >"$DELAY_FILE"; fi
}

sleep 10
t0=$(date +%s)
delay_on
t_delay=$(date +%s)
query_through $((t_delay + 15))
before=$(metric tessera_query_slow_replicas_skipped_total)
check_instant
[ "$(metric tessera_query_slow_replicas_skipped_total)" -gt "$before" ] ||
    fail "the delayed replica was not skipped (metric did not move)"
check_window "$t0" "$(($(date +%s) - 1))"
# the delayed store still counts as healthy (its probes answer, late)
healthy 4 || fail "a delayed but answering store was marked down: $(curl -s "$Q/api/v1/stores")"
delay_off
query_through $(($(date +%s) + 5))
check_window "$t0" "$(($(date +%s) - 1))"
echo "PASS query fault_delay (${DELAY_MS} ms; query latencies: $(lat_summary))"
