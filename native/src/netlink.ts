import * as fs from 'node:fs';
import { errno, libc } from './libc';
import { SyscallError } from './ioctl';

/**
 * rtnetlink reads over an AF_NETLINK socket: the links and addresses of a
 * network namespace in two dump requests, without running `ip`. The socket is
 * opened inside the namespace asked for (setns on this thread, socket(),
 * setns back: a socket stays in the namespace it was made in) and closed
 * before the call returns. Calls block; a dump takes well under a
 * millisecond for a few hundred links.
 */

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const CLONE_NEWNET = 0x40000000;
const O_RDONLY_CLOEXEC = 0o2000000;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const NDA_LLADDR = 2;
const NDA_MASTER = 9;
const AF_BRIDGE = 7;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** One link as RTM_NEWLINK describes it. */
export interface NetlinkLink {
  index: number;
  ifname: string;
  up: boolean;
  /** As `ip` prints it: UP, DOWN, UNKNOWN, LOWERLAYERDOWN, … */
  operstate: string;
  mtu: number;
  /** "02:42:ac:11:00:02"; absent for links without a hardware address. */
  mac?: string;
  /** ifindex of the bridge (or bond) this link is a port of. */
  master?: number;
  /** IFLA_INFO_KIND: bridge, veth, tun, vlan, … */
  kind?: string;
}

/** One address as RTM_NEWADDR describes it. */
export interface NetlinkAddress {
  index: number;
  family: 4 | 6;
  /** The address as inet_ntop(3) writes it (the form `ip` prints). */
  local: string;
  prefixlen: number;
  /** RT_SCOPE_*: 0 universe (global), 200 site, 253 link, 254 host. */
  scope: number;
}

type SocketFn = (domain: number, type: number, protocol: number) => number;
type SendtoFn = (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
type RecvFn = (fd: number, buf: Buffer, len: number, flags: number) => number;
type SetnsFn = (fd: number, nstype: number) => number;
type CloseFn = (fd: number) => number;
type NtopFn = (af: number, src: Buffer, dst: Buffer, size: number) => string | null;

export interface Calls {
  socket: SocketFn;
  sendto: SendtoFn;
  recv: RecvFn;
  setns: SetnsFn;
  close: CloseFn;
  ntop: NtopFn;
}
let calls: Calls | undefined;

/** libc's socket calls, bound once (shared with netlink-write.ts). */
export function bind(): Calls {
  if (calls) return calls;
  const l = libc();
  calls = {
    socket: l.func('int socket(int domain, int type, int protocol)') as SocketFn,
    sendto: l.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as SendtoFn,
    recv: l.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as RecvFn,
    setns: l.func('int setns(int fd, int nstype)') as SetnsFn,
    close: l.func('int close(int fd)') as CloseFn,
    ntop: l.func('const char *inet_ntop(int af, const void *src, char *dst, uint32_t size)') as NtopFn,
  };
  return calls;
}

function fail(what: string): never {
  throw new SyscallError(what, errno(), '');
}

/** A NETLINK_ROUTE socket in the namespace at `nsPath` (/run/netns/NAME, /proc/PID/ns/net), or in this thread's. */
export function openSocket(c: Calls, nsPath?: string): number {
  if (nsPath === undefined) {
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) fail('socket(AF_NETLINK)');
    return fd;
  }
  const target = fs.openSync(nsPath, O_RDONLY_CLOEXEC);
  const home = fs.openSync('/proc/thread-self/ns/net', O_RDONLY_CLOEXEC);
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) fail(`setns ${nsPath}`);
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    const err = fd < 0 ? errno() : 0;
    // Back home whatever happened: the rest of this thread must not run in the target namespace.
    if (c.setns(home, CLONE_NEWNET) !== 0) {
      throw new SyscallError('setns', errno(), "back to this process's namespace");
    }
    if (fd < 0) throw new SyscallError('socket(AF_NETLINK)', err, `in ${nsPath}`);
    return fd;
  } finally {
    fs.closeSync(target);
    fs.closeSync(home);
  }
}

export const KERNEL = Buffer.alloc(12); // struct sockaddr_nl: nl_family, pid 0 (the kernel), groups 0
KERNEL.writeUInt16LE(AF_NETLINK, 0);
const RECV_SIZE = 1 << 18;
const MSG_TRUNC = 0x20;

/** Send one dump request and hand each answer message (type, payload) to `each`. */
function dump(c: Calls, fd: number, type: number, header: Buffer, seq: number, each: (type: number, msg: Buffer) => void): void {
  const req = Buffer.alloc(16 + header.length);
  req.writeUInt32LE(req.length, 0);
  req.writeUInt16LE(type, 4);
  req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  req.writeUInt32LE(seq, 8);
  header.copy(req, 16);
  if (c.sendto(fd, req, req.length, 0, KERNEL, KERNEL.length) < 0) fail('sendto(netlink)');
  // Not zero-filled: recv writes the first n bytes, and only those are read (a dump per container namespace in a batch connect).
  const buf = Buffer.allocUnsafe(RECV_SIZE);
  for (;;) {
    // MSG_TRUNC: the return value is the message's real length, so a truncated one is seen.
    const n = c.recv(fd, buf, buf.length, MSG_TRUNC);
    if (n < 0) {
      if (errno() === 4) continue; // EINTR
      fail('recv(netlink)');
    }
    if (n > buf.length) throw new SyscallError('recv(netlink)', 90, 'message truncated');
    for (let off = 0; off + 16 <= n; ) {
      const len = buf.readUInt32LE(off);
      const mtype = buf.readUInt16LE(off + 4);
      if (len < 16 || off + len > n) throw new SyscallError('recv(netlink)', 74, 'malformed message');
      if (buf.readUInt32LE(off + 8) === seq) {
        if (mtype === NLMSG_DONE) return;
        if (mtype === NLMSG_ERROR) {
          const code = -buf.readInt32LE(off + 16);
          if (code === 0) return;
          throw new SyscallError('netlink dump', code, '');
        }
        each(mtype, buf.subarray(off + 16, off + len));
      }
      off += (len + 3) & ~3;
    }
  }
}

/** The attributes of a message after its fixed header: type (nested flag cleared) → payload. */
export function attributes(msg: Buffer, from: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = from; off + 4 <= msg.length; ) {
    const len = msg.readUInt16LE(off);
    if (len < 4 || off + len > msg.length) break;
    const type = msg.readUInt16LE(off + 2) & 0x3fff;
    if (!out.has(type)) out.set(type, msg.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const cstring = (b: Buffer): string => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};
const hex = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

let seqNo = Math.floor(Math.random() * 0x7fffffff);

/** Every link and every address of a network namespace (default: this thread's), in two dumps on one socket. */
export function netlinkDump(nsPath?: string): { links: NetlinkLink[]; addresses: NetlinkAddress[] } {
  const c = bind();
  const fd = openSocket(c, nsPath);
  const links: NetlinkLink[] = [];
  const addresses: NetlinkAddress[] = [];
  try {
    dump(c, fd, RTM_GETLINK, Buffer.alloc(16), ++seqNo, (type, msg) => {
      if (type !== RTM_NEWLINK || msg.length < 16) return;
      const a = attributes(msg, 16);
      const name = a.get(IFLA_IFNAME);
      if (!name) return;
      const mac = a.get(IFLA_ADDRESS);
      const mtu = a.get(IFLA_MTU);
      const master = a.get(IFLA_MASTER);
      const oper = a.get(IFLA_OPERSTATE);
      const info = a.get(IFLA_LINKINFO);
      const kind = info ? attributes(info, 0).get(IFLA_INFO_KIND) : undefined;
      links.push({
        index: msg.readInt32LE(4),
        ifname: cstring(name),
        up: (msg.readUInt32LE(8) & IFF_UP) !== 0,
        operstate: OPERSTATES[oper?.readUInt8(0) ?? 0] ?? 'UNKNOWN',
        mtu: mtu ? mtu.readUInt32LE(0) : 0,
        ...(mac && mac.length > 0 ? { mac: hex(mac) } : {}),
        ...(master ? { master: master.readUInt32LE(0) } : {}),
        ...(kind ? { kind: cstring(kind) } : {}),
      });
    });
    const text = Buffer.alloc(64);
    dump(c, fd, RTM_GETADDR, Buffer.alloc(8), ++seqNo, (type, msg) => {
      if (type !== RTM_NEWADDR || msg.length < 8) return;
      const family = msg.readUInt8(0);
      if (family !== AF_INET && family !== AF_INET6) return;
      const a = attributes(msg, 8);
      const raw = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
      if (!raw) return;
      const local = c.ntop(family, raw, text, text.length);
      if (local === null) return;
      addresses.push({ index: msg.readUInt32LE(4), family: family === AF_INET ? 4 : 6, local, prefixlen: msg.readUInt8(1), scope: msg.readUInt8(3) });
    });
  } finally {
    c.close(fd);
  }
  return { links, addresses };
}

/** One bridge forwarding-database entry (RTM_NEWNEIGH, AF_BRIDGE). */
export interface NetlinkFdbEntry {
  /** The port (or the bridge itself, for its own address). */
  index: number;
  mac: string;
  /** The bridge the port belongs to; absent for entries of the bridge device itself. */
  master?: number;
}

/** The bridge forwarding database of a namespace (default: this thread's): what `bridge fdb show` lists. */
export function netlinkFdb(nsPath?: string): NetlinkFdbEntry[] {
  const c = bind();
  const fd = openSocket(c, nsPath);
  const out: NetlinkFdbEntry[] = [];
  try {
    const ndmsg = Buffer.alloc(12);
    ndmsg.writeUInt8(AF_BRIDGE, 0);
    dump(c, fd, RTM_GETNEIGH, ndmsg, ++seqNo, (type, msg) => {
      if (type !== RTM_NEWNEIGH || msg.length < 12 || msg.readUInt8(0) !== AF_BRIDGE) return;
      const a = attributes(msg, 12);
      const mac = a.get(NDA_LLADDR);
      if (!mac || mac.length !== 6) return;
      const master = a.get(NDA_MASTER);
      out.push({ index: msg.readInt32LE(4), mac: hex(mac), ...(master ? { master: master.readUInt32LE(0) } : {}) });
    });
  } finally {
    c.close(fd);
  }
  return out;
}

/** Whether rtnetlink reads work here (koffi, libc and a netlink socket); the reason when not. */
export function probeNetlink(): { ok: true } | { ok: false; reason: string } {
  try {
    netlinkDump();
    return { ok: true };
  } catch (e: unknown) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/*
 * Single-object requests (not dumps): one link by name, one fdb entry. A connect asks about
 * one bridge and one MAC; a dump of every link and the whole fdb grew with the bridge.
 */
/** One route attribute, padded to 4 bytes (shared with netlink-write.ts). */
export function rtattr(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc((4 + payload.length + 3) & ~3);
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** One request (not a dump): the answer message's payload, or undefined for a bare ack; a refusal throws SyscallError. */
export function request(c: Calls, fd: number, type: number, flags: number, body: Buffer, what: string): Buffer | undefined {
  const seq = ++seqNo;
  const req = Buffer.alloc(16 + body.length);
  req.writeUInt32LE(req.length, 0);
  req.writeUInt16LE(type, 4);
  req.writeUInt16LE(NLM_F_REQUEST | flags, 6);
  req.writeUInt32LE(seq, 8);
  body.copy(req, 16);
  if (c.sendto(fd, req, req.length, 0, KERNEL, KERNEL.length) < 0) fail('sendto(netlink)');
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    const n = c.recv(fd, buf, buf.length, MSG_TRUNC);
    if (n < 0) {
      if (errno() === 4) continue;
      fail('recv(netlink)');
    }
    if (n > buf.length) throw new SyscallError('recv(netlink)', 90, 'message truncated');
    for (let off = 0; off + 16 <= n; ) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > n) throw new SyscallError('recv(netlink)', 74, 'malformed message');
      if (buf.readUInt32LE(off + 8) === seq) {
        if (buf.readUInt16LE(off + 4) === NLMSG_ERROR) {
          const code = -buf.readInt32LE(off + 16);
          if (code !== 0) throw new SyscallError(what, code, '');
          return undefined;
        }
        return Buffer.from(buf.subarray(off + 16, off + len));
      }
      off += (len + 3) & ~3;
    }
  }
}

/** ifinfomsg for a link named by IFLA_IFNAME (index 0: the kernel looks the name up), with flags to change. */
function linkMessage(index: number, up: boolean, attrs: Buffer[]): Buffer {
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(index, 4);
  ifi.writeUInt32LE(up ? IFF_UP : 0, 8);
  ifi.writeUInt32LE(up ? IFF_UP : 0, 12);
  return Buffer.concat([ifi, ...attrs]);
}

const cname = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** One link by name, without dumping the others: its index and kind; undefined when there is none. */
export function netlinkLink(ifname: string, nsPath?: string): { index: number; kind?: string } | undefined {
  const c = bind();
  const fd = openSocket(c, nsPath);
  try {
    return linkByName(c, fd, ifname);
  } finally {
    c.close(fd);
  }
}

export function linkByName(c: Calls, fd: number, ifname: string): { index: number; kind?: string } | undefined {
  let msg: Buffer | undefined;
  try {
    msg = request(c, fd, RTM_GETLINK, 0, linkMessage(0, false, [rtattr(IFLA_IFNAME, cname(ifname))]), `find ${ifname}`);
  } catch (e: unknown) {
    if (e instanceof SyscallError && e.errno === 19) return undefined; // ENODEV
    throw e;
  }
  if (!msg || msg.length < 16) return undefined;
  const info = attributes(msg, 16).get(IFLA_LINKINFO);
  const kind = info ? attributes(info, 0).get(IFLA_INFO_KIND) : undefined;
  return { index: msg.readInt32LE(4), ...(kind ? { kind: cstring(kind) } : {}) };
}

/**
 * Does the bridge's forwarding database have this MAC (`bridge fdb get MAC br BRIDGE`: learned
 * behind a port, or a port's or the bridge's own)? Two requests whatever the bridge's size.
 */
export function netlinkFdbHas(bridge: string, mac: string): boolean {
  const c = bind();
  const fd = openSocket(c);
  try {
    const br = linkByName(c, fd, bridge);
    if (!br) return false;
    const ndm = Buffer.alloc(12);
    ndm.writeUInt8(AF_BRIDGE, 0);
    const master = Buffer.alloc(4);
    master.writeUInt32LE(br.index, 0);
    const lladdr = Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
    if (lladdr.length !== 6 || [...lladdr].some((x) => Number.isNaN(x))) throw new Error(`"${mac}" is not a MAC address`);
    try {
      return request(c, fd, RTM_GETNEIGH, 0, Buffer.concat([ndm, rtattr(NDA_LLADDR, lladdr), rtattr(NDA_MASTER, master)]), `fdb get ${mac}`) !== undefined;
    } catch (e: unknown) {
      if (e instanceof SyscallError && e.errno === 2) return false; // ENOENT: not known
      throw e;
    }
  } finally {
    c.close(fd);
  }
}
