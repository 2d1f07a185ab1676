import test from 'ava';
import { SandboxHost } from '../harness';
import { dnsConfig, serve } from './500-dns-lib';

/*
 * volt-dns starting with 50 networks (issue 15: its start-up no longer grows
 * with the networks, docs/decisions/0012-dns-startup.md): every network's
 * listener answers a real query for a workload of that network, from that
 * network's subnet, as soon as the service says it is ready. No timing is
 * asserted here; bench/dns-startup.sh measures it against dnsmasq.
 */

const NETWORKS = 50;

interface NetRow {
  name: string;
  subnet: string;
  gateway: string;
}

test(`with ${NETWORKS} networks every listener answers its own network's workload name once volt-dns is ready`, async (t) => {
  const host = await SandboxHost.create(t, { config: dnsConfig([]) });
  // The default network exists from the first command on: 49 more.
  for (let i = 1; i < NETWORKS; i++) await host.voltOk(['net', 'create', '--name', `n${i}`, '--subnet', `10.${100 + Math.floor(i / 200)}.${i % 200}.0/24`]);
  const nets = await host.voltJson<NetRow[]>(['net', 'list', '-o', 'json']);
  t.is(nets.length, NETWORKS, JSON.stringify(nets.map((n) => n.name)));

  // One container on every network, at .10 of each subnet; its name resolves to a different address on each.
  const probe = await host.addContainer('probe');
  await host.voltOk(['container', 'register', 'probe', '--netns', `/run/netns/${probe.netns}`]);
  const ipOf = (n: NetRow): string => n.gateway.replace(/\.1$/, '.10');
  for (const n of nets) await host.voltOk(['net', 'connect', n.name, 'probe', '--ip', ipOf(n)]);

  const dns = await serve(host);
  t.regex(dns.stdout, new RegExp(`volt-dns: ready: ${NETWORKS} networks`));
  t.regex(dns.stdout, /^volt-dns: udp: recvmmsg\/sendmmsg/m, 'the batched path answers (a fallback to dgram would be a warning)');
  t.notRegex(dns.stderr, /batched UDP unavailable/);

  // Every gateway, from the container's address on that network: `probe` is that address.
  const script = nets.map((n) => `echo "${n.gateway} $(dig +short +time=2 +tries=3 @${n.gateway} probe A)"`).join('\n');
  const r = await probe.exec('sh', ['-c', script], { timeoutMs: 300_000 });
  const got = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l): [string, string] => {
        const [gw, ip] = l.trim().split(/\s+/);
        return [gw ?? '', ip ?? ''];
      }),
  );
  for (const n of nets) t.is(got.get(n.gateway), ipOf(n), `network ${n.name} (${n.gateway}): ${r.stdout}\n${r.stderr}`);

  // And over TCP on one of them (the listeners bind TCP beside UDP).
  const last = nets[nets.length - 1]!;
  const tcp = await probe.exec('dig', ['+short', '+tcp', '+time=2', '+tries=2', `@${last.gateway}`, 'probe', 'A']);
  t.is(tcp.stdout.trim(), ipOf(last));
});
