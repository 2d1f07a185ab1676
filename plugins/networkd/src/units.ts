import type { BridgeSpec } from '@volt/sdk';

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
        ...forwardingSettings(spec, opts.systemdVersion),
        // A bridge without ports has no carrier; configure it anyway.
        ['ConfigureWithoutCarrier', 'yes'],
        ...(spec.address6 === undefined
          ? // No IPv6 link-local address: no DAD/MLD flooded to every port (ARCHITECTURE.md).
            ([['LinkLocalAddressing', 'no']] as [string, string][])
          : ipv6NetworkSettings()),
      ],
    ],
    ...ipv6Sections(spec),
    // NAT (the spec's IPMasquerade=) is left to the firewall driver: networkd's own
    // masquerade table would compete with volt's nftables rules.
  ]);
  return { netdev: { name: names.netdev, content: netdev }, network: { name: names.network, content: network } };
}

/**
 * Forwarding for the families the network has. An IPv4-only network does not turn on
 * net.ipv6.conf.all.forwarding for the whole host, which makes the kernel ignore router
 * advertisements on the uplink; a dual-stack one must (docs/ipv6.md). systemd 256 replaced
 * IPForward= with IPv4Forwarding=/IPv6Forwarding=.
 */
function forwardingSettings(spec: BridgeSpec, systemdVersion: number): [string, string][] {
  const v4 = !spec.address.includes(':');
  const v6 = spec.address6 !== undefined || !v4;
  if (systemdVersion >= 256) {
    return [...(v4 ? ([['IPv4Forwarding', 'yes']] as [string, string][]) : []), ...(v6 ? ([['IPv6Forwarding', 'yes']] as [string, string][]) : [])];
  }
  return [['IPForward', v4 && v6 ? 'yes' : v6 ? 'ipv6' : 'ipv4']];
}

/**
 * A dual-stack bridge: a link-local address (router advertisements are sent from one) made
 * from the bridge's stable MAC by EUI-64, so it never changes and no random address appears;
 * it takes no router advertisements itself and sends its own for the prefix. The kernel makes
 * the link-local only once the bridge has carrier (a port that is up); the same address is
 * therefore also configured statically (ipv6Sections), so RAs and the gateway work at once.
 */
function ipv6NetworkSettings(): [string, string][] {
  return [
    ['LinkLocalAddressing', 'ipv6'],
    ['IPv6LinkLocalAddressGenerationMode', 'eui64'],
    ['IPv6AcceptRA', 'no'],
    ['IPv6SendRA', 'yes'],
  ];
}

/** The IPv6 gateway without DAD (usable at once) and the router advertisement of the prefix (autonomous on a /64: SLAAC). */
function ipv6Sections(spec: BridgeSpec): Section[] {
  if (spec.address6 === undefined) return [];
  const slaac = spec.prefix6 !== undefined && spec.prefix6.endsWith('/64');
  const gateway = spec.address6.split('/')[0]!;
  return [
    ['Address', [['Address', spec.address6], ['DuplicateAddressDetection', 'none']]],
    ...(spec.linkLocal6 === undefined ? [] : ([['Address', [['Address', spec.linkLocal6], ['DuplicateAddressDetection', 'none']]]] as Section[])),
    ['IPv6SendRA', [['EmitDNS', 'yes'], ['DNS', gateway], ['EmitDomains', 'no']]],
    ...(spec.prefix6 === undefined ? [] : ([['IPv6Prefix', [['Prefix', spec.prefix6], ['AddressAutoconfiguration', slaac ? 'yes' : 'no']]]] as Section[])),
  ];
}

type Section = [name: string, settings: [key: string, value: string][]];

function render(network: string, sections: Section[]): string {
  const body = sections.map(([name, settings]) => [`[${name}]`, ...settings.map(([k, v]) => `${k}=${v}`)].join('\n'));
  return `${unitHeader(network)}\n${body.join('\n\n')}\n`;
}

/** What a VM NIC's TAP units need (a subset of core's VmNicSpec). */
export interface TapUnitSpec {
  vm: string;
  vmUuid: string;
  nicId: string;
  ifname: string;
  bridge?: string;
  mtu: number;
}

/** Per-VM TAP units in the runtime directory, named after the VM's UUID as the design's template. */
export function tapUnitNames(vmUuid: string, nicId: string): { netdev: string; network: string } {
  const base = `50-vm-${vmUuid}-${nicId}`;
  return { netdev: `${base}.netdev`, network: `${base}.network` };
}

/** The design's per-VM TAP template: multi-queue, vnet_hdr TAP owned by root, joined to the network's bridge. */
export function renderTapUnits(spec: TapUnitSpec): BridgeUnits {
  const names = tapUnitNames(spec.vmUuid, spec.nicId);
  const header = `# Managed by volt — VM "${spec.vm}" NIC ${spec.nicId}. Removed when the VM stops.`;
  const netdev = renderWithHeader(header, [
    ['NetDev', [['Name', spec.ifname], ['Kind', 'tap']]],
    // MultiQueue always: the flags of an existing TAP must match those volt opens it with,
    // and one flag set serves any queue count.
    ['Tap', [['User', 'root'], ['Group', 'root'], ['VNetHeader', 'true'], ['MultiQueue', 'true'], ['PacketInfo', 'false']]],
  ]);
  const network = renderWithHeader(header, [
    ['Match', [['Name', spec.ifname]]],
    ['Link', [['MTUBytes', String(spec.mtu)], ['RequiredForOnline', 'no']]],
    [
      'Network',
      [
        ...(spec.bridge === undefined ? [] : ([['Bridge', spec.bridge]] as [string, string][])),
        // The TAP has no carrier until QEMU attaches; plug it in anyway.
        ['ConfigureWithoutCarrier', 'yes'],
        ['LinkLocalAddressing', 'no'],
      ],
    ],
  ]);
  return { netdev: { name: names.netdev, content: netdev }, network: { name: names.network, content: network } };
}

/** What the DHCP drop-in needs (a subset of core's GuestDhcpSpec). */
export interface DhcpDropinSpec {
  network: string;
  bridge: string;
  gateway: string;
  leases: { mac: string; ip: string }[];
}

/**
 * networkd's DHCP server for a bridge, as a drop-in for the bridge's .network
 * (`10-volt-<bridge>.network.d/50-volt-dhcp.conf` in the runtime directory):
 * the bridge unit stays the bridge driver's, the leases follow connect/disconnect.
 * PoolSize=0: only the static leases are handed out, so the server never
 * gives away an address IPAM did not reserve.
 */
export function dhcpDropinNames(bridge: string): { dir: string; file: string } {
  return { dir: `${bridgeUnitNames(bridge).network}.d`, file: '50-volt-dhcp.conf' };
}

export function renderDhcpDropin(spec: DhcpDropinSpec): string {
  const sections: Section[] = [
    ['Network', [['DHCPServer', 'yes']]],
    [
      'DHCPServer',
      [
        ['PoolOffset', '0'],
        ['PoolSize', '0'],
        ['EmitRouter', 'yes'],
        ['EmitDNS', 'yes'],
        ['DNS', spec.gateway],
        ['EmitNTP', 'no'],
        ['EmitSIP', 'no'],
        ['EmitTimezone', 'no'],
      ],
    ],
    ...spec.leases.map((l): Section => ['DHCPServerStaticLease', [['MACAddress', l.mac.toLowerCase()], ['Address', l.ip]]]),
  ];
  return renderWithHeader(`${unitHeader(spec.network)} DHCP for VM guests.`, sections);
}

function renderWithHeader(header: string, sections: Section[]): string {
  const body = sections.map(([name, settings]) => [`[${name}]`, ...settings.map(([k, v]) => `${k}=${v}`)].join('\n'));
  return `${header}\n${body.join('\n\n')}\n`;
}
