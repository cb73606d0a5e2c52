#!/usr/bin/env bash
# The Prometheus API at every component of a 2 shards x 2 replicas cluster
# (query/cluster.sh): /api/v1/status/buildinfo says what each process is.
# "version" stays the Prometheus API version implemented (Grafana reads it as
# Prometheus' version to pick its features); application, component and
# tesseraVersion name Tessera; there is no "features" key (Grafana would take
# the data source for Mimir).
. "$(dirname "$0")/../lib.sh"
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
# one replica killed: still complete, no warning
kill -9 "${PID[0a]}"
got=$(curl -sf "$Q/api/v1/metadata") || fail "no metadata with 0a down"
[ "$(jq 'has("warnings")' <<<"$got")" = false ] || fail "one replica down gave warnings: $got"
[ "$(jq -c "$norm" <<<"$got")" = "$(jq -c . <<<"$want")" ] || fail "metadata changed with 0a down"
# both replicas of shard 0 killed: partial, marked with a warning naming shard 0 (error when strict)
kill -9 "${PID[0b]}"
until_true 10 bash -c "curl -sf '$Q/api/v1/metadata' | jq -e '.warnings | length > 0' >/dev/null" ||
    fail "shard 0 down: no warning: $(curl -s "$Q/api/v1/metadata" | head -c 300)"
w=$(curl -sf "$Q/api/v1/metadata" | jq -r '.warnings[0]')
[[ "$w" == *"shard 0/2"* ]] || fail "the warning does not name shard 0/2: $w"
code=$(curl -s -o "$TS_TMP/strict.json" -w '%{http_code}' "$Q/api/v1/metadata?partial_response=false")
[ "$code" = 500 ] && [ "$(jq -r .status "$TS_TMP/strict.json")" = error ] ||
    fail "partial_response=false with shard 0 down: $code $(cat "$TS_TMP/strict.json")"
echo "PASS query global_api (metadata: $n metrics; warning with shard 0 down: $w)"
