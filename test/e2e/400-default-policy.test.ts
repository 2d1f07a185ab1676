import test from 'ava';
import { SandboxHost, UPLINK } from '../harness';
import { probe, serve, tableContent, udpAsk, workload } from './400-lib';

test('the default policy with real traffic: host closed to workloads except DNS/DHCP on their gateway, NAT out, isolation', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
  const a = await workload(host, 'a', 'backend');
  const b = await workload(host, 'b', 'backend');
  const c = await workload(host, 'c', 'frontend');
  await serve(b.ns, [80]);
  await serve(c.ns, [80]);
  // Host services: a web server, sshd's port, DNS over TCP and UDP, a DHCP server's port.
  await serve(host, [8080, 22, 53], [53, 67], 'host');
  await serve(host.outside!, [7000]);

  const [same, cross, out, inbound, ssh, established] = await Promise.all([
    probe(a.ns, b.ip, 80),
    probe(a.ns, c.ip, 80),
    probe(a.ns, UPLINK.internetAddress, 7000),
    probe(host.outside!, UPLINK.hostAddress, 8080),
    probe(host.outside!, UPLINK.hostAddress, 22),
    probe(host, UPLINK.internetAddress, 7000),
  ]);
  t.true(same.connected, 'same network: allowed');
  t.false(cross.connected, 'different networks: denied');
  t.true(out.connected, 'outbound reaches the internet');
  t.is(out.peer, UPLINK.hostAddress, 'through NAT (masqueraded to the uplink address)');
  t.false(inbound.connected, 'inbound to the host: denied');
  t.true(ssh.connected, 'except host_allow (tcp/22 by default, so an operator is not locked out)');
  t.true(established.connected, "the host's own outbound connections get their replies (established/related)");

  const host8080 = await Promise.all([probe(a.ns, '10.30.0.1', 8080), probe(a.ns, '10.30.0.1', 22), probe(a.ns, UPLINK.hostAddress, 8080), probe(a.ns, '10.20.0.1', 53)]);
  t.deepEqual(
    host8080.map((r) => r.connected),
    [false, false, false, false],
    'workloads reach no host service: not on the gateway, not sshd, not the uplink address, not DNS on another network’s gateway',
  );
  t.true((await probe(a.ns, '10.30.0.1', 53)).connected, 'DNS over TCP on its own gateway');
  t.is(await udpAsk(a.ns, '10.30.0.1', 53), `host ${a.ip}`, 'DNS over UDP on its own gateway');
  t.is(await udpAsk(a.ns, '10.30.0.1', 67), `host ${a.ip}`, 'DHCP (udp/67) on its own gateway');
  t.is(await udpAsk(a.ns, '10.20.0.1', 53), undefined, "not DNS on another network's gateway");
  t.is((await host.volt(['net', 'check'])).code, 0);
});

test('living with other firewalls: foreign drops are reported by table and chain; a flushed ruleset comes back exactly with net up', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a = await workload(host, 'a', 'backend');
  const b = await workload(host, 'b', 'backend');
  await serve(b.ns, [80, 5432]);
  await serve(a.ns, [22]);
  await host.voltOk(['net', 'firewall', 'add', '--name', 'no-ssh', '--dest', 'a', '--port', '22', '--proto', 'tcp', '--action', 'drop']);
  await host.voltOk(['net', 'port', 'add', '--host-port', '8080', '--target', 'b', '--target-port', '80']);
  await host.voltOk(['net', 'policy', 'create', '--name', 'a-to-b', '--from', 'a', '--to', 'b', '--port', '80', '--action', 'allow']);
  const good = await tableContent(host);
  t.true(good.length > 0);
  const works = async (): Promise<boolean[]> =>
    (await Promise.all([probe(a.ns, b.ip, 80), probe(b.ns, a.ip, 22), probe(a.ns, b.ip, 5432), probe(host.outside!, UPLINK.hostAddress, 8080)])).map((r) => r.connected);
  t.deepEqual(await works(), [true, false, false, true], 'policy allows a → b:80; rule drops :22; b isolated; forward works');

  // A Docker-like table drops forwarded traffic, a firewalld-like one rejects input: warned, by name.
  await host.execOk('nft', ['-f', '-'], {
    input: [
      'table ip filter {',
      '  chain FORWARD {',
      '    type filter hook forward priority filter; policy drop;',
      '    iifname "docker0" accept',
      '  }',
      '}',
      'table inet firewalld {',
      '  chain filter_INPUT {',
      '    type filter hook input priority filter + 10; policy accept;',
      '    ct state established,related accept',
      '    reject with icmpx admin-prohibited',
      '  }',
      '}',
      '',
    ].join('\n'),
  });
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 0, 'volt’s own table is fine: no drift');
  t.regex(check.stderr, /warning: table ip filter, chain "FORWARD" \(hook forward, policy drop\) would drop traffic of workloads .* on volt0, volt-backend/);
  t.regex(check.stderr, /warning: table inet firewalld, chain "filter_INPUT" \(hook input, ends in an unconditional reject\) would drop DNS, DHCP/);
  t.regex(check.stderr, /iifname "volt\*" accept/);
  t.false((await probe(a.ns, b.ip, 80)).connected, 'and indeed: the foreign drop wins over volt’s accept');
  await host.execOk('nft', ['insert', 'rule', 'ip', 'filter', 'FORWARD', 'iifname', '"volt*"', 'accept']);
  const half = await host.volt(['net', 'check']);
  t.regex(half.stderr, /warning: table ip filter, chain "FORWARD"/, 'replies and forwards into the bridges are still dropped');
  await host.execOk('nft', ['insert', 'rule', 'ip', 'filter', 'FORWARD', 'oifname', '"volt*"', 'accept']);
  await host.execOk('nft', ['delete', 'table', 'inet', 'firewalld']);
  const fixed = await host.volt(['net', 'check']);
  t.is(fixed.code, 0);
  t.notRegex(fixed.stderr, /warning: table/, 'volt’s bridges are allowed there now: no warning');
  t.deepEqual(await works(), [true, false, false, true]);
  await host.execOk('nft', ['delete', 'table', 'ip', 'filter']);

  // `nft flush ruleset` (what nftables.service's reload does) takes volt's table away.
  await host.execOk('nft', ['flush', 'ruleset']);
  const broken = await host.volt(['net', 'check']);
  t.is(broken.code, 6);
  t.regex(broken.stderr, /nftables table inet volt is missing/);
  t.regex((await host.voltOk(['net', 'up'])).stdout, /repaired/);
  t.deepEqual(await tableContent(host), good, 'net up restores the table exactly, user rules, forwards and policies included');
  t.deepEqual(await works(), [true, false, false, true]);
  t.regex((await host.voltOk(['net', 'up'])).stdout, /nothing to do/, 'a second up changes nothing');

  // A hand edit of a user rule's chain or of a policy set is drift too, and up repairs it.
  await host.execOk('nft', ['flush', 'set', 'inet', 'volt', 'pol_allow_sdpp']);
  await host.execOk('nft', ['flush', 'chain', 'inet', 'volt', 'fwf-0']);
  const drift = await host.volt(['net', 'check']);
  t.is(drift.code, 6);
  t.regex(drift.stderr, /policy "a-to-b": pol_allow_sdpp lacks 10\.30\.0\.\d+ \. 10\.30\.0\.\d+ \. tcp \. 80/);
  t.regex(drift.stderr, /chain "fwf-0" differs from what volt generates: missing rules? 'ip daddr @wl-a tcp dport 22 drop comment "volt:no-ssh"'/);
  await host.voltOk(['net', 'up']);
  t.deepEqual(await tableContent(host), good);
  t.is((await host.volt(['net', 'check'])).code, 0);
});
