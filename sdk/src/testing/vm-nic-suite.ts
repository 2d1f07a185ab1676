import type { VmNicSpec } from '../drivers/vm-nic';
import { fail, has, ok, refused, same, type Suite } from './suite';

/* The vm-nic contract's behaviour (drivers/vm-nic.ts): TAPs on bridges the kit makes in the sandbox. */

const SPEC: VmNicSpec = {
  vm: 'kit-vm',
  vmUuid: '7a1c0de5-0000-4000-8000-00000000c0de',
  nicId: 'eth0',
  ifname: 'kit-tap0',
  bridge: 'kitbr0',
  mac: '52:54:00:7a:00:01',
  mtu: 1400,
  queues: 1,
};

const BAD: [string, Partial<VmNicSpec>][] = [
  ['an interface name with a newline', { ifname: 'kit-tap0\nlink del lo' }],
  ['an interface name longer than 15 characters', { ifname: 'kit-tap-too-long-0' }],
  ['a MAC that is not one', { mac: '52:54:00:zz:00:01' }],
  ['MTU 0', { mtu: 0 }],
  ['0 queues', { queues: 0 }],
];

const onBridge = (bridge: string): RegExp => new RegExp(`^link ${SPEC.ifname} \\S+ up mtu ${SPEC.mtu} \\S+ \\S+ master ${bridge} `);

export const vmNicSuite: Suite = {
  async prepare(sb) {
    // Fixed MACs: a bridge's own would follow its ports.
    for (const [i, br] of ['kitbr0', 'kitbr1'].entries()) {
      await sb.must('ip', ['link', 'add', br, 'address', `02:00:5e:7a:10:0${i}`, 'type', 'bridge']);
      await sb.must('ip', ['link', 'set', br, 'mtu', '1400', 'up']);
    }
  },
  async cleanup(d) {
    await d.call('teardownNic', SPEC).catch(() => undefined);
    await d.call('teardownNic', { ...SPEC, queues: 2 }).catch(() => undefined);
  },
  cases: [
    {
      name: 'set-up makes a TAP on its bridge with the MTU, one fd per queue',
      async run({ driver, snapshot }) {
        const h = ok<{ ifname: string; fds: number }>(await driver.call('setupNic', SPEC), 'setupNic');
        if (h.ifname !== SPEC.ifname) fail(`setupNic returned a handle for ${h.ifname}, not ${SPEC.ifname}`);
        if (h.fds !== 1) fail(`setupNic with 1 queue returned ${h.fds} fds`);
        has(await snapshot(), 'links', onBridge('kitbr0'), `no up TAP ${SPEC.ifname} with MTU ${SPEC.mtu} on kitbr0`);
        ok(await driver.call('teardownNic', SPEC), 'teardownNic');
        const mq = ok<{ fds: number }>(await driver.call('setupNic', { ...SPEC, queues: 2 }), 'setupNic with 2 queues');
        if (mq.fds !== 2) fail(`setupNic with 2 queues returned ${mq.fds} fds`);
      },
    },
    {
      name: 'set-up after tear-down is the same kernel state',
      async run({ driver, snapshot }) {
        ok(await driver.call('setupNic', SPEC), 'first setupNic');
        const once = await snapshot();
        ok(await driver.call('teardownNic', SPEC), 'teardownNic');
        ok(await driver.call('setupNic', SPEC), 'second setupNic');
        same(once, await snapshot(), 'the second set-up made a different kernel state');
      },
    },
    {
      name: 'tear-down leaves the sandbox as it was before set-up',
      async run({ driver, snapshot, baseline }) {
        ok(await driver.call('setupNic', SPEC), 'setupNic');
        ok(await driver.call('teardownNic', SPEC), 'teardownNic');
        same(baseline, await snapshot(), 'left behind after tear-down');
      },
    },
    {
      name: 'tear-down and detach of a NIC that is gone succeed and change nothing (twice, and never made)',
      async run({ driver, snapshot, baseline }) {
        ok(await driver.call('teardownNic', SPEC), 'teardownNic of a NIC never made');
        ok(await driver.call('detachNic', SPEC), 'detachNic of a NIC never made');
        same(baseline, await snapshot(), 'tear-down of nothing changed the kernel');
        ok(await driver.call('setupNic', SPEC), 'setupNic');
        ok(await driver.call('teardownNic', SPEC), 'first teardownNic');
        ok(await driver.call('teardownNic', SPEC), 'second teardownNic');
        ok(await driver.call('detachNic', SPEC), 'detachNic after tear-down');
        same(baseline, await snapshot(), 'left behind after two tear-downs');
      },
    },
    {
      name: 'attach moves the TAP, twice is the same, it repairs a TAP unplugged behind the driver; detach unplugs',
      async run({ driver, snapshot, sb }) {
        ok(await driver.call('setupNic', SPEC), 'setupNic');
        const moved = { ...SPEC, bridge: 'kitbr1' };
        ok(await driver.call('attachNic', moved), 'attachNic to kitbr1');
        const once = await snapshot();
        has(once, 'links', onBridge('kitbr1'), 'attachNic did not move the TAP to kitbr1');
        ok(await driver.call('attachNic', moved), 'second attachNic');
        same(once, await snapshot(), 'a second attachNic changed the kernel');
        await sb.must('ip', ['link', 'set', 'dev', SPEC.ifname, 'nomaster']);
        ok(await driver.call('attachNic', moved), 'attachNic after the TAP was unplugged');
        same(once, await snapshot(), 'attachNic did not repair the unplugged TAP');
        ok(await driver.call('detachNic', SPEC), 'detachNic');
        const s = await snapshot();
        if (s.links.some((l) => l.startsWith(`link ${SPEC.ifname} `) && !l.includes(' master - '))) fail('detachNic left the TAP on a bridge');
        ok(await driver.call('detachNic', SPEC), 'second detachNic');
        same(s, await snapshot(), 'a second detachNic changed the kernel');
      },
    },
    {
      name: 'bad input is refused with a VoltError and the kernel is unchanged',
      async run({ driver, snapshot, baseline }) {
        for (const [what, over] of BAD) {
          refused(await driver.call('setupNic', { ...SPEC, ...over }), `setupNic with ${what}`);
          same(baseline, await snapshot(), `setupNic with ${what} changed the kernel`);
        }
      },
    },
    {
      name: 'a failure mid-way (a bridge that does not exist) rolls back: no TAP remains',
      async run({ driver, snapshot, baseline }) {
        const a = await driver.call('setupNic', { ...SPEC, bridge: 'kit-nobr0' });
        if (a.ok) fail('setupNic onto a bridge that does not exist was accepted');
        same(baseline, await snapshot(), 'left behind by the failed set-up');
      },
    },
    {
      name: 'a name taken by another kind of link: refused, that link untouched',
      async run({ driver, snapshot, sb }) {
        await sb.must('ip', ['link', 'add', SPEC.ifname, 'type', 'veth', 'peer', 'name', 'kit-peer0']);
        const before = await snapshot();
        refused(await driver.call('setupNic', SPEC), `setupNic over a veth named ${SPEC.ifname}`);
        same(before, await snapshot(), 'the refused set-up changed the kernel');
      },
    },
  ],
};
