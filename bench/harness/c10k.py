"""C10K: what a parked connection costs and what a message costs with many connections open, at 1,000, 10,000
and 19,000 connections (the per-process descriptor limit here is 20,000 and cannot be raised).

Memory is bench/idle_memory.py's measurement (resident set growth of the server over N connections that each
echoed one byte, divided by N); CPU per message is bench/run_echo_bench.py's echo measurement at that many
connections; when the echo scenario ran in the same run, its 64-byte measurements at the same connection count are
used rather than taken twice. Target (issue 11): at most 256 bytes of user-space memory per idle connection."""

import argparse
import os
import resource

import idle_memory
import run_echo_bench as reb

from . import common, echo, plot, table

NAME = "c10k"
TITLE = "C10K: idle memory and CPU per message with many connections"
RFARM = ["rfarm-epoll", "rfarm-uring"]
PEERS = ["raw-epoll", "raw-uring", "libuv", "libevent", "asio"]
MEMORY_TARGET = {"value": 256, "cmp": "le", "text": "≤ 256 B per connection (issue 11)"}


def settings(ctx):
    return ctx.pick(full={"conns": [1000, 10000, 19000], "servers": RFARM + PEERS, "duration": 1.5, "warmup": 0.5},
                    quick={"conns": [1000], "servers": ["rfarm-epoll", "rfarm-uring", "raw-epoll", "libuv"],
                           "duration": 1.0, "warmup": 0.3},
                    smoke={"conns": [100], "servers": ["rfarm-epoll", "raw-epoll"], "duration": 0.3, "warmup": 0.1})


def estimate(ctx):
    s = settings(ctx)
    echo_conns = set(echo.settings(ctx)["conns"])  # taken from the echo scenario when it runs too
    return sum(len(s["servers"]) * ctx.reps * (1.5 + 0.0007 * c + (0 if c in echo_conns else
                                                                   s["duration"] + s["warmup"] + 1 + 0.001 * c))
               for c in s["conns"])


def run(ctx, result):
    s = settings(ctx)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns_list = [c for c in s["conns"] if c + 200 <= hard]
    for c in s["conns"]:
        if c not in conns_list:
            ctx.skip(result, None, "%d connections do not fit the open-files limit %d" % (c, hard))
    echo_load = ctx.exe("bench/echo_load")
    servers = echo.available(ctx, result, s["servers"])
    result["config"] = {"conns": conns_list, "servers": servers, "duration_s": s["duration"], "warmup_s": s["warmup"],
                        "memory": "VmRSS growth over N connections that each echoed one byte, / N"}
    for conns in conns_list:
        for rep in range(ctx.reps):
            for name in common.rotated(servers, rep):
                rel, extra, _ = reb.SERVERS[name]
                ctx.progress.step("%s memory C=%d rep %d/%d" % (name, conns, rep + 1, ctx.reps), 1.5 + 0.0006 * conns)
                m = {"server": name, "conns": conns, "rep": rep, "kind": "memory"}
                try:
                    before, after = idle_memory.measure(os.path.join(ctx.build_dir, rel), extra, conns)
                    m.update({"rss_before_kib": before, "rss_after_kib": after,
                              "bytes_per_conn": (after - before) * 1024.0 / conns})
                except (OSError, RuntimeError) as e:
                    m["error"] = str(e)
                result["measurements"].append(m)
                from_echo = [dict(e, kind="echo", taken_in="echo") for e in ctx.shared.get("echo", [])
                             if e.get("server") == name and e.get("conns") == conns and e.get("size") == 64
                             and e.get("rep") == rep]
                if from_echo:
                    result["measurements"].extend(from_echo)
                    continue
                if not echo_load:
                    continue
                ctx.progress.step("%s CPU C=%d rep %d/%d" % (name, conns, rep + 1, ctx.reps),
                                  s["duration"] + s["warmup"] + 1.0 + 0.0004 * conns)
                args = argparse.Namespace(build_dir=ctx.build_dir, size=64, duration=s["duration"], warmup=s["warmup"],
                                          echo_load=echo_load, client_cpu=ctx.client_cpu, counters=False,
                                          server_cpu=ctx.server_cpu, taskset=ctx.server_cpu is not None)
                e = reb.measure(args, name, conns)
                e.pop("human", None)
                e.update({"rep": rep, "kind": "echo"})
                result["measurements"].append(e)
        for m in result["measurements"]:
            if "error" in m and m["conns"] == conns and not m.get("reported") and not m.get("taken_in"):
                m["reported"] = True
                result["errors"].append("%s %s C=%d rep %d: %s" % (m["server"], m["kind"], conns, m["rep"], m["error"]))
                ctx.progress.note("c10k: %s %s C=%d FAILED: %s" % (m["server"], m["kind"], conns, m["error"]))
    ms = result["measurements"]
    t = table.new("", [n for n in RFARM if n in servers], [n for n in PEERS if n in servers])
    for conns in conns_list:
        table.add_row(t, "C=%d" % conns, "idle bytes/connection", "lower",
                      common.cells(ms, servers, "bytes_per_conn", conns=conns, kind="memory"), target=MEMORY_TARGET)
        table.add_row(t, "C=%d" % conns, "server CPU µs/msg (64 B)", "lower",
                      common.cells(ms, servers, "server_cpu_us_per_msg", conns=conns, kind="echo"))
    t["note"] = ("CPU per message at a connection count the echo scenario also ran comes from its measurements. "
                 "Idle bytes are user-space memory only (kernel socket buffers are not in the resident set and are "
                 "alike for every server). Asio's figure includes the 64 KiB session buffer its example design "
                 "keeps per connection, of which only the touched pages count.")
    result["tables"].append(t)
    series = [(n, n in RFARM, [(c, common.cells(ms, [n], "bytes_per_conn", conns=c, kind="memory").get(n))
                               for c in conns_list]) for n in servers]
    f = plot.lines(os.path.join(ctx.out_dir, "c10k-memory.png"), "Idle connections: user-space bytes per connection",
                   "connections", "bytes per connection", series, logx=True, logy=True)
    plot.record(result, ctx, f, "C10K: idle memory per connection")
