import * as fs from 'node:fs';
import { errno, libc } from './libc';
import { SyscallError } from './ioctl';
import { bind, linkByName, request, rtattr, type Calls } from './netlink';

/**
 * rtnetlink writes: the kernel work of a container port (a veth pair with its peer created
 * straight inside the workload's namespace, link settings, addresses, default routes, the
 * sysctls the kernel reads per interface) as typed requests over one NETLINK_ROUTE socket,
 * without running `ip`, `nsenter` or a shell. Each request is acknowledged before the next is
 * sent, so a failure stops the list where it happened, as `ip -batch` does; what was applied
 * before it stays applied (the callers' requests are idempotent or undone by their steps).
 *
 * For a namespace other than this thread's, the calling thread enters it for the whole list
 * (setns; Node runs this synchronously, so no other JavaScript runs meanwhile), which is what
 * makes /proc/sys/net and the socket belong to it, and returns before the call ends, whatever
 * happened.
 */

export type NetlinkRequest =
  /** `ip link add name IFNAME mtu MTU type veth peer name P address MAC mtu MTU netns PATH`. */
  | { op: 'veth-add'; ifname: string; mtu: number; peer: { ifname: string; mac: string; mtu: number; netns: string } }
  /** `ip link set dev IFNAME [addrgenmode none] [alias A] [address MAC] [master BRIDGE] [up]`, in one message. */
  | { op: 'link-set'; ifname: string; addrGenModeNone?: boolean; alias?: string; mac?: string; master?: string; up?: boolean }
  /** `ip addr replace LOCAL/PREFIXLEN dev IFNAME [nodad]`. */
  | { op: 'addr-replace'; ifname: string; family: 4 | 6; local: string; prefixlen: number; nodad?: boolean }
  /** `ip [-6] route replace default via GATEWAY dev IFNAME`. */
  | { op: 'default-route'; ifname: string; family: 4 | 6; gateway: string }
  /** `ip link del dev IFNAME`. */
  | { op: 'link-del'; ifname: string }
  /** Write VALUE to /proc/sys/KEY ("net/ipv4/conf/eth0/arp_notify"), in the namespace. */
  | { op: 'sysctl'; key: string; value: string };

/** The kernel refused a request: errno, and the text `ip` prints for it. */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    /** Index of the failed request in the list. */
    readonly index: number,
    message: string,
  ) {
    super(message);
    this.name = 'NetlinkError';
  }
}

const CLONE_NEWNET = 0x40000000;
const O_RDONLY_CLOEXEC = 0o2000000;

const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_SETLINK = 19;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_AF_SPEC = 26;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RTN_UNICAST = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const ENODEV = 19;

type PtonFn = (af: number, src: string, dst: Buffer) => number;
type StrerrorFn = (code: number) => string;
let pton: PtonFn | undefined;
let strerror: StrerrorFn | undefined;

const str = (type: number, s: string): Buffer => rtattr(type, Buffer.from(`${s}\0`, 'utf8'));
const u32 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return rtattr(type, b);
};
const nest = (type: number, parts: Buffer[]): Buffer => rtattr(type, Buffer.concat(parts));

function ifinfomsg(opts: { index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(opts.index ?? 0, 4);
  b.writeUInt32LE(opts.flags ?? 0, 8);
  b.writeUInt32LE(opts.change ?? 0, 12);
  return b;
}

function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

function addressBytes(family: 4 | 6, text: string): Buffer {
  pton ??= libc().func('int inet_pton(int af, const char *src, _Out_ uint8_t *dst)') as PtonFn;
  const out = Buffer.alloc(family === 4 ? 4 : 16);
  if (pton(family === 4 ? AF_INET : AF_INET6, text, out) !== 1) throw new RangeError(`not an IPv${family} address: ${JSON.stringify(text)}`);
  return out;
}

function errorText(code: number): string {
  strerror ??= libc().func('const char *strerror(int errnum)') as StrerrorFn;
  return strerror(code);
}

/** Send one request and wait for its ack (the kernel's errno; 0: done), on the shared request/answer loop of netlink.ts. */
function call(c: Calls, fd: number, type: number, flags: number, body: Buffer[]): number {
  try {
    request(c, fd, type, NLM_F_ACK | flags, Buffer.concat(body), 'netlink');
    return 0;
  } catch (e: unknown) {
    if (e instanceof SyscallError && e.call === 'netlink') return e.errno;
    throw e;
  }
}

function needIndex(c: Calls, fd: number, ifname: string, i: number): number {
  const index = linkByName(c, fd, ifname)?.index;
  if (index === undefined) throw new NetlinkError(ENODEV, i, `Cannot find device "${ifname}"`);
  return index;
}

function checked(code: number, i: number): void {
  if (code !== 0) throw new NetlinkError(code, i, `RTNETLINK answers: ${errorText(code)}`);
}

function apply(c: Calls, fd: number, r: NetlinkRequest, i: number): void {
  switch (r.op) {
    case 'veth-add': {
      const ns = fs.openSync(r.peer.netns, O_RDONLY_CLOEXEC);
      try {
        const peer = Buffer.concat([
          ifinfomsg(),
          str(IFLA_IFNAME, r.peer.ifname),
          rtattr(IFLA_ADDRESS, macBytes(r.peer.mac)),
          u32(IFLA_MTU, r.peer.mtu),
          u32(IFLA_NET_NS_FD, ns),
        ]);
        const info = nest(IFLA_LINKINFO, [str(IFLA_INFO_KIND, 'veth'), nest(IFLA_INFO_DATA, [rtattr(VETH_INFO_PEER, peer)])]);
        checked(call(c, fd, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, [ifinfomsg(), str(IFLA_IFNAME, r.ifname), u32(IFLA_MTU, r.mtu), info]), i);
      } finally {
        fs.closeSync(ns);
      }
      return;
    }
    case 'link-set': {
      const index = needIndex(c, fd, r.ifname, i);
      const attrs: Buffer[] = [];
      if (r.addrGenModeNone) {
        const mode = Buffer.from([IN6_ADDR_GEN_MODE_NONE]);
        attrs.push(nest(IFLA_AF_SPEC, [nest(AF_INET6, [rtattr(IFLA_INET6_ADDR_GEN_MODE, mode)])]));
      }
      if (r.alias !== undefined) attrs.push(rtattr(IFLA_IFALIAS, Buffer.from(r.alias, 'utf8')));
      if (r.mac !== undefined) attrs.push(rtattr(IFLA_ADDRESS, macBytes(r.mac)));
      if (r.master !== undefined) attrs.push(u32(IFLA_MASTER, needIndex(c, fd, r.master, i)));
      const up = r.up === true ? { flags: IFF_UP, change: IFF_UP } : {};
      checked(call(c, fd, RTM_SETLINK, 0, [ifinfomsg({ index, ...up }), ...attrs]), i);
      return;
    }
    case 'addr-replace': {
      const index = needIndex(c, fd, r.ifname, i);
      const msg = Buffer.alloc(8);
      msg.writeUInt8(r.family === 4 ? AF_INET : AF_INET6, 0);
      msg.writeUInt8(r.prefixlen, 1);
      msg.writeUInt8(r.nodad ? IFA_F_NODAD : 0, 2);
      msg.writeUInt32LE(index, 4);
      const a = addressBytes(r.family, r.local);
      checked(call(c, fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, [msg, rtattr(IFA_LOCAL, a), rtattr(IFA_ADDRESS, a), u32(IFA_FLAGS, r.nodad ? IFA_F_NODAD : 0)]), i);
      return;
    }
    case 'default-route': {
      const index = needIndex(c, fd, r.ifname, i);
      const msg = Buffer.alloc(12);
      msg.writeUInt8(r.family === 4 ? AF_INET : AF_INET6, 0);
      msg.writeUInt8(RT_TABLE_MAIN, 4);
      msg.writeUInt8(RTPROT_BOOT, 5);
      msg.writeUInt8(0, 6); // RT_SCOPE_UNIVERSE
      msg.writeUInt8(RTN_UNICAST, 7);
      checked(call(c, fd, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, [msg, rtattr(RTA_GATEWAY, addressBytes(r.family, r.gateway)), u32(RTA_OIF, index)]), i);
      return;
    }
    case 'link-del': {
      const code = call(c, fd, RTM_DELLINK, 0, [ifinfomsg(), str(IFLA_IFNAME, r.ifname)]);
      if (code === ENODEV) throw new NetlinkError(code, i, `Cannot find device "${r.ifname}"`);
      checked(code, i);
      return;
    }
    case 'sysctl': {
      if (!/^net\/[A-Za-z0-9_.\/-]+$/.test(r.key) || r.key.includes('..')) throw new RangeError(`not a network sysctl: ${JSON.stringify(r.key)}`);
      try {
        fs.writeFileSync(`/proc/sys/${r.key}`, r.value);
      } catch (e: unknown) {
        const code = (e as { errno?: number }).errno;
        const n = typeof code === 'number' ? -code : 2;
        // A per-interface key of an interface that is not there: say so, as ip would.
        const dev = /^net\/ipv[46]\/conf\/([^/]+)\//.exec(r.key)?.[1];
        if (n === 2 && dev !== undefined) throw new NetlinkError(ENODEV, i, `Cannot find device "${dev}"`);
        throw new NetlinkError(n, i, `${r.key.replaceAll('/', '.')}: ${errorText(n)}`);
      }
      return;
    }
  }
}

/**
 * Apply the requests in order, in the namespace at `nsPath` (default: this thread's). Throws
 * NetlinkError (errno, request index, `ip`'s words) when the kernel refuses one; the requests
 * before it stay applied. Other errors (koffi, a namespace that cannot be entered) are
 * SyscallError and nothing was applied.
 */
export function netlinkApply(nsPath: string | undefined, requests: readonly NetlinkRequest[]): void {
  if (requests.length === 0) return;
  const c = bind();
  let home: number | undefined;
  if (nsPath !== undefined) {
    const target = fs.openSync(nsPath, O_RDONLY_CLOEXEC);
    try {
      home = fs.openSync('/proc/thread-self/ns/net', O_RDONLY_CLOEXEC);
      if (c.setns(target, CLONE_NEWNET) !== 0) {
        const err = errno();
        fs.closeSync(home);
        throw new SyscallError('setns', err, nsPath);
      }
    } finally {
      fs.closeSync(target);
    }
  }
  try {
    const fd = c.socket(16, 3 | 0o2000000, 0); // AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE
    if (fd < 0) throw new SyscallError('socket(AF_NETLINK)', errno(), nsPath ?? '');
    try {
      requests.forEach((r, i) => apply(c, fd, r, i));
    } finally {
      c.close(fd);
    }
  } finally {
    if (home !== undefined) {
      // Back home whatever happened: the rest of this thread must not run in the workload's namespace.
      const back = c.setns(home, CLONE_NEWNET);
      fs.closeSync(home);
      if (back !== 0) throw new SyscallError('setns', errno(), "back to this process's namespace");
    }
  }
}
