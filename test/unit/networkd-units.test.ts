import test from 'ava';
import type { BridgeSpec } from '@volt/sdk';
import { bridgeUnitNames, renderBridgeUnits, unitHeader } from '@volt/plugin-networkd/dist/index';

const spec: BridgeSpec = {
  network: 'backend',
  ifname: 'volt-backend',
  address: '10.30.0.1/24',
  mtu: 1450,
  mac: '02:00:5E:10:00:01',
};

test('unit names: 10-volt-<ifname>.netdev / .network', (t) => {
  t.deepEqual(bridgeUnitNames('volt-backend'), {
    netdev: '10-volt-volt-backend.netdev',
    network: '10-volt-volt-backend.network',
  });
});

test('the .netdev makes a bridge with its MAC, no STP, no forward delay; the MTU is set by the .network', (t) => {
  const { netdev } = renderBridgeUnits(spec, { systemdVersion: 252 });
  t.is(netdev.name, '10-volt-volt-backend.netdev');
  t.is(
    netdev.content,
    [
      '# Managed by volt — network "backend". Changes are overwritten.',
      '[NetDev]',
      'Name=volt-backend',
      'Kind=bridge',
      'MACAddress=02:00:5e:10:00:01',
      '',
      '[Bridge]',
      'STP=false',
      'ForwardDelaySec=0',
      '',
    ].join('\n'),
  );
  // Set at creation, the kernel would let the bridge follow its ports' MTU.
  t.notRegex(netdev.content, /MTUBytes/);
});

test('the .network (systemd 252) gives the address, IPv4 forwarding only, no link-local, no wait-online', (t) => {
  const { network } = renderBridgeUnits(spec, { systemdVersion: 252 });
  t.is(network.name, '10-volt-volt-backend.network');
  t.is(
    network.content,
    [
      '# Managed by volt — network "backend". Changes are overwritten.',
      '[Match]',
      'Name=volt-backend',
      '',
      '[Link]',
      'MACAddress=02:00:5e:10:00:01',
      'MTUBytes=1450',
      'RequiredForOnline=no',
      '',
      '[Network]',
      'Address=10.30.0.1/24',
      'IPForward=ipv4',
      'ConfigureWithoutCarrier=yes',
      'LinkLocalAddressing=no',
      '',
    ].join('\n'),
  );
});

test('no IPMasquerade: NAT belongs to the firewall driver', (t) => {
  const { network } = renderBridgeUnits(spec, { systemdVersion: 252 });
  t.notRegex(network.content, /IPMasquerade/);
});

const forwarding: [name: string, address: string, version: number, line: string][] = [
  ['IPv4 gateway, systemd 252', '10.30.0.1/24', 252, 'IPForward=ipv4'],
  ['IPv6 gateway, systemd 252', 'fd00:30::1/64', 252, 'IPForward=ipv6'],
  ['IPv4 gateway, systemd 255', '10.30.0.1/24', 255, 'IPForward=ipv4'],
  ['IPv4 gateway, systemd 256', '10.30.0.1/24', 256, 'IPv4Forwarding=yes'],
  ['IPv6 gateway, systemd 257', 'fd00:30::1/64', 257, 'IPv6Forwarding=yes'],
];
for (const [name, address, version, line] of forwarding) {
  test(`forwarding setting: ${name} → ${line}`, (t) => {
    const { network } = renderBridgeUnits({ ...spec, address }, { systemdVersion: version });
    const lines = network.content.split('\n');
    t.true(lines.includes(line), network.content);
    t.false(lines.includes('IPForward=yes'));
    t.true(lines.includes(`Address=${address}`));
  });
}

test('rendering is deterministic, so an unchanged spec never rewrites a file', (t) => {
  t.deepEqual(renderBridgeUnits(spec, { systemdVersion: 252 }), renderBridgeUnits({ ...spec }, { systemdVersion: 252 }));
});

test('every unit starts with the managed-by header naming the network', (t) => {
  const units = renderBridgeUnits({ ...spec, network: 'db' }, { systemdVersion: 252 });
  t.is(unitHeader('db'), '# Managed by volt — network "db". Changes are overwritten.');
  t.true(units.netdev.content.startsWith(`${unitHeader('db')}\n[NetDev]\n`));
  t.true(units.network.content.startsWith(`${unitHeader('db')}\n[Match]\n`));
});

test('dual-stack bridge: v6 gateway and EUI-64 link-local without DAD, RAs for the prefix, no RAs taken, forwarding for both', (t) => {
  const v6 = { ...spec, address6: 'fd00:30::1/64', linkLocal6: 'fe80::1/64', prefix6: 'fd00:30::/64' };
  const { network } = renderBridgeUnits(v6, { systemdVersion: 252 });
  for (const line of [
    'IPForward=yes',
    'LinkLocalAddressing=ipv6',
    'IPv6LinkLocalAddressGenerationMode=eui64',
    'IPv6AcceptRA=no',
    'IPv6SendRA=yes',
    '[Address]\nAddress=fd00:30::1/64\nDuplicateAddressDetection=none',
    '[Address]\nAddress=fe80::1/64\nDuplicateAddressDetection=none',
    '[IPv6Prefix]\nPrefix=fd00:30::/64\nAddressAutoconfiguration=yes',
  ]) {
    t.true(network.content.includes(line), line);
  }
  t.false(network.content.includes('LinkLocalAddressing=no'));
  const later = renderBridgeUnits(v6, { systemdVersion: 257 }).network.content;
  t.true(later.includes('IPv4Forwarding=yes\nIPv6Forwarding=yes'));
  // Not a /64: no SLAAC (guests need a static address); IPv4-only bridges are unchanged.
  t.true(renderBridgeUnits({ ...v6, address6: 'fd00:30::1/80', prefix6: 'fd00:30::/80' }, { systemdVersion: 252 }).network.content.includes('AddressAutoconfiguration=no'));
  t.false(renderBridgeUnits(spec, { systemdVersion: 252 }).network.content.includes('IPv6'));
});
