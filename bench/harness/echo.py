"""TCP echo: rfarm (epoll and io_uring, one core and two) against hand-written epoll, liburing, libuv, libevent
and Asio servers, 64 B and 4 KiB messages, 1 to 10,000 connections.

Each measurement is bench/run_echo_bench.py's: a fresh server pinned to CPU 0, bench/echo_load pinned to CPU 1
(closed loop, ramped connections, warm-up, measured window), server CPU from its schedstat. The primary figure is
server CPU per message; with --counters perf's user instructions and cycles per message are added (this needs a
PMU; bench/run says when there is none).
"""

import argparse
import os

import run_echo_bench as reb

from . import common, plot, table

NAME = "echo"
TITLE = "TCP echo"

RFARM = ["rfarm-epoll", "rfarm-uring", "rfarm-epoll-2c", "rfarm-uring-2c"]
PEERS = ["raw-epoll", "raw-epoll-recv", "raw-uring", "libuv", "libevent", "asio"]
MULTI_CORE = {"rfarm-epoll-2c", "rfarm-uring-2c"}

# Servers run_echo_bench.py does not know: registered here so its measure() starts them like the others.
reb.SERVERS.setdefault("libevent", ("bench/libevent_echo", [], False))
reb.SERVERS.setdefault("asio", ("bench/asio_echo", [], False))
# Two cores: the runtime's sharded echo server (SO_REUSEPORT, one reactor per core).
reb.SERVERS.setdefault("rfarm-epoll-2c", ("bench/sharded_echo_server", ["--threads", "2", "--backend", "epoll"], False))
reb.SERVERS.setdefault("rfarm-uring-2c", ("bench/sharded_echo_server", ["--threads", "2", "--backend", "uring"], False))

WHY_MISSING = {
    "libevent": "libevent-dev", "asio": "libasio-dev", "libuv": "libuv1-dev",
}
TARGET = {"text": "rfarm-epoll ≤ 0.95× best of raw-epoll, libuv", "peers": ["raw-epoll", "libuv"], "factor": 0.95,
          "cmp": "le", "rfarm": "rfarm-epoll"}


def settings(ctx):
    return ctx.pick(
        full={"sizes": [64, 4096], "conns": [1, 100, 1000, 10000], "servers": RFARM + PEERS,
              "duration": 2.0, "warmup": 0.5},
        quick={"sizes": [64], "conns": [100, 1000], "servers": ["rfarm-epoll", "rfarm-uring", "raw-epoll", "libuv"],
               "duration": 1.0, "warmup": 0.3},
        smoke={"sizes": [64], "conns": [10], "servers": ["rfarm-epoll", "raw-epoll"], "duration": 0.3, "warmup": 0.1})


def one_estimate(s, conns):
    return s["warmup"] + s["duration"] + 0.8 + 0.0004 * conns


def estimate(ctx):
    s = settings(ctx)
    return sum(one_estimate(s, c) * len(s["servers"]) * ctx.reps for _ in s["sizes"] for c in s["conns"])


def available(ctx, result, names):
    out = []
    for name in names:
        rel = reb.SERVERS[name][0]
        if ctx.exe(rel):
            out.append(name)
        elif name in MULTI_CORE:
            ctx.skip(result, name, "not built yet: %s (the runtime's multi-core echo server)" % rel)
        elif name in WHY_MISSING and ctx.package_missing(WHY_MISSING[name]):
            ctx.skip(result, name, ctx.package_missing(WHY_MISSING[name]))
        else:
            ctx.skip(result, name, "not built: %s" % rel)
    return out


def run(ctx, result):
    s = settings(ctx)
    echo_load = ctx.exe("bench/echo_load")
    if not echo_load:
        ctx.skip(result, None, "not built: bench/echo_load")
        return
    servers = available(ctx, result, s["servers"])
    result["config"] = {"sizes": s["sizes"], "conns": s["conns"], "duration_s": s["duration"],
                        "warmup_s": s["warmup"], "servers": servers, "reps": ctx.reps,
                        "pinning": "server CPU %s (two-core servers unpinned: they pin their own reactors to CPUs "
                                   "0 and 1), echo_load CPU %s" % (ctx.server_cpu, ctx.client_cpu)}
    counters_error = None
    for size in s["sizes"]:
        for conns in s["conns"]:
            for rep in range(ctx.reps):
                for name in common.rotated(servers, rep):
                    ctx.progress.step("%s %d B C=%d rep %d/%d" % (name, size, conns, rep + 1, ctx.reps),
                                      one_estimate(s, conns))
                    args = argparse.Namespace(
                        build_dir=ctx.build_dir, size=size, duration=s["duration"], warmup=s["warmup"],
                        echo_load=echo_load, client_cpu=ctx.client_cpu, counters=ctx.counters,
                        server_cpu=None if name in MULTI_CORE else ctx.server_cpu,
                        taskset=ctx.server_cpu is not None)
                    m = reb.measure(args, name, conns)
                    m.update({"rep": rep, "size": size})
                    m.pop("human", None)
                    result["measurements"].append(m)
                    if "error" in m:
                        result["errors"].append("%s %d B C=%d rep %d: %s" % (name, size, conns, rep, m["error"]))
                        ctx.progress.note("echo: %s %d B C=%d FAILED: %s" % (name, size, conns, m["error"]))
                    if m.get("counters_error"):
                        counters_error = m["counters_error"]
    ctx.shared["echo"] = result["measurements"]
    if ctx.counters and counters_error:
        result["notes"].append("--counters: %s. The instruction counts per message need a PMU; on a machine "
                               "without one, bench/run_echo_bench.py's callgrind mode counts them." % counters_error)
    summarize(ctx, result, servers, s)


def summarize(ctx, result, servers, s):
    ms = result["measurements"]
    rfarm = [n for n in RFARM if n in servers]
    peers = [n for n in PEERS if n in servers]
    t = table.new("", rfarm, peers)
    for size in s["sizes"]:
        for conns in s["conns"]:
            case = "%d B, C=%d" % (size, conns)
            table.add_row(t, case, "server CPU µs/msg", "lower",
                          common.cells(ms, servers, "server_cpu_us_per_msg", size=size, conns=conns),
                          target=TARGET if conns >= 100 else None)
            table.add_row(t, case, "msgs/s", "higher", common.cells(ms, servers, "msgs_per_s", size=size, conns=conns))
            if conns == 1:
                table.add_row(t, case, "round trip p50 µs", "lower",
                              common.cells(ms, servers, "rtt_us.p50", size=size, conns=conns), headline=True)
                table.add_row(t, case, "round trip p99 µs", "lower",
                              common.cells(ms, servers, "rtt_us.p99", size=size, conns=conns))
            if ctx.counters:
                table.add_row(t, case, "user instructions/msg", "lower",
                              common.cells(ms, servers, "counters.instr_user", size=size, conns=conns))
    t["note"] = ("Server CPU per message is the primary figure: it comes from the server's own accounting, so the "
                 "load generator and other jobs disturb it least. msgs/s measures the pair (server and echo_load "
                 "share the machine's two cores) and whatever else ran. Two-core servers (-2c) share CPU 1 with "
                 "the client, so on this machine they show the cost of spreading, not a speed-up.")
    result["tables"].append(t)
    for size in s["sizes"]:
        for path, label, fname in (("server_cpu_us_per_msg", "server CPU µs per message", "cpu"),
                                   ("msgs_per_s", "messages per second", "throughput")):
            series = [(n, n in RFARM, [(c, common.cells(ms, [n], path, size=size, conns=c).get(n))
                                       for c in s["conns"]]) for n in servers]
            f = plot.lines(os.path.join(ctx.out_dir, "echo-%s-%dB.png" % (fname, size)),
                           "TCP echo, %d B messages: %s" % (size, label), "connections", label, series,
                           logx=True, logy=(fname == "throughput"))
            plot.record(result, ctx, f, "TCP echo %d B: %s against connections" % (size, label))
    lowest = min(s["conns"])
    groups = [(p, common.cells(ms, servers, "rtt_us." + p, size=s["sizes"][0], conns=lowest))
              for p in ("p50", "p90", "p99")]
    f = plot.bars(os.path.join(ctx.out_dir, "echo-latency.png"),
                  "TCP echo round trip, %d B, C=%d (µs)" % (s["sizes"][0], lowest), "µs", groups, servers, RFARM, logy=True)
    plot.record(result, ctx, f, "TCP echo round-trip percentiles at C=%d" % lowest)
