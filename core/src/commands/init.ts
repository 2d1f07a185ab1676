import * as fs from 'node:fs';
import * as path from 'node:path';
import { Flags } from '@oclif/core';
import { VoltCommand } from '../cli/base-command';

export default class Init extends VoltCommand {
  static override summary = 'Create the default network (volt0) and volt’s firewall table, and install volt’s systemd units.';
  static override description = `Creates the default network from config defaults (network.default_bridge, network.default_subnet; volt0 10.0.0.0/24, gateway 10.0.0.1) unless it exists. Other commands create it implicitly on first use; only init installs the units.

Units (in <root>/etc/systemd/system, or --unit-dir), each running this installation of volt (the node binary and entry script running now, not a PATH lookup):
  volt-net-up.service   boot restore (\`volt net up\`), enabled
  volt-dns.service      \`volt dns serve\`, enabled unless network.dns.enabled is false
  volt-ingress.service  \`volt ingress serve\`, enabled once ingress routes exist (the first \`volt ingress create\` enables it)
Enabling is the symlink \`systemctl enable\` makes (multi-user.target.wants/). When systemd runs this host and the directory is /etc/systemd/system, init also reloads systemd and starts the enabled units. A unit file volt did not write is never replaced. --no-units skips all of it.`;
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init --no-units', '<%= config.bin %> init --unit-dir /tmp/units'];
  static override flags = {
    'no-units': Flags.boolean({ description: 'Do not install or enable systemd units.' }),
    'unit-dir': Flags.string({ description: 'Directory for the unit files. [<root>/etc/systemd/system]' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Init);
    const svc = await this.app.networks();
    const created = await svc.init();
    if (created) this.print(`created network ${created.name} (bridge ${created.bridge}, ${created.subnet}, gateway ${created.gateway})`);
    else this.print(`default network ${this.app.config.network.default_bridge} already exists`);
    if (flags['no-units']) {
      this.print('units: skipped (--no-units)');
      return;
    }
    const units = await import('../services/host/host-units');
    const paths = this.app.paths;
    const dir = path.resolve(flags['unit-dir'] ?? units.defaultUnitDir(paths));
    if (flags['unit-dir'] === undefined && !fs.existsSync(path.join(paths.root, 'etc/systemd'))) {
      this.print(`units: skipped (${path.join(paths.root, 'etc/systemd')} does not exist: systemd does not run this host); run \`volt dns serve\` and \`volt ingress serve\` under your service manager`);
      return;
    }
    const state = this.app.store.read();
    const planned = units.planUnits({
      node: process.execPath,
      volt: units.installedVolt(),
      root: paths.root,
      config: this.app.config,
      routes: Object.keys(state.ingress.routes).length,
    });
    const r = units.installUnits(dir, planned);
    for (const n of r.written) this.print(`units: wrote ${path.join(dir, n)}`);
    if (r.unchanged.length > 0) this.print(`units: unchanged ${r.unchanged.join(', ')}`);
    if (r.enabled.length > 0) this.print(`units: enabled ${r.enabled.join(', ')}`);
    for (const d of r.disabled) this.print(`units: not enabled ${d}`);
    const live = units.systemdReads(dir);
    if (!live) {
      this.print(`units: systemd does not run ${dir} here; they start at the next boot of a host that uses this directory (or: systemctl daemon-reload && systemctl start ${r.enabled.join(' ')})`);
      return;
    }
    const { runChecked } = await import('@volt/sdk/kernel');
    await runChecked('reload systemd', 'systemctl', ['daemon-reload']);
    for (const n of r.enabled) {
      await runChecked(`start ${n}`, 'systemctl', ['start', n]);
      this.print(`units: started ${n}`);
    }
  }
}
