#!/usr/bin/env python3
"""Bit-exact range-query comparison of rate and its relatives with a real Prometheus 2.42.

    tests/promql/rate_bits_vs_prometheus.py TESSERA PROMETHEUS PROMTOOL WORKDIR

diff_prometheus_range.py compares within a relative 1e-9, which hides the last
bit of a float.  This test does not: rate(), increase(), delta(), irate(),
idelta() and deriv() must give the very float64 Prometheus gives, because a
one-ulp difference moves histogram_quantile() to a neighbouring bucket when a
rank falls on a bucket boundary.

  1. It generates, from a fixed seed, counters and gauges sampled every ~15 s
     with jitter in milliseconds, values with many significant digits,
     counter resets, series that start and end inside the window, gaps, and
     counters that start near zero (so the zero-point limit of the
     extrapolation applies), plus classic histogram buckets, as one
     OpenMetrics file.
  2. The same file goes into `tessera tsdb import openmetrics` and `promtool
     tsdb create-blocks-from openmetrics`; `tessera shard` and `prometheus`
     serve the two directories on free loopback ports.
  3. Raw samples (`x[...]` instant queries) must match exactly first, so any
     later difference is arithmetic, not data.
  4. Each expression is asked as a range query of both; every point's value
     is compared as a float64 bit pattern (the JSON carries the shortest
     decimal that reads back as the float, so parsing it gives the bits).
     Series sets and timestamps must be equal too.
Exits 1 on any difference, printing the first ones with their distance in
ulps, or if fewer points than expected were compared.
"""
import json
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

START = 1700000000000  # ms
HOURS = 2
SEED = 42
N_COUNTERS = 24
N_GAUGES = 12
MIN_POINTS = 300000  # compared points; the data and queries below give about 500k

FUNCS = [("rate", "c"), ("increase", "c"), ("delta", "g"), ("irate", "c"), ("idelta", "g"),
         ("deriv", "g"), ("rate", "h_bucket")]
RANGES = ["1m", "2m", "5m", "1m30s250ms"]
EXTRA = ["histogram_quantile(0.9, rate(h_bucket[5m]))",
         "histogram_quantile(0.5, rate(h_bucket[1m]))",
         "increase(c[10m] offset 3m)"]


def fmt_value(v):
    return repr(float(v))  # the shortest decimal that reads back as v


def gen():
    """{series text: [(t_ms, value), ...]} in time order."""
    rnd = random.Random(SEED)
    end = START + HOURS * 3600 * 1000
    out = {}

    def times(first, last, gap_prob):
        t, ts = first, []
        while t < last:
            if rnd.random() >= gap_prob:
                ts.append(t)
            t += 15000 + rnd.randint(-1500, 1500)
        return ts

    for k in range(N_COUNTERS):
        kind = k % 4
        first = START + (rnd.randint(0, 3600 * 1000) if kind == 1 else rnd.randint(0, 20000))
        last = end - (rnd.randint(0, 3600 * 1000) if kind == 2 else 0)
        v = 0.0 if kind == 3 else rnd.uniform(0, 1e6)
        pts = []
        for t in times(first, last, 0.05 if kind == 2 else 0.0):
            pts.append((t, v))
            if rnd.random() < 0.01:
                v = rnd.uniform(0, 10)  # reset
            else:
                v += rnd.uniform(0, 50) * (10 ** rnd.randint(-3, 3))
        out[f'c{{k="{k}"}}'] = pts
    for k in range(N_GAUGES):
        first = START + rnd.randint(0, 600 * 1000)
        v = rnd.uniform(-1e3, 1e3)
        pts = []
        for t in times(first, end, 0.03):
            pts.append((t, v))
            v += rnd.gauss(0, 10) * (10 ** rnd.randint(-2, 2))
        out[f'g{{k="{k}"}}'] = pts
    # Classic histograms: cumulative buckets, sparse increments.
    bounds = ["0.1", "0.5", "1", "5", "+Inf"]
    for k in range(4):
        counts = [0.0] * len(bounds)
        ts = times(START + rnd.randint(0, 20000), end, 0.0)
        series = {b: [] for b in bounds}
        for t in ts:
            for b in bounds:
                series[b].append((t, counts[bounds.index(b)]))
            if rnd.random() < 0.3:
                i = rnd.randrange(len(bounds))
                for j in range(i, len(bounds)):
                    counts[j] += 1
        for b in bounds:
            out[f'h_bucket{{k="{k}",le="{b}"}}'] = series[b]
    return out


def free_port(rnd=random.Random()):
    """A free port below the ephemeral range (32768+), as tests/integration/lib.sh
    picks them, so no outgoing connection of a parallel test can hold it."""
    while True:
        port = rnd.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()


def bits(x):
    return struct.unpack("<q", struct.pack("<d", x))[0]


def ulps(a, b):
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return "-"
    ia, ib = bits(a), bits(b)
    if ia < 0:
        ia = -(ia & 0x7FFFFFFFFFFFFFFF)
    if ib < 0:
        ib = -(ib & 0x7FFFFFFFFFFFFFFF)
    return abs(ia - ib)


def fnum(s):
    low = s.lower()
    return {"+inf": math.inf, "inf": math.inf, "-inf": -math.inf}.get(
        low, math.nan if low == "nan" else float(s))


def same_bits(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return bits(a) == bits(b)


def get(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def wait_ready(base, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(base + "/-/ready", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within 60 s")


def matrix(resp):
    if resp.get("status") != "success":
        return None
    m = {}
    for ser in resp["data"]["result"]:
        lbl = tuple(sorted(ser["metric"].items()))
        vals = ser.get("values") or [ser["value"]]
        m[lbl] = [(int(round(float(t) * 1000)), fnum(v)) for t, v in vals]
    return m


def main():
    tessera, prometheus, promtool, workdir = sys.argv[1:5]
    work = os.path.join(workdir, "promql_rate_bits")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = gen()
    lines = []
    for name, pts in sorted(data.items()):
        mname = name.split("{")[0]
        for t, v in pts:
            lines.append((mname, f"{name} {fmt_value(v)} {t // 1000}.{t % 1000:03d}"))
    # OpenMetrics wants a metric family's lines together.
    lines.sort(key=lambda x: x[0])
    om = os.path.join(work, "data.om")
    with open(om, "w") as f:
        f.write("\n".join(l for _, l in lines) + "\n# EOF\n")
    subprocess.run([tessera, "tsdb", "import", "openmetrics", "-q", om, os.path.join(work, "t")],
                   check=True, capture_output=True)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", om,
                    os.path.join(work, "p")], check=True, capture_output=True)
    with open(os.path.join(work, "empty.yml"), "w") as f:
        f.write("scrape_configs: []\n")
    tport, sport, pport = free_port(), free_port(), free_port()
    tlog = open(os.path.join(work, "tessera.log"), "w")
    plog = open(os.path.join(work, "prometheus.log"), "w")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [tessera, "shard", "--config.file=" + os.path.join(work, "empty.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "t"),
             f"--web.listen-address=127.0.0.1:{tport}",
             f"--store.listen-address=tcp://127.0.0.1:{sport}",
             "--storage.tsdb.retention.time=100y", "--log.level=warn"],
            stdout=tlog, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [prometheus, "--config.file=" + os.path.join(work, "empty.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "p"),
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{pport}"],
            stdout=plog, stderr=subprocess.STDOUT))
        tb, pb = f"http://127.0.0.1:{tport}", f"http://127.0.0.1:{pport}"
        wait_ready(tb, procs[0], "tessera shard")
        wait_ready(pb, procs[1], "prometheus")

        diffs = []
        # 1. Same data: raw samples of every series, in 20-minute windows.
        raw = 0
        for w in range(HOURS * 3):
            at = (START + (w + 1) * 1200 * 1000) / 1000
            for metric in ("c", "g", "h_bucket"):
                params = {"query": f"{metric}[20m]", "time": f"{at:.3f}"}
                a = matrix(get(tb, "/api/v1/query", params))
                b = matrix(get(pb, "/api/v1/query", params))
                if a != b and not (a and b and set(a) == set(b) and all(
                        len(a[k]) == len(b[k]) and all(x[0] == y[0] and same_bits(x[1], y[1])
                                                       for x, y in zip(a[k], b[k])) for k in a)):
                    print(f"DATA DIFFERS for {params}: the imports disagree")
                    return 1
                raw += sum(len(v) for v in (a or {}).values())
        print(f"{raw} raw samples identical in both stores")

        # 2. The functions, as range queries over the whole window.
        exprs = [f"{fn}({m}[{r}])" for fn, m in FUNCS for r in RANGES] + EXTRA
        compared = 0
        per_expr = {}
        s, e = (START + 60 * 1000) / 1000, (START + HOURS * 3600 * 1000 + 300 * 1000) / 1000
        for expr in exprs:
            params = {"query": expr, "start": f"{s:.3f}", "end": f"{e:.3f}", "step": "7"}
            a = matrix(get(tb, "/api/v1/query_range", params))
            b = matrix(get(pb, "/api/v1/query_range", params))
            if a is None or b is None:
                diffs.append(f"{expr}: tessera ok={a is not None}, prometheus ok={b is not None}")
                continue
            if set(a) != set(b):
                diffs.append(f"{expr}: series differ: only tessera {sorted(set(a) - set(b))[:3]}, "
                             f"only prometheus {sorted(set(b) - set(a))[:3]}")
                continue
            bad = 0
            for k in sorted(b):
                if [t for t, _ in a[k]] != [t for t, _ in b[k]]:
                    diffs.append(f"{expr} {dict(k)}: timestamps differ")
                    bad += 1
                    continue
                for (t, x), (_, y) in zip(a[k], b[k]):
                    compared += 1
                    if not same_bits(x, y):
                        bad += 1
                        if len(diffs) < 20:
                            diffs.append(f"{expr} {dict(k)} @{t}: tessera {x!r} prometheus {y!r} "
                                         f"({ulps(x, y)} ulp)")
            per_expr[expr] = (bad, sum(len(v) for v in b.values()))
        for expr, (bad, n) in per_expr.items():
            print(f"  {expr:48s} {n:7d} points, {bad:6d} differ")
        ndiff = sum(bad for bad, _ in per_expr.values())
        print(f"{compared} points compared bit for bit with Prometheus, {ndiff} differ")
        for d in diffs[:20]:
            print("DIFF", d)
        if compared < MIN_POINTS:
            print(f"only {compared} points compared (expected at least {MIN_POINTS})")
            return 1
        return 1 if diffs else 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        tlog.close()
        plog.close()


sys.exit(main())
