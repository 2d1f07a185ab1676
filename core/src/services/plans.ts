import { errorMessage } from '../errors';
import type { BridgeDriver } from '../drivers/bridge';
import type { FirewallDriver, FirewallRuleSet, HostInputPolicy } from '../drivers/firewall';
import type { VoltConfig } from '../config/defaults';
import type { StateStore } from '../state/store';
import type { AttachmentRecord, NetworkRecord, PendingRecord, VoltState } from '../state/types';
import { removePending, settleAction, type PendingIntent, type PlanStep } from '../state/journal';
import { ipBatch } from '../kernel/ip';
import { ipBatchIn } from '../kernel/netns';
import { runCommand } from '../kernel/exec';
import { prefixOf } from './network-plan';
import { bridgeSpec, firewallNetwork } from './network-service';
import { detachUplinkSteps } from './vlan-service';
import { applyFirewallResult, firewallPlanSteps } from './plans-firewall';

/**
 * The plans of the journaled operations: each a list of named steps (OPERATION_STEPS) with
 * undo, built from the pending record alone — so the process that settles a record after a
 * crash runs exactly the undo (or the remaining steps) the crashed one would have.
 */
export interface PlanDeps {
  bridge(): Promise<BridgeDriver>;
  firewall(): Promise<FirewallDriver>;
  warn(message: string): void;
  hostPolicy: HostInputPolicy;
  firewallRules?(state: VoltState): FirewallRuleSet;
}

export function hostPolicyOf(config: VoltConfig): HostInputPolicy {
  const f = config.network.firewall;
  return { policy: f.host_input, allow: f.host_allow };
}

/** The steps of a pending record's operation, in order. */
export function planSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  switch (rec.op) {
    case 'connect':
      return connectSteps(rec);
    case 'disconnect':
      return disconnectSteps(rec);
    case 'net-create':
      return createSteps(rec, state, d);
    case 'net-delete':
      return deleteSteps(rec, state, d);
    default:
      return firewallPlanSteps(rec, state, d);
  }
}

/** The state change an operation commits when it completes (also when a settlement rolls it forward). */
export function applyResult(rec: PendingIntent, state: VoltState): void {
  switch (rec.op) {
    case 'connect': {
      const a = rec.attachment!;
      if (rec.workload && !state.workloads[a.workload]) state.workloads[a.workload] = rec.workload;
      if (!state.attachments.some((x) => x.workload === a.workload && x.network === a.network)) state.attachments.push(a);
      return;
    }
    case 'disconnect': {
      const gone = rec.attachments ?? [];
      state.attachments = state.attachments.filter((a) => !gone.some((g) => g.workload === a.workload && g.network === a.network));
      for (const name of new Set(gone.map((g) => g.workload))) {
        const w = state.workloads[name];
        // A container found by name (not registered) is forgotten once it has no networks.
        if (w?.type === 'container' && !w.registered && !state.attachments.some((a) => a.workload === name)) delete state.workloads[name];
      }
      return;
    }
    case 'net-create':
      for (const n of rec.networks ?? []) state.networks[n.name] = n;
      return;
    case 'net-delete':
      for (const n of rec.networks ?? []) {
        for (const v of Object.values(state.vlans)) if (v.network === n.name) delete v.network;
        delete state.networks[n.name];
        state.attachments = state.attachments.filter((a) => a.network !== n.name);
      }
      return;
    default:
      applyFirewallResult(rec, state);
  }
}

function connectSteps(rec: PendingIntent): PlanStep[] {
  const a = rec.attachment!;
  const net = rec.networks![0]!;
  const nsFile = rec.nsFile!;
  const what = `connect "${a.workload}" to "${a.network}"`;
  return [
    {
      name: 'veth',
      what: `create veth ${a.hostIfname}`,
      // The peer is created directly inside the container, so its name never collides on the host.
      apply: () =>
        ipBatch(`${what}: create veth ${a.hostIfname}`, [
          `link add name ${a.hostIfname} mtu ${net.mtu} type veth peer name ${a.ifname} address ${a.mac} mtu ${net.mtu} netns ${nsFile}`,
          // No IPv6 link-local on the host end: DAD/MLD flooded to every port is what makes big bridges slow.
          `link set dev ${a.hostIfname} addrgenmode none`,
          `link set dev ${a.hostIfname} alias volt:${a.network}/${a.workload}`, // ownership mark without state (leftovers.ts)
          `link set dev ${a.hostIfname} master ${net.bridge} up`,
        ]),
      // Deleting the host end removes the peer inside the container too.
      undo: () => unplugVeth(a),
    },
    {
      name: 'address',
      what: `configure ${a.ifname} inside "${a.workload}"`,
      apply: () =>
        ipBatchIn(nsFile, `${what}: configure ${a.ifname} inside the container`, [
          'link set dev lo up',
          `addr add ${a.ip}/${prefixOf(net.subnet)} dev ${a.ifname}`,
          `link set dev ${a.ifname} alias volt:${a.network}/${a.workload}`, // ownership mark without state (leftovers.ts)
          `link set dev ${a.ifname} up`,
          ...(rec.defaultRoute ? [`route replace default via ${net.gateway} dev ${a.ifname}`] : []),
        ]),
    },
  ];
}

function disconnectSteps(rec: PendingIntent): PlanStep[] {
  const gone = rec.attachments ?? [];
  return [
    {
      name: 'unplug',
      what: `remove veth ${gone.map((a) => a.hostIfname).join(', ')}`,
      apply: async () => {
        for (const a of gone) await unplugVeth(a);
      },
    },
  ];
}

function createSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const nets = rec.networks ?? [];
  const names = nets.map((n) => n.name).join(', ');
  return [
    {
      name: 'firewall-base',
      what: rec.base ? 'set up firewall table' : 'firewall table exists',
      apply: async () => {
        if (rec.base) await (await d.firewall()).setupBase(d.hostPolicy, d.firewallRules?.(state));
      },
      // Only while no network needs the table (a settlement may run after other networks appeared).
      undo: async () => {
        if (rec.base && Object.keys(state.networks).length === 0) await (await d.firewall()).teardownBase();
      },
    },
    {
      name: 'bridge',
      what: `create bridge ${nets.map((n) => n.bridge).join(', ')}`,
      apply: async () => {
        const b = await d.bridge();
        for (const n of nets) await b.setupBridge(bridgeSpec(n));
      },
      undo: async () => {
        const b = await d.bridge();
        for (const n of nets.slice().reverse()) await b.teardownBridge(bridgeSpec(n));
      },
    },
    {
      name: 'firewall',
      what: `set up firewall for ${names}`,
      apply: async () => {
        const f = await d.firewall();
        for (const n of nets) await f.setupNetwork(firewallNetwork(n));
      },
      undo: async () => {
        const f = await d.firewall();
        for (const n of nets.slice().reverse()) await f.teardownNetwork(firewallNetwork(n));
      },
    },
  ];
}

function deleteSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const n: NetworkRecord = rec.networks![0]!;
  return [
    {
      name: 'uplinks',
      what: `detach VLAN uplinks of ${n.name}`,
      // VLAN uplinks leave the bridge first and stay (vlan-service.ts).
      apply: async () => {
        for (const s of detachUplinkSteps(state, n.name, await d.bridge(), d.warn).steps) await s.apply();
      },
      undo: async () => {
        for (const s of detachUplinkSteps(state, n.name, await d.bridge(), d.warn).steps.reverse()) await s.undo?.();
      },
    },
    {
      name: 'firewall',
      what: `remove firewall rules of ${n.name}`,
      apply: async () => (await d.firewall()).teardownNetwork(firewallNetwork(n)),
      undo: async () => (await d.firewall()).setupNetwork(firewallNetwork(n)),
    },
    {
      name: 'bridge',
      what: `delete bridge ${n.bridge}`,
      apply: async () => (await d.bridge()).teardownBridge(bridgeSpec(n)),
      undo: async () => (await d.bridge()).setupBridge(bridgeSpec(n)),
    },
    {
      name: 'firewall-base',
      what: rec.base ? 'remove firewall table' : 'other networks keep the firewall table',
      apply: async () => {
        // Re-evaluated when rolled forward later: other networks may exist by then.
        if (rec.base && Object.keys(state.networks).every((x) => x === n.name)) await (await d.firewall()).teardownBase();
      },
      undo: async () => {
        if (rec.base) await (await d.firewall()).setupBase(d.hostPolicy);
      },
    },
  ];
}

/** Deleting the host end removes both ends; a pair that is already gone is success. */
export async function unplugVeth(a: AttachmentRecord): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', a.hostIfname]);
  if (r.code !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) {
    throw new Error(`remove veth ${a.hostIfname}: ${r.stderr.trim()}`);
  }
}

/** What settling one pending record did (printed by `volt net up`). */
export interface Settled {
  op: string;
  object: string;
  action: 'rolled back' | 'rolled forward' | 'failed';
  detail: string;
}

/**
 * Under the state lock: settle every pending record (all belong to dead processes — a live one
 * would hold the lock). The rule (journal.ts SETTLE_RULE): connect and net-create roll back —
 * every step undone in reverse, done or not, their reservation released — unless every step is
 * recorded done, when the result is committed; disconnect and net-delete always roll forward —
 * the steps not recorded done run again (all are idempotent) and the result is committed. Each
 * settled record is written at once. A record that cannot be settled stays (a warning), and
 * keeps its address and subnet reserved.
 */
export async function settlePending(store: StateStore, state: VoltState, d: PlanDeps): Promise<Settled[]> {
  const out: Settled[] = [];
  for (const rec of [...(state.pending ?? [])]) {
    const steps = planSteps(rec, state, d);
    const forward = settleAction(rec) === 'roll forward';
    const done = new Set(rec.steps.filter((s) => s.done).map((s) => s.name));
    const ran: string[] = [];
    try {
      if (forward) {
        for (const s of steps) {
          if (done.has(s.name)) continue;
          await s.apply();
          ran.push(s.name);
        }
        applyResult(rec, state);
      } else {
        for (const s of steps.slice().reverse()) {
          if (!s.undo) continue;
          await s.undo();
          ran.push(s.name);
        }
      }
      removePending(state, rec.id);
      store.checkpoint();
      const released = rec.op === 'connect' && !forward ? `; released ${rec.attachment?.ip}` : '';
      out.push({
        op: rec.op,
        object: rec.object,
        action: forward ? 'rolled forward' : 'rolled back',
        detail: `${forward ? 'completed steps' : 'undid steps'}: ${ran.join(', ') || 'none needed'}${released}`,
      });
    } catch (e: unknown) {
      d.warn(`settle interrupted ${rec.op} of ${rec.object}: ${errorMessage(e)}`);
      out.push({ op: rec.op, object: rec.object, action: 'failed', detail: errorMessage(e) });
    }
  }
  return out;
}
