# The shards of the rules tests (sourced after lib.sh; not a test itself).
#
#   NODES node_exporters (loadavg collector only; each shard owns at least
#   one), and one `tessera shard` per key of KEYS ("0a 0b 1a 1b": the shard
#   index, then the replica; a key with no letter is replica a) over 2 shards,
#   each scraping every target every second (--shard.index/--shard.count
#   spread them), with the rule file SHARD_RULES (if set) evaluated every
#   second.
#
# Sets TARGETS, WEB[k], STORE[k], PID[k], sd (a --store flag per shard, for a
# querier or ruler) and start_shard KEY (to start one again after a kill);
# returns when every shard is ready.
NODES=${NODES:-6}
KEYS=${KEYS:-0a 0b 1a 1b}
# Target ports that both shards own some of: rendezvous hashing of random
# ports leaves a shard empty 1 run in 2^(NODES-1), which these tests cannot
# use.  A probe shard (index 0 of 2) is given NODES+6 candidate addresses and
# says in /api/v1/targets which it owns (active) and which it leaves to shard 1
# (dropped); NODES are picked with at least one of each.
cand=()
for ((i = 0; i < NODES + 6; i++)); do cand+=("127.0.0.1:$(free_port)"); done
printf -v list "'%s', " "${cand[@]}"
cat >"$TS_TMP/probe.yml" <<YML
scrape_configs: [{job_name: probe, static_configs: [{targets: [${list%, }]}]}]
YML
probe_web=$(free_port)
start probe "$TESSERA" shard --config.file="$TS_TMP/probe.yml" --storage.tsdb.path="$TS_TMP/probe" \
    --web.listen-address="127.0.0.1:$probe_web" --store.listen-address="tcp://127.0.0.1:$(free_port)" \
    --shard.index=0 --shard.count=2
probe_pid=$LAST_PID
wait_http "http://127.0.0.1:$probe_web/-/ready"
owned() { curl -sf "http://127.0.0.1:$probe_web/api/v1/targets?state=$1" | jq -r ".data.$2[].discoveredLabels.__address__"; }
all_seen() { [ $(($(owned active activeTargets | wc -l) + $(owned dropped droppedTargets | wc -l))) = "${#cand[@]}" ]; }
until_true 10 all_seen || fail "the probe shard does not list its ${#cand[@]} targets"
mapfile -t own0 < <(owned active activeTargets)
mapfile -t own1 < <(owned dropped droppedTargets)
kill "$probe_pid"
[ "${#own0[@]}" -gt 0 ] && [ "${#own1[@]}" -gt 0 ] || fail "the probe shard owns ${#own0[@]} of ${#cand[@]}"
picked=("${own0[0]}" "${own1[0]}")
for a in "${own0[@]:1}" "${own1[@]:1}"; do
    [ "${#picked[@]}" -lt "$NODES" ] && picked+=("$a")
done
TARGETS=""
for ((i = 0; i < NODES; i++)); do
    start "ne$i" prometheus-node-exporter --web.listen-address="${picked[$i]}" \
        --collector.disable-defaults --collector.loadavg
    TARGETS+="'${picked[$i]}', "
done
TARGETS=${TARGETS%, }
declare -A WEB STORE PID
sd=""
start_shard() { # KEY
    local k=$1
    start "shard$k" "$TESSERA" shard --config.file="$TS_TMP/s$k.yml" --storage.tsdb.path="$TS_TMP/d$k" \
        --web.listen-address="127.0.0.1:${WEB[$k]}" --store.listen-address="tcp://127.0.0.1:${STORE[$k]}" \
        --shard.index="${k:0:1}" --shard.count=2
    PID[$k]=$LAST_PID
}
for k in $KEYS; do
    WEB[$k]=$(free_port)
    STORE[$k]=$(free_port)
    replica=${k:1:1}
    cat >"$TS_TMP/s$k.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels: {replica: ${replica:-a}}
${SHARD_RULES:+rule_files: ['$SHARD_RULES']}
scrape_configs:
  - job_name: node
    static_configs: [{targets: [$TARGETS]}]
YML
    start_shard "$k"
    sd+="--store=127.0.0.1:${STORE[$k]} "
done
for k in $KEYS; do wait_http "http://127.0.0.1:${WEB[$k]}/-/ready"; done
