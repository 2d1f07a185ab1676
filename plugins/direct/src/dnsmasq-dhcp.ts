import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { GuestDhcp, GuestDhcpSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { runCommand } from '@volt/sdk/kernel';

const STOP_TIMEOUT_MS = 3000;

/**
 * Guests' DHCP on any Linux bridge: one dnsmasq per network, DHCP only
 * (port=0: volt-dns answers DNS), static leases only (`dhcp-range=…,static`),
 * bound to the bridge. Its files live in <root>/run/volt/dhcp/<bridge>/.
 * A change of leases rewrites dnsmasq.conf and restarts that network's dnsmasq
 * (docs/decisions/0003-vm-nics-and-dhcp.md says why not SIGHUP).
 */
export class DnsmasqDhcp implements GuestDhcp {
  readonly name = 'dnsmasq';
  readonly preference = 0;
  readonly fallback = true;
  readonly description = 'dnsmasq per network, static DHCP leases for VM guests';
  readonly forBridge = undefined;

  constructor(
    private readonly host: HostContext,
    private readonly binary: string = 'dnsmasq',
  ) {}

  async available(): Promise<Availability> {
    const r = await runCommand(this.binary, ['--version'], { timeoutMs: 5000 });
    if (r.code !== 0) return { ok: false, reason: r.code === 127 ? 'dnsmasq not installed (apt-get install dnsmasq-base)' : 'dnsmasq --version failed' };
    const v = /Dnsmasq version (\S+)/.exec(r.stdout)?.[1];
    return { ok: true, reason: `dnsmasq ${v ?? 'present'}` };
  }

  dir(bridge: string): string {
    return path.join(this.host.paths.runDir, 'dhcp', bridge);
  }

  async setupDhcp(spec: GuestDhcpSpec): Promise<void> {
    const what = `serve DHCP on bridge ${spec.bridge} (network "${spec.network}")`;
    const dir = this.dir(spec.bridge);
    const conf = path.join(dir, 'dnsmasq.conf');
    const text = renderDnsmasqConf(spec, dir);
    let before: string | undefined;
    try {
      before = await fs.readFile(conf, 'utf8');
    } catch {
      before = undefined;
    }
    const pid = runningPid(dir);
    if (before === text && pid !== undefined) return;
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      const tmp = `${conf}.${process.pid}.tmp`;
      await fs.writeFile(tmp, text, { mode: 0o644 });
      await fs.rename(tmp, conf);
    } catch (e: unknown) {
      throw new DriverError(`${what}: write ${conf}: ${errorMessage(e)}`, { code: 'E_IO', cause: e });
    }
    if (pid !== undefined) await stopPid(pid);
    const r = await runCommand(this.binary, [`--conf-file=${conf}`], { timeoutMs: 10_000 });
    if (r.code !== 0) {
      // Leave no half-written config that looks like it is being served.
      await fs.rm(conf, { force: true }).catch(() => undefined);
      throw new DriverError(`${what}: dnsmasq: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join('; ') || `exited with ${r.code}`}`, {
        code: 'E_DHCP',
        suggestions: [`another DHCP server on ${spec.bridge}? ss -ulpn 'sport = :67'`, `dnsmasq --test --conf-file=${conf}`],
      });
    }
    this.host.debug(`${what}: dnsmasq (re)started with ${spec.leases.length} lease(s)`);
  }

  async teardownDhcp(spec: Pick<GuestDhcpSpec, 'network' | 'bridge'>): Promise<void> {
    const dir = this.dir(spec.bridge);
    const pid = runningPid(dir);
    if (pid !== undefined) await stopPid(pid);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export function renderDnsmasqConf(spec: GuestDhcpSpec, dir: string): string {
  const [net, prefix] = spec.subnet.split('/') as [string, string];
  const lines = [
    `# Managed by volt — network "${spec.network}". Changes are overwritten.`,
    // DHCP only: DNS on the gateway is volt-dns's.
    'port=0',
    `interface=${spec.bridge}`,
    // With one interface and bind-interfaces, the DHCP socket is bound to the bridge, so one dnsmasq per network coexists.
    'bind-interfaces',
    'except-interface=lo',
    `dhcp-range=${net},static,${prefixToMask(Number(prefix))}`,
    `dhcp-option=option:router,${spec.gateway}`,
    `dhcp-option=option:dns-server,${spec.gateway}`,
    `dhcp-option=option:mtu,${spec.mtu}`,
    'dhcp-authoritative',
    `dhcp-leasefile=${path.join(dir, 'leases')}`,
    `pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    `log-facility=${path.join(dir, 'dnsmasq.log')}`,
    ...spec.leases.map((l) => {
      const name = dnsLabel(l.hostname);
      // One dhcp-host line for both families: the MAC identifies the guest to DHCPv6 as well.
      return `dhcp-host=${l.mac},${l.ip}${spec.subnet6 !== undefined && l.ip6 !== undefined ? `,[${l.ip6}]` : ''}${name ? `,${name}` : ''}`;
    }),
    ...ipv6Lines(spec),
  ];
  return lines.join('\n') + '\n';
}

/**
 * A dual-stack network: router advertisements on the bridge (dnsmasq's own, no radvd) and
 * DHCPv6 with the same static leases. On a /64 the prefix is advertised autonomous
 * (`slaac`: guests form their EUI-64 address, which IPAM reserved) with the M flag, so a
 * DHCPv6 client asks too; on other prefixes only DHCPv6 hands out addresses.
 */
function ipv6Lines(spec: GuestDhcpSpec): string[] {
  if (spec.subnet6 === undefined || spec.gateway6 === undefined) return [];
  const [net, prefix] = spec.subnet6.split('/') as [string, string];
  return [
    'enable-ra',
    `dhcp-range=${net},static,${prefix === '64' ? 'slaac,' : ''}${prefix}`,
    `dhcp-option=option6:dns-server,[${spec.gateway6}]`,
    // RAs every 10 s at most, the router lifetime default; guests also solicit one when they come up.
    `ra-param=${spec.bridge},10,1800`,
  ];
}

function prefixToMask(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}

/** A host name dnsmasq accepts: letters, digits, "-"; anything else becomes "-". */
function dnsLabel(name: string): string | undefined {
  const label = name.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return /^[A-Za-z0-9]/.test(label) ? label : undefined;
}

/** The dnsmasq serving `dir`, if it runs: its pid file, and a process that is dnsmasq with that config. */
function runningPid(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dir, 'dnsmasq.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const conf = `--conf-file=${path.join(dir, 'dnsmasq.conf')}`;
    return path.basename(cmdline[0] ?? '') === 'dnsmasq' && cmdline.includes(conf) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function stopPid(pid: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}
