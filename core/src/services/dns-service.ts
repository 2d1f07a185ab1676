import * as fs from 'node:fs';
import * as net from 'node:net';
import type { VoltConfig } from '../config/defaults';
import type { DnsDriver, DnsListener } from '../drivers/dns';
import { ConflictError, errorMessage, isVoltError } from '../errors';
import type { VoltPaths } from '../paths';
import type { StateStore } from '../state/store';
import { CONTROL_LINE_MAX, askDns, controlSocketPath, type DnsControlReply, type DnsListenerStatus, type DnsServiceStatus } from './dns-control';
import { planDns, upstreamsOf } from './dns-records';

export interface DnsServeDeps {
  paths: VoltPaths;
  config: VoltConfig;
  store: StateStore;
  driver: DnsDriver;
  port: number;
  /** Extra answering processes (see DnsResolverOptions.workers). */
  workers?: number;
  /** Progress for the operator (stdout; the journal under systemd). */
  log(message: string): void;
  warn(message: string): void;
}

interface ActiveListener {
  listener: DnsListener;
  state: 'listening' | 'waiting';
  error?: string;
}

/** State writes are atomic renames, often several per command: wait this long for the last one. */
const DEBOUNCE_MS = 25;
/**
 * Safety net beside fs.watch (which can miss events, e.g. when inotify
 * watches run out) and the retry pace for listeners whose gateway address is
 * not up yet.
 */
const POLL_MS = 1000;

/**
 * `volt dns serve`: keeps the resolver in step with desired state. Every
 * change to state.json (connect, disconnect, VM start/stop, network
 * create/delete) is re-read and applied live: listeners for new networks,
 * removed ones closed, names republished where they changed.
 */
export class DnsServeService {
  private readonly active = new Map<string, ActiveListener>();
  /** network → JSON of the view last published, so unchanged networks are not re-encoded. */
  private readonly published = new Map<string, string>();
  private watcher?: fs.FSWatcher;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private control?: net.Server;
  private running?: Promise<void>;
  private again = false;
  private lastStat = '';
  private stopped = false;
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly d: DnsServeDeps) {}

  /** Claim the control socket, start the resolver, listen on every gateway; throws if a port is taken. */
  async start(): Promise<void> {
    await this.claimControlSocket();
    try {
      const dns = this.d.config.network.dns;
      await this.d.driver.start({ upstream: upstreamsOf(this.d.config), searchDomains: dns.search_domains, workers: this.d.workers });
      this.lastStat = this.statKey();
      await this.reconcile(true);
      this.watch();
    } catch (e: unknown) {
      await this.stop();
      throw e;
    }
    const n = [...this.active.values()].filter((a) => a.state === 'listening').length;
    const up = this.d.config.network.dns.upstream;
    this.d.log(
      `ready: ${n} network${n === 1 ? '' : 's'}, ` +
        (up.length > 0 ? `forwarding to ${up.join(', ')}` : 'no upstream servers configured (names only)') +
        `, control socket ${controlSocketPath(this.d.paths)}`,
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    await this.running?.catch(() => undefined);
    const control = this.control;
    this.control = undefined;
    if (control) {
      await new Promise<void>((resolve) => control.close(() => resolve()));
      try {
        fs.unlinkSync(controlSocketPath(this.d.paths));
      } catch {
        /* already gone */
      }
    }
    await this.d.driver.stop();
    this.active.clear();
  }

  /** Re-read state now (SIGHUP). */
  reload(): void {
    this.schedule(0);
  }

  async status(): Promise<DnsServiceStatus> {
    const listeners: DnsListenerStatus[] = [...this.active.values()].map((a) => ({
      network: a.listener.network,
      address: a.listener.address,
      port: a.listener.port,
      state: a.state,
      ...(a.error !== undefined ? { error: a.error } : {}),
    }));
    return { pid: process.pid, startedAt: this.startedAt, upstream: this.d.config.network.dns.upstream, listeners, stats: await this.d.driver.stats() };
  }

  private watch(): void {
    try {
      // Watching needs the directory; before the first volt command there is none (under
      // systemd's ProtectSystem it cannot be made here, and polling covers that case).
      fs.mkdirSync(this.d.paths.stateDir, { recursive: true, mode: 0o755 });
      this.watcher = fs.watch(this.d.paths.stateDir, (_event, name) => {
        if (name === null || name === 'state.json') this.schedule(DEBOUNCE_MS);
      });
      this.watcher.on('error', (e: Error) => this.d.warn(`watch ${this.d.paths.stateDir}: ${e.message}; polling every ${POLL_MS / 1000} s`));
    } catch (e: unknown) {
      this.d.warn(`watch ${this.d.paths.stateDir}: ${errorMessage(e)}; polling every ${POLL_MS / 1000} s`);
    }
    this.poll = setInterval(() => {
      const now = this.statKey();
      const waiting = [...this.active.values()].some((a) => a.state === 'waiting');
      if (now !== this.lastStat || waiting) this.schedule(0);
    }, POLL_MS);
  }

  private statKey(): string {
    try {
      const st = fs.statSync(this.d.paths.stateFile);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'none';
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.kick(), delayMs);
  }

  /** One reconcile at a time; a change during one triggers another. */
  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile(false)
      .catch((e: unknown) => this.d.warn(`apply state: ${errorMessage(e)}`))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Bring listeners and names in line with state. `strict` (start-up): a port
   * in use is fatal. Later, and for gateway addresses not up yet, it warns
   * and retries every second.
   */
  private async reconcile(strict: boolean): Promise<void> {
    this.lastStat = this.statKey();
    let state;
    try {
      state = this.d.store.read();
    } catch (e: unknown) {
      if (strict) throw e;
      this.d.warn(`${errorMessage(e)}; still serving the names read before`);
      return;
    }
    const plan = planDns(state, this.d.config, this.d.port);
    const wanted = new Map(plan.listeners.map((l) => [key(l), l]));
    for (const [k, a] of [...this.active]) {
      if (wanted.has(k)) continue;
      await this.d.driver.stopListener(a.listener);
      this.active.delete(k);
      if (a.state === 'listening') this.d.log(`network ${a.listener.network}: stopped listening on ${a.listener.address}:${a.listener.port}`);
    }
    const views = new Set(plan.views.map((v) => v.network));
    for (const network of [...this.published.keys()]) {
      if (views.has(network)) continue;
      await this.d.driver.withdraw(network);
      this.published.delete(network);
    }
    // Names first, so a new listener never answers before it knows them.
    for (const v of plan.views) {
      const sig = JSON.stringify(v);
      if (this.published.get(v.network) === sig) continue;
      await this.d.driver.publish(v);
      const first = !this.published.has(v.network);
      this.published.set(v.network, sig);
      if (!first) this.d.log(`network ${v.network}: ${v.records.filter((r) => r.type === 'PTR').length} workload(s) published`);
    }
    for (const [k, l] of wanted) {
      const a = this.active.get(k);
      if (a?.state === 'listening') continue;
      try {
        await this.d.driver.startListener(l);
        this.active.set(k, { listener: l, state: 'listening' });
        this.d.log(`network ${l.network}: listening on ${l.address}:${l.port} (udp, tcp)`);
      } catch (e: unknown) {
        const code = isVoltError(e) ? e.code : '';
        if (strict && code !== 'E_DNS_ADDRESS_MISSING') throw e;
        const msg = errorMessage(e);
        if (a?.error !== msg) this.d.warn(`${msg}; retrying every ${POLL_MS / 1000} s`);
        this.active.set(k, { listener: l, state: 'waiting', error: msg });
      }
    }
  }

  /** A second `serve` must fail clearly, and a socket left by a crashed one must not block a restart. */
  private async claimControlSocket(): Promise<void> {
    const socket = controlSocketPath(this.d.paths);
    fs.mkdirSync(this.d.paths.runDir, { recursive: true, mode: 0o755 });
    let answer;
    try {
      answer = await askDns(this.d.paths, { op: 'status' }, 1000);
    } catch (e: unknown) {
      throw new ConflictError(`start volt-dns: something holds the control socket ${socket} but does not answer (${errorMessage(e)})`, {
        code: 'E_DNS_RUNNING',
        suggestions: ['stop the other `volt dns serve` (systemctl stop volt-dns), or remove the socket if nothing uses it'],
      });
    }
    if (answer.running) {
      const pid = answer.reply.ok && answer.reply.op === 'status' ? ` (pid ${answer.reply.status.pid})` : '';
      throw new ConflictError(`start volt-dns: another volt dns serve is already running${pid}, control socket ${socket}`, {
        code: 'E_DNS_RUNNING',
        suggestions: ['`systemctl status volt-dns` shows the service; stop it first, or use `volt net dns flush` to talk to it'],
      });
    }
    try {
      fs.unlinkSync(socket);
    } catch {
      /* none left behind */
    }
    const server = net.createServer((conn) => this.onControl(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e: Error) => this.d.warn(`control socket ${socket}: ${e.message}`));
    fs.chmodSync(socket, 0o600);
    this.control = server;
  }

  private onControl(conn: net.Socket): void {
    let buf = '';
    conn.setEncoding('utf8');
    conn.setTimeout(5000, () => conn.destroy());
    conn.on('error', () => undefined);
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > CONTROL_LINE_MAX) conn.destroy();
        return;
      }
      const line = buf.slice(0, nl);
      buf = '';
      void this.answerControl(line).then((reply) => conn.end(`${JSON.stringify(reply)}\n`));
    });
  }

  private async answerControl(line: string): Promise<DnsControlReply> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, error: 'request is not JSON' };
    }
    const op = typeof req === 'object' && req !== null ? (req as { op?: unknown }).op : undefined;
    try {
      if (op === 'flush') {
        const flushed = await this.d.driver.flushCache();
        this.d.log(`cache flushed on request (${flushed} entr${flushed === 1 ? 'y' : 'ies'})`);
        return { ok: true, op: 'flush', flushed };
      }
      if (op === 'status') return { ok: true, op: 'status', status: await this.status() };
      return { ok: false, error: `unknown op ${JSON.stringify(op)} (flush, status)` };
    } catch (e: unknown) {
      return { ok: false, error: errorMessage(e) };
    }
  }
}

function key(l: DnsListener): string {
  return `${l.network}\0${l.address}\0${l.port}`;
}
