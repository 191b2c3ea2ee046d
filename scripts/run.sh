#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the main job.
# Until the task farm exists, the main job is an echo server on a free loopback port and a client that
# sends messages through it, checks every byte and prints round-trip times.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build -- tools/echo-server tools/echo-client   # only what the demo runs

out=$(mktemp)
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
echo "rfarm: running the demo" >&2
build/tools/echo-server --listen tcp:127.0.0.1:0 >"$out" &
server=$!
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
endpoint=$(head -n1 "$out")
echo "echo-server (pid $server) listening on $endpoint"
build/tools/echo-client --connect "$endpoint" --conns 4 --messages 2000 --size 64
kill -TERM "$server"
wait "$server"
echo "echo-server stopped cleanly"
