#!/usr/bin/env bash
# `volt net list` with 10 networks against `node -e 0`, in one run (medians).
# Goal: ≤ 1.5× node -e 0.
source "$(dirname "$0")/lib.sh"
for i in $(seq 1 10); do in_ns $VOLT net create --name "n$i" --subnet "10.$((100 + i)).0.0/24" >/dev/null; done
in_ns $VOLT net list >/dev/null
out=$(mktemp --suffix=.json)
hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$out" \
  -n 'node -e 0' "ip netns exec $BENCH_NS node -e 0" \
  -n 'volt net list (10 networks)' "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js net list" \
  -n 'volt --version' "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js --version" >/dev/null
base=$(median_ms "$out" 0); list=$(median_ms "$out" 1); ver=$(median_ms "$out" 2)
printf '%-30s %10s %8s\n' "command" "median ms" "ratio"
printf '%-30s %10s %8s\n' "node -e 0" "$base" "1.00"
printf '%-30s %10s %8s\n' "volt net list (10 networks)" "$list" "$(node -e "console.log(($list/$base).toFixed(2))")"
printf '%-30s %10s %8s\n' "volt --version" "$ver" "$(node -e "console.log(($ver/$base).toFixed(2))")"
echo "goal: volt net list ≤ 1.5× node -e 0"
rm -f "$out"
