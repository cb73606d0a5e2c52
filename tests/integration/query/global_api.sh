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
echo "PASS query global_api"
