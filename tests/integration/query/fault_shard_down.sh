#!/usr/bin/env bash
# Fault: both replicas of one shard down.  The answer is partial and says so:
# a warning naming the shard and both its stores (or, with
# partial_response=false or --no-query.partial-response, an error); no query
# waits; the other shard's data is all there; back to complete, without a
# warning, once a replica of the shard is back.
. "$(dirname "$0")/../lib.sh"
QUERIER_FLAGS=""
. "$(dirname "$0")/cluster.sh"
sp=$(free_port)
start strict "$TESSERA" query --web.listen-address=127.0.0.1:$sp --store.sd-files="$TS_TMP/stores.yml" \
    --store.sd-interval=1s --no-query.partial-response
STRICT=http://127.0.0.1:$sp
wait_http "$STRICT/-/ready"

# which node_exporters shard 1 scrapes: they vanish from the answer
# (a replica counts a target only after its first scrape of it, so wait
# until replica 0a's and 1b's counts add up to all targets)
own_count() {
    curl -sf "http://127.0.0.1:${WEB[$1]}/api/v1/query" --get --data-urlencode 'query=count(up{job="node"})' |
        jq -r '.data.result[0].value[1] // "0"'
}
split_ok() { n1=$(own_count 1b) && n0=$(own_count 0a) && [ $((n0 + n1)) = "$want_count" ]; }
until_true 30 split_ok || fail "shards 0a and 1b do not scrape all $want_count targets between them: $n0 + $n1"
sleep 5
kill -9 "${PID[1a]}" "${PID[1b]}"
t_kill=$(date +%s)
check_partial() {
    local r
    r=$(timed_query "$Q" /api/v1/query --data-urlencode 'query=count(up{job="node"})')
    jq -e --arg n "$((want_count - n1))" '.status == "success" and (.warnings | length) >= 1 and
        ((.data.result[0].value[1] // "0") == $n)' <<<"$r" >/dev/null || fail "partial answer: $r"
    local w
    w=$(jq -r '.warnings | join(" | ")' <<<"$r")
    grep -q "shard 1/2" <<<"$w" && grep -q "$(store_addr 1a)" <<<"$w" && grep -q "$(store_addr 1b)" <<<"$w" ||
        fail "the warning does not name shard 1/2 and both its stores: $w"
    grep -q "shard 0/2" <<<"$w" && fail "the warning blames the healthy shard 0: $w"
    r=$(timed_query "$Q" /api/v1/query --data-urlencode 'query=count(up{job="node"})' \
        --data-urlencode partial_response=false)
    jq -e '.status == "error" and (.error | test("shard 1/2"))' <<<"$r" >/dev/null ||
        fail "strict (partial_response=false) did not fail naming the shard: $r"
    r=$(timed_query "$STRICT" /api/v1/query --data-urlencode 'query=count(up{job="node"})')
    jq -e '.status == "error" and (.error | test("shard 1/2"))' <<<"$r" >/dev/null ||
        fail "--no-query.partial-response did not fail: $r"
}
check_partial # at once: the connections are gone
until_true 10 healthy 2 || fail "the dead stores are not marked down"
for i in 1 2 3 4 5; do check_partial; sleep 0.5; done
echo "warning: $(timed_query "$Q" /api/v1/query --data-urlencode 'query=count(up{job="node"})' | jq -c .warnings)"
[ "$(metric tessera_query_partial_responses_total)" != 0 ] || fail "partial responses not counted"
start_shard 1b
wait_http "http://127.0.0.1:${WEB[1b]}/-/ready"
until_true 15 healthy 3 || fail "the restarted replica is not used again"
sleep 2
check_instant
echo "PASS query fault_shard_down (shard 1 held $n1 of $want_count targets; query latencies: $(lat_summary))"
