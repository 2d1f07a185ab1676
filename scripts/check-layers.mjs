// Imports point downward only: native, sdk ← core ← plugins. koffi lives in native/ alone. Plugins
// (ours and third parties') use the driver API only through @volt/sdk, never core's files.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const coreDist = /^@volt\/core\/dist(\/|$)/;
const rules = [
  { dir: 'native/src', forbid: [/^@volt\//], why: 'native/ is the bottom layer and imports no volt package' },
  { dir: 'sdk/src', forbid: [/^@volt\//, /^koffi$/, /^\.\.\/\.\.\//], why: 'the SDK is published on its own (npm pack): it imports no volt package and nothing outside sdk/' },
  { dir: 'core/src', forbid: [/^@volt\/plugin-/, /^koffi$/, coreDist], why: 'core never imports a plugin, and only native/ loads koffi' },
  { dir: 'plugins', forbid: [/^koffi$/, /^@volt\/core(\/|$)/, /^\.\.\/\.\.\/\.\.\/(core|sdk)/, /^\.\.\/\.\.\/(core|native|sdk)\//], why: 'plugins use the driver API through @volt/sdk (never @volt/core or its dist/ files), native through its package, and only native/ loads koffi' },
  { dir: 'examples', forbid: [/^koffi$/, /^@volt\/core(\/|$)/, /^@volt\/native(\/|$)/, /^\.\.\/\.\.\/\.\.\//, /^\.\.\/\.\.\//], why: 'an example is a third-party plugin: it depends on @volt/sdk alone' },
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

const importRe = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
let bad = 0;
for (const rule of rules) {
  for (const file of files(join(root, rule.dir))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (rule.forbid.some((re) => re.test(spec))) {
        console.error(`layers: ${relative(root, file)} imports "${spec}": ${rule.why}`);
        bad++;
      }
    }
  }
}
// A plugin may not import another plugin either.
for (const file of files(join(root, 'plugins'))) {
  const own = relative(join(root, 'plugins'), file).split('/')[0];
  for (const m of readFileSync(file, 'utf8').matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const other = /^@volt\/plugin-([a-z0-9-]+)/.exec(spec)?.[1];
    if (other && other !== own) {
      console.error(`layers: ${relative(root, file)} imports plugin "${spec}": plugins only meet through core's contracts`);
      bad++;
    }
  }
}
// Every package a workspace loads at run time is declared in its package.json (a workspace link or a
// hoisted copy would hide a missing one until someone installs the plugin on its own). Type-only
// imports are erased by tsc and do not count.
const builtin = new Set((await import('node:module')).builtinModules);
for (const pkgDir of ['native', 'sdk', 'core', ...readdirSync(join(root, 'plugins')).map((p) => `plugins/${p}`), ...readdirSync(join(root, 'examples')).map((p) => `examples/${p}`)]) {
  let pkg;
  try {
    pkg = JSON.parse(readFileSync(join(root, pkgDir, 'package.json'), 'utf8'));
  } catch {
    continue;
  }
  const declared = new Set([pkg.name, ...Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies })]);
  let src;
  try {
    src = [...files(join(root, pkgDir, 'src'))];
  } catch {
    continue;
  }
  for (const file of src) {
    for (const m of readFileSync(file, 'utf8').matchAll(importRe)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (/^(import|export)\s+type\s/.test(m[0])) continue;
      if (spec.startsWith('.') || spec.startsWith('node:') || builtin.has(spec.split('/')[0])) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!declared.has(name)) {
        console.error(`deps: ${relative(root, file)} imports "${name}", which ${pkgDir}/package.json does not declare`);
        bad++;
      }
    }
  }
}
// Strict typing: no explicit `any` in any layer (values from outside are parsed into types at the edge).
// Found with the TypeScript parser, so prose and strings that say "any" do not count.
const ts = createRequire(import.meta.url)('typescript');
for (const dir of ['native/src', 'sdk/src', 'core/src', 'plugins', 'examples', 'test']) {
  for (const file of files(join(root, dir))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node) => {
      if (node.kind === ts.SyntaxKind.AnyKeyword) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        console.error(`types: ${relative(root, file)}:${line + 1}: explicit any`);
        bad++;
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
}
if (bad > 0) process.exit(1);
console.log('layers: ok (native, sdk ← core ← plugins; plugins and examples use @volt/sdk only); no explicit any');
