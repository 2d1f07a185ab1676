import cluster, { type Worker } from 'node:cluster';
import type * as net from 'node:net';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { DriverError } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { HostContext } from '@volt/sdk';
import type {
  IngressBackendHealth,
  IngressCertificateStatus,
  IngressDriver,
  IngressListener,
  IngressProxySpec,
  IngressReconfigureResult,
  IngressRoute,
  IngressStatus,
} from '@volt/sdk';
import { AcmeManager } from './acme-manager';
import { HealthChecker, type HealthTarget } from './health-checker';
import { isFromWorker, type CertificatePem, type FromWorker, type ToWorker, type WorkerConfig, type WorkerState } from './messages';
import { backendKey } from './route-table';
import { Acceptor, ListenError, formatListener, type Protocol } from './acceptor';

interface WorkerHandle {
  worker: Worker;
  pid: number;
  /** Resolves when it is configured and may be handed connections; rejects if it fails to start. */
  ready: Promise<void>;
  isReady: boolean;
  acks: Map<number, (m: FromWorker) => void>;
  /** The set of workers it belongs to; connections go to the current one only. */
  generation: number;
  /** Of an earlier generation: finishing its connections, handed no new ones, not replaced when it exits. */
  draining: boolean;
  /** Connections handed to it and not reported closed. */
  open: number;
}

type StatePayload = { type: 'routes'; generation: number; routes: IngressRoute[] } | { type: 'certificates'; certificates: CertificatePem[] } | { type: 'challenges'; challenges: Record<string, string> } | { type: 'down'; keys: string[] };

const ACK_TIMEOUT_MS = 10_000;
const RESPAWN_DELAY_MS = 500;
/** A draining worker that has not left this long after its drain time is killed. */
const KILL_GRACE_MS = 5000;

/**
 * The bundled ingress driver: a primary (this object, inside `volt ingress
 * serve`) and worker processes forked with node:cluster. The primary owns
 * the listening sockets and everything stateful — routing table, ACME,
 * health checks, the count of open connections — and the workers only
 * serve: the primary accepts each connection (without reading from it),
 * checks the global cap (limits.maxConnections, exact: workers report every
 * close) and hands the socket over IPC to the worker with the fewest open
 * connections. A worker that dies is replaced and given the current state.
 *
 * Settings change without a restart (`reconfigure`): a new port or address
 * is bound before the old listener closes; new limits or a new worker count
 * start a new generation of workers, and the old one drains (its
 * connections finish, for up to drainMs). Unchanged listeners keep their
 * sockets, and when neither listeners nor worker settings change, the
 * workers stay as they are.
 */
export class NodeIngressProxy implements IngressDriver {
  readonly name = 'node';
  readonly preference = 10;
  readonly fallback = true;
  readonly description = 'reverse proxy on Node http/tls with undici upstreams, worker processes, ACME via acme-client';

  private spec?: IngressProxySpec;
  private readonly workers = new Map<number, WorkerHandle>();
  private acceptor?: Acceptor;
  /** The worker generation handed new connections. */
  private workerGeneration = 0;
  /** Numbers for worker generations (a failed reconfigure uses one up). */
  private generationSeq = 0;
  /** Connections handed to workers and not reported closed: what the cap counts. */
  private open = 0;
  private refused = 0;
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
  /** reconfigure calls, one at a time. */
  private reconfiguring: Promise<unknown> = Promise.resolve();
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
    cluster.setupPrimary({ exec: path.join(__dirname, 'worker.js'), args: [], execArgv: [], silent: false });
    cluster.on('exit', this.onExit);
    // Workers first (they bind nothing), then the listeners: the first connection finds a worker with the table.
    this.workerGeneration = ++this.generationSeq;
    const handles = Array.from({ length: spec.workers }, () => this.fork(workerConfig(spec), this.workerGeneration));
    try {
      await Promise.all(handles.map((h) => h.ready));
    } catch (e: unknown) {
      await this.stopProxy();
      throw new DriverError(`start the ingress proxy: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_INGRESS_WORKER' });
    }
    const acceptor = new Acceptor((s, p, owner) => this.dispatch(s, p, owner));
    this.acceptor = acceptor;
    try {
      (await acceptor.prepare(listenersOf(spec), this.workerGeneration)).commit();
    } catch (e: unknown) {
      await this.stopProxy();
      const port = e instanceof ListenError ? e.port : undefined;
      throw new DriverError(`start the ingress proxy: ${e instanceof Error ? e.message : String(e)}`, {
        code: 'E_INGRESS_LISTEN',
        suggestions: [
          port === undefined
            ? 'check --address, --http-port and --https-port (or ingress.address, http_port, https_port in config.yaml)'
            : `pick another port (${port === spec.httpsPort ? '--https-port or ingress.https_port' : '--http-port or ingress.http_port'}), or stop what uses ${port} (ss -ltnp 'sport = :${port}')`,
        ],
      });
    }
    this.health = new HealthChecker(spec.health, (keys) => {
      this.down = keys;
      void this.broadcast({ type: 'down', keys }).catch((e: unknown) => this.host.warn(`ingress: health state not delivered: ${String(e)}`));
    }, (m) => this.log(m));
    this.acme = this.newAcme(spec);
    this.health.setTargets(healthTargets(routes));
    this.acme.setHostnames(autoHostnames(routes));
    return acceptor.listeners();
  }

  async stopProxy(): Promise<void> {
    const spec = this.spec;
    if (!spec || this.stopping) return;
    this.stopping = true;
    // Stop accepting first; then every worker (current, draining, half-started) drains and leaves.
    await this.acceptor?.close();
    this.acceptor = undefined;
    cluster.off('exit', this.onExit);
    this.health?.stop();
    this.acme?.stop();
    const all = [...this.workers.values()];
    const exits = all.map((h) => this.exited(h, spec.drainMs + KILL_GRACE_MS));
    await Promise.all(all.map((h) => this.send(h, { type: 'stop', drainMs: spec.drainMs }).catch(() => undefined)));
    await Promise.all(exits);
    this.workers.clear();
    this.open = 0;
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

  reconfigure(next: IngressProxySpec): Promise<IngressReconfigureResult> {
    const run = this.reconfiguring.then(() => this.reconfigureNow(next));
    this.reconfiguring = run.catch(() => undefined);
    return run;
  }

  async status(): Promise<IngressStatus> {
    const handles = [...this.workers.values()].filter((h) => h.isReady);
    const stats = await Promise.all(
      handles.map(async (h) => {
        const base = { pid: h.pid, generation: h.generation, ...(h.draining ? { draining: true } : {}) };
        try {
          const r = await this.send(h, { type: 'stats' });
          return r.type === 'stats' ? { ...base, connections: r.connections, requests: r.requests } : { ...base, connections: h.open, requests: 0 };
        } catch (e: unknown) {
          void e;
          return { ...base, connections: h.open, requests: 0 };
        }
      }),
    );
    return {
      driver: this.name,
      listeners: this.acceptor?.listeners() ?? [],
      workers: stats,
      activeConnections: this.open,
      ...(this.spec ? { maxConnections: this.spec.limits.maxConnections } : {}),
      generation: this.generation,
      ...(this.appliedAt !== undefined ? { appliedAt: this.appliedAt } : {}),
      backends: [...(this.health?.status() ?? []), ...unresolved(this.routes)],
      certificates: [...manualCertificates(this.routes), ...(this.acme?.status() ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname)),
    };
  }

  // ---- settings ----------------------------------------------------------

  private async reconfigureNow(next: IngressProxySpec): Promise<IngressReconfigureResult> {
    const cur = this.spec;
    const acceptor = this.acceptor;
    if (!cur || !acceptor || this.stopping) throw new DriverError('reconfigure the ingress proxy: it is not running', { code: 'E_INGRESS_NOT_RUNNING' });
    const changes: string[] = [];
    const wanted = listenersOf(next);
    const before = acceptor.listeners();
    const listenersChange = wanted.some((w) => !before.some((b) => b.protocol === w.protocol && b.address === w.address && b.port === w.port));
    const workersChange = listenersChange || cur.workers !== next.workers || JSON.stringify(workerConfig(cur)) !== JSON.stringify(workerConfig(next));

    // 1. A new generation of workers, when their settings change (nothing is handed to it yet).
    let generation = this.workerGeneration;
    let fresh: WorkerHandle[] = [];
    if (workersChange) {
      generation = ++this.generationSeq;
      fresh = Array.from({ length: next.workers }, () => this.fork(workerConfig(next), generation));
      try {
        await Promise.all(fresh.map((h) => h.ready));
      } catch (e: unknown) {
        this.abandon(fresh);
        throw new DriverError(`apply the new ingress settings: a new worker failed to start (${e instanceof Error ? e.message : String(e)}); nothing changed`, { code: 'E_INGRESS_WORKER' });
      }
    }
    // 2. New listeners, bound before the old ones close; all or nothing.
    let prepared: Awaited<ReturnType<Acceptor['prepare']>> | undefined;
    if (listenersChange) {
      try {
        prepared = await acceptor.prepare(wanted, generation);
      } catch (e: unknown) {
        this.abandon(fresh);
        const still = acceptor.listeners().map((l) => `${l.protocol} ${formatListener(l)}`).join(', ');
        const port = e instanceof ListenError ? e.port : undefined;
        throw new DriverError(`apply the new ingress settings: ${e instanceof Error ? e.message : String(e)}; nothing changed, still serving ${still}`, {
          code: 'E_INGRESS_LISTEN',
          suggestions: port === undefined ? [] : [`pick another port in config.yaml, or stop what uses ${port} (ss -ltnp 'sport = :${port}')`],
        });
      }
    }
    // 3. Commit, all at once: new connections go to the new generation, through the new listeners.
    const old = workersChange ? [...this.workers.values()].filter((h) => h.generation !== generation && !h.draining) : [];
    this.spec = next;
    this.workerGeneration = generation;
    prepared?.commit();
    for (const m of prepared?.moved ?? []) {
      changes.push(`${m.to.protocol} listener ${formatListener(m.from)} → ${formatListener(m.to)}${old.length > 0 ? ` (the old one's connections drain for up to ${next.drainMs / 1000} s)` : ''}`);
    }
    if (workersChange) {
      changes.push(`worker generation ${generation}: ${next.workers} worker${next.workers === 1 ? '' : 's'} (pids ${fresh.map((h) => h.pid).join(', ')}); the ${old.length} of the previous one drain for up to ${next.drainMs / 1000} s`);
      for (const h of old) this.retire(h, next.drainMs);
    }
    if (cur.limits.maxConnections !== next.limits.maxConnections) changes.push(`connection cap ${cur.limits.maxConnections} → ${next.limits.maxConnections}`);
    // 4. Primary-side settings apply in place.
    if (JSON.stringify(cur.health) !== JSON.stringify(next.health)) {
      this.health?.updateSettings(next.health);
      changes.push('health check settings');
    }
    if (JSON.stringify(cur.acme) !== JSON.stringify(next.acme)) {
      this.acme?.stop();
      this.acme = this.newAcme(next);
      this.acme.setHostnames(autoHostnames(this.routes));
      changes.push(`ACME settings (directory ${next.acme.directoryUrl})`);
    }
    if (cur.drainMs !== next.drainMs) changes.push(`drain timeout ${cur.drainMs / 1000} s → ${next.drainMs / 1000} s`);
    return { listeners: acceptor.listeners(), changes };
  }

  private newAcme(spec: IngressProxySpec): AcmeManager {
    const m: AcmeManager = new AcmeManager(spec.acme, spec.dataDir, {
      publish: async (certificates) => {
        // A manager replaced by a reload has nothing more to say.
        if (this.acme !== m) return;
        this.certificates = certificates;
        await this.broadcast({ type: 'certificates', certificates });
      },
      challenges: async (challenges) => {
        if (this.acme !== m) return;
        this.challenges = challenges;
        await this.broadcast({ type: 'challenges', challenges });
      },
      log: (msg) => this.log(msg),
      debug: (msg) => this.host.debug(msg),
    });
    return m;
  }

  // ---- connections -------------------------------------------------------

  /**
   * An accepted connection (paused): refuse it over the cap, else hand it
   * to the worker of the right generation with the fewest open connections.
   */
  private dispatch(socket: net.Socket, protocol: Protocol, owner: number): void {
    const spec = this.spec;
    if (!spec || this.stopping) {
      socket.destroy();
      return;
    }
    if (this.open >= spec.limits.maxConnections) {
      this.refused++;
      socket.destroy();
      return;
    }
    // A listener bound for a generation that is not current yet (a reconfigure in progress) feeds that one.
    const generation = owner > this.workerGeneration ? owner : this.workerGeneration;
    let best: WorkerHandle | undefined;
    for (const h of this.workers.values()) {
      if (h.generation !== generation || !h.isReady || h.draining) continue;
      if (best === undefined || h.open < best.open) best = h;
    }
    if (best === undefined) {
      socket.destroy();
      return;
    }
    const h = best;
    h.open++;
    this.open++;
    const failed = (): void => {
      this.release(h, 1);
      socket.destroy();
    };
    try {
      h.worker.send({ type: 'conn', listener: protocol }, socket, (e: Error | null) => {
        if (e) failed();
      });
    } catch (e: unknown) {
      void e;
      failed();
    }
  }

  private release(h: WorkerHandle, n: number): void {
    const k = Math.min(n, h.open);
    h.open -= k;
    this.open = Math.max(0, this.open - k);
  }

  // ---- workers -----------------------------------------------------------

  private fork(config: WorkerConfig, generation: number): WorkerHandle {
    const worker = cluster.fork();
    const pid = worker.process.pid ?? -1;
    const acks = new Map<number, (m: FromWorker) => void>();
    let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    ready.catch(() => undefined);
    const handle: WorkerHandle = { worker, pid, ready, isReady: false, acks, generation, draining: false, open: 0 };
    this.workers.set(worker.id, handle);
    worker.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      switch (m.type) {
        case 'ready':
          handle.isReady = true;
          settle?.resolve();
          break;
        case 'start-error':
          settle?.reject(new Error(m.message));
          break;
        case 'closed':
          this.release(handle, m.n);
          break;
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
      handle.isReady = false;
      settle?.reject(new Error(`worker ${pid} exited before it was ready`));
      for (const done of acks.values()) done({ type: 'ack', seq: -1 });
      acks.clear();
    });
    // The current state travels with the config: the worker has the table before it is handed anything.
    // (What changes between this send and its `ready` is sent again after.)
    worker.once('online', () => void this.send(handle, { type: 'config', config, state: this.workerState() }).catch(() => undefined));
    void ready.then(() => this.catchUp(handle)).catch(() => undefined);
    return handle;
  }

  /** Workers of a generation that will not be used (a reconfigure that failed): gone at once. */
  private abandon(handles: WorkerHandle[]): void {
    for (const h of handles) {
      h.draining = true;
      if (!h.worker.isDead()) h.worker.process.kill('SIGKILL');
    }
  }

  /** A worker of an earlier generation: no new connections; it finishes what it has (up to drainMs) and leaves. */
  private retire(h: WorkerHandle, drainMs: number): void {
    h.draining = true;
    void this.exited(h, drainMs + KILL_GRACE_MS);
    void this.send(h, { type: 'stop', drainMs }).catch(() => {
      if (!h.worker.isDead()) h.worker.process.kill('SIGKILL');
    });
  }

  /** Resolves when the worker has exited; kills it if it is still there after `killAfterMs`. */
  private exited(h: WorkerHandle, killAfterMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (h.worker.isDead()) return resolve();
      const kill = setTimeout(() => h.worker.process.kill('SIGKILL'), killAfterMs);
      h.worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
    });
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
    // Its connections died with it.
    this.release(h, h.open);
    // Draining, abandoned or of an old generation: not replaced.
    if (this.stopping || !this.spec || h.draining || h.generation !== this.workerGeneration) return;
    // Back off when workers keep dying (a bug): 0.5 s, doubling per exit in the last minute, at most 30 s.
    const now = Date.now();
    this.exits = this.exits.filter((t) => now - t < 60_000);
    this.exits.push(now);
    const delay = Math.min(30_000, RESPAWN_DELAY_MS * 2 ** (this.exits.length - 1));
    this.log(`worker ${h.pid} exited (${signal ?? `code ${code}`}); starting another in ${delay / 1000} s`);
    const generation = h.generation;
    setTimeout(() => {
      if (this.stopping || !this.spec || generation !== this.workerGeneration) return;
      const n = this.fork(workerConfig(this.spec), generation);
      n.ready.catch((e: unknown) => {
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
    const live = [...this.workers.values()].filter((h) => !h.worker.isDead());
    const results = await Promise.allSettled(
      live.map(async (h) => {
        await h.ready;
        await this.send(h, m);
      }),
    );
    // Draining workers may already have left: only the serving ones count.
    const serving = live.filter((h) => !h.draining);
    const failed = results.filter((r, i) => r.status === 'rejected' && !live[i]!.draining);
    if (failed.length === serving.length && serving.length > 0) {
      throw new DriverError(`hand ${m.type} to the ingress workers: ${(failed[0] as PromiseRejectedResult).reason}`, { code: 'E_INGRESS_WORKER' });
    }
  }

  private log(m: string): void {
    process.stderr.write(`volt ingress: ${m}\n`);
  }
}

/** Worker settings of a spec: a change in these starts a new generation of workers. */
function workerConfig(spec: IngressProxySpec): WorkerConfig {
  return {
    address: spec.address,
    httpPort: spec.httpPort,
    httpsPort: spec.httpsPort,
    limits: spec.limits,
    // The primary enforces the cap across all workers; this is only a backstop in each.
    maxConnectionsPerWorker: spec.limits.maxConnections,
  };
}

function listenersOf(spec: IngressProxySpec): IngressListener[] {
  return [
    { protocol: 'http', address: spec.address, port: spec.httpPort },
    { protocol: 'https', address: spec.address, port: spec.httpsPort },
  ];
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
