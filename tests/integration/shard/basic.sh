#!/usr/bin/env bash
# tessera shard as a drop-in Prometheus: scrapes Debian's node_exporter and
# itself, answers Debian's promtool, reloads (SIGHUP and /-/reload, rejecting
# a bad config while the old one keeps running) and shuts down cleanly.
. "$(dirname "$0")/../lib.sh"

ne=$(free_port); web=$(free_port); store=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
cat >"$TS_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  external_labels: {replica: a}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
    basic_auth: {username: u, password: s3cr3t}
  - job_name: tessera
    static_configs: [{targets: ['127.0.0.1:$web']}]
YML
start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/data" \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store --web.enable-lifecycle
shard=$LAST_PID
url=http://127.0.0.1:$web
wait_http "$url/-/ready"

two_up() { [ "$(q "$url" 'sum(up)' | jq -r '.data.result[0].value[1]')" = 2 ]; }
until_true 20 two_up || fail "expected both targets up: $(q "$url" up)"

# promtool as the client
out=$(promtool query instant "$url" 'up{job="node"}')
grep -q 'up{instance="127.0.0.1:'$ne'", job="node"} => 1' <<<"$out" || fail "promtool instant: $out"
out=$(promtool query series "$url" --match='node_cpu_seconds_total')
grep -q '__name__="node_cpu_seconds_total"' <<<"$out" || fail "promtool series: $out"
out=$(promtool query labels "$url" job)
[ "$(echo "$out" | tr '\n' ' ')" = "node tessera " ] || fail "promtool labels: $out"
sleep 4 # a few scrapes of history for the range query
now=$(date +%s)
out=$(promtool query range --start=$((now - 3)) --end=$now --step=1s "$url" 'count_over_time(up{job="node"}[2s])')
[ "$(grep -c ' @\[' <<<"$out")" -ge 3 ] || fail "promtool range: $out"
# per-scrape series
for m in scrape_duration_seconds scrape_samples_scraped scrape_samples_post_metric_relabeling scrape_series_added; do
    [ "$(q "$url" "count($m)" | jq -r '.data.result[0].value[1]')" = 2 ] || fail "missing $m"
done
# targets API and self metrics
curl -sf "$url/api/v1/targets" | jq -e '.data.activeTargets | length == 2 and all(.health == "up")' >/dev/null \
    || fail "targets: $(curl -s "$url/api/v1/targets")"
metrics=$(curl -sf "$url/metrics")
grep -q '^prometheus_tsdb_head_series [1-9]' <<<"$metrics" || fail "no head series metric"
# the config as loaded, without its secrets
cfg=$(curl -sf "$url/api/v1/status/config" | jq -r .data.yaml)
grep -q 'password: <secret>' <<<"$cfg" && ! grep -q s3cr3t <<<"$cfg" || fail "status/config: $cfg"
# metric metadata from the scrapes, and the scrape manager's own metrics
md=$(curl -sf "$url/api/v1/metadata?metric=node_cpu_seconds_total")
jq -e '.data.node_cpu_seconds_total[0].type == "counter"' <<<"$md" >/dev/null || fail "metadata: $md"
grep -q '^prometheus_target_' <<<"$metrics" || fail "no prometheus_target_* self-metrics"
# bad input on the API: Prometheus' error shape and code
code=$(curl -s -o "$TS_TMP/err.json" -w '%{http_code}' --get --data-urlencode 'query=sum(' "$url/api/v1/query")
[ "$code" = 400 ] && jq -e '.errorType == "bad_data"' "$TS_TMP/err.json" >/dev/null || fail "bad query: $code"

# reload: a bad config is refused and the old one keeps running
cp "$TS_TMP/prometheus.yml" "$TS_TMP/good.yml"
printf 'scrape_configs:\n  - job_name: x\n    bogus: 1\n' >"$TS_TMP/prometheus.yml"
code=$(curl -s -o "$TS_TMP/reload.txt" -w '%{http_code}' -XPOST "$url/-/reload")
[ "$code" = 500 ] && grep -q 'field bogus not found' "$TS_TMP/reload.txt" || fail "bad reload answered $code"
sleep 2
two_up || fail "old config stopped after a bad reload"
# SIGHUP with a third job
cp "$TS_TMP/good.yml" "$TS_TMP/prometheus.yml"
printf '  - job_name: again\n    static_configs: [{targets: [%s]}]\n' "'127.0.0.1:$ne'" >>"$TS_TMP/prometheus.yml"
kill -HUP "$shard"
three() { [ "$(q "$url" 'sum(up)' | jq -r '.data.result[0].value[1]')" = 3 ]; }
until_true 20 three || fail "SIGHUP reload did not add the job"

# clean shutdown
kill -TERM "$shard"
for i in $(seq 50); do kill -0 "$shard" 2>/dev/null || break; sleep 0.1; done
kill -0 "$shard" 2>/dev/null && fail "shard did not exit on SIGTERM"
wait "$shard" || fail "shard exited with an error"
grep -q 'see you next time' "$TS_TMP/shard.log" || fail "no clean shutdown"
echo "PASS shard basic"
