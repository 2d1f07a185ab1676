import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError } from '@volt/sdk';
import { pendingAttachments } from '../../state/journal';
import type { AttachmentRecord, ContainerRecord, NetworkRecord, VmNicRecord, VmRecord, VoltState, WorkloadRecord } from '../../state/types';
import { describeSource, nsPath } from '../../kernel/netns';
import type { KernelProbes } from './attach-probes';
import { allocateAddress, allocateAddress6, type WorkloadKind } from '../network/ipam';
import { generateMac, parseMac } from './mac';

/**
 * The attachment planner: for one NIC (a container's veth or a VM's TAP) on one network it
 * decides the address (IPAM, counting pending reservations), the MAC (checked against the
 * bridge), and the names (interface inside the workload, bridge port on the host). It changes
 * nothing, neither the kernel nor the state; the executor (attach-exec.ts) carries the plan out.
 */
export interface AttachmentRequest {
  ip?: string;
  /** Static IPv6 address (`--ip6`); only on a network with subnet6. */
  ip6?: string;
  mac?: string;
}

/** What a batch reads once for all its workloads (workload-service.ts connectMany). */
export interface BatchReads {
  /** The bridge fdb's MACs (KernelProbes.bridgeMacs): checked here instead of one lookup per MAC. */
  bridgeMacs?: Set<string>;
}

export interface ContainerPlan {
  attachment: AttachmentRecord;
  /** Namespace file of the container. */
  nsFile: string;
  /** The new link gets the default route (the workload's first network). */
  defaultRoute: boolean;
}

export class AttachmentPlanner {
  constructor(private readonly probes: KernelProbes) {}

  /**
   * A container's NIC on `net`. Checks before any kernel read: the MAC given, a pending connect
   * of the pair, the address, the namespace; then the MAC check and the interface names at once.
   */
  async container(state: VoltState, w: ContainerRecord, net: NetworkRecord, req: AttachmentRequest, what: string, notes: string[], reads: BatchReads = {}): Promise<ContainerPlan> {
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
    const ip6 = allocateAddress6(net, [...state.attachments, ...reserved], kind, req.ip6, what, { ip });
    const nsFile = nsPath(w.source);
    if (!this.probes.nsAlive(nsFile)) {
      throw new NotFoundError(`${what}: the namespace of "${w.name}" (${describeSource(w.source)}) does not exist`, {
        code: 'E_NETNS_GONE',
        suggestions: ['start the container first, or `volt container register` it again with its current namespace'],
      });
    }
    const mine = state.attachments.filter((a) => a.workload === w.name);
    // Two independent kernel reads at once: the MAC check and the container's links.
    const [mac, ifname] = await Promise.all([this.pickMac(state, net, w, kind, requestedMac, notes, reads.bridgeMacs), this.nextIfname(nsFile, mine)]);
    const attachment: AttachmentRecord = {
      workload: w.name,
      network: net.name,
      ip,
      ...(ip6 !== undefined ? { ip6 } : {}),
      mac,
      kind: 'veth',
      ifname,
      hostIfname: vethHostName(w.name, net.name),
      createdAt: new Date().toISOString(),
    };
    return { attachment, nsFile, defaultRoute: mine.length === 0 };
  }

  /** A VM NIC on `net`: the address (the NIC's own, or IPAM's), a MAC free on the bridge, the TAP name. */
  async vm(state: VoltState, vm: VmRecord, nic: VmNicRecord, net: NetworkRecord, req: AttachmentRequest, what: string, notes: string[]): Promise<AttachmentRecord> {
    const requestedMac = req.mac === undefined ? nic.mac : parseMac(req.mac, what);
    const taken = [...state.attachments, ...pendingAttachments(state)];
    const ip = allocateAddress(net, taken, 'vm', req.ip ?? nic.ip, what);
    // A static --ip6 is checked before the MAC is looked for; the SLAAC address follows the MAC.
    const requested6 = req.ip6 ?? nic.ip6;
    if (requested6 !== undefined) allocateAddress6(net, taken, 'vm', requested6, what);
    const mac = await this.pickMac(state, net, vm, 'vm', requestedMac, notes);
    const ip6 = allocateAddress6(net, taken, 'vm', requested6, what, { ip, mac });
    return {
      workload: vm.name,
      network: net.name,
      ip,
      ...(ip6 !== undefined ? { ip6 } : {}),
      mac,
      kind: 'tap',
      ifname: nic.id,
      hostIfname: tapName(vm.uuid, nic.id),
      createdAt: new Date().toISOString(),
    };
  }

  /** The requested MAC (or the stable generated one) unless state or the bridge already has it; else the next salted one. */
  async pickMac(state: VoltState, net: NetworkRecord, w: WorkloadRecord, kind: WorkloadKind, requested: string | undefined, notes: string[], bridgeMacs?: Set<string>): Promise<string> {
    const inState = new Set([...state.attachments, ...pendingAttachments(state)].filter((a) => a.network === net.name).map((a) => a.mac));
    inState.add(net.mac);
    // One fdb lookup per candidate (what the bridge has learned behind its ports plus the ports' own
    // MACs) instead of reading the whole table: the cost of a connect must not grow with the bridge.
    const used = async (m: string): Promise<boolean> => inState.has(m) || (bridgeMacs ? bridgeMacs.has(m) : await this.probes.macOnBridge(net.bridge, m));
    let mac = requested ?? (w.type === 'vm' ? w.nics.find((n) => n.network === net.name)?.mac : undefined) ?? generateMac(kind, w.name, net.name);
    if (!(await used(mac))) return mac;
    const first = mac;
    for (let salt = 1; await used(mac); salt++) mac = generateMac(kind, w.name, net.name, salt);
    notes.push(`MAC ${first} is already used on bridge ${net.bridge}; regenerated ${mac}`);
    return mac;
  }

  /** The first ethN that neither another attachment of the workload nor a link inside its namespace uses. */
  async nextIfname(nsFile: string, mine: AttachmentRecord[]): Promise<string> {
    const used = new Set(mine.map((a) => a.ifname));
    for (const name of await this.probes.linkNamesIn(nsFile)) used.add(name);
    for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
  }
}

/** Record a planned VM attachment in the draft: the attachment, and the NIC's network, MAC and address. */
export function recordVmAttachment(state: VoltState, nic: VmNicRecord, a: AttachmentRecord): void {
  state.attachments.push(a);
  nic.network = a.network;
  nic.mac = a.mac;
  nic.ip = a.ip;
  if (a.ip6 !== undefined) nic.ip6 = a.ip6;
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
