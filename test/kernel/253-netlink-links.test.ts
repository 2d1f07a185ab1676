/**
 * The SDK's link reads answer the same through rtnetlink in-process (the
 * default) as through `ip -j -d addr show` (VOLT_KERNEL_ACCESS=process), in a
 * namespace holding a bridge with ports, a veth whose peer is in another
 * namespace, a TAP, links up and down, IPv4 and IPv6 addresses of every scope.
 */
import test, { type ExecutionContext } from 'ava';
import * as path from 'node:path';
import { runCommand } from '@volt/sdk/kernel';

const RUNNER = path.join(__dirname, 'ip-access-runner.js');
let counter = 0;

async function must(args: string[]): Promise<void> {
  const r = await runCommand('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

async function netns(t: ExecutionContext, role: string): Promise<string> {
  counter += 1;
  const name = `vt-nl-${process.pid}-${counter}${role}`;
  await must(['netns', 'add', name]);
  t.teardown(async () => {
    await runCommand('ip', ['netns', 'del', name]);
  });
  return name;
}

interface Reads {
  links: { ifname: string; kind?: string; master?: string; up: boolean; operstate: string; mtu: number; mac?: string; addresses: string[] }[];
  link: unknown;
  missing: unknown;
  ports: string[];
  bridges: unknown[];
  peerNames: string[] | null;
  goneNames: string[] | null;
  fdb: (boolean | null)[];
  dumps: number;
}

async function reads(ns: string, mode: 'library' | 'process', peerNs: string, macs: string[]): Promise<Reads> {
  const q = JSON.stringify({ link: 'br0', master: 'br0', bridges: ['br0', 'br1', 'nosuch'], peerNs: `/run/netns/${peerNs}`, macs });
  const r = await runCommand('ip', ['netns', 'exec', ns, 'env', `VOLT_KERNEL_ACCESS=${mode}`, process.execPath, RUNNER, q], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`runner (${mode}) exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Reads;
}

test('listLinks, getLink, linksOfMaster and observeBridges: rtnetlink and ip -j agree', async (t) => {
  const ns = await netns(t, 'h');
  const peer = await netns(t, 'p');
  const n = (...args: string[]): Promise<void> => must(['-n', ns, ...args]);
  await n('link', 'set', 'lo', 'up');
  await n('link', 'add', 'br0', 'type', 'bridge');
  await n('link', 'add', 'br1', 'mtu', '9000', 'type', 'bridge');
  await n('link', 'set', 'br0', 'address', '02:00:00:00:00:01');
  await n('link', 'add', 'vhA', 'type', 'veth', 'peer', 'name', 'ctA');
  await n('link', 'add', 'vhB', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer);
  await n('tuntap', 'add', 'dev', 'tap-x', 'mode', 'tap');
  for (const port of ['vhA', 'vhB', 'tap-x']) await n('link', 'set', port, 'master', 'br0');
  for (const up of ['br0', 'vhA', 'vhB', 'ctA']) await n('link', 'set', up, 'up');
  await n('addr', 'add', '10.77.0.1/24', 'dev', 'br0');
  await n('addr', 'add', '10.77.1.1/24', 'dev', 'br0');
  await n('addr', 'add', 'fd00:77::1/64', 'dev', 'br0', 'nodad');
  await n('addr', 'add', '2001:db8::7/64', 'dev', 'br0', 'nodad');
  await n('addr', 'add', '169.254.7.7/16', 'dev', 'br0', 'scope', 'link');
  await n('addr', 'add', '10.78.0.1/16', 'dev', 'br1');

  await n('link', 'set', 'vhA', 'address', '02:00:00:00:0a:0a');
  const macs = ['02:00:00:00:0a:0a', '02:00:00:00:00:01', '02:00:00:00:ee:ee', '02:00:00:00:0b:0b'];
  await must(['-n', peer, 'link', 'set', 'eth0', 'address', '02:00:00:00:0b:0b']);
  const lib = await reads(ns, 'library', peer, macs);
  const proc = await reads(ns, 'process', peer, macs);
  t.true(lib.dumps > 0, 'the library path ran rtnetlink dumps');
  t.is(proc.dumps, 0, 'the process path did not');
  t.deepEqual(lib.links, proc.links);
  t.deepEqual(lib.link, proc.link);
  t.deepEqual(lib.ports, proc.ports);
  t.deepEqual(lib.bridges, proc.bridges);
  t.is(lib.missing, null);
  t.is(proc.missing, null);
  t.deepEqual(lib.peerNames, proc.peerNames);
  t.deepEqual(lib.peerNames, ['lo', 'eth0']);
  t.is(lib.goneNames, null);
  t.is(proc.goneNames, null);
  // The FDB: the library answers itself; `bridge fdb get` is what the process path asks.
  t.deepEqual(proc.fdb, [null, null, null, null]);
  const fdbGet = async (mac: string): Promise<boolean> => (await runCommand('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'get', mac, 'br', 'br0'])).code === 0;
  t.deepEqual(lib.fdb, await Promise.all(macs.map(fdbGet)));
  // A port's own address and the bridge's are known; a MAC nobody has is not.
  t.deepEqual(lib.fdb.slice(0, 3), [true, true, false]);

  // And the answers are the right ones, not the same mistake twice.
  const br0 = lib.links.find((l) => l.ifname === 'br0');
  t.like(br0, { kind: 'bridge', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  t.deepEqual(br0?.addresses.slice().sort(), ['10.77.0.1/24', '10.77.1.1/24', '2001:db8::7/64', 'fd00:77::1/64']);
  t.deepEqual(lib.ports.slice().sort(), ['tap-x', 'vhA', 'vhB']);
  t.like(lib.links.find((l) => l.ifname === 'vhB'), { kind: 'veth', master: 'br0', up: true });
  t.like(lib.links.find((l) => l.ifname === 'tap-x'), { kind: 'tun', master: 'br0', up: false });
  t.like(lib.links.find((l) => l.ifname === 'br1'), { mtu: 9000, up: false, addresses: ['10.78.0.1/16'] });
  t.like(lib.links.find((l) => l.ifname === 'lo'), { up: true, addresses: [] });
  t.like(lib.bridges[2], { ifname: 'nosuch', exists: false });
});
