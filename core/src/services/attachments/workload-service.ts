import { ConflictError, NotFoundError, UserInputError, errorMessage, isVoltError } from '@volt/sdk';
import { batchErrorIndex } from '@volt/sdk/kernel';
import type { StateStore } from '../../state/store';
import type { AttachmentRecord, BatchConnect, ContainerRecord, ContainerSource, NetworkRecord, VmNicRecord, VmRecord, VoltState, WorkloadRecord } from '../../state/types';
import type { VoltConfig } from '../../config/defaults';
import { NETNS_RUN_DIR, describeSource, nsPath } from '../../kernel/netns';
import { pendingAttachments, type PendingIntent } from '../../state/journal';
import { parseMac } from './mac';
import { AttachmentPlanner, recordVmAttachment, type AttachmentRequest } from './attach-plan';
import type { AttachmentExecutor } from './attach-exec';
import type { KernelProbes } from './attach-probes';

export type { AttachmentListener } from './attach-exec';
export { tapName, vethHostName } from './attach-plan';

export interface WorkloadDeps {
  config: VoltConfig;
  store: StateStore;
  /** Kernel reads (injected: fakes in unit tests). */
  probes: KernelProbes;
  /** Runs the attachment plans through the driver contracts, listeners last (attach-exec.ts). */
  executor: AttachmentExecutor;
  warn(message: string): void;
  notice(message: string): void;
  /** Networks that must exist before any connect (the default network on first use). */
  ensureDefault(state: VoltState): Promise<void>;
}

export type VmAttachRequest = AttachmentRequest;

export interface ConnectRequest {
  network: string;
  workload: string;
  ip?: string;
  /** Static IPv6 address (network with subnet6 only). */
  ip6?: string;
  mac?: string;
}

export interface ConnectResult {
  attachment: AttachmentRecord;
  notes: string[];
}

/** One workload of a batch connect (`volt net connect NET W1 … WN`, Compose up). */
export interface BatchConnectItem extends AttachmentRequest {
  workload: string;
}

export interface BatchConnectResult {
  /** In the order of the request. */
  attachments: AttachmentRecord[];
  notes: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Containers and VMs on networks: resolve, connect, disconnect (planned by attach-plan.ts, carried out by attach-exec.ts). */
export class WorkloadService {
  private readonly planner: AttachmentPlanner;

  constructor(private readonly d: WorkloadDeps) {
    this.planner = new AttachmentPlanner(d.probes);
  }

  /** A workload by name: registered ones first, then a named namespace, then an nspawn machine. */
  async resolve(state: VoltState, name: string, what: string): Promise<WorkloadRecord> {
    const known = state.workloads[name];
    if (known) return known;
    if (!NAME.test(name)) {
      throw new UserInputError(`${what}: "${name}" is not a valid workload name`, { code: 'E_NAME_INVALID' });
    }
    if (this.d.probes.nsAlive(`${NETNS_RUN_DIR}/${name}`)) {
      return { type: 'container', name, source: { kind: 'netns', name }, registered: false, createdAt: new Date().toISOString() };
    }
    const leader = await this.d.probes.nspawnLeader(name);
    if (leader !== undefined) {
      return { type: 'container', name, source: { kind: 'nspawn', machine: name, leader }, registered: false, createdAt: new Date().toISOString() };
    }
    throw new NotFoundError(`${what}: no workload named "${name}"`, {
      code: 'E_WORKLOAD_NOT_FOUND',
      suggestions: [
        `a container is a named network namespace (ip netns add ${name}), a running systemd-nspawn machine, or registered with \`volt container register ${name} --netns PATH | --pid PID\``,
        'a VM is created with `volt vm create NAME --config vm.json`; `volt ps` lists workloads',
      ],
    });
  }

  async connect(req: ConnectRequest): Promise<ConnectResult> {
    return this.d.store.transaction(async (state) => {
      const what = `connect "${req.workload}" to network "${req.network}"`;
      // Operations a killed volt left half done are settled first (docs/state-and-recovery.md).
      await this.d.executor.settle(state);
      await this.d.ensureDefault(state);
      const net = state.networks[req.network];
      if (!net) {
        throw new NotFoundError(`${what}: network "${req.network}" does not exist`, {
          code: 'E_NETWORK_NOT_FOUND',
          suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || 'none'}`],
        });
      }
      const w = await this.resolve(state, req.workload, what);
      if (w.type === 'vm') return this.connectVm(state, w, net, req, what);
      if (state.attachments.some((a) => a.workload === w.name && a.network === net.name)) {
        throw new ConflictError(`${what}: already connected`, {
          code: 'E_ALREADY_CONNECTED',
          suggestions: [`\`volt net disconnect ${w.name} ${net.name}\` first to change its address`],
        });
      }
      const notes: string[] = [];
      // The plan's kernel reads and the bridge check at once.
      const [plan] = await Promise.all([this.planner.container(state, w, net, req, what, notes), this.d.executor.ensureBridge(net, notes)]);
      const { attachment } = plan;
      const intent: PendingIntent = {
        op: 'connect',
        object: `${w.name} on ${net.name}`,
        attachment,
        workload: w,
        nsFile: plan.nsFile,
        defaultRoute: plan.defaultRoute,
        networks: [net],
      };
      // Intent first (address, MAC, link names on disk), then the kernel, then the result, listeners last.
      await this.d.executor.connect(state, intent);
      return { attachment, notes };
    });
  }

  /**
   * `volt net connect NET W1 … WN`: every container in one transaction — one lock, one pending
   * record (connect-batch) naming every reserved address and link, the kernel work for all at
   * once (plans.ts connectBatchSteps), the listeners once. All or nothing: a failure at any
   * workload undoes everything and names it ("workload k of N"). One item is a plain connect
   * (VMs included); VMs are refused in a batch of several (E_BATCH_VM).
   */
  async connectMany(network: string, items: BatchConnectItem[]): Promise<BatchConnectResult> {
    if (items.length === 1) {
      const r = await this.connect({ network, ...items[0]! });
      return { attachments: [r.attachment], notes: r.notes };
    }
    const n = items.length;
    const whatAll = `connect ${n} workloads to network "${network}"`;
    const whatOf = (k: number): string => `connect "${items[k]!.workload}" to network "${network}" (workload ${k + 1} of ${n})`;
    if (n === 0) throw new UserInputError(`${whatAll}: no workload named`, { code: 'E_NAME_INVALID' });
    for (const [k, it] of items.entries()) {
      const first = items.findIndex((x) => x.workload === it.workload);
      if (first < k) {
        throw new UserInputError(`${whatOf(k)}: "${it.workload}" is named twice (also workload ${first + 1})`, { code: 'E_DUPLICATE_WORKLOAD' });
      }
    }
    return this.d.store.transaction(async (state) => {
      await this.d.executor.settle(state);
      await this.d.ensureDefault(state);
      const net = state.networks[network];
      if (!net) {
        throw new NotFoundError(`${whatAll}: network "${network}" does not exist`, {
          code: 'E_NETWORK_NOT_FOUND',
          suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || 'none'}`],
        });
      }
      const notes: string[] = [];
      await this.d.executor.ensureBridge(net, notes);
      // Plan one after the other against the state plus the ones planned before: distinct addresses and MACs.
      const connects: BatchConnect[] = [];
      // The bridge's MACs once for all (not one fdb read per workload); the batch's own MACs are in `view`.
      const bridgeMacs = await this.d.probes.bridgeMacs?.(net.bridge);
      const view: VoltState = { ...state, attachments: [...state.attachments] };
      for (const [k, it] of items.entries()) {
        const what = whatOf(k);
        const w = await this.resolve(state, it.workload, what);
        if (w.type === 'vm') {
          throw new UserInputError(`${what}: "${w.name}" is a VM; VMs are connected one per command`, {
            code: 'E_BATCH_VM',
            suggestions: [`\`volt net connect ${network} ${w.name}\` on its own, and the containers in one command`],
          });
        }
        if (state.attachments.some((a) => a.workload === w.name && a.network === net.name)) {
          throw new ConflictError(`${what}: already connected`, {
            code: 'E_ALREADY_CONNECTED',
            suggestions: [`\`volt net disconnect ${w.name} ${net.name}\` first to change its address, or leave it out`],
          });
        }
        const plan = await this.planner.container(view, w, net, it, what, notes, { bridgeMacs });
        const twin = connects.findIndex((c) => c.nsFile === plan.nsFile);
        if (twin >= 0) {
          throw new UserInputError(`${what}: its network namespace ${plan.nsFile} is the one of workload ${twin + 1} ("${connects[twin]!.workload.name}")`, {
            code: 'E_DUPLICATE_WORKLOAD',
          });
        }
        view.attachments.push(plan.attachment);
        connects.push({ attachment: plan.attachment, workload: w, nsFile: plan.nsFile, defaultRoute: plan.defaultRoute });
      }
      const names = connects.map((c) => c.attachment.workload);
      const intent: PendingIntent = {
        op: 'connect-batch',
        object: `${n} containers on ${net.name} (${names.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''})`,
        connects,
        networks: [net],
      };
      try {
        await this.d.executor.connectBatch(state, intent);
      } catch (e: unknown) {
        // Everything is undone already; say which workload it failed at when the kernel step knows.
        const k = batchErrorIndex(e);
        const prefix = k !== undefined && k < n ? `${whatAll}: workload ${k + 1} of ${n} ("${names[k]}")` : whatAll;
        if (isVoltError(e) || e instanceof Error) {
          e.message = `${prefix}: ${e.message}`;
          throw e;
        }
        throw new Error(`${prefix}: ${errorMessage(e)}`);
      }
      return { attachments: connects.map((c) => c.attachment), notes };
    });
  }

  /** Disconnect from one network, or from all when `network` is omitted. Host side is cleaned even if the namespace is gone. */
  async disconnect(workload: string, network?: string): Promise<AttachmentRecord[]> {
    return this.d.store.transaction(async (state) => {
      const what = `disconnect "${workload}"${network ? ` from network "${network}"` : ''}`;
      await this.d.executor.settle(state);
      if (network !== undefined && !state.networks[network]) {
        throw new NotFoundError(`${what}: network "${network}" does not exist`, { code: 'E_NETWORK_NOT_FOUND' });
      }
      const mine = state.attachments.filter((a) => a.workload === workload && (network === undefined || a.network === network));
      if (mine.length === 0) {
        const known = state.workloads[workload] !== undefined || state.attachments.some((a) => a.workload === workload);
        throw new NotFoundError(
          known ? `${what}: not connected${network ? ' to that network' : ''}` : `${what}: no workload named "${workload}" is connected`,
          { code: known ? 'E_NOT_CONNECTED' : 'E_WORKLOAD_NOT_FOUND', suggestions: ['`volt ps` lists workloads and their networks'] },
        );
      }
      const failures: string[] = [];
      // Settling the record forgets a container found by name once it has no networks; the
      // listeners below still need its record (its resolv.conf is found through it).
      const record = state.workloads[workload];
      const object = (xs: AttachmentRecord[]): string => `${workload} from ${[...new Set(xs.map((a) => a.network))].join(', ')}`;
      // Journaled, always rolled forward (a half-done disconnect is finished): container veths, VM TAPs and leases.
      const veths = mine.filter((a) => a.kind === 'veth');
      if (veths.length > 0) failures.push(...(await this.d.executor.disconnect(state, { op: 'disconnect', object: object(veths), attachments: veths })));
      const taps = mine.filter((a) => a.kind !== 'veth');
      const tapFailures = taps.length > 0 ? await this.d.executor.disconnect(state, { op: 'vm-disconnect', object: object(taps), attachments: taps }) : [];
      failures.push(...tapFailures);
      // Whatever a failed step left (the host side is gone or unreachable), the records go.
      state.attachments = state.attachments.filter((a) => !mine.some((m) => m.workload === a.workload && m.network === a.network));
      const w = state.workloads[workload];
      if (w?.type === 'vm') {
        // The NIC stays in the VM (and its MAC with it), off the network: it does not rejoin at the next start.
        for (const a of mine) {
          const nic = w.nics.find((n) => n.id === a.ifname);
          if (nic) {
            nic.network = undefined;
            nic.ip = undefined;
            nic.ip6 = undefined;
          }
        }
        if (tapFailures.length > 0 && this.d.executor.planDeps.vmPorts) {
          try {
            await this.d.executor.planDeps.vmPorts.syncLeases(state, mine.map((a) => a.network));
          } catch (e: unknown) {
            failures.push(e instanceof Error ? e.message : String(e));
          }
        }
      }
      if (failures.length > 0) this.d.warn(`${what}: ${failures.join('; ')}`);
      // The host side is already gone: a listener failure must not resurrect the records.
      const view = state.workloads[workload] !== undefined || record === undefined ? state : { ...state, workloads: { ...state.workloads, [workload]: record } };
      const listenerFailure = await this.d.executor.notifyRemoved(view, mine);
      if (listenerFailure !== undefined) this.d.warn(`${what}: ${listenerFailure}`);
      // A container found by name (not registered) is forgotten once it has no networks.
      if (w?.type === 'container' && !w.registered && !state.attachments.some((a) => a.workload === workload)) delete state.workloads[workload];
      return mine;
    });
  }

  /**
   * Tell the attachment listeners (firewall rules naming workloads, DNS files) about attachments
   * that changed inside the caller's transaction; the VM service uses it for VM start. `before` is
   * the state before the change: a failing listener undoes the ones before it with it.
   */
  async notifyChange(state: VoltState, change: { added: AttachmentRecord[]; removed: AttachmentRecord[] }, before: VoltState = state): Promise<void> {
    await this.d.executor.notify(state, before, change);
  }

  /** Tell the listeners about attachments that are gone either way (VM delete): a failure is returned, not undone. */
  notifyRemoved(state: VoltState, removed: AttachmentRecord[]): Promise<string | undefined> {
    return this.d.executor.notifyRemoved(state, removed);
  }

  async register(name: string, source: ContainerSource): Promise<ContainerRecord> {
    return this.d.store.transaction(async (state) => {
      const what = `register container "${name}"`;
      if (!NAME.test(name)) throw new UserInputError(`${what}: names are 1-63 letters, digits, ".", "-", "_"`, { code: 'E_NAME_INVALID' });
      if (state.workloads[name]) {
        throw new ConflictError(`${what}: a ${state.workloads[name].type} with this name exists`, { code: 'E_WORKLOAD_EXISTS' });
      }
      if (!this.d.probes.nsAlive(nsPath(source))) {
        throw new NotFoundError(`${what}: ${describeSource(source)} is not a network namespace`, {
          code: 'E_NETNS_GONE',
          suggestions: [source.kind === 'pid' ? 'is the process running?' : 'pass a bind-mounted namespace file such as /run/netns/NAME or /proc/PID/ns/net'],
        });
      }
      const rec: ContainerRecord = { type: 'container', name, source, registered: true, createdAt: new Date().toISOString() };
      state.workloads[name] = rec;
      return rec;
    });
  }

  async unregister(name: string): Promise<ContainerRecord> {
    const w = this.d.store.read().workloads[name];
    if (!w || w.type !== 'container') {
      throw new NotFoundError(`unregister container "${name}": no registered container of that name`, { code: 'E_WORKLOAD_NOT_FOUND' });
    }
    if (this.d.store.read().attachments.some((a) => a.workload === name)) await this.disconnect(name);
    return this.d.store.transaction(async (state) => {
      delete state.workloads[name];
      return w;
    });
  }

  /**
   * `volt net connect NET VM`: the VM NIC meant for NET (or a free one; a stopped VM gets a new
   * one) takes an address and MAC; a running VM's TAP joins the bridge now, a stopped VM's at
   * its next start. The guests' DHCP server serves the new lease either way. Journaled (vm-connect).
   */
  private async connectVm(state: VoltState, vm: VmRecord, net: NetworkRecord, req: ConnectRequest, what: string): Promise<ConnectResult> {
    if (state.attachments.some((a) => a.workload === vm.name && a.network === net.name)) {
      throw new ConflictError(`${what}: already connected`, {
        code: 'E_ALREADY_CONNECTED',
        suggestions: [`\`volt net disconnect ${vm.name} ${net.name}\` first to change its address`],
      });
    }
    const ports = this.d.executor.planDeps.vmPorts;
    const running = ports?.running(vm) ?? false;
    const attached = new Set(state.attachments.filter((a) => a.workload === vm.name).map((a) => a.ifname));
    let nic = vm.nics.find((n) => n.network === net.name && !attached.has(n.id)) ?? vm.nics.find((n) => n.network === undefined && !attached.has(n.id));
    let newNic: VmNicRecord | undefined;
    if (!nic) {
      if (running) {
        throw new ConflictError(`${what}: the VM is running and every NIC it has is connected; volt does not hot-plug NICs`, {
          code: 'E_VM_NO_FREE_NIC',
          suggestions: [`\`volt net disconnect ${vm.name} NETWORK\` to free a NIC (it then moves to ${net.name})`, `or stop the VM, connect, and start it: the new NIC appears at boot`],
        });
      }
      const ids = new Set(vm.nics.map((n) => n.id));
      let i = vm.nics.length;
      while (ids.has(`eth${i}`)) i++;
      nic = newNic = { id: `eth${i}`, network: net.name, vhost: true, queues: 1 };
    }
    if (running && req.mac !== undefined) {
      const current = vm.runtime?.nics.find((n) => n.id === nic!.id)?.mac;
      if (current !== undefined && parseMac(req.mac, what) !== current) {
        throw new ConflictError(`${what}: NIC ${nic.id} of the running VM has MAC ${current}; a MAC changes only at the next start`, {
          code: 'E_VM_RUNNING',
          suggestions: ['leave out --mac, or stop the VM first'],
        });
      }
    }
    if (pendingAttachments(state).some((a) => a.workload === vm.name && a.network === net.name)) {
      throw new ConflictError(`${what}: an interrupted connect of this pair is still pending`, {
        code: 'E_PENDING',
        suggestions: ['run `volt net up` to settle it (`volt net check` shows why it is still pending)'],
      });
    }
    const notes: string[] = [];
    const runningMac = running ? vm.runtime?.nics.find((n) => n.id === nic!.id)?.mac : undefined;
    const attachment = await this.planVmNic(vm, nic, net, state, { ip: req.ip, ip6: req.ip6, mac: req.mac ?? runningMac }, notes);
    if (runningMac !== undefined && attachment.mac !== runningMac) {
      throw new ConflictError(`${what}: MAC ${runningMac} of the running VM's NIC ${nic.id} is already used on bridge ${net.bridge}`, {
        code: 'E_MAC_CONFLICT',
        suggestions: ['stop the VM and connect again: a stopped VM gets a regenerated MAC'],
      });
    }
    const intent: PendingIntent = { op: 'vm-connect', object: `${vm.name} on ${net.name}`, attachment, networks: [net], ...(newNic ? { vmNic: newNic } : {}) };
    await this.d.executor.connect(state, intent);
    if (!running) notes.push(`VM "${vm.name}" is not running: NIC ${nic.id} joins ${net.name} when it starts`);
    return { attachment, notes };
  }

  /**
   * Inside a transaction (VM start): reserve an address and MAC for one VM NIC on a network and
   * record the attachment (IPAM, MAC collision check, bridge re-creation — as for containers). No
   * TAP is touched: the VM service plugs it in when QEMU starts.
   */
  async planVmAttachment(state: VoltState, vm: VmRecord, nic: VmNicRecord, network: string, req: VmAttachRequest, notes: string[]): Promise<AttachmentRecord> {
    await this.d.ensureDefault(state);
    const net = state.networks[network];
    if (!net) {
      throw new NotFoundError(`connect VM "${vm.name}" NIC ${nic.id} to network "${network}": network "${network}" does not exist`, {
        code: 'E_NETWORK_NOT_FOUND',
        suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || 'none'}`, `\`volt net disconnect ${vm.name} ${network}\` forgets it`],
      });
    }
    const a = await this.planVmNic(vm, nic, net, state, req, notes);
    recordVmAttachment(state, nic, a);
    return a;
  }

  /** Inside a transaction: the networks every command needs (the default network on first use). */
  ensureDefault(state: VoltState): Promise<void> {
    return this.d.ensureDefault(state);
  }

  private async planVmNic(vm: VmRecord, nic: VmNicRecord, net: NetworkRecord, state: VoltState, req: VmAttachRequest, notes: string[]): Promise<AttachmentRecord> {
    const what = `connect VM "${vm.name}" NIC ${nic.id} to network "${net.name}"`;
    const a = await this.planner.vm(state, vm, nic, net, req, what, notes);
    await this.d.executor.ensureBridge(net, notes);
    return a;
  }
}
