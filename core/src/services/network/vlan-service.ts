import type { BridgeDriver, BridgeVlans, VlanSpec } from '@volt/sdk';
import { ConflictError, DriverError, NotFoundError } from '@volt/sdk';
import { listVlanLinks, vlanUnsupported } from '@volt/sdk/kernel';
import { compareIds } from '../../output/collate';
import type { StateStore } from '../../state/store';
import type { VlanRecord, VoltState } from '../../state/types';
import type { Step } from '../attachments/steps';
import { VLAN_OPS, journaledVlan, settleOwnPending } from '../firewall/plans-firewall';
import { assertNoUplink, planVlan, vlanDrift, vlanSpec, vlanStatus, type CreateVlanRequest, type VlanStatus } from './vlan-plan';

export interface VlanDeps {
  store: StateStore;
  bridge(): Promise<BridgeDriver>;
  warn(message: string): void;
}

export interface VlanView extends VlanRecord {
  /** The bridge it should be a port of (from its network). */
  bridge?: string;
  /** What the kernel says: up, down, missing, drift (wrong link, off its bridge). */
  state: VlanStatus;
  /** The bridge it is a port of right now. */
  master?: string;
}

/** `volt net vlan`: validate, apply through the bridge driver with undo, then commit. */
export class VlanService {
  constructor(private readonly d: VlanDeps) {}

  async create(req: CreateVlanRequest): Promise<VlanRecord> {
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, VLAN_OPS);
      const rec = planVlan(req, { state, links: await listVlanLinks(), now: new Date().toISOString() });
      await vlanDriver(this.d.bridge, `create VLAN "${rec.name}"`, true);
      // Journaled (plans-firewall.ts): pending record, the link, then the record in state.
      await journaledVlan(this.d.store, state, 'vlan-create', { name: rec.name, after: rec }, this.d);
      return rec;
    });
  }

  async delete(name: string): Promise<VlanRecord> {
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, VLAN_OPS);
      const rec = this.get(state, name, 'delete');
      await vlanDriver(this.d.bridge, `delete VLAN "${name}"`, false);
      await journaledVlan(this.d.store, state, 'vlan-delete', { name, before: rec }, this.d);
      return rec;
    });
  }

  /** Make the VLAN the uplink of `network` (a port of its bridge). Idempotent. */
  async attach(name: string, network: string): Promise<VlanRecord> {
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, VLAN_OPS);
      const rec = this.get(state, name, 'attach');
      const what = `attach VLAN "${name}" to network "${network}"`;
      if (!state.networks[network]) {
        throw new NotFoundError(`${what}: network "${network}" does not exist`, {
          code: 'E_NETWORK_NOT_FOUND',
          suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || '(none)'}`],
        });
      }
      if (rec.network !== undefined && rec.network !== network) {
        throw new ConflictError(`${what}: it is the uplink of network "${rec.network}"`, {
          code: 'E_VLAN_ATTACHED',
          suggestions: [`detach it first: volt net vlan detach ${name}`],
        });
      }
      assertNoUplink(what, network, state, name);
      return this.move(state, rec, network, what);
    });
  }

  /** Take the VLAN off its network's bridge; the VLAN stays. Idempotent. */
  async detach(name: string): Promise<{ vlan: VlanRecord; from?: string }> {
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, VLAN_OPS);
      const rec = this.get(state, name, 'detach');
      const from = rec.network;
      return { vlan: await this.move(state, rec, undefined, `detach VLAN "${name}"`), from };
    });
  }

  list(): Promise<VlanView[]> {
    return this.views(this.d.store.read());
  }

  private async views(state: VoltState): Promise<VlanView[]> {
    const recs = Object.values(state.vlans).sort((a, b) => compareIds(a.name, b.name));
    if (recs.length === 0) return [];
    const bridge = await this.d.bridge();
    const observed = bridge.inspectVlans ? await bridge.inspectVlans(recs.map((v) => v.name)) : undefined;
    return recs.map((v, i) => {
      const obs = observed?.[i] ?? { ifname: v.name, exists: false, up: false };
      const spec = vlanSpec(v, state);
      return { ...v, ...(spec.bridge ? { bridge: spec.bridge } : {}), state: vlanStatus(v, obs, state), ...(obs.master ? { master: obs.master } : {}) };
    });
  }

  private async move(state: VoltState, rec: VlanRecord, network: string | undefined, what: string): Promise<VlanRecord> {
    await vlanDriver(this.d.bridge, what, false);
    const next: VlanRecord = { ...rec };
    if (network === undefined) delete next.network;
    else next.network = network;
    await journaledVlan(this.d.store, state, network === undefined ? 'vlan-detach' : 'vlan-attach', { name: rec.name, before: rec, after: next }, this.d);
    return next;
  }

  private get(state: VoltState, name: string, verb: string): VlanRecord {
    const rec = state.vlans[name];
    if (rec) return rec;
    const known = Object.keys(state.vlans);
    throw new NotFoundError(`${verb} VLAN "${name}": no such VLAN`, {
      code: 'E_VLAN_NOT_FOUND',
      suggestions: [known.length > 0 ? `known VLANs: ${known.join(', ')}` : 'create one with `volt net vlan create --parent IFACE --id N`'],
    });
  }
}

/** The active bridge driver's VLAN part, or an error saying why there is none (and, for set-ups, that the kernel can). */
export async function vlanDriver(bridgeOf: () => Promise<BridgeDriver>, what: string, probe: boolean): Promise<BridgeVlans> {
  const bridge = await bridgeOf();
  const { vlanSupport, setupVlan, teardownVlan, inspectVlans } = bridge;
  if (!vlanSupport || !setupVlan || !teardownVlan || !inspectVlans) {
    throw new DriverError(`${what}: the bridge driver "${bridge.name}" does not manage VLANs`, {
      code: 'E_VLAN_UNSUPPORTED',
      suggestions: ['use the direct or networkd bridge driver (drivers: bridge: in config.yaml)'],
    });
  }
  const vlans: BridgeVlans = {
    vlanSupport: vlanSupport.bind(bridge),
    setupVlan: setupVlan.bind(bridge),
    teardownVlan: teardownVlan.bind(bridge),
    inspectVlans: inspectVlans.bind(bridge),
  };
  if (probe) {
    const support = await vlans.vlanSupport();
    if (!support.ok) throw vlanUnsupported(what, support.reason);
  }
  return vlans;
}

// What `volt net check` / `net up` / `net delete` need (network-service.ts calls these).

/** Drift of every VLAN in state, one sentence each. */
export async function vlanStateDrift(state: VoltState, bridge: BridgeDriver): Promise<string[]> {
  const recs = Object.values(state.vlans);
  if (recs.length === 0) return [];
  if (!bridge.inspectVlans) return [`the bridge driver "${bridge.name}" does not manage VLANs; ${recs.length} VLAN(s) in state are not checked`];
  const observed = await bridge.inspectVlans(recs.map((v) => v.name));
  return recs.flatMap((v, i) => vlanDrift(v, observed[i]!, state));
}

/** `net up`: converge every VLAN (after the bridges exist); each step is idempotent. */
export function vlanUpSteps(state: VoltState, bridge: BridgeDriver): Step[] {
  return Object.values(state.vlans).map((v) => ({
    what: `VLAN ${v.name}`,
    apply: async () => (await vlanDriver(async () => bridge, `bring up VLAN "${v.name}"`, false)).setupVlan(vlanSpec(v, state)),
  }));
}

/**
 * `net delete`: the network's VLAN uplinks leave its bridge before the bridge goes, and
 * stay (a VLAN outlives its network; `volt net vlan delete` removes it). A VLAN missing
 * from the kernel is left for `net up`, which re-creates it on no bridge.
 */
export function detachUplinkSteps(state: VoltState, network: string, bridge: BridgeDriver, warn: (m: string) => void): { steps: Step[]; commit(): void } {
  const uplinks = Object.values(state.vlans).filter((v) => v.network === network);
  const steps = uplinks.map((v): Step => {
    const attached: VlanSpec = vlanSpec(v, state);
    const detached: VlanSpec = { ifname: v.name, parent: v.parent, id: v.id };
    const what = `detach VLAN ${v.name} from network "${network}"`;
    return {
      what,
      apply: async () => {
        const vlans = await vlanDriver(async () => bridge, what, false);
        const [obs] = await vlans.inspectVlans([v.name]);
        if (!obs?.exists) return warn(`${what}: the VLAN is missing in the kernel; \`volt net up\` re-creates it on no bridge`);
        await vlans.setupVlan(detached);
      },
      undo: async () => (await vlanDriver(async () => bridge, what, false)).setupVlan(attached),
    };
  });
  return {
    steps,
    commit: () => {
      for (const v of uplinks) delete state.vlans[v.name]!.network;
    },
  };
}

/** Names of the links that are VLAN uplinks of `network` (not workloads, for "in use" checks and counts). */
export function uplinkNames(state: VoltState, network: string): Set<string> {
  return new Set(Object.values(state.vlans ?? {}).filter((v) => v.network === network).map((v) => v.name));
}
