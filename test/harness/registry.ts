/**
 * Process-wide record of everything the harness made that must not outlive the
 * test process: named network namespaces, child processes, temporary
 * directories. On normal teardown each owner removes its own entries; if the
 * process exits without that (crash, SIGINT, SIGTERM, uncaught error), the
 * handlers installed here remove them synchronously.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const liveNetns = new Set<string>();
const livePids = new Set<number>();
const liveDirs = new Set<string>();
let handlersInstalled = false;

export function trackNetns(name: string): void {
  installExitHandlers();
  liveNetns.add(name);
}

export function untrackNetns(name: string): void {
  liveNetns.delete(name);
}

export function trackPid(pid: number): void {
  installExitHandlers();
  livePids.add(pid);
}

export function untrackPid(pid: number): void {
  livePids.delete(pid);
}

export function trackDir(dir: string): void {
  installExitHandlers();
  liveDirs.add(dir);
}

export function untrackDir(dir: string): void {
  liveDirs.delete(dir);
}

/** What is still registered (for self-tests and debugging). */
export function liveResources(): { netns: string[]; pids: number[]; dirs: string[] } {
  return { netns: [...liveNetns], pids: [...livePids], dirs: [...liveDirs] };
}

/** Pids of every process whose network namespace is the named one (`ip netns pids`). */
export function netnsPidsSync(name: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map((s) => Number(s))
    .filter((pid) => pid !== process.pid);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e: unknown) {
    // ESRCH: already gone. Anything else we cannot do anything about here.
    void e;
  }
}

/** Kill every process inside the namespace, then delete its name. Synchronous, never throws. */
export function destroyNetnsSync(name: string): void {
  for (const pid of netnsPidsSync(name)) killQuietly(pid, 'SIGKILL');
  if (fs.existsSync(`/run/netns/${name}`)) {
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5000 });
  }
}

/** Remove everything still registered, synchronously. Safe to call more than once. */
export function emergencyCleanup(): void {
  for (const pid of livePids) killQuietly(pid, 'SIGKILL');
  livePids.clear();
  for (const name of liveNetns) destroyNetnsSync(name);
  liveNetns.clear();
  for (const dir of liveDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e: unknown) {
      void e;
    }
  }
  liveDirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  emergencyCleanup();
  // Let the default action (or another listener) take over, as if we had not been here.
  process.removeListener(signal, onSignal);
  if (process.listenerCount(signal) === 0) {
    process.kill(process.pid, signal);
  }
}

export function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', emergencyCleanup);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}
