import { runCommand, type RunResult } from '@volt/sdk/kernel';
import { DriverError, errorMessage } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type {
  BridgeFiltering,
  FirewallDriver,
  FirewallNetwork,
  FirewallPortForward,
  FirewallRuleSet,
  HostInputPolicy,
} from '@volt/sdk';
import type { HostContext } from '@volt/sdk';
import { brNetfilter, ensureBrNetfilter, filtering6Of, filteringOf, readBridgeSettings, writeBridgeSettings, type SettingsChange } from './bridge-settings';
import { describeDrift, describeOrphans } from './drift';
import { foreignWarnings, relevantChain, type ForeignChain } from './foreign';
import { findNft } from './nft-binary';
import { parseChainsListing, parseTableListing, type ListedTable } from './nft-json';
import {
  OVERLAY_CHAIN,
  changedForwards,
  diffRuleSets,
  emptyRuleSet,
  needsBridgeFiltering,
  needsRouteLocalnet,
  overlayModel,
  replaceOverlay,
  validateRuleSet,
  type OverlayListing,
} from './overlay';
import {
  BRIDGE_FAMILY,
  FAMILY,
  TABLE,
  baseChains,
  bridgeTableModel,
  ports6DiffLines,
  ports6Lines,
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
  readonly description = 'nftables table inet volt: isolation, host access and masquerade through sets and verdict maps; table bridge volt: IPv6 closed on workload ports';

  private nftPath: string | undefined;

  constructor(private readonly host: HostContext) {}

  /** Run nft; exit code 127 when it is not installed (as runCommand reports a missing program). */
  private async nft(args: readonly string[], input?: string): Promise<RunResult> {
    this.nftPath ??= findNft();
    if (this.nftPath === undefined) return { code: 127, stdout: '', stderr: 'nft: not found' };
    return runCommand(this.nftPath, args, { input, timeoutMs: TIMEOUT_MS });
  }

  async available(): Promise<Availability> {
    // One call, run by every command that needs the firewall: a netlink dump that costs nothing
    // whatever the ruleset holds (nft 1.0.6's `list tables` fetches every rule: 0.4 s with
    // 10,000 of them), whose JSON names the version.
    const probe = await this.nft(['-j', 'list', 'flowtables']);
    if (probe.code === 127) return { ok: false, reason: 'nft not installed' };
    const listed = /"metainfo":\s*\{[^}]*"version":\s*"([^"]+)"/.exec(probe.stdout);
    if (probe.code === 0 && listed) return { ok: true, reason: `nft ${listed[1]} works in this network namespace` };
    const version = await this.nft(['--version']);
    const v = /^nftables v(\S+)/.exec(version.stdout.trim());
    if (version.code !== 0 || !v) return { ok: false, reason: `${this.nftPath ?? 'nft'} is not nftables' nft` };
    if (probe.code !== 0) return { ok: false, reason: `nft cannot read the ruleset here: ${nftError(probe.stderr, probe.code)}` };
    return { ok: true, reason: `nft ${v[1]} works in this network namespace` };
  }

  async setupBase(policy: HostInputPolicy, rules?: FirewallRuleSet): Promise<void> {
    const what = 'set up firewall base';
    const p = validatePolicy(policy, what);
    const r = rules === undefined ? undefined : validateRuleSet(rules, what);
    const { rebuild, present } = await this.listBase(p, r !== undefined);
    await this.apply(what, setupBaseScript(p, rebuild, r, present));
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

  async check(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<string[]> {
    const what = 'check firewall';
    const r = rules === undefined ? undefined : validateRuleSet(rules, what);
    const model = tableModel(validatePolicy(policy, what), validateNetworks(nets, what), r);
    const listed = await this.listTable(what);
    const drift = describeDrift(model, listed);
    // IPv6 closed at layer 2 (ruleset.ts, bridgeTableModel), whatever br_netfilter does.
    drift.push(
      ...describeDrift(bridgeTableModel(r?.ports6 ?? []), await this.listTable(what, BRIDGE_FAMILY), {
        family: BRIDGE_FAMILY,
        name: TABLE,
        missing: 'IPv6 is not closed between workloads of volt networks and the host (run `volt net up`)',
      }),
    );
    if (r !== undefined && listed !== undefined) drift.push(...(await this.settingsDrift(r)));
    return drift;
  }

  async orphans(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<{ object: string; detail: string }[]> {
    const what = 'look for left-over firewall objects';
    const r = rules === undefined ? undefined : validateRuleSet(rules, what);
    return describeOrphans(tableModel(validatePolicy(policy, what), validateNetworks(nets, what), r), await this.listTable(what)).map((o) => ({ object: o.object, detail: o.detail }));
  }

  /**
   * Remove what `orphans` finds that setupBase does not replace: chains of networks state does not
   * have and their elements in the network sets and maps (elements first: a chain a map entry
   * jumps to cannot go). One transaction.
   */
  async removeOrphans(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<void> {
    const what = 'remove left-over firewall objects';
    const r = rules === undefined ? undefined : validateRuleSet(rules, what);
    const found = describeOrphans(tableModel(validatePolicy(policy, what), validateNetworks(nets, what), r), await this.listTable(what));
    const lines = found.flatMap((o) => o.remove ?? []);
    const chains = lines.filter((l) => /^(flush|delete) chain /.test(l));
    const script = [...lines.filter((l) => !chains.includes(l)), ...chains];
    if (script.length > 0) await this.apply(what, `${script.join('\n')}\n`);
  }

  /**
   * Put `next` in place. With `previous`, one transaction with only the
   * difference (no listing: the cost does not grow with the number of rules);
   * if the kernel no longer matches `previous` (someone edited the table) that
   * transaction fails as a whole and the overlay is replaced instead.
   */
  async applyRules(next: FirewallRuleSet, previous?: FirewallRuleSet): Promise<void> {
    const what = 'apply firewall rules';
    const n = validateRuleSet(next, what);
    const p = previous === undefined ? undefined : validateRuleSet(previous, what);
    const restore = await this.applySettings(n);
    try {
      if (p !== undefined) {
        const lines = [...diffRuleSets(p, n), ...ports6DiffLines(p.ports6, n.ports6)];
        if (lines.length > 0) {
          try {
            await this.apply(what, `${lines.join('\n')}\n`);
          } catch (e: unknown) {
            this.host.debug(`${what}: incremental change failed (${errorMessage(e)}); replacing the rule set`);
            await this.replaceOverlay(what, n);
          }
        }
      } else {
        await this.replaceOverlay(what, n);
      }
    } catch (e: unknown) {
      await writeBridgeSettings(restore).catch((u: unknown) => this.host.warn(`${what}: undo bridge settings: ${errorMessage(u)}`));
      throw e;
    }
    await this.flushConntrack(changedForwards(p?.forwards ?? [], n.forwards).filter((f) => f.proto === 'udp'));
  }

  async removeRules(): Promise<void> {
    const what = 'remove firewall rules';
    if (!(await this.tableExists(what))) return;
    await this.replaceOverlay(what, emptyRuleSet());
  }

  async foreignConflicts(bridges: string[]): Promise<string[]> {
    const r = await this.nft(['-j', 'list', 'chains']);
    if (r.code !== 0) return [];
    const candidates = listChains(r.stdout).filter(relevantChain);
    const chains: ForeignChain[] = [];
    for (const c of candidates) {
      const listing = await this.nft(['-j', 'list', 'chain', c.family, c.table, c.name]);
      chains.push({ ...c, hook: c.hook ?? '', type: c.type ?? 'filter', policy: c.policy ?? 'accept', rules: listing.code === 0 ? ruleExprs(listing.stdout) : [] });
    }
    return foreignWarnings(chains, bridges);
  }

  async bridgeFiltering(bridges: string[]): Promise<BridgeFiltering[]> {
    return (await readBridgeSettings(bridges)).map((s) => {
      const v6 = filtering6Of(s);
      return { ...filteringOf(s), filtered6: v6.filtered, reason6: v6.reason };
    });
  }

  /** Per-bridge settings `rules` needs; returns what to write to put the old values back. */
  private async applySettings(rules: FirewallRuleSet): Promise<SettingsChange[]> {
    const filtering = needsBridgeFiltering(rules);
    const localnet = needsRouteLocalnet(rules);
    if ((!filtering && !localnet) || rules.networks.length === 0) return [];
    if (filtering && !(await ensureBrNetfilter())) {
      this.host.warn(
        'br_netfilter is not available in this kernel: policies and firewall rules do not apply to traffic between workloads on the same network (see docs/firewall.md)',
      );
    }
    const current = await readBridgeSettings(rules.networks.map((n) => n.bridge));
    const dual = new Set(rules.networks.filter((n) => n.subnet6 !== undefined).map((n) => n.bridge));
    const changes: SettingsChange[] = [];
    const restore: SettingsChange[] = [];
    for (const s of current) {
      if (!s.exists) continue;
      const change: SettingsChange = { bridge: s.bridge };
      const back: SettingsChange = { bridge: s.bridge };
      if (filtering && s.nfCallIptables === false) {
        change.nfCallIptables = true;
        back.nfCallIptables = false;
      }
      if (filtering && dual.has(s.bridge) && s.nfCallIp6tables === false) {
        change.nfCallIp6tables = true;
        back.nfCallIp6tables = false;
      }
      if (localnet && s.routeLocalnet === false) {
        change.routeLocalnet = true;
        back.routeLocalnet = false;
      }
      if (change.nfCallIptables !== undefined || change.nfCallIp6tables !== undefined || change.routeLocalnet !== undefined) {
        changes.push(change);
        restore.push(back);
      }
    }
    if (changes.length > 0) {
      try {
        await writeBridgeSettings(changes);
      } catch (e: unknown) {
        await writeBridgeSettings(restore).catch(() => undefined);
        throw new DriverError(`apply firewall rules: ${errorMessage(e)}`, { code: 'E_KERNEL' });
      }
    }
    return restore;
  }

  private async settingsDrift(rules: FirewallRuleSet): Promise<string[]> {
    const filtering = needsBridgeFiltering(rules);
    const localnet = needsRouteLocalnet(rules);
    if ((!filtering && !localnet) || rules.networks.length === 0) return [];
    const out: string[] = [];
    const ns = brNetfilter();
    const dual = new Set(rules.networks.filter((n) => n.subnet6 !== undefined).map((n) => n.bridge));
    for (const s of await readBridgeSettings(rules.networks.map((n) => n.bridge))) {
      if (!s.exists) continue; // the bridge driver reports missing bridges
      if (filtering && ns.loaded && s.nfCallIptables === false) {
        out.push(`bridge ${s.bridge}: nf_call_iptables is off, so policies and forward rules do not see traffic between its workloads`);
      }
      if (filtering && ns.loaded && dual.has(s.bridge) && s.nfCallIp6tables === false) {
        out.push(`bridge ${s.bridge}: nf_call_ip6tables is off, so policies and forward rules do not see IPv6 traffic between its workloads`);
      }
      if (localnet && s.routeLocalnet === false) out.push(`bridge ${s.bridge}: route_localnet is off, so port forwards do not answer on 127.0.0.1`);
    }
    return out;
  }

  /** Replace the overlay whatever is in the kernel (listing chains and set names only). */
  private async replaceOverlay(what: string, rules: FirewallRuleSet): Promise<void> {
    const present = await this.listOverlay(what);
    if (!present.chains.includes(OVERLAY_CHAIN.fwForward) || !present.chains.includes(OVERLAY_CHAIN.policy)) {
      throw new DriverError(`${what}: table ${FAMILY} ${TABLE} has no hooks for user rules (made by an older volt, or edited by hand)`, {
        code: 'E_FIREWALL_DRIFT',
        suggestions: ['run `volt net up` to re-create the table with them'],
      });
    }
    const { build, cleanup } = replaceOverlay(overlayModel(rules), present);
    await this.apply(what, `${[...build, ...cleanup, ...ports6Lines(rules.ports6 ?? [])].join('\n')}\n`);
  }

  /** Overlay chain names and group set names in the kernel (no rules, no elements). */
  private async listOverlay(what: string): Promise<OverlayListing> {
    const chains = await this.nft(['-j', 'list', 'chains', FAMILY]);
    if (chains.code !== 0) throw nftFailure(what, chains.stderr, chains.code);
    const sets = await this.nft(['-j', '-t', 'list', 'sets', FAMILY]);
    if (sets.code !== 0) throw nftFailure(what, sets.stderr, sets.code);
    return { chains: parseChainsListing(chains.stdout, FAMILY, TABLE).map((c) => c.name), sets: setNames(sets.stdout) };
  }

  /** Base chains that exist with another type, hook or priority (a hook cannot change in place), and the overlay present. */
  private async listBase(policy: HostInputPolicy, hooks: boolean): Promise<{ rebuild: string[]; present: OverlayListing }> {
    const r = await this.nft(['-j', 'list', 'chains', FAMILY]);
    if (r.code !== 0) return { rebuild: [], present: { chains: [], sets: [] } }; // the transaction itself will report what is wrong
    const chains = parseChainsListing(r.stdout, FAMILY, TABLE);
    const listed = new Map(chains.map((c) => [c.name, c]));
    const rebuild = baseChains(policy, hooks)
      .filter((want) => {
        const have = listed.get(want.name);
        if (!have || !want.hook) return false;
        return !have.hook || have.hook.type !== want.hook.type || have.hook.hook !== want.hook.hook || have.hook.prio !== want.hook.prio;
      })
      .map((c) => c.name);
    if (!hooks || chains.length === 0) return { rebuild, present: { chains: chains.map((c) => c.name), sets: [] } };
    const sets = await this.nft(['-j', '-t', 'list', 'sets', FAMILY]);
    return { rebuild, present: { chains: chains.map((c) => c.name), sets: sets.code === 0 ? setNames(sets.stdout) : [] } };
  }

  /** After a UDP forward changes, flows that conntrack already tracks would keep their old mapping. */
  private async flushConntrack(forwards: FirewallPortForward[]): Promise<void> {
    for (const f of forwards) {
      const args = ['-D', '-p', 'udp', '--orig-port-dst', String(f.hostPort), ...(f.hostIp ? ['--orig-dst', f.hostIp] : [])];
      const r = await runCommand('conntrack', args, { timeoutMs: 10_000 });
      if (r.code === 127) {
        this.host.warn(
          `the conntrack tool is not installed: UDP flows to port ${f.hostPort} that were already tracked keep their old mapping until they time out (install conntrack)`,
        );
        return;
      }
      // Exit 1 with "0 flow entries have been deleted" is the normal case of nothing to flush.
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) this.host.warn(`flush UDP conntrack entries for port ${f.hostPort}: ${r.stderr.trim()}`);
    }
  }

  /** Whether table inet volt exists (it always has chains); `list chains` stays cheap at any number of rules. */
  private async tableExists(what: string): Promise<boolean> {
    const r = await this.nft(['-j', 'list', 'chains', FAMILY]);
    if (r.code !== 0) throw nftFailure(what, r.stderr, r.code);
    return parseChainsListing(r.stdout, FAMILY, TABLE).length > 0;
  }

  private async listTable(what: string, family: string = FAMILY): Promise<ListedTable | undefined> {
    const r = await this.nft(['-j', 'list', 'table', family, TABLE]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw nftFailure(what, r.stderr, r.code);
    }
    try {
      return parseTableListing(r.stdout, family, TABLE);
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

interface ListedChainHook {
  family: string;
  table: string;
  name: string;
  hook?: string;
  type?: string;
  policy?: string;
}

/** Every chain of `nft -j list chains` (all families), with its hook. */
function listChains(json: string): ListedChainHook[] {
  const items = nftItems(json);
  const out: ListedChainHook[] = [];
  for (const item of items) {
    const c = (item as { chain?: Record<string, unknown> }).chain;
    if (!c || typeof c.family !== 'string' || typeof c.table !== 'string' || typeof c.name !== 'string') continue;
    out.push({
      family: c.family,
      table: c.table,
      name: c.name,
      hook: typeof c.hook === 'string' ? c.hook : undefined,
      type: typeof c.type === 'string' ? c.type : undefined,
      policy: typeof c.policy === 'string' ? c.policy : undefined,
    });
  }
  return out;
}

function ruleExprs(json: string): unknown[][] {
  return nftItems(json)
    .map((item) => (item as { rule?: { expr?: unknown } }).rule?.expr)
    .filter((e): e is unknown[] => Array.isArray(e));
}

function setNames(json: string): string[] {
  return nftItems(json)
    .map((item) => (item as { set?: { table?: unknown; name?: unknown } }).set)
    .filter((s): s is { table: string; name: string } => s !== undefined && s.table === TABLE && typeof s.name === 'string')
    .map((s) => s.name);
}

function nftItems(json: string): unknown[] {
  try {
    const raw: unknown = JSON.parse(json);
    const items = (raw as { nftables?: unknown }).nftables;
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
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
