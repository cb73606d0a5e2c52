#!/usr/bin/env bash
# The container image (scripts/image.sh), built and run with a Docker daemon of the test's own:
# dockerd (Debian's docker.io) with private --data-root, --exec-root, socket and pidfile, and
# --bridge=none --iptables=false --ip6tables=false, so it creates no bridge, no NAT rule and no
# address; containers run with --network host only.  Stopped by its PID at the end, whatever
# happens.
#  1. scripts/image.sh builds the image offline and prints the tag last; the image holds only
#     the binary, its loader and libraries, CA certificates, passwd/group/nsswitch.conf, and is
#     under 30 MB
#  2. a shard and a querier run from it with --network host --read-only --user 65534; the shard
#     scrapes a node_exporter on loopback; its processes run as uid 65534
#  3. count(up) through the querier is 2 (node_exporter + the shard itself), up{job="node"} is 1
#  4. docker stop (SIGTERM) ends both with exit code 0
# Usage: image.sh SOURCE_DIR IMAGE_BUILD_DIR   (must run as root: dockerd needs it)
. "$(dirname "$0")/../lib.sh"
SRC=$(cd "$1" && pwd)
export TS_IMAGE_BUILD_DIR=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: dockerd needs root"; exit 77; }
command -v dockerd >/dev/null || fail "no dockerd (Debian's docker.io; scripts/deps.sh installs it)"
# Debian's CLI, not whatever other docker is first on the PATH.
DOCKER=$(command -v /usr/bin/docker docker | head -n 1)
export DOCKER

D=$TS_TMP/docker
mkdir -p "$D/data" "$D/exec" "$D/config"
export DOCKER_HOST=unix://$D/docker.sock DOCKER_CONFIG=$D/config
dockerd_pid=""
containers=()
docker_cleanup() {
    local c pid i
    for c in "${containers[@]:-}"; do
        [ -n "$c" ] && timeout 60 "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true
    done
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    # its containerd, if dockerd died without stopping it
    pid=$(cat "$D/exec/containerd/containerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    # nothing may stay mounted under the dir lib.sh removes
    findmnt -rn -o TARGET | grep -F "$D/" | sort -r | while read -r m; do umount -l "$m" || true; done
}
trap 'docker_cleanup; ts_cleanup' EXIT

links_before=$(ip -br link | awk '{ print $1 }' | sort)
dockerd --data-root "$D/data" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$D/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    >"$TS_TMP/dockerd.log" 2>&1 &
dockerd_pid=$!
up() { timeout 5 "$DOCKER" version >/dev/null 2>&1; }
until_true 60 up || fail "dockerd did not answer on $DOCKER_HOST within 60s"
[ "$(cat "$D/dockerd.pid")" = "$dockerd_pid" ] || fail "dockerd's pidfile does not hold its pid"
[ "$(ip -br link | awk '{ print $1 }' | sort)" = "$links_before" ] || fail "dockerd created a network link"
echo "ok 0: private dockerd $("$DOCKER" version --format '{{.Server.Version}}') on $DOCKER_HOST, no new links"

# 1. The image.
tag=tessera-it:$$
timeout 900 "$SRC/scripts/image.sh" "$tag" >"$TS_TMP/image.out" 2>"$TS_TMP/image.log" ||
    fail "scripts/image.sh: $(tail -n 5 "$TS_TMP/image.log")"
[ "$(tail -n 1 "$TS_TMP/image.out")" = "$tag" ] || fail "image.sh's last line: $(tail -n 1 "$TS_TMP/image.out")"
size=$("$DOCKER" image inspect --format '{{.Size}}' "$tag")
[ "$size" -lt 30000000 ] || fail "image is $size bytes, want < 30 MB"
cfg=$("$DOCKER" image inspect --format '{{json .Config.Entrypoint}} {{.Config.User}}' "$tag")
[ "$cfg" = '["/usr/bin/tessera"] 65534:65534' ] || fail "entrypoint/user: $cfg"
# Its one layer, file by file.
mkdir -p "$TS_TMP/saved"
"$DOCKER" image save "$tag" | tar -x -C "$TS_TMP/saved"
layers=$(find "$TS_TMP/saved" -name layer.tar)
[ "$(wc -l <<<"$layers")" = 1 ] || fail "want one layer, got: $layers"
tar -tf "$layers" | grep -v '/$' | sed 's|^\./||' | sort >"$TS_TMP/files"
unexpected=$(grep -vxE 'usr/bin/tessera|lib64/ld-linux-x86-64\.so\.2|lib/x86_64-linux-gnu/lib[^/]+\.so[.0-9]*|etc/ssl/certs/ca-certificates\.crt|etc/(passwd|group|nsswitch\.conf)' \
    "$TS_TMP/files" || true)
[ -z "$unexpected" ] || fail "unexpected files in the image: $unexpected"
nlibs=$(grep -c '^lib/x86_64-linux-gnu/' "$TS_TMP/files")
want_libs=$(ldd "$TS_IMAGE_BUILD_DIR/cmd/tessera/tessera" | awk '$2 == "=>" && $3 ~ /^\// { n++ } END { print n }')
[ "$nlibs" = "$want_libs" ] || fail "image has $nlibs libraries, ldd lists $want_libs"
echo "ok 1: image $tag, $size bytes, one layer of $(wc -l <"$TS_TMP/files") files ($nlibs libraries)"

# 2. A shard and a querier from the image.
ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
sw=$(free_port)
ss=$(free_port)
qp=$(free_port)
mkdir -p "$TS_TMP/etc" "$TS_TMP/data"
chown 65534:65534 "$TS_TMP/data"
cat >"$TS_TMP/etc/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne']}]
  - job_name: shard
    static_configs: [{targets: ['127.0.0.1:$sw']}]
YML
run() { # name, args...
    local name=$1
    shift
    containers+=("$name")
    timeout 60 "$DOCKER" run -d --name "$name" --network host --read-only --user 65534 "$@" \
        >/dev/null 2>"$TS_TMP/run-$name.log" || fail "docker run $name: $(cat "$TS_TMP/run-$name.log")"
}
logs() { timeout 30 "$DOCKER" logs "$1" 2>&1 | tail -n 20; }
run it-shard-$$ -v "$TS_TMP/etc:/etc/tessera:ro" -v "$TS_TMP/data:/data" "$tag" shard \
    --config.file=/etc/tessera/prometheus.yml --storage.tsdb.path=/data \
    --web.listen-address=127.0.0.1:$sw --store.listen-address=tcp://127.0.0.1:$ss
run it-query-$$ "$tag" query --web.listen-address=127.0.0.1:$qp --store=127.0.0.1:$ss
ready() { curl -sf -o /dev/null "$1"; }
until_true 60 ready "http://127.0.0.1:$sw/-/ready" || fail "shard not ready: $(logs it-shard-$$)"
until_true 60 ready "http://127.0.0.1:$qp/-/ready" || fail "querier not ready: $(logs it-query-$$)"
for c in it-shard-$$ it-query-$$; do
    ro=$("$DOCKER" inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.NetworkMode}}' "$c")
    [ "$ro" = "true host" ] || fail "$c: read-only/network: $ro"
    pid=$("$DOCKER" inspect --format '{{.State.Pid}}' "$c")
    [ "$(stat -c %u:%g "/proc/$pid")" = 65534:65534 ] || fail "$c runs as $(stat -c %u:%g "/proc/$pid")"
    [ "$(readlink "/proc/$pid/exe")" != "" ] || fail "$c: no process"
done
echo "ok 2: shard and querier run from the image, read-only, network host, as 65534:65534"

# 3. Through the querier.
Q=http://127.0.0.1:$qp
count_up() { q "$Q" 'count(up == 1)' | jq -r '.data.result[0].value[1] // "none"'; }
two() { [ "$(count_up)" = 2 ]; }
until_true 60 two || fail "count(up == 1) through the querier: $(count_up), want 2; $(logs it-shard-$$)"
node=$(q "$Q" 'up{job="node"}' | jq -r '.data.result[0].value[1] // "none"' || true)
[ "$node" = 1 ] || fail "up{job=\"node\"}: $node"
series=$(q "$Q" 'count(node_cpu_seconds_total)' | jq -r '.data.result[0].value[1] // "0"' || echo 0)
[ "$series" -gt 0 ] || fail "no node_exporter series through the querier"
echo "ok 3: count(up) through the querier is 2, node_exporter scraped ($series node_cpu_seconds_total series)"

# 4. SIGTERM (docker stop) ends both cleanly.
for c in it-query-$$ it-shard-$$; do
    timeout 90 "$DOCKER" stop -t 60 "$c" >/dev/null || fail "docker stop $c"
    st=$("$DOCKER" inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' "$c")
    [ "$st" = "0 false" ] || fail "$c after SIGTERM: exit code/OOM $st; $(logs "$c")"
done
[ -n "$(ls "$TS_TMP/data")" ] || fail "the shard wrote nothing to its volume"
echo "ok 4: docker stop (SIGTERM) ends shard and querier with exit code 0"
