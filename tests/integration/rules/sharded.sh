#!/usr/bin/env bash
# Shard-local rules never collide (issue 12 section 1): 2 shards x 2 replicas
# behind a querier, six node_exporters split between the shards, the same rule
# `job:up:sum = sum by (job) (up)` in every shard.  Through the querier
# sum(job:up:sum) is the true count (each shard's result carries shard="<i>",
# so the two partial sums stay two series), while a scraped series is still
# one series without a shard label, and shard="<i>" selects one shard's result.
. "$(dirname "$0")/../lib.sh"
cat >"$TS_TMP/rules.yml" <<'YML'
groups:
  - name: job
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
YML
NODES=6 SHARD_RULES=$TS_TMP/rules.yml
. "$(dirname "$0")/shards.sh"
qp=$(free_port)
# shellcheck disable=SC2086
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp $sd --query.replica-label=replica \
    --store.sd-interval=1s
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"

# each shard holds part of the targets (rendezvous hashing), both non-empty
split() {
    n0=$(q "http://127.0.0.1:${WEB[0a]}" 'count(up)' | jq -r '.data.result[0].value[1] // "0"')
    n1=$(q "http://127.0.0.1:${WEB[1a]}" 'count(up)' | jq -r '.data.result[0].value[1] // "0"')
    [ $((n0 + n1)) = "$NODES" ] && [ "$n0" != 0 ] && [ "$n1" != 0 ]
}
until_true 20 split ||
    fail "targets not split between the shards: $n0 + $n1"

total() { q "$Q" 'sum(job:up:sum)' | jq -r '.data.result[0].value[1] // "none"'; }
full() { [ "$(total)" = "$NODES" ] && [ "$(q "$Q" 'count(up)' | jq -r '.data.result[0].value[1]')" = "$NODES" ]; }
until_true 30 full || fail "sum(job:up:sum) through the querier is $(total), want $NODES"

r=$(q "$Q" 'job:up:sum')
jq -e --arg a "$n0" --arg b "$n1" '(.data.result | length) == 2 and
    ([.data.result[] | .metric.shard] | sort) == ["0", "1"] and
    ([.data.result[] | select(.metric.shard == "0") | .value[1]] == [$a]) and
    ([.data.result[] | select(.metric.shard == "1") | .value[1]] == [$b]) and
    all(.data.result[]; .metric.replica == null)' <<<"$r" >/dev/null ||
    fail "job:up:sum is not one series per shard with shard=\"<i>\": $r"
r=$(q "$Q" 'job:up:sum{shard="1"}')
jq -e --arg b "$n1" '(.data.result | length) == 1 and .data.result[0].value[1] == $b' <<<"$r" >/dev/null ||
    fail "the shard matcher does not select shard 1's result: $r"
r=$(q "$Q" 'up{shard!=""}')
jq -e '(.data.result | length) == 0' <<<"$r" >/dev/null || fail "scraped series got a shard label: $r"
first=${TARGETS%%,*}
first=${first//\'/}
r=$(q "$Q" "up{instance=\"$first\"}")
jq -e '(.data.result | length) == 1 and .data.result[0].value[1] == "1"' <<<"$r" >/dev/null ||
    fail "a scraped series is not one series: $r"
r=$(curl -sf "$Q/api/v1/label/shard/values")
jq -e '.data == ["0", "1"]' <<<"$r" >/dev/null || fail "label values of shard: $r"
# the shard itself (its own API) answers without the label: it only exists on the store API
r=$(q "http://127.0.0.1:${WEB[0a]}" 'job:up:sum')
jq -e '(.data.result | length) == 1 and .data.result[0].metric.shard == null' <<<"$r" >/dev/null ||
    fail "the shard's own API: $r"
echo "PASS rules sharded (shard 0: $n0 targets, shard 1: $n1; sum(job:up:sum) = $(total))"
