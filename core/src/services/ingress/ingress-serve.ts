import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError, errorMessage } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { IngressDriver, IngressListener, IngressProxySpec } from '@volt/sdk';
import { ControlServer, controlRequest, ingressRunFiles, type ControlRequest } from './ingress-control';
import { resolveRoutes } from './ingress-routes';
import type { ProxyStatusReply, ReloadReply } from './ingress-service';
import { describeSpecChanges } from './ingress-settings';

export interface IngressServeDeps {
  store: StateStore;
  paths: VoltPaths;
  driver: IngressDriver;
  spec: IngressProxySpec;
  /**
   * The settings as they are now (config.yaml read again, flags still
   * winning), for `volt ingress reload` and SIGHUP; throws on a bad file.
   * Without it a reload applies routes only.
   */
  respec?: () => IngressProxySpec;
  /** One line per event on stderr. */
  log(message: string): void;
  /** Called once the listeners are up and the first table is applied. */
  ready(listeners: IngressListener[], routes: number): void;
  /**
   * Make the listeners reachable (volt's host firewall) once they are bound;
   * the returned function undoes it when the proxy stops, or, after a reload
   * moved the listeners, for every port but `keep` (the new set's).
   */
  expose?(listeners: IngressListener[]): Promise<(keep?: number[]) => Promise<void>>;
}

/** A signal-free stop handle (for tests and embedding): resolve to stop. */
export type StopTrigger = Promise<void>;

/**
 * `volt ingress serve`: runs the proxy driver, applies the routes in state
 * (workload names resolved to their current addresses, manual certificates
 * read from their files) and re-applies whenever state changes — a route
 * created or deleted, a workload reconnected with a new address — or when
 * `volt ingress reload` (or SIGHUP) asks. SIGTERM/SIGINT drain and stop.
 */
export class IngressServer {
  private readonly control: ControlServer;
  private readonly files: { socket: string; info: string };
  private startedAt = new Date().toISOString();
  private listeners: IngressListener[] = [];
  /** Closes the ports `expose` opened in the host firewall. */
  private unexpose?: (keep?: number[]) => Promise<void>;
  private lastApplied?: string;
  private generation = 0;
  private problems: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private watcher?: fs.FSWatcher;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private stateStamp = '';
  private spec: IngressProxySpec;

  constructor(private readonly d: IngressServeDeps) {
    this.spec = d.spec;
    this.files = ingressRunFiles(d.paths);
    this.control = new ControlServer(this.files.socket, (req) => this.onControl(req));
  }

  async run(stop?: StopTrigger): Promise<void> {
    const lock = await this.exclusive();
    try {
      await this.serve(stop);
    } finally {
      lock.release();
    }
  }

  /** One proxy per root: an flock held for the proxy's lifetime (two starting at once cannot both win). */
  private async exclusive(): Promise<{ release(): void }> {
    const { lockExclusive, LockTimeoutError } = await import('@volt/native');
    fs.mkdirSync(this.d.paths.runDir, { recursive: true, mode: 0o755 });
    const file = path.join(this.d.paths.runDir, 'ingress.lock');
    try {
      return await lockExclusive(file, 0);
    } catch (e: unknown) {
      if (!(e instanceof LockTimeoutError)) throw e;
      await this.refuseSecondProxy();
      throw new ConflictError(`start the ingress proxy: another one holds ${file}`, {
        code: 'E_INGRESS_RUNNING',
        suggestions: ['stop it first (`systemctl stop volt-ingress.service`), or use `volt ingress reload` to apply route changes'],
      });
    }
  }

  private async serve(stop?: StopTrigger): Promise<void> {
    // The first table goes in with the listeners: no connection is ever served from an empty one.
    const initial = this.resolve();
    this.listeners = await this.d.driver.startProxy(this.spec, initial.routes);
    this.generation = 1;
    this.lastApplied = JSON.stringify(initial.routes);
    this.report(initial.problems);
    let stopSignal: (reason: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stopSignal = resolve));
    const onTerm = (sig: NodeJS.Signals): void => stopSignal(sig);
    const onHup = (): void => {
      void this.apply('SIGHUP', true, true).catch((e: unknown) => this.d.log(`reload after SIGHUP failed: ${errorMessage(e)}`));
    };
    try {
      if (this.d.expose) this.unexpose = await this.d.expose(this.listeners);
      await this.control.listen();
      this.writeInfo();
      this.watchState();
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onTerm);
      process.on('SIGHUP', onHup);
      void stop?.then(() => stopSignal('stop requested'));
      this.d.ready(this.listeners, initial.routes.length);
      const why = await stopped;
      this.d.log(`stopping (${why}): draining connections for up to ${Math.round(this.spec.drainMs / 1000)} s`);
    } finally {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onTerm);
      process.off('SIGHUP', onHup);
      this.unwatchState();
      await this.control.close().catch(() => undefined);
      fs.rmSync(this.files.info, { force: true });
      await this.d.driver.stopProxy();
      const unexpose = this.unexpose;
      this.unexpose = undefined;
      if (unexpose) await unexpose().catch((e: unknown) => this.d.log(`closing the proxy's ports in the host firewall failed: ${errorMessage(e)}`));
    }
  }

  private async refuseSecondProxy(): Promise<void> {
    let other: unknown;
    try {
      other = await controlRequest(this.files.socket, { command: 'status' }, 3000);
    } catch (e: unknown) {
      void e; // something answers badly: treat the socket as stale
      return;
    }
    if (other !== undefined) {
      const pid = (other as Partial<ProxyStatusReply>).pid;
      throw new ConflictError(`start the ingress proxy: another one is running${pid === undefined ? '' : ` (pid ${pid})`} and answers on ${this.files.socket}`, {
        code: 'E_INGRESS_RUNNING',
        suggestions: ['stop it first (`systemctl stop volt-ingress.service`), or use `volt ingress reload` to apply route changes'],
      });
    }
  }

  private async onControl(req: ControlRequest): Promise<unknown> {
    if (req.command === 'reload') return this.apply('reload', true, true);
    if (req.command === 'apply') return this.apply('route change', true, false);
    const s = await this.d.driver.status();
    const reply: ProxyStatusReply = {
      pid: process.pid,
      startedAt: this.startedAt,
      driver: s.driver,
      listeners: s.listeners,
      workers: s.workers,
      activeConnections: s.activeConnections,
      ...(s.maxConnections !== undefined ? { maxConnections: s.maxConnections } : {}),
      generation: s.generation,
      appliedAt: s.appliedAt,
      backends: s.backends,
      certificates: s.certificates,
      problems: this.problems,
    };
    return reply;
  }

  /**
   * Read state, resolve, and hand the table to the driver when it differs
   * from the last one applied (always when `force`); with `settings`, read
   * config.yaml again first and apply what changed. Calls are serialised.
   */
  private apply(reason: string, force: boolean, settings = false): Promise<ReloadReply> {
    const next = this.queue.then(() => this.applyNow(reason, force, settings));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private resolve(): ReturnType<typeof resolveRoutes> {
    return resolveRoutes(this.d.store.read(), (f) => fs.readFileSync(f, 'utf8'));
  }

  private report(problems: string[]): void {
    for (const p of problems) if (!this.problems.includes(p)) this.d.log(`warning: ${p}`);
    this.problems = problems;
  }

  /**
   * New settings first: a bad config.yaml or a port that cannot be bound
   * fails the reload with nothing changed (routes included).
   */
  private async applySettings(): Promise<string[]> {
    if (!this.d.respec) return [];
    const next = this.d.respec();
    const changes = describeSpecChanges(this.spec, next);
    if (changes.length === 0) return [];
    if (!this.d.driver.reconfigure) {
      const note = `not applied (the ${this.d.driver.name} driver takes new settings only at a restart): ${changes.join(', ')}`;
      this.d.log(note);
      return [note];
    }
    const r = await this.d.driver.reconfigure(next);
    this.spec = next;
    const moved = JSON.stringify(this.listeners.map((l) => [l.address, l.port])) !== JSON.stringify(r.listeners.map((l) => [l.address, l.port]));
    this.listeners = r.listeners;
    if (moved && this.d.expose) {
      // The new ports open before the old ones close; ports in both sets stay open throughout.
      try {
        const old = this.unexpose;
        this.unexpose = await this.d.expose(r.listeners);
        await old?.(r.listeners.map((l) => l.port));
      } catch (e: unknown) {
        this.d.log(`warning: the host firewall does not follow the new ports: ${errorMessage(e)}`);
      }
    }
    this.writeInfo();
    for (const c of r.changes) this.d.log(`settings: ${c}`);
    return r.changes;
  }

  private async applyNow(reason: string, force: boolean, settings: boolean): Promise<ReloadReply> {
    const changedSettings = settings ? await this.applySettings() : [];
    const { routes, problems } = this.resolve();
    const text = JSON.stringify(routes);
    const changed = text !== this.lastApplied;
    // An explicit reload always hands the table over (a new generation), changed or not;
    // a state change only when the resolved table differs.
    if (changed || force) {
      this.generation = await this.d.driver.applyRoutes(routes);
      this.lastApplied = text;
      this.d.log(`applied ${routes.length} route${routes.length === 1 ? '' : 's'} (generation ${this.generation}, ${reason}${changed ? '' : ', unchanged'})`);
      this.report(problems);
    }
    return { generation: this.generation, routes: routes.length, changed, problems, ...(settings ? { settings: changedSettings, listeners: this.listeners } : {}) };
  }

  private writeInfo(): void {
    fs.mkdirSync(path.dirname(this.files.info), { recursive: true, mode: 0o755 });
    const info = { pid: process.pid, startedAt: this.startedAt, socket: this.files.socket, listeners: this.listeners };
    const tmp = `${this.files.info}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o644 });
    fs.renameSync(tmp, this.files.info);
  }

  /**
   * State is replaced by rename, so watch the directory (inotify); a slow
   * poll of the file's identity covers filesystems where watching fails.
   */
  private watchState(): void {
    const dir = this.d.paths.stateDir;
    const file = path.basename(this.d.paths.stateFile);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.stateStamp = this.stamp();
    const changed = (): void => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.debounce = undefined;
        const s = this.stamp();
        if (s === this.stateStamp) return;
        this.stateStamp = s;
        void this.apply('state changed', false).catch((e: unknown) => this.d.log(`apply after a state change failed: ${errorMessage(e)}`));
      }, 50);
    };
    try {
      this.watcher = fs.watch(dir, (_event, name) => {
        if (name === null || name === file) changed();
      });
      this.watcher.on('error', (e: unknown) => this.d.log(`watching ${dir} failed (${errorMessage(e)}); polling instead`));
    } catch (e: unknown) {
      this.d.log(`cannot watch ${dir} (${errorMessage(e)}); polling instead`);
    }
    this.poll = setInterval(changed, 5000);
  }

  private stamp(): string {
    try {
      const s = fs.statSync(this.d.paths.stateFile);
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch (e: unknown) {
      void e;
      return 'none';
    }
  }

  private unwatchState(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
