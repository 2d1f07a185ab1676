import type { BridgeDriver, BridgeSwitchedPolicies, FirewallDriver, FirewallRuleSet, SwitchedPolicy, SwitchedPolicySet } from '@volt/sdk';
import { capabilitiesOf, errorMessage } from '@volt/sdk';
import { contains, parseCidr, parseIPv4 } from '../../net/ipv4';
import { contains6, parseCidr6, parseIPv6 } from '../../net/ipv6';

/*
 * Policies on bridges that netfilter does not see (docs/decisions/0010-switched-policies.md).
 *
 * A bridge driver with capability `switched-policies` (Open vSwitch) enforces the policies of
 * traffic switched between two ports of its bridges itself; the firewall driver keeps everything
 * routed (other networks, the host, the uplink, port forwards). Both get their part of the same
 * compiled rule set: the firewall driver is wrapped where it is handed out (app.ts), so every
 * path that changes rules, policies or attachments (`applyRules`: policy create/delete/apply,
 * connect/disconnect, settlements, `net up`) and `net check` reaches the bridge driver too.
 */

/** The active bridge driver's policy enforcement, or undefined when netfilter sees its traffic. */
export function switchedPoliciesOf(bridge: BridgeDriver | undefined): (BridgeDriver & BridgeSwitchedPolicies) | undefined {
  if (!bridge || !capabilitiesOf('bridge', bridge).includes('switched-policies')) return undefined;
  return bridge as BridgeDriver & BridgeSwitchedPolicies;
}

function inSubnet(ip: string, subnet: string | undefined): boolean {
  if (subnet === undefined) return false;
  if (ip.includes(':')) {
    const c = subnet.includes(':') ? parseCidr6(subnet) : undefined;
    const a = parseIPv6(ip);
    return c !== undefined && a !== undefined && contains6(c, a);
  }
  const c = subnet.includes(':') ? undefined : parseCidr(subnet);
  const a = parseIPv4(ip);
  return c !== undefined && a !== undefined && contains(c, a);
}

/** The rule set's policies, per network with workloads, as the bridge driver enforces them. */
export function compileSwitchedPolicies(rs: FirewallRuleSet): SwitchedPolicySet[] {
  return rs.networks.map((n): SwitchedPolicySet => {
    const mine = (ip: string): boolean => inSubnet(ip, n.subnet) || inSubnet(ip, n.subnet6);
    const policies: SwitchedPolicy[] = [];
    const isolated = new Set<string>();
    for (const p of rs.policies) {
      const to = p.to.filter(mine);
      if (to.length === 0) continue;
      for (const a of to) isolated.add(a);
      policies.push({
        name: p.name,
        action: p.action,
        ...(p.from.kind === 'any' ? {} : { from: [...p.from.addresses] }),
        to,
        proto: p.proto,
        ports: [...p.ports],
      });
    }
    return { network: n.name, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, default: 'allow', isolated: [...isolated].sort(), policies };
  });
}

/**
 * The firewall driver as the services see it when the bridge driver enforces switched policies:
 * `applyRules` also hands the policies to the bridge driver (and puts the firewall back if that
 * fails, so neither half is left changed), `check` adds the bridge driver's drift.
 */
export function firewallWithSwitchedPolicies(fw: FirewallDriver, bridge: BridgeSwitchedPolicies & { name: string }, warn: (m: string) => void): FirewallDriver {
  const apply = fw.applyRules?.bind(fw);
  const applyRules = apply
    ? async (next: FirewallRuleSet, previous?: FirewallRuleSet): Promise<void> => {
        await apply(next, previous);
        try {
          await bridge.applySwitchedPolicies(compileSwitchedPolicies(next));
        } catch (e: unknown) {
          if (previous !== undefined) {
            await apply(previous, next).catch((e2: unknown) => warn(`undo firewall rules after the bridge driver "${bridge.name}" failed: ${errorMessage(e2)}`));
            await bridge.applySwitchedPolicies(compileSwitchedPolicies(previous)).catch((e2: unknown) => warn(`put back the policies of bridge driver "${bridge.name}": ${errorMessage(e2)}`));
          }
          throw e;
        }
      }
    : undefined;
  const check: FirewallDriver['check'] = async (policy, nets, rules, opts) => {
    const drift = await fw.check(policy, nets, rules, opts);
    // Without the desired rule set (a caller that has none) there is nothing to compare with.
    if (rules !== undefined) drift.push(...(await bridge.checkSwitchedPolicies(compileSwitchedPolicies(rules))));
    return drift;
  };
  return new Proxy(fw, {
    get(target, prop, receiver) {
      if (prop === 'applyRules') return applyRules;
      if (prop === 'check') return check;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
