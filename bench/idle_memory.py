#!/usr/bin/env python3
"""idle_memory.py - server memory per idle TCP connection: rfarm's echo-server against the peers.

For each server: start it, read its resident set size (VmRSS), open N connections to it and have each one
echo a single byte (so every connection is accepted and has been through one receive and one send), read
VmRSS again, and report (after - before) / N. The connections then stay idle; nothing else runs. This is
what a C10K-and-beyond server pays per parked connection in user space (kernel socket memory is not in RSS
and is the same for every server).

A second figure, "marginal", is the growth between N/2 and N connections divided by N/2. It leaves out memory
that grows with use up to a fixed bound rather than with connections: an io_uring server's provided-buffer
ring is touched buffer by buffer as the kernel cycles through it, so one page of each buffer in the ring
enters RSS as the first connections each receive one byte, and then no more (raw-uring: 4096 buffers of
16 KiB; rfarm's ring starts with 64 and grows only while the receives in flight hold every buffer). The
average charges that memory to the connections; the marginal figure does not.

    python3 bench/idle_memory.py --build-dir build-bench [--conns 10000] [--servers rfarm-epoll,...]

Python stdlib only. The client side holds N sockets, so N is bounded by the open-files limit (raised to its
hard limit here; 20000 on the project's machine).
"""

import argparse
import os
import socket
import sys
import time

from idle_rss import allow_connections, bytes_per_connection, rss_points
# The same servers, started and stopped the same way, as the echo benchmark.
from run_echo_bench import EPOLL_PEERS, SERVERS, Server

DEFAULT_SERVERS = "rfarm-epoll,rfarm-uring,rfarm-epoll-coro,rfarm-uring-coro,raw-epoll,libuv,libevent,asio,raw-uring"


def open_echoed(port, count, socks, deadline):
    """Opens count more connections, each echoing one byte, and waits for every echo."""
    fresh = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"x")
        fresh.append(s)
        socks.append(s)
        if time.monotonic() > deadline:
            raise RuntimeError("connecting took over 60 s")
    for s in fresh:
        if s.recv(1) != b"x":
            raise RuntimeError("a connection did not echo its byte")
    time.sleep(0.3)


def measure(path, extra, conns):
    """RSS in KiB with no connection and with conns idle connections (bench/harness/c10k.py calls this)."""
    before, _, after = measure_points(path, extra, conns)
    return before, after


def measure_points(path, extra, conns):
    """RSS in KiB with no connection, with conns // 2 and with conns idle connections."""
    srv = Server([path, "--listen", "tcp:127.0.0.1:0"] + extra)
    socks = []
    try:
        port = int(srv.start().rsplit(":", 1)[1])
        time.sleep(0.2)
        deadline = time.monotonic() + 60
        return rss_points(srv.proc.pid, lambda count: open_echoed(port, count, socks, deadline), conns)
    finally:
        for s in socks:
            s.close()
        srv.stop()
        srv.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build", help="meson build directory (default: build)")
    ap.add_argument("--conns", type=int, default=10000, help="idle connections per server (default: 10000)")
    ap.add_argument("--servers", default=DEFAULT_SERVERS, help="comma list (default: %s)" % DEFAULT_SERVERS)
    args = ap.parse_args()

    allow_connections(args.conns, "idle_memory")

    rows, failed = [], 0
    for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
        if name not in SERVERS:
            sys.exit("idle_memory: unknown server %r (known: %s)" % (name, ", ".join(SERVERS)))
        rel, extra, _ = SERVERS[name]
        path = os.path.join(args.build_dir, rel)
        if not os.access(path, os.X_OK):
            print("skip %-16s: %s is missing" % (name, path))
            continue
        try:
            before, middle, after = measure_points(path, extra, args.conns)
        except (OSError, RuntimeError) as e:
            print("%-16s FAILED: %s" % (name, e))
            failed += 1
            continue
        per_conn, marginal = bytes_per_connection(before, middle, after, args.conns)
        rows.append((name, before, after, per_conn))
        print("%-16s RSS %7d KiB idle, %7d KiB with %d connections: %6.0f B per connection (marginal %6.0f B)" % (
            name, before, after, args.conns, per_conn, marginal))
    peers = [r[3] for r in rows if r[0] in EPOLL_PEERS]
    if peers:
        best = min(peers)
        for name, _, _, per_conn in rows:
            if name.startswith("rfarm"):
                print("%-16s %.1fx the best of raw-epoll and libuv (%.0f B)" % (name, per_conn / max(best, 1), best))
    uring_peer = [r[3] for r in rows if r[0] == "raw-uring"]
    for name, _, _, per_conn in rows:
        if name.startswith("rfarm-uring") and uring_peer:
            print("%-16s %.2fx raw-uring (%.0f B)" % (name, per_conn / max(uring_peer[0], 1), uring_peer[0]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
