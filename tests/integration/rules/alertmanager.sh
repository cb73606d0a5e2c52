#!/usr/bin/env bash
# tessera shard -> Debian's real Alertmanager: an alerting rule over fixed
# metrics (node_exporter's textfile collector) fires; the alerts reach
# Alertmanager's API v2 (checked with curl and with amtool) with the rule's
# labels, the external labels (minus those alert_relabel_configs drop), the
# templated annotation and a generatorURL; an alert that alert_relabel_configs
# drop does not arrive;
# when the condition ends, the resolved notification removes them at once
# (without it they would stay active for 4 minutes, their endsAt).
. "$(dirname "$0")/../lib.sh"

command -v prometheus-alertmanager >/dev/null || fail "prometheus-alertmanager not installed"
mkdir -p "$TS_TMP/textfile" "$TS_TMP/am"
cat >"$TS_TMP/textfile/fixed.prom" <<'PROM'
fixed_requests_total{code="200",path="/a"} 1027
fixed_requests_total{code="500",path="/a"} 3
PROM
ne=$(free_port); am=$(free_port); tw=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne \
    --collector.textfile.directory="$TS_TMP/textfile"
cat >"$TS_TMP/am.yml" <<'YML'
route: {receiver: 'null', group_wait: 1s}
receivers: [{name: 'null'}]
YML
start alertmanager prometheus-alertmanager --config.file="$TS_TMP/am.yml" --storage.path="$TS_TMP/am" \
    --web.listen-address=127.0.0.1:$am --cluster.listen-address=
cat >"$TS_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {env: it, replica: a}
rule_files: [rules.yml]
alerting:
  alert_relabel_configs:   # the usual HA setup: replicas send identical alerts
  - {action: labeldrop, regex: replica}
  - {source_labels: [severity], regex: none, action: drop}
  alertmanagers:
  - static_configs: [{targets: ['127.0.0.1:$am']}]
    timeout: 5s
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
YML
cat >"$TS_TMP/rules.yml" <<'YML'
groups:
- name: alerts
  rules:
  - alert: FixedHigh
    expr: fixed_requests_total > 10
    for: 2s
    labels: {severity: page}
    annotations: {summary: '{{ $labels.path }} is at {{ $value }} in {{ $externalLabels.env }}'}
  - alert: Dropped          # fires too, but alert_relabel_configs drop it
    expr: fixed_requests_total > 10
    labels: {severity: none}
YML
start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/tess" \
    --web.listen-address=127.0.0.1:$tw --store.listen-address=
A=http://127.0.0.1:$am; T=http://127.0.0.1:$tw
wait_http "$A/-/ready"; wait_http "$T/-/ready"

[ "$(curl -sf "$T/api/v1/alertmanagers" | jq -c .data)" = \
  "{\"activeAlertmanagers\":[{\"url\":\"http://127.0.0.1:$am/api/v2/alerts\"}],\"droppedAlertmanagers\":[]}" ] ||
    fail "/api/v1/alertmanagers: $(curl -s "$T/api/v1/alertmanagers")"

arrived() { [ "$(curl -sf "$A/api/v2/alerts?filter=alertname=\"FixedHigh\"" | jq length)" = 1 ]; }
until_true 30 arrived || fail "the alert did not reach Alertmanager: $(curl -s "$A/api/v2/alerts")"
got=$(curl -sf "$A/api/v2/alerts" | jq -c '.[0] | {labels, annotations, state: .status.state}')
want='{"labels":{"alertname":"FixedHigh","code":"200","env":"it","instance":"127.0.0.1:'$ne'","job":"node","path":"/a","severity":"page"},"annotations":{"summary":"/a is at 1027 in it"},"state":"active"}'
[ "$got" = "$want" ] || fail "alert at Alertmanager: $got, want $want"
gen=$(curl -sf "$A/api/v2/alerts" | jq -r '.[0].generatorURL')
case "$gen" in
    http://*:$tw/graph?g0.expr=fixed_requests_total+%3E+10\&g0.tab=1) ;;
    *) fail "generatorURL $gen" ;;
esac
echo "alert at Alertmanager: $got"
# amtool, Alertmanager's own client, sees it too
amtool --alertmanager.url="$A" alert query alertname=FixedHigh -o json >"$TS_TMP/amtool.json" ||
    fail "amtool failed"
[ "$(jq -r '.[0].labels.severity + " " + (.[0].labels.replica // "-")' "$TS_TMP/amtool.json")" = "page -" ] ||
    fail "amtool: $(cat "$TS_TMP/amtool.json")"
echo "amtool sees it"
[ "$(curl -sf "$T/api/v1/alerts" | jq '[.data.alerts[] | select(.labels.alertname == "Dropped")] | length')" = 1 ] ||
    fail "the Dropped alert does not fire in tessera"
[ "$(curl -sf "$A/api/v2/alerts" | jq length)" = 1 ] || fail "alert_relabel_configs did not drop: $(curl -s "$A/api/v2/alerts")"
echo "alert_relabel_configs applied (replica dropped, severity=none alert dropped)"
curl -sf "$T/metrics" >"$TS_TMP/metrics.txt" || fail "/metrics"  # (not piped into grep -q: SIGPIPE)
grep -q "^prometheus_notifications_sent_total{alertmanager=\"http://127.0.0.1:$am/api/v2/alerts\"} [1-9]" "$TS_TMP/metrics.txt" ||
    fail "prometheus_notifications_sent_total: $(grep notifications "$TS_TMP/metrics.txt")"

# the condition ends: the resolved notification (endsAt now) clears it
cat >"$TS_TMP/textfile/fixed.prom" <<'PROM'
fixed_requests_total{code="200",path="/a"} 1
PROM
gone() { [ "$(curl -sf "$A/api/v2/alerts" | jq length)" = 0 ]; }
until_true 30 gone || fail "the alert was not resolved at Alertmanager: $(curl -s "$A/api/v2/alerts")"
echo "resolved at Alertmanager"
echo "PASS rules -> alertmanager"
