import { token } from '../di/token';
import type { Availability, Driver } from './driver';
import type { FirewallProto } from './firewall';

export interface BridgeSpec {
  /** Network name in volt's state ("backend"). */
  network: string;
  /** Kernel interface name (≤ 15 characters), e.g. "volt-backend". */
  ifname: string;
  /** Gateway address with prefix, e.g. "10.30.0.1/24". */
  address: string;
  /**
   * IPv6 gateway with prefix ("fd00:30::1/64"), only on networks with an IPv6 prefix. The
   * bridge then also gets `linkLocal6`, keeps no kernel-generated addresses, does not accept
   * router advertisements, and the host forwards IPv6 (docs/ipv6.md).
   */
  address6?: string;
  /** With address6: the bridge's own link-local address ("fe80::…/64", EUI-64 of `mac`), the source of its RAs and NDP. */
  linkLocal6?: string;
  /**
   * With address6: send router advertisements for this prefix ("fd00:30::/64") when the driver
   * does RAs itself (networkd); drivers without RAs leave them to the guest DHCP service.
   */
  prefix6?: string;
  mtu: number;
  /** Stable, locally administered MAC so the bridge address does not follow its ports. */
  mac: string;
}

export interface BridgeObservation {
  ifname: string;
  exists: boolean;
  kind?: string;
  up: boolean;
  mtu?: number;
  mac?: string;
  /** CIDR strings ("10.30.0.1/24"), IPv4 and IPv6 global. */
  addresses: string[];
  /** Interfaces enslaved to the bridge. */
  ports: string[];
  /**
   * Drift only the driver can see (settings of its own, e.g. an OpenFlow rule of an Open vSwitch
   * bridge), as sentences for `volt net check`; `setupBridge` repairs it (`volt net up`).
   */
  problems?: string[];
}

/** Creates and removes the Linux bridge behind a managed network (and, optionally, its VLAN uplinks and container ports). */
export interface BridgeDriver
  extends Driver,
    Partial<BridgeVlans>,
    Partial<BridgeContainerPorts>,
    Partial<BridgeContainerPortBatch>,
    Partial<BridgeTapPorts>,
    Partial<BridgeSwitchedPolicies> {
  /**
   * Whether frames switched between two ports of this driver's bridges can be judged by netfilter
   * (the IPv4 forward hook through br_netfilter, and `table bridge volt`). Absent means yes (Linux
   * bridges). A driver whose switch bypasses netfilter (Open vSwitch) says false: volt then refuses
   * workload policies (`E_DRIVER_UNSUPPORTED`), which it could not enforce inside a network, unless
   * the driver enforces them in its switch itself (capability `switched-policies`).
   */
  readonly filtersSwitchedTraffic?: boolean;
  /** Create or converge the bridge (idempotent). */
  setupBridge(spec: BridgeSpec): Promise<void>;
  /** Remove the bridge; a bridge that is already gone is success. */
  teardownBridge(spec: BridgeSpec): Promise<void>;
  /** What the kernel says about the bridge right now. */
  inspectBridge(ifname: string): Promise<BridgeObservation>;
  /** The same for several bridges at once, in one read of the kernel (listings). */
  inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]>;
}

export const BridgeDriver = token<BridgeDriver>('volt.driver.bridge');

/** An 802.1Q VLAN interface on a host link, optionally an uplink port of a network's bridge. */
export interface VlanSpec {
  /** Kernel interface name of the VLAN (≤ 15 characters), e.g. "eth0.100". */
  ifname: string;
  /** The host link it is stacked on ("eth0"). */
  parent: string;
  /** 802.1Q VLAN id, 1–4094. */
  id: number;
  /** Bridge to enslave it to (the network's uplink); undefined: a VLAN on no bridge. */
  bridge?: string;
  /** The network of that bridge, for messages and unit headers. */
  network?: string;
}

export interface VlanObservation {
  ifname: string;
  exists: boolean;
  /** "vlan" for an 802.1Q link; anything else means the name is taken by another kind of link. */
  kind?: string;
  parent?: string;
  id?: number;
  /** "802.1Q" or "802.1ad". */
  protocol?: string;
  up: boolean;
  /** The bridge it is a port of. */
  master?: string;
}

/**
 * VLAN uplinks, part of the bridge contract (a VLAN becomes a port of a network's bridge,
 * so it goes through the same backend as the bridge). Optional so that a third-party bridge
 * driver without VLANs still loads: volt then refuses `net vlan create` and says why.
 */
export interface BridgeVlans {
  /** Can this host make 802.1Q links at all (kernel support, backend prerequisites)? Changes nothing. */
  vlanSupport(): Promise<Availability>;
  /** Create or converge the VLAN link and its bridge membership (idempotent; no bridge: on none). */
  setupVlan(spec: VlanSpec): Promise<void>;
  /** Remove the VLAN link; one that is already gone is success. Never touches the parent. */
  teardownVlan(spec: VlanSpec): Promise<void>;
  /** What the kernel says about these VLAN links right now, in one read. */
  inspectVlans(ifnames: readonly string[]): Promise<VlanObservation[]>;
}

/**
 * A container's NIC as a port of a network's bridge: a veth pair whose host end joins the
 * bridge and whose peer lives inside the container's network namespace. The counterpart of
 * VmNicSpec (drivers/vm-nic.ts) for containers.
 */
export interface ContainerPortSpec {
  /** Network name in volt's state ("backend"). */
  network: string;
  /** Workload name ("api"). */
  workload: string;
  /** The bridge the host end joins. */
  bridge: string;
  /** Host end of the pair (≤ 15 characters), "vh" + 10 hex digits. */
  hostIfname: string;
  /** The peer's name inside the namespace ("eth0"). */
  ifname: string;
  /** Namespace file of the container (/run/netns/NAME, /proc/PID/ns/net). */
  netns: string;
  /** MAC of the peer (the container's NIC). */
  mac: string;
  mtu: number;
  /** Address with prefix inside the namespace ("10.30.0.100/24"). */
  address: string;
  /** The default route inside the namespace goes via this gateway; undefined: no route is set. */
  defaultGateway?: string;
  /** IPv6 address with prefix ("fd00:30::64/64"), set without DAD; router advertisements are then ignored on the peer. */
  address6?: string;
  /** The IPv6 default route inside the namespace goes via this gateway ("fd00:30::1"). */
  defaultGateway6?: string;
}

/**
 * Container ports, part of the bridge contract (set-up in two idempotent calls so that volt's
 * intent journal can record the boundary between them, then one tear-down). Both ends carry
 * the ownership alias `volt:<network>/<workload>` so a leftover can be recognised without
 * state (core/src/services/leftovers.ts). Optional for third-party drivers: without it core
 * uses the plain Linux veth helpers (core/src/kernel/veth.ts), which need a Linux bridge.
 */
export interface BridgeContainerPorts {
  /**
   * Create (or converge) the pair: the peer made directly inside spec.netns with spec.mac and
   * the MTU, the host end with the alias, no IPv6 link-local, on spec.bridge and up.
   */
  setupContainerPort(spec: ContainerPortSpec): Promise<void>;
  /** Inside the namespace: lo up, spec.address on the peer, its alias, up, and the default route if asked (idempotent). */
  configureContainerPort(spec: ContainerPortSpec): Promise<void>;
  /** Remove the pair (deleting the host end removes the peer too); a pair that is already gone is success. */
  teardownContainerPort(spec: Pick<ContainerPortSpec, 'hostIfname' | 'network' | 'workload'>): Promise<void>;
}

/**
 * Container ports in batches (`volt net connect NET W1 … WN`, Compose up): the same three
 * operations for many ports at once, with as few processes or netlink sessions as the driver
 * can manage. A failure names the port it failed at: an error with a numeric `index` (its
 * position in `specs`; @volt/sdk/kernel ContainerPortBatchError); volt then tears every port
 * of the batch down. Optional: without it volt calls the single-port methods in turn.
 */
export interface BridgeContainerPortBatch {
  setupContainerPorts(specs: readonly ContainerPortSpec[]): Promise<void>;
  configureContainerPorts(specs: readonly ContainerPortSpec[]): Promise<void>;
  teardownContainerPorts(specs: readonly Pick<ContainerPortSpec, 'hostIfname' | 'network' | 'workload'>[]): Promise<void>;
}

/** A VM's TAP as a port of a network's bridge (capability `tap-ports`). */
export interface TapPortSpec {
  vm: string;
  nicId: string;
  /** The TAP (≤ 15 characters), made by the vm-nic driver. */
  ifname: string;
  /** The bridge it joins. */
  bridge: string;
  mtu: number;
}

/**
 * VM TAPs as bridge ports, for a bridge that is not a Linux bridge (`ip link set master` cannot
 * plug a TAP into it). With this capability volt asks the vm-nic driver for a TAP on no bridge,
 * then the bridge driver to plug it in (start, `net connect` of a running VM, `net up`) and out
 * (disconnect, stop), and asks it which bridge a TAP is on (`net check`). Without it the vm-nic
 * driver plugs the TAP into the Linux bridge itself.
 */
export interface BridgeTapPorts {
  /** Put the existing TAP on spec.bridge, up, with its MTU (idempotent). */
  attachTap(spec: TapPortSpec): Promise<void>;
  /** Take it off its bridge; a TAP or port that is already gone is success. */
  detachTap(spec: Pick<TapPortSpec, 'vm' | 'nicId' | 'ifname'>): Promise<void>;
  /** The bridge the TAP is a port of right now; undefined when it is on none. */
  tapBridge(ifname: string): Promise<string | undefined>;
}

/** One policy as it applies inside one network: addresses resolved, only this network's destinations. */
export interface SwitchedPolicy {
  /** The policy's name (for drift messages and flow comments). */
  name: string;
  action: 'allow' | 'deny';
  /** Source addresses (IPv4 here; IPv6 too on dual-stack networks); undefined: any source. */
  from?: string[];
  /** Destination addresses on this network that the policy protects; never empty. */
  to: string[];
  /** tcp, udp, icmp, or any (every IP protocol when `ports` is empty; tcp and udp with ports). */
  proto: FirewallProto;
  /** Destination ports (tcp/udp); empty: every port. Ranges are expanded. */
  ports: number[];
}

/**
 * The compiled policies of one network, for a bridge driver that switches frames itself
 * (capability `switched-policies`). volt's semantics, which the driver must reproduce exactly
 * (so `volt net policy test` agrees with the traffic), for a packet between two workload ports
 * of the bridge (traffic through the bridge's own gateway port is routed and is the firewall
 * driver's):
 *   1. packets of established or related connections pass;
 *   2. a new connection to an address in `isolated`: dropped when a deny policy matches, else
 *      passed when an allow policy matches, else dropped;
 *   3. a new connection to any other address: `default` ("allow": workloads on one network reach
 *      each other).
 * A policy matches when the destination is in `to`, the source in `from` (or `from` is absent)
 * and the protocol and destination port match. A passed new connection is committed to the
 * connection tracker, so its replies are "established".
 */
export interface SwitchedPolicySet {
  network: string;
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** The gateway (the bridge's own address): its traffic is routed, never judged here. */
  gateway: string;
  /** What happens to a new connection between two workloads of this network that no policy targets. */
  default: 'allow';
  /** Destination addresses that at least one policy targets, sorted. */
  isolated: string[];
  /** The policies with a destination on this network, in name order (deny wins over allow whatever the order). */
  policies: SwitchedPolicy[];
}

/**
 * Policies enforced by the bridge driver (capability `switched-policies`), for a switch whose
 * frames never reach netfilter (Open vSwitch). volt hands over the complete set, one entry per
 * network that has workloads, whenever policies or attachments change and on `volt net up`; a
 * bridge of the driver that the list does not name gets no policy (its workloads reach each other).
 */
export interface BridgeSwitchedPolicies {
  /** Make the switches enforce exactly `sets` (idempotent; atomic per bridge; a bridge that does not exist yet is skipped). */
  applySwitchedPolicies(sets: readonly SwitchedPolicySet[]): Promise<void>;
  /** Differences between `sets` and what the switches enforce, one sentence each (`volt net check`); changes nothing. */
  checkSwitchedPolicies(sets: readonly SwitchedPolicySet[]): Promise<string[]>;
}
