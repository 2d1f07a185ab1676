import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig } from '@volt/core/dist/config/defaults';
import { voltPaths } from '@volt/sdk';
import { planDns, reverseName6 } from '@volt/core/dist/services/dns/dns-records';
import { nameserversOf, resolvConfPath, syncResolvConf } from '@volt/core/dist/services/dns/dns-resolvconf';
import { resolveRoutes, resolveTarget } from '@volt/core/dist/services/ingress/ingress-routes';
import { emptyState, type IngressRouteRecord, type NetworkRecord, type VoltState } from '@volt/core/dist/state/types';

/* The core side of dual-stack DNS and ingress: records, listeners, resolv.conf, backend addresses. */

function net(name: string, third: number, v6 = true): NetworkRecord {
  return {
    name,
    bridge: `volt-${name}`,
    subnet: `10.${third}.0.0/24`,
    gateway: `10.${third}.0.1`,
    ...(v6 ? { subnet6: `fd00:${third}::/64`, gateway6: `fd00:${third}::1` } : {}),
    mtu: 1500,
    nat: true,
    mac: '02:00:00:00:00:01',
    isDefault: false,
    createdAt: '',
  };
}

function state(): VoltState {
  const s = emptyState();
  s.networks.backend = net('backend', 30);
  s.networks.legacy = net('legacy', 40, false);
  s.networks.other = net('other', 50);
  for (const w of ['api-server', 'db', 'six']) s.workloads[w] = { type: 'container', name: w, source: { kind: 'netns', name: w }, registered: false, createdAt: '' };
  const att = (workload: string, network: string, ip: string, ip6?: string, aliases?: string[]): void => {
    s.attachments.push({ workload, network, ip, ...(ip6 ? { ip6 } : {}), ...(aliases ? { aliases } : {}), mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh', createdAt: '' });
  };
  att('api-server', 'backend', '10.30.0.100', 'fd00:30::a', ['web']);
  att('api-server', 'legacy', '10.40.0.100');
  att('db', 'backend', '10.30.0.10');
  att('six', 'other', '', 'fd00:50::63');
  return s;
}

test('reverseName6: 32 nibbles, least significant first', (t) => {
  t.is(reverseName6('fd00:30::a'), `a.${'0.'.repeat(24)}3.0.0.0.0.d.f.ip6.arpa`);
  t.is(reverseName6('2001:db8::567:89ab'), 'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.is(reverseName6('10.0.0.1'), undefined);
});

test('AAAA and ip6.arpa PTR beside A and in-addr.arpa PTR, aliases included; v4-only and v6-only workloads', (t) => {
  const plan = planDns(state(), defaultConfig());
  const backend = plan.views.find((v) => v.network === 'backend')!;
  t.is(backend.subnet6, 'fd00:30::/64');
  const of = (type: string): string[] => backend.records.filter((r) => r.type === type).map((r) => `${r.name}=${r.value}`);
  t.deepEqual(of('AAAA'), ['api-server=fd00:30::a', 'api-server.volt.local=fd00:30::a', 'web=fd00:30::a', 'web.volt.local=fd00:30::a']);
  t.true(of('A').includes('db=10.30.0.10'));
  t.false(of('AAAA').some((r) => r.startsWith('db')), 'db has no v6 address: no AAAA (volt-dns answers NODATA)');
  t.deepEqual(
    backend.records.filter((r) => r.type === 'PTR').map((r) => r.value),
    ['api-server.volt.local', 'api-server.volt.local', 'db.volt.local'],
  );
  t.true(backend.records.some((r) => r.type === 'PTR' && r.name === reverseName6('fd00:30::a')));
  // Per network: the legacy network has no v6 at all, and no subnet6.
  const legacy = plan.views.find((v) => v.network === 'legacy')!;
  t.is(legacy.subnet6, undefined);
  t.deepEqual(legacy.records.filter((r) => r.type === 'AAAA'), []);
  // A v6-only attachment: AAAA and its PTR, no A.
  const other = plan.views.find((v) => v.network === 'other')!;
  t.deepEqual(other.records.map((r) => r.type), ['AAAA', 'AAAA', 'PTR']);
});

test('listeners: both gateways of a dual-stack network, each with its own family\'s subnet', (t) => {
  const plan = planDns(state(), defaultConfig(), 5353);
  t.deepEqual(
    plan.listeners.map((l) => `${l.network} ${l.address} ${l.subnet} ${l.port}`),
    [
      'backend 10.30.0.1 10.30.0.0/24 5353',
      'backend fd00:30::1 fd00:30::/64 5353',
      'legacy 10.40.0.1 10.40.0.0/24 5353',
      'other 10.50.0.1 10.50.0.0/24 5353',
      'other fd00:50::1 fd00:50::/64 5353',
    ],
  );
});

test('resolv.conf: v4 gateways first, then the v6 gateways of networks where the container has a v6 address', (t) => {
  const s = state();
  t.deepEqual(nameserversOf(s, 'api-server'), ['10.30.0.1', '10.40.0.1', 'fd00:30::1']);
  t.deepEqual(nameserversOf(s, 'db'), ['10.30.0.1'], 'no v6 address on backend: no v6 nameserver');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-rc6-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  syncResolvConf(s, 'api-server', defaultConfig(), () => undefined, paths);
  const text = fs.readFileSync(resolvConfPath(paths, 'api-server'), 'utf8');
  t.deepEqual(text.split('\n').filter((l) => l.startsWith('nameserver')), ['nameserver 10.30.0.1', 'nameserver 10.40.0.1', 'nameserver fd00:30::1']);
});

function route(p: Partial<IngressRouteRecord> & { name: string }): IngressRouteRecord {
  return { hostname: 'app.example.com', path: '/', backends: [{ target: 'api-server', port: 8080 }], tls: 'none', timeoutSeconds: 30, stripPath: false, createdAt: 'x', ...p };
}

test('ingress backends by workload name: IPv4 by default, IPv6 with --family 6 or when the workload has only IPv6', (t) => {
  const s = state();
  t.is(resolveTarget(s, 'api-server'), '10.30.0.100', 'both families: IPv4 by default');
  t.is(resolveTarget(s, 'api-server', 6), 'fd00:30::a');
  t.is(resolveTarget(s, 'api-server', 4), '10.30.0.100');
  t.is(resolveTarget(s, 'six'), 'fd00:50::63', 'v6 only: IPv6 without being asked');
  t.is(resolveTarget(s, 'six', 4), undefined);
  t.is(resolveTarget(s, 'db', 6), undefined);
  t.is(resolveTarget(s, 'fd00::7', 4), 'fd00::7', 'a literal is what it is');
  s.ingress.routes = {
    v6: route({ name: 'v6', family: 6, backends: [{ target: 'api-server', port: 8080 }, { target: 'db', port: 80 }] }),
    auto: route({ name: 'auto', hostname: 'six.example.com', backends: [{ target: 'six', port: 80 }] }),
  };
  const { routes, problems } = resolveRoutes(s, () => '');
  t.deepEqual(routes.find((r) => r.name === 'v6')!.backends.map((b) => b.address), ['fd00:30::a', undefined]);
  t.deepEqual(routes.find((r) => r.name === 'auto')!.backends.map((b) => b.address), ['fd00:50::63']);
  t.deepEqual(problems, ['route "v6": backend workload "db" has no IPv6 address (--family 6; 502 until it has one)']);
});
