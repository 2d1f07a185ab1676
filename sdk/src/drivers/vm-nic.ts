import { token } from '../di/token';
import type { Driver } from './driver';

/*
 * The host side of a VM's virtio-net NIC, in three contracts that work together
 * (docs/decisions/0003-vm-nics-and-dhcp.md), each in its own file with its token:
 *
 *   VmNicDriver       the TAP and its bridge port      direct-tap (fallback), networkd   (this file)
 *   VmNicAccelerator  kernel datapath fds for the TAP  vhost-net                         (vm-nic-accel.ts)
 *   GuestDhcp         addresses inside guests          dnsmasq (direct plugin), networkd's DHCPServer (guest-dhcp.ts)
 *
 * The driver registry selects one of each (`drivers.vm-nic`, `drivers.vm-nic-accel`,
 * `drivers.guest-dhcp` pin them): the accelerator is used for NICs with vhost: true when it
 * is available; a DHCP service with `forBridge` is only chosen with that bridge driver, and
 * detection prefers the one that goes with the active bridge driver.
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
