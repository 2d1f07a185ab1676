import * as fs from 'node:fs';
import type { BridgeContainerPortBatch, BridgeContainerPorts, BridgeDriver, ContainerPortSpec } from '@volt/sdk';
import type { GuestDhcp, VmNicDriver, VmNicSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { ContainerPortBatchError, batchErrorIndex, configureVethPeer, configureVethPeers, setupVethPort, setupVethPorts, teardownVethPort, teardownVethPorts } from '@volt/sdk/kernel';
import { runPlan, type PendingIntent } from '../../state/journal';
import type { StateStore } from '../../state/store';
import type { AttachmentRecord, NetworkRecord, VmNicRuntime, VmRecord, VoltState } from '../../state/types';
import { syncLeases } from '../vm/dhcp-leases';
import { bridgeSpec, firewallNetwork } from '../network/network-service';
import { applyResult, planSteps, settlePending, type PlanDeps, type Settled } from './plans';
import { applySteps, type Step } from './steps';
import { qemuAlive, waitGone } from '../vm/vm-qemu';

/**
 * The attachment executor: carries out a plan of the attachment planner (attach-plan.ts) for
 * container and VM NICs alike. Every kernel change goes through a contract (the bridge driver's
 * container ports, the vm-nic driver's TAPs, guest DHCP), as the named steps of a journaled
 * operation (plans.ts, state/journal.ts: pending record first); the attachment listeners (DNS
 * files, firewall rules that name workloads) run last, as steps with undo, so a listener that
 * fails undoes the listeners before it and every kernel step.
 */

export interface AttachmentChange {
  added: AttachmentRecord[];
  removed: AttachmentRecord[];
}

/**
 * Runs inside the transaction once attachments changed. A throw aborts the operation: a
 * listener undoes its own half-done changes before throwing; the executor undoes the others
 * by calling them again with the state before and the inverse change.
 */
export type AttachmentListener = (state: VoltState, change: AttachmentChange) => Promise<void>;

/** The host side of VM NICs for `volt net connect/disconnect`, through the vm-nic drivers and guest DHCP. */
export interface VmPorts {
  /** Is the VM's QEMU running (its TAPs exist)? */
  running(vm: VmRecord): boolean;
  /** The running VM's TAP for this attachment joins `bridge` (updates vm.runtime in the draft). */
  attach(vm: VmRecord, attachment: AttachmentRecord, bridge: string): Promise<void>;
  /** ...and leaves its bridge; a TAP that is gone is success. */
  detach(vm: VmRecord, attachment: AttachmentRecord): Promise<void>;
  /** The guests' DHCP servers of these networks serve exactly the VM leases in `state`. */
  syncLeases(state: VoltState, networks: string[]): Promise<void>;
  /**
   * Remove a VM's TAPs (settling an interrupted start or stop): each through the driver that made it,
   * or, when that is not known (killed mid-way), through every installed vm-nic driver; gone is success.
   */
  removeTaps(vm: VmRecord, taps: { id: string; ifname: string; driver?: string }[]): Promise<void>;
  /** SIGKILL the VM's QEMU: the one with this pid, or any QEMU whose command line names the UUID. */
  killQemu(uuid: string, pid?: number): Promise<void>;
}

export interface VmPortDeps {
  /** Every installed vm-nic driver (a TAP is handled by the driver that made it). */
  nicDrivers(): Promise<VmNicDriver[]>;
  dhcp(): Promise<GuestDhcp>;
  /** Is this VM's QEMU alive? Default: its pid runs QEMU with the VM's UUID. */
  running?(vm: VmRecord): boolean;
}

/** VmPorts through the contracts. */
export function contractVmPorts(d: VmPortDeps): VmPorts {
  const driverOf = async (vm: VmRecord, nic: VmNicRuntime): Promise<VmNicDriver | undefined> => (await d.nicDrivers()).find((x) => x.name === nic.driver);
  return {
    running: (vm) => (d.running ? d.running(vm) : qemuAlive(vm.runtime?.pid, vm.uuid)),
    async attach(vm, attachment, bridge) {
      const nic = vm.runtime?.nics.find((n) => n.id === attachment.ifname);
      if (!vm.runtime || !nic) return;
      const driver = await driverOf(vm, nic);
      if (!driver) throw new DriverError(`plug VM "${vm.name}" NIC ${nic.id}: its driver ${nic.driver} is not installed any more`, { code: 'E_NO_DRIVER' });
      await driver.attachNic({ ...runtimeSpec(vm, nic), bridge });
      nic.bridge = bridge;
    },
    async detach(vm, attachment) {
      const nic = vm.runtime?.nics.find((n) => n.id === attachment.ifname);
      if (!vm.runtime || !nic) return;
      await (await driverOf(vm, nic))?.detachNic({ ...runtimeSpec(vm, nic), bridge: undefined });
      nic.bridge = undefined;
    },
    async syncLeases(state, networks) {
      await syncLeases(await d.dhcp(), state, networks);
    },
    async removeTaps(vm, taps) {
      const all = await d.nicDrivers();
      for (const tap of taps) {
        const drivers = all.filter((x) => tap.driver === undefined || x.name === tap.driver);
        const spec: VmNicSpec = { vm: vm.name, vmUuid: vm.uuid, nicId: tap.id, ifname: tap.ifname, mac: '', mtu: 0, queues: 1 };
        for (const driver of drivers.length > 0 ? drivers : all) await driver.teardownNic(spec);
      }
    },
    async killQemu(uuid, pid) {
      const pids = pid !== undefined && qemuAlive(pid, uuid) ? [pid] : qemuPidsOf(uuid);
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      for (const p of pids) await waitGone(p, uuid, 5000);
    },
  };
}

/** Processes whose command line names this UUID and that run QEMU (a start killed between spawn and record). */
function qemuPidsOf(uuid: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid !== process.pid && qemuAlive(pid, uuid)) out.push(pid);
  }
  return out;
}

/** The spec of a running VM's NIC, from what its runtime recorded. */
export function runtimeSpec(vm: VmRecord, nic: VmNicRuntime): VmNicSpec {
  return { vm: vm.name, vmUuid: vm.uuid, nicId: nic.id, ifname: nic.ifname, bridge: nic.bridge, mac: nic.mac, mtu: nic.mtu, queues: nic.queues };
}

/** The bridge driver's container ports, or core's Linux veth helpers for a driver without them. */
export function containerPorts(bridge: BridgeDriver): BridgeContainerPorts {
  if (bridge.setupContainerPort && bridge.configureContainerPort && bridge.teardownContainerPort) {
    return {
      setupContainerPort: bridge.setupContainerPort.bind(bridge),
      configureContainerPort: bridge.configureContainerPort.bind(bridge),
      teardownContainerPort: bridge.teardownContainerPort.bind(bridge),
    };
  }
  return { setupContainerPort: setupVethPort, configureContainerPort: configureVethPeer, teardownContainerPort: teardownVethPort };
}

/**
 * Container ports in batches: the driver's own (capability container-port-batch), core's Linux
 * veth helpers for a driver without container ports, else the driver's single-port methods in
 * turn (a failure then names its port: ContainerPortBatchError with its index).
 */
export function containerPortBatch(bridge: BridgeDriver): BridgeContainerPortBatch {
  if (bridge.setupContainerPorts && bridge.configureContainerPorts && bridge.teardownContainerPorts) {
    return {
      setupContainerPorts: bridge.setupContainerPorts.bind(bridge),
      configureContainerPorts: bridge.configureContainerPorts.bind(bridge),
      teardownContainerPorts: bridge.teardownContainerPorts.bind(bridge),
    };
  }
  if (!(bridge.setupContainerPort && bridge.configureContainerPort && bridge.teardownContainerPort)) {
    return { setupContainerPorts: setupVethPorts, configureContainerPorts: (specs) => configureVethPeers(specs), teardownContainerPorts: teardownVethPorts };
  }
  const one = containerPorts(bridge);
  const each = async <T>(specs: readonly T[], f: (s: T) => Promise<void>): Promise<void> => {
    for (const [i, s] of specs.entries()) {
      try {
        await f(s);
      } catch (e: unknown) {
        throw batchErrorIndex(e) === undefined ? new ContainerPortBatchError(errorMessage(e), i) : e;
      }
    }
  };
  return {
    setupContainerPorts: (specs) => each(specs, (s: ContainerPortSpec) => one.setupContainerPort(s)),
    configureContainerPorts: (specs) => each(specs, (s: ContainerPortSpec) => one.configureContainerPort(s)),
    // Every port is tried; the failures are reported together.
    teardownContainerPorts: async (specs) => {
      const failures: string[] = [];
      for (const s of specs) {
        try {
          await one.teardownContainerPort(s);
        } catch (e: unknown) {
          failures.push(errorMessage(e));
        }
      }
      if (failures.length > 0) throw new DriverError(failures.join('; '), { code: 'E_KERNEL' });
    },
  };
}

/** The listeners as the last steps of an operation: each undone by a call with the state before and the inverse change. */
export function listenerSteps(listeners: readonly AttachmentListener[], state: VoltState, before: VoltState, change: AttachmentChange): Step[] {
  const inverse: AttachmentChange = { added: change.removed, removed: change.added };
  return listeners.map((l, i) => ({
    what: `attachment listener ${i + 1} of ${listeners.length}`,
    apply: () => l(state, change),
    undo: () => l(before, inverse),
  }));
}

export interface ExecutorDeps extends PlanDeps {
  store: StateStore;
}

export class AttachmentExecutor {
  constructor(private readonly d: ExecutorDeps) {}

  get planDeps(): PlanDeps {
    return this.d;
  }

  /** Under the lock: settle what killed volts left pending (plans.ts). */
  settle(state: VoltState): Promise<Settled[]> {
    return settlePending(this.d.store, state, this.d);
  }

  /**
   * A journaled connect (container or VM): the pending record, the kernel steps, the result in
   * the draft, then the listeners. Any failure undoes all of it and puts the draft back.
   */
  async connect(state: VoltState, intent: PendingIntent, added: AttachmentRecord[] = [intent.attachment!]): Promise<void> {
    // A container's veth steps touch only the kernel (a VM's TAP step records its bridge in the draft).
    const onlyRecord = intent.op === 'connect' || intent.op === 'connect-batch';
    const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.d), this.d.warn, { stepsTouchOnlyTheRecord: onlyRecord });
    const before = structuredClone(state);
    applyResult(intent, state);
    try {
      await applySteps(listenerSteps(this.d.listeners ?? [], state, before, { added, removed: [] }), this.d.warn);
    } catch (e: unknown) {
      await plan.abort();
      throw e;
    }
    plan.finish();
  }

  /**
   * A journaled batch of container connects to one network (connect-batch): one pending record
   * for all of them, the kernel steps for all at once, every result in the draft, the listeners
   * once with every new attachment. Any failure undoes all of it and puts the draft back.
   */
  async connectBatch(state: VoltState, intent: PendingIntent): Promise<void> {
    await this.connect(state, intent, (intent.connects ?? []).map((c) => c.attachment));
  }

  /**
   * A journaled disconnect (always finished once begun): the pending record, the kernel steps,
   * the result. A failed step is returned (the host side is gone or unreachable: the caller
   * forgets the attachments anyway and warns); the listeners run when the caller has the final state.
   */
  async disconnect(state: VoltState, intent: PendingIntent): Promise<string[]> {
    try {
      const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.d), this.d.warn);
      applyResult(intent, state);
      plan.finish();
      return [];
    } catch (e: unknown) {
      return [errorMessage(e)];
    }
  }

  /** Tell the listeners, in order; the first failure undoes the ones before it and is thrown. */
  async notify(state: VoltState, before: VoltState, change: AttachmentChange): Promise<void> {
    await applySteps(listenerSteps(this.d.listeners ?? [], state, before, change), this.d.warn);
  }

  /** Tell the listeners about removals: the records go either way, so a failure is returned, not undone. */
  async notifyRemoved(state: VoltState, removed: AttachmentRecord[]): Promise<string | undefined> {
    try {
      for (const l of this.d.listeners ?? []) await l(state, { added: [], removed });
      return undefined;
    } catch (e: unknown) {
      return errorMessage(e);
    }
  }

  /**
   * Spec: "Bridge not found → create bridge or fail with clear error". Desired state knows it: re-create it
   * (and its firewall part). Only this link is read (not every link with its ports): connect stays flat on a big bridge.
   */
  async ensureBridge(net: NetworkRecord, notes: string[]): Promise<void> {
    const kind = await this.d.probes.linkKind(net.bridge);
    if (kind === 'bridge') return;
    const bridge = await this.d.bridge();
    // Not a Linux bridge, but the driver's own kind of bridge (Open vSwitch: a tap-like internal port).
    if (kind !== undefined && (await bridge.inspectBridge(net.bridge)).kind === 'bridge') return;
    await bridge.setupBridge(bridgeSpec(net));
    const firewall = await this.d.firewall();
    await firewall.setupNetwork(firewallNetwork(net));
    notes.push(`bridge ${net.bridge} was missing in the kernel; re-created it from state (run \`volt net check\` for other drift)`);
  }
}
