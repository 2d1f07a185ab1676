import test, { type ExecutionContext } from 'ava';
import { SandboxHost, UPLINK, waitFor, type BackgroundProcess, type NsRunner } from '../harness';
import { dig, dnsConfig, dnsmasq, ready, serve } from './500-dns-lib';

/*
 * volt-dns against a hostile client on its own network: TCP slots. A client
 * may not hold the TCP side hostage by opening many connections and keeping
 * each alive with a byte now and then; a legitimate `dig +tcp` from another
 * container (or the TCP retry after a truncated UDP answer) must still be
 * answered.
 */

/**
 * A hostile client in node: keeps `conns` TCP connections to ADDR:53 open,
 * each announcing a 65535-byte query (the largest length prefix) and then
 * trickling one byte every `trickleMs`, so no query ever completes. A closed
 * connection is replaced at once. Prints "open N closed M" every half second.
 */
const HOSTILE = `
const net = require('node:net');
const [addr, want, trickleMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let open = 0, closed = 0;
function one() {
  const s = net.connect({ host: addr, port: 53 });
  let up = false;
  s.on('connect', () => { up = true; open++; s.write(Buffer.from([0xff, 0xff])); });
  const timer = setInterval(() => { if (up && !s.destroyed) s.write(Buffer.from([0x41])); }, trickleMs);
  s.on('error', () => undefined);
  s.on('close', () => { clearInterval(timer); if (up) { open--; closed++; } setTimeout(one, 50); });
}
for (let i = 0; i < want; i++) one();
setInterval(() => console.log('open ' + open + ' closed ' + closed), 500);
`;

function hostile(c: NsRunner, conns: number, trickleMs: number): BackgroundProcess {
  return c.spawn(process.execPath, ['-e', HOSTILE, '10.30.0.1', String(conns), String(trickleMs)]);
}

/** The last "open N closed M" line the hostile client printed. */
function counts(p: BackgroundProcess): { open: number; closed: number } {
  const all = [...p.stdout.matchAll(/open (\d+) closed (\d+)/g)];
  const last = all[all.length - 1];
  return { open: Number(last?.[1] ?? -1), closed: Number(last?.[2] ?? -1) };
}

const CONFIG = dnsConfig([UPLINK.internetAddress]);

async function setup(t: ExecutionContext, env?: NodeJS.ProcessEnv): Promise<{ host: SandboxHost; bad: NsRunner; good: NsRunner; dns: BackgroundProcess }> {
  const host = await SandboxHost.create(t, { config: CONFIG });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const bad = await host.addContainer('mallory');
  const good = await host.addContainer('alice');
  await host.voltOk(['net', 'connect', 'backend', bad.netns]);
  await host.voltOk(['container', 'register', 'db', '--netns', `/run/netns/${good.netns}`]);
  await host.voltOk(['net', 'connect', 'backend', 'db', '--ip', '10.30.0.20']);
  dnsmasq(host, UPLINK.internetAddress, ['--address=/example.test/198.51.100.7']);
  await ready(host.outside!, UPLINK.internetAddress);
  const dns = await serve(host, [], env);
  return { host, bad, good, dns };
}

test('one client holding hundreds of trickling TCP connections does not lock others out of TCP', async (t) => {
  const { bad, good } = await setup(t);
  // Before anything: TCP answers.
  t.deepEqual((await dig(good, '10.30.0.1', ['+tcp', 'db'])).answers.map((x) => x.value), ['10.30.0.20']);
  // 300 connections (more than the listener's 256 in all), a byte every 2 s on each: far inside the idle timeout.
  const h = hostile(bad, 300, 2000);
  await h.waitForOutput(/open [1-9]/, { timeoutMs: 20_000 });
  // Let it take whatever it can get, and keep it (several trickles).
  await new Promise((r) => setTimeout(r, 6000));
  const held = counts(h);
  t.log(`hostile client: ${held.open} open, ${held.closed} closed so far`);
  t.true(held.open > 0, 'the hostile client holds connections while the legitimate one asks');
  const r = await dig(good, '10.30.0.1', ['+tcp', 'db'], { timeSeconds: 5 });
  t.is(r.status, 'NOERROR', r.raw);
  t.is(r.transport, 'TCP');
  t.deepEqual(r.answers.map((x) => x.value), ['10.30.0.20']);
  // And again, later: still answered while the attack goes on.
  await new Promise((r) => setTimeout(r, 3000));
  t.deepEqual((await dig(good, '10.30.0.1', ['+tcp', 'db'], { timeSeconds: 5 })).answers.map((x) => x.value), ['10.30.0.20']);
  t.true(counts(h).open > 0, 'the attack is still going on');
});

test('a TCP query that does not complete within the deadline is hung up on, however often it trickles', async (t) => {
  // A short deadline for the test (the default is a few seconds); the trickle is far more frequent than it.
  const { bad, good } = await setup(t, { VOLT_DNS_TCP_QUERY_MS: '1500' });
  const h = hostile(bad, 2, 200);
  await h.waitForOutput(/open [12] /, { timeoutMs: 20_000 });
  // The server closes each connection once its deadline passes; the client replaces it, so "closed" grows.
  await waitFor(async () => counts(h).closed >= 4, { timeoutMs: 30_000, description: 'the server closes trickling connections' });
  t.pass();
  // Complete queries on one connection are fine, deadline or not: dig +tcp +keepopen asks twice on one connection.
  const r = await good.exec('dig', ['+time=5', '+tries=1', '+tcp', '+keepopen', '@10.30.0.1', 'db', 'db.volt.local'], { timeoutMs: 20_000 });
  t.is([...r.stdout.matchAll(/status: NOERROR/g)].length, 2, r.stdout + r.stderr);
});

test('dig +dnssec: the DO bit comes back in the OPT record, for local answers, NODATA, NXDOMAIN and forwarded answers', async (t) => {
  const { good } = await setup(t);
  const flagsOf = (raw: string): string | undefined => /; EDNS: version: 0, flags:([^;]*);/.exec(raw)?.[1]?.trim();
  for (const [what, args, status] of [
    ['local answer', ['db'], 'NOERROR'],
    ['NODATA', ['db.volt.local', 'AAAA'], 'NOERROR'],
    ['NXDOMAIN', ['nobody.volt.local'], 'NXDOMAIN'],
    ['forwarded', ['www.example.test'], 'NOERROR'],
  ] as const) {
    const r = await dig(good, '10.30.0.1', ['+dnssec', ...args]);
    t.is(r.status, status, `${what}: ${r.raw}`);
    t.is(flagsOf(r.raw), 'do', `${what}: ${r.raw}`);
    const plain = await dig(good, '10.30.0.1', ['+edns', ...args]);
    t.is(flagsOf(plain.raw), '', `${what} without +dnssec: ${plain.raw}`);
  }
});

/**
 * Queries for malformed ip6.arpa names below `zone` (nibbles, most
 * significant first, e.g. "fd000030…"), sent over UDP to [addr]:53: too many
 * nibbles, too few, labels that are not one hex digit (two digits, letters
 * past f, binary octets, "-"). Prints "sent N rcodes {…} lost M" once every
 * answer is in or after 3 s.
 */
const MALFORMED6 = `
const dgram = require('node:dgram');
const [addr, zone, count] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const zoneLabels = [...zone].reverse();
const junk = () => {
  const pick = Math.floor(Math.random() * 6);
  if (pick === 0) return Buffer.from('ab');
  if (pick === 1) return Buffer.from('g');
  if (pick === 2) return Buffer.from('-');
  if (pick === 3) return Buffer.from([Math.floor(Math.random() * 256)]);
  if (pick === 4) return Buffer.from('0123456789abcdef'.repeat(3).slice(0, 1 + Math.floor(Math.random() * 40)));
  return Buffer.from([0x30 + Math.floor(Math.random() * 10)]);
};
function name(i) {
  const below = [];
  const kind = i % 3;
  // 0: 33-40 nibbles; 1: junk somewhere below the zone; 2: fewer than 32 nibbles.
  const n = kind === 0 ? 32 - zoneLabels.length + 1 + (i % 8) : kind === 2 ? i % (32 - zoneLabels.length) : 32 - zoneLabels.length;
  for (let k = 0; k < n; k++) below.push(Buffer.from('0123456789abcdef'[Math.floor(Math.random() * 16)]));
  if (kind === 1) below[Math.floor(Math.random() * below.length)] = junk();
  const labels = [...below, ...zoneLabels.map((l) => Buffer.from(l)), Buffer.from('ip6'), Buffer.from('arpa')];
  return Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
}
const s = dgram.createSocket('udp6');
const rcodes = {};
let got = 0, notAuthoritative = 0;
s.on('message', (m) => { got++; const rc = m[3] & 15; rcodes[rc] = (rcodes[rc] || 0) + 1; if ((m[2] & 4) === 0) notAuthoritative++; if (got === count) done(); });
function done() { console.log('sent ' + count + ' rcodes ' + JSON.stringify(rcodes) + ' lost ' + (count - got) + ' not-aa ' + notAuthoritative); process.exit(0); }
let i = 0;
function burst() {
  for (let k = 0; k < 50 && i < count; k++, i++) {
    const q = Buffer.concat([Buffer.from([i >> 8, i & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name(i), Buffer.from([0, 12, 0, 1])]);
    s.send(q, 53, addr);
  }
  if (i < count) setTimeout(burst, 5); else setTimeout(done, 3000);
}
burst();
`;

test('malformed ip6.arpa names inside a network\'s prefix: NXDOMAIN (or NODATA above a PTR), never forwarded, never a crash', async (t) => {
  const host = await SandboxHost.create(t, { config: CONFIG });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const c = await host.addContainer('mallory');
  await host.voltOk(['net', 'connect', 'backend', c.netns, '--ip', '10.30.0.50', '--ip6', 'fd00:30::50']);
  dnsmasq(host, UPLINK.internetAddress, ['--address=/example.test/198.51.100.7']);
  await ready(host.outside!, UPLINK.internetAddress);
  const dns = await serve(host);
  const zone = [...'fd00003000000000'].reverse().join('.');
  const full = `${[...'0000000000000050'].reverse().join('.')}.${zone}.ip6.arpa`;
  t.deepEqual((await dig(c, 'fd00:30::1', [full, 'PTR'])).answers.map((x) => x.value), [`${c.netns}.volt.local.`], 'the real name first');
  const cases: [string, string][] = [
    [`0.${full}`, 'NXDOMAIN'], // 33 nibbles
    [`1.2.${full}`, 'NXDOMAIN'], // 34
    [full.replace(/^0\./, 'g.'), 'NXDOMAIN'], // not hex
    [full.replace(/^0\./, '00.'), 'NXDOMAIN'], // two digits in one label
    [full.replace(/^0\.5\./, 'x-y.'), 'NXDOMAIN'], // two nibbles replaced by one junk label
    [`_dns-sd._udp.${zone}.ip6.arpa`, 'NXDOMAIN'],
    [`f.f.f.${zone}.ip6.arpa`, 'NXDOMAIN'], // 19 nibbles, nothing below
    [`0.0.0.0.${zone}.ip6.arpa`, 'NOERROR'], // 20 nibbles above the PTR: an empty non-terminal
    [`${zone}.ip6.arpa`, 'NOERROR'],
  ];
  for (const server of ['fd00:30::1', '10.30.0.1']) {
    for (const [name, status] of cases) {
      for (const type of ['PTR', 'AAAA']) {
        const r = await dig(c, server, [name, type]);
        t.is(r.status, status, `${name} ${type} on ${server}: ${r.raw}`);
        t.true(r.flags.includes('aa'), `answered by volt-dns itself, not forwarded: ${r.raw}`);
        t.is(r.answers.length, 0);
      }
    }
  }
  // A flood of random malformed names from the v6 side: every one answered, negatively.
  const flood = await c.exec(process.execPath, ['-e', MALFORMED6, 'fd00:30::1', 'fd00003000000000', '3000'], { timeoutMs: 60_000 });
  const m = /sent (\d+) rcodes (\{.*\}) lost (\d+) not-aa (\d+)/.exec(flood.stdout);
  t.truthy(m, flood.stdout + flood.stderr);
  const rcodes = JSON.parse(m![2]!) as Record<string, number>;
  t.log(`flood: ${flood.stdout.trim()}`);
  t.deepEqual(Object.keys(rcodes).filter((k) => k !== '0' && k !== '3'), [], `only NOERROR and NXDOMAIN: ${m![2]}`);
  t.true(Number(m![3]) < 300, `nearly every query answered (lost ${m![3]})`);
  t.is(m![4], '0', 'every answer from volt-dns itself (AA), none forwarded');
  t.true(dns.running);
  t.deepEqual((await dig(c, 'fd00:30::1', [c.netns, 'AAAA'])).answers.map((x) => x.value), ['fd00:30::50'], 'still answering');
  t.notRegex(dns.stderr, /answering .*:/, 'no answer threw');
});
