import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VoltConfig } from '../config/defaults';
import { errorMessage } from '@volt/sdk';
import { voltPaths, type VoltPaths } from '@volt/sdk';
import type { VoltState } from '../state/types';
import type { AttachmentListener } from './workload-service';

/** First line of every resolv.conf volt writes: only files carrying it are rewritten or removed. */
export const RESOLV_CONF_MARKER = '# Written by volt';

/** glibc reads at most three nameserver lines (MAXNS). */
const MAX_NAMESERVERS = 3;

/**
 * `/etc/netns/NAME/resolv.conf` under <root> for a container that is a named
 * namespace: `ip netns exec NAME` bind-mounts it over /etc/resolv.conf, so
 * programs in the container ask volt-dns on their networks' gateways and
 * search the configured domains. Other containers (pid, path, nspawn) manage
 * their own /etc; `volt container inspect` shows them the server instead.
 */
export function resolvConfPath(paths: VoltPaths, netnsName: string): string {
  return path.join(paths.netnsEtcDir, netnsName, 'resolv.conf');
}

/** The file for these gateways (in attachment order: the first network carries the default route). */
export function resolvConfText(workload: string, nameservers: readonly string[], searchDomains: readonly string[]): string {
  const lines = [
    `${RESOLV_CONF_MARKER} for container "${workload}": volt-dns on the gateway of each of its networks.`,
    '# volt rewrites it on `volt net connect` and removes it when the container leaves its last network.',
    ...nameservers.slice(0, MAX_NAMESERVERS).map((ns) => `nameserver ${ns}`),
  ];
  if (searchDomains.length > 0) lines.push(`search ${searchDomains.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Bring one workload's resolv.conf in line with `state` (called inside the
 * connect/disconnect transaction, after attachments changed): written while
 * a named-namespace container has networks and DNS is enabled, removed
 * otherwise. A file volt did not write is left alone. Never throws: DNS
 * settings must not undo a connect whose links are already in place.
 */
export function syncResolvConf(state: VoltState, workload: string, config: VoltConfig, warn: (m: string) => void, paths: VoltPaths = voltPaths()): void {
  const w = state.workloads[workload];
  if (w?.type !== 'container' || w.source.kind !== 'netns') return;
  const file = resolvConfPath(paths, w.source.name);
  try {
    const gateways: string[] = [];
    for (const a of state.attachments) {
      const gw = a.workload === workload ? state.networks[a.network]?.gateway : undefined;
      if (gw !== undefined && !gateways.includes(gw)) gateways.push(gw);
    }
    const existing = readIfExists(file);
    if (existing !== undefined && !existing.startsWith(RESOLV_CONF_MARKER)) {
      warn(`DNS for "${workload}": ${file} was not written by volt; left as it is (it should name ${gateways[0] ?? 'the gateway'} as nameserver)`);
      return;
    }
    if (gateways.length === 0 || !config.network.dns.enabled) {
      if (existing !== undefined) removeFile(file);
      return;
    }
    const text = resolvConfText(workload, gateways, config.network.dns.search_domains);
    if (text === existing) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e: unknown) {
    warn(`DNS for "${workload}": could not update ${file}: ${errorMessage(e)}`);
  }
}

/** The workload service's afterChange hook: every workload whose attachments changed gets its file synced. */
export function resolvConfListener(paths: VoltPaths, config: VoltConfig, warn: (m: string) => void): AttachmentListener {
  return async (state, change) => {
    for (const name of new Set([...change.added, ...change.removed].map((a) => a.workload))) syncResolvConf(state, name, config, warn, paths);
  };
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Remove the file, and its /etc/netns/NAME directory when nothing else is in it. */
function removeFile(file: string): void {
  fs.rmSync(file, { force: true });
  try {
    fs.rmdirSync(path.dirname(file));
  } catch {
    /* not empty: other files of the namespace stay */
  }
}
