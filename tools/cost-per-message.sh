#!/usr/bin/env bash
# What one message costs the server in system calls and context switches:
# tiraid and mosquitto in turn (server on core 0, tirai-bench on core 1),
# the latency workload with one frame per segment, and `perf stat` counting
# the server's calls over the middle of the run. Prints one markdown table
# of counts per message. A separate run from tools/bench-compare.sh: perf's
# counting costs the server a little, so its CPU figures are bench-compare's.
#   RATE=10000 PAIRS=100 SECONDS_PER_RUN=12 tools/cost-per-message.sh
# Needs perf (Debian: linux-perf) and root, or kernel.perf_event_paranoid
# at -1 for the tracepoints. TIRAID=path/to/tiraid measures another build.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-10000}
PAIRS=${PAIRS:-100}
SECS=${SECONDS_PER_RUN:-12}
TIRAID=${TIRAID:-build/relay/tiraid}
command -v perf > /dev/null || { echo "cost-per-message: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v mosquitto > /dev/null || { echo "cost-per-message: mosquitto is missing" >&2; exit 1; }
[ -x "$TIRAID" ] && [ -x build/tools/tirai-bench ] || tools/build.sh > /dev/null

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# Counted from 3 s into the run until 1 s before its end.
window=$((SECS - 4))
[ "$window" -ge 2 ] || { echo "cost-per-message: SECONDS_PER_RUN must be 6 or more" >&2; exit 1; }
calls=(recvmsg sendmsg read write epoll_wait epoll_ctl futex pwrite64 pread64 fcntl fdatasync ftruncate)
events=task-clock,context-switches,raw_syscalls:sys_enter
for c in "${calls[@]}"; do events+=",syscalls:sys_enter_$c"; done

. tools/bench/wait-port.sh

measure() {  # name -> $work/name.stat, $work/name.json
  local name=$1 pid args
  case $name in
    tirai)
      mkdir -p "$work/tirai"
      printf '[relay]\nlisten = "127.0.0.1:18080"\nmax_connections = 100000\n[admin]\nlisten = "127.0.0.1:18081"\n[policy]\nlogin_attempts_per_minute = 0\nmessages_per_minute = 0\n[log]\nlevel = "warn"\n' > "$work/tirai/tiraid.toml"
      taskset -c 0 "$TIRAID" --config "$work/tirai/tiraid.toml" 2> "$work/tirai/log" &
      pid=$!
      wait_port 18081
      args=(--target tirai --port 18080 --admin-port 18081 --token-file "$work/tirai/admin.token")
      ;;
    mosquitto)
      printf 'listener 11883 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 100000\n' > "$work/mosquitto.conf"
      taskset -c 0 mosquitto -c "$work/mosquitto.conf" 2> "$work/mosquitto.log" &
      pid=$!
      wait_port 11883
      args=(--target mosquitto --port 11883)
      ;;
  esac
  taskset -c 1 build/tools/tirai-bench --json "${args[@]}" --server-pid "$pid" --workload latency --rate "$RATE" \
    --pairs "$PAIRS" --seconds "$SECS" --writes one-per-message > "$work/$name.json" 2> "$work/$name.bench.log" &
  local bench=$!
  sleep 3  # the window starts once the pairs are connected and sending
  perf stat -x, -e "$events" -p "$pid" -- sleep "$window" 2> "$work/$name.stat"
  wait "$bench"
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

measure tirai
measure mosquitto

python3 - "$work" "$RATE" "$window" << 'PY'
import json, sys
work, rate, window = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
messages = rate * window
def counts(name):
    out = {}
    for line in open(f"{work}/{name}.stat"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
            out[f[2].replace("syscalls:sys_enter_", "")] = float(f[0])
    return out
t, m = counts("tirai"), counts("mosquitto")
lat = {n: json.load(open(f"{work}/{n}.json")) for n in ("tirai", "mosquitto")}
print(f"Per message, {int(rate)} msg/s offered, one frame per segment, "
      f"counted over {int(window)} s ({int(messages)} messages):\n")
print("| | tirai | mosquitto |")
print("|---|---|---|")
print(f"| CPU (perf task-clock), µs | {t['task-clock'] * 1000 / messages:.1f} | {m['task-clock'] * 1000 / messages:.1f} |")
print(f"| context switches | {t['context-switches'] / messages:.2f} | {m['context-switches'] / messages:.2f} |")
print(f"| system calls | {t['raw_syscalls:sys_enter'] / messages:.2f} | {m['raw_syscalls:sys_enter'] / messages:.2f} |")
for k in t:
    if k in ("task-clock", "context-switches", "raw_syscalls:sys_enter"): continue
    if t[k] == 0 and m.get(k, 0) == 0: continue
    print(f"| `{k}` | {t[k] / messages:.2f} | {m.get(k, 0) / messages:.2f} |")
print(f"| p50 / p99, µs | {lat['tirai']['p50_us']:.0f} / {lat['tirai']['p99_us']:.0f} | "
      f"{lat['mosquitto']['p50_us']:.0f} / {lat['mosquitto']['p99_us']:.0f} |")
PY
