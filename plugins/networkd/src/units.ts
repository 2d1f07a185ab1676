import type { BridgeSpec } from '@volt/core/dist/drivers/bridge';

/**
 * The .netdev/.network pair behind one bridge. Pure: the same spec and
 * systemd version always give the same bytes, so "unchanged" is a string
 * comparison and a converged host is never reloaded.
 */
export interface UnitFile {
  /** File name inside the networkd unit directory. */
  name: string;
  content: string;
}

export interface BridgeUnits {
  netdev: UnitFile;
  network: UnitFile;
}

export interface UnitOptions {
  /** Major version of systemd-networkd (`networkctl --version`), e.g. 252. */
  systemdVersion: number;
}

/** Sorts before distribution defaults (e.g. 99-default.link/.network) and after admins' 0x overrides. */
const PRIORITY = '10';

export function bridgeUnitNames(ifname: string): { netdev: string; network: string } {
  const base = `${PRIORITY}-volt-${ifname}`;
  return { netdev: `${base}.netdev`, network: `${base}.network` };
}

/** First line of every unit volt writes: a person reading /etc/systemd/network knows whose it is. */
export function unitHeader(network: string): string {
  return `# Managed by volt — network "${network}". Changes are overwritten.`;
}

export function renderBridgeUnits(spec: BridgeSpec, opts: UnitOptions): BridgeUnits {
  const names = bridgeUnitNames(spec.ifname);
  const mac = spec.mac.toLowerCase();
  const netdev = render(spec.network, [
    // No MTUBytes= here: an MTU given at creation does not count as set by the user, and the
    // kernel then moves the bridge's MTU to its ports' minimum when one joins. The .network's
    // [Link] MTUBytes= changes it after creation, which pins it.
    ['NetDev', [['Name', spec.ifname], ['Kind', 'bridge'], ['MACAddress', mac]]],
    ['Bridge', [['STP', 'false'], ['ForwardDelaySec', '0']]],
  ]);
  const network = render(spec.network, [
    ['Match', [['Name', spec.ifname]]],
    // MAC here as well: networkd (v252) applies a changed .netdev only when it creates the
    // link, while a changed .network is applied to the live link on reload.
    // A bridge without ports never has carrier and must not hold up network-online.target.
    ['Link', [['MACAddress', mac], ['MTUBytes', String(spec.mtu)], ['RequiredForOnline', 'no']]],
    [
      'Network',
      [
        ['Address', spec.address],
        forwardingSetting(spec.address, opts.systemdVersion),
        // A bridge without ports has no carrier; configure it anyway.
        ['ConfigureWithoutCarrier', 'yes'],
        // No IPv6 link-local address: no DAD/MLD flooded to every port (ARCHITECTURE.md).
        ['LinkLocalAddressing', 'no'],
      ],
    ],
    // NAT (the spec's IPMasquerade=) is left to the firewall driver: networkd's own
    // masquerade table would compete with volt's nftables rules.
  ]);
  return { netdev: { name: names.netdev, content: netdev }, network: { name: names.network, content: network } };
}

/**
 * Forwarding for the gateway's family only. `IPForward=yes` would also turn on
 * net.ipv6.conf.all.forwarding for the whole host, which makes the kernel ignore
 * router advertisements on the uplink. systemd 256 replaced IPForward= with
 * IPv4Forwarding=/IPv6Forwarding=.
 */
function forwardingSetting(address: string, systemdVersion: number): [string, string] {
  const v6 = address.includes(':');
  if (systemdVersion >= 256) return [v6 ? 'IPv6Forwarding' : 'IPv4Forwarding', 'yes'];
  return ['IPForward', v6 ? 'ipv6' : 'ipv4'];
}

type Section = [name: string, settings: [key: string, value: string][]];

function render(network: string, sections: Section[]): string {
  const body = sections.map(([name, settings]) => [`[${name}]`, ...settings.map(([k, v]) => `${k}=${v}`)].join('\n'));
  return `${unitHeader(network)}\n${body.join('\n\n')}\n`;
}
