import test from 'ava';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import { WsClient, makeCa, makeCert, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

test('WebSocket: upgraded and echoed both ways with no configuration; a socket opened before a reload keeps working after it', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const rt = await workload(host, 'backend', 'realtime');
  const other = await workload(host, 'backend', 'other');
  await startBackend(rt.c, 9000, 'realtime');
  await startBackend(other.c, 9000, 'other');
  const pki = await makeCa(path.join(host.workDir, 'pki'));
  const cert = await makeCert(pki, 'ws', ['wss.example.com']);
  await host.voltOk(['ingress', 'create', '--name', 'ws', '--hostname', 'ws.example.com', '--backend', `${rt.name}:9000`]);
  await host.voltOk(['ingress', 'create', '--name', 'wss', '--hostname', 'wss.example.com', '--backend', `${rt.name}:9000`, '--tls', 'manual', '--cert', cert.cert, '--key', cert.key]);
  await startProxy(host);

  const { ws, head } = await WsClient.open(host, { url: 'http://127.0.0.1/chat?room=1', host: 'ws.example.com' });
  t.regex(head, /^HTTP\/1\.1 101 Switching Protocols/);
  t.regex(head, /X-Backend: realtime/);
  t.regex(head, /X-Seen-Forwarded-For: 127\.0\.0\.1/, 'the backend saw X-Forwarded-For on the upgrade request');
  t.is(await ws.roundTrip('hello', 1), 'realtime: hello');

  const secure = await WsClient.open(host, { url: 'https://127.0.0.1/chat', host: 'wss.example.com', servername: 'wss.example.com', ca: pki.caCert });
  t.is(await secure.ws.roundTrip('over tls', 1), 'realtime: over tls');

  // Reload, and change the route under the open sockets: they stay with the backend they were opened to.
  await host.voltOk(['ingress', 'reload']);
  await host.voltOk(['ingress', 'delete', '--name', 'ws']);
  await host.voltOk(['ingress', 'create', '--name', 'ws', '--hostname', 'ws.example.com', '--backend', `${other.name}:9000`]);
  await host.voltOk(['ingress', 'reload']);
  t.is(await ws.roundTrip('after reload', 2), 'realtime: after reload');
  t.is(await secure.ws.roundTrip('still here', 2), 'realtime: still here');
  const s = await status(host);
  t.true(s.proxy.activeConnections >= 2, 'open WebSockets count as active connections');

  // New sockets use the new table.
  const fresh = await WsClient.open(host, { url: 'http://127.0.0.1/chat', host: 'ws.example.com' });
  t.is(await fresh.ws.roundTrip('new', 1), 'other: new');

  // Unknown host: refused before any upgrade.
  const refused = await WsClient.open(host, { url: 'http://127.0.0.1/chat', host: 'nope.example.com' }).catch((e: unknown) => e);
  t.regex(String(refused), /WebSocket not opened: REFUSED .*404 Not Found/);

  await ws.close();
  await secure.ws.close();
  await fresh.ws.close();
});
