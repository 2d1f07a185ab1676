import type { VoltConfig } from '../../config/defaults';
import type { IngressListener } from '@volt/sdk';
import { ConflictError, errorMessage } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { FirewallService } from '../firewall/firewall-service';

/** The rule `volt ingress serve` adds for one of its ports while it serves. */
export function ingressRuleName(port: number): string {
  return `ingress-tcp-${port}`;
}

export interface ExposeDeps {
  config: VoltConfig;
  store: StateStore;
  firewall(): Promise<FirewallService>;
  /** One line for the operator (stdout). */
  say(message: string): void;
}

function loopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/**
 * The listener ports volt's own host firewall would drop: host_input is drop,
 * the port is not in host_allow, the listener is not on loopback, and volt's
 * table exists (some network does; without one volt drops nothing).
 */
export function blockedPorts(config: VoltConfig, hasNetworks: boolean, listeners: readonly IngressListener[]): number[] {
  const fw = config.network.firewall;
  if (fw.host_input !== 'drop' || !hasNetworks) return [];
  const ports = listeners.filter((l) => !loopback(l.address)).map((l) => l.port);
  return [...new Set(ports)].filter((p) => !fw.host_allow.includes(`tcp/${p}`)).sort((a, b) => a - b);
}

/** The command that opens the ports by hand, for messages. */
export function openCommand(ports: readonly number[]): string {
  return `volt net firewall add --name ingress --source any --dest host --port ${ports.join(',')} --proto tcp --action accept`;
}

/**
 * Open the proxy's ports in volt's input chain (an accept rule per port,
 * after the user's rules, so an operator's own drop still wins) for as long
 * as it serves; the returned function removes exactly the rules it added.
 * With `open` false nothing is changed and the operator is told how to open them.
 */
export async function exposeListeners(d: ExposeDeps, listeners: readonly IngressListener[], open: boolean): Promise<(keep?: number[]) => Promise<void>> {
  const state = d.store.read();
  const ports = blockedPorts(d.config, Object.keys(state.networks).length > 0, listeners);
  const none = async (): Promise<void> => undefined;
  if (ports.length === 0) return none;
  if (!open) {
    d.say(
      `volt ingress: warning: volt's host firewall drops new connections to tcp/${ports.join(', tcp/')} (network.firewall.host_input: drop); ` +
        `clients on other hosts cannot reach the proxy. Open them: \`${openCommand(ports)}\`, or add them to network.firewall.host_allow`,
    );
    return none;
  }
  const fw = await d.firewall();
  const added: string[] = [];
  const kept: string[] = [];
  for (const port of ports) {
    const name = ingressRuleName(port);
    if (state.firewall.rules.some((r) => r.name === name)) {
      // Left by a proxy that did not stop cleanly: ours, so it goes when this one stops.
      added.push(name);
      continue;
    }
    try {
      await fw.add({ name, source: 'any', dest: 'host', port: String(port), proto: 'tcp', action: 'accept' });
      added.push(name);
    } catch (e: unknown) {
      if (e instanceof ConflictError && e.code === 'E_RULE_DUPLICATE') kept.push(`tcp/${port} (${errorMessage(e).replace(/^.*: rule /, 'rule ').replace(/ already does exactly this$/, '')})`);
      else throw e;
    }
  }
  if (added.length > 0) {
    const opened = added.map((n) => `tcp/${n.slice('ingress-tcp-'.length)}`).join(', ');
    d.say(`volt ingress: opened ${opened} in volt's host firewall (rule${added.length === 1 ? '' : 's'} ${added.join(', ')}) while the proxy serves; closed again when it stops`);
  }
  if (kept.length > 0) d.say(`volt ingress: already open by your own rules: ${kept.join(', ')}`);
  return async (keep: number[] = []) => {
    for (const name of added.filter((n) => !keep.some((p) => ingressRuleName(p) === n))) {
      try {
        await fw.delete(name);
      } catch (e: unknown) {
        if (!(e instanceof Error && 'code' in e && (e as { code?: string }).code === 'E_RULE_NOT_FOUND')) throw e;
      }
    }
  };
}
