#!/usr/bin/env bash
# Installs what is missing, builds, and runs tiraid on a development config
# generated under var/dev/ (SQLite database, master key and admin token are
# created there, mode 0600, on first start), then prints where to open the
# apps. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh
mkdir -p var/dev
log=var/dev/tiraid.log
: > "$log"
build/relay/tiraid --init --config var/dev/tiraid.toml 2>&1 | tee "$log" &
tiraid=$!
trap 'kill $(jobs -p) 2> /dev/null; wait' INT TERM
for _ in $(seq 300); do
  grep -q 'ready:' "$log" && break
  kill -0 $tiraid 2> /dev/null || exit 1
  sleep 0.1
done
talent=$(sed -n 's/.*\[web\] talent console \([^;]*\);.*/\1/p' "$log" | head -1)
client=$(sed -n 's/.*client links look like \(.*\)$/\1/p' "$log" | head -1)
operator=$(sed -n 's/.*operator page \(.*\)$/\1/p' "$log" | head -1)
cat >&2 <<TEXT

  operator page   $operator   (sign in with the token in var/dev/admin.token)
  talent console  $talent
  client link     $client   (the operator page gives each booking its own)

  tiraictl:       TIRAI_CONFIG=var/dev/tiraid.toml build/tools/tiraictl --help
TEXT
wait $tiraid
