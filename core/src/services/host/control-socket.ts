import * as net from 'node:net';
import { errorMessage } from '@volt/sdk';

/**
 * The client side of volt's service control sockets (volt-dns, volt-ingress):
 * a Unix socket under <root>/run/volt, one JSON line in, one JSON line out.
 */

export type ControlAnswer = { running: false } | { running: true; reply: unknown };

/** Why a request got no usable reply; each service words it for its operator. */
export class ControlChannelError extends Error {
  constructor(
    readonly kind: 'timeout' | 'too-long' | 'not-json' | 'closed' | 'io',
    message: string,
    readonly errno?: NodeJS.ErrnoException,
  ) {
    super(message);
  }
}

/**
 * Send one request line and read one reply line. "Not running" (no socket,
 * or a socket file nobody listens on, left by a service that died) is an
 * answer, not an error; no reply in time, a garbled one or an I/O error are.
 */
export function askControlSocket(socket: string, request: unknown, timeoutMs: number, maxLine: number): Promise<ControlAnswer> {
  return new Promise<ControlAnswer>((resolve, reject) => {
    const conn = net.createConnection(socket);
    let buf = '';
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      fn();
    };
    const fail = (kind: ControlChannelError['kind'], message: string, errno?: NodeJS.ErrnoException): void =>
      finish(() => reject(new ControlChannelError(kind, message, errno)));
    const timer = setTimeout(() => fail('timeout', `no reply within ${timeoutMs / 1000} s`), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > maxLine) fail('too-long', 'reply too long');
        return;
      }
      let reply: unknown;
      try {
        reply = JSON.parse(buf.slice(0, nl));
      } catch (e: unknown) {
        fail('not-json', `reply is not JSON: ${errorMessage(e)}`);
        return;
      }
      finish(() => resolve({ running: true, reply }));
    });
    conn.on('end', () => fail('closed', 'connection closed without a reply'));
    conn.on('close', () => fail('closed', 'connection closed without a reply'));
    conn.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(() => resolve({ running: false }));
      else fail('io', errorMessage(e), e);
    });
  });
}
