import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VoltConfig } from '../../config/defaults';
import { errorMessage } from '@volt/sdk';
import { voltPaths, type VoltPaths } from '@volt/sdk';
import type { VoltState } from '../../state/types';
import { readIfExists } from '../host/files';
import type { AttachmentListener } from '../attachments/workload-service';

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
 * The volt-dns addresses for a workload: the v4 gateway of each of its
 * networks in attachment order, then the v6 gateways of its dual-stack
 * networks (glibc reads three: v4 first, so three v4 networks still get one
 * server each; a single dual-stack network gets both).
 */
export function nameserversOf(state: VoltState, workload: string): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of state.attachments) {
    if (a.workload !== workload) continue;
    const n = state.networks[a.network];
    if (n === undefined) continue;
    if (!v4.includes(n.gateway)) v4.push(n.gateway);
    // Only when the workload has a v6 address there: without one it could not reach the v6 gateway.
    if (n.gateway6 !== undefined && a.ip6 !== undefined && !v6.includes(n.gateway6)) v6.push(n.gateway6);
  }
  return [...v4, ...v6];
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
  if (w?.type !== 'container') return;
  const gateways = nameserversOf(state, workload);
  if (w.source.kind === 'pid' || w.source.kind === 'nspawn') {
    syncOwnRoot(workload, w.source.kind === 'pid' ? w.source.pid : w.source.leader, gateways, config, warn);
    return;
  }
  if (w.source.kind !== 'netns') return;
  const file = resolvConfPath(paths, w.source.name);
  try {
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

/** Where the container's own resolv.conf was kept while volt's replaced it. */
export const SAVED_SUFFIX = '.volt-saved';

/**
 * A container with its own mount namespace (registered by PID, an nspawn
 * machine): its /etc/resolv.conf, reached through /proc/PID/root, is replaced
 * by volt's (the original kept as resolv.conf.volt-saved and put back when the
 * container leaves its last network). Nothing is written when the process
 * shares this process's mount namespace (its /etc is the host's), when /etc
 * in the container is a symlink (it could point out of the container), or
 * when resolv.conf is a mount point (nspawn --resolv-conf=bind-*: the host's file).
 */
function syncOwnRoot(workload: string, pid: number, gateways: string[], config: VoltConfig, warn: (m: string) => void): void {
  const root = `/proc/${pid}/root`;
  const etc = `${root}/etc`;
  const file = `${etc}/resolv.conf`;
  const saved = `${file}${SAVED_SUFFIX}`;
  try {
    let mnt: string;
    try {
      mnt = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
    } catch {
      return; // the process is gone: nothing to configure
    }
    if (mnt === fs.readlinkSync('/proc/self/ns/mnt')) {
      if (gateways.length > 0 && config.network.dns.enabled) {
        warn(`DNS for "${workload}": pid ${pid} shares the host's /etc, so volt does not write its resolv.conf; point it at ${gateways[0]} (volt-dns) yourself`);
      }
      return;
    }
    const etcStat = fs.lstatSync(etc, { throwIfNoEntry: false });
    if (etcStat === undefined || !etcStat.isDirectory()) {
      if (gateways.length > 0 && config.network.dns.enabled) warn(`DNS for "${workload}": its /etc is not a directory; resolv.conf not written (nameserver ${gateways[0]})`);
      return;
    }
    const existing = readIfExistsNoFollow(file);
    const ours = existing?.startsWith(RESOLV_CONF_MARKER) === true;
    if (gateways.length === 0 || !config.network.dns.enabled) {
      if (!ours) return;
      if (fs.existsSync(saved)) fs.renameSync(saved, file);
      else fs.rmSync(file, { force: true });
      return;
    }
    const text = resolvConfText(workload, gateways, config.network.dns.search_domains);
    if (text === existing) return;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    try {
      // The original (a file or a symlink, never followed) is kept once.
      if (!ours && fs.lstatSync(file, { throwIfNoEntry: false }) !== undefined && !fs.existsSync(saved)) fs.linkSync(file, saved);
      fs.renameSync(tmp, file);
    } catch (e: unknown) {
      fs.rmSync(tmp, { force: true });
      if ((e as NodeJS.ErrnoException).code === 'EBUSY' || (e as NodeJS.ErrnoException).code === 'EXDEV') {
        warn(`DNS for "${workload}": its /etc/resolv.conf is a mount point (nspawn --resolv-conf=bind-…?); left as it is, point it at ${gateways[0]} (volt-dns), e.g. nspawn --resolv-conf=off`);
        return;
      }
      throw e;
    }
  } catch (e: unknown) {
    warn(`DNS for "${workload}": could not update ${file}: ${errorMessage(e)}`);
  }
}

/** The file's text; undefined when missing or not a regular file (a symlink is not followed). */
function readIfExistsNoFollow(file: string): string | undefined {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return undefined;
  return fs.readFileSync(file, 'utf8');
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
