/**
 * IPv6 text checks for the driver. Core parses and normalises every address
 * (core/src/net/ipv6.ts, canonical lower-case compressed form); the driver
 * only makes sure that what reaches an nft script is an IPv6 address and
 * nothing else, the same way it checks IPv4 with a regular expression.
 */

const GROUP = /^[0-9a-f]{1,4}$/;

/** A lower-case IPv6 address without zone or embedded IPv4 ("fd00:30::a"). */
export function isIpv6(text: unknown): boolean {
  if (typeof text !== 'string' || text.length < 2 || text.length > 39 || !/^[0-9a-f:]+$/.test(text)) return false;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const parts = halves.map((h) => (h === '' ? [] : h.split(':')));
  if (!parts.every((p) => p.every((g) => GROUP.test(g)))) return false;
  const n = parts.reduce((a, p) => a + p.length, 0);
  return halves.length === 2 ? n <= 7 : n === 8;
}

/** An IPv6 address or an address with a prefix length 0-128 ("fd00:30::/64"). */
export function isCidr6(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  const [a, p, extra] = text.split('/');
  if (extra !== undefined || !isIpv6(a)) return false;
  return p === undefined || (/^\d{1,3}$/.test(p) && Number(p) <= 128);
}

/** "fd00::5/128" → "fd00::5" (as nft lists a single address). */
export function normCidr6(text: string): string {
  return text.endsWith('/128') ? text.slice(0, -4) : text;
}
