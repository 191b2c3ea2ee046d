#!/usr/bin/env bash
# Installs the Debian 12 packages rfarm needs that are not installed yet (and nothing else).
# Needs root (or sudo) only when something is missing.
#   scripts/install-deps.sh [--build-only] [EXTRA_PACKAGE...]
# --build-only: what building the library and tools needs, nothing for tests or benches (scripts/run.sh: the
# quick start downloads less). Arguments name extra packages a caller needs on top (scripts/fuzz.sh: clang-19
# and libFuzzer).
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config            # toolchain
  liburing-dev libssl-dev openssl libfmt-dev  # library dependencies
  libc-ares-dev netbase                       # name resolution: c-ares, /etc/services for service names
  libflatbuffers-dev flatbuffers-compiler     # farm protocol schema
  libcli11-dev                                # command lines of the tools
)
test_packages=(
  python3-flatbuffers                         # the farm's Python client test (flatc --python output needs it)
  libgtest-dev libgmock-dev                   # tests
  python3 socat netcat-openbsd iproute2       # real peers the tests talk to
  dnsmasq-base                                # real DNS server for the resolver tests (no system service)
  s6                                          # farm-server's s6 run script, tested under s6-supervise
  libuv1-dev                                  # bench peer baseline
  libbenchmark-dev                            # bench/micro (Google Benchmark)
)
if [ "${1:-}" = "--build-only" ]; then
  shift
else
  packages+=("${test_packages[@]}")
fi
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rfarm: installing ${#missing[@]} missing Debian package(s) with apt-get (a few minutes on a fresh machine): ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "rfarm: packages installed" >&2
