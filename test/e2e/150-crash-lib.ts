import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { ContainerNs, SandboxHost } from '../harness';

/** Exit code of a process that died by SIGKILL (the harness reports 128 + signal). */
export const KILLED = 137;

/**
 * Harness timeout of a volt command that may queue on the state lock behind many others: volt
 * itself waits up to 5 minutes for the lock (core/src/state/store.ts, E_LOCKED after that), so the
 * harness allows that plus a minute of work, and a lock timeout shows as volt's error, not ours.
 */
export const QUEUED_MS = 6 * 60_000;

export interface StateFile {
  networks: Record<string, { name: string; bridge: string }>;
  attachments: { workload: string; network: string; ip: string; ip6?: string; ifname: string; hostIfname: string; kind?: string }[];
  pending?: PendingRecordJson[];
}

/** The intent journal (store.ts): the pending records, next to state.json, only while there are any. */
export function journalFile(host: SandboxHost): string {
  return path.join(host.root, 'var/lib/volt/journal.json');
}

/** state.json with the pending records of journal.json, as volt reads them. */
export function readState(host: SandboxHost): StateFile {
  const s = JSON.parse(fs.readFileSync(path.join(host.root, 'var/lib/volt/state.json'), 'utf8')) as StateFile;
  assertNoPendingInStateFile(s);
  if (fs.existsSync(journalFile(host))) s.pending = (JSON.parse(fs.readFileSync(journalFile(host), 'utf8')) as { pending: PendingRecordJson[] }).pending;
  return s;
}

/** The records are in the journal, never in the state file (which a journaled change writes once). */
function assertNoPendingInStateFile(s: StateFile): void {
  if (s.pending !== undefined) throw new Error('state.json holds pending records: they belong in journal.json');
}

/** The fields of a pending record (core/src/state/types.ts) the tests read. */
export interface PendingRecordJson {
  op: string;
  object: string;
  steps: { name: string; done: boolean }[];
  attachment?: { workload: string; network: string; ip: string; ip6?: string };
}

interface Link {
  ifname: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; scope?: string }[];
}

/** Global IPv6 addresses of a link (a link-local fe80:: one is the kernel's, not volt's). */
function global6(l: Link | undefined): string[] {
  return (l?.addr_info ?? []).filter((x) => x.family === 'inet6' && x.scope !== 'link' && !x.local.startsWith('fe80:')).map((x) => x.local);
}

/**
 * Every address (IPv4, and global IPv6) held by more than one of these namespaces or the host's
 * bridges, read from the kernel (not from state): "10.30.0.104 on k5/eth0, k8/eth0". Empty when none.
 */
export async function kernelDuplicates(host: SandboxHost, containers: ContainerNs[]): Promise<string[]> {
  const holders = new Map<string, string[]>();
  const add = (ip: string, where: string): void => {
    holders.set(ip, [...(holders.get(ip) ?? []), where]);
  };
  const bridges = await host.execJson<Link[]>('ip', ['-j', 'addr', 'show', 'type', 'bridge']);
  for (const l of bridges) for (const a of l.addr_info ?? []) if (a.family === 'inet' || !a.local.startsWith('fe80:')) add(a.local, `host/${l.ifname}`);
  const all = await Promise.all(containers.map(async (c) => [c, await c.execJson<Link[]>('ip', ['-j', 'addr', 'show'])] as const));
  for (const [c, links] of all) {
    for (const l of links) {
      if (l.ifname === 'lo') continue;
      for (const a of l.addr_info ?? []) if (a.family === 'inet') add(a.local, `${c.netns}/${l.ifname}`);
      for (const ip of global6(l)) add(ip, `${c.netns}/${l.ifname}`);
    }
  }
  return [...holders].filter(([, w]) => w.length > 1).map(([ip, w]) => `${ip} on ${w.join(', ')}`);
}

/**
 * After a crash and `volt net up`: check is clean (no drift, no findings), nothing is pending,
 * every veth on the host and every link inside a container is one state names, each with
 * exactly its recorded address, and no two workloads share an address.
 */
export async function assertConsistent(t: ExecutionContext, host: SandboxHost, containers: (ContainerNs | [string, ContainerNs])[]): Promise<StateFile> {
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 0, `net check after recovery:\n${check.stdout}${check.stderr}`);
  const report = JSON.parse(check.stdout || '{}') as { ok?: boolean; findings?: unknown[] };
  t.deepEqual(report.findings ?? [], []);
  const state = readState(host);
  t.is(state.pending, undefined, 'no pending record left');
  const hostVeths = (await host.execJson<Link[]>('ip', ['-j', '-d', 'link', 'show', 'type', 'veth'])).map((l) => l.ifname).sort();
  t.deepEqual(hostVeths, state.attachments.filter((a) => a.kind !== 'tap').map((a) => a.hostIfname).sort(), 'host veths are exactly the (container) attachments');
  // A bare namespace is a workload by its netns name; a pair names a registered container.
  for (const entry of containers) {
    const [name, c] = Array.isArray(entry) ? entry : [entry.netns, entry];
    const mine = state.attachments.filter((a) => a.workload === name);
    const links = (await c.execJson<Link[]>('ip', ['-j', 'addr', 'show'])).filter((l) => l.ifname !== 'lo');
    t.deepEqual(links.map((l) => l.ifname).sort(), mine.map((a) => a.ifname).sort(), `links inside ${c.netns}`);
    for (const a of mine) {
      const l = links.find((x) => x.ifname === a.ifname);
      t.deepEqual((l?.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => x.local), [a.ip], `address of ${a.ifname} in ${c.netns}`);
      // IPv6: exactly the recorded address (dual-stack network), none for an IPv4-only one.
      t.deepEqual(global6(l), a.ip6 === undefined ? [] : [a.ip6], `IPv6 address of ${a.ifname} in ${c.netns}`);
    }
  }
  const ips = state.attachments.map((a) => `${a.network}/${a.ip}`);
  t.is(new Set(ips).size, ips.length, `no duplicate address: ${ips.join(' ')}`);
  const ips6 = state.attachments.flatMap((a) => (a.ip6 === undefined ? [] : [`${a.network}/${a.ip6}`]));
  t.is(new Set(ips6).size, ips6.length, `no duplicate IPv6 address: ${ips6.join(' ')}`);
  const bare = containers.map((e) => (Array.isArray(e) ? e[1] : e));
  t.deepEqual(await kernelDuplicates(host, bare), [], 'no address is held twice in the kernel');
  return state;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill delays. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
