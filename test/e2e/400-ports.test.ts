import test from 'ava';
import { SandboxHost, UPLINK } from '../harness';
import { probe, serve, udpAsk, workload } from './400-lib';

interface PortJson {
  hostPort: number;
  target: string;
  targetPort: number;
  proto: string;
  status: string;
  targetAddress?: string;
}

test('port forwards: from outside, from the host itself, hairpin from the same bridge; status; conflicts; following the target', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'web', 'backend');
  const db = await workload(host, 'db', 'backend');
  await serve(web.ns, [80], [5353], 'web');
  await serve(db.ns, [80], [5353], 'db');

  t.regex((await host.voltOk(['net', 'port', 'add', '--host-port', '8080', '--target', 'web', '--target-port', '80'])).stdout, /forwarding \*:8080\/tcp to web:80 \(active, 10\.30\.0\.\d+:80\)/);
  const list = await host.voltOk(['net', 'port', 'list']);
  t.regex(list.stdout, /^HOST-PORT\s+TARGET\s+TARGET-PORT\s+PROTO\s+STATUS/);
  t.regex(list.stdout, /\n8080\s+web\s+80\s+tcp\s+active/);

  const [outside, local, hostAddr, gateway, hairpinGw, hairpinUplink] = await Promise.all([
    probe(host.outside!, UPLINK.hostAddress, 8080),
    probe(host, '127.0.0.1', 8080),
    probe(host, UPLINK.hostAddress, 8080),
    probe(host, '10.30.0.1', 8080),
    probe(db.ns, '10.30.0.1', 8080),
    probe(db.ns, UPLINK.hostAddress, 8080),
  ]);
  t.true(outside.connected, 'from outside');
  t.is(outside.peer, UPLINK.outsideAddress, 'the target sees the real client address');
  t.true(local.connected, 'from the host itself, 127.0.0.1 (output-hook DNAT + route_localnet)');
  t.true(hostAddr.connected, "from the host itself, the host's uplink address");
  t.true(gateway.connected, "from the host itself, the network's gateway address");
  t.true(hairpinGw.connected, 'hairpin: a workload on the same bridge through the gateway address');
  t.is(hairpinGw.peer, '10.30.0.1', 'hairpin traffic is masqueraded, so the reply comes back through the host');
  t.true(hairpinUplink.connected, "hairpin through the host's uplink address");
  t.is((await host.exec('sysctl', ['-n', 'net.ipv4.conf.volt-backend.route_localnet'])).stdout.trim(), '1');
  // route_localnet must not open the host's loopback to workloads.
  await serve(host, [7070]);
  t.false((await probe(db.ns, '127.0.0.1', 7070)).connected, 'from a workload, 127.0.0.1 stays its own');

  // Conflicts: already forwarded; a host process listening on the port.
  const again = await host.volt(['net', 'port', 'add', '--host-port', '8080', '--target', 'db', '--target-port', '80']);
  t.is(again.code, 4);
  t.regex(again.stderr, /host port 8080\/tcp is already forwarded to web:80/);
  const busy = await host.volt(['net', 'port', 'add', '--host-port', '7070', '--target', 'db', '--target-port', '80']);
  t.is(busy.code, 4);
  t.regex(busy.stderr, /host port 7070\/tcp is already listened on by node \(pid \d+\) \(0\.0\.0\.0:7070\)/);

  // A target that is not running (or has no address) is accepted; STATUS says so.
  const sleepyNs = await host.addContainer('sleepy');
  await host.voltOk(['container', 'register', 'sleepy', '--netns', `/run/netns/${sleepyNs.netns}`]);
  const noAddr = await host.voltOk(['net', 'port', 'add', '--host-port', '9000', '--target', 'sleepy', '--target-port', '80']);
  t.regex(noAddr.stderr, /sleepy is not connected to a network/);
  const status = async (port: number): Promise<string | undefined> => (await host.voltJson<PortJson[]>(['net', 'port', 'list', '-o', 'json'])).find((f) => f.hostPort === port)?.status;
  t.is(await status(9000), 'no-address');
  await host.voltOk(['net', 'connect', 'backend', 'sleepy']);
  await serve(sleepyNs, [80]);
  t.is(await status(9000), 'active');
  t.true((await probe(host.outside!, UPLINK.hostAddress, 9000)).connected, 'works once the target has an address');
  await host.exec('ip', ['netns', 'del', sleepyNs.netns]);
  t.is(await status(9000), 'stopped');

  // The target moves to another address: the forward follows it.
  await host.voltOk(['net', 'disconnect', 'web']);
  t.is(await status(8080), 'no-address');
  await host.voltOk(['net', 'connect', 'backend', 'web', '--ip', '10.30.0.88']);
  const moved = await probe(host.outside!, UPLINK.hostAddress, 8080);
  t.true(moved.connected, 'the forward follows web to 10.30.0.88');
  t.is((await host.voltJson<PortJson[]>(['net', 'port', 'list', '-o', 'json'])).find((f) => f.hostPort === 8080)?.targetAddress, '10.30.0.88:80');

  // UDP: a change flushes conntrack, so a flow that keeps its source port sees the new target at once.
  await host.voltOk(['net', 'port', 'add', '--host-port', '5353', '--proto', 'udp', '--target', 'web', '--target-port', '5353']);
  t.is(await udpAsk(host.outside!, UPLINK.hostAddress, 5353, 40000), `web ${UPLINK.outsideAddress}`);
  await host.voltOk(['net', 'port', 'delete', '--host-port', '5353', '--proto', 'udp']);
  await host.voltOk(['net', 'port', 'add', '--host-port', '5353', '--proto', 'udp', '--target', 'db', '--target-port', '5353']);
  t.is(await udpAsk(host.outside!, UPLINK.hostAddress, 5353, 40000), `db ${UPLINK.outsideAddress}`, 'same client flow, new target');
  const flows = (await host.exec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '5353'])).stdout;
  t.notRegex(flows, /dst=10\.30\.0\.88 /, 'no flow to the old target is left');

  t.is((await host.volt(['net', 'check'])).code, 0);
  await host.voltOk(['net', 'port', 'delete', '--host-port', '8080']);
  t.false((await probe(host.outside!, UPLINK.hostAddress, 8080)).connected, 'deleted: nothing forwarded');
  const missing = await host.volt(['net', 'port', 'delete', '--host-port', '8080']);
  t.is(missing.code, 3);
  t.regex(missing.stderr, /delete port forward 8080\/tcp: no such forward/);
  t.is((await host.volt(['net', 'check'])).code, 0);
});
