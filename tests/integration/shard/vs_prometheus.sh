#!/usr/bin/env bash
# Side by side: Debian's Prometheus 2.42 and tessera shard scrape the same
# targets with the same prometheus.yml; promtool asks both the same queries
# and must get the same series (label sets), and equal values for metrics
# served from a fixed exposition file (node_exporter's textfile collector).
. "$(dirname "$0")/../lib.sh"

mkdir -p "$TS_TMP/textfile"
cat >"$TS_TMP/textfile/fixed.prom" <<'PROM'
# HELP fixed_requests_total Requests.
# TYPE fixed_requests_total counter
fixed_requests_total{code="200",path="/a"} 1027
fixed_requests_total{code="500",path="/a"} 3
fixed_requests_total{code="200",path="/b \"quoted\""} 12.5
# HELP fixed_temperature_celsius A gauge.
# TYPE fixed_temperature_celsius gauge
fixed_temperature_celsius{sensor="x"} -4.25
fixed_temperature_celsius{sensor="y"} 1e-3
# HELP fixed_latency_seconds A histogram.
# TYPE fixed_latency_seconds histogram
fixed_latency_seconds_bucket{le="0.1"} 10
fixed_latency_seconds_bucket{le="0.5"} 25
fixed_latency_seconds_bucket{le="1"} 30
fixed_latency_seconds_bucket{le="+Inf"} 31
fixed_latency_seconds_sum 12.75
fixed_latency_seconds_count 31
PROM
ne=$(free_port); pw=$(free_port); tw=$(free_port); ts=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne \
    --collector.textfile.directory="$TS_TMP/textfile"
cat >"$TS_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$ne']
        labels: {env: test}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
  - job_name: absent
    static_configs: [{targets: ['127.0.0.1:1']}]
YML
start prometheus prometheus --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/prom" \
    --web.listen-address=127.0.0.1:$pw
start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$TS_TMP/tess" \
    --web.listen-address=127.0.0.1:$tw --store.listen-address=tcp://127.0.0.1:$ts
P=http://127.0.0.1:$pw; T=http://127.0.0.1:$tw
wait_http "$P/-/ready"; wait_http "$T/-/ready"
scraped() { [ "$(q "$1" 'count_over_time(up{job="node"}[1h])' | jq -r '.data.result[0].value[1] // 0')" -ge 4 ]; }
until_true 30 scraped "$P" || fail "prometheus did not scrape"
until_true 30 scraped "$T" || fail "tessera did not scrape"

# Strips promtool's " @[timestamp]" so answers taken a moment apart compare.
norm() { sed -E 's/ @\[[0-9.]+\]//' | sort; }
same() { # what QUERY-kind args...
    local what=$1
    shift
    local a b
    a=$(promtool query "$@" 2>&1 | norm)
    b=$(promtool query "${@/$P/$T}" 2>&1 | norm)
    [ -n "$a" ] || fail "$what: prometheus answered nothing"
    [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b") | head -20 >&2; fail "$what differs"; }
    echo "same: $what"
}
labelsets() { # QUERY: label sets only
    local e=$1 a b
    a=$(q "$P" "$e" | jq -c '[.data.result[].metric] | sort')
    b=$(q "$T" "$e" | jq -c '[.data.result[].metric] | sort')
    [ "$a" != "[]" ] || fail "$e: no result from prometheus"
    [ "$a" = "$b" ] || fail "label sets of $e differ: $a vs $b"
    echo "same series: $e"
}
# exact values where the data is fixed
same "fixed counters" instant "$P" 'fixed_requests_total'
same "fixed gauges" instant "$P" 'fixed_temperature_celsius'
same "histogram_quantile" instant "$P" 'histogram_quantile(0.9, fixed_latency_seconds_bucket)'
same "sum by" instant "$P" 'sum by (code) (fixed_requests_total)'
same "arithmetic" instant "$P" 'fixed_latency_seconds_sum / fixed_latency_seconds_count'
same "up" instant "$P" 'up'
same "topk" instant "$P" 'topk(2, fixed_requests_total)'
same "label_replace" instant "$P" 'label_replace(fixed_temperature_celsius, "s", "$1!", "sensor", "(.*)")'
same "rate of a constant" instant "$P" 'rate(fixed_requests_total[5s])'
same "label values job" labels "$P" job
same "label values env" labels "$P" env
same "series fixed" series "$P" --match='{__name__=~"fixed_.*"}'
# same label sets where values move with time
labelsets '{job="node", __name__=~"node_(cpu|memory|filesystem|network)_.+"}'
labelsets 'scrape_samples_scraped'
labelsets 'scrape_samples_post_metric_relabeling'
for u in "$P" "$T"; do # metric_relabel_configs dropped go_* on both
    [ "$(q "$u" 'count({__name__=~"go_.*", job="node"})' | jq '.data.result | length')" = 0 ] ||
        fail "go_* not dropped by metric_relabel_configs at $u"
done
labelsets 'rate(node_cpu_seconds_total[5s])'
labelsets 'sum by (mode) (rate(node_cpu_seconds_total[5s]))'
labelsets 'up == 0'
# /api/v1/status/tsdb over the same data: same head series count and the same
# top-10 cardinality figures (names may order differently among equal values)
tsdb() { curl -sf "$1/api/v1/status/tsdb" | jq -c '.data | [.headStats.numSeries, .headStats.numLabelPairs,
    ([.seriesCountByMetricName[].value] | sort), ([.labelValueCountByLabelName[].value] | sort),
    ([.seriesCountByLabelValuePair[].value] | sort)]'; }
same_tsdb() { [ "$(tsdb "$P")" = "$(tsdb "$T")" ]; }
until_true 10 same_tsdb || fail "status/tsdb differs: $(tsdb "$P") vs $(tsdb "$T")"
echo "same: status/tsdb"
# /api/v1/targets lists pools by job name ("absent" before "node", unlike the
# file), as Prometheus does
tpools() { curl -sf "$1/api/v1/targets" | jq -c '[.data.activeTargets[].scrapePool]'; }
[ "$(tpools "$P")" = '["absent","node"]' ] || fail "prometheus' target order changed: $(tpools "$P")"
[ "$(tpools "$T")" = "$(tpools "$P")" ] || fail "target order: $(tpools "$T") vs $(tpools "$P")"
echo "same: targets order"
echo "PASS shard vs prometheus"
