import test from 'ava';
import { SandboxHost, waitFor, type ContainerNs } from '../harness';

/**
 * DHCP guard: a workload cannot answer its neighbours' DHCP requests (a rogue server would hand
 * VM guests another gateway or DNS server before volt's own DHCP answers). A real DHCPDISCOVER
 * from one container meets a real DHCP server (dnsmasq) in another: no offer arrives; with the
 * guard rules deleted by hand the offer does, `net check` reports the missing rules, `net up`
 * restores them.
 */

/** One DHCPDISCOVER (broadcast flag set) on eth0; prints "offer FROM" for each DHCPOFFER heard within 3 s, else "none". */
const DISCOVER_PY = `
import socket, struct, sys, os, time
mac = bytes.fromhex(sys.argv[1].replace(':', ''))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, 25, b'eth0\\0')  # SO_BINDTODEVICE
s.bind(('', 68))
xid = os.getpid() & 0xffffffff
pkt = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, xid, 0, 0x8000, b'\\0'*4, b'\\0'*4, b'\\0'*4, b'\\0'*4, mac + b'\\0'*10, b'', b'')
pkt += bytes([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255])
s.sendto(pkt, ('255.255.255.255', 67))
s.settimeout(0.5)
end = time.time() + 3
heard = []
while time.time() < end:
    try:
        data, src = s.recvfrom(2048)
    except socket.timeout:
        continue
    if len(data) > 240 and struct.unpack('!I', data[4:8])[0] == xid and data[0] == 2:
        heard.append(src[0])
print(('offer ' + ' '.join(sorted(set(heard)))) if heard else 'none')
`;

async function discover(c: ContainerNs): Promise<string> {
  const mac = (await c.execJson<{ address: string }[]>('ip', ['-j', 'link', 'show', 'dev', 'eth0']))[0]!.address;
  const r = await c.execOk('/usr/bin/python3', ['-c', DISCOVER_PY, mac]);
  return r.stdout.trim();
}

test('DHCP guard: a container\'s DHCP server answers no neighbour; the guard deleted by hand is drift and lets the offer through; net up restores it', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.33.0.0/24']);
  const evil = await host.addContainer('evil');
  const guest = await host.addContainer('guest');
  await host.voltOk(['net', 'connect', 'backend', evil.netns]);
  await host.voltOk(['net', 'connect', 'backend', guest.netns]);
  const evilIp = (await host.voltJson<{ nics: { ip: string }[] }>(['container', 'inspect', evil.netns, '-o', 'json'])).nics[0]!.ip;
  const pid = `/tmp/volt-dhcp-${process.pid}-${Date.now()}.pid`;
  const rogue = evil.spawn('dnsmasq', [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--no-resolv', '--no-hosts', '--user=root', `--pid-file=${pid}`,
    '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.33.0.150,10.33.0.160,1h', '--dhcp-option=3,10.33.0.66', '--log-facility=-', '--log-dhcp',
  ]);
  t.teardown(async () => {
    await rogue.stop();
  });
  await waitFor(async () => (await evil.exec('ss', ['-uln', 'sport', '=', ':67'])).stdout.includes(':67'), { timeoutMs: 20_000, intervalMs: 200 });

  t.is(await discover(guest), 'none', 'no offer from the rogue server reaches the neighbour');
  t.regex(rogue.stderr + rogue.stdout, /DHCPDISCOVER/, 'the rogue server did hear the request (and answered into the guard)');

  // Control: without the guard the same request gets the rogue's offer.
  const rules = (await host.execJson<{ nftables: { rule?: { handle: number; comment?: string } }[] }>('nft', ['-j', '-a', 'list', 'chain', 'bridge', 'volt', 'volt-forward'])).nftables
    .map((x) => x.rule)
    .filter((r): r is { handle: number; comment?: string } => r?.comment === 'DHCP is served only from the bridge');
  t.is(rules.length, 4, 'DHCP and DHCPv6, container and VM ports');
  for (const r of rules) await host.execOk('nft', ['delete', 'rule', 'bridge', 'volt', 'volt-forward', 'handle', String(r.handle)]);
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 6);
  t.regex(check.stdout + check.stderr, /DHCP is served only from the bridge/);
  t.is(await discover(guest), `offer ${evilIp}`, 'without the guard the rogue offer arrives');

  await host.voltOk(['net', 'up']);
  t.is((await host.volt(['net', 'check'])).code, 0);
  t.is(await discover(guest), 'none', 'the restored guard drops it again');
});
