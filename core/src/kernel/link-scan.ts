import { linkGone, runCommand } from '@volt/sdk/kernel';

/**
 * Links as the leftover scan (services/leftovers.ts) needs them: kind, bridge,
 * ownership alias (`ip link set X alias volt:…`) and IPv4 addresses with
 * their prefix. One `ip -j -d addr show`, in the host or inside a namespace.
 */
export interface ScannedLink {
  ifname: string;
  kind?: string;
  master?: string;
  /** IFLA_IFALIAS; volt's links carry "volt:…". */
  alias?: string;
  /** IPv4 addresses of global scope, "10.30.0.10/24". */
  addresses: string[];
  /** IPv6 addresses of global scope (no link-local), as the kernel prints them: "fd00:30::64/64". */
  addresses6?: string[];
}

interface RawLink {
  ifname?: string;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

export function parseScan(json: string): ScannedLink[] {
  const raw: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
  if (!Array.isArray(raw)) return [];
  return (raw as RawLink[])
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => {
      const v6 = (l.addr_info ?? [])
        .filter((a) => a.family === 'inet6' && a.local !== undefined && a.scope === 'global')
        .map((a) => `${a.local}/${a.prefixlen ?? 128}`);
      return {
        ifname: l.ifname as string,
        kind: l.linkinfo?.info_kind,
        master: l.master,
        alias: typeof l.ifalias === 'string' && l.ifalias !== '' ? l.ifalias : undefined,
        addresses: (l.addr_info ?? [])
          .filter((a) => a.family === 'inet' && a.local !== undefined && a.scope !== 'host' && a.scope !== 'link')
          .map((a) => `${a.local}/${a.prefixlen ?? 32}`),
        ...(v6.length > 0 ? { addresses6: v6 } : {}),
      };
    });
}

/** Links of the host (no `nsFile`) or of the namespace at `nsFile`; undefined when it cannot be read. */
export async function scanLinks(nsFile?: string): Promise<ScannedLink[] | undefined> {
  const ip = ['-j', '-d', 'addr', 'show'];
  const r = nsFile === undefined ? await runCommand('ip', ip) : await runCommand('nsenter', [`--net=${nsFile}`, 'ip', ...ip]);
  if (r.code !== 0) return undefined;
  try {
    return parseScan(r.stdout);
  } catch {
    return undefined;
  }
}

/** The link or address is gone (linkGone), or the namespace is (nsenter: "No such file or directory"). */
const gone = (stderr: string): boolean => linkGone(stderr) || /No such/i.test(stderr);

/** `ip link del` (inside `nsFile` when given); a link that is already gone is success. */
export async function deleteLinkIn(nsFile: string | undefined, ifname: string): Promise<void> {
  const args = ['link', 'del', 'dev', ifname];
  const r = nsFile === undefined ? await runCommand('ip', args) : await runCommand('nsenter', [`--net=${nsFile}`, 'ip', ...args]);
  if (r.code !== 0 && !gone(r.stderr)) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** `ip addr del` inside `nsFile`; an address (or link) that is already gone is success. */
export async function deleteAddressIn(nsFile: string, ifname: string, address: string): Promise<void> {
  const args = ['addr', 'del', address, 'dev', ifname];
  const r = await runCommand('nsenter', [`--net=${nsFile}`, 'ip', ...args]);
  if (r.code !== 0 && !gone(r.stderr)) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
}
