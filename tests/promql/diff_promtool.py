#!/usr/bin/env python3
"""Differential test: tessera's PromQL engine against real Prometheus 2.42.

    tests/promql/diff_promtool.py TESSERA PROMTOOL WORKDIR [UPSTREAM_TEST_DIR]

For a corpus of expressions (every range function over plain, offset, @ and
subquery arguments; aggregations with by/without; binary operators with
matching; math, date and label functions; histogram_quantile) evaluated at
several times over two small data sets with resets, gaps, stale markers,
NaN and infinities:
  1. tessera evaluates each one (through `tessera promql-test`, with an
     impossible expectation so that it prints the actual result);
  2. the answers become the expectations of a `promtool test rules` file;
  3. promtool evaluates the same queries and reports where it differs.
Differences of a few ulps (Go's math library vs. the C library) are
tolerated (relative 1e-9).  promtool never finds NaN equal to NaN, so a
result containing NaN is checked as `(E) != bool (E)` (1 where the value is
NaN, 0 elsewhere).  Where tessera fails, Prometheus must fail too (error
texts are compared and differences printed; they do not fail the test, as
some name series in storage order).  Exit status 1 on any real difference.  With UPSTREAM_TEST_DIR (../shared/promql-tests), the data and
expressions of Prometheus' own test files are added, evaluated at more times.
"""
import glob
import os
import re
import subprocess
import sys

DATASETS = []

# Data set 1: counters with resets, a stale marker and a gap; gauges with NaN/Inf; buckets.
LOAD1 = """load 30s
  c{i="1"} 0 5 10 2 7 stale 9 12 _ 20 25 30 1 4
  c{i="2"} 1+3x13
  g{i="1"} 5 -3 2.5 NaN 4 Inf 1 -Inf 0 3 3 -7 2 2
  g{i="2"} 0.1+0.2x13
  h_bucket{le="0.5"} 0+1x13
  h_bucket{le="1"} 0+3x13
  h_bucket{le="+Inf"} 0+4x13
"""
E1 = []
for f in ["rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets",
          "avg_over_time", "sum_over_time", "min_over_time", "max_over_time",
          "count_over_time", "last_over_time", "stddev_over_time", "stdvar_over_time",
          "present_over_time"]:
    for a in ["c[1m]", "c[2m]", "g[1m]", "g[3m]", "c[2m:15s]", "g[1m:20s] offset 10s",
              "c[90s] offset 1m", "g[2m] @ 200"]:
        E1.append(f"{f}({a})")
for a in ["g", "c", "g offset 1m", 'g{i="1"}', "-g", "g * Inf", "c - c"]:
    for agg in ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]:
        E1 += [f"{agg}({a})", f"{agg} by (i) ({a} * 2)"]
    E1 += [f"quantile(0.3, {a})", f'count_values("x", {a})']
    if a not in ("g * Inf", "c - c"):  # ties: Prometheus breaks them by storage order
        E1 += [f"topk(1, {a})", f"bottomk(1, {a})"]
for op in ["+", "-", "*", "/", "%", "^", "atan2", "> bool", "< bool", "== bool", "!= bool",
           ">=", "<="]:
    E1 += [f"g {op} c", f"g {op} on(i) c", f"c {op} 2", f"3 {op} g"]
for fn in ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "sin", "cos",
           "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
           "deg", "rad"]:
    E1.append(f"{fn}(g)")
E1 += ["round(g, 0.3)", "round(g)", "clamp(g, -1, 2)", "clamp_min(g, 1)", "clamp_max(g, 1)",
       "quantile_over_time(0.7, g[2m])", "quantile_over_time(0.2, c[2m])",
       "predict_linear(g[2m], 30)", "predict_linear(c[2m], 100)",
       "holt_winters(g[2m], 0.3, 0.6)", "holt_winters(c[3m], 0.5, 0.1)"]
E1 += [f"histogram_quantile({q}, rate(h_bucket[1m]))" for q in ["0", "0.25", "0.5", "0.99", "1"]]
DATASETS.append((LOAD1, E1, ["1m", "2m30s", "4m", "5m15s", "6m30s"]))

# Data set 2: label sets for grouping and vector matching.
LOAD2 = """load 30s
  m{j="x", k="1"} 1 2 3 4 0 1 2 stale 5 6 7 8 9
  m{j="y", k="1"} 10 8 9 11 12 _ _ 13 14 1 2 3 4
  m{j="x", k="2"} 3+1.5x12
  m{j="yy", k="2"} -1-0.5x12
  n{k="1", j="n1"} 2 2 2 2 2 2 2 2 2 2 2 2 2
  n{k="2", j="n2"} 5 4 3 2 1 0 -1 -2 -3 -4 -5 -6 -7
"""
E2 = []
for a in ["m", "m offset 1m", "m @ 120", 'm{j="x"}']:
    E2 += [f"sum by (j) ({a})", f"avg without (k) ({a})", f"topk by (j) (1, {a})",
           f"bottomk without (j) (1, {a})", f'count_values by (j) ("v", {a})',
           f"quantile by (k) (0.5, {a})", f"stddev by (j) ({a})",
           f"max by (k) ({a}) / on(k) group_left min by (k) ({a})", f"timestamp({a})", f"-{a}"]
E2 += ['m and m{j="x"}', "m or n", "n or m", "m unless on(k) n", "m * ignoring(j) group_left n",
       "m > on(k) group_left n", "m == bool on(k) group_left n",
       "max_over_time(sum by (k) (m)[2m:30s])", "sum_over_time(rate(m[1m])[3m:45s] offset 30s)",
       "last_over_time(m[2m:20s] @ 180)", "count_over_time((m > 2)[3m:30s])",
       "absent_over_time(m[30s])", 'absent(m{j="zz"})',
       'label_replace(m, "new", "$1-$2", "j", "(.)(.*)")', 'label_join(m, "lj", ",", "j", "k")',
       "hour(m * 3600)", "minute(m * 60)", "day_of_week(m * 86400)", "month(m * 86400 * 31)",
       "year(m * 86400 * 366)", "scalar(sum(m)) * m", "sort(m)", "sort_desc(m)",
       "time() - timestamp(m)", "resets(m[3m])", "changes(m[3m])", "deriv(m[3m])",
       "idelta(m[1m])", "irate(m[2m])", "delta(m[2m] offset 30s)", "increase(m[150s])",
       "rate(m[45s])"]
# Queries that must fail.
E2 += ['label_replace(m, "bad-name", "", "j", ".*")', 'label_replace(m, "z", "", "j", "(")',
       'label_join(m, "z", ",", "bad-src")', 'label_join(m, "bad-dst", ",", "j")',
       "holt_winters(m[2m], 0, 0.5)", "holt_winters(m[2m], 0.5, 1)", "topk(1e30, m)",
       "holt_winters(nonexistent[2m], 0, 0.5)", "holt_winters(m[2m] offset 1h, 2, 2)",
       "bottomk(-1e30, m)", 'count_values("bad-name", m)', '-{__name__=~"m|n"}',
       "m + on() group_left n", "m + on(k) n", "changes({__name__=~\"m|n\"}[1m])",
       "n + on(k) group_right(j) m", 'label_replace(m, "j", "", "j", ".*")']
DATASETS.append((LOAD2, E2, ["30s", "1m", "2m30s", "4m", "5m15s", "6m"]))

# Data set 3: special values (signed zeros, halves, NaN runs, huge values) and
# awkward classic histograms (a decreasing bucket, NaN, duplicate bounds "1"/"1.0").
LOAD3 = """load 30s
  s{i="1"} -0.5 0.5 1.5 -1.5 2.5 NaN Inf -Inf 0 -0 1e308 -1e308 3
  s{i="2"} NaN NaN 1 NaN 2 NaN 3 NaN 4 NaN 5 NaN 6
  s{i="3"} 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25 0.25
  b_bucket{le="1", x="a"} 1 2 3 4 5 6 7 8 9 10 11 12 13
  b_bucket{le="2", x="a"} 0 1 NaN 3 4 5 6 7 8 9 10 11 12
  b_bucket{le="+Inf", x="a"} 5 5 5 5 5 5 5 5 5 5 5 5 5
  b_bucket{le="1.0", x="b"} 1+1x12
  b_bucket{le="1", x="b"} 1+1x12
  b_bucket{le="+Inf", x="b"} 10+2x12
  b_bucket{le="0", x="c"} 1 1 1 1 1 1 1 1 1 1 1 1 1
  b_bucket{le="+Inf", x="c"} 2 2 2 2 2 2 2 2 2 2 2 2 2
"""
E3 = []
for fn in ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "round",
           "deg", "rad", "sin", "atanh", "acosh"]:
    E3.append(f"{fn}(s)")
E3 += ["round(s, 2)", "round(s, 0.5)", "round(s, -1)", "clamp(s, -1, 1)", "clamp_min(s, 0)",
       "clamp_max(s, 0)", "-s", "s % 0", "s ^ -s", "s == bool s", "s != s", "s > -Inf",
       "s atan2 s", "s / -0", "0 / s", "s - s", "s * 0"]
for agg in ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]:
    E3 += [f"{agg}(s)", f"{agg} by (i) (s)"]
E3 += [f"quantile({q}, s)" for q in ["-1", "0", "0.5", "1", "2", "NaN"]]
E3 += ["topk(2, s)", "bottomk(2, s)", 'count_values("v", s)', 'count_values("v", -s)']
E3 += [f"histogram_quantile({q}, b_bucket)" for q in ["0", "0.1", "0.5", "0.9", "1"]]
E3 += ["histogram_quantile(0.5, rate(b_bucket[1m]))", "histogram_quantile(0.8, b_bucket offset 1m)",
       "histogram_quantile(0.5, sum by (le) (b_bucket))", "histogram_quantile(0.7, sum without (x) (rate(b_bucket[2m])))",
       "histogram_quantile(scalar(s{i=\"3\"}), b_bucket)", "histogram_quantile(0.5, -b_bucket)"]
for f in ["rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets",
          "avg_over_time", "sum_over_time", "min_over_time", "max_over_time",
          "stddev_over_time", "stdvar_over_time", "last_over_time"]:
    E3 += [f"{f}(s[1m])", f"{f}(s[2m])"]
E3 += ["quantile_over_time(0.5, s[2m])", "quantile_over_time(1, s[1m])",
       "predict_linear(s[2m], 60)", "holt_winters(s[2m], 0.5, 0.5)",
       'label_replace(s, "z", "$1${1}x$0", "i", "([0-9])")', 'label_replace(s, "i", "", "i", "1")',
       'absent(s{i=~"9"})', "max_over_time(deriv(s[1m:10s])[2m:30s])", "timestamp(s offset 30s)",
       "s @ start()", "rate(s[1m] @ end())"]
# (No time where topk/bottomk would face ties: Prometheus breaks them by storage order.)
DATASETS.append((LOAD3, E3, ["30s", "1m", "2m", "3m", "4m", "5m30s", "6m"]))

# Data set 4: staleness and timing (stale markers, gaps, lookback expiry, odd
# offsets, @ with fractions, subquery alignment).
LOAD4 = """load 15s
  st{i="1"} 1 2 stale 4 5 stale stale 8 9 10 stale _ 13
  st{i="2"} 0+1x5 _x3 9+1x4
  st{i="3"} stale 1 stale 2 stale 3 stale 4 stale 5 stale 6 stale
"""
E4 = ["st", "st offset 20s", "st offset -20s", "st @ 45", "st @ 45.5", "timestamp(st)",
      "timestamp(st offset 7s)", "absent_over_time(st[10s])", "present_over_time(st[10s])",
      "count_over_time(st[20s])", "last_over_time(st[1m])", "changes(st[1m])",
      "max_over_time(st[30s:7s] offset 8s)", "sum_over_time(st[1m:15s] @ 90)",
      "avg_over_time((st * 2)[1m:20s])", "min_over_time(timestamp(st)[1m:10s])",
      "count_over_time(st[2m:1s])", "last_over_time(st[40s:13s])", "count(st)",
      "sum by (i) (st offset 1m)"]
for f in ["rate", "increase", "delta", "irate", "idelta", "resets", "deriv"]:
    E4 += [f"{f}(st[30s])", f"{f}(st[1m])", f"{f}(st[45s:5s])", f"{f}(st[1m] offset 15s)"]
DATASETS.append((LOAD4, E4, ["10s", "35s", "45s", "1m", "1m37s", "2m", "2m30s", "6m", "8m"]))

# Data set 5: expression forms (nesting, precedence, bool chains, group_right
# with include labels, set operators on computed vectors, nested subqueries).
LOAD5 = """load 20s
  a{x="1", y="p"} 1 3 NaN 7 9 11 -13 15 17 19
  a{x="2", y="p"} 2 4 6 8 Inf 12 14 16 18 20
  a{x="3", y="q"} 0 0 1 1 2 2 3 3 4 4
  b{x="1"} 10 10 10 10 10 10 10 10 10 10
  b{x="2"} 0 1 0 1 0 1 0 1 0 1
  b{x="3"} -1 -2 -3 -4 -5 -6 -7 -8 -9 -10
"""
E5 = ["a + b", "a - on(x) b", "b - on(x) group_right(y) a", "a * ignoring(y) b",
      "a > b", "a >= bool b", "b < a", "b <= bool a == bool 1", "a / b > 0.5",
      "(a and b > 0) or a * 100", "a unless b < 0", "a or b", "b or a",
      "-a ^ 2", "-(a ^ 2)", "2 ^ 3 ^ 2", "a % b", "a atan2 b", "b != a",
      "sum by (y) (a) / on(y) group_left count by (y) (a)",
      "max by (y) (a) - ignoring(x) group_right min by (x, y) (a)",
      "avg(a) + avg(b)", "sum(a > 5)", "count(a != a)", "count(a == a)",
      "quantile(0.5, a)", "quantile by (y) (0.9, a)", "stddev(b)", "stdvar by (x) (a)",
      "max_over_time(max_over_time(a[40s:20s])[1m:20s])",
      "rate(sum by (x) (a)[1m:20s])", "deriv((a - b)[1m:10s])",
      "avg_over_time(a[1m] offset -20s)", "sum_over_time(b[1m:15s] offset -30s)",
      "absent(a{x=\"9\"} > 1)", "absent(sum(nonexistent))", "vector(1) and on() a",
      "scalar(b{x=\"1\"}) * a", "a * scalar(b)", "time() + a * 0",
      "timestamp(a > 5)", "last_over_time(a[1m]) / 2", "changes(b[2m])",
      "sort_desc(a) + 0", "topk(2, a - b)", "bottomk(1, b)", "count_values(\"val\", b)",
      "label_replace(a, \"y\", \"$1\", \"x\", \"(.*)\") + 0",
      "group by (y) (a)", "count without (x) (a)", "sum without (x, y) (a)",
      "min(a) by (y)", "max by () (a)",
      'label_replace(a, "__name__", "new_$1", "x", "(.*)")',
      'label_join(a, "__name__", "_", "y", "x")', 'label_replace(b, "x", "", "x", "1")',
      "sum by (__name__) ({__name__=~\"a|b\"})", "count by (__name__, y) ({__name__=~\"a|b\"})",
      "a + on(x) group_left(__name__) b", "{__name__=~\"a|b\"} > on(x, __name__) group_left a"]
DATASETS.append((LOAD5, E5, ["0s", "20s", "40s", "1m", "1m40s", "2m", "2m20s", "3m"]))


def tessera_answers(tessera, workdir, load, exprs, times):
    path = f"{workdir}/diff.test"
    evs = [(e, t) for e in exprs for t in times]
    with open(path, "w") as f:
        f.write(load + "\n")
        for e, t in evs:
            f.write(f'eval instant at {t} {e}\n  {{__impossible__="x"}} 0\n\n')
    out = subprocess.run([tessera, "promql-test", path], capture_output=True, text=True).stdout
    res = {}
    for b in re.split(r"\n(?=\S+diff\.test:\d+: )", out):
        m = re.match(r"\S+diff\.test:\d+: eval instant at (\S+) (.*?): (.*)", b)
        if not m or (m.group(2), m.group(1)) in res:
            continue
        key = (m.group(2), m.group(1))
        if "  actual:" not in b:
            em = re.match(r"error: (.*)", m.group(3))
            res[key] = ("error", em.group(1) if em else m.group(3))
            continue
        samples = []
        first = b.split("  actual:")[1].split("\n")[0].strip()
        if first.startswith("scalar "):
            samples.append(("{}", first.split()[1]))
        for line in b.split("  actual:")[1].split("\n")[1:]:
            line = line.strip()
            mm = re.match(r"^(\{.*\}) (\S+)$", line)
            if mm:
                samples.append((mm.group(1), mm.group(2)))
        res[key] = samples
    return evs, res


def dur_ms(s):
    """A Prometheus duration ("1h1m", "0s", "61m") in ms, to compare times."""
    units = {"y": 31536000000, "w": 604800000, "d": 86400000, "h": 3600000, "m": 60000,
             "s": 1000, "ms": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", s))


def yaml_num(s):
    low = s.lower().lstrip("+")
    return {"inf": ".inf", "-inf": "-.inf"}.get(low, s)


def parse_samples(s):
    out = {}
    for m in re.finditer(r"(\{[^}]*\}) (\S+?)(?:,|$)", s.strip()):
        v = m.group(2).lower()
        out[m.group(1)] = float("inf") if v == "+inf" else float("-inf") if v == "-inf" else float(v)
    return out


def add_upstream(folder):
    """Adds each load block of Prometheus' own test files, with the expressions of
    the evals that follow it, at the times those evals use plus a few more (topk and
    bottomk are left out: at the extra times their inputs tie, and Prometheus breaks
    ties by storage order)."""
    for path in sorted(glob.glob(os.path.join(folder, "*.test"))):
        cur = None
        lines = [l.strip() for l in open(path)]
        i = 0
        while i < len(lines):
            l = lines[i]
            if l.startswith("load"):
                blk = [l]
                j = i + 1
                while j < len(lines) and lines[j] and not lines[j].startswith("#"):
                    blk.append("  " + lines[j])
                    j += 1
                cur = ("\n".join(blk) + "\n", set(), {"1m", "7m", "33m", "61m"})
                DATASETS.append(cur)
                i = j
                continue
            if l == "clear":
                cur = None
            m = re.match(r"^eval(?:_ordered)? instant at (\S+) (.*)$", l)
            if m and cur is not None and not re.search(r"\b(topk|bottomk)\b", m.group(2)):
                cur[1].add(m.group(2))
                cur[2].add(m.group(1))
            i += 1


def main():
    tessera, promtool, workdir = sys.argv[1:4]
    if len(sys.argv) > 4 and os.path.isdir(sys.argv[4]):
        add_upstream(sys.argv[4])
    checked = skipped = real = nan_checked = failed_both = 0
    for n, (load, exprs, times) in enumerate(DATASETS):
        if not exprs:
            continue
        evs, res = tessera_answers(tessera, workdir, load, sorted(exprs), sorted(times))
        tests = []
        errors = {}
        for e, t in evs:
            if (e, t) not in res:
                print(f"no answer from tessera for {e} at {t}")
                real += 1
                continue
            r = res[(e, t)]
            q = e.replace("'", "''")
            if isinstance(r, tuple):
                # tessera failed: Prometheus must fail too (an impossible expectation
                # makes promtool print either its error or its answer).
                errors[(e, dur_ms(t))] = r[1]
                tests.append(f"      - expr: '{q}'\n        eval_time: {t}\n        exp_samples:\n"
                             f"          - labels: '{{__tessera_error__=\"1\"}}'\n            value: 0")
                continue
            if any(v.lower() == "nan" for _, v in r):
                stripped = [re.sub(r'__name__="[^"]*",? ?', "", l).replace(", }", "}") for l, _ in r]
                if len(set(stripped)) != len(stripped):
                    skipped += 1  # series differ only by name: (E) != bool (E) cannot match them
                    continue
                # promtool never finds NaN equal to NaN, so compare where the NaNs are
                # instead: (E) != bool (E) is 1 exactly for NaN (and drops the name).
                q = f"({q}) != bool ({q})"
                r = [(re.sub(r'__name__="[^"]*",? ?', "", l).replace(", }", "}"),
                      "1" if v.lower() == "nan" else "0") for l, v in r]
                nan_checked += 1
            if r:
                ex = "\n".join(f"          - labels: '{l}'\n            value: {yaml_num(v)}"
                               for l, v in r)
                tests.append(f"      - expr: '{q}'\n        eval_time: {t}\n        exp_samples:\n{ex}")
            else:
                tests.append(f"      - expr: '{q}'\n        eval_time: {t}\n        exp_samples: []")
        checked += len(tests)
        series = "\n".join(f"      - series: '{l.split()[0]}'\n        values: '{' '.join(l.split()[1:])}'"
                           for l in load.strip().split("\n")[1:])
        step = load.split()[1]
        yml = (f"rule_files: []\nevaluation_interval: {step}\ntests:\n  - interval: {step}\n"
               f"    input_series:\n{series}\n    promql_expr_test:\n" + "\n".join(tests) + "\n")
        ypath = f"{workdir}/diff{n}.yml"
        with open(ypath, "w") as f:
            f.write(yml)
        p = subprocess.run([promtool, "test", "rules", ypath], capture_output=True, text=True)
        out = p.stdout + p.stderr
        for m in re.finditer(r"expr: \"(.*?)\", time: (\S+), err: (.*)", out):
            key = (m.group(1).replace('\\"', '"'), dur_ms(m.group(2)))
            if key in errors:
                failed_both += 1
                msg = errors.pop(key)
                if msg != m.group(3):
                    print(f"error text differs for {key[0]} at {m.group(2)}:\n  tessera:    "
                          f"{msg}\n  prometheus: {m.group(3)}")
                continue
            print(f"promtool failed where tessera answered: {m.group(1)} at {m.group(2)}: {m.group(3)}")
            real += 1
        for (e, t), msg in errors.items():
            print(f"tessera failed where Prometheus answered: {e} at {t}: {msg}")
            real += 1
        for m in re.finditer(r"expr: \"(.*?)\", time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)", out):
            e, t, exp, got = m.groups()
            if "__tessera_error__" in exp:
                continue  # reported above as "tessera failed where Prometheus answered"
            a, b = parse_samples(exp), parse_samples(got)
            bad = set(a) != set(b) or any(
                a[k] != b[k] and abs(a[k] - b[k]) > 1e-9 * (abs(a[k]) + abs(b[k])) for k in a)
            if bad:
                real += 1
                print(f"MISMATCH {e} at {t}\n  tessera:    {exp}\n  prometheus: {got}")
    print(f"{checked} answers compared with promtool ({nan_checked} of them by NaN "
          f"positions, {failed_both} errors in both, {skipped} not comparable), "
          f"{real} differences")
    sys.exit(1 if real else 0)


main()
