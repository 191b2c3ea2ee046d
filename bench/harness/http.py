"""HTTP/1.1 plaintext keep-alive: tools/http-hello (epoll and io_uring) against nginx (one worker, same response)
and a raw epoll responder, driven by wrk (one thread, pinned to the client CPU) at 100 and 1,000 connections.
Target (issue 14): server CPU per request <= 0.8x nginx's in the same run."""

import os
import re
import shutil

from . import common, nginx, plot, proc, table

NAME = "http"
TITLE = "HTTP/1.1 plaintext keep-alive (wrk)"
RFARM = ["rfarm-epoll", "rfarm-uring"]
PEERS = ["nginx", "raw-epoll-http"]
TARGET = {"text": "≤ 0.8× nginx", "peers": ["nginx"], "factor": 0.8, "cmp": "le"}


def settings(ctx):
    return ctx.pick(full={"conns": [100, 1000], "duration": 3, "warmup": 1},
                    quick={"conns": [100], "duration": 1, "warmup": 0},
                    smoke={"conns": [10], "duration": 1, "warmup": 0})


def estimate(ctx):
    s = settings(ctx)
    return len(s["conns"]) * ctx.reps * len(RFARM + PEERS) * (s["duration"] + s["warmup"] + 1.5)


UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def parse_wrk(text):
    """Requests, requests/s, latency percentiles (µs) and errors from wrk --latency's report."""
    out = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["requests_per_s"] = float(m.group(1))
    for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out.setdefault("latency_us", {})["p" + p] = float(v) * UNITS[unit]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return out


def make_service(ctx, name):
    if name.startswith("rfarm-"):
        return proc.Service(ctx.server_argv([ctx.exe("tools/http-hello"), "--listen", "tcp:127.0.0.1:0",
                                             "--backend", name.split("-")[1]]))
    if name == "nginx":
        return nginx.service(ctx, "nginx-http")
    return proc.Service(ctx.server_argv([ctx.exe("bench/raw_epoll_http"), "--listen", "tcp:127.0.0.1:0"]))


def measure(ctx, wrk, name, conns, s):
    m = {"server": name, "conns": conns}
    svc = make_service(ctx, name)
    with svc.measuring(m):
        addr = svc.start()
        url = "http://%s/" % addr.split(":", 1)[1]
        if s["warmup"]:
            proc.run(ctx.client_argv([wrk, "-t1", "-c%d" % conns, "-d%ds" % s["warmup"], url]), timeout=30)
        cpu0 = svc.cpu_seconds()
        status, out, err = proc.run(ctx.client_argv([wrk, "-t1", "-c%d" % conns, "-d%ds" % s["duration"],
                                                     "--latency", url]), timeout=s["duration"] + 30)
        cpu1 = svc.cpu_seconds()
        if status != 0:
            m["error"] = "wrk exit %s: %s" % (status, proc.last_line(err or out))
            return m
        m.update(parse_wrk(out))
        if not m.get("requests"):
            m["error"] = "wrk reported no requests: %s" % proc.last_line(out)
        elif m.get("non_2xx"):
            m["error"] = "%d responses were not 2xx" % m["non_2xx"]
        else:
            m["server_cpu_us_per_request"] = (cpu1 - cpu0) * 1e6 / m["requests"]
    return m


def run(ctx, result):
    s = settings(ctx)
    wrk = shutil.which("wrk")
    if not wrk:
        ctx.skip(result, None, ctx.package_missing("wrk") or "wrk is not installed")
        return
    servers = []
    for name in RFARM + PEERS:
        if name.startswith("rfarm-") and not ctx.exe("tools/http-hello"):
            ctx.skip(result, name, "not built: tools/http-hello")
        elif name == "nginx" and not nginx.available():
            ctx.skip(result, name, ctx.package_missing("nginx-light") or "nginx is not installed")
        elif name == "raw-epoll-http" and not ctx.exe("bench/raw_epoll_http"):
            ctx.skip(result, name, "not built: bench/raw_epoll_http")
        else:
            servers.append(name)
    if ctx.smoke:
        servers = [n for n in servers if n in ("rfarm-epoll", "raw-epoll-http")]
    result["config"] = {"conns": s["conns"], "duration_s": s["duration"], "warmup_s": s["warmup"],
                        "client": "wrk -t1 (one thread on CPU %s)" % ctx.client_cpu, "servers": servers}
    for conns in s["conns"]:
        for rep in range(ctx.reps):
            for name in common.rotated(servers, rep):
                ctx.progress.step("%s C=%d rep %d/%d" % (name, conns, rep + 1, ctx.reps),
                                  s["duration"] + s["warmup"] + 1.5)
                m = measure(ctx, wrk, name, conns, s)
                m["rep"] = rep
                result["measurements"].append(m)
                if "error" in m:
                    result["errors"].append("%s C=%d rep %d: %s" % (name, conns, rep, m["error"]))
                    ctx.progress.note("http: %s C=%d FAILED: %s" % (name, conns, m["error"]))
    ms = result["measurements"]
    t = table.new("", [n for n in RFARM if n in servers], [n for n in PEERS if n in servers])
    for conns in s["conns"]:
        case = "C=%d" % conns
        table.add_row(t, case, "server CPU µs/request", "lower",
                      common.cells(ms, servers, "server_cpu_us_per_request", conns=conns), target=TARGET)
        table.add_row(t, case, "requests/s", "higher", common.cells(ms, servers, "requests_per_s", conns=conns))
        table.add_row(t, case, "latency p50 µs", "lower", common.cells(ms, servers, "latency_us.p50", conns=conns))
        table.add_row(t, case, "latency p99 µs", "lower", common.cells(ms, servers, "latency_us.p99", conns=conns))
    t["note"] = ("Server CPU per request counts everything the server's processes ran during wrk's window (nginx: "
                 "master and worker), divided by the requests wrk completed.")
    result["tables"].append(t)
    series = [(n, n in RFARM, [(c, common.cells(ms, [n], "server_cpu_us_per_request", conns=c).get(n))
                               for c in s["conns"]]) for n in servers]
    f = plot.lines(os.path.join(ctx.out_dir, "http-cpu.png"), "HTTP plaintext: server CPU µs per request",
                   "connections", "µs per request", series, logx=True)
    plot.record(result, ctx, f, "HTTP plaintext: server CPU per request against connections")
    groups = [("C=%d %s" % (c, p), common.cells(ms, servers, "latency_us." + p, conns=c))
              for c in s["conns"] for p in ("p50", "p99")]
    f = plot.bars(os.path.join(ctx.out_dir, "http-latency.png"), "HTTP plaintext latency (µs)", "µs", groups,
                  servers, RFARM, logy=True)
    plot.record(result, ctx, f, "HTTP plaintext latency percentiles")
