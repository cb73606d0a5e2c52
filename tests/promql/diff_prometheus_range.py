#!/usr/bin/env python3
"""Range-query differential test: tessera's engine against a real Prometheus 2.42.

    tests/promql/diff_prometheus_range.py TESSERA PROMETHEUS PROMTOOL WORKDIR

promtool can only evaluate instant queries, so for range queries (step
alignment, @ start()/end() in a range, subquery steps relative to the range,
lookback at the edges of the data) this test:
  1. writes a small OpenMetrics file (counters with a reset, a sine gauge, a
     gauge with gaps), turns it into TSDB blocks with `promtool tsdb
     create-blocks-from openmetrics`, and starts `prometheus` on them on a free
     loopback port (temporary directory, killed at the end);
  2. asks it for query_range of each expression over several (start, end, step);
  3. evaluates the same range queries with `tessera promql-test` (`eval range`,
     with an impossible expectation so that it prints its actual result);
  4. compares the matrices (same series, same timestamps, values within a
     relative 1e-9, NaN equal to NaN).
Exit status 1 on any difference or if Prometheus cannot be started.
"""
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

STEP_S = 15
N = 481  # 2h of samples at 15s


def series():
    out = {}
    for i in range(N):
        out.setdefault('c{i="1"}', []).append(i * 3 if i < 200 else (i - 200) * 2)
        out.setdefault('c{i="2"}', []).append(i * 5)
        out.setdefault('g{i="1"}', []).append(round(math.sin(i / 10) * 10, 6))
        out.setdefault('g{i="2"}', []).append(None if i % 7 == 3 else i % 13)
    return out


EXPRS = ["rate(c[1m])", "increase(c[2m])", "sum(rate(c[5m]))", "c", "g", "g offset 2m",
         "g @ start()", "g @ end()", "c @ 1000", "max_over_time(g[3m:20s])",
         "min_over_time(g[5m:1m] offset 30s)", "deriv(g[2m])", "avg_over_time(rate(c[1m])[5m:])",
         "sum by (i) (g) * 2", "time()", "timestamp(g)", "absent(nonexistent)", "g > 0",
         "count_over_time(g[1m])", "last_over_time(g[2m:7s])", "irate(c[1m])", "resets(c[5m])",
         "changes(g[5m])", 'scalar(c{i="2"})', "vector(time())", "g - g offset 1m",
         "rate(c[1m] @ end())", "sum_over_time(g[1m:10s] @ start())", "quantile(0.5, g)"]
RANGES = [(0, 600, 60), (37, 637, 50), (1000, 1900, 90), (7000, 7500, 45), (300, 1400, 100),
          (7185, 7245, 5)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_labels(s):
    return tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s)))


def fnum(s):
    s = s.lower()
    return {"+inf": math.inf, "inf": math.inf, "-inf": -math.inf}.get(s, float(s) if s != "nan" else math.nan)


def same(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * (abs(a) + abs(b))


def main():
    tessera, prometheus, promtool, workdir = sys.argv[1:5]
    work = os.path.join(workdir, "promql_range_diff")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = series()

    # OpenMetrics input for promtool (timestamps in seconds).
    lines = []
    for name, vals in sorted(data.items()):
        for i, v in enumerate(vals):
            if v is not None:
                lines.append(f"{name} {v} {i * STEP_S}")
    with open(os.path.join(work, "data.om"), "w") as f:
        f.write("\n".join(lines) + "\n# EOF\n")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                    os.path.join(work, "data.om"), os.path.join(work, "tsdb")],
                   check=True, capture_output=True)
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    log = open(os.path.join(work, "prometheus.log"), "w")
    proc = subprocess.Popen([prometheus, "--config.file=" + os.path.join(work, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(work, "tsdb"),
                             "--storage.tsdb.retention.time=100y",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    real = 0
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        else:
            print("prometheus did not become ready")
            return 1

        # tessera: one script with every (expr, range).
        script = ["load 15s"]
        for name, vals in sorted(data.items()):
            script.append("  " + name + " " + " ".join("_" if v is None else str(v) for v in vals))
        script.append("")
        cases = [(e, r) for e in EXPRS for r in RANGES]
        for e, (s, en, st) in cases:
            script.append(f"eval range from {s}s to {en}s step {st}s {e}\n  {{__impossible__=\"x\"}} 0\n")
        path = os.path.join(work, "range.test")
        with open(path, "w") as f:
            f.write("\n".join(script))
        out = subprocess.run([tessera, "promql-test", path], capture_output=True, text=True).stdout
        got = {}
        for b in re.split(r"\n(?=\S+range\.test:\d+: )", out):
            m = re.match(r"\S+range\.test:\d+: eval range from (\d+)s to (\d+)s step (\d+)s (.*?): (.*)", b)
            if not m:
                continue
            key = (m.group(4), (int(m.group(1)), int(m.group(2)), int(m.group(3))))
            mat = {}
            if "  actual:" in b:
                for line in b.split("  actual:")[1].split("\n")[1:]:
                    mm = re.match(r"^\s+(\{.*\})((?: \S+@-?\d+)*)$", line)
                    if mm:
                        pts = [(int(p.split("@")[1]), fnum(p.split("@")[0])) for p in mm.group(2).split()]
                        mat[parse_labels(mm.group(1))] = pts
            else:
                mat = None  # error
            got[key] = mat

        compared = 0
        for e, rng in cases:
            s, en, st = rng
            q = urllib.parse.urlencode({"query": e, "start": s, "end": en, "step": st})
            with urllib.request.urlopen(base + "/api/v1/query_range?" + q, timeout=30) as r:
                resp = json.load(r)
            mine = got.get((e, rng))
            if resp["status"] != "success":
                if mine is not None:
                    print(f"Prometheus failed, tessera answered: {e} {rng}: {resp.get('error')}")
                    real += 1
                continue
            if mine is None:
                print(f"tessera failed, Prometheus answered: {e} {rng}")
                real += 1
                continue
            theirs = {}
            for ser in resp["data"]["result"]:
                lbl = tuple(sorted(ser["metric"].items()))
                theirs[lbl] = [(int(round(float(t) * 1000)), fnum(v)) for t, v in ser["values"]]
            compared += 1
            ok = set(theirs) == set(mine)
            if ok:
                for k in theirs:
                    a, b = theirs[k], mine[k]
                    if len(a) != len(b) or any(x[0] != y[0] or not same(x[1], y[1]) for x, y in zip(a, b)):
                        ok = False
            if not ok:
                real += 1
                print(f"MISMATCH {e} {rng}\n  tessera:    {sorted(mine.items())}\n  prometheus: {sorted(theirs.items())}")
        print(f"{compared} range queries compared with Prometheus, {real} differences")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return 1 if real else 0


sys.exit(main())
