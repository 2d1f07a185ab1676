import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VoltConfig } from '../../config/defaults';
import {
  E_NIC_UNAVAILABLE,
  type GuestDhcp,
  type VmNicAccelerator,
  type VmNicAccelHandle,
  type VmNicDriver,
  type VmNicHandle,
  type VmNicSpec,
} from '@volt/sdk';
import { ConflictError, DriverError, NotFoundError, UserInputError, errorMessage, isVoltError } from '@volt/sdk';
import { getLink } from '@volt/sdk/kernel';
import type { VoltPaths } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { AttachmentRecord, VhostState, VmNicRecord, VmNicRuntime, VmRecord, VmRuntime, VoltState } from '../../state/types';
import { networksWithLeases, syncLeases, syncLeasesAll } from './dhcp-leases';
import { generateMac } from '../attachments/mac';
import { chooseAccel } from './vm-accel';
import { nicRecords, parseVmConfig, type VmConfig } from './vm-config';
import { QmpSession, qmpOnce } from './vm-qmp';
import { QEMU_BINARY, qemuAlive, qemuArgs, tailOf, waitGone, type QemuNic } from './vm-qemu';
import type { WorkloadService } from '../attachments/workload-service';
import { tapName } from '../attachments/attach-plan';
import { runtimeSpec, type AttachmentExecutor } from '../attachments/attach-exec';
import { applyResult } from '../attachments/plans';
import { restore, runPlan, type PendingIntent, type PlanStep } from '../../state/journal';

export interface VmNicDriverSet {
  /** The driver the registry selected (config, detection, fallback); undefined if none is available. */
  active?: VmNicDriver;
  /** Every installed vm-nic driver. */
  all: VmNicDriver[];
  /** Why the active one (or why none). */
  why: string;
}

export interface VmDeps {
  config: VoltConfig;
  store: StateStore;
  paths: VoltPaths;
  workloads(): Promise<WorkloadService>;
  /** The attachment executor: settles pending records before a VM command does its own work. */
  executor(): Promise<AttachmentExecutor>;
  nicDrivers(): Promise<VmNicDriverSet>;
  accelerators(): Promise<VmNicAccelerator[]>;
  dhcp(): Promise<GuestDhcp>;
  warn(message: string): void;
}

export type VmState = 'running' | 'stopped' | 'exited';

export interface VmNicView {
  id: string;
  network?: string;
  ip?: string;
  /** Dual-stack networks: the guest's IPv6 address (its SLAAC address on a /64 unless a static ip6 is configured). */
  ip6?: string;
  mac?: string;
  tap: string;
  driver?: string;
  queues: number;
  mtu?: number;
  /** "on", "off (reason)", or for a stopped VM "wanted" / "off (disabled in config)". */
  vhost: string;
}

export interface VmView {
  name: string;
  uuid: string;
  state: VmState;
  pid?: number;
  startedAt?: string;
  accel?: string;
  vcpus: number;
  memoryMib: number;
  kernel: string;
  initrd?: string;
  cmdline?: string;
  serialLog: string;
  qemuLog: string;
  qmpSocket?: string;
  nics: VmNicView[];
}

export interface StartReport {
  vm: VmView;
  notes: string[];
}

export interface StopOptions {
  /** Seconds to wait for the guest to power off after the ACPI power button (default 30). */
  timeoutS?: number;
  /** Skip the graceful part. */
  force?: boolean;
}

export interface StopReport {
  how: 'powered off' | 'terminated' | 'killed' | 'had exited' | 'not running';
  notes: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const READY_TIMEOUT_MS = 20_000;
const TERM_TIMEOUT_MS = 5_000;
/** sun_path is 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

interface PreparedNic {
  nic: VmNicRecord;
  spec: VmNicSpec;
  driver?: VmNicDriver;
  handle?: VmNicHandle;
  accel?: { driver: VmNicAccelerator; handle: VmNicAccelHandle };
  vhost: VhostState;
}

/** VM lifecycle: create/delete records, start QEMU with the NICs' fds, stop it, and clean up after it. */
export class VmService {
  constructor(private readonly d: VmDeps) {}

  vmDir(name: string): string {
    return path.join(this.d.paths.runDir, 'vm', name);
  }

  async create(name: string, file: string): Promise<VmView> {
    const what = `create VM "${name}"`;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e: unknown) {
      throw new UserInputError(`${what}: read ${file}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`, { code: 'E_VM_CONFIG_READ' });
    }
    const nicDrivers = (await this.d.nicDrivers()).all.map((d) => d.name);
    return this.d.store.transaction(async (state) => {
      if (!NAME.test(name)) throw new UserInputError(`${what}: names are 1-63 letters, digits, ".", "-", "_"`, { code: 'E_NAME_INVALID' });
      const existing = state.workloads[name];
      if (existing) {
        throw new ConflictError(`${what}: a ${existing.type} with this name exists`, {
          code: 'E_WORKLOAD_EXISTS',
          suggestions: ['`volt ps` lists workloads', existing.type === 'vm' ? `\`volt vm delete ${name}\` first to re-create it` : 'choose another name'],
        });
      }
      const config = parseVmConfig(text, file, { networks: state.networks, defaultNetwork: this.d.config.network.default_bridge, nicDrivers });
      const rec: VmRecord = {
        type: 'vm',
        name,
        uuid: randomUUID(),
        config: config as unknown as Record<string, unknown>,
        nics: nicRecords(config),
        createdAt: new Date().toISOString(),
      };
      state.workloads[name] = rec;
      return this.view(state, rec);
    });
  }

  async start(name: string): Promise<StartReport> {
    const first = this.getVm(this.d.store.read(), name, `start VM "${name}"`);
    const cfg = configOf(first);
    // Outside the lock: the first probe of a boot runs QEMU for about a second.
    const accel = await chooseAccel(cfg.accel, this.d.paths.runDir);
    const nicDrivers = await this.d.nicDrivers();
    const executor = await this.d.executor();
    return this.d.store.transaction(async (state) => {
      const what = `start VM "${name}"`;
      // Operations a killed volt left half done are settled first (docs/state-and-recovery.md).
      await executor.settle(state);
      const vm = this.getVm(state, name, what);
      if (qemuAlive(vm.runtime?.pid ?? vm.pid, vm.uuid)) {
        throw new ConflictError(`${what}: it is already running (pid ${vm.runtime?.pid ?? vm.pid})`, {
          code: 'E_VM_RUNNING',
          suggestions: [`\`volt vm stop ${name}\` first`, `\`volt vm inspect ${name}\` shows its console log`],
        });
      }
      const notes: string[] = [];
      if (vm.runtime) notes.push(...(await this.cleanupRuntime(vm, nicDrivers, 'its QEMU had exited')));
      const config = configOf(vm);
      for (const f of [config.kernel, config.initrd, config.disk?.path]) {
        if (f !== undefined && !fs.existsSync(f)) {
          throw new UserInputError(`${what}: ${f} does not exist any more`, { code: 'E_VM_FILE_MISSING', suggestions: ['re-create the VM with a config that names existing files'] });
        }
      }
      const ws = await this.d.workloads();
      // The default network first (journaled on its own), then the plan on the draft, which is put
      // back before the intent is written: the new attachments and NIC settings are the record's
      // reservation until the start commits them.
      await ws.ensureDefault(state);
      const before = structuredClone(state);
      const added: AttachmentRecord[] = [];
      for (const nic of vm.nics) {
        if (nic.network === undefined || state.attachments.some((a) => a.workload === vm.name && a.ifname === nic.id)) continue;
        added.push(await ws.planVmAttachment(state, vm, nic, nic.network, {}, notes));
      }
      for (const nic of vm.nics) nic.mac ??= generateMac('vm', vm.name, `nic:${nic.id}`);

      const dir = this.vmDir(name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const files = { serialLog: path.join(dir, 'serial.log'), qemuLog: path.join(dir, 'qemu.log'), qmpSocket: path.join(dir, 'qmp.sock') };
      if (files.qmpSocket.length > MAX_SOCKET_PATH) {
        throw new UserInputError(`${what}: the QMP socket path ${files.qmpSocket} is longer than ${MAX_SOCKET_PATH} bytes`, { code: 'E_PATH_TOO_LONG' });
      }
      fs.rmSync(files.qmpSocket, { force: true });

      const prepared: PreparedNic[] = vm.nics.map((nic) => ({ nic, spec: this.nicSpec(state, vm, nic), vhost: { on: false, reason: 'not set up' } }));
      const leaseNetworks = [...new Set(state.attachments.filter((a) => a.workload === vm.name).map((a) => a.network))];
      const planned = structuredClone(state);
      const vmNics = structuredClone(vm.nics);
      restore(state, before);
      const progress: NonNullable<PendingIntent['vmStart']> = { taps: prepared.map((p) => ({ id: p.nic.id, ifname: p.spec.ifname })) };
      const intent: PendingIntent = { op: 'vm-start', object: `VM ${name}`, vm: name, vmUuid: vm.uuid, attachments: added, vmNics, vmStart: progress };
      let child: ChildProcess | undefined;
      // The record's vmStart object is this one (runPlan copies the intent shallowly): what a step
      // writes into it is on disk with the step's "done".
      const steps: PlanStep[] = [
        {
          name: 'nics',
          what: `set up the TAPs of VM "${name}"`,
          apply: async () => {
            try {
              for (const [i, p] of prepared.entries()) {
                await this.setupNic(p, nicDrivers, notes);
                progress.taps[i]!.driver = p.driver!.name;
              }
              await this.setupAccel(vm, prepared);
            } catch (e: unknown) {
              // A failing step is not undone by the executor: the NICs made so far go here.
              for (const p of [...prepared].reverse()) await this.undoNic(p);
              throw e;
            }
          },
          undo: async () => {
            for (const p of [...prepared].reverse()) await this.undoNic(p);
          },
        },
        {
          name: 'leases',
          what: `serve the leases of VM "${name}"`,
          apply: async () => {
            if (leaseNetworks.length > 0) await syncLeases(await this.d.dhcp(), planned, leaseNetworks);
          },
          undo: async () => {
            if (leaseNetworks.length > 0) await syncLeases(await this.d.dhcp(), before, leaseNetworks);
          },
        },
        {
          name: 'qemu',
          what: `start QEMU for VM "${name}"`,
          apply: async () => {
            child = await this.spawnQemu(vm, config, accel.accel, files, prepared);
            progress.pid = child.pid!;
            progress.runtime = {
              pid: child.pid!,
              startedAt: new Date().toISOString(),
              accel: accel.accel,
              accelReason: accel.reason,
              ...files,
              nics: prepared.map(
                (p): VmNicRuntime => ({
                  id: p.nic.id,
                  ifname: p.spec.ifname,
                  driver: p.driver!.name,
                  queues: p.spec.queues,
                  mac: p.spec.mac,
                  mtu: p.spec.mtu,
                  bridge: p.spec.bridge,
                  vhost: p.vhost,
                }),
              ),
            };
          },
          undo: async () => {
            if (child?.pid !== undefined) signal(child.pid, 'SIGKILL');
          },
        },
      ];
      try {
        const plan = await runPlan(this.d.store, state, intent, steps, this.d.warn);
        const preResult = structuredClone(state);
        applyResult(intent, state);
        try {
          // Firewall rules that name this VM and other listeners see its new addresses in this transaction.
          if (added.length > 0) await ws.notifyChange(state, { added, removed: [] }, preResult);
        } catch (e: unknown) {
          await plan.abort();
          throw e;
        }
        plan.finish();
      } finally {
        closeAll(prepared);
      }
      if (accel.warning) this.d.warn(`VM "${name}": ${accel.warning}`);
      const off = prepared.filter((p) => p.nic.vhost && !p.vhost.on);
      if (off.length > 0) {
        this.d.warn(`VM "${name}": vhost-net unavailable (${off[0]!.vhost.reason}); NIC${off.length > 1 ? 's' : ''} ${off.map((p) => p.nic.id).join(', ')} use${off.length > 1 ? '' : 's'} userspace virtio-net`);
      }
      const started = this.getVm(state, name, what);
      return { vm: this.view(state, started), notes };
    });
  }

  async stop(name: string, opts: StopOptions = {}): Promise<StopReport> {
    const what = `stop VM "${name}"`;
    const vm0 = this.getVm(this.d.store.read(), name, what);
    const rt = vm0.runtime;
    let how: StopReport['how'] = rt ? 'had exited' : 'not running';
    // Outside the lock: a guest may take a while to power off.
    if (rt && qemuAlive(rt.pid, vm0.uuid)) {
      let gone = false;
      if (!opts.force) {
        try {
          await qmpOnce(rt.qmpSocket, 'system_powerdown');
          gone = await waitGone(rt.pid, vm0.uuid, (opts.timeoutS ?? 30) * 1000);
        } catch {
          gone = !qemuAlive(rt.pid, vm0.uuid);
        }
        if (gone) how = 'powered off';
      }
      if (!gone) {
        signal(rt.pid, 'SIGTERM');
        if (await waitGone(rt.pid, vm0.uuid, TERM_TIMEOUT_MS)) how = 'terminated';
        else {
          signal(rt.pid, 'SIGKILL');
          if (!(await waitGone(rt.pid, vm0.uuid, TERM_TIMEOUT_MS))) {
            throw new DriverError(`${what}: QEMU (pid ${rt.pid}) survived SIGKILL`, { code: 'E_VM_STOP' });
          }
          how = 'killed';
        }
      }
    }
    const nicDrivers = await this.d.nicDrivers();
    const executor = await this.d.executor();
    return this.d.store.transaction(async (state) => {
      await executor.settle(state);
      const vm = this.getVm(state, name, what);
      if (vm.runtime && qemuAlive(vm.runtime.pid, vm.uuid)) {
        throw new ConflictError(`${what}: it was started again meanwhile (pid ${vm.runtime.pid})`, { code: 'E_VM_RUNNING' });
      }
      if (!vm.runtime) return { how, notes: [] };
      // Journaled and always rolled forward: QEMU is gone, a stop killed mid-way is finished by the next command.
      let notes: string[] = [];
      const intent: PendingIntent = { op: 'vm-stop', object: `VM ${name}`, vm: name, vmUuid: vm.uuid, vmRuntime: structuredClone(vm.runtime) };
      const plan = await runPlan(this.d.store, state, intent, [
        {
          name: 'nics',
          what: `remove the TAPs of VM "${name}"`,
          apply: async () => {
            notes = await this.cleanupRuntime(vm, nicDrivers, how === 'had exited' ? 'its QEMU had exited' : undefined);
          },
        },
      ], this.d.warn);
      applyResult(intent, state);
      plan.finish();
      return { how, notes };
    });
  }

  async delete(name: string): Promise<VmView> {
    const nicDrivers = await this.d.nicDrivers();
    return this.d.store.transaction(async (state) => {
      const what = `delete VM "${name}"`;
      const vm = this.getVm(state, name, what);
      if (qemuAlive(vm.runtime?.pid ?? vm.pid, vm.uuid)) {
        throw new ConflictError(`${what}: it is running (pid ${vm.runtime?.pid ?? vm.pid})`, {
          code: 'E_VM_RUNNING',
          suggestions: [`\`volt vm stop ${name}\` first`],
        });
      }
      const view = this.view(state, vm);
      if (vm.runtime) await this.cleanupRuntime(vm, nicDrivers, 'its QEMU had exited');
      const removed = state.attachments.filter((a) => a.workload === name);
      const networks = removed.map((a) => a.network);
      state.attachments = state.attachments.filter((a) => a.workload !== name);
      delete state.workloads[name];
      if (networks.length > 0) await syncLeases(await this.d.dhcp(), state, networks);
      if (removed.length > 0) {
        // The VM is gone either way: a listener failure is reported, not a reason to keep the records.
        const ws = await this.d.workloads();
        const failure = await ws.notifyRemoved(state, removed);
        if (failure !== undefined) this.d.warn(`${what}: ${failure}`);
      }
      fs.rmSync(this.vmDir(name), { recursive: true, force: true });
      return view;
    });
  }

  list(): VmView[] {
    const state = this.d.store.read();
    return Object.values(state.workloads)
      .filter((w): w is VmRecord => w.type === 'vm')
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((vm) => this.view(state, vm));
  }

  inspect(name: string): VmView {
    const state = this.d.store.read();
    return this.view(state, this.getVm(state, name, `inspect VM "${name}"`));
  }

  /**
   * For `volt net up`: clean the NICs of VMs whose QEMU died, put running VMs'
   * TAPs back on their bridges (a re-created bridge has no ports), and make every
   * network's guest DHCP serve exactly its leases. Returns what it changed.
   */
  async reconcile(): Promise<string[]> {
    const state0 = this.d.store.read();
    const vms0 = Object.values(state0.workloads).filter((w): w is VmRecord => w.type === 'vm');
    if (vms0.length === 0 && networksWithLeases(state0).length === 0) return [];
    const nicDrivers = await this.d.nicDrivers();
    return this.d.store.transaction(async (state) => {
      const out: string[] = [];
      for (const vm of Object.values(state.workloads)) {
        if (vm.type !== 'vm' || !vm.runtime) continue;
        if (!qemuAlive(vm.runtime.pid, vm.uuid)) {
          out.push(...(await this.cleanupRuntime(vm, nicDrivers, 'its QEMU had exited')));
          continue;
        }
        for (const nic of vm.runtime.nics) {
          if (nic.bridge === undefined) continue;
          const link = await getLink(nic.ifname).catch(() => undefined);
          if (!link || link.master === nic.bridge) continue;
          const driver = nicDrivers.all.find((x) => x.name === nic.driver);
          try {
            await driver?.attachNic({ ...runtimeSpec(vm, nic), bridge: nic.bridge });
            out.push(`VM "${vm.name}" NIC ${nic.id}: TAP ${nic.ifname} was not on bridge ${nic.bridge}; plugged it back in`);
          } catch (e: unknown) {
            out.push(`VM "${vm.name}" NIC ${nic.id}: ${errorMessage(e)}`);
          }
        }
      }
      try {
        const failures = await syncLeasesAll(await this.d.dhcp(), state, Object.keys(state.networks));
        out.push(...failures.map((f) => `guest DHCP: ${f}`));
      } catch (e: unknown) {
        if (networksWithLeases(state).length > 0) out.push(`guest DHCP: ${errorMessage(e)}`);
      }
      return out;
    });
  }

  /**
   * For `volt net check`: what `reconcile` would repair, read-only — VMs whose QEMU died with
   * their NICs still set up, and running VMs' TAPs that are missing or off their bridges.
   */
  async drift(): Promise<string[]> {
    const state = this.d.store.read();
    const out: string[] = [];
    for (const vm of Object.values(state.workloads)) {
      if (vm.type !== 'vm' || !vm.runtime) continue;
      if (!qemuAlive(vm.runtime.pid, vm.uuid)) {
        out.push(`VM "${vm.name}": its QEMU (pid ${vm.runtime.pid}) has exited; its NICs (${vm.runtime.nics.map((n) => n.ifname).join(', ') || 'none'}) are still set up`);
        continue;
      }
      for (const nic of vm.runtime.nics) {
        const link = await getLink(nic.ifname).catch(() => undefined);
        if (!link) out.push(`VM "${vm.name}" NIC ${nic.id}: TAP ${nic.ifname} is missing`);
        else if (nic.bridge !== undefined && link.master !== nic.bridge) {
          out.push(`VM "${vm.name}" NIC ${nic.id}: TAP ${nic.ifname} is ${link.master === undefined ? 'on no bridge' : `on ${link.master}`}, not on bridge ${nic.bridge}`);
        }
      }
    }
    return out;
  }

  /** After `volt net delete`: stop serving a network that no longer exists, and let VMs forget it. */
  async forgetNetwork(network: string, bridge: string): Promise<void> {
    try {
      await (await this.d.dhcp()).teardownDhcp({ network, bridge });
    } catch (e: unknown) {
      this.d.warn(`stop guest DHCP of network "${network}": ${errorMessage(e)}`);
    }
    const touches = (s: VoltState): boolean =>
      Object.values(s.workloads).some((w) => w.type === 'vm' && (w.nics.some((n) => n.network === network) || w.runtime?.nics.some((n) => n.bridge === bridge)));
    if (!touches(this.d.store.read())) return;
    await this.d.store.transaction(async (state) => {
      for (const w of Object.values(state.workloads)) {
        if (w.type !== 'vm') continue;
        for (const n of w.nics) if (n.network === network && !state.networks[network]) n.network = undefined;
        for (const n of w.runtime?.nics ?? []) if (n.bridge === bridge) n.bridge = undefined;
      }
    });
  }

  // Internals.

  private getVm(state: VoltState, name: string, what: string): VmRecord {
    const w = state.workloads[name];
    if (!w || w.type !== 'vm') {
      throw new NotFoundError(`${what}: no VM named "${name}"${w ? ` (it is a ${w.type})` : ''}`, {
        code: 'E_VM_NOT_FOUND',
        suggestions: ['`volt vm list` lists VMs; `volt vm create NAME --config vm.json` makes one'],
      });
    }
    return w;
  }

  private nicSpec(state: VoltState, vm: VmRecord, nic: VmNicRecord): VmNicSpec {
    const a = state.attachments.find((x) => x.workload === vm.name && x.ifname === nic.id);
    const net = a ? state.networks[a.network] : undefined;
    return {
      vm: vm.name,
      vmUuid: vm.uuid,
      nicId: nic.id,
      ifname: tapName(vm.uuid, nic.id),
      bridge: net?.bridge,
      mac: a?.mac ?? nic.mac!,
      mtu: nic.mtu ?? net?.mtu ?? this.d.config.network.mtu,
      queues: nic.queues,
    };
  }

  /** The NIC's driver (its `mode`, else the active one); when it cannot deliver, the fallback with a warning. */
  private async setupNic(p: PreparedNic, set: VmNicDriverSet, notes: string[]): Promise<void> {
    const what = `start VM "${p.spec.vm}" NIC ${p.nic.id}`;
    let driver: VmNicDriver | undefined;
    if (p.nic.mode !== undefined) {
      driver = set.all.find((x) => x.name === p.nic.mode);
      const probe = driver ? await driver.available() : undefined;
      if (!driver || !probe?.ok) {
        throw new DriverError(`${what}: its config asks for vm-nic driver "${p.nic.mode}", which is ${driver ? `unavailable: ${probe?.reason}` : 'not installed'}`, {
          code: 'E_NIC_DRIVER_UNAVAILABLE',
          suggestions: ['remove `mode` from the NIC to use the active driver', 'run `volt driver list`'],
        });
      }
    } else {
      driver = set.active;
      if (!driver) throw new DriverError(`${what}: no vm-nic driver: ${set.why}`, { code: 'E_NO_DRIVER', suggestions: ['run `volt driver list`'] });
    }
    try {
      p.handle = await driver.setupNic(p.spec);
      p.driver = driver;
    } catch (e: unknown) {
      const fallback = set.all.find((x) => x.fallback);
      if (!isVoltError(e) || e.code !== E_NIC_UNAVAILABLE || !fallback || fallback === driver) throw e;
      this.d.warn(`${errorMessage(e)}; creating TAP ${p.spec.ifname} with the ${fallback.name} driver instead`);
      p.handle = await fallback.setupNic(p.spec);
      p.driver = fallback;
    }
    for (const w of p.handle.warnings) notes.push(w);
  }

  private async setupAccel(vm: VmRecord, prepared: PreparedNic[]): Promise<void> {
    const wanted = prepared.filter((p) => {
      if (!p.nic.vhost) p.vhost = { on: false, reason: 'disabled in config' };
      return p.nic.vhost;
    });
    if (wanted.length === 0) return;
    const accels = await this.d.accelerators();
    if (accels.length === 0) {
      for (const p of wanted) p.vhost = { on: false, reason: 'no vhost-net plugin installed' };
      return;
    }
    const acc = accels[0]!;
    const probe = await acc.available();
    for (const p of wanted) {
      if (!probe.ok) {
        p.vhost = { on: false, reason: probe.reason };
        continue;
      }
      try {
        p.accel = { driver: acc, handle: await acc.setupAccel({ vm: vm.name, nicId: p.nic.id, queues: p.spec.queues }) };
        p.vhost = { on: true, reason: probe.reason };
      } catch (e: unknown) {
        p.vhost = { on: false, reason: errorMessage(e) };
      }
    }
  }

  private async undoNic(p: PreparedNic): Promise<void> {
    try {
      if (p.accel) await p.accel.driver.teardownAccel({ vm: p.spec.vm, nicId: p.nic.id, queues: p.spec.queues }, p.accel.handle);
      p.accel = undefined;
      if (p.driver) await p.driver.teardownNic(p.spec, p.handle);
      if (p.handle) p.handle.tapFds = [];
    } catch (e: unknown) {
      this.d.warn(`undo NIC ${p.nic.id} after a failure: ${errorMessage(e)}`);
    }
  }

  /** Spawn QEMU detached with the NICs' fds as 3, 4, …; resolves once QMP answers, rejects with QEMU's own words if it exits. */
  private async spawnQemu(
    vm: VmRecord,
    config: VmConfig,
    accel: 'kvm' | 'tcg',
    files: { serialLog: string; qemuLog: string; qmpSocket: string },
    prepared: PreparedNic[],
  ): Promise<ChildProcess> {
    const what = `start VM "${vm.name}"`;
    const fds: number[] = [];
    const childFd = (fd: number): number => 3 + fds.push(fd) - 1;
    const nics: QemuNic[] = prepared.map((p) => ({
      id: p.nic.id,
      mac: p.spec.mac,
      mtu: p.spec.mtu,
      queues: p.spec.queues,
      tapFds: p.handle!.tapFds.map(childFd),
      vhostFds: (p.accel?.handle.fds ?? []).map(childFd),
    }));
    const args = qemuArgs({ name: vm.name, uuid: vm.uuid, config, accel, serialLog: files.serialLog, qmpSocket: files.qmpSocket, nics });
    const log = fs.openSync(files.qemuLog, 'w', 0o644);
    let child: ChildProcess;
    try {
      fs.writeSync(log, `${QEMU_BINARY} ${args.join(' ')}\n`);
      // Detached (own session), no pipes: volt exits while QEMU runs on, holding the TAP fds.
      child = spawn(QEMU_BINARY, args, { detached: true, stdio: ['ignore', log, log, ...fds] });
    } finally {
      fs.closeSync(log);
    }
    let exited: string | undefined;
    child.on('error', (e) => (exited = e.message));
    child.on('exit', (code, sig) => (exited = sig ? `killed by ${sig}` : `exited with ${code}`));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exited !== undefined) {
        const why = tailOf(files.qemuLog, 4).replace(/^\S*qemu-system\S* -name.*?\|\s*/, '');
        throw new DriverError(`${what}: QEMU ${exited}: ${why || '(no output)'}`, {
          code: 'E_QEMU',
          suggestions: [`full output: ${files.qemuLog}`],
        });
      }
      if (Date.now() >= deadline) {
        if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
        throw new DriverError(`${what}: QEMU did not answer on ${files.qmpSocket} within ${READY_TIMEOUT_MS / 1000} s`, { code: 'E_QEMU' });
      }
      if (fs.existsSync(files.qmpSocket)) {
        try {
          const s = await QmpSession.connect(files.qmpSocket, 1000);
          s.close();
          break;
        } catch {
          /* not yet */
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child.removeAllListeners();
    child.unref();
    return child;
  }

  /** Tear down a VM's NICs (QEMU is gone) and forget the runtime. Returns what happened, for the operator. */
  private async cleanupRuntime(vm: VmRecord, set: VmNicDriverSet, why?: string): Promise<string[]> {
    const out: string[] = [];
    const rt = vm.runtime;
    if (rt) {
      for (const nic of rt.nics) {
        const driver = set.all.find((x) => x.name === nic.driver) ?? set.all.find((x) => x.fallback);
        try {
          await driver?.teardownNic(runtimeSpec(vm, nic));
        } catch (e: unknown) {
          out.push(`VM "${vm.name}" NIC ${nic.id}: ${errorMessage(e)}`);
        }
      }
      fs.rmSync(rt.qmpSocket, { force: true });
      if (why) out.unshift(`VM "${vm.name}": ${why} (pid ${rt.pid}); removed its NICs (${rt.nics.map((n) => n.ifname).join(', ') || 'none'})`);
    }
    vm.runtime = undefined;
    vm.pid = undefined;
    vm.startedAt = undefined;
    return out;
  }

  view(state: VoltState, vm: VmRecord): VmView {
    const config = configOf(vm);
    const rt = vm.runtime;
    const alive = qemuAlive(rt?.pid ?? vm.pid, vm.uuid);
    const dir = this.vmDir(vm.name);
    return {
      name: vm.name,
      uuid: vm.uuid,
      state: alive ? 'running' : rt ? 'exited' : 'stopped',
      pid: rt?.pid,
      startedAt: rt?.startedAt,
      accel: rt ? `${rt.accel} (${rt.accelReason})` : undefined,
      vcpus: config.vcpus,
      memoryMib: config.memory_mib,
      kernel: config.kernel,
      initrd: config.initrd,
      cmdline: config.cmdline,
      serialLog: rt?.serialLog ?? path.join(dir, 'serial.log'),
      qemuLog: rt?.qemuLog ?? path.join(dir, 'qemu.log'),
      qmpSocket: rt?.qmpSocket,
      nics: vm.nics.map((nic) => {
        const a = state.attachments.find((x) => x.workload === vm.name && x.ifname === nic.id);
        const n = rt?.nics.find((x) => x.id === nic.id);
        return {
          id: nic.id,
          network: a?.network ?? nic.network,
          ip: a?.ip,
          ...(a?.ip6 !== undefined ? { ip6: a.ip6 } : {}),
          mac: n?.mac ?? a?.mac ?? nic.mac,
          tap: n?.ifname ?? tapName(vm.uuid, nic.id),
          driver: n?.driver ?? nic.mode,
          queues: nic.queues,
          mtu: n?.mtu ?? nic.mtu,
          vhost: n ? (n.vhost.on ? 'on' : `off (${n.vhost.reason})`) : nic.vhost ? 'wanted' : 'off (disabled in config)',
        };
      }),
    };
  }
}

function configOf(vm: VmRecord): VmConfig {
  return vm.config as unknown as VmConfig;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** volt's copies of the fds: QEMU has its own now (or the start failed and teardown closed them). */
function closeAll(prepared: PreparedNic[]): void {
  for (const p of prepared) {
    for (const fd of [...(p.handle?.tapFds ?? []), ...(p.accel?.handle.fds ?? [])]) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    if (p.handle) p.handle.tapFds = [];
    if (p.accel) p.accel.handle.fds = [];
  }
}
