import test from 'ava';
import { parseFastArgv } from '@volt/core/dist/cli/fast-path';

test('the fast path takes only the exact argv shapes it answers like oclif', (t) => {
  t.deepEqual(parseFastArgv(['--version']), { kind: 'version' });
  t.deepEqual(parseFastArgv(['net', 'list']), { kind: 'net-list', output: 'table', debug: false });
  t.deepEqual(parseFastArgv(['net', 'list', '-o', 'json']), { kind: 'net-list', output: 'json', debug: false });
  t.deepEqual(parseFastArgv(['net', 'list', '--output', 'yaml', '--debug']), { kind: 'net-list', output: 'yaml', debug: true });
  t.deepEqual(parseFastArgv(['net', 'list', '--output=table']), { kind: 'net-list', output: 'table', debug: false });
  // Everything else goes to oclif, which parses it and gives its own errors.
  for (const argv of [
    [],
    ['--version', '--verbose'],
    ['-v'],
    ['net'],
    ['net', 'lis'],
    ['net', 'list', '--help'],
    ['net', 'list', '-h'],
    ['net', 'list', '-o'],
    ['net', 'list', '-o', 'xml'],
    ['net', 'list', '-ojson'],
    ['net', 'list', '-o', 'json', '-o', 'yaml'],
    ['net', 'list', '--debug', '--debug'],
    ['net', 'list', 'extra'],
    ['net', 'create', '--name', 'x'],
  ]) {
    t.is(parseFastArgv(argv), undefined, argv.join(' '));
  }
});
