import test from 'ava';
import { compareIds } from '@volt/core/dist/output/collate';

const sign = (n: number): number => Math.sign(n);

test('compareIds orders like localeCompare for identifier-like strings', (t) => {
  const chars = '_-:0123456789abcdefghijklmnopqrstuvwxyz';
  // Punctuation-heavy strings find the places where ASCII order and ICU order differ.
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const word = (): string => {
    let s = '';
    const len = 1 + rnd(7);
    for (let i = 0; i < len; i++) s += chars[rnd(rnd(2) === 0 ? 6 : chars.length)];
    return s;
  };
  let checked = 0;
  for (let i = 0; i < 20000; i++) {
    const a = word();
    const b = word();
    if (sign(compareIds(a, b)) !== sign(a.localeCompare(b))) {
      t.fail(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${compareIds(a, b)} but localeCompare ${a.localeCompare(b)}`);
      return;
    }
    checked++;
  }
  t.is(checked, 20000);
});

test('compareIds sorts command ids and network names as localeCompare does', (t) => {
  const ids = ['net:list', 'net:bridge:create', 'net-x', 'net_y', 'net1', 'net', 'n1', 'n10', 'n2', 'volt0', 'a-b', 'a_b', 'a:b', 'a0', 'ab'];
  t.deepEqual([...ids].sort(compareIds), [...ids].sort((a, b) => a.localeCompare(b)));
});

test('compareIds falls back to localeCompare for anything else', (t) => {
  for (const [a, b] of [
    ['Net', 'net'],
    ['net', 'NET'],
    ['é', 'e'],
    ['a.b', 'a-b'],
    ['a b', 'ab'],
    ['', 'a'],
  ] as const) {
    t.is(sign(compareIds(a, b)), sign(a.localeCompare(b)), `${a} vs ${b}`);
  }
});
