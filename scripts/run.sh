#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build what the main job runs, and run it: two local
# farm-servers with the example task module, a Kernel job on them (examples/farm_job.cpp: the primes below
# 2*10^7 in 200 chunks with pmap, then 100,000 small tasks for a tasks/s line), and a clean shutdown of both
# servers with farm-admin end-server (each exits 0 once its last connection has closed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
# Only what the job runs, in its own directory so scripts/test.sh's build/ keeps its assertions: a release build
# (no debug information, no test or bench dependencies to configure) at -O2 rather than release's -O3 (the hot
# path stays -O2); farm-server's and farm-admin's own files are -O1 and only the command-line files include
# CLI11 (tools/meson.build). Cold (CCACHE_DISABLE=1), the build's compiles and links took 370.7 CPU-s against
# 424.8 with -O3 and CLI11 everywhere (-12.7%; tools 86.9 -> 42.6, libraries 306.5 -> 298.0), on a 2-core VM
# under other builds' load, which inflates CPU time too (this morning's quiet run: ~330 CPU-s before).
b=build-release
scripts/build.sh "$b" -Dbuildtype=release -Doptimization=2 -Dtests=false -Dbench=false -- tools/farm-server \
  tools/farm-admin examples/example-farm-job examples/tasks/libexample_tasks.so

out1=$(mktemp)
out2=$(mktemp)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "$out1" "$out2"' EXIT

start_server() {  # $1: where its first line goes
  "$b"/tools/farm-server --listen tcp:127.0.0.1:0 --module "$b"/examples/tasks/libexample_tasks.so >"$1" &
  pids+=($!)
}
first_line() {  # waits (at most 10 s) for a server's endpoint line
  for _ in $(seq 200); do [ -s "$1" ] && break; sleep 0.05; done
  head -n1 "$1"
}

echo "rfarm: starting two farm-servers" >&2
start_server "$out1"
start_server "$out2"
s1=$(first_line "$out1")
s2=$(first_line "$out2")
[ -n "$s1" ] && [ -n "$s2" ] || { echo "rfarm: a farm-server did not start" >&2; exit 1; }
echo "farm-servers on $s1 and $s2"

"$b"/examples/example-farm-job "$s1" "$s2"

for s in "$s1" "$s2"; do "$b"/tools/farm-admin end-server "$s" >/dev/null; done
for p in "${pids[@]}"; do wait "$p"; done   # set -e: a server that does not exit 0 fails the script
pids=()
echo "farm-servers stopped cleanly"
