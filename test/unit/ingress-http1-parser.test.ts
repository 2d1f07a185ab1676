import test from 'ava';
import { BodyKind, ChunkedScanner, assemble, parseRequestHead, parseResponseHead, type RequestParse } from '@volt/plugin-ingress/dist/http1-parser';

const limits = { maxHeaderBytes: 4096, maxHeaderCount: 20 };
const parse = (text: string, l = limits): RequestParse => parseRequestHead(Buffer.from(text, 'latin1'), 0, Buffer.byteLength(text, 'latin1'), l);

/** The header block the fast path would forward (request line excluded). */
function forwarded(text: string): string {
  const buf = Buffer.from(text, 'latin1');
  const r = parseRequestHead(buf, 0, buf.length, limits);
  if (r.kind !== 'request') throw new Error(`not a request: ${JSON.stringify(r)}`);
  return assemble('', buf, r.forward, 0, '').toString('latin1');
}

test('a plain GET: method, target, Host, no body; the head ends where the next request starts', (t) => {
  const text = 'GET /a/b?c=d HTTP/1.1\r\nHost: App.example.com:8080\r\nAccept: */*\r\n\r\n';
  const r = parse(text + 'GET /next HTTP/1.1\r\n');
  t.like(r, { kind: 'request', method: 'GET', target: '/a/b?c=d', host: 'App.example.com:8080', contentLength: 0, close: false, headerCount: 2, headEnd: text.length });
  t.is(forwarded(text), 'Host: App.example.com:8080\r\nAccept: */*\r\n');
});

test('an incomplete head waits for more bytes, at any split point', (t) => {
  const text = 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n';
  for (let i = 1; i < text.length; i++) t.is(parse(text.slice(0, i)).kind, 'incomplete', `split at ${i}`);
  t.like(parse(text + 'abc'), { kind: 'request', contentLength: 3, headEnd: text.length });
});

test('pipelined requests parse one after the other from the same buffer', (t) => {
  const reqs = ['GET /1 HTTP/1.1\r\nHost: a\r\n\r\n', 'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 'GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'];
  const buf = Buffer.from(reqs.join(''), 'latin1');
  let at = 0;
  const seen: string[] = [];
  while (at < buf.length) {
    const r = parseRequestHead(buf, at, buf.length, limits);
    if (r.kind !== 'request') return t.fail(JSON.stringify(r));
    seen.push(`${r.method} ${r.target} ${r.contentLength} ${r.close}`);
    at = r.headEnd + r.contentLength;
  }
  t.deepEqual(seen, ['GET /1 0 false', 'POST /2 5 false', 'GET /3 0 true']);
});

test('hop-by-hop fields, the fields Connection names, and the client’s X-Forwarded-* / Forwarded are not forwarded', (t) => {
  const text = [
    'GET / HTTP/1.1',
    'Host: a',
    'Connection: keep-alive, X-Secret',
    'X-Secret: hop',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'Proxy-Authorization: Basic x',
    'TE: trailers',
    'Trailer: X-T',
    'X-Forwarded-For: 6.6.6.6',
    'x-forwarded-proto: http',
    'X-Forwarded-Host: evil',
    'Forwarded: for=6.6.6.6',
    'Cookie: a=1',
    'Cookie: b=2',
    'X-Custom: kept',
    '',
    '',
  ].join('\r\n');
  t.is(forwarded(text), 'Host: a\r\nCookie: a=1\r\nCookie: b=2\r\nX-Custom: kept\r\n');
  t.is(forwarded('GET / HTTP/1.1\r\nX-A: 1\r\nConnection: close\r\nX-B: 2\r\n\r\n'), 'X-A: 1\r\nX-B: 2\r\n');
  t.like(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n'), { kind: 'request', close: true });
});

test('values: surrounding whitespace trimmed, obs-text kept as bytes', (t) => {
  const r = parse('GET / HTTP/1.1\r\nHost: \t a.example.com \t\r\nX-Latin: caf\xe9\r\n\r\n');
  t.like(r, { kind: 'request', host: 'a.example.com' });
  t.is(forwarded('GET / HTTP/1.1\r\nX-Latin: caf\xe9\r\n\r\n'), 'X-Latin: caf\xe9\r\n');
});

test('smuggling: both framings, duplicate or malformed Content-Length are refused (400), whatever the order', (t) => {
  const bad: [string, RegExp][] = [
    ['Content-Length: 3\r\nTransfer-Encoding: chunked', /Content-Length and Transfer-Encoding/],
    ['Transfer-Encoding: chunked\r\nContent-Length: 3', /Content-Length and Transfer-Encoding/],
    ['Content-Length: 3\r\nContent-Length: 3', /more than one Content-Length/],
    ['Content-Length: 3\r\nContent-Length: 4', /more than one Content-Length/],
    ['Content-Length: 3, 3', /invalid Content-Length/],
    ['Content-Length: +3', /invalid Content-Length/],
    ['Content-Length: -1', /invalid Content-Length/],
    ['Content-Length: 0x10', /invalid Content-Length/],
    ['Content-Length: 1 2', /invalid Content-Length/],
    ['Content-Length:', /invalid Content-Length/],
    ['Content-Length: 9999999999999999', /invalid Content-Length/],
    ['Content-Length : 3', /whitespace before the colon/],
    ['Transfer-Encoding : chunked', /whitespace before the colon/],
    ['X-A: 1\r\n folded', /obs-fold/],
    ['X-A: 1\r\n\tfolded', /obs-fold/],
    ['X-A: 1\nX-B: 2', /bare LF/],
    ['X-A: 1\rX-B: 2', /bare CR/],
    ['X-A: a\x00b', /control character/],
    ['X-A: a\x7fb', /control character/],
    ['X@A: 1', /invalid header name/],
    ['X A: 1', /whitespace before the colon/],
    [': 1', /invalid header name/],
    ['Host: b', /more than one Host/],
  ];
  for (const [lines, why] of bad) {
    const r = parse(`POST / HTTP/1.1\r\nHost: a\r\n${lines}\r\n\r\n`);
    t.is(r.kind, 'invalid', JSON.stringify(lines));
    if (r.kind === 'invalid') t.regex(r.reason, why, JSON.stringify(lines));
  }
});

test('what the fast path does not frame itself goes to Node’s parser (fallback), untouched', (t) => {
  const cases: [string, RegExp][] = [
    ['GET / HTTP/1.0\r\nHost: a\r\n\r\n', /not HTTP\/1\.1/],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', /not HTTP\/1\.1/],
    ['GET / HTTP/1.1 \r\nHost: a\r\n\r\n', /not HTTP\/1\.1/],
    ['GET  / HTTP/1.1\r\nHost: a\r\n\r\n', /origin form/],
    ['GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', /origin form/],
    ['OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', /origin form/],
    ['CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', /origin form/],
    ['GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', /malformed request target/],
    ['\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', /does not start with a method/],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', /Transfer-Encoding/],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', /upgrade/i],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n', /Expect/],
    ['GET / HTTP/1.1\nHost: a\n\n', /bare LF/],
  ];
  for (const [text, why] of cases) {
    const r = parse(text);
    t.is(r.kind, 'fallback', JSON.stringify(text));
    if (r.kind === 'fallback') t.regex(r.reason, why, JSON.stringify(text));
  }
  // Limits: Node's path answers 431 for them.
  const many = `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 20 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`;
  t.like(parse(many), { kind: 'fallback', reason: 'too many header fields' });
  const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(5000)}`;
  t.like(parse(big), { kind: 'fallback', reason: 'head larger than the limit' }, 'even before the head is complete');
  t.like(parse(`${big}\r\n\r\n`), { kind: 'fallback', reason: 'head larger than the limit' });
});

test('a request without Host is parsed (routing answers 400 for it)', (t) => {
  t.like(parse('GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'), { kind: 'request', host: undefined });
});

const resp = (text: string, head = false): ReturnType<typeof parseResponseHead> => parseResponseHead(Buffer.from(text, 'latin1'), 0, text.length, head);

/** The response head as the client gets it. */
function clientHead(text: string): string {
  const buf = Buffer.from(text, 'latin1');
  const r = parseResponseHead(buf, 0, buf.length, false);
  if (r.kind !== 'response') throw new Error(JSON.stringify(r));
  return assemble('HTTP/1.1 ', buf, r.forward, 0, '\r\n').toString('latin1');
}

test('responses: framing by Content-Length, chunked, or the end of the connection; no body for HEAD, 204, 304', (t) => {
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'), { kind: 'response', status: 200, body: BodyKind.Length, length: 5, reusable: true, headEnd: 38 });
  t.like(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), { body: BodyKind.Chunked, reusable: true });
  t.like(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'), { body: BodyKind.Chunked });
  t.like(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), { body: BodyKind.Close, reusable: false });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n'), { body: BodyKind.Close, reusable: false });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', true), { body: BodyKind.None, reusable: true });
  t.like(resp('HTTP/1.1 204 No Content\r\n\r\n'), { body: BodyKind.None, reusable: true });
  t.like(resp('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), { body: BodyKind.None });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n'), { body: BodyKind.Length, length: 5 });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n'), { reusable: false });
  t.like(resp('HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n'), { reusable: false });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=3\r\n\r\n'), { keepAliveMs: 3000 });
  t.like(resp('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'), { kind: 'response', status: 200 });
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n'), { kind: 'incomplete' });
});

test('responses: 1xx interim heads are skipped, 101 without an upgrade and malformed heads are refused', (t) => {
  t.like(resp('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n'), { kind: 'interim', headEnd: 40 });
  t.like(resp('HTTP/1.1 100 Continue\r\n\r\n'), { kind: 'interim' });
  t.like(resp('HTTP/1.1 101 Switching Protocols\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/2 200 OK\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 2000 OK\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\nContent-Length: 0\n\n'), { kind: 'incomplete' }, 'bare LF heads never complete: the upstream timeout ends them');
});

test('response heads for the client: hop-by-hop fields out, Content-Length dropped under Transfer-Encoding, HTTP/1.1 status line', (t) => {
  t.is(
    clientHead('HTTP/1.0 200 Fine\r\nServer: x\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nUpgrade: h2c\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n'),
    'HTTP/1.1 200 Fine\r\nServer: x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n',
  );
  t.is(clientHead('HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n'), 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n');
});

/** Feed a chunked body in pieces of `step` bytes; where it ends. */
function scan(body: string, step: number): number {
  const buf = Buffer.from(body, 'latin1');
  const s = new ChunkedScanner();
  for (let i = 0; i < buf.length; i += step) {
    const r = s.feed(buf, i, Math.min(buf.length, i + step));
    if (r !== -1) return r;
  }
  return -1;
}

test('chunked bodies: the end is found at any split, with extensions and trailers; what follows is not part of it', (t) => {
  const bodies = ['5\r\nhello\r\n0\r\n\r\n', 'A;ext=1\r\n0123456789\r\n1 ; x\r\n!\r\n0\r\n\r\n', '3\r\nabc\r\n0\r\nX-Trailer: 1\r\nX-More: 2\r\n\r\n', '0\r\n\r\n', 'ff\r\n' + 'x'.repeat(255) + '\r\n0\r\n\r\n'];
  for (const body of bodies) {
    for (const step of [1, 2, 3, 7, 1000]) t.is(scan(body + 'HTTP/1.1 200 OK', step), body.length, `${JSON.stringify(body.slice(0, 20))} in steps of ${step}`);
  }
  t.is(scan('5\r\nhel', 100), -1, 'not over yet');
});

test('chunked bodies: broken framing is detected', (t) => {
  for (const body of ['x\r\n', '5\r\nhelloXX0\r\n\r\n', '5\nhello\r\n0\r\n\r\n', '\r\n', '5\r\nhello\r\n0\r\nbad\nline\r\n\r\n', '1234567890123\r\n']) {
    t.is(scan(body, 1000), -2, JSON.stringify(body));
    t.is(scan(body, 1), -2, `${JSON.stringify(body)} byte by byte`);
  }
});

// Issue 16, items 1 and 5: a Connection header naming a framing field must not remove it.
test('Connection naming Content-Length or Host does not drop them: the framing parsed is the framing forwarded', (t) => {
  const text = 'POST /a HTTP/1.1\r\nHost: app.test\r\nConnection: Content-Length, Host, Transfer-Encoding, X-Drop\r\nX-Drop: 1\r\nContent-Length: 43\r\n\r\n';
  t.like(parse(text), { kind: 'request', contentLength: 43, host: 'app.test' });
  t.is(forwarded(text), 'Host: app.test\r\nContent-Length: 43\r\n');
  t.is(forwarded('GET / HTTP/1.1\r\nConnection: host\r\nHost: app.test\r\n\r\n'), 'Host: app.test\r\n');
});

test('a backend Connection header naming Content-Length does not drop it toward the client', (t) => {
  const text = 'HTTP/1.1 200 OK\r\nConnection: content-length, x-drop\r\nX-Drop: 1\r\nContent-Length: 5\r\n\r\n';
  t.like(resp(text), { kind: 'response', status: 200 });
  t.is(clientHead(text), 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
});
