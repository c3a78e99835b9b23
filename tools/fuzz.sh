#!/usr/bin/env bash
# Fuzzes one target (or "all") for SECONDS each with libFuzzer, under
# AddressSanitizer and UndefinedBehaviorSanitizer (clang; build-fuzz/).
#   tools/fuzz.sh TARGET SECONDS     TARGET: frame sdp kannel_query contact_guard config admin_api ws_frames, or all
# Each run starts from the target's seeds (tests/fuzz/seeds/TARGET/) and the
# corpus earlier runs on this machine grew (build-fuzz/corpus/TARGET/), and
# prints its executions, executions a second and coverage. An input that
# breaks the target is kept in build-fuzz/findings/TARGET/ and the script
# fails: copy it into tests/fuzz/regressions/TARGET/ (every build's ctest
# replays that folder) once the bug is fixed. FUZZ_JOBS=N runs N targets at
# once (default: one per core).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(frame sdp kannel_query contact_guard config admin_api ws_frames)
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: tools/fuzz.sh TARGET|all SECONDS   (targets: ${targets[*]})" >&2
  exit 2
fi
if [ "$1" = all ]; then
  run=("${targets[@]}")
else
  found=0
  for t in "${targets[@]}"; do [ "$t" = "$1" ] && found=1; done
  if [ $found = 0 ]; then
    echo "fuzz: no target '$1' (targets: ${targets[*]})" >&2
    exit 2
  fi
  run=("$1")
fi
seconds=$2

dir=build-fuzz
if [ ! -f "$dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DTIRAI_SANITIZE=ON -DTIRAI_FUZZ=ON \
    -DTIRAI_WERROR=ON -DCMAKE_CXX_FLAGS=-O1 > /dev/null
fi
cmake --build "$dir" -j "$(nproc)" --target "${run[@]/#/fuzz_}" > "$dir/fuzz-build.log" 2>&1 ||
  { tail -40 "$dir/fuzz-build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

one() {
  local t=$1 corpus=$dir/corpus/$1 findings=$dir/findings/$1/ log=$dir/fuzz-$1.log
  mkdir -p "$corpus" "$findings"
  local dict=()
  [ -f "tests/fuzz/dicts/$t.dict" ] && dict=(-dict="tests/fuzz/dicts/$t.dict")
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
  if "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings" "${dict[@]}" "$corpus" "tests/fuzz/seeds/$t" > "$log" 2>&1; then
    local execs rate cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz: $t: ${seconds}s, $execs executions ($rate/s), $cov, corpus $(ls "$corpus" | wc -l) inputs, nothing found"
  else
    echo "fuzz: $t: FOUND a failure (input kept in $findings; log $log):" >&2
    grep -E 'ERROR|invariant|runtime error|SUMMARY|Test unit written' "$log" | head -20 >&2
    return 1
  fi
}

jobs=${FUZZ_JOBS:-$(nproc)}
status=0
pids=()
for t in "${run[@]}"; do
  one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
