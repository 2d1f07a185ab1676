/**
 * The one interface-name and MAC rule of the tree. Linux takes 1–15 bytes without "/",
 * whitespace or ":"; volt keeps to the portable set A-Z a-z 0-9 _ . - (no "." or ".."), which
 * is also safe to paste into an `ip -batch` line, a shell word or a networkd unit.
 */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

/** True for an interface name volt accepts (and may paste into a command line). */
export function isIfname(name: string): boolean {
  return IFNAME.test(name) && name !== '.' && name !== '..';
}

/** The words an error uses for the rule. */
export const IFNAME_RULE = '1–15 of A-Z a-z 0-9 _ . -, not "." or ".."';

/** True for a MAC written xx:xx:xx:xx:xx:xx (either case). */
export function isMac(mac: string): boolean {
  return MAC.test(mac);
}
