"""Faults: issue 15's fault-injection cases at full size (100,000 tasks per case and backend) through
bench/faults.py, in the test build (build/ by default; the release build has no tests). Full runs only: the
default test suite already runs every case with 10,000 tasks. The figures are tasks lost (target 0), duplicates
delivered, resubmitted attempts (the bound on duplicate executions) and the time per case."""

import json
import os

from . import proc, stats, table

NAME = "faults"
TITLE = "Fault injection (loss, partition, kill -9 and restart, client killed)"
TASKS = int(os.environ.get("RFARM_FAULT_TASKS", "100000"))


def estimate(ctx):
    return 0 if ctx.quick else 120


def run(ctx, result):
    if ctx.quick:
        ctx.skip(result, None, "full mode only (the test suite runs every case with 10,000 tasks)")
        return
    if os.geteuid() != 0:
        ctx.skip(result, None, "needs root (network namespaces, nftables)")
        return
    out_json = os.path.join(ctx.out_dir, "faults.json")
    ctx.progress.step("bench/faults.py --tasks %d" % TASKS, 120)
    status, out, err = proc.run([os.path.join(ctx.repo, "bench", "faults.py"), "--tasks", str(TASKS),
                                 "--json", out_json], timeout=3600)
    try:
        with open(out_json) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {"rows": [], "failures": [proc.last_line(err or out)]}
    result["config"] = {"tasks_per_case": TASKS}
    t = table.new("", ["rfarm"], [])
    for r in data["rows"]:
        result["measurements"].append(r)
        label = "%s/%s" % (r["fault"], r["backend"])
        table.add_row(t, label, "tasks lost", "lower", {"rfarm": stats.summary([int(r["lost"])])},
                      target={"value": 0, "cmp": "le", "text": "0 lost"})
        table.add_row(t, label, "resubmitted (bound on duplicates)", "lower",
                      {"rfarm": stats.summary([int(r["resubmitted"])])})
        table.add_row(t, label, "seconds", "lower", {"rfarm": stats.summary([float(r["seconds"])])})
    result["errors"].extend(data.get("failures", []))
    if status != 0 and not result["errors"]:
        result["errors"].append("bench/faults.py: exit %s: %s" % (status, proc.last_line(err or out)))
    t["note"] = "%d tasks per case; real farm-server processes; loss and partition with nftables in namespaces." % TASKS
    result["tables"].append(t)
