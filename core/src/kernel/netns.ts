import * as fs from 'node:fs';
import { runChecked, runCommand } from '@volt/sdk/kernel';
import type { ContainerSource } from '../state/types';

/** iproute2's directory of named namespaces (not volt's: it belongs to `ip netns`). */
export const NETNS_RUN_DIR = process.env.VOLT_NETNS_DIR ?? '/run/netns';

export function nsPath(src: ContainerSource): string {
  switch (src.kind) {
    case 'netns':
      return `${NETNS_RUN_DIR}/${src.name}`;
    case 'path':
      return src.path;
    case 'pid':
    case 'nspawn':
      return `/proc/${src.kind === 'pid' ? src.pid : src.leader}/ns/net`;
  }
}

export function describeSource(src: ContainerSource): string {
  switch (src.kind) {
    case 'netns':
      return `netns ${src.name}`;
    case 'path':
      return `netns file ${src.path}`;
    case 'pid':
      return `pid ${src.pid}`;
    case 'nspawn':
      return `nspawn machine ${src.machine} (leader ${src.leader})`;
  }
}

/**
 * True when the path is a live network namespace: namespace files live on
 * nsfs (the same device as our own /proc/self/ns/net); a stale bind-mount
 * target left behind is a plain file on another filesystem.
 */
export function nsAlive(path: string): boolean {
  try {
    return fs.statSync(path).dev === fs.statSync('/proc/self/ns/net').dev;
  } catch {
    return false;
  }
}

/** `ip -batch` inside another network namespace. */
export async function ipBatchIn(path: string, what: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await runChecked(what, 'nsenter', [`--net=${path}`, 'ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
}

export async function ipJsonIn<T>(path: string, args: string[]): Promise<T | undefined> {
  const r = await runCommand('nsenter', [`--net=${path}`, 'ip', '-j', ...args]);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as T;
}

/** The leader PID of a running systemd-nspawn machine, via systemd-machined. */
export async function nspawnLeader(machine: string): Promise<number | undefined> {
  const r = await runCommand('machinectl', ['show', machine, '--property=Leader', '--value'], { timeoutMs: 3000 });
  const pid = Number(r.stdout.trim());
  return r.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
