// Bundles core's compiled commands, @oclif/core and core's own dependencies
// (tsyringe, reflect-metadata, yaml, typebox) into core/dist/volt.js, so that a
// `volt` call loads one file instead of hundreds of modules; core/bin/run.js
// loads it through a V8 code cache. See docs/decisions/0002-cli-startup.md.
//
// Input is tsc's output (core/dist), not the TypeScript sources: tsc emits the
// decorator metadata tsyringe needs, esbuild does not. Output is CommonJS and
// exports:
//   execute   @oclif/core's execute (core/bin/run.js calls it)
//   COMMANDS  { [id]: CommandClass }, read by oclif through
//             core/package.json `oclif.commands: { strategy: 'explicit', ... }`;
//             each entry is a getter, so only the command that runs is evaluated.
// Plugins (bundled or installed) stay separate packages and load as before.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const core = join(root, 'core');
const srcCommands = join(core, 'src', 'commands');
const outfile = join(core, 'dist', 'volt.js');

// Commands come from the sources, so a stale file left in dist/ by a deleted
// source is not picked up.
function* commandSources(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* commandSources(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const commands = [...commandSources(srcCommands)].map((file) => {
  const rel = relative(srcCommands, file).replace(/\.ts$/, '');
  const id = rel.split(sep).filter((part, i, all) => !(part === 'index' && i === all.length - 1)).join(':');
  return { id, module: `./commands/${rel.split(sep).join('/')}.js` };
});
if (commands.length === 0) throw new Error(`bundle: no commands under ${relative(root, srcCommands)}`);

const entry = [
  "'use strict';",
  // oclif's index checks the Node version against `engines` of the package.json one
  // directory above its own file: inside the bundle that is core/package.json, which
  // has none, so the check can only fail quietly, after loading semver (about 3 ms).
  // oclif's own switch skips it, set for this require only. (npm's engine-strict
  // and the root package.json's `engines` are what hold the Node version.)
  'const engineSwitch = process.env.OCLIF_DISABLE_ENGINE_WARNING;',
  "process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true';",
  "try { exports.execute = require('@oclif/core').execute; }",
  'finally { if (engineSwitch === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING; else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineSwitch; }',
  'const COMMANDS = {};',
  ...commands.map(
    (c) =>
      `Object.defineProperty(COMMANDS, ${JSON.stringify(c.id)}, { enumerable: true, get: () => require(${JSON.stringify(c.module)}).default });`,
  ),
  'exports.COMMANDS = COMMANDS;',
].join('\n');

// Source patches, each applied as many times as expected or the build fails (an
// upgrade that moves the code must be looked at, not silently lose the patch).
//
// Dynamic import(): the loader compiles this file with node:vm, and on Node 20 an
// import() in code that comes from a V8 code cache made by another process fails
// (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING: the cache carries the callback id of the
// process that made it). So the few import() calls (oclif loading an ESM plugin or
// command, such as @oclif/plugin-plugins; tsx; lilconfig) go through __voltImport,
// which is core/bin/run.js's own import() when the loader passes it in, and a
// plain import() when the file is require()d (oclif manifest at build time).
const IMPORT_BANNER = '"use strict";var __voltImport=typeof __voltImportHost==="function"?__voltImportHost:(s=>import(s));';
const patches = [
  {
    file: /[\\/]@oclif[\\/]core[\\/]lib[\\/]module-loader\.js$/,
    from: 'await import((0, node_url_1.pathToFileURL)(filePath).href)',
    to: 'await __voltImport((0, node_url_1.pathToFileURL)(filePath).href)',
    count: 3,
  },
  {
    file: /[\\/]@oclif[\\/]core[\\/]lib[\\/]config[\\/]ts-path\.js$/,
    from: 'await import(href)',
    to: 'await __voltImport(href)',
  },
  {
    file: /[\\/]lilconfig[\\/]src[\\/]index\.js$/,
    from: 'await import(/* webpackIgnore: true */ fileUrl)',
    to: 'await __voltImport(fileUrl)',
  },
  {
    // Plugin.load sorts each plugin's commands with localeCompare; the first call
    // builds ICU's collator (about 12 ms). compareIds gives the same order without
    // it for identifier-like ids, and is localeCompare for anything else.
    file: /[\\/]@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/,
    from: '.sort((a, b) => a.id.localeCompare(b.id))',
    to: `.sort((a, b) => require(${JSON.stringify(join(core, 'dist', 'output', 'collate.js'))}).compareIds(a.id, b.id))`,
  },
];
const applied = new Set();
const patchPlugin = {
  name: 'volt-patches',
  setup(b) {
    for (const p of patches) {
      b.onLoad({ filter: p.file }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        const n = text.split(p.from).length - 1;
        if (n !== (p.count ?? 1)) throw new Error(`bundle: expected "${p.from}" ${p.count ?? 1} time(s) in ${args.path}, found it ${n} times`);
        applied.add(p);
        return { contents: text.split(p.from).join(p.to), loader: 'js' };
      });
    }
  },
};

// Inside a bundle every module's __dirname is core/dist: a core module that finds
// files next to itself would look in the wrong place. Say so at build time.
function checkInputs(metafile) {
  for (const input of Object.keys(metafile.inputs)) {
    // The SDK (sdk/dist, bundled into core like any dependency) is held to the same rule.
    if (!(input.startsWith('core/dist/') || input.startsWith('sdk/dist/')) || input.endsWith('/volt-entry.js')) continue; // volt-entry.js: the generated entry (stdin)
    const m = /\b(__dirname|__filename|require\.resolve)\b/.exec(readFileSync(join(root, input), 'utf8'));
    if (m) throw new Error(`bundle: ${input} uses ${m[1]}, which means core/dist/ once bundled; pass paths in (see sdk/src/paths.ts) or mark the module external`);
  }
}

// Keep the file ASCII: the loader then reads it as a one-byte string (latin1),
// which is several times cheaper than decoding UTF-8. esbuild already escapes
// strings, templates and identifiers; what is left is in regular expression
// literals and comments, where a \uXXXX escape means the same character.
// Every import() must also have gone through __voltImport (see IMPORT_BANNER).
function asciiOnly(file) {
  let ascii = readFileSync(file, 'utf8');
  let escaped = 0;
  ascii = ascii.replace(/[^\x00-\x7f]/g, (c) => {
    escaped++;
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (escaped > 0) writeFileSync(file, ascii);
  const stray = ascii.split(IMPORT_BANNER).join('').split('"import()"').join('').match(/.{0,60}\bimport\(.{0,40}/);
  if (stray) throw new Error(`bundle: an import() not routed through __voltImport: ${stray[0]}`);
  return { ascii, escaped };
}

const result = await build({
  stdin: { contents: entry, resolveDir: join(core, 'dist'), sourcefile: 'volt-entry.js', loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile,
  // A smaller file and code cache (about 5 ms a call). Function and class names
  // are kept, so stack traces and error names still read; VOLT_BUNDLE_READABLE=1
  // keeps local names too (for profiling).
  minify: !process.env.VOLT_BUNDLE_READABLE,
  minifyWhitespace: !process.env.VOLT_BUNDLE_READABLE,
  keepNames: true,
  legalComments: 'none',
  banner: { js: IMPORT_BANNER },
  external: [
    // native/ (koffi and its binary) stays its own package: the only place koffi loads, from where it is installed.
    '@volt/native',
    // oclif reads a plugin's tsconfig with it in development mode only; never on a user's path.
    'typescript',
    // The conformance kit (`volt driver test` only) starts its driver process from a file next to its own.
    '@volt/sdk/testing',
  ],
  logLevel: 'warning',
  // oclif's own dynamic requires (plugins, hooks, ts-node) stay runtime requires; that is what they are.
  logOverride: { 'unsupported-require-call': 'silent', 'unsupported-dynamic-import': 'silent' },
  metafile: true,
  plugins: [patchPlugin],
});
for (const p of patches) if (!applied.has(p)) throw new Error(`bundle: no file matched ${p.file} (patch "${p.from}")`);
checkInputs(result.metafile);
// VOLT_BUNDLE_META=file.json writes esbuild's metafile (what went in, and how big).
if (process.env.VOLT_BUNDLE_META) writeFileSync(process.env.VOLT_BUNDLE_META, JSON.stringify(result.metafile));
const { ascii, escaped } = asciiOnly(outfile);
const bytes = statSync(outfile).size;
const inputs = Object.keys(result.metafile.inputs).length;
console.log(`bundle: ${relative(root, outfile)} (${commands.length} commands, ${inputs} modules, ${(bytes / 1024).toFixed(0)} KiB, ${escaped} non-ASCII characters escaped)`);
// Fail the build if a command did not make it in.
for (const c of commands) if (!ascii.includes(JSON.stringify(c.id))) throw new Error(`bundle: command ${c.id} missing from ${outfile}`);

// The fast path (core/src/cli/fast-path.ts; docs/decisions/0007-cli-startup-2.md):
// `volt --version` and `volt net list` answered without oclif, from a second, much
// smaller file that core/bin/run.js tries first for those argv shapes. It must not
// contain oclif: that is what it exists to avoid loading (the build fails if it does).
// It is separate from volt.js rather than a lazy export of it, since loading volt.js
// (reading, code cache deserialisation) is itself a good part of the cost.
const fastOutfile = join(core, 'dist', 'volt-fast.js');
const fast = await build({
  entryPoints: [join(core, 'dist', 'cli', 'fast-path.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: fastOutfile,
  minify: !process.env.VOLT_BUNDLE_READABLE,
  minifyWhitespace: !process.env.VOLT_BUNDLE_READABLE,
  keepNames: true,
  legalComments: 'none',
  banner: { js: IMPORT_BANNER },
  // yaml and typebox (three quarters of the file) load only for a config file or `-o yaml`;
  // from node_modules then, as they would unbundled, rather than read on every call.
  external: ['@volt/native', 'yaml', '@sinclair/typebox', '@sinclair/typebox/*'],
  logLevel: 'warning',
  // The plugins' hook modules are runtime requires by design.
  logOverride: { 'unsupported-require-call': 'silent' },
  metafile: true,
});
checkInputs(fast.metafile);
const oclifIn = Object.keys(fast.metafile.inputs).find((i) => /node_modules[\\/]@oclif[\\/]/.test(i));
if (oclifIn) throw new Error(`bundle: ${relative(root, fastOutfile)} pulls in oclif (${oclifIn}); the fast path must not import @oclif/core (type imports only)`);
asciiOnly(fastOutfile);
console.log(`bundle: ${relative(root, fastOutfile)} (fast path, ${Object.keys(fast.metafile.inputs).length} modules, ${(statSync(fastOutfile).size / 1024).toFixed(0)} KiB)`);
