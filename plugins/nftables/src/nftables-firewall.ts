import { runCommand, type RunResult } from '@volt/core/dist/kernel/exec';
import { DriverError } from '@volt/core/dist/errors';
import type { Availability } from '@volt/core/dist/drivers/driver';
import type { FirewallDriver, FirewallNetwork, HostInputPolicy } from '@volt/core/dist/drivers/firewall';
import type { HostContext } from '@volt/core/dist/di/registration';
import { describeDrift } from './drift';
import { findNft } from './nft-binary';
import { parseChainsListing, parseTableListing, type ListedTable } from './nft-json';
import {
  FAMILY,
  TABLE,
  baseChains,
  setupBaseScript,
  setupNetworkScript,
  tableModel,
  teardownBaseScript,
  teardownNetworkScript,
  validateNetwork,
  validateNetworks,
  validatePolicy,
} from './ruleset';

const TIMEOUT_MS = 60_000;

/**
 * The nftables firewall: one table, `inet volt`, changed only through whole
 * `nft -f -` transactions, so every method either applies completely or
 * leaves the previous ruleset as it was. Other tables are never written
 * (only table and chain names are read), and the ruleset is never flushed.
 */
export class NftablesFirewall implements FirewallDriver {
  readonly name = 'nftables';
  readonly preference = 10;
  readonly fallback = false;
  readonly description = 'nftables table inet volt: isolation, host access and masquerade through sets and verdict maps';

  private nftPath: string | undefined;

  constructor(private readonly host: HostContext) {}

  /** Run nft; exit code 127 when it is not installed (as runCommand reports a missing program). */
  private async nft(args: readonly string[], input?: string): Promise<RunResult> {
    this.nftPath ??= findNft();
    if (this.nftPath === undefined) return { code: 127, stdout: '', stderr: 'nft: not found' };
    return runCommand(this.nftPath, args, { input, timeoutMs: TIMEOUT_MS });
  }

  async available(): Promise<Availability> {
    const version = await this.nft(['--version']);
    if (version.code === 127) return { ok: false, reason: 'nft not installed' };
    const v = /^nftables v(\S+)/.exec(version.stdout.trim());
    if (version.code !== 0 || !v) return { ok: false, reason: `${this.nftPath ?? 'nft'} is not nftables' nft` };
    const probe = await this.nft(['list', 'tables']);
    if (probe.code !== 0) return { ok: false, reason: `nft list tables fails here: ${nftError(probe.stderr, probe.code)}` };
    return { ok: true, reason: `nft ${v[1]} works in this network namespace` };
  }

  async setupBase(policy: HostInputPolicy): Promise<void> {
    const what = 'set up firewall base';
    const p = validatePolicy(policy, what);
    const rebuild = await this.baseChainsToRebuild(p);
    await this.apply(what, setupBaseScript(p, rebuild));
  }

  async teardownBase(): Promise<void> {
    await this.apply('tear down firewall', teardownBaseScript());
  }

  async setupNetwork(net: FirewallNetwork): Promise<void> {
    const what = `set up firewall for network "${String(net.name)}"`;
    await this.apply(what, setupNetworkScript(validateNetwork(net, what)));
  }

  async teardownNetwork(net: FirewallNetwork): Promise<void> {
    const what = `tear down firewall for network "${String(net.name)}"`;
    const n = validateNetwork(net, what);
    // Without the table there is nothing to remove; the script would create it.
    if (!(await this.tableExists(what))) return;
    await this.apply(what, teardownNetworkScript(n));
  }

  async check(policy: HostInputPolicy, nets: FirewallNetwork[]): Promise<string[]> {
    const what = 'check firewall';
    const model = tableModel(validatePolicy(policy, what), validateNetworks(nets, what));
    return describeDrift(model, await this.listTable(what));
  }

  /** Base chains that exist with another type, hook or priority (a hook cannot change in place). */
  private async baseChainsToRebuild(policy: HostInputPolicy): Promise<string[]> {
    const r = await this.nft(['-j', 'list', 'chains', FAMILY]);
    if (r.code !== 0) return []; // the transaction itself will report what is wrong
    const listed = new Map(parseChainsListing(r.stdout, FAMILY, TABLE).map((c) => [c.name, c]));
    return baseChains(policy)
      .filter((want) => {
        const have = listed.get(want.name);
        if (!have || !want.hook) return false;
        return !have.hook || have.hook.type !== want.hook.type || have.hook.hook !== want.hook.hook || have.hook.prio !== want.hook.prio;
      })
      .map((c) => c.name);
  }

  private async tableExists(what: string): Promise<boolean> {
    const r = await this.nft(['list', 'tables', FAMILY]);
    if (r.code !== 0) throw nftFailure(what, r.stderr, r.code);
    return r.stdout.split('\n').some((l) => l.trim() === `table ${FAMILY} ${TABLE}`);
  }

  private async listTable(what: string): Promise<ListedTable | undefined> {
    const r = await this.nft(['-j', 'list', 'table', FAMILY, TABLE]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw nftFailure(what, r.stderr, r.code);
    }
    try {
      return parseTableListing(r.stdout, FAMILY, TABLE);
    } catch (e: unknown) {
      throw new DriverError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_KERNEL', cause: e });
    }
  }

  private async apply(what: string, script: string): Promise<void> {
    this.host.debug(`nft -f - <<'EOF'\n${script}EOF`);
    const r = await this.nft(['-f', '-'], script);
    if (r.code !== 0) throw nftFailure(what, r.stderr, r.code);
  }
}

/**
 * nft's first error, with the statement it points at:
 * "/dev/stdin:7:37-48: Error: interval overlaps with an existing one" followed
 * by the statement and a caret line becomes
 * "interval overlaps with an existing one (add element inet volt nat_subnets { 10.30.0.0/16 })".
 */
export function nftError(stderr: string, code: number): string {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /Error: /.test(l));
  if (at < 0) {
    const first = lines.map((l) => l.trim()).find((l) => l.length > 0);
    return first ?? `nft exited with code ${code}`;
  }
  const message = (lines[at] as string).replace(/^.*?Error: /, '').trim();
  const statement = (lines[at + 1] ?? '').trim();
  return statement.length > 0 && !/^\^+$/.test(statement) && /^\S+:\d+:\d+/.test(lines[at] as string)
    ? `${message} (${statement})`
    : message;
}

function nftFailure(what: string, stderr: string, code: number): DriverError {
  const missing = code === 127;
  return new DriverError(`${what}: ${missing ? 'nft not installed' : nftError(stderr, code)}`, {
    code: missing ? 'E_TOOL_MISSING' : 'E_KERNEL',
    suggestions: missing
      ? ['install nftables (run scripts/setup.sh)']
      : ['run `nft list table inet volt` to see the current table', 'run `volt net check` to compare it with what volt expects'],
  });
}
