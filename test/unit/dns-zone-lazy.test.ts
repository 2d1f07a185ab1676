import test from 'ava';
import { Packet } from 'dns2';
import type { DnsView } from '@volt/sdk';
import { LocalAnswerer } from '@volt/plugin-dns/dist/engine';

/*
 * LocalAnswerer encodes a network's zone when the network is first asked, not
 * when it is published (docs/decisions/0012-dns-startup.md): what it answers
 * must be what an eager build answered, whatever happens between publish and
 * the first query.
 */

function view(network: string, third: number, names: Record<string, number>): DnsView {
  return {
    network,
    subnet: `10.${third}.0.0/24`,
    forward: false,
    records: Object.entries(names).map(([name, host]) => ({ name, type: 'A' as const, value: `10.${third}.0.${host}`, network })),
  };
}

function ask(a: LocalAnswerer, network: string, name: string): { rcode: number; addresses: string[] } {
  const p = new Packet();
  p.header.id = 7;
  p.questions.push(new Packet.Question(name, Packet.TYPE.A, Packet.CLASS.IN));
  const r = a.local(network, p.toBuffer());
  if (!Buffer.isBuffer(r)) throw new Error(`expected an answer for ${name} on ${network}`);
  const got = Packet.parse(r);
  return { rcode: got.header.rcode, addresses: got.answers.map((x) => x.address ?? '') };
}

test('the last view published before the first query is the one answered', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish(view('n1', 31, { web: 2 }));
  a.publish(view('n1', 31, { web: 3, db: 4 }));
  t.deepEqual(ask(a, 'n1', 'web'), { rcode: 0, addresses: ['10.31.0.3'] });
  t.deepEqual(ask(a, 'n1', 'db'), { rcode: 0, addresses: ['10.31.0.4'] });
});

test('a republish after queries replaces the zone (and its remembered answers)', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish(view('n1', 31, { web: 2 }));
  t.deepEqual(ask(a, 'n1', 'web').addresses, ['10.31.0.2']);
  t.deepEqual(ask(a, 'n1', 'web').addresses, ['10.31.0.2'], 'a repeat (the memo)');
  a.publish(view('n1', 31, { web: 9 }));
  t.deepEqual(ask(a, 'n1', 'web').addresses, ['10.31.0.9']);
});

test('withdrawn before it was ever asked: refused, as a network never published', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  a.publish(view('n1', 31, { web: 2 }));
  a.withdraw('n1');
  t.is(ask(a, 'n1', 'web').rcode, 5);
  t.is(ask(a, 'never', 'web').rcode, 5);
});

test('new search domains rebuild every zone from its last view, asked or not', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  const names = (d: string): Record<string, number> => ({ web: 2, [`web.${d}`]: 2 });
  a.publish(view('n1', 31, names('volt.local')));
  a.publish(view('n2', 32, names('volt.local')));
  t.deepEqual(ask(a, 'n1', 'web.volt.local').addresses, ['10.31.0.2']);
  a.setSearchDomains(['corp.test'], 2);
  a.publish(view('n1', 31, names('corp.test')));
  a.publish(view('n2', 32, names('corp.test')));
  t.deepEqual(ask(a, 'n2', 'web.corp.test').addresses, ['10.32.0.2']);
  // No longer volt's domain: not answered from the zone (forward is off, so refused).
  t.is(ask(a, 'n1', 'web.volt.local').rcode, 5);
});

test('fifty networks published, each answers its own names only', (t) => {
  const a = new LocalAnswerer(['volt.local'], 1);
  for (let i = 0; i < 50; i++) a.publish(view(`n${i}`, 100 + i, { [`w${i}`]: 10 }));
  for (let i = 49; i >= 0; i--) {
    t.deepEqual(ask(a, `n${i}`, `w${i}`).addresses, [`10.${100 + i}.0.10`]);
    t.deepEqual(ask(a, `n${i}`, `w${(i + 1) % 50}`).addresses, [], 'another network’s name is not known here');
  }
});
