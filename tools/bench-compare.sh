#!/usr/bin/env bash
# Runs tirai-bench against tirai, nats-server and mosquitto in turn (A B C,
# three rounds), server pinned to core 0 and generator to core 1, and prints
# one markdown table of medians and of ratios tirai/peer. Throughput and
# latency run in both client modes (WRITES): "gathered", what an endpoint
# queued during a write leaves in its next one (many frames a segment at
# saturation), and "one-per-message", a write and a segment per frame, as
# people's clients send.
#   ROUNDS=3 SECONDS_PER_RUN=5 LATENCY_SECONDS=15 PAIRS=100 IDLE_CONNECTIONS=20000 tools/bench-compare.sh
# WORKLOADS, RATES, WRITES and LATENCY_PAIRS narrow a run, e.g. the cost of a
# message as people send them:
#   WORKLOADS=latency RATES="1000 10000" WRITES=one-per-message LATENCY_PAIRS=100 tools/bench-compare.sh
# TIRAID=path/to/tiraid measures another build of tiraid (an older commit's,
# for a before and after) with this tree's tirai-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-5}
# Latency runs are longer: every endpoint acknowledges each 64th message,
# all within the same 0.2 s (13 s into a run at 10k msg/s), and a 5 s run
# would leave those acks and the clearing they start out of the tail.
LAT_SECS=${LATENCY_SECONDS:-15}
PAIRS=${PAIRS:-100}
LAT_PAIRS=${LATENCY_PAIRS:-1000}
RATES=${RATES:-"1000 10000 50000"}
WRITES=${WRITES:-"gathered one-per-message"}
WORKLOADS=${WORKLOADS:-"throughput latency churn idle"}
runs() { [[ " $WORKLOADS " == *" $1 "* ]]; }
# Churn workers are blocking clients (eight round trips per churn): with 4 the
# run measures their round trips more than the server; 16 keep it busy.
CHURN_WORKERS=${CHURN_WORKERS:-16}
TIRAID=${TIRAID:-build/relay/tiraid}
# 20,000 idle connections, or as many as the open-file limit allows each
# process with a hundred files to spare (this workplace caps it at 20,000).
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 20100 ]; then IDLE_MAX=20000; else IDLE_MAX=$((hard - 100)); fi
IDLE=${IDLE_CONNECTIONS:-$IDLE_MAX}

tools/install-deps.sh > /dev/null
missing=()
for p in nats-server mosquitto; do command -v "$p" > /dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi
tools/build.sh > /dev/null
ulimit -n 200000 2> /dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
results="$work/results.jsonl"
bench=(taskset -c 1 build/tools/tirai-bench --json)

. tools/bench/wait-port.sh

start_server() {  # name -> sets pid and args
  case $1 in
    tirai)
      rm -rf "$work/tirai" && mkdir -p "$work/tirai"
      cat > "$work/tirai/tiraid.toml" << TOML
[relay]
listen = "127.0.0.1:18080"
max_connections = 100000
[admin]
listen = "127.0.0.1:18081"
[policy]
login_attempts_per_minute = 0
messages_per_minute = 0
[log]
level = "warn"
TOML
      taskset -c 0 "$TIRAID" --config "$work/tirai/tiraid.toml" 2> "$work/tirai/log" &
      pid=$!
      wait_port 18081
      args=(--target tirai --port 18080 --admin-port 18081 --token-file "$work/tirai/admin.token" --server-pid "$pid")
      ;;
    nats)
      taskset -c 0 nats-server -a 127.0.0.1 -p 14222 2> "$work/nats.log" &
      pid=$!
      wait_port 14222
      args=(--target nats --port 14222 --server-pid "$pid")
      ;;
    mosquitto)
      printf 'listener 11883 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 100000\n' > "$work/mosquitto.conf"
      taskset -c 0 mosquitto -c "$work/mosquitto.conf" 2> "$work/mosquitto.log" &
      pid=$!
      wait_port 11883
      args=(--target mosquitto --port 11883 --server-pid "$pid")
      ;;
  esac
}

stop_server() {
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

for round in $(seq 1 "$ROUNDS"); do
  for target in tirai nats mosquitto; do
    echo "[bench-compare] round $round: $target" >&2
    start_server "$target"
    for writes in $WRITES; do
      runs throughput &&
        "${bench[@]}" "${args[@]}" --writes "$writes" --workload throughput --seconds "$SECS" --pairs "$PAIRS" >> "$results"
      if runs latency; then
        for rate in $RATES; do
          "${bench[@]}" "${args[@]}" --writes "$writes" --workload latency --seconds "$LAT_SECS" --pairs "$LAT_PAIRS" \
            --rate "$rate" >> "$results"
        done
      fi
    done
    stop_server
    # Churn on a fresh server: the overloaded 50k msg/s run before it leaves
    # seconds of messages still being stored, which churn would measure.
    if runs churn; then
      start_server "$target"
      "${bench[@]}" "${args[@]}" --workload churn --seconds "$SECS" --workers "$CHURN_WORKERS" >> "$results"
      stop_server
    fi
    if runs idle; then
      start_server "$target"  # idle on a fresh server, so RSS is the connections' alone
      "${bench[@]}" "${args[@]}" --workload idle --seconds "$SECS" --connections "$IDLE" --sessions-per-talent 100 >> "$results"
      stop_server
    fi
  done
done

python3 - "$results" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def key(r): return (r["workload"], r.get("rate"), r.get("writes", ""))
metrics = {"throughput": ["msgs_per_s", "server_cpu_s_per_million"],
           "latency": ["p50_us", "p99_us", "p999_us", "max_us", "sent_late", "server_cpu_us_per_message"],
           "idle": ["kib_per_connection"],
           "churn": ["churns_per_s", "p99_ms", "server_cpu_ms_per_churn"]}
table = {}
for r in rows:
    for m in metrics[r["workload"]]:
        if m in r:
            table.setdefault((key(r), m), {}).setdefault(r["target"], []).append(r[m])
busy = [r for r in rows if r.get("generator_cpu", 0) > 0.9]
print("| workload | metric | tirai | nats | mosquitto | tirai/nats | tirai/mosquitto |")
print("|---|---|---|---|---|---|---|")
for (k, m), by in sorted(table.items(), key=lambda x: (x[0][0][0], x[0][0][2], x[0][0][1] or 0, x[0][1])):
    med = {t: statistics.median(v) for t, v in by.items()}
    def fmt(t): return f"{med[t]:g}" if t in med else "n/a"
    def ratio(p): return f"{med['tirai'] / med[p]:.2f}" if "tirai" in med and p in med and med[p] else "n/a"
    name = k[0] + (f" @{int(k[1])}/s" if k[1] else "") + (f" ({k[2].replace('_', ' ')})" if k[2] else "")
    print(f"| {name} | {m} | {fmt('tirai')} | {fmt('nats')} | {fmt('mosquitto')} | {ratio('nats')} | {ratio('mosquitto')} |")
print(f"\n{len(rows)} runs, medians of {max(len(v) for v in [x for d in table.values() for x in d.values()])} rounds.")
for r in busy:
    print(f"WARNING: generator core {r['generator_cpu']*100:.0f}% busy in {r['target']} {r['workload']} {r.get('rate','')}: that run measured the generator", file=sys.stderr)
PY
