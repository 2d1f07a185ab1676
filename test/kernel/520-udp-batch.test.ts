/**
 * @volt/native's batched UDP (recvmmsg/sendmmsg through koffi) against the real
 * kernel. Every socket is bound inside a network namespace this test creates
 * (loopback and a bridge there), never in the root namespace: each case
 * runs a small Node program with `ip netns exec`, which prints what it saw as
 * JSON for the assertions here.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { UdpBatch, formatIpv4, parseIpv4 } from '@volt/native';
import { REPO_ROOT, createNetns, deleteNetns } from '../harness';

const exec = promisify(execFile);
const NATIVE = path.join(REPO_ROOT, 'native', 'dist', 'index.js');
let counter = 0;

async function netns(t: ExecutionContext): Promise<string> {
  const name = `vt-udpb-${process.pid}-${counter++}`;
  await createNetns(name);
  t.teardown(() => deleteNetns(name));
  await exec('ip', ['-n', name, 'link', 'add', 'gw0', 'type', 'bridge']);
  await exec('ip', ['-n', name, 'addr', 'add', '10.57.0.1/24', 'dev', 'gw0']);
  await exec('ip', ['-n', name, 'link', 'set', 'gw0', 'up']);
  return name;
}

/**
 * Run `body` (JavaScript; `n` is @volt/native, `dgram` node:dgram, `out` the
 * object printed at the end, `done()` prints it and exits) inside `ns`.
 */
async function inNetns<T>(ns: string, body: string): Promise<T> {
  const program = `
    const n = require(${JSON.stringify(NATIVE)});
    const dgram = require('node:dgram');
    const { Worker } = require('node:worker_threads');
    const out = {};
    const done = () => { process.stdout.write(JSON.stringify(out)); process.exit(0); };
    const fail = (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); };
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    // A client socket on loopback; resolves once bound.
    const client = (port = 0, address = '127.0.0.1') => new Promise((resolve) => {
      const c = dgram.createSocket('udp4');
      c.got = [];
      c.on('message', (m, r) => c.got.push({ text: m.toString('latin1'), len: m.length, from: r.address + ':' + r.port }));
      c.bind(port, address, () => resolve(c));
    });
    const until = async (cond) => { for (let i = 0; i < 500 && !cond(); i++) await wait(10); };
    (async () => { ${body} })().catch(fail);
    setTimeout(() => fail(new Error('no result within 60 s')), 60000).unref();
  `;
  const { stdout } = await exec('ip', ['netns', 'exec', ns, process.execPath, '-e', program], { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

test('udp-batch: addresses parse and format; bad options are refused before any system call', (t) => {
  t.is(parseIpv4('10.30.0.1'), 0x0a1e0001);
  t.is(formatIpv4(0x0a1e0001), '10.30.0.1');
  t.is(formatIpv4(parseIpv4('255.255.255.255')), '255.255.255.255');
  for (const bad of ['10.30.0', '10.30.0.256', 'a.b.c.d', '::1', '', '1.2.3.4.5']) {
    t.throws(() => parseIpv4(bad), { instanceOf: RangeError }, bad);
  }
  t.throws(() => new UdpBatch(-1, { batch: 0 }), { instanceOf: RangeError });
  t.throws(() => new UdpBatch(-1, { batch: 5000 }), { instanceOf: RangeError });
});

test('udp-batch: bind errors carry errno names; SO_REUSEPORT sockets share a port', async (t) => {
  const ns = await netns(t);
  const r = await inNetns<Record<string, unknown>>(
    ns,
    `
    const fd = n.openUdpSocket({ address: '10.57.0.1', port: 5300 });
    out.fd = fd;
    for (const [label, opts] of [
      ['inUse', { address: '10.57.0.1', port: 5300 }],
      ['missing', { address: '10.99.0.1', port: 5300 }],
    ]) {
      try { n.openUdpSocket(opts); out[label] = 'bound'; } catch (e) { out[label] = { code: e.code, name: e.name, message: e.message, errno: e.errno }; }
    }
    n.closeUdpSocket(fd);
    // Closed: the port is free again.
    const again = n.openUdpSocket({ address: '10.57.0.1', port: 5300 });
    out.again = again >= 0;
    n.closeUdpSocket(again);
    const a = n.openUdpSocket({ address: '127.0.0.1', port: 5301, reusePort: true, recvBufferBytes: 1 << 20 });
    const b = n.openUdpSocket({ address: '127.0.0.1', port: 5301, reusePort: true });
    out.reusePort = a >= 0 && b >= 0 && a !== b;
    n.closeUdpSocket(a); n.closeUdpSocket(b);
    try { n.openUdpSocket({ address: '127.0.0.1', port: 70000 }); out.badPort = 'bound'; } catch (e) { out.badPort = e.name; }
    done();
  `,
  );
  t.true((r.fd as number) >= 0);
  t.like(r.inUse, { code: 'EADDRINUSE', name: 'UdpSocketError', errno: 98 });
  t.regex((r.inUse as { message: string }).message, /^bind 10\.57\.0\.1:5300\/udp: EADDRINUSE$/);
  t.like(r.missing, { code: 'EADDRNOTAVAIL' });
  t.true(r.again);
  t.true(r.reusePort);
  t.is(r.badPort, 'RangeError');
});

interface EchoResult {
  batches: number[];
  sources: string[];
  clientA: { text: string; from: string }[];
  clientB: { text: string; from: string }[];
  stats: { receiveCalls: number; received: number; sendCalls: number; sent: number; sendErrors: number };
  idle: number;
}

test('udp-batch: one recvmmsg takes many datagrams, with their sources; one sendmmsg answers each to its source', async (t) => {
  const ns = await netns(t);
  const r = await inNetns<EchoResult>(
    ns,
    `
    const fd = n.openUdpSocket({ address: '127.0.0.1', port: 5300, recvTimeoutMs: 50 });
    const ring = new n.UdpBatch(fd, { batch: 16 });
    const a = await client(41001), b = await client(41002);
    // 50 queries queued before the first receive: they come in batches of up to 16.
    for (let i = 0; i < 25; i++) { a.send('a' + i, 5300, '127.0.0.1'); b.send('b' + i, 5300, '127.0.0.1'); }
    await wait(200);
    out.batches = []; out.sources = [];
    let total = 0;
    while (total < 50) {
      const k = ring.receive();
      if (k === 0) continue;
      out.batches.push(k);
      for (let i = 0; i < k; i++) {
        out.sources.push(n.formatIpv4(ring.sourceAddress(i)) + ':' + ring.sourcePort(i));
        ring.reply(i, Buffer.concat([Buffer.from('re:'), ring.data(i)]));
      }
      ring.send();
      total += k;
    }
    await until(() => a.got.length + b.got.length >= 50);
    out.clientA = a.got; out.clientB = b.got;
    out.stats = ring.stats;
    // Nothing queued: the receive timeout returns an empty batch.
    out.idle = ring.receive();
    ring.free(); n.closeUdpSocket(fd); a.close(); b.close();
    done();
  `,
  );
  t.is(
    r.batches.reduce((x, y) => x + y, 0),
    50,
  );
  t.true(r.batches.every((k) => k >= 1 && k <= 16));
  t.true(r.batches.length < 50, `batches: ${r.batches.join(' ')}`);
  t.is(r.sources.filter((s) => s === '127.0.0.1:41001').length, 25);
  t.is(r.sources.filter((s) => s === '127.0.0.1:41002').length, 25);
  t.deepEqual(r.clientA.map((g) => g.text).sort(), Array.from({ length: 25 }, (_, i) => `re:a${i}`).sort());
  t.deepEqual(r.clientB.map((g) => g.text).sort(), Array.from({ length: 25 }, (_, i) => `re:b${i}`).sort());
  t.true(r.clientA.every((g) => g.from === '127.0.0.1:5300'));
  t.like(r.stats, { received: 50, sent: 50, sendErrors: 0 });
  t.true(r.stats.receiveCalls >= r.batches.length);
  t.is(r.idle, 0);
});

test('udp-batch: oversized datagrams show as truncated; long replies and sendto still reach the client', async (t) => {
  const ns = await netns(t);
  const r = await inNetns<{ bigLen: number; bigTrunc: boolean; smallTrunc: boolean; got: { len: number; text: string }[]; sendTo: boolean }>(
    ns,
    `
    const fd = n.openUdpSocket({ address: '10.57.0.1', port: 5300, recvTimeoutMs: 100 });
    const ring = new n.UdpBatch(fd, { batch: 4 });
    const c = await client(0, '10.57.0.1');
    c.send(Buffer.alloc(6000, 0x41), 5300, '10.57.0.1');
    c.send('small', 5300, '10.57.0.1');
    await wait(100);
    const seen = [];
    while (seen.length < 2) { const k = ring.receive(); for (let i = 0; i < k; i++) seen.push({ len: ring.data(i).length, trunc: ring.truncated(i), i }); if (k) break; }
    if (seen.length < 2) { const k = ring.receive(); for (let i = 0; i < k; i++) seen.push({ len: ring.data(i).length, trunc: ring.truncated(i), i }); }
    out.bigLen = seen[0].len; out.bigTrunc = seen[0].trunc; out.smallTrunc = seen[1].trunc;
    // A reply longer than a send slot (4096) goes out on its own.
    ring.reply(seen[seen.length - 1].i, Buffer.alloc(5000, 0x42));
    ring.reply(seen[seen.length - 1].i, Buffer.from('short'));
    ring.send();
    out.sendTo = n.udpSendTo(fd, Buffer.from('direct'), '10.57.0.1', c.address().port);
    await until(() => c.got.length >= 3);
    out.got = c.got.map((g) => ({ len: g.len, text: g.len < 100 ? g.text : '' }));
    ring.free(); n.closeUdpSocket(fd); c.close();
    done();
  `,
  );
  t.is(r.bigLen, 4097);
  t.true(r.bigTrunc);
  t.false(r.smallTrunc);
  t.true(r.sendTo);
  t.deepEqual(r.got.map((g) => g.len).sort((a, b) => a - b), [5, 6, 5000]);
  t.true(r.got.some((g) => g.text === 'direct'));
});

test('udp-batch: a reply the kernel refuses (nftables drop) costs that reply only', async (t) => {
  const ns = await netns(t);
  // /usr/sbin/nft: under npx, node_modules/.bin (where `nft` is @vercel/nft) comes first in PATH.
  await exec('ip', ['netns', 'exec', ns, '/usr/sbin/nft', 'add table ip vtudpb; add chain ip vtudpb out { type filter hook output priority 0; }; add rule ip vtudpb out udp dport 41001 drop']);
  const r = await inNetns<{ a: number; b: number; stats: EchoResult['stats'] }>(
    ns,
    `
    const fd = n.openUdpSocket({ address: '127.0.0.1', port: 5300, recvTimeoutMs: 50 });
    const ring = new n.UdpBatch(fd, { batch: 32 });
    const a = await client(41001), b = await client(41002);
    for (let i = 0; i < 10; i++) { a.send('a' + i, 5300, '127.0.0.1'); b.send('b' + i, 5300, '127.0.0.1'); }
    await wait(200);
    let total = 0;
    while (total < 20) { const k = ring.receive(); for (let i = 0; i < k; i++) ring.reply(i, ring.data(i)); ring.send(); total += k; }
    await until(() => b.got.length >= 10);
    await wait(100);
    out.a = a.got.length; out.b = b.got.length; out.stats = ring.stats;
    ring.free(); n.closeUdpSocket(fd); a.close(); b.close();
    done();
  `,
  );
  t.is(r.a, 0);
  t.is(r.b, 10);
  t.is(r.stats.sent, 10);
  t.is(r.stats.sendErrors, 10);
});

test('udp-batch: a thread blocked in recvmmsg returns once the socket is shut down; free() ends the buffers', async (t) => {
  const ns = await netns(t);
  const r = await inNetns<{ answered: string; received: number[]; afterFree: string }>(
    ns,
    `
    // No receive timeout: only the shutdown can wake the thread.
    const fd = n.openUdpSocket({ address: '127.0.0.1', port: 5300 });
    const w = new Worker(\`
      const { workerData, parentPort } = require('node:worker_threads');
      const n = require(workerData.native);
      const ring = new n.UdpBatch(workerData.fd, { batch: 8 });
      const counts = [];
      for (;;) {
        const k = ring.receive();
        counts.push(k);
        if (k > 0 && ring.data(0).length === 0) break; // shut down: empty reads
        for (let i = 0; i < k; i++) ring.reply(i, ring.data(i));
        ring.send();
      }
      ring.free();
      let afterFree = 'no error';
      try { ring.receive(); } catch (e) { afterFree = e.message; }
      parentPort.postMessage({ counts, afterFree });
    \`, { eval: true, workerData: { fd, native: ${JSON.stringify(NATIVE)} } });
    // Listened for from the start: a worker that exits drains its messages and emits 'exit' in one go.
    const exited = new Promise((resolve) => w.once('exit', resolve));
    const result = new Promise((resolve) => w.once('message', resolve));
    const c = await client();
    c.send('ping', 5300, '127.0.0.1');
    await until(() => c.got.length >= 1);
    out.answered = c.got[0] && c.got[0].text;
    n.shutdownUdpSocket(fd);
    const m = await result;
    out.received = m.counts; out.afterFree = m.afterFree;
    await exited;
    n.closeUdpSocket(fd); c.close();
    done();
  `,
  );
  t.is(r.answered, 'ping');
  t.is(r.received[0], 1);
  t.regex(r.afterFree, /after free/);
});
