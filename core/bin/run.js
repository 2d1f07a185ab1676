#!/usr/bin/env node
'use strict';
// core/dist/volt.js is @oclif/core and core's commands in one file (scripts/bundle.mjs),
// loaded through a V8 code cache (core/src/cli/code-cache.ts; VOLT_CODE_CACHE=off turns it off).
const path = require('node:path');
const { requireWithCodeCache } = require('../dist/cli/code-cache.js');

// The kind of call, for the code cache only: the first two words (`net list`), and
// whether help or version was asked for. A wrong guess costs speed, never correctness.
function callKind(argv) {
  const words = [];
  for (const a of argv) {
    if (a === '--help' || a === '-h' || a === '--version' || a === '-v') return [...words, a].join(' ');
    if (a.startsWith('-') || words.length === 2) break;
    if (/^[a-z][a-z0-9-]*$/.test(a)) words.push(a);
    else break;
  }
  return words.join(' ');
}

function viaOclif() {
  return requireWithCodeCache(path.join(__dirname, '..', 'dist', 'volt.js'), {
    variant: callKind(process.argv.slice(2)),
    // oclif loads ESM plugins and commands (e.g. @oclif/plugin-plugins) with import(); it must be one
    // compiled by Node's own loader, which this file is (see code-cache.ts).
    dynamicImport: (specifier) => import(specifier),
  }).execute({ dir: __dirname });
}

// `volt --version` and `volt net list` first try dist/volt-fast.js, which answers them without
// loading oclif when that gives the same result, and otherwise hands over before printing
// anything (core/src/cli/fast-path.ts; docs/decisions/0007-cli-startup-2.md).
// VOLT_FAST_PATH=off always goes through oclif.
const argv = process.argv.slice(2);
const fastOff = ['off', '0', 'false', 'no'].includes((process.env.VOLT_FAST_PATH ?? '').trim().toLowerCase());
if (!fastOff && ((argv[0] === 'net' && argv[1] === 'list') || (argv.length === 1 && argv[0] === '--version'))) {
  const fast = requireWithCodeCache(path.join(__dirname, '..', 'dist', 'volt-fast.js'), {
    variant: callKind(argv),
    dynamicImport: (specifier) => import(specifier),
  });
  fast.runFast(argv, path.join(__dirname, '..')).then((done) => {
    if (!done) return viaOclif();
  });
} else {
  viaOclif();
}
