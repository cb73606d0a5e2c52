#!/usr/bin/env bash
# Stores removed from and added to --store.sd-files while queries run: while
# one replica of each shard stays listed the answers stay complete and equal
# the healthy cluster's; stores added back are used within a refresh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster.sh"

sleep 5
t0=$(date +%s)
write_sd 0b 1b
until_true 10 healthy 2 || fail "removed stores still listed: $(curl -s "$Q/api/v1/stores")"
[ "$(curl -sf "$Q/api/v1/stores" | jq '.data.store | length')" = 2 ] || fail "stores not removed"
query_through $(($(date +%s) + 5))
write_sd 0a 1a 0b 1b
t_add=$(date +%s)
until_true 10 healthy 4 || fail "added stores not used: $(curl -s "$Q/api/v1/stores")"
echo "stores added back in use after $(($(date +%s) - t_add)) s"
write_sd 0a 1a
until_true 10 healthy 2 || fail "stores not removed"
query_through $(($(date +%s) + 5))
write_sd 0a 0b 1a 1b
until_true 10 healthy 4 || fail "stores not added"
query_through $(($(date +%s) + 3))
check_window "$t0" "$(($(date +%s) - 1))"
echo "PASS query fault_sd (query latencies: $(lat_summary))"
