import test from 'ava';
import { defaultConfig } from '@volt/core/dist/config/defaults';
import { networkRecords } from '@volt/core/dist/services/dns/dns-records';
import { emptyState, type NetworkRecord } from '@volt/core/dist/state/types';

const net: NetworkRecord = { name: 'shop_frontend', bridge: 'vc-0', subnet: '10.20.0.0/24', gateway: '10.20.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: '' };

test('attachment aliases (Compose service names and aliases:) answer A queries on their network; the PTR keeps the workload name', (t) => {
  const s = emptyState();
  s.networks[net.name] = net;
  s.workloads['shop-web-1'] = { type: 'container', name: 'shop-web-1', source: { kind: 'netns', name: 'x' }, registered: true, createdAt: '' };
  s.attachments.push({ workload: 'shop-web-1', network: net.name, ip: '10.20.0.10', mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh', aliases: ['web', 'www'], createdAt: '' });
  const records = networkRecords(s, net, defaultConfig().network.dns.search_domains).map((r) => `${r.name} ${r.type} ${r.value}`);
  t.deepEqual(records, [
    'shop-web-1 A 10.20.0.10',
    'shop-web-1.volt.local A 10.20.0.10',
    'web A 10.20.0.10',
    'web.volt.local A 10.20.0.10',
    'www A 10.20.0.10',
    'www.volt.local A 10.20.0.10',
    '10.0.20.10.in-addr.arpa PTR shop-web-1.volt.local',
  ]);
});
