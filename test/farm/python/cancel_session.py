"""A Python farm client exercising Cancel and deadlines against a real farm-server (written from PROTOCOL.md, on
farm_wire.py: flatc --python output and Debian's python3-flatbuffers). The server must run with one worker
(--workers 1) so that a task can be held queued behind another. Prints the Welcome and every answer as one JSON
object per line (with "ms": milliseconds since the scenario's first Submit), then "DONE".

    cancel_session.py tcp:127.0.0.1:40123 queued    # a queued task cancelled, a deadline passed while queued
    cancel_session.py tcp:127.0.0.1:40123 running   # a running offloaded task cancelled (it polls should_stop)
    cancel_session.py tcp:127.0.0.1:40123 reuse     # a task id reused while in flight
"""

import json
import socket
import sys
import time

import farm_wire

CANCEL = 1 << 1
DEADLINES = 1 << 2


class FrameStream:
    def __init__(self, sock):
        self.sock = sock
        self.pending = b""

    def next(self):
        while True:
            frames, _ = farm_wire.split_frames(self.pending)
            if frames:
                self.pending = self.pending[len(frames[0]):]
                return farm_wire.decode_frame(frames[0])
            data = self.sock.recv(65536)
            if not data:
                return {"type": "closed"}
            self.pending += data


def main():
    endpoint, scenario = sys.argv[1], sys.argv[2]
    host, _, port = endpoint.partition(":")[2].rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    stream = FrameStream(sock)
    sock.sendall(farm_wire.hello_frame(features=CANCEL | DEADLINES, client_name="python cancel_session"))
    start = time.monotonic()

    def show(answer):
        answer["ms"] = int((time.monotonic() - start) * 1000)
        if answer.get("type") == "result" and isinstance(answer.get("value"), dict):
            answer["value"] = {"tasks_run": answer["value"].get("tasks_run")}
        print(json.dumps(answer, sort_keys=True), flush=True)
        return answer

    show(stream.next())  # the Welcome
    start = time.monotonic()
    if scenario == "queued":
        # info (inline) counts the tasks run before; 1 holds the only worker for 400 ms; 2 waits behind it and
        # is cancelled; 3 waits behind it with a 50 ms deadline that passes before the worker is free.
        sock.sendall(b"".join([
            farm_wire.submit_frame(10, "info", []),
            farm_wire.submit_frame(1, "sleep_ms", [400]),
            farm_wire.submit_frame(2, "sleep_ms", [10]),
            farm_wire.submit_frame(3, "sleep_ms", [10], deadline_ms=50),
            farm_wire.cancel_frame(2),
        ]))
        for _ in range(4):
            show(stream.next())
        sock.sendall(farm_wire.submit_frame(11, "info", []))  # counts again: 2 and 3 must not have run
        show(stream.next())
    elif scenario == "running":
        sock.sendall(farm_wire.submit_frame(1, "sleep_ms", [5000]))
        time.sleep(0.2)  # the worker has started it
        sock.sendall(farm_wire.cancel_frame(1))
        show(stream.next())
    elif scenario == "reuse":
        sock.sendall(b"".join([
            farm_wire.submit_frame(7, "sleep_ms", [200]),
            farm_wire.submit_frame(7, "add", [1, 2]),
        ]))
        for _ in range(3):  # the protocol error, 7's own answer, then the close
            show(stream.next())
    else:
        sys.exit("unknown scenario " + scenario)
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print(json.dumps({"type": "error", "error": str(e)}), flush=True)
        print("DONE", flush=True)
        sys.exit(0)
