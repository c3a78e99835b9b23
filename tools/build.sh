#!/usr/bin/env bash
# Configures and builds tirai. Warnings are errors. With TIRAI_SANITIZE=1 the
# build goes to build-asan/ with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TIRAI_SANITIZE:-0}" = 1 ]; then
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DTIRAI_SANITIZE=ON)
else
  dir=build
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake -S . -B "$dir" -DTIRAI_WERROR=ON "${flags[@]}" > /dev/null
cmake --build "$dir" -j "$(nproc)"
