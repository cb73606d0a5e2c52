#!/usr/bin/env bash
# Bounded requests on a real shard and querier: a long query (a Grafana-style regex
# alternation of 500 values, 14 KB: more than 8 KiB) POSTed is answered correctly, and a GET
# with a 100 KiB query string too (one regex of 3200 values; shard and querier; Prometheus takes
# 1 MiB of headers); a 2 MiB header gets 431 and a 2 MiB request line 414, each with a text
# body; a body over the limit gets 413 before it is read; a PromQL expression nested 100000 deep gets a clear 400
# (Prometheus 2.42 does not answer it within 30 s); 200 idle connections (slowloris) do not
# stop a normal query being answered within 1 s; --web.max-connections=N with N idle
# connections makes client N+1 wait (not reset) until one closes or times out; an idle
# connection is closed after --web.read-timeout.
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

# ---- a GET with a 100 KiB query string, at the shard and at a querier over it
qweb=$(free_port)
start querier "$TESSERA" query --web.listen-address=127.0.0.1:$qweb --store=tcp://127.0.0.1:$store \
    --web.max-connections=3
qurl=http://127.0.0.1:$qweb
wait_http "$qurl/-/ready"
# one selector with a regex of 3200 alternatives (as Grafana writes a multi-value variable:
# escaped dots), only the last one matching the shard itself: past PCRE2's compiled-size limit,
# matched as a set of literals (pkg/labels/matcher.c)
python3 - "$web" >long.txt <<'PY'
import sys
# (Python's "\\\\" is PromQL's \\ is the regex's \: host-00000\.example\.org:9100)
vals = "|".join("host-%05d\\\\.example\\\\.org:9100" % i for i in range(3200))
print('count(up{instance=~"%s|127\\\\.0\\\\.0\\\\.1:%s"})' % (vals, sys.argv[1]), end="")
PY
long_get() {
    curl -s -w '\n%{http_code} %{size_request}' -G --data-urlencode query@long.txt \
        "$1/api/v1/query" >long.out
    local last; last=$(tail -1 long.out)
    [ "${last%% *}" = 200 ] || { echo "status ${last%% *}: $(head -c 300 long.out)"; return 1; }
    [ "${last##* }" -gt 102400 ] || { echo "request only ${last##* } bytes"; return 1; }
    head -1 long.out | jq -e '.data.result[0].value[1] == "1"' >/dev/null ||
        { echo "result: $(head -c 300 long.out)"; return 1; }
}
long_get "$url" || fail "100 KiB GET at the shard"
has_self() { q "$qurl" 'up{job="self"}' | jq -e '.data.result | length == 1' >/dev/null; }
until_true 30 has_self || fail "querier does not see the shard"
long_get "$qurl" || fail "100 KiB GET at the querier"

# ---- a 2 MiB header: 431 with a text body; a 2 MiB request line: 414; the server carries on
python3 - "$web" <<'PY' || fail "oversized heads"
import socket, sys
port = int(sys.argv[1])
def ask(head):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head)
    except OSError:
        pass  # the server may answer and close before taking all of it
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        data += b
    s.close()
    return data.decode(errors="replace")
big = "x" * (2 << 20)
out = ask(("GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % big).encode())
assert out.startswith("HTTP/1.1 431 Request Header Fields Too Large\r\n"), out[:200]
assert "Connection: close" in out, out[:300]
assert out.endswith("431 Request Header Fields Too Large: the request headers are larger than 1 MiB\n"), out[-200:]
out = ask(("GET /api/v1/query?query=%s HTTP/1.1\r\nHost: x\r\n\r\n" % big).encode())
assert out.startswith("HTTP/1.1 414 Request URI Too Long\r\n"), out[:200]
assert "the request line is longer than 1 MiB" in out, out[-200:]
# malformed heads get 400 with a reason, not a silent close
out = ask(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
assert out.startswith("HTTP/1.1 400 Bad Request\r\n") and "invalid header field name" in out, out
out = ask(b"GET /\r\n\r\n")
assert out.startswith("HTTP/1.1 400 Bad Request\r\n") and "no HTTP version" in out, out
out = ask(b"POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
assert out.startswith("HTTP/1.1 400 Bad Request\r\n"), out
out = ask(b"POST /api/v1/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n")
assert out.startswith("HTTP/1.1 411 Length Required\r\n") and "chunked" in out, out
PY
self_up || fail "shard not answering after the oversized heads"

# The connection helpers of the two tests below (python3 - finds them in the current directory).
cat >conns.py <<'PY'
import socket

def held(port):
    """A connection the server has certainly accepted: one answered request, kept alive."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"Healthy.\n"):
        b = s.recv(4096)
        assert b, data
        data += b
    assert data.startswith(b"HTTP/1.1 200 OK"), data
    return s

def read_to_close(s):
    """Everything s receives until the server closes it."""
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b
PY

# ---- --web.max-connections=3 on the querier: 3 idle connections hold every slot; a 4th
# client waits in the backlog (not reset, not answered) until one of them closes
python3 - "$qweb" <<'PY' || fail "max-connections"
import socket, sys
from conns import held, read_to_close
port = int(sys.argv[1])
idle = [held(port) for _ in range(3)]
c = socket.create_connection(("127.0.0.1", port), timeout=20)  # the kernel's backlog takes it
c.sendall(b"GET /api/v1/query?query=1%2B1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
c.settimeout(1.0)
try:
    early = c.recv(4096)
except socket.timeout:
    early = None
assert early is None, "answered beyond --web.max-connections: %r" % early
idle[0].close()
c.settimeout(20)
data = read_to_close(c)
assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
assert b'"2"' in data, data
print("client 4 served after an idle connection closed")
for s in idle[1:]:
    s.close()
PY

# ---- --web.read-timeout=2s, --web.max-connections=2: idle connections are closed by the
# server, and a client waiting for a slot is then served
qweb2=$(free_port)
start querier2 "$TESSERA" query --web.listen-address=127.0.0.1:$qweb2 \
    --store=tcp://127.0.0.1:$store --web.max-connections=2 --web.read-timeout=2s
wait_http "http://127.0.0.1:$qweb2/-/ready"
python3 - "$qweb2" <<'PY' || fail "idle timeout"
import socket, sys, time
from conns import held, read_to_close
port = int(sys.argv[1])
idle = [held(port) for _ in range(2)]
idle[1].sendall(b"GET /api/v1/query?query=1 HTTP/1.1\r\nHost: x\r\n")  # never finished
c = socket.create_connection(("127.0.0.1", port), timeout=30)
c.sendall(b"GET /api/v1/query?query=1%2B1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t0 = time.monotonic()
for s in idle:
    assert s.recv(4096) == b"", "idle connection got data"  # closed by the server
data = read_to_close(c)
assert data.startswith(b"HTTP/1.1 200 OK") and b'"2"' in data, data[:300]
print("idle connections closed and the waiting client served after %.1f s" % (time.monotonic() - t0))
PY
# bad values are refused
"$TESSERA" query --web.listen-address=127.0.0.1:$(free_port) --store=tcp://127.0.0.1:$store \
    --web.max-connections=0 >bad.log 2>&1 && fail "--web.max-connections=0 accepted"
grep -q "web.max-connections" bad.log || fail "bad --web.max-connections: $(cat bad.log)"
echo OK
