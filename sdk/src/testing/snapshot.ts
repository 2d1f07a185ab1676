import type { Sandbox } from './sandbox';
import { nftBinary } from './sandbox';

/*
 * What the kit compares: the kernel state a driver may change inside the sandbox, without
 * counters, timers and carrier flags that move on their own. Each part is a sorted list of
 * one-line descriptions, so a difference reads as "+ link x …" / "- address …".
 */

export interface KernelSnapshot {
  links: string[];
  addresses: string[];
  routes: string[];
  /** One line per nft table, chain, set, map and rule (handles dropped, set elements sorted). */
  nft: string[];
}

interface RawLink {
  ifname?: string;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function parse<T>(text: string, fallback: T): T {
  try {
    return text.trim() === '' ? fallback : (JSON.parse(text) as T);
  } catch {
    return fallback;
  }
}

/** Without handles, with set elements in a stable order. */
function semantic(v: Json): Json {
  if (Array.isArray(v)) return v.map(semantic);
  if (v === null || typeof v !== 'object') return v;
  const out: { [k: string]: Json } = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === 'handle') continue;
    out[k] = k === 'elem' && Array.isArray(val) ? val.map(semantic).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : semantic(val);
  }
  return out;
}

export async function takeSnapshot(sb: Sandbox): Promise<KernelSnapshot> {
  const linksRaw = parse<RawLink[]>((await sb.run('ip', ['-j', '-d', 'addr', 'show'])).stdout, []);
  const links: string[] = [];
  const addresses: string[] = [];
  for (const l of linksRaw) {
    if (typeof l.ifname !== 'string') continue;
    const kind = l.linkinfo?.info_kind ?? 'device';
    const up = (l.flags ?? []).includes('UP') ? 'up' : 'down';
    const data = l.linkinfo?.info_data ?? {};
    const extra: string[] = [];
    if (kind === 'bridge') extra.push(`stp ${String(data.stp_state ?? '?')}`);
    if (kind === 'tun') extra.push(`${String(data.type ?? '?')}`, data.multi_queue === true ? 'multi_queue' : 'single_queue');
    if (kind === 'vlan') extra.push(`id ${String(data.id ?? '?')}`);
    links.push(
      // A TAP's host-side MAC is the kernel's random pick (the spec's MAC is the guest's): not compared.
      [`link ${l.ifname}`, kind, up, `mtu ${l.mtu ?? '?'}`, `mac ${kind === 'tun' ? 'random' : (l.address ?? '-')}`, `master ${l.master ?? '-'}`, `alias ${l.ifalias ?? '-'}`, ...extra].join(' '),
    );
    for (const a of l.addr_info ?? []) {
      // IPv6 link-local addresses come and go with carrier; the kit compares what drivers set.
      if (a.scope === 'link' && a.family === 'inet6') continue;
      addresses.push(`address ${a.local}/${a.prefixlen} dev ${l.ifname} (${a.family} ${a.scope})`);
    }
  }
  const routes: string[] = [];
  for (const fam of ['-4', '-6']) {
    const rs = parse<Record<string, unknown>[]>((await sb.run('ip', [fam, '-j', 'route', 'show', 'table', 'all'])).stdout, []);
    for (const r of rs) {
      const table = String(r.table ?? 'main');
      // The kernel's own local/multicast routes follow addresses and links; compared there.
      if (table === 'local' || r.type === 'multicast' || (fam === '-6' && String(r.dst ?? '').startsWith('fe80'))) continue;
      routes.push(`route ${fam === '-4' ? 'inet' : 'inet6'} ${String(r.type ?? 'unicast')} ${String(r.dst)} dev ${String(r.dev ?? '-')} via ${String(r.gateway ?? '-')} table ${table} proto ${String(r.protocol ?? '-')}`);
    }
  }
  const nft: string[] = [];
  const bin = nftBinary();
  if (bin) {
    const r = await sb.run(bin, ['-j', 'list', 'ruleset']);
    const items = parse<{ nftables?: Json[] }>(r.stdout, {}).nftables ?? [];
    for (const item of items) {
      if (item === null || typeof item !== 'object' || Array.isArray(item) || 'metainfo' in item) continue;
      nft.push(`nft ${JSON.stringify(semantic(item))}`);
    }
  }
  return { links: links.sort(), addresses: addresses.sort(), routes: routes.sort(), nft: nft.sort() };
}

/** What differs between two snapshots, one line each ("+ …" only in `after`, "- …" only in `before`); empty when equal. */
export function diffSnapshots(before: KernelSnapshot, after: KernelSnapshot): string[] {
  const out: string[] = [];
  for (const part of ['links', 'addresses', 'routes', 'nft'] as const) {
    const a = new Set(before[part]);
    const b = new Set(after[part]);
    for (const x of before[part]) if (!b.has(x)) out.push(`- ${x}`);
    for (const x of after[part]) if (!a.has(x)) out.push(`+ ${x}`);
  }
  return out;
}

/** The nft tables in a snapshot ("inet volt"), as family and name. */
export function nftTables(s: KernelSnapshot): { family: string; name: string }[] {
  const out: { family: string; name: string }[] = [];
  for (const line of s.nft) {
    const item = JSON.parse(line.slice(4)) as { table?: { family: string; name: string } };
    if (item.table) out.push({ family: item.table.family, name: item.table.name });
  }
  return out;
}
