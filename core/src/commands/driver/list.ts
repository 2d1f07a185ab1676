import { VoltCommand, outputFlag } from '../../cli/base-command';
import { DRIVER_KINDS } from '@volt/sdk';
import type { DriverChoice } from '../../services/host/driver-registry';

interface Row {
  interface: string;
  name: string;
  active: boolean;
  available: boolean;
  reason: string;
  description: string;
}

export default class DriverList extends VoltCommand {
  static override summary = 'Show, per driver interface, every implementation, which one is active, and why.';
  static override description =
    'Selection: drivers.<interface> in config.yaml wins; otherwise the highest-preference driver whose probe succeeds; otherwise the fallback. vm-nic-accel (vhost-net) is used for NICs that ask for it; a guest-dhcp service made for one bridge driver is only chosen with it, and detection tries that one first.';
  static override examples = ['<%= config.bin %> driver list', '<%= config.bin %> driver list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(DriverList);
    const registry = await this.app.registry();
    const selections: { kind: string; active?: { name: string }; why: string; choices: DriverChoice[] }[] = await Promise.all(DRIVER_KINDS.map((k) => registry.select(k)));
    const rows: Row[] = selections.flatMap((s) =>
      s.choices.length === 0
        ? [{ interface: s.kind, name: '-', active: false, available: false, reason: s.why, description: '' }]
        : s.choices.map((c) => ({
            interface: s.kind,
            name: c.name,
            active: c.active,
            available: c.available,
            reason: c.active ? s.why : c.reason,
            description: c.description,
          })),
    );
    this.printList(
      flags.output,
      [
        { header: 'INTERFACE', get: (r: Row) => r.interface },
        { header: 'DRIVER', get: (r: Row) => r.name },
        { header: 'ACTIVE', get: (r: Row) => r.active },
        { header: 'AVAILABLE', get: (r: Row) => r.available },
        { header: 'WHY', get: (r: Row) => r.reason },
      ],
      rows,
      selections.map((s) => ({ interface: s.kind, active: s.active?.name ?? null, why: s.why, drivers: s.choices })),
    );
  }
}
