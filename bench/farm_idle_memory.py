#!/usr/bin/env python3
"""farm_idle_memory.py - farm-server's user-space memory per connected idle client, on each backend.

For each backend (RFARM_BACKEND=epoll, uring): start farm-server (--threads 1), read its resident set size
(VmRSS), open N connections that each complete the Hello/Welcome handshake and one Ping/Pong (so each is a
served client, through one receive and one send), read VmRSS again, and report (after - before) / N; "marginal"
is the growth between N/2 and N divided by N/2 (it leaves out memory that grows with use up to a fixed bound,
such as an io_uring provided-buffer ring touched buffer by buffer; see bench/idle_memory.py). Target (issue 12):
at most 2 KB per idle client on both backends.

    python3 bench/farm_idle_memory.py --build-dir build [--conns 4000] [--server PATH] [--json out.json]

Needs python3-flatbuffers and the flatc --python code the build generates (build/farm/protocol/python), which
farm_wire.py (test/farm/python) wraps. The client holds N sockets: N is bounded by the open-files limit (raised
to its hard limit here), and so is the server's (farm-server is started with the same limit).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

from idle_rss import allow_connections, bytes_per_connection, rss_points

HERE = os.path.dirname(os.path.abspath(__file__))


def read_frame(sock, pending):
    while True:
        if len(pending) >= 4:
            length = int.from_bytes(pending[:4], "little")
            if len(pending) >= 4 + length:
                return pending[4 + length:]
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed a connection")
        pending += data


def open_served(farm_wire, host, port, count, socks):
    hello = farm_wire.hello_frame(client_name="farm_idle_memory")
    ping = farm_wire.ping_frame(1)
    fresh = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(hello + ping)
        fresh.append(s)
        socks.append(s)
    for s in fresh:
        rest = read_frame(s, b"")        # Welcome
        read_frame(s, rest)              # Pong
    time.sleep(0.3)


def measure(farm_wire, server, backend, conns):
    env = dict(os.environ, RFARM_BACKEND=backend)
    p = subprocess.Popen([server, "--listen", "tcp:127.0.0.1:0", "--threads", "1", "--idle-timeout-ms", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    socks = []
    try:
        spec = p.stdout.readline().decode().split()[0]
        host, _, port = spec.partition(":")[2].rpartition(":")
        time.sleep(0.3)
        before, half, after = rss_points(
            p.pid, lambda count: open_served(farm_wire, host, int(port), count, socks), conns)
    finally:
        for s in socks:
            s.close()
        p.terminate()
        p.wait(timeout=10)
    per_client, marginal = bytes_per_connection(before, half, after, conns)
    return {"backend": backend, "conns": conns, "rss_before_kib": before, "rss_after_kib": after,
            "bytes_per_client": per_client, "marginal_bytes_per_client": marginal}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--server", help="farm-server to measure (default: BUILD_DIR/tools/farm-server)")
    ap.add_argument("--conns", type=int, default=4000)
    ap.add_argument("--backends", default="epoll,uring")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    sys.path[:0] = [os.path.join(args.build_dir, "farm", "protocol", "python"),
                    os.path.join(HERE, "..", "test", "farm", "python")]
    import farm_wire  # noqa: E402 (the generated code's path is known only now)

    allow_connections(args.conns, "farm_idle_memory")
    server = args.server or os.path.join(args.build_dir, "tools", "farm-server")
    results = []
    for backend in args.backends.split(","):
        m = measure(farm_wire, server, backend, args.conns)
        results.append(m)
        print("%-6s %6d clients: %7.0f B per idle client (marginal %7.0f B); RSS %d -> %d KiB; target <= 2048 B"
              % (backend, m["conns"], m["bytes_per_client"], m["marginal_bytes_per_client"], m["rss_before_kib"],
                 m["rss_after_kib"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
