import test from 'ava';
import { Packet } from 'dns2';
import { encodeAddressOrPtr, encodeName, encodeOptRecord, encodeSoa } from '@volt/plugin-dns/dist/encode';

/*
 * volt-dns writes its records itself (plugins/dns/src/encode.ts, for start-up:
 * docs/decisions/0012-dns-startup.md); the bytes must be dns2's, which the
 * zone was encoded with before.
 */

function dns2(fields: Record<string, unknown>): Buffer {
  return Packet.Resource.encode(new Packet.Resource(fields as never));
}

const NAMES = ['db-primary', 'db-primary.volt.local', 'a.b.c.d.e', 'x', 'trailing.dot.', '10.0.30.10.in-addr.arpa', 'a'.repeat(63) + '.test'];

test('A records: the same bytes as dns2', (t) => {
  for (const name of NAMES)
    for (const address of ['10.30.0.10', '0.0.0.0', '255.255.255.255', '192.168.1.2'])
      for (const ttl of [0, 60, 0x7fffffff, 0xffffffff])
        t.deepEqual(encodeAddressOrPtr(name, Packet.TYPE.A, address, ttl), dns2({ name, type: Packet.TYPE.A, class: 1, ttl, address }), `${name} ${address} ${ttl}`);
});

test('AAAA records, compressed and full forms: the same bytes as dns2', (t) => {
  for (const address of ['fd00:30::a', '::1', '::', 'fd00::', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'fe80::1:2:3:4', '1:2:3:4:5:6:7:8'])
    t.deepEqual(encodeAddressOrPtr('web.volt.local', Packet.TYPE.AAAA, address, 0), dns2({ name: 'web.volt.local', type: Packet.TYPE.AAAA, class: 1, ttl: 0, address }), address);
});

test('PTR records: the same bytes as dns2', (t) => {
  for (const name of NAMES)
    t.deepEqual(encodeAddressOrPtr('10.0.30.10.in-addr.arpa', Packet.TYPE.PTR, name, 0), dns2({ name: '10.0.30.10.in-addr.arpa', type: Packet.TYPE.PTR, class: 1, ttl: 0, domain: name }), name);
});

test('SOA and OPT: the same bytes as dns2', (t) => {
  const soa = { primary: 'ns.volt.local', admin: 'hostmaster.volt.local', serial: 1765150000, refresh: 3600, retry: 600, expiration: 86400, minimum: 0 };
  t.deepEqual(encodeSoa('volt.local', 0, soa), dns2({ name: 'volt.local', type: Packet.TYPE.SOA, class: 1, ttl: 0, ...soa }));
  t.deepEqual(encodeSoa('corp.test', 0, { ...soa, minimum: 0xffffffff }), dns2({ name: 'corp.test', type: Packet.TYPE.SOA, class: 1, ttl: 0, ...soa, minimum: 0xffffffff }));
  const opt = Object.assign(new Packet.Resource({ name: '', type: Packet.TYPE.EDNS, class: 1232, ttl: 0 } as never), { rdata: [] });
  t.deepEqual(encodeOptRecord(1232), Packet.Resource.encode(opt));
});

test('names too long are refused, as dns2 refuses them', (t) => {
  t.throws(() => encodeName('a'.repeat(64)), { message: /label .* 64 octets/ });
  t.throws(() => encodeName(Array(5).fill('a'.repeat(63)).join('.')), { message: /max 255/ });
  t.throws(() => dns2({ name: 'a'.repeat(64), type: 1, class: 1, ttl: 0, address: '1.2.3.4' }));
});
