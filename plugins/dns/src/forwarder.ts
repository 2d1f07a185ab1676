import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { DnsUpstream } from '@volt/sdk';
import { AnswerCache } from './answer-cache';
import { errorResponse } from './responses';
import { FLAG, HEADER_BYTES, RCODE, copyDnssecOk, readQuestion, type Query } from './wire';

export interface ForwarderOptions {
  /** Without an answer after this long, ask the next upstream (the earlier question stays open). */
  attemptMs: number;
  /** Then give up: SERVFAIL. The bound is 2 s; this leaves room for the client's own work. */
  deadlineMs: number;
  /** Connected UDP sockets per upstream; the source port is one more thing a spoofer has to guess. */
  poolSize: number;
  /** Questions waiting on upstreams at once; beyond that SERVFAIL at once rather than unbounded memory. */
  maxInflight: number;
  /** An upstream that refused or timed out is tried last for this long. */
  downMs: number;
  cacheEntries?: number;
  warn(message: string): void;
  debug(message: string): void;
}

export const DEFAULT_FORWARDER_OPTIONS = { attemptMs: 500, deadlineMs: 1500, poolSize: 4, maxInflight: 4096, downMs: 2000 } as const;

interface Waiter {
  msg: Buffer;
  q: Query;
  resolve(b: Buffer): void;
}

interface Upstream {
  index: number;
  address: string;
  port: number;
  label: string;
  /** Connected sockets by slot; empty until a connect succeeds (no route yet at boot, say). */
  sockets: dgram.Socket[];
  connecting: boolean;
  lastConnectMs: number;
  connectError?: string;
  downUntil: number;
  /** Warn once per outage, not once per query. */
  warned: boolean;
}

interface Inflight {
  key: string;
  /** The first client's query; each send is a copy with a fresh ID. */
  query: Buffer;
  q: Query;
  waiters: Waiter[];
  attempts: number;
  /** Upstreams that refused (ICMP unreachable, REFUSED, SERVFAIL) this question. */
  refused: Set<number>;
  /** Keys in `pending` for the UDP copies in flight. */
  pkeys: number[];
  last: number;
  attemptTimer?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
  tcp?: net.Socket;
  done: boolean;
}

export interface ForwarderStats {
  forwarded: number;
  cacheHits: number;
  servfail: number;
}

/** What identifies an upstream answer as reusable for another client. */
export function cacheKey(q: Query): string {
  return `${q.key}\0${q.qtype}\0${q.qclass}\0${q.edns ? 1 : 0}${q.dnssecOk ? 1 : 0}${(q.flags & FLAG.CD) !== 0 ? 1 : 0}`;
}

/**
 * Forwards questions volt does not own. One small pool of connected UDP
 * sockets per upstream, shared by all queries (an ID map finds the waiting
 * question); identical questions in flight are asked once; TCP only to retry
 * a truncated answer. Connected sockets also surface ICMP "port unreachable"
 * as ECONNREFUSED, so a dead upstream fails over at once instead of after a
 * timeout.
 */
export class Forwarder {
  readonly stats: ForwarderStats = { forwarded: 0, cacheHits: 0, servfail: 0 };
  private readonly cache: AnswerCache;
  private readonly upstreams: Upstream[];
  private readonly pending = new Map<number, Inflight>();
  private readonly inflight = new Map<string, Inflight>();
  private closed = false;
  private randomPool: Buffer = Buffer.alloc(0);
  private randomAt = 0;

  constructor(
    upstreams: readonly DnsUpstream[],
    private readonly opts: ForwarderOptions,
  ) {
    this.cache = new AnswerCache(opts.cacheEntries);
    this.upstreams = upstreams.map((u, index) => ({
      index,
      address: u.address,
      port: u.port,
      label: net.isIPv6(u.address) ? `[${u.address}]:${u.port}` : `${u.address}:${u.port}`,
      sockets: [],
      connecting: false,
      lastConnectMs: 0,
      downUntil: 0,
      warned: false,
    }));
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** Never fails: an upstream that cannot be connected yet is retried when a question needs it. */
  async start(): Promise<void> {
    await Promise.all(this.upstreams.map((u) => this.connect(u)));
  }

  private async connect(u: Upstream): Promise<void> {
    if (u.connecting || this.closed) return;
    u.connecting = true;
    u.lastConnectMs = Date.now();
    const made: dgram.Socket[] = [];
    try {
      for (let i = 0; i < this.opts.poolSize; i++) {
        const family = net.isIP(u.address);
        // An address literal (as config gives): no dns.lookup before connect (start-up, docs/decisions/0012).
        const sock = dgram.createSocket(family === 0 ? { type: 'udp4' } : { type: family === 6 ? 'udp6' : 'udp4', lookup: literal(family === 6 ? 6 : 4) });
        const slot = u.index * this.opts.poolSize + i;
        made.push(sock);
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.connect(u.port, u.address, (e?: Error) => {
            sock.off('error', reject);
            if (e) reject(e);
            else resolve();
          });
        });
        sock.on('message', (buf: Buffer) => this.onUdpAnswer(u, slot, buf));
        sock.on('error', (e: NodeJS.ErrnoException) => this.onSocketError(u, e));
      }
      if (this.closed) throw new Error('closed');
      u.sockets = made;
      u.connectError = undefined;
    } catch (e: unknown) {
      for (const sock of made) sock.close();
      u.connectError = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    } finally {
      u.connecting = false;
    }
  }

  close(): void {
    this.closed = true;
    for (const f of [...this.inflight.values()]) this.fail(f);
    for (const u of this.upstreams) for (const sock of u.sockets) sock.close();
  }

  flush(): number {
    return this.cache.flush();
  }

  /** A cached answer for this client (its ID and question case), or undefined. */
  cached(msg: Buffer, q: Query): Buffer | undefined {
    const hit = this.cache.get(cacheKey(q));
    if (hit === undefined) return undefined;
    this.stats.cacheHits++;
    return personalise(hit, msg, q);
  }

  resolve(msg: Buffer, q: Query): Promise<Buffer> {
    return new Promise<Buffer>((resolve) => {
      const key = cacheKey(q);
      const waiter: Waiter = { msg, q, resolve };
      const same = this.inflight.get(key);
      if (same !== undefined) {
        same.waiters.push(waiter);
        return;
      }
      if (this.closed || this.upstreams.length === 0 || this.inflight.size >= this.opts.maxInflight) {
        this.stats.servfail++;
        resolve(errorResponse(msg, q, RCODE.SERVFAIL, true));
        return;
      }
      this.stats.forwarded++;
      const f: Inflight = { key, query: Buffer.from(msg), q, waiters: [waiter], attempts: 0, refused: new Set(), pkeys: [], last: -1, done: false };
      this.inflight.set(key, f);
      f.deadlineTimer = setTimeout(() => {
        this.opts.debug(`forward ${describe(q)}: no answer within ${this.opts.deadlineMs} ms`);
        this.fail(f);
      }, this.opts.deadlineMs);
      this.attempt(f);
    });
  }

  /** Send the question to the next upstream worth trying; none left → SERVFAIL now. */
  private attempt(f: Inflight): void {
    if (f.done) return;
    clearTimeout(f.attemptTimer);
    const now = Date.now();
    const open = this.upstreams.filter((u) => !f.refused.has(u.index));
    if (open.length === 0) return this.fail(f);
    const healthy = open.filter((u) => u.downUntil <= now);
    const pool = healthy.length > 0 ? healthy : open;
    const u = pool[f.attempts % pool.length]!;
    f.attempts++;
    f.last = u.index;
    if (u.sockets.length === 0) {
      // Not connected (no route to it when the service started, say): try again in the background, move on now.
      f.refused.add(u.index);
      this.markDown(u, `cannot be reached (${u.connectError ?? 'not connected'})`);
      if (Date.now() - u.lastConnectMs >= 1000) void this.connect(u);
      return this.attempt(f);
    }
    const slot = this.randomBelow(u.sockets.length);
    const sock = u.sockets[slot]!;
    const base = u.index * this.opts.poolSize + slot;
    let id = this.randomBelow(0x10000);
    for (let tries = 0; this.pending.has(base * 0x10000 + id) && tries < 16; tries++) id = this.randomBelow(0x10000);
    const pkey = base * 0x10000 + id;
    if (this.pending.has(pkey)) return this.fail(f);
    this.pending.set(pkey, f);
    f.pkeys.push(pkey);
    const out = Buffer.from(f.query);
    out.writeUInt16BE(id, 0);
    try {
      sock.send(out);
    } catch (e: unknown) {
      this.opts.debug(`send to ${u.label}: ${e instanceof Error ? e.message : String(e)}`);
    }
    f.attemptTimer = setTimeout(() => {
      this.markDown(u, `no answer within ${this.opts.attemptMs} ms`);
      this.attempt(f);
    }, this.opts.attemptMs);
  }

  private onUdpAnswer(u: Upstream, slot: number, buf: Buffer): void {
    if (buf.length < HEADER_BYTES) return;
    const pkey = slot * 0x10000 + buf.readUInt16BE(0);
    const f = this.pending.get(pkey);
    if (f === undefined || f.done || !this.sameQuestion(buf, f.q)) return;
    this.pending.delete(pkey);
    const flags = buf.readUInt16BE(2);
    if ((flags & FLAG.QR) === 0) return;
    this.markUp(u);
    if ((flags & FLAG.TC) !== 0) return this.retryOverTcp(f, u);
    const rcode = flags & 0x0f;
    if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED || rcode === RCODE.NOTIMP) {
      f.refused.add(u.index);
      // Another upstream may do better; if none is left, the client gets this answer.
      if (this.upstreams.some((x) => !f.refused.has(x.index))) return this.attempt(f);
    }
    this.complete(f, buf);
  }

  private onSocketError(u: Upstream, e: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.markDown(u, e.code === 'ECONNREFUSED' ? 'port unreachable (nothing listens)' : (e.code ?? e.message));
    // The kernel cannot say which query drew the ICMP error: every question last sent there moves on.
    for (const f of [...this.inflight.values()]) {
      if (f.last === u.index && !f.tcp) {
        f.refused.add(u.index);
        this.attempt(f);
      }
    }
  }

  /** RFC 7766: a truncated UDP answer is asked again over TCP, of the same upstream. */
  private retryOverTcp(f: Inflight, u: Upstream): void {
    if (f.tcp !== undefined || f.done) return;
    clearTimeout(f.attemptTimer);
    const id = this.randomBelow(0x10000);
    const out = Buffer.allocUnsafe(2 + f.query.length);
    out.writeUInt16BE(f.query.length, 0);
    f.query.copy(out, 2);
    out.writeUInt16BE(id, 2);
    const sock = net.connect({ host: u.address, port: u.port });
    f.tcp = sock;
    let buf: Buffer = Buffer.alloc(0);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(out));
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const msg = buf.subarray(2, 2 + len);
      sock.destroy();
      if (msg.length >= HEADER_BYTES && msg.readUInt16BE(0) === id && this.sameQuestion(msg, f.q)) this.complete(f, Buffer.from(msg));
      else this.fail(f);
    });
    sock.on('error', (e: Error) => {
      this.opts.debug(`TCP retry to ${u.label}: ${e.message}`);
      this.fail(f);
    });
    sock.on('close', () => {
      if (!f.done) this.fail(f);
    });
  }

  private complete(f: Inflight, buf: Buffer): void {
    if (!this.finish(f)) return;
    // Every waiter (and every later cache hit) has the same DO bit: it is part of the key.
    copyDnssecOk(buf, f.q.dnssecOk);
    this.cache.put(f.key, buf);
    for (const w of f.waiters) w.resolve(personalise(Buffer.from(buf), w.msg, w.q));
  }

  private fail(f: Inflight): void {
    if (!this.finish(f)) return;
    this.stats.servfail++;
    for (const w of f.waiters) w.resolve(errorResponse(w.msg, w.q, RCODE.SERVFAIL, true));
  }

  private finish(f: Inflight): boolean {
    if (f.done) return false;
    f.done = true;
    clearTimeout(f.attemptTimer);
    clearTimeout(f.deadlineTimer);
    for (const k of f.pkeys) if (this.pending.get(k) === f) this.pending.delete(k);
    f.tcp?.destroy();
    this.inflight.delete(f.key);
    return true;
  }

  /** An answer must repeat our question (name case-insensitively, type, class): cheap anti-spoofing. */
  private sameQuestion(buf: Buffer, q: Query): boolean {
    if (buf.readUInt16BE(4) !== 1) return false;
    const got = { key: '', qtype: 0, qclass: 0, questionEnd: 0 };
    return readQuestion(buf, got) && got.key === q.key && got.qtype === q.qtype && got.qclass === q.qclass;
  }

  private markDown(u: Upstream, why: string): void {
    u.downUntil = Date.now() + this.opts.downMs;
    if (!u.warned) {
      u.warned = true;
      this.opts.warn(`upstream ${u.label}: ${why}; trying the others first for ${this.opts.downMs / 1000} s`);
    }
  }

  private markUp(u: Upstream): void {
    if (u.warned) this.opts.warn(`upstream ${u.label}: answering again`);
    u.warned = false;
    u.downUntil = 0;
  }

  /** Uniform below n (n ≤ 65536) from a CSPRNG, drawn in batches: IDs and ports must not be predictable. */
  private randomBelow(n: number): number {
    if (this.randomAt + 2 > this.randomPool.length) {
      this.randomPool = randomBytes(4096);
      this.randomAt = 0;
    }
    const v = this.randomPool.readUInt16BE(this.randomAt);
    this.randomAt += 2;
    return n === 0x10000 ? v : v % n;
  }
}

/** The stored answer with this client's ID and question bytes (same name, so the same length). */
function personalise(buf: Buffer, msg: Buffer, q: Query): Buffer {
  buf.writeUInt16BE(q.id, 0);
  msg.copy(buf, HEADER_BYTES, HEADER_BYTES, q.questionEnd);
  return buf;
}

function describe(q: Query): string {
  const labels: string[] = [];
  for (let i = 0; i < q.key.length; ) {
    const l = q.key.charCodeAt(i);
    labels.push(q.key.slice(i + 1, i + 1 + l));
    i += l + 1;
  }
  return `${labels.join('.') || '.'} type ${q.qtype}`;
}

/** dgram's lookup for an address that is already a literal: answered at once. */
function literal(family: 4 | 6): (address: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void) => void {
  return (address, _o, cb) => cb(null, address, family);
}
