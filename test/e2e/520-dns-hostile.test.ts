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
