import test from 'ava';
import { parseConfig } from '@volt/core/dist/config/load';
import { defaultConfig } from '@volt/core/dist/config/defaults';

const F = '/etc/volt/config.yaml';

test('an empty file gives the defaults', (t) => {
  t.deepEqual(parseConfig('', F), defaultConfig());
});

test('the spec example parses and overrides defaults', (t) => {
  const c = parseConfig(
    ['network:', '  default_bridge: volt0', '  default_subnet: 10.0.0.0/24', '  dns:', '    enabled: true', '    upstream:', '      - 1.1.1.1', '      - 8.8.8.8', '    search_domains:', '      - volt.local', '  mtu: 9000', 'drivers:', '  bridge: networkd'].join('\n'),
    F,
  );
  t.is(c.network.mtu, 9000);
  t.deepEqual(c.network.dns.upstream, ['1.1.1.1', '8.8.8.8']);
  t.is(c.drivers.bridge, 'networkd');
  t.is(c.network.firewall.host_input, 'drop');
  t.is(c.ingress.http_port, 80, 'no ingress: section, ingress defaults');
});

test('the ingress section sits beside network and drivers', (t) => {
  const c = parseConfig('network:\n  mtu: 9000\ningress:\n  http_port: 8080\n  acme:\n    email: ops@example.com\ndrivers:\n  ingress: node\n', F);
  t.is(c.network.mtu, 9000);
  t.is(c.ingress.http_port, 8080);
  t.is(c.ingress.https_port, 443);
  t.is(c.ingress.acme.email, 'ops@example.com');
  t.is(c.drivers.ingress, 'node');
});

test('config.yaml is shared: unknown top-level sections are ignored (one notice), near-misses of volt sections warned about; network: stays strict', (t) => {
  const notices: string[] = [];
  const warnings: string[] = [];
  const opts = { notice: (m: string) => notices.push(m), warn: (m: string) => warnings.push(m) };
  const c = parseConfig('storage:\n  pool: fast\nnetwork:\n  mtu: 9000\ncompute:\n  cpus: [1, 2]\n', F, opts);
  t.is(c.network.mtu, 9000);
  t.deepEqual(notices, [`${F}: ignoring top-level sections "storage", "compute" (not volt's; volt reads network:, drivers:, ingress:)`]);
  t.deepEqual(warnings, []);
  t.notThrows(() => parseConfig('storage: {}\n', F), 'no callbacks: silently ignored');

  notices.length = 0;
  parseConfig('network:\n  mtu: 1500\nnetwrok:\n  mtu: 1\n', F, opts);
  t.deepEqual(warnings, [`${F}:3:1: top-level section "netwrok" is not volt's and is ignored; did you mean "network:"?`]);
  t.is(notices.length, 1);
  const strict = t.throws(() => parseConfig('storage: {}\nnetwork:\n  brige: x\n', F, opts)) as Error;
  t.regex(strict.message, /config\.yaml:3:3: network\.brige: unknown key "brige"/, 'under network: every key is still checked');
});

const bad: [string, string, RegExp][] = [
  ['invalid YAML', 'network:\n  mtu: [1500\n', /^\/etc\/volt\/config\.yaml:\d+:\d+: invalid YAML/],
  ['unknown nested key', 'network:\n  dns:\n    enabeld: true\n', /config\.yaml:3:5: network\.dns\.enabeld: unknown key "enabeld"/],
  ['wrong type', 'network:\n  mtu: big\n', /config\.yaml:2:3: network\.mtu: expected integer/],
  ['wrong type boolean', 'network:\n  dns:\n    enabled: "yes please"\n', /config\.yaml:3:5: network\.dns\.enabled: expected boolean/],
  ['bad subnet', 'network:\n  default_subnet: 10.0.0.1/24\n', /config\.yaml:2:3: network\.default_subnet: .*host bits/],
  ['bad upstream', 'network:\n  dns:\n    upstream:\n      - 1.1.1.1\n      - not-an-ip\n', /config\.yaml:5:9: network\.dns\.upstream\.1: "not-an-ip" is not an IP address/],
  ['upstream with a port', 'network:\n  dns:\n    upstream: ["[fd00::53]:53", "9.9.9.9:53"]\n', /network\.dns\.upstream\.0: "\[fd00::53\]:53" is not an IP address: write the address alone \(fd00::53\); volt-dns asks port 53/],
  ['bad enum', 'network:\n  firewall:\n    host_input: maybe\n', /network\.firewall\.host_input: must be one of "drop", "accept"/],
  ['not a mapping', '- a\n- b\n', /\(top level\)/],
  ['duplicate key', 'network:\n  mtu: 1500\n  mtu: 9000\n', /config\.yaml:3:\d+: invalid YAML/],
  ['bad driver name', 'drivers:\n  bridge: "Net D"\n', /config\.yaml:2:3: drivers\.bridge/],
  ['ingress: bad port', 'network:\n  mtu: 1500\ningress:\n  http_port: 65536\n', /config\.yaml:4:3: ingress\.http_port: 65536 is out of range \(1-65535\)/],
  ['ingress: unknown key', 'ingress:\n  acme:\n    directory: https://ca.example/dir\n', /config\.yaml:3:5: ingress\.acme\.directory: unknown key "directory"/],
  ['ingress: bad address', 'ingress:\n  address: 10.0.0.300\n', /config\.yaml:2:3: ingress\.address: "10\.0\.0\.300" is not an IP address/],
];

for (const [title, text, message] of bad) {
  test(`config error: ${title}`, (t) => {
    const e = t.throws(() => parseConfig(text, F)) as Error & { code: string; exitCode: number };
    t.regex(e.message, message);
    t.is(e.exitCode, 2);
    t.regex(e.code, /^E_CONFIG_/);
  });
}

test('IPv6 upstreams are plain addresses, beside IPv4 ones', (t) => {
  const c = parseConfig('network:\n  dns:\n    upstream: ["fd00::53", 1.1.1.1, "2001:db8::1"]\n', F);
  t.deepEqual(c.network.dns.upstream, ['fd00::53', '1.1.1.1', '2001:db8::1']);
});
