import type { Sandbox } from './sandbox';

/** Listening sockets in the sandbox, "udp 10.213.5.1:5353" (with "pid N" when asked), sorted. */
export async function listening(sb: Sandbox, withPids = false): Promise<string[]> {
  const out: string[] = [];
  for (const proto of ['udp', 'tcp']) {
    const r = await sb.run('ss', ['-H', '-n', '-l', proto === 'udp' ? '-u' : '-t', ...(withPids ? ['-p'] : [])]);
    for (const line of r.stdout.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const local = cols[3]!;
      const pid = withPids ? /pid=(\d+)/.exec(line)?.[1] : undefined;
      out.push(`${proto} ${local}${pid ? ` pid ${pid}` : ''}`);
    }
  }
  return out.sort();
}
