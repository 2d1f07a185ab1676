import test from 'ava';
import { downstreamResponseHeaders, scanRequestHeaders, upgradeRequestHead, upstreamRequestHeaders } from '@volt/plugin-ingress/dist/forward-headers';

const ctx = { clientIp: '198.51.100.7', proto: 'https' as const, host: 'App.example.com:8443' };

test('hop-by-hop headers go, X-Forwarded-* are set (never trusted from the client), the rest stays in order', (t) => {
  const raw = [
    'Host', 'App.example.com:8443',
    'Connection', 'keep-alive, X-Secret',
    'X-Secret', 'drop me',
    'Keep-Alive', 'timeout=5',
    'Accept', 'text/html',
    'Cookie', 'a=1',
    'Cookie', 'b=2',
    'X-Forwarded-For', '6.6.6.6',
    'x-forwarded-proto', 'http',
    'Forwarded', 'for=6.6.6.6',
    'TE', 'trailers',
    'Transfer-Encoding', 'chunked',
    'Expect', '100-continue',
    'Upgrade', 'h2c',
    'Proxy-Authorization', 'Basic x',
  ];
  t.deepEqual(upstreamRequestHeaders(raw, ctx), [
    'Host', 'App.example.com:8443',
    'Accept', 'text/html',
    'Cookie', 'a=1',
    'Cookie', 'b=2',
    'x-forwarded-for', '198.51.100.7',
    'x-forwarded-proto', 'https',
    'x-forwarded-host', 'App.example.com:8443',
  ]);
});

test('response: hop-by-hop headers and those the backend names in Connection are removed', (t) => {
  const h = downstreamResponseHeaders({
    connection: 'close, x-internal',
    'x-internal': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'set-cookie': ['a=1', 'b=2'],
    'content-type': 'text/plain',
  });
  t.deepEqual(h, ['set-cookie', ['a=1', 'b=2'], 'content-type', 'text/plain']);
  t.deepEqual(downstreamResponseHeaders({ connection: 'keep-alive', 'content-length': '3' }), ['content-length', '3']);
  t.deepEqual(downstreamResponseHeaders({ connection: 'x-one', 'x-one': '1', date: 'd' }), ['date', 'd']);
});

test('upgrade head keeps Connection/Upgrade and sets X-Forwarded-*', (t) => {
  const head = upgradeRequestHead('GET', '/ws?x=1', ['Host', 'ws.example.com', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k', 'X-Forwarded-For', '6.6.6.6'], ctx);
  t.is(
    head,
    'GET /ws?x=1 HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n' +
      'X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: App.example.com:8443\r\n\r\n',
  );
});

test('one scan finds Host and whether a body follows', (t) => {
  t.deepEqual(scanRequestHeaders(['Host', 'a.example.com', 'Content-Length', '0']), { headers: ['Host', 'a.example.com', 'Content-Length', '0'], host: 'a.example.com', hostCount: 1, hasBody: false });
  t.true(scanRequestHeaders(['Host', 'a', 'Content-Length', '12']).hasBody);
  const chunked = scanRequestHeaders(['Host', 'a', 'Transfer-Encoding', 'chunked']);
  t.true(chunked.hasBody);
  t.deepEqual(chunked.headers, ['Host', 'a'], 'undici frames the body itself');
  t.is(scanRequestHeaders(['Accept', '*/*']).host, undefined);
});
