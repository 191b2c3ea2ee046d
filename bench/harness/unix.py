"""Unix stream sockets: ping-pong (one connection, one 64-byte message in flight) and 100 connections, rfarm's
echo-server on both backends against the hand-written epoll echo (read/write and recv/send), with
bench/echo_load connecting to the socket path."""

import json
import os

from . import common, proc, table

NAME = "unix"
TITLE = "Unix stream ping-pong"
RFARM = ["rfarm-epoll", "rfarm-uring"]
PEERS = ["raw-epoll", "raw-epoll-recv"]
ARGV = {"rfarm-epoll": ("tools/echo-server", ["--backend", "epoll"]),
        "rfarm-uring": ("tools/echo-server", ["--backend", "uring"]),
        "raw-epoll": ("bench/raw_epoll_echo", []), "raw-epoll-recv": ("bench/raw_epoll_echo", ["--recv-send"])}


def settings(ctx):
    return ctx.pick(full={"conns": [1, 100], "duration": 2.0, "warmup": 0.5},
                    quick={"conns": [1], "duration": 1.0, "warmup": 0.3},
                    smoke={"conns": [1], "duration": 0.3, "warmup": 0.1})


def estimate(ctx):
    s = settings(ctx)
    return len(s["conns"]) * len(ARGV) * ctx.reps * (s["duration"] + s["warmup"] + 1.0)


def measure(ctx, echo_load, name, conns, s, rep):
    rel, extra = ARGV[name]
    path = os.path.join(ctx.tmp, "unix-%s-%d-%d.sock" % (name, conns, rep))
    m = {"server": name, "conns": conns, "size": 64}
    svc = proc.Service(ctx.server_argv([ctx.exe(rel), "--listen", "unix:" + path] + extra))
    try:
        with svc.measuring(m, errors=(RuntimeError, ValueError)):
            addr = svc.start()
            status, out, err = proc.run(ctx.client_argv([
                echo_load, "--connect", addr, "--conns", str(conns), "--size", "64", "--duration", str(s["duration"]),
                "--warmup", str(s["warmup"]), "--server-pid", str(svc.pid), "--json"]), timeout=s["duration"] + 40)
            if status != 0:
                m["error"] = "echo_load exit %s: %s%s" % (status, proc.last_line(err or out), svc.stderr_tail())
                return m
            m.update(json.loads(proc.last_line(out)))
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return m


def run(ctx, result):
    s = settings(ctx)
    echo_load = ctx.exe("bench/echo_load")
    if not echo_load:
        ctx.skip(result, None, "not built: bench/echo_load")
        return
    servers = []
    for name, (rel, _) in ARGV.items():
        if ctx.exe(rel):
            servers.append(name)
        else:
            ctx.skip(result, name, "not built: " + rel)
    if ctx.smoke:
        servers = [n for n in servers if n in ("rfarm-epoll", "raw-epoll")]
    result["config"] = {"conns": s["conns"], "duration_s": s["duration"], "warmup_s": s["warmup"], "size": 64,
                        "servers": servers}
    for conns in s["conns"]:
        for rep in range(ctx.reps):
            for name in common.rotated(servers, rep):
                ctx.progress.step("%s C=%d rep %d/%d" % (name, conns, rep + 1, ctx.reps),
                                  s["duration"] + s["warmup"] + 1.0)
                m = measure(ctx, echo_load, name, conns, s, rep)
                m["rep"] = rep
                result["measurements"].append(m)
                if "error" in m:
                    result["errors"].append("%s C=%d rep %d: %s" % (name, conns, rep, m["error"]))
                    ctx.progress.note("unix: %s C=%d FAILED: %s" % (name, conns, m["error"]))
    ms = result["measurements"]
    t = table.new("", [n for n in RFARM if n in servers], [n for n in PEERS if n in servers])
    for conns in s["conns"]:
        case = "64 B, C=%d" % conns
        table.add_row(t, case, "server CPU µs/msg", "lower", common.cells(ms, servers, "server_cpu_us_per_msg", conns=conns),
                      headline=True)
        table.add_row(t, case, "msgs/s", "higher", common.cells(ms, servers, "msgs_per_s", conns=conns))
        table.add_row(t, case, "round trip p50 µs", "lower", common.cells(ms, servers, "rtt_us.p50", conns=conns))
        table.add_row(t, case, "round trip p99 µs", "lower", common.cells(ms, servers, "rtt_us.p99", conns=conns))
    result["tables"].append(t)
