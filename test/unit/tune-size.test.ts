import test from 'ava';
import { formatSize, parseSize, MAX_SYSCTL_INT } from '@volt/core/dist/services/tune/tune-size';
import { parseSysctlKey, normalizeSysctlValue } from '@volt/core/dist/kernel/sysctl';
import { nearMatches } from '@volt/core/dist/services/tune/tune-keys';

const good: [string, number][] = [
  ['0', 0],
  ['212992', 212992],
  ['4K', 4096],
  ['256k', 262144],
  ['16M', 16777216],
  ['16m', 16777216],
  ['16MiB', 16777216],
  ['1G', 1073741824],
  ['1GiB', 1073741824],
  ['2047M', 2047 * 1024 * 1024],
  [String(MAX_SYSCTL_INT), MAX_SYSCTL_INT],
];

for (const [text, n] of good) {
  test(`size ${text} = ${n}`, (t) => {
    t.is(parseSize(text, '--rmem-max'), n);
  });
}

const bad: [string, RegExp][] = [
  ['', /"" is not a size/],
  [' 16M', /is not a size/],
  ['16M ', /is not a size/],
  ['16 M', /is not a size/],
  ['1.5M', /is not a size/],
  ['-1', /is not a size/],
  ['+16M', /is not a size/],
  ['016M', /is not a size/],
  ['0x10', /is not a size/],
  ['1e6', /is not a size/],
  ['16Q', /is not a size/],
  ['16T', /is not a size/],
  ['M', /is not a size/],
  ['16MB', /is not a size/],
  ['16Mi', /is not a size/],
  ['2G', /too large \(at most 2147483647 bytes, 2G - 1\)/],
  ['2147483648', /too large/],
  ['99999999999999999999', /too large/],
];

for (const [text, re] of bad) {
  test(`size ${JSON.stringify(text)} is refused`, (t) => {
    const e = t.throws(() => parseSize(text, '--rmem-max'));
    t.regex(e!.message, /^--rmem-max: /);
    t.regex(e!.message, re);
    t.is((e as unknown as { exitCode: number }).exitCode, 2);
    t.is((e as unknown as { code: string }).code, 'E_BAD_SIZE');
  });
}

test('"MB" gets a suggestion rather than a guess', (t) => {
  const e = t.throws(() => parseSize('16MB', '--wmem-max')) as unknown as { suggestions: string[] };
  t.regex(e.suggestions.join(' '), /ambiguous: write 16M/);
});

test('sizes print exactly, never rounded', (t) => {
  t.is(formatSize(16777216), '16M');
  t.is(formatSize(212992), '208K');
  t.is(formatSize(1073741824), '1G');
  t.is(formatSize(1000), '1000');
  t.is(formatSize(0), '0');
  t.is(formatSize(16777217), '16777217');
});

test('sysctl names: dots, or slashes when a part has a dot', (t) => {
  t.deepEqual(parseSysctlKey('net.core.rmem_max'), { components: ['net', 'core', 'rmem_max'], name: 'net.core.rmem_max' });
  t.deepEqual(parseSysctlKey('net/core/rmem_max'), { components: ['net', 'core', 'rmem_max'], name: 'net.core.rmem_max' });
  t.deepEqual(parseSysctlKey('net/ipv4/conf/eth0.100/forwarding')?.name, 'net/ipv4/conf/eth0.100/forwarding');
  t.deepEqual(parseSysctlKey('net.ipv4.conf.volt-backend.forwarding')?.components, ['net', 'ipv4', 'conf', 'volt-backend', 'forwarding']);
  for (const bad of ['', 'net..core', 'net/../../etc/passwd', 'net.core.rmem max', 'net.core.rmem_max=1', '.net', 'net/./core']) {
    t.is(parseSysctlKey(bad), undefined, bad);
  }
});

test('values are compared in one form (the kernel prints tabs)', (t) => {
  t.is(normalizeSysctlValue('4096\t131072\t6291456\n'), '4096 131072 6291456');
  t.is(normalizeSysctlValue('  1 '), '1');
});

test('near matches: typos, a missing prefix, part of a name; only the closest', (t) => {
  const keys = ['net.core.rmem_max', 'net.core.wmem_max', 'net.core.rmem_default', 'net.core.somaxconn', 'net.ipv4.tcp_rmem', 'net.ipv4.udp_rmem_min', 'net.ipv4.ip_forward'];
  t.deepEqual(nearMatches('net.core.rmem_maks', keys), ['net.core.rmem_max']);
  t.deepEqual(nearMatches('rmem_max', keys), ['net.core.rmem_max']);
  t.deepEqual(nearMatches('net.ipv4.tcp_rmem_max', keys), ['net.ipv4.tcp_rmem']);
  t.deepEqual(nearMatches('net.ipv4.ip_foward', keys), ['net.ipv4.ip_forward']);
  t.deepEqual(nearMatches('net.core.somaxcon', keys), ['net.core.somaxconn']);
  t.deepEqual(nearMatches('net.bogus.entirely_different', keys), []);
});
