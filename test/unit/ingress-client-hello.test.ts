import test from 'ava';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { parseClientHello } from '@volt/plugin-ingress/dist/client-hello';

/** The first bytes a real Node TLS client sends (loopback only; the handshake is never completed). */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (s) => {
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          const r = parseClientHello(buf);
          if (r.kind !== 'incomplete') {
            resolve(buf);
            s.destroy();
          }
        });
      });
      const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
      c.on('error', () => undefined);
      setTimeout(() => reject(new Error('no ClientHello')), 5000);
    });
  } finally {
    server.close();
  }
}

test('SNI from a real ClientHello, at every split point', async (t) => {
  const hello = await captureHello({ servername: 'App.Example.com' });
  t.deepEqual(parseClientHello(hello), { kind: 'hello', servername: 'app.example.com' });
  // TCP may deliver it in pieces: every prefix is "incomplete", never a wrong answer.
  for (let i = 1; i < hello.length; i++) t.deepEqual(parseClientHello(hello.subarray(0, i)), { kind: 'incomplete' }, `prefix ${i}`);
});

test('a ClientHello split over two TLS records is reassembled', async (t) => {
  const hello = await captureHello({ servername: 'split.example.com' });
  const body = hello.subarray(5);
  const cut = 40;
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
  t.deepEqual(parseClientHello(two), { kind: 'hello', servername: 'split.example.com' });
  t.deepEqual(parseClientHello(two.subarray(0, 5 + cut + 3)), { kind: 'incomplete' });
});

test('no SNI (an IP address as the server name) and not TLS at all', async (t) => {
  const hello = await captureHello({});
  t.deepEqual(parseClientHello(hello), { kind: 'hello' });
  const http = parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.is(http.kind, 'not-tls');
  t.is(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])).kind, 'not-tls', 'a ServerHello is not a ClientHello');
  t.is(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).kind, 'not-tls', 'an empty record');
  t.is(parseClientHello(Buffer.from([0x16, 0x02, 0x01, 0x00, 0x10])).kind, 'not-tls', 'SSLv2-era version');
});

test('truncated or lying lengths are refused, not over-read', async (t) => {
  const hello = await captureHello({ servername: 'x.example.com' });
  const broken = Buffer.from(hello);
  // Claim a huge extensions block inside a complete handshake.
  const handshakeLen = (broken[6]! << 16) | (broken[7]! << 8) | broken[8]!;
  t.true(handshakeLen > 40);
  const sidLen = broken[5 + 4 + 34]!;
  let p = 5 + 4 + 35 + sidLen;
  p += 2 + broken.readUInt16BE(p);
  p += 1 + broken[p]!;
  broken.writeUInt16BE(0xffff, p);
  const r = parseClientHello(broken);
  t.is(r.kind, 'not-tls');
});
