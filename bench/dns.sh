#!/usr/bin/env bash
# volt-dns against dnsmasq and aardvark-dns serving the same 1,000 names, in one run:
# dnsperf from a container on the network, queries per second and p99 latency each.
# Goal: volt-dns ≥ 1.2× aardvark-dns and ≥ 0.6× dnsmasq (queries per second).
#
# All three answer on the network's gateway, 10.77.0.1:53, one after the other:
# the firewall volt installs admits DNS to the gateway only, and the same
# address, port, client and path make the comparison fair. SECS (default 10)
# is the length of each throughput run; each server gets a warm-up first.
# VOLT_DNS_ARGS adds flags to `volt dns serve` (e.g. "--workers 0").
source "$(dirname "$0")/lib.sh"
command -v dnsperf >/dev/null || { echo "bench: dnsperf missing (apt-get install dnsperf)"; exit 1; }
command -v dnsmasq >/dev/null || { echo "bench: dnsmasq missing (apt-get install dnsmasq-base)"; exit 1; }
AARDVARK=${AARDVARK:-/usr/lib/podman/aardvark-dns}
[ -x "$AARDVARK" ] || { echo "bench: aardvark-dns missing (apt-get install aardvark-dns)"; exit 1; }
SECS=${SECS:-10}
GW=10.77.0.1
CLIENT_NS="$BENCH_ID-c"
WORK=$(mktemp -d /tmp/volt-bench-dns.XXXXXX)
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
  if [ -f "$WORK/aardvark/aardvark.pid" ]; then kill "$(cat "$WORK/aardvark/aardvark.pid")" 2>/dev/null || true; rm -f "$WORK/aardvark/aardvark.pid"; fi
}
dns_cleanup() {
  stop_server
  ip netns del "$CLIENT_NS" 2>/dev/null || true
  rm -rf "$WORK"
  bench_cleanup
}
trap dns_cleanup EXIT

# The network and one real client (a container connected by volt).
in_ns $VOLT net create --name bench --subnet 10.77.0.0/20 >/dev/null
ip netns add "$CLIENT_NS"
ip -n "$CLIENT_NS" link set lo up
in_ns $VOLT net connect bench "$CLIENT_NS" --ip 10.77.0.100 >/dev/null

# 999 more workloads on the network, written straight into desired state: the
# resolver only reads names and addresses, and 999 namespaces would measure
# connect, not DNS. Names w0001…w0999 at 10.77.1.1 upwards.
node - "$BENCH_ROOT/var/lib/volt/state.json" <<'JS'
const fs = require('fs');
const file = process.argv[2];
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
for (let i = 1; i <= 999; i++) {
  const name = `w${String(i).padStart(4, '0')}`;
  const ip = `10.77.${1 + Math.floor((i - 1) / 250)}.${1 + ((i - 1) % 250)}`;
  s.workloads[name] = { type: 'container', name, source: { kind: 'netns', name }, registered: true, createdAt: new Date().toISOString() };
  s.attachments.push({ workload: name, network: 'bench', ip, mac: '02:00:00:00:00:00', kind: 'veth', ifname: 'eth0', hostIfname: `vb${i}`, createdAt: new Date().toISOString() });
}
fs.writeFileSync(`${file}.tmp`, JSON.stringify(s, null, 2));
fs.renameSync(`${file}.tmp`, file);
JS

# The same 1,000 names for the peers, and the query file (bare names: what all three answer).
in_ns $VOLT net dns list --network bench -o json | node -e '
const rows = JSON.parse(require("fs").readFileSync(0, "utf8")).filter((r) => r.type === "A" && !r.name.includes("."));
const fs = require("fs");
const dir = process.argv[1];
fs.writeFileSync(`${dir}/hosts`, rows.map((r) => `${r.value} ${r.name}`).join("\n") + "\n");
fs.mkdirSync(`${dir}/aardvark`);
fs.writeFileSync(`${dir}/aardvark/bench`, ["10.77.0.1", ...rows.map((r, i) => `${String(i).padStart(64, "0")} ${r.value}  ${r.name}`)].join("\n") + "\n");
fs.writeFileSync(`${dir}/queries`, rows.map((r) => `${r.name} A`).join("\n") + "\n");
console.error(`bench: ${rows.length} names`);
' "$WORK"

wait_answer() {
  for _ in $(seq 1 100); do
    if ip netns exec "$CLIENT_NS" dig +time=1 +tries=1 +short "@$GW" w0001 2>/dev/null | grep -q '^10\.77\.1\.1$'; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 does not answer on $GW:53"; exit 1
}

# measure NAME: warm-up, a throughput run (qps), a latency run with per-query times (p99).
declare -A QPS P99
measure() {
  local name=$1
  wait_answer "$name"
  ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l 2 >/dev/null 2>&1
  local out
  out=$(ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l "$SECS" 2>&1)
  QPS[$name]=$(awk '/Queries per second/ { printf "%.0f", $4 }' <<<"$out")
  local lost
  lost=$(awk '/Queries lost/ { print $3 }' <<<"$out")
  ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l 5 -v 2>/dev/null >"$WORK/latency.$name"
  P99[$name]=$(awk '/^> NOERROR/ { print $NF }' "$WORK/latency.$name" | sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] * 1000 }')
  echo "bench: $name: ${QPS[$name]} qps (lost $lost), p99 ${P99[$name]} ms" >&2
}

echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run" >&2

ip netns exec "$BENCH_NS" env VOLT_ROOT="$BENCH_ROOT" node "$REPO/core/bin/run.js" dns serve ${VOLT_DNS_ARGS:-} >"$WORK/volt.log" 2>&1 &
SERVER_PID=$!
measure volt-dns
stop_server

ip netns exec "$BENCH_NS" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root --bind-interfaces \
  --listen-address="$GW" --addn-hosts="$WORK/hosts" --local-ttl=0 >"$WORK/dnsmasq.log" 2>&1 &
SERVER_PID=$!
measure dnsmasq
stop_server

# aardvark-dns forks into the background and writes its pid next to its config.
ip netns exec "$BENCH_NS" "$AARDVARK" --config "$WORK/aardvark" -p 53 run >"$WORK/aardvark.log" 2>&1
measure aardvark-dns
stop_server

printf '%-14s %10s %10s\n' "server" "qps" "p99 ms"
for s in volt-dns dnsmasq aardvark-dns; do printf '%-14s %10s %10s\n' "$s" "${QPS[$s]}" "${P99[$s]}"; done
ra=$(node -e "console.log((${QPS[volt-dns]} / ${QPS[aardvark-dns]}).toFixed(2))")
rd=$(node -e "console.log((${QPS[volt-dns]} / ${QPS[dnsmasq]}).toFixed(2))")
echo "volt-dns / aardvark-dns: ${ra}× (goal ≥ 1.2×)"
echo "volt-dns / dnsmasq:      ${rd}× (goal ≥ 0.6×)"
