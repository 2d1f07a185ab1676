import type { BridgeSpec } from '../drivers/bridge';
import { DriverError } from '../errors';
import { isIfname, isMac } from './names';

/**
 * A bridge spec comes from core, already validated; drivers still check it
 * before pasting its values into text another program parses (an `ip -batch`
 * script, a networkd unit), where a newline would start another command or
 * setting. Shared by every bridge driver.
 */
export function checkBridgeSpec(spec: BridgeSpec): void {
  const problems: string[] = [];
  if (spec.network.length === 0 || /[\u0000-\u001f\u007f]/.test(spec.network)) {
    problems.push(`network name ${JSON.stringify(spec.network)} is empty or has control characters`);
  }
  if (!isIfname(spec.ifname)) {
    problems.push(`interface name ${JSON.stringify(spec.ifname)} is not a valid Linux name (1–15 of A-Z a-z 0-9 _ . -)`);
  }
  if (!isMac(spec.mac)) {
    problems.push(`MAC ${JSON.stringify(spec.mac)} is not xx:xx:xx:xx:xx:xx`);
  }
  if (!/^[0-9a-fA-F.:]+\/[0-9]{1,3}$/.test(spec.address)) {
    problems.push(`address ${JSON.stringify(spec.address)} is not an address with prefix`);
  }
  for (const [key, value] of [['address6', spec.address6], ['linkLocal6', spec.linkLocal6], ['prefix6', spec.prefix6]] as const) {
    if (value !== undefined && !/^[0-9a-f:]+\/[0-9]{1,3}$/.test(value)) problems.push(`${key} ${JSON.stringify(value)} is not an IPv6 address with prefix`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) {
    problems.push(`MTU ${String(spec.mtu)} is not an integer between 68 and 65535`);
  }
  if (problems.length > 0) {
    throw new DriverError(`set up bridge for network ${JSON.stringify(spec.network)}: ${problems.join('; ')}`, {
      code: 'E_BRIDGE_SPEC',
    });
  }
}
