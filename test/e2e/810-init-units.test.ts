import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxHost, VOLT_BIN, run, waitFor } from '../harness';
import { serve } from './500-dns-lib';

/*
 * `volt init` installs volt's systemd units into the sandbox's root (never the
 * machine's /etc/systemd/system): the files systemd-analyze accepts, ExecStart
 * naming this node and this volt, enabled exactly as `systemctl --root` reads
 * it; --no-units and --unit-dir; a foreign unit refused with nothing changed.
 * And the resolver of a container registered by PID with its own root: its
 * /etc/resolv.conf names volt-dns, a lookup inside it answers, and leaving
 * the last network puts the original back.
 */

const UNITS = ['volt-net-up.service', 'volt-dns.service', 'volt-ingress.service'];

async function isEnabled(root: string, unit: string): Promise<string> {
  return (await run('systemctl', [`--root=${root}`, 'is-enabled', unit])).stdout.trim();
}

test('volt init installs and enables the units, idempotently; systemd-analyze verifies them', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const dir = path.join(host.root, 'etc/systemd/system');
  const first = await host.voltOk(['init']);
  t.regex(first.stdout, /created network volt0/);
  for (const u of UNITS) t.regex(first.stdout, new RegExp(`units: wrote ${dir}/${u.replace('.', '\\.')}`));
  t.regex(first.stdout, /units: enabled volt-net-up\.service, volt-dns\.service/);
  t.regex(first.stdout, /units: not enabled volt-ingress\.service \(no ingress routes yet\)/);

  const volt = fs.realpathSync(VOLT_BIN);
  const dns = fs.readFileSync(path.join(dir, 'volt-dns.service'), 'utf8');
  t.true(dns.includes(`\nExecStart=${process.execPath} ${volt} dns serve\n`), dns);
  t.true(dns.includes(`\nEnvironment=VOLT_ROOT=${host.root}\n`), 'a sandbox root is passed on to the service');
  t.regex(fs.readFileSync(path.join(dir, 'volt-net-up.service'), 'utf8'), /\nType=oneshot\n[\s\S]*ExecStart=\S+ \S+ net up\n/);
  const ingress = fs.readFileSync(path.join(dir, 'volt-ingress.service'), 'utf8');
  t.true(ingress.includes(`\nExecStart=${process.execPath} ${volt} ingress serve\n`), ingress);
  t.true(ingress.includes(`\nExecReload=${process.execPath} ${volt} ingress reload\n`));
  t.regex(ingress, /\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_DAC_READ_SEARCH\n/, 'it opens its ports in the firewall: NET_ADMIN');
  t.true(ingress.includes(`\nReadWritePaths=${host.root}/run/volt ${host.root}/var/lib/volt\n`));
  t.regex(fs.readFileSync(path.join(dir, 'volt-net-up.service'), 'utf8'), /\nReloadPropagatedFrom=nftables\.service firewalld\.service\n/, 'a host firewall reload re-applies volt');
  for (const u of UNITS) {
    const v = await run('systemd-analyze', ['verify', path.join(dir, u)]);
    t.is(v.code, 0, `systemd-analyze verify ${u}: ${v.stderr}`);
  }
  t.is(await isEnabled(host.root, 'volt-net-up.service'), 'enabled');
  t.is(await isEnabled(host.root, 'volt-dns.service'), 'enabled');
  t.is(await isEnabled(host.root, 'volt-ingress.service'), 'disabled');

  // Again: nothing rewritten.
  const before = UNITS.map((u) => fs.statSync(path.join(dir, u)).mtimeMs);
  const again = await host.voltOk(['init']);
  t.regex(again.stdout, /units: unchanged volt-net-up\.service, volt-dns\.service, volt-ingress\.service/);
  t.notRegex(again.stdout, /units: wrote/);
  t.deepEqual(UNITS.map((u) => fs.statSync(path.join(dir, u)).mtimeMs), before);

  // The first route enables the ingress unit; init agrees afterwards.
  const route = await host.voltOk(['ingress', 'create', '--name', 'web', '--hostname', 'app.example.com', '--backend', '10.0.0.5:8080']);
  t.regex(route.stderr, /note: enabled volt-ingress\.service in .* \(the first ingress route\)/);
  t.is(await isEnabled(host.root, 'volt-ingress.service'), 'enabled');
  const second = await host.voltOk(['ingress', 'create', '--name', 'api', '--hostname', 'api.example.com', '--backend', '10.0.0.5:8081']);
  t.notRegex(second.stderr, /enabled volt-ingress/, 'only the first route says so');
  t.regex((await host.voltOk(['init'])).stdout, /units: enabled volt-net-up\.service, volt-dns\.service, volt-ingress\.service/);

  // DNS turned off in config: volt-dns is disabled again.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'network:\n  dns:\n    enabled: false\n');
  t.regex((await host.voltOk(['init'])).stdout, /units: not enabled volt-dns\.service \(network\.dns\.enabled is false/);
  t.is(await isEnabled(host.root, 'volt-dns.service'), 'disabled');
});

test('volt init --no-units writes no unit; --unit-dir puts them elsewhere; a foreign unit is refused with nothing changed', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const dir = path.join(host.root, 'etc/systemd/system');
  t.regex((await host.voltOk(['init', '--no-units'])).stdout, /units: skipped \(--no-units\)/);
  t.false(fs.existsSync(dir) && fs.readdirSync(dir).length > 0, 'no unit written');

  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-units-'));
  t.teardown(() => fs.rmSync(other, { recursive: true, force: true }));
  await host.voltOk(['init', '--unit-dir', other]);
  t.deepEqual(fs.readdirSync(other).sort(), ['multi-user.target.wants', ...UNITS].sort());
  t.is(fs.readlinkSync(path.join(other, 'multi-user.target.wants/volt-dns.service')), '../volt-dns.service');
  t.false(fs.existsSync(dir) && fs.readdirSync(dir).length > 0, 'the default directory is untouched');

  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'volt-dns.service'), '[Service]\nExecStart=/usr/local/bin/my-dns\n');
  const r = await host.volt(['init']);
  t.is(r.code, 4, r.stderr);
  t.regex(r.stderr, /volt-dns\.service exists and was not written by volt; nothing was changed/);
  t.regex(r.stderr, /→ move it away .*override\.conf/);
  t.deepEqual(fs.readdirSync(dir), ['volt-dns.service'], 'no other unit written, nothing enabled');
  t.is(fs.readFileSync(path.join(dir, 'volt-dns.service'), 'utf8'), '[Service]\nExecStart=/usr/local/bin/my-dns\n');
});

test('a container registered by PID with its own root gets a resolv.conf naming volt-dns; the original comes back when it leaves', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['init', '--no-units']);
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-rootfs-'));
  t.teardown(() => fs.rmSync(rootfs, { recursive: true, force: true }));
  fs.mkdirSync(path.join(rootfs, 'bin'));
  fs.mkdirSync(path.join(rootfs, 'etc'));
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  fs.writeFileSync(path.join(rootfs, 'etc/resolv.conf'), 'nameserver 192.0.2.53\n');
  const hostResolv = fs.readFileSync('/etc/resolv.conf', 'utf8');

  // Its own network and mount namespace, its own root: what a container runtime makes.
  const proc = host.spawn('unshare', ['-n', '-m', '--propagation', 'private', 'chroot', rootfs, '/bin/busybox', 'sleep', '600']);
  await waitFor(async () => fs.existsSync(`/proc/${proc.pid}/root/bin/busybox`), { timeoutMs: 10_000, description: 'the chrooted container' });
  await host.voltOk(['container', 'register', 'jail', '--pid', String(proc.pid)]);
  const web = await host.addContainer('web');
  await host.voltOk(['net', 'connect', 'volt0', web.netns]);
  const dns = await serve(host);
  const c = await host.voltOk(['net', 'connect', 'volt0', 'jail']);
  t.log(c.stderr);

  const resolv = fs.readFileSync(path.join(rootfs, 'etc/resolv.conf'), 'utf8');
  t.regex(resolv, /^# Written by volt for container "jail"/);
  t.regex(resolv, /\nnameserver 10\.0\.0\.1\n/);
  t.is(fs.readFileSync(path.join(rootfs, 'etc/resolv.conf.volt-saved'), 'utf8'), 'nameserver 192.0.2.53\n');
  t.is(fs.readFileSync('/etc/resolv.conf', 'utf8'), hostResolv, "the machine's own resolv.conf is untouched");

  // The container's own resolver library asks volt-dns and gets the other container's address.
  const look = await run('nsenter', ['-t', String(proc.pid), '-n', '-m', '-r', '--', '/bin/busybox', 'nslookup', web.netns]);
  t.is(look.code, 0, look.stdout + look.stderr);
  t.regex(look.stdout, /Server:\s+10\.0\.0\.1/);
  t.regex(look.stdout, /Address:\s+10\.0\.0\.\d+\n?/);

  await host.voltOk(['net', 'disconnect', 'jail']);
  t.is(fs.readFileSync(path.join(rootfs, 'etc/resolv.conf'), 'utf8'), 'nameserver 192.0.2.53\n', 'the original is back');
  t.false(fs.existsSync(path.join(rootfs, 'etc/resolv.conf.volt-saved')));
  await dns.stop();
});
