"""A Python farm client talking to a real farm-server over a socket (tcp:, unix: or tls:), built on farm_wire.py
(flatc --python output and Debian's python3-flatbuffers): the handshake, then add / echo / fail / a bad
argument / a Ping, every answer printed as one JSON object per line, then "DONE".

    server_session.py tcp:127.0.0.1:40123
    server_session.py tls:127.0.0.1:40124 --ca ca.pem --cert client.pem --key client.key
    server_session.py unix:/tmp/farm.sock --hello-only      # prints the Welcome and stops
"""

import argparse
import json
import socket
import ssl
import sys

import farm_wire


def connect(spec, args):
    transport, _, rest = spec.partition(":")
    if transport == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(rest)
        return sock
    host, _, port = rest.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
    if transport == "tls":
        context = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            context.load_cert_chain(args.cert, args.key)
        sock = context.wrap_socket(sock, server_hostname="localhost")
    return sock


class FrameStream:
    def __init__(self, sock):
        self.sock = sock
        self.pending = b""

    def next(self):
        while True:
            frames, rest = farm_wire.split_frames(self.pending)
            if frames:
                self.pending = self.pending[len(frames[0]):]
                return farm_wire.decode_frame(frames[0])
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending += data


def printable(value):
    if isinstance(value, (bytes, bytearray)):
        return {"blob": bytes(value).hex()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    return value


def show(decoded):
    if decoded is None:
        print(json.dumps({"type": "closed"}), flush=True)
        return
    if "value" in decoded:
        decoded["value"] = printable(decoded["value"])
    print(json.dumps(decoded, sort_keys=True), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--hello-only", action="store_true")
    args = parser.parse_args()
    sock = connect(args.endpoint, args)
    sock.settimeout(10)
    stream = FrameStream(sock)
    sock.sendall(farm_wire.hello_frame(client_name="python server_session"))
    welcome = stream.next()
    show(welcome)
    if args.hello_only or welcome is None or not welcome.get("accepted"):
        show(stream.next())  # a refused client is closed: prints {"type": "closed"}
        print("DONE", flush=True)
        return
    sock.sendall(b"".join([
        farm_wire.submit_frame(1, "add", [1, 2, 39]),
        farm_wire.submit_frame(2, "echo", ["x", [1, 2.5], {"k": None}]),
        farm_wire.submit_frame(3, "fail", ["boom"]),
        farm_wire.submit_frame(4, "add", [1, "two"]),
        farm_wire.submit_frame(5, "sleep_ms", [1]),
        farm_wire.ping_frame(99),
    ]))
    for _ in range(6):
        show(stream.next())
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ssl.SSLError) as e:
        print(json.dumps({"type": "error", "error": str(e)}), flush=True)
        print("DONE", flush=True)
        sys.exit(0)
