import * as fs from 'node:fs';
import { runChecked, runCommand } from './exec';

/*
 * Working inside another network namespace (a container's), named by its namespace file:
 * /run/netns/NAME, /proc/PID/ns/net, or a bind mount of one.
 */

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
