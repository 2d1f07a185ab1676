import * as net from 'node:net';
import * as path from 'node:path';
import { DriverError, errorMessage } from '../errors';
import type { DnsStats } from '../drivers/dns';
import type { VoltPaths } from '../paths';

/**
 * The control socket of a running `volt dns serve`: one JSON line in, one
 * JSON line out. A Unix socket under <root>/run/volt (mode 0600), so only
 * root can flush the cache; its presence is also how a second `serve`
 * notices the first.
 */
export function controlSocketPath(paths: VoltPaths): string {
  return path.join(paths.runDir, 'dns.sock');
}

export type DnsControlRequest = { op: 'flush' } | { op: 'status' };

export interface DnsListenerStatus {
  network: string;
  address: string;
  port: number;
  /** "listening", or "waiting" while the gateway address is missing or the port is taken. */
  state: 'listening' | 'waiting';
  error?: string;
}

export interface DnsServiceStatus {
  pid: number;
  startedAt: string;
  upstream: string[];
  listeners: DnsListenerStatus[];
  stats: DnsStats;
}

export type DnsControlReply =
  | { ok: true; op: 'flush'; flushed: number }
  | { ok: true; op: 'status'; status: DnsServiceStatus }
  | { ok: false; error: string };

export type DnsControlAnswer = { running: false; socket: string } | { running: true; socket: string; reply: DnsControlReply };

/** Longest line either side accepts; requests and replies are small. */
export const CONTROL_LINE_MAX = 64 * 1024;

/**
 * Ask the running service. "Not running" (no socket, or nobody listening on
 * it) is an answer, not an error; a service that does not reply in time is.
 */
export function askDns(paths: VoltPaths, request: DnsControlRequest, timeoutMs = 2000): Promise<DnsControlAnswer> {
  const socket = controlSocketPath(paths);
  return new Promise<DnsControlAnswer>((resolve, reject) => {
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
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new DriverError(`ask volt-dns on ${socket}: no reply within ${timeoutMs / 1000} s`, {
              code: 'E_DNS_CONTROL_TIMEOUT',
              suggestions: ['check the service: `systemctl status volt-dns` (or the terminal running `volt dns serve`)'],
            }),
          ),
        ),
      timeoutMs,
    );
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > CONTROL_LINE_MAX) finish(() => reject(badReply(socket, 'reply too long')));
        return;
      }
      const line = buf.slice(0, nl);
      finish(() => {
        try {
          resolve({ running: true, socket, reply: JSON.parse(line) as DnsControlReply });
        } catch {
          reject(badReply(socket, 'reply is not JSON'));
        }
      });
    });
    conn.on('end', () => finish(() => reject(badReply(socket, 'connection closed without a reply'))));
    conn.on('error', (e: NodeJS.ErrnoException) => {
      // A socket file left by a service that died is as good as none.
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(() => resolve({ running: false, socket }));
      else finish(() => reject(new DriverError(`ask volt-dns on ${socket}: ${errorMessage(e)}`, { code: 'E_DNS_CONTROL', cause: e })));
    });
  });
}

function badReply(socket: string, why: string): DriverError {
  return new DriverError(`ask volt-dns on ${socket}: ${why}`, { code: 'E_DNS_CONTROL' });
}
