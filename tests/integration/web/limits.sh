#!/usr/bin/env bash
# Bounded requests on a real shard: a long query (a Grafana-style regex
# alternation of 500 values, 14 KB: more than 8 KiB) POSTed is answered correctly; a body over
# the limit gets 413 before it is read; a PromQL expression nested 100000 deep
# gets a clear 400 (Prometheus 2.42 does not answer it within 30 s); 200 idle
# connections (slowloris) do not stop a normal query being answered within 1 s.
. "$(dirname "$0")/../lib.sh"
cd "$TS_TMP"
web=$(free_port); store=$(free_port)
cat >prometheus.yml <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['127.0.0.1:$web']}]
YML
start shard "$TESSERA" shard --config.file=prometheus.yml --storage.tsdb.path=data \
    --web.listen-address=127.0.0.1:$web --store.listen-address=tcp://127.0.0.1:$store
url=http://127.0.0.1:$web
wait_http "$url/-/ready"
self_up() { q "$url" 'up{job="self"}' | jq -e '.data.result[0].value[1] == "1"' >/dev/null; }
until_true 20 self_up || fail "self scrape not up"

# a long regex alternation, POSTed (as Grafana and promtool can)
python3 - "$web" >alt.txt <<'PY'
import sys
vals = "|".join("host-%05d.example.org:9100" % i for i in range(500))
print('count(up{instance=~"%s|127.0.0.1:%s"})' % (vals, sys.argv[1]), end="")
PY
[ "$(stat -c %s alt.txt)" -gt 12000 ] || fail "query not long enough"
out=$(curl -s --data-urlencode query@alt.txt "$url/api/v1/query")
jq -e '.data.result[0].value[1] == "1"' <<<"$out" >/dev/null || fail "long POSTed query: ${out:0:300}"

# 413 for a body over the limit (16 MiB), answered before the body is sent
out=$(python3 - "$web" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
          b"Content-Length: 17000000\r\n\r\n")
print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
PY
)
[ "$out" = "HTTP/1.1 413 Request Entity Too Large" ] || fail "oversized body: $out"

# deep nesting: a clear error, no crash
python3 -c "print('(' * 100000 + '1' + ')' * 100000, end='')" >deep.txt
out=$(curl -s -w ' %{http_code}' --data-urlencode query@deep.txt "$url/api/v1/query")
grep -q '"errorType":"bad_data"' <<<"$out" || fail "deep nesting: ${out:0:300}"
grep -q 'nested too deeply' <<<"$out" || fail "deep nesting message: ${out:0:300}"
[ "${out##* }" = 400 ] || fail "deep nesting status: ${out##* }"
kill -0 "$(pgrep -f "web.listen-address=127.0.0.1:$web" | head -1)" 2>/dev/null || fail "shard died"

# slowloris: 200 idle connections, half of them with a partial request line
python3 - "$web" "$url" <<'PY' || fail "slowloris"
import socket, sys, time, urllib.request
port, url = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if i % 2:
        s.sendall(b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n")  # never finished
    socks.append(s)
t0 = time.monotonic()
body = urllib.request.urlopen(url + "/api/v1/query?query=1%2B1", timeout=5).read()
dt = time.monotonic() - t0
print("query with 200 idle connections open: %.0f ms" % (dt * 1000))
assert b'"2"' in body, body
assert dt < 1.0, dt
PY
self_up || fail "shard not answering after the slowloris test"
echo OK
