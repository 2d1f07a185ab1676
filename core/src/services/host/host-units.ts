import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VoltConfig } from '../../config/defaults';
import { ConfigError, ConflictError, DriverError, errorMessage } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import { readIfExists } from './files';

/** First comment line of every unit volt writes: only such files are rewritten. */
export const UNIT_MARKER = '# Written by `volt init`';

/** The units `volt init` installs, in start order. */
export const UNIT_NAMES = ['volt-net-up.service', 'volt-dns.service', 'volt-ingress.service'] as const;
export type UnitName = (typeof UNIT_NAMES)[number];

export interface UnitContext {
  /** Absolute path of the node binary that runs volt. */
  node: string;
  /** Absolute path of volt's entry script (core/bin/run.js, symlinks resolved). */
  volt: string;
  /** `<root>`: written as VOLT_ROOT into the units when it is not `/`. */
  root: string;
  config: VoltConfig;
  /** Ingress routes in state: volt-ingress.service is enabled only when there are some. */
  routes: number;
}

export interface PlannedUnit {
  name: UnitName;
  text: string;
  enable: boolean;
  /** Why it is (not) enabled, for the report. */
  why: string;
}

export interface UnitReport {
  dir: string;
  written: string[];
  unchanged: string[];
  enabled: string[];
  disabled: string[];
  notes: string[];
}

/** systemd's quoting for one ExecStart word (only when needed). */
function word(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** ExecStart/ExecReload value: this node running this volt with `args`. */
function voltExec(ctx: UnitContext, args: string[]): string {
  return [ctx.node, ctx.volt, ...args].map(word).join(' ');
}

/**
 * The sandboxing of core/units/*.service (the reference units), with the
 * directories under <root>. NET_ADMIN: the ingress opens its ports in volt's
 * firewall (nft over netlink); volt-dns reads interface addresses (netlink).
 */
function hardening(ctx: UnitContext, caps: string[], writable: string[]): string[] {
  const at = (p: string): string => word(path.join(ctx.root, p));
  return [
    `CapabilityBoundingSet=${caps.join(' ')}`,
    `AmbientCapabilities=${caps.filter((c) => c !== 'CAP_DAC_READ_SEARCH').join(' ')}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    ...(ctx.root === '/' ? ['RuntimeDirectory=volt', 'RuntimeDirectoryPreserve=yes'] : []),
    `ReadWritePaths=${writable.map(at).join(' ')}`,
  ];
}

function unit(
  ctx: UnitContext,
  o: { description: string; after: string[]; wants: string[]; before?: string[]; extraUnit?: string[]; service: string[]; args: string[]; wantedBy?: string },
): string {
  const exec = voltExec(ctx, o.args);
  const env = ctx.root === '/' ? [] : [`Environment=VOLT_ROOT=${word(ctx.root)}`];
  return [
    `${UNIT_MARKER} (${ctx.volt}); \`volt init\` rewrites it, \`volt init --no-units\` leaves it alone.`,
    '[Unit]',
    `Description=${o.description}`,
    `After=${o.after.join(' ')}`,
    `Wants=${o.wants.join(' ')}`,
    ...(o.before ? [`Before=${o.before.join(' ')}`] : []),
    ...(o.extraUnit ?? []),
    '',
    '[Service]',
    ...o.service,
    `ExecStart=${exec}`,
    ...env,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The three units for this installation of volt. */
export function planUnits(ctx: UnitContext): PlannedUnit[] {
  const dnsOn = ctx.config.network.dns.enabled;
  const drain = ctx.config.ingress.drain_timeout;
  return [
    {
      name: 'volt-net-up.service',
      enable: true,
      why: 'boot restore: re-applies bridges, firewall, port forwards and VLANs from state',
      text: unit(ctx, {
        description: 'Volt: restore networks, firewall and port forwards (volt net up)',
        // nftables.service loads /etc/nftables.conf, which usually starts with `flush ruleset`: volt's table goes in after it.
        after: ['local-fs.target', 'systemd-networkd.service', 'nftables.service', 'firewalld.service'],
        wants: ['network-pre.target'],
        before: ['network.target', 'volt-dns.service', 'volt-ingress.service'],
        // A reload or restart of the host firewall flushes volt's table: put it back (what volt-firewall-reload.service did).
        extraUnit: ['PartOf=nftables.service firewalld.service', 'ReloadPropagatedFrom=nftables.service firewalld.service'],
        service: ['Type=oneshot', 'RemainAfterExit=yes', `ExecReload=${voltExec(ctx, ['net', 'up'])}`],
        args: ['net', 'up'],
      }),
    },
    {
      name: 'volt-dns.service',
      enable: dnsOn,
      why: dnsOn ? 'network.dns.enabled (the default): workloads use their gateway as resolver' : 'network.dns.enabled is false in config.yaml',
      text: unit(ctx, {
        description: 'Volt DNS: names of workloads on every managed network (volt dns serve)',
        after: ['volt-net-up.service'],
        wants: ['volt-net-up.service'],
        service: [
          'Type=simple',
          'ExecReload=/bin/kill -HUP $MAINPID',
          'Restart=on-failure',
          'RestartSec=2',
          ...hardening(ctx, ['CAP_NET_BIND_SERVICE'], ['run/volt']),
        ],
        args: ['dns', 'serve'],
      }),
    },
    {
      name: 'volt-ingress.service',
      enable: ctx.routes > 0,
      why: ctx.routes > 0 ? `${ctx.routes} ingress route${ctx.routes === 1 ? '' : 's'} in state` : 'no ingress routes yet',
      text: unit(ctx, {
        description: 'Volt ingress: HTTP/HTTPS proxy for the routes of `volt ingress` (volt ingress serve)',
        after: ['volt-net-up.service', 'network-online.target'],
        wants: ['volt-net-up.service', 'network-online.target'],
        service: [
          'Type=simple',
          // One variable per `volt ingress serve` flag (VOLT_INGRESS_HTTP_PORT=80, …), as before.
          `EnvironmentFile=-${word(path.join(ctx.root, 'etc/volt/ingress.env'))}`,
          `ExecReload=${voltExec(ctx, ['ingress', 'reload'])}`,
          // SIGTERM to the primary only: it stops accepting and lets the workers finish requests in flight.
          'KillMode=mixed',
          'Restart=on-failure',
          'RestartSec=2',
          'LimitNOFILE=65536',
          `TimeoutStopSec=${drain + 15}`,
          ...hardening(ctx, ['CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN', 'CAP_DAC_READ_SEARCH'], ['run/volt', 'var/lib/volt']),
        ],
        args: ['ingress', 'serve'],
      }),
    },
  ];
}

/** `<root>/etc/systemd/system`, or the directory given. */
export function defaultUnitDir(paths: VoltPaths): string {
  return path.join(paths.root, 'etc/systemd/system');
}

/** The entry script this process runs, as an absolute path with symlinks resolved. */
export function installedVolt(argv1: string | undefined = process.argv[1]): string {
  if (argv1 === undefined || argv1.length === 0) {
    throw new DriverError('install units: cannot tell where volt is installed (process.argv[1] is empty)', {
      code: 'E_UNITS_ENTRY',
      suggestions: ['run volt through its entry script (core/bin/run.js or the `volt` symlink)', 'or skip units: `volt init --no-units`'],
    });
  }
  return fs.realpathSync(path.resolve(argv1));
}

/**
 * Write the units into `dir` (only those that differ) and enable or disable
 * them the way `systemctl enable` does for `WantedBy=multi-user.target`: a
 * symlink in `multi-user.target.wants/`. Works offline (no running systemd
 * needed); the caller reloads and starts when systemd runs the host.
 * A unit file volt did not write is never replaced.
 */
export function installUnits(dir: string, planned: PlannedUnit[]): UnitReport {
  const report: UnitReport = { dir, written: [], unchanged: [], enabled: [], disabled: [], notes: [] };
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st && !st.isDirectory()) {
    throw new ConfigError(`install units: ${dir} is not a directory`, {
      code: 'E_UNITS_DIR',
      suggestions: ['pass a unit directory with --unit-dir', 'or skip units: `volt init --no-units`'],
    });
  }
  // Refuse before writing anything if one of the files belongs to someone else.
  for (const u of planned) {
    const file = path.join(dir, u.name);
    const existing = readIfExists(file);
    if (existing !== undefined && !existing.startsWith(UNIT_MARKER)) {
      throw new ConflictError(`install units: ${file} exists and was not written by volt; nothing was changed`, {
        code: 'E_UNITS_FOREIGN',
        suggestions: [`move it away (or put local changes in a drop-in, ${file}.d/override.conf) and run \`volt init\` again`, 'or skip units: `volt init --no-units`'],
      });
    }
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const wants = path.join(dir, 'multi-user.target.wants');
  for (const u of planned) {
    const file = path.join(dir, u.name);
    if (readIfExists(file) === u.text) report.unchanged.push(u.name);
    else {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, u.text, { mode: 0o644 });
      fs.renameSync(tmp, file);
      report.written.push(u.name);
    }
    const link = path.join(wants, u.name);
    if (u.enable) {
      fs.mkdirSync(wants, { recursive: true, mode: 0o755 });
      let current: string | undefined;
      try {
        current = fs.readlinkSync(link);
      } catch (e: unknown) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new DriverError(`enable ${u.name}: ${errorMessage(e)}`, { code: 'E_UNITS_ENABLE' });
      }
      // Relative, so the link holds wherever the directory is mounted (systemctl --root reads it too).
      const target = `../${u.name}`;
      if (current !== target) {
        if (current !== undefined) fs.unlinkSync(link);
        fs.symlinkSync(target, link);
      }
      report.enabled.push(u.name);
    } else {
      try {
        if (fs.lstatSync(link).isSymbolicLink()) fs.unlinkSync(link);
      } catch (e: unknown) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      report.disabled.push(`${u.name} (${u.why})`);
    }
  }
  return report;
}

/**
 * Enable a unit volt installed earlier (volt-ingress.service on the first
 * route): the wants symlink, as installUnits makes it. 'absent' when volt's
 * unit is not in `dir` (`volt init` did not run, or ran with --no-units).
 */
export function enableInstalled(dir: string, name: UnitName): 'enabled' | 'already' | 'absent' {
  const file = path.join(dir, name);
  if (readIfExists(file)?.startsWith(UNIT_MARKER) !== true) return 'absent';
  const wants = path.join(dir, 'multi-user.target.wants');
  const link = path.join(wants, name);
  if (fs.lstatSync(link, { throwIfNoEntry: false }) !== undefined) return 'already';
  fs.mkdirSync(wants, { recursive: true, mode: 0o755 });
  fs.symlinkSync(`../${name}`, link);
  return 'enabled';
}

/** Whether systemd runs this host and reads `dir` (then units are started as well as enabled). */
export function systemdReads(dir: string): boolean {
  return dir === '/etc/systemd/system' && fs.existsSync('/run/systemd/system');
}

