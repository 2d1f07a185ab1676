import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, UPLINK, waitFor, type ContainerNs, type NsRunner } from '../harness';
import { dig as digOnce, serve, type Dig } from './500-dns-lib';

/*
 * volt-dns on dual-stack networks, with real clients (dig) in sandbox
 * namespaces: AAAA and v6 PTR, answers on the v6 gateway (UDP and TCP),
 * listeners that follow `net create`/`net delete`, resolv.conf with the v6
 * server, and forwarding to an upstream on an IPv6 address.
 */

const dig = (ns: NsRunner, server: string, args: string[]): Promise<Dig> => digOnce(ns, server, args, { timeSeconds: 3 });

/** An address on the uplink for the IPv6 upstream tests (no DAD: usable at once). */
const HOST6 = 'fd00:18::1';
const UPSTREAM6 = 'fd00:18::2';

async function uplink6(host: SandboxHost): Promise<void> {
  await host.execOk('ip', ['-6', 'addr', 'add', `${HOST6}/64`, 'dev', UPLINK.hostLink, 'nodad']);
  await host.outside!.execOk('ip', ['-6', 'addr', 'add', `${UPSTREAM6}/64`, 'dev', UPLINK.outsideLink, 'nodad']);
}

/** dnsmasq on the outside's IPv6 address only. */
function dnsmasq6(host: SandboxHost, extra: string[]): ReturnType<NonNullable<SandboxHost['outside']>['spawn']> {
  return host.outside!.spawn('dnsmasq', [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--user=root',
    '--bind-interfaces',
    `--listen-address=${UPSTREAM6}`,
    ...extra,
  ]);
}

/** `cmd` in the container with `resolvConf` over /etc/resolv.conf (as `ip netns exec` does for /etc/netns/NAME; see 500-dns). */
function withNetnsEtc(c: ContainerNs, resolvConf: string, cmd: string[]): ReturnType<ContainerNs['exec']> {
  return c.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, ...cmd], { timeoutMs: 20_000 });
}

async function connect(host: SandboxHost, network: string, c: ContainerNs, ip: string, ip6?: string): Promise<void> {
  await host.voltOk(['net', 'connect', network, c.netns, '--ip', ip, ...(ip6 ? ['--ip6', ip6] : [])]);
}

test('dual-stack names: AAAA and v6 PTR on the v6 gateway (UDP and TCP), NODATA where a workload has no v6, per-network scoping', async (t) => {
  const host = await SandboxHost.create(t, { config: 'network:\n  dns:\n    upstream: []\n' });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  await host.voltOk(['net', 'create', '--name', 'legacy', '--subnet', '10.40.0.0/24']);
  const api = await host.addContainer('api-server');
  const db = await host.addContainer('db');
  await connect(host, 'backend', api, '10.30.0.100', 'fd00:30::a');
  await connect(host, 'legacy', api, '10.40.0.100');
  await connect(host, 'legacy', db, '10.40.0.10');
  const dns = await serve(host);
  t.regex(dns.stdout, /network backend: listening on \[fd00:30::1\]:53 \(udp, tcp\)/);
  t.regex(dns.stdout, /network backend: listening on 10\.30\.0\.1:53 \(udp, tcp\)/);
  t.notRegex(dns.stdout, /network legacy: listening on \[/, 'a v4-only network has no v6 listener');
  t.notRegex(dns.stderr, /batched UDP unavailable/, 'the v6 gateway goes to node:dgram by design, without a fallback warning');

  const name = api.netns;
  for (const server of ['fd00:30::1', '10.30.0.1']) {
    const aaaa = await dig(api, server, [name, 'AAAA']);
    t.is(aaaa.status, 'NOERROR', aaaa.raw);
    t.true(aaaa.flags.includes('aa'));
    t.deepEqual(aaaa.answers.map((x) => [x.type, x.value, x.ttl]), [['AAAA', 'fd00:30::a', 0]], `AAAA asked on ${server}`);
    t.deepEqual((await dig(api, server, [`${name}.volt.local`, 'A'])).answers.map((x) => x.value), ['10.30.0.100']);
  }
  const tcp = await dig(api, 'fd00:30::1', ['+tcp', `${name}.volt.local`, 'AAAA']);
  t.is(tcp.transport, 'TCP');
  t.deepEqual(tcp.answers.map((x) => x.value), ['fd00:30::a']);
  const ptr = await dig(api, 'fd00:30::1', ['-x', 'fd00:30::a']);
  t.is(ptr.status, 'NOERROR', ptr.raw);
  t.deepEqual(ptr.answers.map((x) => [x.type, x.value]), [['PTR', `${name}.volt.local.`]]);
  const free = await dig(api, 'fd00:30::1', ['-x', 'fd00:30::77']);
  t.is(free.status, 'NXDOMAIN', 'a free address of the prefix: never forwarded');
  // db is on legacy only, without v6: AAAA is NODATA (NOERROR, empty) there, and api-server has no v6 on legacy either.
  for (const [who, target] of [[db, db.netns], [db, name]] as const) {
    const none = await dig(who, '10.40.0.1', [target, 'AAAA']);
    t.is(none.status, 'NOERROR', none.raw);
    t.is(none.answers.length, 0);
  }
  t.deepEqual((await dig(db, '10.40.0.1', [name, 'A'])).answers.map((x) => x.value), ['10.40.0.100'], 'the address on legacy, as before');
  // db is not on backend: nothing from the v6 gateway for it (it cannot even reach it), and the name is not known there.
  t.is((await dig(api, 'fd00:30::1', [db.netns, 'AAAA'])).status, 'NXDOMAIN');

  // resolv.conf: the v4 gateways first, then backend's v6 gateway; a glibc lookup goes through it.
  const confFile = path.join(host.root, 'etc/netns', api.netns, 'resolv.conf');
  const conf = fs.readFileSync(confFile, 'utf8');
  t.deepEqual(conf.split('\n').filter((l) => l.startsWith('nameserver')), ['nameserver 10.30.0.1', 'nameserver 10.40.0.1', 'nameserver fd00:30::1']);
  t.false(fs.readFileSync(path.join(host.root, 'etc/netns', db.netns, 'resolv.conf'), 'utf8').includes('fd00'), 'db has no v6 network');
  const getent = await withNetnsEtc(api, confFile, ['getent', 'ahostsv6', name]);
  t.regex(getent.stdout, /^fd00:30::a\s/m, getent.stdout + getent.stderr);
  // The v6 line alone works for glibc too (as when the v4 servers do not answer).
  const only6 = path.join(host.workDir, 'resolv.conf.v6');
  fs.writeFileSync(only6, conf.split('\n').filter((l) => !/^nameserver [\d.]+$/.test(l)).join('\n'));
  const via6 = await withNetnsEtc(api, only6, ['getent', 'ahosts', `${name}.volt.local`]);
  t.regex(via6.stdout, /^fd00:30::a\s/m, via6.stdout + via6.stderr);
  t.regex(via6.stdout, /^10\.30\.0\.100\s/m, 'and the A record, asked of the v6 server');
  await dns.stop();
});

test('the v6 listener follows net create / net delete, and answers only clients of its prefix', async (t) => {
  const host = await SandboxHost.create(t, { config: 'network:\n  dns:\n    upstream: []\n' });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const dns = await serve(host);
  await host.voltOk(['net', 'create', '--name', 'extra', '--subnet', '10.50.0.0/24', '--subnet6', 'fd00:50::/64']);
  await dns.waitForOutput(/network extra: listening on \[fd00:50::1\]:53/, { timeoutMs: 15_000 });
  const c = await host.addContainer('x');
  await connect(host, 'extra', c, '10.50.0.5', 'fd00:50::5');
  const r = await waitFor(
    async () => {
      const d = await dig(c, 'fd00:50::1', [c.netns, 'AAAA']);
      return d.answers.length > 0 ? d : undefined;
    },
    { timeoutMs: 5000, intervalMs: 100, description: 'the new name on the new v6 listener' },
  );
  t.deepEqual(r.answers.map((x) => x.value), ['fd00:50::5']);
  // A client with an address outside the prefix (on the same link) gets no answer at all.
  // (The host routes it back to the container, so an answer could arrive: silence is volt-dns's choice.)
  await c.execOk('ip', ['-6', 'addr', 'add', 'fd00:99::5/128', 'dev', 'eth0', 'nodad']);
  const bridge = (JSON.parse(fs.readFileSync(path.join(host.root, 'var/lib/volt/state.json'), 'utf8')) as { networks: Record<string, { bridge: string }> }).networks.extra!.bridge;
  await host.execOk('ip', ['-6', 'route', 'add', 'fd00:99::5/128', 'dev', bridge]);
  const stranger = await digOnce(c, 'fd00:50::1', ['-b', 'fd00:99::5', c.netns, 'AAAA'], { timeSeconds: 1 });
  t.is(stranger.status, 'TIMEOUT', stranger.raw);
  await host.voltOk(['net', 'disconnect', c.netns, 'extra']);
  await host.voltOk(['net', 'delete', 'extra']);
  await dns.waitForOutput(/network extra: stopped listening on \[fd00:50::1\]:53/, { timeoutMs: 5000 });
  t.true(dns.running);
  await dns.stop();
});

test('forwarding to an upstream on an IPv6 address: UDP, the TCP retry of a truncated answer, AAAA answers', async (t) => {
  const host = await SandboxHost.create(t, { config: `network:\n  dns:\n    upstream: ["${UPSTREAM6}"]\n` });
  await uplink6(host);
  const txt = ['a', 'b', 'c', 'd'].map((ch) => `--txt-record=big.example.test,${ch.repeat(200)}`);
  dnsmasq6(host, ['--edns-packet-max=512', '--address=/example.test/198.51.100.9', '--address=/example.test/2001:db8::9', ...txt]);
  await waitFor(async () => (await host.exec('dig', ['+time=1', '+tries=1', `@${UPSTREAM6}`, 'probe.example.test'])).stdout.includes('status: NOERROR'), {
    timeoutMs: 10_000,
    description: `dnsmasq on ${UPSTREAM6}`,
  });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api = await host.addContainer('api');
  await connect(host, 'backend', api, '10.30.0.100');
  const dns = await serve(host);
  t.regex(dns.stdout, /forwarding to fd00:18::2/);
  const a = await dig(api, '10.30.0.1', ['www.example.test', 'A']);
  t.is(a.status, 'NOERROR', a.raw);
  t.deepEqual(a.answers.map((x) => x.value), ['198.51.100.9']);
  t.deepEqual((await dig(api, '10.30.0.1', ['www.example.test', 'AAAA'])).answers.map((x) => x.value), ['2001:db8::9']);
  const big = await dig(api, '10.30.0.1', ['+bufsize=4096', '+notcp', '+ignore', 'big.example.test', 'TXT']);
  t.is(big.status, 'NOERROR', big.raw);
  t.false(big.flags.includes('tc'));
  t.is(big.answers.length, 4, 'whole: asked again over TCP from the v6 upstream');
  await dns.stop();
});

test('an upstream written as [addr]:port is refused with a hint, and nothing starts', async (t) => {
  const host = await SandboxHost.create(t, { config: 'network:\n  dns:\n    upstream: ["[fd00::53]:53"]\n' });
  const r = await host.volt(['dns', 'serve']);
  t.is(r.code, 2);
  t.regex(r.stderr, /network\.dns\.upstream\.0: "\[fd00::53\]:53" is not an IP address: write the address alone \(fd00::53\); volt-dns asks port 53/);
  t.false(fs.existsSync(path.join(host.root, 'run/volt/dns.sock')));
});
