import type { BridgeObservation, BridgeSpec, SwitchedPolicySet } from '../drivers/bridge';
import { CaseSkipped, fail, has, ok, refused, same, type Suite } from './suite';

/* The bridge contract's behaviour (drivers/bridge.ts), against the kernel of the sandbox. */

const SPEC: BridgeSpec = { network: 'kit', ifname: 'kit-br0', address: '10.213.0.1/24', mtu: 1450, mac: '02:00:5e:7a:00:01' };

/** One network's policies as core hands them over (capability switched-policies). */
const POLICIES: SwitchedPolicySet = {
  network: SPEC.network,
  bridge: SPEC.ifname,
  subnet: '10.213.0.0/24',
  gateway: '10.213.0.1',
  default: 'allow',
  isolated: ['10.213.0.101'],
  policies: [
    { name: 'kit-deny', action: 'deny', from: ['10.213.0.102'], to: ['10.213.0.101'], proto: 'any', ports: [] },
    { name: 'kit-allow', action: 'allow', from: ['10.213.0.100'], to: ['10.213.0.101'], proto: 'tcp', ports: [80, 443] },
  ],
};

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
        // The kernel's link kind is the driver's business (a Linux bridge, an Open vSwitch internal
        // port, …); inspectBridge says `bridge` for "a bridge of this driver's kind". A tun link's
        // MAC is not in the snapshot (`mac random`); inspectBridge's `mac` is checked below.
        has(s, 'links', new RegExp(`^link ${SPEC.ifname} (?:bridge up mtu ${SPEC.mtu} mac ${SPEC.mac}|\\S+ up mtu ${SPEC.mtu} mac (?:${SPEC.mac}|random)) `), `no up link ${SPEC.ifname} with MTU ${SPEC.mtu} and MAC ${SPEC.mac}`);
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
        // A switch that keeps the MTU it was asked for (Open vSwitch re-applies mtu_request at
        // once) has no MTU drift to report: inspect must then say what the kernel says now.
        const kernelMtu = Number(new RegExp(`^link ${SPEC.ifname} \\S+ \\S+ mtu (\\d+) `, 'm').exec((await snapshot()).links.join('\n'))?.[1]);
        const missed: string[] = [];
        if (o.up) missed.push('the link is down');
        if (kernelMtu === 1300 && o.mtu !== 1300) missed.push('the MTU is 1300');
        else if (kernelMtu !== 1300 && o.mtu !== kernelMtu) missed.push(`the MTU is ${kernelMtu} (after 1300 was set)`);
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
      name: 'switched-policies (capability): applied policies check clean, twice is the same, other sets are drift, none removes them',
      async run({ driver, methods, snapshot }) {
        if (!methods.includes('applySwitchedPolicies') || !methods.includes('checkSwitchedPolicies')) {
          throw new CaseSkipped('the driver has no switched-policies capability (applySwitchedPolicies, checkSwitchedPolicies)');
        }
        ok(await driver.call('setupBridge', SPEC), 'setupBridge');
        const clean = ok<string[]>(await driver.call('checkSwitchedPolicies', []), 'checkSwitchedPolicies of no policy on a new bridge');
        if (clean.length > 0) fail(`a new bridge reports policy drift: ${clean.join('; ')}`);
        ok(await driver.call('applySwitchedPolicies', [POLICIES]), 'applySwitchedPolicies');
        const once = await snapshot();
        const inPlace = ok<string[]>(await driver.call('checkSwitchedPolicies', [POLICIES]), 'checkSwitchedPolicies after apply');
        if (inPlace.length > 0) fail(`checkSwitchedPolicies right after applySwitchedPolicies reports: ${inPlace.join('; ')}`);
        ok(await driver.call('applySwitchedPolicies', [POLICIES]), 'applySwitchedPolicies again');
        same(once, await snapshot(), 'applying the same policies again changed the kernel');
        const other: SwitchedPolicySet = { ...POLICIES, policies: POLICIES.policies.slice(1) };
        const drift = ok<string[]>(await driver.call('checkSwitchedPolicies', [other]), 'checkSwitchedPolicies of another set');
        if (drift.length === 0) fail('checkSwitchedPolicies does not report a policy the switch enforces but should not');
        const none = ok<string[]>(await driver.call('checkSwitchedPolicies', []), 'checkSwitchedPolicies of no policy');
        if (none.length === 0) fail('checkSwitchedPolicies of no policy does not report the policies still enforced');
        // A bridge the list does not name gets no policy.
        ok(await driver.call('applySwitchedPolicies', []), 'applySwitchedPolicies of no policy');
        const removed = ok<string[]>(await driver.call('checkSwitchedPolicies', []), 'checkSwitchedPolicies after removing them');
        if (removed.length > 0) fail(`policies left after applySwitchedPolicies([]): ${removed.join('; ')}`);
        const missing = ok<string[]>(await driver.call('checkSwitchedPolicies', [POLICIES]), 'checkSwitchedPolicies of the removed set');
        if (missing.length === 0) fail('checkSwitchedPolicies does not report policies that are missing');
        ok(await driver.call('teardownBridge', SPEC), 'teardownBridge');
        ok(await driver.call('applySwitchedPolicies', [POLICIES]), 'applySwitchedPolicies for a bridge that does not exist (skipped)');
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
