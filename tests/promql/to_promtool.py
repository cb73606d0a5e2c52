#!/usr/bin/env python3
"""Converts tessera's PromQL .test files into a `promtool test rules` file, so
the expected values can be checked against real Prometheus (promtool 2.42):

    tests/promql/to_promtool.py OUTDIR tests/promql/*.test   # prints the files written
    promtool test rules OUTDIR/*.yml

Only `eval instant` (and eval_ordered, compared unordered) are converted;
eval_fail has no promtool equivalent and is skipped, and so are evals that
expect NaN (promtool compares exactly, and NaN != NaN).  Each load block with the
evals after it becomes one file, whose evaluation_interval is the load step
(promtool steps through time at that interval up to the last eval time).
"""
import json
import os
import re
import sys


def num(s):
    """A YAML float token (YAML spells NaN and infinities .nan, .inf)."""
    low = s.lower().lstrip("+")
    if low == "nan":
        return "@@.nan@@"
    if low == "inf":
        return "@@.inf@@"
    if low == "-inf":
        return "@@-.inf@@"
    return float(s)


def main():
    outdir = sys.argv[1]
    groups = []
    for path in sys.argv[2:]:
        lines = [l.strip() for l in open(path)]
        lines = ["" if l.startswith("#") else l for l in lines]
        i = 0
        cur = None
        while i < len(lines):
            l = lines[i]
            if not l:
                i += 1
                continue
            j = i + 1
            while j < len(lines) and lines[j]:
                j += 1
            body = lines[i + 1:j]
            if l.startswith("load "):
                cur = {"interval": l.split()[1], "input_series": [], "promql_expr_test": []}
                groups.append(cur)
                for b in body:
                    m = re.match(r"^(\S*\{[^}]*\}|\S+)\s+(.*)$", b)
                    cur["input_series"].append({"series": m.group(1), "values": m.group(2)})
            elif l == "clear":
                cur = None
            elif l.startswith("eval instant") or l.startswith("eval_ordered instant"):
                m = re.match(r"^\S+ instant at (\S+) (.*)$", l)
                exp = []
                for b in body:
                    mm = re.match(r"^(\S*\{[^}]*\}|\S+)\s+(\S+)$", b)
                    if mm:
                        exp.append({"labels": mm.group(1), "value": num(mm.group(2))})
                    else:
                        exp.append({"labels": "{}", "value": num(b)})
                if any(e["value"] == "@@.nan@@" for e in exp):
                    i = j  # promtool never finds NaN equal to NaN: not checkable there
                    continue
                cur["promql_expr_test"].append(
                    {"expr": m.group(2), "eval_time": m.group(1), "exp_samples": exp})
            i = j
    for n, g in enumerate(groups):
        if not g["promql_expr_test"]:
            continue
        doc = {"rule_files": [], "evaluation_interval": g["interval"], "tests": [g]}
        out = re.sub(r'"@@(.*?)@@"', r"\1", json.dumps(doc, indent=1))
        name = os.path.join(outdir, "group%03d.yml" % n)
        with open(name, "w") as f:
            f.write(out + "\n")
        print(name)


main()
