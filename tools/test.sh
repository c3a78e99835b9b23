#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and end to end).
# TIRAI_SANITIZE=1 does the same under AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh
dir=build
[ "${TIRAI_SANITIZE:-0}" = 1 ] && dir=build-asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
ctest --output-on-failure -j "$(nproc)"
