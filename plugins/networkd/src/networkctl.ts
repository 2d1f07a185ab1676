import { DriverError } from '@volt/sdk';
import { runCommand } from '@volt/sdk/kernel';

/** What networkd says about one link (`networkctl status IF --json=short`, systemd ≥ 250). */
export interface NetworkdLinkState {
  /** "configured", "configuring", "pending", "failed", "unmanaged", "linger", … */
  adminState: string;
  operState?: string;
  /** The .network file networkd applies to the link, when one matched. */
  networkFile?: string;
}

const CALL_TIMEOUT_MS = 5000;

/** Run networkctl and require success; the error names what volt was doing. */
export async function networkctl(what: string, args: string[]): Promise<void> {
  const r = await runCommand('networkctl', args, { timeoutMs: CALL_TIMEOUT_MS });
  if (r.code === 0) return;
  const why = (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join('; ') || `exited with ${r.code}`;
  throw new DriverError(`${what}: networkctl ${args.join(' ')}: ${why}`, {
    code: r.code === 127 ? 'E_TOOL_MISSING' : 'E_NETWORKD',
    suggestions:
      r.code === 127
        ? ['install systemd (networkctl), or use the direct bridge driver']
        : ['is systemd-networkd running? systemctl status systemd-networkd', 'journalctl -u systemd-networkd'],
  });
}

/** networkd's view of a link, or undefined when it does not know the link (or cannot be asked). */
export async function networkdLinkState(ifname: string): Promise<NetworkdLinkState | undefined> {
  const r = await runCommand('networkctl', ['status', ifname, '--json=short'], { timeoutMs: CALL_TIMEOUT_MS });
  if (r.code !== 0) return undefined;
  return parseLinkStatus(r.stdout);
}

export function parseLinkStatus(json: string): NetworkdLinkState | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o.AdministrativeState !== 'string') return undefined;
  return {
    adminState: o.AdministrativeState,
    operState: typeof o.OperationalState === 'string' ? o.OperationalState : undefined,
    networkFile: typeof o.NetworkFile === 'string' ? o.NetworkFile : undefined,
  };
}

/** Major version from `networkctl --version` ("systemd 252 (252.38-1~deb12u1)"). */
export async function networkdVersion(): Promise<number | undefined> {
  const r = await runCommand('networkctl', ['--version'], { timeoutMs: CALL_TIMEOUT_MS });
  return r.code === 0 ? parseSystemdVersion(r.stdout) : undefined;
}

export function parseSystemdVersion(text: string): number | undefined {
  const m = /^systemd (\d+)\b/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
