"""Micro: Google Benchmark (Debian libbenchmark-dev) for the pieces each hot path stands on, no I/O: frame
encode/decode and verify and FlexBuffers conversion (bench/micro/farm_codec_bench), timer heap, buffer pool and
cross-core queue (bench/micro/reactor_micro_bench). CPU nanoseconds per operation, each repetition a Google
Benchmark repetition, pinned to the server CPU."""

import json
import os

from . import proc, stats, table

NAME = "micro"
TITLE = "Micro-benchmarks (Google Benchmark)"
PROGRAMS = ["bench/micro/farm_codec_bench", "bench/micro/reactor_micro_bench"]
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def settings(ctx):
    return ctx.pick(full={"min_time": 0.2}, quick={"min_time": 0.05}, smoke={"min_time": 0.01})


def estimate(ctx):
    return len(PROGRAMS) * 12 * ctx.reps * (settings(ctx)["min_time"] * 1.5 + 0.05) + 2


def run(ctx, result):
    s = settings(ctx)
    t = table.new("", ["rfarm"], [])
    for rel in PROGRAMS:
        exe = ctx.exe(rel)
        if not exe:
            ctx.skip(result, os.path.basename(rel), ctx.package_missing("libbenchmark-dev") or "not built: " + rel)
            continue
        ctx.progress.step("%s (%d repetitions)" % (os.path.basename(rel), ctx.reps), 12 * ctx.reps * (s["min_time"] * 1.5 + 0.05))
        path = os.path.join(ctx.tmp, os.path.basename(rel) + ".json")
        status, out, err = proc.run(proc.pin(ctx.server_cpu, [
            exe, "--benchmark_repetitions=%d" % ctx.reps, "--benchmark_min_time=%g" % s["min_time"],
            "--benchmark_out_format=json", "--benchmark_out=" + path]), timeout=600)
        if status != 0:
            result["errors"].append("%s: exit %s: %s" % (rel, status, proc.last_line(err or out)))
            continue
        with open(path) as f:
            data = json.load(f)
        by_name = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration":
                continue
            ns = b["cpu_time"] * UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
            by_name.setdefault(b.get("run_name", b["name"]), []).append(ns)
            result["measurements"].append({"program": rel, "name": b.get("run_name", b["name"]), "cpu_ns": ns,
                                           "iterations": b.get("iterations"),
                                           "items_per_second": b.get("items_per_second")})
        for name, values in by_name.items():
            table.add_row(t, os.path.basename(rel), name + " (CPU ns/op)", "lower", {"rfarm": stats.summary(values)})
    t["note"] = ("One operation is one benchmark iteration (a batch, where the name says so: BM_TimerFire/1024 fires "
                 "1024 timers). No peers here: these are rfarm's own building blocks, for --compare between runs.")
    result["tables"].append(t)
