# Shared by the benchmarks: a sandbox host namespace, removed on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_ID="vbench$$"
BENCH_NS="$BENCH_ID-h"
BENCH_ROOT=$(mktemp -d /tmp/volt-bench.XXXXXX)
export VOLT_ROOT=$BENCH_ROOT
bench_cleanup() { ip netns del "$BENCH_NS" 2>/dev/null || true; rm -rf "$BENCH_ROOT"; }
trap bench_cleanup EXIT
ip netns add "$BENCH_NS"
ip -n "$BENCH_NS" link set lo up
command -v hyperfine >/dev/null || { echo "bench: hyperfine missing (bash scripts/setup.sh installs it)"; exit 1; }
[ -f "$REPO/core/dist/volt.js" ] || { echo "bench: build first (npm run build)"; exit 1; }
VOLT="node $REPO/core/bin/run.js"
in_ns() { ip netns exec "$BENCH_NS" "$@"; }

# median_ms FILE INDEX: median of a hyperfine JSON export, in ms
median_ms() { node -e "const r=JSON.parse(require('fs').readFileSync('$1','utf8')).results[$2];console.log((r.median*1000).toFixed(1))"; }
