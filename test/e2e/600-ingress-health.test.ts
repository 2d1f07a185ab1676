import test from 'ava';
import { SandboxHost } from '../harness';
import { echo, eventually, request, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

test('health checks: a backend that stops answering is taken out of routing (no errors while the other serves), put back when it recovers; a route with none left answers 502 at once', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const one = await workload(host, 'backend', 'one');
  const two = await workload(host, 'backend', 'two');
  await startBackend(one.c, 8080, 'one');
  let second = await startBackend(two.c, 8080, 'two');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${one.name}:8080`, '--backend', `${two.name}:8080`]);
  await host.voltOk(['ingress', 'create', '--name', 'solo', '--hostname', 'solo.example.com', '--backend', `${two.name}:8080`]);
  await startProxy(host, { workers: 1, args: ['--health-interval', '0.2', '--health-timeout', '1', '--health-failures', '2'] });

  const spread = async (n: number): Promise<string[]> => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(echo(t, await request(host, { url: 'http://127.0.0.1/', host: 'app.example.com' })).backend);
    return seen;
  };
  t.deepEqual([...new Set(await spread(6))].sort(), ['one', 'two'], 'both backends take requests');

  await second.stop('SIGKILL');
  const down = await eventually('backend two to be taken out', async () => {
    const s = await status(host);
    const b = s.backends.find((x) => x.key === `${two.ip}:8080`);
    return b?.state === 'unhealthy' ? b : undefined;
  });
  t.regex(down.error ?? '', /ECONNREFUSED/);
  const st = await status(host);
  t.is(st.routes.find((r) => r.name === 'app')?.health, 'healthy,unhealthy');
  t.deepEqual([...new Set(await spread(8))], ['one'], 'every request goes to the healthy backend, none fails');

  const solo = await request(host, { url: 'http://127.0.0.1/', host: 'solo.example.com' });
  t.is(solo.status, 502);
  t.is(solo.body, '502 Bad Gateway: backend of route solo is unavailable (failing health checks)\n');
  const text = await host.voltOk(['ingress', 'status']);
  t.regex(text.stdout, new RegExp(`^${two.ip.replace(/\./g, '\\.')}:8080\\s+${two.name}\\s+unhealthy`, 'm'));

  second = await startBackend(two.c, 8080, 'two');
  await eventually('backend two to be put back', async () => {
    const s = await status(host);
    return s.backends.find((x) => x.key === `${two.ip}:8080`)?.state === 'healthy';
  });
  t.deepEqual([...new Set(await spread(6))].sort(), ['one', 'two'], 'recovered: back in rotation');
  t.is((await request(host, { url: 'http://127.0.0.1/', host: 'solo.example.com' })).status, 200);
  await second.stop();
});
