/**
 * Runs NftablesFirewall methods in the network namespace this process is in
 * (251-nftables-rules.test starts it with `ip netns exec`): a JSON array of
 * calls in argv[2], one JSON result per call on stdout, stopping at the first
 * error. Warnings go to stderr.
 */
import { NftablesFirewall } from '@volt/plugin-nftables/dist/nftables-firewall';
import type { FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '@volt/core/dist/drivers/firewall';
import { voltPaths } from '@volt/core/dist/paths';

export type RulesCall =
  | { method: 'setupBase'; args: [HostInputPolicy, FirewallRuleSet?] }
  | { method: 'setupNetwork'; args: [FirewallNetwork] }
  | { method: 'applyRules'; args: [FirewallRuleSet, FirewallRuleSet?] }
  | { method: 'removeRules'; args?: [] }
  | { method: 'check'; args: [HostInputPolicy, FirewallNetwork[], FirewallRuleSet?] }
  | { method: 'foreignConflicts'; args: [string[]] }
  | { method: 'bridgeFiltering'; args: [string[]] };

export type RulesResult = { ok: true; value: unknown } | { ok: false; error: { name: string; code?: string; message: string } };

async function invoke(fw: NftablesFirewall, c: RulesCall): Promise<unknown> {
  switch (c.method) {
    case 'setupBase':
      return fw.setupBase(...c.args);
    case 'setupNetwork':
      return fw.setupNetwork(...c.args);
    case 'applyRules':
      return fw.applyRules(...c.args);
    case 'removeRules':
      return fw.removeRules();
    case 'check':
      return fw.check(...c.args);
    case 'foreignConflicts':
      return fw.foreignConflicts(...c.args);
    case 'bridgeFiltering':
      return fw.bridgeFiltering(...c.args);
  }
}

async function main(): Promise<void> {
  const calls = JSON.parse(process.argv[2] ?? '[]') as RulesCall[];
  const fw = new NftablesFirewall({ paths: voltPaths(), warn: (m) => process.stderr.write(`warn: ${m}\n`), debug: () => undefined });
  const results: RulesResult[] = [];
  for (const c of calls) {
    try {
      results.push({ ok: true, value: (await invoke(fw, c)) ?? null });
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
