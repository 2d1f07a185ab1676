import type { DnsListener, DnsResolverOptions } from '../drivers/dns';
import { fail, ok, refused, type Suite } from './suite';
import { listening } from './sockets';

/* The dns contract's behaviour (drivers/dns.ts): the resolver's sockets in the sandbox. */

const OPTIONS: DnsResolverOptions = { upstream: [], searchDomains: ['kit.local'] };
const LISTENER: DnsListener = { network: 'kit', address: '10.213.5.1', port: 5353, subnet: '10.213.5.0/24' };

export const dnsSuite: Suite = {
  async prepare(sb) {
    await sb.must('ip', ['link', 'add', 'kit-dns0', 'type', 'veth', 'peer', 'name', 'kit-dns1']);
    await sb.must('ip', ['addr', 'add', '10.213.5.1/24', 'dev', 'kit-dns0']);
    await sb.must('ip', ['link', 'set', 'kit-dns0', 'up']);
  },
  async cleanup(d) {
    await d.call('stop').catch(() => undefined);
  },
  cases: [
    {
      name: 'a listener binds UDP and TCP on its address; stopped, nothing stays bound',
      async run({ driver, sb }) {
        const before = await listening(sb);
        ok(await driver.call('start', OPTIONS), 'start');
        ok(await driver.call('startListener', LISTENER), 'startListener');
        const bound = await listening(sb);
        for (const p of ['udp', 'tcp']) if (!bound.includes(`${p} ${LISTENER.address}:${LISTENER.port}`)) fail(`startListener did not bind ${p} ${LISTENER.address}:${LISTENER.port} (bound: ${bound.join(', ') || 'nothing'})`);
        ok(await driver.call('startListener', LISTENER), 'second startListener');
        if ((await listening(sb)).join() !== bound.join()) fail('a second startListener changed the sockets');
        ok(await driver.call('stopListener', LISTENER), 'stopListener');
        ok(await driver.call('stop'), 'stop');
        const after = await listening(sb);
        if (after.join() !== before.join()) fail(`after stop, still bound: ${after.filter((s) => !before.includes(s)).join(', ')}`);
      },
    },
    {
      name: 'stop, stopListener and withdraw of what is not there succeed (twice)',
      async run({ driver }) {
        ok(await driver.call('stop'), 'stop before start');
        ok(await driver.call('stopListener', LISTENER), 'stopListener before start');
        ok(await driver.call('withdraw', 'kit'), 'withdraw before start');
        ok(await driver.call('start', OPTIONS), 'start');
        ok(await driver.call('stopListener', LISTENER), 'stopListener of a listener never started');
        ok(await driver.call('withdraw', 'no-such-network'), 'withdraw of an unknown network');
        ok(await driver.call('stop'), 'stop');
        ok(await driver.call('stop'), 'second stop');
      },
    },
    {
      name: 'a listener on an address no interface has is refused with a VoltError, nothing bound',
      async run({ driver, sb }) {
        ok(await driver.call('start', OPTIONS), 'start');
        const before = await listening(sb);
        refused(await driver.call('startListener', { ...LISTENER, address: '10.213.9.1' }), 'startListener on 10.213.9.1 (on no interface)');
        if ((await listening(sb)).join() !== before.join()) fail('the refused listener left a socket bound');
      },
    },
  ],
};
