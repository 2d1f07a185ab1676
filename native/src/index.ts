export { lockExclusive, LockTimeoutError } from './flock';
export type { HeldLock } from './flock';
export { errnoName } from './libc';
export { SyscallError, ioc, io, ior, iow, iowr, IOC_NONE, IOC_READ, IOC_WRITE } from './ioctl';
export {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_SIZE,
  TUNGETIFF,
  TUNSETIFF,
  TUNSETPERSIST,
  TUNSETQUEUE,
  TUNSETVNETHDRSZ,
  TUN_DEVICE,
  closeFds,
  decodeIfreqName,
  encodeIfreq,
  openTap,
  setTapPersist,
  tapFlags,
  tapInfo,
} from './tuntap';
export type { Tap, TapOptions } from './tuntap';
export {
  VHOST_NET_DEVICE,
  VHOST_REQUESTS,
  VHOST_STRUCT_SIZES,
  VHOST_VIRTIO,
  openVhostNet,
  probeVhostNet,
} from './vhost';
export {
  MSG_DONTWAIT,
  MSG_WAITFORONE,
  PollSet,
  UdpBatch,
  UdpSocketError,
  clearEventFd,
  closeUdpSocket,
  formatIpv4,
  openEventFd,
  openUdpSocket,
  parseIpv4,
  probeUdpBatch,
  setRecvTimeout,
  signalEventFd,
  shutdownUdpSocket,
  udpSendTo,
} from './udp-batch';
export type { UdpBatchOptions, UdpBatchStats, UdpSocketOptions } from './udp-batch';
export { openLibnftables } from './nftables';
export type { Libnftables, LibnftablesCall, LibnftablesResult } from './nftables';
export { netlinkDump, netlinkFdb, netlinkFdbHas, netlinkLink, probeNetlink } from './netlink';
export type { NetlinkAddress, NetlinkFdbEntry, NetlinkLink } from './netlink';
export { NetlinkError, netlinkApply } from './netlink-write';
export type { NetlinkRequest } from './netlink-write';
