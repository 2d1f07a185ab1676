import test from 'ava';
import { Packet } from 'dns2';
import { AnswerCache } from '@volt/plugin-dns/dist/answer-cache';

function response(opts: { rcode?: number; tc?: boolean; ttl?: number; soaMin?: number }): Buffer {
  const p = new Packet();
  p.header.id = 1;
  p.header.qr = 1;
  p.header.rcode = opts.rcode ?? 0;
  p.header.tc = opts.tc ? 1 : 0;
  p.questions.push(new Packet.Question('x.example', 1, 1));
  if (opts.ttl !== undefined) p.answers.push(new Packet.Resource({ name: 'x.example', type: 1, class: 1, ttl: opts.ttl, address: '192.0.2.1' }));
  if (opts.soaMin !== undefined) {
    p.authorities.push(
      new Packet.Resource({ name: 'example', type: 6, class: 1, ttl: 3600, primary: 'ns.example', admin: 'h.example', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: opts.soaMin }),
    );
  }
  return p.toBuffer();
}

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('answers live as long as their TTL, counting down', (t) => {
  const c = clock();
  const cache = new AnswerCache(100, c.now);
  t.true(cache.put('k', response({ ttl: 10 })));
  t.is(Packet.parse(cache.get('k')!).answers[0]!.ttl, 10);
  c.advance(4_500);
  t.is(Packet.parse(cache.get('k')!).answers[0]!.ttl, 6);
  c.advance(5_600);
  t.is(cache.get('k'), undefined, 'expired after 10 s');
  t.is(cache.size, 0);
});

test('negative answers live as long as the SOA says (RFC 2308); SERVFAIL, TC and TTL 0 are not kept', (t) => {
  const c = clock();
  const cache = new AnswerCache(100, c.now);
  t.true(cache.put('nx', response({ rcode: 3, soaMin: 5 })));
  c.advance(4_000);
  t.truthy(cache.get('nx'));
  c.advance(1_500);
  t.is(cache.get('nx'), undefined);
  t.false(cache.put('sf', response({ rcode: 2 })));
  t.false(cache.put('tc', response({ ttl: 60, tc: true })));
  t.false(cache.put('zero', response({ ttl: 0 })));
  t.false(cache.put('nosoa', response({ rcode: 3 })), 'a negative answer without SOA has no TTL');
});

test('bounded: the oldest entry goes first; flush says how many were dropped', (t) => {
  const cache = new AnswerCache(3);
  for (const k of ['a', 'b', 'c', 'd']) cache.put(k, response({ ttl: 60 }));
  t.is(cache.size, 3);
  t.is(cache.get('a'), undefined);
  t.truthy(cache.get('d'));
  t.is(cache.flush(), 3);
  t.is(cache.size, 0);
});

test('a hit is a copy: changing it does not change the cache', (t) => {
  const cache = new AnswerCache(3);
  cache.put('k', response({ ttl: 60 }));
  const a = cache.get('k')!;
  a.writeUInt16BE(999, 0);
  t.is(cache.get('k')!.readUInt16BE(0), 1);
});
