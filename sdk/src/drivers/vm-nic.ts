import { token } from '../di/token';
import type { Driver } from './driver';

/*
 * The host side of a VM's virtio-net NIC, in three contracts that work together
 * (docs/decisions/0003-vm-nics-and-dhcp.md explains why they share this file):
 *
 *   VmNicDriver       the TAP and its bridge port      direct-tap (fallback), networkd
 *   VmNicAccelerator  kernel datapath fds for the TAP  vhost-net
 *   GuestDhcp         addresses inside guests          dnsmasq (direct plugin), networkd's DHCPServer
 *
 * Only VmNicDriver is selected by the driver registry (`drivers.vm-nic`);
 * accelerators and DHCP services are picked by core's VM service (vhost: per NIC
 * when asked for and available; DHCP: the one that goes with the active bridge driver).
 */

export interface VmNicSpec {
  vm: string;
  vmUuid: string;
  /** NIC id from the VM config ("eth0"). */
  nicId: string;
  /** TAP interface name (≤ 15 characters), derived from the VM's UUID. */
  ifname: string;
  /** The bridge the TAP joins; undefined leaves it unplugged (a NIC not connected to any network). */
  bridge?: string;
  mac: string;
  mtu: number;
  /** One TAP fd per queue (IFF_MULTI_QUEUE when > 1). */
  queues: number;
}

export interface VmNicHandle {
  ifname: string;
  /** One TAP fd per queue, open in this process and close-on-exec; core hands them to QEMU, then closes its copies. */
  tapFds: number[];
  /** Sentences for the operator (e.g. a retry that succeeded). */
  warnings: string[];
}

/** Provides the TAP behind a VM NIC. */
export interface VmNicDriver extends Driver {
  /** Create (or take over) the TAP, plug it into spec.bridge, apply the MTU, and open one fd per queue. */
  setupNic(spec: VmNicSpec): Promise<VmNicHandle>;
  /** Close `handle`'s fds if given, and remove the TAP (and anything declared for it); absent is success. */
  teardownNic(spec: VmNicSpec, handle?: VmNicHandle): Promise<void>;
  /** A running VM's TAP joins spec.bridge (`volt net connect` of a running VM). */
  attachNic(spec: VmNicSpec & { bridge: string }): Promise<void>;
  /** ...and leaves its bridge again; a TAP that is gone is success. */
  detachNic(spec: VmNicSpec): Promise<void>;
}

export const VmNicDriver = token<VmNicDriver>('volt.driver.vm-nic');

/** The error code a VmNicDriver throws when it could not provide the TAP in time; core then uses the fallback driver. */
export const E_NIC_UNAVAILABLE = 'E_NIC_UNAVAILABLE';

export interface VmNicAccelSpec {
  vm: string;
  nicId: string;
  queues: number;
}

export interface VmNicAccelHandle {
  /** One fd per queue, close-on-exec; handed to QEMU as vhostfd=/vhostfds=. */
  fds: number[];
}

/** Kernel acceleration for a TAP-backed virtio-net NIC (vhost-net). */
export interface VmNicAccelerator extends Driver {
  /** Open the accelerator for one NIC; throws (with the reason) when it cannot, and core falls back to userspace virtio-net. */
  setupAccel(spec: VmNicAccelSpec): Promise<VmNicAccelHandle>;
  /** Close the fds (QEMU keeps its own copies while it runs). */
  teardownAccel(spec: VmNicAccelSpec, handle: VmNicAccelHandle): Promise<void>;
}

export const VmNicAccelerator = token<VmNicAccelerator>('volt.driver.vm-nic-accel');

/** One static lease: this MAC always gets this address. */
export interface DhcpLease {
  mac: string;
  ip: string;
  /** The workload's name, offered as the guest's host name. */
  hostname: string;
}

export interface GuestDhcpSpec {
  network: string;
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** Server address, router and DNS server handed out: the network's gateway. */
  gateway: string;
  mtu: number;
  /** Exactly these leases are served; nothing else gets an address. */
  leases: DhcpLease[];
}

/** A DHCP server on a network's bridge that hands VM guests the addresses IPAM reserved for their MACs. */
export interface GuestDhcp extends Driver {
  /**
   * The bridge driver this service belongs with ("networkd": its DHCPServer lives in the
   * bridge's .network); undefined: it works on any Linux bridge.
   */
  readonly forBridge?: string;
  /** Serve exactly spec.leases on spec.bridge (idempotent: unchanged leases change nothing). */
  setupDhcp(spec: GuestDhcpSpec): Promise<void>;
  /** Stop serving the network; absent is success. */
  teardownDhcp(spec: Pick<GuestDhcpSpec, 'network' | 'bridge'>): Promise<void>;
}

export const GuestDhcp = token<GuestDhcp>('volt.driver.guest-dhcp');
