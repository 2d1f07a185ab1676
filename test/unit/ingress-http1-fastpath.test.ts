/**
 * The fast path's connection handling against real sockets on loopback: a
 * fake engine (FastPathHost) that routes everything to one test backend.
 */
import test from 'ava';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ClientConn, TICK_MS, UpstreamPool, type FastPathHost, type Plan } from '@volt/plugin-ingress/dist/fast-path';
import type { RequestHead } from '@volt/plugin-ingress/dist/http1-parser';

interface Backend {
  port: number;
  /** Request heads as they arrived, in order. */
  heads: string[];
  connections: number;
  close(): Promise<void>;
}

/**
 * A raw backend: answers each request (Content-Length framed, or as `/chunked`, `/close`
 * say), records what arrived. `/drop` on a reused connection: closed without an answer.
 */
async function rawBackend(): Promise<Backend> {
  const heads: string[] = [];
  const b = { heads, connections: 0 } as Backend;
  const server = net.createServer((s) => {
    b.connections++;
    let buf = '';
    let served = 0;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? '0');
        if (buf.length < end + 4 + len) return;
        const body = buf.slice(end + 4, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        heads.push(head);
        const target = head.split(' ')[1]!;
        served++;
        if (target === '/drop' && served > 1) {
          s.destroy();
          return;
        }
        if (target === '/hints') s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal');
        else if (target === '/clte') s.write('HTTP/1.1 200 OK\r\nX-Leak: LEAK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nLEAK\r\n0\r\n\r\n');
        else if (target === '/chunked') s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n');
        else if (target === '/close') s.end('HTTP/1.1 200 OK\r\nX-Framing: eof\r\n\r\nuntil the end');
        else {
          const text = `${head.split('\r\n')[0]!} body=${body}`;
          s.write(`HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
        }
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as AddressInfo).port;
  b.close = () => new Promise<void>((r) => server.close(() => r()));
  return b;
}

class FakeHost implements FastPathHost {
  readonly headLimits = { maxHeaderBytes: 8192, maxHeaderCount: 50 };
  readonly headerTimeoutMs = 2000;
  readonly requestTimeoutMs = 5000;
  readonly idleTimeoutMs = 5000;
  now = Date.now();
  generation = 0;
  stopping = false;
  inFlight = 0;
  served = 0;
  readonly conns = new Set<ClientConn>();
  readonly pool: UpstreamPool;
  /** Node's http server for what the fast path hands over. */
  readonly node = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`node: ${req.method ?? ''} ${req.url ?? ''} body=${Buffer.concat(chunks).toString()}`));
  });
  private readonly timer = setInterval(() => {
    this.now = Date.now();
    for (const c of this.conns) c.sweep(this.now);
  }, TICK_MS);

  constructor(backendPort: number) {
    this.pool = new UpstreamPool(`127.0.0.1:${backendPort}`, '127.0.0.1', backendPort);
    this.node.emit('listening');
  }

  plan(head: RequestHead): Plan {
    if (head.target === '/local') return { kind: 'reply', status: 404, body: 'no route for here' };
    const route = { name: 'r', hostname: 'a', path: '/', stripPath: false, backends: [], tls: 'none' as const, timeoutMs: 5000 };
    return { kind: 'forward', route, key: this.pool.key, pool: this.pool, path: head.target, hostHeader: head.host ?? '' };
  }
  fallback(socket: net.Socket): void {
    this.node.emit('connection', socket);
  }
  backendFailed(): void {}
  requestStarted(): void {
    this.served++;
    this.inFlight++;
  }
  requestFinished(): void {
    this.inFlight--;
  }
  closed(conn: ClientConn): void {
    this.conns.delete(conn);
  }
  stop(): void {
    clearInterval(this.timer);
    this.pool.close();
  }
}

async function proxy(host: FakeHost): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => host.conns.add(new ClientConn(host, s, false)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** Send `chunks` on one connection; resolve with everything received once `done(text)` says so or the server closes. */
function exchange(port: number, chunks: string[], done: (text: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let finished = false;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      s.destroy();
      resolve({ text, closed });
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => undefined);
    s.once('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

const count = (text: string, what: string): number => text.split(what).length - 1;

async function setup(): Promise<{ backend: Backend; host: FakeHost; port: number; teardown(): Promise<void> }> {
  const backend = await rawBackend();
  const host = new FakeHost(backend.port);
  const p = await proxy(host);
  return {
    backend,
    host,
    port: p.port,
    teardown: async () => {
      host.stop();
      p.close();
      for (const c of host.conns) c.sock.destroy();
      await backend.close();
    },
  };
}

test('pipelined requests are answered in order over one reused upstream connection, with rebuilt heads', async (t) => {
  const { backend, host, port, teardown } = await setup();
  const reqs = 'GET /1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET /3 HTTP/1.1\r\nHost: a\r\n\r\n';
  const r = await exchange(port, [reqs], (x) => count(x, 'HTTP/1.1 200') === 3 && x.endsWith('body='));
  t.false(r.closed);
  t.deepEqual(
    r.text.split('HTTP/1.1 200 OK').slice(1).map((x) => x.split('\r\n\r\n')[1]),
    ['GET /1 HTTP/1.1 body=', 'POST /2 HTTP/1.1 body=body', 'GET /3 HTTP/1.1 body='],
  );
  t.false(/x-hop|connection/i.test(r.text), 'hop-by-hop response fields are not passed on');
  t.is(backend.connections, 1, 'one upstream connection, kept alive');
  t.is(backend.heads[0], 'GET /1 HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: a');
  t.is(host.served, 3);
  t.is(host.inFlight, 0);
  await teardown();
});

test('a request body split over many packets is forwarded whole; the next request after it is parsed', async (t) => {
  const { backend, port, teardown } = await setup();
  const r = await exchange(port, ['POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n012', '3456', '789GET /next HTTP/1.1\r\nHost: a\r\n\r\n'], (x) => count(x, 'HTTP/1.1 200') === 2 && x.endsWith('body='));
  t.regex(r.text, /POST \/up HTTP\/1\.1 body=0123456789/);
  t.regex(r.text, /GET \/next HTTP\/1\.1 body=$/);
  t.is(backend.heads.length, 2);
  await teardown();
});

test('what the fast path does not handle goes to Node’s http server mid-connection, with no byte lost', async (t) => {
  const { backend, host, port, teardown } = await setup();
  const chunked = 'POST /chunked-in HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  const r = await exchange(port, ['GET /fast HTTP/1.1\r\nHost: a\r\n\r\n' + chunked.slice(0, 30), chunked.slice(30) + 'GET /after HTTP/1.1\r\nHost: a\r\n\r\n'], (x) => x.includes('GET /after body='));
  t.regex(r.text, /GET \/fast HTTP\/1\.1 body=/);
  t.regex(r.text, /node: POST \/chunked-in body=hello/);
  t.regex(r.text, /node: GET \/after body=/, 'the connection stays with Node after the hand-over');
  t.is(backend.heads.length, 1, 'only the first request went through the fast path');
  t.is(host.conns.size, 0, 'the fast path let go of the connection');
  await teardown();
});

test('smuggling attempts are refused with 400 and the connection closed; nothing reaches the backend', async (t) => {
  const { backend, port, teardown } = await setup();
  for (const attempt of [
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n',
  ]) {
    const r = await exchange(port, [attempt], () => false);
    t.true(r.closed);
    t.regex(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    t.is(count(r.text, 'HTTP/1.1'), 1, 'one answer, nothing after');
  }
  t.deepEqual(backend.heads, []);
  await teardown();
});

test('response framings: chunked passes through as is; close-delimited closes the client connection too; local replies keep it', async (t) => {
  const { port, teardown } = await setup();
  const chunked = await exchange(port, ['GET /chunked HTTP/1.1\r\nHost: a\r\n\r\nGET /local HTTP/1.1\r\nHost: a\r\n\r\n'], (x) => x.endsWith('no route for here\n'));
  t.regex(chunked.text, /^HTTP\/1\.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nHTTP\/1\.1 404 Not Found\r\n/);
  t.false(chunked.closed);
  const eof = await exchange(port, ['GET /close HTTP/1.1\r\nHost: a\r\n\r\n'], () => false);
  t.true(eof.closed);
  t.is(eof.text, 'HTTP/1.1 200 OK\r\nX-Framing: eof\r\nconnection: close\r\n\r\nuntil the end');
  await teardown();
});

test('a reused upstream connection that the backend drops is retried once on a fresh one (GET), not for POST', async (t) => {
  const { backend, port, teardown } = await setup();
  const get = await exchange(port, ['GET /drop HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /drop HTTP/1.1\r\nHost: a\r\n\r\n'], (x) => count(x, 'body=') === 2);
  t.is(count(get.text, 'HTTP/1.1 200 OK'), 2);
  t.is(backend.connections, 2, 'the second request went again on a new connection');
  const post = await exchange(port, ['POST /drop HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx'], (x) => x.includes('\r\n\r\n') && /body=|backend/.test(x));
  t.regex(post.text, /^HTTP\/1\.1 502 Bad Gateway/, 'a POST is not sent twice');
  await teardown();
});

test('after a reload, the next response says Connection: close, and a connection left idle is closed', async (t) => {
  const { host, port, teardown } = await setup();
  // Busy during the reload: the head that goes out after it carries Connection: close, then the connection ends.
  const busy = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('close', () => resolve({ text, closed: true }));
    s.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\n');
    s.once('data', () => {
      host.generation++;
      s.write('GET /second HTTP/1.1\r\nHost: a\r\n\r\n');
    });
  });
  t.regex(busy.text, /body=HTTP\/1\.1 200 OK\r\nContent-Length: \d+\r\nconnection: close\r\n\r\nGET \/second HTTP\/1\.1 body=$/);
  // Idle during the reload: closed by the sweep.
  const idle = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith('body=')) host.generation++;
    });
    s.on('close', () => resolve({ text, closed: true }));
    s.write('GET /idle HTTP/1.1\r\nHost: a\r\n\r\n');
  });
  t.true(idle.closed);
  t.is(count(idle.text, 'HTTP/1.1 200 OK'), 1);
  t.false(idle.text.includes('connection: close'), 'the response went out before the reload');
  await teardown();
});

// Issue 16, item 7.
test('interim responses are passed on before the final one; a response with both framings is a 502 that closes the client connection', async (t) => {
  const { backend, port, teardown } = await setup();
  const hints = await exchange(port, ['GET /hints HTTP/1.1\r\nHost: a\r\n\r\n'], (x) => x.endsWith('final'));
  t.is(hints.text, 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal');
  const bad = await exchange(port, ['GET /clte HTTP/1.1\r\nHost: a\r\n\r\nGET /after-clte HTTP/1.1\r\nHost: a\r\n\r\n'], () => false);
  t.true(bad.closed);
  t.regex(bad.text, /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*connection: close\r\n/);
  t.false(bad.text.includes('LEAK'));
  t.is(count(bad.text, 'HTTP/1.1'), 1, 'the pipelined request after it was not answered');
  t.false(backend.heads.some((h) => h.includes('/after-clte')));
  // HTTP/2.0 in the request line: 505; HTTP/1.2 is served as 1.1.
  const v2 = await exchange(port, ['GET / HTTP/2.0\r\nHost: a\r\n\r\n'], () => false);
  t.regex(v2.text, /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/);
  const v12 = await exchange(port, ['GET /v12 HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n'], () => false);
  t.regex(v12.text, /GET \/v12 HTTP\/1\.1 body=/);
  await teardown();
});
