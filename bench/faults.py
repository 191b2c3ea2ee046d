#!/usr/bin/python3
"""bench/faults.py - issue 15's fault-injection cases at full size: 100,000 tasks per case, each backend.

    bench/faults.py                         every case, 100,000 tasks each, in build/ (the test build)
    bench/faults.py --tasks 20000 loss      a subset (restart, loss, partition, client_kill), fewer tasks
    bench/faults.py --json out.json         the rows as JSON as well

Runs test/farm/faults/ (real farm-server processes; loss and partition in network namespaces with nftables, so
as root) with RFARM_FAULT_TASKS set, collects each case's "FAULTS ..." line and prints one table: tasks, received,
lost, duplicates delivered to the caller, executions on the servers (where they survive to count), resubmitted
attempts (the bound on duplicate executions), seconds. Exit status 1 if any task was lost or a case failed.
The default test suite runs the same cases with 10,000 tasks.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CASES = ["restart", "loss", "partition", "client_kill"]
EXECUTABLE = {"restart": "restart", "loss": "packet_loss", "partition": "partition", "client_kill": "client_kill"}
LINE = re.compile(r"^FAULTS (.*)$")
COLUMNS = ["fault", "backend", "tasks", "received", "lost", "duplicates_delivered", "executions", "resubmitted",
           "late_answers_dropped", "wrong", "failed", "seconds"]


def parse_args():
    ap = argparse.ArgumentParser(prog="bench/faults.py", description=__doc__.split("\n")[0])
    ap.add_argument("case", nargs="*", choices=CASES + [[]], help="cases (default: all)")
    ap.add_argument("--tasks", type=int, default=100_000, help="tasks per case (default 100,000)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"), help="a test build (default build/)")
    ap.add_argument("--json", help="also write the rows here")
    return ap.parse_args()


def build(build_dir, targets):
    if not os.path.isdir(os.path.join(build_dir, "meson-private")):
        subprocess.run(["meson", "setup", build_dir, REPO], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", build_dir, "-j2"] + targets, check=True, stdout=subprocess.DEVNULL)


def main():
    args = parse_args()
    cases = args.case or CASES
    b = os.path.abspath(args.build_dir)
    exes = {c: "test/farm/faults/farm_faults_%s_test" % EXECUTABLE[c] for c in cases}
    support = ["tools/farm-server", "examples/tasks/libexample_tasks.so", "test/farm/faults/fault_client"]
    build(b, list(exes.values()) + support)
    env = dict(os.environ, RFARM_FAULT_TASKS=str(args.tasks), RFARM_FARM_SERVER=os.path.join(b, support[0]),
               RFARM_EXAMPLE_TASKS=os.path.join(b, support[1]), RFARM_FAULT_CLIENT=os.path.join(b, support[2]))
    rows, failures = [], []
    for c in cases:
        print("bench/faults: %s, %d tasks per backend ..." % (c, args.tasks), file=sys.stderr, flush=True)
        # Bounded: a case's own waits scale with the task count; this is the backstop.
        try:
            cp = subprocess.run([os.path.join(b, exes[c])], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=600 + args.tasks // 100)
            out, status = cp.stdout.decode(errors="replace"), cp.returncode
        except subprocess.TimeoutExpired as e:
            out, status = (e.stdout or b"").decode(errors="replace"), None
        for line in out.splitlines():
            m = LINE.match(line)
            if m:
                rows.append(dict(kv.split("=", 1) for kv in m.group(1).split()))
        if status != 0:
            failures.append("%s: exit %s\n%s" % (c, status, "\n".join(l for l in out.splitlines()
                                                                         if "Failure" in l or "FAILED" in l)))
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(r.get(k, "") for k in COLUMNS) + " |")
    with open("/proc/loadavg") as f:
        print("\nload average at the end: %s" % " ".join(f.read().split()[:3]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tasks": args.tasks, "rows": rows, "failures": failures}, f, indent=1)
    lost = sum(int(r.get("lost", "0")) for r in rows)
    for f in failures:
        print("FAILED " + f, file=sys.stderr)
    return 1 if failures or lost else 0


if __name__ == "__main__":
    sys.exit(main())
