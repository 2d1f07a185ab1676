/**
 * Upgrade requests (WebSocket, h2c, …): the request goes to the backend on a
 * connection of its own, and the two sockets are joined into a raw byte pipe
 * only once the backend answers `101 Switching Protocols` with an `Upgrade`
 * the client offered (issue 16, item 2). Any other answer is an ordinary
 * response: forwarded with its framing, after which the client's connection
 * goes back to being parsed request by request — routed, its X-Forwarded-*
 * replaced — so nothing the client sent after the upgrade request can reach
 * the backend unparsed.
 */
import * as net from 'node:net';
import { BodyKind, ChunkedScanner, assemble, parseResponseHead } from './http1-parser';
import { describeErrno } from './errno';

/** Client bytes held back while the backend decides (a client must wait for the 101 before it sends more). */
const MAX_HELD = 64 * 1024;

export interface UpgradeSpec {
  client: net.Socket;
  /** Bytes the client sent after the request head (Node's `head`): the request body, then whatever follows. */
  head: Buffer;
  /** The request head to send to the backend. */
  requestHead: string;
  /** Request body length (Content-Length; 0: none). */
  bodyLength: number;
  /** The protocols the client's Upgrade header offers, lower case. */
  offered: string[];
  /** The client speaks HTTP/1.0: interim responses are not for it, and it is closed after a declined upgrade. */
  http10: boolean;
  /** The client asked to close after this request. */
  close: boolean;
  headRequest: boolean;
  address: string;
  port: number;
  routeName: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  /** The upstream socket is registered here while it lives (drain on stop). */
  tunnels: Set<net.Socket>;
  backendFailed(why: string, unreachable: boolean): void;
  /** A reply of the proxy's own, then close. */
  reply(status: number, body: string): void;
  /** The backend declined the upgrade: the connection goes on as HTTP, `rest` (unread client bytes) first. */
  resumeHttp(client: net.Socket, rest: Buffer | undefined): void;
}

/** The protocol tokens of an Upgrade value ("websocket, h2c"), lower case. */
export function upgradeTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

export function startUpgrade(spec: UpgradeSpec): void {
  const { client } = spec;
  const backend = net.connect({ host: spec.address, port: spec.port, noDelay: true });
  spec.tunnels.add(backend);
  let bodyLeft = spec.bodyLength;
  // The request body that came with the head goes up; the rest is held.
  const first = Math.min(bodyLeft, spec.head.length);
  const bodyStart = spec.head.subarray(0, first);
  bodyLeft -= first;
  let held: Buffer | undefined = first < spec.head.length ? spec.head.subarray(first) : undefined;
  let clientEnded = false;
  let connected = false;
  /** 'wait': no final answer yet; 'response': a declined upgrade's response is passing; 'tunnel' / 'done'. */
  let phase: 'wait' | 'response' | 'tunnel' | 'done' = 'wait';
  let rbuf: Buffer | undefined;
  let body: BodyKind = BodyKind.None;
  let remaining = 0;
  let closeAfter = spec.http10 || spec.close;
  const chunked = new ChunkedScanner();

  const onClientData = (d: Buffer): void => {
    if (bodyLeft > 0) {
      const n = Math.min(bodyLeft, d.length);
      bodyLeft -= n;
      backend.write(n === d.length ? d : d.subarray(0, n));
      if (n === d.length) return;
      d = d.subarray(n);
    }
    held = held === undefined ? d : Buffer.concat([held, d]);
    if (held.length > MAX_HELD) client.pause();
  };
  const onClientEnd = (): void => {
    clientEnded = true;
  };
  const onClientClose = (): void => {
    if (phase !== 'tunnel') finish();
  };
  client.on('data', onClientData);
  client.on('end', onClientEnd);
  client.once('close', onClientClose);
  client.setTimeout(0);

  const onTimeout = (): void => {
    if (phase !== 'wait') return;
    if (!connected) {
      spec.backendFailed('connect timed out', true);
      fail(504, `backend of route ${spec.routeName} did not accept a connection in time`);
    } else fail(504, `backend of route ${spec.routeName} did not answer within ${spec.timeoutMs / 1000} s`);
  };
  let timer = setTimeout(onTimeout, spec.connectTimeoutMs);

  function detachClient(): void {
    client.off('data', onClientData);
    client.off('end', onClientEnd);
    client.off('close', onClientClose);
  }

  /** Over, whichever way: the upstream socket goes. */
  function finish(): void {
    if (phase === 'done') return;
    phase = 'done';
    clearTimeout(timer);
    detachClient();
    backend.destroy();
  }

  /** No usable answer: the proxy's own reply (when nothing of the backend's went out yet), then close. */
  function fail(status: number, text: string): void {
    const answered = phase === 'response';
    finish();
    if (answered) client.destroy();
    else spec.reply(status, text);
  }

  backend.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    timer = setTimeout(onTimeout, spec.timeoutMs);
    backend.write(spec.requestHead);
    if (bodyStart.length > 0) backend.write(bodyStart);
  });
  backend.on('error', (e: NodeJS.ErrnoException) => {
    if (phase === 'tunnel' || phase === 'done') return;
    if (!connected) spec.backendFailed(describeErrno(e), true);
    fail(502, `backend of route ${spec.routeName}: ${describeErrno(e)}`);
  });
  backend.on('end', () => {
    if (phase === 'response' && body === BodyKind.Close) {
      complete();
      return;
    }
    if (phase === 'wait' || phase === 'response') fail(502, `backend of route ${spec.routeName}: the backend closed the connection`);
  });
  backend.once('close', () => {
    spec.tunnels.delete(backend);
    if (phase === 'wait' || phase === 'response') fail(502, `backend of route ${spec.routeName}: the backend closed the connection`);
  });
  backend.on('data', onBackendData);

  function onBackendData(d: Buffer): void {
    if (phase === 'response') {
      forwardBody(d, 0);
      return;
    }
    if (phase !== 'wait') return;
    const buf = rbuf === undefined ? d : Buffer.concat([rbuf, d]);
    rbuf = undefined;
    let start = 0;
    for (;;) {
      const r = parseResponseHead(buf, start, buf.length, spec.headRequest, true);
      switch (r.kind) {
        case 'incomplete':
          rbuf = buf.subarray(start);
          return;
        case 'invalid':
          fail(502, `backend of route ${spec.routeName}: invalid response (${r.reason})`);
          return;
        case 'interim':
          // 100, 103…: passed on to an HTTP/1.1 client (RFC 9110 §15.2), not to an HTTP/1.0 one.
          if (!spec.http10) client.write(assemble('HTTP/1.1 ', buf, r.forward, 0, '\r\n'));
          start = r.headEnd;
          if (start >= buf.length) return;
          continue;
        case 'switch': {
          const chosen = upgradeTokens(r.upgrade);
          if (chosen.length === 0 || !chosen.every((p) => spec.offered.includes(p))) {
            fail(502, `backend of route ${spec.routeName}: 101 Switching Protocols to ${r.upgrade === '' ? 'no protocol' : JSON.stringify(r.upgrade)}, which the client did not offer`);
            return;
          }
          if (bodyLeft > 0) {
            fail(502, `backend of route ${spec.routeName}: 101 Switching Protocols before the request body was sent`);
            return;
          }
          tunnel(buf.subarray(start));
          return;
        }
        case 'response':
          // Declined: an ordinary response, and the connection stays HTTP.
          phase = 'response';
          clearTimeout(timer);
          body = r.body;
          remaining = r.length;
          if (body === BodyKind.Close || clientEnded) closeAfter = true;
          if (body === BodyKind.Chunked) chunked.reset();
          client.write(assemble('HTTP/1.1 ', buf, r.forward, 0, closeAfter ? 'connection: close\r\n\r\n' : '\r\n'));
          forwardBody(buf, r.headEnd);
          return;
      }
    }
  }

  function forwardBody(buf: Buffer, start: number): void {
    let end: number;
    switch (body) {
      case BodyKind.None:
        end = start;
        break;
      case BodyKind.Length:
        end = Math.min(buf.length, start + remaining);
        remaining -= end - start;
        break;
      case BodyKind.Chunked: {
        const e = chunked.feed(buf, start, buf.length);
        if (e === -2) {
          fail(502, 'invalid chunked body');
          return;
        }
        end = e === -1 ? buf.length : e;
        break;
      }
      default:
        end = buf.length;
    }
    if (end > start) client.write(buf.subarray(start, end));
    const done = body === BodyKind.None || (body === BodyKind.Length && remaining === 0) || (body === BodyKind.Chunked && chunked.done);
    if (done) complete();
  }

  /** A declined upgrade's response is over: back to HTTP on the client connection (or close it). */
  function complete(): void {
    // A body the backend did not wait for cannot be skipped reliably: close.
    if (bodyLeft > 0 || clientEnded) closeAfter = true;
    const rest = held;
    held = undefined;
    finish();
    if (closeAfter) {
      client.end();
      return;
    }
    spec.resumeHttp(client, rest);
  }

  function tunnel(head101: Buffer): void {
    phase = 'tunnel';
    clearTimeout(timer);
    detachClient();
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
    backend.off('data', onBackendData);
    client.setKeepAlive(true, 30_000);
    backend.setKeepAlive(true, 30_000);
    // The 101 head as the backend sent it (Connection and Upgrade are its point), and whatever followed it.
    client.write(head101);
    if (held !== undefined) backend.write(held);
    held = undefined;
    client.pipe(backend);
    backend.pipe(client);
    client.resume();
  }
}
