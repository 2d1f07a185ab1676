import type { VmNicSpec } from '@volt/sdk';
import { DriverError } from '@volt/sdk';
import { isIfname, isMac } from '@volt/sdk/kernel';

/** Core validates VM configs; this guards what goes into an `ip -batch` script (a newline would start another command). */
export function checkNicSpec(spec: VmNicSpec): void {
  const problems: string[] = [];
  if (!isIfname(spec.ifname)) problems.push(`TAP name ${JSON.stringify(spec.ifname)} is not a valid Linux name`);
  if (spec.bridge !== undefined && !isIfname(spec.bridge)) problems.push(`bridge ${JSON.stringify(spec.bridge)} is not a valid Linux name`);
  if (!isMac(spec.mac) || spec.mac !== spec.mac.toLowerCase()) problems.push(`MAC ${JSON.stringify(spec.mac)} is not xx:xx:xx:xx:xx:xx`);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) problems.push(`MTU ${String(spec.mtu)} is out of range`);
  if (!Number.isInteger(spec.queues) || spec.queues < 1 || spec.queues > 256) problems.push(`queues ${String(spec.queues)} is out of range`);
  if (problems.length > 0) {
    throw new DriverError(`set up NIC ${spec.nicId} of VM ${JSON.stringify(spec.vm)}: ${problems.join('; ')}`, { code: 'E_NIC_SPEC' });
  }
}
