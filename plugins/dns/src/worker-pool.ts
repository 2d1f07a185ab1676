import { fork, type ChildProcess } from 'node:child_process';
import type * as dgram from 'node:dgram';
import * as path from 'node:path';
import type { DnsListener, DnsView } from '@volt/sdk';
import type { FromWorker, ToWorker } from './worker-protocol';

/** A worker that does not answer a control message within this long is killed (and replaced). */
const REPLY_TIMEOUT_MS = 5000;
/** Pause before replacing a worker that died, so a crash loop cannot spin. */
const RESPAWN_DELAY_MS = 2000;

type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

interface Worker {
  child: ChildProcess;
  nextId: number;
  pending: Map<number, { resolve(v: number): void; reject(e: Error): void; timer: NodeJS.Timeout }>;
  ready: boolean;
}

export interface PoolState {
  /** The current search domains and SOA serial (they change when the config is reloaded). */
  zoneConfig(): { searchDomains: string[]; serial: number };
  views(): DnsView[];
  listeners(): { spec: DnsListener; socket: dgram.Socket }[];
}

/**
 * Extra processes reading the same UDP sockets as the main one: Node answers
 * on one core, and a resolver on a bridge should use more than one. Each
 * worker gets the current views and sockets when it starts (and again if it
 * is replaced), then every change as it happens.
 */
export class WorkerPool {
  private readonly workers = new Set<Worker>();
  private stopping = false;

  constructor(
    private readonly count: number,
    private readonly state: PoolState,
    private readonly relay: (key: string, msg: Buffer, peer: { address: string; port: number }) => void,
    private readonly warn: (m: string) => void,
  ) {}

  get size(): number {
    return this.workers.size;
  }

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, () => this.spawn()));
  }

  stop(): void {
    this.stopping = true;
    for (const w of this.workers) {
      if (w.child.connected) w.child.disconnect();
      w.child.kill('SIGTERM');
    }
    this.workers.clear();
  }

  async broadcast(req: Request, socket?: dgram.Socket): Promise<number[]> {
    return Promise.all([...this.workers].filter((w) => w.ready).map((w) => this.request(w, req, socket).catch(() => 0)));
  }

  private async spawn(): Promise<void> {
    const child = fork(path.join(__dirname, 'worker.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    const w: Worker = { child, nextId: 1, pending: new Map(), ready: false };
    this.workers.add(w);
    child.on('message', (m: FromWorker) => this.onMessage(w, m));
    child.on('error', (e: Error) => this.warn(`worker ${child.pid ?? '?'}: ${e.message}`));
    child.on('exit', (code, signal) => {
      this.workers.delete(w);
      for (const p of w.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('worker exited'));
      }
      w.pending.clear();
      if (this.stopping) return;
      this.warn(`worker ${child.pid ?? '?'} exited (${signal ?? `code ${code ?? '?'}`}); replacing it in ${RESPAWN_DELAY_MS / 1000} s`);
      setTimeout(() => {
        if (!this.stopping) void this.spawn().catch((e: unknown) => this.warn(`replace worker: ${e instanceof Error ? e.message : String(e)}`));
      }, RESPAWN_DELAY_MS).unref();
    });
    await this.request(w, { op: 'start', ...this.state.zoneConfig() });
    for (const view of this.state.views()) await this.request(w, { op: 'publish', view });
    for (const l of this.state.listeners()) await this.request(w, { op: 'listen', spec: l.spec }, l.socket);
    w.ready = true;
  }

  private request(w: Worker, req: Request, socket?: dgram.Socket): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const id = w.nextId++;
      const timer = setTimeout(() => {
        w.pending.delete(id);
        reject(new Error(`worker ${w.child.pid ?? '?'}: no reply to ${req.op} within ${REPLY_TIMEOUT_MS / 1000} s`));
        w.child.kill('SIGKILL');
      }, REPLY_TIMEOUT_MS);
      w.pending.set(id, { resolve, reject, timer });
      const msg = { ...req, id } as ToWorker;
      const sent = socket === undefined ? w.child.send(msg) : w.child.send(msg, socket);
      if (!sent && !w.child.connected) {
        clearTimeout(timer);
        w.pending.delete(id);
        reject(new Error('worker is gone'));
      }
    });
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (m.op === 'relay') {
      this.relay(m.key, Buffer.from(m.msg.buffer, m.msg.byteOffset, m.msg.byteLength), { address: m.address, port: m.port });
    } else if (m.op === 'warn') {
      this.warn(m.message);
    } else {
      const p = w.pending.get(m.id);
      if (p === undefined) return;
      w.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    }
  }
}
