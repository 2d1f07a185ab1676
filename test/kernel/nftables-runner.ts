/**
 * Runs NftablesFirewall methods in the network namespace this process is in.
 * The kernel tests start it with `ip netns exec` (nftables-client.ts): kernel
 * operations act on the caller's namespace, so the driver must run inside the
 * test's namespace.
 *
 *   node nftables-runner.js '[{"method":"setupBase","args":[{"policy":"drop","allow":["tcp/22"]}]}]'
 *
 * Prints one JSON array, a result per call, stopping at the first error.
 * Warnings go to stderr.
 */
import type { NftablesFirewall } from '@volt/plugin-nftables/dist/nftables-firewall';
import { voltPaths } from '@volt/sdk';
import { builtinDriver } from './driver-hooks';
import { NFT_METHODS, type NftCall, type NftResult } from './nftables-client';

async function main(): Promise<void> {
  const calls = JSON.parse(process.argv[2] ?? '[]') as NftCall[];
  // Through the plugins' register hooks, by name (driver-hooks.ts), as volt finds it.
  const fw = await builtinDriver<NftablesFirewall>('firewall', 'nftables', { paths: voltPaths(), warn: (m) => process.stderr.write(`warn: ${m}\n`), debug: () => undefined });
  const results: NftResult[] = [];
  for (const call of calls) {
    try {
      if (!NFT_METHODS.includes(call.method)) throw new Error(`unknown method ${String(call.method)}`);
      const method = fw[call.method] as (...args: unknown[]) => Promise<unknown>;
      results.push({ ok: true, value: (await method.apply(fw, call.args ?? [])) ?? null });
    } catch (e: unknown) {
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err as Error & { code?: unknown }).code;
      results.push({ ok: false, error: { name: err.name, code: typeof code === 'string' ? code : undefined, message: err.message } });
      break;
    }
  }
  process.stdout.write(JSON.stringify(results));
}

void main();
