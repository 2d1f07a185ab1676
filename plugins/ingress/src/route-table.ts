import type { IngressBackend, IngressRoute } from '@volt/core/dist/drivers/ingress';

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
    for (const route of routes) {
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

  /** TLS mode of a host name (routes of one host share it), for SNI decisions. */
  tlsOf(host: string): IngressRoute['tls'] | undefined {
    return this.hostRoutes(host)?.[0]?.route.tls;
  }

  routes(): CompiledRoute[] {
    return [...this.byHost.values()].flat();
  }
}

/** "/v1" matches "/v1", "/v1/…", "/v1?…" but not "/v10"; "/" matches everything. */
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
 * port or trailing dot; undefined if it is not a plausible host.
 */
export function normalizeHost(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let h = value;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    h = h.slice(1, end);
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  h = h.toLowerCase();
  return h === '' || h.length > 253 ? undefined : h;
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
