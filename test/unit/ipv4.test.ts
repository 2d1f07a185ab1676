import test from 'ava';
import { parseIPv4, parseCidr, overlaps, formatIPv4, broadcastAddress, networkAddress } from '@volt/core/dist/net/ipv4';

test('strict dotted quads', (t) => {
  t.is(parseIPv4('10.0.0.1'), 0x0a000001);
  t.is(parseIPv4('255.255.255.255'), 0xffffffff);
  for (const s of ['10.0.0', '10.0.0.01', '256.0.0.1', '1.2.3.4.5', '', 'a.b.c.d', '1.2.3.-4']) t.is(parseIPv4(s), undefined, s);
});

test('CIDR math', (t) => {
  const c = parseCidr('10.30.0.0/24')!;
  t.is(formatIPv4(networkAddress(c)), '10.30.0.0');
  t.is(formatIPv4(broadcastAddress(c)), '10.30.0.255');
  t.true(overlaps(c, parseCidr('10.30.0.128/25')!));
  t.true(overlaps(c, parseCidr('10.0.0.0/8')!));
  t.false(overlaps(c, parseCidr('10.31.0.0/24')!));
  t.is(parseCidr('10.0.0.0/33'), undefined);
  t.is(parseCidr('10.0.0.0/024'), undefined);
});
