import { RCODE, scanResponse, FLAG } from './wire';

/** Longest we keep an upstream answer, whatever its TTL says. */
export const MAX_CACHE_TTL_S = 86_400;
export const DEFAULT_CACHE_ENTRIES = 10_000;

interface Entry {
  buf: Buffer;
  ttlOffsets: number[];
  ttls: number[];
  storedMs: number;
  expiresMs: number;
}

/**
 * Upstream answers by question, kept as long as their TTLs say (RFC 1035;
 * negative answers as long as their SOA says, RFC 2308). A hit is the stored
 * bytes with the TTLs counted down, so a client never sees a TTL outlive the
 * original. SERVFAIL, truncated and uncacheable answers are not kept.
 */
export class AnswerCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number = DEFAULT_CACHE_ENTRIES,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Store a response; returns whether it was cacheable. */
  put(key: string, buf: Buffer): boolean {
    if (buf.length < 12 || (buf.readUInt16BE(2) & FLAG.TC) !== 0) return false;
    const scan = scanResponse(buf);
    if (!scan || (scan.rcode !== RCODE.NOERROR && scan.rcode !== RCODE.NXDOMAIN)) return false;
    const ttl = Math.min(scan.ttl ?? 0, MAX_CACHE_TTL_S);
    if (ttl <= 0) return false;
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, {
      buf: Buffer.from(buf),
      ttlOffsets: scan.ttlOffsets,
      ttls: scan.ttlOffsets.map((o) => buf.readUInt32BE(o)),
      storedMs: now,
      expiresMs: now + ttl * 1000,
    });
    // Map order is insertion order: the first key is the oldest.
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return true;
  }

  /** A copy of the stored answer with TTLs aged, or undefined (missing or expired). */
  get(key: string): Buffer | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    const now = this.now();
    if (now >= e.expiresMs) {
      this.entries.delete(key);
      return undefined;
    }
    const out = Buffer.from(e.buf);
    const aged = Math.floor((now - e.storedMs) / 1000);
    for (let i = 0; i < e.ttlOffsets.length; i++) out.writeUInt32BE(Math.max(0, e.ttls[i]! - aged), e.ttlOffsets[i]!);
    return out;
  }

  flush(): number {
    const n = this.entries.size;
    this.entries.clear();
    return n;
  }
}
