#!/usr/bin/env bash
# The global ruler's alerts (issue 12 section 2): two shards, three
# node_exporters split between them, a PAIR of `tessera rule` (replica ra and
# rb, same rule file) with alerting rules over sum(up) across the shards, both
# sending to one real Debian prometheus-alertmanager.
#  - Alertmanager holds the global alert exactly once (both rulers sent it:
#    each one's prometheus_notifications_sent_total > 0), without the replica
#    label (alert_relabel_configs drop it, as for a Prometheus HA pair).
#  - Ruler a is killed (kill -9) and started again on the same storage path:
#    its firing alert with `for:` comes back with the activeAt it had (in whole
#    seconds, as ALERTS_FOR_STATE keeps it), taken back from its own TSDB, not
#    the time of the restart.  --rules.alert.for-grace-period=1s lets a `for`
#    of a few seconds be restored (the default 10m restores only longer ones).
. "$(dirname "$0")/../lib.sh"

command -v prometheus-alertmanager >/dev/null || fail "prometheus-alertmanager not installed"
am=$(free_port)
mkdir -p "$TS_TMP/am"
cat >"$TS_TMP/am.yml" <<'YML'
route: {receiver: 'null', group_wait: 1s}
receivers: [{name: 'null'}]
YML
start alertmanager prometheus-alertmanager --config.file="$TS_TMP/am.yml" --storage.path="$TS_TMP/am" \
    --web.listen-address="127.0.0.1:$am" --cluster.listen-address=
A=http://127.0.0.1:$am

NODES=3 KEYS="0 1"
. "$(dirname "$0")/shards.sh"
wait_http "$A/-/ready"

# every target up, counted across both shards: only the global view sees all of them
cat >"$TS_TMP/global.yml" <<YML
groups:
  - name: global-alerts
    interval: 1s
    rules:
      - alert: AllTargetsUp
        expr: sum(up) >= $NODES
        labels: {severity: info}
        annotations: {summary: '{{ \$value }} targets up'}
      - alert: AllTargetsUpFor
        expr: sum(up) >= $NODES
        for: 3s
YML
declare -A RWEB RPID
start_ruler() {
    local k=$1
    # shellcheck disable=SC2086
    start "ruler$k" "$TESSERA" rule --config.file="$TS_TMP/r$k.yml" --storage.tsdb.path="$TS_TMP/r$k" \
        --web.listen-address="127.0.0.1:${RWEB[$k]}" $sd --query.replica-label=replica \
        --store.sd-interval=1s --rules.alert.for-grace-period=1s
    RPID[$k]=$LAST_PID
}
for k in a b; do
    RWEB[$k]=$(free_port)
    cat >"$TS_TMP/r$k.yml" <<YML
global:
  evaluation_interval: 1s
  external_labels: {replica: r$k, ruler: global}
rule_files: ['$TS_TMP/global.yml']
alerting:
  alert_relabel_configs:
  - {action: labeldrop, regex: replica}
  alertmanagers:
  - static_configs: [{targets: ['127.0.0.1:$am']}]
YML
    start_ruler "$k"
done
for k in a b; do wait_http "http://127.0.0.1:${RWEB[$k]}/-/ready"; done

# (b) one alert at Alertmanager, sent by both rulers
sent() {
    curl -sf "http://127.0.0.1:${RWEB[$1]}/metrics" >"$TS_TMP/m$1.txt" || return 1
    awk '/^prometheus_notifications_sent_total/ {s += $2} END {print s + 0}' "$TS_TMP/m$1.txt"
}
am_alerts() { curl -sf "$A/api/v2/alerts?filter=alertname=\"AllTargetsUp\""; }
both() { [ "$(sent a)" -gt 0 ] && [ "$(sent b)" -gt 0 ] && [ "$(am_alerts | jq length)" -ge 1 ]; }
until_true 40 both || fail "the rulers did not both send AllTargetsUp: a=$(sent a) b=$(sent b) am=$(am_alerts)"
got=$(am_alerts | jq -c '[.[] | {labels, annotations, state: .status.state}]')
want='[{"labels":{"alertname":"AllTargetsUp","ruler":"global","severity":"info"},"annotations":{"summary":"'$NODES' targets up"},"state":"active"}]'
[ "$got" = "$want" ] || fail "Alertmanager: $got, want $want"
for k in a b; do
    n=$(curl -sf "http://127.0.0.1:${RWEB[$k]}/api/v1/alerts" |
        jq '[.data.alerts[] | select(.labels.alertname == "AllTargetsUp" and .state == "firing")] | length')
    [ "$n" = 1 ] || fail "ruler $k does not fire AllTargetsUp itself"
done
echo "Alertmanager holds AllTargetsUp once, sent by both rulers (a: $(sent a), b: $(sent b) notifications)"

# (c) restart of ruler a: the `for` alert keeps its activeAt
RA=http://127.0.0.1:${RWEB[a]}
fa() { curl -sf "$RA/api/v1/alerts" | jq -r '[.data.alerts[] | select(.labels.alertname == "AllTargetsUpFor")][0] | "\(.state) \(.activeAt)"'; }
firing_stored() {
    [ "$(fa | cut -d' ' -f1)" = firing ] &&
        [ "$(q "$RA" 'ALERTS_FOR_STATE{alertname="AllTargetsUpFor"}' | jq '.data.result | length')" = 1 ]
}
until_true 40 firing_stored || fail "AllTargetsUpFor not firing with its for state stored: $(fa)"
before=$(fa | cut -d' ' -f2)
sleep 2 # it has been firing a while: a fresh alert would have a visibly later activeAt
kill -9 "${RPID[a]}"
wait "${RPID[a]}" 2>/dev/null || true
t_restart=$(date +%s)
start_ruler a
wait_http "$RA/-/ready"
# pending at first (a new alert), then restored (after the second evaluation) and firing
refiring() { [ "$(fa | cut -d' ' -f1)" = firing ]; }
until_true 40 refiring || fail "AllTargetsUpFor not firing after the restart: $(fa)"
after=$(fa | cut -d' ' -f2)
b_s=$(date -d "$before" +%s)
a_s=$(date -d "$after" +%s.%N)
echo "activeAt before the restart $before, after $after (restarted at $(date -d @"$t_restart" -u +%FT%TZ))"
[ "$(date -d "$after" +%s)" = "$b_s" ] && awk -v a="$a_s" -v b="$b_s" 'BEGIN {exit !(a == b)}' ||
    fail "activeAt not restored: before $before, after $after"
[ "$b_s" -lt "$t_restart" ] || fail "activeAt $before is not before the restart"
# and Alertmanager still holds one alert per name
[ "$(am_alerts | jq length)" = 1 ] || fail "Alertmanager after the restart: $(am_alerts)"
echo "PASS rules ruler_alerts (one alert at Alertmanager from a ruler pair; activeAt $after kept across kill -9)"
