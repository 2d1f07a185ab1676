import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Kernel parameters under /proc/sys. Everything here acts on the network
 * namespace of the calling process: /proc/sys/net shows that namespace's
 * values (and hides the keys that are global to the machine unless it is the
 * root namespace).
 */

/** What a name under /proc/sys is. */
export type SysctlKind = 'setting' | 'read-only' | 'write-only' | 'group' | 'missing';

/** A parsed key: its components ("net", "core", "rmem_max") and its canonical name. */
export interface SysctlKey {
  components: string[];
  /** "net.core.rmem_max"; slash form ("net/ipv4/conf/eth0.100/forwarding") when a component has a dot. */
  name: string;
}

export type SysctlWrite = { ok: true } | { ok: false; errno: string; message: string };

const COMPONENT_RE = /^[A-Za-z0-9_@:+-][A-Za-z0-9_.@:+-]*$/;

/**
 * Parse a key the way sysctl(8) does: "." separates components, unless the
 * name contains "/", which then separates them (so an interface name with a
 * dot, "eth0.100", can be spelled). Returns undefined for a malformed name.
 */
export function parseSysctlKey(input: string): SysctlKey | undefined {
  const text = input.trim();
  if (text.length === 0 || text.length > 512) return undefined;
  const sep = text.includes('/') ? '/' : '.';
  const components = text.replace(/^\/+|\/+$/g, '').split(sep);
  for (const c of components) {
    if (!COMPONENT_RE.test(c) || c === '.' || c === '..') return undefined;
  }
  return { components, name: sysctlName(components) };
}

export function sysctlName(components: string[]): string {
  return components.some((c) => c.includes('.')) ? components.join('/') : components.join('.');
}

/** Values compare and persist in one form: fields separated by one space (the kernel prints tabs). */
export function normalizeSysctlValue(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

export class Sysctl {
  /** `procSys` is /proc/sys; unit tests give a directory of plain files. */
  constructor(readonly procSys: string = '/proc/sys') {}

  pathOf(key: SysctlKey): string {
    return path.join(this.procSys, ...key.components);
  }

  kind(key: SysctlKey): SysctlKind {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.pathOf(key));
    } catch (e: unknown) {
      void e;
      return 'missing';
    }
    if (st.isDirectory()) return 'group';
    // procfs reports the table's mode; root still cannot write a 0444 entry.
    if ((st.mode & 0o444) === 0) return 'write-only';
    if ((st.mode & 0o222) === 0) return 'read-only';
    return 'setting';
  }

  /** The value, normalised (see normalizeSysctlValue). Throws on I/O errors. */
  read(key: SysctlKey): string {
    return normalizeSysctlValue(fs.readFileSync(this.pathOf(key), 'utf8'));
  }

  /** Write one value; the kernel validates it (EINVAL, ERANGE, ENOENT for unknown names…). */
  write(key: SysctlKey, value: string): SysctlWrite {
    let fd: number | undefined;
    try {
      // O_TRUNC like sysctl(8)'s fopen("w"): meaningless to procfs, right for plain files.
      fd = fs.openSync(this.pathOf(key), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
      fs.writeSync(fd, value);
      return { ok: true };
    } catch (e: unknown) {
      const err = e as NodeJS.ErrnoException;
      return { ok: false, errno: err.code ?? 'EIO', message: errnoWords(err.code) };
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Every key under `prefix` (components), sorted; empty when it is not a group. */
  keysUnder(prefix: string[]): SysctlKey[] {
    const out: SysctlKey[] = [];
    const walk = (dir: string, comps: string[]): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch (e: unknown) {
        void e;
        return;
      }
      for (const ent of entries) {
        const next = [...comps, ent.name];
        if (ent.isDirectory()) walk(path.join(dir, ent.name), next);
        else out.push({ components: next, name: sysctlName(next) });
      }
    };
    walk(path.join(this.procSys, ...prefix), prefix);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Whether this process runs in the machine's root network namespace. The
   * kernel registers net.core.netdev_max_backlog (like every machine-global
   * net.core key) for the initial namespace only, so its presence answers the
   * question without trusting pid 1's namespace (wrong inside a container).
   */
  inRootNetns(): boolean {
    return fs.existsSync(path.join(this.procSys, 'net', 'core', 'netdev_max_backlog'));
  }
}

function errnoWords(code: string | undefined): string {
  switch (code) {
    case 'EINVAL':
      return 'invalid argument';
    case 'ERANGE':
      return 'out of range';
    case 'ENOENT':
      return 'no such value';
    case 'EACCES':
      return 'permission denied';
    case 'EPERM':
      return 'operation not permitted';
    case 'EBUSY':
      return 'device or resource busy';
    default:
      return code ?? 'I/O error';
  }
}
