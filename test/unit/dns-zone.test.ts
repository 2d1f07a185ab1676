import test from 'ava';
import { Packet } from 'dns2';
import type { DnsView } from '@volt/sdk';
import { LocalAnswerer } from '@volt/plugin-dns/dist/engine';
import { ipv4ToInt } from '@volt/plugin-dns/dist/zone';

const backend: DnsView = {
  network: 'backend',
  subnet: '10.30.0.0/24',
  forward: true,
  records: [
    { name: 'db-primary', type: 'A', value: '10.30.0.10', network: 'backend' },
    { name: 'db-primary.volt.local', type: 'A', value: '10.30.0.10', network: 'backend' },
    { name: '10.0.30.10.in-addr.arpa', type: 'PTR', value: 'db-primary.volt.local', network: 'backend' },
    { name: 'api-server', type: 'A', value: '10.30.0.100', network: 'backend' },
    { name: 'api-server.volt.local', type: 'A', value: '10.30.0.100', network: 'backend' },
    { name: '100.0.30.10.in-addr.arpa', type: 'PTR', value: 'api-server.volt.local', network: 'backend' },
  ],
};
const internal: DnsView = {
  network: 'internal',
  subnet: '10.50.0.0/24',
  forward: false,
  records: [{ name: 'vault', type: 'A', value: '10.50.0.5', network: 'internal' }],
};

function answerer(): LocalAnswerer {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish(backend);
  a.publish(internal);
  return a;
}

function query(name: string, type: number, edns: boolean | 'do'): Buffer {
  const p = new Packet();
  p.header.id = 4242;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  // The OPT "TTL" holds extended rcode, version and flags; DO is the top flag bit (0x8000).
  if (edns !== false) p.additionals.push(Object.assign(new Packet.Resource({ name: '', type: Packet.TYPE.EDNS, class: 4096, ttl: edns === 'do' ? 0x8000 : 0 }), { rdata: [] }));
  return p.toBuffer();
}

/** The DO bit of an answer whose last record is an OPT without options (as volt-dns writes it); undefined without OPT. */
function doBit(r: Buffer): boolean | undefined {
  if (r.readUInt16BE(10) === 0 || r.readUInt16BE(r.length - 10) !== Packet.TYPE.EDNS) return undefined;
  return (r[r.length - 4]! & 0x80) !== 0;
}

function ask(a: LocalAnswerer, network: string, name: string, type: number = Packet.TYPE.A, edns = false): Packet | 'forward' | 'drop' {
  const r = a.local(network, query(name, type, edns));
  if (r === undefined) return 'drop';
  if (!Buffer.isBuffer(r)) return 'forward';
  // dns2 decodes what the hand-built path produced: the wire format is checked by another reader.
  return Packet.parse(r);
}

function answered(r: Packet | 'forward' | 'drop'): Packet {
  if (typeof r === 'string') throw new Error(`expected an answer, got ${r}`);
  return r;
}

test('A for NAME and NAME.<search domain>, authoritative, id and question case kept', (t) => {
  const a = answerer();
  for (const name of ['db-primary', 'db-primary.volt.local', 'DB-Primary.Volt.Local']) {
    const p = answered(ask(a, 'backend', name));
    t.is(p.header.id, 4242);
    t.is(p.header.rcode, 0);
    t.is(p.header.aa, 1);
    t.is(p.header.ra, 1);
    t.is(p.questions[0]!.name, name, 'question echoed as asked (0x20-safe)');
    t.deepEqual(p.answers.map((x) => [x.type, x.address, x.ttl]), [[1, '10.30.0.10', 0]]);
  }
});

test('PTR for a workload address; NXDOMAIN for a free address of the subnet; others are forwarded', (t) => {
  const a = answerer();
  const p = answered(ask(a, 'backend', '10.0.30.10.in-addr.arpa', Packet.TYPE.PTR));
  t.deepEqual(p.answers.map((x) => x.domain), ['db-primary.volt.local']);
  t.is(answered(ask(a, 'backend', '77.0.30.10.in-addr.arpa', Packet.TYPE.PTR)).header.rcode, 3);
  t.is(ask(a, 'backend', '1.2.0.192.in-addr.arpa', Packet.TYPE.PTR), 'forward');
});

test('unknown names in the search domain: NXDOMAIN with the SOA; bare unknown names: NXDOMAIN; others: forwarded', (t) => {
  const a = answerer();
  const nx = answered(ask(a, 'backend', 'ghost.volt.local'));
  t.is(nx.header.rcode, 3);
  t.is(nx.header.aa, 1);
  t.is(nx.authorities[0]?.type, Packet.TYPE.SOA);
  t.is(nx.authorities[0]?.name, 'volt.local');
  t.is(answered(ask(a, 'backend', 'ghost')).header.rcode, 3);
  t.is(ask(a, 'backend', 'www.example.test'), 'forward');
  t.is(ask(a, 'backend', 'com', Packet.TYPE.NS), 'forward', 'a TLD asked as a zone goes upstream');
});

test('scoped per network: a name of another network is NXDOMAIN here', (t) => {
  const a = answerer();
  t.is(answered(ask(a, 'internal', 'db-primary')).header.rcode, 3);
  t.is(answered(ask(a, 'internal', 'db-primary.volt.local')).header.rcode, 3);
  t.is(answered(ask(a, 'backend', 'vault')).header.rcode, 3);
  t.is(answered(ask(a, 'internal', 'vault')).answers[0]?.address, '10.50.0.5');
});

test('other types of a known name: NODATA, never NXDOMAIN; SOA at the apex', (t) => {
  const a = answerer();
  const aaaa = answered(ask(a, 'backend', 'db-primary.volt.local', Packet.TYPE.AAAA));
  t.is(aaaa.header.rcode, 0);
  t.is(aaaa.answers.length, 0);
  t.is(aaaa.authorities[0]?.type, Packet.TYPE.SOA);
  t.is(answered(ask(a, 'backend', 'db-primary', Packet.TYPE.MX)).header.rcode, 0);
  const soa = answered(ask(a, 'backend', 'volt.local', Packet.TYPE.SOA));
  t.is(soa.answers[0]?.type, Packet.TYPE.SOA);
  t.is(answered(ask(a, 'backend', 'db-primary', Packet.TYPE.ANY)).answers[0]?.address, '10.30.0.10');
});

test('--no-nat networks: names, but external names are REFUSED without recursion', (t) => {
  const a = answerer();
  const r = answered(ask(a, 'internal', 'www.example.test'));
  t.is(r.header.rcode, 5);
  t.is(r.header.ra, 0);
});

test('unsupported: AXFR/IXFR and non-IN classes NOTIMP; OPT as a question FORMERR; unpublished network REFUSED', (t) => {
  const a = answerer();
  t.is(answered(ask(a, 'backend', 'volt.local', Packet.TYPE.AXFR)).header.rcode, 4);
  t.is(answered(ask(a, 'backend', 'volt.local', 251)).header.rcode, 4);
  t.is(answered(ask(a, 'backend', 'db-primary', Packet.TYPE.EDNS)).header.rcode, 1);
  const ch = new Packet();
  ch.header.id = 9;
  ch.questions.push(new Packet.Question('version.bind', Packet.TYPE.TXT, Packet.CLASS.CH));
  t.is(Packet.parse(a.local('backend', ch.toBuffer()) as Buffer).header.rcode, 4);
  t.is(answered(ask(a, 'nowhere', 'db-primary')).header.rcode, 5);
});

test('EDNS queries get an OPT record back', (t) => {
  const a = answerer();
  const p = answered(ask(a, 'backend', 'db-primary', Packet.TYPE.A, true));
  t.is(p.additionals.length, 1);
  t.is(p.additionals[0]?.type, Packet.TYPE.EDNS);
  t.is(p.answers[0]?.address, '10.30.0.10');
});

test('the DO bit of a query is copied into the answer OPT (RFC 3225): answers, NODATA, NXDOMAIN, errors', (t) => {
  const a = answerer();
  const cases: Array<[string, string, number, number]> = [
    ['answer', 'db-primary', Packet.TYPE.A, 0],
    ['NODATA', 'db-primary.volt.local', Packet.TYPE.AAAA, 0],
    ['NXDOMAIN', 'nobody.volt.local', Packet.TYPE.A, 3],
    ['PTR', '10.0.30.10.in-addr.arpa', Packet.TYPE.PTR, 0],
  ];
  for (const [what, name, type, rcode] of cases) {
    for (const edns of [false, true, 'do'] as const) {
      const r = a.local('backend', query(name, type, edns));
      if (!Buffer.isBuffer(r)) return t.fail(`${what}: not answered locally`);
      t.is(Packet.parse(r).header.rcode, rcode, what);
      t.is(doBit(r), edns === false ? undefined : edns === 'do', `${what}, query ${String(edns)}`);
    }
  }
  // Errors too: REFUSED (unpublished network) and NOTIMP (AXFR).
  for (const [network, type] of [['nowhere', Packet.TYPE.A], ['backend', 252]] as const) {
    const r = a.local(network, query('db-primary', type, 'do')) as Buffer;
    t.true(Packet.parse(r).header.rcode !== 0);
    t.true(doBit(r), `${network} type ${type}`);
    t.false(doBit(a.local(network, query('db-primary', type, true)) as Buffer));
  }
});

test('live: republish replaces names, withdraw removes the network', (t) => {
  const a = answerer();
  a.publish({ ...backend, records: backend.records.filter((r) => !r.name.startsWith('db-primary')) });
  t.is(answered(ask(a, 'backend', 'db-primary')).header.rcode, 3);
  t.is(answered(ask(a, 'backend', 'api-server')).answers[0]?.address, '10.30.0.100');
  a.withdraw('backend');
  t.is(answered(ask(a, 'backend', 'api-server')).header.rcode, 5);
});

test('ipv4ToInt: strict dotted quads only', (t) => {
  t.is(ipv4ToInt('10.30.0.1'), 0x0a1e0001);
  t.is(ipv4ToInt('255.255.255.255'), 0xffffffff);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..2.3', 'a.b.c.d', '::ffff:1.2.3.4', '1.2.3.4 ']) t.is(ipv4ToInt(bad), -1, bad);
});

test('AAAA and other types of a workload, bare or qualified, over EDNS too: NODATA with the zone SOA when the name is in it', (t) => {
  const a = answerer();
  for (const type of [Packet.TYPE.AAAA, Packet.TYPE.MX, Packet.TYPE.TXT]) {
    const q = answered(ask(a, 'backend', 'api-server.volt.local', type, true));
    t.is(q.header.rcode, 0);
    t.is(q.header.aa, 1);
    t.is(q.answers.length, 0);
    t.deepEqual(q.authorities.map((x) => [x.name, x.type, x.ttl]), [['volt.local', Packet.TYPE.SOA, 0]]);
    t.is(q.additionals[0]?.type, Packet.TYPE.EDNS);
  }
  // A single-label name is in no zone volt owns: NODATA without an SOA (one from volt.local would be out of bailiwick).
  const bare = answered(ask(a, 'backend', 'api-server', Packet.TYPE.AAAA));
  t.is(bare.header.rcode, 0);
  t.is(bare.answers.length, 0);
  t.is(bare.authorities.length, 0);
  // Repeated (the memo path) it is the same answer.
  t.is(answered(ask(a, 'backend', 'api-server.volt.local', Packet.TYPE.AAAA)).header.rcode, 0);
  t.is(answered(ask(a, 'backend', 'api-server.volt.local', Packet.TYPE.AAAA)).authorities[0]?.type, Packet.TYPE.SOA);
  // A reverse name asked for another type: NODATA too, never NXDOMAIN.
  t.is(answered(ask(a, 'backend', '10.0.30.10.in-addr.arpa', Packet.TYPE.AAAA)).header.rcode, 0);
});

test('new search domains (config reload): zones rebuilt at once, old domain no longer owned, memo of old answers dropped', (t) => {
  const a = answerer();
  t.is(answered(ask(a, 'backend', 'ghost.volt.local')).header.rcode, 3);
  t.is(ask(a, 'backend', 'ghost.corp.internal'), 'forward', 'corp.internal is not ours yet');
  a.setSearchDomains(['corp.internal'], 2);
  // Until the views are republished the old NAME.volt.local records still answer; unknown names there go upstream.
  t.is(ask(a, 'backend', 'ghost.volt.local'), 'forward');
  const nx = answered(ask(a, 'backend', 'ghost.corp.internal'));
  t.is(nx.header.rcode, 3);
  t.is(nx.authorities[0]?.name, 'corp.internal');
  t.is(nx.authorities[0]?.serial, 2);
  a.publish({
    ...backend,
    records: backend.records.map((r) => (r.type === 'A' ? { ...r, name: r.name.replace('volt.local', 'corp.internal') } : { ...r, value: r.value.replace('volt.local', 'corp.internal') })),
  });
  t.is(answered(ask(a, 'backend', 'db-primary.corp.internal')).answers[0]?.address, '10.30.0.10');
  t.is(ask(a, 'backend', 'db-primary.volt.local'), 'forward');
  t.is(answered(ask(a, 'backend', 'vault')).header.rcode, 3, 'other networks follow too');
  t.is(answered(ask(a, 'internal', 'vault')).answers[0]?.address, '10.50.0.5');
});
