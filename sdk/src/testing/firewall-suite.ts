import type { FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '../drivers/firewall';
import { nftBinary, type Sandbox } from './sandbox';
import { nftTables, type KernelSnapshot } from './snapshot';
import type { DriverClient } from './driver-client';
import { CaseSkipped, fail, ok, refused, same, type Suite } from './suite';

/* The firewall contract's behaviour (drivers/firewall.ts), against the nft ruleset of the sandbox. */

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const NET: FirewallNetwork = { name: 'kit', bridge: 'kit-br0', subnet: '10.213.0.0/24', gateway: '10.213.0.1', nat: true };
const NET2: FirewallNetwork = { name: 'kit2', bridge: 'kit-br1', subnet: '10.213.1.0/24', gateway: '10.213.1.1', nat: false };

const RULES: FirewallRuleSet = {
  rules: [
    { name: 'kit-web', order: 1, chain: 'forward', source: { kind: 'cidr', cidr: '10.213.1.0/24' }, dest: { kind: 'group', group: 'kit-app' }, proto: 'tcp', ports: [{ from: 8080, to: 8080 }], action: 'accept' },
  ],
  groups: { 'kit-app': ['10.213.0.10'] },
  forwards: [{ hostPort: 18080, proto: 'tcp', targetIp: '10.213.0.10', targetPort: 8080 }],
  policies: [{ name: 'kit-db', from: { kind: 'addresses', addresses: ['10.213.0.11'] }, to: ['10.213.0.10'], proto: 'tcp', ports: [5432], action: 'allow' }],
  networks: [NET],
};

const EMPTY: FirewallRuleSet = { rules: [], groups: {}, forwards: [], policies: [], networks: [] };

const BAD_NETS: [string, Partial<FirewallNetwork>][] = [
  ['a bridge name with a space and a semicolon', { bridge: 'kit br0;' }],
  ['a subnet that is not one', { subnet: 'not-a-subnet' }],
  ['a gateway that is not an address', { gateway: 'gateway' }],
  ['a gateway outside the subnet', { gateway: '10.99.0.1' }],
];

async function setUp(d: DriverClient, nets: FirewallNetwork[] = [NET, NET2]): Promise<void> {
  ok(await d.call('setupBase', POLICY), 'setupBase');
  for (const n of nets) ok(await d.call('setupNetwork', n), `setupNetwork ${n.name}`);
}

async function check(d: DriverClient, nets: FirewallNetwork[] = [NET, NET2]): Promise<string[]> {
  return ok<string[]>(await d.call('check', POLICY, nets), 'check');
}

/** A rule in a table the driver made (not in the baseline): what deletes it. */
async function someRule(sb: Sandbox, baseline: KernelSnapshot): Promise<{ family: string; table: string; chain: string; handle: number } | undefined> {
  const nft = nftBinary();
  if (!nft) return undefined;
  const before = new Set(nftTables(baseline).map((t) => `${t.family} ${t.name}`));
  const items = (JSON.parse((await sb.must(nft, ['-a', '-j', 'list', 'ruleset'])) || '{}') as { nftables?: { rule?: { family: string; table: string; chain: string; handle: number } }[] }).nftables ?? [];
  return items.map((i) => i.rule).find((r) => r !== undefined && !before.has(`${r.family} ${r.table}`));
}

export const firewallSuite: Suite = {
  async cleanup(d) {
    await d.call('teardownNetwork', NET).catch(() => undefined);
    await d.call('teardownNetwork', NET2).catch(() => undefined);
    await d.call('teardownBase').catch(() => undefined);
  },
  cases: [
    {
      name: 'set-up installs rules in the kernel and check() then finds nothing',
      async run({ driver, snapshot, baseline }) {
        await setUp(driver);
        const s = await snapshot();
        if (s.nft.length === baseline.nft.length && s.nft.every((l, i) => l === baseline.nft[i])) fail('set-up left the nft ruleset as it was (nothing installed)');
        const drift = await check(driver);
        if (drift.length > 0) fail(`check() right after set-up reports: ${drift.join('; ')}`);
      },
    },
    {
      name: 'set-up twice in a row is the same ruleset',
      async run({ driver, snapshot }) {
        await setUp(driver);
        const once = await snapshot();
        await setUp(driver);
        same(once, await snapshot(), 'the second set-up changed the kernel');
      },
    },
    {
      name: 'tear-down leaves the sandbox as it was before set-up',
      async run({ driver, snapshot, baseline }) {
        await setUp(driver);
        ok(await driver.call('teardownNetwork', NET), 'teardownNetwork');
        ok(await driver.call('teardownNetwork', NET2), 'teardownNetwork');
        ok(await driver.call('teardownBase'), 'teardownBase');
        same(baseline, await snapshot(), 'left behind after tear-down');
      },
    },
    {
      name: 'tear-down of what is gone succeeds and changes nothing (twice, and never made)',
      async run({ driver, snapshot, baseline }) {
        ok(await driver.call('teardownNetwork', NET), 'teardownNetwork of a network never set up');
        ok(await driver.call('teardownBase'), 'teardownBase of a firewall never set up');
        same(baseline, await snapshot(), 'tear-down of nothing changed the kernel');
        await setUp(driver);
        ok(await driver.call('teardownNetwork', NET), 'first teardownNetwork');
        const one = await snapshot();
        ok(await driver.call('teardownNetwork', NET), 'second teardownNetwork');
        same(one, await snapshot(), 'a second teardownNetwork changed the kernel');
        const left = await check(driver, [NET2]);
        if (left.length > 0) fail(`after tearing down one network, check() of the other reports: ${left.join('; ')}`);
        ok(await driver.call('teardownNetwork', NET2), 'teardownNetwork');
        ok(await driver.call('teardownBase'), 'first teardownBase');
        ok(await driver.call('teardownBase'), 'second teardownBase');
        same(baseline, await snapshot(), 'left behind after two tear-downs');
      },
    },
    {
      name: 'drift: check() reports a rule or table removed behind the driver, set-up repairs it',
      async run({ driver, snapshot, sb, baseline }) {
        const nft = nftBinary();
        if (!nft) throw new CaseSkipped('nft is not installed: the kit cannot change the ruleset behind the driver');
        await setUp(driver);
        const good = await snapshot();
        const rule = await someRule(sb, baseline);
        if (!rule) fail('set-up made no nft rule the kit could remove');
        await sb.must(nft, ['delete', 'rule', rule.family, rule.table, rule.chain, 'handle', String(rule.handle)]);
        if ((await check(driver)).length === 0) fail(`check() reports nothing after rule ${rule.handle} in chain ${rule.family} ${rule.table} ${rule.chain} was deleted`);
        await setUp(driver);
        same(good, await snapshot(), 'set-up did not repair a deleted rule');
        if ((await check(driver)).length > 0) fail('check() still reports drift after set-up repaired it');
        for (const t of nftTables(good).filter((t) => !nftTables(baseline).some((b) => b.family === t.family && b.name === t.name))) {
          await sb.must(nft, ['delete', 'table', t.family, t.name]);
        }
        if ((await check(driver)).length === 0) fail("check() reports nothing after the driver's tables were deleted");
        await setUp(driver);
        same(good, await snapshot(), 'set-up did not repair deleted tables');
      },
    },
    {
      name: 'bad input is refused with a VoltError and the kernel is unchanged',
      async run({ driver, snapshot, baseline }) {
        refused(await driver.call('setupBase', { policy: 'maybe', allow: [] }), 'setupBase with policy "maybe"');
        refused(await driver.call('setupBase', { policy: 'drop', allow: ['tcp/22; flush ruleset'] }), 'setupBase with allow "tcp/22; flush ruleset"');
        same(baseline, await snapshot(), 'refused set-ups changed the kernel');
        ok(await driver.call('setupBase', POLICY), 'setupBase');
        const base = await snapshot();
        for (const [what, over] of BAD_NETS) {
          refused(await driver.call('setupNetwork', { ...NET, ...over }), `setupNetwork with ${what}`);
          same(base, await snapshot(), `setupNetwork with ${what} changed the kernel`);
        }
      },
    },
    {
      name: 'a failure mid-way (a bad entry after good ones) keeps the previous rules whole',
      async run({ driver, snapshot, baseline }) {
        const bad: HostInputPolicy = { policy: 'drop', allow: ['tcp/22', 'udp/53', 'tcp/99999'] };
        refused(await driver.call('setupBase', bad), 'setupBase whose last allow entry is tcp/99999');
        same(baseline, await snapshot(), 'left behind by the refused set-up');
        await setUp(driver);
        const good = await snapshot();
        refused(await driver.call('setupBase', bad), 'setupBase over a working firewall whose last allow entry is tcp/99999');
        same(good, await snapshot(), 'the refused set-up changed the working rules');
        const drift = await check(driver);
        if (drift.length > 0) fail(`check() after the refused set-up reports: ${drift.join('; ')}`);
      },
    },
    {
      name: 'rules (capability): applied twice is the same ruleset, removed leaves the base as it was',
      async run({ driver, snapshot, methods }) {
        if (!methods.includes('applyRules') || !methods.includes('removeRules')) throw new CaseSkipped('the driver has no rules capability (applyRules, removeRules)');
        // The base with (no) rules: the table gets the hooks for user rules.
        ok(await driver.call('setupBase', POLICY, EMPTY), 'setupBase with an empty rule set');
        for (const n of [NET, NET2]) ok(await driver.call('setupNetwork', n), `setupNetwork ${n.name}`);
        const base = await snapshot();
        ok(await driver.call('applyRules', RULES), 'applyRules');
        const once = await snapshot();
        if (once.nft.join('\n') === base.nft.join('\n')) fail('applyRules left the ruleset as it was');
        ok(await driver.call('applyRules', RULES, RULES), 'applyRules again');
        same(once, await snapshot(), 'applying the same rules again changed the kernel');
        const drift = ok<string[]>(await driver.call('check', POLICY, [NET, NET2], RULES), 'check with the rules');
        if (drift.length > 0) fail(`check() with the applied rules reports: ${drift.join('; ')}`);
        ok(await driver.call('removeRules'), 'removeRules');
        same(base, await snapshot(), 'removeRules left something behind');
        ok(await driver.call('removeRules'), 'second removeRules');
        same(base, await snapshot(), 'a second removeRules changed the kernel');
      },
    },
  ],
};
