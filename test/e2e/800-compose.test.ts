import test from 'ava';
import * as path from 'node:path';
import { SandboxHost, ping, UPLINK } from '../harness';
import { bridgeInfo, snapshot } from './kernel-snapshot';
import { dig, dnsConfig, serve } from './500-dns-lib';

/*
 * `volt net compose` end to end on the fixtures in test/fixtures/compose: the
 * guide's example becomes two labelled networks, the services' containers
 * (made by the harness and registered under Compose's container names) are
 * connected with their ipv4_address, volt-dns answers for service names and
 * aliases, a second up is a no-op, down refuses with workloads attached and
 * --force removes exactly the project's networks.
 */

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/compose');
const GUIDE = path.join(FIXTURES, 'guide.yaml');

interface NetJson {
  name: string;
  bridge: string;
  subnet: string;
  mtu: number;
  nat: boolean;
  labels?: Record<string, string>;
}
interface PsJson {
  project: string;
  networks: { name: string; exists: boolean }[];
  services: { service: string; network: string; container?: string; ip?: string; aliases: string[] }[];
}

test("compose up/down on the guide's example: networks, addresses, DNS aliases, idempotence, refusal and --force", async (t) => {
  const host = await SandboxHost.create(t, { config: dnsConfig([UPLINK.internetAddress]) });
  // A network of no project, which down must leave alone.
  await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.40.0.0/24']);
  const web = await host.addContainer('web');
  const api = await host.addContainer('api');
  const db = await host.addContainer('db');
  // Compose's container names (PROJECT-SERVICE-1, PROJECT_SERVICE_1) and the bare service name.
  await host.voltOk(['container', 'register', 'shop-web-1', '--netns', `/run/netns/${web.netns}`]);
  await host.voltOk(['container', 'register', 'shop_api_1', '--netns', `/run/netns/${api.netns}`]);
  await host.voltOk(['container', 'register', 'db', '--netns', `/run/netns/${db.netns}`]);

  const up = await host.voltOk(['net', 'compose', 'up', '-f', GUIDE, '-p', 'shop']);
  t.regex(up.stdout, /create network shop_frontend \(10\.20\.0\.0\/24, bridge vc-[0-9a-f]{12}, MTU 9000\)/);
  t.regex(up.stdout, /create network shop_backend \(10\.30\.0\.0\/24, bridge vc-[0-9a-f]{12}, MTU 1500, internal\)/);
  t.regex(up.stderr, /service worker: no container found/, 'a service without a container is reported, not an error');

  const nets = await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json']);
  const front = nets.find((n) => n.name === 'shop_frontend')!;
  const back = nets.find((n) => n.name === 'shop_backend')!;
  t.like(front, { subnet: '10.20.0.0/24', mtu: 9000, nat: true });
  t.like(back, { subnet: '10.30.0.0/24', nat: false });
  t.is(front.labels?.['com.docker.compose.project'], 'shop');
  t.is((await bridgeInfo(host, front.bridge))?.mtu, 9000, 'the kernel bridge has the MTU of options.mtu');
  t.truthy(await bridgeInfo(host, back.bridge));

  // ipv4_address, inside the container.
  const webAddr = await web.execJson<{ addr_info: { local: string }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
  t.true(webAddr[0]!.addr_info.some((a) => a.local === '10.20.0.10'));
  const ps = await host.voltJson<PsJson>(['net', 'compose', 'ps', '-f', GUIDE, '-p', 'shop', '-o', 'json']);
  const row = (s: string, n: string): PsJson['services'][number] => ps.services.find((x) => x.service === s && x.network === n)!;
  t.like(row('web', 'shop_frontend'), { container: 'shop-web-1', ip: '10.20.0.10' });
  t.is(row('api', 'shop_backend').container, 'shop_api_1');
  t.is(row('worker', 'shop_backend').container, undefined);
  const apiBackIp = row('api', 'shop_backend').ip!;
  t.regex(apiBackIp, /^10\.30\.0\./);

  // internal: true means no NAT: the internal network's container cannot go out; the frontend one can.
  t.true(await ping(web, UPLINK.internetAddress), 'frontend has NAT');
  t.false(await ping(db, UPLINK.internetAddress, { timeoutS: 1 }), 'backend (internal) has no outbound');

  // Service names and aliases through volt-dns, per network.
  const dns = await serve(host);
  t.teardown(() => dns.stop());
  t.deepEqual((await dig(api, '10.20.0.1', ['www'])).answers.map((a) => a.value), ['10.20.0.10'], 'alias www');
  t.deepEqual((await dig(api, '10.20.0.1', ['web'])).answers.map((a) => a.value), ['10.20.0.10'], 'service name');
  t.deepEqual((await dig(db, '10.30.0.1', ['api-internal'])).answers.map((a) => a.value), [apiBackIp], 'alias on backend');
  t.deepEqual((await dig(db, '10.30.0.1', ['api'])).answers.map((a) => a.value), [apiBackIp]);
  t.is((await dig(db, '10.30.0.1', ['www'])).status, 'NXDOMAIN', 'frontend aliases are not visible on backend');

  // Up twice: nothing changes, and it says so.
  const before = await snapshot(host);
  const again = await host.voltOk(['net', 'compose', 'up', '-f', GUIDE, '-p', 'shop']);
  t.regex(again.stdout, /nothing to do/);
  t.deepEqual(await snapshot(host), before);

  // Broken files: file:line:col, non-zero exit, nothing changed.
  for (const [file, where] of [
    ['bad-yaml.yaml', /bad-yaml\.yaml:8:\d+: invalid YAML/],
    ['bad-subnet.yaml', /bad-subnet\.yaml:10:19: networks\.frontend\.subnet: 10\.20\.0\.7\/24 has host bits set/],
    ['unknown-external.yaml', /unknown-external\.yaml:9:3: networks\.shared: external network "no-such-net" does not exist/],
  ] as const) {
    const r = await host.volt(['net', 'compose', 'up', '-f', path.join(FIXTURES, file), '-p', 'broken']);
    t.not(r.code, 0, file);
    t.regex(r.stderr, where, r.stderr);
    t.deepEqual(await snapshot(host), before, `${file} changed nothing`);
  }

  // A changed subnet of a network with workloads is refused, naming the fix.
  const changed = await host.volt(['net', 'compose', 'up', '-f', '-', '-p', 'shop'], {
    input: 'networks:\n  frontend:\n    subnet: 10.21.0.0/24\n    options: {mtu: 9000}\n  backend:\n    subnet: 10.30.0.0/24\n    internal: true\n',
  });
  t.not(changed.code, 0);
  t.regex(changed.stderr, /subnet 10\.20\.0\.0\/24 → 10\.21\.0\.0\/24/);
  t.regex(changed.stderr, /volt net compose down/);
  t.deepEqual(await snapshot(host), before);

  // down refuses while workloads are attached.
  const refused = await host.volt(['net', 'compose', 'down', '-f', GUIDE, '-p', 'shop']);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /still on project "shop"'s networks/);
  t.regex(refused.stderr, /--force/);
  t.deepEqual(await snapshot(host), before);

  // --force disconnects them and removes exactly the project's networks.
  await host.voltOk(['net', 'compose', 'down', '-f', GUIDE, '-p', 'shop', '--force']);
  const left = (await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json'])).map((n) => n.name).sort();
  t.deepEqual(left, ['other', 'volt0']);
  t.is(await bridgeInfo(host, front.bridge), undefined);
  t.is(await bridgeInfo(host, back.bridge), undefined);
  t.is((await web.exec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1, 'the container was disconnected');
  const empty = await host.voltOk(['net', 'compose', 'down', '-f', GUIDE, '-p', 'shop']);
  t.regex(empty.stdout, /no networks to remove/);
});

test("the specification's long form: ipam gateway and ip_range, driver_opts MTU, name:, external network, container_name", async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const file = path.join(FIXTURES, 'spec-ipam.yaml');
  // The external network (volt0) must exist first: without it up is refused and changes nothing.
  const before = await snapshot(host);
  const missing = await host.volt(['net', 'compose', 'up', '-f', file]);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /spec-ipam\.yaml:48:3: networks\.outside: external network "volt0" does not exist/);
  t.deepEqual(await snapshot(host), before);
  await host.voltOk(['init']);

  const app = await host.addContainer('app');
  const cache = await host.addContainer('cache');
  await host.voltOk(['container', 'register', 'shop-app', '--netns', `/run/netns/${app.netns}`]);
  await host.voltOk(['container', 'register', 'shopexample-cache-1', '--netns', `/run/netns/${cache.netns}`]);
  await host.voltOk(['net', 'compose', 'up', '-f', file]);

  const nets = await host.voltJson<(NetJson & { gateway: string; containerRange?: string })[]>(['net', 'list', '-o', 'json']);
  const front = nets.find((n) => n.name === 'shopexample_front-tier')!;
  t.like(front, { subnet: '172.16.238.0/24', gateway: '172.16.238.1', mtu: 1400, nat: true, containerRange: '172.16.238.128-172.16.238.254' });
  t.is(front.labels?.['com.example.description'], 'Frontend network');
  t.is((await bridgeInfo(host, front.bridge))?.mtu, 1400);
  const back = nets.find((n) => n.name === 'shop-back')!;
  t.like(back, { subnet: '172.16.239.0/24', nat: false, bridge: 'volt-shop-back' });

  const ps = await host.voltJson<PsJson>(['net', 'compose', 'ps', '-f', file, '-o', 'json']);
  t.is(ps.project, 'shopexample');
  const ips = Object.fromEntries(ps.services.map((s) => [`${s.service}@${s.network}`, s.ip]));
  t.is(ips['app@shopexample_front-tier'], '172.16.238.10');
  t.is(ips['app@shop-back'], '172.16.239.10');
  t.regex(ips['cache@volt0'] ?? '', /^10\.0\.0\./, 'the cache joined the external network too');
  t.is(ps.services.find((s) => s.service === 'proxy')!.container, undefined);

  // down removes the project's two networks, never the external one.
  await host.voltOk(['net', 'compose', 'down', '-f', file, '--force']);
  t.deepEqual((await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json'])).map((n) => n.name), ['volt0']);
});

test('a file without networks: the services join PROJECT_default (a picked subnet, kept on the next up) and find each other by name', async (t) => {
  const host = await SandboxHost.create(t, { config: dnsConfig([UPLINK.internetAddress]) });
  const file = path.join(FIXTURES, 'default-network.yaml');
  const web = await host.addContainer('web');
  const redis = await host.addContainer('redis');
  await host.voltOk(['container', 'register', 'demo-web-1', '--netns', `/run/netns/${web.netns}`]);
  await host.voltOk(['container', 'register', 'demo-redis-1', '--netns', `/run/netns/${redis.netns}`]);
  // Something already uses the first subnet of the pool: the default network takes the next one.
  await host.voltOk(['net', 'create', '--name', 'taken', '--subnet', '172.20.0.0/24']);

  const up = await host.voltOk(['net', 'compose', 'up', '-f', file, '-p', 'demo']);
  t.regex(up.stdout, /create network demo_default \(172\.20\.1\.0\/24, bridge vc-[0-9a-f]{12}, MTU 1500\)/);
  t.regex(up.stdout, /connect demo-web-1 \(service web\) to demo_default: 172\.20\.1\.\d+/);
  t.regex(up.stdout, /connect demo-redis-1 \(service redis\) to demo_default: 172\.20\.1\.\d+/);
  t.notRegex(up.stdout + up.stderr, /tools/, 'network_mode: none joins nothing');
  const net = (await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json'])).find((n) => n.name === 'demo_default')!;
  t.like(net, { subnet: '172.20.1.0/24', nat: true });
  t.is(net.labels?.['com.docker.compose.network'], 'default');

  const ps = await host.voltJson<PsJson>(['net', 'compose', 'ps', '-f', file, '-p', 'demo', '-o', 'json']);
  const redisIp = ps.services.find((s) => s.service === 'redis')!.ip!;
  t.regex(redisIp, /^172\.20\.1\./);
  t.true(await ping(web, redisIp), 'web → redis on the default network');
  t.true(await ping(web, UPLINK.internetAddress), 'the default network has NAT');
  const dns = await serve(host);
  t.teardown(() => dns.stop());
  t.deepEqual((await dig(web, '172.20.1.1', ['redis'])).answers.map((a) => a.value), [redisIp], 'the service name resolves');

  // Up again: the same subnet, nothing to do, even though the pool's first free /24 is now different.
  await host.voltOk(['net', 'delete', 'taken']);
  const before = await snapshot(host);
  t.regex((await host.voltOk(['net', 'compose', 'up', '-f', file, '-p', 'demo'])).stdout, /nothing to do/);
  t.deepEqual(await snapshot(host), before);

  await host.voltOk(['net', 'compose', 'down', '-f', file, '-p', 'demo', '--force']);
  t.false((await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json'])).some((n) => n.name === 'demo_default'));
});
