#!/usr/bin/env bash
# SIGKILL a shard while it scrapes, start it again on the same data dir: the
# samples from before the kill are still answered, and scraping resumes.
. "$(dirname "$0")/../lib.sh"

ne=$(free_port); web=$(free_port); store=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
cat >"$TS_TMP/prometheus.yml" <<YML
global: {scrape_interval: 500ms, scrape_timeout: 500ms}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
YML
run() {
    start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/data" \
        --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store
    SHARD=$LAST_PID
    wait_http "http://127.0.0.1:$web/-/ready"
}
U=http://127.0.0.1:$web
count_at() { # samples of up in the hour before unix time $1
    curl -sf --get --data-urlencode 'query=count_over_time(up[1h])' --data-urlencode "time=$1" \
        "$U/api/v1/query" | jq -r '.data.result[0].value[1] // 0'
}
run
sleep 4
t_kill=$(date +%s.%N)
before=$(count_at "$t_kill")
[ "$before" -ge 4 ] || fail "too few samples before the kill: $before"
series_before=$(curl -sf "$U/api/v1/series" --get --data-urlencode 'match[]={job="node"}' | jq '.data | length')
kill -9 "$SHARD"
wait "$SHARD" 2>/dev/null || true
run
after=$(count_at "$t_kill")
[ "$after" -ge "$before" ] || fail "samples lost across SIGKILL: $before before, $after after"
series_after=$(curl -sf "$U/api/v1/series" --get --data-urlencode 'match[]={job="node"}' | jq '.data | length')
[ "$series_after" -ge "$series_before" ] || fail "series lost: $series_before -> $series_after"
resumed() { [ "$(count_at "$(date +%s.%N)")" -gt "$after" ]; }
until_true 10 resumed || fail "scraping did not resume after the restart"
echo "PASS restart: $before samples of up before the kill, all there after restart; $series_before series kept"
