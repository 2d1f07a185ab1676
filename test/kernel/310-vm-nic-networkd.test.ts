/**
 * NetworkdTap (plugins/networkd) and NetworkdDhcp against a real
 * systemd-networkd in a sandbox host: the design's per-VM TAP units, the TAP
 * networkd makes from them, opening it by name (TUNSETIFF with matching
 * flags), moving it, teardown, the bounded wait with retries when networkd
 * does not deliver, and the DHCP drop-in on the bridge's .network.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VmNicSpec } from '@volt/sdk';
import { renderDhcpDropin, renderTapUnits } from '@volt/plugin-networkd/dist/index';
import { SandboxHost } from '../harness';
import { NicRunner } from './300-vm-nic-client';

const UUID = '9b2f7c1e-0000-4000-8000-00000000beef';

function spec(over: Partial<VmNicSpec> = {}): VmNicSpec {
  return {
    vm: 'db-primary',
    vmUuid: UUID,
    nicId: 'eth0',
    ifname: 'tap-9b2f7cbeef',
    bridge: 'volt-backend',
    mac: '52:54:00:12:34:56',
    mtu: 1400,
    queues: 2,
    ...over,
  };
}

interface TapLink {
  ifname: string;
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string; vnet_hdr?: boolean; multi_queue?: boolean; numqueues?: number; persist?: boolean } };
}

async function link(host: SandboxHost, ifname: string): Promise<TapLink | undefined> {
  const r = await host.exec('ip', ['-j', '-d', 'link', 'show', 'dev', ifname]);
  return r.code === 0 ? (JSON.parse(r.stdout) as TapLink[])[0] : undefined;
}

async function sandbox(t: ExecutionContext): Promise<{ host: SandboxHost; runner: (options?: Record<string, unknown>) => NicRunner }> {
  const host = await SandboxHost.create(t, { networkd: true, uplink: false, config: 'drivers:\n  bridge: networkd\n' });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--mtu', '1400']);
  const prefix = ['nsenter', '-t', String(host.keeperPid), '-m', '-n', '--'];
  return { host, runner: (options) => new NicRunner(t, prefix, { driver: 'networkd', options }, host.env()) };
}

const units = (host: SandboxHost): string[] => fs.readdirSync(path.join(host.root, 'run/systemd/network')).filter((f) => f.startsWith('50-vm-')).sort();

test('the TAP comes from networkd units (design template); volt opens its queues by name; teardown removes units and TAP', async (t) => {
  const { host, runner } = await sandbox(t);
  const r = runner();
  t.true(((await r.ok({ op: 'available' })).result as { ok: boolean }).ok);
  const s = spec();
  const out = await r.request({ op: 'setup', spec: s });
  t.true(out.ok, `${JSON.stringify(out.error)}\n${host.networkdLog(30)}`);
  t.deepEqual(out.result, { ifname: s.ifname, queues: 2, warnings: [] });

  t.deepEqual(units(host), [`50-vm-${UUID}-eth0.netdev`, `50-vm-${UUID}-eth0.network`]);
  const rendered = renderTapUnits(s);
  t.is(fs.readFileSync(path.join(host.root, 'run/systemd/network', rendered.netdev.name), 'utf8'), rendered.netdev.content);
  t.regex(rendered.netdev.content, /\[NetDev\]\nName=tap-9b2f7cbeef\nKind=tap\n\n\[Tap\]\nUser=root\nGroup=root\nVNetHeader=true\nMultiQueue=true\nPacketInfo=false/);
  t.regex(rendered.network.content, /\[Match\]\nName=tap-9b2f7cbeef[\s\S]*MTUBytes=1400[\s\S]*Bridge=volt-backend/);

  const l = await link(host, s.ifname);
  t.is(l?.linkinfo?.info_data?.type, 'tap');
  t.is(l?.linkinfo?.info_data?.vnet_hdr, true);
  t.is(l?.linkinfo?.info_data?.multi_queue, true);
  t.is(l?.linkinfo?.info_data?.persist, true, "networkd's TAPs are persistent");
  t.is(l?.linkinfo?.info_data?.numqueues, 2, 'the runner holds both queues');
  t.is(l?.master, 'volt-backend');
  t.is(l?.mtu, 1400);

  // Moving it: the .network follows, and the kernel agrees at once.
  await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.31.0.0/24', '--mtu', '1400']);
  await r.ok({ op: 'attach', spec: { ...s, bridge: 'volt-other' } });
  t.is((await link(host, s.ifname))?.master, 'volt-other');
  t.regex(fs.readFileSync(path.join(host.root, 'run/systemd/network', rendered.network.name), 'utf8'), /Bridge=volt-other/);
  await r.ok({ op: 'detach', spec: s });
  t.is((await link(host, s.ifname))?.master, undefined);
  t.notRegex(fs.readFileSync(path.join(host.root, 'run/systemd/network', rendered.network.name), 'utf8'), /Bridge=/);

  await r.ok({ op: 'teardown', spec: s });
  t.deepEqual(units(host), []);
  t.is(await link(host, s.ifname), undefined, 'stop: fds closed, units deleted, TAP gone');
  await r.ok({ op: 'teardown', spec: s }, 10_000);
});

test('networkd does not deliver: bounded wait, retries with backoff, then E_NIC_UNAVAILABLE with the units removed', async (t) => {
  const { host, runner } = await sandbox(t);
  // An admin's file of the same name in /etc overrides volt's in /run: networkd makes "decoy0" instead.
  const s = spec({ queues: 1 });
  fs.writeFileSync(path.join(host.root, 'etc/systemd/network', `50-vm-${UUID}-eth0.netdev`), '[NetDev]\nName=decoy0\nKind=bridge\n');
  const r = runner({ timeoutMs: 400, attempts: 3 });
  const out = await r.request({ op: 'setup', spec: s });
  t.false(out.ok);
  t.is(out.error?.code, 'E_NIC_UNAVAILABLE');
  t.regex(out.error?.message ?? '', /networkd did not provide it \(attempt 1: no TAP after 400 ms; attempt 2: no TAP after 400 ms; attempt 3: no TAP after 400 ms\); units removed/);
  t.deepEqual(units(host), []);
  t.is(await link(host, s.ifname), undefined);
});

test('guest DHCP as a drop-in for the bridge .network: static leases only, reloaded on change, removed when empty', async (t) => {
  const { host } = await sandbox(t);
  const dropin = path.join(host.root, 'run/systemd/network/10-volt-volt-backend.network.d/50-volt-dhcp.conf');
  const spec1 = { network: 'backend', bridge: 'volt-backend', gateway: '10.30.0.1', leases: [{ mac: '52:54:00:AA:00:01', ip: '10.30.0.2' }] };
  t.is(
    renderDhcpDropin(spec1),
    [
      '# Managed by volt — network "backend". Changes are overwritten. DHCP for VM guests.',
      '[Network]',
      'DHCPServer=yes',
      '',
      '[DHCPServer]',
      'PoolOffset=0',
      'PoolSize=0',
      'EmitRouter=yes',
      'EmitDNS=yes',
      'DNS=10.30.0.1',
      'EmitNTP=no',
      'EmitSIP=no',
      'EmitTimezone=no',
      '',
      '[DHCPServerStaticLease]',
      'MACAddress=52:54:00:aa:00:01',
      'Address=10.30.0.2',
      '',
    ].join('\n'),
  );
  // Through the CLI: a stopped VM connected to the network gets its lease served at once.
  fs.writeFileSync(path.join(host.workDir, 'k'), 'not a kernel');
  const cfg = { kernel: path.join(host.workDir, 'k'), network: [{ id: 'eth0', network: 'backend', mac: '52:54:00:aa:00:01' }] };
  fs.writeFileSync(path.join(host.workDir, 'vm.json'), JSON.stringify(cfg));
  await host.voltOk(['vm', 'create', 'db', '--config', path.join(host.workDir, 'vm.json')]);
  t.false(fs.existsSync(dropin), 'creating a VM reserves nothing yet');
  await host.voltOk(['net', 'connect', 'backend', 'db']);
  t.regex(fs.readFileSync(dropin, 'utf8'), /\[DHCPServerStaticLease\]\nMACAddress=52:54:00:aa:00:01\nAddress=10\.30\.0\.2\n/);
  // networkd applied it to the bridge (the server itself starts once a port brings carrier; the e2e tests lease through it).
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !/volt-backend: Requesting DHCP server/.test(host.networkdLog(400))) await new Promise((res) => setTimeout(res, 100));
  t.regex(host.networkdLog(400), /volt-backend: Requesting DHCP server/);
  await host.voltOk(['net', 'disconnect', 'db', 'backend']);
  t.false(fs.existsSync(dropin), 'no leases left: no DHCP server');
});
