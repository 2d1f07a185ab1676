import * as fs from 'node:fs';
import * as path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { DRIVER_KINDS, UserInputError } from '@volt/sdk';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { REGISTER_DRIVERS_HOOK } from '../../services/host/plugin-compat';

export default class DriverTest extends VoltCommand {
  static override summary = "Run a contract's conformance suite against an installed driver, in a sandbox network namespace.";
  static override description =
    'The kit (@volt/sdk/testing) makes a network namespace of its own, runs the driver inside it and checks the behaviour every driver of the contract must have: idempotent set-up and tear-down, absent-is-success on delete, rollback after a failure mid-way, drift reported and repaired, bad input refused with nothing changed. One line per case; exit 1 if any case fails. The root namespace is never touched: --sandbox current (for drivers that need a service running in the namespace, such as systemd-networkd) is refused there.';
  static override examples = [
    '<%= config.bin %> driver test bridge direct',
    '<%= config.bin %> driver test firewall nftables -o json',
    'ip netns exec lab <%= config.bin %> driver test bridge networkd --sandbox current',
  ];
  static override args = {
    kind: Args.string({ description: 'The contract: bridge, firewall, dns, vm-nic or guest-dhcp.', required: true }),
    name: Args.string({ description: 'The driver, as `volt driver list` names it.', required: true }),
  };
  static override flags = {
    output: outputFlag(['table', 'json']),
    sandbox: Flags.option({ description: 'fresh: a namespace of the kit\'s own; current: the namespace volt runs in (never the root one).', options: ['fresh', 'current'] as const, default: 'fresh' })(),
    case: Flags.string({ description: 'Only the cases whose name contains this text (repeatable).', multiple: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DriverTest);
    const { runConformance, formatCase, CONFORMANCE_KINDS } = await import('@volt/sdk/testing');
    const kinds: readonly string[] = CONFORMANCE_KINDS;
    if (!kinds.includes(args.kind)) {
      const known = (DRIVER_KINDS as readonly string[]).includes(args.kind);
      throw new UserInputError(
        known
          ? `test ${args.kind} driver ${args.name}: the kit has no behaviour suite for ${args.kind} yet; it has: ${kinds.join(', ')}`
          : `test driver: "${args.kind}" is not a driver interface; the kit has suites for: ${kinds.join(', ')}`,
        { code: 'E_KIT_KIND', suggestions: ['run `volt driver list` to see the interfaces and their drivers'] },
      );
    }
    const registry = await this.app.registry();
    const kind = args.kind as (typeof CONFORMANCE_KINDS)[number];
    const names = registry.candidates(kind).map((d) => d.name);
    if (!names.includes(args.name)) {
      throw new UserInputError(`test ${kind} driver: no installed plugin provides a ${kind} driver named "${args.name}"; installed: ${names.join(', ') || 'none'}`, {
        code: 'E_KIT_DRIVER',
        suggestions: [
          ...registry.refused.map((r) => `plugin ${r.plugin} was not loaded: ${r.reason}; ${r.fix}`),
          'install the plugin first (`volt plugins install <package>` or `volt plugins link <dir>`), then see `volt driver list`',
        ],
      });
    }
    // The hooks of every plugin that was loaded (a refused plugin's hooks were taken out): the
    // kit runs them again inside the sandbox, as volt runs them, and takes the driver by name.
    const hooks: string[] = [];
    for (const p of this.config.plugins.values()) {
      for (const h of p.hooks[REGISTER_DRIVERS_HOOK] ?? []) {
        const target = typeof h === 'string' ? h : h.target;
        const base = path.resolve(p.root, target);
        const file = [base, `${base}.js`, path.join(base, 'index.js')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
        if (file) hooks.push(file);
        else this.app.host.warn(`plugin ${p.name}: hook ${target} not found under ${p.root}`);
      }
    }
    const json = flags.output === 'json';
    const result = await runConformance({
      kind,
      driver: { name: args.name, hook: hooks },
      sandbox: { mode: flags.sandbox },
      only: flags.case,
      onCase: json ? undefined : (c) => this.print(formatCase(c)),
    });
    if (json) this.print(JSON.stringify(result, null, 2));
    else this.print(`${result.kind} ${result.driver}: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped${result.ok ? '' : ' — does not conform'}`);
    if (!result.ok) this.exit(1);
  }
}
