import test from 'ava';
import { dhcpSpec, networksWithLeases } from '@volt/core/dist/services/vm/dhcp-leases';
import { emptyState, type VoltState } from '@volt/core/dist/state/types';
import { renderDnsmasqConf } from '@volt/plugin-direct';

function state(): VoltState {
  const s = emptyState();
  s.networks.backend = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1400, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: '' };
  const att = (workload: string, ip: string, mac: string, kind: 'tap' | 'veth') => ({ workload, network: 'backend', ip, mac, kind, ifname: 'eth0', hostIfname: 'x', createdAt: '' });
  s.attachments.push(att('db-primary', '10.30.0.2', '52:54:00:00:00:02', 'tap'), att('api', '10.30.0.100', '02:00:00:00:00:64', 'veth'), att('cache', '10.30.0.3', '52:54:00:00:00:01', 'tap'));
  return s;
}

test('leases: one per VM NIC on the network (containers need none), gateway as router and DNS', (t) => {
  t.deepEqual(dhcpSpec(state(), 'backend'), {
    network: 'backend',
    bridge: 'volt-backend',
    subnet: '10.30.0.0/24',
    gateway: '10.30.0.1',
    mtu: 1400,
    leases: [
      { mac: '52:54:00:00:00:01', ip: '10.30.0.3', hostname: 'cache' },
      { mac: '52:54:00:00:00:02', ip: '10.30.0.2', hostname: 'db-primary' },
    ],
  });
  t.deepEqual(networksWithLeases(state()), ['backend']);
  t.is(dhcpSpec(state(), 'nope'), undefined);
});

test('dnsmasq: DHCP only, static leases only, bound to the bridge, files under its run dir', (t) => {
  const conf = renderDnsmasqConf(dhcpSpec(state(), 'backend')!, '/run/volt/dhcp/volt-backend');
  t.is(
    conf,
    [
      '# Managed by volt — network "backend". Changes are overwritten.',
      'port=0',
      'interface=volt-backend',
      'bind-interfaces',
      'except-interface=lo',
      'dhcp-range=10.30.0.0,static,255.255.255.0',
      'dhcp-option=option:router,10.30.0.1',
      'dhcp-option=option:dns-server,10.30.0.1',
      'dhcp-option=option:mtu,1400',
      'dhcp-authoritative',
      'dhcp-leasefile=/run/volt/dhcp/volt-backend/leases',
      'pid-file=/run/volt/dhcp/volt-backend/dnsmasq.pid',
      'log-facility=/run/volt/dhcp/volt-backend/dnsmasq.log',
      'dhcp-host=52:54:00:00:00:01,10.30.0.3,cache',
      'dhcp-host=52:54:00:00:00:02,10.30.0.2,db-primary',
      '',
    ].join('\n'),
  );
  const odd = renderDnsmasqConf({ ...dhcpSpec(state(), 'backend')!, leases: [{ mac: '52:54:00:00:00:09', ip: '10.30.0.9', hostname: '_under.score' }] }, '/d');
  t.regex(odd, /dhcp-host=52:54:00:00:00:09,10\.30\.0\.9,under-score\n/, 'host names are made DNS-safe');
});
