import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ConfigError, ConflictError, DriverError, NotFoundError, UserInputError, errorMessage } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { IngressRouteRecord, VoltState } from '../../state/types';
import type { IngressBackendHealth, IngressCertificateStatus, IngressListener, IngressStatus, IngressTlsMode, IngressWorkerStatus } from '@volt/sdk';
import { ControlReplyError, controlRequest, ingressRunFiles } from './ingress-control';
import { familyWords, formatBackend, redirectedToHttps, resolveTarget, routeConflicts } from './ingress-routes';
import {
  DEFAULT_TIMEOUT_SECONDS,
  checkCertificatePair,
  parseBackend,
  parseHostname,
  parsePathPrefix,
  parseRouteName,
  parseTimeout,
  parseTlsMode,
  readUserFile,
} from './ingress-validate';

export interface IngressServiceDeps {
  store: StateStore;
  paths: VoltPaths;
  /** Working directory relative --cert/--key paths are resolved against. */
  cwd: string;
}

export interface CreateIngressRequest {
  name: string;
  hostname: string;
  path?: string;
  backends: string[];
  tls?: string;
  cert?: string;
  key?: string;
  timeout?: string;
  stripPath?: boolean;
  /** "4" or "6": which address of workload backends (absent: IPv4, IPv6 when a workload has only that). */
  family?: string;
}

/** A route as commands show it. */
export interface IngressRouteView {
  name: string;
  hostname: string;
  path: string;
  /** As given: "web:8080". */
  backends: string[];
  /** Where they point now: "10.30.0.100:8080", or "-" for a workload without an address. */
  resolved: string[];
  tls: IngressTlsMode;
  timeoutSeconds: number;
  stripPath: boolean;
  /** --family, when given. */
  family?: 4 | 6;
  cert?: string;
  key?: string;
  createdAt: string;
}

/** What a running proxy answers to `status` (see ingress-serve.ts). */
export interface ProxyStatusReply extends IngressStatus {
  pid: number;
  startedAt: string;
  problems: string[];
}

export interface ReloadReply {
  generation: number;
  routes: number;
  changed: boolean;
  problems: string[];
  /** Settings from config.yaml applied by this reload ("http listener … → …"); absent or empty when none changed. */
  settings?: string[];
  /** The listeners after the reload. */
  listeners?: IngressListener[];
}

export interface IngressStatusView {
  proxy: {
    running: boolean;
    pid?: number;
    startedAt?: string;
    driver?: string;
    listeners: IngressListener[];
    /** Worker processes with their open connections and requests served. */
    workers: IngressWorkerStatus[];
    activeConnections: number;
    maxConnections?: number;
    generation?: number;
    appliedAt?: string;
  };
  routes: (IngressRouteView & { health: string })[];
  backends: IngressBackendHealth[];
  certificates: IngressCertificateStatus[];
  problems: string[];
}

export interface MutationResult {
  route: IngressRouteView;
  notes: string[];
}

/** Ingress routes in desired state, and the running proxy's view of them. */
export class IngressService {
  constructor(private readonly d: IngressServiceDeps) {}

  private get files(): { socket: string; info: string } {
    return ingressRunFiles(this.d.paths);
  }

  /** Validate every flag first, then store the route and tell a running proxy. */
  async create(req: CreateIngressRequest): Promise<MutationResult> {
    const what = `create route "${req.name}"`;
    const rec = this.parseRequest(req, what);
    const notes: string[] = [];
    await this.d.store.transaction(async (state) => {
      if (state.ingress.routes[rec.name]) {
        throw new ConflictError(`${what}: a route with this name exists (${describe(state.ingress.routes[rec.name]!)})`, {
          code: 'E_INGRESS_EXISTS',
          suggestions: [`\`volt ingress delete --name ${rec.name}\` first, or pick another name`],
        });
      }
      const c = routeConflicts(Object.values(state.ingress.routes), rec);
      if (c.sameMatch) {
        throw new ConflictError(`${what}: route "${c.sameMatch.name}" already serves ${rec.hostname}${rec.path === '/' ? '' : rec.path}`, {
          code: 'E_INGRESS_ROUTE_TAKEN',
          suggestions: ['`volt ingress list` shows the routes; delete that one first or use another --path'],
        });
      }
      if (c.passthroughShared) {
        throw new ConflictError(
          `${what}: ${rec.hostname} has route "${c.passthroughShared.name}"; a passthrough route takes the whole hostname (the proxy cannot see paths inside TLS it does not terminate)`,
          { code: 'E_INGRESS_PASSTHROUGH_SHARED' },
        );
      }
      if (c.tlsMismatch) {
        throw new ConflictError(
          `${what}: ${rec.hostname} already uses --tls ${c.tlsMismatch.tls} (route "${c.tlsMismatch.name}"); all routes of one hostname share its TLS mode`,
          { code: 'E_INGRESS_TLS_MISMATCH', suggestions: [`use --tls ${c.tlsMismatch.tls}`] },
        );
      }
      const all = [...Object.values(state.ingress.routes), rec];
      for (const r of all) {
        const twin = redirectedToHttps(all, r);
        if (twin && (r === rec || twin === rec)) {
          notes.push(`route "${r.name}" (HTTP) and route "${twin.name}" (--tls ${twin.tls}) both serve ${r.hostname}${r.path === '/' ? '' : r.path}: it is served over HTTPS by "${twin.name}", and HTTP requests are redirected to HTTPS (delete "${twin.name}" to serve plain HTTP again)`);
        }
      }
      for (const b of rec.backends) {
        if (resolveTarget(state, b.target, rec.family) !== undefined) continue;
        if (state.attachments.some((a) => a.workload === b.target)) {
          notes.push(`backend workload "${b.target}" has no ${familyWords(rec.family)} yet (--family ${rec.family ?? 4}); the route answers 502 until it has one`);
        } else notes.push(`backend workload "${b.target}" is not connected to any network yet; the route answers 502 until it is`);
      }
      state.ingress.routes[rec.name] = rec;
    });
    // The proxy's own report on this route, unless it repeats the note above.
    await this.tellProxy(notes, (p) => p.startsWith(`route "${rec.name}"`) && !p.includes('is not connected'));
    return { route: view(this.d.store.read(), rec), notes };
  }

  async delete(name: string): Promise<MutationResult> {
    const what = `delete route "${name}"`;
    const rec = await this.d.store.transaction(async (state) => {
      const r = state.ingress.routes[name];
      if (!r) {
        throw new NotFoundError(`${what}: no route with this name`, {
          code: 'E_INGRESS_NOT_FOUND',
          suggestions: [`known routes: ${Object.keys(state.ingress.routes).sort().join(', ') || 'none'}`],
        });
      }
      delete state.ingress.routes[name];
      return r;
    });
    const notes: string[] = [];
    await this.tellProxy(notes, () => false);
    return { route: view(this.d.store.read(), rec), notes };
  }

  list(): IngressRouteView[] {
    const state = this.d.store.read();
    return Object.values(state.ingress.routes)
      .sort((a, b) => a.hostname.localeCompare(b.hostname) || b.path.length - a.path.length || a.name.localeCompare(b.name))
      .map((r) => view(state, r));
  }

  /** Ask the running proxy to re-read config.yaml, state and certificate files. */
  async reload(): Promise<ReloadReply> {
    const r = await this.ask('reload', 'reload the ingress proxy');
    if (r === undefined) {
      throw new NotFoundError(`reload the ingress proxy: it is not running (no answer on ${this.files.socket})`, {
        code: 'E_INGRESS_NOT_RUNNING',
        suggestions: ['start it: `systemctl start volt-ingress.service` or `volt ingress serve`'],
      });
    }
    return r as ReloadReply;
  }

  async status(): Promise<IngressStatusView> {
    const state = this.d.store.read();
    const routes = this.list();
    const reply = (await this.ask('status', 'ask the ingress proxy for its status')) as ProxyStatusReply | undefined;
    if (reply === undefined) {
      return {
        proxy: { running: false, listeners: [], workers: [], activeConnections: 0 },
        routes: routes.map((r) => ({ ...r, health: 'proxy not running' })),
        backends: [],
        certificates: manualCertificates(state),
        problems: [],
      };
    }
    const health = new Map(reply.backends.map((b) => [b.key, b]));
    return {
      proxy: {
        running: true,
        pid: reply.pid,
        startedAt: reply.startedAt,
        driver: reply.driver,
        listeners: reply.listeners,
        workers: reply.workers,
        activeConnections: reply.activeConnections,
        ...(reply.maxConnections !== undefined ? { maxConnections: reply.maxConnections } : {}),
        generation: reply.generation,
        appliedAt: reply.appliedAt,
      },
      routes: routes.map((r) => ({
        ...r,
        health: r.resolved
          .map((addr) => (addr === '-' ? 'unresolved' : (health.get(addr)?.state ?? 'pending')))
          .join(','),
      })),
      backends: reply.backends,
      certificates: reply.certificates,
      problems: reply.problems,
    };
  }

  private async ask(command: 'reload' | 'status', what: string): Promise<unknown> {
    // A reload that moves listeners waits for the new workers and the bind: give it time.
    try {
      return await controlRequest(this.files.socket, { command }, command === 'reload' ? 60_000 : 15_000);
    } catch (e: unknown) {
      if (e instanceof ControlReplyError) {
        // A bad config.yaml or setting is the operator's to fix (exit 2), as it is for any other command.
        const suggestions = e.suggestions;
        if (e.code.startsWith('E_CONFIG_')) {
          throw new ConfigError(`${what}: ${e.message}`, { code: e.code, suggestions: ['fix config.yaml and reload again; the proxy keeps running as it was', ...suggestions] });
        }
        if (e.code === 'E_INGRESS_FLAGS' || e.code === 'E_INGRESS_FILE_UNREADABLE') throw new UserInputError(`${what}: ${e.message}`, { code: e.code, suggestions });
        throw new DriverError(`${what}: ${e.message}`, { code: e.code, suggestions });
      }
      throw new DriverError(`${what}: ${errorMessage(e)}`, {
        code: 'E_INGRESS_CONTROL',
        suggestions: ['is `volt ingress serve` hung? `systemctl status volt-ingress.service`'],
      });
    }
  }

  /** After a change: a running proxy applies it before we return; otherwise say when it will. */
  private async tellProxy(notes: string[], relevant: (problem: string) => boolean): Promise<void> {
    let reply: ReloadReply | undefined;
    try {
      // Routes only: create/delete do not re-read config.yaml (that is what `volt ingress reload` is for).
      reply = (await controlRequest(this.files.socket, { command: 'apply' })) as ReloadReply | undefined;
    } catch (e: unknown) {
      notes.push(`the change is stored, but the running proxy did not apply it: ${errorMessage(e)}; run \`volt ingress reload\``);
      return;
    }
    if (reply === undefined) notes.push('the ingress proxy is not running; routes apply when `volt ingress serve` (volt-ingress.service) starts');
    else for (const p of reply.problems.filter(relevant)) notes.push(`proxy: ${p}`);
  }

  private parseRequest(req: CreateIngressRequest, what: string): IngressRouteRecord {
    const name = parseRouteName(req.name, what);
    const hostname = parseHostname(req.hostname, what);
    const tls = parseTlsMode(req.tls ?? 'none', what);
    const routePath = parsePathPrefix(req.path ?? '/', what);
    if (req.backends.length === 0) {
      throw new UserInputError(`${what}: no --backend given`, { code: 'E_INGRESS_BACKEND_INVALID', suggestions: ['e.g. --backend web:8080'] });
    }
    const backends = req.backends.map((b) => parseBackend(b, what));
    const seen = new Set<string>();
    for (const b of backends) {
      const k = formatBackend(b);
      if (seen.has(k)) throw new UserInputError(`${what}: backend ${k} is given twice`, { code: 'E_INGRESS_BACKEND_INVALID' });
      seen.add(k);
    }
    const timeoutSeconds = req.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : parseTimeout(req.timeout, what);
    const family = parseFamily(req.family, what);
    if (family !== undefined) {
      // --family picks a workload's address; an address given literally must agree with it.
      for (const b of backends) {
        const literal = net.isIP(b.target);
        if (literal !== 0 && literal !== family) {
          throw new UserInputError(`${what}: backend ${formatBackend(b)} is an IPv${literal} address, but --family ${family} asks for IPv${family}`, {
            code: 'E_INGRESS_FLAGS',
            suggestions: [`drop --family, or give the backend's IPv${family} address${family === 6 ? ' in brackets, e.g. [fd00:30::a]:8080' : ''}`],
          });
        }
      }
    }
    const stripPath = req.stripPath === true;
    if (stripPath && routePath === '/') {
      throw new UserInputError(`${what}: --strip-path needs a --path to strip`, { code: 'E_INGRESS_FLAGS' });
    }
    if (tls === 'passthrough' && (routePath !== '/' || stripPath)) {
      throw new UserInputError(`${what}: a passthrough route cannot have a path: the proxy forwards the TLS stream without reading the requests inside`, {
        code: 'E_INGRESS_FLAGS',
        suggestions: ['drop --path, or use --tls manual/auto to route by path'],
      });
    }
    if (tls === 'auto' && hostname.startsWith('*.')) {
      throw new UserInputError(`${what}: --tls auto cannot get a certificate for the wildcard ${hostname} (HTTP-01 validates one name at a time)`, {
        code: 'E_INGRESS_FLAGS',
        suggestions: ['use --tls manual with a wildcard certificate'],
      });
    }
    const rec: IngressRouteRecord = {
      name,
      hostname,
      path: routePath,
      backends,
      tls,
      timeoutSeconds,
      stripPath,
      ...(family !== undefined ? { family } : {}),
      createdAt: new Date().toISOString(),
    };
    if (tls === 'manual') {
      if (req.cert === undefined || req.key === undefined) {
        throw new UserInputError(`${what}: --tls manual needs --cert FILE and --key FILE`, {
          code: 'E_INGRESS_FLAGS',
          suggestions: [`e.g. --cert /etc/certs/${hostname.replace(/^\*\./, '')}.pem --key /etc/certs/${hostname.replace(/^\*\./, '')}.key`],
        });
      }
      const cert = path.resolve(this.d.cwd, req.cert);
      const key = path.resolve(this.d.cwd, req.key);
      const certPem = readUserFile(cert, what, '--cert');
      const keyPem = readUserFile(key, what, '--key');
      checkCertificatePair(certPem, keyPem, hostname, what, { cert, key });
      rec.cert = cert;
      rec.key = key;
    } else if (req.cert !== undefined || req.key !== undefined) {
      throw new UserInputError(`${what}: --cert and --key go with --tls manual (this route is --tls ${tls})`, { code: 'E_INGRESS_FLAGS' });
    }
    return rec;
  }
}

/** --family: 4 or 6 (absent: the default rule, see resolveTarget). */
function parseFamily(raw: string | undefined, what: string): 4 | 6 | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim().replace(/^ipv/i, '');
  if (v === '4' || v === '6') return Number(v) as 4 | 6;
  throw new UserInputError(`${what}: --family "${raw}" is neither 4 nor 6`, {
    code: 'E_INGRESS_FLAGS',
    suggestions: ['--family 6 proxies to the workloads\' IPv6 addresses; without it IPv4 is used (IPv6 for a workload that has only that)'],
  });
}

function describe(r: IngressRouteRecord): string {
  return `${r.hostname}${r.path === '/' ? '' : r.path} → ${r.backends.map(formatBackend).join(', ')}`;
}

function view(state: VoltState, r: IngressRouteRecord): IngressRouteView {
  return {
    name: r.name,
    hostname: r.hostname,
    path: r.path,
    backends: r.backends.map(formatBackend),
    resolved: r.backends.map((b) => {
      const a = resolveTarget(state, b.target, r.family);
      return a === undefined ? '-' : formatBackend({ target: a, port: b.port });
    }),
    tls: r.tls,
    timeoutSeconds: r.timeoutSeconds,
    stripPath: r.stripPath,
    ...(r.family !== undefined ? { family: r.family } : {}),
    ...(r.cert !== undefined ? { cert: r.cert } : {}),
    ...(r.key !== undefined ? { key: r.key } : {}),
    createdAt: r.createdAt,
  };
}

/** Without a running proxy, status can still read manual certificates from their files. */
function manualCertificates(state: VoltState): IngressCertificateStatus[] {
  const out: IngressCertificateStatus[] = [];
  for (const r of Object.values(state.ingress.routes)) {
    if (r.tls !== 'manual' || r.cert === undefined || out.some((c) => c.hostname === r.hostname)) continue;
    try {
      const c = new X509Certificate(fs.readFileSync(r.cert));
      const notAfter = new Date(c.validTo);
      out.push({
        hostname: r.hostname,
        source: 'manual',
        state: notAfter.getTime() <= Date.now() ? 'expired' : 'valid',
        notAfter: notAfter.toISOString(),
        serial: c.serialNumber,
      });
    } catch (e: unknown) {
      out.push({ hostname: r.hostname, source: 'manual', state: 'error', error: errorMessage(e) });
    }
  }
  return out.sort((a, b) => a.hostname.localeCompare(b.hostname));
}
