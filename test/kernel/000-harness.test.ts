// harness-selftest: checks the test harness itself (test/harness) against the real kernel,
// real systemd-networkd and real dbus, before any volt test relies on it.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BackgroundProcess,
  HARNESS_NETNS_RE,
  REPO_ROOT,
  SandboxHost,
  UPLINK,
  VOLT_BIN,
  cleanupLeftovers,
  listNetns,
  ping,
  tcpProbeInfo,
  waitFor,
} from '../harness';

interface IpAddr {
  ifname: string;
  operstate?: string;
  master?: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function assertGone(names: string[], timeoutMs = 5000): Promise<void> {
  await waitFor(
    async () => {
      const present = await listNetns();
      return names.every((n) => !present.includes(n));
    },
    { timeoutMs, description: `namespaces ${names.join(', ')} to disappear` },
  );
}

function nsInode(pid: number | 'self'): string {
  return fs.readlinkSync(`/proc/${pid}/ns/net`);
}

test('harness-selftest: plain sandbox, uplink, container on a bridge, probes, destroy', async (t) => {
  const host = await SandboxHost.create(t, { config: 'drivers: {}\n' });
  t.regex(host.netns, /^vt-\d+-\d+-h$/);
  t.regex(host.netns, HARNESS_NETNS_RE);
  t.true(fs.existsSync(path.join(host.root, 'etc/volt/config.yaml')));
  for (const d of ['etc/volt', 'etc/systemd/network', 'run/systemd/network', 'var/lib/volt']) {
    t.true(fs.statSync(path.join(host.root, d)).isDirectory(), d);
  }
  t.is(REPO_ROOT, path.resolve(__dirname, '../../..'));
  t.is(VOLT_BIN, path.join(REPO_ROOT, 'core/bin/run.js'));

  // exec runs in the host's netns (not ours), with VOLT_ROOT set.
  const probe = await host.execJson<{ root: string; ns: string }>(process.execPath, [
    '-e',
    'console.log(JSON.stringify({root: process.env.VOLT_ROOT, ns: require("fs").readlinkSync("/proc/self/ns/net")}))',
  ]);
  t.is(probe.root, host.root);
  t.not(probe.ns, nsInode('self'));
  // npx/ava put node_modules/.bin first in PATH, where `nft` is @vercel/nft: the harness drops those entries.
  t.false((host.env().PATH ?? '').includes('node_modules/.bin'));
  const nft = await host.exec('nft', ['--version']);
  t.regex(nft.stdout, /^nftables v/, nft.stderr);

  // Uplink: host 198.18.0.1 on uplink0, default via the outside; the outside answers.
  const outside = host.outside;
  if (outside === undefined) throw new Error('no outside');
  t.is(outside.address, UPLINK.outsideAddress);
  const uplink = await host.ipJson<IpAddr[]>(['addr', 'show', 'uplink0']);
  t.true(uplink[0]?.addr_info.some((a) => a.local === UPLINK.hostAddress));
  const routes = await host.ipJson<IpRoute[]>(['route', 'show', 'default']);
  t.is(routes[0]?.gateway, UPLINK.outsideAddress);
  t.true(await ping(host, outside.address), 'host pings the outside');
  t.true(await ping(host, outside.internetAddress), 'host reaches the "internet" address through its default route');
  const outsideRoutes = await outside.ipJson<IpRoute[]>(['route', 'show']);
  t.false(outsideRoutes.some((r) => r.dst === 'default' || r.dst.startsWith('10.')), 'outside has no route to 10/8');

  // A bridge made by hand in the host, a container attached raw.
  await host.execOk('ip', ['link', 'add', 'hbr0', 'type', 'bridge']);
  await host.execOk('ip', ['addr', 'add', '10.98.0.1/24', 'dev', 'hbr0']);
  await host.execOk('ip', ['link', 'set', 'hbr0', 'up']);
  const c = await host.addContainer('web');
  t.regex(c.netns, /^vt-\d+-\d+-c1-web$/);
  const hostIf = await host.attachRaw(c, 'hbr0', '10.98.0.2/24', '10.98.0.1');
  t.true(hostIf.length <= 15);
  const link = await host.ipJson<IpAddr[]>(['addr', 'show', hostIf]);
  t.is(link[0]?.master, 'hbr0');
  const eth0 = await c.ipJson<IpAddr[]>(['addr', 'show', 'eth0']);
  t.true(eth0[0]?.addr_info.some((a) => a.local === '10.98.0.2'));
  t.true(await waitFor(() => ping(c, '10.98.0.1'), { timeoutMs: 10_000, description: 'container → gateway ping' }));
  t.false(await ping(c, outside.internetAddress, { timeoutS: 1 }), 'no forwarding/NAT in the host: nothing gets out');

  // TCP probe: host listens, container connects; the peer address is the container's.
  const ok = await tcpProbeInfo(host, c, '10.98.0.1');
  t.true(ok.connected, ok.detail);
  t.is(ok.peerAddress, '10.98.0.2');
  // Unanswered SYN (the outside has no route back to 10/8): false, not a hang.
  const blocked = await tcpProbeInfo(outside, c, outside.internetAddress, { timeoutMs: 1500 });
  t.false(blocked.connected);

  // A background process in a container is stopped by destroy.
  const bg = c.spawn('sleep', ['300']);
  t.true(bg.running);

  if (fs.existsSync(VOLT_BIN)) {
    const r = await host.volt(['--version']);
    t.log(`volt --version: exit ${r.code} ${r.stdout.trim()} ${r.stderr.trim().slice(0, 200)}`);
  } else {
    t.log(`${VOLT_BIN} not built yet: volt() not exercised`);
  }

  const names = host.namespaces();
  t.is(names.length, 3);
  await host.destroy();
  await host.destroy(); // idempotent
  await assertGone(names);
  t.false(fs.existsSync(host.workDir));
  t.false(bg.running);
});

test('harness-selftest: networkd sandbox configures a bridge from VOLT_ROOT and leaves foreign config alone', async (t) => {
  const host = await SandboxHost.create(t, { networkd: true });
  const { keeperPid, networkdPid, dbusPid } = host;
  if (keeperPid === undefined || networkdPid === undefined || dbusPid === undefined) throw new Error('no pids');
  t.true(pidAlive(networkdPid) && pidAlive(dbusPid) && pidAlive(keeperPid));
  // networkd and dbus run in the host's netns, in a mount ns that is not ours.
  t.is(nsInode(networkdPid), (await host.exec('readlink', ['/proc/self/ns/net'])).stdout.trim());
  t.not(fs.readlinkSync(`/proc/${keeperPid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
  // networkd sees /sys read-only, volt (and everything else in the host) a writable one.
  const sysOpts = (pid: number | 'self', text: string): string =>
    text
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[4] === '/sys')?.[5] ?? `no /sys in /proc/${pid}/mountinfo`;
  t.regex(sysOpts(networkdPid, fs.readFileSync(`/proc/${networkdPid}/mountinfo`, 'utf8')), /^ro\b/);
  t.regex(sysOpts('self', (await host.execOk('cat', ['/proc/self/mountinfo'])).stdout), /^rw\b/);
  // exec/volt enter the sandbox's mount + net namespaces, with VOLT_ROOT and the caller's cwd.
  const seen = await host.execJson<{ root: string; mnt: string; cwd: string }>(process.execPath, [
    '-e',
    'const fs=require("fs");console.log(JSON.stringify({root:process.env.VOLT_ROOT,mnt:fs.readlinkSync("/proc/self/ns/mnt"),cwd:process.cwd()}))',
  ]);
  t.is(seen.root, host.root);
  t.is(seen.mnt, fs.readlinkSync(`/proc/${keeperPid}/ns/mnt`));
  t.is(seen.cwd, process.cwd());
  if (fs.existsSync(VOLT_BIN)) {
    const v = await host.volt(['--version']);
    t.log(`volt --version in the networkd sandbox: exit ${v.code} ${v.stdout.trim()} ${v.stderr.trim().slice(0, 200)}`);
  }

  const netdev = '[NetDev]\nName=vtbr0\nKind=bridge\n';
  const network = '[Match]\nName=vtbr0\n\n[Network]\nAddress=10.99.0.1/24\nConfigureWithoutCarrier=yes\n';
  fs.writeFileSync(path.join(host.root, 'etc/systemd/network/50-vtbr0.netdev'), netdev);
  fs.writeFileSync(path.join(host.root, 'etc/systemd/network/50-vtbr0.network'), network);
  // What volt writes under VOLT_ROOT is what networkd reads; nothing leaks to the real /etc.
  t.is((await host.execOk('cat', ['/etc/systemd/network/50-vtbr0.netdev'])).stdout, netdev);
  t.false(fs.existsSync('/etc/systemd/network/50-vtbr0.netdev'));

  const reload = await host.exec('networkctl', ['reload']);
  t.is(reload.code, 0, reload.stderr);
  await waitFor(
    async () => {
      const a = await host.ipJson<IpAddr[]>(['addr', 'show', 'vtbr0']).catch(() => []);
      return a[0]?.addr_info.some((x) => x.local === '10.99.0.1' && x.prefixlen === 24) === true;
    },
    { timeoutMs: 10_000, description: 'vtbr0 with 10.99.0.1/24' },
  );
  await waitFor(
    async () => /^\s*\d+\s+vtbr0\s+bridge\s+\S+\s+configured\s*$/m.test((await host.execOk('networkctl', ['list', '--no-pager'])).stdout),
    { timeoutMs: 10_000, description: 'networkctl list: vtbr0 configured' },
  );

  // A container created after networkd started: its netns is visible inside the sandbox
  // (propagation slave), and once plugged in the bridge becomes routable.
  const c = await host.addContainer();
  t.true((await host.execOk('ip', ['netns', 'list'])).stdout.includes(c.netns));
  t.is((await host.exec('ip', ['netns', 'exec', c.netns, 'ip', '-o', 'link', 'show', 'lo'])).code, 0);
  await host.attachRaw(c, 'vtbr0', '10.99.0.2/24', '10.99.0.1');
  await waitFor(
    async () => /^\s*\d+\s+vtbr0\s+bridge\s+routable\s+configured\s*$/m.test((await host.execOk('networkctl', ['list', '--no-pager'])).stdout),
    { timeoutMs: 10_000, description: 'networkctl list: vtbr0 routable configured' },
  );
  t.true(await waitFor(() => ping(c, '10.99.0.1'), { timeoutMs: 10_000, description: 'container → 10.99.0.1' }));

  // Foreign configuration survives networkd (re)configuring: uplink0, the default route,
  // a device-less route and a policy rule it did not make.
  await host.execOk('ip', ['route', 'add', 'blackhole', '10.123.0.0/16']);
  await host.execOk('ip', ['rule', 'add', 'from', '10.5.0.0/16', 'table', '100']);
  t.is((await host.exec('networkctl', ['reload'])).code, 0);
  t.is((await host.exec('networkctl', ['reconfigure', 'vtbr0'])).code, 0);
  await waitFor(
    async () => /^\s*\d+\s+vtbr0\s+bridge\s+routable\s+configured\s*$/m.test((await host.execOk('networkctl', ['list', '--no-pager'])).stdout),
    { timeoutMs: 10_000, description: 'vtbr0 configured again after reconfigure' },
  );
  const list = (await host.execOk('networkctl', ['list', '--no-pager'])).stdout;
  t.regex(list, /^\s*\d+\s+uplink0\s+ether\s+routable\s+unmanaged\s*$/m);
  const uplink = await host.ipJson<IpAddr[]>(['addr', 'show', 'uplink0']);
  t.true(uplink[0]?.addr_info.some((a) => a.local === UPLINK.hostAddress));
  const routes = await host.ipJson<IpRoute[]>(['route', 'show']);
  t.true(routes.some((r) => r.dst === 'default' && r.gateway === UPLINK.outsideAddress), JSON.stringify(routes));
  t.true(routes.some((r) => r.dst === '10.123.0.0/16'), 'device-less foreign route kept');
  t.true((await host.execOk('ip', ['rule', 'show'])).stdout.includes('10.5.0.0/16'), 'foreign rule kept');
  const outside = host.outside;
  if (outside === undefined) throw new Error('no outside');
  t.true(await ping(host, outside.address));

  const names = host.namespaces();
  await host.destroy();
  await assertGone(names);
  t.false(pidAlive(networkdPid), 'networkd stopped');
  t.false(pidAlive(dbusPid), 'dbus stopped');
  t.false(pidAlive(keeperPid), 'keeper stopped');
});

// A separate node process that builds sandboxes and is then terminated.
function childScript(networkd: boolean): string {
  const index = JSON.stringify(path.join(__dirname, '..', 'harness', 'index.js'));
  return `
const h = require(${index});
(async () => {
  const s = await h.SandboxHost.create(undefined, { networkd: ${networkd} });
  await s.addContainer();
  console.log('NAMES ' + JSON.stringify({ names: s.namespaces(), dir: s.workDir, networkd: s.networkdPid || 0, dbus: s.dbusPid || 0 }));
  setInterval(() => {}, 1000);
})().catch((e) => { console.log('ERR ' + e.message); process.exit(1); });
`;
}

interface ChildInfo {
  names: string[];
  dir: string;
  networkd: number;
  dbus: number;
}

async function startChild(networkd: boolean): Promise<{ child: BackgroundProcess; info: ChildInfo }> {
  const child = new BackgroundProcess(process.execPath, ['-e', childScript(networkd)]);
  const m = await child.waitForOutput(/^NAMES (.*)$/m, { timeoutMs: 30_000 });
  return { child, info: JSON.parse(m[1] ?? '{}') as ChildInfo };
}

test('harness-selftest: SIGTERM of the test process removes its namespaces, networkd and temp dirs', async (t) => {
  const { child, info } = await startChild(true);
  t.is(info.names.length, 3);
  const present = await listNetns();
  t.true(info.names.every((n) => present.includes(n)));
  await child.stop('SIGTERM', 10_000);
  await assertGone(info.names);
  t.false(fs.existsSync(info.dir));
  await waitFor(() => !pidAlive(info.networkd) && !pidAlive(info.dbus), { timeoutMs: 5000, description: 'networkd and dbus gone' });
  t.pass();
});

test('harness-selftest: after SIGKILL, cleanupLeftovers("vt-") removes what the dead process left', async (t) => {
  const { child, info } = await startChild(false);
  await child.stop('SIGKILL');
  const present = await listNetns();
  t.true(info.names.every((n) => present.includes(n)), 'SIGKILL leaves them (nothing can run)');
  await cleanupLeftovers('vt-', { includeOwn: false });
  await assertGone(info.names);
  t.false(fs.existsSync(info.dir));
});
