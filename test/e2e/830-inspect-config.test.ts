import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';

/*
 * `volt net inspect NET` lists the workloads on the network, with what the
 * kernel really has (IP inside the container, its MAC, the bridge port); and
 * the shared /etc/volt/config.yaml: other sections of the platform are
 * ignored (a note under -v), while network: stays strict.
 */

interface InspectJson {
  name: string;
  connected: number;
  workloads: { name: string; type: string; ip: string; mac: string; port: string; ifname: string; aliases: string[] }[];
}

test('net inspect lists the attached workloads with IP, MAC and bridge port, as the kernel has them', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const api = await host.addContainer('api');
  const db = await host.addContainer('db');
  await host.voltOk(['net', 'connect', 'backend', api.netns]);
  await host.voltOk(['net', 'connect', 'backend', db.netns, '--ip', '10.30.0.50']);
  await host.voltOk(['net', 'connect', 'volt0', db.netns]);

  const j = await host.voltJson<InspectJson>(['net', 'inspect', 'backend', '-o', 'json']);
  t.deepEqual(j.workloads.map((w) => w.name), [api.netns, db.netns].sort());
  for (const [c, w] of [api, db].map((c) => [c, j.workloads.find((x) => x.name === c.netns)!] as const)) {
    t.is(w.type, 'container');
    const link = (await c.ipJson<{ address: string; addr_info: { local: string }[] }[]>(['addr', 'show', 'dev', w.ifname]))[0]!;
    t.is(link.address, w.mac, `${w.name}: the MAC inside the container`);
    t.true(link.addr_info.some((a) => a.local === w.ip), `${w.name}: the IP inside the container`);
    const port = (await host.ipJson<{ master?: string }[]>(['link', 'show', 'dev', w.port]))[0]!;
    t.is(port.master, 'volt-backend', `${w.name}: its bridge port is on the network's bridge`);
  }
  t.is(j.workloads.find((w) => w.name === db.netns)!.ip, '10.30.0.50');

  const table = (await host.voltOk(['net', 'inspect', 'backend'])).stdout;
  t.regex(table, /^WORKLOAD\s+TYPE\s+IP\s+MAC\s+PORT\s+IFACE\s+NAMES$/m);
  t.regex(table, new RegExp(`^${db.netns}\\s+container\\s+10\\.30\\.0\\.50\\s+[0-9a-f:]{17}\\s+\\S+\\s+eth0\\s+-$`, 'm'));
  // volt0 shows only db; a network without workloads says how to connect one.
  t.deepEqual((await host.voltJson<InspectJson>(['net', 'inspect', 'volt0', '-o', 'json'])).workloads.map((w) => w.name), [db.netns]);
  await host.voltOk(['net', 'create', '--name', 'empty', '--subnet', '10.31.0.0/24']);
  t.regex((await host.voltOk(['net', 'inspect', 'empty'])).stdout, /Workloads: none \(connect one: volt net connect/);
});

test('config.yaml is shared: other sections are ignored (a note under -v), a misspelt volt section is warned about, network: stays strict', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const file = path.join(host.root, 'etc/volt/config.yaml');
  fs.writeFileSync(file, 'storage:\n  pool: fast\ncompute:\n  cpus: 4\nnetwork:\n  mtu: 1400\n');
  const quiet = await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  t.notRegex(quiet.stderr, /storage/, 'no note without -v');
  t.is((await host.voltJson<{ mtu: number }[]>(['net', 'list', '-o', 'json']))[0]!.mtu, 1400, 'network: is read');
  const loud = await host.voltOk(['net', 'list', '-v']);
  t.regex(loud.stderr, /note: .*config\.yaml: ignoring top-level sections "storage", "compute" \(not volt's; volt reads network:, drivers:, ingress:\)/);
  t.is(loud.stderr.match(/ignoring top-level/g)?.length, 1, 'one notice');
  t.regex((await host.voltOk(['config', 'validate', '-v'])).stderr, /ignoring top-level sections/);

  fs.writeFileSync(file, 'netwrok:\n  mtu: 9000\n');
  const typo = await host.voltOk(['net', 'list']);
  t.regex(typo.stderr, /warning: .*config\.yaml:1:1: top-level section "netwrok" is not volt's and is ignored; did you mean "network:"\?/);

  fs.writeFileSync(file, 'storage: {}\nnetwork:\n  brige: x\n');
  const strict = await host.volt(['net', 'list']);
  t.is(strict.code, 2);
  t.regex(strict.stderr, /config\.yaml:3:3: network\.brige: unknown key "brige"/);
});
