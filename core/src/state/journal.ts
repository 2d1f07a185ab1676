import { errorMessage } from '@volt/sdk';
import type { StateStore } from './store';
import { FIREWALL_OPERATION_STEPS, FIREWALL_SETTLE_RULE } from './journal-firewall';
import type { AttachmentRecord, NetworkRecord, PendingOp, PendingRecord, VoltState } from './types';

/**
 * Intent journal (docs/state-and-recovery.md). An operation that changes the kernel
 * 1. adds a pending record to state and writes it (fsync'd) while holding the lock,
 * 2. runs its steps in order, recording each one done (written again),
 * 3. applies its result to the draft and drops the record; the transaction commits both at once.
 * A process killed anywhere in between leaves the pending record, which the next mutating
 * command (or `volt net up`) settles: rolled back or forward by the rule of its operation.
 */

/** Every journaled operation and its step names, in order: stable (tests and VOLT_FAULT use them). */
export const OPERATION_STEPS: Readonly<Record<PendingOp, readonly string[]>> = {
  connect: ['veth', 'address'],
  'connect-batch': ['veths', 'addresses'],
  disconnect: ['unplug'],
  'net-create': ['firewall-base', 'bridge', 'firewall'],
  'net-delete': ['uplinks', 'firewall', 'bridge', 'firewall-base'],
  'vm-connect': ['tap', 'leases'],
  'vm-disconnect': ['tap', 'leases'],
  'vm-start': ['nics', 'leases', 'qemu'],
  'vm-stop': ['nics'],
  'vm-delete': ['nics', 'leases', 'files'],
  ...FIREWALL_OPERATION_STEPS,
};

/** How a pending record of each operation is settled. */
export const SETTLE_RULE: Readonly<Record<PendingOp, 'roll-back-unless-done' | 'roll-forward'>> = {
  connect: 'roll-back-unless-done',
  'connect-batch': 'roll-back-unless-done',
  disconnect: 'roll-forward',
  'net-create': 'roll-back-unless-done',
  'net-delete': 'roll-forward',
  'vm-connect': 'roll-back-unless-done',
  'vm-disconnect': 'roll-forward',
  'vm-start': 'roll-back-unless-done',
  'vm-stop': 'roll-forward',
  'vm-delete': 'roll-forward',
  ...FIREWALL_SETTLE_RULE,
};

/** Fault points of an operation: "intent" (record written, kernel untouched) and after each step. */
export function faultPoints(op: PendingOp): string[] {
  return ['intent', ...OPERATION_STEPS[op]];
}

/**
 * Test tool: with VOLT_FAULT=OP:POINT (several comma-separated), volt SIGKILLs itself at that
 * step boundary, right after the progress is on disk — a crash at the worst moment, on demand.
 */
export function faultPoint(op: PendingOp, point: string): void {
  const spec = process.env['VOLT_FAULT'];
  if (!spec) return;
  if (spec.split(',').some((s) => s.trim() === `${op}:${point}`)) process.kill(process.pid, 'SIGKILL');
}

export interface PlanStep {
  /** One of OPERATION_STEPS[op]. */
  name: string;
  /** "create veth vh1234567890" */
  what: string;
  apply(): Promise<void>;
  /** Must be safe to run when apply never ran or ran halfway (settlement undoes unfinished steps too). */
  undo?(): Promise<void>;
}

export type PendingIntent = Omit<PendingRecord, 'id' | 'pid' | 'startedAt' | 'steps'>;

export interface RunningPlan {
  record: PendingRecord;
  /** Drop the pending record from the draft: the result is in the draft, the transaction commits both. */
  finish(): void;
  /** Undo every step (a later failure, e.g. a listener), put the draft back as before the plan, and write it. */
  abort(): Promise<void>;
}

/**
 * The executor: journal the intent, run the steps recording progress, and on a step failure
 * undo the done steps in reverse and restore the draft to what it was before (written, so the
 * record does not outlive the failure). Undo failures are warnings; the step's error is rethrown.
 */
export async function runPlan(
  store: StateStore,
  state: VoltState,
  intent: PendingIntent,
  steps: PlanStep[],
  warn: (m: string) => void,
  /** The steps change nothing in the draft but the record (container connects): their progress is written to the journal only, the state is not serialised again. */
  opts: { stepsTouchOnlyTheRecord?: boolean } = {},
): Promise<RunningPlan> {
  const base = structuredClone(state);
  const record: PendingRecord = {
    ...intent,
    // node:crypto loads when a record is made, not with the module (net list never makes one; docs/decisions/0007-cli-startup-2.md).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    id: (require('node:crypto') as typeof import('node:crypto')).randomBytes(6).toString('hex'),
    pid: process.pid,
    startedAt: new Date().toISOString(),
    steps: steps.map((s) => ({ name: s.name, done: false })),
  };
  (state.pending ??= []).push(record);
  store.checkpoint();
  faultPoint(record.op, 'intent');
  const done: PlanStep[] = [];
  const rollback = async (): Promise<void> => {
    for (const d of done.slice().reverse()) {
      if (!d.undo) continue;
      try {
        await d.undo();
      } catch (u: unknown) {
        warn(`undo "${d.what}" after a failure: ${errorMessage(u)}`);
      }
    }
    restore(state, base);
    store.checkpoint();
  };
  for (const [i, step] of steps.entries()) {
    try {
      await step.apply();
    } catch (e: unknown) {
      await rollback();
      throw e;
    }
    done.push(step);
    record.steps[i]!.done = true;
    store.checkpoint({ journalOnly: opts.stepsTouchOnlyTheRecord === true });
    faultPoint(record.op, step.name);
  }
  return {
    record,
    finish: () => removePending(state, record.id),
    abort: rollback,
  };
}

/** Put the draft back to `base` in place (references to the draft object stay valid). */
export function restore(state: VoltState, base: VoltState): void {
  for (const k of Object.keys(state) as (keyof VoltState)[]) delete state[k];
  Object.assign(state, base);
}

export function removePending(state: VoltState, id: string): void {
  const rest = (state.pending ?? []).filter((p) => p.id !== id);
  if (rest.length > 0) state.pending = rest;
  else delete state.pending;
}

/** Addresses and MACs reserved by pending connects: IPAM and the MAC check count them as taken. */
export function pendingAttachments(state: VoltState): AttachmentRecord[] {
  return (state.pending ?? []).flatMap((p) =>
    (p.op === 'connect' || p.op === 'vm-connect') && p.attachment
      ? [p.attachment]
      : p.op === 'vm-start'
        ? (p.attachments ?? [])
        : p.op === 'connect-batch'
          ? (p.connects ?? []).map((c) => c.attachment)
          : [],
  );
}

/** Networks being created: their names, bridges and subnets are taken while pending. */
export function pendingNetworks(state: VoltState): NetworkRecord[] {
  return (state.pending ?? []).flatMap((p) => (p.op === 'net-create' ? (p.networks ?? []) : []));
}

/** A `volt net check` finding (shared shape with the orphan scan): `-o json` prints an array of these. */
export interface Finding {
  kind: string;
  object: string;
  detail: string;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function settleAction(p: PendingRecord): 'roll back' | 'roll forward' {
  return SETTLE_RULE[p.op] === 'roll-forward' || p.steps.every((s) => s.done) ? 'roll forward' : 'roll back';
}

/**
 * Pending records of dead processes, as findings ("pending-connect"). Read without the lock,
 * so a record of a volt that is running right now (its pid alive) is in flight, not a finding.
 */
export function pendingFindings(state: VoltState): Finding[] {
  return (state.pending ?? [])
    .filter((p) => !alive(p.pid))
    .map((p) => {
      const done = p.steps.filter((s) => s.done).map((s) => s.name);
      return {
        kind: `pending-${p.op}`,
        object: p.object,
        detail: `interrupted ${p.op} (pid ${p.pid}, ${p.startedAt}); steps done: ${done.length > 0 ? done.join(', ') : 'none'} of ${p.steps.map((s) => s.name).join(', ')}; \`volt net up\` will ${settleAction(p)}`,
      };
    });
}
