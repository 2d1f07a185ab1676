import test from 'ava';
import { SandboxHost } from '../harness';
import { echo, eventually, request, startBackend, startProxy, status } from '../fixtures/ingress/ingress-helpers';

interface RouteJson {
  name: string;
  resolved: string[];
  family?: number;
}

/*
 * Ingress to IPv6 backends on a dual-stack network, with a real HTTP client
 * through the proxy: a workload backend with --family 6, a literal
 * [v6]:port backend, and IPv4 by default when the workload has both.
 */

test('a workload backend over IPv6 with --family 6, a literal [v6]:port backend, IPv4 by default', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const c = await host.addContainer('web');
  await host.voltOk(['net', 'connect', 'backend', c.netns, '--ip', '10.30.0.100', '--ip6', 'fd00:30::a']);
  // Two servers on the same port, one per family, so the answer says which address the proxy used.
  await startBackend(c, 8080, 'web4', undefined, { listen: '10.30.0.100' });
  await startBackend(c, 8080, 'web6', undefined, { listen: 'fd00:30::a' });

  const web = c.netns;
  await host.voltOk(['ingress', 'create', '--name', 'auto', '--hostname', 'auto.example.com', '--backend', `${web}:8080`]);
  await host.voltOk(['ingress', 'create', '--name', 'six', '--hostname', 'six.example.com', '--backend', `${web}:8080`, '--family', '6']);
  await host.voltOk(['ingress', 'create', '--name', 'literal', '--hostname', 'literal.example.com', '--backend', '[fd00:30::a]:8080']);
  const list = await host.voltJson<RouteJson[]>(['ingress', 'list', '-o', 'json']);
  t.deepEqual(
    list.map((r) => [r.name, r.resolved.join(','), r.family]),
    [
      ['auto', '10.30.0.100:8080', undefined],
      ['literal', '[fd00:30::a]:8080', undefined],
      ['six', '[fd00:30::a]:8080', 6],
    ],
  );

  // Bad input: clear errors, nothing stored.
  const mismatch = await host.volt(['ingress', 'create', '--name', 'bad', '--hostname', 'bad.example.com', '--backend', '10.30.0.100:8080', '--family', '6']);
  t.not(mismatch.code, 0);
  t.regex(mismatch.stderr, /backend 10\.30\.0\.100:8080 is an IPv4 address, but --family 6 asks for IPv6/);
  const five = await host.volt(['ingress', 'create', '--name', 'bad', '--hostname', 'bad.example.com', '--backend', `${web}:8080`, '--family', '5']);
  t.not(five.code, 0);
  t.regex(five.stderr, /family/);
  t.deepEqual((await host.voltJson<RouteJson[]>(['ingress', 'list', '-o', 'json'])).map((r) => r.name), ['auto', 'literal', 'six']);

  await startProxy(host);
  const get = async (hostname: string): Promise<{ backend: string; peer: string }> => echo(t, await request(host, { url: 'http://127.0.0.1/', host: hostname }));
  const auto = await get('auto.example.com');
  t.is(auto.backend, 'web4', 'both families: IPv4 by default');
  t.is(auto.peer, '10.30.0.1');
  const six = await get('six.example.com');
  t.is(six.backend, 'web6');
  t.is(six.peer, 'fd00:30::1', 'the proxy reached the backend from the v6 gateway');
  const literal = await get('literal.example.com');
  t.is(literal.backend, 'web6');
  // Health checks reach the v6 backend too.
  await eventually('the v6 backend healthy', async () => (await status(host)).backends.find((b) => b.key === '[fd00:30::a]:8080' && b.state === 'healthy'));
});
