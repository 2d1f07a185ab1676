import * as net from 'node:net';
import type { IngressBackend, IngressRoute } from '@volt/sdk';
import type { IngressRouteRecord, VoltState } from '../../state/types';
import { errorMessage } from '@volt/sdk';

/**
 * The address a backend target names now: an IP literal as it is, a
 * workload by its first attachment. Which family (route `--family`):
 * - absent: IPv4 (the first attachment's v4 address); a workload that has no
 *   v4 address anywhere but a v6 one is reached over IPv6;
 * - 6: the v6 address of the first attachment that has one (none: unresolved);
 * - 4: the v4 address only.
 */
export function resolveTarget(state: VoltState, target: string, family?: 4 | 6): string | undefined {
  if (net.isIP(target) !== 0) return target;
  const mine = state.attachments.filter((a) => a.workload === target);
  const v4 = mine.find((a) => a.ip !== '')?.ip;
  const v6 = mine.find((a) => a.ip6 !== undefined)?.ip6;
  if (family === 6) return v6;
  if (family === 4) return v4;
  return v4 ?? v6;
}

/** "IPv6 address", for messages about a route's --family. */
export function familyWords(family: 4 | 6 | undefined): string {
  return family === 6 ? 'IPv6 address' : family === 4 ? 'IPv4 address' : 'address';
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
      const address = resolveTarget(state, b.target, rec.family);
      return address === undefined ? { target: b.target, port: b.port } : { target: b.target, address, port: b.port };
    });
    for (const b of backends) {
      if (b.address !== undefined) continue;
      const connected = state.attachments.some((a) => a.workload === b.target);
      problems.push(
        connected
          ? `route "${rec.name}": backend workload "${b.target}" has no ${familyWords(rec.family)} (--family ${rec.family ?? 4}; 502 until it has one)`
          : `route "${rec.name}": backend workload "${b.target}" is not connected to any network (502 until it is)`,
      );
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
