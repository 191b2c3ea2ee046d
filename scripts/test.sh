#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole test suite.
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)
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
scripts/build.sh "$dir" "${opts[@]}"
# Old reports would be counted again; the directory itself stays (the tests run in it).
rm -f "$dir"/test-results/*.xml
status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=$?
python3 scripts/test_summary.py "$dir" || status=1
exit $status
