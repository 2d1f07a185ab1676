#!/usr/bin/env bash
# volt-dns against dnsmasq and aardvark-dns serving the same 1,000 names:
# dnsperf from a container on the network; queries per second (throughput
# run) and p99 latency (a run at a fixed rate, every query's latency) each.
# Goal: volt-dns ≥ 1.2× aardvark-dns and ≥ 0.6× dnsmasq (queries per second).
#
# Fairness and noise:
# - All three answer on the network's gateway, 10.77.0.1:53, one after the
#   other: the firewall volt installs admits DNS to the gateway only, and the
#   same address, port, client, path and dnsperf parameters for all three make
#   the comparison fair. Nothing is pinned.
# - Each server runs as it would in production: dnsmasq is single-threaded by
#   design; aardvark-dns uses its tokio runtime; volt-dns uses its default
#   worker processes (one per further CPU), so it may use every core. The
#   dnsperf client shares the same cores with all of them.
# - The machine is shared and noisy: ROUNDS rounds (default 3), each running
#   all three servers back to back in a rotating order (V D A, D A V, A V D…),
#   so load drift hits all alike. The summary gives each server's median and
#   the ratio of the medians, plus the ratio within each round.
#
# "CPU µs/query" is the server's CPU time (user + system, all its processes)
# during the throughput run divided by the queries answered: less sensitive to
# the machine's load than queries per second.
#
# SECS (default 10) is the length of each throughput run (after a 2 s
# warm-up); LAT_QPS (default 10000) the fixed rate of the latency run
# (LAT_SECS, default 4). VOLT_DNS_ARGS adds flags to `volt dns serve`
# (e.g. "--workers 0"); SERVERS limits the servers (e.g. "volt-dns").
#
#   bash bench/dns.sh [--dgram-path]
#
# --dgram-path  also run volt-dns on its node:dgram path (VOLT_DNS_UDP=dgram, the
#               path before docs/decisions/0005) as a fourth server, "volt-dgram",
#               in the same rotation: the A/B of the batched UDP path.
DGRAM_ROW=no
while [ $# -gt 0 ]; do
  case "$1" in
    --dgram-path) DGRAM_ROW=yes; shift ;;
    *) echo "usage: bench/dns.sh [--dgram-path]"; exit 2 ;;
  esac
done
source "$(dirname "$0")/lib.sh"
command -v dnsperf >/dev/null || { echo "bench: dnsperf missing (apt-get install dnsperf)"; exit 1; }
command -v dnsmasq >/dev/null || { echo "bench: dnsmasq missing (apt-get install dnsmasq-base)"; exit 1; }
AARDVARK=${AARDVARK:-/usr/lib/podman/aardvark-dns}
[ -x "$AARDVARK" ] || { echo "bench: aardvark-dns missing (apt-get install aardvark-dns)"; exit 1; }
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
LAT_QPS=${LAT_QPS:-10000}
LAT_SECS=${LAT_SECS:-4}
SERVERS=${SERVERS:-volt-dns dnsmasq aardvark-dns}
[ $DGRAM_ROW = yes ] && SERVERS="$SERVERS volt-dgram"
GW=10.77.0.1
CLIENT_NS="$BENCH_ID-c"
WORK=$(mktemp -d /tmp/volt-bench-dns.XXXXXX)
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
  if [ -f "$WORK/aardvark/aardvark.pid" ]; then
    local pid
    pid=$(cat "$WORK/aardvark/aardvark.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$WORK/aardvark/aardvark.pid"
  fi
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

start_server() {
  case $1 in
    volt-dns)
      ip netns exec "$BENCH_NS" env VOLT_ROOT="$BENCH_ROOT" node "$REPO/core/bin/run.js" dns serve ${VOLT_DNS_ARGS:-} >>"$WORK/volt.log" 2>&1 &
      SERVER_PID=$! ;;
    volt-dgram)
      ip netns exec "$BENCH_NS" env VOLT_ROOT="$BENCH_ROOT" VOLT_DNS_UDP=dgram node "$REPO/core/bin/run.js" dns serve ${VOLT_DNS_ARGS:-} >>"$WORK/volt-dgram.log" 2>&1 &
      SERVER_PID=$! ;;
    dnsmasq)
      ip netns exec "$BENCH_NS" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root --bind-interfaces \
        --listen-address="$GW" --addn-hosts="$WORK/hosts" --local-ttl=0 >>"$WORK/dnsmasq.log" 2>&1 &
      SERVER_PID=$! ;;
    aardvark-dns)
      # aardvark-dns forks into the background and writes its pid next to its config.
      ip netns exec "$BENCH_NS" "$AARDVARK" --config "$WORK/aardvark" -p 53 run >>"$WORK/aardvark.log" 2>&1 ;;
  esac
}

# The server's processes (volt-dns: the main one and its workers; aardvark-dns: its threads are in its pid).
server_pids() {
  case $1 in
    volt-dns | volt-dgram) echo "$SERVER_PID" $(pgrep -P "$SERVER_PID" || true) ;;
    dnsmasq) echo "$SERVER_PID" ;;
    aardvark-dns) cat "$WORK/aardvark/aardvark.pid" ;;
  esac
}
# CPU time (user + system, clock ticks) used so far by these processes.
cpu_ticks() {
  local total=0 p
  for p in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$total"
}

# One run of one server: warm-up, throughput (qps, and the server's CPU per answered query),
# latency at LAT_QPS (p50, p99). Appends to $WORK/results.
measure() {
  local name=$1 round=$2
  start_server "$name"
  wait_answer "$name"
  ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l 2 >/dev/null 2>&1
  local out qps lost p50 p99 pids t0 t1 done_q us
  pids=$(server_pids "$name")
  # shellcheck disable=SC2086
  t0=$(cpu_ticks $pids)
  out=$(ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l "$SECS" 2>&1)
  # shellcheck disable=SC2086
  t1=$(cpu_ticks $pids)
  qps=$(awk '/Queries per second/ { printf "%.0f", $4 }' <<<"$out")
  lost=$(awk '/Queries lost/ { print $3 }' <<<"$out")
  done_q=$(awk '/Queries completed/ { print $3 }' <<<"$out")
  us=$(node -e "console.log(((${t1} - ${t0}) * 1e6 / $(getconf CLK_TCK) / Math.max(1, ${done_q:-0})).toFixed(1))")
  ip netns exec "$CLIENT_NS" dnsperf -s "$GW" -d "$WORK/queries" -l "$LAT_SECS" -Q "$LAT_QPS" -v 2>/dev/null >"$WORK/latency"
  read -r p50 p99 < <(awk '/^> NOERROR/ { print $NF }' "$WORK/latency" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan nan"; exit } a = int(NR * 0.5); b = int(NR * 0.99); if (a < 1) a = 1; if (b < 1) b = 1; printf "%.3f %.3f\n", v[a] * 1000, v[b] * 1000 }')
  stop_server
  echo "$round $name $qps $p50 $p99 $us" >>"$WORK/results"
  echo "bench: round $round: $name: $qps qps (lost $lost), $us µs CPU per query; at $LAT_QPS qps: p50 $p50 ms, p99 $p99 ms" >&2
}

# shellcheck disable=SC2206
LIST=($SERVERS)
echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run; $ROUNDS rounds of ${SECS} s per server" >&2
for round in $(seq 1 "$ROUNDS"); do
  n=${#LIST[@]}
  for i in $(seq 0 $((n - 1))); do measure "${LIST[$(((i + round - 1) % n))]}" "$round"; done
done
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) after the run" >&2
for log in volt volt-dgram; do
  [ -f "$WORK/$log.log" ] && echo "bench: $log: $(grep -m1 'volt-dns: udp:' "$WORK/$log.log" || echo 'no udp line')" >&2
  # VOLT_DNS_TRACE=1 in the environment: when the reading threads beside the first started (under load).
  [ "${VOLT_DNS_TRACE:-}" = 1 ] && [ -f "$WORK/$log.log" ] && grep -m4 'trace .*thread [1-9] \(spawn\|ready\)\|trace .*busy' "$WORK/$log.log" | sed "s/^/bench: $log: /" >&2 || true
done

node - "$WORK/results" "$LAT_QPS" <<'JS'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => l.split(' '));
const latQps = process.argv[3];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const servers = [...new Set(rows.map((r) => r[1]))];
const by = (s, i) => rows.filter((r) => r[1] === s).map((r) => Number(r[i]));
const med = {};
console.log(`${'server'.padEnd(14)} ${'median qps'.padStart(10)}  ${'runs (qps)'.padEnd(26)} ${'CPU µs/query'.padStart(12)} ${`p50 ms @${latQps}`.padStart(13)} ${`p99 ms @${latQps}`.padStart(13)}`);
for (const s of servers) {
  med[s] = median(by(s, 2));
  console.log(`${s.padEnd(14)} ${med[s].toFixed(0).padStart(10)}  ${by(s, 2).join(' ').padEnd(26)} ${median(by(s, 5)).toFixed(1).padStart(12)} ${median(by(s, 3)).toFixed(2).padStart(13)} ${median(by(s, 4)).toFixed(2).padStart(13)}`);
}
const ratio = (a, b, goal) => {
  if (med[a] === undefined || med[b] === undefined) return;
  const rounds = [...new Set(rows.map((r) => r[0]))].map((n) => {
    const q = (s) => Number(rows.find((r) => r[0] === n && r[1] === s)?.[2]);
    return (q(a) / q(b)).toFixed(2);
  });
  console.log(`${a} / ${b}: ${(med[a] / med[b]).toFixed(2)}× of medians${goal === undefined ? '' : ` (goal ≥ ${goal}×)`}; per round: ${rounds.join(', ')}`);
};
ratio('volt-dns', 'aardvark-dns', 1.2);
ratio('volt-dns', 'dnsmasq', 0.6);
ratio('volt-dns', 'volt-dgram');
JS
