import { token } from '../di/token';
import type { Driver } from './driver';

export interface VmNicSpec {
  vm: string;
  vmUuid: string;
  /** TAP interface name (≤ 15 characters). */
  ifname: string;
  bridge: string;
  mac: string;
  mtu: number;
  queues: number;
  vhost: boolean;
}

export interface VmNicHandle {
  ifname: string;
  /** One TAP fd per queue, to hand to QEMU. */
  tapFds: number[];
  /** vhost-net fds when acceleration is on, else empty. */
  vhostFds: number[];
  warnings: string[];
}

/** Provides the host side of a VM's virtio-net NIC. */
export interface VmNicDriver extends Driver {
  setupNic(spec: VmNicSpec): Promise<VmNicHandle>;
  /** Close fds and remove the TAP; absent is success. */
  teardownNic(spec: VmNicSpec, handle?: VmNicHandle): Promise<void>;
}

export const VmNicDriver = token<VmNicDriver>('volt.driver.vm-nic');
