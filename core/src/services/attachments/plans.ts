import { promises as fs } from 'node:fs';
import { errorMessage } from '@volt/sdk';
import { batchErrorIndex } from '@volt/sdk/kernel';
import type { BridgeDriver } from '@volt/sdk';
import type { FirewallDriver, FirewallRuleSet, HostInputPolicy } from '@volt/sdk';
import type { VoltConfig } from '../../config/defaults';
import type { StateStore } from '../../state/store';
import type { ContainerPortSpec } from '@volt/sdk';
import type { AttachmentRecord, NetworkRecord, PendingRecord, VmRecord, VoltState } from '../../state/types';
import { removePending, settleAction, type PendingIntent, type PlanStep } from '../../state/journal';
import { prefixOf } from '../network/network-plan';
import { bridgeSpec, firewallNetwork } from '../network/network-service';
import { detachUplinkSteps } from '../network/vlan-service';
import { containerPortBatch, containerPorts, type AttachmentListener, type VmPorts } from './attach-exec';
import type { KernelProbes } from './attach-probes';
import { applyFirewallResult, firewallPlanSteps } from '../firewall/plans-firewall';

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
  /** Kernel reads (attach-probes.ts). */
  probes: KernelProbes;
  /** VM NICs through the vm-nic drivers and guest DHCP; without it a VM operation cannot be settled here. */
  vmPorts?: VmPorts;
  /** Attachment listeners (DNS files, firewall rules naming workloads): run last, also when a settlement rolls a connect forward. */
  listeners?: AttachmentListener[];
}

export function hostPolicyOf(config: VoltConfig): HostInputPolicy {
  const f = config.network.firewall;
  return { policy: f.host_input, allow: f.host_allow };
}

/** The steps of a pending record's operation, in order. */
export function planSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  switch (rec.op) {
    case 'connect':
      return connectSteps(rec, d);
    case 'connect-batch':
      return connectBatchSteps(rec, d);
    case 'disconnect':
      return disconnectSteps(rec, d);
    case 'vm-connect':
      return vmConnectSteps(rec, state, d);
    case 'vm-disconnect':
      return vmDisconnectSteps(rec, state, d);
    case 'vm-start':
      return vmStartSteps(rec, state, d);
    case 'vm-stop':
      return vmStopSteps(rec, state, d);
    case 'vm-delete':
      return vmDeleteSteps(rec, state, d);
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
    case 'connect-batch':
      for (const c of rec.connects ?? []) {
        const a = c.attachment;
        if (!state.workloads[a.workload]) state.workloads[a.workload] = c.workload;
        if (!state.attachments.some((x) => x.workload === a.workload && x.network === a.network)) state.attachments.push(a);
      }
      return;
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
    case 'vm-connect': {
      const a = rec.attachment!;
      const vm = state.workloads[a.workload];
      if (vm?.type === 'vm') {
        let nic = vm.nics.find((n) => n.id === a.ifname);
        if (!nic && rec.vmNic) vm.nics.push((nic = structuredClone(rec.vmNic)));
        if (nic) {
          nic.network = a.network;
          nic.mac = a.mac;
          nic.ip = a.ip;
          if (a.ip6 !== undefined) nic.ip6 = a.ip6;
        }
      }
      if (!state.attachments.some((x) => x.workload === a.workload && x.network === a.network)) state.attachments.push(a);
      return;
    }
    case 'vm-disconnect': {
      const gone = rec.attachments ?? [];
      state.attachments = state.attachments.filter((a) => !gone.some((g) => g.workload === a.workload && g.network === a.network));
      // The NIC stays in the VM (and its MAC with it), off the network: it does not rejoin at the next start.
      for (const g of gone) {
        const vm = state.workloads[g.workload];
        const nic = vm?.type === 'vm' ? vm.nics.find((n) => n.id === g.ifname) : undefined;
        if (nic) {
          nic.network = undefined;
          nic.ip = undefined;
          nic.ip6 = undefined;
        }
      }
      return;
    }
    case 'vm-start': {
      const vm = state.workloads[rec.vm!];
      if (vm?.type !== 'vm') return;
      if (rec.vmNics) vm.nics = structuredClone(rec.vmNics);
      for (const a of rec.attachments ?? []) {
        if (!state.attachments.some((x) => x.workload === a.workload && x.network === a.network)) state.attachments.push(a);
      }
      const rt = rec.vmStart?.runtime;
      if (rt) {
        vm.runtime = rt;
        vm.pid = rt.pid;
        vm.startedAt = rt.startedAt;
      }
      return;
    }
    case 'vm-stop': {
      const vm = state.workloads[rec.vm!];
      if (vm?.type !== 'vm') return;
      vm.runtime = undefined;
      vm.pid = undefined;
      vm.startedAt = undefined;
      return;
    }
    case 'vm-delete': {
      const gone = rec.vm!;
      state.attachments = state.attachments.filter((a) => a.workload !== gone);
      if (state.workloads[gone]?.type === 'vm') delete state.workloads[gone];
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

/** The bridge-contract spec of a container's port, from a connect's record. */
export function portSpec(a: AttachmentRecord, net: NetworkRecord, nsFile: string, defaultRoute: boolean): ContainerPortSpec {
  return {
    network: a.network,
    workload: a.workload,
    bridge: net.bridge,
    hostIfname: a.hostIfname,
    ifname: a.ifname,
    netns: nsFile,
    mac: a.mac,
    mtu: net.mtu,
    address: `${a.ip}/${prefixOf(net.subnet)}`,
    defaultGateway: defaultRoute ? net.gateway : undefined,
    // The IPv6 default route goes with the IPv4 one: via the workload's first network.
    ...(a.ip6 !== undefined && net.subnet6 !== undefined
      ? { address6: `${a.ip6}/${prefixOf(net.subnet6)}`, ...(defaultRoute && net.gateway6 !== undefined ? { defaultGateway6: net.gateway6 } : {}) }
      : {}),
  };
}

function connectSteps(rec: PendingIntent, d: PlanDeps): PlanStep[] {
  const a = rec.attachment!;
  const spec = portSpec(a, rec.networks![0]!, rec.nsFile!, rec.defaultRoute === true);
  const ports = async () => containerPorts(await d.bridge());
  return [
    {
      name: 'veth',
      what: `create veth ${a.hostIfname}`,
      apply: async () => (await ports()).setupContainerPort(spec),
      // Deleting the host end removes the peer inside the container too.
      undo: async () => (await ports()).teardownContainerPort(spec),
    },
    {
      name: 'address',
      what: `configure ${a.ifname} inside "${a.workload}"`,
      apply: async () => (await ports()).configureContainerPort(spec),
    },
  ];
}

/**
 * `volt net connect NET W1 … WN`: the single connect's two steps, each for every container at
 * once — `veths` (every pair created, host ends on the bridge: one `ip -batch` with the Linux
 * helpers), `addresses` (every peer configured inside its namespace). The undo of `veths`
 * removes every host end of the batch (peers go with them); ports already gone are success.
 */
function connectBatchSteps(rec: PendingIntent, d: PlanDeps): PlanStep[] {
  const net = rec.networks![0]!;
  const specs = (rec.connects ?? []).map((c) => portSpec(c.attachment, net, c.nsFile, c.defaultRoute));
  const ports = async () => containerPortBatch(await d.bridge());
  const n = specs.length;
  return [
    {
      name: 'veths',
      what: `create ${n} veth${n === 1 ? '' : 's'} on ${net.bridge}`,
      // A failure part way leaves the ports before it: the step is not done, so it cleans up
      // itself — the ports before the one that failed, and that one only if it is a veth (its
      // name may be taken by a link that is not volt's: that is why it failed).
      apply: async () => {
        const p = await ports();
        try {
          await p.setupContainerPorts(specs);
        } catch (e: unknown) {
          const k = batchErrorIndex(e);
          const made: ContainerPortSpec[] = [];
          for (const [i, s] of specs.entries()) {
            if (k !== undefined && i < k) made.push(s);
            else if ((k === undefined || i === k) && (await d.probes.linkKind(s.hostIfname)) === 'veth') made.push(s);
          }
          await p.teardownContainerPorts(made).catch((u: unknown) => d.warn(`undo "create ${n} veths" after a failure: ${errorMessage(u)}`));
          throw e;
        }
      },
      undo: async () => (await ports()).teardownContainerPorts(specs),
    },
    {
      name: 'addresses',
      what: `configure ${n} container${n === 1 ? '' : 's'} on ${net.name}`,
      apply: async () => (await ports()).configureContainerPorts(specs),
    },
  ];
}

function disconnectSteps(rec: PendingIntent, d: PlanDeps): PlanStep[] {
  const gone = rec.attachments ?? [];
  return [
    {
      name: 'unplug',
      what: `remove veth ${gone.map((a) => a.hostIfname).join(', ')}`,
      apply: async () => {
        const ports = containerPorts(await d.bridge());
        for (const a of gone) await ports.teardownContainerPort(a);
      },
    },
  ];
}

function needPorts(d: PlanDeps, rec: PendingIntent): VmPorts {
  if (!d.vmPorts) throw new Error(`${rec.op} of ${rec.object}: the VM NIC drivers are not loaded in this command`);
  return d.vmPorts;
}

/** `state` with attachments added and removed: what the guests' DHCP must serve before or after a step. */
function withAttachments(state: VoltState, add: AttachmentRecord[], remove: AttachmentRecord[]): VoltState {
  const same = (x: AttachmentRecord, y: AttachmentRecord): boolean => x.workload === y.workload && x.network === y.network;
  return { ...state, attachments: [...state.attachments.filter((a) => !remove.some((r) => same(a, r)) && !add.some((r) => same(a, r))), ...add] };
}

/** `volt net connect NET VM`: a running VM's TAP joins the bridge, then the guests' DHCP serves the new lease. */
function vmConnectSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const a = rec.attachment!;
  const net = rec.networks![0]!;
  // The VM is read when a step runs: settlement builds the steps before it changes anything.
  const vm = (): VmRecord | undefined => {
    const w = state.workloads[a.workload];
    return w?.type === 'vm' ? w : undefined;
  };
  return [
    {
      name: 'tap',
      what: `plug TAP ${a.hostIfname} into ${net.bridge}`,
      apply: async () => {
        const v = vm();
        const ports = needPorts(d, rec);
        if (v && ports.running(v)) await ports.attach(v, a, net.bridge);
      },
      undo: async () => {
        const v = vm();
        const ports = needPorts(d, rec);
        if (v && ports.running(v)) await ports.detach(v, a);
      },
    },
    {
      name: 'leases',
      what: `serve the lease of ${a.mac} on ${net.name}`,
      apply: () => needPorts(d, rec).syncLeases(withAttachments(state, [a], []), [net.name]),
      undo: () => needPorts(d, rec).syncLeases(withAttachments(state, [], [a]), [net.name]),
    },
  ];
}

/** `volt net disconnect VM`: a running VM's TAPs leave their bridges (they stay in the VM), the leases go. */
function vmDisconnectSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const gone = rec.attachments ?? [];
  return [
    {
      name: 'tap',
      what: `unplug TAP ${gone.map((a) => a.hostIfname).join(', ')}`,
      apply: async () => {
        const ports = needPorts(d, rec);
        const failures: string[] = [];
        for (const a of gone) {
          const w = state.workloads[a.workload];
          try {
            if (w?.type === 'vm' && ports.running(w)) await ports.detach(w, a);
          } catch (e: unknown) {
            failures.push(errorMessage(e));
          }
        }
        if (failures.length > 0) throw new Error(failures.join('; '));
      },
    },
    {
      name: 'leases',
      what: `stop serving the leases of ${gone.map((a) => a.mac).join(', ')}`,
      apply: () => needPorts(d, rec).syncLeases(withAttachments(state, [], gone), gone.map((a) => a.network)),
    },
  ];
}

/**
 * `volt vm start`, as settled from its record (the live start runs its own closures under the same
 * step names, vm-service.ts): never resumed, so only the undos — QEMU killed, the leases as before,
 * the TAPs removed. A start whose every step is done is rolled forward: its recorded runtime is committed.
 */
function vmStartSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const name = rec.vm!;
  const added = rec.attachments ?? [];
  const vm = (): VmRecord | undefined => {
    const w = state.workloads[name];
    return w?.type === 'vm' ? w : undefined;
  };
  const cannot = async (): Promise<void> => {
    throw new Error(`${rec.op} of ${rec.object}: an interrupted start is not resumed; run \`volt vm start ${name}\` again`);
  };
  const leaseNetworks = (): string[] => [...new Set([...state.attachments.filter((a) => a.workload === name), ...added].map((a) => a.network))];
  return [
    {
      name: 'nics',
      what: `set up the TAPs of VM "${name}"`,
      apply: cannot,
      undo: async () => {
        const v = vm();
        if (v) await needPorts(d, rec).removeTaps(v, rec.vmStart?.taps ?? []);
      },
    },
    {
      name: 'leases',
      what: `serve the leases of VM "${name}"`,
      apply: cannot,
      undo: () => needPorts(d, rec).syncLeases(withAttachments(state, [], added), leaseNetworks()),
    },
    {
      name: 'qemu',
      what: `start QEMU for VM "${name}"`,
      apply: cannot,
      undo: () => needPorts(d, rec).killQemu(rec.vmUuid!, rec.vmStart?.pid),
    },
  ];
}

/** `volt vm stop` once QEMU is gone: its TAPs are removed (always finished once begun). */
function vmStopSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const rt = rec.vmRuntime;
  return [
    {
      name: 'nics',
      what: `remove the TAPs of VM "${rec.vm}"`,
      apply: async () => {
        const w = state.workloads[rec.vm!];
        if (w?.type === 'vm' && rt) await needPorts(d, rec).removeTaps(w, rt.nics.map((n) => ({ id: n.id, ifname: n.ifname, driver: n.driver })));
      },
    },
  ];
}

/** The state without a VM and its attachments: what the guests' DHCP serves once it is deleted. */
export function withoutVm(state: VoltState, name: string): VoltState {
  const workloads = { ...state.workloads };
  delete workloads[name];
  return { ...state, workloads, attachments: state.attachments.filter((a) => a.workload !== name) };
}

/**
 * `volt vm delete` of a stopped VM, as settled from its record (always rolled forward; the live
 * delete runs its own closures under the same step names, vm-service.ts): the TAPs of a QEMU that
 * had exited, the leases of its attachments, its runtime directory. Each is gone-is-success, so a
 * VM whose record is already gone (the commit was written, the journal not yet) costs nothing.
 */
function vmDeleteSteps(rec: PendingIntent, state: VoltState, d: PlanDeps): PlanStep[] {
  const name = rec.vm!;
  const gone = rec.attachments ?? [];
  return [
    {
      name: 'nics',
      what: `remove the TAPs of VM "${name}"`,
      apply: async () => {
        const w = state.workloads[name];
        const rt = rec.vmRuntime;
        if (w?.type === 'vm' && rt && rt.nics.length > 0) await needPorts(d, rec).removeTaps(w, rt.nics.map((n) => ({ id: n.id, ifname: n.ifname, driver: n.driver })));
      },
    },
    {
      name: 'leases',
      what: `stop serving the leases of VM "${name}"`,
      apply: async () => {
        if (gone.length > 0) await needPorts(d, rec).syncLeases(withoutVm(state, name), [...new Set(gone.map((a) => a.network))]);
      },
    },
    {
      name: 'files',
      what: `remove the runtime directory of VM "${name}"`,
      apply: async () => {
        if (rec.vmDir) await fs.rm(rec.vmDir, { recursive: true, force: true });
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
      what: `remove the container ports of ${n.name} and delete bridge ${n.bridge}`,
      apply: async () => {
        // `net delete --force`: the containers' veths go with the network (both ends; gone is
        // success, so a roll-forward runs it again safely). Read from state when the step runs:
        // the attachments leave state only when the delete commits.
        const bridge = await d.bridge();
        const ports = containerPorts(bridge);
        for (const a of state.attachments) {
          if (a.network === n.name && state.workloads[a.workload]?.type !== 'vm') await ports.teardownContainerPort(a);
        }
        await bridge.teardownBridge(bridgeSpec(n));
      },
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
 * keeps its address and subnet reserved. An attachment operation rolled forward is told to the
 * listeners (DNS files, firewall rules naming workloads) like a completed one; their failures are warnings.
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
        await notifySettled(rec, state, d);
      } else {
        for (const s of steps.slice().reverse()) {
          if (!s.undo) continue;
          await s.undo();
          ran.push(s.name);
        }
      }
      removePending(state, rec.id);
      store.checkpoint();
      const addressesOf = (a: AttachmentRecord | undefined): string => [a?.ip, a?.ip6].filter((x) => x !== undefined).join(' and ');
      const released =
        (rec.op === 'connect' || rec.op === 'vm-connect') && !forward
          ? `; released ${addressesOf(rec.attachment)}`
          : rec.op === 'connect-batch' && !forward
            ? `; released ${(rec.connects ?? []).map((c) => addressesOf(c.attachment)).join(', ')}`
            : '';
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

/** The listeners of a rolled-forward attachment operation (the kernel part is done: failures only warn). */
async function notifySettled(rec: PendingRecord, state: VoltState, d: PlanDeps): Promise<void> {
  const change =
    rec.op === 'connect' || rec.op === 'vm-connect'
      ? { added: rec.attachment ? [rec.attachment] : [], removed: [] }
      : rec.op === 'connect-batch'
        ? { added: (rec.connects ?? []).map((c) => c.attachment), removed: [] }
        : rec.op === 'vm-start'
        ? { added: rec.attachments ?? [], removed: [] }
        : rec.op === 'disconnect' || rec.op === 'vm-disconnect' || rec.op === 'vm-delete'
          ? { added: [], removed: rec.attachments ?? [] }
          : undefined;
  if (!change) return;
  try {
    for (const l of d.listeners ?? []) await l(state, change);
  } catch (e: unknown) {
    d.warn(`settle interrupted ${rec.op} of ${rec.object}: ${errorMessage(e)}`);
  }
}
