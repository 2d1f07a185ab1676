import { qemuAlive } from '../vm/vm-qemu';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { VoltConfig } from '../../config/defaults';
import { loadConfig } from '../../config/load';
import type { DnsDriver, DnsListener, DnsResolverOptions } from '@volt/sdk';
import { ConflictError, errorMessage, isVoltError } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { VoltState } from '../../state/types';
import { CONTROL_LINE_MAX, askDns, controlSocketPath, type DnsControlReply, type DnsListenerStatus, type DnsServiceStatus } from './dns-control';
import { planDns, upstreamsOf } from './dns-records';
import { syncResolvConf } from './dns-resolvconf';

export interface DnsServeDeps {
  paths: VoltPaths;
  config: VoltConfig;
  store: StateStore;
  driver: DnsDriver;
  port: number;
  /** Extra answering processes (see DnsResolverOptions.workers). */
  workers?: number;
  /** Re-read the config file (default: loadConfig of paths.configFile); throws a ConfigError when it is invalid. */
  reloadConfig?(): VoltConfig;
  /** Progress for the operator (stdout; the journal under systemd). */
  log(message: string): void;
  warn(message: string): void;
}

interface ActiveListener {
  listener: DnsListener;
  state: 'listening' | 'waiting';
  error?: string;
}

/**
 * Drivers that take new upstreams and search domains while running (dns2
 * does); others are restarted, which closes their listeners for a moment.
 */
interface Reconfigurable {
  reconfigure(options: DnsResolverOptions): Promise<boolean>;
}

function reconfigurable(d: DnsDriver): d is DnsDriver & Reconfigurable {
  return typeof (d as Partial<Reconfigurable>).reconfigure === 'function';
}

/** The part of the config the running service follows live. */
function dnsSettings(c: VoltConfig): VoltConfig['network']['dns'] {
  return c.network.dns;
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
  private configWatcher?: fs.FSWatcher;
  /** The configuration in force: the one read at start, then each valid one read since. */
  private config: VoltConfig;
  private lastConfigStat = '';
  private configDirty = false;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private control?: net.Server;
  private running?: Promise<void>;
  private again = false;
  private lastStat = '';
  /** VMs with a QEMU pid in state, and whether it ran at the last reconcile: a QEMU that dies changes no file. */
  private vmProcesses: { pid: number; uuid: string; alive: boolean }[] = [];
  private stopped = false;
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly d: DnsServeDeps) {
    this.config = d.config;
  }

  private options(): DnsResolverOptions {
    return { upstream: upstreamsOf(this.config), searchDomains: this.config.network.dns.search_domains, workers: this.d.workers };
  }

  /** Claim the control socket, start the resolver, listen on every gateway; throws if a port is taken. */
  async start(): Promise<void> {
    await this.claimControlSocket();
    try {
      this.lastConfigStat = this.configStatKey();
      await this.d.driver.start(this.options());
      this.lastStat = this.statKey();
      await this.reconcile(true);
      this.watch();
    } catch (e: unknown) {
      await this.stop();
      throw e;
    }
    const n = [...this.active.values()].filter((a) => a.state === 'listening').length;
    const up = this.config.network.dns.upstream;
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
    this.configWatcher?.close();
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

  /** Re-read state and config now (SIGHUP). */
  reload(): void {
    this.configDirty = true;
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
    return { pid: process.pid, startedAt: this.startedAt, upstream: this.config.network.dns.upstream, listeners, stats: await this.d.driver.stats() };
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
    // The config file too (upstream, search domains): editors save by rename, so the directory is watched.
    const configDir = path.dirname(this.d.paths.configFile);
    const configName = path.basename(this.d.paths.configFile);
    try {
      this.configWatcher = fs.watch(configDir, (_event, name) => {
        if (name === null || name === configName) {
          this.configDirty = true;
          this.schedule(DEBOUNCE_MS);
        }
      });
      this.configWatcher.on('error', () => this.configWatcher?.close());
    } catch {
      /* no config directory yet: the poll below notices a config file that appears */
    }
    this.poll = setInterval(() => {
      const now = this.statKey();
      const waiting = [...this.active.values()].some((a) => a.state === 'waiting');
      if (this.configStatKey() !== this.lastConfigStat) this.configDirty = true;
      const vmChanged = this.vmProcesses.some((v) => qemuAlive(v.pid, v.uuid) !== v.alive);
      if (now !== this.lastStat || waiting || this.configDirty || vmChanged) this.schedule(0);
    }, POLL_MS);
  }

  private configStatKey(): string {
    try {
      const st = fs.statSync(this.d.paths.configFile);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'none';
    }
  }

  /**
   * Apply a changed config file: new upstreams and search domains take effect
   * at once, without a restart; the names (NAME.<domain>) are republished by
   * the reconcile that follows, and the containers' resolv.conf files get the
   * new search line. An invalid file changes nothing: it is reported, and the
   * configuration in force stays.
   */
  private async applyConfig(): Promise<boolean> {
    this.configDirty = false;
    this.lastConfigStat = this.configStatKey();
    const file = this.d.paths.configFile;
    let next: VoltConfig;
    try {
      next = this.d.reloadConfig ? this.d.reloadConfig() : loadConfig(file);
    } catch (e: unknown) {
      const now = dnsSettings(this.config);
      this.d.warn(
        `config not applied, volt-dns keeps the configuration in force (upstream ${listOr(now.upstream)}; search domains ${listOr(now.search_domains)}):\n  ${errorMessage(e).split('\n').join('\n  ')}`,
      );
      return false;
    }
    const was = dnsSettings(this.config);
    const now = dnsSettings(next);
    if (JSON.stringify(was) === JSON.stringify(now)) {
      this.config = next;
      return false;
    }
    const changes: string[] = [];
    if (JSON.stringify(was.upstream) !== JSON.stringify(now.upstream)) changes.push(`upstream ${listOr(now.upstream)} (was ${listOr(was.upstream)})`);
    if (JSON.stringify(was.search_domains) !== JSON.stringify(now.search_domains))
      changes.push(`search domains ${listOr(now.search_domains)} (was ${listOr(was.search_domains)})`);
    const previous = this.config;
    this.config = next;
    if (changes.length > 0) {
      if (reconfigurable(this.d.driver)) {
        await this.d.driver.reconfigure(this.options());
      } else {
        // A driver without live reconfiguration starts over with the new options; reconcile re-listens.
        await this.d.driver.stop();
        this.active.clear();
        this.published.clear();
        try {
          await this.d.driver.start(this.options());
        } catch (e: unknown) {
          this.config = previous;
          await this.d.driver.start(this.options());
          this.d.warn(`config not applied: ${errorMessage(e)}; volt-dns keeps the configuration in force`);
          return false;
        }
      }
      this.d.log(`${file} reloaded: ${changes.join('; ')}`);
    }
    if (was.enabled !== now.enabled) {
      this.d.warn(
        now.enabled
          ? 'network.dns.enabled is true again'
          : 'network.dns.enabled is now false: containers lose their volt resolv.conf; volt-dns keeps answering until it is stopped (systemctl stop volt-dns)',
      );
    }
    return true;
  }

  /** Containers' resolv.conf carry the search domains (and exist only while DNS is enabled): rewrite them. */
  private syncResolvConfs(state: VoltState): void {
    for (const [name, w] of Object.entries(state.workloads)) {
      if (w.type === 'container') syncResolvConf(state, name, this.config, this.d.warn, this.d.paths);
    }
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
    this.running = this.apply()
      .catch((e: unknown) => this.d.warn(`apply state: ${errorMessage(e)}`))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async apply(): Promise<void> {
    const configChanged = this.configDirty ? await this.applyConfig() : false;
    const state = await this.reconcile(false);
    if (configChanged && state !== undefined) this.syncResolvConfs(state);
  }

  /**
   * Bring listeners and names in line with state. `strict` (start-up): a port
   * in use is fatal. Later, and for gateway addresses not up yet, it warns
   * and retries every second.
   */
  private async reconcile(strict: boolean): Promise<VoltState | undefined> {
    this.lastStat = this.statKey();
    let state;
    try {
      state = this.d.store.read();
    } catch (e: unknown) {
      if (strict) throw e;
      this.d.warn(`${errorMessage(e)}; still serving the names read before`);
      return undefined;
    }
    this.vmProcesses = Object.values(state.workloads).flatMap((w) => (w.type === 'vm' && w.pid !== undefined ? [{ pid: w.pid, uuid: w.uuid, alive: qemuAlive(w.pid, w.uuid) }] : []));
    const plan = planDns(state, this.config, this.d.port);
    const wanted = new Map(plan.listeners.map((l) => [key(l), l]));
    for (const [k, a] of [...this.active]) {
      if (wanted.has(k)) continue;
      await this.d.driver.stopListener(a.listener);
      this.active.delete(k);
      if (a.state === 'listening') this.d.log(`network ${a.listener.network}: stopped listening on ${hostPort(a.listener)}`);
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
      if (!first) this.d.log(`network ${v.network}: ${new Set(v.records.filter((r) => r.type === 'PTR').map((r) => r.value)).size} workload(s) published`);
    }
    for (const [k, l] of wanted) {
      const a = this.active.get(k);
      if (a?.state === 'listening') continue;
      try {
        await this.d.driver.startListener(l);
        this.active.set(k, { listener: l, state: 'listening' });
        this.d.log(`network ${l.network}: listening on ${hostPort(l)} (udp, tcp)`);
      } catch (e: unknown) {
        const code = isVoltError(e) ? e.code : '';
        if (strict && code !== 'E_DNS_ADDRESS_MISSING') throw e;
        const msg = errorMessage(e);
        if (a?.error !== msg) this.d.warn(`${msg}; retrying every ${POLL_MS / 1000} s`);
        this.active.set(k, { listener: l, state: 'waiting', error: msg });
      }
    }
    return state;
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

function listOr(xs: readonly string[]): string {
  return xs.length > 0 ? xs.join(', ') : '(none)';
}

/** "10.30.0.1:53", "[fd00:30::1]:53" */
function hostPort(l: DnsListener): string {
  return l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

function key(l: DnsListener): string {
  return `${l.network}\0${l.address}\0${l.port}`;
}
