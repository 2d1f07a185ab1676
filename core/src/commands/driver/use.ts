import * as fs from 'node:fs';
import * as path from 'node:path';
import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { DRIVER_KINDS, DriverError, UserInputError, type DriverKind } from '@volt/sdk';
import { parseConfig } from '../../config/load';
import { probeDriver } from '../../services/host/driver-registry';

interface Row {
  interface: string;
  name: string;
  available: boolean;
  configured: boolean;
  reason: string;
}

/**
 * `volt driver use KIND NAME`: pin a driver in config.yaml (`drivers.<KIND>: NAME`), the same as
 * editing the file by hand, after checking that an installed plugin provides it and that its
 * probe succeeds. Without NAME: the drivers of that interface, which one is pinned.
 */
export default class DriverUse extends VoltCommand {
  static override summary = 'Pin the driver of an interface in config.yaml (drivers.<interface>), or list the candidates.';
  static override description =
    'Writes drivers.<interface>: NAME into config.yaml (comments and other keys are kept), after checking that an installed plugin provides NAME and that its probe succeeds; on any error nothing is changed. Without NAME it lists the installed drivers of that interface. Changing the bridge driver does not move existing networks: delete and re-create them, or run `volt net up` on a host without any.';
  static override examples = ['<%= config.bin %> driver use bridge ovs', '<%= config.bin %> driver use bridge', '<%= config.bin %> driver use bridge -o json'];
  static override args = {
    interface: Args.string({ description: 'Driver interface.', required: true, options: [...DRIVER_KINDS] }),
    name: Args.string({ description: 'Driver name (as `volt driver list` shows it).' }),
  };
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DriverUse);
    const kind = args.interface as DriverKind;
    const registry = await this.app.registry();
    const drivers = registry.candidates(kind);
    const file = this.app.paths.configFile;
    const configured = this.app.config.drivers[kind];

    if (args.name === undefined) {
      const probes = await Promise.all(drivers.map(probeDriver));
      const rows: Row[] = drivers.map((d, i) => ({ interface: kind, name: d.name, available: probes[i]!.ok, configured: d.name === configured, reason: probes[i]!.reason }));
      this.printList(
        flags.output,
        [
          { header: 'INTERFACE', get: (r: Row) => r.interface },
          { header: 'DRIVER', get: (r: Row) => r.name },
          { header: 'CONFIGURED', get: (r: Row) => r.configured },
          { header: 'AVAILABLE', get: (r: Row) => r.available },
          { header: 'WHY', get: (r: Row) => r.reason },
        ],
        rows,
      );
      return;
    }

    const what = `use ${kind} driver "${args.name}"`;
    const driver = drivers.find((d) => d.name === args.name);
    if (!driver) {
      throw new UserInputError(`${what}: no installed plugin provides it; installed ${kind} drivers: ${drivers.map((d) => d.name).join(', ') || 'none'}`, {
        code: 'E_DRIVER_UNKNOWN',
        suggestions: [
          ...registry.refused.map((r) => `plugin ${r.plugin} was not loaded: ${r.reason}; ${r.fix}`),
          'install the plugin that provides it: volt plugins install file:/path/to/plugin.tgz (or a package name)',
        ],
      });
    }
    const probe = await probeDriver(driver);
    if (!probe.ok) {
      throw new DriverError(`${what}: it is installed but not available here: ${probe.reason}`, {
        code: 'E_NO_DRIVER',
        suggestions: [`fix what its probe reports, then run this again (volt driver list shows every ${kind} driver)`],
      });
    }

    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserInputError(`${what}: read ${file}: ${(e as Error).message}`, { code: 'E_CONFIG_READ' });
    }
    // The file as it is must be valid (its errors are reported as `config validate` would); then one key changes.
    parseConfig(text, file);
    const { parseDocument } = await import('yaml');
    let next: string;
    if (text.trim() === '') {
      next = `${text}drivers:\n  ${kind}: ${args.name}\n`;
    } else {
      const doc = parseDocument(text);
      doc.setIn(['drivers', kind], args.name);
      next = doc.toString();
    }
    parseConfig(next, file);
    const previous = configured;
    if (previous !== args.name) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, next);
      fs.renameSync(tmp, file);
    }
    const data = { interface: kind, driver: args.name, previous: previous ?? null, configFile: file, changed: previous !== args.name };
    if (flags.output === 'table') {
      this.print(
        previous === args.name
          ? `drivers.${kind} is already ${args.name} (${file})`
          : `drivers.${kind}: ${args.name} (was ${previous ?? 'not set: detected'}) in ${file}`,
      );
    } else {
      this.printList(flags.output, [], [data], data);
    }
  }
}
