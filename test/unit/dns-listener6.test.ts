import test from 'ava';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Packet } from 'dns2';
import { voltPaths } from '@volt/sdk';
import { Engine } from '@volt/plugin-dns/dist/engine';

/*
 * The engine on an IPv6 address (loopback ::1, a free port): UDP and TCP
 * answers from a v6 listener, the client prefix check, and forwarding to an
 * upstream on ::1. The sandbox e2e tests (530-dns6) do the same on a bridge.
 */

const host = { paths: voltPaths({ VOLT_ROOT: '/nonexistent' }), warn: () => undefined, debug: () => undefined };

function query(name: string, type: number, id = 7): Buffer {
  const p = new Packet();
  p.header.id = id;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  return p.toBuffer();
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp6');
  await new Promise<void>((r) => s.bind(0, '::1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function udpAsk(port: number, msg: Buffer, timeoutMs = 1000): Promise<Packet | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp6');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(Packet.parse(m));
    });
    s.send(msg, port, '::1');
  });
}

function tcpAsk(port: number, msg: Buffer): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '::1', port });
    const framed = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);
    let buf = Buffer.alloc(0);
    s.on('connect', () => s.write(framed));
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy();
        resolve(Packet.parse(buf.subarray(2)));
      }
    });
    s.on('error', reject);
  });
}

const VIEW = {
  network: 'lo6',
  subnet: '127.0.0.0/8',
  subnet6: '::1/128',
  forward: true,
  records: [
    { name: 'api', type: 'A' as const, value: '10.30.0.100', network: 'lo6' },
    { name: 'api', type: 'AAAA' as const, value: 'fd00:30::a', network: 'lo6' },
  ],
};

test('a listener on an IPv6 address answers AAAA over UDP and TCP; a client outside its prefix gets nothing', async (t) => {
  const engine = new Engine({ upstream: [], searchDomains: ['volt.local'] }, 1, host);
  await engine.start();
  t.teardown(() => engine.stop());
  engine.publish(VIEW);
  const port = await freePort();
  await engine.startListener({ network: 'lo6', address: '::1', port, subnet: '::1/128' });
  const u = await udpAsk(port, query('api', Packet.TYPE.AAAA));
  t.is(u?.header.rcode, 0);
  t.deepEqual(u?.answers.map((a) => a.type), [Packet.TYPE.AAAA]);
  const v = await tcpAsk(port, query('api', Packet.TYPE.A, 9));
  t.is(v.header.id, 9);
  t.deepEqual(v.answers.map((a) => a.address), ['10.30.0.100']);

  // The same socket address with a prefix ::1 is not in: silence (not an open resolver).
  const other = await freePort();
  await engine.startListener({ network: 'lo6', address: '::1', port: other, subnet: 'fd00:30::/64' });
  t.is(await udpAsk(other, query('api', Packet.TYPE.AAAA), 500), undefined);
});

test('forwarding to an upstream on ::1', async (t) => {
  // A tiny upstream: answers every question with one A record.
  const up = dgram.createSocket('udp6');
  await new Promise<void>((r) => up.bind(0, '::1', r));
  t.teardown(() => up.close());
  up.on('message', (m, rinfo) => {
    const q = Packet.parse(m);
    const a = new Packet(q);
    a.header.qr = 1;
    a.header.ra = 1;
    a.answers.push(new Packet.Resource({ name: q.questions[0]!.name, type: Packet.TYPE.A, class: 1, ttl: 60, address: '198.51.100.9' }));
    up.send(a.toBuffer(), rinfo.port, rinfo.address);
  });
  const engine = new Engine({ upstream: [{ address: '::1', port: up.address().port }], searchDomains: ['volt.local'] }, 1, host);
  await engine.start();
  t.teardown(() => engine.stop());
  engine.publish(VIEW);
  const port = await freePort();
  await engine.startListener({ network: 'lo6', address: '::1', port, subnet: '::1/128' });
  const r = await udpAsk(port, query('www.example.test', Packet.TYPE.A), 3000);
  t.is(r?.header.rcode, 0);
  t.deepEqual(r?.answers.map((a) => a.address), ['198.51.100.9']);
});
