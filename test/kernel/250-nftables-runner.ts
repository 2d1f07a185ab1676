/**
 * Runs NftablesFirewall methods in the network namespace this process is in;
 * 250-nftables.test starts it with `ip netns exec`. Kernel operations act on
 * the caller's namespace, so the driver must run inside the test's namespace.
 *
 *   node 250-nftables-runner.js '[{"method":"setupBase","args":[{"policy":"drop","allow":["tcp/22"]}]}]'
 *
 * Prints one JSON array: a result per call, stopping at the first error.
 */
import { NftablesFirewall } from '@volt/plugin-nftables/dist/nftables-firewall';
import type { FirewallNetwork, HostInputPolicy } from '@volt/core/dist/drivers/firewall';
import { voltPaths } from '@volt/core/dist/paths';

export type Call =
  | { method: 'available'; args?: [] }
  | { method: 'setupBase'; args: [HostInputPolicy] }
  | { method: 'teardownBase'; args?: [] }
  | { method: 'setupNetwork'; args: [FirewallNetwork] }
  | { method: 'teardownNetwork'; args: [FirewallNetwork] }
  | { method: 'check'; args: [HostInputPolicy, FirewallNetwork[]] };

export type CallResult =
  | { ok: true; value: unknown }
  | { ok: false; error: { name: string; code?: string; message: string } };

async function invoke(fw: NftablesFirewall, call: Call): Promise<unknown> {
  switch (call.method) {
    case 'available':
      return fw.available();
    case 'setupBase':
      return fw.setupBase(...call.args);
    case 'teardownBase':
      return fw.teardownBase();
    case 'setupNetwork':
      return fw.setupNetwork(...call.args);
    case 'teardownNetwork':
      return fw.teardownNetwork(...call.args);
    case 'check':
      return fw.check(...call.args);
  }
}

async function main(): Promise<void> {
  const calls = JSON.parse(process.argv[2] ?? '[]') as Call[];
  const fw = new NftablesFirewall({
    paths: voltPaths(),
    warn: (m) => process.stderr.write(`warn: ${m}\n`),
    debug: () => undefined,
  });
  const results: CallResult[] = [];
  for (const call of calls) {
    try {
      results.push({ ok: true, value: (await invoke(fw, call)) ?? null });
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
