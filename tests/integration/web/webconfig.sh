#!/usr/bin/env bash
# --web.config.file (Prometheus' web configuration file) on a shard and a
# querier: `tessera check web-config` next to Debian's `promtool check
# web-config` (same verdicts and texts), basic auth (401 + WWW-Authenticate,
# 200; re-read on change, a broken edit keeps the last good users), the
# configured headers, TLS (curl and promtool over https), client certificates
# with RequireAndVerifyClientCert (handshake refused without one), the other
# TLS options (cipher_suites enforced, VerifyClientCertIfGiven, edits applied to
# new connections), and no secret in /api/v1/status/config.
. "$(dirname "$0")/../lib.sh"
cd "$TS_TMP"

# ---- certificates: a CA, a server cert for 127.0.0.1/localhost, a client cert
ossl() { openssl "$@" 2>/dev/null || fail "openssl $1"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt
ossl req -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout srv.key -out srv.csr
ossl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -copy_extensions copy \
    -out srv.crt
ossl req -newkey rsa:2048 -nodes -subj /CN=client -keyout cli.key -out cli.csr
ossl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out cli.crt
# bcrypt hashes made by libxcrypt (python's crypt module), cost 10 as htpasswd -B
bc() { python3 -W ignore -c "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<10)))" "$1"; }
HA=$(bc secret)
HB=$(bc hunter2)
[[ $HA == '$2b$10$'* ]] || fail "no bcrypt hash from python: $HA"

# ---- check web-config, side by side with promtool
w() { printf "$@"; }
w 'basic_auth_users:\n  alice: %s\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n' "$HA" >auth.yml
w 'tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\nbasic_auth_users:\n  alice: %s\n' "$HA" >tls.yml
w 'tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\n' >mtls.yml
: >empty.yml
w 'foo: 1\n' >bad_key.yml
w 'basic_auth_users:\n  a: xyz\n' >bad_short.yml
w 'basic_auth_users:\n  a: x2y$03$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012\n' >bad_dollar.yml
w 'basic_auth_users:\n  a: $2y$03$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012\n' >bad_cost.yml
w 'http_server_config:\n  headers:\n    X-Foo: a\n' >bad_header.yml
w 'http_server_config:\n  headers:\n    X-Content-Type-Options: foo\n' >bad_hvalue.yml
w 'tls_server_config:\n  cert_file: srv.crt\n' >bad_nokey.yml
w 'tls_server_config:\n  key_file: srv.key\n' >bad_nocert.yml
w 'tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  client_auth_type: Bogus\n' >bad_auth.yml
w 'tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  min_version: TLS9\n' >bad_version.yml
w 'tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  client_ca_file: ca.crt\n' >bad_ca.yml
w 'tls_server_config:\n  cert_file: nothere.crt\n  key_file: srv.key\n' >bad_missing.yml
w 'tls_server_config:\n  cert_fil: srv.crt\n' >bad_tlskey.yml
for f in auth.yml tls.yml mtls.yml empty.yml bad_*.yml; do
    set +e
    pout=$(promtool check web-config "$f" 2>&1)
    prc=$?
    tout=$("$TESSERA" check web-config "$f" 2>&1)
    trc=$?
    set -e
    [ "$prc" = "$trc" ] || fail "$f: promtool rc=$prc ($pout), tessera rc=$trc ($tout)"
    case $f in
    bad_missing.yml) # Go: "open nothere.crt: no such file..." vs ours with the resolved path
        grep -q "FAILED: failed to load X509KeyPair: open .*nothere.crt: [Nn]o such file" <<<"$tout" ||
            fail "$f: $tout" ;;
    *) [ "$pout" = "$tout" ] || fail "$f: promtool said '$pout', tessera said '$tout'" ;;
    esac
done
# every TLS option is taken (OpenSSL serves them), with promtool's verdicts
t='tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n'
w "$t"'  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  max_version: TLS12\n' >ciphers.yml
w "$t"'  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n' >ciphers13.yml
w "$t"'  cipher_suites: [TLS_BOGUS]\n' >bad_cipher.yml
w "$t"'  curve_preferences: [X25519, CurveP256]\n  prefer_server_cipher_suites: false\n' >curves.yml
w "$t"'  curve_preferences: [Bogus]\n' >bad_curve.yml
w "$t"'  client_auth_type: RequireAnyClientCert\n' >anycert.yml
w "$t"'  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n' >ifgiven.yml
w "$t"'  client_auth_type: RequestClientCert\n' >request.yml
for f in ciphers.yml ciphers13.yml bad_cipher.yml curves.yml bad_curve.yml anycert.yml ifgiven.yml \
    request.yml; do
    set +e
    pout=$(promtool check web-config "$f" 2>&1)
    prc=$?
    tout=$("$TESSERA" check web-config "$f" 2>&1)
    trc=$?
    set -e
    [ "$prc" = "$trc" ] && [ "$pout" = "$tout" ] ||
        fail "$f: promtool said '$pout' ($prc), tessera said '$tout' ($trc)"
done

# ---- a shard with basic auth and headers
web=$(free_port); store=$(free_port)
cat >prometheus.yml <<YML
global: {scrape_interval: 1s, external_labels: {replica: a}}
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['127.0.0.1:$web']}]
    basic_auth: {username: alice, password: secret}
  - job_name: other
    static_configs: [{targets: ['127.0.0.1:1']}]
    bearer_token: tok-XYZZY-123
YML
cp auth.yml web.yml
start shard "$TESSERA" shard --config.file=prometheus.yml --storage.tsdb.path=data \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store \
    --web.config.file=web.yml
url=http://127.0.0.1:$web
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
is200() { [ "$(code "$@")" = 200 ]; }
until_true 30 is200 -u alice:secret "$url/-/ready" || fail "shard not ready"
curl -s -D hdr.txt -o body.txt "$url/api/v1/query?query=up"
grep -q '^HTTP/1.1 401' hdr.txt || fail "no credentials: $(cat hdr.txt)"
grep -qi '^WWW-Authenticate: Basic' hdr.txt || fail "no WWW-Authenticate: $(cat hdr.txt)"
grep -qi '^X-Frame-Options: deny' hdr.txt || fail "header not on the 401: $(cat hdr.txt)"
[ "$(cat body.txt)" = Unauthorized ] || fail "401 body: $(cat body.txt)"
[ "$(code -u alice:wrong "$url/api/v1/query?query=up")" = 401 ] || fail "wrong password let in"
[ "$(code -u bob:secret "$url/api/v1/query?query=up")" = 401 ] || fail "unknown user let in"
[ "$(code -u alice:secret "$url/-/healthy")" = 200 ] || fail "health with credentials"
[ "$(code "$url/-/healthy")" = 401 ] || fail "health without credentials (Prometheus guards all)"
curl -s -D hdr.txt -o body.txt -u alice:secret "$url/api/v1/query?query=1%2B1"
grep -q ',"2"\]' body.txt || fail "query with credentials: $(cat body.txt)"
grep -qi '^X-Content-Type-Options: nosniff' hdr.txt || fail "header: $(cat hdr.txt)"
# the shard scrapes itself with basic auth: the scrape works
self_up() { curl -s -u alice:secret "$url/api/v1/query?query=up%7Bjob%3D%22self%22%7D" |
    jq -e '.data.result[0].value[1] == "1"' >/dev/null; }
until_true 20 self_up || fail "self scrape with basic_auth not up"
# cached checks: 50 requests, each would pay one bcrypt (cost 10) uncached
t0=$(date +%s%N)
for i in $(seq 50); do curl -sf -o /dev/null -u alice:secret "$url/-/healthy"; done
echo "50 authenticated requests: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
# no secret in /api/v1/status/config
cfg=$(curl -sf -u alice:secret "$url/api/v1/status/config" | jq -r .data.yaml)
grep -q 'tok-XYZZY-123' <<<"$cfg" && fail "bearer_token shown: $cfg"
grep -q 'password: secret' <<<"$cfg" && fail "password shown: $cfg"
[ "$(grep -o '<secret>' <<<"$cfg" | wc -l)" -ge 2 ] || fail "no <secret> placeholders: $cfg"
# re-read on change: a new user works at once; a broken file keeps the last good settings
w 'basic_auth_users:\n  alice: %s\n  bob: %s\n' "$HA" "$HB" >web.yml.new && mv web.yml.new web.yml
[ "$(code -u bob:hunter2 "$url/-/healthy")" = 200 ] || fail "new user not picked up"
w 'basic_auth_users:\n  bob: nonsense\n' >web.yml.new && mv web.yml.new web.yml
[ "$(code -u alice:secret "$url/-/healthy")" = 200 ] || fail "broken file dropped the last good settings"
[ "$(code "$url/-/healthy")" = 401 ] || fail "broken file turned auth off"
grep -q 'Unable to parse web configuration file' "$TS_TMP/shard.log" || fail "broken file not logged"
# a broken file at start is a start-up error
"$TESSERA" shard --config.file=prometheus.yml --storage.tsdb.path=data2 \
    --web.listen-address=127.0.0.1:$(free_port) --store.listen-address=tcp://127.0.0.1:$(free_port) \
    --web.config.file=bad_cost.yml >bad_start.log 2>&1 && fail "started with a bad web config"
grep -q 'cost 3 is outside allowed range' bad_start.log || fail "bad start: $(cat bad_start.log)"

# ---- TLS + basic auth on a querier over that shard's store API; promtool over https
qweb=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qweb --store=tcp://127.0.0.1:$store \
    --web.config.file=tls.yml
qurl=https://127.0.0.1:$qweb
until_true 30 is200 --cacert ca.crt -u alice:secret "$qurl/-/ready" || fail "querier (https) not ready"
[ "$(code --cacert ca.crt "$qurl/api/v1/query?query=up")" = 401 ] || fail "https without credentials"
[ "$(code "http://127.0.0.1:$qweb/-/healthy")" = 000 ] || fail "plain http answered on a TLS listener"
[ "$(code -u alice:secret "$qurl/-/healthy")" = 000 ] || fail "curl accepted the cert without the CA"
# Debian's promtool 2.42 has no --http.config.file: Go's client takes the CA from SSL_CERT_FILE
# and basic auth from the URL's user info
pq() { SSL_CERT_FILE=$TS_TMP/ca.crt promtool query instant "https://alice:secret@127.0.0.1:$qweb" "$@" 2>&1; }
has_up() { pq 'up{job="self"}' | grep -q '=> 1'; }
until_true 20 has_up || fail "promtool over https: $(pq up)"
out=$(SSL_CERT_FILE=$TS_TMP/ca.crt promtool query instant "$qurl" up 2>&1) && fail "promtool without credentials: $out"
grep -q 401 <<<"$out" || fail "promtool without credentials: $out"

# ---- client certificates (RequireAndVerifyClientCert) on a second shard
web2=$(free_port)
start shard2 "$TESSERA" shard --config.file=prometheus.yml --storage.tsdb.path=data3 \
    --web.listen-address=127.0.0.1:$web2 --store.listen-address=tcp://127.0.0.1:$(free_port) \
    --web.config.file=mtls.yml
murl=https://127.0.0.1:$web2
until_true 30 is200 --cacert ca.crt --cert cli.crt --key cli.key "$murl/-/ready" ||
    fail "mtls shard not ready"
set +e
curl -s -o /dev/null --cacert ca.crt "$murl/-/healthy"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a client without a certificate was served"
# a certificate from another CA is refused too
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rogue -keyout rogue.key -out rogue.crt
[ "$(code --cacert ca.crt --cert rogue.crt --key rogue.key "$murl/-/healthy")" = 000 ] ||
    fail "a client certificate from another CA was accepted"
out=$(curl -sf --cacert ca.crt --cert cli.crt --key cli.key "$murl/api/v1/query?query=1")
grep -q '"status":"success"' <<<"$out" || fail "mtls query: $out"

# ---- the other TLS options, on a third shard whose web config is edited in place (re-read for
# new connections, as Prometheus does): cipher_suites, VerifyClientCertIfGiven
cp ciphers.yml web3.yml
web3=$(free_port)
start shard3 "$TESSERA" shard --config.file=prometheus.yml --storage.tsdb.path=data4 \
    --web.listen-address=127.0.0.1:$web3 --store.listen-address=tcp://127.0.0.1:$(free_port) \
    --web.config.file=web3.yml
curl3() { curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt "$@"; }
is200_3() { [ "$(curl3 "$@" "https://127.0.0.1:$web3/-/healthy")" = 200 ]; }
until_true 30 is200_3 || fail "shard3 (TLS) not ready"
[ "$(curl3 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 "https://127.0.0.1:$web3/-/healthy")" = 200 ] ||
    fail "the configured cipher refused"
[ "$(curl3 --tls-max 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384 "https://127.0.0.1:$web3/-/healthy")" = 000 ] ||
    fail "a cipher outside cipher_suites accepted"
[ "$(curl3 --tlsv1.3 "https://127.0.0.1:$web3/-/healthy")" = 000 ] || fail "TLS 1.3 above max_version"
cp ifgiven.yml web3.yml.new && mv web3.yml.new web3.yml
until_true 20 is200_3 --tlsv1.3 || fail "edited web config (TLS 1.3 allowed again) not applied"
[ "$(curl3 "https://127.0.0.1:$web3/-/healthy")" = 200 ] || fail "VerifyClientCertIfGiven: no cert refused"
[ "$(curl3 --cert cli.crt --key cli.key "https://127.0.0.1:$web3/-/healthy")" = 200 ] ||
    fail "VerifyClientCertIfGiven: a good cert refused"
[ "$(curl3 --cert rogue.crt --key rogue.key "https://127.0.0.1:$web3/-/healthy")" = 000 ] ||
    fail "VerifyClientCertIfGiven: a certificate from another CA accepted"
echo OK
