import { VoltCommand, outputFlag } from '../../cli/base-command';
import { DriftError } from '../../errors';

export default class NetCheck extends VoltCommand {
  static override summary = 'Report drift between desired state and the kernel; exits non-zero when there is any.';
  static override examples = ['<%= config.bin %> net check', '<%= config.bin %> net check -o json'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetCheck);
    const networks = await this.app.networks();
    const drift = await networks.check();
    // Interrupted operations (pending records) are findings too: `volt net up` settles them.
    const findings = networks.pendingFindings();
    const ok = drift.length === 0 && findings.length === 0;
    if (flags.output === 'json') {
      this.print(JSON.stringify({ ok, drift, findings }, null, 2));
      if (!ok) this.exit(6);
      return;
    }
    if (ok) return this.print('ok: kernel matches desired state');
    const lines = [...drift, ...findings.map((f) => `${f.kind} ${f.object}: ${f.detail}`)];
    throw new DriftError(`check: ${lines.length} difference(s) between desired state and the kernel:\n  - ${lines.join('\n  - ')}`, {
      code: 'E_DRIFT',
      suggestions: ['run `volt net up` to re-apply the desired state'],
    });
  }
}
