import { UPLINK, waitFor, type BackgroundProcess, type NsRunner, type SandboxHost } from '../harness';

/* Shared by the volt-dns end-to-end tests (500-dns*.test.ts, 510-dns-vm.test.ts). */

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  value: string;
}

export interface Dig {
  /** NOERROR, NXDOMAIN…; TIMEOUT when nothing answered; NONE when dig printed no status. */
  status: string;
  flags: string[];
  answers: DigRecord[];
  authority: DigRecord[];
  transport: string;
  /** dig's own measure, from its query to the answer (without process start-up on a busy machine). */
  ms: number;
  raw: string;
}

function section(raw: string, title: string): DigRecord[] {
  const body = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)\\n\\n`).exec(raw)?.[1] ?? '';
  return body
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [name, ttl, , type, ...value] = line.split(/\s+/);
      return { name: name ?? '', ttl: Number(ttl), type: type ?? '', value: value.join(' ') };
    });
}

/** Parse dig's output (exported for clients that run dig some other way, e.g. in a VM guest). */
export function parseDig(raw: string): Dig {
  return {
    status: /status: (\w+)/.exec(raw)?.[1] ?? (/timed out|no servers could be reached/.test(raw) ? 'TIMEOUT' : 'NONE'),
    flags: (/;; flags: ([a-z ]*);/.exec(raw)?.[1] ?? '').split(' ').filter((f) => f !== ''),
    answers: section(raw, 'ANSWER'),
    authority: section(raw, 'AUTHORITY'),
    transport: /;; SERVER: .*\((UDP|TCP)\)/.exec(raw)?.[1] ?? '',
    ms: Number(/;; Query time: (\d+) msec/.exec(raw)?.[1] ?? NaN),
    raw,
  };
}

/**
 * `dig @server ARGS` from a namespace, one try. `timeSeconds` is dig's wait
 * (default 2); a `+time=N` in args wins, as dig takes the last one.
 */
export async function dig(ns: NsRunner, server: string, args: string[], opts: { timeSeconds?: number } = {}): Promise<Dig> {
  const r = await ns.exec('dig', [`+time=${opts.timeSeconds ?? 2}`, '+tries=1', `@${server}`, ...args], { timeoutMs: 15_000 });
  return parseDig(r.stdout + r.stderr);
}

/** `volt dns serve ARGS` in the sandbox host, once it says it is ready. `env`: e.g. VOLT_DNS_UDP. */
export async function serve(host: SandboxHost, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<BackgroundProcess> {
  const p = host.spawnVolt(['dns', 'serve', ...args], env === undefined ? {} : { env });
  await p.waitForOutput(/volt-dns: ready:/, { timeoutMs: 30_000 });
  return p;
}

/** dnsmasq as an upstream resolver in the namespace that plays the internet, on `address` only. */
export function dnsmasq(host: SandboxHost, address: string = UPLINK.internetAddress, extra: string[] = []): BackgroundProcess {
  return host.outside!.spawn('dnsmasq', [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--user=root',
    '--bind-interfaces',
    `--listen-address=${address}`,
    ...extra,
  ]);
}

/** dnsmasq answers once it is up (it must own example.test); wait for that instead of sleeping. */
export async function ready(from: NsRunner, address: string): Promise<void> {
  await waitFor(async () => (await from.exec('dig', ['+time=1', '+tries=1', `@${address}`, 'probe.example.test'])).stdout.includes('status: NOERROR'), {
    timeoutMs: 10_000,
    description: `dnsmasq on ${address}`,
  });
}

/** config.yaml with these upstreams (and search domains, when given). */
export function dnsConfig(upstream: string[], searchDomains?: string[]): string {
  const search = searchDomains === undefined ? '' : `    search_domains: [${searchDomains.join(', ')}]\n`;
  return `network:\n  dns:\n    upstream: [${upstream.join(', ')}]\n${search}`;
}
