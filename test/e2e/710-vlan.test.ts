/**
 * VLANs (`volt net vlan`) with both bridge drivers, in sandbox hosts.
 *
 * The proof with real 802.1Q traffic needs a kernel that can make VLAN links
 * (8021q). Where it cannot (the machines TESTING.md describes), those tests are
 * skipped and the tests of what volt does on such a kernel run instead: it
 * refuses with exit code 5, says why, and changes nothing. Validation runs
 * everywhere: it happens before volt asks the kernel anything.
 *
 * The wire: veth `eth1` (host, the "physical" link) ↔ `sw0` (namespace "switch").
 * On the switch side, `sw0.100` (VLAN 100) is moved into namespace nb100 and
 * `sw0.200` (VLAN 200) into nb200, each with an address in the network's subnet;
 * `sw0` itself (untagged) keeps another one. Only nb100 may answer a container
 * on the network whose uplink is volt's VLAN 100: that proves the frames cross
 * the wire tagged, with the right id.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxHost, ping, tcpProbe, waitFor, type ContainerNs } from '../harness';
import { snapshot } from './kernel-snapshot';

/** The same test as core's probe: 8021q loaded, built in, or installed as a module. */
function kernelHas8021q(): boolean {
  if (fs.existsSync('/proc/net/vlan')) return true;
  for (const index of ['modules.builtin', 'modules.dep']) {
    try {
      if (/(^|\/)8021q\.ko/m.test(fs.readFileSync(`/lib/modules/${os.release()}/${index}`, 'utf8'))) return true;
    } catch {
      // not there
    }
  }
  return false;
}

const HAS_8021Q = kernelHas8021q();
const withVlans = HAS_8021Q ? test : test.skip;
const withoutVlans = HAS_8021Q ? test.skip : test;
if (!HAS_8021Q) {
  process.stderr.write(`710-vlan: kernel ${os.release()} has no 802.1Q support: the real-traffic VLAN tests are skipped, the refusal tests run\n`);
}

interface VlanJson {
  name: string;
  parent: string;
  id: number;
  network?: string;
  state: string;
  bridge?: string;
  master?: string;
}

interface LinkJson {
  ifname: string;
  flags: string[];
  master?: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; protocol?: string } };
  addr_info?: { family: string; scope: string }[];
  stats64?: { rx: { packets: number }; tx: { packets: number } };
}

type Driver = 'direct' | 'networkd';

async function sandbox(t: ExecutionContext, driver: Driver): Promise<SandboxHost> {
  return SandboxHost.create(t, { networkd: driver === 'networkd', uplink: false, config: `drivers:\n  bridge: ${driver}\n` });
}

/**
 * The host's "physical" link eth1 to a switch namespace (sw0). With networkd, eth1 gets
 * the operator's own .network (20-eth1.network), as a real uplink would have.
 */
async function wire(host: SandboxHost, driver: Driver): Promise<ContainerNs> {
  const sw = await host.addContainer('switch');
  await host.execOk('ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'sw0', 'netns', sw.netns]);
  await host.execOk('ip', ['link', 'set', 'eth1', 'up']);
  await sw.execOk('ip', ['link', 'set', 'sw0', 'up']);
  if (driver === 'networkd') {
    fs.writeFileSync(
      path.join(host.root, 'etc/systemd/network/20-eth1.network'),
      '# The operator\'s own unit for the uplink.\n[Match]\nName=eth1\n\n[Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n',
    );
    await host.execOk('networkctl', ['reload']);
    await waitFor(async () => /configured/.test((await host.exec('networkctl', ['status', 'eth1', '--json=short'])).stdout), { timeoutMs: 10_000 });
  }
  return sw;
}

async function link(host: { execJson<T>(cmd: string, args: string[]): Promise<T> }, ifname: string): Promise<LinkJson | undefined> {
  const all = await host.execJson<LinkJson[]>('ip', ['-j', '-d', '-s', 'addr', 'show']);
  return all.find((l) => l.ifname === ifname);
}

/** What both drivers must agree on for a VLAN uplink. */
function observable(l: LinkJson | undefined): unknown {
  if (!l) return undefined;
  return {
    kind: l.linkinfo?.info_kind,
    id: l.linkinfo?.info_data?.id,
    protocol: l.linkinfo?.info_data?.protocol,
    parent: l.link,
    master: l.master,
    up: l.flags.includes('UP'),
    ipv6LinkLocal: (l.addr_info ?? []).some((a) => a.family === 'inet6' && a.scope === 'link'),
  };
}

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver}: bad input is refused with its exit code and a suggestion, and changes nothing`, async (t) => {
    const host = await sandbox(t, driver);
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await wire(host, driver);
    const web = await host.addContainer('web');
    await host.attachRaw(web, 'volt-backend', '10.30.0.10/24', '10.30.0.1', { hostIfname: 'hx1' });
    const before = await snapshot(host);
    const rows: [string[], number, RegExp][] = [
      [['--parent', 'eth1', '--id', '0'], 2, /--id "0" is not a VLAN id \(an integer 1–4094/],
      [['--parent', 'eth1', '--id', '4095'], 2, /--id "4095" is not a VLAN id/],
      [['--parent', 'eth1', '--id', 'ten'], 2, /--id "ten" is not a VLAN id/],
      [['--parent', 'eth1', '--id', '10', '--name', 'much-too-long-name'], 2, /name "much-too-long-name" is not a valid interface name/],
      [['--parent', 'lo', '--id', '10'], 2, /parent lo is the loopback device/],
      [['--parent', 'volt-backend', '--id', '10'], 2, /parent volt-backend is the bridge of network "backend"/],
      [['--parent', 'hx1', '--id', '10'], 2, /parent hx1 is a port of network "backend"/],
      [['--parent', 'eth9', '--id', '10'], 3, /parent interface "eth9" does not exist/],
      [['--parent', 'eth1', '--id', '10', '--network', 'nope'], 3, /network "nope" does not exist/],
      [['--parent', 'eth1', '--id', '10', '--name', 'hx1'], 4, /interface "hx1" already exists in the kernel/],
      [['--parent', 'eth1', '--id', '10', '--name', 'volt0'], 4, /interface "volt0" already exists \(the bridge of network "volt0"\)/],
    ];
    for (const [args, code, message] of rows) {
      const r = await host.volt(['net', 'vlan', 'create', ...args]);
      t.is(r.code, code, args.join(' '));
      t.regex(r.stderr, message, args.join(' '));
      t.regex(r.stderr, /^Error: [^\n]+\n/, 'one line, then suggestions');
    }
    const missing = await host.volt(['net', 'vlan', 'delete', 'eth1.10']);
    t.is(missing.code, 3);
    t.regex(missing.stderr, /delete VLAN "eth1\.10": no such VLAN\n  → create one with `volt net vlan create/);
    t.is((await host.volt(['net', 'vlan', 'attach', 'eth1.10', 'backend'])).code, 3);
    t.is((await host.volt(['net', 'vlan', 'detach', 'eth1.10'])).code, 3);
    t.deepEqual(await snapshot(host), before, 'kernel, ruleset, state and units identical');
    t.is((await host.voltOk(['net', 'vlan', 'list'])).stdout.trim(), '(none)');
    t.deepEqual(await host.voltJson(['net', 'vlan', 'list', '-o', 'json']), []);
  });

  withoutVlans(`${driver}: on a kernel without 802.1Q, create refuses with exit code 5, says why, and changes nothing`, async (t) => {
    const host = await sandbox(t, driver);
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await wire(host, driver);
    const before = await snapshot(host);
    for (const extra of [[], ['--network', 'backend']]) {
      const r = await host.volt(['net', 'vlan', 'create', '--parent', 'eth1', '--id', '100', ...extra]);
      t.is(r.code, 5);
      t.regex(r.stderr, /^Error: create VLAN "eth1\.100": kernel \S+ has no 802\.1Q VLAN support: the 8021q module is neither loaded nor installed/);
      t.regex(r.stderr, /→ load it with `modprobe 8021q`/);
      t.regex(r.stderr, /→ nothing was changed/);
    }
    t.deepEqual(await snapshot(host), before, 'kernel, ruleset, state and units identical');
    if (driver === 'networkd') {
      // The operator's uplink stays configured: networkd was never asked for a VLAN it cannot make.
      t.regex((await host.exec('networkctl', ['status', 'eth1', '--json=short'])).stdout, /"AdministrativeState":"configured"/);
    }
    t.is((await host.volt(['net', 'check'])).code, 0);
  });

  withVlans(`${driver}: a VLAN uplink joins the network to its VLAN across a tagged link, and nothing else`, async (t) => {
    const host = await sandbox(t, driver);
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const sw = await wire(host, driver);
    // The switch side: VLAN 100 and 200 sub-interfaces in their own namespaces, the untagged port in sw.
    const nb100 = await host.addContainer('nb100');
    const nb200 = await host.addContainer('nb200');
    for (const [id, nb, addr] of [[100, nb100, '10.30.0.50/24'], [200, nb200, '10.30.0.60/24']] as const) {
      await sw.execOk('ip', ['link', 'add', 'link', 'sw0', 'name', `sw0.${id}`, 'type', 'vlan', 'id', String(id)]);
      await sw.execOk('ip', ['link', 'set', `sw0.${id}`, 'netns', nb.netns]);
      await nb.execOk('ip', ['addr', 'add', addr, 'dev', `sw0.${id}`]);
      await nb.execOk('ip', ['link', 'set', `sw0.${id}`, 'up']);
    }
    await sw.execOk('ip', ['addr', 'add', '10.30.0.70/24', 'dev', 'sw0']);
    const web = await host.addContainer('web');
    await host.attachRaw(web, 'volt-backend', '10.30.0.10/24', '10.30.0.1');

    t.false(await ping(web, '10.30.0.50', { timeoutS: 1 }), 'no uplink yet: the VLAN is unreachable');
    const created = await host.voltOk(['net', 'vlan', 'create', '--parent', 'eth1', '--id', '100', '--network', 'backend']);
    t.regex(created.stdout, /^created VLAN eth1\.100 \(id 100 on eth1, uplink of network backend\)$/m);

    // The kernel: an 802.1Q link on eth1, a port of the bridge, up, no link-local address of its own.
    t.deepEqual(observable(await link(host, 'eth1.100')), {
      kind: 'vlan',
      id: 100,
      protocol: '802.1Q',
      parent: 'eth1',
      master: 'volt-backend',
      up: true,
      ipv6LinkLocal: false,
    });
    if (driver === 'networkd') {
      const dir = path.join(host.root, 'etc/systemd/network');
      t.true(fs.existsSync(path.join(dir, '10-volt-vlan-eth1.100.netdev')));
      t.true(fs.existsSync(path.join(dir, '10-volt-vlan-eth1.100.network')));
      t.is(fs.readFileSync(path.join(dir, '20-eth1.network.d/50-volt-vlan-eth1.100.conf'), 'utf8').split('\n').slice(1).join('\n'), '[Network]\nVLAN=eth1.100\n');
      t.regex(fs.readFileSync(path.join(dir, '20-eth1.network'), 'utf8'), /operator's own unit/, "the operator's unit is untouched");
      t.regex((await host.exec('networkctl', ['list', '--no-legend', '--no-pager'])).stdout, /eth1\.100\s+\S+\s+\S+\s+configured/);
    }
    const list = await host.voltOk(['net', 'vlan', 'list']);
    t.regex(list.stdout, /^NAME\s+PARENT\s+ID\s+NETWORK\s+STATE\neth1\.100\s+eth1\s+100\s+backend\s+up$/);
    const json = await host.voltJson<VlanJson[]>(['net', 'vlan', 'list', '-o', 'json']);
    t.like(json[0], { name: 'eth1.100', parent: 'eth1', id: 100, network: 'backend', state: 'up', bridge: 'volt-backend', master: 'volt-backend' });
    // The uplink is not a workload.
    const nets = await host.voltJson<{ name: string; connected: number }[]>(['net', 'list', '-o', 'json']);
    t.is(nets.find((n) => n.name === 'backend')?.connected, 1);

    // Real traffic: the container reaches the neighbour on VLAN 100 (ICMP and TCP), in the same L2 segment.
    const rx100 = (await link(nb100, 'sw0.100'))?.stats64?.rx.packets ?? 0;
    t.true(await ping(web, '10.30.0.50', { count: 2 }), 'ping across the tagged link');
    t.true(await tcpProbe(nb100, web, '10.30.0.50'), 'TCP across the tagged link');
    t.true(await ping(nb100, '10.30.0.10'), 'and back');
    t.true(((await link(nb100, 'sw0.100'))?.stats64?.rx.packets ?? 0) > rx100, 'the VLAN 100 sub-interface received the frames');
    // …and nothing untagged or on another id.
    t.false(await ping(web, '10.30.0.60', { timeoutS: 1 }), 'VLAN 200 is another segment');
    t.false(await ping(web, '10.30.0.70', { timeoutS: 1 }), 'the untagged port does not get the traffic: it is tagged on the wire');

    // Conflicts with what now exists change nothing.
    const before = await snapshot(host);
    for (const [args, message] of [
      [['--parent', 'eth1', '--id', '100', '--name', 'v100'], /VLAN 100 on eth1 already exists as "eth1\.100"/],
      [['--parent', 'eth1', '--id', '101', '--name', 'eth1.100'], /a VLAN with that name already exists/],
      [['--parent', 'eth1', '--id', '300', '--network', 'backend'], /network "backend" already has the uplink "eth1\.100"/],
      [['--parent', 'eth1.100', '--id', '5'], /is itself a VLAN/],
    ] as const) {
      const r = await host.volt(['net', 'vlan', 'create', ...args]);
      t.is(r.code, message.source.includes('itself') ? 2 : 4, args.join(' '));
      t.regex(r.stderr, message);
    }
    t.deepEqual(await snapshot(host), before);

    // Drift: off its bridge, then gone; check reports it, up repairs it.
    await host.execOk('ip', ['link', 'set', 'eth1.100', 'nomaster']);
    let check = await host.volt(['net', 'check']);
    t.is(check.code, 6);
    t.regex(check.stderr, /VLAN eth1\.100 \(id 100 on eth1\) is not on bridge volt-backend \(uplink of network "backend"\)/);
    t.is((await host.voltJson<VlanJson[]>(['net', 'vlan', 'list', '-o', 'json']))[0]?.state, 'drift');
    await host.voltOk(['net', 'up']);
    t.is((await host.volt(['net', 'check'])).code, 0);
    t.true(await ping(web, '10.30.0.50', { count: 2 }), 'repaired');
    await host.execOk('ip', ['link', 'del', 'eth1.100']);
    check = await host.volt(['net', 'check']);
    t.regex(check.stderr, /VLAN eth1\.100 \(id 100 on eth1\) is missing/);
    t.regex((await host.voltOk(['net', 'up'])).stdout, /repaired/);
    t.is((await host.volt(['net', 'check'])).code, 0);
    t.true(await ping(web, '10.30.0.50', { count: 2 }), 're-created');
    const converged = await snapshot(host);
    t.regex((await host.voltOk(['net', 'up'])).stdout, /nothing to do/);
    t.deepEqual(await snapshot(host), converged, 'a second up changes nothing');

    // Detach keeps the VLAN, off the bridge; attach puts it back.
    t.regex((await host.voltOk(['net', 'vlan', 'detach', 'eth1.100'])).stdout, /detached VLAN eth1\.100 from network backend/);
    t.is((await link(host, 'eth1.100'))?.master, undefined);
    t.false(await ping(web, '10.30.0.50', { timeoutS: 1 }));
    t.is((await host.volt(['net', 'check'])).code, 0, 'a detached VLAN is not drift');
    await host.voltOk(['net', 'vlan', 'attach', 'eth1.100', 'backend']);
    t.true(await ping(web, '10.30.0.50', { count: 2 }));

    // Deleting the network detaches its uplink and keeps the VLAN.
    await host.voltOk(['net', 'delete', 'backend', '--force']);
    const kept = observable(await link(host, 'eth1.100')) as { master?: string; up: boolean };
    t.is(kept.master, undefined);
    t.true(kept.up);
    t.like((await host.voltJson<VlanJson[]>(['net', 'vlan', 'list', '-o', 'json']))[0], { name: 'eth1.100', network: undefined, state: 'up' });
    t.is((await host.volt(['net', 'check'])).code, 0);

    // Delete removes the VLAN (and its units) and never the parent.
    t.regex((await host.voltOk(['net', 'vlan', 'delete', 'eth1.100'])).stdout, /deleted VLAN eth1\.100 \(id 100 on eth1\)/);
    t.is(await link(host, 'eth1.100'), undefined);
    t.truthy(await link(host, 'eth1'));
    if (driver === 'networkd') {
      const dir = path.join(host.root, 'etc/systemd/network');
      t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('eth1')), ['20-eth1.network']);
      t.regex((await host.exec('networkctl', ['status', 'eth1', '--json=short'])).stdout, /"AdministrativeState":"configured"/);
    }
    t.deepEqual(await host.voltJson(['net', 'vlan', 'list', '-o', 'json']), []);
  });

  if (driver === 'networkd') {
    withVlans('networkd: a parent networkd does not manage is refused with a suggestion, and nothing changes', async (t) => {
      const host = await sandbox(t, driver);
      await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
      const sw = await host.addContainer('switch');
      await host.execOk('ip', ['link', 'add', 'eth2', 'type', 'veth', 'peer', 'name', 'sw0', 'netns', sw.netns]);
      await host.execOk('ip', ['link', 'set', 'eth2', 'up']);
      const before = await snapshot(host);
      const r = await host.volt(['net', 'vlan', 'create', '--parent', 'eth2', '--id', '100', '--network', 'backend']);
      t.is(r.code, 5);
      t.regex(r.stderr, /parent eth2 is not managed by systemd-networkd .*networkd creates a VLAN only from its parent's \.network/);
      t.regex(r.stderr, /→ give eth2 a \.network in \/etc\/systemd\/network/);
      t.regex(r.stderr, /→ or use the direct bridge driver/);
      t.deepEqual(await snapshot(host), before);
    });
  }
}

test('help and examples on every vlan command', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  for (const cmd of ['create', 'list', 'delete', 'attach', 'detach']) {
    const r = await host.voltOk(['net', 'vlan', cmd, '--help']);
    t.regex(r.stdout, /USAGE/, cmd);
    t.regex(r.stdout, /EXAMPLES/, cmd);
  }
});
