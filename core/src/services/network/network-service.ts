import { NotFoundError, ConflictError, UserInputError, DriftError, errorMessage } from '@volt/sdk';
import type { BridgeDriver, BridgeObservation, BridgeSpec } from '@volt/sdk';
import type { FirewallDriver, FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '@volt/sdk';
import type { VoltConfig } from '../../config/defaults';
import type { StateStore } from '../../state/store';
import type { NetworkRecord, VoltState } from '../../state/types';
import { kernelProbes, type KernelProbes } from '../attachments/attach-probes';
import type { AttachmentListener, VmPorts } from '../attachments/attach-exec';
import { compareIds } from '../../output/collate';
import { canonicalIPv6, formatIPv6, linkLocalOfMac } from '../../net/ipv6';
import { planNetwork, prefixOf, type CreateNetworkRequest } from './network-plan';
import { upWithTuning } from '../tune/tune-service';
import { voltPaths } from '@volt/sdk';
import { uplinkNames, vlanStateDrift, vlanUpSteps } from './vlan-service';
import { asFinding, cleanLeftovers, findLeftovers, nftLeftovers, type Finding } from './leftovers';
import { pendingFindings, pendingNetworks, runPlan, type PendingIntent } from '../../state/journal';
import { applyResult, planSteps, settlePending, type PlanDeps, type Settled } from '../attachments/plans';
import { firewallNetworkOf } from '../firewall/firewall-compile';

export interface NetworkDeps {
  config: VoltConfig;
  store: StateStore;
  bridge(): Promise<BridgeDriver>;
  firewall(): Promise<FirewallDriver>;
  warn(message: string): void;
  /**
   * User firewall rules, port forwards and policies of this state, resolved
   * (firewall-compile.ts). When given, the table is always created with their
   * hooks, `up` restores them and `check` compares them too.
   */
  firewallRules?(state: VoltState): FirewallRuleSet;
  /** Kernel reads (attach-probes.ts); default: the real kernel. */
  probes?: KernelProbes;
  /** For settling interrupted VM connects/disconnects (attach-exec.ts). */
  vmPorts?: VmPorts;
  /** Attachment listeners, run when a settlement rolls a connect or disconnect forward. */
  listeners?: AttachmentListener[];
}

export interface NetworkView extends NetworkRecord {
  status: 'up' | 'down' | 'missing' | 'drift';
  connected: number;
  ports: string[];
}

export interface UpReport {
  drift: string[];
  applied: boolean;
  networks: string[];
  /** Volt-made objects no state record owned, removed by this `up` (leftovers.ts). */
  removed?: Finding[];
  /** Pending records of interrupted operations that this `up` settled (docs/state-and-recovery.md). */
  settled?: Settled[];
  /** Internal to `up`: left-over nft objects the convergence replaced (reported in `removed`). */
  nftRemoved?: Finding[];
}

export function bridgeSpec(n: NetworkRecord): BridgeSpec {
  const spec: BridgeSpec = { network: n.name, ifname: n.bridge, address: `${n.gateway}/${prefixOf(n.subnet)}`, mtu: n.mtu, mac: n.mac };
  if (n.subnet6 !== undefined && n.gateway6 !== undefined) {
    spec.address6 = `${n.gateway6}/${prefixOf(n.subnet6)}`;
    spec.linkLocal6 = `${formatIPv6(linkLocalOfMac(n.mac))}/64`;
    spec.prefix6 = n.subnet6;
  }
  return spec;
}

export function firewallNetwork(n: NetworkRecord): FirewallNetwork {
  return firewallNetworkOf(n);
}

/** Networks: validate, plan, apply through drivers with undo, then commit. */
export class NetworkService {
  constructor(protected readonly d: NetworkDeps) {}

  private get hostPolicy(): HostInputPolicy {
    const f = this.d.config.network.firewall;
    return { policy: f.host_input, allow: f.host_allow };
  }

  private get planDeps(): PlanDeps {
    return {
      bridge: this.d.bridge,
      firewall: this.d.firewall,
      warn: this.d.warn,
      hostPolicy: this.hostPolicy,
      firewallRules: this.d.firewallRules,
      probes: this.d.probes ?? kernelProbes,
      vmPorts: this.d.vmPorts,
      listeners: this.d.listeners,
    };
  }

  /** Under the lock: settle what killed volts left pending (plans.ts settlePending). */
  private settlePending(state: VoltState): Promise<Settled[]> {
    return settlePending(this.d.store, state, this.planDeps);
  }

  /** `volt net check` findings for interrupted operations (journal.ts). */
  pendingFindings(): Finding[] {
    return pendingFindings(this.d.store.read());
  }

  private defaultRequest(): CreateNetworkRequest {
    const n = this.d.config.network;
    return { name: n.default_bridge, subnet: n.default_subnet, ...(n.default_subnet6 !== undefined ? { subnet6: n.default_subnet6 } : {}), mtu: n.mtu, nat: true };
  }

  /** Create the default network if it does not exist (`volt init`). */
  async init(): Promise<NetworkRecord | undefined> {
    return this.d.store.transaction(async (state) => {
      await this.settlePending(state);
      const created = await this.createAll(state, []);
      return created[0];
    });
  }

  /** Inside another transaction: create the default network if it is missing. */
  async ensureDefault(state: VoltState): Promise<void> {
    await this.createAll(state, []);
  }

  /** Create a network (and, on first use, the default network before it). */
  async create(req: CreateNetworkRequest): Promise<NetworkRecord> {
    return this.d.store.transaction(async (state) => {
      await this.settlePending(state);
      const created = await this.createAll(state, [req]);
      return created[created.length - 1]!;
    });
  }

  /** Create several networks in one transaction: all of them or none (`volt net compose up`). */
  async createMany(reqs: CreateNetworkRequest[]): Promise<NetworkRecord[]> {
    return this.d.store.transaction(async (state) => {
      const created = await this.createAll(state, reqs);
      return created.filter((n) => reqs.some((r) => r.name === n.name));
    });
  }

  private async createAll(state: VoltState, reqs: CreateNetworkRequest[]): Promise<NetworkRecord[]> {
    const defaultName = this.d.config.network.default_bridge;
    const wanted = [...reqs];
    if (!state.networks[defaultName] && !reqs.some((r) => r.name === defaultName)) wanted.unshift(this.defaultRequest());
    if (wanted.length === 0) return [];

    // Validate everything before touching the kernel.
    const routes = await (this.d.probes ?? kernelProbes).hostRoutes();
    // Networks of a pending create keep their names and subnets until it is settled.
    const existing = [...Object.values(state.networks), ...pendingNetworks(state)];
    const planned: NetworkRecord[] = [];
    const now = new Date().toISOString();
    for (const req of wanted) {
      planned.push(
        planNetwork(req, {
          existing: [...existing, ...planned],
          hostRoutes: routes,
          defaultMtu: this.d.config.network.mtu,
          defaultName,
          now,
        }),
      );
    }
    const bridge = await this.d.bridge();
    for (const n of planned) {
      const obs = await bridge.inspectBridge(n.bridge);
      if (obs.exists) {
        throw new ConflictError(`create network "${n.name}": interface "${n.bridge}" already exists in the kernel and is not volt's`, {
          code: 'E_LINK_EXISTS',
          suggestions: ['choose another --name or --bridge', `or remove the interface (ip link del ${n.bridge})`],
        });
      }
    }

    const intent: PendingIntent = { op: 'net-create', object: `network ${planned.map((n) => n.name).join(', ')}`, networks: planned, base: existing.length === 0 };
    const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.planDeps), this.d.warn);
    applyResult(intent, state);
    plan.finish();
    return planned;
  }

  async delete(name: string, force: boolean): Promise<NetworkRecord> {
    return this.d.store.transaction(async (state) => {
      await this.settlePending(state);
      const n = state.networks[name];
      if (!n) throw this.notFound(name, state);
      const bridge = await this.d.bridge();
      const attached = state.attachments.filter((a) => a.network === name).map((a) => a.workload);
      const obs = await bridge.inspectBridge(n.bridge);
      const uplinks = uplinkNames(state, name);
      const users = [...new Set([...attached, ...obs.ports.filter((p) => !uplinks.has(p))])];
      if (users.length > 0 && !force) {
        throw new ConflictError(
          `delete network "${name}": ${users.length} workload${users.length === 1 ? ' is' : 's are'} still attached (${users.slice(0, 5).join(', ')}${users.length > 5 ? ', …' : ''})`,
          {
            code: 'E_NETWORK_IN_USE',
            suggestions: [`disconnect them first (volt net disconnect WORKLOAD ${name})`, `or pass --force to detach them and delete the network`],
          },
        );
      }
      const remaining = Object.values(state.networks).filter((x) => x.name !== name);
      // Journaled and always rolled forward: a delete that was killed is finished by the next command.
      const intent: PendingIntent = { op: 'net-delete', object: `network ${name}`, networks: [n], base: remaining.length === 0 };
      const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.planDeps), this.d.warn);
      applyResult(intent, state);
      plan.finish();
      return n;
    });
  }

  get(name: string): NetworkRecord {
    const state = this.d.store.read();
    const n = state.networks[name];
    if (!n) throw this.notFound(name, state);
    return n;
  }

  /** State joined with what the kernel says. */
  async list(): Promise<NetworkView[]> {
    const state = this.d.store.read();
    const nets = Object.values(state.networks).sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || compareIds(a.name, b.name));
    if (nets.length === 0) return [];
    const bridge = await this.d.bridge();
    const observed = await bridge.inspectBridges(nets.map((n) => n.bridge));
    return nets.map((n, i) => {
      const obs = observed[i]!;
      const attached = state.attachments.filter((a) => a.network === n.name).length;
      const uplinks = uplinkNames(state, n.name);
      return { ...n, status: statusOf(n, obs), connected: Math.max(attached, obs.ports.filter((p) => !uplinks.has(p)).length), ports: obs.ports };
    });
  }

  /** Differences between desired state and the kernel, one sentence each. */
  async check(): Promise<string[]> {
    const state = this.d.store.read();
    if (Object.keys(state.networks).length > 0) return this.checkState(state);
    // VLANs outlive networks: check them even when there is no network (and no firewall table) left.
    return Object.keys(state.vlans).length === 0 ? [] : vlanStateDrift(state, await this.d.bridge());
  }

  /** Re-apply the whole desired state; a second run finds nothing to do. */
  async up(): Promise<UpReport> {
    const report = await this.d.store.transaction(async (state): Promise<UpReport> => {
      const settled = await this.settlePending(state);
      const nft = await this.nftLeftovers(state);
      const up = await this.upLocked(state);
      if (nft.length > 0) {
        const fw = await this.d.firewall();
        if (fw.removeOrphans) {
          const nets = Object.values(state.networks).map(firewallNetwork);
          await fw.removeOrphans(this.hostPolicy, nets, this.d.firewallRules?.(state)).catch((e: unknown) => this.d.warn(errorMessage(e)));
        }
      }
      // Left-over nft objects go with the convergence (the desired rules replace them): report those that went.
      const still = nft.length > 0 ? new Set((await this.nftLeftovers(state)).map((f) => f.object)) : new Set<string>();
      const nftRemoved = nft.filter((f) => !still.has(f.object));
      const out = nftRemoved.length > 0 ? { ...up, nftRemoved } : up;
      return settled.length > 0 ? { ...out, applied: true, settled } : out;
    });
    // What a killed volt left behind and no record owns (leftovers.ts), under the lock so no unfinished connect counts.
    const removed = [...(report.nftRemoved ?? []), ...(await this.d.store.transaction((state) => cleanLeftovers(state, voltPaths(), this.d.warn)))];
    delete report.nftRemoved;
    // Persisted `volt tune` sysctls (tune-service.ts), after the bridges they may refer to.
    return upWithTuning({ ...report, applied: report.applied || removed.length > 0, removed }, { paths: voltPaths(), warn: this.d.warn });
  }

  /**
   * Volt-made objects no state record owns (leftovers.ts). Read without the lock, like `check`
   * (which must not write state): a connect running at this very moment can show up; `up` looks again under the lock.
   */
  async leftovers(): Promise<Finding[]> {
    const state = this.d.store.read();
    return [...(await findLeftovers(state, voltPaths())).map(asFinding), ...(await this.nftLeftovers(state))];
  }

  /** Left-over nft objects (leftovers.ts nftLeftovers, finding kind orphan-nft). */
  private async nftLeftovers(state: VoltState): Promise<Finding[]> {
    if (Object.keys(state.networks).length === 0) return [];
    const nets = Object.values(state.networks).map(firewallNetwork);
    return nftLeftovers(state, await this.d.firewall(), this.hostPolicy, nets, this.d.firewallRules?.(state));
  }

  private async upLocked(state: VoltState): Promise<UpReport> {
    const created = await this.createAll(state, []);
    const drift = created.length > 0 ? [] : await this.checkState(state);
    const nets = Object.values(state.networks);
    if (created.length === 0 && drift.length === 0) return { drift, applied: false, networks: nets.map((n) => n.name) };
    const bridge = await this.d.bridge();
    const firewall = await this.d.firewall();
    // Converging is idempotent per step, so a partial failure is retried by the next `up`.
    const failures: string[] = [];
    const attempt = async (what: string, f: () => Promise<void>): Promise<void> => {
      try {
        await f();
      } catch (e: unknown) {
        failures.push(`${what}: ${errorMessage(e)}`);
      }
    };
    // User rules, forwards and policies go in with the base chains (one transaction), so a
    // flushed ruleset never comes back without them; per-bridge settings once the bridges exist.
    const rules = this.d.firewallRules?.(state);
    await attempt('set up firewall table', () => firewall.setupBase(this.hostPolicy, rules));
    for (const n of nets) {
      await attempt(`bridge ${n.bridge}`, () => bridge.setupBridge(bridgeSpec(n)));
      await attempt(`firewall for ${n.name}`, () => firewall.setupNetwork(firewallNetwork(n)));
    }
    for (const s of vlanUpSteps(state, bridge)) await attempt(s.what, () => s.apply());
    if (rules !== undefined && firewall.applyRules) {
      const apply = firewall.applyRules.bind(firewall);
      await attempt('firewall rules', () => apply(rules, rules));
    }
    if (failures.length > 0) {
      throw new DriftError(`bring networks up: ${failures.length} step(s) failed: ${failures.join('; ')}`, {
        code: 'E_UP_FAILED',
        suggestions: ['fix the cause and run `volt net up` again (it only redoes what is missing)'],
      });
    }
    return { drift: created.length > 0 ? created.map((n) => `network "${n.name}" did not exist`) : drift, applied: true, networks: nets.map((n) => n.name) };
  }

  private async checkState(state: VoltState): Promise<string[]> {
    const nets = Object.values(state.networks);
    const bridge = await this.d.bridge();
    const firewall = await this.d.firewall();
    const drift: string[] = [];
    for (const n of nets) drift.push(...bridgeDrift(n, await bridge.inspectBridge(n.bridge)));
    drift.push(...(await vlanStateDrift(state, bridge)));
    drift.push(...(await firewall.check(this.hostPolicy, nets.map(firewallNetwork), this.d.firewallRules?.(state))));
    // Other firewalls cannot be repaired by volt: warn, naming the table and chain.
    if (firewall.foreignConflicts) for (const w of await firewall.foreignConflicts(nets.map((n) => n.bridge))) this.d.warn(w);
    return drift;
  }

  private notFound(name: string, state: VoltState): NotFoundError {
    const names = Object.keys(state.networks);
    return new NotFoundError(`network "${name}" does not exist`, {
      code: 'E_NETWORK_NOT_FOUND',
      suggestions: [names.length > 0 ? `known networks: ${names.join(', ')}` : 'create one with `volt net create --name NAME --subnet CIDR`'],
    });
  }
}

export function statusOf(n: NetworkRecord, obs: BridgeObservation): NetworkView['status'] {
  if (!obs.exists) return 'missing';
  if (bridgeDrift(n, obs).length > 0) return obs.up ? 'drift' : 'down';
  return 'up';
}

export function bridgeDrift(n: NetworkRecord, obs: BridgeObservation): string[] {
  const spec = bridgeSpec(n);
  if (!obs.exists) return [`bridge ${n.bridge} (network "${n.name}") is missing`];
  const out: string[] = [];
  if (obs.kind !== 'bridge') out.push(`interface ${n.bridge} (network "${n.name}") is a ${obs.kind ?? 'plain link'}, not a bridge`);
  if (!obs.up) out.push(`bridge ${n.bridge} is down`);
  if (!obs.addresses.includes(spec.address)) out.push(`bridge ${n.bridge} lacks its gateway address ${spec.address}`);
  if (spec.address6 !== undefined && !obs.addresses.some((a) => sameAddress6(a, spec.address6!))) {
    out.push(`bridge ${n.bridge} lacks its IPv6 gateway address ${spec.address6}`);
  }
  // IPv6 addresses count only on dual-stack networks: an IPv4-only bridge ignores what it has (the gate keeps v6 off it).
  const foreign = obs.addresses.filter((a) => a !== spec.address && (a.includes(':') ? spec.address6 !== undefined && !sameAddress6(a, spec.address6) : true));
  if (foreign.length > 0) out.push(`bridge ${n.bridge} has addresses volt did not set: ${foreign.join(', ')}`);
  if (obs.mtu !== undefined && obs.mtu !== n.mtu) out.push(`bridge ${n.bridge} has MTU ${obs.mtu}, expected ${n.mtu}`);
  return out;
}

/** "fd00:30:0::1/64" and "fd00:30::1/64" are the same address: compare canonical forms. */
function sameAddress6(a: string, b: string): boolean {
  const [aa, ap] = a.split('/');
  const [ba, bp] = b.split('/');
  return ap === bp && aa !== undefined && ba !== undefined && canonicalIPv6(aa) === canonicalIPv6(ba);
}

export function assertKnown(name: string | undefined, what: string): string {
  if (!name) throw new UserInputError(`${what}: a network name is required`, { code: 'E_ARG_MISSING' });
  return name;
}
