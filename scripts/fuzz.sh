#!/usr/bin/env bash
# The libFuzzer targets of test/fuzz/ (issue 15): configure build-fuzz/ with clang-19 if needed, build the
# targets, run each on its seed corpus for N seconds, print executions and exec/s per target.
#   scripts/fuzz.sh                      every target, 30 s each
#   scripts/fuzz.sh --seconds 20         CI's bounded run (.ci/run)
#   scripts/fuzz.sh --seconds 3600 frame_decoder flex_values
#   scripts/fuzz.sh --runs 10000000      issue 15's long run: 10 million executions per target (capped at
#                                        --seconds, default 3600 in this mode)
# New inputs the fuzzer finds go to build-fuzz/fuzz-corpus/<target>/ (the committed seeds under
# test/fuzz/corpus/ are read, never written); a crash, leak or sanitizer report leaves its input in
# build-fuzz/fuzz-artifacts/<target>/ and makes the exit status non-zero. Needs clang-19 and libfuzzer-19-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=
runs=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ -z "$seconds" ]; then
  if [ "$runs" -gt 0 ]; then seconds=3600; else seconds=30; fi
fi
all=(frame_decoder flex_values address endpoint stream_readers frame_reader http_chunked http_request hosts_file)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# The longest input worth trying per target: a head of http-hello's 8 KiB limit and more, a few frames, short
# text for addresses and endpoints, 1 KiB for the stream readers and the hosts file. Those readers work on
# buffers of 8-80 bytes and split their input down to one byte per receive, so 1 KiB crosses a buffer boundary
# dozens of times. At 4 KiB, hosts_file ran 1,700 executions/s against 13,500 at 1 KiB (issue 15's long run).
max_len() {
  case "$1" in
    frame_decoder|http_request) echo 16384 ;;
    address|endpoint) echo 256 ;;
    flex_values) echo 4096 ;;
    *) echo 1024 ;;
  esac
}

scripts/install-deps.sh clang-19 libfuzzer-19-dev libclang-rt-19-dev
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  # The fuzz build needs no tests or benches: only the targets and the libraries they call are built.
  CC=clang-19 CXX=clang++-19 meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=false -Dbench=false >/dev/null
fi
ninja -C "$dir" build.ninja >/dev/null  # regenerate first if a meson.build changed
ninja -C "$dir" -j"${FUZZ_JOBS:-2}" $(for t in "${targets[@]}"; do echo "test/fuzz/${t}_fuzz"; done) >/dev/null

# ASan's default 256-MiB quarantine keeps every freed block out of reuse for a long time, so each execution's
# allocations land on fresh pages: page faults and zeroing were half of an execution's time. 16 MiB still holds
# many executions' worth of frees, so a use after free inside one execution is caught as before.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-16s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  corpus="$dir/fuzz-corpus/$t"
  artifacts="$dir/fuzz-artifacts/$t/"
  log="$dir/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  result=ok
  # -timeout: one input running 10 s is a hang; -rss_limit_mb bounds memory like a server's limits would.
  # Without --runs the count is unbounded (-runs=-1); the time bound always holds.
  "$dir/test/fuzz/${t}_fuzz" -runs="$([ "$runs" -gt 0 ] && echo "$runs" || echo -1)" \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "test/fuzz/corpus/$t" \
    >"$log" 2>&1 || { result="FAILED (see $log and $artifacts)"; status=1; }
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$result" = ok ] && [ "$runs" -gt 0 ] && [ "${executed:-0}" -lt "$runs" ]; then
    result="ok, but the ${seconds}-s cap ended it before $runs executions"
  fi
  printf '%-16s %12s %10s  %s\n' "$t" "${executed:-0}" "${per_second:-0}" "$result"
done
exit $status
