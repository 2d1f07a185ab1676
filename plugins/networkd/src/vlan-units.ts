import type { VlanSpec } from '@volt/sdk';
import { unitHeader, type UnitFile } from './units';

/**
 * The units behind one VLAN. networkd makes a VLAN only as a "stacked" netdev of
 * its parent: the .netdev says what it is, the parent's .network must name it
 * (`VLAN=`), and the VLAN's own .network says what to do with it (be a port of
 * the bridge). volt never writes a .network for the parent (that would take the
 * operator's link over); it adds a drop-in to the parent's existing one.
 * Pure: the same input always gives the same bytes.
 */
export interface VlanUnits {
  netdev: UnitFile;
  network: UnitFile;
  /** Relative to the unit directory: "<parent's .network>.d/50-volt-vlan-<ifname>.conf". */
  dropin: UnitFile;
}

/** Same priority and pattern as the bridge units: a person reading the directory sees whose they are. */
export function vlanUnitNames(ifname: string): { netdev: string; network: string } {
  const base = `10-volt-vlan-${ifname}`;
  return { netdev: `${base}.netdev`, network: `${base}.network` };
}

export function vlanDropinFile(ifname: string): string {
  return `50-volt-vlan-${ifname}.conf`;
}

/** `parentNetwork`: the file name (basename) of the .network networkd applies to the parent. */
export function renderVlanUnits(spec: VlanSpec, parentNetwork: string): VlanUnits {
  const names = vlanUnitNames(spec.ifname);
  const header =
    spec.network === undefined
      ? `# Managed by volt — VLAN ${spec.id} on ${spec.parent}, on no network. Changes are overwritten.`
      : `${unitHeader(spec.network)} VLAN ${spec.id} on ${spec.parent}, uplink of the bridge.`;
  const netdev = render(header, [
    ['NetDev', [['Name', spec.ifname], ['Kind', 'vlan']]],
    ['VLAN', [['Id', String(spec.id)]]],
  ]);
  const network = render(header, [
    ['Match', [['Name', spec.ifname]]],
    ['Link', [['RequiredForOnline', 'no']]],
    [
      'Network',
      [
        ...(spec.bridge === undefined ? [] : ([['Bridge', spec.bridge]] as [string, string][])),
        // An L2 uplink: no addresses, no IPv6 link-local, up even before the parent has carrier.
        ['LinkLocalAddressing', 'no'],
        ['ConfigureWithoutCarrier', 'yes'],
      ],
    ],
  ]);
  const dropin = render(`# Managed by volt — adds VLAN ${spec.ifname} (id ${spec.id}) to ${parentNetwork}. Removed with the VLAN.`, [
    ['Network', [['VLAN', spec.ifname]]],
  ]);
  return {
    netdev: { name: names.netdev, content: netdev },
    network: { name: names.network, content: network },
    dropin: { name: `${parentNetwork}.d/${vlanDropinFile(spec.ifname)}`, content: dropin },
  };
}

type Section = [name: string, settings: [key: string, value: string][]];

function render(header: string, sections: Section[]): string {
  const body = sections.map(([name, settings]) => [`[${name}]`, ...settings.map(([k, v]) => `${k}=${v}`)].join('\n'));
  return `${header}\n${body.join('\n\n')}\n`;
}
