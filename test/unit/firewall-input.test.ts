import test from 'ava';
import { chainsFor, localAddressesFromFib } from '@volt/core/dist/services/firewall/firewall-service';
import { expandPorts, parseEndpoint, parsePorts, parseProto, parseAction } from '@volt/core/dist/services/firewall/firewall-input';

const W = 'add firewall rule "x"';

test('ports: lists and ranges', (t) => {
  t.deepEqual(parsePorts('80,443,8000-8080', W), [
    { from: 80, to: 80 },
    { from: 443, to: 443 },
    { from: 8000, to: 8080 },
  ]);
  t.deepEqual(parsePorts(undefined, W), []);
  t.deepEqual(parsePorts('any', W), []);
  t.deepEqual(parsePorts(' 22 ', W), [{ from: 22, to: 22 }]);
});

const BAD_PORTS: [string, RegExp][] = [
  ['0', /port 0 is out of range \(1-65535\)/],
  ['65536', /port 65536 is out of range/],
  ['1-70000', /port 70000 is out of range/],
  ['90-80', /port range 90-80 is inverted/],
  ['http', /port "http" is not a number/],
  ['80,,81', /port "" is not a number/],
  ['-5', /port "-5" is not a number/],
  ['80,80', /listed twice or overlaps/],
  ['8000-8080,8050', /overlaps another range/],
];
for (const [text, re] of BAD_PORTS) {
  test(`ports: rejects "${text}"`, (t) => {
    const e = t.throws(() => parsePorts(text, W));
    t.is(e?.name, 'UserInputError');
    t.is((e as { exitCode?: number }).exitCode, 2);
    t.regex(e?.message ?? '', new RegExp(`^${W.replace(/"/g, '"')}: `));
    t.regex(e?.message ?? '', re);
  });
}

test('inverted range suggests the right order', (t) => {
  const e = t.throws(() => parsePorts('9000-8000', W)) as { suggestions?: string[] };
  t.deepEqual(e.suggestions, ['did you mean 8000-9000?']);
});

test('protocols and actions', (t) => {
  t.is(parseProto('TCP', W), 'tcp');
  t.is(parseProto(undefined, W), 'tcp');
  t.regex(t.throws(() => parseProto('sctp', W))?.message ?? '', /unknown protocol "sctp"/);
  t.regex(t.throws(() => parseProto('icmp', W, ['tcp', 'udp']))?.message ?? '', /unknown protocol "icmp"/);
  t.is(parseAction('Drop', ['accept', 'drop', 'reject'] as const, W), 'drop');
  t.regex(t.throws(() => parseAction('allow', ['accept', 'drop', 'reject'] as const, W))?.message ?? '', /unknown action "allow"/);
  t.is(t.throws(() => parseAction(undefined, ['allow', 'deny'] as const, W))?.name, 'UserInputError');
});

test('endpoints: any, host, addresses, subnets, workloads', (t) => {
  t.deepEqual(parseEndpoint(undefined, '--source', W), { kind: 'any' });
  t.deepEqual(parseEndpoint('any', '--source', W), { kind: 'any' });
  t.like(parseEndpoint('10.0.0.5', '--dest', W), { kind: 'cidr', cidr: '10.0.0.5', prefix: 32 });
  t.like(parseEndpoint('10.0.0.0/24', '--dest', W), { kind: 'cidr', cidr: '10.0.0.0/24', prefix: 24 });
  t.like(parseEndpoint('10.0.0.7/32', '--dest', W), { kind: 'cidr', cidr: '10.0.0.7' });
  t.deepEqual(parseEndpoint('db-primary', '--dest', W), { kind: 'workload', name: 'db-primary' });
  t.deepEqual(parseEndpoint('vt-123-1-c1.web', '--dest', W), { kind: 'workload', name: 'vt-123-1-c1.web' });
  t.deepEqual(parseEndpoint('host', '--dest', W, { host: true }), { kind: 'host' });
  t.regex(t.throws(() => parseEndpoint('host', '--source', W))?.message ?? '', /the host's own traffic is not filtered/);
});

const TYPOS: [string, RegExp][] = [
  ['10.0.0/24', /"10\.0\.0\/24" is not a valid IPv4 subnet/],
  ['10.0.0.0/33', /is not a valid IPv4 subnet/],
  ['10.0.0.256', /"10\.0\.0\.256" is not a valid IPv4 address/],
  ['10.0.0', /is not a valid IPv4 address/],
  ['010.0.0.1', /is not a valid IPv4 address/],
  ['10.0.0.5/24', /has host bits set/],
  ['10..0.1', /is not a valid IPv4 address/],
  ['web/db', /is neither any, an IPv4 or IPv6 address or subnet, nor a workload name/],
];
for (const [text, re] of TYPOS) {
  test(`endpoints: "${text}" is a typo, not a workload name`, (t) => {
    const e = t.throws(() => parseEndpoint(text, '--source', W));
    t.is(e?.name, 'UserInputError');
    t.regex(e?.message ?? '', re);
  });
}

test('the chain follows the destination', (t) => {
  const hosts = ['10.30.0.1', '198.18.0.1', '127.0.0.1'];
  const ep = (s: string) => parseEndpoint(s, '--dest', W, { host: true });
  t.deepEqual(chainsFor(ep('host'), hosts), ['input']);
  t.deepEqual(chainsFor(ep('198.18.0.1'), hosts), ['input']);
  t.deepEqual(chainsFor(ep('10.30.0.10'), hosts), ['forward']);
  t.deepEqual(chainsFor(ep('web'), hosts), ['forward']);
  t.deepEqual(chainsFor(ep('any'), hosts), ['input', 'forward']);
  t.deepEqual(chainsFor(ep('10.30.0.0/24'), hosts), ['input', 'forward'], 'a subnet holding the gateway');
  t.deepEqual(chainsFor(ep('10.99.0.0/24'), hosts), ['forward']);
});

test('policy ports expand, with a cap', (t) => {
  t.deepEqual(expandPorts([{ from: 80, to: 82 }, { from: 443, to: 443 }], W), [80, 81, 82, 443]);
  t.regex(t.throws(() => expandPorts([{ from: 1, to: 2000 }], W))?.message ?? '', /at most 1024 ports/);
});

test("the host's addresses come from /proc/net/fib_trie's local leaves", (t) => {
  const fib = ['Main:', '  +-- 0.0.0.0/0 3 0 5', '     |-- 10.30.0.0', '        /24 link UNICAST', '     |-- 10.30.0.1', '        /32 host LOCAL', '     |-- 10.30.0.255', '        /32 link BROADCAST', '     |-- 127.0.0.0', '        /8 host LOCAL', '     |-- 127.0.0.1', '        /32 host LOCAL', 'Local:', '     |-- 10.30.0.1', '        /32 host LOCAL', ''].join('\n');
  t.deepEqual(localAddressesFromFib(fib), ['10.30.0.1', '127.0.0.1']);
});
