/** Drives the nftables firewall driver inside a test namespace through nftables-runner.js. */
import * as path from 'node:path';
import type { NftablesFirewall } from '@volt/plugin-nftables/dist/nftables-firewall';
import { runCommand } from '@volt/sdk/kernel';

export const NFT_METHODS = [
  'available',
  'setupBase',
  'teardownBase',
  'setupNetwork',
  'teardownNetwork',
  'applyRules',
  'removeRules',
  'check',
  'foreignConflicts',
  'bridgeFiltering',
] as const;
type Method = (typeof NFT_METHODS)[number];

/** One driver call: a method and its arguments, type-checked against the driver. */
export type NftCall = { [M in Method]: { method: M; args?: Parameters<NftablesFirewall[M]> } }[Method];
export type NftResult = { ok: true; value: unknown } | { ok: false; error: { name: string; code?: string; message: string } };

const RUNNER = path.join(__dirname, 'nftables-runner.js');

/** Run the calls in `ns`, stopping at the first failure; stderr carries the driver's warnings. */
export async function nftDriver(ns: string, calls: NftCall[]): Promise<{ results: NftResult[]; stderr: string }> {
  const r = await runCommand('ip', ['netns', 'exec', ns, process.execPath, RUNNER, JSON.stringify(calls)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`runner exited ${r.code}: ${r.stderr.trim()}`);
  return { results: JSON.parse(r.stdout) as NftResult[], stderr: r.stderr };
}

/** Run calls that must all succeed; returns their values. */
export async function nftOk(ns: string, calls: NftCall[]): Promise<unknown[]> {
  const { results } = await nftDriver(ns, calls);
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`${calls[i]?.method ?? '?'} failed: ${r.error.name}: ${r.error.message}`);
    return r.value;
  });
}
