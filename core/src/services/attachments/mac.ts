import { createHash } from 'node:crypto';
import { UserInputError } from '@volt/sdk';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Validate and normalise a user-given MAC: unicast, not all zeros. */
export function parseMac(text: string, what: string): string {
  const mac = text.toLowerCase().replace(/-/g, ':');
  if (!MAC.test(mac)) throw new UserInputError(`${what}: "${text}" is not a MAC address like 52:54:00:12:34:56`, { code: 'E_MAC_INVALID' });
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) throw new UserInputError(`${what}: ${mac} is a multicast address; a NIC needs a unicast MAC`, { code: 'E_MAC_MULTICAST' });
  if (mac === '00:00:00:00:00:00') throw new UserInputError(`${what}: the all-zero MAC is not usable`, { code: 'E_MAC_INVALID' });
  return mac;
}

/**
 * Stable MAC per workload and network. VMs use QEMU's 52:54:00 prefix (as the
 * spec's examples), containers a locally administered 02: prefix. `salt`
 * changes the result when the first choice collides on the bridge.
 */
export function generateMac(kind: 'vm' | 'container', workload: string, network: string, salt = 0): string {
  const h = createHash('sha256').update(`volt-nic:${workload}:${network}:${salt}`).digest();
  const tail = Array.from(h.subarray(0, kind === 'vm' ? 3 : 5));
  const bytes = kind === 'vm' ? [0x52, 0x54, 0x00, ...tail] : [0x02, ...tail];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
