#!/usr/bin/env bash
# The global ruler's partial-data policy (issue 12 section 2): 2 shards x 2
# replicas, four node_exporters split between the shards, one `tessera rule`
# with two groups over the same expression sum(up): `strict` (no key: Thanos'
# default, abort) and `lenient` (partial_response_strategy: warn).  Both
# replicas of one shard are killed (kill -9): while they are down the ruler
# records NO sample of the strict rule (read back from its own TSDB over the
# whole outage), counts the skipped evaluations
# (tessera_rule_evaluations_partial_skipped_total), reports them in
# /api/v1/rules and logs them with group and rule; the lenient rule records the
# partial value, which equals the surviving shard's own count(up).  When the
# shard comes back, the strict rule records the full count again; with every
# shard down it records nothing either.
. "$(dirname "$0")/../lib.sh"
NODES=4
. "$(dirname "$0")/shards.sh"

cat >"$TS_TMP/global.yml" <<'YML'
groups:
  - name: strict
    interval: 1s
    rules:
      - record: global:up:sum
        expr: sum(up)
  - name: lenient
    interval: 1s
    partial_response_strategy: warn
    rules:
      - record: global:up:sum:lenient
        expr: sum(up)
YML
cat >"$TS_TMP/ruler.yml" <<YML
global:
  evaluation_interval: 1s
  external_labels: {replica: ra}
rule_files: ['$TS_TMP/global.yml']
YML
rw=$(free_port)
# shellcheck disable=SC2086
start ruler "$TESSERA" rule --config.file="$TS_TMP/ruler.yml" --storage.tsdb.path="$TS_TMP/r" \
    --web.listen-address="127.0.0.1:$rw" $sd --query.replica-label=replica --store.sd-interval=1s
R=http://127.0.0.1:$rw
wait_http "$R/-/ready"
# the ruler's file checks with --ruler (the group key is Thanos'), and without it fails as promtool
"$TESSERA" check config --ruler "$TS_TMP/ruler.yml" >"$TS_TMP/check.out" 2>&1 ||
    fail "check config --ruler: $(cat "$TS_TMP/check.out")"
if "$TESSERA" check rules "$TS_TMP/global.yml" >"$TS_TMP/check.out" 2>&1; then
    fail "check rules accepted partial_response_strategy (promtool refuses it)"
fi
grep -q "field partial_response_strategy not found in type rulefmt.RuleGroup" "$TS_TMP/check.out" ||
    fail "check rules: $(cat "$TS_TMP/check.out")"

val() { q "$R" "$1" | jq -r '.data.result[0].value[1] // "none"'; }
full() { [ "$(val global:up:sum)" = "$NODES" ] && [ "$(val global:up:sum:lenient)" = "$NODES" ]; }
until_true 40 full || fail "the ruler does not record the full count: $(val global:up:sum)"

# the shard with fewer targets goes down (so the survivor holds some: its sum is not empty)
split() {
    n0=$(q "http://127.0.0.1:${WEB[0a]}" 'count(up)' | jq -r '.data.result[0].value[1] // "0"')
    n1=$(q "http://127.0.0.1:${WEB[1a]}" 'count(up)' | jq -r '.data.result[0].value[1] // "0"')
    [ $((n0 + n1)) = "$NODES" ]
}
until_true 20 split || fail "targets not split between the shards: $n0 + $n1"
if [ "$n0" -lt "$n1" ]; then victim=0 alive=$n1; else victim=1 alive=$n0; fi
echo "targets: shard 0 has $n0, shard 1 has $n1; killing both replicas of shard $victim"

counter() {
    curl -sf "$R/metrics" >"$TS_TMP/metrics.txt" || return 1
    awk -v m="$1" '$1 ~ "^"m"[{ ]" || $1 == m {s += $2} END {print s + 0}' "$TS_TMP/metrics.txt"
}
skipped0=$(counter tessera_rule_evaluations_partial_skipped_total)
recorded0=$(counter tessera_rule_evaluations_partial_recorded_total)
[ "$skipped0" = 0 ] && [ "$recorded0" = 0 ] ||
    fail "partial evaluations counted while every shard answered: $skipped0 $recorded0"
for r in a b; do
    kill -9 "${PID[$victim$r]}"
    wait "${PID[$victim$r]}" 2>/dev/null || true
done
t_kill=$(date +%s%3N) # every evaluation stamped after this ran without the shard

more() {
    [ "$(counter tessera_rule_evaluations_partial_skipped_total)" -ge $((skipped0 + 5)) ] &&
        [ "$(counter tessera_rule_evaluations_partial_recorded_total)" -ge $((recorded0 + 5)) ]
}
until_true 40 more || fail "skipped/recorded partial evaluations did not increase: $(grep partial "$TS_TMP/metrics.txt")"
t_end=$(date +%s%3N)
win=$(((t_end - t_kill) / 1000 + 2))
# every sample the ruler holds over the outage (raw samples of a range selector at t_end)
after() {
    curl -sf --get --data-urlencode "query=$1[${win}s]" --data-urlencode "time=$(awk -v t="$t_end" 'BEGIN {printf "%.3f", t / 1000}')" \
        "$R/api/v1/query" |
        jq -c --argjson k "$t_kill" '[.data.result[].values[] | select(.[0] * 1000 > $k) | .[1]]'
}
strict=$(after global:up:sum)
[ "$strict" = "[]" ] || fail "the strict (abort) rule recorded over partial data: $strict"
lenient=$(after global:up:sum:lenient)
jq -e --arg a "$alive" 'length >= 3 and all(.[]; . == $a)' <<<"$lenient" >/dev/null ||
    fail "the lenient (warn) rule did not record the partial value $alive: $lenient"
echo "over the outage (${win}s): strict recorded $strict, lenient recorded $(jq length <<<"$lenient") samples = $alive"

rules=$(curl -sf "$R/api/v1/rules")
jq -e '[.data.groups[] | select(.name == "strict")][0] |
    .partialResponseStrategy == "ABORT" and .rules[0].health == "err" and
    (.rules[0].lastError | test("^partial data, nothing recorded .*no replica answered"))' <<<"$rules" >/dev/null ||
    fail "/api/v1/rules does not report the skip: $rules"
jq -e '[.data.groups[] | select(.name == "lenient")][0] |
    .partialResponseStrategy == "WARN" and .rules[0].health == "ok"' <<<"$rules" >/dev/null ||
    fail "/api/v1/rules, lenient group: $rules"
grep -q 'Rule evaluation skipped: partial data.*group=strict rule=global:up:sum' "$TS_TMP/ruler.log" ||
    fail "no log line for the skipped evaluation"

# the shard comes back: the strict rule records the full count again
for r in a b; do start_shard "$victim$r"; done
for r in a b; do wait_http "http://127.0.0.1:${WEB[$victim$r]}/-/ready"; done
until_true 60 full || fail "after the shard came back: $(val global:up:sum)"

# every shard down (all four stores): still nothing recorded, and the reason names both shards
skipped1=$(counter tessera_rule_evaluations_partial_skipped_total)
for k in 0a 0b 1a 1b; do
    kill -9 "${PID[$k]}"
    wait "${PID[$k]}" 2>/dev/null || true
done
t_kill=$(date +%s%3N)
allmore() { [ "$(counter tessera_rule_evaluations_partial_skipped_total)" -ge $((skipped1 + 3)) ]; }
until_true 40 allmore || fail "no skipped evaluations with every shard down"
t_end=$(date +%s%3N)
win=$(((t_end - t_kill) / 1000 + 2))
strict=$(after global:up:sum)
[ "$strict" = "[]" ] || fail "the strict rule recorded with every shard down: $strict"
err=$(curl -sf "$R/api/v1/rules" | jq -r '[.data.groups[] | select(.name == "strict")][0].rules[0].lastError')
[[ $err == "partial data, nothing recorded"*"no replica answered: "* && $err == *"shard 0/2"* &&
    $err == *"shard 1/2"* ]] || fail "lastError with every shard down: $err"
echo "every shard down: strict recorded $strict ($err)"
echo "PASS rules ruler_partial (abort: nothing recorded over the outage, $(counter tessera_rule_evaluations_partial_skipped_total) evaluations skipped; warn: partial value $alive recorded)"
