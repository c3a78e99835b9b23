#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and end to
# end), then builds the Debian package and tests it on this machine.
# TIRAI_SANITIZE=1 does the same under AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh
dir=build
[ "${TIRAI_SANITIZE:-0}" = 1 ] && dir=build-asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$dir" && ctest --output-on-failure -j "$(nproc)")

# The Debian package, from the plain build: built, checked by lintian,
# installed on this machine, checked, removed and purged (root: it adds the
# tirai account; tools/test-package.sh leaves the machine as it found it).
if [ "${TIRAI_SANITIZE:-0}" != 1 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  deb=$(tools/package.sh)
  "${sudo[@]}" tools/test-package.sh "$deb"
fi
