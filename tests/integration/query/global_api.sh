#!/usr/bin/env bash
# The Prometheus API at every component of a 2 shards x 2 replicas cluster
# (query/cluster.sh) and a pair of rulers: /api/v1/status/buildinfo says what
# each process is; the querier's /api/v1/metadata, /targets,
# /targets/metadata, /rules and /alerts are the union over the stores, one
# entry per target, rule group (per shard identity) and alert, the same with
# one replica killed, marked partial (warning, or error when strict) with a
# whole shard down.
# "version" stays the Prometheus API version implemented (Grafana reads it as
# Prometheus' version to pick its features); application, component and
# tesseraVersion name Tessera; there is no "features" key (Grafana would take
# the data source for Mimir).
. "$(dirname "$0")/../lib.sh"
# every shard loads the same rule file (a per-target alert, a per-shard one
# whose labels are equal in both shards, a recording rule), and one more job
# whose only target relabeling drops
cat >"$TS_TMP/rules.yml" <<'YML'
groups:
  - name: job
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: NodeUp
        expr: up{job="node"} > 0
        labels: {severity: none}
      - alert: ShardAlive
        expr: vector(1)
YML
RULE_FILES="'$TS_TMP/rules.yml'"
EXTRA_SCRAPE="  - job_name: relabeled
    static_configs: [{targets: ['127.0.0.1:9']}]
    relabel_configs: [{action: drop, source_labels: [__address__], regex: '.*'}]"
. "$(dirname "$0")/cluster.sh"

want_version=$("$TESSERA" version | awk '{print $3}')
check_buildinfo() { # URL COMPONENT
    local b
    b=$(curl -sf "$1/api/v1/status/buildinfo") || fail "no buildinfo at $1"
    jq -e --arg c "$2" --arg v "$want_version" '.status == "success" and
        .data.version == "2.42.0" and .data.application == "tessera" and
        .data.component == $c and .data.tesseraVersion == $v and
        .data.compatibility == "prometheus-2.42.0" and (.data | has("features") | not) and
        ([.data.revision, .data.branch, .data.buildUser, .data.buildDate, .data.goVersion] |
         all(type == "string"))' <<<"$b" >/dev/null || fail "buildinfo of $2 at $1: $b"
}
for k in 0a 0b 1a 1b; do check_buildinfo "http://${HOST[$k]}:${WEB[$k]}" shard; done
check_buildinfo "$Q" query

# /api/v1/metadata: the querier's answer is the union of the shards' (per metric
# the distinct {type, help, unit}), with Prometheus' `metric` and `limit`.
norm='.data | to_entries | map({key, value: (.value | unique)}) | sort_by(.key) | from_entries'
union_of_shards() {
    local k
    for k in "$@"; do curl -sf "http://${HOST[$k]}:${WEB[$k]}/api/v1/metadata$QS"; done |
        jq -s 'map(.data) | reduce .[] as $d ({}; reduce ($d | to_entries[]) as $e (.;
            .[$e.key] = ((.[$e.key] // []) + $e.value | unique))) | to_entries | sort_by(.key) | from_entries'
}
# A shard's metadata comes from its targets; the 4 targets are spread by hash,
# so a shard may own none (1 run in 8) and then rightly has no metadata.
shards_have_metadata() {
    local k u n
    for k in 0a 0b 1a 1b; do
        u="http://${HOST[$k]}:${WEB[$k]}"
        n=$(curl -sf "$u/api/v1/targets" | jq '.data.activeTargets | length') || return 1
        [ "$n" = 0 ] && continue
        [ "$(curl -sf "$u/api/v1/metadata" | jq '.data | length')" -gt 0 ] || return 1
    done
}
until_true 20 shards_have_metadata || fail "shards have no metadata after 20 s"
QS=""
want=$(union_of_shards 0a 0b 1a 1b)
got=$(curl -sf "$Q/api/v1/metadata") || fail "querier: no /api/v1/metadata"
[ "$(jq 'has("warnings")' <<<"$got")" = false ] || fail "metadata with warnings: $got"
[ "$(jq -c "$norm" <<<"$got")" = "$(jq -c . <<<"$want")" ] ||
    fail "metadata: querier $(jq -c "$norm" <<<"$got" | head -c 600) != shards $(jq -c . <<<"$want" | head -c 600)"
n=$(jq '.data | length' <<<"$got")
[ "$n" -gt 5 ] || fail "metadata union has only $n metrics"
[ "$(curl -sf "$Q/api/v1/metadata?limit=2" | jq '.data | length')" = 2 ] || fail "limit=2 not honoured"
QS="?metric=node_load1"
m=$(curl -sf "$Q/api/v1/metadata$QS")
[ "$(jq -c "$norm" <<<"$m")" = "$(jq -c . <<<"$(union_of_shards 0a 0b 1a 1b)")" ] &&
    [ "$(jq '.data | keys' -c <<<"$m")" = '["node_load1"]' ] || fail "metric=node_load1: $m"

# ---- the rulers (their own rule file), registered with the querier
cat >"$TS_TMP/global.yml" <<'YML'
groups:
  - name: global
    rules:
      - record: global:up:sum
        expr: sum(up)
      - alert: RulerAlive
        expr: vector(1)
YML
declare -A RWEB RSTORE
sd=""
for k in 0a 0b 1a 1b; do sd+="--store=${HOST[$k]}:${STORE[$k]} "; done
EXTRA_SD=""
for k in a b; do
    RWEB[$k]=$(free_port)
    RSTORE[$k]=$(free_port)
    cat >"$TS_TMP/r$k.yml" <<YML
global:
  evaluation_interval: 1s
  external_labels: {replica: r$k}
rule_files: ['$TS_TMP/global.yml']
YML
    # shellcheck disable=SC2086
    start "ruler$k" "$TESSERA" rule --config.file="$TS_TMP/r$k.yml" --storage.tsdb.path="$TS_TMP/r$k" \
        --web.listen-address="127.0.0.1:${RWEB[$k]}" --store.listen-address="tcp://127.0.0.1:${RSTORE[$k]}" \
        $sd --query.replica-label=replica --store.sd-interval=1s
    EXTRA_SD+="127.0.0.1:${RSTORE[$k]} "
done
for k in a b; do wait_http "http://127.0.0.1:${RWEB[$k]}/-/ready"; done
write_sd 0a 0b 1a 1b
until_true 30 healthy 6 || fail "rulers not healthy in the querier: $(curl -s "$Q/api/v1/stores")"

api() { curl -sf "$Q/api/v1/$1"; } # PATH?QUERY through the querier
shard_api() { curl -sf "http://${HOST[$1]}:${WEB[$1]}/api/v1/$2"; }
no_warnings() { jq -e 'has("warnings") | not' <<<"$1" >/dev/null || fail "$2 with warnings: $1"; }

# ---- /api/v1/targets: one entry per target, the union of the shards' active targets
all_up() { api targets | jq -e --argjson n "$NODES" '[.data.activeTargets[] | select(.health == "up")] | length == $n' >/dev/null; }
until_true 30 all_up || fail "querier targets: not $NODES up: $(api targets | head -c 600)"
t=$(api targets)
no_warnings "$t" targets
urls=$(jq -c '[.data.activeTargets[].scrapeUrl] | sort' <<<"$t")
[ "$(jq 'length' <<<"$urls")" = "$NODES" ] && [ "$(jq 'unique | length' <<<"$urls")" = "$NODES" ] ||
    fail "querier active targets are not $NODES distinct targets: $urls"
shard_urls=$(for k in 0a 0b 1a 1b; do shard_api "$k" 'targets?state=active'; done |
    jq -s -c '[.[].data.activeTargets[].scrapeUrl] | unique')
[ "$urls" = "$shard_urls" ] || fail "querier targets $urls != union of the shards' $shard_urls"
want_keys='["discoveredLabels","globalUrl","health","labels","lastError","lastScrape","lastScrapeDuration","scrapeInterval","scrapePool","scrapeTimeout","scrapeUrl"]'
jq -e --argjson k "$want_keys" 'all(.data.activeTargets[]; keys == $k)' <<<"$t" >/dev/null ||
    fail "active target keys differ from Prometheus': $(jq -c '.data.activeTargets[0] | keys' <<<"$t")"
# dropped: the shards drop the other shard's targets ("owned by shard ..."), the union does not
owned=$(for k in 0a 1a; do shard_api "$k" 'targets?state=dropped'; done |
    jq -s '[.[].data.droppedTargets[] | select(.dropReason // "" | startswith("owned by shard"))] | length')
[ "$owned" = "$NODES" ] || fail "shards 0a and 1a drop $owned targets as another's, not $NODES"
d=$(api 'targets?state=dropped')
jq -e '(.data.activeTargets == []) and (.data.droppedTargets | length == 1) and
    .data.droppedTargets[0].discoveredLabels.job == "relabeled"' <<<"$d" >/dev/null ||
    fail "state=dropped: only the relabeled target, once: $(head -c 600 <<<"$d")"
[ "$(jq -c '.data.droppedTargets' <<<"$t")" = "$(jq -c '.data.droppedTargets' <<<"$d")" ] ||
    fail "state=any and state=dropped list different dropped targets"
jq -e '.data.droppedTargets == [] and (.data.activeTargets | length > 0)' <<<"$(api 'targets?state=active')" >/dev/null ||
    fail "state=active: $(api 'targets?state=active' | head -c 300)"
[ "$(api 'targets?state=bogus' | jq -c .data)" = '{"activeTargets":[],"droppedTargets":[]}' ] ||
    fail "state=bogus (Prometheus 2.42: two empty lists): $(api 'targets?state=bogus')"
jq -e --argjson n "$NODES" '(.data.activeTargets | length == $n) and .data.droppedTargets == []' \
    <<<"$(api 'targets?scrapePool=node')" >/dev/null || fail "scrapePool=node: $(api 'targets?scrapePool=node' | head -c 300)"
jq -e '.data.activeTargets == [] and (.data.droppedTargets | length == 1)' \
    <<<"$(api 'targets?scrapePool=relabeled')" >/dev/null || fail "scrapePool=relabeled: $(api 'targets?scrapePool=relabeled')"

# ---- /api/v1/targets/metadata: the union of the shards' entries, each once
tmd_norm='[.data[] | tojson] | sort'
shards_tmd() { # QUERY: the union of the four replicas' answers
    for k in 0a 0b 1a 1b; do shard_api "$k" "targets/metadata$1"; done | jq -s -c '[.[].data[] | tojson] | unique'
}
load1_all() { [ "$(api 'targets/metadata?metric=node_load1' | jq '.data | length')" = "$NODES" ]; }
until_true 20 load1_all || fail "targets/metadata?metric=node_load1: not one entry per target: $(api 'targets/metadata?metric=node_load1')"
m=$(api 'targets/metadata?metric=node_load1')
no_warnings "$m" targets/metadata
jq -e --argjson n "$NODES" '([.data[].target.instance] | unique | length == $n) and
    all(.data[]; (has("metric") | not) and .type == "gauge" and .help != "")' <<<"$m" >/dev/null ||
    fail "targets/metadata?metric=node_load1: $m"
[ "$(jq -c "$tmd_norm" <<<"$m")" = "$(shards_tmd '?metric=node_load1')" ] ||
    fail "targets/metadata?metric=node_load1 is not the union of the shards'"
inst=$(jq -r '.data[0].target.instance' <<<"$m")
mt=$(jq -rn --arg i "$inst" '"{instance=\"\($i)\"}" | @uri')
m=$(api "targets/metadata?match_target=$mt")
jq -e --arg i "$inst" '(.data | length > 3) and all(.data[]; .target.instance == $i and has("metric"))' \
    <<<"$m" >/dev/null || fail "match_target=$inst: $(head -c 400 <<<"$m")"
[ "$(jq -c "$tmd_norm" <<<"$m")" = "$(shards_tmd "?match_target=$mt")" ] ||
    fail "targets/metadata?match_target=... is not the union of the shards'"
[ "$(api 'targets/metadata?limit=1' | jq '[.data[].target] | unique | length')" = 1 ] ||
    fail "targets/metadata?limit=1: not one target's entries"
code=$(curl -s -o "$TS_TMP/bad.json" -w '%{http_code}' "$Q/api/v1/targets/metadata?match_target=%7Bjob%3D")
[ "$code" = 400 ] && jq -e '.errorType == "bad_data" and (.error | startswith("invalid parameter \"match_target\""))' \
    "$TS_TMP/bad.json" >/dev/null || fail "bad match_target: $code $(cat "$TS_TMP/bad.json")"

# ---- /api/v1/rules: the shards' group once per shard identity, the rulers' once
groups() { api "rules${1:-}" | jq -c '[.data.groups[] | [.file, .name, ([.rules[].name] | join(","))]] | sort'; }
want_groups=$(jq -n -c --arg f "$TS_TMP/rules.yml" --arg g "$TS_TMP/global.yml" \
    '[[$g, "global", "global:up:sum,RulerAlive"], [$f, "job", "job:up:sum,NodeUp,ShardAlive"], [$f, "job", "job:up:sum,NodeUp,ShardAlive"]] | sort')
evaluated() { api rules | jq -e '.data.groups | length == 3 and all(.[]; .lastEvaluation | startswith("0001") | not)' >/dev/null; }
until_true 20 evaluated || fail "rules: not 3 evaluated groups: $(api rules | head -c 600)"
r=$(api rules)
no_warnings "$r" rules
[ "$(groups)" = "$want_groups" ] || fail "rules: $(groups) != $want_groups"
[ "$(groups '?type=record')" = "$(jq -c --arg f "$TS_TMP/rules.yml" --arg g "$TS_TMP/global.yml" \
    '[[$g, "global", "global:up:sum"], [$f, "job", "job:up:sum"], [$f, "job", "job:up:sum"]] | sort' <<<null)" ] ||
    fail "rules?type=record: $(groups '?type=record')"
[ "$(groups '?rule_name[]=RulerAlive')" = "$(jq -c -n --arg g "$TS_TMP/global.yml" '[[$g, "global", "RulerAlive"]]')" ] ||
    fail "rules?rule_name[]=RulerAlive: $(groups '?rule_name[]=RulerAlive')"
[ "$(api 'rules?rule_group[]=job' | jq '.data.groups | length')" = 2 ] || fail "rules?rule_group[]=job"
code=$(curl -s -o "$TS_TMP/bad.json" -w '%{http_code}' "$Q/api/v1/rules?type=bogus")
[ "$code" = 400 ] && [ "$(jq -r .error "$TS_TMP/bad.json")" = 'invalid parameter "type": not supported value "bogus"' ] ||
    fail "rules?type=bogus: $code $(cat "$TS_TMP/bad.json")"

# ---- /api/v1/alerts: one per label set (replicas and shards fire the same alerts)
alert_set() { api alerts | jq -c '[.data.alerts[] | .labels | tojson] | sort'; }
all_alerts() { [ "$(api alerts | jq '[.data.alerts[] | select(.state == "firing")] | length')" = $((NODES + 2)) ]; }
until_true 20 all_alerts || fail "alerts: not $NODES NodeUp + ShardAlive + RulerAlive firing: $(api alerts | head -c 800)"
a=$(api alerts)
no_warnings "$a" alerts
jq -e --argjson n "$NODES" '[.data.alerts[].labels.alertname] | (map(select(. == "NodeUp")) | length == $n) and
    (map(select(. == "ShardAlive")) | length == 1) and (map(select(. == "RulerAlive")) | length == 1)' <<<"$a" \
    >/dev/null || fail "alerts not deduplicated: $(jq -c '[.data.alerts[].labels]' <<<"$a")"
[ "$(jq '[.data.alerts[].labels | tojson] | unique | length' <<<"$a")" = $((NODES + 2)) ] || fail "alerts repeat a label set"
want_alerts=$(alert_set)
want_targets=$urls

# one replica killed: still complete, no warning
kill -9 "${PID[0a]}"
got=$(curl -sf "$Q/api/v1/metadata") || fail "no metadata with 0a down"
[ "$(jq 'has("warnings")' <<<"$got")" = false ] || fail "one replica down gave warnings: $got"
[ "$(jq -c "$norm" <<<"$got")" = "$(jq -c . <<<"$want")" ] || fail "metadata changed with 0a down"
for p in targets rules alerts 'targets/metadata?metric=node_load1'; do
    no_warnings "$(api "$p")" "$p with 0a down"
done
[ "$(api targets | jq -c '[.data.activeTargets[].scrapeUrl] | sort')" = "$want_targets" ] ||
    fail "targets changed with 0a down: $(api targets | jq -c '[.data.activeTargets[].scrapeUrl]')"
[ "$(groups)" = "$want_groups" ] || fail "rules changed with 0a down: $(groups)"
[ "$(alert_set)" = "$want_alerts" ] || fail "alerts changed with 0a down: $(alert_set)"
[ "$(api 'targets/metadata?metric=node_load1' | jq '.data | length')" = "$NODES" ] || fail "targets/metadata changed with 0a down"
# both replicas of shard 0 killed: partial, marked with a warning naming shard 0 (error when strict)
kill -9 "${PID[0b]}"
until_true 10 bash -c "curl -sf '$Q/api/v1/metadata' | jq -e '.warnings | length > 0' >/dev/null" ||
    fail "shard 0 down: no warning: $(curl -s "$Q/api/v1/metadata" | head -c 300)"
w=$(curl -sf "$Q/api/v1/metadata" | jq -r '.warnings[0]')
[[ "$w" == *"shard 0/2"* ]] || fail "the warning does not name shard 0/2: $w"
code=$(curl -s -o "$TS_TMP/strict.json" -w '%{http_code}' "$Q/api/v1/metadata?partial_response=false")
[ "$code" = 500 ] && [ "$(jq -r .status "$TS_TMP/strict.json")" = error ] ||
    fail "partial_response=false with shard 0 down: $code $(cat "$TS_TMP/strict.json")"
for p in targets rules alerts targets/metadata; do
    r=$(curl -sf "$Q/api/v1/$p") || fail "$p with shard 0 down: no answer"
    jq -e '.status == "success" and (.warnings | length > 0) and (.warnings[0] | contains("shard 0/2"))' <<<"$r"         >/dev/null || fail "$p with shard 0 down: no warning naming shard 0/2: $(head -c 300 <<<"$r")"
    code=$(curl -s -o "$TS_TMP/strict.json" -w '%{http_code}' "$Q/api/v1/$p?partial_response=false")
    [ "$code" = 500 ] && [ "$(jq -r .status "$TS_TMP/strict.json")" = error ] ||
        fail "$p?partial_response=false with shard 0 down: $code $(cat "$TS_TMP/strict.json")"
done
# shard 1's group and the rulers' are still there, shard 1's targets too
[ "$(api rules | jq '.data.groups | length')" = 2 ] || fail "rules with shard 0 down: $(groups)"
[ "$(api targets | jq '.data.activeTargets | length')" = "$(shard_api 1b 'targets?state=active' | jq '.data.activeTargets | length')" ] ||
    fail "targets with shard 0 down are not shard 1's"
echo "PASS query global_api (metadata: $n metrics; $NODES targets, 3 rule groups, $((NODES + 2)) alerts; warning with shard 0 down: $w)"
