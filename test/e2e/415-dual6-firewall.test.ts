import test from 'ava';
import { SandboxHost, UPLINK, ping, waitFor } from '../harness';
import { probe, probeMany, serve, udpAsk, workload, type Workload } from './400-lib';

/**
 * Dual-stack networks through the firewall, with real IPv6 traffic (issue 14): NAT66 for the
 * default mode, routed mode without masquerade, no IPv6 egress for --no-nat; port forwards over
 * IPv6 (from the internet namespace, hairpin, [::1] refused); one rule naming a workload covers
 * both of its addresses; a policy denies IPv6 as it denies IPv4; `net check` / `net up` for the
 * IPv6 objects. The sandbox uplink is IPv4-only, so the test gives it IPv6 itself (below).
 */

const V6 = {
  host: 'fd00:198:18::1',
  outside: 'fd00:198:18::2',
  /** Reachable only through the host's default route, like UPLINK.internetAddress. */
  internet: '2001:db8:100::1',
};

/** IPv6 on the uplink: addresses on both ends, the internet address on the outside's lo, the host's default route. The outside has no route to the workloads' prefixes. */
async function uplink6(host: SandboxHost): Promise<void> {
  const o = host.outside!;
  await host.execOk('ip', ['-6', 'addr', 'add', `${V6.host}/64`, 'dev', UPLINK.hostLink, 'nodad']);
  await o.execOk('ip', ['-6', 'addr', 'add', `${V6.outside}/64`, 'dev', UPLINK.outsideLink, 'nodad']);
  await o.execOk('ip', ['-6', 'addr', 'add', `${V6.internet}/128`, 'dev', 'lo']);
  await host.execOk('ip', ['-6', 'route', 'add', 'default', 'via', V6.outside, 'dev', UPLINK.hostLink]);
}

async function dualWorkload(host: SandboxHost, name: string, network: string): Promise<Workload & { ip6: string }> {
  const w = await workload(host, name, network);
  if (w.ip6 === undefined) throw new Error(`${name} got no IPv6 address on ${network}`);
  // The container's address may still be tentative (DAD) for a moment: wait until it answers from it.
  await waitFor(async () => !/tentative/.test((await w.ns.exec('ip', ['-6', 'addr', 'show'])).stdout), { timeoutMs: 15_000 });
  return w as Workload & { ip6: string };
}

test('egress over IPv6: NAT66 by default, routed mode keeps the source, --no-nat has none; drift of the IPv6 objects is found and repaired', async (t) => {
  const host = await SandboxHost.create(t);
  await uplink6(host);
  await host.voltOk(['net', 'create', '--name', 'natted', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  await host.voltOk(['net', 'create', '--name', 'routed', '--subnet', '10.40.0.0/24', '--subnet6', 'fd00:40::/64', '--ipv6-mode', 'routed']);
  await host.voltOk(['net', 'create', '--name', 'internal', '--subnet', '10.50.0.0/24', '--subnet6', 'fd00:50::/64', '--no-nat']);
  const a = await dualWorkload(host, 'a', 'natted');
  const b = await dualWorkload(host, 'b', 'routed');
  const c = await dualWorkload(host, 'c', 'internal');
  await serve(host.outside!, [7000], [], 'udp', true);
  // The internet knows the routed prefix lies behind the host (that is what routed mode means); not the ULA of natted.
  await host.outside!.execOk('ip', ['-6', 'route', 'add', 'fd00:40::/64', 'via', V6.host]);

  const [nat66, routed, internal, nat4] = await Promise.all([
    probe(a.ns, V6.internet, 7000),
    probe(b.ns, V6.internet, 7000),
    probe(c.ns, V6.internet, 7000),
    probe(a.ns, UPLINK.internetAddress, 7000),
  ]);
  t.true(nat66.connected, `NAT66: a reaches the internet over IPv6 (${nat66.detail})`);
  t.is(nat66.peer, V6.host, 'NAT66: the internet sees the host uplink address');
  t.true(routed.connected, `routed: b reaches the internet over IPv6 (${routed.detail})`);
  t.is(routed.peer, b.ip6, 'routed: the internet sees the workload address itself');
  t.false(internal.connected, '--no-nat: no IPv6 egress');
  t.true(nat4.connected, 'IPv4 NAT alongside');
  t.true(await ping(a.ns, 'fd00:30::1'), 'ping6 to its own gateway');
  t.false((await probe(a.ns, b.ip6, 7000)).connected, 'different dual-stack networks stay isolated over IPv6');
  t.is((await host.volt(['net', 'check'])).code, 0);

  // Drift in each IPv6 object: the NAT66 element, the dual-stack bridge set, a rule of a network chain.
  await host.execOk('nft', ['delete', 'element', 'inet', 'volt', 'nat_subnets6', '{ fd00:30::/64 }']);
  await host.execOk('nft', ['delete', 'element', 'inet', 'volt', 'bridges6', '{ "volt-routed" }']);
  await host.execOk('nft', ['add', 'element', 'inet', 'volt', 'nat_subnets6', '{ fd00:40::/64 }']);
  const drift = await host.volt(['net', 'check']);
  t.is(drift.code, 6, drift.stdout + drift.stderr);
  const text = drift.stdout + drift.stderr;
  t.regex(text, /network "natted": masquerade is missing: fd00:30::\/64 is not in set nat_subnets6/);
  t.regex(text, /network "routed": bridge "volt-routed" is missing from set bridges6/);
  t.regex(text, /network "routed": NAT66 is set up \(fd00:40::\/64 is in set nat_subnets6\)/);
  t.false((await probe(a.ns, V6.internet, 7000)).connected, 'without its nat_subnets6 element a is not masqueraded (no answer comes back)');
  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0, 'net up restores the IPv6 objects');
  const again = await Promise.all([probe(a.ns, V6.internet, 7000), probe(b.ns, V6.internet, 7000)]);
  t.deepEqual(
    again.map((r) => [r.connected, r.peer]),
    [
      [true, V6.host],
      [true, b.ip6],
    ],
  );
});

test('port forwards over IPv6: DNAT from the internet namespace, hairpin from a container, the host itself; [::1] refused; mixed families refused', async (t) => {
  const host = await SandboxHost.create(t);
  await uplink6(host);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  await host.voltOk(['net', 'create', '--name', 'legacy', '--subnet', '10.60.0.0/24']);
  const web = await dualWorkload(host, 'web', 'backend');
  const db = await dualWorkload(host, 'db', 'backend');
  const old = await workload(host, 'old', 'legacy');
  await serve(web.ns, [80], [5353], 'web', true);
  await serve(old.ns, [80]);

  const add = await host.voltOk(['net', 'port', 'add', '--host-port', '8080', '--target', 'web', '--target-port', '80']);
  t.regex(add.stdout, new RegExp(`active, 10\\.30\\.0\\.\\d+:80, \\[${web.ip6.replace(/:/g, ':')}\\]:80`));
  const [outside6, outside4, hairpin6, self6] = await probeMany(host.outside!, [
    { host: V6.host, port: 8080 },
    { host: UPLINK.hostAddress, port: 8080 },
  ]).then(async (o) => [...o, ...(await probeMany(db.ns, [{ host: V6.host, port: 8080 }])), ...(await probeMany(host, [{ host: V6.host, port: 8080 }]))]);
  t.true(outside6?.connected, `from the internet over IPv6 (${outside6?.detail})`);
  t.is(outside6?.peer, V6.outside, 'the target sees the real IPv6 client');
  t.true(outside4?.connected, 'and over IPv4');
  t.true(hairpin6?.connected, `hairpin over IPv6 from a container on the same bridge (${hairpin6?.detail})`);
  t.is(hairpin6?.peer, 'fd00:30::1', 'hairpin IPv6 is masqueraded to the gateway, so the reply comes back through the host');
  t.true(self6?.connected, "from the host itself to its own IPv6 address");
  t.false((await probe(host, '::1', 8080)).connected, '[::1] is not forwarded (the kernel never routes ::1 off the host)');
  t.true((await probe(host, '127.0.0.1', 8080)).connected, '127.0.0.1 is');

  // UDP over IPv6.
  await host.voltOk(['net', 'port', 'add', '--host-port', '5353', '--proto', 'udp', '--target', 'web', '--target-port', '5353']);
  t.is(await udpAsk(host.outside!, V6.host, 5353), `web ${V6.outside}`);

  // A forward on an IPv6 host address: IPv6 only.
  await host.voltOk(['net', 'port', 'add', '--host-port', '8443', '--host-ip', `[${V6.host}]`, '--target', 'web', '--target-port', '80']);
  const [v6only, v4not] = await probeMany(host.outside!, [
    { host: V6.host, port: 8443 },
    { host: UPLINK.hostAddress, port: 8443 },
  ]);
  t.true(v6only?.connected, 'forward on the IPv6 host address');
  t.false(v4not?.connected, 'not on the IPv4 one');
  const list = await host.voltOk(['net', 'port', 'list']);
  t.regex(list.stdout, new RegExp(`8443\\s+web\\s+80\\s+tcp\\s+active\\s+${V6.host.replace(/:/g, ':')}\\s+\\[${web.ip6}\\]:80`));

  // Mistakes: [::1], an IPv6 host address for a target on an IPv4-only network; nothing changes.
  const before = (await host.execOk('nft', ['list', 'table', 'inet', 'volt'])).stdout;
  const loop = await host.volt(['net', 'port', 'add', '--host-port', '9000', '--host-ip', '::1', '--target', 'web', '--target-port', '80']);
  t.is(loop.code, 2);
  t.regex(loop.stderr, /\[::1\] cannot be forwarded/);
  const mixed = await host.volt(['net', 'port', 'add', '--host-port', '9001', '--host-ip', V6.host, '--target', 'old', '--target-port', '80']);
  t.is(mixed.code, 2);
  t.regex(mixed.stderr, /is IPv6, but old is reached on network "legacy", which is IPv4-only/);
  t.is((await host.execOk('nft', ['list', 'table', 'inet', 'volt'])).stdout, before, 'kernel unchanged');
  t.is((await host.volt(['net', 'check'])).code, 0);

  // Drift: the IPv6 DNAT element goes; net check names it; net up puts it back.
  await host.execOk('nft', ['delete', 'element', 'inet', 'volt', 'pf_port6', '{ tcp . 8080 }']);
  const drift = await host.volt(['net', 'check']);
  t.is(drift.code, 6);
  t.regex(drift.stdout + drift.stderr, /port forward 8080\/tcp: pf_port6 lacks tcp \. 8080 : fd00:30::[0-9a-f:]+ \. 80/);
  await host.voltOk(['net', 'up']);
  t.true((await probe(host.outside!, V6.host, 8080)).connected);
});

test('rules and policies over IPv6: a workload name covers both addresses, v6 sources and destinations, a v6 policy denial', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const app = await dualWorkload(host, 'app', 'backend');
  const db = await dualWorkload(host, 'db', 'backend');
  const web = await dualWorkload(host, 'web', 'backend');
  await serve(db.ns, [5432, 5433], [], 'udp', true);
  /** New TCP connections from `from` to db's IPv4 and IPv6 address: [v4 connected, v6 connected]. */
  const both = async (from: Workload, port: number): Promise<[boolean, boolean]> => {
    const r = await probeMany(from.ns, [
      { host: db.ip, port },
      { host: db.ip6, port },
    ]);
    return [r[0]!.connected, r[1]!.connected];
  };
  t.deepEqual(await both(app, 5432), [true, true], 'same network: both families allowed by default');

  // One rule naming the workload drops both of its addresses.
  await host.voltOk(['net', 'firewall', 'add', '--name', 'no-5433', '--source', 'any', '--dest', 'db', '--port', '5433', '--proto', 'tcp', '--action', 'drop']);
  t.deepEqual(await both(app, 5433), [false, false], 'a rule with a workload name covers IPv4 and IPv6');
  t.deepEqual(await both(app, 5432), [true, true]);
  // An IPv6 source address: IPv6 only.
  await host.voltOk(['net', 'firewall', 'add', '--name', 'no-web6', '--source', web.ip6, '--dest', 'db', '--port', '5432', '--proto', 'tcp', '--action', 'reject']);
  t.deepEqual(await both(web, 5432), [true, false], 'a rule on an IPv6 source matches IPv6 only');
  const mixed = await host.volt(['net', 'firewall', 'add', '--name', 'mixed', '--source', '10.30.0.0/24', '--dest', 'fd00:30::/64', '--action', 'drop']);
  t.is(mixed.code, 2);
  t.regex(mixed.stderr, /different address families/);
  await host.voltOk(['net', 'firewall', 'flush']);

  // A policy isolating db over both families: app may reach 5432 only; web nothing. policy test agrees for IPv6.
  await host.voltOk(['net', 'policy', 'create', '--name', 'app-to-db', '--from', 'app', '--to', 'db', '--port', '5432', '--action', 'allow']);
  t.deepEqual(await both(app, 5432), [true, true], 'allowed by the policy, both families');
  t.deepEqual(await both(app, 5433), [false, false], 'isolated: other ports denied, both families');
  t.deepEqual(await both(web, 5432), [false, false], 'a v6 policy denial (web is not allowed)');
  const verdict = async (from: string, port: number): Promise<{ verdict: string; src?: string; dst?: string }> =>
    JSON.parse((await host.volt(['net', 'policy', 'test', '--from', from, '--to', 'db', '--port', String(port), '--ipv6', '-o', 'json'])).stdout) as { verdict: string; src?: string; dst?: string };
  t.like(await verdict('app', 5432), { verdict: 'ALLOWED', src: app.ip6, dst: db.ip6 });
  t.like(await verdict('app', 5433), { verdict: 'DENIED' });
  t.like(await verdict('web', 5432), { verdict: 'DENIED' });
  t.is((await host.volt(['net', 'check'])).code, 0);

  // The isolated db still resolves its neighbours and connects out over both families (policy test: allowed).
  // Neighbour solicitations and advertisements are not conntrack-related: without the base rule that accepts
  // them before the policy, the advertisement answering db's solicitation was dropped (db is isolated), so db
  // reached nobody over IPv6 while IPv4 (ARP) worked. The control deletes that rule by hand.
  await serve(app.ns, [7100], [], 'udp', true);
  const out = async (): Promise<[boolean, boolean]> => {
    for (const w of [app, db]) await w.ns.execOk('ip', ['-6', 'neigh', 'flush', 'all']);
    const r = await probeMany(db.ns, [
      { host: app.ip, port: 7100 },
      { host: app.ip6, port: 7100 },
    ]);
    return [r[0]!.connected, r[1]!.connected];
  };
  t.deepEqual(await out(), [true, true], 'the isolated db connects out over IPv4 and IPv6');
  const fwd = (await host.execOk('nft', ['-a', 'list', 'chain', 'inet', 'volt', 'volt-forward'])).stdout;
  const nd = /icmpv6 type \{ nd-neighbor-solicit, nd-neighbor-advert \} ip6 hoplimit 255 accept comment "neighbour discovery on dual-stack networks" # handle (\d+)/.exec(fwd)?.[1];
  t.truthy(nd, fwd);
  await host.execOk('nft', ['delete', 'rule', 'inet', 'volt', 'volt-forward', 'handle', nd ?? '0']);
  t.deepEqual(await out(), [true, false], 'control: without the neighbour-discovery rule the isolated db loses IPv6 only');
  const ndDrift = await host.volt(['net', 'check']);
  t.is(ndDrift.code, 6, ndDrift.stdout + ndDrift.stderr);
  t.regex(ndDrift.stdout + ndDrift.stderr, /missing rule 'iifname @bridges6 icmpv6 type/);
  await host.voltOk(['net', 'up']);
  t.deepEqual(await out(), [true, true], 'net up puts it back');
  t.is((await host.volt(['net', 'check'])).code, 0);
  // The per-bridge IPv6 hand-over to the filter (nf_call_ip6tables) is on while policies need it.
  t.is((await host.execOk('cat', ['/sys/class/net/volt-backend/bridge/nf_call_ip6tables'])).stdout.trim(), '1');
});
