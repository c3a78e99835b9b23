#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: a throw-away tiraid,
# one booking from payment to teardown, printed as a transcript.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh > /dev/null
tools/build.sh > /dev/null
exec build/tools/tirai-demo "$@"
