import { VoltCommand, outputFlag } from '../../cli/base-command';
import { DriftError } from '@volt/sdk';

export default class NetCheck extends VoltCommand {
  static override summary = 'Report drift between desired state and the kernel, and what volt made that no state record owns; exits non-zero when there is any.';
  static override description =
    'Leftovers (docs/leftovers.md) are volt-made objects no state record owns: orphan-link, orphan-address, orphan-unit, orphan-file, duplicate-address, orphan-nft. `volt net up` removes them.';
  static override examples = ['<%= config.bin %> net check', '<%= config.bin %> net check -o json'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetCheck);
    const svc = await this.app.networks();
    // nft objects no record owns are findings (orphan-nft), not drift as well.
    const drift = await svc.check({ exceptOrphans: true });
    // Interrupted operations (pending records) first, then volt-made objects no record owns: `volt net up` settles both.
    const pending = svc.pendingFindings();
    const leftovers = await svc.leftovers();
    const findings = [...pending, ...leftovers];
    const ok = drift.length === 0 && findings.length === 0;
    if (flags.output === 'json') {
      this.print(JSON.stringify({ ok, drift, findings }, null, 2));
      if (!ok) this.exit(6);
      return;
    }
    if (ok) return this.print('ok: kernel matches desired state');
    const parts: string[] = [];
    const list = (items: string[]): string => items.map((x) => `\n  - ${x}`).join('');
    const show = (f: { kind: string; object: string; detail: string }): string => `${f.kind} ${f.object}: ${f.detail}`;
    if (drift.length > 0) parts.push(`${drift.length} difference(s) between desired state and the kernel:${list(drift)}`);
    if (pending.length > 0) parts.push(`${pending.length} interrupted operation(s):${list(pending.map(show))}`);
    if (leftovers.length > 0) parts.push(`${leftovers.length} volt-made object(s) no state record owns:${list(leftovers.map(show))}`);
    throw new DriftError(`check: ${parts.join('\n')}`, {
      code: 'E_DRIFT',
      suggestions: [findings.length > 0 ? 'run `volt net up` to re-apply the desired state and remove the leftovers' : 'run `volt net up` to re-apply the desired state'],
    });
  }
}
