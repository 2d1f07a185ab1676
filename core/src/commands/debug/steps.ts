import { VoltCommand, outputFlag } from '../../cli/base-command';
import { OPERATION_STEPS, SETTLE_RULE, faultPoints } from '../../state/journal';
import type { PendingOp } from '../../state/types';

/** Test tool: the journaled operations, their step names and VOLT_FAULT points (docs/state-and-recovery.md). */
export default class DebugSteps extends VoltCommand {
  static override hidden = true;
  static override summary = 'List journaled operations, their steps and the VOLT_FAULT points (OP:POINT) of each.';
  static override examples = ['<%= config.bin %> debug steps', 'VOLT_FAULT=connect:veth <%= config.bin %> net connect backend api'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(DebugSteps);
    const ops = (Object.keys(OPERATION_STEPS) as PendingOp[]).map((op) => ({ op, steps: [...OPERATION_STEPS[op]], faultPoints: faultPoints(op), rule: SETTLE_RULE[op] }));
    if (flags.output === 'json') return this.print(JSON.stringify(ops, null, 2));
    for (const o of ops) this.print(`${o.op}: ${o.faultPoints.map((p) => `${o.op}:${p}`).join(' ')} (${o.rule})`);
  }
}
