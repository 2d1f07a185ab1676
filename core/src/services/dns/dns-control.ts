import * as path from 'node:path';
import { DriverError, errorMessage } from '@volt/sdk';
import type { DnsStats } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import { ControlChannelError, askControlSocket } from '../host/control-socket';

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
export async function askDns(paths: VoltPaths, request: DnsControlRequest, timeoutMs = 2000): Promise<DnsControlAnswer> {
  const socket = controlSocketPath(paths);
  try {
    const a = await askControlSocket(socket, request, timeoutMs, CONTROL_LINE_MAX);
    return a.running ? { running: true, socket, reply: a.reply as DnsControlReply } : { running: false, socket };
  } catch (e: unknown) {
    if (e instanceof ControlChannelError && e.kind === 'timeout') {
      throw new DriverError(`ask volt-dns on ${socket}: ${e.message}`, {
        code: 'E_DNS_CONTROL_TIMEOUT',
        suggestions: ['check the service: `systemctl status volt-dns` (or the terminal running `volt dns serve`)'],
      });
    }
    throw new DriverError(`ask volt-dns on ${socket}: ${errorMessage(e)}`, { code: 'E_DNS_CONTROL', cause: e });
  }
}
