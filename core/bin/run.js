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

requireWithCodeCache(path.join(__dirname, '..', 'dist', 'volt.js'), {
  variant: callKind(process.argv.slice(2)),
  // oclif loads ESM plugins and commands (e.g. @oclif/plugin-plugins) with import(); it must be one
  // compiled by Node's own loader, which this file is (see code-cache.ts).
  dynamicImport: (specifier) => import(specifier),
}).execute({ dir: __dirname });
