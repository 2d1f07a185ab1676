import { errorMessage } from '@volt/sdk';
import type { BridgeDriver, VlanSpec } from '@volt/sdk';
import type { FirewallDriver } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import { randomBytes } from 'node:crypto';
import { faultPoint, removePending, runPlan, settleAction, type PendingIntent, type PlanStep } from '../../state/journal';
import { FIREWALL_OPS } from '../../state/journal-firewall';
import type { FirewallPendingOp, FirewallRuleRecord, PendingOp, PendingRecord, PolicyRecord, PortForwardRecord, VlanRecord, VoltState } from '../../state/types';
import { compileRuleSet } from './firewall-compile';
import { commitRules, type FirewallDeps } from './firewall-service';
import { vlanDriver } from '../network/vlan-service';
import { vlanSpec } from '../network/vlan-plan';

/**
 * The journaled plans of port forwards, firewall rules, policies and VLANs
 * (docs/state-and-recovery.md; step names in core/src/state/journal-firewall.ts).
 *
 * Port forwards, rules and policies change the kernel through one driver call
 * (`applyRules`: a single `nft -f` transaction), so each is a one-step plan:
 * the pending record holds the changed collections as they will be after the
 * operation, the draft keeps them as they were until the step is done. A
 * settlement does not trust the kernel to be in either state: it replaces the
 * whole overlay with the rule set of the state it settles to (before, rolling
 * back; after, rolling forward), which is right whatever the kill interrupted.
 */

/** What the plans need: PlanDeps (plans.ts) has all of it; the firewall and VLAN services have their part. */
export interface FirewallPlanDeps {
  firewall?(): Promise<FirewallDriver>;
  bridge?(): Promise<BridgeDriver>;
  warn(message: string): void;
}

export const PORT_AND_RULE_OPS: readonly FirewallPendingOp[] = ['port-add', 'port-delete', 'firewall-apply'];
export const VLAN_OPS: readonly FirewallPendingOp[] = ['vlan-create', 'vlan-delete', 'vlan-attach', 'vlan-detach'];

export function isFirewallOp(op: PendingOp): op is FirewallPendingOp {
  return (FIREWALL_OPS as readonly string[]).includes(op);
}

type Collection = 'rules' | 'portForwards' | 'policies';
type Collections = NonNullable<PendingRecord['firewall']>;

function take(state: VoltState, keys: readonly Collection[]): Collections {
  const out: Collections = {};
  for (const k of keys) {
    if (k === 'rules') out.rules = state.firewall.rules;
    else if (k === 'portForwards') out.portForwards = state.portForwards;
    else out.policies = state.policies;
  }
  return out;
}

/**
 * Records of `next` that are not in `prior` (by identity: the services replace a record they
 * change, never edit it in place), and names `next` no longer has; undefined when that is no
 * smaller than `next`.
 */
function deltaOf<R extends { name: string }>(prior: readonly R[], next: readonly R[]): { upsert: R[]; remove: string[] } | undefined {
  const was = new Set(prior);
  const upsert = next.filter((r) => !was.has(r));
  const names = new Set(next.map((r) => r.name));
  const remove = prior.filter((r) => !names.has(r.name)).map((r) => r.name);
  return upsert.length + remove.length < next.length ? { upsert, remove } : undefined;
}

/**
 * The record's part: the changed collections as they are after the operation, as a delta where
 * that is smaller (adding one rule to 10,000 records one rule, not 10,000: the intent is written
 * twice before the commit).
 */
function changeOf(prior: Collections, state: VoltState, keys: readonly Collection[]): Collections {
  const full = take(state, keys);
  const out: Collections = { ...full };
  if (full.rules && prior.rules) {
    const d = deltaOf(prior.rules, full.rules);
    if (d) {
      delete out.rules;
      out.rulesDelta = d;
    }
  }
  if (full.policies && prior.policies) {
    const d = deltaOf(Object.values(prior.policies), Object.values(full.policies));
    if (d) {
      delete out.policies;
      out.policiesDelta = d;
    }
  }
  return out;
}

/** Put the record's collections into `state` (new arrays and maps: `state`'s own are not changed in place). */
function put(state: VoltState, c: Collections): void {
  if (c.rules) state.firewall = { ...state.firewall, rules: c.rules };
  if (c.rulesDelta) {
    const { upsert, remove } = c.rulesDelta;
    const byName = new Map(upsert.map((r) => [r.name, r]));
    const gone = new Set(remove);
    const rules = state.firewall.rules.filter((r) => !gone.has(r.name)).map((r) => byName.get(r.name) ?? r);
    const have = new Set(rules.map((r) => r.name));
    rules.push(...upsert.filter((r) => !have.has(r.name)));
    state.firewall = { ...state.firewall, rules };
  }
  if (c.portForwards) state.portForwards = c.portForwards;
  if (c.policies) state.policies = c.policies;
  if (c.policiesDelta) {
    const policies = { ...state.policies };
    for (const name of c.policiesDelta.remove) delete policies[name];
    for (const p of c.policiesDelta.upsert) policies[p.name] = p;
    state.policies = policies;
  }
}

/** The state as it is once the record's operation is complete (for compiling its rule set). */
function afterOf(state: VoltState, rec: PendingIntent): VoltState {
  const s: VoltState = { ...state, firewall: { ...state.firewall } };
  if (rec.firewall) put(s, rec.firewall);
  return s;
}

/** Replace every user rule, forward and policy in the kernel with those of `state` (no listing of the old ones needed). */
async function installRules(d: FirewallPlanDeps, state: VoltState): Promise<void> {
  // No network: no table, nothing of the overlay in the kernel (the rules go in with the first network).
  if (Object.keys(state.networks).length === 0 || !d.firewall) return;
  const fw = await d.firewall();
  if (!fw.applyRules) return;
  await fw.applyRules(compileRuleSet(state));
}

function vlanSpecOf(v: VlanRecord, state: VoltState): VlanSpec {
  return vlanSpec(v, state);
}

async function vlans(d: FirewallPlanDeps, what: string): ReturnType<typeof vlanDriver> {
  if (!d.bridge) throw new Error(`${what}: no bridge driver here`);
  return vlanDriver(d.bridge, what, false);
}

/** The steps of a pending firewall or VLAN record, built from the record alone (for a settlement). */
export function firewallPlanSteps(rec: PendingIntent, state: VoltState, d: FirewallPlanDeps): PlanStep[] {
  if (rec.firewall !== undefined) {
    return [
      {
        name: 'nft',
        what: `put ${rec.object} in the firewall`,
        apply: () => installRules(d, afterOf(state, rec)),
        undo: () => installRules(d, state),
      },
    ];
  }
  const v = rec.vlan;
  if (v === undefined) throw new Error(`pending ${rec.op} of ${rec.object}: the record says neither rules nor VLAN`);
  const what = `${rec.op} ${v.name}`;
  switch (rec.op) {
    case 'vlan-create':
      return [
        {
          name: 'link',
          what: `create VLAN ${v.name}`,
          apply: async () => (await vlans(d, what)).setupVlan(vlanSpecOf(v.after!, state)),
          undo: async () => (await vlans(d, what)).teardownVlan(vlanSpecOf(v.after!, state)),
        },
      ];
    case 'vlan-delete':
      return [
        {
          name: 'link',
          what: `delete VLAN ${v.name}`,
          apply: async () => (await vlans(d, what)).teardownVlan(vlanSpecOf(v.before!, state)),
          undo: async () => (await vlans(d, what)).setupVlan(vlanSpecOf(v.before!, state)),
        },
      ];
    default:
      return [
        {
          name: 'link',
          what: `${rec.op === 'vlan-attach' ? 'attach' : 'detach'} VLAN ${v.name}`,
          apply: async () => (await vlans(d, what)).setupVlan(vlanSpecOf(v.after!, state)),
          undo: async () => (await vlans(d, what)).setupVlan(vlanSpecOf(v.before!, state)),
        },
      ];
  }
}

/** The state change a firewall or VLAN operation commits when it completes. */
export function applyFirewallResult(rec: PendingIntent, state: VoltState): void {
  if (rec.firewall) put(state, rec.firewall);
  if (rec.vlan) {
    if (rec.vlan.after) state.vlans[rec.vlan.name] = rec.vlan.after;
    else delete state.vlans[rec.vlan.name];
  }
}

/**
 * A change of user rules, port forwards or policies, journaled: `mutate` changes the draft as
 * the service always did; its result is then held back in a pending record (written), the
 * driver applies the difference, and only then the draft gets the result (committed with the
 * transaction). Without a network or a driver that takes rules, nothing reaches the kernel:
 * the change is an ordinary state change (commitRules).
 */
export async function journaledRules(
  deps: FirewallDeps,
  state: VoltState,
  op: 'port-add' | 'port-delete' | 'firewall-apply',
  object: string,
  what: string,
  keys: readonly Collection[],
  mutate: () => void,
): Promise<string[]> {
  // Shallow: the mutations replace arrays, maps and records, or add to / delete from them; they never edit a record.
  const prior: Collections = {};
  for (const [k, v] of Object.entries(take(state, keys))) {
    if (k === 'policies') prior.policies = { ...(v as Record<string, PolicyRecord>) };
    else if (k === 'rules') prior.rules = [...(v as FirewallRuleRecord[])];
    else prior.portForwards = [...(v as PortForwardRecord[])];
  }
  const before = compileRuleSet(state);
  mutate();
  const fw = Object.keys(state.networks).length > 0 ? await deps.firewall() : undefined;
  if (fw?.applyRules === undefined) return commitRules(deps, state, before, what);
  const next = compileRuleSet(state);
  const after = changeOf(prior, state, keys);
  put(state, prior);
  // runPlan's steps, without its copy of the whole state (3 MB at 10,000 rules): the draft holds
  // only `prior` until the step is done, so a failure just drops the record.
  const record: PendingRecord = {
    op,
    object,
    firewall: after,
    id: randomBytes(6).toString('hex'),
    pid: process.pid,
    startedAt: new Date().toISOString(),
    steps: [{ name: 'nft', done: false }],
  };
  (state.pending ??= []).push(record);
  deps.store.checkpoint({ journalOnly: true });
  faultPoint(op, 'intent');
  try {
    await fw.applyRules(next, before);
  } catch (e: unknown) {
    removePending(state, record.id);
    deps.store.checkpoint({ journalOnly: true });
    throw e;
  }
  record.steps[0]!.done = true;
  deps.store.checkpoint({ journalOnly: true });
  faultPoint(op, 'nft');
  applyFirewallResult(record, state);
  removePending(state, record.id);
  return [];
}

/** A VLAN change, journaled: the pending record names the VLAN before and after; one `link` step. */
export async function journaledVlan(
  store: StateStore,
  state: VoltState,
  op: 'vlan-create' | 'vlan-delete' | 'vlan-attach' | 'vlan-detach',
  vlan: NonNullable<PendingRecord['vlan']>,
  d: FirewallPlanDeps,
): Promise<void> {
  const intent: PendingIntent = { op, object: `VLAN ${vlan.name}`, vlan };
  const plan = await runPlan(store, state, intent, firewallPlanSteps(intent, state, d), d.warn);
  applyFirewallResult(plan.record, state);
  plan.finish();
}

/**
 * Under the lock, before a firewall or VLAN command does its own work: settle the pending
 * records of `ops` (the rest need drivers this service does not have; `volt net up` and the
 * workload and network commands settle everything). Same rule as plans.ts settlePending;
 * each settlement is reported as a warning line.
 */
export async function settleOwnPending(store: StateStore, state: VoltState, d: FirewallPlanDeps, ops: readonly FirewallPendingOp[]): Promise<void> {
  for (const rec of [...(state.pending ?? [])]) {
    if (!(ops as readonly string[]).includes(rec.op)) continue;
    const forward = settleAction(rec) === 'roll forward';
    const steps = firewallPlanSteps(rec, state, d);
    const done = new Set(rec.steps.filter((s) => s.done).map((s) => s.name));
    try {
      if (forward) {
        for (const s of steps) if (!done.has(s.name)) await s.apply();
        applyFirewallResult(rec, state);
      } else {
        for (const s of steps.slice().reverse()) await s.undo?.();
      }
      removePending(state, rec.id);
      store.checkpoint();
      d.warn(`settled an interrupted ${rec.op} of ${rec.object}: ${forward ? 'rolled forward' : 'rolled back'}`);
    } catch (e: unknown) {
      d.warn(`settle interrupted ${rec.op} of ${rec.object}: ${errorMessage(e)}`);
    }
  }
}
