import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestConsole, SandboxHost, guestConfig, guestShell, ping } from '../harness';
import { inspectVm, writeConfig, type Attachment } from './300-vm-scenario';

/** EUI-64 SLAAC address in fd00:30::/64 of a MAC, written out by hand (independent of core's ipv6.ts). */
function slaac(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const groups = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return `fd00:30::${groups.map((g) => g.toString(16)).join(':')}`;
}

test('a real guest on a dual-stack network (direct drivers): SLAAC from dnsmasq RAs gives it the address IPAM reserved; ping6 with a container both ways', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const api = await host.addContainer('api');
  const a = await host.voltJson<Attachment & { ip6?: string }>(['net', 'connect', 'backend', api.netns, '-o', 'json']);
  t.is(a.ip6, 'fd00:30::64');

  const file = writeConfig(host, 'vm6', guestConfig([{ id: 'eth0', network: 'backend' }]));
  await host.voltOk(['vm', 'create', 'vm6', '--config', file]);
  await host.voltOk(['vm', 'start', 'vm6']);
  const vm = await inspectVm(host, 'vm6');
  const nic = vm.nics[0]! as (typeof vm.nics)[number] & { ip6?: string };
  const want = slaac(nic.mac!);
  t.is(nic.ip6, want, 'state knows the guest’s SLAAC address without asking it');

  // dnsmasq serves RAs for the prefix (autonomous, so SLAAC) and the same address over DHCPv6.
  const conf = fs.readFileSync(path.join(host.root, 'run/volt/dhcp/volt-backend/dnsmasq.conf'), 'utf8');
  t.regex(conf, /^enable-ra$/m);
  t.regex(conf, /^dhcp-range=fd00:30::,static,slaac,64$/m);
  t.true(conf.includes(`dhcp-host=${nic.mac},10.30.0.2,[${want}],vm6`));

  const con = new GuestConsole(vm.serialLog);
  await con.waitFor(/VOLT-GUEST-READY/);
  // The guest kernel forms its address from the RA (it sends a router solicitation when eth0 comes up).
  const shown = await guestShell(
    api,
    '10.30.0.2',
    `for i in $(seq 1 40); do ip -6 addr show dev eth0 | grep -q 'inet6 ${want}/64 scope global' && ! ip -6 addr show dev eth0 | grep -q tentative && break; sleep 0.5; done; ip -6 addr show dev eth0; ip -6 route show default`,
    40_000,
  );
  t.regex(shown, new RegExp(`inet6 ${want.replace(/:/g, ':')}/64 scope global`), shown);
  t.regex(shown, /default via fe80::[0-9a-f:]+ dev eth0/, 'default route from the RA, via the bridge’s link-local');

  t.regex(await guestShell(api, '10.30.0.2', 'ping6 -c 2 -W 3 fd00:30::64 >/dev/null && echo PING6-OK', 30_000), /PING6-OK/, 'VM → container over IPv6');
  t.true(await ping(api, want, { count: 2 }), 'container → VM over IPv6');
  t.regex(await guestShell(api, '10.30.0.2', 'ping6 -c 1 -W 3 fd00:30::1 >/dev/null && echo GW6-OK', 30_000), /GW6-OK/, 'VM → gateway over IPv6');
  t.is((await host.volt(['net', 'check'])).code, 0);
});
