import type { IngressBackend, IngressRoute } from '@volt/sdk';
import { normalizeTarget, parseHost, type Refusal } from './request-target';

/** A backend as the data plane keys it: "10.30.0.5:8080", "[fd00::5]:8080". */
export function backendKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A route with what the hot path needs precomputed. */
export interface CompiledRoute {
  readonly route: IngressRoute;
  /** Backends that have an address, with their keys. */
  readonly upstreams: readonly { backend: IngressBackend; key: string; address: string }[];
  /** Round-robin position (per worker, per table generation). */
  next: number;
}

/**
 * The routing table: a host name (exact first, then "*.parent" for one
 * label), then the longest path prefix among that host's routes — the way
 * nginx picks a server block, then a location. Immutable once built; a reload
 * builds a new one and swaps the reference, so a request keeps the route it
 * matched.
 */
export class RouteTable {
  private readonly byHost = new Map<string, CompiledRoute[]>();
  readonly size: number;

  constructor(routes: IngressRoute[]) {
    for (const route0 of routes) {
      const route = normalizedRoute(route0);
      const upstreams = route.backends.flatMap((b) => (b.address === undefined ? [] : [{ backend: b, key: backendKey(b.address, b.port), address: b.address }]));
      const list = this.byHost.get(route.hostname) ?? [];
      list.push({ route, upstreams, next: 0 });
      this.byHost.set(route.hostname, list);
    }
    // Longest prefix first; ties (none are stored, core refuses them) by name for determinism.
    for (const list of this.byHost.values()) list.sort((a, b) => b.route.path.length - a.route.path.length || a.route.name.localeCompare(b.route.name));
    this.size = routes.length;
  }

  static readonly empty = new RouteTable([]);

  /** The routes of the host a request names: exact, else the wildcard one label up. */
  hostRoutes(host: string): CompiledRoute[] | undefined {
    const exact = this.byHost.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    return dot < 0 ? undefined : this.byHost.get(`*${host.slice(dot)}`);
  }

  match(host: string, path: string): CompiledRoute | undefined {
    const routes = this.hostRoutes(host);
    if (!routes) return undefined;
    for (const r of routes) if (pathMatches(r.route.path, path)) return r;
    return undefined;
  }

  /**
   * Route a request: normalise its origin-form target once (normalizeTarget),
   * then match host and the normalised path. `path` is what is forwarded
   * (before --strip-path); a target refused by normalisation is a 400.
   */
  resolve(host: string, target: string): { r: CompiledRoute | undefined; path: string } | Refusal {
    const path = normalizeTarget(target);
    if (typeof path !== 'string') return path;
    return { r: this.match(host, path), path };
  }

  /** TLS mode of a host name (routes of one host share it), for SNI decisions. */
  tlsOf(host: string): IngressRoute['tls'] | undefined {
    return this.hostRoutes(host)?.[0]?.route.tls;
  }

  routes(): CompiledRoute[] {
    return [...this.byHost.values()].flat();
  }
}

/**
 * A route whose prefix is spelled as requests are after normalizeTarget
 * ("/caf%c3%a9" → "/caf%C3%A9", "/%7Eu" → "/~u"), so they can match it.
 */
function normalizedRoute(route: IngressRoute): IngressRoute {
  const p = normalizeTarget(route.path);
  if (typeof p !== 'string' || p === route.path) return route;
  return { ...route, path: p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p };
}

/**
 * "/v1" matches "/v1", "/v1/…", "/v1?…" but not "/v10"; "/" matches everything.
 * `path` is a normalised target (normalizeTarget): matching the raw one
 * would let "/v1/../admin" reach the /v1 backend.
 */
export function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length) return true;
  const c = path.charCodeAt(prefix.length);
  return c === 47 /* / */ || c === 63 /* ? */;
}

/** "/v1/users?x" → "/users?x"; "/v1" → "/"; "/v1?x" → "/?x". */
export function stripPrefix(prefix: string, path: string): string {
  if (prefix === '/') return path;
  const rest = path.slice(prefix.length);
  if (rest === '') return '/';
  return rest.startsWith('?') ? `/${rest}` : rest;
}

/**
 * The host name a Host header (or :authority) names: lower case, without
 * port or trailing dot; undefined if it is not a valid Host (parseHost says why).
 */
export function normalizeHost(value: string | undefined): string | undefined {
  const h = parseHost(value);
  return 'error' in h ? undefined : h.name;
}

/** Pick the next healthy upstream, round robin; undefined when none is usable. */
export function pickUpstream(r: CompiledRoute, down: ReadonlySet<string>): CompiledRoute['upstreams'][number] | undefined {
  const n = r.upstreams.length;
  if (n === 1) {
    const only = r.upstreams[0]!;
    return down.has(only.key) ? undefined : only;
  }
  for (let i = 0; i < n; i++) {
    const u = r.upstreams[(r.next + i) % n]!;
    if (!down.has(u.key)) {
      r.next = (r.next + i + 1) % n;
      return u;
    }
  }
  return undefined;
}
