import * as http from 'node:http';
import * as net from 'node:net';
import type { IngressBackendHealth, IngressHealthSettings } from '@volt/sdk';

/** A backend to watch: HTTP routes are probed with a request, passthrough ones with a connect. */
export interface HealthTarget {
  key: string;
  address: string;
  port: number;
  target: string;
  routes: string[];
  mode: 'http' | 'tcp';
  /** Host header for HTTP probes (a hostname of one of its routes). */
  hostHeader: string;
}

interface Watched {
  t: HealthTarget;
  healthy: boolean;
  failures: number;
  checkedAt?: Date;
  since: Date;
  error?: string;
  timer?: NodeJS.Timeout;
  probing: boolean;
  /** Bumped when the target is replaced or dropped, so late probe results are ignored. */
  epoch: number;
}

/**
 * Active health checks, run once in the primary for all workers: every
 * backend is probed each interval; `failures` consecutive failures take it
 * out of routing, one success puts it back. A worker that fails to connect
 * reports it (passive check) and the backend is probed at once. A new
 * backend starts healthy, so a route works the moment it is created.
 */
export class HealthChecker {
  private readonly watched = new Map<string, Watched>();
  private stopped = false;
  private lastDown = '';

  constructor(
    private settings: IngressHealthSettings,
    private readonly onChange: (downKeys: string[]) => void,
    private readonly log: (message: string) => void,
  ) {}

  setTargets(targets: HealthTarget[]): void {
    const next = new Map(targets.map((t) => [t.key, t]));
    for (const [key, w] of this.watched) {
      if (!next.has(key)) {
        if (w.timer) clearTimeout(w.timer);
        w.epoch++;
        this.watched.delete(key);
      }
    }
    for (const t of targets) {
      const w = this.watched.get(t.key);
      if (w) {
        w.t = t;
        continue;
      }
      const fresh: Watched = { t, healthy: true, failures: 0, since: new Date(), probing: false, epoch: 0 };
      this.watched.set(t.key, fresh);
      this.schedule(fresh, 0);
    }
    this.publish();
  }

  /** A worker could not connect: count it and look now rather than at the next interval. */
  reportFailure(key: string, error: string): void {
    const w = this.watched.get(key);
    if (!w || w.probing) return;
    this.record(w, false, `${error} (seen by a worker)`);
    this.schedule(w, 0);
  }

  status(): IngressBackendHealth[] {
    return [...this.watched.values()]
      .map((w) => ({
        key: w.t.key,
        target: w.t.target,
        routes: w.t.routes,
        state: w.healthy ? ('healthy' as const) : ('unhealthy' as const),
        ...(w.checkedAt ? { checkedAt: w.checkedAt.toISOString() } : {}),
        since: w.since.toISOString(),
        ...(w.error !== undefined ? { error: w.error } : {}),
      }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  /** New interval, timeout or threshold (a reload): used from each backend's next probe on. */
  updateSettings(settings: IngressHealthSettings): void {
    this.settings = settings;
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watched.values()) if (w.timer) clearTimeout(w.timer);
  }

  private schedule(w: Watched, delayMs: number): void {
    if (this.stopped) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.run(w), delayMs);
  }

  private async run(w: Watched): Promise<void> {
    if (this.stopped || this.watched.get(w.t.key) !== w) return;
    w.probing = true;
    const epoch = w.epoch;
    const error = await probe(w.t, this.settings.timeoutMs);
    w.probing = false;
    if (w.epoch !== epoch || this.watched.get(w.t.key) !== w) return;
    this.record(w, error === undefined, error);
    this.schedule(w, this.settings.intervalMs);
  }

  private record(w: Watched, ok: boolean, error: string | undefined): void {
    w.checkedAt = new Date();
    if (ok) {
      w.failures = 0;
      w.error = undefined;
      if (!w.healthy) {
        w.healthy = true;
        w.since = new Date();
        this.log(`backend ${w.t.key} (${w.t.target}) is answering again: back in routing`);
        this.publish();
      }
      return;
    }
    w.failures++;
    w.error = error;
    if (w.healthy && w.failures >= this.settings.failures) {
      w.healthy = false;
      w.since = new Date();
      this.log(`backend ${w.t.key} (${w.t.target}) failed ${w.failures} check${w.failures === 1 ? '' : 's'} (${error}): out of routing`);
      this.publish();
    }
  }

  private publish(): void {
    const down = [...this.watched.values()].filter((w) => !w.healthy).map((w) => w.t.key).sort();
    const text = down.join(',');
    if (text === this.lastDown) return;
    this.lastDown = text;
    this.onChange(down);
  }
}

/** undefined when the backend answered; otherwise why not. */
export function probe(t: HealthTarget, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      finish(`no answer within ${timeoutMs / 1000} s`);
      cleanup();
    }, timeoutMs);
    let cleanup = (): void => undefined;
    if (t.mode === 'tcp') {
      const s = net.connect({ host: t.address, port: t.port });
      cleanup = () => s.destroy();
      s.once('connect', () => {
        s.destroy();
        finish(undefined);
      });
      s.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
      return;
    }
    // Any HTTP answer (even a 404 or 500) means the backend is serving.
    const req = http.request({ host: t.address, port: t.port, method: 'GET', path: '/', agent: false, headers: { host: t.hostHeader, 'user-agent': 'volt-ingress-health/1' } }, (res) => {
      res.resume();
      finish(undefined);
      req.destroy();
    });
    cleanup = () => req.destroy();
    req.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    req.end();
  });
}
