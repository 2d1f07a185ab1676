/**
 * IPv6 text checks for the driver. Core parses and normalises every address (canonical
 * lower-case compressed form); the driver only makes sure that what reaches an nft script
 * is an IPv6 address and nothing else, with the SDK's parser (@volt/sdk/net), the one of the
 * tree, as it does for IPv4.
 */
import { parseCidr6, parseIPv6 } from '@volt/sdk/net';

/** An IPv6 address without zone ("fd00:30::a"). */
export function isIpv6(text: unknown): boolean {
  return typeof text === 'string' && parseIPv6(text) !== undefined;
}

/** An IPv6 address or an address with a prefix length 0-128 ("fd00:30::/64"). */
export function isCidr6(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  return text.includes('/') ? parseCidr6(text) !== undefined : isIpv6(text);
}

/** "fd00::5/128" → "fd00::5" (as nft lists a single address). */
export function normCidr6(text: string): string {
  return text.endsWith('/128') ? text.slice(0, -4) : text;
}
