#!/usr/bin/env bash
# Store API mutual TLS (README "Security"): two shards serving tls+tcp:// and
# verifying client certificates (--store.tls-client-ca-file), queriers that
# present their own (--store.tls-client-cert-file/-key-file) and verify the
# shards (--store.tls-ca-file, --store.tls-server-name).  Certificates are
# made here with openssl: a CA, a server certificate for localhost, a client
# certificate from the CA and one from another CA.
#  1. the right client certificate: both stores healthy, the query complete;
#  2. no client certificate, or one from another CA: the shards refuse the
#     handshake, the stores are reported down with the reason in their
#     lastError, a query is partial (a warning, or an error when strict),
#     nothing crashes;
#  3. a store whose certificate does not verify (another CA, or a server name
#     it does not carry) is refused by the querier, lastError saying why
#     (OpenSSL's verification words); the right name given with
#     --store.tls-server-name for a store dialed by IP is accepted;
#     stores found by an sd file and by DNS (bare host:port) are dialed over
#     TLS with --store.tls-secure, as tcp:// without it;
#  4. the ruler: a client of the TLS shards and a mutual-TLS store itself;
#  5. bad TLS flags are start-up errors with a clear message.
. "$(dirname "$0")/../lib.sh"
cd "$TS_TMP"

ossl() { openssl "$@" 2>/dev/null || fail "openssl $1"; }
ca() { ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$1.key" -out "$1.crt"; }
cert() { # name CA subject-CN [extensions...]
    local n=$1 c=$2 cn=$3
    shift 3
    ossl req -newkey rsa:2048 -nodes -subj "/CN=$cn" "$@" -keyout "$n.key" -out "$n.csr"
    ossl x509 -req -in "$n.csr" -CA "$c.crt" -CAkey "$c.key" -CAcreateserial -days 2 \
        -copy_extensions copy -out "$n.crt"
}
ca ca
ca otherca
cert srv ca localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
cert cli ca querier
cert rogue otherca querier

ne=$(free_port)
start node_exporter prometheus-node-exporter --web.listen-address=127.0.0.1:$ne
declare -A WEB STORE
for i in 0 1; do WEB[$i]=$(free_port); STORE[$i]=$(free_port); done
for i in 0 1; do
    cat >"s$i.yml" <<YML
global: {scrape_interval: 1s, external_labels: {replica: a}}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$ne', '127.0.0.1:${WEB[0]}', '127.0.0.1:${WEB[1]}']}]
YML
    start "shard$i" "$TESSERA" shard --config.file="s$i.yml" --storage.tsdb.path="d$i" \
        --web.listen-address=127.0.0.1:${WEB[$i]} --store.listen-address=tls+tcp://127.0.0.1:${STORE[$i]} \
        --shard.index=$i --shard.count=2 --store.tls-cert-file=srv.crt --store.tls-key-file=srv.key \
        --store.tls-client-ca-file=ca.crt
    eval "SHARD_PID$i=$LAST_PID"
done
for i in 0 1; do wait_http "http://127.0.0.1:${WEB[$i]}/-/ready"; done

# querier NAME [flags...]: a querier over both shards by name (localhost), in $URL
querier() {
    local name=$1 p
    shift
    p=$(free_port)
    start "$name" "$TESSERA" query --web.listen-address=127.0.0.1:$p --store.sd-interval=1s \
        --store=tls+tcp://localhost:${STORE[0]} --store=tls+tcp://localhost:${STORE[1]} "$@"
    URL=http://127.0.0.1:$p
    wait_http "$URL/-/ready"
}
stores() { curl -sf "$1/api/v1/stores"; }
healthy() { [ "$(stores "$1" | jq '[.data.store[] | select(.healthy)] | length')" = "$2" ]; }
probed() { [ "$(stores "$1" | jq '[.data.store[] | select(.lastCheck != null and .lastCheck != "")] | length')" = 2 ]; }

# 1. the right client certificate
querier good --store.tls-ca-file=ca.crt --store.tls-client-cert-file=cli.crt --store.tls-client-key-file=cli.key
GOOD=$URL
until_true 30 healthy "$GOOD" 2 || fail "stores not healthy with a valid client certificate: $(stores "$GOOD")"
three() { q "$GOOD" 'count(up{job="node"} == 1)' | jq -e '.status == "success" and
    (.warnings // [] | length) == 0 and .data.result[0].value[1] == "3"' >/dev/null; }
until_true 30 three || fail "query through TLS shards: $(q "$GOOD" 'count(up{job="node"} == 1)')"
echo "complete answer through mutual TLS: $(q "$GOOD" 'count(up{job="node"} == 1)' | jq -c .data.result)"

# 2. without a client certificate, and with one from another CA: refused
down_and_partial() { # querier URL, what, text every store's lastError has (why the handshake failed)
    local r
    sleep 3 # a few probes (every second) have had their chance
    healthy "$1" 0 || fail "$2: a store is healthy: $(stores "$1")"
    why() { stores "$1" | jq -e --arg t "$2" '[.data.store[] | .lastError | contains($t)] | length == 2 and all' >/dev/null; }
    until_true 20 why "$1" "$3" || fail "$2: lastError does not say '$3': $(stores "$1" | jq -c '[.data.store[].lastError]')"
    r=$(q "$1" 'count(up{job="node"})') || fail "$2: query failed outright"
    jq -e '.status == "success" and (.warnings | length) >= 1' <<<"$r" >/dev/null ||
        fail "$2: no partial-response warning: $r"
    r=$(curl -s --get --data-urlencode 'query=up' --data-urlencode partial_response=false "$1/api/v1/query")
    jq -e '.status == "error"' <<<"$r" >/dev/null || fail "$2: strict query did not fail: $r"
    echo "$2: stores down, query warned: $(q "$1" 'count(up{job="node"})' | jq -c .warnings)"
    echo "$2: lastError: $(stores "$1" | jq -c '.data.store[0].lastError')"
}
querier nocert --store.tls-ca-file=ca.crt
down_and_partial "$URL" "no client certificate" "TLS handshake: closed by the store (no client certificate was presented"
querier rogue --store.tls-ca-file=ca.crt --store.tls-client-cert-file=rogue.crt --store.tls-client-key-file=rogue.key
down_and_partial "$URL" "client certificate from another CA" "TLS handshake: refused by the store (alert: unknown CA; it does not accept our client certificate)"

# 3. the querier refuses a store whose certificate does not verify
querier wrongca --store.tls-ca-file=otherca.crt --store.tls-client-cert-file=cli.crt \
    --store.tls-client-key-file=cli.key
down_and_partial "$URL" "server certificate from an unknown CA" "TLS handshake: certificate verify failed (unable to get local issuer certificate)"
querier wrongname --store.tls-ca-file=ca.crt --store.tls-client-cert-file=cli.crt \
    --store.tls-client-key-file=cli.key --store.tls-server-name=other.example
down_and_partial "$URL" "server certificate without the expected name" "TLS handshake: certificate verify failed (hostname mismatch: the store's certificate is not valid for other.example)"
# by IP, the name to check given explicitly: accepted
p=$(free_port)
start byip "$TESSERA" query --web.listen-address=127.0.0.1:$p --store.sd-interval=1s \
    --store=tls+tcp://127.0.0.1:${STORE[0]} --store=tls+tcp://127.0.0.1:${STORE[1]} \
    --store.tls-ca-file=ca.crt --store.tls-client-cert-file=cli.crt --store.tls-client-key-file=cli.key \
    --store.tls-server-name=localhost
until_true 30 healthy http://127.0.0.1:$p 2 || fail "by IP with --store.tls-server-name: $(stores http://127.0.0.1:$p)"

# discovered stores over TLS (--store.tls-secure): shard 0 from an sd file and
# shard 1 from DNS (dns+localhost:PORT, A/AAAA answers), both bare host:port
# that are dialed as tls+tcp:// with the flag and as tcp:// without it
printf -- '- targets: ["127.0.0.1:%s"]\n' "${STORE[0]}" >sd.yml
discovered() { # name [flags...]: a querier finding the shards in sd.yml and DNS, in $URL
    local name=$1 p
    shift
    p=$(free_port)
    start "$name" "$TESSERA" query --web.listen-address=127.0.0.1:$p --store.sd-interval=1s \
        --store.sd-files=sd.yml --store.sd-dns=dns+localhost:${STORE[1]} --store.tls-ca-file=ca.crt \
        --store.tls-client-cert-file=cli.crt --store.tls-client-key-file=cli.key \
        --store.tls-server-name=localhost "$@"
    URL=http://127.0.0.1:$p
    wait_http "$URL/-/ready"
}
# only the IPv4 answers: localhost may also resolve to ::1, where no shard listens
tls_v4() { [ "$(stores "$1" | jq '[.data.store[] | select(.name | startswith("tls+tcp://127.0.0.1:")) |
    select(.healthy)] | length')" = 2 ]; }
discovered secure --store.tls-secure
SECURE=$URL
until_true 30 tls_v4 "$SECURE" || fail "--store.tls-secure: discovered stores not healthy over TLS: $(stores "$SECURE")"
stores "$SECURE" | jq -e '[.data.store[] | select(.name | startswith("tcp://"))] | length == 0' >/dev/null ||
    fail "--store.tls-secure: a store dialed as tcp://: $(stores "$SECURE")"
echo "discovered stores over TLS: $(stores "$SECURE" | jq -c '[.data.store[] | {name, healthy}]')"
discovered plain
sleep 3
stores "$URL" | jq -e '[.data.store[] | select(.name | startswith("tcp://127.0.0.1:"))] | length == 2' >/dev/null ||
    fail "without --store.tls-secure the discovered stores should be tcp://: $(stores "$URL")"
healthy "$URL" 0 || fail "a TLS shard answered plain tcp://: $(stores "$URL")"

# the shards lived through the refused handshakes, and still serve the good querier
for i in 0 1; do kill -0 "$(eval echo \$SHARD_PID$i)" || fail "shard $i died"; done
healthy "$GOOD" 2 || fail "good querier lost its stores: $(stores "$GOOD")"
three || fail "good querier's answer after the refused clients: $(q "$GOOD" 'count(up{job="node"} == 1)')"

# the ruler on both sides: a client of the TLS shards (its rule sees their
# data; bare --store addresses with --store.tls-secure) and a mutual-TLS store
# itself, read by a querier with a client cert
cat >global.yml <<'YML'
groups:
  - name: global
    interval: 1s
    rules:
      - record: global:up:sum
        expr: sum(up{job="node"})
YML
printf 'global:\n  evaluation_interval: 1s\n  external_labels: {ruler: global}\nrule_files: [%s]\n' \
    "'$TS_TMP/global.yml'" >rule.yml
rweb=$(free_port); rstore=$(free_port)
start ruler "$TESSERA" rule --config.file=rule.yml --storage.tsdb.path=r --web.listen-address=127.0.0.1:$rweb \
    --store.listen-address=tls+tcp://127.0.0.1:$rstore --store.tls-cert-file=srv.crt --store.tls-key-file=srv.key \
    --store.tls-client-ca-file=ca.crt --store=localhost:${STORE[0]} \
    --store=localhost:${STORE[1]} --store.tls-secure --store.tls-ca-file=ca.crt --store.tls-client-cert-file=cli.crt \
    --store.tls-client-key-file=cli.key --store.sd-interval=1s
wait_http "http://127.0.0.1:$rweb/-/ready"
p=$(free_port)
start onruler "$TESSERA" query --web.listen-address=127.0.0.1:$p --store.sd-interval=1s \
    --store=tls+tcp://localhost:$rstore --store.tls-ca-file=ca.crt --store.tls-client-cert-file=cli.crt \
    --store.tls-client-key-file=cli.key
R=http://127.0.0.1:$p
wait_http "$R/-/ready"
ruled() { q "$R" 'global:up:sum' | jq -e '.data.result | map(.value[1]) | index("3") != null' >/dev/null; }
until_true 40 ruled || fail "ruler over TLS shards, read over TLS: $(q "$R" 'global:up:sum')"
p=$(free_port)
start onruler_nocert "$TESSERA" query --web.listen-address=127.0.0.1:$p --store.sd-interval=1s \
    --store=tls+tcp://localhost:$rstore --store.tls-ca-file=ca.crt
wait_http "http://127.0.0.1:$p/-/ready"
sleep 3
healthy http://127.0.0.1:$p 0 || fail "the ruler's store let a client without a certificate in"

# 5. bad flags: start-up errors naming the problem
expect_err() { # pattern, command...
    local pat=$1 out
    shift
    out=$(timeout 20 "$@" 2>&1) && fail "accepted: $* ($out)"
    grep -q -- "$pat" <<<"$out" || fail "no '$pat' in: $out"
}
expect_err "needs both a certificate and a key" "$TESSERA" query --web.listen-address=127.0.0.1:$(free_port) \
    --store=tls+tcp://localhost:${STORE[0]} --store.tls-client-cert-file=cli.crt
expect_err "nothere.crt" "$TESSERA" query --web.listen-address=127.0.0.1:$(free_port) \
    --store=tls+tcp://localhost:${STORE[0]} --store.tls-ca-file=nothere.crt
expect_err "nothere.crt" "$TESSERA" shard --config.file=s0.yml --storage.tsdb.path=dx \
    --web.listen-address=127.0.0.1:$(free_port) --store.listen-address=tls+tcp://127.0.0.1:$(free_port) \
    --store.tls-cert-file=srv.crt --store.tls-key-file=srv.key --store.tls-client-ca-file=nothere.crt
for i in 0 1; do kill -0 "$(eval echo \$SHARD_PID$i)" || fail "shard $i died"; done
echo "PASS query store_tls"
