import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODES, isKnownErrorCode } from '@volt/sdk/errors';

const REPO = path.resolve(__dirname, '../../..');

function* sources(dir: string): Generator<string> {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

/** Every `'E_…'` literal in the product's sources, with where it is. */
function codesInSources(): Map<string, string> {
  const dirs = ['native/src', 'sdk/src', 'core/src'];
  for (const top of ['plugins', 'examples']) for (const p of fs.readdirSync(path.join(REPO, top))) dirs.push(`${top}/${p}/src`);
  const found = new Map<string, string>();
  for (const dir of dirs) {
    for (const file of sources(path.join(REPO, dir))) {
      if (file.endsWith(path.join('errors', 'codes.ts'))) continue;
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/['"`](E_[A-Z0-9]+(?:_[A-Z0-9]+)*)['"`]/g)) {
        if (!found.has(m[1]!)) found.set(m[1]!, path.relative(REPO, file));
      }
    }
  }
  return found;
}

test('every error code the sources throw is in the catalog (sdk/src/errors/codes.ts)', (t) => {
  const missing = [...codesInSources()].filter(([code]) => !isKnownErrorCode(code)).map(([code, file]) => `${code} (${file})`);
  t.deepEqual(missing, [], 'add these to ERROR_CODES and docs/errors.md');
});

test('the catalog has no code that nothing uses any more', (t) => {
  const used = codesInSources();
  t.deepEqual(Object.keys(ERROR_CODES).filter((c) => !used.has(c)), []);
});

test('docs/errors.md lists exactly the catalog, with the same exit codes', (t) => {
  const doc = fs.readFileSync(path.join(REPO, 'docs/errors.md'), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `(E_[A-Z0-9_]+)` \| ([0-9, ]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  const catalog = new Map(Object.entries(ERROR_CODES).map(([code, e]) => [code, ([] as number[]).concat(e.exit).join(', ')]));
  t.deepEqual([...rows.keys()].sort(), [...catalog.keys()].sort());
  for (const [code, exit] of catalog) t.is(rows.get(code), exit, code);
});
