#!/usr/bin/python3
"""dask_bench.py - the dask.distributed client of bench/run's farm scenario (Debian python3-distributed).

bench/run starts a dask scheduler and N workers (one process, one thread each) on loopback, then runs this
against the scheduler. Each mode does the farm scenario's trivial task, add(a, b), the way dask's
documentation says to for that shape of work, and prints one JSON line:

    dask_bench.py --scheduler tcp://127.0.0.1:PORT --mode throughput --tasks N   (client.map, then gather)
        -> {"tasks": N, "seconds": S, "tasks_per_s": R}
    dask_bench.py ... --mode latency --tasks N     (client.submit(add, i, 1).result(), one at a time)
        -> {"tasks": N, "p50_us": ..., "p99_us": ..., "mean_us": ...}
    dask_bench.py ... --mode broadcast --tasks N   (client.run: the function once on every worker)
        -> {"tasks": N, "workers": W, "p50_us": ..., "p99_us": ...}

Every result is checked; exit status 1 on a wrong one. pure=False so dask does not merely hand back a cached
result for a repeated call.
"""

import argparse
import json
import sys
import time

from distributed import Client


def add(a, b):
    return a + b


def one():
    return 1


def percentiles(samples):
    samples.sort()
    n = len(samples)
    return {"p50_us": samples[n // 2], "p99_us": samples[min(n - 1, int(0.99 * (n - 1)))],
            "mean_us": sum(samples) / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scheduler", required=True)
    ap.add_argument("--mode", choices=("throughput", "latency", "broadcast"), required=True)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=1, help="wait for this many workers first")
    args = ap.parse_args()
    with Client(args.scheduler, timeout=30) as client:
        client.wait_for_workers(args.workers, timeout=60)
        n = args.tasks
        if args.mode == "throughput":
            client.gather(client.map(add, range(100), [1] * 100, pure=False))  # warm-up: function shipped
            t0 = time.perf_counter()
            results = client.gather(client.map(add, range(n), [1] * n, pure=False))
            seconds = time.perf_counter() - t0
            if results != [i + 1 for i in range(n)]:
                sys.exit("dask_bench: wrong results")
            print(json.dumps({"tasks": n, "seconds": seconds, "tasks_per_s": n / seconds}))
            return 0
        samples = []
        for i in range(-(n // 10), n):
            t0 = time.perf_counter()
            if args.mode == "latency":
                ok = client.submit(add, i, 1, pure=False).result() == i + 1
            else:
                got = client.run(one)
                ok = len(got) == args.workers and all(v == 1 for v in got.values())
            dt = (time.perf_counter() - t0) * 1e6
            if not ok:
                sys.exit("dask_bench: wrong result")
            if i >= 0:
                samples.append(dt)
        out = {"tasks": n, "workers": args.workers}
        out.update(percentiles(samples))
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
