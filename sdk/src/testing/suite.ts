import type { DriverClient } from './driver-client';
import type { DriverHostAnswer } from './driver-host';
import type { Sandbox } from './sandbox';
import { diffSnapshots, takeSnapshot, type KernelSnapshot } from './snapshot';

/** A case failed: `reason` says what the driver did that it should not have (or did not do). */
export class CaseFailed extends Error {}

/** A case does not apply to this driver (an optional capability it lacks). */
export class CaseSkipped extends Error {}

export interface SuiteContext {
  sb: Sandbox;
  driver: DriverClient;
  /** Method names the driver implements (capabilities are checked against it). */
  methods: string[];
  /** The kernel state before the case (after the suite's own fixtures). */
  baseline: KernelSnapshot;
  snapshot(): Promise<KernelSnapshot>;
}

export interface SuiteCase {
  name: string;
  run(ctx: SuiteContext): Promise<void>;
}

export interface Suite {
  /** Objects the suite needs that are not the driver's (bridges for TAPs, an address for DNS), made before the baseline. */
  prepare?(sb: Sandbox): Promise<void>;
  /** Best-effort driver tear-downs run after each case (before the kit removes what is left). */
  cleanup?(driver: DriverClient): Promise<void>;
  cases: SuiteCase[];
}

const MAX_DIFF_LINES = 6;

function listDiff(d: string[]): string {
  return d.slice(0, MAX_DIFF_LINES).join('; ') + (d.length > MAX_DIFF_LINES ? `; … ${d.length - MAX_DIFF_LINES} more` : '');
}

export function fail(reason: string): never {
  throw new CaseFailed(reason);
}

/** The call must succeed; its value. */
export function ok<T = unknown>(a: DriverHostAnswer, what: string): T {
  if (!a.ok) fail(`${what} failed: ${a.error?.code ? `${a.error.code}: ` : ''}${a.error?.message ?? 'unknown error'}`);
  return a.value as T;
}

/** The call must fail with a VoltError (a message, a stable E_… code and an exit code). */
export function refused(a: DriverHostAnswer, what: string): void {
  if (a.ok) fail(`${what} was accepted; it should be refused with an error`);
  const e = a.error!;
  if (typeof e.code !== 'string' || !/^E_[A-Z0-9_]+$/.test(e.code) || typeof e.exitCode !== 'number' || e.message.trim() === '') {
    fail(`${what} was refused, but not with a VoltError (code ${e.code ?? 'none'}, exitCode ${e.exitCode ?? 'none'}): ${e.name}: ${e.message}`);
  }
}

/** Two snapshots must be equal; `what` names the comparison for the reason. */
export function same(before: KernelSnapshot, after: KernelSnapshot, what: string): void {
  const d = diffSnapshots(before, after);
  if (d.length > 0) fail(`${what}: ${listDiff(d)}`);
}

export function has(s: KernelSnapshot, part: keyof KernelSnapshot, re: RegExp, what: string): void {
  if (!s[part].some((l) => re.test(l))) fail(`${what} (not in the kernel: ${part} ${re.source})`);
}

/** Bring the sandbox back to `baseline`: delete links and nft tables the case left behind. */
export async function resetTo(sb: Sandbox, baseline: KernelSnapshot): Promise<string[]> {
  const now = await takeSnapshot(sb);
  const base = new Set(baseline.links.map((l) => l.split(' ')[1]));
  for (const l of now.links) {
    const name = l.split(' ')[1]!;
    if (!base.has(name)) await sb.run('ip', ['link', 'del', 'dev', name]);
  }
  const { nftBinary } = await import('./sandbox');
  const { nftTables } = await import('./snapshot');
  const nft = nftBinary();
  if (nft) {
    const before = new Set(nftTables(baseline).map((t) => `${t.family} ${t.name}`));
    for (const t of nftTables(now)) if (!before.has(`${t.family} ${t.name}`)) await sb.run(nft, ['delete', 'table', t.family, t.name]);
  }
  return diffSnapshots(baseline, await takeSnapshot(sb));
}

export { listDiff };
