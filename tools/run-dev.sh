#!/usr/bin/env bash
# Installs what is missing, builds, and runs tiraid on a development config
# generated under var/dev/ (SQLite database, master key and admin token are
# created there, mode 0600, on first start). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh
mkdir -p var/dev
echo "tiraid: config var/dev/tiraid.toml; operate it with: TIRAI_CONFIG=var/dev/tiraid.toml build/tools/tiraictl --help" >&2
exec build/relay/tiraid --init --config var/dev/tiraid.toml
