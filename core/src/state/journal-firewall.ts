import type { FirewallPendingOp } from './types';

/**
 * The journaled operations of the firewall and VLAN services (plans-firewall.ts), registered
 * in journal.ts next to the workload and network ones. Pure data: step names are stable
 * (tests and VOLT_FAULT use them).
 *
 * - port-add, port-delete, firewall-apply (user rules and policies): one step, `nft` — the
 *   driver's single `nft -f` transaction (and the per-bridge settings it needs), so after a kill
 *   the kernel holds either the old or the new rule set, never a mix.
 * - vlan-create, vlan-delete, vlan-attach, vlan-detach: one step, `link` (the bridge driver's
 *   setupVlan / teardownVlan).
 */
export const FIREWALL_OPERATION_STEPS: Readonly<Record<FirewallPendingOp, readonly string[]>> = {
  'port-add': ['nft'],
  'port-delete': ['nft'],
  'firewall-apply': ['nft'],
  'vlan-create': ['link'],
  'vlan-delete': ['link'],
  'vlan-attach': ['link'],
  'vlan-detach': ['link'],
};

/** Removals roll forward (like disconnect and net delete); everything else rolls back unless its step is done. */
export const FIREWALL_SETTLE_RULE: Readonly<Record<FirewallPendingOp, 'roll-back-unless-done' | 'roll-forward'>> = {
  'port-add': 'roll-back-unless-done',
  'port-delete': 'roll-forward',
  'firewall-apply': 'roll-back-unless-done',
  'vlan-create': 'roll-back-unless-done',
  'vlan-delete': 'roll-forward',
  'vlan-attach': 'roll-back-unless-done',
  'vlan-detach': 'roll-back-unless-done',
};

export const FIREWALL_OPS: readonly FirewallPendingOp[] = Object.keys(FIREWALL_OPERATION_STEPS) as FirewallPendingOp[];
