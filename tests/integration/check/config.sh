#!/usr/bin/env bash
# `tessera check config` next to `promtool check config` (Debian's
# prometheus 2.42) on good and bad files: same verdict, and our message holds
# promtool's text (ours adds FILE:LINE and the key path).
. "$(dirname "$0")/../lib.sh"
cd "$TS_TMP"
mkdir rules
cat >rules/ok.yml <<'Y'
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
Y
cat >rules/bad.yml <<'Y'
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up
Y
w() { cat >"$1"; }
w good.yml <<'Y'
global: {scrape_interval: 15s, external_labels: {replica: a}}
rule_files: ['rules/ok.yml']
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['localhost:9100']}]
    relabel_configs:
      - source_labels: [__address__]
        modulus: 4
        target_label: __tmp_hash
        action: hashmod
Y
w badrule.yml <<'Y'
rule_files: ['rules/*.yml']
Y
w unknown.yml <<'Y'
scrape_configs:
  - job_name: a
    foo: bar
Y
w duration.yml <<'Y'
global:
  scrape_interval: 15x
Y
w regex.yml <<'Y'
scrape_configs:
  - job_name: a
    relabel_configs:
      - source_labels: [a]
        regex: '(abc'
        target_label: b
Y
w dupjob.yml <<'Y'
scrape_configs:
  - job_name: a
  - job_name: a
Y
w timeout.yml <<'Y'
global: {scrape_interval: 5s, scrape_timeout: 10s}
Y
w action.yml <<'Y'
scrape_configs:
  - job_name: a
    relabel_configs: [{action: frob}]
Y
w yaml.yml <<'Y'
scrape_configs:
  - job_name: a
   static_configs: [
Y
for f in good.yml badrule.yml unknown.yml duration.yml regex.yml dupjob.yml timeout.yml action.yml yaml.yml; do
    p_out=$(promtool check config "$f" 2>&1) && p_rc=0 || p_rc=$?
    t_out=$("$TESSERA" check config "$f" 2>&1) && t_rc=0 || t_rc=$?
    [ "$p_rc" = "$t_rc" ] || fail "$f: promtool exit $p_rc, tessera $t_rc\n$p_out\n---\n$t_out"
    if [ "$p_rc" != 0 ]; then
        # promtool's message after "FAILED: parsing YAML file F: " (or for rules, the
        # text after "could not parse expression: "); regex texts differ by engine
        msg=$(grep -o 'parsing YAML file [^:]*: .*' <<<"$p_out" | sed 's/^parsing YAML file [^:]*: //' | head -1 || true)
        [ -n "$msg" ] || msg=$(grep -o 'could not parse expression: .*' <<<"$p_out" | head -1 || true)
        case $f in regex.yml) msg="error parsing regexp" ;; yaml.yml) msg="did not find expected '-' indicator" ;; esac
        [ "$f" = unknown.yml ] && msg="field foo not found in type config.ScrapeConfig"
        grep -qF "$msg" <<<"$t_out" || fail "$f: tessera does not say \"$msg\":\n$t_out"
        grep -qE "$f:[0-9]+: |rules/bad.yml:[0-9]+: " <<<"$t_out" || fail "$f: no FILE:LINE in: $t_out"
    else
        grep -q 'SUCCESS: 2 rules found' <<<"$t_out" || fail "$f: rules not counted: $t_out"
    fi
    echo "same verdict: $f"
done
echo "PASS check config"
