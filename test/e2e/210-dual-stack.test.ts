import test from 'ava';
import { SandboxHost, ping, waitFor, type ContainerNs } from '../harness';
import { snapshot } from './kernel-snapshot';

interface Attachment {
  workload: string;
  network: string;
  ip: string;
  ip6?: string;
  mac: string;
  ifname: string;
  hostIfname: string;
}
interface NetJson {
  name: string;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  ipv6Mode?: string;
  status: string;
}
interface AddrJson {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string; tentative?: boolean; dadfailed?: boolean }[];
}

/** IPv6 addresses of one interface, "addr/len scope" each, sorted. */
async function v6Addresses(ns: { execJson<T>(cmd: string, args: string[]): Promise<T> }, ifname: string): Promise<string[]> {
  const links = await ns.execJson<AddrJson[]>('ip', ['-j', '-6', 'addr', 'show', 'dev', ifname]);
  return (links[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen} ${a.scope}${a.tentative ? ' tentative' : ''}`).sort();
}

async function v6DefaultRoutes(c: ContainerNs): Promise<string[]> {
  const routes = await c.execJson<{ dst: string; gateway?: string; dev: string }[]>('ip', ['-j', '-6', 'route', 'show', 'default']);
  return routes.map((r) => `${r.gateway ?? '-'} ${r.dev}`);
}

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver}: dual-stack network: v6 gateway on the bridge, static container addresses, ping6 container↔container and ↔gateway, disconnect removes it`, async (t) => {
    const host = await SandboxHost.create(t, { networkd: driver === 'networkd', config: `drivers:\n  bridge: ${driver}\n` });
    const created = await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'FD00:0030::/64']);
    t.regex(created.stdout, /10\.30\.0\.0\/24, gateway 10\.30\.0\.1, fd00:30::\/64, gateway6 fd00:30::1 \(nat\)/);
    await host.voltOk(['net', 'create', '--name', 'plain', '--subnet', '10.40.0.0/24']);

    const net = await host.voltJson<NetJson>(['net', 'inspect', 'backend', '-o', 'json']);
    t.is(net.subnet6, 'fd00:30::/64', 'stored in canonical form');
    t.is(net.gateway6, 'fd00:30::1');
    t.is(net.ipv6Mode, 'nat');
    t.is(net.status, 'up');

    // The bridge: exactly the gateway and its EUI-64 link-local (stable MAC), usable at once (no DAD pending).
    const mac = (await host.execJson<{ address: string }[]>('ip', ['-j', 'link', 'show', 'dev', 'volt-backend']))[0]!.address;
    const [a, b, c0, d, e, f] = mac.split(':').map((x) => parseInt(x, 16)) as number[];
    const iid = [((a! ^ 2) << 8) | b!, (c0! << 8) | 0xff, (0xfe << 8) | d!, (e! << 8) | f!].map((x) => x.toString(16)).join(':');
    t.deepEqual(await v6Addresses(host, 'volt-backend'), [`fd00:30::1/64 global`, `fe80::${iid}/64 link`].sort());
    t.is((await host.exec('sysctl', ['-n', 'net.ipv6.conf.all.forwarding'])).stdout.trim(), '1', 'the host routes IPv6');
    t.is((await host.exec('sysctl', ['-n', 'net.ipv6.conf.volt-backend.accept_ra'])).stdout.trim(), '0', 'the bridge takes no RAs from workloads');
    // An IPv4-only network is unchanged: no IPv6 address at all.
    t.deepEqual(await v6Addresses(host, 'volt-plain'), []);

    const api = await host.addContainer('api');
    const web = await host.addContainer('web');
    const old = await host.addContainer('old');
    const ca = await host.voltJson<Attachment>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
    t.is(ca.ip, '10.30.0.100');
    t.is(ca.ip6, 'fd00:30::64', 'the IPv4 host part (100 = 0x64) in the v6 prefix');
    const cw = await host.voltJson<Attachment>(['net', 'connect', 'backend', web.netns, '--ip6', 'fd00:30:0:0::2a', '-o', 'json']);
    t.is(cw.ip6, 'fd00:30::2a', 'static --ip6, canonical');
    const co = await host.voltJson<Attachment>(['net', 'connect', 'plain', old.netns, '-o', 'json']);
    t.is(co.ip6, undefined, 'no v6 on an IPv4-only network');

    // Inside: the static address (no DAD), the v6 default route via the gateway, and nothing from RAs.
    t.true((await v6Addresses(api, 'eth0')).includes('fd00:30::64/64 global'));
    t.deepEqual(await v6DefaultRoutes(api), ['fd00:30::1 eth0']);
    t.is((await api.exec('sysctl', ['-n', 'net.ipv6.conf.eth0.accept_ra'])).stdout.trim(), '0');

    t.true(await ping(api, 'fd00:30::2a', { count: 2 }), 'ping6 container → container');
    t.true(await ping(web, 'fd00:30::64', { count: 2 }), 'ping6 container → container (back)');
    t.true(await ping(api, 'fd00:30::1', { count: 2 }), 'ping6 container → gateway');
    t.true(await ping(host, 'fd00:30::2a', { count: 2 }), 'ping6 host → container');
    t.true(await ping(api, cw.ip, { count: 1 }), 'ping container → container (IPv4)');
    // Still exactly one global v6 address: the RAs the bridge sends (networkd) made no SLAAC address.
    t.deepEqual((await v6Addresses(api, 'eth0')).filter((x) => x.endsWith('global')), ['fd00:30::64/64 global']);

    // ps / container inspect show the v6 address.
    const ps = await host.voltJson<{ name: string; nics: { network: string; ip: string; ip6?: string; gateway6?: string }[] }[]>(['ps', '-o', 'json']);
    t.deepEqual(ps.find((p) => p.name === api.netns)!.nics.map((n) => [n.network, n.ip, n.ip6]), [['backend', '10.30.0.100', 'fd00:30::64']]);
    const ins = await host.voltJson<{ nics: { ip6?: string; gateway6?: string }[] }>(['container', 'inspect', web.netns, '-o', 'json']);
    t.is(ins.nics[0]!.ip6, 'fd00:30::2a');
    t.is(ins.nics[0]!.gateway6, 'fd00:30::1');

    t.deepEqual(await host.voltJson<{ ok: boolean; drift: string[] }>(['net', 'check', '-o', 'json']).then((r) => r.drift), []);

    // Disconnect: the v6 address goes with the veth; the address is free again.
    await host.voltOk(['net', 'disconnect', web.netns, 'backend']);
    t.is((await web.exec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1);
    t.false(await ping(api, 'fd00:30::2a', { timeoutS: 1 }));
    const again = await host.voltJson<Attachment>(['net', 'connect', 'backend', old.netns, '--ip', cw.ip, '--ip6', 'fd00:30::2a', '-o', 'json']);
    t.is(again.ip6, 'fd00:30::2a', 'released and reusable');
    t.is(again.ip, cw.ip);
    t.deepEqual(await v6DefaultRoutes(old), [], 'no v6 default route on a second network (it goes with the first network)');
    // api cached web's MAC for this address as REACHABLE (the pings above), which the kernel trusts
    // for up to 45 s without asking again. The new holder announces itself when its link comes up
    // (an unsolicited Neighbour Advertisement with override, ndisc_notify), so api's cache follows
    // it at once instead of black-holing the address until the entry times out.
    const oldMac = (await old.execJson<{ address: string }[]>('ip', ['-j', 'link', 'show', 'dev', again.ifname]))[0]!.address;
    t.is(oldMac, again.mac.toLowerCase());
    // The same for IPv4: a gratuitous ARP (arp_notify).
    const cached = async (addr: string): Promise<string | undefined> =>
      (await api.execJson<{ lladdr?: string }[]>('ip', ['-j', 'neigh', 'show', addr, 'dev', 'eth0']))[0]?.lladdr;
    for (const addr of ['fd00:30::2a', cw.ip]) {
      t.true(await waitFor(async () => (await cached(addr)) === oldMac, { timeoutMs: 10_000, intervalMs: 200 }), `the announcement moved api's neighbour entry for ${addr} to the new holder`);
      t.true(await ping(api, addr, { count: 1, timeoutS: 2 }), `the new holder answers on ${addr}`);
    }
  });
}

test('dual-stack bad input: clear error, non-zero exit, kernel and state unchanged', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  await host.voltOk(['net', 'create', '--name', 'plain', '--subnet', '10.40.0.0/24']);
  const c = await host.addContainer('c');
  const d = await host.addContainer('d');
  await host.voltOk(['net', 'connect', 'backend', c.netns, '--ip6', 'fd00:30::10']);
  const create = (v6: string, more: string[] = []): string[] => ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24', '--subnet6', v6, ...more];
  const cases: { title: string; args: string[]; exit: number; stderr: RegExp }[] = [
    { title: 'not an address', args: create('backend'), exit: 2, stderr: /--subnet6 "backend" is not an IPv6 prefix: it has no "\/prefix"/ },
    { title: ':::', args: create('fd00:::/64'), exit: 2, stderr: /":::" is not valid/ },
    { title: 'over-long group', args: create('fd00:12345::/64'), exit: 2, stderr: /more than four hex digits/ },
    { title: 'zone id', args: create('fe80::%eth0/64'), exit: 2, stderr: /zone ids/ },
    { title: 'host bits', args: create('fd00:61::1/64'), exit: 2, stderr: /has host bits set \(did you mean fd00:61::\/64\?\)/ },
    { title: 'prefix too long', args: create('fd00:61::/121'), exit: 2, stderr: /\/121 leaves no room[^]*\/64 is recommended/ },
    { title: 'prefix too short', args: create('fd00::/32'), exit: 2, stderr: /\/32 is too large for one bridge/ },
    { title: 'link-local', args: create('fe80::/64'), exit: 2, stderr: /neither a unique local \(fc00::\/7[^]*nor a global unicast/ },
    { title: 'multicast', args: create('ff05::/64'), exit: 2, stderr: /neither a unique local/ },
    { title: 'IPv4-mapped', args: create('::ffff:10.0.0.0/120'), exit: 2, stderr: /::ffff:10\.0\.0\.0\/120 is neither a unique local/ },
    { title: 'overlapping v6 prefix', args: create('fd00:30::8000:0:0:0/65'), exit: 4, stderr: /IPv6 prefix fd00:30:0:0:8000::\/65 overlaps network "backend" \(fd00:30::\/64\)/ },
    { title: 'bad mode', args: create('fd00:61::/64', ['--ipv6-mode', 'bridged']), exit: 2, stderr: /--ipv6-mode "bridged" is not one of nat, routed/ },
    { title: 'mode without prefix', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24', '--ipv6-mode', 'routed'], exit: 2, stderr: /--ipv6-mode needs an IPv6 prefix/ },
    { title: '--ip6 outside', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00:31::5'], exit: 2, stderr: /fd00:31::5 is outside fd00:30::\/64/ },
    { title: '--ip6 the gateway', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00:30::1'], exit: 2, stderr: /fd00:30::1 is the IPv6 gateway/ },
    { title: '--ip6 subnet-router anycast', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00:30::'], exit: 2, stderr: /subnet-router anycast/ },
    { title: '--ip6 taken', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00:30:0::10'], exit: 4, stderr: /fd00:30::10 is already taken by "/ },
    { title: '--ip6 malformed', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00::1::2'], exit: 2, stderr: /is not an IPv6 address: "::" may appear only once/ },
    { title: '--ip6 with a zone', args: ['net', 'connect', 'backend', d.netns, '--ip6', 'fd00:30::5%eth0'], exit: 2, stderr: /zone ids/ },
    { title: '--ip6 on an IPv4-only network', args: ['net', 'connect', 'plain', d.netns, '--ip6', 'fd00:30::5'], exit: 2, stderr: /network "plain" has no IPv6 prefix/ },
  ];
  for (const k of cases) {
    const before = await snapshot(host);
    const r = await host.volt(k.args);
    const after = await snapshot(host);
    t.is(r.code, k.exit, `${k.title}: exit code (stderr: ${r.stderr})`);
    t.regex(r.stderr, k.stderr, k.title);
    t.deepEqual(after, before, `${k.title}: kernel and state unchanged`);
  }
});

test('dual-stack drift: a lost v6 gateway, container address or route is reported by net check and repaired by net up; a stray v6 address volt did not record is a leftover', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const c = await host.addContainer('c');
  await host.voltOk(['net', 'connect', 'backend', c.netns]);
  t.is((await host.volt(['net', 'check'])).code, 0);

  await host.execOk('ip', ['addr', 'del', 'fd00:30::1/64', 'dev', 'volt-backend']);
  await c.execOk('ip', ['addr', 'del', 'fd00:30::64/64', 'dev', 'eth0']);
  let check = await host.volt(['net', 'check']);
  t.is(check.code, 6, check.stderr);
  t.regex(check.stderr, /bridge volt-backend lacks its IPv6 gateway address fd00:30::1\/64/);
  t.regex(check.stderr, new RegExp(`container "${c.netns}" on network "backend": eth0 lacks its IPv6 address fd00:30::64/64`));
  await host.voltOk(['net', 'up']);
  t.deepEqual(await v6Addresses(host, 'volt-backend').then((a) => a.filter((x) => x.endsWith('global'))), ['fd00:30::1/64 global']);
  t.true((await v6Addresses(c, 'eth0')).includes('fd00:30::64/64 global'));
  t.deepEqual(await v6DefaultRoutes(c), ['fd00:30::1 eth0']);
  t.true(await ping(c, 'fd00:30::1', { count: 2 }), 'the repaired address works');
  t.is((await host.volt(['net', 'check'])).code, 0);

  // The default route alone.
  await c.execOk('ip', ['-6', 'route', 'del', 'default']);
  check = await host.volt(['net', 'check']);
  t.regex(check.stderr, /no IPv6 default route via fd00:30::1 on eth0/);
  await host.voltOk(['net', 'up']);
  t.deepEqual(await v6DefaultRoutes(c), ['fd00:30::1 eth0']);

  // A v6 address in the network's prefix that state does not record: a leftover `net up` removes.
  await c.execOk('ip', ['addr', 'add', 'fd00:30::99/64', 'dev', 'eth0', 'nodad']);
  const r = await host.volt(['net', 'check', '-o', 'json']);
  t.is(r.code, 6);
  const json = JSON.parse(r.stdout) as { ok: boolean; findings: { kind: string; object: string; detail: string }[] };
  t.deepEqual(json.findings.map((f) => [f.kind, f.object]), [['orphan-address', `${c.netns}:eth0:fd00:30::99/64`]]);
  await host.voltOk(['net', 'up']);
  t.deepEqual((await v6Addresses(c, 'eth0')).filter((x) => x.endsWith('global')), ['fd00:30::64/64 global']);
  t.is((await host.volt(['net', 'check'])).code, 0);
});
