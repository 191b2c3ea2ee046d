#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole test suite.
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)
#   scripts/test.sh --tsan       ThreadSanitizer build (build-tsan/) of the 'threads' suite only: the tests
#                                where several threads share memory (the runtime's cores, queues, workers,
#                                cross-thread posting); only their targets are built, to keep it short
# Prints one closing line "tests: N passed, N failed, N skipped" counted from the GoogleTest reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

dir=build
opts=()
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
if [ "${1:-}" = "--tsan" ]; then
  dir=build-tsan
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dbench=false >/dev/null
  fi
  ninja -C "$dir" build.ninja >/dev/null  # regenerate first if a meson.build changed
  # shellcheck disable=SC2046 # one target per word
  ninja -C "$dir" $(python3 scripts/suite_targets.py "$dir" threads) >/dev/null
  rm -f "$dir"/test-results/*.xml
  status=0
  meson test -C "$dir" --no-rebuild --suite threads --print-errorlogs --num-processes 2 || status=$?
  python3 scripts/test_summary.py "$dir" || status=1
  exit $status
fi
scripts/build.sh "$dir" "${opts[@]}"
# Old reports would be counted again; the directory itself stays (the tests run in it).
rm -f "$dir"/test-results/*.xml
status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=$?
python3 scripts/test_summary.py "$dir" || status=1
exit $status
