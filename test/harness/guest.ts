/**
 * Test guests for real QEMU VMs: Debian's kernel (unpacked by scripts/setup.sh
 * into $VOLT_TEST_KERNEL_DIR, default /var/cache/volt-test/kernel) and an
 * initramfs built here, at test time, from busybox-static and the kernel's
 * virtio modules — nothing binary is committed.
 *
 * The guest's init: loads the virtio-net modules (and the ACPI power button,
 * so `volt vm stop` can shut it down gracefully), runs `udhcpc` on every eth*
 * with a script that applies address, router and DNS, prints markers on the
 * serial console, and serves a shell on TCP port 7777 (`guestShell`): the
 * "small TCP service" through which tests make the guest ping and send payloads.
 *
 *   VOLT-GUEST-UP
 *   VOLT-DHCP eth0 ip=10.30.0.2/24 router=10.30.0.1 dns=10.30.0.1 mtu=1500
 *   VOLT-DHCP-FAIL eth1
 *   VOLT-GUEST-READY
 *   VOLT-GUEST-POWEROFF
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NsRunner } from './netns';
import { RUN_PREFIX } from './netns';
import { trackDir } from './registry';
import { HarnessError, sleep } from './run';

export const GUEST_SHELL_PORT = 7777;

/** Load order (TESTING.md); each is skipped when built into the kernel. */
const NET_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net'];
/** For the ACPI power button (graceful `volt vm stop`); optional. */
const ACPI_MODULES = ['evdev', 'button'];

export interface GuestImage {
  kernel: string;
  initrd: string;
  cmdline: string;
  kernelVersion: string;
}

let cached: GuestImage | undefined;

export function kernelDir(): string {
  return process.env.VOLT_TEST_KERNEL_DIR ?? '/var/cache/volt-test/kernel';
}

/** Build (once per test process) the guest image; throws with what is missing. */
export function guestImage(): GuestImage {
  if (cached) return cached;
  const kdir = kernelDir();
  const boot = path.join(kdir, 'boot');
  const vmlinuz = fs.existsSync(boot) ? fs.readdirSync(boot).filter((f) => f.startsWith('vmlinuz-')).sort() : [];
  if (vmlinuz.length === 0) throw new HarnessError(`no guest kernel in ${boot}: run scripts/setup.sh (it unpacks linux-image-amd64 there)`);
  const kernel = path.join(boot, vmlinuz[vmlinuz.length - 1]!);
  const version = path.basename(kernel).slice('vmlinuz-'.length);
  const modDir = path.join(kdir, 'lib', 'modules', version);
  const builtin = readBuiltin(modDir);
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) throw new HarnessError('busybox not found: apt-get install busybox-static');

  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${RUN_PREFIX}0-`));
  trackDir(work);
  const root = path.join(work, 'root');
  for (const d of ['bin', 'lib/modules', 'etc/acpi/PWRF', 'proc', 'sys', 'dev', 'tmp', 'run']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const loaded: string[] = [];
  for (const m of [...NET_MODULES, ...ACPI_MODULES]) {
    if (builtin.has(m)) continue;
    const src = findModule(modDir, m);
    if (!src) {
      if (NET_MODULES.includes(m)) throw new HarnessError(`kernel module ${m} not found under ${modDir} (and not built in)`);
      continue;
    }
    const dst = path.join(root, 'lib', 'modules', `${m}.ko`);
    // busybox insmod reads plain .ko only.
    if (src.endsWith('.xz')) fs.writeFileSync(dst, execFileSync('xz', ['-dc', src]));
    else if (src.endsWith('.zst')) fs.writeFileSync(dst, execFileSync('zstd', ['-dc', src]));
    else if (src.endsWith('.gz')) fs.writeFileSync(dst, execFileSync('gzip', ['-dc', src]));
    else fs.copyFileSync(src, dst);
    loaded.push(m);
  }
  write(root, 'init', initScript(loaded), 0o755);
  write(root, 'bin/dhcp-event', DHCP_SCRIPT, 0o755);
  write(root, 'etc/acpi/PWRF/00000080', '#!/bin/sh\necho VOLT-GUEST-POWEROFF > /dev/console\nsync\npoweroff -f\n', 0o755);
  const initrd = path.join(work, 'initrd.gz');
  execFileSync('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${initrd}"`]);
  cached = { kernel, initrd, cmdline: 'console=ttyS0 panic=-1 quiet', kernelVersion: version };
  return cached;
}

function write(root: string, rel: string, text: string, mode: number): void {
  fs.writeFileSync(path.join(root, rel), text, { mode });
}

function readBuiltin(modDir: string): Set<string> {
  try {
    return new Set(
      fs
        .readFileSync(path.join(modDir, 'modules.builtin'), 'utf8')
        .split('\n')
        .map((l) => path.basename(l).replace(/\.ko$/, '').replace(/-/g, '_'))
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

function findModule(dir: string, name: string): string | undefined {
  const want = new Set([`${name}.ko`, `${name}.ko.xz`, `${name}.ko.zst`, `${name}.ko.gz`]);
  const stack = [path.join(dir, 'kernel')];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory()) stack.push(path.join(d, e.name));
      else if (want.has(e.name)) return path.join(d, e.name);
    }
  }
  return undefined;
}

const DHCP_SCRIPT = `#!/bin/sh
# udhcpc event script: apply address, router and DNS; say so on the console.
case "$1" in
deconfig)
  ip addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  if [ -n "$router" ]; then
    ip route | grep -q '^default' || ip route add default via "\${router%% *}" dev "$interface"
  fi
  [ -n "$dns" ] && echo "nameserver \${dns%% *}" > /etc/resolv.conf
  [ -n "$hostname" ] && hostname "$hostname"
  echo "VOLT-DHCP $interface ip=$ip/$mask router=$router dns=$dns mtu=$(cat /sys/class/net/$interface/mtu)" > /dev/console
  ;;
esac
exit 0
`;

function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
for m in ${modules.join(' ')}; do insmod /lib/modules/$m.ko || echo "VOLT-GUEST-INSMOD-FAIL $m"; done
ip link set lo up
echo VOLT-GUEST-UP
# acpid opens /dev/input/event0, 1, … up to the first missing node: wait until devtmpfs has them all.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ "$(ls /sys/class/input | grep -c '^event')" = "$(ls /dev/input 2>/dev/null | grep -c '^event')" ] && break
  sleep 0.2
done
[ -e /dev/input/event0 ] && acpid -c /etc/acpi -l /tmp/acpid.log
for i in /sys/class/net/eth*; do
  [ -e "$i" ] || continue
  n=\${i##*/}
  ip link set "$n" up
  udhcpc -i "$n" -s /bin/dhcp-event -q -n -t 15 -T 1 >/dev/null 2>&1 || echo "VOLT-DHCP-FAIL $n"
done
nc -ll -p ${GUEST_SHELL_PORT} -e /bin/sh &
echo VOLT-GUEST-READY
while true; do sleep 3600; done
`;
}

/** A VM config for `volt vm create` that boots the test guest. */
export function guestConfig(nics: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const g = guestImage();
  return { vcpus: 1, memory_mib: 256, kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, network: nics, ...extra };
}

/** The guest's serial console log (the file `volt vm inspect` names). */
export class GuestConsole {
  constructor(readonly file: string) {}

  text(): string {
    try {
      return fs.readFileSync(this.file, 'utf8');
    } catch {
      return '';
    }
  }

  /** Wait for a line matching `pattern`; `fail` patterns end the wait early with an error. */
  async waitFor(pattern: RegExp, timeoutMs = 90_000, fail: RegExp[] = [/Kernel panic/]): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.text();
      const m = pattern.exec(text);
      if (m) return m;
      for (const f of fail) {
        if (f.test(text)) throw new HarnessError(`guest console ${this.file} shows ${f}:\n${text.slice(-3000)}`);
      }
      if (Date.now() >= deadline) throw new HarnessError(`guest console ${this.file}: no ${pattern} within ${timeoutMs} ms:\n${text.slice(-3000)}`);
      await sleep(100);
    }
  }
}

const SHELL_CLIENT = `
const net = require('net');
const [host, port, cmd, ms] = [process.argv[1], Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
let out = '';
const timer = setTimeout(() => { process.stdout.write(out); console.error('TIMEOUT'); process.exit(2); }, ms);
const c = net.connect({ host, port }, () => c.end(cmd + '\\n'));
c.setEncoding('utf8');
c.on('data', (d) => (out += d));
c.on('error', (e) => { clearTimeout(timer); console.error('ERROR ' + (e.code || e.message)); process.exit(1); });
c.on('close', () => { clearTimeout(timer); process.stdout.write(out); process.exit(0); });
`;

/**
 * Run a shell command in the guest through its TCP shell service, from
 * inside `from` (a container or the host): the connection itself is a TCP
 * exchange with the VM, the answer is the command's output.
 */
export async function guestShell(from: NsRunner, address: string, command: string, timeoutMs = 20_000): Promise<string> {
  const r = await from.exec(process.execPath, ['-e', SHELL_CLIENT, address, String(GUEST_SHELL_PORT), command, String(timeoutMs)], {
    timeoutMs: timeoutMs + 10_000,
  });
  if (r.code !== 0) throw new HarnessError(`guest shell ${address}:${GUEST_SHELL_PORT} from ${from.netns}: ${r.stderr.trim()} (output so far: ${r.stdout})`, r);
  return r.stdout;
}

const RECEIVER = `
const net = require('net');
const [port, ms] = [Number(process.argv[1]), Number(process.argv[2])];
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, ms);
const server = net.createServer((c) => {
  let data = '';
  c.setEncoding('utf8');
  c.on('data', (d) => (data += d));
  c.on('end', () => { console.log('FROM ' + c.remoteAddress + ' ' + JSON.stringify(data)); clearTimeout(timer); server.close(); c.end(); setTimeout(() => process.exit(0), 20); });
});
server.listen(port, '0.0.0.0', () => console.log('LISTENING'));
`;

/** Listen once on `port` in `at`; resolves with the peer address and the payload it sent. */
export async function receiveOnce(at: NsRunner, port: number, send: () => Promise<unknown>, timeoutMs = 20_000): Promise<{ peer: string; payload: string }> {
  const p = at.spawn(process.execPath, ['-e', RECEIVER, String(port), String(timeoutMs)]);
  try {
    await p.waitForOutput(/^LISTENING$/m, { timeoutMs: 10_000 });
    await send();
    const m = await p.waitForOutput(/^(FROM (\S+) (.*)|TIMEOUT)$/m, { timeoutMs: timeoutMs + 5_000 });
    if (m[1] === 'TIMEOUT') throw new HarnessError(`nothing arrived on port ${port} in ${at.netns}`);
    return { peer: (m[2] ?? '').replace(/^::ffff:/, ''), payload: JSON.parse(m[3] ?? '""') as string };
  } finally {
    await p.stop();
  }
}
