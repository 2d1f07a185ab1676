import { closeFds, openVhostNet, probeVhostNet, SyscallError, VHOST_NET_DEVICE } from '@volt/native';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { VmNicAccelerator, VmNicAccelHandle, VmNicAccelSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';

/**
 * vhost-net: the virtio-net datapath in the kernel. volt opens /dev/vhost-net
 * once per queue and hands the fds to QEMU (`vhost=on,vhostfd=` /
 * `vhostfds=`); QEMU then performs the design's set-up sequence (SET_OWNER,
 * SET_MEM_TABLE, SET_VRING_*, NET_SET_BACKEND) since only it knows the guest's
 * memory and vrings. volt owns the probe and the fds' lifecycle. When the
 * device cannot be opened, core falls back to userspace virtio-net.
 */
export class VhostNet implements VmNicAccelerator {
  readonly name = 'vhost-net';
  readonly preference = 10;
  readonly fallback = false;
  readonly description = 'virtio-net datapath in the kernel (/dev/vhost-net fds handed to QEMU)';

  constructor(
    private readonly host: HostContext,
    private readonly device: string = VHOST_NET_DEVICE,
  ) {}

  async available(): Promise<Availability> {
    try {
      const features = probeVhostNet(this.device);
      return { ok: true, reason: `${this.device} open, features 0x${features.toString(16)}` };
    } catch (e: unknown) {
      return { ok: false, reason: explain(this.device, e) };
    }
  }

  async setupAccel(spec: VmNicAccelSpec): Promise<VmNicAccelHandle> {
    try {
      const fds = openVhostNet(spec.queues, this.device);
      this.host.debug(`vhost-net for VM "${spec.vm}" NIC ${spec.nicId}: fds ${fds.join(',')}`);
      return { fds };
    } catch (e: unknown) {
      throw new DriverError(`open vhost-net for VM "${spec.vm}" NIC ${spec.nicId}: ${explain(this.device, e)}`, { code: 'E_VHOST', cause: e });
    }
  }

  async teardownAccel(_spec: VmNicAccelSpec, handle: VmNicAccelHandle): Promise<void> {
    closeFds(handle.fds);
    handle.fds = [];
  }
}

/** errno → why, in the words an operator searches for. */
export function explain(device: string, e: unknown): string {
  if (!(e instanceof SyscallError)) return errorMessage(e);
  switch (e.errnoName) {
    case 'ENOENT':
      return `${device}: ENOENT, the vhost_net module is not loaded or not built`;
    case 'ENODEV':
    case 'ENXIO':
      return `${device}: ${e.errnoName}, no vhost_net driver behind the device node`;
    case 'EACCES':
    case 'EPERM':
      return `${device}: ${e.errnoName}, no permission`;
    default:
      return `${device}: ${e.call} ${e.errnoName}`;
  }
}
