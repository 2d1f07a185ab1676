import * as fs from 'node:fs';
import { isIfname, runCommand } from '@volt/sdk/kernel';
import type { BridgeFiltering } from '@volt/sdk';

/**
 * Two per-bridge kernel settings the overlay depends on. Both are read and
 * written in the network namespace the process runs in: /proc/sys, /proc/net
 * and netlink follow the caller's namespace; /sys follows the namespace it
 * was mounted in (`ip netns exec` remounts it), so it is only a fast path,
 * used when the bridge's ifindex there matches /proc/net/igmp's.
 *
 * - nf_call_iptables (bridge option): frames switched between two ports of a
 *   bridge pass the IPv4 forward hook (br_netfilter), so policies and forward
 *   rules judge same-network traffic too. Set per bridge, not through the
 *   namespace-wide net.bridge.bridge-nf-call-iptables, so other bridges on
 *   the host (Docker's, libvirt's) are not affected by volt.
 * - route_localnet (IPv4 conf): the host's own connections to 127.0.0.1:PORT
 *   may be DNATed out through the bridge (and their replies come back).
 */

export interface BridgeSettings {
  bridge: string;
  exists: boolean;
  nfCallIptables?: boolean;
  /** The same for IPv6 (nf_call_ip6tables): set on the bridges of dual-stack networks. */
  nfCallIp6tables?: boolean;
  routeLocalnet?: boolean;
}

const NS_SYSCTL6 = '/proc/sys/net/bridge/bridge-nf-call-ip6tables';
const NS_SYSCTL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

function readFlag(file: string): boolean | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

interface RawBridge {
  ifname?: string;
  linkinfo?: { info_kind?: string; info_data?: { nf_call_iptables?: number; nf_call_ip6tables?: number } };
}

/** Interface index by name in this namespace, from /proc/net/igmp (every interface with an IPv4 address is there). */
function igmpIndexes(): Map<string, string> | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/igmp', 'utf8');
  } catch {
    return undefined;
  }
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\S+)\s+:/.exec(line);
    if (m) out.set(m[2] as string, m[1] as string);
  }
  return out;
}

/**
 * The fast path: /sys/class/net/<bridge>/bridge/nf_call_iptables when /sys
 * shows this namespace. Avoids spawning `ip`, which costs tens of
 * milliseconds from a process with a large heap; undefined means "ask netlink".
 */
function readFromSys(bridge: string, indexes: Map<string, string> | undefined): BridgeSettings | undefined {
  if (!indexes || !isIfname(bridge)) return undefined;
  const index = indexes.get(bridge);
  if (index === undefined) return undefined;
  try {
    if (fs.readFileSync(`/sys/class/net/${bridge}/ifindex`, 'utf8').trim() !== index) return undefined;
    const nf = fs.readFileSync(`/sys/class/net/${bridge}/bridge/nf_call_iptables`, 'utf8').trim();
    const nf6 = fs.readFileSync(`/sys/class/net/${bridge}/bridge/nf_call_ip6tables`, 'utf8').trim();
    return { bridge, exists: true, nfCallIptables: nf === '1', nfCallIp6tables: nf6 === '1', routeLocalnet: readFlag(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`) };
  } catch {
    return undefined;
  }
}

export async function readBridgeSettings(bridges: readonly string[]): Promise<BridgeSettings[]> {
  if (bridges.length === 0) return [];
  const indexes = igmpIndexes();
  const fast = bridges.map((b) => readFromSys(b, indexes));
  if (fast.every((s): s is BridgeSettings => s !== undefined)) return fast;
  const r = await runCommand('ip', ['-d', '-j', 'link', 'show', 'type', 'bridge']);
  const listed = new Map<string, RawBridge>();
  if (r.code === 0) {
    try {
      for (const b of JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as RawBridge[]) if (b.ifname) listed.set(b.ifname, b);
    } catch {
      /* unreadable: every bridge reads as missing below */
    }
  }
  return bridges.map((bridge) => {
    const b = listed.get(bridge);
    if (!b) return { bridge, exists: false };
    const nf = b.linkinfo?.info_data?.nf_call_iptables;
    const nf6 = b.linkinfo?.info_data?.nf_call_ip6tables;
    return {
      bridge,
      exists: true,
      nfCallIptables: nf === undefined ? undefined : nf === 1,
      nfCallIp6tables: nf6 === undefined ? undefined : nf6 === 1,
      routeLocalnet: isIfname(bridge) ? readFlag(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`) : undefined,
    };
  });
}

/** br_netfilter loaded (its sysctls exist) and the namespace-wide switch. */
export function brNetfilter(): { loaded: boolean; namespaceWide: boolean } {
  const v = readFlag(NS_SYSCTL);
  return { loaded: v !== undefined, namespaceWide: v === true };
}

/** Load br_netfilter if it is a module that is not loaded yet; true when its sysctls exist afterwards. */
export async function ensureBrNetfilter(): Promise<boolean> {
  if (brNetfilter().loaded) return true;
  await runCommand('modprobe', ['br_netfilter'], { timeoutMs: 10_000 });
  return brNetfilter().loaded;
}

export function filteringOf(s: BridgeSettings): BridgeFiltering {
  const ns = brNetfilter();
  if (!s.exists) return { bridge: s.bridge, filtered: false, reason: `bridge ${s.bridge} does not exist` };
  if (!ns.loaded) return { bridge: s.bridge, filtered: false, reason: 'br_netfilter is not available in this kernel' };
  if (s.nfCallIptables) return { bridge: s.bridge, filtered: true, reason: 'per-bridge nf_call_iptables' };
  if (ns.namespaceWide) return { bridge: s.bridge, filtered: true, reason: 'net.bridge.bridge-nf-call-iptables=1' };
  return { bridge: s.bridge, filtered: false, reason: `br_netfilter is off for ${s.bridge} (nf_call_iptables 0, net.bridge.bridge-nf-call-iptables=0)` };
}

/** The same question for IPv6 on a dual-stack network's bridge (nf_call_ip6tables). */
export function filtering6Of(s: BridgeSettings): { filtered: boolean; reason: string } {
  const ns = brNetfilter();
  if (!s.exists) return { filtered: false, reason: `bridge ${s.bridge} does not exist` };
  if (!ns.loaded) return { filtered: false, reason: 'br_netfilter is not available in this kernel' };
  if (s.nfCallIp6tables) return { filtered: true, reason: 'per-bridge nf_call_ip6tables' };
  if (readFlag(NS_SYSCTL6) === true) return { filtered: true, reason: 'net.bridge.bridge-nf-call-ip6tables=1' };
  return { filtered: false, reason: `br_netfilter is off for IPv6 on ${s.bridge} (nf_call_ip6tables 0, net.bridge.bridge-nf-call-ip6tables=0)` };
}

export interface SettingsChange {
  bridge: string;
  nfCallIptables?: boolean;
  nfCallIp6tables?: boolean;
  routeLocalnet?: boolean;
}

/** Apply settings (nf_call_iptables in one `ip -batch`, route_localnet through /proc/sys). */
export async function writeBridgeSettings(changes: readonly SettingsChange[]): Promise<void> {
  const batch = changes
    .filter((c) => c.nfCallIptables !== undefined || c.nfCallIp6tables !== undefined)
    .map(
      (c) =>
        `link set dev ${c.bridge} type bridge${c.nfCallIptables === undefined ? '' : ` nf_call_iptables ${c.nfCallIptables ? 1 : 0}`}${c.nfCallIp6tables === undefined ? '' : ` nf_call_ip6tables ${c.nfCallIp6tables ? 1 : 0}`}`,
    );
  if (batch.length > 0) {
    const r = await runCommand('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
    if (r.code !== 0) throw new Error(`set nf_call_iptables: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
  }
  for (const c of changes) {
    if (c.routeLocalnet === undefined) continue;
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${c.bridge}/route_localnet`, c.routeLocalnet ? '1' : '0');
  }
}
