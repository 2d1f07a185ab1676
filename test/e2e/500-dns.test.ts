import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, UPLINK, waitFor, type BackgroundProcess, type NsRunner } from '../harness';
import { dig, dnsConfig, dnsmasq, serve } from './500-dns-lib';

/*
 * volt-dns end to end: `volt dns serve` in a sandbox host, real clients (dig,
 * glibc through resolv.conf, ping) in container namespaces, an upstream played
 * by dnsmasq in the namespace that stands for the internet.
 *
 * db-primary stands in for the VM of the spec's example: a registered
 * container with the address a VM would get. Its name, address and scoping
 * come from the same attachment records; the VM guest's own view (DHCP, busybox
 * nslookup) is tested with the VM work.
 */

/** The upstream resolver on the outside's 198.51.100.1: owns example.test, nothing else. */
function upstream(host: SandboxHost, extra: string[] = []): BackgroundProcess {
  return dnsmasq(host, UPLINK.internetAddress, ['--address=/example.test/198.51.100.7', '--local-ttl=60', ...extra]);
}

/**
 * Run a program in the container the way `ip netns exec NAME` runs it when
 * /etc/netns/NAME/resolv.conf exists: in a private mount namespace with that
 * file bind-mounted over /etc/resolv.conf (iproute2's bind_etc does exactly
 * this per file). volt writes the file under VOLT_ROOT, a temp dir here, so
 * the test mounts it from there instead of writing into the machine's /etc.
 */
function withNetnsEtc(c: NsRunner, resolvConf: string, cmd: string[]): ReturnType<NsRunner['exec']> {
  return c.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, ...cmd], { timeoutMs: 20_000 });
}

const CONFIG = dnsConfig([UPLINK.internetAddress]);

test('containers resolve the workloads of their own network by name, over UDP, TCP and resolv.conf; other networks stay invisible', async (t) => {
  const host = await SandboxHost.create(t, { config: CONFIG });
  const up = upstream(host);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'internal', '--subnet', '10.50.0.0/24', '--no-nat']);
  const api = await host.addContainer('api-server');
  const db = await host.addContainer('db');
  const web = await host.addContainer('web');
  const vault = await host.addContainer('vault');
  await host.voltOk(['container', 'register', 'db-primary', '--netns', `/run/netns/${db.netns}`]);
  await host.voltOk(['net', 'connect', 'backend', 'db-primary', '--ip', '10.30.0.10']);
  await host.voltOk(['net', 'connect', 'backend', api.netns]);
  await host.voltOk(['net', 'connect', 'frontend', web.netns]);
  await host.voltOk(['net', 'connect', 'internal', vault.netns]);
  const dns = await serve(host);
  t.regex(dns.stdout, /network backend: listening on 10\.30\.0\.1:53 \(udp, tcp\)/);
  // The start-up lines say which UDP path answers (batched by default; VOLT_DNS_UDP=dgram for node:dgram).
  t.regex(dns.stdout, /^volt-dns: udp: (recvmmsg\/sendmmsg|node:dgram)/m);

  // dig straight at the gateway: NAME and NAME.volt.local, authoritative.
  const a = await dig(api, '10.30.0.1', ['db-primary']);
  t.is(a.status, 'NOERROR', a.raw);
  t.true(a.flags.includes('aa'));
  t.deepEqual(a.answers.map((x) => [x.type, x.value]), [['A', '10.30.0.10']]);
  t.deepEqual((await dig(api, '10.30.0.1', ['db-primary.volt.local'])).answers.map((x) => x.value), ['10.30.0.10']);
  t.deepEqual((await dig(api, '10.30.0.1', ['-x', '10.30.0.10'])).answers.map((x) => x.value), ['db-primary.volt.local.']);
  const tcp = await dig(api, '10.30.0.1', ['+tcp', 'db-primary']);
  t.is(tcp.transport, 'TCP');
  t.deepEqual(tcp.answers.map((x) => x.value), ['10.30.0.10']);
  // AAAA (and any other type) of a workload, which has IPv4 addresses only: NODATA, never NXDOMAIN
  // (which would make a resolver give up the name, A record included), with the zone's SOA.
  const nodata = await dig(api, '10.30.0.1', ['db-primary.volt.local', 'AAAA']);
  t.is(nodata.status, 'NOERROR', 'a name without IPv6 is NODATA, so getaddrinfo still uses its A record');
  t.is(nodata.answers.length, 0);
  t.true(nodata.flags.includes('aa'));
  t.deepEqual(nodata.authority.map((x) => [x.name, x.type]), [['volt.local.', 'SOA']], nodata.raw);
  const bare = await dig(api, '10.30.0.1', ['db-primary', 'AAAA']);
  t.is(bare.status, 'NOERROR', bare.raw);
  t.is(bare.answers.length, 0);
  t.is((await dig(api, '10.30.0.1', ['db-primary.volt.local', 'MX'])).status, 'NOERROR');
  t.is((await dig(api, '10.30.0.1', ['+tcp', 'db-primary.volt.local', 'AAAA'])).status, 'NOERROR');

  // Plain glibc resolution through the resolv.conf volt wrote for the named namespace.
  const conf = path.join(host.root, 'etc/netns', api.netns, 'resolv.conf');
  const text = fs.readFileSync(conf, 'utf8');
  t.regex(text, /^nameserver 10\.30\.0\.1$/m);
  t.regex(text, /^search volt\.local$/m);
  const getent = await withNetnsEtc(api, conf, ['getent', 'hosts', 'db-primary']);
  t.is(getent.code, 0, getent.stderr);
  t.regex(getent.stdout, /^10\.30\.0\.10\s+db-primary\.volt\.local/);
  // AF_UNSPEC asks A and AAAA together: the NODATA AAAA must not cost the A record.
  const ahosts = await withNetnsEtc(api, conf, ['getent', 'ahosts', 'db-primary']);
  t.is(ahosts.code, 0, ahosts.stderr);
  t.deepEqual([...new Set(ahosts.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[0]))], ['10.30.0.10'], ahosts.stdout);
  const ping = await withNetnsEtc(api, conf, ['ping', '-c1', '-W2', 'db-primary']);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  t.regex(ping.stdout, /PING db-primary\.volt\.local \(10\.30\.0\.10\)/);

  // External names go to the upstream (dnsmasq outside).
  const ext = await dig(api, '10.30.0.1', ['www.example.test']);
  t.is(ext.status, 'NOERROR', ext.raw);
  t.true(ext.flags.includes('ra'));
  t.deepEqual(ext.answers.map((x) => x.value), ['198.51.100.7']);
  const extTcp = await dig(api, '10.30.0.1', ['+tcp', 'mail.example.test']);
  t.deepEqual(extTcp.answers.map((x) => x.value), ['198.51.100.7']);

  // Scoping: frontend does not see backend's workloads, and backend does not see web.
  t.is((await dig(web, '10.20.0.1', ['db-primary'])).status, 'NXDOMAIN');
  const nx = await dig(web, '10.20.0.1', ['db-primary.volt.local']);
  t.is(nx.status, 'NXDOMAIN');
  t.true(nx.flags.includes('aa'));
  t.is((await dig(api, '10.30.0.1', [web.netns])).status, 'NXDOMAIN');
  t.is((await dig(web, '10.30.0.1', ['+time=1', 'db-primary'])).status, 'TIMEOUT', "another network's gateway does not answer");
  // Not an open resolver: a client on the bridge with an address outside the subnet gets nothing,
  // though the firewall lets its packets in and the routes both ways exist (ping proves them).
  const stranger = await host.addContainer('stranger');
  await host.attachRaw(stranger, 'volt-backend', '192.168.77.5/24', '192.168.77.1');
  await stranger.execOk('ip', ['route', 'add', '10.30.0.1/32', 'dev', 'eth0']);
  await host.execOk('ip', ['route', 'add', '192.168.77.5/32', 'dev', 'volt-backend']);
  t.is((await stranger.exec('ping', ['-c1', '-W2', '10.30.0.1'])).code, 0);
  t.is((await dig(stranger, '10.30.0.1', ['+time=1', 'db-primary'])).status, 'TIMEOUT');
  t.is((await dig(stranger, '10.30.0.1', ['+time=1', '+tcp', 'db-primary'])).status, 'TIMEOUT');

  // --no-nat: names, but nothing from outside.
  t.deepEqual((await dig(vault, '10.50.0.1', [vault.netns])).answers.map((x) => x.value), ['10.50.0.100']);
  const refused = await dig(vault, '10.50.0.1', ['www.example.test']);
  t.is(refused.status, 'REFUSED');
  t.false(refused.flags.includes('ra'));

  // The listing the troubleshooting guide starts with.
  const list = await host.voltJson<{ name: string; type: string; value: string; network: string }[]>(['net', 'dns', 'list', '-o', 'json']);
  t.true(list.some((r) => r.name === 'db-primary' && r.type === 'A' && r.value === '10.30.0.10' && r.network === 'backend'));
  t.true(list.some((r) => r.name === '10.0.30.10.in-addr.arpa' && r.type === 'PTR' && r.value === 'db-primary.volt.local'));
  const table = await host.voltOk(['net', 'dns', 'list', '--network', 'backend']);
  t.regex(table.stdout, /^NAME\s+TYPE\s+VALUE\s+NETWORK$/m);
  t.regex(table.stdout, /^db-primary\.volt\.local\s+A\s+10\.30\.0\.10\s+backend$/m);
  t.notRegex(table.stdout, /frontend/);
  t.is(table.stderr, '', 'no "not running" note while the service runs');

  // Flush: says what it did while running, and that nothing runs after a stop.
  const flushed = await host.voltOk(['net', 'dns', 'flush']);
  t.regex(flushed.stdout, /flushed the volt-dns cache: 2 entries dropped/);
  const stopped = await dns.stop();
  t.is(stopped.code, 0, stopped.stderr);
  t.false(fs.existsSync(path.join(host.root, 'run/volt/dns.sock')), 'control socket removed on stop');
  t.regex((await host.voltOk(['net', 'dns', 'flush'])).stdout, /volt-dns is not running .*: there is no cache to flush/);
  t.regex((await host.voltOk(['net', 'dns', 'list'])).stderr, /volt-dns is not running/);
  await up.stop();
});

test('live: connect, disconnect and network create/delete are answered without a restart (delays logged, not asserted)', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api = await host.addContainer('api-server');
  await host.voltOk(['net', 'connect', 'backend', api.netns]);
  const dns = await serve(host);
  const cache = await host.addContainer('cache');
  t.is((await dig(api, '10.30.0.1', [cache.netns])).status, 'NXDOMAIN');

  const resolves = async (name: string, want: string): Promise<number> => {
    const started = Date.now();
    await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', name])).status === want, { timeoutMs: 15000, intervalMs: 20, description: `${name} → ${want}` });
    return Date.now() - started;
  };
  await host.voltOk(['net', 'connect', 'backend', cache.netns, '--ip', '10.30.0.77']);
  const seen = await resolves(cache.netns, 'NOERROR');
  t.log(`connect visible after ${seen} ms`);
  t.deepEqual((await dig(api, '10.30.0.1', [cache.netns])).answers.map((x) => x.value), ['10.30.0.77']);
  await host.voltOk(['net', 'disconnect', cache.netns]);
  const gone = await resolves(cache.netns, 'NXDOMAIN');
  t.log(`disconnect visible after ${gone} ms`);
  t.false(fs.existsSync(path.join(host.root, 'etc/netns', cache.netns)), 'its resolv.conf went with its last network');

  // A new network gets a listener on its gateway; a deleted one loses it.
  const extra = await host.addContainer('extra');
  await host.voltOk(['net', 'create', '--name', 'extra', '--subnet', '10.40.0.0/24']);
  const created = Date.now();
  await dns.waitForOutput(/network extra: listening on 10\.40\.0\.1:53/, { timeoutMs: 15000 });
  t.log(`listener after ${Date.now() - created} ms`);
  await host.voltOk(['net', 'connect', 'extra', extra.netns]);
  await waitFor(async () => (await dig(extra, '10.40.0.1', ['+time=1', extra.netns])).status === 'NOERROR', { timeoutMs: 2000, intervalMs: 20 });
  t.is((await dig(extra, '10.40.0.1', [api.netns])).status, 'NXDOMAIN');
  await host.voltOk(['net', 'disconnect', extra.netns]);
  await host.voltOk(['net', 'delete', 'extra']);
  await dns.waitForOutput(/network extra: stopped listening on 10\.40\.0\.1:53/, { timeoutMs: 2000 });
  t.true(dns.running, dns.stderr);
  t.notRegex(dns.stderr, /warning/);
});
