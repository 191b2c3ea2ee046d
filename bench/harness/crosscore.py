"""Cross-core: messages per second and round trips between two reactors of a Runtime (the runtime issue), with
bench/cross_core_bench, which measures a mutex + condition-variable queue between two plain threads on the same
CPUs in the same run. Targets (runtime issue): batched throughput >= 5x the textbook queue; round trip in spin
mode >= 5x faster than the condition variable's."""

import json
import os

from . import proc, stats, table

NAME = "crosscore"
TITLE = "Cross-core messages between reactors"
RFARM = ["runtime-eventfd", "runtime-msg_ring", "runtime-spin"]
PEERS = ["mutex-cv", "mutex-cv-batch"]


def settings(ctx):
    return ctx.pick(full={"messages": 2000000, "round_trips": 10000, "batch": 256},
                    quick={"messages": 300000, "round_trips": 2000, "batch": 256},
                    smoke={"messages": 20000, "round_trips": 200, "batch": 256})


def estimate(ctx):
    s = settings(ctx)
    return 2 * (ctx.reps * 5 * (s["messages"] / 2e6 + s["round_trips"] * 150e-6) + 1)


def run(ctx, result):
    s = settings(ctx)
    exe = ctx.exe("bench/cross_core_bench")
    if not exe:
        ctx.skip(result, None, "not built yet: bench/cross_core_bench (the runtime's cross-core benchmark)")
        return
    result["config"] = dict(s, reps=ctx.reps)
    backends = ["epoll"] if ctx.smoke else ["epoll", "uring"]
    t = table.new("", RFARM, PEERS)
    for backend in backends:
        ctx.progress.step("cross_core_bench %s (%d reps, interleaved inside)" % (backend, ctx.reps),
                          ctx.reps * 5 * (s["messages"] / 2e6 + s["round_trips"] * 150e-6) + 1)
        path = os.path.join(ctx.tmp, "cross-core-%s.json" % backend)
        # It pins its two sides to the first two CPUs itself.
        status, out, err = proc.run([exe, "--messages", str(s["messages"]), "--batch", str(s["batch"]),
                                     "--round-trips", str(s["round_trips"]), "--reps", str(ctx.reps),
                                     "--backend", backend, "--json", path], timeout=900)
        if status != 0:
            result["errors"].append("cross_core_bench %s: exit %s: %s" % (backend, status, proc.last_line(err or out)))
            ctx.progress.note("crosscore: %s FAILED: %s" % (backend, proc.last_line(err or out)))
            continue
        with open(path) as f:
            r = json.load(f)
        r["backend_asked"] = backend
        result["measurements"].append(r)
        tp, rt = r.get("throughput_msgs_per_s", {}), r.get("round_trip_us", {})
        cells = {n: stats.summary(x["msgs_per_s"] for x in v.get("runs", [])) for n, v in tp.items()}
        table.add_row(t, "%s, batch %d" % (r.get("backend", backend), s["batch"]), "msgs/s", "higher", cells,
                      target={"text": "≥ 5× mutex-cv", "peers": ["mutex-cv"], "factor": 5, "cmp": "ge",
                              "rfarm": "runtime-msg_ring" if "runtime-msg_ring" in cells else "runtime-eventfd"})
        cells = {n: stats.summary(x["cpu_ns_per_msg"] for x in v.get("runs", [])) for n, v in tp.items()}
        table.add_row(t, "%s, batch %d" % (r.get("backend", backend), s["batch"]), "CPU ns/msg", "lower", cells)
        cells = {n: stats.summary(x["p50"] for x in v.get("runs", [])) for n, v in rt.items()}
        table.add_row(t, "%s, round trip" % r.get("backend", backend), "p50 µs", "lower", cells,
                      target={"text": "spin ≥ 5× faster than mutex-cv", "peers": ["mutex-cv"], "factor": 0.2,
                              "cmp": "le", "rfarm": "runtime-spin"})
        cells = {n: stats.summary(x["p99"] for x in v.get("runs", [])) for n, v in rt.items()}
        table.add_row(t, "%s, round trip" % r.get("backend", backend), "p99 µs", "lower", cells)
    t["note"] = ("runtime-eventfd / runtime-msg_ring: both reactors sleep between batches and are woken through an "
                 "eventfd or IORING_OP_MSG_RING; runtime-spin polls for up to 1 ms before sleeping. CPU is the whole "
                 "process's per message.")
    result["tables"].append(t)
