#!/usr/bin/env bash
# The global ruler (issue 12 section 2): 2 shards x 2 replicas, six
# node_exporters split between the shards, a PAIR of `tessera rule` (replica
# a and b) evaluating `global:up:sum = sum(up)` over the deduplicated view of
# all shards, and a querier over shards + rulers.  Through the querier
# global:up:sum is ONE series equal to the true count; the rulers answer
# /api/v1/rules, /metrics, /-/reload; a bad ruler config is refused with its
# line; `tessera check config` accepts the ruler's file.
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


# the rulers: same config, different replica label
cat >"$TS_TMP/global.yml" <<'YML'
groups:
  - name: global
    interval: 1s
    rules:
      - record: global:up:sum
        expr: sum(up)
YML
rsd=""
declare -A RWEB RSTORE RPID
for k in a b; do
    RWEB[$k]=$(free_port)
    RSTORE[$k]=$(free_port)
    cat >"$TS_TMP/r$k.yml" <<YML
global:
  evaluation_interval: 1s
  external_labels: {replica: r$k, ruler: global}
rule_files: ['$TS_TMP/global.yml']
YML
    # shellcheck disable=SC2086
    start "ruler$k" "$TESSERA" rule --config.file="$TS_TMP/r$k.yml" --storage.tsdb.path="$TS_TMP/r$k" \
        --web.listen-address="127.0.0.1:${RWEB[$k]}" --store.listen-address="tcp://127.0.0.1:${RSTORE[$k]}" \
        $sd --query.replica-label=replica --store.sd-interval=1s
    RPID[$k]=$LAST_PID
    rsd+="--store=127.0.0.1:${RSTORE[$k]} "
done
for k in a b; do wait_http "http://127.0.0.1:${RWEB[$k]}/-/ready"; done
qp=$(free_port)
# shellcheck disable=SC2086
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp $sd $rsd --query.replica-label=replica \
    --store.sd-interval=1s
Q=http://127.0.0.1:$qp
wait_http "$Q/-/ready"

g() { q "$Q" 'global:up:sum' | jq -c '[.data.result[] | [.metric, .value[1]]]'; }
one() { [ "$(g)" = '[[{"__name__":"global:up:sum","ruler":"global"},"'$NODES'"]]' ]; }
until_true 40 one || fail "global:up:sum through the querier is not one series = $NODES: $(g)"
# each ruler recorded the true count itself (not a partial sum); the querier
# may have answered from ruler a before b's first evaluation, so wait for b too
own_ok() {
    r=$(q "http://127.0.0.1:${RWEB[$1]}" 'global:up:sum')
    jq -e --arg n "$NODES" '(.data.result | length) == 1 and .data.result[0].value[1] == $n' <<<"$r" \
        >/dev/null
}
for k in a b; do
    until_true 30 own_ok "$k" || fail "ruler $k's own TSDB: $r"
done
r=$(curl -sf "http://127.0.0.1:${RWEB[a]}/api/v1/rules")
jq -e '.data.groups[0].name == "global" and .data.groups[0].rules[0].name == "global:up:sum" and
    .data.groups[0].rules[0].health == "ok"' <<<"$r" >/dev/null || fail "/api/v1/rules: $r"
m=$(curl -sf "http://127.0.0.1:${RWEB[a]}/metrics")
grep -q '^prometheus_rule_evaluations_total' <<<"$m" ||
    fail "no rule metrics on the ruler's /metrics"
curl -sf "http://127.0.0.1:${RWEB[a]}/-/healthy" >/dev/null || fail "/-/healthy"
# the web console is served by the ruler too: / redirects to /graph, the page names the component
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:${RWEB[a]}/")
[[ $loc == "302 "*"/graph" ]] || fail "ruler: / does not redirect to /graph ($loc)"
page=$(curl -sf "http://127.0.0.1:${RWEB[a]}/rules") || fail "ruler: no console page /rules"
grep -q 'name="tessera-component" content="rule"' <<<"$page" ||
    fail "ruler: the console page does not name the component rule"

# reload: a new rule appears (POST /-/reload on a, SIGHUP on b)
cat >>"$TS_TMP/global.yml" <<'YML'
      - record: global:up:count
        expr: count(up)
YML
curl -sf -X POST "http://127.0.0.1:${RWEB[a]}/-/reload" >/dev/null || fail "/-/reload"
kill -HUP "${RPID[b]}"
cnt() { [ "$(q "$1" 'global:up:count' | jq -r '(.data.result | length), .data.result[0].value[1]' | tr '\n' ' ')" = "1 $NODES " ]; }
for k in a b; do
    until_true 20 cnt "http://127.0.0.1:${RWEB[$k]}" ||
        fail "ruler $k: the reloaded rule: $(q "http://127.0.0.1:${RWEB[$k]}" 'global:up:count')"
done
until_true 10 cnt "$Q" || fail "the reloaded rule through the querier: $(q "$Q" 'global:up:count')"

# a ruler file with scrape_configs is refused with the key and its line
cat >"$TS_TMP/bad.yml" <<YML
global:
  evaluation_interval: 1s
rule_files: ['$TS_TMP/global.yml']
scrape_configs: []
YML
set +e
out=$("$TESSERA" rule --config.file="$TS_TMP/bad.yml" --storage.tsdb.path="$TS_TMP/bad" \
    --web.listen-address=127.0.0.1:0 2>&1)
code=$?
set -e
[ "$code" = 2 ] && grep -q "bad.yml:4: field scrape_configs is not allowed" <<<"$out" ||
    fail "bad ruler config: exit $code: $out"
"$TESSERA" check config "$TS_TMP/ra.yml" >/dev/null 2>&1 || fail "check config on the ruler's file"
# the ruler's TSDB has a retention (compacted and cut by the same compactor
# thread as a shard's): shown in runtimeinfo, a bad value refused
ret=$(curl -sf "http://127.0.0.1:${RWEB[a]}/api/v1/status/runtimeinfo" | jq -r .data.storageRetention)
[ "$ret" = 15d ] || fail "ruler storageRetention: $ret"
set +e
out=$("$TESSERA" rule --config.file="$TS_TMP/ra.yml" --storage.tsdb.path="$TS_TMP/bad" \
    --storage.tsdb.retention.time=soon --web.listen-address=127.0.0.1:0 2>&1)
code=$?
set -e
[ "$code" = 2 ] && grep -q 'invalid duration "soon" for --storage.tsdb.retention.time' <<<"$out" ||
    fail "bad ruler retention: exit $code: $out"
echo "PASS rules ruler (global:up:sum = $NODES, one series through the querier over 4 shard replicas + 2 rulers)"
