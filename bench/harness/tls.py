"""TLS: handshakes per second (full and resumed) and bulk MiB/s.

Two clients, each used against every server it can talk to, so that no figure compares two clients:
  * bench/tls_bench: rfarm's TlsStream against the textbook blocking OpenSSL program, same certificate, same
    OpenSSL defaults (TLS 1.3, X25519, AES-256-GCM), its own client thread: full and resumed handshakes (it
    reads the session tickets, so resumption really happens) and bulk transfer. CPU is both threads'.
  * `openssl s_time -new`: full handshakes against rfarm's TLS echo-server, nginx with TLS (same certificate)
    and `openssl s_server`; server CPU per handshake from the server's own accounting. (s_time's -reuse does
    not resume TLS 1.3 sessions unless it fetches a page, which an echo server cannot serve, so resumption
    against nginx is not measured.)
"""

import json
import os
import re

from . import common, nginx, proc, table

NAME = "tls"
TITLE = "TLS handshakes and bulk"
RFARM = ["rfarm-epoll", "rfarm-uring"]
BENCH_PEERS = ["openssl-blocking"]
STIME_PEERS = ["nginx", "openssl-s_server"]


def settings(ctx):
    return ctx.pick(full={"handshakes": 1000, "bulk_mib": 256, "stime": 3},
                    quick={"handshakes": 100, "bulk_mib": 32, "stime": 1},
                    smoke={"handshakes": 20, "bulk_mib": 4, "stime": 1})


def estimate(ctx):
    s = settings(ctx)
    per_bench = 2 * (3 * s["handshakes"] / 1000.0 + s["bulk_mib"] / 200.0) + 1
    return ctx.reps * (len(RFARM) * per_bench + len(RFARM + STIME_PEERS) * (s["stime"] + 2.5))


def make_pki(ctx):
    d = os.path.join(ctx.tmp, "tls")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    status, _, err = proc.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                               "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                              timeout=30)
    return (cert, key) if status == 0 else (None, None)


def run_tls_bench(ctx, exe, backend, s, rep):
    path = os.path.join(ctx.tmp, "tls-bench-%s-%d.json" % (backend, rep))
    status, out, err = proc.run(ctx.client_argv([exe, "--handshakes", str(s["handshakes"]), "--bulk-mib",
                                                 str(s["bulk_mib"]), "--rounds", "1", "--backend", backend,
                                                 "--json", path]), timeout=600)
    if status != 0:
        return {"error": "tls_bench exit %s: %s" % (status, proc.last_line(err or out))}
    with open(path) as f:
        return json.load(f)


def stime_service(ctx, name, cert, key):
    if name.startswith("rfarm-"):
        return proc.Service(ctx.server_argv([ctx.exe("tools/echo-server"), "--listen", "tls:127.0.0.1:0",
                                             "--tls-cert", cert, "--tls-key", key, "--backend", name.split("-")[1]]))
    if name == "nginx":
        return nginx.service(ctx, "nginx-tls", cert, key)
    port = proc.free_port()
    svc = proc.Service(ctx.server_argv(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", cert,
                                        "-key", key, "-quiet"]), address_line=False,
                       ready=lambda: proc.wait_tcp(port, timeout=0.2))
    svc.address = "tcp:127.0.0.1:%d" % port
    return svc


def run_stime(ctx, name, cert, key, s):
    m = {"server": name, "client": "s_time"}
    svc = stime_service(ctx, name, cert, key)
    with svc.measuring(m):
        addr = svc.start() or svc.address
        hostport = addr.split(":", 1)[1]
        cpu0 = svc.cpu_seconds()
        status, out, err = proc.run(ctx.client_argv(["openssl", "s_time", "-connect", hostport, "-new",
                                                     "-time", str(s["stime"])]), timeout=s["stime"] + 30)
        cpu1 = svc.cpu_seconds()
        got = re.search(r"(\d+) connections in ([\d.]+)s;", out)
        real = re.search(r"(\d+) connections in (\d+) real seconds", out)
        if status != 0 or not got or not int(got.group(1)):
            m["error"] = "s_time exit %s: %s" % (status, proc.last_line(err or out))
            return m
        n = int(got.group(1))
        m["handshakes"] = n
        # s_time's "real seconds" is whole seconds; its wall rate is n over the time it was given.
        m["handshakes_per_s"] = n / float(real.group(2) if real else s["stime"])
        m["server_cpu_us_per_handshake"] = (cpu1 - cpu0) * 1e6 / n
    return m


def run(ctx, result):
    s = settings(ctx)
    cert, key = make_pki(ctx)
    if not cert:
        ctx.skip(result, None, "the openssl command could not make a certificate")
        return
    result["config"] = dict(s)
    exe = ctx.exe("bench/tls_bench")
    backends = ["epoll"] if ctx.smoke else ["epoll", "uring"]
    if not exe:
        ctx.skip(result, "openssl-blocking", "not built: bench/tls_bench")
        backends = []
    stime_servers = [n for n in RFARM if ctx.exe("tools/echo-server")]
    if nginx.available():
        stime_servers.append("nginx")
    else:
        ctx.skip(result, "nginx", ctx.package_missing("nginx-light") or "nginx is not installed")
    stime_servers.append("openssl-s_server")
    if ctx.smoke:
        stime_servers = [n for n in stime_servers if n in ("rfarm-epoll", "openssl-s_server")]
    for rep in range(ctx.reps):
        for backend in common.rotated(backends, rep):
            ctx.progress.step("tls_bench %s rep %d/%d" % (backend, rep + 1, ctx.reps),
                              2 * (3 * s["handshakes"] / 1000.0 + s["bulk_mib"] / 200.0) + 1)
            r = run_tls_bench(ctx, exe, backend, s, rep)
            if "error" in r:
                result["errors"].append("tls_bench %s rep %d: %s" % (backend, rep, r["error"]))
                ctx.progress.note("tls: tls_bench %s FAILED: %s" % (backend, r["error"]))
                continue
            for workload, w in r["workloads"].items():
                result["measurements"].append({"client": "tls_bench", "server": "rfarm-" + backend, "rep": rep,
                                               "workload": workload, "per_s": w["rfarm_per_s"],
                                               "cpu_us": w["rfarm_cpu_us"], "unit": w["unit"]})
                result["measurements"].append({"client": "tls_bench", "server": "openssl-blocking", "rep": rep,
                                               "workload": workload, "per_s": w["openssl_per_s"],
                                               "cpu_us": w["openssl_cpu_us"], "unit": w["unit"],
                                               "paired_with": "rfarm-" + backend})
        for name in common.rotated(stime_servers, rep):
            ctx.progress.step("s_time %s rep %d/%d" % (name, rep + 1, ctx.reps), s["stime"] + 2.5)
            m = run_stime(ctx, name, cert, key, s)
            m["rep"] = rep
            result["measurements"].append(m)
            if "error" in m:
                result["errors"].append("s_time %s rep %d: %s" % (name, rep, m["error"]))
                ctx.progress.note("tls: s_time %s FAILED: %s" % (name, m["error"]))
    ms = result["measurements"]
    tb = [m for m in ms if m.get("client") == "tls_bench"]
    names = ["rfarm-" + b for b in backends] + (["openssl-blocking"] if backends else [])
    t = table.new("bench/tls_bench (its own client thread; CPU of both threads per operation)",
                  [n for n in names if n.startswith("rfarm")], [n for n in names if not n.startswith("rfarm")])
    for workload, label, unit in (("handshake_new", "full handshake", "handshakes"),
                                  ("handshake_resumed", "resumed handshake", "handshakes"),
                                  ("bulk", "bulk, 64 KiB writes", "MiB")):
        table.add_row(t, label, "%s/s" % unit, "higher", common.cells(tb, names, "per_s", workload=workload))
        table.add_row(t, label, "CPU µs per %s" % ("MiB" if unit == "MiB" else "handshake"), "lower",
                      common.cells(tb, names, "cpu_us", workload=workload), headline=True)
    result["tables"].append(t)
    st = [m for m in ms if m.get("client") == "s_time"]
    t2 = table.new("openssl s_time -new (one client; server CPU from the server's accounting)",
                   [n for n in RFARM if n in stime_servers], [n for n in STIME_PEERS if n in stime_servers])
    table.add_row(t2, "full handshake", "handshakes/s", "higher", common.cells(st, stime_servers, "handshakes_per_s"))
    table.add_row(t2, "full handshake", "server CPU µs/handshake", "lower",
                  common.cells(st, stime_servers, "server_cpu_us_per_handshake"), headline=True)
    t2["note"] = ("rfarm's side is echo-server --listen tls: (TlsStream, handshake, then echo); nginx and s_server "
                  "do the same handshake with the same certificate. s_time is single-threaded and does a "
                  "handshake's client half per connection, so handshakes/s is bounded by the client.")
    result["tables"].append(t2)
