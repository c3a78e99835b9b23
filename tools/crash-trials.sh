#!/usr/bin/env bash
# kill -9 under load, N times: tools/crash-trials.sh N [PAIRS]
#
# One tiraid and one database for every trial. Each trial starts tiraid
# (after the first, on what the last kill left), puts load on it with
# `tirai-bench --workload journal` (PAIRS sessions, both sides sending; each
# `accepted` and each message received is journaled), kills tiraid with
# SIGKILL at a random moment of that load, starts it again, and runs
# `tirai-bench --workload journal --verify`, which drains every endpoint and
# checks the whole journal so far: every message ever answered `accepted`
# reached its peer, no committed seq is missing, no endpoint saw seqs out of
# order (a seq delivered again after a restart is fine), and every booked
# session is there, live, with no other. Stops at the first trial that
# breaks a promise (exit 1) and keeps its folder; prints one line per trial
# and a summary.
#
# TIRAI_BUILD names the build folder (default build/); CRASH_TRIALS_DIR
# keeps the trials' folder there instead of a temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."

trials=${1:?usage: tools/crash-trials.sh N [PAIRS]}
pairs=${2:-4}
build=$(realpath "${TIRAI_BUILD:-build}")
tiraid=$build/relay/tiraid
bench=$build/tools/tirai-bench
for p in "$tiraid" "$bench"; do
  [ -x "$p" ] || { echo "crash-trials: $p is missing: build first (tools/build.sh)" >&2; exit 2; }
done

dir=${CRASH_TRIALS_DIR:-$(mktemp -d /tmp/tirai-crash-trials-XXXXXX)}
mkdir -p "$dir/journal"
cat > "$dir/tiraid.toml" <<EOF
[relay]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"
[store]
path = "tirai.db"
[keys]
master_key_file = "master.key"
[policy]
contact_guard = "off"          # the load's texts are digits and names
messages_per_minute = 0
login_attempts_per_minute = 0
EOF

pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  if [ "${failed:-0}" = 0 ] && [ -z "${CRASH_TRIALS_DIR:-}" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

# Starts tiraid and waits for its ready line: sets pid, relay and admin.
start() {
  : > "$dir/tiraid.log"
  "$tiraid" --config "$dir/tiraid.toml" 2>> "$dir/tiraid.log" &
  pid=$!
  for _ in $(seq 300); do
    if line=$(grep -m1 'ready: relay' "$dir/tiraid.log"); then
      relay=$(sed -E 's/.*ready: relay [0-9.]+:([0-9]+).*/\1/' <<< "$line")
      admin=$(sed -E 's/.* admin [0-9.]+:([0-9]+).*/\1/' <<< "$line")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  failed=1
  echo "crash-trials: tiraid did not start; its log:" >&2
  cat "$dir/tiraid.log" >&2
  exit 1
}

bench_args() { echo --host 127.0.0.1 --port "$relay" --admin-port "$admin" --token-file "$dir/admin.token" --journal-dir "$dir/journal" --pairs "$pairs" --json; }

total_sent=0
for trial in $(seq "$trials"); do
  start
  # The load runs at most 10 s; the kill comes after 0.3 to 2.3 s of it,
  # counted from the end of its set-up.
  # shellcheck disable=SC2046
  "$bench" --workload journal --run "t$trial" --seconds 10 $(bench_args) > "$dir/load.json" 2> "$dir/load.err" &
  load=$!
  # The kill falls in the load, not in its set-up: the first trial enrols
  # and books the pairs, and a kill before it saved them (sessions.json)
  # left talents the verifying run would enrol again (409 alias_taken).
  for _ in $(seq 600); do
    [ -f "$dir/journal/sessions.json" ] && break
    kill -0 "$load" 2>/dev/null || break
    sleep 0.05
  done
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + r / 32767 * 2 }')"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  wait "$load" || true
  sent=$(sed -nE 's/.*"sent":([0-9]+).*/\1/p' "$dir/load.json")
  total_sent=$((total_sent + ${sent:-0}))
  start
  # shellcheck disable=SC2046
  if ! "$bench" --workload journal --verify --run "v$trial" $(bench_args) > "$dir/verify.json" 2>&1; then
    failed=1
    echo "crash-trials: trial $trial broke a promise (folder kept: $dir):" >&2
    cat "$dir/verify.json" >&2
    exit 1
  fi
  echo "trial $trial: sent ${sent:-0} before the kill; $(cat "$dir/verify.json")"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
done
echo "crash-trials: $trials trials, $total_sent messages sent under load, every promise held"
