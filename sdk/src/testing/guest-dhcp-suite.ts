import type { GuestDhcpSpec } from '../drivers/guest-dhcp';
import { fail, ok, refused, type Suite } from './suite';
import { listening } from './sockets';

/* The guest-dhcp contract's behaviour (drivers/guest-dhcp.ts): a DHCP server on a bridge the kit makes. */

const SPEC: GuestDhcpSpec = {
  network: 'kit',
  bridge: 'kitbr0',
  subnet: '10.213.6.0/24',
  gateway: '10.213.6.1',
  mtu: 1500,
  leases: [{ mac: '52:54:00:7a:00:01', ip: '10.213.6.10', hostname: 'kit-vm' }],
};

const BAD: [string, Partial<GuestDhcpSpec>][] = [
  ['a bridge name with a newline', { bridge: 'kitbr0\ninterface=lo' }],
  ['a lease MAC that is not one', { leases: [{ mac: 'not-a-mac', ip: '10.213.6.10', hostname: 'kit-vm' }] }],
  ['a lease address outside the subnet', { leases: [{ mac: '52:54:00:7a:00:01', ip: '10.99.0.10', hostname: 'kit-vm' }] }],
  ['a subnet that is not one', { subnet: 'not-a-subnet' }],
];

const dhcp = async (sb: Parameters<typeof listening>[0]): Promise<string[]> => (await listening(sb, true)).filter((s) => /^udp \S+:67 /.test(s));

export const guestDhcpSuite: Suite = {
  async prepare(sb) {
    await sb.must('ip', ['link', 'add', 'kitbr0', 'address', '02:00:5e:7a:10:00', 'type', 'bridge']);
    await sb.must('ip', ['addr', 'add', '10.213.6.1/24', 'dev', 'kitbr0']);
    await sb.must('ip', ['link', 'set', 'kitbr0', 'up']);
  },
  async cleanup(d) {
    await d.call('teardownDhcp', SPEC).catch(() => undefined);
  },
  cases: [
    {
      name: 'set-up serves DHCP on the bridge; twice in a row is the same server',
      async run({ driver, sb }) {
        ok(await driver.call('setupDhcp', SPEC), 'setupDhcp');
        const once = await dhcp(sb);
        if (once.length === 0) fail('nothing listens on UDP port 67 after setupDhcp');
        ok(await driver.call('setupDhcp', SPEC), 'second setupDhcp');
        const twice = await dhcp(sb);
        if (twice.join() !== once.join()) fail(`a second setupDhcp with the same leases changed the server (${once.join(', ')} → ${twice.join(', ')})`);
      },
    },
    {
      name: 'tear-down stops serving; twice, and of a network never served, succeeds',
      async run({ driver, sb }) {
        ok(await driver.call('teardownDhcp', SPEC), 'teardownDhcp of a network never served');
        ok(await driver.call('setupDhcp', SPEC), 'setupDhcp');
        ok(await driver.call('teardownDhcp', SPEC), 'teardownDhcp');
        const left = await dhcp(sb);
        if (left.length > 0) fail(`still serving after tear-down: ${left.join(', ')}`);
        ok(await driver.call('teardownDhcp', SPEC), 'second teardownDhcp');
      },
    },
    {
      name: 'bad input is refused with a VoltError and nothing serves',
      async run({ driver, sb }) {
        for (const [what, over] of BAD) {
          refused(await driver.call('setupDhcp', { ...SPEC, ...over }), `setupDhcp with ${what}`);
          const left = await dhcp(sb);
          if (left.length > 0) fail(`setupDhcp with ${what} left a server running: ${left.join(', ')}`);
        }
      },
    },
  ],
};
