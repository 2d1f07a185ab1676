import * as koffi from 'koffi';
import { errno, libc } from './libc';
import { SyscallError, nameOf } from './ioctl';

/**
 * UDP in batches: recvmmsg(2) and sendmmsg(2) over buffers allocated once.
 *
 * Node's dgram costs about 20 µs of CPU per datagram here (libuv's recvmsg,
 * a 64 KiB buffer per datagram, the rinfo object, the callback, a send
 * request): more than a DNS answer itself. One recvmmsg takes up to `batch`
 * datagrams in one system call and one sendmmsg sends up to `batch` replies,
 * with no allocation per datagram. IPv4 only. The calls block (MSG_WAITFORONE
 * waits for the first datagram only, up to the socket's receive timeout), so a
 * receive loop belongs in its own thread (worker_threads), never on the event
 * loop of a process that does anything else.
 */

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_RCVBUF = 8;
const SO_REUSEPORT = 15;
const SO_RCVTIMEO = 20;
const SHUT_RD = 0;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const MSG_WAITFORONE = 0x10000;

const EINTR = 4;
const EAGAIN = 11;

/** errno names the socket calls can fail with (libc.ts/ioctl.ts carry the file and ioctl ones). */
const SOCKET_ERRNO: Record<number, string> = {
  13: 'EACCES',
  22: 'EINVAL',
  90: 'EMSGSIZE',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  105: 'ENOBUFS',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
};

/** x86-64/aarch64 Linux layouts. */
const SOCKADDR_IN = 16;
const IOVEC = 16;
const MMSGHDR = 64; // struct msghdr (56) + unsigned int msg_len, padded
const MH_NAME = 0;
const MH_NAMELEN = 8;
const MH_IOV = 16;
const MH_IOVLEN = 24;
const MH_FLAGS = 48;
const MMSG_LEN = 56;

type SocketFn = (domain: number, type: number, protocol: number) => number;
type SetsockoptFn = (fd: number, level: number, name: number, value: Buffer, len: number) => number;
type BindFn = (fd: number, addr: Buffer, len: number) => number;
type ShutdownFn = (fd: number, how: number) => number;
type CloseFn = (fd: number) => number;
type RecvmmsgFn = (fd: number, vec: unknown, vlen: number, flags: number, timeout: null) => number;
type SendmmsgFn = (fd: number, vec: unknown, vlen: number, flags: number) => number;
type SendtoFn = (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
type PollFn = (fds: Buffer, nfds: number, timeout: number) => number;
type EventfdFn = (initval: number, flags: number) => number;
type RwFn = (fd: number, buf: Buffer, len: number) => number;

interface Calls {
  socket: SocketFn;
  setsockopt: SetsockoptFn;
  bind: BindFn;
  shutdown: ShutdownFn;
  close: CloseFn;
  recvmmsg: RecvmmsgFn;
  sendmmsg: SendmmsgFn;
  sendto: SendtoFn;
  poll: PollFn;
  eventfd: EventfdFn;
  read: RwFn;
  write: RwFn;
}
let calls: Calls | undefined;

function bound(): Calls {
  if (calls) return calls;
  const l = libc();
  calls = {
    socket: l.func('int socket(int domain, int type, int protocol)') as SocketFn,
    setsockopt: l.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)') as SetsockoptFn,
    bind: l.func('int bind(int fd, const void *addr, uint32_t len)') as BindFn,
    shutdown: l.func('int shutdown(int fd, int how)') as ShutdownFn,
    close: l.func('int close(int fd)') as CloseFn,
    recvmmsg: l.func('int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)') as RecvmmsgFn,
    sendmmsg: l.func('int sendmmsg(int fd, void *vec, unsigned int vlen, int flags)') as SendmmsgFn,
    sendto: l.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as SendtoFn,
    poll: l.func('int poll(void *fds, unsigned long nfds, int timeout)') as PollFn,
    eventfd: l.func('int eventfd(unsigned int initval, int flags)') as EventfdFn,
    read: l.func('intptr_t read(int fd, void *buf, size_t len)') as RwFn,
    write: l.func('intptr_t write(int fd, const void *buf, size_t len)') as RwFn,
  };
  return calls;
}

/** A failed socket call. `code` is the errno name, as in Node's errors (EADDRINUSE…), so callers can share one error mapping. */
export class UdpSocketError extends SyscallError {
  readonly code: string;
  constructor(call: string, code: number, detail: string) {
    super(call, code, detail);
    this.code = SOCKET_ERRNO[code] ?? nameOf(code);
    this.message = `${call}${detail ? ` ${detail}` : ''}: ${this.code}`;
    this.name = 'UdpSocketError';
  }
}

/** Load libc's socket calls now: throws if koffi or libc cannot be loaded (the caller then uses something else). */
export function probeUdpBatch(): void {
  bound();
}

/** "10.30.0.1" → 0x0a1e0001; throws RangeError on anything else. */
export function parseIpv4(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function sockaddrIn(address: number, port: number, into: Buffer = Buffer.alloc(SOCKADDR_IN), at = 0): Buffer {
  into.writeUInt16LE(AF_INET, at);
  into.writeUInt16BE(port, at + 2);
  into.writeUInt32BE(address >>> 0, at + 4);
  into.fill(0, at + 8, at + SOCKADDR_IN);
  return into;
}

function setInt(fd: number, name: number, value: number, what: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  if (bound().setsockopt(fd, SOL_SOCKET, name, v, 4) < 0) throw new UdpSocketError('setsockopt', errno(), what);
}

export interface UdpSocketOptions {
  /** IPv4 address to bind (never the wildcard, for a resolver: a gateway address). */
  address: string;
  port: number;
  /** SO_REUSEADDR (default false: the bind is exclusive, and a port in use is EADDRINUSE). */
  reuseAddr?: boolean;
  /** SO_REUSEPORT (default false), for one socket per reading thread; every socket of the group must set it. */
  reusePort?: boolean;
  /** SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max); failure to set it is ignored. */
  recvBufferBytes?: number;
  /** SO_RCVTIMEO: a blocking receive returns empty after this long, so a receive loop can look at its mail. 0: block. */
  recvTimeoutMs?: number;
}

/**
 * socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC) bound to address:port, blocking.
 * Returns the fd; on failure closes what it opened and throws UdpSocketError
 * (code EADDRINUSE, EADDRNOTAVAIL, EACCES…).
 */
export function openUdpSocket(opts: UdpSocketOptions): number {
  const addr = parseIpv4(opts.address);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new RangeError(`port must be 0-65535, not ${String(opts.port)}`);
  const c = bound();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new UdpSocketError('socket', errno(), 'AF_INET SOCK_DGRAM');
  try {
    if (opts.reuseAddr === true) setInt(fd, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (opts.reusePort === true) setInt(fd, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (opts.recvBufferBytes !== undefined) {
      try {
        setInt(fd, SO_RCVBUF, opts.recvBufferBytes, 'SO_RCVBUF');
      } catch {
        /* the default buffer still works, it only drops more under bursts */
      }
    }
    if (opts.recvTimeoutMs !== undefined && opts.recvTimeoutMs > 0) setRecvTimeout(fd, opts.recvTimeoutMs);
    if (c.bind(fd, sockaddrIn(addr, opts.port), SOCKADDR_IN) < 0) throw new UdpSocketError('bind', errno(), `${opts.address}:${opts.port}/udp`);
  } catch (e: unknown) {
    c.close(fd);
    throw e;
  }
  return fd;
}

/** SO_RCVTIMEO on an open socket (struct timeval). */
export function setRecvTimeout(fd: number, ms: number): void {
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  if (bound().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) < 0) throw new UdpSocketError('setsockopt', errno(), 'SO_RCVTIMEO');
}

/** shutdown(SHUT_RD): a thread blocked in recvmmsg on this socket returns at once (with 0 datagrams). */
export function shutdownUdpSocket(fd: number): void {
  bound().shutdown(fd, SHUT_RD);
}

export function closeUdpSocket(fd: number): void {
  bound().close(fd);
}

/**
 * One datagram with sendto(2), without blocking (MSG_DONTWAIT): for the odd
 * reply computed outside a batch (a forwarded answer). Returns false when the
 * kernel would not take it (buffer full, unreachable…): UDP may drop.
 */
export function udpSendTo(fd: number, data: Buffer, address: string | number, port: number): boolean {
  const to = sockaddrIn(typeof address === 'number' ? address : parseIpv4(address), port);
  return bound().sendto(fd, data, data.length, MSG_DONTWAIT, to, SOCKADDR_IN) >= 0;
}

export interface UdpBatchOptions {
  /** Datagrams per recvmmsg and replies per sendmmsg (default 64). */
  batch?: number;
  /** Bytes per receive slot (default 4097: one more than the largest query worth reading, so a larger one shows as larger). */
  recvSlotBytes?: number;
  /** Bytes per send slot (default 4096); a longer reply goes out alone with sendto. */
  sendSlotBytes?: number;
}

export interface UdpBatchStats {
  receiveCalls: number;
  received: number;
  sendCalls: number;
  sent: number;
  sendErrors: number;
}

/**
 * The batch buffers of one reader of `fd`: receive slots (mmsghdr, iovec,
 * sockaddr_in, data) and send slots (mmsghdr, iovec, data), in one block of
 * native memory allocated here and freed by free(). A reply's destination is
 * the source address of the datagram it answers, pointed at, not copied.
 * Not thread-safe: one UdpBatch per thread (several threads may each have one
 * on the same fd).
 */
export class UdpBatch {
  /**
   * The socket the next receive reads and send() sends on. A reader that serves several
   * sockets (one thread, many networks) switches it between batches, after send().
   */
  fd: number;
  readonly batch: number;
  private readonly recvSlot: number;
  private readonly sendSlot: number;
  /** Receive mmsghdrs at offset 0, then every other area; `smem`: the send mmsghdrs (a pointer of their own to pass). */
  private mem: unknown;
  private smem: unknown;
  private readonly view: Buffer;
  private readonly sview: Buffer;
  private readonly base: number;
  private readonly off: { rmsg: number; riov: number; rname: number; rdata: number; siov: number; sdata: number };
  /** Datagrams of the last receive. */
  private count = 0;
  /** Replies queued for the next send. */
  private queued = 0;
  readonly stats: UdpBatchStats = { receiveCalls: 0, received: 0, sendCalls: 0, sent: 0, sendErrors: 0 };

  constructor(fd: number, opts: UdpBatchOptions = {}) {
    this.fd = fd;
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) throw new RangeError(`batch must be 1-1024, not ${String(batch)}`);
    this.batch = batch;
    this.recvSlot = opts.recvSlotBytes ?? 4097;
    this.sendSlot = opts.sendSlotBytes ?? 4096;
    const align = (n: number): number => (n + 15) & ~15;
    let at = 0;
    const take = (n: number): number => {
      const o = at;
      at += align(n);
      return o;
    };
    this.off = {
      rmsg: take(MMSGHDR * batch),
      riov: take(IOVEC * batch),
      rname: take(SOCKADDR_IN * batch),
      rdata: take(this.recvSlot * batch),
      siov: take(IOVEC * batch),
      sdata: take(this.sendSlot * batch),
    };
    bound();
    this.mem = koffi.alloc('uint8_t', at);
    this.base = Number(koffi.address(this.mem));
    this.view = Buffer.from(koffi.view(this.mem, at));
    this.view.fill(0);
    this.smem = koffi.alloc('uint8_t', MMSGHDR * batch);
    this.sview = Buffer.from(koffi.view(this.smem, MMSGHDR * batch));
    this.sview.fill(0);
    for (let i = 0; i < batch; i++) {
      const m = this.off.rmsg + i * MMSGHDR;
      this.putPtr(m + MH_NAME, this.off.rname + i * SOCKADDR_IN);
      this.view.writeUInt32LE(SOCKADDR_IN, m + MH_NAMELEN);
      this.putPtr(m + MH_IOV, this.off.riov + i * IOVEC);
      this.view.writeUInt32LE(1, m + MH_IOVLEN);
      this.putPtr(this.off.riov + i * IOVEC, this.off.rdata + i * this.recvSlot);
      this.view.writeUInt32LE(this.recvSlot, this.off.riov + i * IOVEC + 8);
      const s = i * MMSGHDR;
      this.sview.writeUInt32LE(SOCKADDR_IN, s + MH_NAMELEN);
      this.putPtr(s + MH_IOV, this.off.siov + i * IOVEC, this.sview);
      this.sview.writeUInt32LE(1, s + MH_IOVLEN);
      this.putPtr(this.off.siov + i * IOVEC, this.off.sdata + i * this.sendSlot);
    }
  }

  /** Write the absolute address of view offset `target` at view offset `at` (addresses < 2^53: exact as numbers). */
  private putPtr(at: number, target: number, into: Buffer = this.view): void {
    const a = this.base + target;
    into.writeUInt32LE(a % 0x100000000, at);
    into.writeUInt32LE(Math.floor(a / 0x100000000), at + 4);
  }

  /**
   * recvmmsg with MSG_WAITFORONE: blocks for the first datagram (up to the
   * socket's SO_RCVTIMEO), then takes what else is queued, up to `batch`.
   * Returns how many arrived: 0 on timeout, EINTR, or after shutdown. Other
   * errors throw UdpSocketError.
   */
  receive(flags = MSG_WAITFORONE): number {
    if (this.mem === undefined) throw new Error('UdpBatch: used after free()');
    this.count = 0;
    const c = calls ?? bound();
    this.stats.receiveCalls++;
    const n = c.recvmmsg(this.fd, this.mem, this.batch, flags, null);
    if (n < 0) {
      const code = errno();
      if (code === EAGAIN || code === EINTR) return 0;
      throw new UdpSocketError('recvmmsg', code, `fd ${this.fd}`);
    }
    this.count = n;
    this.stats.received += n;
    return n;
  }

  /** Datagram i of the last receive (a view into the slot: valid until the next receive). */
  data(i: number): Buffer {
    const start = this.off.rdata + i * this.recvSlot;
    return this.view.subarray(start, start + this.view.readUInt32LE(this.off.rmsg + i * MMSGHDR + MMSG_LEN));
  }

  /** Whether datagram i was longer than a receive slot (MSG_TRUNC). */
  truncated(i: number): boolean {
    return (this.view.readInt32LE(this.off.rmsg + i * MMSGHDR + MH_FLAGS) & MSG_TRUNC) !== 0;
  }

  /** Source IPv4 address of datagram i, as a 32-bit unsigned number (10.0.0.1 → 0x0a000001). */
  sourceAddress(i: number): number {
    return this.view.readUInt32BE(this.off.rname + i * SOCKADDR_IN + 4);
  }

  sourcePort(i: number): number {
    return this.view.readUInt16BE(this.off.rname + i * SOCKADDR_IN + 2);
  }

  /** How many datagrams the last receive returned. */
  get received(): number {
    return this.count;
  }

  /**
   * Queue `reply` to the source of datagram i of the last receive (copied into
   * a send slot). A reply longer than a send slot is sent at once with sendto.
   * Call send() before the next receive.
   */
  reply(i: number, reply: Buffer): void {
    if (reply.length > this.sendSlot) {
      const name = this.off.rname + i * SOCKADDR_IN;
      if (bound().sendto(this.fd, reply, reply.length, 0, this.view.subarray(name, name + SOCKADDR_IN), SOCKADDR_IN) < 0) this.stats.sendErrors++;
      return;
    }
    if (this.queued >= this.batch) this.send();
    const k = this.queued++;
    reply.copy(this.view, this.off.sdata + k * this.sendSlot);
    this.putPtr(k * MMSGHDR + MH_NAME, this.off.rname + i * SOCKADDR_IN, this.sview);
    this.view.writeUInt32LE(reply.length, this.off.siov + k * IOVEC + 8);
  }

  /**
   * sendmmsg of the queued replies. A reply the kernel refuses (unreachable,
   * filtered) is skipped and the rest still go. Returns how many were sent.
   */
  send(): number {
    let left = this.queued;
    this.queued = 0;
    if (left === 0 || this.mem === undefined) return 0;
    const c = calls ?? bound();
    let sent = 0;
    while (left > 0) {
      this.stats.sendCalls++;
      const n = c.sendmmsg(this.fd, this.smem, left, 0);
      if (n < 0) {
        const code = errno();
        if (code === EINTR) continue;
        this.stats.sendErrors++;
        // The first one failed: drop it, shift the rest down.
        this.shift(1, left);
        left -= 1;
      } else {
        sent += n;
        if (n >= left) break;
        this.shift(n, left);
        left -= n;
      }
    }
    this.stats.sent += sent;
    return sent;
  }

  /** Move send entries [from, left) to [0, left-from): the mmsghdrs hold absolute addresses, so they stay valid. */
  private shift(from: number, left: number): void {
    this.sview.copyWithin(0, from * MMSGHDR, left * MMSGHDR);
  }

  /** Release the native memory. The fd is the caller's. */
  free(): void {
    if (this.mem === undefined) return;
    koffi.free(this.mem);
    koffi.free(this.smem);
    this.mem = undefined;
    this.smem = undefined;
  }
}

const POLLFD = 8; // struct pollfd: int fd; short events; short revents
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;

/**
 * poll(2) over a set of sockets, for one reader serving several (a reading thread
 * answers every network's socket instead of one thread per network). The pollfd
 * array is allocated when the set changes, not per call. Not thread-safe: one per thread.
 */
export class PollSet {
  private fds: number[] = [];
  private buf: Buffer = Buffer.alloc(0);

  /** The sockets to watch for input, in order (ready(i) refers to this order). */
  set(fds: readonly number[]): void {
    this.fds = [...fds];
    this.buf = Buffer.alloc(Math.max(1, this.fds.length) * POLLFD);
    this.fds.forEach((fd, i) => {
      this.buf.writeInt32LE(fd, i * POLLFD);
      this.buf.writeInt16LE(POLLIN, i * POLLFD + 4);
    });
  }

  get size(): number {
    return this.fds.length;
  }

  fd(i: number): number {
    return this.fds[i]!;
  }

  /**
   * Wait up to timeoutMs for input on any socket. Returns how many are ready: 0 on timeout
   * or EINTR. A socket that was shut down or failed counts as ready (its receive says so).
   */
  wait(timeoutMs: number): number {
    if (this.fds.length === 0) return 0;
    for (let i = 0; i < this.fds.length; i++) this.buf.writeInt16LE(0, i * POLLFD + 6);
    const n = (calls ?? bound()).poll(this.buf, this.fds.length, timeoutMs);
    if (n < 0) {
      const code = errno();
      if (code === EINTR || code === EAGAIN) return 0;
      throw new UdpSocketError('poll', code, `${this.fds.length} sockets`);
    }
    return n;
  }

  /** Whether socket i had input (or an error, a hang-up, or was closed) at the last wait. */
  ready(i: number): boolean {
    return (this.buf.readInt16LE(i * POLLFD + 6) & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) !== 0;
  }
}

const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * An eventfd(2), non-blocking: another thread's poll on it wakes when it is signalled
 * (a reading thread polls one beside its sockets, so mail is read at once, not at the
 * poll timeout). Close it with closeUdpSocket.
 */
export function openEventFd(): number {
  const fd = bound().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw new UdpSocketError('eventfd', errno(), '');
  return fd;
}

/** Wake whoever polls the eventfd (its counter stays up until cleared). */
export function signalEventFd(fd: number): void {
  bound().write(fd, ONE, 8);
}

/** Reset the eventfd's counter (non-blocking: nothing to clear is fine). */
export function clearEventFd(fd: number): void {
  bound().read(fd, Buffer.alloc(8), 8);
}
