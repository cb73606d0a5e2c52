#!/usr/bin/env bash
# A full disk loses nothing (issue 15, section 4).  A shard scraping two real
# node_exporters keeps its data dir on an 8 MiB tmpfs this test mounts (root
# needed) with 10 s blocks, so head compactions and merges run every few
# seconds.  A filler file then takes all the space:
#  - the shard keeps serving, keeps every sample it had, counts and logs the
#    failed WAL writes (prometheus_tsdb_wal_writes_failed_total), does not
#    crash; samples scraped meanwhile stay queryable from memory
#    (tessera_tsdb_head_samples_unlogged_total; Prometheus 2.42 drops them);
#  - head compactions run out of space: counted as failed, and no .tmp block
#    directory is left behind;
# then the filler goes:
#  - WAL writes resume by themselves, a head compaction succeeds and takes the
#    samples scraped while the disk was full into a block;
#  - every sample committed before the disk filled is still there, during,
#    after, and after a restart (which finds no damaged WAL and no half block),
#    and so are the ones scraped while it was full.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || fail "this test needs root (it mounts a tmpfs)"

MNT=$TS_TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=8m tessera-disk-full "$MNT" || fail "cannot mount a tmpfs"
disk_cleanup() { # processes first (they hold files on the mount), then the mount, then lib.sh's cleanup
    local pid
    for pid in "${TS_PIDS[@]:-}"; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    ts_cleanup
}
trap disk_cleanup EXIT

ne1=$(free_port); ne2=$(free_port); web=$(free_port); store=$(free_port)
start ne1 prometheus-node-exporter --web.listen-address=127.0.0.1:$ne1
start ne2 prometheus-node-exporter --web.listen-address=127.0.0.1:$ne2
cat >"$TS_TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne1', '127.0.0.1:$ne2']}]
YML
DATA=$MNT/data
run() {
    start shard "$TESSERA" shard --config.file="$TS_TMP/prometheus.yml" --storage.tsdb.path="$DATA" \
        --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store \
        --storage.tsdb.min-block-duration=10s
    SHARD=$LAST_PID
    wait_http "http://127.0.0.1:$web/-/ready" 60
}
U=http://127.0.0.1:$web
metric() { curl -sf "$U/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
at() { # instant query at a time, the first value
    curl -sf --get --data-urlencode "query=$1" --data-urlencode "time=$2" "$U/api/v1/query" |
        jq -r '.data.result[0].value[1] // "0"'
}
# every sample of every node series in the 10 minutes up to a time: "<count> <md5 of them all>"
samples_at() {
    curl -sf --get --data-urlencode 'query={job="node"}[10m]' --data-urlencode "time=$1" "$U/api/v1/query" |
        jq -c '.data.result | sort_by(.metric | tostring) | ([.[].values | length] | add), .' |
        { read -r n; echo "$n $(md5sum | cut -c1-32)"; }
}
alive() { kill -0 "$SHARD" 2>/dev/null || fail "the shard died"; }
no_tmp_dirs() { ! ls -d "$DATA"/*.tmp "$DATA"/wal/*.tmp >/dev/null 2>&1; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

run
both_up() { [ "$(at 'count(up{job="node"} == 1)' "$(date +%s.%N)")" = 2 ]; }
until_true 30 both_up || fail "node_exporters not scraped"
compacted() { gt "$(metric prometheus_tsdb_compactions_total)" 0; }
until_true 60 compacted || fail "no head compaction before filling the disk"

# ---- fill the disk
t_fill=$(date +%s)
w_end=$((t_fill - 1))
before=$(samples_at $w_end)
gt "${before% *}" 1000 || fail "too few samples before filling: $before"
dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null || true
avail=$(df --output=avail -B1 "$MNT" | tail -1)
[ "$avail" -lt 65536 ] || fail "the tmpfs is not full: $avail bytes free"
echo "disk full at $t_fill ($avail bytes free); samples before it (count, md5): $before"
wal_failed() { gt "$(metric prometheus_tsdb_wal_writes_failed_total)" 0; }
until_true 15 wal_failed || fail "no failed WAL write counted"
grep -q 'writing to the WAL failed' "$TS_TMP/shard.log" || fail "failed WAL writes not logged"
failed0=$(metric prometheus_tsdb_compactions_failed_total)
comp_failed() { gt "$(metric prometheus_tsdb_compactions_failed_total)" "$failed0"; }
until_true 60 comp_failed || fail "no head compaction ran out of space in 60 s"
alive
until_true 10 no_tmp_dirs || fail "a failed compaction left a .tmp directory: $(ls "$DATA")"
[ "$(samples_at $w_end)" = "$before" ] || fail "samples from before the full disk changed: $before -> $(samples_at $w_end)"
curl -sf -o /dev/null "$U/-/ready" || fail "not ready while the disk is full"
now=$(date +%s)
fresh=$(at 'count(count_over_time(up{job="node"}[5s]))' "$now")
[ "$fresh" = 2 ] || fail "samples scraped while the disk is full are not queryable: $fresh"
gt "$(metric tessera_tsdb_head_samples_unlogged_total)" 0 || fail "unlogged samples not counted"
echo "while full: wal writes failed $(metric prometheus_tsdb_wal_writes_failed_total)," \
    "compactions failed $(metric prometheus_tsdb_compactions_failed_total), samples kept unlogged" \
    "$(metric tessera_tsdb_head_samples_unlogged_total)"

# ---- free the space
t_free=$(date +%s)
rm -f "$MNT/filler"
resumed() { grep -q 'writing to the WAL again' "$TS_TMP/shard.log"; }
until_true 15 resumed || fail "WAL writes did not resume"
f1=$(metric prometheus_tsdb_wal_writes_failed_total)
sleep 3
[ "$(metric prometheus_tsdb_wal_writes_failed_total)" = "$f1" ] || fail "WAL writes still failing after freeing space"
# a head compaction past the full period: its samples are in blocks now
head_past() { gt "$(curl -sf "$U/api/v1/status/tsdb" | jq -r '.data.headStats.minTime')" "$((t_free * 1000))"; }
until_true 60 head_past || fail "the head was not compacted after freeing space: $(curl -s "$U/api/v1/status/tsdb" | jq -c .data.headStats)"
alive
[ "$(samples_at $w_end)" = "$before" ] || fail "samples from before the full disk changed after freeing: $(samples_at $w_end)"
during_window=$((t_free - t_fill - 2))
during=$(at "sum(count_over_time(up{job=\"node\"}[${during_window}s]))" "$((t_free - 1))")
gt "$during" 0 || fail "no sample of the full period in blocks"

# ---- restart: nothing lost, nothing to repair
kill -TERM "$SHARD"
for _ in $(seq 100); do kill -0 "$SHARD" 2>/dev/null || break; sleep 0.2; done
kill -0 "$SHARD" 2>/dev/null && fail "the shard did not stop on SIGTERM"
no_tmp_dirs || fail ".tmp directory left after stopping: $(ls "$DATA" "$DATA/wal")"
"$TESSERA" tsdb inspect "$DATA" >"$TS_TMP/inspect.txt" 2>&1 || fail "tsdb inspect: $(cat "$TS_TMP/inspect.txt")"
mv "$TS_TMP/shard.log" "$TS_TMP/shard-first.log"
run
after=$(samples_at $w_end)
[ "$after" = "$before" ] || fail "samples lost across the restart: $before before, $after after"
during_after=$(at "sum(count_over_time(up{job=\"node\"}[${during_window}s]))" "$((t_free - 1))")
[ "$during_after" = "$during" ] || fail "samples of the full period lost across the restart: $during -> $during_after"
grep -E -q 'damaged|half-written|without meta.json|cannot open block' "$TS_TMP/shard.log" &&
    fail "the restart found damage: $(grep -E 'damaged|half-written|meta.json|cannot open' "$TS_TMP/shard.log")"
rising() { gt "$(at 'count_over_time(up{job="node"}[3s])' "$(date +%s.%N)")" 0; }
until_true 15 rising || fail "scraping did not resume after the restart"
echo "PASS disk_full: samples before the full disk ($before) kept (during, after, after restart);" \
    "$during samples of up scraped in ${during_window}s while full kept in blocks"
