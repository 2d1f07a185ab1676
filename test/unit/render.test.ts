import test from 'ava';
import { table, keyValues, serialize } from '@volt/core/dist/output/render';

test('tables align columns under upper-case headers', (t) => {
  const out = table(
    [
      { header: 'NAME', get: (r: { n: string; m: number }) => r.n },
      { header: 'MTU', get: (r: { n: string; m: number }) => r.m },
    ],
    [
      { n: 'volt0', m: 1500 },
      { n: 'backend', m: 9000 },
    ],
  );
  t.is(out, ['NAME     MTU', 'volt0    1500', 'backend  9000'].join('\n'));
});

test('empty cells show a dash, booleans yes/no', (t) => {
  t.is(keyValues([['NAT', true], ['Ports', '']]), 'NAT:   yes\nPorts: -');
});

test('json and yaml serialisation', (t) => {
  t.is(serialize({ a: 1 }, 'json'), '{\n  "a": 1\n}');
  t.is(serialize({ a: 1 }, 'yaml'), 'a: 1');
});
