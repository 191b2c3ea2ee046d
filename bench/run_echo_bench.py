#!/usr/bin/env python3
"""run_echo_bench.py - side-by-side TCP echo benchmark: rfarm vs hand-written peers.

Runs rfarm's tools/echo-server (epoll backend, and the uring backend when
asked for) next to three peers built from bench/peers/ (raw epoll, libuv, raw
liburing) in ONE run, so that all of them see the same machine state, and
reports medians per (server, connection count). See bench/README.md.

Why it is written this way:
  * Interleaved, rotated order: for every connection count and repetition each
    server gets one fresh process and one measurement, and the order rotates
    every repetition, so slow drift (thermal, other jobs, page cache) hits all
    servers alike instead of biasing whichever ran last.
  * Pinning: server on one CPU, load generator on another (taskset), so the
    two never fight for a core and the server's CPU time is its own.
  * Server CPU microseconds per message is the primary figure: on a 2-core
    box throughput is capped by the client and by whatever else runs, but the
    CPU the server burns per echoed message is a property of the server.
  * Python stdlib only; every child has a timeout; a missing binary skips that
    server with a reason instead of failing the run.
  * --callgrind counts user instructions per message without a PMU and
    without depending on time: the server runs under callgrind, echo_load
    does an exact number of round trips, the counters are zeroed after the
    warm-up (callgrind_control -z) and dumped after the measured messages
    (callgrind_control -d), and the figure is instructions / messages.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

# name -> (path relative to the build dir, extra args, accepts --spin-us)
SERVERS = {
    "rfarm-epoll": ("tools/echo-server", ["--backend", "epoll", "--threads", "1"], True),
    "rfarm-uring": ("tools/echo-server", ["--backend", "uring", "--threads", "1"], True),
    # The same with a coroutine per connection instead of the default callback-style state machine.
    "rfarm-epoll-coro": ("tools/echo-server", ["--backend", "epoll", "--threads", "1", "--style", "coroutine"], True),
    "rfarm-uring-coro": ("tools/echo-server", ["--backend", "uring", "--threads", "1", "--style", "coroutine"], True),
    # io_uring with every send a SEND SQE (RFARM_URING_TUNE=no-direct-send; the default sends with send(2)
    # where the socket takes it), for A/B runs.
    "rfarm-uring-sqe": ("tools/echo-server", ["--backend", "uring", "--threads", "1"], True),
    "raw-epoll": ("bench/raw_epoll_echo", [], True),
    "raw-epoll-lt": ("bench/raw_epoll_echo", ["--level"], True),  # ET-vs-LT check, not a default
    # rfarm's syscalls (recv/send) with no library around them: the floor for rfarm-epoll, not a default.
    "raw-epoll-recv": ("bench/raw_epoll_echo", ["--recv-send"], True),
    "libuv": ("bench/libuv_echo", [], False),
    "raw-uring": ("bench/raw_uring_echo", [], False),
    "libevent": ("bench/libevent_echo", [], False),  # bench/run's peers; here for idle_memory.py and --callgrind
    "asio": ("bench/asio_echo", [], False),
}
# Environment a server variant runs with (on top of ours).
SERVER_ENV = {"rfarm-uring-sqe": {"RFARM_URING_TUNE": "no-direct-send"}}
DEFAULT_SERVERS = "rfarm-epoll,raw-epoll,libuv,raw-uring"
EPOLL_PEERS = ("raw-epoll", "libuv")


def server_env(name):
    """The environment for server name: ours, plus its variant's settings (None: ours unchanged)."""
    extra = SERVER_ENV.get(name)
    return dict(os.environ, **extra) if extra else None


def log(*a):
    print(*a, flush=True)


class Server:
    """One server process: started fresh per measurement, address from line 1."""

    def __init__(self, argv, start_timeout=10.0, env=None):
        self.argv = argv
        self.env = env
        self.err_path = None
        self.proc = None
        self.addr = None
        self.start_timeout = start_timeout

    def start(self):
        import tempfile

        fd, self.err_path = tempfile.mkstemp(prefix="echo-bench-srv-", suffix=".err")
        self.err = os.fdopen(fd, "w+")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL,
                                     env=self.env)
        line = []

        def first_line():
            line.append(self.proc.stdout.readline())
            # keep draining so a chatty server never blocks on a full pipe
            for _ in iter(lambda: self.proc.stdout.read(65536), b""):
                pass

        t = threading.Thread(target=first_line, daemon=True)
        t.start()
        deadline = time.monotonic() + self.start_timeout
        while not line and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.01)
        if not line or not line[0]:
            self.stop()
            raise RuntimeError("server printed no address line within %.0fs%s" % (self.start_timeout, self.stderr_tail()))
        addr = line[0].decode(errors="replace").strip()
        if not addr.startswith("tcp:"):
            self.stop()
            raise RuntimeError("server's first stdout line is %r, expected tcp:HOST:PORT" % addr)
        # rfarm asked for io_uring says so on stderr, before its address line, when the kernel refuses it: an
        # epoll run must not be reported (and compared with raw-uring) as an io_uring one.
        if "falling back to epoll" in self.stderr_tail():
            self.stop()
            raise RuntimeError("asked for io_uring, runs on epoll" + self.stderr_tail())
        self.addr = addr
        return addr

    def stderr_tail(self):
        try:
            with open(self.err_path) as f:
                s = f.read()[-600:].strip()
            return ("; stderr: " + s) if s else ""
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s. Returns the exit status."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                rc = "killed (ignored SIGTERM for 5 s)"
        return rc

    def cleanup(self):
        try:
            self.err.close()
            os.unlink(self.err_path)
        except OSError:
            pass


def pin(cpu, argv, use_taskset):
    return (["taskset", "-c", str(cpu)] + argv) if use_taskset and cpu is not None else argv


COUNTER_EVENTS = ("instructions:u", "instructions:k", "cycles:u", "cycles:k")


def sample_counters(pid, delay, window, into):
    """Thread body: after `delay` s, counts the server's user and kernel instructions and cycles with
    `perf stat` for `window` s (inside echo_load's measured window). Fills into["counts"] or into["error"]."""
    time.sleep(delay)
    try:
        cp = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(COUNTER_EVENTS), "-p", str(pid),
                             "--", "sleep", "%.3f" % window],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=window + 10,
                            stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        into["error"] = "perf stat: %s" % e
        return
    counts = {}
    for line in cp.stderr.decode(errors="replace").splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2] in COUNTER_EVENTS:
            try:
                counts[f[2]] = float(f[0])
            except ValueError:  # "<not counted>" / "<not supported>"
                pass
    if len(counts) != len(COUNTER_EVENTS):
        into["error"] = "perf stat counted %s (no PMU in this VM, or perf_event_paranoid?)" % (
            ", ".join(sorted(counts)) or "nothing")
        return
    into["counts"] = counts
    into["window_s"] = window


def counters_per_msg(sample, msgs_per_s):
    """Per-message user/kernel instructions and cycles, and the server's IPC over the window."""
    c, msgs = sample["counts"], msgs_per_s * sample["window_s"]
    if msgs <= 0:
        return None
    cycles = c["cycles:u"] + c["cycles:k"]
    return {"instr_user": c["instructions:u"] / msgs, "instr_kernel": c["instructions:k"] / msgs,
            "cycles_user": c["cycles:u"] / msgs, "cycles_kernel": c["cycles:k"] / msgs,
            "ipc": (c["instructions:u"] + c["instructions:k"]) / cycles if cycles else None}


def measure(args, name, conns, spin_us=0):
    """One fresh server + one echo_load run. Returns a result dict (with 'error' on failure)."""
    rel, extra, _ = SERVERS[name]
    sargv = [os.path.join(args.build_dir, rel), "--listen", "tcp:127.0.0.1:0"] + extra
    if spin_us:
        sargv += ["--spin-us", str(spin_us)]
    res = {"server": name, "conns": conns, "spin_us": spin_us, "size": args.size}
    srv = Server(pin(args.server_cpu, sargv, args.taskset), env=server_env(name))
    try:
        addr = srv.start()
        largv = [args.echo_load, "--connect", addr, "--conns", str(conns), "--size", str(args.size),
                 "--duration", str(args.duration), "--warmup", str(args.warmup),
                 "--server-pid", str(srv.proc.pid), "--json"]
        if spin_us:
            largv += ["--spin-us", str(spin_us)]
        timeout = 10 + 0.001 * conns + args.warmup + args.duration + 40
        sample, sampler = {}, None
        if args.counters:
            # Starts after the ramp (generous estimate) and warmup, ends before the measured window does.
            delay = 0.3 + 0.0003 * conns + args.warmup + 0.1 * args.duration
            sampler = threading.Thread(target=sample_counters,
                                       args=(srv.proc.pid, delay, 0.7 * args.duration, sample), daemon=True)
            sampler.start()
        try:
            cp = subprocess.run(pin(args.client_cpu, largv, args.taskset), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            res["error"] = "echo_load timed out after %.0fs" % timeout
            return res
        finally:
            if sampler:
                sampler.join(timeout=args.duration + 15)
        out = cp.stdout.decode(errors="replace").strip().splitlines()
        if cp.returncode != 0 or not out:
            msg = (cp.stderr.decode(errors="replace").strip() or "(no message)").splitlines()[-1]
            res["error"] = "echo_load exit %d: %s%s" % (cp.returncode, msg, srv.stderr_tail())
            return res
        try:
            res.update(json.loads(out[-1]))
        except ValueError:
            res["error"] = "echo_load printed no JSON line: %r" % out[-1]
            return res
        res["human"] = out[0]
        if "counts" in sample and res.get("msgs_per_s"):
            res["counters"] = counters_per_msg(sample, res["msgs_per_s"])
        elif "error" in sample:
            res["counters_error"] = sample["error"]
        if srv.proc.poll() is not None:
            res["error"] = "server exited during the run (status %s)%s" % (srv.proc.returncode, srv.stderr_tail())
        return res
    except RuntimeError as e:
        res["error"] = str(e)
        return res
    finally:
        rc = srv.stop()
        if rc not in (None, 0) and "error" not in res:
            res["warning"] = "server exit status %s after SIGTERM (contract: 0)%s" % (rc, srv.stderr_tail())
        srv.cleanup()


def med(runs, key, sub=None):
    vals = []
    for r in runs:
        if "error" in r:
            continue
        v = r.get(key)
        if sub is not None and isinstance(v, dict):
            v = v.get(sub)
        if isinstance(v, (int, float)):
            vals.append(float(v))
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return ("%" + spec) % v if v is not None else "-"


def summarize(runs, servers, conns_list):
    medians = {}
    for name in servers:
        for c in conns_list:
            rr = [r for r in runs if r["server"] == name and r["conns"] == c and not r.get("spin_us")]
            if not rr:
                continue
            medians["%s/%d" % (name, c)] = {
                "server": name, "conns": c, "n": len([r for r in rr if "error" not in r]),
                "errors": len([r for r in rr if "error" in r]),
                "server_cpu_us_per_msg": med(rr, "server_cpu_us_per_msg"),
                "client_cpu_us_per_msg": med(rr, "client_cpu_us_per_msg"),
                "server_util": med(rr, "server_util"),
                "server_runq_wait": med(rr, "server_runq_wait"),
                "msgs_per_s": med(rr, "msgs_per_s"),
                "p50_us": med(rr, "rtt_us", "p50"),
                "p99_us": med(rr, "rtt_us", "p99"),
            }
            with_counters = [r["counters"] for r in rr if "error" not in r and r.get("counters")]
            if with_counters:
                medians["%s/%d" % (name, c)]["counters"] = {
                    k: med(with_counters, k) for k in ("instr_user", "instr_kernel", "cycles_user",
                                                       "cycles_kernel", "ipc")}
    ratios = {}
    # Server CPU/msg of every repetition at each C: {c: {rep: {server: value}}}.
    per_rep = {c: {} for c in conns_list}
    for r in runs:
        if r["conns"] in per_rep and not r.get("spin_us") and "error" not in r \
                and isinstance(r.get("server_cpu_us_per_msg"), (int, float)):
            per_rep[r["conns"]].setdefault(r.get("rep"), {})[r["server"]] = r["server_cpu_us_per_msg"]
    for name in servers:
        if not name.startswith("rfarm"):
            continue
        for c in conns_list:
            m = medians.get("%s/%d" % (name, c))
            if not m or m["server_cpu_us_per_msg"] is None:
                continue
            peers = [medians.get("%s/%d" % (p, c)) for p in EPOLL_PEERS]
            peers = [(p["server"], p["server_cpu_us_per_msg"]) for p in peers if p and p["server_cpu_us_per_msg"]]
            entry = {}
            if peers:
                best = min(peers, key=lambda x: x[1])
                entry["vs_best_epoll_peer"] = {"peer": best[0], "ratio": m["server_cpu_us_per_msg"] / best[1]}
            if "uring" in name:
                p = medians.get("raw-uring/%d" % c)
                if p and p["server_cpu_us_per_msg"]:
                    entry["vs_raw_uring"] = {"peer": "raw-uring",
                                             "ratio": m["server_cpu_us_per_msg"] / p["server_cpu_us_per_msg"]}
            # Paired: the ratio within each repetition (servers measured minutes
            # apart at most), then the median of those. Steadier than the ratio
            # of medians when the machine's state drifts during the run.
            paired, paired_u = [], []
            for byname in per_rep[c].values():
                if name not in byname:
                    continue
                peer_vals = [byname[p] for p in EPOLL_PEERS if byname.get(p)]
                if peer_vals:
                    paired.append(byname[name] / min(peer_vals))
                if "uring" in name and byname.get("raw-uring"):
                    paired_u.append(byname[name] / byname["raw-uring"])
            if paired and "vs_best_epoll_peer" in entry:
                entry["vs_best_epoll_peer"]["paired_median"] = statistics.median(paired)
            if paired_u and "vs_raw_uring" in entry:
                entry["vs_raw_uring"]["paired_median"] = statistics.median(paired_u)
            if entry:
                ratios["%s/%d" % (name, c)] = entry
    return medians, ratios


def same_state_cycles(runs, servers, conns_list, band=0.85):
    """Cycles per message using only the runs made in the machine's fast state: IPC within `band` of the
    highest IPC any server reached at that C. This VM flips between two states that change the cost of the
    same instructions ~3x; comparing servers inside one state removes that noise. Returns
    {(name, c): {"n", "cycles_user", "cycles_kernel", "cycles"}}."""
    out = {}
    for c in conns_list:
        rr = [r for r in runs if r["conns"] == c and "error" not in r and r.get("counters")
              and r["counters"].get("ipc") and not r.get("spin_us")]
        if not rr:
            continue
        top = max(r["counters"]["ipc"] for r in rr)
        for name in servers:
            fast = [r["counters"] for r in rr if r["server"] == name and r["counters"]["ipc"] >= band * top]
            if fast:
                u = statistics.median(k["cycles_user"] for k in fast)
                k_ = statistics.median(k["cycles_kernel"] for k in fast)
                out[(name, c)] = {"n": len(fast), "cycles_user": u, "cycles_kernel": k_, "cycles": u + k_}
    return out


def print_same_state(fast, servers, conns_list):
    if not fast:
        return
    log("")
    log("SAME-STATE CYCLES: medians over the runs made in the fast state (IPC >= 0.85 x the best at that C),")
    log("  per message; n = how many of the repetitions qualified. Ratio vs the best of raw-epoll/libuv.")
    hdr = "%-14s %6s %4s %9s %9s %9s %7s" % ("server", "conns", "n", "cyc_usr", "cyc_krn", "cycles", "ratio")
    log(hdr)
    log("-" * len(hdr))
    for c in conns_list:
        peers = [fast[(p, c)]["cycles"] for p in EPOLL_PEERS if (p, c) in fast]
        best = min(peers) if peers else None
        for name in servers:
            f = fast.get((name, c))
            if not f:
                continue
            ratio = ("%.3f" % (f["cycles"] / best)) if best and name not in EPOLL_PEERS else "-"
            log("%-14s %6d %4d %9.0f %9.0f %9.0f %7s" % (name, c, f["n"], f["cycles_user"], f["cycles_kernel"],
                                                       f["cycles"], ratio))


def print_table(medians, ratios, servers, conns_list, size, same_state=None):
    log("")
    log("MEDIANS (size=%d B); primary figure: server CPU us/msg (lower is better)" % size)
    hdr = "%-14s %6s  %10s %8s %8s %11s %9s %9s %10s %4s" % (
        "server", "conns", "srv_us/msg", "srv_util", "srv_wait", "msgs/s", "p50_us", "p99_us", "cli_us/msg", "n")
    log(hdr)
    log("-" * len(hdr))
    for c in conns_list:
        for name in servers:
            m = medians.get("%s/%d" % (name, c))
            if not m:
                continue
            log("%-14s %6d  %10s %8s %8s %11s %9s %9s %10s %4d%s" % (
                name, c, fmt(m["server_cpu_us_per_msg"], ".3f"), fmt(m["server_util"], ".2f"),
                fmt(m["server_runq_wait"], ".2f"),
                fmt(m["msgs_per_s"], ".0f"), fmt(m["p50_us"], ".1f"), fmt(m["p99_us"], ".1f"),
                fmt(m["client_cpu_us_per_msg"], ".3f"), m["n"],
                ("  (%d failed)" % m["errors"]) if m["errors"] else ""))
    if any("counters" in m for m in medians.values()):
        log("")
        log("COUNTERS (perf stat on the server, medians): instructions and cycles per message, user and kernel.")
        log("  Instructions do not depend on the machine's state; IPC shows it (this VM flips between ~0.65 and")
        log("  ~1.8 for the same work, which is what moves CPU us/msg by ~3x between repetitions).")
        hdr = "%-14s %6s %10s %10s %10s %10s %6s" % ("server", "conns", "instr_usr", "instr_krn", "cyc_usr",
                                                    "cyc_krn", "ipc")
        log(hdr)
        log("-" * len(hdr))
        for c in conns_list:
            for name in servers:
                m = medians.get("%s/%d" % (name, c))
                if not m or "counters" not in m:
                    continue
                k = m["counters"]
                log("%-14s %6d %10s %10s %10s %10s %6s" % (
                    name, c, fmt(k["instr_user"], ".0f"), fmt(k["instr_kernel"], ".0f"), fmt(k["cycles_user"], ".0f"),
                    fmt(k["cycles_kernel"], ".0f"), fmt(k["ipc"], ".2f")))
    print_same_state(same_state, servers, conns_list)
    if ratios:
        log("")
        log("RATIOS of server CPU/msg (rfarm / peer; < 1.00 means rfarm uses less CPU);")
        log("  first the ratio of the medians, then [the median of per-repetition ratios]")
        for key, e in ratios.items():
            parts = []

            def paired(x):
                return " [%.2f]" % x["paired_median"] if "paired_median" in x else ""
            if "vs_best_epoll_peer" in e:
                x = e["vs_best_epoll_peer"]
                parts.append("vs best of raw-epoll/libuv (%s): %.2f%s" % (x["peer"], x["ratio"], paired(x)))
            if "vs_raw_uring" in e:
                x = e["vs_raw_uring"]
                parts.append("vs raw-uring: %.2f%s" % (x["ratio"], paired(x)))
            log("  %-18s %s" % (key, "; ".join(parts)))


def run_latency(args, servers):
    """C=1 round trip, with and without --spin-us on both sides."""
    runs = []
    plan = []
    for rep in range(args.reps):
        order = servers[rep % len(servers):] + servers[:rep % len(servers)]
        for name in order:
            plan.append((name, 0))
            if SERVERS[name][2]:
                plan.append((name, args.spin_us))
    for i, (name, spin) in enumerate(plan):
        r = measure(args, name, 1, spin)
        runs.append(r)
        log("[%d/%d] %-14s spin=%-4d %s" % (i + 1, len(plan), name, spin,
                                             r.get("error") or "p50=%.1fus p99=%.1fus msgs/s=%.0f" % (
                                                 r["rtt_us"]["p50"], r["rtt_us"]["p99"], r["msgs_per_s"])))
    log("")
    log("LATENCY (C=1, size=%d B, medians of %d reps; spin = --spin-us %d on server and client)" % (
        args.size, args.reps, args.spin_us))
    hdr = "%-14s %12s %12s %12s %12s %12s" % ("server", "p50_us", "p99_us", "p50_spin_us", "p99_spin_us",
                                              "srv_us/msg")
    log(hdr)
    log("-" * len(hdr))
    lat = {}
    for name in servers:
        plain = [r for r in runs if r["server"] == name and not r["spin_us"]]
        spin = [r for r in runs if r["server"] == name and r["spin_us"]]
        lat[name] = {"p50_us": med(plain, "rtt_us", "p50"), "p99_us": med(plain, "rtt_us", "p99"),
                     "p50_spin_us": med(spin, "rtt_us", "p50") if spin else None,
                     "p99_spin_us": med(spin, "rtt_us", "p99") if spin else None,
                     "server_cpu_us_per_msg": med(plain, "server_cpu_us_per_msg"),
                     "errors": len([r for r in plain + spin if "error" in r])}
        e = lat[name]
        log("%-14s %12s %12s %12s %12s %12s%s" % (
            name, fmt(e["p50_us"], ".1f"), fmt(e["p99_us"], ".1f"),
            fmt(e["p50_spin_us"], ".1f") if SERVERS[name][2] else "n/a",
            fmt(e["p99_spin_us"], ".1f") if SERVERS[name][2] else "n/a",
            fmt(e["server_cpu_us_per_msg"], ".3f"), ("  (%d failed)" % e["errors"]) if e["errors"] else ""))
    return runs, lat


CALLGRIND_START_TIMEOUT = 60.0  # valgrind's start-up (translating the binary and its libraries) is slow


def callgrind_control(flag, pid):
    """callgrind_control -z / -d PID; it reaches a server blocked in epoll_wait through vgdb."""
    cp = subprocess.run(["callgrind_control", flag, str(pid)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        timeout=60, stdin=subprocess.DEVNULL)
    text = cp.stdout.decode(errors="replace")
    if cp.returncode != 0 or "Error" in text:
        raise RuntimeError("callgrind_control %s %d failed: %s" % (flag, pid, text.strip()[-300:]))


def callgrind_total_ir(path):
    """The Ir total of one callgrind dump ('summary:' or 'totals:' line; events: Ir first)."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no summary/totals line in %s" % path)


def read_until(proc, marker, deadline, lines):
    """Reads echo_load's stdout lines into `lines` until one equals `marker`."""
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError("echo_load did not print %r in time" % marker)
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("echo_load exited before %r: %s" % (
                marker, proc.stderr.read().decode(errors="replace").strip()[-300:]))
        line = line.decode(errors="replace").strip()
        if line == marker:
            return
        lines.append(line)


def measure_callgrind(args, name, conns, outdir):
    """One server under callgrind: ramp, warm-up, zero, exactly conns x per-connection messages, dump."""
    import tempfile

    rel, extra, _ = SERVERS[name]
    per_conn = max(1, args.cg_messages // conns)
    msgs = per_conn * conns
    res = {"server": name, "conns": conns, "size": args.size, "messages": msgs}
    out = os.path.join(outdir, "callgrind.%s.%d" % (name, conns))
    sargv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + \
        (["--dump-instr=yes"] if args.cg_dump_instr else []) + [
             os.path.join(args.build_dir, rel), "--listen", "tcp:127.0.0.1:0"] + extra
    srv = Server(pin(args.server_cpu, sargv, args.taskset), start_timeout=CALLGRIND_START_TIMEOUT,
                 env=server_env(name))
    load = None
    try:
        addr = srv.start()
        largv = [args.echo_load, "--connect", addr, "--conns", str(conns), "--size", str(args.size),
                 "--messages", str(per_conn), "--warmup-messages", str(max(1, args.cg_warmup // conns)),
                 "--server-pid", str(srv.proc.pid), "--json"]
        load = subprocess.Popen(pin(args.client_cpu, largv, args.taskset), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 600
        lines = []
        read_until(load, "echo_load: warm", deadline, lines)
        callgrind_control("-z", srv.proc.pid)
        load.stdin.write(b"go\n")
        load.stdin.flush()
        read_until(load, "echo_load: measured", deadline, lines)
        callgrind_control("-d", srv.proc.pid)
        dumps = sorted(f for f in os.listdir(outdir) if f.startswith(os.path.basename(out) + "."))
        if not dumps:
            raise RuntimeError("callgrind wrote no dump for %s" % out)
        ir = callgrind_total_ir(os.path.join(outdir, dumps[-1]))
        res["dump"] = os.path.join(outdir, dumps[-1])
        load.stdin.write(b"go\n")
        load.stdin.flush()
        load.wait(30)
        try:
            stats = json.loads(lines[-1])
        except (ValueError, IndexError):
            raise RuntimeError("echo_load printed no JSON line: %r" % lines[-1:])
        if stats.get("msgs") != msgs:
            raise RuntimeError("echo_load echoed %s messages, expected %d" % (stats.get("msgs"), msgs))
        res["instr_user"] = ir / msgs
        res["ir"] = ir
        if srv.proc.poll() is not None:
            res["error"] = "server exited during the run (status %s)%s" % (srv.proc.returncode, srv.stderr_tail())
        return res
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        res["error"] = str(e)
        return res
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        srv.stop()
        srv.cleanup()


def run_callgrind(args, servers, conns_list):
    """Every (server, C) once: callgrind counts are deterministic up to a few scheduling-dependent batches."""
    import tempfile

    outdir = args.cg_dir or tempfile.mkdtemp(prefix="echo-bench-callgrind-")
    os.makedirs(outdir, exist_ok=True)
    runs = []
    for c in conns_list:
        for name in servers:
            r = measure_callgrind(args, name, c, outdir)
            runs.append(r)
            log("[callgrind] %-14s C=%-5d %s" % (name, c, r.get("error") or "%.0f user instructions/msg (%d msgs)" % (
                r["instr_user"], r["messages"])))
    log("")
    log("CALLGRIND: user instructions per echoed message (size=%d B; counters zeroed after the warm-up,"
        " dumped after the measured messages; dumps in %s)" % (args.size, outdir))
    hdr = "%-14s" % "server" + "".join("%10s" % ("C=%d" % c) for c in conns_list)
    log(hdr)
    log("-" * len(hdr))
    table = {}
    for name in servers:
        row = "%-14s" % name
        for c in conns_list:
            r = next((r for r in runs if r["server"] == name and r["conns"] == c), None)
            v = r.get("instr_user") if r and "error" not in r else None
            table["%s/%d" % (name, c)] = v
            row += "%10s" % fmt(v, ".0f")
        log(row)
    return runs, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build", help="meson build directory (default: build)")
    ap.add_argument("--servers", default=DEFAULT_SERVERS,
                    help="comma list from: %s (default: %s)" % (",".join(SERVERS), DEFAULT_SERVERS))
    ap.add_argument("--uring", action="store_true", help="also run rfarm-uring (rfarm --backend uring)")
    ap.add_argument("--conns", default="1,100,1000,10000", help="connection counts (default: 1,100,1000,10000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per (server, conns) (default: 3)")
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per run (default: 3)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warmup seconds per run (default: 1)")
    ap.add_argument("--size", type=int, default=64, help="message size in bytes (default: 64)")
    ap.add_argument("--json", metavar="OUT", help="write raw per-run numbers and medians to OUT")
    ap.add_argument("--latency", action="store_true",
                    help="latency mode: C=1 p50/p99 with and without --spin-us on both sides")
    ap.add_argument("--spin-us", type=int, default=200, help="busy-poll window for --latency (default: 200)")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default: 0)")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU for echo_load (default: 1)")
    ap.add_argument("--counters", action="store_true",
                    help="also count the server's user/kernel instructions and cycles per message (perf stat)")
    ap.add_argument("--callgrind", action="store_true",
                    help="count user instructions per message with the server under callgrind (no PMU needed); "
                         "one run per (server, conns); --conns defaults to 100,1000")
    ap.add_argument("--cg-messages", type=int, default=20000,
                    help="callgrind mode: measured messages per run, split evenly over the connections "
                         "(default: 20000)")
    ap.add_argument("--cg-warmup", type=int, default=5000,
                    help="callgrind mode: warm-up messages before the counters are zeroed (default: 5000)")
    ap.add_argument("--cg-dir", help="callgrind mode: keep the dumps here (default: a new temporary directory)")
    ap.add_argument("--cg-dump-instr", action="store_true",
                    help="callgrind mode: count per machine instruction too (callgrind_annotate / objdump -d "
                         "then show which instructions of a function the messages pay for)")
    conns_given = any(a == "--conns" or a.startswith("--conns=") for a in sys.argv[1:])
    args = ap.parse_args()
    if args.callgrind and not conns_given:
        args.conns = "100,1000"

    args.build_dir = os.path.abspath(args.build_dir)
    names = [s.strip() for s in args.servers.split(",") if s.strip()]
    if args.uring and "rfarm-uring" not in names:
        names.insert(1 if "rfarm-epoll" in names else 0, "rfarm-uring")
    for n in names:
        if n not in SERVERS:
            ap.error("unknown server %r (known: %s)" % (n, ", ".join(SERVERS)))
    try:
        conns_list = [int(c) for c in args.conns.split(",") if c.strip()]
    except ValueError:
        ap.error("--conns wants a comma list of integers")
    if args.reps < 1 or args.duration <= 0 or args.size < 1:
        ap.error("--reps >= 1, --duration > 0, --size >= 1")

    args.echo_load = os.path.join(args.build_dir, "bench", "echo_load")
    if not os.access(args.echo_load, os.X_OK):
        sys.exit("run_echo_bench: %s not found; build it first: meson setup %s && ninja -C %s -j1" % (
            args.echo_load, args.build_dir, args.build_dir))

    servers = []
    for n in names:
        path = os.path.join(args.build_dir, SERVERS[n][0])
        if os.access(path, os.X_OK):
            servers.append(n)
        else:
            log("skip %-12s: %s is missing (not built yet?)" % (n, path))
    if not servers:
        sys.exit("run_echo_bench: no server binary found, nothing to measure")

    if args.callgrind and (shutil.which("valgrind") is None or shutil.which("callgrind_control") is None):
        ap.error("--callgrind needs valgrind and callgrind_control (Debian package valgrind)")
    if args.counters and shutil.which("perf") is None:
        ap.error("--counters needs perf (Debian package linux-perf)")
    args.taskset = shutil.which("taskset") is not None
    ncpu = os.cpu_count() or 1
    if not args.taskset:
        log("warning: taskset not found: server and client are not pinned")
    elif max(args.server_cpu, args.client_cpu) >= ncpu:
        log("warning: only %d CPU(s): not pinning" % ncpu)
        args.taskset = False
    load1 = os.getloadavg()[0]
    log("rfarm echo bench: servers=%s conns=%s reps=%d duration=%.1fs warmup=%.1fs size=%d pin=srv:%s/cli:%s" % (
        ",".join(servers), ",".join(map(str, conns_list)), args.reps, args.duration, args.warmup, args.size,
        args.server_cpu if args.taskset else "-", args.client_cpu if args.taskset else "-"))
    if load1 > 0.5 and not args.callgrind:  # callgrind counts instructions: other work cannot change them
        log("warning: load average is %.2f: other work is running and will add noise, most to msgs/s and "
            "latency, and somewhat (up to ~2x seen here) to CPU/msg" % load1)

    t0 = time.monotonic()
    out = {"config": {k: v for k, v in vars(args).items()}, "servers": servers, "loadavg_start": os.getloadavg()}
    if args.callgrind:
        runs, table = run_callgrind(args, servers, conns_list)
        out.update({"mode": "callgrind", "runs": runs, "instr_user_per_msg": table})
    elif args.latency:
        runs, lat = run_latency(args, servers)
        out.update({"mode": "latency", "runs": runs, "latency": lat})
    else:
        plan = []
        for c in conns_list:
            for rep in range(args.reps):
                k = rep % len(servers)
                for name in servers[k:] + servers[:k]:
                    plan.append((name, c, rep))
        est = sum(args.warmup + args.duration + 1.0 + 0.0003 * c for _, c, _ in plan)
        log("%d measurements, about %.0f s" % (len(plan), est))
        runs = []
        for i, (name, c, rep) in enumerate(plan):
            r = measure(args, name, c)
            r["rep"] = rep
            runs.append(r)
            if "error" in r:
                status = "FAILED: " + r["error"]
            else:
                status = "srv_us/msg=%s msgs/s=%.0f p50=%.1fus p99=%.1fus srv_util=%s srv_wait=%s (%s)" % (
                    fmt(r.get("server_cpu_us_per_msg"), ".3f"), r["msgs_per_s"], r["rtt_us"]["p50"],
                    r["rtt_us"]["p99"], fmt(r.get("server_util"), ".2f"), fmt(r.get("server_runq_wait"), ".2f"),
                    r.get("cpu_source"))
            if r.get("counters"):
                k = r["counters"]
                status += " instr/msg=%.0fu+%.0fk ipc=%s" % (k["instr_user"], k["instr_kernel"], fmt(k["ipc"], ".2f"))
            elif "counters_error" in r:
                status += "  (counters: %s)" % r["counters_error"]
            if "warning" in r:
                status += "  WARNING: " + r["warning"]
            log("[%d/%d] %-14s C=%-5d rep=%d %s" % (i + 1, len(plan), name, c, rep, status))
        waits = [r["server_runq_wait"] for r in runs if isinstance(r.get("server_runq_wait"), (int, float))]
        if waits and statistics.median(waits) > 0.05:
            log("warning: the server spent a median %.0f%% of the wall time runnable but waiting for its CPU "
                "(srv_wait): other work competed for CPU %d; msgs/s and latency reflect that, and CPU/msg is "
                "inflated too. Compare servers within this run only." % (100 * statistics.median(waits),
                                                                         args.server_cpu))
        medians, ratios = summarize(runs, servers, conns_list)
        same_state = same_state_cycles(runs, servers, conns_list)
        print_table(medians, ratios, servers, conns_list, args.size, same_state)
        out.update({"mode": "throughput", "runs": runs, "medians": medians, "ratios": ratios,
                    "same_state": {"%s/%d" % key: v for key, v in same_state.items()}})
    out["loadavg_end"] = os.getloadavg()
    out["elapsed_s"] = time.monotonic() - t0
    log("")
    log("done in %.0f s (load average at end %.2f)" % (out["elapsed_s"], out["loadavg_end"][0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        log("wrote %s" % args.json)
    failed = [r for r in out["runs"] if "error" in r]
    if failed:
        log("%d of %d measurements FAILED (see above)" % (len(failed), len(out["runs"])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
