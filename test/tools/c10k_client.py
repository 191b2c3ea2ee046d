#!/usr/bin/env python3
"""The C10K test's client: a peer that is not rfarm (Python's socket and selectors modules).

    c10k_client.py HOST PORT SERVER_PID [--conns 10000] [--batch 1000] [--size 1000] [--timeout 40]

1. Opens --conns connections in batches; each batch echoes one short message per connection before the next
   batch starts, so the server has accepted every connection so far (a burst of 10,000 SYNs would overflow
   the listen backlog and wait for the kernel's one-second retransmits instead).
2. With every connection open, counts the server's open descriptors (/proc/SERVER_PID/fd): it must hold one
   per connection at once.
3. Sends --size bytes on every connection at the same time, a pattern unique to the connection, and reads
   every echo back, each byte compared.
4. Closes them all. Prints one line "ok conns=N server_fds=M bytes=B seconds=S" and exits 0, or prints what
   went wrong and exits 1. Every wait is bounded by --timeout.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time


def pattern(conn_id, size):
    head = ("conn %d:" % conn_id).encode()
    body = bytes((conn_id * 7 + i) % 251 for i in range(max(0, size - len(head))))
    return (head + body)[:size]


class Failure(Exception):
    pass


def echo_round(socks, messages, deadline):
    """Sends messages[i] on socks[i] for all i at once and checks every echo byte for byte."""
    sel = selectors.DefaultSelector()
    state = {}
    for i, s in enumerate(socks):
        state[s.fileno()] = [s, i, memoryview(messages[i]), bytearray()]
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    pending = len(socks)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("%d of %d connections had no whole echo in time" % (pending, len(socks)))
        for key, events in sel.select(timeout=min(left, 1.0)):
            s, i, to_send, got = state[key.fd]
            if events & selectors.EVENT_WRITE and to_send:
                n = s.send(to_send)
                state[key.fd][2] = to_send = to_send[n:]
                if not to_send:
                    sel.modify(s, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                chunk = s.recv(65536)
                if not chunk:
                    raise Failure("connection %d: the server closed it after %d of %d bytes"
                                  % (i, len(got), len(messages[i])))
                got += chunk
                if len(got) > len(messages[i]):
                    raise Failure("connection %d: more bytes came back than were sent" % i)
                if len(got) == len(messages[i]):
                    if bytes(got) != messages[i]:
                        first = next(k for k in range(len(got)) if got[k] != messages[i][k])
                        raise Failure("connection %d: the echo differs at byte %d" % (i, first))
                    sel.unregister(s)
                    pending -= 1
    sel.close()


def open_batch(host, port, count, deadline):
    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex((host, port))
        if err not in (0, 115):  # EINPROGRESS
            raise Failure("connect: %s" % os.strerror(err))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE)
    pending = len(socks)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("%d connections were not established in time" % pending)
        for key, _ in sel.select(timeout=min(left, 1.0)):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise Failure("connect: %s" % os.strerror(err))
            sel.unregister(key.fileobj)
            pending -= 1
    sel.close()
    return socks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("server_pid", type=int)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=40.0)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < a.conns + 100:
        print("skip: the descriptor limit (%d) is below %d connections" % (hard, a.conns))
        return 77
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    start = time.monotonic()
    deadline = start + a.timeout
    socks = []
    try:
        while len(socks) < a.conns:
            batch = open_batch(a.host, a.port, min(a.batch, a.conns - len(socks)), deadline)
            echo_round(batch, [("hello %d\n" % (len(socks) + i)).encode() for i in range(len(batch))], deadline)
            socks += batch
        server_fds = len(os.listdir("/proc/%d/fd" % a.server_pid))
        if server_fds < a.conns:
            raise Failure("the server holds %d descriptors with %d connections open" % (server_fds, a.conns))
        echo_round(socks, [pattern(i, a.size) for i in range(len(socks))], deadline)
    except Failure as e:
        print("failed after %d connections: %s" % (len(socks), e))
        return 1
    finally:
        for s in socks:
            s.close()
    print("ok conns=%d server_fds=%d bytes=%d seconds=%.1f"
          % (len(socks), server_fds, 2 * a.size * len(socks), time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
