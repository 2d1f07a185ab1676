import { VoltCommand, outputFlag } from '../../cli/base-command';

export default class NetUp extends VoltCommand {
  static override summary = 'Re-apply the desired state to the kernel (after a reboot or a flushed ruleset) and remove volt-made leftovers no state record owns.';
  static override description =
    'Idempotent: when bridges, addresses and the firewall table already match and nothing is left over, it changes nothing. Only objects recognisably volt\'s are removed (docs/leftovers.md).';
  static override examples = ['<%= config.bin %> net up'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetUp);
    const report = await (await this.app.networks()).up();
    if (flags.output === 'json') return this.print(JSON.stringify(report, null, 2));
    // Interrupted operations first: what was rolled back or forward (docs/state-and-recovery.md).
    const settled = report.settled ?? [];
    if (settled.length > 0) this.print(`settled ${settled.length} interrupted operation(s):`);
    for (const s of settled) this.print(`  - ${s.op} ${s.object}: ${s.action} (${s.detail})`);
    const removed = report.removed ?? [];
    if (settled.length > 0 && report.drift.length === 0 && removed.length === 0) return;
    if (!report.applied) return this.print(`nothing to do: ${report.networks.length} network(s) match the kernel`);
    if (report.drift.length > 0 || removed.length === 0) {
      this.print(`repaired ${report.drift.length} difference(s):`);
      for (const d of report.drift) this.print(`  - ${d}`);
    }
    if (removed.length > 0) {
      this.print(`removed ${removed.length} leftover(s) no state record owned:`);
      for (const f of removed) this.print(`  - ${f.kind} ${f.object}: ${f.detail}`);
    }
  }
}
