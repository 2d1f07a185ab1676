import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { normalizeProjectName, parseCompose } from '@volt/core/dist/services/compose/compose-file';
import { composeBridgeName, containerCandidates } from '@volt/core/dist/services/compose/compose-service';

const DIR = path.resolve(__dirname, '../../../test/fixtures/compose');
const fixture = (name: string): { text: string; file: string } => {
  const file = path.join(DIR, name);
  return { text: fs.readFileSync(file, 'utf8'), file };
};
const errorOf = (f: () => unknown): Error & { code?: string; suggestions?: string[] } => {
  try {
    f();
  } catch (e: unknown) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an error');
};

test("the guide's example: short form subnet, options.mtu, internal", (t) => {
  const { text, file } = fixture('guide.yaml');
  const p = parseCompose(text, file, { project: 'shop' });
  t.is(p.project, 'shop');
  t.deepEqual(
    p.networks.map((n) => [n.key, n.name, n.subnet, n.mtu, n.internal, n.external]),
    [
      ['frontend', 'shop_frontend', '10.20.0.0/24', 9000, false, false],
      ['backend', 'shop_backend', '10.30.0.0/24', undefined, true, false],
    ],
  );
  const web = p.services.find((s) => s.name === 'web')!;
  t.deepEqual(web.networks.map((n) => [n.key, n.ipv4Address, n.aliases]), [['frontend', '10.20.0.10', ['www']]]);
  const api = p.services.find((s) => s.name === 'api')!;
  t.deepEqual(api.networks.map((n) => [n.key, n.aliases]), [['frontend', []], ['backend', ['api-internal']]], 'map form with an empty value');
  t.deepEqual(p.services.find((s) => s.name === 'db')!.networks.map((n) => n.key), ['backend'], 'list form');
  t.regex(p.networks[0]!.at, /guide\.yaml:33:3$/);
});

test("the specification's long form: ipam.config, driver_opts mtu, labels (map and list), name:, external", (t) => {
  const { text, file } = fixture('spec-ipam.yaml');
  const p = parseCompose(text, file);
  t.is(p.project, 'shopexample', 'top-level name:, normalised like Compose');
  const [front, back, outside] = p.networks;
  t.like(front, { name: 'shopexample_front-tier', subnet: '172.16.238.0/24', gateway: '172.16.238.1', containerRange: '172.16.238.128-172.16.238.254', mtu: 1400, internal: false });
  t.deepEqual(front!.labels, { 'com.example.description': 'Frontend network' });
  t.like(back, { name: 'shop-back', subnet: '172.16.239.0/24', internal: true });
  t.deepEqual(back!.labels, { 'com.example.department': 'Finance' });
  t.like(outside, { name: 'volt0', external: true });
  const app = p.services.find((s) => s.name === 'app')!;
  t.is(app.containerName, 'shop-app');
  t.deepEqual(app.networks.map((n) => [n.key, n.ipv4Address]), [['front-tier', '172.16.238.10'], ['back-tier', '172.16.239.10']]);
  t.is(parseCompose(text, file, { project: 'Other' }).project, 'other', '-p wins over name:');
});

test('the project defaults to the directory name, normalised', (t) => {
  t.is(parseCompose('networks: {}', '/srv/My.App/compose.yaml').project, 'myapp');
  t.is(normalizeProjectName('-_Foo Bar_9'), 'foobar_9');
});

test('broken files: every error carries file:line:col', (t) => {
  const y = fixture('bad-yaml.yaml');
  const e1 = errorOf(() => parseCompose(y.text, y.file));
  t.is(e1.code, 'E_COMPOSE_YAML');
  t.true(e1.message.startsWith(`${y.file}:8:`), e1.message);

  const s = fixture('bad-subnet.yaml');
  const e2 = errorOf(() => parseCompose(s.text, s.file));
  t.is(e2.code, 'E_SUBNET_INVALID');
  t.is(e2.message, `${s.file}:10:19: networks.frontend.subnet: 10.20.0.7/24 has host bits set`);
  t.deepEqual(e2.suggestions, ['did you mean 10.20.0.0/24?']);
});

test('unsupported or inconsistent keys are refused at their position; unknown keys are ignored', (t) => {
  const v6 = errorOf(() => parseCompose('networks:\n  a:\n    subnet: 10.1.0.0/24\n    enable_ipv6: true\n', 'c.yaml', { project: 'p' }));
  t.is(v6.code, 'E_SUBNET6_INVALID');
  t.regex(v6.message, /^c\.yaml:4:5: networks\.a\.enable_ipv6: volt does not pick IPv6 prefixes: give one in ipam\.config/);
  const drv = errorOf(() => parseCompose('networks:\n  a:\n    driver: overlay\n    subnet: 10.1.0.0/24\n', 'c.yaml', { project: 'p' }));
  t.regex(drv.message, /^c\.yaml:3:13: networks\.a\.driver: driver "overlay" is not supported/);
  const noSubnet = errorOf(() => parseCompose('networks:\n  a: {}\n', 'c.yaml', { project: 'p' }));
  t.regex(noSubnet.message, /^c\.yaml:2:3: networks\.a: volt needs a subnet/);
  const undeclared = errorOf(() => parseCompose('services:\n  web:\n    networks: [nope]\nnetworks: {}\n', 'c.yaml', { project: 'p' }));
  t.is(undeclared.code, 'E_COMPOSE_NETWORK_UNDECLARED');
  t.regex(undeclared.message, /^c\.yaml:3:16: /);
  const outside = errorOf(() => parseCompose('services:\n  web:\n    networks:\n      a:\n        ipv4_address: 10.2.0.5\nnetworks:\n  a:\n    subnet: 10.1.0.0/24\n', 'c.yaml', { project: 'p' }));
  t.regex(outside.message, /^c\.yaml:5:23: services\.web\.networks\.a\.ipv4_address: 10\.2\.0\.5 is not a usable address of 10\.1\.0\.0\/24/);
  const mtu = errorOf(() => parseCompose('networks:\n  a:\n    subnet: 10.1.0.0/24\n    driver_opts:\n      com.docker.network.driver.mtu: "12"\n', 'c.yaml', { project: 'p' }));
  t.regex(mtu.message, /^c\.yaml:5:38: /);
  const long = errorOf(() => parseCompose('networks:\n  a-very-long-network-key-name:\n    subnet: 10.1.0.0/24\n', 'c.yaml', { project: 'a-long-project-name' }));
  t.regex(long.message, /not a valid volt network name/);
  t.true(long.suggestions!.some((x) => x.includes('-p PROJECT')));
  const ok = parseCompose('version: "3.9"\nx-anything: 1\nvolumes: {data: {}}\nservices:\n  web:\n    image: x\n    build: .\nnetworks:\n  a:\n    subnet: 10.1.0.0/24\n    attachable: true\n', 'c.yaml', { project: 'p' });
  t.is(ok.networks[0]!.name, 'p_a');
  t.deepEqual(ok.services[0]!.networks.map((n) => [n.key, n.implicit]), [['default', true]], 'a service without networks: joins the default network');
  t.like(ok.networks.find((n) => n.key === 'default'), { name: 'p_default', autoSubnet: true, subnet: undefined, external: false });
});

test('services without networks: join PROJECT_default, created only when used; network_mode opts out; default may be declared', (t) => {
  const { text, file } = fixture('default-network.yaml');
  const p = parseCompose(text, file, { project: 'demo' });
  t.deepEqual(p.networks.map((n) => [n.key, n.name, n.autoSubnet]), [['default', 'demo_default', true]]);
  t.deepEqual(p.services.map((s) => [s.name, s.networks.map((n) => n.key)]), [['web', ['default']], ['redis', ['default']], ['tools', []]]);
  // Every service names its networks: no default network.
  t.deepEqual(parseCompose(fixture('guide.yaml').text, 'g.yaml', { project: 'shop' }).networks.map((n) => n.key), ['frontend', 'backend']);
  // A declared default with a subnet is used as it is; one without gets a picked subnet; external works too.
  const declared = parseCompose('services:\n  a: {}\nnetworks:\n  default:\n    subnet: 10.9.0.0/24\n', 'c.yaml', { project: 'p' });
  t.like(declared.networks[0], { key: 'default', name: 'p_default', subnet: '10.9.0.0/24', autoSubnet: undefined });
  t.like(parseCompose('networks:\n  default: {}\n', 'c.yaml', { project: 'p' }).networks[0], { name: 'p_default', autoSubnet: true });
  t.like(parseCompose('services:\n  a: {}\nnetworks:\n  default:\n    external: true\n    name: volt0\n', 'c.yaml', { project: 'p' }).networks[0], { name: 'volt0', external: true });
  const long = errorOf(() => parseCompose('services:\n  a: {}\n', 'c.yaml', { project: 'a-project-name-of-thirty-chars' }));
  t.regex(long.message, /network "a-project-name-of-thirty-chars_default" .* is not a valid volt network name/);
});

test('bridge names: volt-NAME when it fits, else a stable derived name of 15 characters', (t) => {
  t.is(composeBridgeName('p_a'), 'volt-p_a');
  const b = composeBridgeName('shop_frontend');
  t.regex(b, /^vc-[0-9a-f]{12}$/);
  t.is(b, composeBridgeName('shop_frontend'));
  t.not(b, composeBridgeName('shop_backend'));
});

test('container names looked up for a service', (t) => {
  t.deepEqual(containerCandidates('shop', { name: 'web', networks: [], at: '' }), ['web', 'shop-web-1', 'shop_web_1']);
  t.deepEqual(containerCandidates('shop', { name: 'app', containerName: 'shop-app', networks: [], at: '' }), ['shop-app', 'app', 'shop-app-1', 'shop_app_1']);
});

test('enable_ipv6 with an IPv6 ipam entry maps to the network\'s subnet6; bad v6 entries are refused at their position', (t) => {
  const v6 = (net: string): string => `networks:\n  a:\n${net}`;
  const ok = parseCompose(v6('    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: FD00:1:0::/64\n          gateway: fd00:1::1\n'), 'c.yaml', { project: 'p' });
  t.like(ok.networks.find((n) => n.key === 'a'), { subnet: '10.1.0.0/24', subnet6: 'fd00:1::/64' });
  const plain = parseCompose(v6('    subnet: 10.1.0.0/24\n'), 'c.yaml', { project: 'p' });
  t.is(plain.networks.find((n) => n.key === 'a')!.subnet6, undefined);
  const rows: [string, string, RegExp][] = [
    ['    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: fd00:1::/64\n', 'E_SUBNET6_INVALID', /^c\.yaml:6:11: networks\.a\.ipam\.config: an IPv6 subnet needs `enable_ipv6: true`/],
    ['    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: fd00:1::1/64\n', 'E_SUBNET6_INVALID', /^c\.yaml:7:19: .*has host bits set/],
    ['    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: fe80::/64\n', 'E_SUBNET6_INVALID', /neither a unique local/],
    ['    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: fd00:1::/64\n          gateway: fd00:1::fe\n', 'E_COMPOSE_UNSUPPORTED', /always the prefix's ::1 \(fd00:1::1\)/],
    ['    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n        - subnet: fd00:1::/64\n        - subnet: fd00:2::/64\n', 'E_COMPOSE_INVALID', /one IPv6 prefix/],
  ];
  for (const [net, code, msg] of rows) {
    const e = errorOf(() => parseCompose(v6(net), 'c.yaml', { project: 'p' }));
    t.is(e.code, code, net);
    t.regex(e.message, msg, net);
  }
});
