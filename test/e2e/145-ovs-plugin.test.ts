/**
 * A third-party bridge driver for real: examples/ovs (Open vSwitch), built from its sources outside
 * the repository against the packed SDK (docs/drivers.md's walk-through), packed with `npm pack`,
 * checked with the conformance kit, installed with `volt plugins install` from the tarball into a fresh volt data dir
 * with no registry reachable, selected with `volt driver use bridge ovs`, then the workload
 * scenario on it: two containers and a QEMU guest as L2 peers on an OVS bridge, DNS by name, NAT
 * to the sandbox's internet, the IPv6 gate (an OpenFlow drop the driver installs), TAP drift,
 * policies between workloads enforced by the driver in the switch (OpenFlow + conntrack,
 * capability switched-policies) and agreeing with `volt net policy test`, their drift and repair,
 * and a dual-stack network, which the driver refuses with nothing changed.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { GUEST_SHELL_PORT, GuestConsole, REPO_ROOT, SandboxHost, UPLINK, guestConfig, guestShell, ping, receiveOnce, tcpProbe, waitFor, type ContainerNs } from '../harness';
import { snapshot } from './kernel-snapshot';
import { dig, serve } from './500-dns-lib';
import { inspectVm, writeConfig, type Attachment } from './300-vm-scenario';

const OVS_TOOLS = ['ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd'];
const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

function inPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, tool), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = [...OVS_TOOLS.filter((t) => !inPath(t)), ...(fs.existsSync(SCHEMA) ? [] : [SCHEMA])];

interface DriverJson {
  interface: string;
  active: string | null;
  why: string;
  drivers: { name: string; available: boolean; active: boolean; capabilities?: string[] }[];
}

/** No registry: every npm call here and in `volt plugins install` must work from local files. */
const OFFLINE = { npm_config_offline: 'true', npm_config_registry: 'http://127.0.0.1:9/', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/**
 * docs/drivers.md's walk-through, as an outside author does it: `npm pack` the SDK, copy the
 * example's sources out of the repository, install the packed SDK into the copy, build, `npm pack`.
 * One difference, to stay offline: the compiler and Node's types (devDependencies, from the
 * registry in the walk-through) are the repository's own.
 */
function packPlugin(dir: string): string {
  const env = { ...process.env, ...OFFLINE };
  const npm = (cwd: string, args: string[]): string => execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const sdkTgz = path.join(dir, npm(path.join(REPO_ROOT, 'sdk'), ['pack', '--silent', '--pack-destination', dir]).split('\n').pop()!);
  const src = path.join(dir, 'volt-driver-ovs');
  fs.mkdirSync(src);
  for (const f of ['package.json', 'README.md', 'tsconfig.json', 'src']) fs.cpSync(path.join(REPO_ROOT, 'examples/ovs', f), path.join(src, f), { recursive: true });
  const pkgFile = path.join(src, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { devDependencies?: unknown };
  delete pkg.devDependencies;
  fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  npm(src, ['install', '--no-save', sdkTgz]);
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--typeRoots', path.join(REPO_ROOT, 'node_modules/@types')], {
    cwd: src,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return path.join(src, npm(src, ['pack', '--silent']).split('\n').pop()!);
}

async function ovsPorts(host: SandboxHost, bridge: string): Promise<string[]> {
  const r = await host.exec('ovs-vsctl', [`--db=unix:${path.join(host.root, 'run/volt/ovs/db.sock')}`, 'list-ports', bridge]);
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l !== '').sort() : [];
}

async function ovs(host: SandboxHost, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return host.exec('ovs-vsctl', [`--db=unix:${path.join(host.root, 'run/volt/ovs/db.sock')}`, ...args]);
}

async function ofctl(host: SandboxHost, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return host.exec('ovs-ofctl', args, { env: { OVS_RUNDIR: path.join(host.root, 'run/volt/ovs') } });
}

/** Whether `from` gets an answer to a ping to `to`'s IPv6 link-local address on eth0 (the gate closes it). */
async function ping6LinkLocal(from: ContainerNs, to: ContainerNs): Promise<boolean> {
  const addr = (await to.execJson<{ addr_info: { family: string; local: string; scope: string; tentative?: boolean }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0]!.addr_info.find(
    (a) => a.family === 'inet6' && a.scope === 'link' && a.tentative !== true,
  );
  if (!addr) return false;
  return (await from.exec('ping', ['-6', '-c', '1', '-W', '1', `${addr.local}%eth0`])).code === 0;
}

(missing.length > 0 ? test.skip : test)(
  `Open vSwitch bridge driver from an npm-pack tarball: containers and a VM as L2 peers, DNS, NAT, IPv6 gate, policies in the switch, dual-stack refused${missing.length > 0 ? ` (skipped: Open vSwitch not installed, missing ${missing.join(', ')}; scripts/setup.sh installs openvswitch-switch)` : ''}`,
  async (t) => {
    // Two npm packs, an install, a guest boot: longer than ava's default on a loaded machine.
    t.timeout(15 * 60_000);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-ovs-'));
    t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
    const tarball = packPlugin(work);
    const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' });
    t.regex(listing, /^package\/node_modules\/@volt\/sdk\/dist\/index\.js$/m, 'the SDK travels inside the tarball (bundleDependencies)');
    t.notRegex(listing, /@volt\/core/);

    const host = await SandboxHost.create(t);
    const env = { ...OFFLINE, VOLT_DATA_DIR: path.join(work, 'data'), VOLT_CACHE_DIR: path.join(work, 'cache'), VOLT_CONFIG_DIR: path.join(work, 'config') };
    const volt = (args: string[]) => host.volt(args, { env });
    const voltOk = (args: string[]) => host.voltOk(args, { env });
    const voltJson = <T>(args: string[]) => host.voltJson<T>(args, { env });

    // Before the plugin: the name is unknown, and nothing is written.
    const unknown = await volt(['driver', 'use', 'bridge', 'ovs']);
    t.is(unknown.code, 2, unknown.stderr);
    t.regex(unknown.stderr, /use bridge driver "ovs": no installed plugin provides it; installed bridge drivers: networkd, direct/);
    t.false(fs.existsSync(path.join(host.root, 'etc/volt/config.yaml')));

    const installed = await volt(['plugins', 'install', `file:${tarball}`]);
    t.is(installed.code, 0, installed.stderr);
    // oclif colours the version when CI=true, even into a pipe.
    t.regex(stripVTControlCharacters((await voltOk(['plugins'])).stdout), /volt-driver-ovs 0\.1\.0/);
    t.regex(listing, /^package\/dist\/ovs-bridge\.d\.ts$/m, 'built from the sources here, declarations included');

    // The conformance kit against the installed driver, in a namespace of its own (inside the sandbox).
    const kit = await host.volt(['driver', 'test', 'bridge', 'ovs'], { env, timeoutMs: 10 * 60_000 });
    t.is(kit.code, 0, kit.stdout + kit.stderr);
    t.regex(kit.stdout, /\nbridge ovs: 10 passed, 0 failed, 0 skipped\n$/);
    t.regex(kit.stdout, /^✓ switched-policies \(capability\)/m);

    const use = await voltJson<{ interface: string; driver: string; previous: string | null; changed: boolean }>(['driver', 'use', 'bridge', 'ovs', '-o', 'json']);
    t.deepEqual([use.interface, use.driver, use.previous, use.changed], ['bridge', 'ovs', null, true]);
    t.regex(fs.readFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'utf8'), /^drivers:\n {2}bridge: ovs\n$/);
    const drivers = await voltJson<DriverJson[]>(['driver', 'list', '-o', 'json']);
    const bridge = drivers.find((d) => d.interface === 'bridge')!;
    t.is(bridge.active, 'ovs');
    t.is(bridge.why, 'configured (drivers.bridge)');
    t.deepEqual(bridge.drivers.find((d) => d.name === 'ovs')?.capabilities, ['container-ports', 'tap-ports', 'switched-policies']);

    // The network is an OVS bridge (userspace datapath), its internal port the gateway.
    await voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    t.is((await ovs(host, ['get', 'bridge', 'volt-backend', 'datapath_type'])).stdout.trim(), 'netdev');
    const gw = (await host.execJson<{ linkinfo?: { info_kind?: string }; addr_info: { local: string }[]; operstate: string }[]>('ip', ['-j', '-d', 'addr', 'show', 'dev', 'volt-backend']))[0]!;
    t.is(gw.linkinfo?.info_kind, 'tun', 'an OVS internal port, not a Linux bridge');
    t.true(gw.addr_info.some((a) => a.local === '10.30.0.1'));
    t.regex((await ofctl(host, ['dump-flows', 'volt-backend', 'cookie=0x766f6c74/-1'])).stdout, /priority=100,ipv6 actions=drop/);
    t.is((await volt(['net', 'check'])).code, 0, 'a converged OVS network has no drift');

    // Two containers: their veths are OVS ports.
    const api = await host.addContainer('api');
    const web = await host.addContainer('web');
    const a = await voltJson<Attachment>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
    const w = await voltJson<Attachment>(['net', 'connect', 'backend', web.netns, '-o', 'json']);
    t.deepEqual([a.ip, w.ip], ['10.30.0.100', '10.30.0.101']);
    t.deepEqual(await ovsPorts(host, 'volt-backend'), [a.hostIfname, w.hostIfname].sort());
    t.true(await ping(api, '10.30.0.101'), 'container → container across the OVS bridge');
    t.true(await ping(api, UPLINK.internetAddress), 'NAT to the outside (nftables, unchanged)');

    // The VM's TAP: made by direct-tap on no bridge, plugged into OVS by the bridge driver (tap-ports).
    const file = writeConfig(host, 'db-primary', guestConfig([{ id: 'eth0', network: 'backend', vhost: false }]));
    await voltOk(['vm', 'create', 'db-primary', '--config', file]);
    const started = await volt(['vm', 'start', 'db-primary']);
    t.is(started.code, 0, started.stderr);
    const vm = await inspectVm(host, 'db-primary');
    const nic = vm.nics[0]!;
    t.is(nic.ip, '10.30.0.2');
    t.is((await ovs(host, ['port-to-br', nic.tap])).stdout.trim(), 'volt-backend');
    const con = new GuestConsole(vm.serialLog);
    const dhcp = await con.waitFor(/VOLT-DHCP eth0 ip=(\S+) router=(\S+) dns=(\S+)/);
    t.deepEqual([dhcp[1], dhcp[2], dhcp[3]], ['10.30.0.2/24', '10.30.0.1', '10.30.0.1'], 'guest DHCP (dnsmasq) answers through the OVS bridge');
    await con.waitFor(/VOLT-GUEST-READY/);

    // L2 peers: container ↔ VM both ways.
    t.true(await ping(api, '10.30.0.2', { count: 3 }), 'container → VM');
    t.regex(await guestShell(api, '10.30.0.2', 'ping -c 2 -W 2 10.30.0.101 >/dev/null && echo PING-OK'), /PING-OK/, 'VM → container');
    const got = await receiveOnce(web, 7001, () => guestShell(api, '10.30.0.2', 'echo from-db-primary | nc 10.30.0.101 7001'));
    t.deepEqual(got, { peer: '10.30.0.2', payload: 'from-db-primary\n' }, 'VM → container TCP');

    // DNS by name (volt-dns on the gateway of the OVS network).
    const dns = await serve(host, [], env);
    t.deepEqual((await dig(api, '10.30.0.1', [w.workload])).answers.map((x) => x.value), ['10.30.0.101']);
    let last = '';
    await waitFor(
      async () => {
        const d = await dig(web, '10.30.0.1', ['+time=1', 'db-primary']);
        last = d.raw;
        return d.answers[0]?.value === '10.30.0.2';
      },
      { timeoutMs: 15_000, description: 'db-primary published by volt-dns' },
    ).catch((e: unknown) => {
      t.log(last, dns.stdout, dns.stderr);
      throw e;
    });
    await dns.stop();

    // IPv6 between workloads is closed by the driver's flow; without it it would pass, and `net up` puts it back.
    await waitFor(async () => (await api.exec('ip', ['-6', 'addr', 'show', 'dev', 'eth0', 'tentative'])).stdout.trim() === '', { timeoutMs: 10_000, description: 'DAD on api' });
    await waitFor(async () => (await web.exec('ip', ['-6', 'addr', 'show', 'dev', 'eth0', 'tentative'])).stdout.trim() === '', { timeoutMs: 10_000, description: 'DAD on web' });
    t.false(await ping6LinkLocal(api, web), 'IPv6 does not cross the OVS bridge');
    t.is((await ofctl(host, ['del-flows', 'volt-backend', 'cookie=0x766f6c74/-1'])).code, 0);
    await waitFor(() => ping6LinkLocal(api, web), { timeoutMs: 10_000, description: 'IPv6 across the bridge once the gate flow is gone' });
    const gateDrift = await volt(['net', 'check']);
    t.is(gateDrift.code, 6, gateDrift.stderr);
    t.regex(gateDrift.stderr, /Open vSwitch bridge volt-backend lacks the flow that keeps IPv6 off the network/);
    await voltOk(['net', 'up']);
    t.false(await ping6LinkLocal(api, web), '`net up` re-installed the gate');

    // A TAP taken off the OVS bridge: `net check` sees it through the driver, `net up` plugs it back.
    t.is((await ovs(host, ['del-port', 'volt-backend', nic.tap])).code, 0);
    const off = await volt(['net', 'check']);
    t.is(off.code, 6, off.stderr);
    t.regex(off.stderr, new RegExp(`VM "db-primary" NIC eth0: TAP ${nic.tap} is on no bridge, not on bridge volt-backend`));
    t.regex((await voltOk(['net', 'up'])).stdout, /plugged it back in/);
    t.is((await ovs(host, ['port-to-br', nic.tap])).stdout.trim(), 'volt-backend');
    t.true(await ping(api, '10.30.0.2'), 'and the VM answers again');
    t.is((await volt(['net', 'check'])).code, 0);

    // A dual-stack network: the driver has no IPv6, so it refuses, and nothing is made.
    const beforeDual = await snapshot(host);
    const dual = await volt(['net', 'create', '--name', 'dual', '--subnet', '10.31.0.0/24', '--subnet6', 'fd00:31::/64']);
    t.is(dual.code, 5, dual.stderr);
    t.regex(dual.stderr, /the Open vSwitch driver does not support dual-stack networks/);
    t.deepEqual(await snapshot(host), beforeDual, 'the refused network left nothing in the kernel');
    t.deepEqual((await voltJson<{ name: string }[]>(['net', 'list', '-o', 'json'])).map((n) => n.name).filter((n) => n === 'dual'), [], 'nor in state');
    t.false((await ovs(host, ['list-br'])).stdout.split('\n').includes('volt-dual'), 'nor in Open vSwitch');

    // Policies between workloads of the OVS network, enforced by the driver in the switch.
    // web accepts TCP 8080 from api only, and 7002 from the VM; the VM's guest shell only from api.
    // `net policy test` exits 1 when the connection is denied; its JSON says the verdict either way.
    const testPolicy = async (from: string, to: string, port: number): Promise<string> =>
      (JSON.parse((await volt(['net', 'policy', 'test', '--from', from, '--to', to, '--port', String(port), '-o', 'json'])).stdout) as { verdict: string }).verdict;
    // Before any policy: nothing is isolated, and the switch has no policy flows.
    t.true(await tcpProbe(web, api, '10.30.0.101', { port: 8081 }), 'api → web:8081 before any policy');
    t.is(await testPolicy(a.workload, w.workload, 8081), 'ALLOWED');
    await voltOk(['net', 'policy', 'create', '--name', 'web-http', '--from', a.workload, '--to', w.workload, '--port', '8080', '--action', 'allow']);
    await voltOk(['net', 'policy', 'create', '--name', 'web-from-db', '--from', 'db-primary', '--to', w.workload, '--port', '7002', '--action', 'allow']);
    await voltOk(['net', 'policy', 'create', '--name', 'db-shell', '--from', a.workload, '--to', 'db-primary', '--port', String(GUEST_SHELL_PORT), '--action', 'allow']);
    const flows = (await ofctl(host, ['dump-flows', 'volt-backend', 'table=1'])).stdout;
    t.regex(flows, /tcp,nw_src=10\.30\.0\.100,nw_dst=10\.30\.0\.101,tp_dst=8080 actions=ct\(commit,zone=1\),NORMAL/, 'the allow policy is a flow of the bridge');
    t.regex(flows, /priority=110,ip,nw_dst=10\.30\.0\.101 actions=drop/, 'web is isolated in the switch');

    // Container ↔ container: real TCP agrees with `net policy test`.
    t.is(await testPolicy(a.workload, w.workload, 8080), 'ALLOWED');
    t.true(await tcpProbe(web, api, '10.30.0.101', { port: 8080 }), 'api → web:8080 allowed by web-http');
    t.is(await testPolicy(a.workload, w.workload, 8081), 'DENIED');
    t.false(await tcpProbe(web, api, '10.30.0.101', { port: 8081, timeoutMs: 2000 }), 'api → web:8081 denied: web is isolated');
    t.false(await ping(api, '10.30.0.101'), 'nor does ping (icmp) reach an isolated workload');
    t.is(await testPolicy(w.workload, a.workload, 8080), 'ALLOWED');
    t.true(await tcpProbe(api, web, '10.30.0.100', { port: 8080 }), 'web → api: api is not isolated (the default: same network allowed)');
    t.true(await ping(api, '10.30.0.1'), 'the gateway stays reachable (routed traffic is nftables\' part)');

    // VM → container.
    t.is(await testPolicy('db-primary', w.workload, 7002), 'ALLOWED');
    const viaPolicy = await receiveOnce(web, 7002, () => guestShell(api, '10.30.0.2', 'echo allowed | nc 10.30.0.101 7002'));
    t.deepEqual(viaPolicy, { peer: '10.30.0.2', payload: 'allowed\n' }, 'VM → web:7002 allowed by web-from-db');
    t.is(await testPolicy('db-primary', w.workload, 8080), 'DENIED');
    await t.throwsAsync(
      receiveOnce(web, 8080, () => guestShell(api, '10.30.0.2', 'echo denied | nc -w 2 10.30.0.101 8080; true'), 4000),
      { message: /nothing arrived on port 8080/ },
      'VM → web:8080 denied: web-http allows api only',
    );
    // Container → VM: the guest shell is allowed from api, not from web.
    t.is(await testPolicy(a.workload, 'db-primary', GUEST_SHELL_PORT), 'ALLOWED');
    t.regex(await guestShell(api, '10.30.0.2', 'echo SHELL-OK'), /SHELL-OK/, 'api → VM guest shell allowed by db-shell');
    t.is(await testPolicy(w.workload, 'db-primary', GUEST_SHELL_PORT), 'DENIED');
    await t.throwsAsync(guestShell(web, '10.30.0.2', 'echo SHELL-OK', 3000), undefined, 'web → VM guest shell denied');

    // A policy flow deleted behind volt: drift naming the policy, traffic denied, `net up` repairs.
    t.is((await ofctl(host, ['del-flows', 'volt-backend', 'table=1,tcp,nw_src=10.30.0.100,nw_dst=10.30.0.101,tp_dst=8080'])).code, 0);
    t.false(await tcpProbe(web, api, '10.30.0.101', { port: 8080, timeoutMs: 2000 }), 'without its flow the allow policy does not apply');
    const flowDrift = await volt(['net', 'check']);
    t.is(flowDrift.code, 6, flowDrift.stderr);
    t.regex(flowDrift.stderr, /Open vSwitch bridge volt-backend lacks a flow of policy "web-http" that volt installs/);
    await voltOk(['net', 'up']);
    t.true(await tcpProbe(web, api, '10.30.0.101', { port: 8080 }), '`net up` put the flow back');
    t.is((await volt(['net', 'check'])).code, 0);

    // Attachments change the policy set: web's address leaves the switch with web, and comes back with it.
    await voltOk(['net', 'disconnect', web.netns, 'backend']);
    t.notRegex((await ofctl(host, ['dump-flows', 'volt-backend', 'table=1'])).stdout, /nw_dst=10\.30\.0\.101\b/, 'no flow names the address web gave back');
    const w2 = await voltJson<Attachment>(['net', 'connect', 'backend', web.netns, '-o', 'json']);
    t.regex((await ofctl(host, ['dump-flows', 'volt-backend', 'table=1'])).stdout, new RegExp(`priority=110,ip,nw_dst=${w2.ip.replace(/\./g, '\\.')} actions=drop`));
    t.true(await tcpProbe(web, api, w2.ip, { port: 8080 }), 'api → web:8080 after web reconnected');
    t.false(await tcpProbe(web, api, w2.ip, { port: 8081, timeoutMs: 2000 }), 'and web is isolated again');
    t.is((await volt(['net', 'check'])).code, 0);

    // Deleting the policies opens web again; the switch is back to its plain table.
    for (const name of ['web-http', 'web-from-db', 'db-shell']) await voltOk(['net', 'policy', 'delete', '--name', name]);
    t.true(await tcpProbe(web, api, w2.ip, { port: 8081 }), 'no policy: api → web:8081 again');
    t.notRegex((await ofctl(host, ['dump-flows', 'volt-backend'])).stdout, /table=1/, 'no flows left in table 1');
    t.is((await volt(['net', 'check'])).code, 0);

    // Disconnect and teardown: ports leave OVS; the last network gone stops the private daemons.
    await voltOk(['net', 'disconnect', 'db-primary', 'backend']);
    t.is((await ovs(host, ['port-to-br', nic.tap])).code, 1, 'disconnect unplugs the running VM’s TAP');
    await voltOk(['vm', 'stop', 'db-primary']);
    await voltOk(['vm', 'delete', 'db-primary']);
    await voltOk(['net', 'disconnect', api.netns, 'backend']);
    t.deepEqual(await ovsPorts(host, 'volt-backend'), [w2.hostIfname]);
    await voltOk(['net', 'disconnect', web.netns, 'backend']);
    await voltOk(['net', 'delete', 'backend']);
    const nets = await voltJson<{ name: string }[]>(['net', 'list', '-o', 'json']);
    for (const n of nets) await voltOk(['net', 'delete', n.name, '--force']);
    t.false(fs.existsSync(path.join(host.root, 'run/volt/ovs')), 'no OVS bridge left: daemons stopped, directory removed');
    t.is((await host.exec('ip', ['link', 'show', 'dev', 'volt-backend'])).code, 1);
  },
);
