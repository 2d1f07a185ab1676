import test, { type ExecutionContext } from 'ava';
import { SandboxHost, ping, waitFor, type ContainerNs, type NsRunner } from '../harness';
import { probe, serve, workload, type Workload } from './400-lib';

interface V6 {
  ifname: string;
  linkLocal: string;
}

type Driver = 'direct' | 'networkd';

/**
 * The container's interface on the network and its IPv6 link-local address (the kernel gives every veth one).
 * `ip -j addr show scope link` still lists the interface's other addresses, as empty objects (iproute2
 * filters the fields, not the entries), so the link-local one is the entry of scope "link", wherever it is:
 * on a dual-stack network it comes after the global address.
 */
async function v6(ns: NsRunner): Promise<V6> {
  const r = await ns.exec('ip', ['-j', '-6', 'addr', 'show', 'scope', 'link']);
  const links = JSON.parse(r.stdout) as Array<{ ifname: string; addr_info: Array<{ local?: string; scope?: string }> }>;
  for (const l of links) {
    if (l.ifname === 'lo' || l.ifname.includes('.')) continue;
    const a = l.addr_info.find((x) => x.scope === 'link' && x.local !== undefined && x.local.startsWith('fe80:'));
    if (a?.local !== undefined) return { ifname: l.ifname, linkLocal: a.local };
  }
  throw new Error(`no IPv6 link-local address in ${ns.netns}: ${r.stdout}`);
}

/**
 * A router advertisement for fd00:99::/64 (autonomous), sent from `ns` to
 * ff02::1 on `ifname` with hop limit 255: a peer that receives it gives
 * itself an fd00:99:: address (SLAAC), which is how we see that it arrived.
 */
const RA_PY = `
import socket, struct, sys
ifname = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
prefix = socket.inet_pton(socket.AF_INET6, 'fd00:99::')
pio = struct.pack('!BBBBIII', 3, 4, 64, 0xC0, 86400, 14400, 0) + prefix
ra = struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0) + pio
for _ in range(3):
    s.sendto(ra, ('ff02::1', 0, 0, socket.if_nametoindex(ifname)))
print('SENT')
`;

async function sendRa(ns: ContainerNs, ifname: string): Promise<void> {
  await ns.execOk('/usr/bin/python3', ['-c', RA_PY, ifname]);
}

async function hasSlaac(ns: NsRunner): Promise<boolean> {
  return /inet6 fd00:99:/.test((await ns.exec('ip', ['-6', 'addr', 'show'])).stdout);
}

/** Peers answer ping6 to the all-nodes group (Linux answers multicast echo by default): how many answered. */
async function allNodesRepliers(ns: NsRunner, ifname: string): Promise<number> {
  const r = await ns.exec('ping', ['-6', '-n', '-c', '3', '-i', '0.3', '-W', '1', `ff02::1%${ifname}`], { timeoutMs: 20_000 });
  return new Set([...r.stdout.matchAll(/from (\S+?)(?:%\S+)?: icmp_seq/g)].map((m) => m[1])).size;
}

/**
 * IPv6 inside VLAN tags, as raw Ethernet frames (this kernel has no 802.1Q
 * interfaces): 802.1Q and 802.1ad+802.1Q frames of ether type ip6 to
 * 33:33:00:00:00:01, each carrying a marker. The listener on the peer's
 * interface (AF_PACKET, every protocol) prints GOT <kind> for each marker it
 * sees; the sender sends each frame three times.
 */
const TAGGED_PY = `
import socket, struct, sys, time
mode, ifname = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
if mode == 'listen':
    print('READY', flush=True)
    seen = set()
    while True:
        data = s.recv(65535)
        for kind in (b'q', b'ad'):
            if b'VOLT-TAGGED-V6-' + kind + b'.' in data and kind not in seen:
                seen.add(kind)
                print('GOT ' + kind.decode(), flush=True)
else:
    src = s.getsockname()[4]
    dst = bytes.fromhex('333300000001')
    def body(kind):
        # A well-formed IPv6 header (no next header) to ff02::1: the bridge's multicast snooping drops malformed ones.
        marker = b'VOLT-TAGGED-V6-' + kind + b'.'
        return struct.pack('!IHBB', 0x60000000, len(marker), 59, 1) + socket.inet_pton(socket.AF_INET6, 'fe80::1') + socket.inet_pton(socket.AF_INET6, 'ff02::1') + marker
    frames = [
        dst + src + struct.pack('!HHH', 0x8100, 5, 0x86dd) + body(b'q'),
        dst + src + struct.pack('!HHHHH', 0x88a8, 7, 0x8100, 5, 0x86dd) + body(b'ad'),
    ]
    for _ in range(3):
        for f in frames:
            s.send(f)
        time.sleep(0.1)
    print('SENT', flush=True)
`;

/** Send the tagged frames from `from` and return which kinds the listener on `to` saw within `waitMs` (a bound, not a timing claim). */
async function taggedCrossing(from: ContainerNs, fromIf: string, to: ContainerNs, toIf: string, waitMs: number, expect = 0): Promise<string[]> {
  const listener = to.spawn('/usr/bin/python3', ['-c', TAGGED_PY, 'listen', toIf]);
  await listener.waitForOutput(/^READY$/m, { timeoutMs: 15_000 });
  await from.execOk('/usr/bin/python3', ['-c', TAGGED_PY, 'send', fromIf]);
  if (expect > 0) await listener.waitForOutput(expect > 1 ? /^GOT (q|ad)$[\s\S]*^GOT (q|ad)$/m : /^GOT/m, { timeoutMs: 15_000 }).catch(() => undefined);
  else await new Promise((r) => setTimeout(r, waitMs));
  const got = [...listener.stdout.matchAll(/^GOT (\S+)$/gm)].map((m) => m[1]!);
  await listener.stop();
  return got.sort();
}

async function sandbox(t: ExecutionContext, driver: Driver): Promise<SandboxHost> {
  const host = await SandboxHost.create(t, { uplink: false, networkd: driver === 'networkd', config: `drivers:\n  bridge: ${driver}\n` });
  // Not depending on br_netfilter: with bridge-nf-call-ip6tables=0 (a per-namespace sysctl), bridged IPv6
  // never reaches the inet hooks, so only table bridge volt stands between two ports of one bridge.
  await host.execOk('sh', ['-c', 'echo 0 > /proc/sys/net/bridge/bridge-nf-call-ip6tables']);
  t.is((await host.execOk('cat', ['/proc/sys/net/bridge/bridge-nf-call-ip6tables'])).stdout.trim(), '0');
  return host;
}

interface Pair {
  a: Workload;
  b: Workload;
  va: V6;
  vb: V6;
}

async function pair(host: SandboxHost, withPolicy: boolean): Promise<Pair> {
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a = await workload(host, 'app', 'backend');
  const b = await workload(host, 'db', 'backend');
  if (withPolicy) await host.voltOk(['net', 'policy', 'create', '--name', 'app-to-db', '--from', 'app', '--to', 'db', '--port', '5432', '--action', 'allow']);
  await serve(b.ns, [5432]);
  const va = await v6(a.ns);
  const vb = await v6(b.ns);
  // Self-assigned ULAs.
  await a.ns.execOk('ip', ['-6', 'addr', 'add', 'fd00:30::10/64', 'dev', va.ifname, 'nodad']);
  await b.ns.execOk('ip', ['-6', 'addr', 'add', 'fd00:30::20/64', 'dev', vb.ifname, 'nodad']);
  return { a, b, va, vb };
}

/**
 * volt networks are IPv4-only, and IPv6 stays closed on them: table bridge volt
 * drops IPv6 frames on workload ports (ruleset.ts, bridgeTableModel), the inet
 * rules IPV6_CLOSED drop what is routed. Real traffic: link-local and ULA,
 * ping6, TCP, raw frames in VLAN tags, all-nodes multicast, neighbour discovery and
 * router advertisements, container to host and host to container; IPv4 between
 * the same containers still works.
 */
async function closed(t: ExecutionContext, host: SandboxHost, p: Pair, withPolicy: boolean): Promise<void> {
  const { a, b, va, vb } = p;
  await sendRa(b.ns, vb.ifname); // checked at the end, after the probes below have taken their time
  // IPv4 works: the bridge is up and forwards. (The policy isolates db: only TCP 5432 from app, so no IPv4 ping then.)
  if (!withPolicy) t.true(await ping(a.ns, b.ip), 'IPv4 ping between the two containers');
  t.true((await probe(a.ns, b.ip, 5432)).connected, 'IPv4 TCP between the two containers');
  t.false(await ping(a.ns, `${vb.linkLocal}%${va.ifname}`), 'link-local ping6 to the peer');
  t.false(await ping(a.ns, 'fd00:30::20'), 'ULA ping6 to the peer');
  t.false((await probe(a.ns, 'fd00:30::20', 5432)).connected, 'TCP over IPv6 to the peer');
  t.deepEqual(await taggedCrossing(a.ns, va.ifname, b.ns, vb.ifname, 2000), [], 'IPv6 inside 802.1Q and 802.1ad tags does not reach the peer');
  t.is(await allNodesRepliers(a.ns, va.ifname), 1, 'only the container itself answers ping6 to ff02::1');
  // Neighbour discovery never completed: no reachable IPv6 neighbour.
  t.notRegex((await a.ns.exec('ip', ['-6', 'neigh', 'show'])).stdout, /REACHABLE|STALE|DELAY|PROBE/, 'no IPv6 neighbour resolved');
  // The host: give the bridge a ULA and try both ways (volt gives it no IPv6 address at all).
  await host.execOk('ip', ['-6', 'addr', 'add', 'fd00:30::1/64', 'dev', 'volt-backend', 'nodad']);
  t.false(await ping(a.ns, 'fd00:30::1'), 'ULA ping6 to the host');
  t.false(await ping(host, 'fd00:30::10'), 'ULA ping6 from the host to the container');
  await host.execOk('ip', ['-6', 'addr', 'del', 'fd00:30::1/64', 'dev', 'volt-backend']);
  t.false(await hasSlaac(a.ns), 'a router advertisement from a container does not reach its peer');
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 0, check.stdout + check.stderr);
}

/** Deleting a rule of table bridge volt is drift; `volt net up` puts it back. Returns when closed again. */
async function driftAndRepair(t: ExecutionContext, host: SandboxHost): Promise<void> {
  const listing = (await host.execOk('nft', ['-a', 'list', 'chain', 'bridge', 'volt', 'ipv6-closed'])).stdout;
  const handle = /ether type ip6 drop comment "IPv6 is closed on IPv4-only networks" # handle (\d+)/.exec(listing)?.[1];
  t.truthy(handle, listing);
  await host.execOk('nft', ['delete', 'rule', 'bridge', 'volt', 'ipv6-closed', 'handle', handle ?? '0']);
  const drift = await host.volt(['net', 'check']);
  t.is(drift.code, 6, drift.stdout + drift.stderr);
  t.regex(drift.stdout + drift.stderr, /chain "ipv6-closed" of table bridge volt differs .*missing rule 'ether type ip6 drop/);
  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0);
}

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver} driver, bridge-nf-call-ip6tables=0: IPv6 does not cross a v4-only network, nor reach the host; IPv4 does; the rules are what closes it`, async (t) => {
    const host = await sandbox(t, driver);
    const p = await pair(host, false);
    await closed(t, host, p, false);
    await driftAndRepair(t, host);
    t.false(await ping(p.a.ns, `${p.vb.linkLocal}%${p.va.ifname}`), 'closed again after `net up`');

    // The control: without table bridge volt (deleted by hand), the same traffic crosses the bridge,
    // so the checks above fail if the table stops doing its work.
    await host.execOk('nft', ['delete', 'table', 'bridge', 'volt']);
    const missing = await host.volt(['net', 'check']);
    t.is(missing.code, 6);
    t.regex(missing.stdout + missing.stderr, /nftables table bridge volt is missing: IPv6 is not closed/);
    t.true(await ping(p.a.ns, `${p.vb.linkLocal}%${p.va.ifname}`), 'control: link-local ping6 crosses without the table');
    t.deepEqual(await taggedCrossing(p.a.ns, p.va.ifname, p.b.ns, p.vb.ifname, 0, 2), ['ad', 'q'], 'control: tagged IPv6 crosses without the table');
    await sendRa(p.b.ns, p.vb.ifname);
    await waitFor(() => hasSlaac(p.a.ns), { timeoutMs: 15_000 });
    t.pass('control: the router advertisement reaches the peer without the table');
    await host.voltOk(['net', 'up']);
    t.is((await host.volt(['net', 'check'])).code, 0);
    t.false(await ping(p.a.ns, `${p.vb.linkLocal}%${p.va.ifname}`), 'closed again after `net up`');
  });
}

test('direct driver, bridge-nf-call-ip6tables=0, with a policy present: IPv6 stays closed', async (t) => {
  const host = await sandbox(t, 'direct');
  await closed(t, host, await pair(host, true), true);
});

test('the inet rules close routed IPv6 too: deleting one is drift, `net up` puts it back', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const listing = (await host.execOk('nft', ['-a', 'list', 'chain', 'inet', 'volt', 'volt-forward'])).stdout;
  const handle = /iifname @bridges iifname != @bridges6 meta nfproto ipv6 drop comment "IPv6 is closed on IPv4-only networks" # handle (\d+)/.exec(listing)?.[1];
  t.truthy(handle, listing);
  await host.execOk('nft', ['delete', 'rule', 'inet', 'volt', 'volt-forward', 'handle', handle ?? '0']);
  const drift = await host.volt(['net', 'check']);
  t.not(drift.code, 0);
  t.regex(drift.stdout + drift.stderr, /IPv4-only/);
  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0);
  t.regex((await host.execOk('nft', ['list', 'chain', 'inet', 'volt', 'volt-forward'])).stdout, /iifname @bridges iifname != @bridges6 meta nfproto ipv6 drop/);
});

/**
 * Dual-stack (issue 14): with subnet6, IPv6 opens on that network's ports only. A dual-stack
 * network beside an IPv4-only one, same sandbox (bridge-nf-call-ip6tables=0): IPv6 crosses the
 * first (link-local, its addresses, TCP, to its gateway), and the second stays closed exactly as
 * above (link-local included). The opening is the ports6 set of table bridge volt: a port taken out
 * by hand is drift and closes again; `net up` restores it; a port that leaves the network leaves
 * the set.
 */
test('direct driver: IPv6 crosses a dual-stack network, not the IPv4-only one beside it; the opening is per port', async (t) => {
  const host = await sandbox(t, 'direct');
  const p = await pair(host, false);
  await host.voltOk(['net', 'create', '--name', 'dual', '--subnet', '10.31.0.0/24', '--subnet6', 'fd00:31::/64']);
  const c = await workload(host, 'web', 'dual');
  const d = await workload(host, 'api', 'dual');
  t.truthy(c.ip6, 'web has an IPv6 address');
  t.truthy(d.ip6, 'api has an IPv6 address');
  await serve(d.ns, [5432], [], 'udp', true);
  const vc = await v6(c.ns);
  const vd = await v6(d.ns);
  await waitFor(() => ping(c.ns, d.ip6!), { timeoutMs: 20_000 });
  t.pass('ping6 between the two dual-stack containers');
  await waitFor(() => ping(c.ns, `${vd.linkLocal}%${vc.ifname}`), { timeoutMs: 15_000 });
  t.pass('link-local ping6 between the two dual-stack containers (their link-local addresses are tentative the first seconds)');
  t.true((await probe(c.ns, d.ip6!, 5432)).connected, 'TCP over IPv6 on the dual-stack network');
  t.true(await ping(c.ns, 'fd00:31::1'), 'ping6 to its IPv6 gateway');
  t.false(await ping(c.ns, 'fd00:30::20'), 'not to the self-assigned ULA on the IPv4-only network (routed IPv6 into it is dropped)');
  // The IPv4-only network right beside it: everything of `closed` still holds (and net check is clean).
  await closed(t, host, p, false);

  // The opening is the ports6 set: take api's port out by hand.
  const set = (await host.execOk('nft', ['list', 'set', 'bridge', 'volt', 'ports6'])).stdout;
  const ports = [...set.matchAll(/"((?:vh|tap-)[0-9a-f]+)"/g)].map((m) => m[1]!).sort();
  const onDual = (JSON.parse((await host.execOk('ip', ['-j', 'link', 'show', 'master', 'volt-dual'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
  t.deepEqual(ports, onDual, `ports6 holds exactly the two ports of volt-dual, nothing of the IPv4-only network: ${set}`);
  t.is(ports.length, 2);
  await host.execOk('nft', ['delete', 'element', 'bridge', 'volt', 'ports6', `{ "${ports[0]}" }`]);
  const drift = await host.volt(['net', 'check']);
  t.is(drift.code, 6, drift.stdout + drift.stderr);
  t.regex(drift.stdout + drift.stderr, new RegExp(`dual-stack workload port ${ports[0]}: ports6 lacks "${ports[0]}"`));
  t.false(await ping(c.ns, `${vd.linkLocal}%${vc.ifname}`), 'without its ports6 element the port is closed again (link-local)');
  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0);
  t.true(await ping(c.ns, d.ip6!), 'net up restores it (ping6 to its address)');
  // A workload that leaves the network leaves the set.
  await host.voltOk(['net', 'disconnect', 'api']);
  const after = (await host.execOk('nft', ['list', 'set', 'bridge', 'volt', 'ports6'])).stdout;
  t.is([...after.matchAll(/"((?:vh|tap-)[0-9a-f]+)"/g)].length, 1, after);
  t.is((await host.volt(['net', 'check'])).code, 0);
});

/*
 * Link-local between two containers of a dual-stack network (issue 14). Once marked a known defect:
 * the cause was this file's v6() helper, which took the first entry of `ip -j addr show scope link`,
 * an empty object for the global address on a dual-stack interface, so it pinged "undefined%eth0".
 * Neighbour discovery and link-local traffic cross table bridge volt on ports6 ports. The first
 * seconds the link-local addresses are still tentative (DAD), hence the wait.
 */
test('direct driver: link-local ping6 between two containers of a dual-stack network; neighbours resolve', async (t) => {
  const host = await sandbox(t, 'direct');
  await host.voltOk(['net', 'create', '--name', 'dual', '--subnet', '10.31.0.0/24', '--subnet6', 'fd00:31::/64']);
  const c = await workload(host, 'web', 'dual');
  const d = await workload(host, 'api', 'dual');
  const vc = await v6(c.ns);
  const vd = await v6(d.ns);
  t.regex(vc.linkLocal, /^fe80:/);
  t.regex(vd.linkLocal, /^fe80:/);
  t.not(vc.linkLocal, vd.linkLocal);
  await waitFor(() => ping(c.ns, d.ip6!), { timeoutMs: 20_000 });
  t.true(await waitFor(() => ping(c.ns, `${vd.linkLocal}%${vc.ifname}`), { timeoutMs: 15_000 }).catch(() => false), 'link-local ping6 on the dual-stack network');
  t.true(await ping(d.ns, `${vc.linkLocal}%${vd.ifname}`), 'and back');
  // Neighbour discovery between the link-local addresses completed, both ways.
  const mac = async (ns: ContainerNs, ifname: string): Promise<string> => (JSON.parse((await ns.execOk('ip', ['-j', 'link', 'show', 'dev', ifname])).stdout) as Array<{ address: string }>)[0]!.address;
  const neigh = async (ns: ContainerNs, ifname: string, addr: string): Promise<string> => (await ns.execOk('ip', ['-6', 'neigh', 'show', 'dev', ifname, 'to', addr])).stdout;
  t.regex(await neigh(c.ns, vc.ifname, vd.linkLocal), new RegExp(`lladdr ${await mac(d.ns, vd.ifname)} (REACHABLE|STALE|DELAY|PROBE)`));
  t.regex(await neigh(d.ns, vd.ifname, vc.linkLocal), new RegExp(`lladdr ${await mac(c.ns, vc.ifname)} (REACHABLE|STALE|DELAY|PROBE)`));
  // TCP to the link-local address too.
  await serve(d.ns, [5432], [], 'udp', true);
  t.true((await probe(c.ns, `${vd.linkLocal}%${vc.ifname}`, 5432)).connected, 'TCP to the peer\'s link-local address');
  t.is((await host.volt(['net', 'check'])).code, 0);
});
