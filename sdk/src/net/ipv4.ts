/** IPv4 addresses as unsigned 32-bit numbers; parsing is strict (no leading zeros, no shorthand). */
export interface Cidr {
  /** Address as written (may have host bits set). */
  address: number;
  prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(text);
  if (!m) return undefined;
  const address = parseIPv4(m[1] as string);
  const prefix = Number(m[2]);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix };
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkAddress(c: Cidr): number {
  return (c.address & maskOf(c.prefix)) >>> 0;
}

export function broadcastAddress(c: Cidr): number {
  return (networkAddress(c) | ~maskOf(c.prefix)) >>> 0;
}

export function formatCidr(address: number, prefix: number): string {
  return `${formatIPv4(address)}/${prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === networkAddress(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return ((a.address & m) >>> 0) === ((b.address & m) >>> 0);
}
