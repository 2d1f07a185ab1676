import test from 'ava';
import { kernelAccess, nftLibraryCall, nftRunner, type NftLibrary } from '@volt/sdk/kernel';
import { VoltError } from '@volt/sdk';

test('kernelAccess: library by default, process when asked, anything else a configuration error', (t) => {
  t.is(kernelAccess({}), 'library');
  t.is(kernelAccess({ VOLT_KERNEL_ACCESS: '' }), 'library');
  t.is(kernelAccess({ VOLT_KERNEL_ACCESS: 'library' }), 'library');
  t.is(kernelAccess({ VOLT_KERNEL_ACCESS: 'process' }), 'process');
  const e = t.throws(() => kernelAccess({ VOLT_KERNEL_ACCESS: 'Process' }));
  t.true(e instanceof VoltError);
  t.is((e as VoltError).code, 'E_KERNEL_ACCESS_INVALID');
  t.regex((e as VoltError).suggestions.join(' '), /"library".*"process"/);
});

test('nftLibraryCall maps the options the drivers pass, and refuses the rest', (t) => {
  t.deepEqual(nftLibraryCall(['-j', 'list', 'chains', 'inet']), { flags: 1 << 4, dryRun: false, command: 'list chains inet' });
  t.deepEqual(nftLibraryCall(['-j', '-t', 'list', 'sets', 'inet']), { flags: (1 << 4) | (1 << 11), dryRun: false, command: 'list sets inet' });
  t.deepEqual(nftLibraryCall(['-a', 'list', 'chain', 'inet', 'volt', 'x']), { flags: 1 << 3, dryRun: false, command: 'list chain inet volt x' });
  t.deepEqual(nftLibraryCall(['-f', '-'], 'add table inet x\n'), { flags: 0, dryRun: false, script: 'add table inet x\n' });
  t.deepEqual(nftLibraryCall(['-c', '-f', '-']), { flags: 0, dryRun: true, script: '' });
  t.deepEqual(nftLibraryCall(['-f', '/etc/nftables.conf']), { flags: 0, dryRun: false, file: '/etc/nftables.conf' });
  // Unmapped options, a file with a command, or nothing to run: the program handles them.
  t.is(nftLibraryCall(['--version']), undefined);
  t.is(nftLibraryCall(['-n', 'list', 'ruleset']), undefined);
  t.is(nftLibraryCall(['-f', '-', 'list', 'ruleset']), undefined);
  t.is(nftLibraryCall(['-j']), undefined);
});

test('nftRunner: the library path when it opens, the program otherwise, with the reason', async (t) => {
  const seen: unknown[] = [];
  const lib: NftLibrary = {
    run(call) {
      seen.push(call);
      return { rc: call.command === 'bad' ? -1 : 0, stdout: 'out', stderr: 'err' };
    },
  };
  const r = nftRunner({ nftPath: '/bin/true', library: () => lib, env: {} });
  t.is(r.via, 'libnftables');
  t.deepEqual(await r.run(['list', 'tables']), { code: 0, stdout: 'out', stderr: 'err' });
  t.is((await r.run(['bad'])).code, 1);
  // An option the library path does not map goes to the program.
  t.is((await r.run(['--version'])).code, 0);
  t.is(seen.length, 2);

  t.is(nftRunner({ nftPath: '/bin/true', library: () => lib, env: { VOLT_KERNEL_ACCESS: 'process' } }).via, '/bin/true');
  const debug: string[] = [];
  const fallback = nftRunner({ nftPath: '/bin/true', library: () => ({ failed: 'libnftables.so.1: cannot open' }), env: {}, debug: (m) => debug.push(m) });
  t.is(fallback.via, '/bin/true');
  t.regex(debug.join(''), /libnftables not used \(libnftables.so.1: cannot open\); running \/bin\/true/);
});
