"""UDP: round trips with sockperf as the client (ping-pong) against rfarm's datagram echo and sockperf's own
server, and echoed datagrams per second under a flood (sockperf under-load, every message asking for a reply,
bursts of 32) against a raw recvmmsg/sendmmsg echo. rfarm's side is bench/udp_reflect (echo-server's batched
loop, replies with sockperf's client flag cleared, as sockperf's server does: its client drops replies that
still carry it)."""

import os
import re
import shutil

from . import common, plot, proc, table

NAME = "udp"
TITLE = "UDP (sockperf)"
RFARM = ["rfarm-epoll", "rfarm-uring"]
PEERS = ["sockperf-server", "raw-mmsg"]


def settings(ctx):
    return ctx.pick(full={"duration": 3, "size": 64}, quick={"duration": 1, "size": 64},
                    smoke={"duration": 1, "size": 64})


MODES = ("ping-pong", "flood")


def estimate(ctx):
    s = settings(ctx)
    return len(MODES) * len(RFARM + PEERS) * ctx.reps * (s["duration"] + 3.5)  # sockperf takes ~2.5 s to start


def parse_sockperf(text):
    out = {}
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)", text)
    if m:
        out["seconds"], out["sent"], out["received"] = float(m.group(1)), int(m.group(2)), int(m.group(3))
    for p, v in re.findall(r"percentile (50|99)\.000 =\s+([\d.]+)", text):
        out.setdefault("rtt_us", {})["p" + p] = float(v)
    m = re.search(r"# dropped messages = (\d+)", text)
    if m:
        out["dropped"] = int(m.group(1))
    return out


def make_service(ctx, name, sockperf):
    if name.startswith("rfarm-"):
        return proc.Service(ctx.server_argv([ctx.exe("bench/udp_reflect"), "--listen", "udp:127.0.0.1:0",
                                             "--backend", name.split("-")[1]]))
    if name == "raw-mmsg":
        return proc.Service(ctx.server_argv([ctx.exe("bench/udp_mmsg_echo"), "--listen", "udp:127.0.0.1:0",
                                             "--sockperf"]))
    port = proc.free_port(proc.socket.SOCK_DGRAM)
    svc = proc.Service(ctx.server_argv([sockperf, "server", "-i", "127.0.0.1", "-p", str(port)]), address_line=False,
                       ready=lambda: True)
    svc.address = "udp:127.0.0.1:%d" % port
    return svc


def measure(ctx, sockperf, name, mode, s):
    m = {"server": name, "mode": mode}
    svc = make_service(ctx, name, sockperf)
    with svc.measuring(m):
        addr = svc.start() or svc.address
        if name == "sockperf-server":
            import time
            time.sleep(0.3)  # it prints no address; give it its bind
        host, port = addr.split(":", 1)[1].rsplit(":", 1)
        argv = [sockperf, "ping-pong" if mode == "ping-pong" else "under-load", "-i", host, "-p", port,
                "-m", str(s["size"]), "-t", str(s["duration"]), "--full-rtt"]
        if mode == "flood":
            argv += ["--mps=max", "--reply-every=1", "-b", "32"]
        cpu0 = svc.cpu_seconds()
        status, out, err = proc.run(ctx.client_argv(argv), timeout=s["duration"] + 30)
        cpu1 = svc.cpu_seconds()
        m.update(parse_sockperf(out + err))
        if status != 0 or not m.get("received"):
            m["error"] = "sockperf exit %s, %s replies: %s" % (status, m.get("received", 0), proc.last_line(err or out))
            return m
        m["datagrams_per_s"] = m["received"] / m["seconds"]
        # The server's CPU over sockperf's whole run (its warm-up too) per datagram it answered in that run.
        total = re.search(r"\[Total Run\] RunTime=([\d.]+) sec; Warm up time=\d+ msec; SentMessages=(\d+); "
                          r"ReceivedMessages=(\d+)", out + err)
        if total and int(total.group(3)):
            m["server_cpu_us_per_datagram"] = (cpu1 - cpu0) * 1e6 / int(total.group(3))
    return m


def run(ctx, result):
    s = settings(ctx)
    sockperf = shutil.which("sockperf")
    if not sockperf:
        ctx.skip(result, None, ctx.package_missing("sockperf") or "sockperf is not installed")
        return
    servers = []
    for name in RFARM + PEERS:
        rel = {"raw-mmsg": "bench/udp_mmsg_echo"}.get(name, "bench/udp_reflect")
        if name != "sockperf-server" and not ctx.exe(rel):
            ctx.skip(result, name, "not built: " + rel)
        else:
            servers.append(name)
    if ctx.smoke:
        servers = [n for n in servers if n in ("rfarm-epoll", "sockperf-server")]
    result["config"] = {"duration_s": s["duration"], "size": s["size"], "servers": servers,
                        "ping-pong": "sockperf ping-pong --full-rtt (one message in flight)",
                        "flood": "sockperf under-load --mps=max --reply-every=1 -b 32"}
    for mode in MODES:
        for rep in range(ctx.reps):
            for name in common.rotated(servers, rep):
                ctx.progress.step("%s %s rep %d/%d" % (name, mode, rep + 1, ctx.reps), s["duration"] + 3.5)
                m = measure(ctx, sockperf, name, mode, s)
                m["rep"] = rep
                result["measurements"].append(m)
                if "error" in m:
                    result["errors"].append("%s %s rep %d: %s" % (name, mode, rep, m["error"]))
                    ctx.progress.note("udp: %s %s FAILED: %s" % (name, mode, m["error"]))
    ms = result["measurements"]
    t = table.new("", [n for n in RFARM if n in servers], [n for n in PEERS if n in servers])
    case = "ping-pong, %d B" % s["size"]
    table.add_row(t, case, "round trip p50 µs", "lower", common.cells(ms, servers, "rtt_us.p50", mode="ping-pong"), headline=True)
    table.add_row(t, case, "round trip p99 µs", "lower", common.cells(ms, servers, "rtt_us.p99", mode="ping-pong"))
    table.add_row(t, case, "server CPU µs/datagram", "lower",
                  common.cells(ms, servers, "server_cpu_us_per_datagram", mode="ping-pong"))
    case = "flood, bursts of 32, %d B" % s["size"]
    table.add_row(t, case, "echoed datagrams/s", "higher", common.cells(ms, servers, "datagrams_per_s", mode="flood"),
                  headline=True)
    table.add_row(t, case, "server CPU µs/datagram", "lower",
                  common.cells(ms, servers, "server_cpu_us_per_datagram", mode="flood"))
    t["note"] = ("sockperf's round trip includes its own client's cost on the other CPU. Under the flood the client "
                 "sends faster than any server answers and drops count as lost, so datagrams/s is what each server "
                 "got through; CPU per datagram is per datagram answered.")
    result["tables"].append(t)
    groups = [(p, common.cells(ms, servers, "rtt_us." + p, mode="ping-pong")) for p in ("p50", "p99")]
    f = plot.bars(os.path.join(ctx.out_dir, "udp-latency.png"), "UDP ping-pong round trip (µs, sockperf)", "µs",
                  groups, servers, RFARM, logy=True)
    plot.record(result, ctx, f, "UDP ping-pong round-trip percentiles")
