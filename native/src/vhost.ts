import { O_RDWR, SyscallError, io, ior, iow, iowr, sysClose, sysIoctlPtr, sysOpen } from './ioctl';

/**
 * <linux/vhost.h>. volt opens /dev/vhost-net and hands the fds to QEMU
 * (`vhostfd=`/`vhostfds=`); QEMU performs the set-up sequence of the design
 * (SET_OWNER, SET_MEM_TABLE, SET_VRING_*, NET_SET_BACKEND) because only it
 * knows the guest's memory layout and vrings. The numbers are here so the
 * probe and the tests speak the kernel's ABI.
 */
export const VHOST_VIRTIO = 0xaf;

/** Sizes of the kernel structs the requests carry (x86-64 / any LP64). */
export const VHOST_STRUCT_SIZES = {
  u64: 8,
  int: 4,
  /** struct vhost_memory { __u32 nregions; __u32 padding; struct vhost_memory_region regions[]; } */
  vhost_memory: 8,
  /** struct vhost_vring_state { unsigned int index; unsigned int num; } */
  vhost_vring_state: 8,
  /** struct vhost_vring_file { unsigned int index; int fd; } */
  vhost_vring_file: 8,
  /** struct vhost_vring_addr { unsigned int index, flags; __u64 desc, used, avail, log_guest_addr; } */
  vhost_vring_addr: 40,
} as const;

const S = VHOST_STRUCT_SIZES;
export const VHOST_GET_FEATURES = ior(VHOST_VIRTIO, 0x00, S.u64);
export const VHOST_SET_FEATURES = iow(VHOST_VIRTIO, 0x00, S.u64);
export const VHOST_SET_OWNER = io(VHOST_VIRTIO, 0x01);
export const VHOST_RESET_OWNER = io(VHOST_VIRTIO, 0x02);
export const VHOST_SET_MEM_TABLE = iow(VHOST_VIRTIO, 0x03, S.vhost_memory);
export const VHOST_SET_LOG_BASE = iow(VHOST_VIRTIO, 0x04, S.u64);
export const VHOST_SET_LOG_FD = iow(VHOST_VIRTIO, 0x07, S.int);
export const VHOST_SET_VRING_NUM = iow(VHOST_VIRTIO, 0x10, S.vhost_vring_state);
export const VHOST_SET_VRING_ADDR = iow(VHOST_VIRTIO, 0x11, S.vhost_vring_addr);
export const VHOST_SET_VRING_BASE = iow(VHOST_VIRTIO, 0x12, S.vhost_vring_state);
export const VHOST_GET_VRING_BASE = iowr(VHOST_VIRTIO, 0x12, S.vhost_vring_state);
export const VHOST_SET_VRING_KICK = iow(VHOST_VIRTIO, 0x20, S.vhost_vring_file);
export const VHOST_SET_VRING_CALL = iow(VHOST_VIRTIO, 0x21, S.vhost_vring_file);
export const VHOST_SET_VRING_ERR = iow(VHOST_VIRTIO, 0x22, S.vhost_vring_file);
export const VHOST_NET_SET_BACKEND = iow(VHOST_VIRTIO, 0x30, S.vhost_vring_file);

/** Every request above by its kernel name (for tests and `--debug`). */
export const VHOST_REQUESTS: Readonly<Record<string, number>> = {
  VHOST_GET_FEATURES,
  VHOST_SET_FEATURES,
  VHOST_SET_OWNER,
  VHOST_RESET_OWNER,
  VHOST_SET_MEM_TABLE,
  VHOST_SET_LOG_BASE,
  VHOST_SET_LOG_FD,
  VHOST_SET_VRING_NUM,
  VHOST_SET_VRING_ADDR,
  VHOST_SET_VRING_BASE,
  VHOST_GET_VRING_BASE,
  VHOST_SET_VRING_KICK,
  VHOST_SET_VRING_CALL,
  VHOST_SET_VRING_ERR,
  VHOST_NET_SET_BACKEND,
};

export const VHOST_NET_DEVICE = '/dev/vhost-net';

/**
 * Open the vhost-net device once per queue (close-on-exec). On failure every
 * fd opened so far is closed and the SyscallError says why (ENOENT: no device
 * node, the module is not loaded or not built; EACCES; ENODEV…).
 */
export function openVhostNet(queues: number, device: string = VHOST_NET_DEVICE): number[] {
  const fds: number[] = [];
  try {
    for (let q = 0; q < queues; q++) fds.push(sysOpen(device, O_RDWR));
  } catch (e: unknown) {
    for (const fd of fds) sysClose(fd);
    throw e;
  }
  return fds;
}

/**
 * The feature probe: open the device, VHOST_GET_FEATURES (needs no owner),
 * close. Returns the feature bits, or throws a SyscallError.
 */
export function probeVhostNet(device: string = VHOST_NET_DEVICE): bigint {
  const fd = sysOpen(device, O_RDWR);
  try {
    const out = Buffer.alloc(8);
    sysIoctlPtr(fd, VHOST_GET_FEATURES, out, 'VHOST_GET_FEATURES');
    return out.readBigUInt64LE(0);
  } finally {
    sysClose(fd);
  }
}

export { SyscallError };
