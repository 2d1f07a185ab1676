import test from 'ava';
import { Packet } from 'dns2';
import type { DnsView } from '@volt/sdk';
import { LocalAnswerer } from '@volt/plugin-dns/dist/engine';

/*
 * Dual-stack zones: AAAA beside A under the same name rules, ip6.arpa PTRs,
 * NODATA for the family a workload lacks, and negative answers for every
 * malformed ip6.arpa name inside the network's reverse zone.
 */

/** "fd00003000000000000000000000000a" → "a.0.0.0…d.f.ip6.arpa" (32 hex digits, most significant first). */
function arpa(hex32: string): string {
  return `${[...hex32].reverse().join('.')}.ip6.arpa`;
}

const API6 = 'fd00003000000000000000000000000a';
const V6ONLY = 'fd000030000000000000000000000063';
const backend: DnsView = {
  network: 'backend',
  subnet: '10.30.0.0/24',
  subnet6: 'fd00:30::/64',
  forward: true,
  records: [
    { name: 'api-server', type: 'A', value: '10.30.0.100', network: 'backend' },
    { name: 'api-server.volt.local', type: 'A', value: '10.30.0.100', network: 'backend' },
    { name: 'api-server', type: 'AAAA', value: 'fd00:30::a', network: 'backend' },
    { name: 'api-server.volt.local', type: 'AAAA', value: 'fd00:30::a', network: 'backend' },
    { name: 'web', type: 'A', value: '10.30.0.100', network: 'backend' },
    { name: 'web', type: 'AAAA', value: 'fd00:30::a', network: 'backend' },
    { name: '100.0.30.10.in-addr.arpa', type: 'PTR', value: 'api-server.volt.local', network: 'backend' },
    { name: arpa(API6), type: 'PTR', value: 'api-server.volt.local', network: 'backend' },
    { name: 'db-primary', type: 'A', value: '10.30.0.10', network: 'backend' },
    { name: '10.0.30.10.in-addr.arpa', type: 'PTR', value: 'db-primary', network: 'backend' },
    { name: 'six', type: 'AAAA', value: 'fd00:30::63', network: 'backend' },
    { name: 'six.volt.local', type: 'AAAA', value: 'fd00:30::63', network: 'backend' },
    { name: arpa(V6ONLY), type: 'PTR', value: 'six.volt.local', network: 'backend' },
  ],
};
const internal: DnsView = {
  network: 'internal',
  subnet: '10.50.0.0/24',
  subnet6: 'fd00:50::/64',
  forward: false,
  records: [{ name: 'vault', type: 'AAAA', value: 'fd00:50::5', network: 'internal' }],
};

function answerer(): LocalAnswerer {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish(backend);
  a.publish(internal);
  return a;
}

function query(name: string, type: number): Buffer {
  const p = new Packet();
  p.header.id = 6464;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  return p.toBuffer();
}

function ask(a: LocalAnswerer, network: string, name: string, type: number): Packet | 'forward' | 'drop' {
  const r = a.local(network, query(name, type));
  if (r === undefined) return 'drop';
  if (!Buffer.isBuffer(r)) return 'forward';
  return Packet.parse(r);
}

function answered(r: Packet | 'forward' | 'drop'): Packet {
  if (typeof r === 'string') throw new Error(`expected an answer, got ${r}`);
  return r;
}

const { A, AAAA, PTR, ANY, MX } = Packet.TYPE;

test('AAAA for NAME, NAME.<domain> and aliases; A beside it; ANY gives both', (t) => {
  const a = answerer();
  for (const name of ['api-server', 'api-server.volt.local', 'API-Server.Volt.Local', 'web']) {
    const p = answered(ask(a, 'backend', name, AAAA));
    t.is(p.header.rcode, 0);
    t.is(p.header.aa, 1);
    t.deepEqual(p.answers.map((x) => [x.type, x.ttl]), [[AAAA, 0]], name);
    // The rdata on the wire: the 16 bytes of fd00:30::a (the last bytes of an answer without OPT).
    const raw = a.local('backend', query(name, AAAA)) as Buffer;
    t.is(raw.subarray(raw.length - 18).toString('hex'), `0010${API6}`);
    t.deepEqual(answered(ask(a, 'backend', name, A)).answers.map((x) => x.address), ['10.30.0.100']);
  }
  const any = answered(ask(a, 'backend', 'api-server', ANY));
  t.deepEqual(any.answers.map((x) => x.type).sort(), [A, AAAA]);
});

test('NODATA for the family a workload lacks, never NXDOMAIN', (t) => {
  const a = answerer();
  const v4only = answered(ask(a, 'backend', 'db-primary', AAAA));
  t.is(v4only.header.rcode, 0);
  t.is(v4only.answers.length, 0);
  const v6only = answered(ask(a, 'backend', 'six', A));
  t.is(v6only.header.rcode, 0);
  t.is(v6only.answers.length, 0);
  // NAME.<domain>: NODATA with the zone's SOA (RFC 2308), as for v4.
  const fq = answered(ask(a, 'backend', 'six.volt.local', A));
  t.is(fq.header.rcode, 0);
  t.deepEqual(fq.authorities.map((x) => x.type), [Packet.TYPE.SOA]);
  t.is(answered(ask(a, 'backend', 'six', AAAA)).answers.length, 1);
  t.is(answered(ask(a, 'backend', 'six', MX)).header.rcode, 0);
});

test('per-network scoping holds for AAAA: a name of another network is NXDOMAIN', (t) => {
  const a = answerer();
  t.is(answered(ask(a, 'internal', 'api-server', AAAA)).header.rcode, 3);
  t.is(answered(ask(a, 'backend', 'vault', AAAA)).header.rcode, 3);
  t.is(answered(ask(a, 'internal', 'vault', AAAA)).answers.length, 1);
});

test('v6 PTR in nibble form, case-insensitive; NXDOMAIN for a free address of the prefix', (t) => {
  const a = answerer();
  t.deepEqual(answered(ask(a, 'backend', arpa(API6), PTR)).answers.map((x) => x.domain), ['api-server.volt.local']);
  t.deepEqual(answered(ask(a, 'backend', arpa(API6).toUpperCase(), PTR)).answers.map((x) => x.domain), ['api-server.volt.local']);
  t.deepEqual(answered(ask(a, 'backend', arpa(V6ONLY), PTR)).answers.map((x) => x.domain), ['six.volt.local']);
  const free = answered(ask(a, 'backend', arpa('fd000030000000000000000000000077'), PTR));
  t.is(free.header.rcode, 3);
  t.is(free.header.aa, 1);
  // Another network's address is not this network's: not answered here (its own network would).
  t.is(ask(a, 'backend', arpa('fd000050000000000000000000000005'), PTR), 'forward');
  // A PTR name asked for another type: NODATA.
  const nodata = answered(ask(a, 'backend', arpa(API6), AAAA));
  t.is(nodata.header.rcode, 0);
  t.is(nodata.answers.length, 0);
});

test('malformed ip6.arpa names inside the prefix get a negative answer, never a forward or a crash', (t) => {
  const a = answerer();
  const zone = [...'fd00003000000000'].reverse().join('.');
  const cases: [string, number][] = [
    // 33 nibbles: one too many.
    [`0.${arpa(API6)}`, 3],
    // A non-hex label where a nibble belongs, at various depths.
    [`g.${arpa(API6).split('.').slice(1).join('.')}`, 3],
    [`zz.0.0.0.${zone}.ip6.arpa`, 3],
    [`10.0.0.${zone}.ip6.arpa`, 3],
    [`-.${zone}.ip6.arpa`, 3],
    [`_dns-sd._udp.${zone}.ip6.arpa`, 3],
    // Fewer nibbles, but below the zone and above no PTR: nothing there.
    [`f.f.${zone}.ip6.arpa`, 3],
    // Fewer nibbles above a PTR: an empty non-terminal (RFC 8020), NODATA.
    [`0.0.0.0.0.0.${zone}.ip6.arpa`, 0],
    [`${zone}.ip6.arpa`, 0],
  ];
  for (const [name, rcode] of cases) {
    for (const type of [PTR, A, AAAA]) {
      const p = answered(ask(a, 'backend', name, type));
      t.is(p.header.rcode, rcode, `${name} type ${type}`);
      t.is(p.answers.length, 0, name);
    }
  }
  // Above or outside this network's prefix: not volt's (forwarded here; REFUSED on a --no-nat network).
  t.is(ask(a, 'backend', 'd.f.ip6.arpa', PTR), 'forward');
  t.is(ask(a, 'backend', `lb._dns-sd._udp.0.0.d.f.ip6.arpa`, PTR), 'forward');
  t.is(ask(a, 'backend', `x.${arpa('20010db8000000000000000000000001')}`, PTR), 'forward');
  t.is(answered(ask(a, 'internal', 'd.f.ip6.arpa', PTR)).header.rcode, 5);
  // A name of 128 one-letter labels (the wire's limit) below ip6.arpa: read, answered, no crash.
  const deep = `${Array.from({ length: 100 }, () => 'a').join('.')}.${zone}.ip6.arpa`;
  t.is(answered(ask(a, 'backend', deep, PTR)).header.rcode, 3);
});

test('a view without subnet6 answers ip6.arpa as before (not its zone)', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish({ network: 'v4', subnet: '10.60.0.0/24', forward: true, records: [{ name: 'x', type: 'A', value: '10.60.0.2', network: 'v4' }] });
  t.is(ask(a, 'v4', arpa(API6), PTR), 'forward');
  t.is(answered(ask(a, 'v4', 'x', AAAA)).answers.length, 0);
});
