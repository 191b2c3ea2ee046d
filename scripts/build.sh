#!/usr/bin/env bash
# Configures (once) and builds rfarm into a build directory.
#   scripts/build.sh [BUILD_DIR] [meson setup options...] [-- TARGET...]
# With targets after "--", builds only those (e.g. "tools/echo-server"); otherwise everything.
# Says what it does on stderr: configuring, then the build's progress.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
setup_opts=()
targets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    targets=("$@")
    break
  fi
  setup_opts+=("$1")
  shift
done

if [ ! -f "$dir/build.ninja" ]; then
  echo "rfarm: configuring $dir/ (meson setup ${setup_opts[*]:-})" >&2
  meson setup "$dir" -Dwerror=true "${setup_opts[@]}" >/dev/null
fi
what="everything"
[ ${#targets[@]} -gt 0 ] && what="${targets[*]}"
echo "rfarm: building $what in $dir/ ($(nproc) parallel jobs)" >&2
start=$(date +%s)
if [ -t 2 ]; then
  # ninja keeps a single status line on a terminal.
  ninja -C "$dir" "${targets[@]}" >&2
else
  # Not a terminal: one line per tenth of the build, not one per file.
  ninja -C "$dir" "${targets[@]}" | {
    last=0
    while IFS= read -r line; do
      if [[ $line =~ ^\[([0-9]+)/([0-9]+)\] ]]; then
        step=$(( 10 * BASH_REMATCH[1] / BASH_REMATCH[2] ))
        if [ "$step" -gt "$last" ]; then
          last=$step
          echo "rfarm:   ${BASH_REMATCH[1]} of ${BASH_REMATCH[2]} steps" >&2
        fi
      elif [[ $line != ninja:* ]]; then
        echo "$line" >&2
      fi
    done
  }
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
fi
echo "rfarm: built in $(( $(date +%s) - start )) s" >&2
