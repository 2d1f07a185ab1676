/**
 * A container port's kernel work (setupVethPort, configureVethPeer, teardownVethPort in the
 * SDK) gives the same kernel state through rtnetlink in-process (the default) as through
 * `ip -batch` via nsenter and a shell (VOLT_KERNEL_ACCESS=process): the veth pair with its
 * peer made inside the workload's namespace, the host end's settings and bridge, addresses of
 * both families, default routes, the sysctls that make the kernel announce the workload, and
 * the tear-down; set-up and tear-down run twice are idempotent, and failures are refused
 * alike. The library path starts no process at all.
 */
import test, { type ExecutionContext } from 'ava';
import * as path from 'node:path';
import { runCommand } from '@volt/sdk/kernel';

const RUNNER = path.join(__dirname, 'port-writes-runner.js');
let counter = 0;

async function must(args: string[]): Promise<string> {
  const r = await runCommand('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function netns(t: ExecutionContext, role: string): Promise<string> {
  counter += 1;
  const name = `vt-nw-${process.pid}-${counter}${role}`;
  await must(['netns', 'add', name]);
  t.teardown(async () => {
    await runCommand('ip', ['netns', 'del', name]);
  });
  return name;
}

interface Link {
  ifname: string;
  flags: string[];
  mtu: number;
  master?: string;
  address?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  inet6_addr_gen_mode?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string; nodad?: boolean }[];
}

/** What the test compares of a namespace: links (no ifindex, no timers), addresses, routes, the announce sysctls. */
async function snapshot(ns: string, sysctlIf?: string): Promise<unknown> {
  // `addr show` has the addresses, `link show -d` the link settings (addrgenmode among them).
  const addrs = new Map((JSON.parse(await must(['-n', ns, '-j', 'addr', 'show'])) as Link[]).map((l) => [l.ifname, l.addr_info]));
  const links = (JSON.parse(await must(['-n', ns, '-j', '-d', 'link', 'show'])) as Link[]).map((l) => ({ ...l, addr_info: addrs.get(l.ifname) ?? [] }));
  const routes4 = JSON.parse(await must(['-n', ns, '-j', 'route', 'show'])) as unknown[];
  const routes6 = JSON.parse(await must(['-n', ns, '-j', '-6', 'route', 'show'])) as unknown[];
  const sysctls: Record<string, string> = {};
  if (sysctlIf !== undefined && links.some((l) => l.ifname === sysctlIf)) {
    for (const key of [`net.ipv4.conf.${sysctlIf}.arp_notify`, `net.ipv6.conf.${sysctlIf}.accept_ra`, `net.ipv6.conf.${sysctlIf}.ndisc_notify`]) {
      const r = await runCommand('ip', ['netns', 'exec', ns, 'sysctl', '-n', key]);
      sysctls[key] = r.stdout.trim();
    }
  }
  return {
    links: links
      .map((l) => ({
        ifname: l.ifname,
        kind: l.linkinfo?.info_kind ?? null,
        flags: [...l.flags].sort(),
        mtu: l.mtu,
        master: l.master ?? null,
        // A host end's MAC is the kernel's random choice; the peer's is volt's.
        mac: l.ifname.startsWith('vh') ? 'random' : (l.address ?? null),
        alias: l.ifalias ?? null,
        addrGenMode: l.inet6_addr_gen_mode ?? null,
        addresses: (l.addr_info ?? []).map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}${a.nodad ? ' nodad' : ''}`).sort(),
      }))
      .sort((a, b) => (a.ifname < b.ifname ? -1 : 1)),
    // "linkdown" follows the bridge's carrier, which the kernel updates a moment after the last port goes.
    routes: [...routes4, ...routes6].map((r) => JSON.stringify(r).replace(/"linkdown",?/g, '').replace(',]', ']')).sort(),
    sysctls,
  };
}

interface Run {
  results: string[];
  writes: number;
  programs: number;
}

async function run(host: string, mode: 'library' | 'process', steps: [string, unknown][]): Promise<Run> {
  const r = await runCommand('ip', ['netns', 'exec', host, 'env', `VOLT_KERNEL_ACCESS=${mode}`, 'VOLT_TRACE=1', process.execPath, RUNNER, JSON.stringify({ steps })], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`runner (${mode}) exited ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Omit<Run, 'programs'>;
  return { ...out, programs: r.stderr.split('\n').filter((l) => l.startsWith('trace:')).length };
}

interface World {
  host: string;
  ctr: string;
  spec: Record<string, unknown>;
}

async function world(t: ExecutionContext, tag: string): Promise<World> {
  const host = await netns(t, `${tag}h`);
  const ctr = await netns(t, `${tag}c`);
  const n = (...args: string[]): Promise<string> => must(['-n', host, ...args]);
  await n('link', 'set', 'lo', 'up');
  await n('link', 'add', 'br0', 'type', 'bridge');
  await n('link', 'set', 'br0', 'address', '02:00:00:00:00:01');
  await n('addr', 'add', '10.88.0.1/24', 'dev', 'br0');
  await n('addr', 'add', 'fd00:88::1/64', 'dev', 'br0', 'nodad');
  await n('link', 'set', 'br0', 'up');
  const spec = {
    network: 'n1',
    workload: 'w1',
    bridge: 'br0',
    hostIfname: 'vh00000000aa',
    ifname: 'eth0',
    netns: `/run/netns/${ctr}`,
    mac: '02:00:00:00:aa:01',
    mtu: 1400,
    address: '10.88.0.10/24',
    defaultGateway: '10.88.0.1',
    address6: 'fd00:88::10/64',
    defaultGateway6: 'fd00:88::1',
  };
  return { host, ctr, spec };
}

test('container port set-up, idempotent re-run, failures and tear-down: rtnetlink in-process and ip -batch give the same kernel state', async (t) => {
  const snaps: Record<string, unknown[]> = {};
  const runs: Record<string, Run[]> = {};
  for (const mode of ['library', 'process'] as const) {
    const w = await world(t, mode[0]!);
    const spec = w.spec;
    const v4only = { ...spec, workload: 'w2', hostIfname: 'vh00000000bb', ifname: 'eth1', mac: '02:00:00:00:bb:01', address: '10.88.0.11/24', address6: undefined, defaultGateway: undefined, defaultGateway6: undefined };
    const set = await run(w.host, mode, [
      ['setup', spec],
      ['setup', spec], // again: converges the host end only
      ['configure', spec],
      ['configure', spec], // again: every line is a replace
      ['setup', v4only],
      ['configure', v4only],
      // Refused alike: no such device inside the container, no such bridge, no such namespace.
      ['configure', { ...spec, ifname: 'eth9' }],
      ['setup', { ...spec, workload: 'w3', hostIfname: 'vh00000000cc', ifname: 'eth3', mac: '02:00:00:00:cc:01', bridge: 'nosuch' }],
      ['setup', { ...spec, workload: 'w4', hostIfname: 'vh00000000dd', ifname: 'eth4', mac: '02:00:00:00:dd:01', netns: '/run/netns/vt-nw-nosuch' }],
    ]);
    const up = [await snapshot(w.host), await snapshot(w.ctr, 'eth0'), await snapshot(w.ctr, 'eth1')];
    const down = await run(w.host, mode, [
      ['teardown', spec],
      ['teardown', spec], // already gone: success
      ['teardown', v4only],
    ]);
    snaps[mode] = [...up, await snapshot(w.host), await snapshot(w.ctr)];
    runs[mode] = [set, down];
  }
  const [lib, proc] = [runs.library!, runs.process!];
  t.deepEqual(snaps.library, snaps.process, 'identical kernel state after set-up and after tear-down');
  for (const [i, r] of lib.entries()) {
    t.deepEqual(r.results.map((x) => x.split(' ')[0]), proc[i]!.results.map((x) => x.split(' ')[0]), 'the same steps succeed and fail, with the same codes');
  }
  t.deepEqual(lib[0]!.results.slice(0, 6), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  t.deepEqual(lib[1]!.results, ['ok', 'ok', 'ok']);
  // The refusals name what is wrong, on both paths.
  for (const r of [lib[0]!, proc[0]!]) {
    t.regex(r.results[6]!, /^E_KERNEL connect "w1" to "n1": configure eth9 inside the container: .*Cannot find device "eth9"/);
    t.regex(r.results[7]!, /^E_KERNEL connect "w3" to "n1": create veth vh00000000cc: .*(Cannot find device "nosuch"|does not exist)/);
    t.regex(r.results[8]!, /^E_KERNEL connect "w4" to "n1": create veth vh00000000dd: .*(vt-nw-nosuch|No such file)/);
  }
  t.is(lib[0]!.programs + lib[1]!.programs, 0, 'the library path ran no program');
  t.true(lib[0]!.writes > 0);
  t.true(proc[0]!.programs > 0, 'the process path ran ip');
  t.is(proc[0]!.writes, 0);

  // And the state is the right one, not the same mistake twice.
  const [host, eth0, eth1] = snaps.library as { links: { ifname: string; [k: string]: unknown }[]; routes: string[]; sysctls: Record<string, string> }[];
  const vh = host!.links.find((l) => l.ifname === 'vh00000000aa');
  t.like(vh, { kind: 'veth', master: 'br0', mtu: 1400, alias: 'volt:n1/w1', addrGenMode: 'none', addresses: [] });
  t.true((vh!.flags as string[]).includes('UP'));
  const e0 = eth0!.links.find((l) => l.ifname === 'eth0');
  t.like(e0, { kind: 'veth', mtu: 1400, mac: '02:00:00:00:aa:01', alias: 'volt:n1/w1' });
  t.true((e0!.addresses as string[]).includes('inet 10.88.0.10/24 global'));
  t.true((e0!.addresses as string[]).includes('inet6 fd00:88::10/64 global nodad'));
  t.true(eth0!.routes.some((r) => r.includes('"dst":"default"') && r.includes('"gateway":"10.88.0.1"')));
  t.true(eth0!.routes.some((r) => r.includes('"dst":"default"') && r.includes('"gateway":"fd00:88::1"')));
  t.deepEqual(eth0!.sysctls, { 'net.ipv4.conf.eth0.arp_notify': '1', 'net.ipv6.conf.eth0.accept_ra': '0', 'net.ipv6.conf.eth0.ndisc_notify': '1' });
  t.is(eth1!.sysctls['net.ipv4.conf.eth1.arp_notify'], '1');
  t.is(eth1!.sysctls['net.ipv6.conf.eth1.ndisc_notify'], '0', 'no IPv6 address: the v6 sysctls are left alone');
  // The failed set-ups left what ip -batch leaves too: the veth whose bridge was missing.
  t.truthy(host!.links.find((l) => l.ifname === 'vh00000000cc'));
  t.falsy(host!.links.find((l) => l.ifname === 'vh00000000dd'));
  const [hostAfter, ctrAfter] = (snaps.library as { links: { ifname: string }[] }[]).slice(3);
  t.falsy(hostAfter!.links.find((l) => l.ifname === 'vh00000000aa'));
  // eth0 and eth1 went with their host ends; eth3 is the peer of the failed set-up's veth (torn down by the caller's undo, not here).
  t.deepEqual(ctrAfter!.links.map((l) => l.ifname), ['eth3', 'lo'], 'both ends gone with the tear-down');
});
