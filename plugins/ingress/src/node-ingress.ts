import cluster, { type Worker } from 'node:cluster';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { DriverError } from '@volt/core/dist/errors';
import type { Availability } from '@volt/core/dist/drivers/driver';
import type { HostContext } from '@volt/core/dist/di/registration';
import type {
  IngressBackendHealth,
  IngressCertificateStatus,
  IngressDriver,
  IngressListener,
  IngressProxySpec,
  IngressRoute,
  IngressStatus,
} from '@volt/core/dist/drivers/ingress';
import { AcmeManager } from './acme-manager';
import { HealthChecker, type HealthTarget } from './health-checker';
import { isFromWorker, type CertificatePem, type FromWorker, type ToWorker, type WorkerConfig, type WorkerState } from './messages';
import { backendKey } from './route-table';

interface WorkerHandle {
  worker: Worker;
  pid: number;
  /** Resolves when its listeners are up; rejects with the listen error. */
  listening: Promise<void>;
  acks: Map<number, (m: FromWorker) => void>;
}

type StatePayload = { type: 'routes'; generation: number; routes: IngressRoute[] } | { type: 'certificates'; certificates: CertificatePem[] } | { type: 'challenges'; challenges: Record<string, string> } | { type: 'down'; keys: string[] };

const ACK_TIMEOUT_MS = 10_000;
const RESPAWN_DELAY_MS = 500;

/**
 * The bundled ingress driver: a primary (this object, inside `volt ingress
 * serve`) and N worker processes forked with node:cluster that share the
 * listening sockets (SCHED_NONE: the kernel spreads connections, the
 * primary never touches them). The primary owns everything stateful —
 * routing table, ACME, health checks — and pushes it to the workers, which
 * only serve. A worker that dies is replaced and given the current state.
 */
export class NodeIngressProxy implements IngressDriver {
  readonly name = 'node';
  readonly preference = 10;
  readonly fallback = true;
  readonly description = 'reverse proxy on Node http/tls with undici upstreams, worker processes, ACME via acme-client';

  private spec?: IngressProxySpec;
  private readonly workers = new Map<number, WorkerHandle>();
  private seq = 0;
  private routes: IngressRoute[] = [];
  private generation = 0;
  private appliedAt?: string;
  private certificates: CertificatePem[] = [];
  private challenges: Record<string, string> = {};
  private down: string[] = [];
  private health?: HealthChecker;
  private acme?: AcmeManager;
  private stopping = false;
  private listeners: IngressListener[] = [];
  /** When workers died unasked, for the respawn backoff. */
  private exits: number[] = [];
  private readonly onExit = (w: Worker, code: number | null, signal: string | null): void => this.workerExited(w, code, signal);

  constructor(private readonly host: HostContext) {}

  async available(): Promise<Availability> {
    return { ok: true, reason: `built in (node ${process.version})` };
  }

  async startProxy(spec: IngressProxySpec, routes: IngressRoute[]): Promise<IngressListener[]> {
    if (this.spec) throw new DriverError('start the ingress proxy: it is already running in this process', { code: 'E_INGRESS_RUNNING' });
    this.spec = spec;
    this.stopping = false;
    this.routes = routes;
    this.generation = 1;
    this.appliedAt = new Date().toISOString();
    // Shared handles: workers accept on the same socket; the primary holds it but never accepts.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: path.join(__dirname, 'worker.js'), args: [], execArgv: [], silent: false });
    const handles = Array.from({ length: spec.workers }, () => this.fork());
    try {
      await Promise.all(handles.map((h) => h.listening));
    } catch (e: unknown) {
      await this.stopProxy();
      const port = (e as { port?: number }).port;
      throw new DriverError(`start the ingress proxy: ${e instanceof Error ? e.message : String(e)}`, {
        code: 'E_INGRESS_LISTEN',
        suggestions: [
          port === undefined ? 'check --address, --http-port and --https-port' : `pick another port (--${port === spec.httpsPort ? 'https' : 'http'}-port), or stop what uses ${port} (ss -ltnp 'sport = :${port}')`,
        ],
      });
    }
    cluster.on('exit', this.onExit);
    this.health = new HealthChecker(spec.health, (keys) => {
      this.down = keys;
      void this.broadcast({ type: 'down', keys }).catch((e: unknown) => this.host.warn(`ingress: health state not delivered: ${String(e)}`));
    }, (m) => this.log(m));
    this.acme = new AcmeManager(spec.acme, spec.dataDir, {
      publish: async (certificates) => {
        this.certificates = certificates;
        await this.broadcast({ type: 'certificates', certificates });
      },
      challenges: async (challenges) => {
        this.challenges = challenges;
        await this.broadcast({ type: 'challenges', challenges });
      },
      log: (m) => this.log(m),
      debug: (m) => this.host.debug(m),
    });
    this.listeners = [
      { protocol: 'http', address: spec.address, port: spec.httpPort },
      { protocol: 'https', address: spec.address, port: spec.httpsPort },
    ];
    this.health.setTargets(healthTargets(routes));
    this.acme.setHostnames(autoHostnames(routes));
    return this.listeners;
  }

  async stopProxy(): Promise<void> {
    const spec = this.spec;
    if (!spec || this.stopping) return;
    this.stopping = true;
    cluster.off('exit', this.onExit);
    this.health?.stop();
    this.acme?.stop();
    const exits = [...this.workers.values()].map(
      (h) =>
        new Promise<void>((resolve) => {
          if (h.worker.isDead()) return resolve();
          h.worker.once('exit', () => resolve());
          // A worker that does not leave after its drain time is killed.
          const kill = setTimeout(() => h.worker.process.kill('SIGKILL'), spec.drainMs + 5000);
          h.worker.once('exit', () => clearTimeout(kill));
        }),
    );
    await Promise.all([...this.workers.values()].map((h) => this.send(h, { type: 'stop', drainMs: spec.drainMs }).catch(() => undefined)));
    await Promise.all(exits);
    this.workers.clear();
    this.spec = undefined;
    this.health = undefined;
    this.acme = undefined;
  }

  async applyRoutes(routes: IngressRoute[]): Promise<number> {
    if (!this.spec) throw new DriverError('apply ingress routes: the proxy is not started', { code: 'E_INGRESS_NOT_RUNNING' });
    this.generation++;
    this.routes = routes;
    this.appliedAt = new Date().toISOString();
    await this.broadcast({ type: 'routes', generation: this.generation, routes });
    this.health?.setTargets(healthTargets(routes));
    this.acme?.setHostnames(autoHostnames(routes));
    return this.generation;
  }

  async status(): Promise<IngressStatus> {
    const stats = await Promise.all(
      [...this.workers.values()].map(async (h) => {
        try {
          const r = await this.send(h, { type: 'stats' });
          return r.type === 'stats' ? { pid: h.pid, connections: r.connections, requests: r.requests } : { pid: h.pid, connections: 0, requests: 0 };
        } catch (e: unknown) {
          void e;
          return { pid: h.pid, connections: 0, requests: 0 };
        }
      }),
    );
    return {
      driver: this.name,
      listeners: this.listeners,
      workers: stats,
      activeConnections: stats.reduce((n, s) => n + s.connections, 0),
      generation: this.generation,
      ...(this.appliedAt !== undefined ? { appliedAt: this.appliedAt } : {}),
      backends: [...(this.health?.status() ?? []), ...unresolved(this.routes)],
      certificates: [...manualCertificates(this.routes), ...(this.acme?.status() ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname)),
    };
  }

  // ---- workers -----------------------------------------------------------

  private workerConfig(): WorkerConfig {
    const spec = this.spec!;
    return {
      address: spec.address,
      httpPort: spec.httpPort,
      httpsPort: spec.httpsPort,
      limits: spec.limits,
      maxConnectionsPerWorker: Math.max(1, Math.ceil(spec.limits.maxConnections / spec.workers)),
    };
  }

  private fork(): WorkerHandle {
    const worker = cluster.fork();
    const pid = worker.process.pid ?? -1;
    const acks = new Map<number, (m: FromWorker) => void>();
    let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
    const listening = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    listening.catch(() => undefined);
    const handle: WorkerHandle = { worker, pid, listening, acks };
    this.workers.set(worker.id, handle);
    worker.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      switch (m.type) {
        case 'listening':
          settle?.resolve();
          break;
        case 'listen-error': {
          const e = new Error(m.message) as Error & { port?: number; code?: string };
          if (m.port !== undefined) e.port = m.port;
          if (m.code !== undefined) e.code = m.code;
          settle?.reject(e);
          break;
        }
        case 'backend-failed':
          this.health?.reportFailure(m.key, m.error);
          break;
        case 'ack':
        case 'stats': {
          const done = acks.get(m.seq);
          acks.delete(m.seq);
          done?.(m);
          break;
        }
      }
    });
    worker.once('exit', () => {
      settle?.reject(new Error(`worker ${pid} exited before listening`));
      for (const done of acks.values()) done({ type: 'ack', seq: -1 });
      acks.clear();
    });
    // The current state travels with the config: the worker has the table before it accepts anything.
    // (What changes between this send and the worker's listening is broadcast after `listening`.)
    worker.once('online', () => void this.send(handle, { type: 'config', config: this.workerConfig(), state: this.workerState() }).catch(() => undefined));
    void listening.then(() => this.catchUp(handle)).catch(() => undefined);
    return handle;
  }

  private workerState(): WorkerState {
    return { generation: this.generation, routes: this.routes, certificates: this.certificates, challenges: this.challenges, down: this.down };
  }

  /** State that changed while a new worker was starting (its config carried an older copy). */
  private async catchUp(h: WorkerHandle): Promise<void> {
    await this.send(h, { type: 'routes', generation: this.generation, routes: this.routes });
    await this.send(h, { type: 'certificates', certificates: this.certificates });
    await this.send(h, { type: 'challenges', challenges: this.challenges });
    await this.send(h, { type: 'down', keys: this.down });
  }

  private workerExited(w: Worker, code: number | null, signal: string | null): void {
    const h = this.workers.get(w.id);
    if (!h) return;
    this.workers.delete(w.id);
    if (this.stopping || !this.spec) return;
    // Back off when workers keep dying (a bug, a port taken meanwhile): 0.5 s, doubling per exit in the last minute, at most 30 s.
    const now = Date.now();
    this.exits = this.exits.filter((t) => now - t < 60_000);
    this.exits.push(now);
    const delay = Math.min(30_000, RESPAWN_DELAY_MS * 2 ** (this.exits.length - 1));
    this.log(`worker ${h.pid} exited (${signal ?? `code ${code}`}); starting another in ${delay / 1000} s`);
    setTimeout(() => {
      if (this.stopping || !this.spec) return;
      const n = this.fork();
      n.listening.catch((e: unknown) => {
        this.log(`replacement worker ${n.pid} failed to start: ${e instanceof Error ? e.message : String(e)}`);
        if (!n.worker.isDead()) n.worker.process.kill('SIGKILL');
      });
    }, delay);
  }

  /** Send and wait for the worker's acknowledgement (or its stats). */
  private send(h: WorkerHandle, m: DistributiveOmit<ToWorker, 'seq'>): Promise<FromWorker> {
    const seq = ++this.seq;
    const msg = { ...m, seq } as ToWorker;
    return new Promise<FromWorker>((resolve, reject) => {
      if (h.worker.isDead() || !h.worker.isConnected()) {
        reject(new Error(`worker ${h.pid} is gone`));
        return;
      }
      const timer = setTimeout(() => {
        h.acks.delete(seq);
        reject(new Error(`worker ${h.pid} did not acknowledge ${m.type} within ${ACK_TIMEOUT_MS / 1000} s`));
      }, ACK_TIMEOUT_MS);
      h.acks.set(seq, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      h.worker.send(msg, (e: Error | null) => {
        if (e) {
          clearTimeout(timer);
          h.acks.delete(seq);
          reject(e);
        }
      });
    });
  }

  /** Every live worker has the state when this resolves (a worker that dies meanwhile gets it on respawn). */
  private async broadcast(m: StatePayload): Promise<void> {
    const live = [...this.workers.values()];
    const results = await Promise.allSettled(
      live.map(async (h) => {
        await h.listening;
        await this.send(h, m);
      }),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length === live.length && live.length > 0) {
      throw new DriverError(`hand ${m.type} to the ingress workers: ${(failed[0] as PromiseRejectedResult).reason}`, { code: 'E_INGRESS_WORKER' });
    }
  }

  private log(m: string): void {
    process.stderr.write(`volt ingress: ${m}\n`);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function autoHostnames(routes: IngressRoute[]): string[] {
  return [...new Set(routes.filter((r) => r.tls === 'auto').map((r) => r.hostname))];
}

/** One health target per distinct backend address; HTTP probes unless only passthrough routes use it. */
export function healthTargets(routes: IngressRoute[]): HealthTarget[] {
  const out = new Map<string, HealthTarget>();
  for (const r of routes) {
    for (const b of r.backends) {
      if (b.address === undefined) continue;
      const key = backendKey(b.address, b.port);
      const mode = r.tls === 'passthrough' ? 'tcp' : 'http';
      const t = out.get(key);
      if (t) {
        if (!t.routes.includes(r.name)) t.routes.push(r.name);
        if (mode === 'http' && t.mode === 'tcp') {
          t.mode = 'http';
          t.hostHeader = r.hostname.replace(/^\*\./, 'health.');
        }
        continue;
      }
      out.set(key, { key, address: b.address, port: b.port, target: b.target, routes: [r.name], mode, hostHeader: r.hostname.replace(/^\*\./, 'health.') });
    }
  }
  return [...out.values()];
}

function unresolved(routes: IngressRoute[]): IngressBackendHealth[] {
  const out: IngressBackendHealth[] = [];
  for (const r of routes) {
    for (const b of r.backends) {
      if (b.address !== undefined) continue;
      const key = `${b.target}:${b.port}`;
      const have = out.find((x) => x.key === key);
      if (have) have.routes.push(r.name);
      else out.push({ key, target: b.target, routes: [r.name], state: 'unresolved', error: 'workload not connected to any network' });
    }
  }
  return out;
}

function manualCertificates(routes: IngressRoute[]): IngressCertificateStatus[] {
  const out: IngressCertificateStatus[] = [];
  for (const r of routes) {
    if (r.tls !== 'manual' || !r.certificate || out.some((c) => c.hostname === r.hostname)) continue;
    try {
      const x = new X509Certificate(r.certificate.certPem);
      const notAfter = new Date(x.validTo);
      out.push({ hostname: r.hostname, source: 'manual', state: notAfter.getTime() <= Date.now() ? 'expired' : 'valid', notAfter: notAfter.toISOString(), serial: x.serialNumber });
    } catch (e: unknown) {
      out.push({ hostname: r.hostname, source: 'manual', state: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
