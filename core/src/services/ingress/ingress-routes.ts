import * as net from 'node:net';
import type { IngressBackend, IngressRoute } from '@volt/sdk';
import type { IngressRouteRecord, VoltState } from '../../state/types';
import { errorMessage } from '@volt/sdk';

/** The address a backend target names now: an IP literal as it is, a workload by its first attachment. */
export function resolveTarget(state: VoltState, target: string): string | undefined {
  if (net.isIP(target) !== 0) return target;
  return state.attachments.find((a) => a.workload === target)?.ip;
}

export interface ResolvedTable {
  routes: IngressRoute[];
  /** Routes that could not be applied as stored, and why (shown by reload and status). */
  problems: string[];
}

/**
 * Desired state → the routing table the proxy applies: workloads become
 * their current addresses, manual certificates are read from their files.
 * A route whose certificate cannot be read is left out (and reported)
 * rather than served with the wrong certificate.
 */
export function resolveRoutes(state: VoltState, readFile: (file: string) => string): ResolvedTable {
  const routes: IngressRoute[] = [];
  const problems: string[] = [];
  const all = Object.values(state.ingress.routes);
  for (const rec of all.sort((a, b) => a.name.localeCompare(b.name))) {
    // Its HTTPS twin serves the hostname; the proxy redirects HTTP requests to it.
    if (redirectedToHttps(all, rec)) continue;
    const backends: IngressBackend[] = rec.backends.map((b) => {
      const address = resolveTarget(state, b.target);
      return address === undefined ? { target: b.target, port: b.port } : { target: b.target, address, port: b.port };
    });
    for (const b of backends) {
      if (b.address === undefined) problems.push(`route "${rec.name}": backend workload "${b.target}" is not connected to any network (502 until it is)`);
    }
    const route: IngressRoute = {
      name: rec.name,
      hostname: rec.hostname,
      path: rec.path,
      stripPath: rec.stripPath,
      backends,
      tls: rec.tls,
      timeoutMs: Math.round(rec.timeoutSeconds * 1000),
    };
    if (rec.tls === 'manual') {
      if (rec.cert === undefined || rec.key === undefined) {
        problems.push(`route "${rec.name}": tls manual without --cert/--key; left out`);
        continue;
      }
      try {
        route.certificate = { certPem: readFile(rec.cert), keyPem: readFile(rec.key), source: rec.cert };
      } catch (e: unknown) {
        problems.push(`route "${rec.name}": cannot read its certificate: ${errorMessage(e)}; left out`);
        continue;
      }
    }
    routes.push(route);
  }
  return { routes, problems };
}

/** "web:8080", "[fd00::5]:8080" */
export function formatBackend(b: { target: string; port: number }): string {
  return net.isIPv6(b.target) ? `[${b.target}]:${b.port}` : `${b.target}:${b.port}`;
}

const terminatesTls = (tls: IngressRouteRecord['tls']): boolean => tls === 'auto' || tls === 'manual';

/**
 * A plain-HTTP route that has an HTTPS twin (same hostname and path, --tls
 * auto or manual): the guide's `web` beside `secure-web`. The hostname is
 * then served over HTTPS and its HTTP requests are redirected there (ACME
 * challenges excepted), so the plain route is not given to the proxy.
 */
export function redirectedToHttps(routes: readonly IngressRouteRecord[], r: IngressRouteRecord): IngressRouteRecord | undefined {
  if (r.tls !== 'none') return undefined;
  return routes.find((x) => x.name !== r.name && x.hostname === r.hostname && x.path === r.path && terminatesTls(x.tls));
}

/** Routes that would compete with `rec` for the same requests, or disagree on the TLS of its hostname. */
export function routeConflicts(routes: IngressRouteRecord[], rec: IngressRouteRecord): { sameMatch?: IngressRouteRecord; tlsMismatch?: IngressRouteRecord; passthroughShared?: IngressRouteRecord } {
  const others = routes.filter((r) => r.name !== rec.name && r.hostname === rec.hostname);
  const all = [...others, rec];
  const twins = (a: IngressRouteRecord, b: IngressRouteRecord): boolean =>
    a.path === b.path && ((a.tls === 'none' && terminatesTls(b.tls)) || (terminatesTls(a.tls) && b.tls === 'none'));
  return {
    sameMatch: others.find((r) => r.path === rec.path && !twins(r, rec)),
    // Plain routes with an HTTPS twin are redirected, so they do not count for the hostname's TLS mode.
    tlsMismatch: redirectedToHttps(all, rec) ? undefined : others.find((r) => !redirectedToHttps(all, r) && r.tls !== rec.tls),
    passthroughShared: rec.tls === 'passthrough' ? others[0] : others.find((r) => r.tls === 'passthrough'),
  };
}
