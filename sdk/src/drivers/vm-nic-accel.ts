import { token } from '../di/token';
import type { Driver } from './driver';

/* Kernel acceleration for a VM NIC's TAP; selected by the registry (drivers.vm-nic-accel), used per NIC that asks for it (see vm-nic.ts). */

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
