import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { VoltPaths } from '@volt/sdk';
import { errorMessage, isVoltError } from '@volt/sdk';
import { askControlSocket } from '../host/control-socket';

/**
 * The control channel of a running `volt ingress serve`: a unix socket in
 * `<root>/run/volt/` (mode 0600) speaking one JSON line each way, plus an
 * info file beside it naming the process. Commands (create, delete, reload,
 * status) reach the proxy through it; nothing else does.
 */

export interface IngressRunFiles {
  socket: string;
  info: string;
}

export function ingressRunFiles(paths: VoltPaths): IngressRunFiles {
  return { socket: path.join(paths.runDir, 'ingress.sock'), info: path.join(paths.runDir, 'ingress.json') };
}

/** reload: config.yaml, routes and certificate files; apply: routes and certificate files only (create/delete); status. */
export type ControlCommand = 'reload' | 'apply' | 'status';

export interface ControlRequest {
  command: ControlCommand;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: { message: string; code: string; suggestions?: string[] } };

/** Thrown by the client when the proxy answered with an error. */
export class ControlReplyError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly suggestions: string[] = [],
  ) {
    super(message);
  }
}

const MAX_LINE = 4 * 1024 * 1024;

/**
 * Ask the running proxy. Resolves undefined when none is running (no
 * socket, or nobody listening on it); rejects on a timeout or an error reply.
 */
export async function controlRequest(socket: string, req: ControlRequest, timeoutMs = 15_000): Promise<unknown> {
  let answer;
  try {
    answer = await askControlSocket(socket, req, timeoutMs, MAX_LINE);
  } catch (e: unknown) {
    throw new Error(`talk to the proxy at ${socket}: ${errorMessage(e)}`);
  }
  if (!answer.running) return undefined;
  const r = answer.reply as Partial<ControlResponse>;
  if (r.ok === true) return (r as { result: unknown }).result;
  const err = (r as { error?: { message?: unknown; code?: unknown; suggestions?: unknown } }).error;
  const suggestions = Array.isArray(err?.suggestions) ? err.suggestions.filter((x): x is string => typeof x === 'string') : [];
  throw new ControlReplyError(typeof err?.message === 'string' ? err.message : 'unknown error', typeof err?.code === 'string' ? err.code : 'E_INGRESS_CONTROL', suggestions);
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** The proxy's side of the channel. */
export class ControlServer {
  private server?: net.Server;

  constructor(
    private readonly socket: string,
    private readonly handler: ControlHandler,
  ) {}

  async listen(): Promise<void> {
    fs.mkdirSync(path.dirname(this.socket), { recursive: true, mode: 0o755 });
    // A socket file left by a proxy that died: nobody answers on it (checked by the caller).
    fs.rmSync(this.socket, { force: true });
    const server = net.createServer((c) => this.serve(c));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Owner-only from the start: create it under a restrictive umask.
      const old = process.umask(0o177);
      try {
        server.listen(this.socket, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
    this.server = server;
  }

  private serve(c: net.Socket): void {
    let buf = '';
    c.setEncoding('utf8');
    c.on('error', () => undefined);
    c.on('data', (d: string) => {
      buf += d;
      if (buf.length > 64 * 1024) {
        c.destroy();
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      void this.answer(line).then((resp) => c.end(JSON.stringify(resp) + '\n'));
    });
  }

  private async answer(line: string): Promise<ControlResponse> {
    let req: ControlRequest;
    try {
      const parsed = JSON.parse(line) as { command?: unknown };
      if (parsed.command !== 'reload' && parsed.command !== 'apply' && parsed.command !== 'status') throw new Error(`unknown command ${JSON.stringify(parsed.command)}`);
      req = { command: parsed.command };
    } catch (e: unknown) {
      return { ok: false, error: { message: `bad control request: ${errorMessage(e)}`, code: 'E_INGRESS_CONTROL' } };
    }
    try {
      return { ok: true, result: await this.handler(req) };
    } catch (e: unknown) {
      return { ok: false, error: { message: errorMessage(e), code: isVoltError(e) ? e.code : 'E_INGRESS_CONTROL', ...(isVoltError(e) && e.suggestions.length > 0 ? { suggestions: e.suggestions } : {}) } };
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.rmSync(this.socket, { force: true });
  }
}
