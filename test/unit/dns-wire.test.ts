import test from 'ava';
import { Packet } from 'dns2';
import { DROP, RCODE, keyLabels, keyWithin, nameKey, parseQuery, scanResponse } from '@volt/plugin-dns/dist/wire';

/** A query as a real client sends it, through dns2's encoder. */
function query(name: string, type = Packet.TYPE.A, opts: { id?: number; edns?: boolean } = {}): Buffer {
  const p = new Packet();
  p.header.id = opts.id ?? 0x1234;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  if (opts.edns) p.additionals.push(Object.assign(new Packet.Resource({ name: '', type: Packet.TYPE.EDNS, class: 4096, ttl: 0 }), { rdata: [] }));
  return p.toBuffer();
}

test('a query: id, lower-cased wire key, type, class, question end', (t) => {
  const q = parseQuery(query('Db-Primary.Volt.LOCAL'));
  t.is(q.rcode, 0);
  t.is(q.id, 0x1234);
  t.is(q.key, nameKey('db-primary.volt.local'));
  t.deepEqual(keyLabels(q.key), ['db-primary', 'volt', 'local']);
  t.is(q.qtype, 1);
  t.is(q.qclass, 1);
  t.is(q.questionEnd, 12 + 1 + 10 + 1 + 4 + 1 + 5 + 1 + 4);
  t.false(q.edns);
  t.is(q.udpSize, 512);
});

test('EDNS: payload size and DO read from the OPT record', (t) => {
  const q = parseQuery(query('a', 1, { edns: true }));
  t.true(q.edns);
  t.is(q.udpSize, 4096);
  const b = query('a', 1, { edns: true });
  b.writeUInt16BE(0x8000, b.length - 4); // DO bit in the OPT flags
  t.true(parseQuery(b).dnssecOk);
});

function header(flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(7, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}
const qtail = Buffer.from([0, 0, 1, 0, 1]);

const rows: [string, Buffer, number][] = [
  ['empty', Buffer.alloc(0), DROP],
  ['shorter than a header', Buffer.from([1, 2, 3, 4, 5]), DROP],
  ['a response (QR set)', Buffer.concat([header(0x8000, 1), Buffer.from([1, 0x61]), qtail]), DROP],
  ['opcode UPDATE', Buffer.concat([header(5 << 11, 1), Buffer.from([1, 0x61]), qtail]), RCODE.NOTIMP],
  ['no question', header(0x0100, 0), RCODE.FORMERR],
  ['two questions', Buffer.concat([header(0x0100, 2), Buffer.from([1, 0x61]), qtail, Buffer.from([1, 0x62]), qtail]), RCODE.FORMERR],
  ['answers in a query', Buffer.concat([header(0x0100, 1, 1), Buffer.from([1, 0x61]), qtail]), RCODE.FORMERR],
  ['name runs past the end', Buffer.concat([header(0x0100, 1), Buffer.from([9, 0x61, 0x62])]), RCODE.FORMERR],
  ['label longer than 63', Buffer.concat([header(0x0100, 1), Buffer.from([64]), Buffer.alloc(64, 0x61), qtail]), RCODE.FORMERR],
  ['compression pointer in the question', Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]), RCODE.FORMERR],
  ['name over 255 octets', Buffer.concat([header(0x0100, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])), qtail]), RCODE.FORMERR],
  ['no type and class', Buffer.concat([header(0x0100, 1), Buffer.from([1, 0x61, 0, 0])]), RCODE.FORMERR],
  ['oversized (5000 bytes)', Buffer.concat([header(0x0100, 1), Buffer.from([1, 0x61]), qtail, Buffer.alloc(5000)]), RCODE.FORMERR],
  ['additional record runs past the end', Buffer.concat([header(0x0100, 1, 0, 0, 1), Buffer.from([1, 0x61]), qtail, Buffer.from([0, 0, 41, 16])]), RCODE.FORMERR],
  [
    'two OPT records',
    Buffer.concat([header(0x0100, 1, 0, 0, 2), Buffer.from([1, 0x61]), qtail, Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0])]),
    RCODE.FORMERR,
  ],
  ['EDNS version 1', Buffer.concat([header(0x0100, 1, 0, 0, 1), Buffer.from([1, 0x61]), qtail, Buffer.from([0, 0, 41, 16, 0, 0, 1, 0, 0, 0, 0])]), RCODE.BADVERS],
];

for (const [title, msg, rcode] of rows) {
  test(`malformed: ${title} → ${rcode === DROP ? 'dropped' : `rcode ${rcode}`}`, (t) => {
    t.is(parseQuery(msg).rcode, rcode);
  });
}

test('parseQuery never throws on random bytes', (t) => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 0) / 0x7fffffff;
  for (let i = 0; i < 20000; i++) {
    const len = Math.floor(rnd() * 600);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    if (len > 4 && rnd() < 0.5) b[2] &= 0x07; // mostly queries, so the parser goes deep
    t.notThrows(() => parseQuery(b));
  }
});

test('keyWithin: on label boundaries only', (t) => {
  const zone = nameKey('volt.local');
  t.true(keyWithin(nameKey('a.volt.local'), zone));
  t.true(keyWithin(nameKey('volt.local'), zone));
  t.false(keyWithin(nameKey('avolt.local'), zone));
  t.false(keyWithin(nameKey('volt.local.evil'), zone));
});

test('scanResponse: TTL offsets, smallest answer TTL, negative TTL from the SOA', (t) => {
  const p = new Packet();
  p.header.qr = 1;
  p.questions.push(new Packet.Question('x.example', 1, 1));
  p.answers.push(new Packet.Resource({ name: 'x.example', type: 1, class: 1, ttl: 300, address: '192.0.2.1' }));
  p.answers.push(new Packet.Resource({ name: 'x.example', type: 1, class: 1, ttl: 60, address: '192.0.2.2' }));
  const b = p.toBuffer();
  const s = scanResponse(b)!;
  t.is(s.ttl, 60);
  t.deepEqual(s.ttlOffsets.map((o) => b.readUInt32BE(o)), [300, 60]);

  const n = new Packet();
  n.header.qr = 1;
  n.header.rcode = 3;
  n.questions.push(new Packet.Question('nope.example', 1, 1));
  n.authorities.push(
    new Packet.Resource({ name: 'example', type: 6, class: 1, ttl: 900, primary: 'ns.example', admin: 'h.example', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 30 }),
  );
  const ns = scanResponse(n.toBuffer())!;
  t.is(ns.rcode, 3);
  t.is(ns.ttl, 30, 'min(SOA TTL, SOA minimum)');
  t.is(scanResponse(Buffer.from([1, 2, 3])), undefined);
});
