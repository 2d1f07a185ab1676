#!/usr/bin/env bash
# VM NIC set-up (and tear-down) time: the networkd path (units in
# /run/systemd/network, networkctl reload, wait for the TAP, open it by name)
# against the direct path (TUNSETIFF + ip -batch), both through the real
# drivers, on the same networkd-managed bridge inside a sandbox with a real
# systemd-networkd. Issue goal: networkd ≤ direct + 200 ms.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-20}
QUEUES=${QUEUES:-1}
logs="$BENCH_ROOT/logs"
mkdir -p "$logs" "$BENCH_ROOT/etc/systemd/network" "$BENCH_ROOT/run/systemd/network" "$BENCH_ROOT/etc/volt"
printf 'drivers:\n  bridge: networkd\n' > "$BENCH_ROOT/etc/volt/config.yaml"
# The test harness' keeper: dbus + systemd-networkd in this namespace, reading $BENCH_ROOT's unit dirs.
ip netns exec "$BENCH_NS" unshare -m --propagation slave bash "$REPO/test/harness/networkd-sandbox.sh" "$BENCH_ROOT" "$logs" $$ > "$logs/keeper.out" 2>&1 &
keeper_job=$!
trap 'kill $keeper_job 2>/dev/null; wait $keeper_job 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 1 150); do grep -q '^READY\|^FAIL' "$logs/keeper.out" && break; sleep 0.1; done
read -r word keeper _ < "$logs/keeper.out"
[ "$word" = READY ] || { echo "bench: networkd sandbox did not start: $(cat "$logs/keeper.out")"; exit 1; }
in_sandbox() { nsenter -t "$keeper" -m -n --wd="$REPO" -- "$@"; }
in_sandbox $VOLT net create --name bench --subnet 10.77.0.0/24 >/dev/null

in_sandbox node -e "
const { voltPaths } = require('$REPO/core/dist/paths');
const { DirectTap } = require('$REPO/plugins/direct/dist');
const { NetworkdTap } = require('$REPO/plugins/networkd/dist');
const host = { paths: voltPaths(process.env), warn: (m) => console.error('warning: ' + m), debug: () => {} };
const spec = (i) => ({ vm: 'bench', vmUuid: '00000000-0000-4000-8000-00000000000' + (i % 10), nicId: 'eth0', ifname: 'tap-bench' + (i % 10), bridge: 'volt-bench', mac: '52:54:00:00:00:01', mtu: 1500, queues: $QUEUES });
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
(async () => {
  const rows = [];
  for (const [name, d] of [['direct-tap', new DirectTap(host)], ['networkd', new NetworkdTap(host)]]) {
    const up = [], down = [];
    for (let i = 0; i < $RUNS + 2; i++) {
      const s = spec(i);
      const t0 = process.hrtime.bigint();
      const h = await d.setupNic(s);
      const t1 = process.hrtime.bigint();
      await d.teardownNic(s, h);
      const t2 = process.hrtime.bigint();
      if (i >= 2) { up.push(Number(t1 - t0) / 1e6); down.push(Number(t2 - t1) / 1e6); }
    }
    rows.push([name, med(up), med(down)]);
  }
  console.log('driver'.padEnd(12) + 'setup ms'.padStart(12) + 'teardown ms'.padStart(14) + '   (median of $RUNS, $QUEUES queue(s), TAP on a networkd bridge)');
  for (const [n, u, t] of rows) console.log(n.padEnd(12) + u.toFixed(1).padStart(12) + t.toFixed(1).padStart(14));
  const [, du] = rows[0], [, nu] = rows[1];
  console.log('');
  console.log('networkd setup − direct setup = ' + (nu - du).toFixed(1) + ' ms (goal ≤ 200 ms)');
})().catch((e) => { console.error(e); process.exit(1); });
"
