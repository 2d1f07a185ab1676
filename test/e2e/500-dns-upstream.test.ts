import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, UPLINK, sleep, waitFor, type ContainerNs, type NsRunner } from '../harness';
import { dig as digOnce, dnsConfig, dnsmasq, ready, serve, type Dig } from './500-dns-lib';

/** Forwarding waits on upstreams: dig waits 4 s, longer than any bound tested here. */
const dig = (ns: NsRunner, server: string, args: string[]): Promise<Dig> => digOnce(ns, server, args, { timeSeconds: 4 });

/*
 * Forwarding: the upstream is dnsmasq in the namespace that plays the
 * internet. Truncation retried over TCP, failure bounded at 2 s, failover,
 * recovery, and a cache that honours TTLs and empties on `volt net dns flush`.
 */

async function backend(host: SandboxHost): Promise<ContainerNs> {
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api = await host.addContainer('api-server');
  await host.voltOk(['net', 'connect', 'backend', api.netns]);
  return api;
}

const UPSTREAM = UPLINK.internetAddress;
const config = (upstream: string[]): string => dnsConfig(upstream);

test('a truncated upstream answer is asked again over TCP; the client gets it whole', async (t) => {
  const host = await SandboxHost.create(t, { config: config([UPSTREAM]) });
  // Four 200-byte TXT records (about 900 bytes) from an upstream that truncates UDP at 512.
  const txt = ['a', 'b', 'c', 'd'].map((c) => `--txt-record=big.example.test,${c.repeat(200)}`);
  const up = dnsmasq(host, UPSTREAM, ['--edns-packet-max=512', '--address=/example.test/198.51.100.7', ...txt]);
  await ready(host, UPSTREAM);
  const direct = await dig(host, UPSTREAM, ['+bufsize=4096', '+notcp', '+ignore', 'big.example.test', 'TXT']);
  t.true(direct.flags.includes('tc'), `the upstream itself truncates over UDP: ${direct.raw}`);
  const api = await backend(host);
  const dns = await serve(host);

  const whole = await dig(api, '10.30.0.1', ['+bufsize=4096', '+notcp', '+ignore', 'big.example.test', 'TXT']);
  t.is(whole.status, 'NOERROR', whole.raw);
  t.is(whole.transport, 'UDP');
  t.false(whole.flags.includes('tc'));
  t.is(whole.answers.length, 4, 'all four records, which the upstream only gives over TCP');
  // A client without EDNS cannot take 900 bytes over UDP: it is told to use TCP, and then gets it all.
  const classic = await dig(api, '10.30.0.1', ['+noedns', '+ignore', 'big.example.test', 'TXT']);
  t.true(classic.flags.includes('tc'));
  const viaTcp = await dig(api, '10.30.0.1', ['+noedns', 'big.example.test', 'TXT']);
  t.is(viaTcp.transport, 'TCP');
  t.is(viaTcp.answers.length, 4);
  await dns.stop();
  await up.stop();
});

test('a dead upstream: SERVFAIL within 2 s (refused or silent), and answers again when it is back', async (t) => {
  const host = await SandboxHost.create(t, { config: config([UPSTREAM]) });
  let up = dnsmasq(host, UPSTREAM, ['--address=/example.test/198.51.100.7']);
  await ready(host, UPSTREAM);
  const api = await backend(host);
  const dns = await serve(host);
  t.deepEqual((await dig(api, '10.30.0.1', ['one.example.test'])).answers.map((a) => a.value), ['198.51.100.7']);

  // Stopped: the port is closed and the outside says so (ICMP), so the answer is quick.
  await up.stop();
  const refused = await dig(api, '10.30.0.1', ['two.example.test']);
  t.is(refused.status, 'SERVFAIL', refused.raw);
  t.log(`upstream stopped: SERVFAIL after ${refused.ms} ms`);
  t.true(refused.ms < 2000, `SERVFAIL after ${refused.ms} ms`);

  // Frozen: the port is open but nothing answers, so only the deadline helps.
  up = dnsmasq(host, UPSTREAM, ['--address=/example.test/198.51.100.7']);
  await ready(host, UPSTREAM);
  process.kill(up.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(up.pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  });
  const silent = await dig(api, '10.30.0.1', ['three.example.test']);
  t.is(silent.status, 'SERVFAIL', silent.raw);
  t.log(`upstream frozen: SERVFAIL after ${silent.ms} ms`);
  t.true(silent.ms < 2000, `SERVFAIL after ${silent.ms} ms`);
  t.true(silent.ms >= 1000, `it did wait for the upstream (${silent.ms} ms)`);

  // Back: the next question is answered, no restart of volt-dns.
  process.kill(up.pid, 'SIGCONT');
  const back = await waitFor(
    async () => {
      const r = await dig(api, '10.30.0.1', ['four.example.test']);
      return r.status === 'NOERROR' ? r : undefined;
    },
    { timeoutMs: 5000, intervalMs: 100, description: 'recovery' },
  );
  t.deepEqual(back.answers.map((a) => a.value), ['198.51.100.7']);
  t.true(dns.running);
  t.regex(dns.stderr, /upstream 198\.51\.100\.1:53: .*trying the others first/);
  await dns.stop();
  await up.stop();
});

test('failover: with the first upstream silent, the second answers', async (t) => {
  const second = '198.51.100.2';
  const host = await SandboxHost.create(t, { config: config([UPSTREAM, second]) });
  await host.outside!.exec('ip', ['addr', 'add', `${second}/32`, 'dev', 'lo']);
  const a = dnsmasq(host, UPSTREAM, ['--address=/example.test/198.51.100.7']);
  const b = dnsmasq(host, second, ['--address=/example.test/198.51.100.8']);
  await ready(host, UPSTREAM);
  await ready(host, second);
  process.kill(a.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(a.pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  });
  const api = await backend(host);
  const dns = await serve(host);
  const r = await dig(api, '10.30.0.1', ['www.example.test']);
  t.is(r.status, 'NOERROR', r.raw);
  t.deepEqual(r.answers.map((x) => x.value), ['198.51.100.8'], 'answered by the second upstream');
  t.true(r.ms < 1500, `after ${r.ms} ms`);
  process.kill(a.pid, 'SIGCONT');
  await dns.stop();
  await a.stop();
  await b.stop();
});

test('the cache honours TTLs (answers outlive the upstream only that long) and `volt net dns flush` empties it', async (t) => {
  const host = await SandboxHost.create(t, { config: config([UPSTREAM]) });
  const args = ['--address=/example.test/198.51.100.7', '--local-ttl=3'];
  let up = dnsmasq(host, UPSTREAM, args);
  await ready(host, UPSTREAM);
  const api = await backend(host);
  const dns = await serve(host);

  const first = await dig(api, '10.30.0.1', ['ttl.example.test']);
  const cachedAt = Date.now();
  t.is(first.answers[0]?.ttl, 3);
  await up.stop();
  const hit = await dig(api, '10.30.0.1', ['ttl.example.test']);
  t.is(hit.status, 'NOERROR', 'from the cache while the TTL lasts');
  t.true((hit.answers[0]?.ttl ?? 99) <= 3);
  await sleep(Math.max(0, cachedAt + 3300 - Date.now()));
  t.is((await dig(api, '10.30.0.1', ['ttl.example.test'])).status, 'SERVFAIL', 'expired with its TTL, and the upstream is gone');

  up = dnsmasq(host, UPSTREAM, ['--address=/example.test/198.51.100.7', '--local-ttl=300']);
  await ready(host, UPSTREAM);
  t.is((await dig(api, '10.30.0.1', ['long.example.test'])).status, 'NOERROR');
  await up.stop();
  t.is((await dig(api, '10.30.0.1', ['long.example.test'])).status, 'NOERROR', 'cached for 300 s');
  const flushed = await host.voltOk(['net', 'dns', 'flush', '-o', 'json']);
  t.deepEqual(JSON.parse(flushed.stdout), { running: true, flushed: 1 });
  t.is((await dig(api, '10.30.0.1', ['long.example.test'])).status, 'SERVFAIL', 'gone from the cache');
  await dns.stop();
});

/** As editors save: a new file renamed over the old one. */
function writeConfig(host: SandboxHost, text: string): void {
  const file = path.join(host.root, 'etc/volt/config.yaml');
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

test('config changes apply live (upstream, search domains, resolv.conf), no restart; an invalid config is reported and changes nothing', async (t) => {
  const second = '198.51.100.2';
  const host = await SandboxHost.create(t, { config: config([UPSTREAM]) });
  await host.outside!.exec('ip', ['addr', 'add', `${second}/32`, 'dev', 'lo']);
  const a = dnsmasq(host, UPSTREAM, ['--address=/example.test/198.51.100.7', '--local-ttl=300']);
  const b = dnsmasq(host, second, ['--address=/example.test/198.51.100.8', '--local-ttl=300']);
  await ready(host, UPSTREAM);
  await ready(host, second);
  const api = await backend(host);
  const db = await host.addContainer('db');
  await host.voltOk(['net', 'connect', 'backend', db.netns, '--ip', '10.30.0.10']);
  const dns = await serve(host);
  const conf = path.join(host.root, 'etc/netns', api.netns, 'resolv.conf');
  t.regex(fs.readFileSync(conf, 'utf8'), /^search volt\.local$/m);
  // Cached for 300 s from the first upstream: a new upstream must not be answered from it.
  t.deepEqual((await dig(api, '10.30.0.1', ['www.example.test'])).answers.map((x) => x.value), ['198.51.100.7']);
  t.deepEqual((await dig(api, '10.30.0.1', [`${db.netns}.volt.local`])).answers.map((x) => x.value), ['10.30.0.10']);

  writeConfig(host, dnsConfig([second], ['corp.internal']));
  const changed = Date.now();
  await dns.waitForOutput(/config\.yaml reloaded: upstream 198\.51\.100\.2 \(was 198\.51\.100\.1\); search domains corp\.internal \(was volt\.local\)/, {
    timeoutMs: 5000,
  });
  await waitFor(async () => (await dig(api, '10.30.0.1', ['+time=1', `${db.netns}.corp.internal`])).answers[0]?.value === '10.30.0.10', {
    timeoutMs: 5000,
    intervalMs: 20,
    description: 'the name under the new search domain',
  });
  t.log(`new config answered ${Date.now() - changed} ms after the file changed`);
  t.deepEqual((await dig(api, '10.30.0.1', ['www.example.test'])).answers.map((x) => x.value), ['198.51.100.8'], 'the new upstream, not the old cache');
  const nx = await dig(api, '10.30.0.1', ['ghost.corp.internal']);
  t.is(nx.status, 'NXDOMAIN');
  t.deepEqual(nx.authority.map((x) => [x.name, x.type]), [['corp.internal.', 'SOA']]);
  const old = await dig(api, '10.30.0.1', [`${db.netns}.volt.local`]);
  t.false(old.flags.includes('aa'), `volt.local is no longer volt's: ${old.raw}`);
  t.is(old.answers.length, 0);
  // The containers' resolv.conf follow, so plain glibc lookups of bare names use the new domain.
  await waitFor(() => /^search corp\.internal$/m.test(fs.readFileSync(conf, 'utf8')), { timeoutMs: 3000, description: 'resolv.conf with the new search line' });
  t.regex(fs.readFileSync(conf, 'utf8'), /^nameserver 10\.30\.0\.1$/m);
  const getent = await api.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec getent hosts "$1"', conf, db.netns]);
  t.is(getent.code, 0, getent.stderr);
  t.regex(getent.stdout, new RegExp(`^10\\.30\\.0\\.10\\s+${db.netns}\\.corp\\.internal`));

  // Invalid: said clearly (file:line:column, key), and the configuration in force stays.
  writeConfig(host, 'network:\n  dns:\n    upstream: [dns.example.com]\n');
  await dns.waitForOutput(
    /config not applied, volt-dns keeps the configuration in force \(upstream 198\.51\.100\.2; search domains corp\.internal\):\n\s+\S*etc\/volt\/config\.yaml:3:\d+: network\.dns\.upstream\.0: "dns\.example\.com" is not an IP address/,
    { stream: 'stderr', timeoutMs: 5000 },
  );
  t.deepEqual((await dig(api, '10.30.0.1', ['two.example.test'])).answers.map((x) => x.value), ['198.51.100.8']);
  t.deepEqual((await dig(api, '10.30.0.1', [`${db.netns}.corp.internal`])).answers.map((x) => x.value), ['10.30.0.10']);
  t.regex(fs.readFileSync(conf, 'utf8'), /^search corp\.internal$/m);
  t.true(dns.running, dns.stderr);
  await dns.stop();
  await a.stop();
  await b.stop();
});
