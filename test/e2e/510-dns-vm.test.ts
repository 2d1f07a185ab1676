import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestConsole, SandboxHost, guestConfig, guestShell, waitFor } from '../harness';
import { dig, dnsConfig, serve } from './500-dns-lib';
import { inspectVm, writeConfig, type Attachment } from './300-vm-scenario';

/*
 * volt-dns seen from a real QEMU guest (Debian kernel, busybox initramfs; see
 * test/harness/guest.ts): the spec's container `api-server` and VM
 * `db-primary` on network `backend` resolve each other by name. The guest asks
 * the resolver DHCP gave it (udhcpc's script writes /etc/resolv.conf from the
 * DHCP DNS option; busybox nslookup reads it). A VM's name lives while it runs.
 */

test('a VM guest resolves containers through the DHCP-given resolver, containers resolve the VM; VM stop/start withdraws and restores its name', async (t) => {
  // Names only: no upstream, so nothing here waits on the internet.
  const host = await SandboxHost.create(t, { uplink: false, config: dnsConfig([]) });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api = await host.addContainer('api-server');
  await host.voltOk(['container', 'register', 'api-server', '--netns', `/run/netns/${api.netns}`]);
  const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', 'api-server', '-o', 'json']);
  t.is(a.ip, '10.30.0.100');
  await host.voltOk(['vm', 'create', 'db-primary', '--config', writeConfig(host, 'db-primary', guestConfig([{ id: 'eth0', network: 'backend' }]))]);
  const dns = await serve(host);
  // Created, not running: not published.
  t.is((await dig(api, '10.30.0.1', ['db-primary'])).status, 'NXDOMAIN');

  const started = await host.volt(['vm', 'start', 'db-primary']);
  t.is(started.code, 0, started.stderr);
  const vm = await inspectVm(host, 'db-primary');
  const ip = vm.nics[0]!.ip!;
  t.is(ip, '10.30.0.2');

  // Container → VM: dig at the gateway, and glibc through the resolv.conf volt wrote for the container.
  await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', 'db-primary'])).answers[0]?.value === ip, {
    timeoutMs: 5000,
    intervalMs: 50,
    description: 'db-primary published once the VM runs',
  });
  t.deepEqual((await dig(api, '10.30.0.1', ['db-primary.volt.local'])).answers.map((x) => x.value), [ip]);
  t.deepEqual((await dig(api, '10.30.0.1', ['-x', ip])).answers.map((x) => x.value), ['db-primary.volt.local.']);
  // A registered container manages its own /etc: it uses the DNS server `container inspect` names.
  const inspected = await host.voltJson<{ nics: { dns?: string }[] }>(['container', 'inspect', 'api-server', '-o', 'json']);
  t.is(inspected.nics[0]?.dns, '10.30.0.1');
  const conf = path.join(host.workDir, 'api-server.resolv.conf');
  fs.writeFileSync(conf, `nameserver ${inspected.nics[0]?.dns ?? ''}\nsearch volt.local\n`);
  const getent = await api.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec getent hosts db-primary', conf]);
  t.is(getent.code, 0, getent.stderr);
  t.regex(getent.stdout, /^10\.30\.0\.2\s+db-primary\.volt\.local/);

  // VM → container: the guest's resolver is the one DHCP named (udhcpc wrote it), and nslookup uses it.
  const con = new GuestConsole(vm.serialLog);
  const dhcp = await con.waitFor(/VOLT-DHCP eth0 ip=(\S+) router=(\S+) dns=(\S+)/);
  t.is(dhcp[3], '10.30.0.1', 'DHCP names the gateway as DNS server');
  await con.waitFor(/VOLT-GUEST-READY/);
  t.is(await guestShell(api, ip, 'cat /etc/resolv.conf'), 'nameserver 10.30.0.1\n', 'the resolv.conf udhcpc wrote from the DHCP answer');
  // No server argument: busybox nslookup takes the one in /etc/resolv.conf.
  const ns = await guestShell(api, ip, 'nslookup api-server; echo "rc=$?"');
  t.regex(ns, /^Server:\s+10\.30\.0\.1$/m, ns);
  t.regex(ns, /^Name:\s+api-server\nAddress:\s+10\.30\.0\.100$/m, ns);
  t.regex(ns, /^rc=0$/m, ns);
  t.regex(await guestShell(api, ip, 'nslookup api-server.volt.local'), /^Address:\s+10\.30\.0\.100$/m);
  // AAAA of a workload is NODATA, so the guest's lookup is not failed by it; an unknown name is NXDOMAIN.
  t.regex(await guestShell(api, ip, 'nslookup ghost; echo "rc=$?"'), /can't find ghost: NXDOMAIN[\s\S]*^rc=1$/m);
  t.regex(await guestShell(api, ip, 'nslookup -type=a db-primary'), /^Address:\s+10\.30\.0\.2$/m, 'the VM resolves itself');

  // The VM's name follows its lifecycle, live: gone within a second of `vm stop`, back after `vm start`.
  const listed = await host.voltJson<{ name: string; value: string }[]>(['net', 'dns', 'list', '-o', 'json']);
  t.true(listed.some((r) => r.name === 'db-primary' && r.value === ip));
  await host.voltOk(['vm', 'stop', 'db-primary', '--timeout', '60']);
  const stopped = Date.now();
  await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', 'db-primary'])).status === 'NXDOMAIN', {
    timeoutMs: 15000,
    intervalMs: 20,
    description: 'db-primary withdrawn after vm stop',
  });
  const gone = Date.now() - stopped;
  t.log(`vm stop: name gone after ${gone} ms`);
  t.is((await dig(api, '10.30.0.1', ['-x', ip])).status, 'NXDOMAIN', 'the reverse name too');

  await host.voltOk(['vm', 'start', 'db-primary']);
  const restarted = Date.now();
  await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', 'db-primary'])).answers[0]?.value === ip, {
    timeoutMs: 15000,
    intervalMs: 20,
    description: 'db-primary back after vm start',
  });
  const back = Date.now() - restarted;
  t.log(`vm start: name back after ${back} ms`);

  // A QEMU that dies on its own changes no file: the service notices the process is gone.
  const running = await host.voltJson<{ pid?: number }>(['vm', 'inspect', 'db-primary', '-o', 'json']);
  process.kill(running.pid!, 'SIGKILL');
  await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', 'db-primary'])).status === 'NXDOMAIN', {
    timeoutMs: 10_000,
    intervalMs: 50,
    description: 'db-primary withdrawn after its QEMU was killed',
  });
  t.regex((await host.voltOk(['net', 'up'])).stdout, /its QEMU had exited/);
  t.true(dns.running, dns.stderr);
  t.notRegex(dns.stderr, /warning/);
  await dns.stop();
});
