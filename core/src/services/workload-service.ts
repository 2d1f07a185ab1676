import { ConflictError, NotFoundError, UserInputError, errorMessage } from '@volt/sdk';
import type { StateStore } from '../state/store';
import type { AttachmentRecord, ContainerRecord, ContainerSource, NetworkRecord, VmNicRecord, VmRecord, VoltState, WorkloadRecord } from '../state/types';
import type { BridgeDriver } from '@volt/sdk';
import type { FirewallDriver } from '@volt/sdk';
import type { VoltConfig } from '../config/defaults';
import { getLink, linksOfMaster } from '@volt/sdk/kernel';
import { NETNS_RUN_DIR, describeSource, ipJsonIn, nsAlive, nsPath, nspawnLeader } from '../kernel/netns';
import { runCommand } from '@volt/sdk/kernel';
import { allocateAddress, type WorkloadKind } from './ipam';
import { generateMac, parseMac } from './mac';
import { applySteps, type Step } from './steps';
import { pendingAttachments, runPlan, type PendingIntent } from '../state/journal';
import { applyResult, hostPolicyOf, planSteps, settlePending, type PlanDeps } from './plans';
import { bridgeSpec, firewallNetwork } from './network-service';
import { createHash } from 'node:crypto';

export interface WorkloadDeps {
  config: VoltConfig;
  store: StateStore;
  bridge(): Promise<BridgeDriver>;
  firewall(): Promise<FirewallDriver>;
  /** Plugs a VM's NIC into a bridge (and out again); provided by the VM service. */
  vmNics?: VmNicPlumbing;
  warn(message: string): void;
  notice(message: string): void;
  /** Networks that must exist before any connect (the default network on first use). */
  ensureDefault(state: VoltState): Promise<void>;
  /**
   * Run inside the same transaction after attachments changed (firewall rules
   * that name workloads, DNS files…). A throw aborts the transaction: listeners
   * must undo their own kernel changes before throwing.
   */
  afterChange?: AttachmentListener[];
}

export type AttachmentListener = (state: VoltState, change: { added: AttachmentRecord[]; removed: AttachmentRecord[] }) => Promise<void>;

export interface VmNicPlumbing {
  /** Is the VM's QEMU running (its TAPs exist)? */
  running(vm: VmRecord): boolean;
  /** The running VM's TAP for this attachment joins `bridge` (updates vm.runtime in the draft state). */
  attach(vm: VmRecord, attachment: AttachmentRecord, bridge: string): Promise<void>;
  detach(vm: VmRecord, attachment: AttachmentRecord): Promise<void>;
  /** The guests' DHCP servers of these networks serve exactly the VM leases in `state`. */
  syncLeases(state: VoltState, networks: string[]): Promise<void>;
}

export interface VmAttachRequest {
  ip?: string;
  mac?: string;
}

export interface ConnectRequest {
  network: string;
  workload: string;
  ip?: string;
  mac?: string;
}

export interface ConnectResult {
  attachment: AttachmentRecord;
  notes: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Containers and VMs on networks: resolve, connect, disconnect. */
export class WorkloadService {
  constructor(private readonly d: WorkloadDeps) {}

  /** A workload by name: registered ones first, then a named namespace, then an nspawn machine. */
  async resolve(state: VoltState, name: string, what: string): Promise<WorkloadRecord> {
    const known = state.workloads[name];
    if (known) return known;
    if (!NAME.test(name)) {
      throw new UserInputError(`${what}: "${name}" is not a valid workload name`, { code: 'E_NAME_INVALID' });
    }
    if (nsAlive(`${NETNS_RUN_DIR}/${name}`)) {
      return { type: 'container', name, source: { kind: 'netns', name }, registered: false, createdAt: new Date().toISOString() };
    }
    const leader = await nspawnLeader(name);
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

  private get planDeps(): PlanDeps {
    return { bridge: this.d.bridge, firewall: this.d.firewall, warn: this.d.warn, hostPolicy: hostPolicyOf(this.d.config) };
  }

  async connect(req: ConnectRequest): Promise<ConnectResult> {
    return this.d.store.transaction(async (state) => {
      const what = `connect "${req.workload}" to network "${req.network}"`;
      // Operations a killed volt left half done are settled first (docs/state-and-recovery.md).
      await settlePending(this.d.store, state, this.planDeps);
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
      const kind: WorkloadKind = 'container';
      const requestedMac = req.mac === undefined ? undefined : parseMac(req.mac, what);
      const reserved = pendingAttachments(state);
      if (reserved.some((a) => a.workload === w.name && a.network === net.name)) {
        throw new ConflictError(`${what}: an interrupted connect of this pair is still pending`, {
          code: 'E_PENDING',
          suggestions: ['run `volt net up` to settle it (`volt net check` shows why it is still pending)'],
        });
      }
      // Addresses of pending connects stay taken until they are settled.
      const ip = allocateAddress(net, [...state.attachments, ...reserved], kind, req.ip, what);
      if (!nsAlive(nsPath(w.source))) {
        throw new NotFoundError(`${what}: the namespace of "${w.name}" (${describeSource(w.source)}) does not exist`, {
          code: 'E_NETNS_GONE',
          suggestions: ['start the container first, or `volt container register` it again with its current namespace'],
        });
      }
      const notes: string[] = [];
      const mine = state.attachments.filter((a) => a.workload === w.name);
      // Three independent kernel reads at once: the MAC check, the container's links, the bridge.
      const [mac, ifname] = await Promise.all([this.pickMac(state, net, w, kind, requestedMac, notes), this.nextIfname(w, mine), this.ensureBridge(net, notes)]);
      const attachment: AttachmentRecord = {
        workload: w.name,
        network: net.name,
        ip,
        mac,
        kind: 'veth',
        ifname,
        hostIfname: vethHostName(w.name, net.name),
        createdAt: new Date().toISOString(),
      };

      const intent: PendingIntent = {
        op: 'connect',
        object: `${w.name} on ${net.name}`,
        attachment,
        workload: w,
        nsFile: nsPath(w.source),
        defaultRoute: mine.length === 0,
        networks: [net],
      };
      // Intent first (address, MAC, link names on disk), then the kernel, then the result.
      const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.planDeps), this.d.warn);
      applyResult(intent, state);
      try {
        await this.notify(state, { added: [attachment], removed: [] });
      } catch (e: unknown) {
        await plan.abort();
        throw e;
      }
      plan.finish();
      return { attachment, notes };
    });
  }

  /** Disconnect from one network, or from all when `network` is omitted. Host side is cleaned even if the namespace is gone. */
  async disconnect(workload: string, network?: string): Promise<AttachmentRecord[]> {
    return this.d.store.transaction(async (state) => {
      const what = `disconnect "${workload}"${network ? ` from network "${network}"` : ''}`;
      await settlePending(this.d.store, state, this.planDeps);
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
      // Container veths: journaled, always rolled forward (a half-done disconnect is finished).
      const veths = mine.filter((a) => a.kind === 'veth');
      if (veths.length > 0) {
        const intent: PendingIntent = { op: 'disconnect', object: `${workload} from ${[...new Set(veths.map((a) => a.network))].join(', ')}`, attachments: veths };
        try {
          const plan = await runPlan(this.d.store, state, intent, planSteps(intent, state, this.planDeps), this.d.warn);
          plan.finish();
        } catch (e: unknown) {
          failures.push(errorMessage(e));
        }
      }
      // Read after the plan: a failed plan puts the draft back (new objects).
      const w = state.workloads[workload];
      for (const a of mine) {
        try {
          if (a.kind !== 'veth' && w?.type === 'vm' && this.d.vmNics?.running(w)) await this.d.vmNics.detach(w, a);
        } catch (e: unknown) {
          failures.push(errorMessage(e));
        }
      }
      state.attachments = state.attachments.filter((a) => !mine.some((m) => m.workload === a.workload && m.network === a.network));
      if (w?.type === 'vm') {
        // The NIC stays in the VM (and its MAC with it), off the network: it does not rejoin at the next start.
        for (const a of mine) {
          const nic = w.nics.find((n) => n.id === a.ifname);
          if (nic) {
            nic.network = undefined;
            nic.ip = undefined;
          }
        }
        if (this.d.vmNics) {
          try {
            await this.d.vmNics.syncLeases(state, mine.map((a) => a.network));
          } catch (e: unknown) {
            failures.push(errorMessage(e));
          }
        }
      }
      if (failures.length > 0) this.d.warn(`${what}: ${failures.join('; ')}`);
      // The host side is already gone: a listener failure must not resurrect the records.
      await this.notify(state, { added: [], removed: mine }).catch((e: unknown) => this.d.warn(`${what}: ${errorMessage(e)}`));
      // A container found by name (not registered) is forgotten once it has no networks.
      if (w?.type === 'container' && !w.registered && !state.attachments.some((a) => a.workload === workload)) delete state.workloads[workload];
      return mine;
    });
  }

  /**
   * Tell the afterChange listeners (firewall rules naming workloads, DNS files) about attachments
   * that changed inside the caller's transaction; the VM service uses it for VM start and delete.
   */
  async notifyChange(state: VoltState, change: { added: AttachmentRecord[]; removed: AttachmentRecord[] }): Promise<void> {
    await this.notify(state, change);
  }

  private async notify(state: VoltState, change: { added: AttachmentRecord[]; removed: AttachmentRecord[] }): Promise<void> {
    for (const listener of this.d.afterChange ?? []) await listener(state, change);
  }

  async register(name: string, source: ContainerSource): Promise<ContainerRecord> {
    return this.d.store.transaction(async (state) => {
      const what = `register container "${name}"`;
      if (!NAME.test(name)) throw new UserInputError(`${what}: names are 1-63 letters, digits, ".", "-", "_"`, { code: 'E_NAME_INVALID' });
      if (state.workloads[name]) {
        throw new ConflictError(`${what}: a ${state.workloads[name].type} with this name exists`, { code: 'E_WORKLOAD_EXISTS' });
      }
      if (!nsAlive(nsPath(source))) {
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
   * its next start. The guests' DHCP server serves the new lease either way.
   */
  private async connectVm(state: VoltState, vm: VmRecord, net: NetworkRecord, req: ConnectRequest, what: string): Promise<ConnectResult> {
    if (state.attachments.some((a) => a.workload === vm.name && a.network === net.name)) {
      throw new ConflictError(`${what}: already connected`, {
        code: 'E_ALREADY_CONNECTED',
        suggestions: [`\`volt net disconnect ${vm.name} ${net.name}\` first to change its address`],
      });
    }
    const plumbing = this.d.vmNics;
    const running = plumbing?.running(vm) ?? false;
    const attached = new Set(state.attachments.filter((a) => a.workload === vm.name).map((a) => a.ifname));
    let nic = vm.nics.find((n) => n.network === net.name && !attached.has(n.id)) ?? vm.nics.find((n) => n.network === undefined && !attached.has(n.id));
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
      nic = { id: `eth${i}`, network: net.name, vhost: true, queues: 1 };
      vm.nics.push(nic);
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
    const before = structuredClone(state);
    const notes: string[] = [];
    const runningMac = running ? vm.runtime?.nics.find((n) => n.id === nic!.id)?.mac : undefined;
    const attachment = await this.planVmAttachment(state, vm, nic, net.name, { ip: req.ip, mac: req.mac ?? runningMac }, notes);
    if (runningMac !== undefined && attachment.mac !== runningMac) {
      throw new ConflictError(`${what}: MAC ${runningMac} of the running VM's NIC ${nic.id} is already used on bridge ${net.bridge}`, {
        code: 'E_MAC_CONFLICT',
        suggestions: ['stop the VM and connect again: a stopped VM gets a regenerated MAC'],
      });
    }
    const steps: Step[] = [];
    if (running && plumbing) {
      steps.push({
        what: `plug TAP ${attachment.hostIfname} into ${net.bridge}`,
        apply: () => plumbing.attach(vm, attachment, net.bridge),
        undo: () => plumbing.detach(vm, attachment),
      });
    }
    if (plumbing) {
      steps.push({
        what: `serve the lease of ${attachment.mac} on ${net.name}`,
        apply: () => plumbing.syncLeases(state, [net.name]),
        undo: () => plumbing.syncLeases(before, [net.name]),
      });
    }
    await applySteps(steps, this.d.warn);
    try {
      await this.notify(state, { added: [attachment], removed: [] });
    } catch (e: unknown) {
      for (const st of steps.slice().reverse()) await st.undo?.().catch((u: unknown) => this.d.warn(`undo "${st.what}": ${errorMessage(u)}`));
      throw e;
    }
    if (!running) notes.push(`VM "${vm.name}" is not running: NIC ${nic.id} joins ${net.name} when it starts`);
    return { attachment, notes };
  }

  /**
   * Inside a transaction: reserve an address and MAC for one VM NIC on a network and record
   * the attachment (IPAM, MAC collision check, bridge re-creation — as for containers). No TAP
   * is touched: the VM service plugs it in when QEMU starts (or connectVm when it runs).
   */
  async planVmAttachment(
    state: VoltState,
    vm: VmRecord,
    nic: VmNicRecord,
    network: string,
    req: VmAttachRequest,
    notes: string[],
  ): Promise<AttachmentRecord> {
    const what = `connect VM "${vm.name}" NIC ${nic.id} to network "${network}"`;
    await this.d.ensureDefault(state);
    const net = state.networks[network];
    if (!net) {
      throw new NotFoundError(`${what}: network "${network}" does not exist`, {
        code: 'E_NETWORK_NOT_FOUND',
        suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || 'none'}`, `\`volt net disconnect ${vm.name} ${network}\` forgets it`],
      });
    }
    const requestedMac = req.mac === undefined ? nic.mac : parseMac(req.mac, what);
    const ip = allocateAddress(net, [...state.attachments, ...pendingAttachments(state)], 'vm', req.ip ?? nic.ip, what);
    const mac = await this.pickMac(state, net, vm, 'vm', requestedMac, notes);
    const attachment: AttachmentRecord = {
      workload: vm.name,
      network: net.name,
      ip,
      mac,
      kind: 'tap',
      ifname: nic.id,
      hostIfname: tapName(vm.uuid, nic.id),
      createdAt: new Date().toISOString(),
    };
    await this.ensureBridge(net, notes);
    state.attachments.push(attachment);
    nic.network = net.name;
    nic.mac = mac;
    nic.ip = ip;
    return attachment;
  }

  private async ensureBridge(net: NetworkRecord, notes: string[]): Promise<void> {
    // Only this link is read (not every link with its ports): connect stays flat on a big bridge.
    const link = await getLink(net.bridge).catch(() => undefined);
    if (link?.kind === 'bridge') return;
    const bridge = await this.d.bridge();
    // Spec: "Bridge not found → create bridge or fail with clear error". Desired state knows it: re-create.
    await bridge.setupBridge(bridgeSpec(net));
    const firewall = await this.d.firewall();
    await firewall.setupNetwork(firewallNetwork(net));
    notes.push(`bridge ${net.bridge} was missing in the kernel; re-created it from state (run \`volt net check\` for other drift)`);
  }

  private async pickMac(
    state: VoltState,
    net: NetworkRecord,
    w: WorkloadRecord,
    kind: WorkloadKind,
    requested: string | undefined,
    notes: string[],
  ): Promise<string> {
    const inState = new Set([...state.attachments, ...pendingAttachments(state)].filter((a) => a.network === net.name).map((a) => a.mac));
    inState.add(net.mac);
    // One fdb lookup per candidate (what the bridge has learned behind its ports plus the ports' own
    // MACs) instead of reading the whole table: the cost of a connect must not grow with the bridge.
    const used = async (m: string): Promise<boolean> => inState.has(m) || (await macOnBridge(net.bridge, m));
    let mac = requested ?? (w.type === 'vm' ? w.nics.find((n) => n.network === net.name)?.mac : undefined) ?? generateMac(kind, w.name, net.name);
    if (!(await used(mac))) return mac;
    const first = mac;
    for (let salt = 1; await used(mac); salt++) mac = generateMac(kind, w.name, net.name, salt);
    notes.push(`MAC ${first} is already used on bridge ${net.bridge}; regenerated ${mac}`);
    return mac;
  }

  private async nextIfname(w: WorkloadRecord, mine: AttachmentRecord[]): Promise<string> {
    const used = new Set(mine.map((a) => a.ifname));
    if (w.type === 'container') {
      const links = (await ipJsonIn<{ ifname: string }[]>(nsPath(w.source), ['link', 'show'])) ?? [];
      for (const l of links) used.add(l.ifname);
    }
    for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
  }

}

/** Host end of a container's veth: "vh" + 10 hex digits of the workload/network pair (≤ 15 characters). */
export function vethHostName(workload: string, network: string): string {
  return `vh${createHash('sha256').update(`${workload}\0${network}`).digest('hex').slice(0, 10)}`;
}

/** A VM NIC's TAP name, derived from the VM's UUID as the spec says ("tap-" + 10 hex digits). */
export function tapName(uuid: string, nicId: string): string {
  const h = createHash('sha256').update(`${uuid}\0${nicId}`).digest('hex').slice(0, 4);
  return `tap-${uuid.replace(/-/g, '').slice(0, 6)}${h}`;
}

/** Does the bridge's forwarding database know this MAC (learned behind a port, or a port's own)? */
async function macOnBridge(bridge: string, mac: string): Promise<boolean> {
  const r = await runCommand('bridge', ['fdb', 'get', mac, 'br', bridge]);
  if (r.code === 0) return true;
  if (/not found/i.test(r.stderr)) return false;
  // An iproute2 without `fdb get`, or a bridge that is gone: look through the bridge's ports the long way.
  const ports = await linksOfMaster(bridge);
  if (ports.length === 0) return false;
  const all = await runCommand('bridge', ['-j', 'fdb', 'show', 'br', bridge]);
  if (all.code !== 0) return false;
  try {
    return (JSON.parse(all.stdout) as { mac?: string; ifname?: string }[]).some((e) => e.mac === mac && e.ifname !== undefined && ports.includes(e.ifname));
  } catch {
    return false; // an unreadable fdb only weakens the collision check
  }
}
