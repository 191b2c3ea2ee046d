#!/usr/bin/python3
"""bench/soak.py - issue 15's soak: mixed farm and echo load for a while, farm-server killed and restarted.

    bench/soak.py                        30 minutes (the issue's soak), results in bench/results/soak-<date>/
    bench/soak.py --minutes 5            a shorter one
    bench/soak.py --restart-every 60     kill -9 and restart farm-server every 60 s (default 45)

Starts a farm-server (example task module) and an echo-server on loopback from the test build (build/ by
default, --build-dir), then, until the time is up, in parallel:
  * farm load: `farm map --server SPEC add FILE` rounds of --batch tasks (task i is add(i, 1000003)); every
    output line is checked against its task, so every task is accounted for (lost = no or wrong answer);
  * echo load: `echo-client --conns 20 --messages 200` rounds, each checking every byte it gets back;
  * faults: farm-server kill -9 every --restart-every seconds and restarted on the same port (the Kernel of the
    running `farm map` reconnects and resubmits);
  * samples every 2 s: RSS (KiB) and open descriptors of farm-server and echo-server (/proc/PID).
Writes soak.json (every sample and round), soak.png (RSS and descriptors over time, restarts marked) and prints
a summary: tasks submitted / answered / lost / wrong, echo rounds ok / failed, restarts, RSS and descriptors at
start and end. Exit status 1 if a task was lost or wrong, or an echo round failed. Every process it starts is
killed when it ends (also on Ctrl-C).
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ADDEND = 1_000_003


def parse_args():
    ap = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    ap.add_argument("--restart-every", type=float, default=45.0, help="seconds between farm-server kill -9s")
    ap.add_argument("--batch", type=int, default=20_000, help="tasks per farm map round (default 20,000)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"), help="a build with the tools (default build/)")
    ap.add_argument("--out", help="results directory (default bench/results/soak-<date>)")
    return ap.parse_args()


class Server:
    """A server child whose first stdout line is its endpoint; killed with SIGKILL by stop()."""

    def __init__(self, argv, env):
        self.argv, self.env = argv, env
        self.proc = None
        self.spec = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError("%s did not start" % self.argv[0])
        self.spec = line
        return line

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def sample(self):
        pid = self.proc.pid if self.proc and self.proc.poll() is None else None
        if pid is None:
            return None, None
        try:
            with open("/proc/%d/status" % pid) as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir("/proc/%d/fd" % pid))
            return rss, fds
        except (OSError, StopIteration):
            return None, None


def main():
    args = parse_args()
    b = os.path.abspath(args.build_dir)
    subprocess.run(["ninja", "-C", b, "-j2", "tools/farm-server", "tools/farm", "tools/echo-server",
                    "tools/echo-client", "examples/tasks/libexample_tasks.so"], check=True, stdout=subprocess.DEVNULL)
    out = args.out or os.path.join(HERE, "results", "soak-" + datetime.datetime.now().strftime("%Y-%m-%d-%H%M"))
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    farm = Server([os.path.join(b, "tools/farm-server"), "--listen", "tcp:127.0.0.1:0", "--module",
                   os.path.join(b, "examples/tasks/libexample_tasks.so"), "--threads", "1", "--workers", "2",
                   "--log-level", "error"], env)
    echo = Server([os.path.join(b, "tools/echo-server"), "--listen", "tcp:127.0.0.1:0", "--threads", "1",
                   "--log-level", "error"], env)
    farm.start()
    # Restarts reuse the port: the listener sets SO_REUSEADDR.
    farm.argv[2] = farm.spec
    echo.start()
    tmp = tempfile.mkdtemp(prefix="rfarm-soak-")
    tasks_file = os.path.join(tmp, "tasks.txt")
    with open(tasks_file, "w") as f:
        for i in range(args.batch):
            f.write("%d %d\n" % (i, ADDEND))
    expected = [str(i + ADDEND) for i in range(args.batch)]

    start = time.monotonic()
    end = start + args.minutes * 60
    stop = threading.Event()
    lock = threading.Lock()
    totals = {"tasks_submitted": 0, "tasks_answered": 0, "tasks_lost": 0, "tasks_wrong": 0, "farm_rounds": 0,
              "farm_round_failures": 0, "echo_rounds": 0, "echo_failures": 0, "restarts": 0}
    samples, restarts, notes = [], [], []

    def farm_load():
        while not stop.is_set() and time.monotonic() < end:
            cp = subprocess.run([os.path.join(b, "tools/farm"), "map", "--server", farm.spec, "--timeout", "120",
                                 "add", tasks_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            lines = cp.stdout.decode().splitlines()
            answered = sum(1 for i, l in enumerate(lines[:args.batch]) if l == expected[i])
            wrong = sum(1 for i, l in enumerate(lines[:args.batch]) if l and l != expected[i])
            with lock:
                totals["farm_rounds"] += 1
                totals["tasks_submitted"] += args.batch
                totals["tasks_answered"] += answered
                totals["tasks_wrong"] += wrong
                totals["tasks_lost"] += args.batch - answered - wrong
                if cp.returncode != 0:
                    totals["farm_round_failures"] += 1
                    notes.append("farm map exit %d: %s" % (cp.returncode, cp.stderr.decode()[-300:]))

    def echo_load():
        while not stop.is_set() and time.monotonic() < end:
            cp = subprocess.run([os.path.join(b, "tools/echo-client"), "--connect", echo.spec, "--conns", "20",
                                 "--messages", "200", "--size", "512", "--timeout", "30"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
            with lock:
                totals["echo_rounds"] += 1
                if cp.returncode != 0:
                    totals["echo_failures"] += 1
                    notes.append("echo-client exit %d: %s" % (cp.returncode, cp.stderr.decode()[-300:]))

    def sampler():
        while not stop.is_set() and time.monotonic() < end:
            t = time.monotonic() - start
            frss, ffd = farm.sample()
            ersss, efd = echo.sample()
            with open("/proc/loadavg") as f:
                load = float(f.read().split()[0])
            samples.append({"t": round(t, 1), "farm_rss_kib": frss, "farm_fds": ffd, "echo_rss_kib": ersss,
                            "echo_fds": efd, "load": load})
            stop.wait(2.0)

    workers = [threading.Thread(target=fn, daemon=True) for fn in (farm_load, echo_load, sampler)]
    try:
        for w in workers:
            w.start()
        next_restart = start + args.restart_every
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            if time.monotonic() >= next_restart and time.monotonic() < end - 5:
                farm.stop()
                for _ in range(50):  # bounded: the port may take a moment to be free again
                    try:
                        farm.start()
                        break
                    except RuntimeError:
                        time.sleep(0.1)
                restarts.append(round(time.monotonic() - start, 1))
                with lock:
                    totals["restarts"] += 1
                next_restart += args.restart_every
            elapsed = time.monotonic() - start
            print("\rsoak: %4.0f / %4.0f s, %d tasks answered, %d lost, %d echo rounds, %d restarts   " % (
                elapsed, args.minutes * 60, totals["tasks_answered"], totals["tasks_lost"], totals["echo_rounds"],
                totals["restarts"]), end="", file=sys.stderr, flush=True)
        for w in workers:
            w.join(timeout=900)
    finally:
        stop.set()
        farm.stop()
        echo.stop()
    print(file=sys.stderr)

    first = next((s for s in samples if s["farm_rss_kib"]), {})
    last = next((s for s in reversed(samples) if s["farm_rss_kib"]), {})
    summary = dict(totals, minutes=args.minutes, restart_every_s=args.restart_every,
                   farm_rss_kib_first=first.get("farm_rss_kib"), farm_rss_kib_last=last.get("farm_rss_kib"),
                   echo_rss_kib_first=first.get("echo_rss_kib"), echo_rss_kib_last=last.get("echo_rss_kib"),
                   echo_rss_kib_max=max((s["echo_rss_kib"] or 0) for s in samples) if samples else None,
                   farm_fds_first=first.get("farm_fds"), farm_fds_last=last.get("farm_fds"),
                   echo_fds_first=first.get("echo_fds"), echo_fds_last=last.get("echo_fds"),
                   load_mean=round(sum(s["load"] for s in samples) / len(samples), 2) if samples else None)
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump({"summary": summary, "samples": samples, "restarts": restarts, "notes": notes}, f, indent=1)
    plot(os.path.join(out, "soak.png"), samples, restarts)
    for k, v in summary.items():
        print("%-22s %s" % (k, v))
    for n in notes[:10]:
        print("note: " + n)
    print("written: %s/soak.json, soak.png" % out)
    bad = summary["tasks_lost"] or summary["tasks_wrong"] or summary["echo_failures"]
    return 1 if bad else 0


def plot(path, samples, restarts):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [s["t"] / 60 for s in samples]
    fig, (a, c) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a.plot(t, [s["farm_rss_kib"] for s in samples], label="farm-server")
    a.plot(t, [s["echo_rss_kib"] for s in samples], label="echo-server")
    a.set_ylabel("RSS (KiB)")
    a.legend()
    c.plot(t, [s["farm_fds"] for s in samples], label="farm-server")
    c.plot(t, [s["echo_fds"] for s in samples], label="echo-server")
    c.set_ylabel("open descriptors")
    c.set_xlabel("minutes (dotted: farm-server kill -9 + restart)")
    c.legend()
    for r in restarts:
        for ax in (a, c):
            ax.axvline(r / 60, linestyle=":", color="grey", linewidth=0.8)
    fig.suptitle("rfarm soak: farm + echo load, farm-server restarts")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
