#!/usr/bin/env bash
# volt-dns start-up with N networks (default 50): from `volt dns serve` being
# started to the last network's "listening on" line (every listener answers
# from then on), and the service's resident memory then. Goal: ≤ 1 s at 50.
#
# Peers in the same run, same namespace and state, rounds interleaved (the
# machine is shared and noisy: medians, and ratios within the run):
# - volt-dgram: the same service on its node:dgram path (VOLT_DNS_UDP=dgram: no
#   reading threads at all), the floor of what is not UDP reading;
# - BEFORE=/path/to/checkout adds that checkout's build as "before" (e.g.
#   BEFORE=/work/main for the code before reading threads were shared).
#
#   NETS=50 ROUNDS=5 [BEFORE=dir] bash bench/dns-startup.sh
source "$(dirname "$0")/lib.sh"
NETS=${NETS:-50}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/volt-bench-dnsup.XXXXXX)
trap 'rm -rf "$WORK"; bench_cleanup' EXIT

echo "bench: creating $NETS networks" >&2
for i in $(seq 1 "$NETS"); do
  in_ns $VOLT net create --name "d$i" --subnet "10.$((100 + i / 200)).$((i % 200)).0/24" >/dev/null
done
# One workload name per network, written into state (the resolver only reads names).
node - "$BENCH_ROOT/var/lib/volt/state.json" <<'JS'
const fs = require('fs');
const file = process.argv[2];
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
for (const n of Object.values(s.networks)) {
  const name = `w-${n.name}`;
  const ip = n.subnet.replace(/\.0\/24$/, '.9');
  s.workloads[name] = { type: 'container', name, source: { kind: 'netns', name }, registered: true, createdAt: new Date().toISOString() };
  s.attachments.push({ workload: name, network: n.name, ip, mac: '02:00:00:00:00:00', kind: 'veth', ifname: 'eth0', hostIfname: `vh${name}`.slice(0, 15), createdAt: new Date().toISOString() });
}
fs.writeFileSync(`${file}.tmp`, JSON.stringify(s));
fs.renameSync(`${file}.tmp`, file);
JS
total=$(in_ns env VOLT_ROOT="$BENCH_ROOT" $VOLT net list -o json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).length)')

# One start, timed by a small node script (a shell loop polling a log costs more than
# what it measures on a loaded machine): ms from spawning the service to its last
# "listening on" line, and the resident memory (MiB) of it and its children then.
cat >"$WORK/time-start.js" <<'JS'
const { spawn } = require('child_process');
const fs = require('fs');
const [total, log, ...cmd] = process.argv.slice(2);
const out = fs.openSync(log, 'w');
const t0 = process.hrtime.bigint();
const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
let seen = 0;
let done = false;
const rssOf = (pid) => {
  let kb = 0;
  try { kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch {}
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`))
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) kb += rssOf(c);
  } catch {}
  return kb;
};
const line = (d) => {
  fs.writeSync(out, d);
  seen += (d.toString().match(/listening on/g) ?? []).length;
  if (!done && seen >= Number(total)) {
    done = true;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // ip netns exec execs node: the child's pid is the service.
    console.log(`${ms.toFixed(0)} ${(rssOf(child.pid) / 1024).toFixed(0)}`);
    child.kill('SIGTERM');
  }
};
child.stdout.on('data', line);
child.stderr.on('data', line);
const limit = setTimeout(() => { console.error(`only ${seen} of ${total} listeners after 120 s`); child.kill('SIGKILL'); process.exitCode = 1; }, 120_000);
child.on('exit', (code) => { clearTimeout(limit); if (!done) { console.error(`exited (${code}) after ${seen} listeners`); process.exitCode = 1; } });
JS
measure() {
  local name=$1 repo=$2 extra=$3 r
  # shellcheck disable=SC2086
  r=$(node "$WORK/time-start.js" "$total" "$WORK/$name.log" ip netns exec "$BENCH_NS" env VOLT_ROOT="$BENCH_ROOT" $extra node "$repo/core/bin/run.js" dns serve --port 5353) ||
    { echo "bench: $name failed:"; tail -5 "$WORK/$name.log"; exit 1; }
  echo "$name $r" >>"$WORK/results"
  echo "bench: $name: $total listeners after ${r% *} ms, RSS ${r#* } MiB" >&2
}

LIST=("volt-dns|$REPO|" "volt-dgram|$REPO|VOLT_DNS_UDP=dgram")
[ -n "${BEFORE:-}" ] && LIST+=("before|$BEFORE|")
echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $total networks, $ROUNDS rounds" >&2
for round in $(seq 1 "$ROUNDS"); do
  n=${#LIST[@]}
  for i in $(seq 0 $((n - 1))); do
    IFS='|' read -r name repo extra <<<"${LIST[$(((i + round - 1) % n))]}"
    measure "$name" "$repo" "$extra"
  done
done
grep -m1 'volt-dns: udp:' "$WORK/volt-dns.log" >&2 || true

node - "$WORK/results" "$total" <<'JS'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => l.split(' '));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const names = [...new Set(rows.map((r) => r[0]))];
const med = (n, i) => median(rows.filter((r) => r[0] === n).map((r) => Number(r[i])));
console.log(`volt-dns start-up with ${process.argv[3]} networks (to the last "listening on"; medians)`);
console.log(`${'server'.padEnd(12)} ${'median ms'.padStart(10)} ${'runs (ms)'.padEnd(32)} ${'RSS MiB'.padStart(8)} ${'× dgram'.padStart(8)}`);
for (const n of names) {
  const runs = rows.filter((r) => r[0] === n).map((r) => r[1]).join(' ');
  console.log(`${n.padEnd(12)} ${String(med(n, 1)).padStart(10)} ${runs.padEnd(32)} ${String(med(n, 2)).padStart(8)} ${(med(n, 1) / med('volt-dgram', 1)).toFixed(2).padStart(8)}`);
}
console.log(`goal: volt-dns ≤ 1000 ms (${med('volt-dns', 1) <= 1000 ? 'met' : 'not met'})`);
JS
