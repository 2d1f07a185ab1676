#!/usr/bin/env bash
# `volt net list` with 10 networks against `node -e 0`, in one run (medians).
# Goal: ≤ 1.5× node -e 0.
#
# Also in the same run: `net list` through oclif (VOLT_FAST_PATH=off, the path
# every other command takes), and with BEFORE=/path/to/checkout that checkout's
# build (e.g. BEFORE=/work/main), against the same state. hyperfine runs each
# command's runs back to back, so load from other work on the machine moves
# whole rows: compare ratios, and run it twice.
source "$(dirname "$0")/lib.sh"
for i in $(seq 1 10); do in_ns $VOLT net create --name "n$i" --subnet "10.$((100 + i)).0.0/24" >/dev/null; done
in_ns $VOLT net list >/dev/null
out=$(mktemp --suffix=.json)
names=('node -e 0' 'volt net list (10 networks)' 'volt --version' 'net list via oclif')
cmds=("ip netns exec $BENCH_NS node -e 0"
  "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js net list"
  "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js --version"
  "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT VOLT_FAST_PATH=off node $REPO/core/bin/run.js net list")
if [ -n "${BEFORE:-}" ]; then
  in_ns env VOLT_ROOT="$BENCH_ROOT" node "$BEFORE/core/bin/run.js" net list >/dev/null
  names+=('before: net list' 'before: --version')
  cmds+=("ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $BEFORE/core/bin/run.js net list"
    "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $BEFORE/core/bin/run.js --version")
fi
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$out" "${args[@]}" >/dev/null
base=$(median_ms "$out" 0)
printf '%-30s %10s %8s\n' "command" "median ms" "ratio"
for i in "${!names[@]}"; do
  m=$(median_ms "$out" "$i")
  printf '%-30s %10s %8s\n' "${names[$i]}" "$m" "$(node -e "console.log(($m/$base).toFixed(2))")"
done
echo "goal: volt net list ≤ 1.5× node -e 0"
rm -f "$out"
