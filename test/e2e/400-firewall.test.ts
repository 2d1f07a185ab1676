import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, UPLINK, ping } from '../harness';
import { probe, serve, workload } from './400-lib';

interface RuleJson {
  position: number;
  name: string;
  chains: string[];
  source: string;
  sourceAddresses?: string[];
  dest: string;
  destAddresses?: string[];
  proto: string;
  ports: string[];
  action: string;
}
interface ListingJson {
  rules: RuleJson[];
  policies: number;
  forwards: number;
  defaults: { network: string; nat: string }[];
}

test('firewall rules: chain chosen from the destination, order and precedence, workloads followed, real traffic', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
  const web = await workload(host, 'web', 'backend');
  const db = await workload(host, 'db', 'backend');
  const app = await workload(host, 'app', 'frontend');
  await serve(web.ns, [80, 22, 8080]);
  await serve(host, [8080]);

  // The default policy first: across networks denied, same network allowed, host services closed.
  const [crossHttp, sameSsh, hostSvc] = await Promise.all([probe(app.ns, web.ip, 80), probe(db.ns, web.ip, 22), probe(app.ns, '10.20.0.1', 8080)]);
  t.false(crossHttp.connected, 'frontend → backend is denied by default');
  t.true(sameSsh.connected, 'same network is allowed by default');
  t.false(hostSvc.connected, 'workloads cannot reach host services by default');

  const add = (...args: string[]) => host.voltOk(['net', 'firewall', 'add', ...args]);
  t.regex((await add('--name', 'allow-http', '--source', 'any', '--dest', 'web', '--port', '80,443', '--proto', 'tcp', '--action', 'accept')).stdout, /added rule allow-http at position 1 in volt-forward/);
  t.regex((await add('--name', 'block-ssh', '--source', 'any', '--dest', web.ip, '--port', '22', '--proto', 'tcp', '--action', 'drop')).stdout, /position 2 in volt-forward/);
  t.regex((await add('--name', 'app-to-host', '--source', 'app', '--dest', 'host', '--port', '8080', '--proto', 'tcp', '--action', 'accept')).stdout, /position 3 in volt-input/);
  t.regex((await add('--name', 'refuse-8080', '--source', 'db', '--dest', 'web', '--port', '8000-8100', '--proto', 'tcp', '--action', 'reject')).stdout, /position 4/);

  const after = await Promise.all([
    probe(app.ns, web.ip, 80),
    probe(app.ns, web.ip, 22),
    probe(db.ns, web.ip, 22),
    probe(app.ns, '10.20.0.1', 8080),
    probe(db.ns, '10.30.0.1', 8080),
    probe(db.ns, web.ip, 8080),
    probe(db.ns, web.ip, 80),
  ]);
  t.true(after[0]!.connected, 'allow-http opens frontend → web:80 across networks');
  t.false(after[1]!.connected, 'only port 80/443: web:22 from frontend stays denied by default');
  t.false(after[2]!.connected, 'block-ssh drops same-network traffic too (br_netfilter on the bridge)');
  t.true(after[3]!.connected, 'app-to-host (volt-input) opens the host service to app');
  t.is(after[3]!.peer, app.ip);
  t.false(after[4]!.connected, 'db still cannot reach the host service');
  t.is(after[5]!.detail, 'ERROR ECONNREFUSED', 'reject answers TCP with a reset');
  t.true(after[6]!.connected, 'db → web:80 matches allow-http');

  // The chain each rule landed in, the order, and what workload names resolve to.
  const listing = await host.voltJson<ListingJson>(['net', 'firewall', 'list', '-o', 'json']);
  t.deepEqual(
    listing.rules.map((r) => [r.position, r.name, r.chains.join(',')]),
    [
      [1, 'allow-http', 'volt-forward'],
      [2, 'block-ssh', 'volt-forward'],
      [3, 'app-to-host', 'volt-input'],
      [4, 'refuse-8080', 'volt-forward'],
    ],
  );
  t.deepEqual(listing.rules[0]!.destAddresses, [web.ip]);
  t.deepEqual(listing.rules[2]!.sourceAddresses, [app.ip]);
  t.deepEqual(listing.defaults.map((d) => [d.network, d.nat]), [['volt0', 'masquerade'], ['backend', 'masquerade'], ['frontend', 'masquerade']]);
  const text = (await host.voltOk(['net', 'firewall', 'list'])).stdout;
  t.regex(text, /^#\s+NAME\s+CHAIN\s+SOURCE\s+DEST\s+PROTO\s+PORT\s+ACTION/m);
  t.regex(text, /1\s+allow-http\s+volt-forward\s+any\s+web \(10\.30\.0\.\d+\)\s+tcp\s+80,443\s+accept/);
  t.regex(text, /first match wins; then network policies/);
  t.regex(text, /backend\s+10\.30\.0\.0\/24\s+masquerade\s+allow\s+deny/);
  const anyDest = await add('--name', 'no-telnet', '--source', '10.20.0.0/24', '--dest', 'any', '--port', '23', '--proto', 'tcp', '--action', 'drop');
  t.regex(anyDest.stdout, /in volt-input and volt-forward/, '--dest any lands in both chains');

  // The same rule twice: by name, or by content under another name.
  const dupName = await host.volt(['net', 'firewall', 'add', '--name', 'allow-http', '--dest', 'db', '--port', '1', '--action', 'accept']);
  t.is(dupName.code, 4);
  t.regex(dupName.stderr, /add firewall rule "allow-http": a rule with this name exists/);
  const dupRule = await host.volt(['net', 'firewall', 'add', '--name', 'again', '--source', 'any', '--dest', 'web', '--port', '443,80', '--proto', 'tcp', '--action', 'accept']);
  t.is(dupRule.code, 4);
  t.regex(dupRule.stderr, /rule "allow-http" already does exactly this/);

  // Precedence: an exception inserted before the drop wins.
  t.regex((await add('--name', 'db-ssh', '--source', 'db', '--dest', 'web', '--port', '22', '--proto', 'tcp', '--action', 'accept', '--before', 'block-ssh')).stdout, /position 2/);
  t.true((await probe(db.ns, web.ip, 22)).connected, 'db-ssh (position 2) wins over block-ssh (position 3)');
  t.false((await probe(app.ns, web.ip, 22)).connected);

  // Rules follow workloads: web comes back with another address.
  await host.voltOk(['net', 'disconnect', 'web']);
  await host.voltOk(['net', 'connect', 'backend', 'web', '--ip', '10.30.0.77']);
  const moved = await Promise.all([probe(app.ns, '10.30.0.77', 80), probe(db.ns, '10.30.0.77', 22), probe(db.ns, '10.30.0.77', 8080)]);
  t.true(moved[0].connected, 'allow-http follows web to its new address');
  t.true(moved[1].connected, 'db-ssh follows web');
  t.is(moved[2].detail, 'ERROR ECONNREFUSED', 'refuse-8080 follows web');
  t.regex((await host.exec('nft', ['list', 'set', 'inet', 'volt', 'wl-web'])).stdout, /elements = \{ 10\.30\.0\.77 \}/);
  t.is((await host.volt(['net', 'check'])).code, 0);

  // A port forward and a policy exist; flush removes only the user rules.
  await host.voltOk(['net', 'port', 'add', '--host-port', '8081', '--target', 'web', '--target-port', '8080']);
  await host.voltOk(['net', 'policy', 'create', '--name', 'db-only', '--from', 'app', '--to', 'db', '--port', '5432', '--action', 'allow']);
  await host.voltOk(['net', 'firewall', 'delete', '--name', 'block-ssh']);
  const gone = await host.volt(['net', 'firewall', 'delete', '--name', 'block-ssh']);
  t.is(gone.code, 3, 'deleting what does not exist: not found, not a failure');
  t.regex(gone.stderr, /delete firewall rule "block-ssh": no such rule/);
  t.regex((await host.voltOk(['net', 'firewall', 'flush'])).stdout, /flushed 5 user firewall rules/);
  t.deepEqual((await host.voltJson<ListingJson>(['net', 'firewall', 'list', '-o', 'json'])).rules, []);
  t.false((await probe(app.ns, '10.30.0.77', 80)).connected, 'flushed: the default policy decides again');
  t.true((await probe(host.outside!, UPLINK.hostAddress, 8081)).connected, 'the port forward survives a flush');
  t.is((await host.voltJson<unknown[]>(['net', 'policy', 'list', '-o', 'json'])).length, 1, 'policies survive a flush');
  t.true(await ping(web.ns, UPLINK.internetAddress, { count: 2 }), 'outbound NAT survives a flush');
  const masq = (await host.exec('nft', ['list', 'chain', 'inet', 'volt', 'volt-nat-post'])).stdout;
  t.regex(masq, /ip saddr @nat_subnets oifname != @bridges oifname != "lo" masquerade/, 'NAT survives a flush');
  t.is((await host.volt(['net', 'check'])).code, 0);

  // The bulk path: a file replaces every rule at once, in its order.
  const file = path.join(host.root, 'rules.yaml');
  fs.writeFileSync(
    file,
    [
      'rules:',
      '  - { name: r1, source: any, dest: web, port: "80", proto: tcp, action: accept }',
      '  - { name: r2, source: db, dest: web, ports: [22, "8000-8100"], proto: tcp, action: drop }',
      '  - { name: r3, source: 10.20.0.0/24, dest: host, proto: icmp, action: drop, network: frontend }',
      '',
    ].join('\n'),
  );
  t.regex((await host.voltOk(['net', 'firewall', 'apply', '-f', file])).stdout, /applied 3 firewall rules/);
  const applied = await host.voltJson<ListingJson>(['net', 'firewall', 'list', '-o', 'json']);
  t.deepEqual(applied.rules.map((r) => [r.name, r.chains.join(',')]), [['r1', 'volt-forward'], ['r2', 'volt-forward'], ['r3', 'volt-input']]);
  const bulk = await Promise.all([probe(app.ns, '10.30.0.77', 80), probe(db.ns, '10.30.0.77', 22)]);
  t.true(bulk[0].connected);
  t.false(bulk[1].connected);
  t.is((await host.volt(['net', 'check'])).code, 0);
  fs.writeFileSync(file, 'rules: []\n');
  t.regex((await host.voltOk(['net', 'firewall', 'apply', '-f', file])).stdout, /applied 0 firewall rules/);
  t.is((await host.volt(['net', 'check'])).code, 0);
});

test('firewall, port and policy commands have help and examples', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  for (const cmd of [
    ['net', 'firewall', 'list'],
    ['net', 'firewall', 'add'],
    ['net', 'firewall', 'delete'],
    ['net', 'firewall', 'flush'],
    ['net', 'firewall', 'apply'],
    ['net', 'port', 'add'],
    ['net', 'port', 'list'],
    ['net', 'port', 'delete'],
    ['net', 'policy', 'create'],
    ['net', 'policy', 'list'],
    ['net', 'policy', 'delete'],
    ['net', 'policy', 'test'],
    ['net', 'policy', 'apply'],
  ]) {
    const r = await host.voltOk([...cmd, '--help']);
    t.regex(r.stdout, /USAGE/, cmd.join(' '));
    t.regex(r.stdout, /EXAMPLES/, cmd.join(' '));
  }
});
