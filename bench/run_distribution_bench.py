#!/usr/bin/env python3
"""Connection distribution on a Runtime: reuseport vs reuseport + CPU-steering BPF vs one acceptor core
dealing round robin, measured side by side with echo_load.

    python3 bench/run_distribution_bench.py --build-dir build-bench [--conns 1000,10000] [--reps 3]
        [--duration 3] [--warmup 1] [--threads 2] [--backend epoll|uring] [--json OUT]

One measurement: a fresh bench/sharded_echo_server (its cores pinned to the first CPUs) prints its address;
echo_load opens C connections (a ramp of at most 256 unconfirmed, each confirmed by one echo), then every
connection echoes 64-byte messages in a closed loop for the measured window. Reported, as medians over the
repetitions (the order of the modes rotates every repetition):
  conn/s         C / ramp time: connections accepted, handed to their core and echoed once, per second
  msgs/s         echo messages per second in the measured window
  srv us/msg     server CPU time per echoed message (all its threads; echo_load reads /proc schedstat)
  accepted       connections per core, from the server's own count at exit
The server gets SIGTERM after each run (graceful shutdown, 2 s deadline)."""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MODES = ("reuseport", "reuseport-cpu", "round-robin")


def start_server(argv):
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(15)
    if not line or not line[0].startswith(b"tcp:"):
        proc.kill()
        proc.wait()
        err.seek(0)
        raise RuntimeError("server printed no address: %s" % err.read()[-500:])
    return proc, err, line[0].decode().strip()


def stop_server(proc, err):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err.seek(0)
    text = err.read()
    m = re.search(r"accepted per core:([ 0-9]+)", text)
    return [int(x) for x in m.group(1).split()] if m else None


def measure(args, mode, conns):
    server = [os.path.join(args.build_dir, "bench", "sharded_echo_server"), "--threads", str(args.threads),
              "--distribution", mode, "--backend", args.backend]
    proc, err, addr = start_server(server)
    try:
        load = [os.path.join(args.build_dir, "bench", "echo_load"), "--connect", addr, "--conns", str(conns),
                "--size", "64", "--duration", str(args.duration), "--warmup", str(args.warmup),
                "--server-pid", str(proc.pid), "--json"]
        out = subprocess.run(load, capture_output=True, text=True, timeout=120 + conns / 100)
        if out.returncode != 0:
            raise RuntimeError("echo_load failed: %s" % (out.stderr or out.stdout)[-500:])
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        accepted = stop_server(proc, err)
    return {
        "conn_per_s": conns / result["ramp_s"] if result["ramp_s"] > 0 else None,
        "msgs_per_s": result["msgs_per_s"],
        "server_cpu_us_per_msg": result["server_cpu_us_per_msg"],
        "server_util": result["server_util"],
        "ramp_s": result["ramp_s"],
        "accepted": accepted,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    p.add_argument("--conns", default="1000,10000")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", default="epoll")
    p.add_argument("--json")
    args = p.parse_args()
    conns_list = [int(c) for c in args.conns.split(",")]
    modes = args.modes.split(",")

    runs = {(m, c): [] for m in modes for c in conns_list}
    for rep in range(args.reps):
        for conns in conns_list:
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for mode in order:
                r = measure(args, mode, conns)
                runs[(mode, conns)].append(r)
                print("rep %d C=%d %-14s conn/s %8.0f msgs/s %9.0f srv us/msg %6.2f accepted %s" % (
                    rep, conns, mode, r["conn_per_s"] or 0, r["msgs_per_s"], r["server_cpu_us_per_msg"] or 0,
                    r["accepted"]), file=sys.stderr)

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else float("nan")

    print("%-8s %-14s %10s %10s %11s %8s  %s" % ("C", "mode", "conn/s", "msgs/s", "srv us/msg", "srv util",
                                                  "accepted per core (last run)"))
    summary = {}
    for conns in conns_list:
        for mode in modes:
            rs = runs[(mode, conns)]
            s = {
                "conn_per_s": med([r["conn_per_s"] for r in rs]),
                "msgs_per_s": med([r["msgs_per_s"] for r in rs]),
                "server_cpu_us_per_msg": med([r["server_cpu_us_per_msg"] for r in rs]),
                "server_util": med([r["server_util"] for r in rs]),
                "accepted_last": rs[-1]["accepted"],
            }
            summary["%s/%d" % (mode, conns)] = s
            print("%-8d %-14s %10.0f %10.0f %11.3f %8.2f  %s" % (conns, mode, s["conn_per_s"], s["msgs_per_s"],
                                                                 s["server_cpu_us_per_msg"], s["server_util"],
                                                                 s["accepted_last"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": {"%s/%d" % k: v for k, v in runs.items()}, "medians": summary},
                      f, indent=1)


if __name__ == "__main__":
    main()
