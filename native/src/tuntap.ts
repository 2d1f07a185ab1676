import { O_RDWR, SyscallError, ior, iow, sysClose, sysIoctlInt, sysIoctlPtr, sysOpen } from './ioctl';

/** <linux/if_tun.h>: ioctls on /dev/net/tun (type 'T'). */
const TUN_IOC_TYPE = 'T'.charCodeAt(0);
const SIZEOF_INT = 4;
export const TUNSETIFF = iow(TUN_IOC_TYPE, 202, SIZEOF_INT);
export const TUNSETPERSIST = iow(TUN_IOC_TYPE, 203, SIZEOF_INT);
export const TUNGETIFF = ior(TUN_IOC_TYPE, 210, SIZEOF_INT);
export const TUNSETVNETHDRSZ = iow(TUN_IOC_TYPE, 216, SIZEOF_INT);
export const TUNSETQUEUE = iow(TUN_IOC_TYPE, 217, SIZEOF_INT);

/** TUNSETIFF flags (ifr_flags). */
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

/** struct ifreq: char ifr_name[IFNAMSIZ]; union { short ifr_flags; … } — 40 bytes on 64-bit Linux. */
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;

export const TUN_DEVICE = '/dev/net/tun';

export interface TapOptions {
  /** Interface name (≤ 15 bytes). An existing TAP of that name is attached to; else one is created. */
  name: string;
  /** One fd per queue; more than one implies IFF_MULTI_QUEUE. */
  queues: number;
  /** IFF_VNET_HDR: virtio-net headers on every frame (what QEMU's virtio-net wants). */
  vnetHdr: boolean;
  /**
   * IFF_MULTI_QUEUE even for one queue. The flags must match an existing TAP's
   * (networkd's MultiQueue=true), or TUNSETIFF fails with EINVAL.
   */
  multiQueue?: boolean;
  /** Where the clone device is (tests); default /dev/net/tun. */
  device?: string;
}

export interface Tap {
  /** The name the kernel gave (or confirmed). */
  name: string;
  /** One open fd per queue, close-on-exec. The TAP lives while one of them is open (unless persistent). */
  fds: number[];
  flags: number;
}

/** ifreq with the name and flags set; the kernel writes the final name back into it. */
export function encodeIfreq(name: string, flags: number): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ || bytes.includes(0) || /[\s/]/.test(name)) {
    throw new RangeError(`interface name ${JSON.stringify(name)} is not 1-15 bytes without spaces or "/"`);
  }
  const req = Buffer.alloc(IFREQ_SIZE);
  bytes.copy(req, 0);
  req.writeUInt16LE(flags & 0xffff, IFNAMSIZ);
  return req;
}

export function decodeIfreqName(req: Buffer): string {
  const end = req.indexOf(0);
  return req.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end).toString('utf8');
}

export function tapFlags(opts: Pick<TapOptions, 'queues' | 'vnetHdr' | 'multiQueue'>): number {
  let flags = IFF_TAP | IFF_NO_PI;
  if (opts.vnetHdr) flags |= IFF_VNET_HDR;
  if (opts.queues > 1 || opts.multiQueue === true) flags |= IFF_MULTI_QUEUE;
  return flags;
}

/**
 * Open (creating if needed) a TAP in the network namespace this process is in:
 * open(/dev/net/tun) + TUNSETIFF once per queue. Nothing is made persistent,
 * so a TAP created here disappears when the last fd closes (in QEMU, when it exits).
 * On any failure every fd opened so far is closed and a SyscallError is thrown.
 */
export function openTap(opts: TapOptions): Tap {
  if (!Number.isInteger(opts.queues) || opts.queues < 1 || opts.queues > 256) {
    throw new RangeError(`queues must be an integer 1-256, not ${String(opts.queues)}`);
  }
  const flags = tapFlags(opts);
  const device = opts.device ?? TUN_DEVICE;
  const fds: number[] = [];
  let name = opts.name;
  try {
    for (let q = 0; q < opts.queues; q++) {
      const fd = sysOpen(device, O_RDWR);
      fds.push(fd);
      const req = encodeIfreq(name, flags);
      sysIoctlPtr(fd, TUNSETIFF, req, `TUNSETIFF ${name}`);
      name = decodeIfreqName(req);
    }
  } catch (e: unknown) {
    for (const fd of fds) sysClose(fd);
    throw e;
  }
  return { name, fds, flags };
}

/** Read back the flags and name of an open TAP fd (TUNGETIFF). */
export function tapInfo(fd: number): { name: string; flags: number } {
  const req = Buffer.alloc(IFREQ_SIZE);
  sysIoctlPtr(fd, TUNGETIFF, req, 'TUNGETIFF');
  return { name: decodeIfreqName(req), flags: req.readUInt16LE(IFNAMSIZ) };
}

/** TUNSETPERSIST: keep (1) or stop keeping (0) the TAP after its last fd closes. */
export function setTapPersist(fd: number, persist: boolean): void {
  sysIoctlInt(fd, TUNSETPERSIST, persist ? 1 : 0, `TUNSETPERSIST ${persist ? 1 : 0}`);
}

export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) sysClose(fd);
}

export { SyscallError };
