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
    ['GET / HTTP/1.10\r\nHost: a\r\n\r\n', /not HTTP\/1\.1/],
    ['FOO / HTTP/1.1\r\nHost: a\r\n\r\n', /method/],
    ['get / HTTP/1.1\r\nHost: a\r\n\r\n', /method/],
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

test('responses: 1xx interim heads are parsed for forwarding, 101 without an upgrade and malformed heads are refused', (t) => {
  const hints = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n';
  const r = resp(`${hints}HTTP/1.1 200 OK\r\n`);
  t.like(r, { kind: 'interim', status: 103, headEnd: hints.length });
  if (r.kind === 'interim') t.is(assemble('HTTP/1.1 ', Buffer.from(hints, 'latin1'), r.forward, 0, '\r\n').toString('latin1'), 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n');
  t.like(resp('HTTP/1.1 100 Continue\r\n\r\n'), { kind: 'interim', status: 100 });
  // 101 is only taken when the request asked to upgrade (upgrade.ts), with its Upgrade value.
  t.like(parseResponseHead(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'), 0, 77, false, true), { kind: 'switch', upgrade: 'websocket', headEnd: 77 });
  t.like(resp('HTTP/1.1 101 Switching Protocols\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/2 200 OK\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 2000 OK\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\nContent-Length: 0\n\n'), { kind: 'invalid' }, 'bare LF heads are refused at once (they would never complete)');
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n'), { kind: 'incomplete' });
  // Both framings, or differing lengths: the backend is not trusted (502).
  t.like(resp('HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n'), { kind: 'invalid' });
  t.like(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n'), { kind: 'invalid' });
  t.like(resp(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(70_000)}\r\n\r\n`), { kind: 'invalid', reason: 'response head too large' });
});

test('response heads for the client: hop-by-hop fields out, HTTP/1.1 status line', (t) => {
  t.is(
    clientHead('HTTP/1.0 200 Fine\r\nServer: x\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nUpgrade: h2c\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n'),
    'HTTP/1.1 200 Fine\r\nServer: x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n',
  );
  t.is(clientHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n'), 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n');
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

// Issue 16, item 7: request versions.
test('versions: 1.1, and 1.2-1.9 as 1.1; 1.0 to Node; 2.0+ and 0.9 are 505; a malformed version is 400', (t) => {
  const line = (v: string, rest = 'Host: a\r\n\r\n'): RequestParse => parse(`GET /v ${v}\r\n${rest}`);
  t.like(line('HTTP/1.1'), { kind: 'request', target: '/v' });
  t.like(line('HTTP/1.2'), { kind: 'request', target: '/v' });
  t.like(line('HTTP/1.9'), { kind: 'request' });
  t.like(line('HTTP/1.0'), { kind: 'fallback' });
  for (const v of ['HTTP/2.0', 'HTTP/3.0', 'HTTP/9.9', 'HTTP/0.9']) t.like(line(v), { kind: 'invalid', status: 505 }, v);
  for (const v of ['http/1.1', 'HTTP/1.x', 'HTTPS/11', 'HTTP-1.1', 'HTTP/a.1']) t.like(line(v), { kind: 'invalid', reason: 'malformed HTTP version in the request line' }, v);
  t.is((line('HTTP/1.1') as { status?: number }).status, undefined);
  // Handed to Node with the minor digit's offset, to be rewritten as 1.1.
  const up = 'GET /v HTTP/1.2\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n';
  t.like(parse(up), { kind: 'fallback', minorAt: 'GET /v HTTP/1.'.length });
  t.like(parse('GET http://a/ HTTP/1.3\r\nHost: a\r\n\r\n'), { kind: 'fallback', minorAt: 'GET http://a/ HTTP/1.'.length });
  t.false('minorAt' in parse('GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'));
});

// Found by the differential test (test/unit/ingress-http1-differential.test.ts).
test('as llhttp: a tab after the Content-Length digits is refused; Proxy-Connection: close closes', (t) => {
  t.like(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\t\r\n\r\n'), { kind: 'invalid', reason: 'invalid Content-Length' });
  t.like(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0 \r\n\r\n'), { kind: 'request', contentLength: 0 });
  t.like(parse('GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n'), { kind: 'request', close: true });
  t.is(forwarded('GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n'), 'Host: a\r\n');
});
