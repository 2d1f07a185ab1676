#!/usr/bin/env bash
# volt-dns start-up with 1, 10 and 50 networks: from spawning `volt dns serve`
# until every network's listener has answered a real query (an A query for a
# workload of that network, sent from the network's gateway address, so from
# inside its subnet), and the service's resident memory then. Goal: ≤ 1 s at 50.
#
# Peers in the same run, same namespace, same listeners, rounds interleaved
# (the machine is shared and noisy: medians, and ratios within the run):
# - dnsmasq, listening on the same gateway addresses and port with the same
#   names (--bind-interfaces, one --listen-address per gateway, --addn-hosts);
# - volt-dgram (DGRAM=1): volt-dns on its node:dgram path (VOLT_DNS_UDP=dgram,
#   no reading threads), the floor of what is not UDP reading;
# - BEFORE=/path/to/checkout adds that checkout's build as "before".
#
# The prober asks every listener as a client would: one query, on a socket
# connected to the gateway; a listener not bound yet answers ICMP port
# unreachable (ECONNREFUSED), and is asked again PROBE_MS (default 10) ms
# later; a bound one is asked again only after 250 ms without an answer (the
# query waits in its socket until it is read: no backlog made by the prober).
#
# PHASES=1 runs volt-dns with VOLT_DNS_TRACE=1 and prints, per network count,
# the median time (ms since spawn) of each start-up phase it reports
# (plugins/dns/src/trace.ts): resolver start (i.e. node + oclif + core),
# module loads, the reading threads' spawn / isolate / loaded / ready, the
# first and last publish and listener, and the last listener answering.
#
#   NETS="1 10 50" ROUNDS=3 [PHASES=1] [DGRAM=1] [BEFORE=dir] [CPU_PROF=dir] bash bench/dns-startup.sh
source "$(dirname "$0")/lib.sh"
NETS=${NETS:-1 10 50}
ROUNDS=${ROUNDS:-3}
PROBE_MS=${PROBE_MS:-10}
command -v dnsmasq >/dev/null || { echo "bench: dnsmasq missing (apt-get install dnsmasq-base)"; exit 1; }
WORK=$(mktemp -d /tmp/volt-bench-dnsup.XXXXXX)
trap 'rm -rf "$WORK"; bench_cleanup' EXIT

MAX=0
for n in $NETS; do [ "$n" -gt "$MAX" ] && MAX=$n; done
# The default network exists from the first command on: MAX − 1 more.
echo "bench: creating $((MAX - 1)) networks beside the default one" >&2
for i in $(seq 1 $((MAX - 1))); do
  in_ns $VOLT net create --name "d$i" --subnet "10.$((100 + i / 200)).$((i % 200)).0/24" >/dev/null
done
[ "$MAX" -eq 1 ] && in_ns $VOLT net list >/dev/null

# One workload name per network (the resolver only reads names from state), then one state
# per network count: the default network and the first N − 1 others (their bridges stay, unused).
node - "$BENCH_ROOT" "$WORK" $NETS <<'JS'
const fs = require('fs');
const [root, work, ...counts] = process.argv.slice(2);
const file = `${root}/var/lib/volt/state.json`;
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
const nets = Object.values(s.networks).sort((a, b) => (a.name === 'default' ? -1 : b.name === 'default' ? 1 : Number(a.name.slice(1)) - Number(b.name.slice(1))));
for (const n of nets) {
  const name = `w-${n.name}`;
  const ip = n.gateway.replace(/\.1$/, '.9');
  s.workloads[name] = { type: 'container', name, source: { kind: 'netns', name }, registered: true, createdAt: new Date().toISOString() };
  s.attachments.push({ workload: name, network: n.name, ip, mac: '02:00:00:00:00:00', kind: 'veth', ifname: 'eth0', hostIfname: `vh${name}`.slice(0, 15), createdAt: new Date().toISOString() });
}
for (const c of counts) {
  const keep = nets.slice(0, Number(c));
  const names = new Set(keep.map((n) => n.name));
  const t = { ...s, networks: Object.fromEntries(Object.entries(s.networks).filter(([, n]) => names.has(n.name))) };
  t.attachments = s.attachments.filter((a) => names.has(a.network));
  t.workloads = Object.fromEntries(Object.entries(s.workloads).filter(([w]) => t.attachments.some((a) => a.workload === w)));
  const dir = `${work}/root-${c}`;
  fs.cpSync(root, dir, { recursive: true });
  fs.writeFileSync(`${dir}/var/lib/volt/state.json`, JSON.stringify(t));
  fs.writeFileSync(`${work}/listeners-${c}.json`, JSON.stringify(keep.map((n) => ({ address: n.gateway, name: `w-${n.name}`, ip: n.gateway.replace(/\.1$/, '.9') }))));
  fs.writeFileSync(`${work}/hosts-${c}`, keep.map((n) => `${n.gateway.replace(/\.1$/, '.9')} w-${n.name}`).join('\n') + '\n');
}
JS

# One start, timed by a small node script in the namespace (a shell loop costs more than what it
# measures on a loaded machine): spawn the server, probe every listener until each has answered,
# then print {ms, rss MiB, trace phases (ms since spawn)} and stop the server.
cat >"$WORK/time-start.js" <<'JS'
const { spawn } = require('child_process');
const dgram = require('dgram');
const fs = require('fs');
const [listenersFile, port, probeMs, log, ...cmd] = process.argv.slice(2);
const listeners = JSON.parse(fs.readFileSync(listenersFile, 'utf8'));
const out = fs.openSync(log, 'w');
const query = (id, name) => {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0); h.writeUInt16BE(0x0100, 2); h.writeUInt16BE(1, 4);
  return Buffer.concat([h, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
};
const rssOf = (pid) => {
  let kb = 0;
  try { kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch {}
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`))
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) kb += rssOf(c);
  } catch {}
  return kb;
};
let pending = listeners.length;
const answered = [];
let child;
let t0;
// Like a real client: one query at a time per listener. A listener not bound yet answers with
// ICMP port unreachable, which a connected socket reports as ECONNREFUSED: asked again after
// PROBE_MS. A bound one keeps the query queued until it is read: asked again only after RETRY_MS
// (so a service that binds before it reads is not handed a backlog the prober made).
const RETRY_MS = 250;
const sockets = listeners.map((l, i) => {
  const s = dgram.createSocket('udp4');
  const q = query(i + 1, l.name);
  const st = { s, q, done: false, timer: undefined };
  const again = (ms) => { clearTimeout(st.timer); if (!st.done) st.timer = setTimeout(() => { if (!st.done) { s.send(q); again(RETRY_MS); } }, ms); };
  st.start = () => { s.send(q); again(RETRY_MS); };
  s.on('message', (m) => {
    if (st.done || m.length < 12 || m.readUInt16BE(0) !== i + 1 || (m[3] & 0x0f) !== 0 || m.readUInt16BE(6) === 0) return;
    st.done = true;
    clearTimeout(st.timer);
    answered.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (--pending === 0) finish();
  });
  s.on('error', () => again(Number(probeMs)));
  return st;
});
let buf = '';
const lines = [];
const onData = (d) => { fs.writeSync(out, d); buf += d; let nl; while ((nl = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); } };
function finish() {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rss = rssOf(child.pid) / 1024;
  // Trace lines are ms since the service's own time origin: shift them to ms since spawn.
  const spawnEpoch = Number(t0Epoch);
  let shift = 0;
  const phases = [];
  for (const l of lines) {
    const m = /^volt-dns: trace (\S+) (.*)$/.exec(l);
    if (m === null) continue;
    const o = /^origin (\S+)$/.exec(m[2]);
    if (o !== null) { shift = Number(o[1]) - spawnEpoch; continue; }
    phases.push([Number(m[1]) + shift, m[2]]);
  }
  phases.push([answered[0], 'first listener answering'], [answered[answered.length >> 1], 'half the listeners answering']);
  console.log(JSON.stringify({ ms, rss, phases }));
  child.kill('SIGTERM');
  for (const st of sockets) st.s.close();
}
let bound = 0;
let t0Epoch;
for (const [i, st] of sockets.entries())
  st.s.bind({ address: listeners[i].address, port: 0 }, () => st.s.connect(Number(port), listeners[i].address, () => { if (++bound === sockets.length) go(); }));
function go() {
  t0Epoch = performance.timeOrigin + performance.now();
  t0 = process.hrtime.bigint();
  child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  for (const st of sockets) st.start();
  const limit = setTimeout(() => { console.error(`only ${listeners.length - pending} of ${listeners.length} listeners answered after 60 s`); child.kill('SIGKILL'); process.exit(1); }, 60_000);
  limit.unref();
  child.on('exit', (code) => { if (pending > 0) { console.error(`exited (${code}) with ${pending} listeners silent`); process.exit(1); } });
}
JS

measure() {
  local name=$1 n=$2 repo=$3 extra=$4 r root="$WORK/root-$2"
  local log="$WORK/$name-$n.log"
  case $name in
    dnsmasq)
      local args=()
      while read -r a; do args+=("--listen-address=$a"); done < <(node -e 'for (const l of require(process.argv[1])) console.log(l.address)' "$WORK/listeners-$n.json")
      r=$(in_ns node "$WORK/time-start.js" "$WORK/listeners-$n.json" 5353 "$PROBE_MS" "$log" \
        dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root --bind-interfaces --port 5353 \
        "${args[@]}" --addn-hosts="$WORK/hosts-$n" --local-ttl=0 --pid-file=) ;;
    *)
      # shellcheck disable=SC2086
      r=$(in_ns env VOLT_ROOT="$root" $extra node "$WORK/time-start.js" "$WORK/listeners-$n.json" 5353 "$PROBE_MS" "$log" \
        node ${NODE_PROF:-} "$repo/core/bin/run.js" dns serve --port 5353) ;;
  esac || { echo "bench: $name ($n networks) failed:" >&2; tail -5 "$log" >&2; exit 1; }
  echo "$name $n $r" >>"$WORK/results"
  echo "bench: $n networks: $name: all answering after $(node -e 'const r=JSON.parse(process.argv[1]);console.log(r.ms.toFixed(0) + " ms, RSS " + r.rss.toFixed(0) + " MiB")' "$r")" >&2
}

TRACE=
[ "${PHASES:-0}" = 1 ] && TRACE=VOLT_DNS_TRACE=1
# CPU_PROF=dir: volt-dns runs under node --cpu-prof (one .cpuprofile per run and per thread there).
NODE_PROF=
[ -n "${CPU_PROF:-}" ] && { mkdir -p "$CPU_PROF"; NODE_PROF="--cpu-prof --cpu-prof-dir=$CPU_PROF"; }
LIST=("volt-dns|$REPO|$TRACE" "dnsmasq||")
[ "${DGRAM:-0}" = 1 ] && LIST+=("volt-dgram|$REPO|VOLT_DNS_UDP=dgram")
[ -n "${BEFORE:-}" ] && LIST+=("before|$BEFORE|")
echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); networks: $NETS; $ROUNDS rounds; probe every $PROBE_MS ms" >&2
for round in $(seq 1 "$ROUNDS"); do
  for n in $NETS; do
    k=${#LIST[@]}
    for i in $(seq 0 $((k - 1))); do
      IFS='|' read -r name repo extra <<<"${LIST[$(((i + round - 1) % k))]}"
      measure "$name" "$n" "$repo" "$extra"
    done
  done
done
grep -m1 'volt-dns: udp:' "$WORK/volt-dns-$MAX.log" >&2 || true
echo "bench: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" >&2

node - "$WORK/results" "$NETS" "${PHASES:-0}" <<'JS'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => { const [name, n, ...j] = l.split(' '); return { name, n: Number(n), ...JSON.parse(j.join(' ')) }; });
const counts = process.argv[3].trim().split(/\s+/).map(Number);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const names = [...new Set(rows.map((r) => r.name))];
console.log('volt-dns start-up: spawn → every listener answered a query (medians; ms)');
console.log(`${'server'.padEnd(11)} ${'nets'.padStart(4)} ${'median'.padStart(7)} ${'runs'.padEnd(24)} ${'RSS MiB'.padStart(7)} ${'× dnsmasq'.padStart(9)}`);
const med = (name, n, k) => median(rows.filter((r) => r.name === name && r.n === n).map((r) => r[k]));
for (const n of counts)
  for (const name of names) {
    const runs = rows.filter((r) => r.name === name && r.n === n).map((r) => r.ms.toFixed(0)).join(' ');
    console.log(`${name.padEnd(11)} ${String(n).padStart(4)} ${med(name, n, 'ms').toFixed(0).padStart(7)} ${runs.padEnd(24)} ${med(name, n, 'rss').toFixed(0).padStart(7)} ${(med(name, n, 'ms') / med('dnsmasq', n, 'ms')).toFixed(2).padStart(9)}`);
  }
const top = Math.max(...counts);
console.log(`goal: volt-dns ≤ 1000 ms at ${top} networks (${med('volt-dns', top, 'ms') <= 1000 ? 'met' : 'not met'})`);
if (process.argv[4] === '1') {
  // Phase names with a network in them keep only their first and last occurrence.
  for (const n of counts) {
    const per = new Map();
    for (const r of rows.filter((x) => x.name === 'volt-dns' && x.n === n)) {
      const seen = new Map();
      for (const [ms, p] of r.phases) {
        const m = /^(listen|listening|publish) (\S+)/.exec(p);
        const key = m ? m[1] : p.replace(/ \(.*\)$/, '');
        if (!seen.has(key)) seen.set(key, [ms, ms]); else seen.get(key)[1] = ms;
      }
      for (const [k, [a, b]] of seen) {
        const firstLast = /^(listen|listening|publish)$/.test(k);
        for (const [label, v] of firstLast ? [[`${k} first`, a], [`${k} last`, b]] : [[k, a]]) {
          if (!per.has(label)) per.set(label, []);
          per.get(label).push(v);
        }
      }
      if (!per.has('all answering')) per.set('all answering', []);
      per.get('all answering').push(r.ms);
    }
    console.log(`\nvolt-dns phases with ${n} networks (ms since spawn, medians):`);
    for (const [k, v] of [...per].sort((a, b) => median(a[1]) - median(b[1]))) console.log(`  ${median(v).toFixed(1).padStart(8)}  ${k}`);
  }
}
JS
