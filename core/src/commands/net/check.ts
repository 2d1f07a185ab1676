import { VoltCommand, outputFlag } from '../../cli/base-command';
import { DriftError } from '../../errors';

export default class NetCheck extends VoltCommand {
  static override summary = 'Report drift between desired state and the kernel; exits non-zero when there is any.';
  static override examples = ['<%= config.bin %> net check', '<%= config.bin %> net check -o json'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetCheck);
    const drift = await (await this.app.networks()).check();
    if (flags.output === 'json') {
      this.print(JSON.stringify({ ok: drift.length === 0, drift }, null, 2));
      if (drift.length > 0) this.exit(6);
      return;
    }
    if (drift.length === 0) return this.print('ok: kernel matches desired state');
    throw new DriftError(`check: ${drift.length} difference(s) between desired state and the kernel:\n  - ${drift.join('\n  - ')}`, {
      code: 'E_DRIFT',
      suggestions: ['run `volt net up` to re-apply the desired state'],
    });
  }
}
