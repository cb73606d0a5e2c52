#!/usr/bin/env bash
# Rules side by side: Debian's Prometheus 2.42 and tessera shard run the same
# prometheus.yml and rule file over the same node_exporter (fixed metrics from
# the textfile collector).  Checked:
#  - recorded series: same label sets and values, written at the same
#    instants within the interval (the hash-based group offset);
#  - /api/v1/rules and /api/v1/alerts: equal JSON once timestamps and
#    evaluation durations are removed (alerts sorted: Prometheus' order is a map's);
#  - ALERTS / ALERTS_FOR_STATE series: same label sets;
#  - a reload that drops a rule: both list the same rules and the dropped
#    rule's series ends (stale) on both.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$TS_TMP/textfile"
cat >"$TS_TMP/textfile/fixed.prom" <<'PROM'
# TYPE fixed_requests_total counter
fixed_requests_total{code="200",path="/a"} 1027
fixed_requests_total{code="500",path="/a"} 3
fixed_requests_total{code="200",path="/b"} 12.5
PROM
ne=$(free_port); pw=$(free_port); tw=$(free_port); ts=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne \
    --collector.textfile.directory="$TS_TMP/textfile"
cat >"$TS_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 2s
  external_labels: {env: it}
rule_files: [rules.yml]
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
YML
cat >"$TS_TMP/rules.yml" <<'YML'
groups:
- name: rec
  rules:
  - record: job:fixed_requests:sum
    expr: sum by (job) (fixed_requests_total)
    labels: {team: a}
  - record: rec:chain
    expr: job:fixed_requests:sum * 2
  - record: code:fixed:ratio
    expr: sum by (code) (fixed_requests_total) / scalar(sum(fixed_requests_total))
  - record: rec:scalar
    expr: vector(1) + 41
  - record: rec:dropped_later
    expr: fixed_requests_total{code="500"}
- name: alerts
  interval: 3s
  rules:
  - alert: FixedHigh
    expr: fixed_requests_total > 10
    for: 4s
    labels: {severity: page, where: '{{ $labels.path }}'}
    annotations:
      summary: '{{ $labels.code }} at {{ $value }} ({{ humanize $value }}) in {{ $externalLabels.env }}'
      plain: no template here
      more: '{{ printf "%.3f|%s|%v" $value $labels.path $value }} {{ $value | humanizePercentage }} {{ humanizeDuration $value }} {{ humanize1024 $value }} {{ $labels.code | toUpper }} {{ $labels.nope }}'
  - alert: NodeUp
    expr: up{job="node"} == 1
  - alert: Never
    expr: up == 5
    for: 1m
YML
start prometheus prometheus --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/prom" \
    --web.listen-address=127.0.0.1:$pw --web.enable-lifecycle
start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/tess" \
    --web.listen-address=127.0.0.1:$tw --store.listen-address=tcp://127.0.0.1:$ts --web.enable-lifecycle
P=http://127.0.0.1:$pw; T=http://127.0.0.1:$tw
wait_http "$P/-/ready"; wait_http "$T/-/ready"

# both fire FixedHigh (for: 4s) and wrote ALERTS (third evaluation on)
firing() { [ "$(q "$1" 'count(ALERTS{alertname="FixedHigh",alertstate="firing"})' |
    jq -r '.data.result[0].value[1] // 0')" = 2 ]; }
until_true 40 firing "$P" || fail "prometheus: FixedHigh not firing"
until_true 40 firing "$T" || fail "tessera: FixedHigh not firing"

# recorded series: same labels and values (fixed input)
vals() { q "$1" '{__name__=~"job:.*|rec:.*|code:.*"}' | jq -c '[.data.result[] | [.metric, .value[1]]] | sort'; }
a=$(vals "$P"); b=$(vals "$T")
[ "$(echo "$a" | jq length)" = 6 ] || fail "prometheus recorded $a"
[ "$a" = "$b" ] || fail "recorded series differ: $a vs $b"
echo "same: recorded series and values"

# the same instants within the interval: raw sample timestamps mod 2s (group
# "rec") and mod 3s (group "alerts", its ALERTS series); the values at the
# timestamps both have are equal
phase() { # URL SERIES PERIOD_MS
    curl -sf --get --data-urlencode "query=$2[20s]" "$1/api/v1/query" |
        jq -r --argjson p "$3" '[.data.result[0].values[][0] * 1000 | round | . % $p] | unique | .[]'
}
for s in 'rec:chain:2000' 'ALERTS{alertname="NodeUp"}:3000'; do
    sel=${s%:*}; per=${s##*:}
    pa=$(phase "$P" "$sel" "$per"); pb=$(phase "$T" "$sel" "$per")
    [ -n "$pa" ] || fail "no samples of $sel at prometheus"
    [ "$pa" = "$pb" ] || fail "evaluation phase of $sel differs: prometheus $pa ms, tessera $pb ms"
    echo "same evaluation phase: $sel ($pa ms in ${per} ms)"
done
raw() { curl -sf --get --data-urlencode 'query=job:fixed_requests:sum[20s]' "$1/api/v1/query" |
    jq -c '.data.result[0].values[]'; }
common=$(comm -12 <(raw "$P" | sort) <(raw "$T" | sort) | wc -l)
[ "$common" -ge 3 ] || fail "fewer than 3 equal (timestamp, value) samples: $common"
echo "same: $common samples at matching timestamps"

labelsets() { # QUERY [JQ_VALUE]: label sets (and values, unless the value differs by start time)
    local e=$1 v=${2:-.value[1]} a b
    a=$(q "$P" "$e" | jq -c "[.data.result[] | [.metric, $v]] | sort")
    b=$(q "$T" "$e" | jq -c "[.data.result[] | [.metric, $v]] | sort")
    [ "$a" != "[]" ] || fail "$e: no result from prometheus"
    [ "$a" = "$b" ] || fail "$e differs: $a vs $b"
    echo "same: $e"
}
labelsets 'ALERTS'
labelsets 'ALERTS_FOR_STATE > 0' 0 # activeAt depends on when each first saw the data

# the APIs, without times and durations
norm_rules() {
    curl -sf "$1/api/v1/rules$2" | jq -S 'del(.data.groups[].evaluationTime, .data.groups[].lastEvaluation,
        .data.groups[].rules[].evaluationTime, .data.groups[].rules[].lastEvaluation,
        .data.groups[].rules[].alerts[]?.activeAt)
        | .data.groups[].rules[] |= (if .alerts then .alerts |= sort_by(.labels | tostring) else . end)'
}
norm_alerts() {
    curl -sf "$1/api/v1/alerts" | jq -S 'del(.data.alerts[].activeAt) | .data.alerts |= sort_by(.labels | tostring)'
}
same_api() { [ "$(norm_rules "$P" "$1")" = "$(norm_rules "$T" "$1")" ]; }
for f in "" "?type=alert" "?type=record"; do
    until_true 10 same_api "$f" || { diff <(norm_rules "$P" "$f") <(norm_rules "$T" "$f") >&2; fail "/api/v1/rules$f differs"; }
    echo "same: /api/v1/rules$f"
done
[ "$(norm_alerts "$P")" = "$(norm_alerts "$T")" ] || { diff <(norm_alerts "$P") <(norm_alerts "$T") >&2; fail "/api/v1/alerts differs"; }
echo "same: /api/v1/alerts"
code=$(curl -s -o "$TS_TMP/bad.json" -w '%{http_code}' "$T/api/v1/rules?type=x")
[ "$code" = 400 ] && [ "$(cat "$TS_TMP/bad.json")" = "$(curl -s "$P/api/v1/rules?type=x")" ] ||
    fail "type=x: $code $(cat "$TS_TMP/bad.json")"
echo "same: /api/v1/rules?type=x error"

# self-metrics with Prometheus' rule_group label
curl -sf "$T/metrics" >"$TS_TMP/metrics.txt" || fail "/metrics"  # (not piped into grep -q: SIGPIPE)
grep -q "^prometheus_rule_evaluations_total{rule_group=\"$TS_TMP/rules.yml;rec\"} [1-9]" "$TS_TMP/metrics.txt" ||
    fail "prometheus_rule_evaluations_total missing"
grep -q "^prometheus_rule_group_last_duration_seconds{rule_group=\"$TS_TMP/rules.yml;alerts\"}" "$TS_TMP/metrics.txt" ||
    fail "prometheus_rule_group_last_duration_seconds missing"
grep -q "^prometheus_rule_group_rules{rule_group=\"$TS_TMP/rules.yml;rec\"} 5$" "$TS_TMP/metrics.txt" ||
    fail "prometheus_rule_group_rules missing"

# reload without rec:dropped_later: same rule lists; its series ends on both
sed -i '/rec:dropped_later/,+1d' "$TS_TMP/rules.yml"
curl -sf -X POST "$P/-/reload" >/dev/null || fail "prometheus reload"
curl -sf -X POST "$T/-/reload" >/dev/null || fail "tessera reload"
gone() { [ "$(q "$1" 'rec:dropped_later' | jq '.data.result | length')" = 0 ]; }
until_true 10 gone "$P" || fail "prometheus still has rec:dropped_later"
until_true 10 gone "$T" || fail "tessera still has rec:dropped_later (no stale marker)"
until_true 10 same_api "" || { diff <(norm_rules "$P" "") <(norm_rules "$T" "") >&2; fail "rules differ after reload"; }
echo "same after reload: rules; rec:dropped_later ended"
firing "$T" || fail "FixedHigh state lost on reload"

# a rule file with an unsupported template is refused at reload, with the reason
cat >>"$TS_TMP/rules.yml" <<'YML'
  - alert: Bad
    expr: up
    annotations: {x: '{{ query "up" | first | value }}'}
YML
out=$(curl -s -X POST "$T/-/reload")
echo "$out" | grep -q 'annotation "x": template: __alert_Bad:1: {{ query "up" | first | value }}: unsupported function' || fail "bad template accepted: $out"
"$TESSERA" check rules "$TS_TMP/rules.yml" >"$TS_TMP/check.out" 2>&1 && fail "check rules accepted the bad template"
grep -q 'template: __alert_Bad' "$TS_TMP/check.out" || fail "check rules: $(cat "$TS_TMP/check.out")"
"$TESSERA" check config "$TS_TMP/prometheus.yml" >"$TS_TMP/checkc.out" 2>&1 && fail "check config accepted the bad template"
grep -q 'template: __alert_Bad' "$TS_TMP/checkc.out" || fail "check config: $(cat "$TS_TMP/checkc.out")"
firing "$T" || fail "a refused reload disturbed the running rules"
echo "refused: unsupported template (reload and check rules)"
echo "PASS rules vs prometheus"
