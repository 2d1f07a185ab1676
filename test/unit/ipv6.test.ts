import test from 'ava';
import {
  canonicalCidr6,
  canonicalIPv6,
  cidr6Problem,
  contains6,
  eui64Address,
  formatIPv6,
  interfaceIdOfMac,
  ipv6Problem,
  isGlobalUnicast6,
  isIPv4Mapped,
  isLinkLocal6,
  isMulticast6,
  isUla6,
  lastAddress6,
  linkLocalOfMac,
  networkAddress6,
  nthAddress6,
  overlaps6,
  parseCidr6,
  parseIPv6,
} from '@volt/core/dist/net/ipv6';

test('RFC 5952 canonical form (section 4 cases and the RFC 4291 examples)', (t) => {
  const rows: [string, string][] = [
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fd00:30:0:0:0:0:0:0', 'fd00:30::'],
    ['fd00:0030::000a', 'fd00:30::a'],
    ['fe80::', 'fe80::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::FFFF:0a00:0001', '::ffff:10.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ];
  for (const [input, want] of rows) t.is(canonicalIPv6(input), want, input);
});

test('round trip: formatting then parsing gives the same number', (t) => {
  let x = 0x123456789abcdefn;
  for (let i = 0; i < 500; i++) {
    // a cheap deterministic generator, with zero groups sprinkled in
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 128n) - 1n);
    const masked = x & (i % 3 === 0 ? 0xffff0000ffff00000000ffffffff0000n : (1n << 128n) - 1n);
    t.is(parseIPv6(formatIPv6(masked)), masked, formatIPv6(masked));
  }
  t.throws(() => formatIPv6(-1n));
  t.throws(() => formatIPv6(1n << 128n));
});

test('hostile and malformed input is refused, with a reason', (t) => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['fe80::1%eth0', /zone ids/],
    ['fe80::1%25eth0', /zone ids/],
    ['[fd00::1]', /brackets/],
    [':::', /":::"/],
    ['fd00:::1', /":::"/],
    ['1::2::3', /only once/],
    ['12345::1', /more than four hex digits/],
    ['fd00:00030::1', /more than four hex digits/],
    ['1:2:3:4:5:6:7', /7 groups/],
    ['1:2:3:4:5:6:7:8:9', /9 groups/],
    ['::1:2:3:4:5:6:7:8', /at least one group/],
    ['1:2:3:4:5:6:7:8::', /at least one group/],
    ['1:', /empty group/],
    [':1', /empty group/],
    [':1::', /empty group/],
    ['1:::', /":::"/],
    ['g::1', /not hexadecimal/],
    ['fd00::-1', /not hexadecimal/],
    ['fd00:: 1', /not hexadecimal/],
    ['0x1::1', /not hexadecimal/],
    ['10.0.0.1', /colons/],
    ['backend', /colons/],
    ['::ffff:10.0.0.256', /dotted IPv4 tail/],
    ['::ffff:10.0.0.01', /dotted IPv4 tail/],
    ['::1.2.3.4:5', /may only come last/],
    ['1.2.3.4::', /may only come last/],
    ['1:2:3:4:5:6:7:1.2.3.4', /7 groups; an address has 6 before a dotted/],
    ['1:2:3:4:5:6:1.2.3.4:', /empty group|dotted/],
    ['a'.repeat(46), /longer than/],
    ['fd00::1/64', /not hexadecimal/],
  ];
  for (const [input, re] of bad) {
    t.is(parseIPv6(input), undefined, input);
    t.regex(ipv6Problem(input) ?? '(accepted)', re, input);
  }
  t.is(ipv6Problem('fd00::1'), undefined);
  t.is(parseIPv6('1:2:3:4:5:6:1.2.3.4'), parseIPv6('1:2:3:4:5:6:102:304'));
  t.is(parseIPv6('::1.2.3.4'), 0x01020304n);
});

test('prefixes: parse, host bits, contains, overlaps, last and n-th address', (t) => {
  const c = parseCidr6('fd00:30::/64')!;
  t.is(c.prefix, 64);
  t.is(canonicalCidr6(c), 'fd00:30::/64');
  t.is(canonicalCidr6(parseCidr6('FD00:0030:0000::5/64')!), 'fd00:30::/64');
  t.is(formatIPv6(lastAddress6(c)), 'fd00:30::ffff:ffff:ffff:ffff');
  t.is(formatIPv6(nthAddress6(c, 1)), 'fd00:30::1');
  t.is(formatIPv6(nthAddress6(c, 0x10000n)), 'fd00:30::1:0');
  t.throws(() => nthAddress6(c, 1n << 64n), { message: /outside fd00:30::\/64/ });
  t.throws(() => nthAddress6(c, -1));
  t.true(contains6(c, parseIPv6('fd00:30::abcd')!));
  t.false(contains6(c, parseIPv6('fd00:31::1')!));
  t.true(overlaps6(c, parseCidr6('fd00::/16')!));
  t.true(overlaps6(c, parseCidr6('fd00:30::8000:0:0:0/65')!));
  t.false(overlaps6(c, parseCidr6('fd00:31::/64')!));
  t.is(formatIPv6(networkAddress6(parseCidr6('2001:db8::1/0')!)), '::');
  t.is(formatIPv6(lastAddress6(parseCidr6('fd00::7/128')!)), 'fd00::7');
  for (const bad of ['fd00::', 'fd00::/129', 'fd00::/064', 'fd00::/', 'fd00::/6a', 'fd00::%1/64', '10.0.0.0/24', '/64', 'fd00::/64/1']) {
    t.is(parseCidr6(bad), undefined, bad);
    t.truthy(cidr6Problem(bad), bad);
  }
});

test('EUI-64 from a MAC (RFC 4291 appendix A) and the kinds of address', (t) => {
  t.is(interfaceIdOfMac('52:54:00:12:34:56'), 0x505400fffe123456n);
  t.is(interfaceIdOfMac('02:00:00:00:00:01'), 0x000000fffe000001n);
  t.is(formatIPv6(eui64Address(parseCidr6('fd00:30::/64')!, '52:54:00:12:34:56')), 'fd00:30::5054:ff:fe12:3456');
  t.is(formatIPv6(eui64Address(parseCidr6('fd00:30::/64')!, '02:AB:CD:EF:01:23')), 'fd00:30::ab:cdff:feef:123');
  t.is(formatIPv6(linkLocalOfMac('52:54:00:12:34:56')), 'fe80::5054:ff:fe12:3456');
  t.throws(() => eui64Address(parseCidr6('fd00:30::/80')!, '52:54:00:12:34:56'), { message: /needs a \/64/ });
  for (const bad of ['52:54:00:12:34', '52-54-00-12-34-56', '52:54:00:12:34:5g', '']) t.throws(() => interfaceIdOfMac(bad), undefined, bad);

  t.true(isUla6(parseIPv6('fd00:30::1')!));
  t.true(isUla6(parseIPv6('fc00::1')!));
  t.false(isUla6(parseIPv6('fe80::1')!));
  t.true(isGlobalUnicast6(parseIPv6('2001:db8::1')!));
  t.true(isGlobalUnicast6(parseIPv6('3fff::1')!));
  t.false(isGlobalUnicast6(parseIPv6('4000::1')!));
  t.true(isLinkLocal6(parseIPv6('febf::1')!));
  t.false(isLinkLocal6(parseIPv6('fec0::1')!));
  t.true(isMulticast6(parseIPv6('ff02::1')!));
  t.true(isIPv4Mapped(parseIPv6('::ffff:1.2.3.4')!));
  t.false(isIPv4Mapped(parseIPv6('::1.2.3.4')!));
});
