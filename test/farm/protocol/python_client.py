"""The Python side of python_client_test.cpp: frames built with farm_wire.py (flatc --python output and
python3-flatbuffers) go to the C++ test as hex lines on stdout; the frames it answers with come back as hex lines on
stdin and are printed decoded, one JSON object per line.

    python_client.py conversation   Hello + five Submits in one buffer; prints the decoded answers
    python_client.py version N      a Hello for protocol version N; prints the decoded Welcome
"""

import json
import sys

import farm_wire


def printable(value):
    """JSON has no bytes: blobs print as {"blob": "<hex>"}."""
    if isinstance(value, (bytes, bytearray)):
        return {"blob": bytes(value).hex()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    return value


def send(frames):
    print("FRAMES " + b"".join(frames).hex(), flush=True)


def receive_and_print():
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "FRAMES":
        sys.exit("expected a FRAMES line, got %r" % line)
    frames, rest = farm_wire.split_frames(bytes.fromhex(line[1]))
    if rest:
        sys.exit("%d bytes after the last whole frame" % len(rest))
    for frame in frames:
        decoded = farm_wire.decode_frame(frame)
        if "value" in decoded:
            decoded["value"] = printable(decoded["value"])
        print(json.dumps(decoded, sort_keys=True), flush=True)
    print("DONE", flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "conversation"
    if mode == "conversation":
        send([
            farm_wire.hello_frame(features=0b11, client_name="python test"),
            farm_wire.submit_frame(1, "echo", [1, "two", {"k": [True, None]}, b"\x01\x02", 2.5, -7, 2**40]),
            farm_wire.submit_frame(2, "add", [1, 2.5, 3]),
            farm_wire.submit_frame(3, "add", [1, "x"]),
            farm_wire.submit_frame(4, "no_such_task", []),
            farm_wire.submit_frame(5, "add", [2**62, 2**62, -2**62]),
            farm_wire.ping_frame(99),
        ])
    elif mode == "version":
        send([farm_wire.hello_frame(protocol_version=int(sys.argv[2]))])
    else:
        sys.exit("unknown mode " + mode)
    receive_and_print()


if __name__ == "__main__":
    main()
