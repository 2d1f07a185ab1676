import type { BridgeObservation, BridgeSpec } from '../drivers/bridge';
import { fail, has, ok, refused, same, type Suite } from './suite';

/* The bridge contract's behaviour (drivers/bridge.ts), against the kernel of the sandbox. */

const SPEC: BridgeSpec = { network: 'kit', ifname: 'kit-br0', address: '10.213.0.1/24', mtu: 1450, mac: '02:00:5e:7a:00:01' };

const BAD: [string, Partial<BridgeSpec>][] = [
  ['an interface name with a newline', { ifname: 'kit-br0\nlink del lo' }],
  ['an interface name longer than 15 characters', { ifname: 'kit-bridge-too-long0' }],
  ['a MAC that is not one', { mac: 'zz:00:5e:7a:00:01' }],
  ['an address that is not one', { address: 'not-an-address' }],
  ['MTU 0', { mtu: 0 }],
  ['MTU 70000', { mtu: 70000 }],
];

export const bridgeSuite: Suite = {
  async cleanup(d) {
    await d.call('teardownBridge', SPEC).catch(() => undefined);
  },
  cases: [
    {
      name: 'set-up makes the bridge the spec describes, and inspect agrees',
      async run({ driver, snapshot }) {
        ok(await driver.call('setupBridge', SPEC), 'setupBridge');
        const s = await snapshot();
        has(s, 'links', new RegExp(`^link ${SPEC.ifname} bridge up mtu ${SPEC.mtu} mac ${SPEC.mac} `), `no up bridge ${SPEC.ifname} with MTU ${SPEC.mtu} and MAC ${SPEC.mac}`);
        has(s, 'addresses', new RegExp(`^address ${SPEC.address.replace(/\./g, '\\.')} dev ${SPEC.ifname} `), `${SPEC.address} is not on ${SPEC.ifname}`);
        const o = ok<BridgeObservation>(await driver.call('inspectBridge', SPEC.ifname), 'inspectBridge');
        const wrong: string[] = [];
        if (!o.exists) wrong.push('exists false');
        if (o.kind !== 'bridge') wrong.push(`kind ${String(o.kind)}`);
        if (!o.up) wrong.push('up false');
        if (o.mtu !== SPEC.mtu) wrong.push(`mtu ${String(o.mtu)}`);
        if (o.mac?.toLowerCase() !== SPEC.mac) wrong.push(`mac ${String(o.mac)}`);
        if (!o.addresses.includes(SPEC.address)) wrong.push(`addresses ${JSON.stringify(o.addresses)}`);
        if (wrong.length > 0) fail(`inspectBridge after set-up says ${wrong.join(', ')}`);
      },
    },
    {
      name: 'set-up twice in a row is the same kernel state',
      async run({ driver, snapshot }) {
        ok(await driver.call('setupBridge', SPEC), 'first setupBridge');
        const once = await snapshot();
        ok(await driver.call('setupBridge', SPEC), 'second setupBridge');
        same(once, await snapshot(), 'the second set-up changed the kernel');
      },
    },
    {
      name: 'tear-down leaves the sandbox as it was before set-up',
      async run({ driver, snapshot, baseline }) {
        ok(await driver.call('setupBridge', SPEC), 'setupBridge');
        ok(await driver.call('teardownBridge', SPEC), 'teardownBridge');
        same(baseline, await snapshot(), 'left behind after tear-down');
      },
    },
    {
      name: 'tear-down of a bridge that is gone succeeds and changes nothing (twice, and never made)',
      async run({ driver, snapshot, baseline }) {
        ok(await driver.call('teardownBridge', SPEC), 'teardownBridge of a bridge never made');
        same(baseline, await snapshot(), 'tear-down of nothing changed the kernel');
        ok(await driver.call('setupBridge', SPEC), 'setupBridge');
        ok(await driver.call('teardownBridge', SPEC), 'first teardownBridge');
        ok(await driver.call('teardownBridge', SPEC), 'second teardownBridge');
        same(baseline, await snapshot(), 'left behind after two tear-downs');
        const o = ok<BridgeObservation>(await driver.call('inspectBridge', SPEC.ifname), 'inspectBridge of a missing bridge');
        if (o.exists) fail('inspectBridge says a missing bridge exists');
      },
    },
    {
      name: 'drift: inspect reports a bridge changed behind the driver, set-up repairs it',
      async run({ driver, snapshot, sb }) {
        ok(await driver.call('setupBridge', SPEC), 'setupBridge');
        const good = await snapshot();
        await sb.must('ip', ['link', 'set', 'dev', SPEC.ifname, 'down']);
        await sb.must('ip', ['link', 'set', 'dev', SPEC.ifname, 'mtu', '1300']);
        await sb.must('ip', ['addr', 'flush', 'dev', SPEC.ifname]);
        const o = ok<BridgeObservation>(await driver.call('inspectBridge', SPEC.ifname), 'inspectBridge after the change');
        const missed: string[] = [];
        if (o.up) missed.push('the link is down');
        if (o.mtu !== 1300) missed.push('the MTU is 1300');
        if (o.addresses.includes(SPEC.address)) missed.push(`${SPEC.address} is gone`);
        if (missed.length > 0) fail(`inspectBridge does not report the drift: ${missed.join(', ')}`);
        ok(await driver.call('setupBridge', SPEC), 'setupBridge over the drift');
        same(good, await snapshot(), 'set-up did not repair the drift');
        await sb.must('ip', ['link', 'del', 'dev', SPEC.ifname]);
        const gone = ok<BridgeObservation>(await driver.call('inspectBridge', SPEC.ifname), 'inspectBridge after the bridge was deleted');
        if (gone.exists) fail('inspectBridge says a deleted bridge exists');
        ok(await driver.call('setupBridge', SPEC), 'setupBridge after the bridge was deleted');
        same(good, await snapshot(), 'set-up did not bring the deleted bridge back as it was');
      },
    },
    {
      name: 'bad input is refused with a VoltError and the kernel is unchanged',
      async run({ driver, snapshot, baseline }) {
        for (const [what, over] of BAD) {
          refused(await driver.call('setupBridge', { ...SPEC, ...over }), `setupBridge with ${what}`);
          same(baseline, await snapshot(), `setupBridge with ${what} changed the kernel`);
        }
      },
    },
    {
      name: 'a name taken by another kind of link: refused, that link untouched',
      async run({ driver, snapshot, sb }) {
        await sb.must('ip', ['link', 'add', SPEC.ifname, 'type', 'veth', 'peer', 'name', 'kit-peer0']);
        const before = await snapshot();
        refused(await driver.call('setupBridge', SPEC), `setupBridge over a veth named ${SPEC.ifname}`);
        same(before, await snapshot(), 'the refused set-up changed the kernel');
        await driver.call('teardownBridge', SPEC);
        same(before, await snapshot(), 'tear-down touched a link that is not a bridge');
      },
    },
    {
      name: 'a failure mid-way (an address the kernel refuses) rolls back: nothing half-made remains',
      async run({ driver, snapshot, baseline }) {
        // A /33 has the shape of an address with prefix; the kernel refuses it, after the link exists.
        refused(await driver.call('setupBridge', { ...SPEC, address: '10.213.0.1/33' }), 'setupBridge with 10.213.0.1/33');
        same(baseline, await snapshot(), 'left behind by the failed set-up');
      },
    },
  ],
};
