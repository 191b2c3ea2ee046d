#!/usr/bin/python3
"""The bench suite's own test: `bench/run --quick --smoke` against the build under test, then a check that
results.json and summary.md were written and hold what they promise (every scenario chosen, raw measurements,
one table per scenario with rfarm's column and figures with their spread, skipped peers with a reason).

    bench_smoke_test.py BENCH_RUN BUILD_DIR

Run by `meson test --suite bench` (not part of the default suite: it starts dozens of servers and load
generators pinned to the machine's CPUs, which would disturb the other tests and be disturbed by them)."""

import json
import os
import subprocess
import sys
import tempfile
import time

checks = {"passed": 0, "failed": 0}


def check(ok, what):
    checks["passed" if ok else "failed"] += 1
    print(("ok     " if ok else "FAILED ") + what, flush=True)
    return ok


def main():
    bench_run, build_dir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as out:
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, bench_run, "--quick", "--smoke", "--no-build", "--no-install",
                             "--build-dir", build_dir, "--out", out], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        took = time.monotonic() - t0
        log = cp.stdout.decode(errors="replace")
        print(log)
        check(cp.returncode == 0, "bench/run --quick --smoke exits 0 (took %.0f s)" % took)
        listed = subprocess.run([sys.executable, bench_run, "--list"], stdout=subprocess.PIPE).stdout.decode()
        names = [line.split()[0] for line in listed.splitlines() if line.strip()]
        check(len(names) == 10, "--list names the 10 scenarios: %s" % " ".join(names))
        bad = subprocess.run([sys.executable, bench_run, "no-such-scenario"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        check(bad.returncode == 2 and b"unknown scenario" in bad.stderr, "an unknown scenario is a usage error")

        path = os.path.join(out, "results.json")
        if not check(os.path.exists(path), "results.json written"):
            return 1
        with open(path) as f:
            results = json.load(f)
        meta = results.get("meta", {})
        check(all(k in meta for k in ("date", "host", "command", "commit", "build_type", "loadavg_start",
                                      "loadavg_end", "kernel", "cpus")), "results.json meta is complete")
        scenarios = results.get("scenarios", {})
        check(sorted(scenarios) == sorted(names), "results.json has every scenario")
        for name, sc in scenarios.items():
            check(sc["load"].get("before") and sc["load"].get("after"), "%s: load average before and after" % name)
            for s in sc["skipped"]:
                check(bool(s.get("why")), "%s: skipped %s says why (%s)" % (name, s.get("peer"), s.get("why")))
            measured = [m for m in sc["measurements"] if "error" not in m]
            fully_skipped = any(s["peer"] is None for s in sc["skipped"]) or not sc["tables"]
            if fully_skipped:
                continue
            check(measured, "%s: raw measurements recorded (%d)" % (name, len(measured)))
            rows = [r for t in sc["tables"] for r in t["rows"] if r["cells"]]
            check(rows, "%s: a table with figures" % name)
            check(all(all(k in c for k in ("median", "min", "max", "n")) for r in rows for c in r["cells"].values()),
                  "%s: every cell is a median with its spread" % name)
            if name != "micro":
                check(any(any(c in r["cells"] for c in t["rfarm"]) for t in sc["tables"] for r in t["rows"]),
                      "%s: rfarm measured" % name)
        summary_path = os.path.join(out, "summary.md")
        if check(os.path.exists(summary_path), "summary.md written"):
            text = open(summary_path).read()
            check(text.startswith("# rfarm bench"), "summary.md has its title")
            for name in scenarios:
                check("(`%s`)" % name in text, "summary.md has a section for %s" % name)
            check("| case | figure |" in text and "rfarm / best peer" in text and "| target |" in text,
                  "summary.md tables show rfarm beside the peers, the ratio and the target")
            check("Load average" in text, "summary.md states the load average")
        compare = subprocess.run([sys.executable, bench_run, "--compare", out, "--against", out],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(compare.returncode == 0 and b"figure(s) in both runs" in compare.stdout,
              "--compare of a run with itself works and finds no regression")
    print("bench smoke: %d passed, %d failed" % (checks["passed"], checks["failed"]))
    return 1 if checks["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
