"""Farm: trivial tasks per second, single-task round trip, broadcast latency, with 1 and 2 servers, against
gearman (gearmand with C workers and a C client) and dask.distributed (a scheduler and worker processes), each
doing the same trivial task: add(a, b).

The rfarm side is `tools/farm-server` driven by `bench/farm_load`, with these command lines:

    farm-server --listen tcp:127.0.0.1:0 [--spin-us N]
        first stdout line: the bound endpoint(s)
    farm_load --server SPEC [--server SPEC] --mode throughput|latency|broadcast --tasks N [--spin-us N] --json
        last stdout line, JSON: throughput {"tasks", "seconds", "tasks_per_s"};
        latency / broadcast {"tasks", "p50_us", "p99_us", "mean_us"}

Either missing skips rfarm's side with one line, so the scenario starts measuring when they land. Targets (farm
issue): >= 500,000 tasks/s on 2 cores and >= 20x gearman; single task p50 <= 30 us in spin mode; broadcast to 2
servers p50 <= 60 us.
"""

import json
import os
import shutil
import sys
import time

from . import common, plot, proc, table

NAME = "farm"
TITLE = "Task farm: trivial tasks"
RFARM = ["rfarm"]
PEERS = ["gearman", "dask"]
SYSTEMS = RFARM + PEERS
SPIN_US = 50


def settings(ctx):
    return ctx.pick(
        full={"servers": [1, 2], "tasks": {"rfarm": 1000000, "gearman": 100000, "dask": 20000},
              "latency_tasks": {"rfarm": 20000, "gearman": 5000, "dask": 500}, "broadcasts": 500},
        quick={"servers": [1], "tasks": {"rfarm": 200000, "gearman": 10000, "dask": 500},
               "latency_tasks": {"rfarm": 2000, "gearman": 500, "dask": 30}, "broadcasts": 50},
        smoke={"servers": [1], "tasks": {"rfarm": 2000, "gearman": 500, "dask": 100},
               "latency_tasks": {"rfarm": 100, "gearman": 50, "dask": 20}, "broadcasts": 10})


def estimate(ctx):
    s = settings(ctx)
    per = {"rfarm": 4, "gearman": 3 + s["tasks"]["gearman"] / 30000 + s["latency_tasks"]["gearman"] * 150e-6,
           "dask": 10 + s["tasks"]["dask"] / 2000 + s["latency_tasks"]["dask"] * 3e-3}
    return ctx.reps * sum(per.values()) * len(s["servers"])


class Cluster:
    """The server side of one system with n servers, started and stopped as a whole; cpu_seconds() is the CPU
    every process of it used (the client excluded)."""

    def __init__(self, ctx, system, n):
        self.ctx, self.system, self.n = ctx, system, n
        self.services = []
        self.endpoints = []
        # One server: the server side on CPU 0, the client on CPU 1. Two: they spread over both CPUs.
        self.server_cpu = ctx.server_cpu if n == 1 else None
        self.client_cpu = ctx.client_cpu if n == 1 else None

    def _start(self, svc):
        self.services.append(svc)
        svc.start()
        return svc

    def start(self):
        pin = lambda argv: proc.pin(self.server_cpu, argv)  # noqa: E731
        if self.system == "rfarm":
            for _ in range(self.n):
                svc = self._start(proc.Service(pin([self.ctx.exe("tools/farm-server"), "--listen",
                                                    "tcp:127.0.0.1:0", "--spin-us", str(SPIN_US)])))
                self.endpoints.append(svc.address.split()[0])
        elif self.system == "gearman":
            port = proc.free_port()
            log = os.path.join(self.ctx.tmp, "gearmand-%d.log" % port)
            self._start(proc.Service(pin([shutil.which("gearmand"), "-L", "127.0.0.1", "-p", str(port), "-t", "1",
                                          "-l", log]), address_line=False, ready=lambda: proc.wait_tcp(port, 0.2)))
            for _ in range(self.n):
                self._start(proc.Service(pin([self.ctx.exe("bench/gearman_worker"), "--port", str(port)])))
            time.sleep(0.2)  # "ready" is printed once registered with gearmand
            self.endpoints = [str(port)]
        else:
            port = proc.free_port()
            python = sys.executable
            self._start(proc.Service(pin([python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                          "--port", str(port), "--no-dashboard"]), address_line=False,
                                     ready=lambda: proc.wait_tcp(port, 0.2), start_timeout=60))
            for _ in range(self.n):
                self._start(proc.Service(pin([python, "-m", "distributed.cli.dask_worker",
                                              "tcp://127.0.0.1:%d" % port, "--nthreads", "1", "--no-nanny",
                                              "--no-dashboard", "--host", "127.0.0.1"]), address_line=False,
                                         ready=lambda: True))
            self.endpoints = ["tcp://127.0.0.1:%d" % port]

    def cpu_seconds(self):
        return sum(s.cpu_seconds() for s in self.services)

    def stop(self):
        for s in reversed(self.services):
            s.stop()


def client_argv(ctx, cluster, mode, tasks):
    if cluster.system == "rfarm":
        argv = [ctx.exe("bench/farm_load")]
        for e in cluster.endpoints:
            argv += ["--server", e]
        argv += ["--mode", mode, "--tasks", str(tasks), "--json"]
        if mode != "throughput":
            argv += ["--spin-us", str(SPIN_US)]
    elif cluster.system == "gearman":
        argv = [ctx.exe("bench/gearman_client"), "--port", cluster.endpoints[0], "--mode", mode, "--tasks", str(tasks)]
    else:
        argv = [sys.executable, os.path.join(ctx.repo, "bench", "peers", "dask_bench.py"), "--scheduler",
                cluster.endpoints[0], "--mode", mode, "--tasks", str(tasks), "--workers", str(cluster.n)]
    return proc.pin(cluster.client_cpu, argv)


def missing(ctx, system):
    if system == "rfarm":
        for rel, why in (("tools/farm-server", "the farm server"), ("bench/farm_load", "the farm's load client")):
            if not ctx.exe(rel):
                return "not built yet: %s (%s)" % (rel, why)
    elif system == "gearman":
        if not shutil.which("gearmand"):
            return ctx.package_missing("gearman-job-server") or "gearmand is not installed"
        if not ctx.exe("bench/gearman_worker"):
            return ctx.package_missing("libgearman-dev") or "not built: bench/gearman_worker"
    else:
        try:
            import distributed  # noqa: F401
        except ImportError:
            return ctx.package_missing("python3-distributed") or "python3-distributed is not installed"
    return None


def measure(ctx, system, n, s, rep, result):
    cluster = Cluster(ctx, system, n)
    out = []
    try:
        cluster.start()
        modes = [("throughput", s["tasks"][system]), ("latency", s["latency_tasks"][system])]
        if n == 2 and system != "gearman":  # gearman has no broadcast
            modes.append(("broadcast", s["broadcasts"]))
        for mode, tasks in modes:
            m = {"server": system, "servers": n, "mode": mode, "rep": rep, "tasks": tasks}
            cpu0 = cluster.cpu_seconds()
            status, stdout, stderr = proc.run(client_argv(ctx, cluster, mode, tasks), timeout=300)
            cpu1 = cluster.cpu_seconds()
            if status != 0:
                m["error"] = "client exit %s: %s" % (status, proc.last_line(stderr or stdout))
            else:
                try:
                    m.update(json.loads(proc.last_line(stdout)))
                    if mode == "throughput":
                        m["server_cpu_us_per_task"] = (cpu1 - cpu0) * 1e6 / tasks
                except ValueError:
                    m["error"] = "client printed no JSON: %s" % proc.last_line(stdout)
            out.append(m)
    except RuntimeError as e:
        out.append({"server": system, "servers": n, "mode": "start", "rep": rep, "error": str(e)})
    finally:
        cluster.stop()
    return out


def run(ctx, result):
    s = settings(ctx)
    systems = []
    for system in SYSTEMS:
        why = missing(ctx, system)
        if why:
            ctx.skip(result, system, why)
        else:
            systems.append(system)
    if ctx.smoke:
        systems = [x for x in systems if x != "dask"]  # its start-up alone takes seconds
    result["config"] = {"servers": s["servers"], "tasks": s["tasks"], "latency_tasks": s["latency_tasks"],
                        "broadcasts": s["broadcasts"], "spin_us": SPIN_US,
                        "pinning": "1 server: server side on CPU %s, client on CPU %s; 2 servers: not pinned"
                                   % (ctx.server_cpu, ctx.client_cpu)}
    per = {"rfarm": 4, "gearman": 5, "dask": 15}
    for n in s["servers"]:
        for rep in range(ctx.reps):
            for system in common.rotated(systems, rep):
                ctx.progress.step("%s, %d server(s), rep %d/%d" % (system, n, rep + 1, ctx.reps), per[system])
                for m in measure(ctx, system, n, s, rep, result):
                    result["measurements"].append(m)
                    if "error" in m:
                        result["errors"].append("%s %d server(s) %s rep %d: %s" % (system, n, m["mode"], rep,
                                                                                 m["error"]))
                        ctx.progress.note("farm: %s %s FAILED: %s" % (system, m["mode"], m["error"]))
    ms = result["measurements"]
    t = table.new("", RFARM, [p for p in PEERS if p in systems])
    for n in s["servers"]:
        case = "%d server%s" % (n, "s" if n > 1 else "")
        table.add_row(t, case, "tasks/s", "higher", common.cells(ms, systems, "tasks_per_s", servers=n, mode="throughput"),
                      target={"text": "≥ 20× gearman", "peers": ["gearman"], "factor": 20, "cmp": "ge"})
        if n == 2 or len(s["servers"]) == 1:
            table.add_row(t, case, "tasks/s (absolute)", "higher",
                          common.cells(ms, systems, "tasks_per_s", servers=n, mode="throughput"),
                          target={"text": "≥ 500,000 tasks/s", "value": 500000, "cmp": "ge"})
        table.add_row(t, case, "server CPU µs/task", "lower",
                      common.cells(ms, systems, "server_cpu_us_per_task", servers=n, mode="throughput"))
        table.add_row(t, case, "single task p50 µs", "lower",
                      common.cells(ms, systems, "p50_us", servers=n, mode="latency"),
                      target={"text": "≤ 30 µs (spin)", "value": 30, "cmp": "le"})
        table.add_row(t, case, "single task p99 µs", "lower",
                      common.cells(ms, systems, "p99_us", servers=n, mode="latency"))
        if n == 2:
            table.add_row(t, case, "broadcast p50 µs", "lower",
                          common.cells(ms, systems, "p50_us", servers=n, mode="broadcast"),
                          target={"text": "≤ 60 µs", "value": 60, "cmp": "le"})
    t["note"] = ("Server CPU per task sums every server-side process (farm-servers; gearmand and its workers; the "
                 "dask scheduler and workers). gearman has no broadcast. rfarm's latency is measured with --spin-us "
                 "%d on both sides, the others as they come." % SPIN_US)
    result["tables"].append(t)
    groups = [("%d server%s" % (n, "s" if n > 1 else ""),
               common.cells(ms, systems, "tasks_per_s", servers=n, mode="throughput")) for n in s["servers"]]
    f = plot.bars(os.path.join(ctx.out_dir, "farm-tasks.png"), "Trivial tasks per second", "tasks/s", groups,
                  systems, RFARM, logy=True)
    plot.record(result, ctx, f, "Farm: trivial tasks per second")
