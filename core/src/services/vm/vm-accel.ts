import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QEMU_BINARY } from './vm-qemu';

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** Why, in a sentence ("KVM works here (…)", "configured (accel: tcg)"). */
  reason: string;
  /** Set when the operator should know (TCG chosen because KVM does not work). */
  warning?: string;
}

interface ProbeResult {
  kvm: boolean;
  reason: string;
}

interface CacheEntry extends ProbeResult {
  bootId: string;
  qemu: string;
}

const MARKER = 'No bootable device';

/**
 * KVM when it works, else TCG (`accel: auto`). /dev/kvm existing is not enough:
 * on some hosts (nested virtualisation) QEMU accepts -accel kvm and then runs
 * guests far slower than TCG. The probe runs the firmware (SeaBIOS, no boot
 * device) under both accelerators at once and takes KVM only if it gets to
 * the end within 3× TCG's time (at least 1 s). The answer is cached in
 * <runDir>/accel.json for this boot.
 */
export async function chooseAccel(wanted: 'auto' | 'kvm' | 'tcg', runDir: string): Promise<AccelChoice> {
  if (wanted === 'tcg') return { accel: 'tcg', reason: 'configured (accel: tcg)' };
  if (wanted === 'kvm') return { accel: 'kvm', reason: 'configured (accel: kvm)' };
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    const reason = 'no usable /dev/kvm';
    return { accel: 'tcg', reason, warning: `KVM is not available here (${reason}); running under TCG (emulation, slow)` };
  }
  const probe = await cachedProbe(runDir);
  if (probe.kvm) return { accel: 'kvm', reason: probe.reason };
  return { accel: 'tcg', reason: probe.reason, warning: `KVM is not usable here (${probe.reason}); running under TCG (emulation, slow)` };
}

async function cachedProbe(runDir: string): Promise<ProbeResult> {
  const file = path.join(runDir, 'accel.json');
  const bootId = readBootId();
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheEntry;
    if (c.bootId === bootId && c.qemu === QEMU_BINARY) return { kvm: c.kvm, reason: c.reason };
  } catch {
    /* no cache yet */
  }
  const result = await probeKvm(runDir);
  try {
    fs.mkdirSync(runDir, { recursive: true });
    const entry: CacheEntry = { ...result, bootId, qemu: QEMU_BINARY };
    fs.writeFileSync(file, JSON.stringify(entry) + '\n');
  } catch {
    /* only a cache */
  }
  return result;
}

function readBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export async function probeKvm(runDir: string): Promise<ProbeResult> {
  fs.mkdirSync(runDir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(runDir, 'accel-probe-'));
  try {
    const tcg = firmwareRun('tcg', dir, 5000);
    const tcgMs = await tcg.reached;
    const kvmDeadline = Math.max(1000, 3 * (tcgMs ?? 1000));
    const kvm = firmwareRun('kvm', dir, kvmDeadline);
    const kvmMs = await kvm.reached;
    if (kvmMs !== undefined) return { kvm: true, reason: `KVM works here (firmware in ${kvmMs} ms, TCG ${tcgMs ?? '?'} ms)` };
    const err = kvm.stderr().split('\n').find((l) => /kvm/i.test(l) && !/warning/i.test(l));
    if (err) return { kvm: false, reason: `qemu -accel kvm fails: ${err.trim()}` };
    return { kvm: false, reason: `KVM did not get through the firmware within ${kvmDeadline} ms (TCG: ${tcgMs ?? '?'} ms)` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Boot SeaBIOS with no devices; resolves with the milliseconds until it gave up booting, or undefined at the deadline. */
function firmwareRun(accel: 'kvm' | 'tcg', dir: string, deadlineMs: number): { reached: Promise<number | undefined>; stderr(): string } {
  const log = path.join(dir, `${accel}.log`);
  const started = Date.now();
  let stderr = '';
  const child = spawn(
    QEMU_BINARY,
    ['-accel', accel, '-machine', 'q35', '-m', '32', '-display', 'none', '-nodefaults', '-no-user-config', '-no-reboot',
      '-chardev', `file,id=dbg,path=${log}`, '-device', 'isa-debugcon,iobase=0x402,chardev=dbg'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const reached = new Promise<number | undefined>((resolve) => {
    let exited = false;
    child.on('exit', () => (exited = true));
    child.on('error', () => (exited = true));
    const tick = (): void => {
      let text = '';
      try {
        text = fs.readFileSync(log, 'utf8');
      } catch {
        /* not yet */
      }
      const elapsed = Date.now() - started;
      if (text.includes(MARKER)) finish(elapsed);
      else if (exited || elapsed >= deadlineMs) finish(undefined);
      else setTimeout(tick, 20);
    };
    const finish = (ms: number | undefined): void => {
      child.kill('SIGKILL');
      resolve(ms);
    };
    setTimeout(tick, 20);
  });
  return { reached, stderr: () => stderr };
}
