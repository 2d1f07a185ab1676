/**
 * The spec's "Cross-Type Communication" with a real guest, shared by the
 * direct-driver and the networkd-driver end-to-end files: network `backend`,
 * container `api-server` and VM `db-primary` (Debian kernel, busybox initramfs
 * running udhcpc and a TCP shell service) as L2 peers.
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestConsole, guestConfig, guestShell, ping, receiveOnce, type ContainerNs, type SandboxHost } from '../harness';
import { snapshot } from './kernel-snapshot';
import { probe } from './400-lib';

export interface Attachment {
  workload: string;
  network: string;
  ip: string;
  mac: string;
  ifname: string;
  hostIfname: string;
}

export interface VmNicView {
  id: string;
  network?: string;
  ip?: string;
  mac?: string;
  tap: string;
  driver?: string;
  queues: number;
  mtu?: number;
  vhost: string;
}

export interface VmView {
  name: string;
  uuid: string;
  state: string;
  pid?: number;
  accel?: string;
  serialLog: string;
  qemuLog: string;
  nics: VmNicView[];
}

export interface PsRow {
  name: string;
  type: string;
  state: string;
  nics: { network: string; ip: string; mac: string; ifname: string; hostIfname: string; driver: string }[];
}

export interface TapLink {
  ifname: string;
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string; vnet_hdr?: boolean; multi_queue?: boolean; persist?: boolean; numqueues?: number; numdisabled?: number } };
}

/** Write a VM config into the sandbox's work dir and return its path. */
export function writeConfig(host: SandboxHost, name: string, config: Record<string, unknown>): string {
  const file = path.join(host.workDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export async function tapLink(host: SandboxHost, ifname: string): Promise<TapLink | undefined> {
  const r = await host.exec('ip', ['-j', '-d', 'link', 'show', 'dev', ifname]);
  return r.code === 0 ? (JSON.parse(r.stdout) as TapLink[])[0] : undefined;
}

export async function inspectVm(host: SandboxHost, name: string): Promise<VmView> {
  return host.voltJson<VmView>(['vm', 'inspect', name, '-o', 'json']);
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface CrossTypeOptions {
  /** The vm-nic driver expected to make the TAP. */
  nicDriver: 'direct-tap' | 'networkd';
}

export async function crossType(t: ExecutionContext, host: SandboxHost, opts: CrossTypeOptions): Promise<void> {
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api: ContainerNs = await host.addContainer('api-server');
  const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
  t.is(a.ip, '10.30.0.100');

  // The spec's NIC entry; with networkd, its "mode" asks for that driver explicitly.
  const nicEntry = { id: 'eth0', network: 'backend', vhost: true, ...(opts.nicDriver === 'networkd' ? { mode: 'networkd' } : {}) };
  const file = writeConfig(host, 'db-primary', guestConfig([nicEntry]));
  await host.voltOk(['vm', 'create', 'db-primary', '--config', file]);
  // A firewall rule naming the VM before it has an address: it follows the VM from `vm start` on.
  await host.voltOk(['net', 'firewall', 'add', '--name', 'drop-db-7003', '--source', api.netns, '--dest', 'db-primary', '--port', '7003', '--proto', 'tcp', '--action', 'drop']);
  const started = await host.volt(['vm', 'start', 'db-primary']);
  t.is(started.code, 0, started.stderr);
  // vhost-net is absent on this kernel: a one-line warning, and userspace virtio-net.
  const vhostWarnings = started.stderr.split('\n').filter((l) => /vhost-net unavailable/.test(l));
  t.is(vhostWarnings.length, 1, started.stderr);
  t.regex(vhostWarnings[0]!, /^warning: VM "db-primary": vhost-net unavailable \(\/dev\/vhost-net: ENOENT.*\); NIC eth0 uses userspace virtio-net$/);

  const vm = await inspectVm(host, 'db-primary');
  t.is(vm.state, 'running');
  const nic = vm.nics[0]!;
  t.is(nic.driver, opts.nicDriver);
  t.is(nic.network, 'backend');
  t.is(nic.ip, '10.30.0.2', 'VMs take the low range');
  t.regex(nic.mac ?? '', /^52:54:00:/);
  t.regex(nic.vhost, /^off \(\/dev\/vhost-net: ENOENT/);
  const table = await host.voltOk(['vm', 'inspect', 'db-primary']);
  t.regex(table.stdout, /vhost: off \(\/dev\/vhost-net: ENOENT/);
  t.true(table.stdout.includes(vm.serialLog), 'inspect names the console log');

  // The TAP on the host: on the bridge, vnet_hdr, named after the UUID.
  const tap = await tapLink(host, nic.tap);
  t.is(tap?.linkinfo?.info_kind, 'tun');
  t.is(tap?.linkinfo?.info_data?.type, 'tap');
  t.is(tap?.linkinfo?.info_data?.vnet_hdr, true);
  t.is(tap?.master, 'volt-backend');
  t.true(nic.tap.startsWith(`tap-${vm.uuid.replace(/-/g, '').slice(0, 6)}`) && nic.tap.length <= 15);
  const unit = path.join(host.root, 'run/systemd/network', `50-vm-${vm.uuid}-eth0.netdev`);
  if (opts.nicDriver === 'networkd') {
    // networkd made it from the design's template: multi-queue, persistent, units in the runtime directory.
    t.is(tap?.linkinfo?.info_data?.multi_queue, true);
    t.is(tap?.linkinfo?.info_data?.persist, true);
    t.regex(fs.readFileSync(unit, 'utf8'), /Kind=tap[\s\S]*VNetHeader=true[\s\S]*MultiQueue=true/);
  } else {
    t.is(tap?.linkinfo?.info_data?.persist, false, 'direct TAPs live as long as QEMU holds them');
    t.false(fs.existsSync(unit));
  }
  t.regex(leases(host, opts), new RegExp(opts.nicDriver === 'networkd' ? `MACAddress=${nic.mac}\\nAddress=10\\.30\\.0\\.2` : `dhcp-host=${nic.mac},10\\.30\\.0\\.2,db-primary`));

  // The guest takes exactly IPAM's address by DHCP, with the gateway as router and DNS server.
  const con = new GuestConsole(vm.serialLog);
  const dhcp = await con.waitFor(/VOLT-DHCP eth0 ip=(\S+) router=(\S+) dns=(\S+)/);
  t.deepEqual([dhcp[1], dhcp[2], dhcp[3]], ['10.30.0.2/24', '10.30.0.1', '10.30.0.1']);
  await con.waitFor(/VOLT-GUEST-READY/);

  const ps = await host.voltJson<PsRow[]>(['ps', '-o', 'json']);
  const row = ps.find((p) => p.name === 'db-primary')!;
  t.is(row.type, 'vm');
  t.is(row.state, 'running');
  t.deepEqual(row.nics.map((n) => [n.network, n.ip, n.mac, n.driver, n.hostIfname]), [['backend', '10.30.0.2', nic.mac, opts.nicDriver, nic.tap]]);

  const list = await host.voltJson<VmView[]>(['vm', 'list', '-o', 'json']);
  t.deepEqual(list.map((v) => [v.name, v.state, v.pid]), [['db-primary', 'running', vm.pid]]);

  // L2 peers: ping both ways, a TCP payload both ways.
  t.true(await ping(api, '10.30.0.2', { count: 3 }), 'container → VM ping');
  t.regex(await guestShell(api, '10.30.0.2', 'ping -c 2 -W 2 10.30.0.100 >/dev/null && echo PING-OK'), /PING-OK/, 'VM → container ping');
  t.is(
    await guestShell(api, '10.30.0.2', `echo "payload-from-api reached $(ip -4 -o addr show dev eth0 | awk '{print $4}')"`),
    'payload-from-api reached 10.30.0.2/24\n',
    'container → VM TCP (the VM answers with its own address)',
  );
  const got = await receiveOnce(api, 7001, () => guestShell(api, '10.30.0.2', 'echo payload-from-db-primary | nc 10.30.0.100 7001'));
  t.deepEqual(got, { peer: '10.30.0.2', payload: 'payload-from-db-primary\n' }, 'VM → container TCP');

  // The rule took the VM's address when it started (no `net up`): 7003 is dropped, 7004 is refused by the guest.
  const [dropped, closed] = await Promise.all([probe(api, '10.30.0.2', 7003), probe(api, '10.30.0.2', 7004)]);
  t.false(dropped.connected);
  t.not(dropped.detail, 'ERROR ECONNREFUSED', 'drop-db-7003 drops (no reset from the guest)');
  t.is(closed.detail, 'ERROR ECONNREFUSED', 'other ports reach the guest, which resets');

  // A TAP knocked off its bridge. A direct TAP stays off: `net check` names it as drift and
  // `net up` plugs it back in. networkd manages its TAP's link itself and puts it back on its own.
  t.is((await host.exec('ip', ['link', 'set', 'dev', nic.tap, 'nomaster'])).code, 0);
  if (opts.nicDriver === 'direct-tap') {
    const offBridge = await host.volt(['net', 'check']);
    t.is(offBridge.code, 6);
    t.regex(offBridge.stderr, new RegExp(`VM "db-primary" NIC eth0: TAP ${nic.tap} is on no bridge, not on bridge volt-backend`));
    t.regex((await host.voltOk(['net', 'up'])).stdout, /plugged it back in/);
    t.is((await tapLink(host, nic.tap))?.master, 'volt-backend');
  } else {
    await waitFor('networkd to put the TAP back on its bridge', async () => ((await tapLink(host, nic.tap))?.master === 'volt-backend' ? true : undefined));
  }
  t.is((await host.volt(['net', 'check'])).code, 0);

  // Bad input on a running VM changes nothing.
  const before = await snapshot(host);
  const again = await host.volt(['vm', 'start', 'db-primary']);
  t.is(again.code, 4);
  t.regex(again.stderr, /start VM "db-primary": it is already running \(pid \d+\)/);
  const del = await host.volt(['vm', 'delete', 'db-primary']);
  t.is(del.code, 4);
  t.regex(del.stderr, /delete VM "db-primary": it is running/);
  t.deepEqual(await snapshot(host), before);

  // Static leases follow connect/disconnect: a new address, re-leased by the running guest.
  await host.voltOk(['net', 'disconnect', 'db-primary', 'backend']);
  t.is((await tapLink(host, nic.tap))?.master, undefined, 'disconnect unplugs the running VM’s TAP');
  const re = await host.voltJson<Attachment>(['net', 'connect', 'backend', 'db-primary', '--ip', '10.30.0.42', '-o', 'json']);
  t.deepEqual([re.ip, re.mac, re.hostIfname], ['10.30.0.42', nic.mac, nic.tap]);
  t.is((await tapLink(host, nic.tap))?.master, 'volt-backend');
  await guestShell(api, '10.30.0.2', '(sleep 1; udhcpc -i eth0 -s /bin/dhcp-event -q -n -t 10 -T 1 >/dev/null 2>&1) >/dev/null 2>&1 &');
  await con.waitFor(/VOLT-DHCP eth0 ip=10\.30\.0\.42\/24/);
  t.true(await ping(api, '10.30.0.42', { count: 3 }), 'the guest re-leased its new address');
  const [dropped42, closed42] = await Promise.all([probe(api, '10.30.0.42', 7003), probe(api, '10.30.0.42', 7004)]);
  t.not(dropped42.detail, 'ERROR ECONNREFUSED', 'the rule followed the reconnect to 10.30.0.42');
  t.false(dropped42.connected);
  t.is(closed42.detail, 'ERROR ECONNREFUSED');

  // Graceful stop: ACPI power button, the guest powers off; its TAP goes.
  const stop = await host.voltOk(['vm', 'stop', 'db-primary', '--timeout', '60']);
  t.regex(stop.stdout, /stopped VM db-primary: the guest powered off/);
  t.regex(con.text(), /VOLT-GUEST-POWEROFF/);
  t.is(await tapLink(host, nic.tap), undefined);
  t.false(fs.existsSync(unit), 'the TAP units are gone');
  t.is((await host.voltJson<PsRow[]>(['ps', '-o', 'json'])).find((p) => p.name === 'db-primary')?.state, 'stopped');
  t.is((await inspectVm(host, 'db-primary')).nics[0]!.ip, '10.30.0.42', 'a stopped VM keeps its address');

  // A QEMU that dies on its own: `ps` says so, `net up` cleans its NICs.
  await host.voltOk(['vm', 'start', 'db-primary']);
  const second = await inspectVm(host, 'db-primary');
  process.kill(second.pid!, 'SIGKILL');
  await waitFor('QEMU to die', async () => ((await host.voltJson<PsRow[]>(['ps', '-o', 'json'])).find((p) => p.name === 'db-primary')?.state === 'exited' ? true : undefined));
  t.is((await inspectVm(host, 'db-primary')).state, 'exited');
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 6, 'net check reports the dead VM as drift');
  t.regex(check.stderr, /VM "db-primary": its QEMU \(pid \d+\) has exited; its NICs \(tap-\w+\) are still set up/);
  const up = await host.voltOk(['net', 'up']);
  t.regex(up.stdout, /VM "db-primary": its QEMU had exited \(pid \d+\); removed its NICs/);
  t.is(await tapLink(host, nic.tap), undefined);
  t.is((await inspectVm(host, 'db-primary')).state, 'stopped');
  t.regex((await host.voltOk(['net', 'up'])).stdout, /nothing to do/, 'a second `net up` finds nothing');
  t.is((await host.volt(['net', 'check'])).code, 0, 'and `net check` neither');

  t.regex(leases(host, opts), /10\.30\.0\.42/, 'the lease outlives the VM process');
  t.true((await host.exec('nft', ['list', 'table', 'inet', 'volt'])).stdout.includes('10.30.0.42'), 'a stopped VM keeps its address in rules');
  await host.voltOk(['vm', 'delete', 'db-primary']);
  t.false((await host.voltJson<PsRow[]>(['ps', '-o', 'json'])).some((p) => p.name === 'db-primary'));
  t.false((await host.exec('nft', ['list', 'table', 'inet', 'volt'])).stdout.includes('10.30.0.42'), 'deleting the VM takes its address out of the rules');
  t.is(leases(host, opts), '', 'deleting the last VM of a network stops its guest DHCP');
}

/** What the network's guest DHCP serves, from its files: dnsmasq's config, or networkd's drop-in. */
export function leases(host: SandboxHost, opts: CrossTypeOptions): string {
  const file =
    opts.nicDriver === 'networkd'
      ? path.join(host.root, 'run/systemd/network/10-volt-volt-backend.network.d/50-volt-dhcp.conf')
      : path.join(host.root, 'run/volt/dhcp/volt-backend/dnsmasq.conf');
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^(dhcp-host|MACAddress|Address)=/.test(l))
      .join('\n');
  } catch {
    return '';
  }
}
