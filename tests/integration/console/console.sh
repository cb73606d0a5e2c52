#!/usr/bin/env bash
# The web console in a real browser (Debian's chromium, headless, driven by
# playwright-core from pkg/web/ui/node_modules): a shard scraping a
# node_exporter (plus 100 imported series x 240 points for the draw budget),
# and a querier over it with a second store address that is down.  The checks
# are in console.mjs; screenshots of every page go to $TS_CONSOLE_OUT (the
# build tree's console-screenshots/).
. "$(dirname "$0")/../lib.sh"

SRC=${TS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
OUT=${TS_CONSOLE_OUT:-$TS_TMP/screenshots}
mkdir -p "$OUT"
command -v chromium >/dev/null || fail "chromium is not installed (scripts/deps.sh installs it)"
[ -f "$SRC/pkg/web/ui/node_modules/playwright-core/package.json" ] ||
    fail "playwright-core missing: run scripts/deps.sh (npm ci in pkg/web/ui)"

ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
web=$(free_port)
store=$(free_port)
down=$(free_port) # a store address nobody listens on
qp=$(free_port)
qp2=$(free_port)

# 100 series x 240 points (15 s apart, the last hour) for the draw-time budget
now=$(date +%s)
BENCH_END=$(( now - now % 60 ))
awk -v end="$BENCH_END" 'BEGIN {
    print "# TYPE console_bench gauge"
    for (s = 0; s < 100; s++)
        for (i = 0; i < 240; i++)
            printf "console_bench{series=\"s%03d\"} %.3f %d\n", s, s + 10 * sin((i + s) / 20), end - (239 - i) * 15
    print "# EOF"
}' >"$TS_TMP/bench.om"
"$TESSERA" tsdb import openmetrics "$TS_TMP/bench.om" "$TS_TMP/data" >"$TS_TMP/import.log" 2>&1 ||
    fail "import of the bench series failed: $(tail -3 "$TS_TMP/import.log")"

cat >"$TS_TMP/rules.yml" <<'YML'
groups:
  - name: console
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: AlwaysFiring
        expr: vector(1) > 0
        labels: {severity: info}
        annotations: {summary: "fires from the first evaluation on"}
      - alert: TargetDown
        expr: up == 0
        for: 1h
      - alert: NeverFires
        expr: vector(1) == 2
YML
cat >"$TS_TMP/shard.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {replica: a}
rule_files: [rules.yml]
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
  - job_name: self
    static_configs: [{targets: ['127.0.0.1:$web', '127.0.0.1:$down']}]
  - job_name: files  # a discoverer that fails: the Targets page shows its error
    file_sd_configs: [{files: ['$TS_TMP/broken.json']}]
YML
echo '[{"targets": ' >"$TS_TMP/broken.json"
start shard "$TESSERA" shard --config.file="$TS_TMP/shard.yml" --storage.tsdb.path="$TS_TMP/data" \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qp --store=tcp://127.0.0.1:$store \
    --store=tcp://127.0.0.1:$down --store.sd-interval=1s
# a querier behind a path, as behind an ingress: --web.external-url with /prom (the route prefix)
start querier2 "$TESSERA" query --web.listen-address=127.0.0.1:$qp2 --store=tcp://127.0.0.1:$store \
    --web.external-url=http://127.0.0.1:$qp2/prom/
S=http://127.0.0.1:$web
Q=http://127.0.0.1:$qp
wait_http "$S/-/ready" 60
wait_http "$Q/-/ready" 30
wait_http "http://127.0.0.1:$qp2/prom/-/ready" 30
scraped() { q "$S" 'count(up{job="node"} == 1)' | jq -e '.data.result[0].value[1] == "1"' >/dev/null; }
until_true 30 scraped || fail "the shard does not scrape the node_exporter"
has_rate() { q "$S" 'count(rate(node_cpu_seconds_total[1m]))' | jq -e '.data.result | length == 1' >/dev/null; }
until_true 30 has_rate || fail "no rate(node_cpu_seconds_total[1m]) yet"
firing() { curl -sf "$S/api/v1/alerts" | jq -e '[.data.alerts[] | select(.state == "firing")] | length >= 1' >/dev/null; }
until_true 30 firing || fail "AlwaysFiring does not fire"
healthy() { curl -sf "$Q/api/v1/stores" | jq -e '[.data[][] | select(.healthy)] | length == 1' >/dev/null; }
until_true 30 healthy || fail "the querier does not see the shard's store: $(curl -s "$Q/api/v1/stores")"

SHARD=$S QUERIER=$Q PREFIXED_ROOT=http://127.0.0.1:$qp2 OUT="$OUT" BENCH_END=$BENCH_END DOWN_STORE="tcp://127.0.0.1:$down" \
    node "$SRC/tests/integration/console/console.mjs" || fail "browser checks failed"
echo "screenshots in $OUT"
