import test from 'ava';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Packet } from 'dns2';
import { Forwarder, type ForwarderOptions } from '@volt/plugin-dns/dist/forwarder';
import { parseQuery } from '@volt/plugin-dns/dist/wire';

/** Upstreams on loopback; no root needed. */
type Behaviour = 'answer' | 'silent' | 'truncate' | 'servfail' | 'spoof-then-answer';

interface FakeUpstream {
  port: number;
  queries: number;
  tcpQueries: number;
  behaviour: Behaviour;
  close(): Promise<void>;
}

function answerFor(query: Buffer, opts: { tc?: boolean; rcode?: number; records?: number; name?: string } = {}): Buffer {
  const q = Packet.parse(query);
  const p = new Packet();
  p.header.id = q.header.id;
  p.header.qr = 1;
  p.header.rd = q.header.rd;
  p.header.ra = 1;
  p.header.tc = opts.tc ? 1 : 0;
  p.header.rcode = opts.rcode ?? 0;
  const name = opts.name ?? q.questions[0]!.name;
  p.questions.push(new Packet.Question(name, q.questions[0]!.type, 1));
  if (!opts.tc && (opts.rcode ?? 0) === 0) {
    for (let i = 0; i < (opts.records ?? 1); i++) p.answers.push(new Packet.Resource({ name, type: 1, class: 1, ttl: 60, address: `192.0.2.${i + 1}` }));
  }
  // An EDNS query gets an OPT back, DO always clear: an upstream that does not copy it (RFC 3225 wants it copied).
  if (q.additionals.some((r) => r.type === Packet.TYPE.EDNS)) p.additionals.push(Object.assign(new Packet.Resource({ name: '', type: Packet.TYPE.EDNS, class: 1232, ttl: 0 }), { rdata: [] }));
  return p.toBuffer();
}

async function upstream(behaviour: Behaviour): Promise<FakeUpstream> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const port = udp.address().port;
  const u: FakeUpstream = {
    port,
    queries: 0,
    tcpQueries: 0,
    behaviour,
    close: async () => {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
  udp.on('message', (m, rinfo) => {
    u.queries++;
    const send = (b: Buffer): void => udp.send(b, rinfo.port, rinfo.address);
    if (u.behaviour === 'answer') send(answerFor(m));
    else if (u.behaviour === 'truncate') send(answerFor(m, { tc: true }));
    else if (u.behaviour === 'servfail') send(answerFor(m, { rcode: 2 }));
    else if (u.behaviour === 'spoof-then-answer') {
      send(answerFor(m, { name: 'evil.example' }));
      setTimeout(() => send(answerFor(m)), 20);
    }
  });
  const tcp = net.createServer((s) => {
    // The forwarder may drop a pooled connection at any time (a reset is no test failure).
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      u.tcpQueries++;
      const a = answerFor(buf.subarray(2, 2 + buf.readUInt16BE(0)), { records: 40 });
      const framed = Buffer.alloc(2 + a.length);
      framed.writeUInt16BE(a.length, 0);
      a.copy(framed, 2);
      s.end(framed);
    });
  });
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', r));
  return u;
}

const fast: Omit<ForwarderOptions, 'warn' | 'debug'> = { attemptMs: 150, deadlineMs: 450, poolSize: 2, maxInflight: 100, downMs: 1000 };

async function forwarder(ports: number[], opts: Partial<typeof fast> = {}): Promise<Forwarder> {
  const f = new Forwarder(
    ports.map((port) => ({ address: '127.0.0.1', port })),
    { ...fast, ...opts, warn: () => undefined, debug: () => undefined },
  );
  await f.start();
  return f;
}

function query(name: string, id: number, edns: boolean | 'do' = false): Buffer {
  const p = new Packet();
  p.header.id = id;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, 1, 1));
  if (edns !== false) p.additionals.push(Object.assign(new Packet.Resource({ name: '', type: Packet.TYPE.EDNS, class: 4096, ttl: edns === 'do' ? 0x8000 : 0 }), { rdata: [] }));
  return p.toBuffer();
}

/** The DO bit of a response whose last record is an OPT without options; undefined without OPT. */
function doBit(r: Buffer): boolean | undefined {
  if (r.readUInt16BE(10) === 0 || r.readUInt16BE(r.length - 10) !== Packet.TYPE.EDNS) return undefined;
  return (r[r.length - 4]! & 0x80) !== 0;
}

async function ask(f: Forwarder, name: string, id = 77): Promise<Packet> {
  const msg = query(name, id);
  return Packet.parse(await f.resolve(msg, parseQuery(msg)));
}

test('forwards, answers with the client ID, caches; identical questions in flight are asked once', async (t) => {
  const u = await upstream('answer');
  const f = await forwarder([u.port]);
  t.teardown(() => (f.close(), u.close()));
  const [a, b] = await Promise.all([ask(f, 'www.example.test', 11), ask(f, 'WWW.example.test', 12)]);
  t.is(a.header.id, 11);
  t.is(b.header.id, 12);
  t.is(b.questions[0]!.name, 'WWW.example.test');
  t.is(a.answers[0]!.address, '192.0.2.1');
  t.is(u.queries, 1);
  const msg = query('www.example.test', 13);
  const hit = f.cached(msg, parseQuery(msg));
  t.truthy(hit);
  t.is(Packet.parse(hit!).header.id, 13);
  t.is(u.queries, 1);
  t.is(f.flush(), 1);
});

test('forwarded answers carry the DO bit of the query (RFC 3225), from the upstream and from the cache; SERVFAIL too', async (t) => {
  const u = await upstream('answer');
  const f = await forwarder([u.port]);
  t.teardown(() => (f.close(), u.close()));
  for (const edns of [true, 'do'] as const) {
    const msg = query('www.example.test', 21, edns);
    const r = await f.resolve(msg, parseQuery(msg));
    t.is(Packet.parse(r).answers[0]!.address, '192.0.2.1');
    t.is(doBit(r), edns === 'do', `query ${String(edns)}`);
    const again = query('www.example.test', 22, edns);
    t.is(doBit(f.cached(again, parseQuery(again))!), edns === 'do', `cached, query ${String(edns)}`);
  }
  const none = await forwarder([]);
  t.teardown(() => none.close());
  const msg = query('www.example.test', 23, 'do');
  const r = await none.resolve(msg, parseQuery(msg));
  t.is(Packet.parse(r).header.rcode, 2);
  t.true(doBit(r));
});

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const u = await upstream('truncate');
  const f = await forwarder([u.port]);
  t.teardown(() => (f.close(), u.close()));
  const a = await ask(f, 'big.example.test');
  t.is(a.header.tc, 0);
  t.is(a.answers.length, 40);
  t.is(u.tcpQueries, 1);
});

test('a silent upstream: SERVFAIL by the deadline', async (t) => {
  const u = await upstream('silent');
  const f = await forwarder([u.port]);
  t.teardown(() => (f.close(), u.close()));
  const started = Date.now();
  const a = await ask(f, 'slow.example.test');
  t.is(a.header.rcode, 2);
  // Not before the deadline (a lower bound: load can only make it later).
  t.true(Date.now() - started >= fast.deadlineMs - 20, `gave up after ${Date.now() - started} ms`);
  t.true(u.queries >= 2, 'asked again before giving up');
});

test('failover: the second upstream answers when the first is silent', async (t) => {
  const dead = await upstream('silent');
  const live = await upstream('answer');
  const f = await forwarder([dead.port, live.port]);
  t.teardown(() => (f.close(), dead.close(), live.close()));
  const a = await ask(f, 'www.example.test');
  t.is(a.header.rcode, 0);
  t.is(a.answers[0]!.address, '192.0.2.1');
  // The silent one is now tried last: the next question goes straight to the live one.
  const asked = dead.queries;
  const b = await ask(f, 'other.example.test');
  t.is(b.header.rcode, 0);
  t.is(dead.queries, asked, 'the upstream that just failed is not asked first');
});

test('nothing listening (ICMP port unreachable): SERVFAIL at once, not after the timeout', async (t) => {
  const u = await upstream('answer');
  const port = u.port;
  await u.close();
  // Timeouts far beyond the test's own: only the ICMP error can end this question in time.
  const f = await forwarder([port], { attemptMs: 120_000, deadlineMs: 240_000 });
  t.teardown(() => f.close());
  t.timeout(60_000);
  const a = await ask(f, 'www.example.test');
  t.is(a.header.rcode, 2);
});

test('an upstream SERVFAIL moves on to the next upstream', async (t) => {
  const bad = await upstream('servfail');
  const good = await upstream('answer');
  // Generous attempt and deadline: on a loaded machine the short ones expire before the second upstream answers.
  const f = await forwarder([bad.port, good.port], { attemptMs: 2000, deadlineMs: 6000 });
  t.teardown(() => (f.close(), bad.close(), good.close()));
  const a = await ask(f, 'www.example.test');
  t.is(a.header.rcode, 0);
  t.is(bad.queries, 1);
  t.is(good.queries, 1);
});

test('an answer to another question (spoofing) is ignored', async (t) => {
  const u = await upstream('spoof-then-answer');
  const f = await forwarder([u.port]);
  t.teardown(() => (f.close(), u.close()));
  const a = await ask(f, 'www.example.test');
  t.is(a.questions[0]!.name, 'www.example.test');
  t.is(a.answers[0]!.name, 'www.example.test');
});

test('no upstreams: SERVFAIL', async (t) => {
  const f = await forwarder([]);
  t.teardown(() => f.close());
  t.is((await ask(f, 'www.example.test')).header.rcode, 2);
});
