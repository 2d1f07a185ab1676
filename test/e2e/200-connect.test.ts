import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackgroundProcess, SandboxHost, ping, run, waitFor, UPLINK } from '../harness';
import { snapshot } from './kernel-snapshot';

interface Attachment {
  workload: string;
  network: string;
  ip: string;
  mac: string;
  ifname: string;
  hostIfname: string;
}
interface PsRow {
  name: string;
  type: string;
  state: string;
  nics: { network: string; ip: string; mac: string; ifname: string; gateway: string; dns?: string; driver: string }[];
}
interface IpAddr {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

test('containers connect by name: veth on the bridge, address, default route, MTU; L2 peers; disconnect cleans up', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--mtu', '1400']);
  await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
  const api = await host.addContainer('api');
  const web = await host.addContainer('web');

  const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
  t.is(a.ip, '10.30.0.100', 'containers take the dynamic range, after the VMs’ 2-99');
  t.is(a.ifname, 'eth0');
  t.regex(a.mac, /^02:/);
  t.true(a.hostIfname.length <= 15);
  const w = await host.voltJson<Attachment>(['net', 'connect', 'backend', web.netns, '--ip', '10.30.0.42', '--mac', '02:AA:bb:cc:dd:ee', '-o', 'json']);
  t.is(w.ip, '10.30.0.42');
  t.is(w.mac, '02:aa:bb:cc:dd:ee');

  // Inside the container: eth0 with the address, MAC, network MTU, default route via the gateway.
  const eth0 = (await api.execJson<IpAddr[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0]!;
  t.is(eth0.mtu, 1400);
  t.is(eth0.address, a.mac);
  t.true(eth0.addr_info.some((x) => x.family === 'inet' && x.local === '10.30.0.100' && x.prefixlen === 24));
  const routes = await api.execJson<{ dst: string; gateway?: string; dev: string }[]>('ip', ['-j', 'route', 'show', 'default']);
  t.deepEqual(routes.map((r) => [r.gateway, r.dev]), [['10.30.0.1', 'eth0']]);
  // On the host: the port is on the bridge.
  const port = (await host.execJson<{ master?: string; mtu: number }[]>('ip', ['-j', 'link', 'show', 'dev', a.hostIfname]))[0]!;
  t.is(port.master, 'volt-backend');
  t.is(port.mtu, 1400);

  t.true(await ping(api, '10.30.0.42'), 'containers on one network are L2 peers');
  t.true(await ping(api, UPLINK.internetAddress), 'and reach the outside through NAT');

  // A second network: eth1, no second default route.
  const f = await host.voltJson<Attachment>(['net', 'connect', 'frontend', api.netns, '-o', 'json']);
  t.is(f.ifname, 'eth1');
  t.is((await api.execJson<unknown[]>('ip', ['-j', 'route', 'show', 'default'])).length, 1);

  const ps = await host.voltJson<PsRow[]>(['ps', '-o', 'json']);
  const row = ps.find((p) => p.name === api.netns)!;
  t.is(row.type, 'container');
  t.is(row.state, 'running');
  t.deepEqual(row.nics.map((n) => [n.network, n.ifname, n.ip, n.driver]), [
    ['backend', 'eth0', '10.30.0.100', 'veth'],
    ['frontend', 'eth1', '10.20.0.100', 'veth'],
  ]);
  const inspect = await host.voltJson<PsRow>(['container', 'inspect', api.netns, '-o', 'json']);
  t.is(inspect.nics[0]!.gateway, '10.30.0.1');
  t.is(inspect.nics[0]!.dns, '10.30.0.1');

  // Disconnect one network: its veth goes, the other stays; the address is released and reused.
  await host.voltOk(['net', 'disconnect', api.netns, 'backend']);
  t.is((await host.exec('ip', ['link', 'show', 'dev', a.hostIfname])).code, 1);
  t.is((await api.exec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1);
  t.is((await api.exec('ip', ['link', 'show', 'dev', 'eth1'])).code, 0);
  const again = await host.voltJson<Attachment>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
  t.is(again.ip, '10.30.0.100');
  t.is(again.ifname, 'eth0');

  // The namespace vanishes: disconnect still cleans the host side.
  await host.exec('ip', ['netns', 'del', web.netns]);
  const d = await host.volt(['net', 'disconnect', web.netns]);
  t.is(d.code, 0, d.stderr);
  t.is((await host.exec('ip', ['link', 'show', 'dev', w.hostIfname])).code, 1);
  const nets = await host.voltJson<{ name: string; connected: number }[]>(['net', 'list', '-o', 'json']);
  t.is(nets.find((n) => n.name === 'backend')!.connected, 1);
});

test('20 parallel connects get 20 distinct addresses', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const cs = await Promise.all(Array.from({ length: 20 }, (_, i) => host.addContainer(`p${i}`)));
  // They queue on the state lock: the last one waits for the 19 before it (minutes on a loaded machine).
  const rs = await Promise.all(cs.map((c) => host.volt(['net', 'connect', 'backend', c.netns, '-o', 'json'], { timeoutMs: 300_000 })));
  t.deepEqual(rs.map((r) => r.code), Array(20).fill(0), rs.map((r) => r.stderr).join(''));
  const ips = rs.map((r) => (JSON.parse(r.stdout) as Attachment).ip);
  t.is(new Set(ips).size, 20);
  const macs = rs.map((r) => (JSON.parse(r.stdout) as Attachment).mac);
  t.is(new Set(macs).size, 20);
  for (const [i, c] of cs.entries()) {
    const inside = await c.execJson<IpAddr[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
    t.true(inside[0]!.addr_info.some((x) => x.local === ips[i]), `${c.netns} has ${ips[i]}`);
  }
});

test('registered containers (--pid, --netns) connect like named ones', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const c = await host.addContainer('byPid');
  const sleeper = c.spawn('sleep', ['300']);
  t.teardown(() => sleeper.stop());
  await host.voltOk(['container', 'register', 'worker', '--pid', String(sleeper.pid)]);
  const d = await host.addContainer('byPath');
  await host.voltOk(['container', 'register', 'store', '--netns', `/run/netns/${d.netns}`]);
  const list = await host.voltOk(['container', 'list']);
  t.regex(list.stdout, new RegExp(`worker\\s+running\\s+pid ${sleeper.pid}`));
  t.regex(list.stdout, /store\s+running\s+netns file \/run\/netns\//);
  const a = await host.voltJson<Attachment>(['net', 'connect', 'volt0', 'worker', '-o', 'json']);
  const b = await host.voltJson<Attachment>(['net', 'connect', 'volt0', 'store', '-o', 'json']);
  t.true(await ping(c, b.ip), 'pid-registered reaches path-registered');
  t.true(await ping(d, a.ip));
  await host.voltOk(['container', 'unregister', 'worker']);
  t.is((await host.exec('ip', ['link', 'show', 'dev', a.hostIfname])).code, 1, 'unregister disconnects first');
  const dup = await host.volt(['container', 'register', 'store', '--pid', String(sleeper.pid)]);
  t.is(dup.code, 4);
});

test('a real systemd-nspawn container, registered by its PID, is a peer on the bridge; it leaving is handled', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  // TESTING.md's recipe: no machined here, so --register=no and a lookup through the PID.
  const nspawn = new BackgroundProcess('systemd-nspawn', ['-q', '-D', '/', '--volatile=yes', '--register=no', '--keep-unit', '--private-network', '--as-pid2', '--', 'sleep', '600']);
  t.teardown(async () => {
    await nspawn.stop();
  });
  // The container's payload: `sleep` under nspawn's stub init (nspawn forks helpers while it sets up).
  const leader = await waitFor(async () => {
    const r = await run('pgrep', ['-x', 'sleep', '-P', (await run('pgrep', ['-P', String(nspawn.pid)])).stdout.trim().split('\n').join(',') || '0']);
    const pid = Number(r.stdout.trim().split('\n')[0]);
    return r.code === 0 && pid > 0 && fs.existsSync(`/proc/${pid}/ns/net`) ? pid : undefined;
  }, { timeoutMs: 20_000, description: 'the nspawn container to start' });
  const netns = `/proc/${leader}/ns/net`;
  t.not(fs.readlinkSync(netns), fs.readlinkSync('/proc/self/ns/net'), 'the container has its own network namespace');
  await host.voltOk(['container', 'register', 'web-nspawn', '--pid', String(leader)]);
  const a = await host.voltJson<Attachment>(['net', 'connect', 'volt0', 'web-nspawn', '-o', 'json']);
  const peer = await host.addContainer('peer');
  const b = await host.voltJson<Attachment>(['net', 'connect', 'volt0', peer.netns, '-o', 'json']);
  const inside = await run('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
  t.regex(inside.stdout, new RegExp(`"local":"${a.ip.replace(/\./g, '\\.')}"`));
  t.is((await run('nsenter', [`--net=${netns}`, 'ping', '-n', '-q', '-c', '2', '-W', '2', b.ip])).code, 0, 'nspawn container → named-netns container');
  t.true(await ping(peer, a.ip, { count: 2 }), 'and back');
  t.regex((await host.voltOk(['container', 'list'])).stdout, new RegExp(`web-nspawn\\s+running\\s+pid ${leader}`));

  // The container stops: volt sees it gone, and disconnect still cleans the host side.
  await nspawn.stop();
  await waitFor(async () => ((await run('kill', ['-0', String(leader)])).code !== 0 ? true : undefined), { timeoutMs: 10_000, description: 'the container to exit' });
  t.regex((await host.voltOk(['container', 'list'])).stdout, /web-nspawn\s+gone/);
  await host.voltOk(['net', 'disconnect', 'web-nspawn']);
  t.is((await host.exec('ip', ['link', 'show', 'dev', a.hostIfname])).code, 1);
});

test('with network.dns.enabled: false a container is given no DNS server (inspect says so, no resolv.conf)', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false, config: 'network:\n  dns:\n    enabled: false\n' });
  const c = await host.addContainer('nodns');
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'connect', 'backend', c.netns]);
  const inspect = await host.voltJson<PsRow>(['container', 'inspect', c.netns, '-o', 'json']);
  t.is(inspect.nics[0]!.gateway, '10.30.0.1');
  t.is(inspect.nics[0]!.dns, undefined);
  t.regex((await host.voltOk(['container', 'inspect', c.netns])).stdout, /DNS server:\s+none \(network\.dns\.enabled is false\)/);
  t.false(fs.existsSync(path.join(host.root, 'etc/netns', c.netns, 'resolv.conf')));
});

test('a MAC already on the bridge is regenerated and reported; a missing bridge is re-created from state', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['init']);
  const x = await host.addContainer('x');
  const y = await host.addContainer('y');
  const first = await host.voltJson<Attachment>(['net', 'connect', 'volt0', x.netns, '-o', 'json']);
  await host.voltOk(['net', 'disconnect', x.netns]);
  // Someone else's port on the bridge now uses exactly that MAC.
  await host.attachRaw(y, 'volt0', '10.0.0.250/24', '10.0.0.1');
  await y.execOk('ip', ['link', 'set', 'dev', 'eth0', 'address', first.mac]);
  await y.exec('ping', ['-c1', '-W1', '10.0.0.1']);
  const second = await host.volt(['net', 'connect', 'volt0', x.netns, '-o', 'json']);
  t.is(second.code, 0, second.stderr);
  const att = JSON.parse(second.stdout) as Attachment;
  t.not(att.mac, first.mac);
  t.regex(second.stderr, new RegExp(`MAC ${first.mac} is already used on bridge volt0; regenerated ${att.mac}`));

  await host.voltOk(['net', 'disconnect', x.netns]);
  await host.exec('ip', ['link', 'del', 'volt0']);
  const r = await host.volt(['net', 'connect', 'volt0', x.netns]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /bridge volt0 was missing in the kernel; re-created it from state/);
  t.true(await ping(x, '10.0.0.1'));
});

test('connect bad input: clear error, non-zero exit, nothing changed', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const c = await host.addContainer('c');
  const other = await host.addContainer('o');
  await host.voltOk(['net', 'connect', 'backend', other.netns, '--ip', '10.30.0.77']);
  await host.voltOk(['net', 'connect', 'backend', c.netns]);
  const fresh = await host.addContainer('f');
  const cases: [string, string[], number, RegExp][] = [
    ['unknown workload', ['net', 'connect', 'backend', 'ghost'], 3, /no workload named "ghost"/],
    ['unknown network', ['net', 'connect', 'nonet', fresh.netns], 3, /network "nonet" does not exist/],
    ['already on that network', ['net', 'connect', 'backend', c.netns], 4, /already connected/],
    ['--ip outside the subnet', ['net', 'connect', 'backend', fresh.netns, '--ip', '10.31.0.5'], 2, /10\.31\.0\.5 is outside 10\.30\.0\.0\/24/],
    ['--ip taken', ['net', 'connect', 'backend', fresh.netns, '--ip', '10.30.0.77'], 4, /10\.30\.0\.77 is already taken by/],
    ['--ip is the gateway', ['net', 'connect', 'backend', fresh.netns, '--ip', '10.30.0.1'], 2, /is the gateway/],
    ['--ip is the broadcast', ['net', 'connect', 'backend', fresh.netns, '--ip', '10.30.0.255'], 2, /broadcast address/],
    ['--ip malformed', ['net', 'connect', 'backend', fresh.netns, '--ip', '10.30.0'], 2, /not an IPv4 address/],
    ['malformed MAC', ['net', 'connect', 'backend', fresh.netns, '--mac', '02:zz:00:00:00:01'], 2, /not a MAC address/],
    ['multicast MAC', ['net', 'connect', 'backend', fresh.netns, '--mac', '01:00:5e:00:00:01'], 2, /multicast/],
    ['disconnect unknown', ['net', 'disconnect', 'ghost'], 3, /no workload named "ghost" is connected/],
    ['disconnect from a network it is not on', ['net', 'disconnect', c.netns, 'volt0'], 3, /not connected to that network/],
    ['register without a namespace', ['container', 'register', 'z', '--pid', '999999'], 3, /pid 999999 is not a network namespace/],
  ];
  for (const [title, args, exit, stderr] of cases) {
    const before = await snapshot(host);
    const r = await host.volt(args);
    t.is(r.code, exit, `${title}: ${r.stderr}`);
    t.regex(r.stderr, stderr, title);
    t.deepEqual(await snapshot(host), before, `${title}: nothing changed`);
  }
});
