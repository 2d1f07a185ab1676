import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, waitFor } from '../harness';
import { serve } from './500-dns-lib';

/*
 * Bad input for volt-dns: hostile packets (crafted and random, UDP and TCP),
 * bad configuration, a port someone else holds, a second instance, a
 * gateway that is not up yet, and DNS switched off.
 */

/**
 * Runs in a container on the network, as a client would. Sends crafted
 * packets and reports each answer's rcode (or "none"), then throws random
 * bytes at UDP and TCP, then checks that a plain query is still answered over
 * both. Prints one JSON line.
 */
const CLIENT = String.raw`
const dgram = require('node:dgram');
const net = require('node:net');
const [server, port, name, want] = process.argv.slice(1);
const P = Number(port);
const label = (s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
const qname = (n) => Buffer.concat([...n.split('.').map(label), Buffer.from([0])]);
function header(id, flags, qd, an = 0, ns = 0, ar = 0) {
  const h = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => h.writeUInt16BE(v, i * 2));
  return h;
}
const q = (n, type = 1, cls = 1, flags = 0x0100, id = 7) => Buffer.concat([header(id, flags, 1), qname(n), Buffer.from([type >> 8, type & 255, cls >> 8, cls & 255])]);
const opt = (version) => Buffer.from([0, 0, 41, 16, 0, 0, version, 0, 0, 0, 0]);
const withOpt = (m, version) => { const b = Buffer.concat([m, opt(version)]); b.writeUInt16BE(1, 10); return b; };
const crafted = {
  'five bytes': Buffer.from([1, 2, 3, 4, 5]),
  'a response (QR set)': q(name, 1, 1, 0x8100),
  'opcode UPDATE': q(name, 1, 1, 5 << 11),
  'no question': header(7, 0x0100, 0),
  'name past the end': Buffer.concat([header(7, 0x0100, 1), Buffer.from([40, 97, 98])]),
  'compression loop': Buffer.concat([header(7, 0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
  'oversized (5000 bytes)': Buffer.concat([q(name), Buffer.alloc(5000, 0x41)]),
  'AXFR': q('volt.local', 252),
  'class CHAOS': q('version.bind', 16, 3),
  'MX of a workload': q(name, 15),
  'EDNS version 1': withOpt(q(name), 1),
};
function udpAsk(buf, timeout = 400) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeout);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
    s.send(buf, P, server);
  });
}
function describe(m, sent) {
  if (!m) return 'none';
  const rcode = m.readUInt16BE(2) & 15;
  const an = m.readUInt16BE(6), ar = m.readUInt16BE(10);
  // Extended rcode: the OPT record right after an echoed question (BADVERS = 16).
  let ext = 0;
  if (ar === 1 && an === 0 && m.readUInt16BE(8) === 0) ext = m[m.length - 6];
  return String((ext << 4) | rcode) + '/' + an;
}
function tcpAsk(buf) {
  return new Promise((resolve) => {
    const c = net.connect(P, server);
    let got = Buffer.alloc(0);
    const t = setTimeout(() => { c.destroy(); resolve(undefined); }, 2000);
    c.on('connect', () => { const l = Buffer.alloc(2); l.writeUInt16BE(buf.length); c.write(Buffer.concat([l, buf])); });
    c.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) { clearTimeout(t); c.destroy(); resolve(got.subarray(2)); } });
    c.on('error', () => { clearTimeout(t); resolve(undefined); });
  });
}
const rnd = (n) => Math.floor(Math.random() * n);
const randomBytes = (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = rnd(256); return b; };
(async () => {
  const out = { crafted: {}, tcpCrafted: {} };
  for (const [k, v] of Object.entries(crafted)) out.crafted[k] = describe(await udpAsk(v), v);
  out.tcpCrafted['AXFR'] = describe(await tcpAsk(crafted['AXFR']));
  out.tcpCrafted['oversized (5000 bytes)'] = describe(await tcpAsk(crafted['oversized (5000 bytes)']));
  // Fuzz over UDP: random bytes, mutated queries, random tails after a good header, huge datagrams.
  const s = dgram.createSocket('udp4');
  let replies = 0;
  s.on('message', () => replies++);
  await new Promise((r) => s.bind(0, r));
  const base = q(name);
  for (let i = 0; i < 4000; i++) {
    let b;
    const kind = i % 4;
    if (kind === 0) b = randomBytes(rnd(600));
    else if (kind === 1) { b = Buffer.from(base); for (let j = 0; j < 1 + rnd(4); j++) b[rnd(b.length)] = rnd(256); }
    else if (kind === 2) b = Buffer.concat([header(rnd(65536), rnd(65536) & 0x7fff, rnd(3), rnd(2), rnd(2), rnd(3)), randomBytes(rnd(300))]);
    else b = randomBytes(4097 + rnd(4000));
    s.send(b, P, server);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  s.close();
  out.udpFuzzReplies = replies;
  // Fuzz over TCP: garbage, half frames, zero and huge length prefixes, many at once.
  await Promise.all(Array.from({ length: 80 }, (_, i) => new Promise((resolve) => {
    const c = net.connect(P, server);
    c.on('error', () => resolve());
    c.on('close', () => resolve());
    c.on('connect', () => {
      const kind = i % 4;
      if (kind === 0) c.write(randomBytes(1 + rnd(2000)));
      else if (kind === 1) c.write(Buffer.from([0, 0]));
      else if (kind === 2) { const l = Buffer.alloc(2); l.writeUInt16BE(65535); c.write(Buffer.concat([l, randomBytes(1000)])); }
      else { const m = Buffer.from(base); m[rnd(m.length)] = rnd(256); const l = Buffer.alloc(2); l.writeUInt16BE(m.length); c.write(Buffer.concat([l, m, l, randomBytes(rnd(50))])); }
      setTimeout(() => c.destroy(), 100);
    });
  })));
  const after = await udpAsk(q(name, 1, 1, 0x0100, 4242), 2000);
  out.afterUdp = after ? { rcode: after.readUInt16BE(2) & 15, id: after.readUInt16BE(0), answer: after.subarray(after.length - 4).join('.') } : 'none';
  const afterTcp = await tcpAsk(q(name));
  out.afterTcp = afterTcp ? { rcode: afterTcp.readUInt16BE(2) & 15, answer: afterTcp.subarray(afterTcp.length - 4).join('.') } : 'none';
  out.want = want;
  console.log(JSON.stringify(out));
})();
`;

// Both UDP paths: batched (recvmmsg/sendmmsg in reading threads, the default) and node:dgram (the fallback).
for (const udp of ['batch', 'dgram'] as const) {
  test(`crafted and random packets over UDP and TCP (UDP path: ${udp}): the right error or silence, never a crash; the service keeps answering`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const c = await host.addContainer('client');
    await host.voltOk(['net', 'connect', 'backend', c.netns, '--ip', '10.30.0.50']);
    const dns = await serve(host, [], { VOLT_DNS_UDP: udp });
    t.regex(dns.stdout, udp === 'batch' ? /^volt-dns: udp: recvmmsg\/sendmmsg, 64 datagrams per call/m : /^volt-dns: udp: node:dgram \(VOLT_DNS_UDP=dgram\)$/m);
    const r = await c.exec(process.execPath, ['-e', CLIENT, '10.30.0.1', '53', c.netns, '10.30.0.50'], { timeoutMs: 120_000 });
    t.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      crafted: Record<string, string>;
      tcpCrafted: Record<string, string>;
      udpFuzzReplies: number;
      afterUdp: { rcode: number; id: number; answer: string } | 'none';
      afterTcp: { rcode: number; answer: string } | 'none';
    };
    // rcode/answers: 1 FORMERR, 4 NOTIMP, 16 BADVERS; "none": not answered at all.
    t.deepEqual(out.crafted, {
      'five bytes': 'none',
      'a response (QR set)': 'none',
      'opcode UPDATE': '4/0',
      'no question': '1/0',
      'name past the end': '1/0',
      'compression loop': '1/0',
      'oversized (5000 bytes)': '1/0',
      AXFR: '4/0',
      'class CHAOS': '4/0',
      'MX of a workload': '0/0',
      'EDNS version 1': '16/0',
    });
    t.deepEqual(out.tcpCrafted, { AXFR: '4/0', 'oversized (5000 bytes)': '1/0' });
    t.true(out.udpFuzzReplies > 0, 'the fuzzer got answers (FORMERR and friends), not just silence');
    t.deepEqual(out.afterUdp, { rcode: 0, id: 4242, answer: '10.30.0.50' });
    t.deepEqual(out.afterTcp, { rcode: 0, answer: '10.30.0.50' });
    t.true(dns.running, dns.stderr);
    t.notRegex(dns.stderr, /answering|internal|TypeError|RangeError/, 'no handler ever threw');
    const status = await dns.stop();
    t.is(status.code, 0);
  });
}

test('port already in use (UDP or TCP): a clear error naming the address and port, non-zero exit', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  for (const proto of ['udp', 'tcp'] as const) {
    const squat =
      proto === 'udp'
        ? `require('node:dgram').createSocket('udp4').bind(5353, '10.30.0.1', () => console.log('bound'))`
        : `require('node:net').createServer().listen(5353, '10.30.0.1', () => console.log('bound'))`;
    const holder = host.spawn(process.execPath, ['-e', squat]);
    await holder.waitForOutput(/bound/);
    const r = await host.volt(['dns', 'serve', '--port', '5353']);
    t.is(r.code, 5, r.stderr);
    t.regex(r.stderr, new RegExp(`listen on 10\\.30\\.0\\.1:5353/${proto} for network "backend": port 5353 is already in use on 10\\.30\\.0\\.1`));
    t.regex(r.stderr, /→ find it: ss -/);
    t.false(fs.existsSync(path.join(host.root, 'run/volt/dns.sock')), 'nothing left behind');
    await holder.stop();
  }
});

test('a second `volt dns serve` refuses to start; the first keeps serving', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const first = await serve(host, ['--port', '5354']);
  const second = await host.volt(['dns', 'serve', '--port', '5355']);
  t.is(second.code, 4, second.stderr);
  t.regex(second.stderr, new RegExp(`another volt dns serve is already running \\(pid ${first.pid}\\)`));
  t.true(first.running);
  t.regex((await host.voltOk(['net', 'dns', 'flush'])).stdout, /flushed the volt-dns cache: 0 entries/);
  await first.stop();
});

test('a gateway address that is not up yet: serve waits and starts listening once `volt net up` restores it', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.execOk('ip', ['link', 'del', 'volt-backend']);
  const dns = await serve(host);
  await dns.waitForOutput(/address 10\.30\.0\.1 is not on any interface yet; retrying every 1 s/, { stream: 'stderr' });
  const listing = await host.voltOk(['net', 'dns', 'list']);
  t.regex(listing.stderr, /volt-dns is not answering on network backend: .*not on any interface yet/);
  await host.voltOk(['net', 'up']);
  await dns.waitForOutput(/network backend: listening on 10\.30\.0\.1:53/, { timeoutMs: 5000 });
  const c = await host.addContainer('c');
  await host.voltOk(['net', 'connect', 'backend', c.netns]);
  await waitFor(async () => (await c.exec('dig', ['+short', '+time=1', '+tries=1', '@10.30.0.1', c.netns])).stdout.trim() === '10.30.0.100', { timeoutMs: 3000 });
  await dns.stop();
});

test('bad configuration: a non-IP upstream is a config error with file:line:column; DNS disabled exits cleanly and writes no resolv.conf', async (t) => {
  const bad = await SandboxHost.create(t, { uplink: false, config: 'network:\n  dns:\n    upstream:\n      - 1.1.1.1\n      - dns.example.com\n' });
  const r = await bad.volt(['dns', 'serve']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /etc\/volt\/config\.yaml:5:9: network\.dns\.upstream\.1: "dns\.example\.com" is not an IP address/);

  const off = await SandboxHost.create(t, { uplink: false, config: 'network:\n  dns:\n    enabled: false\n' });
  const s = await off.volt(['dns', 'serve']);
  t.is(s.code, 0, s.stderr);
  t.regex(s.stdout, /volt-dns is disabled \(network\.dns\.enabled: false in .*config\.yaml\); not serving/);
  await off.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const c = await off.addContainer('c');
  await off.voltOk(['net', 'connect', 'backend', c.netns]);
  t.false(fs.existsSync(path.join(off.root, 'etc/netns', c.netns)), 'no resolv.conf pointing at a resolver that does not run');
  t.regex((await off.voltOk(['net', 'dns', 'list'])).stderr, /volt-dns is disabled/);
});
