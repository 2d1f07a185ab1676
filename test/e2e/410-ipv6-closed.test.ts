import test, { type ExecutionContext } from 'ava';
import { SandboxHost, ping, type NsRunner } from '../harness';
import { probe, serve, workload, type Workload } from './400-lib';

interface V6 {
  ifname: string;
  linkLocal: string;
}

/** The container's interface on the network and its IPv6 link-local address (the kernel gives every veth one). */
async function v6(ns: NsRunner): Promise<V6> {
  const r = await ns.exec('ip', ['-j', '-6', 'addr', 'show', 'scope', 'link']);
  const links = JSON.parse(r.stdout) as Array<{ ifname: string; addr_info: Array<{ local: string; tentative?: boolean }> }>;
  const l = links.find((x) => x.ifname !== 'lo' && x.addr_info.length > 0);
  if (l === undefined) throw new Error(`no IPv6 link-local address in ${ns.netns}: ${r.stdout}`);
  return { ifname: l.ifname, linkLocal: l.addr_info[0]!.local };
}

/*
 * volt networks are IPv4-only, and IPv6 stays closed on them: the explicit
 * `meta nfproto ipv6 drop` rules of volt-input and volt-forward (ruleset.ts,
 * IPV6_CLOSED). Real traffic: link-local and self-assigned ULA, ping6 and TCP,
 * without and with a policy; IPv4 between the same containers still works.
 */
async function closed(t: ExecutionContext, host: SandboxHost, withPolicy: boolean): Promise<void> {
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a: Workload = await workload(host, 'app', 'backend');
  const b: Workload = await workload(host, 'db', 'backend');
  if (withPolicy) await host.voltOk(['net', 'policy', 'create', '--name', 'app-to-db', '--from', 'app', '--to', 'db', '--port', '5432', '--action', 'allow']);
  await serve(b.ns, [5432]);
  const va = await v6(a.ns);
  const vb = await v6(b.ns);
  // IPv4 works: the bridge is up and forwards.
  // (The policy isolates db: only TCP 5432 from app, so no IPv4 ping then.)
  if (!withPolicy) t.true(await ping(a.ns, b.ip), 'IPv4 ping between the two containers');
  t.true((await probe(a.ns, b.ip, 5432)).connected, 'IPv4 TCP between the two containers');
  t.false(await ping(a.ns, `${vb.linkLocal}%${va.ifname}`), 'link-local ping6 to the peer');
  await a.ns.exec('ip', ['-6', 'addr', 'add', 'fd00:30::10/64', 'dev', va.ifname, 'nodad']);
  await b.ns.exec('ip', ['-6', 'addr', 'add', 'fd00:30::20/64', 'dev', vb.ifname, 'nodad']);
  t.false(await ping(a.ns, 'fd00:30::20'), 'ULA ping6 to the peer');
  t.false((await probe(a.ns, 'fd00:30::20', 5432)).connected, 'TCP over IPv6 to the peer');
  // The host: give the bridge a ULA and try it (volt gives it no IPv6 address at all).
  await host.exec('ip', ['-6', 'addr', 'add', 'fd00:30::1/64', 'dev', 'volt-backend', 'nodad']);
  t.false(await ping(a.ns, 'fd00:30::1'), 'ULA ping6 to the host');
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 0, check.stdout + check.stderr);
}

test('direct driver: IPv6 does not cross a v4-only network, nor reach the host; IPv4 does', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await closed(t, host, false);
  // Deleting the rule is drift: `volt net check` says so, `volt net up` puts it back.
  const listing = (await host.exec('nft', ['-a', 'list', 'chain', 'inet', 'volt', 'volt-forward'])).stdout;
  const handle = /iifname @bridges meta nfproto ipv6 drop comment "volt networks are IPv4-only" # handle (\d+)/.exec(listing)?.[1];
  t.truthy(handle, listing);
  await host.exec('nft', ['delete', 'rule', 'inet', 'volt', 'volt-forward', 'handle', handle ?? '0']);
  const drift = await host.volt(['net', 'check']);
  t.not(drift.code, 0);
  t.regex(drift.stdout + drift.stderr, /IPv4-only/);
  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0);
  t.regex((await host.exec('nft', ['list', 'chain', 'inet', 'volt', 'volt-forward'])).stdout, /iifname @bridges meta nfproto ipv6 drop/);
});

test('direct driver, with a policy present: IPv6 stays closed', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await closed(t, host, true);
});
