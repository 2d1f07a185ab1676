/**
 * Helpers of the 400-* tests (firewall rules, port forwards, policies): named
 * workloads, TCP servers that stay up, and probes that try many connections
 * at once from one process, so hundreds of real connection attempts take a
 * few seconds.
 */
import type { BackgroundProcess, ContainerNs, NsRunner, SandboxHost } from '../harness';

export interface Workload {
  name: string;
  ns: ContainerNs;
  ip: string;
  /** Its IPv6 address, on a dual-stack network. */
  ip6?: string;
  network: string;
}

/** A container registered under a short name and connected to a network. */
export async function workload(host: SandboxHost, name: string, network: string, ip?: string): Promise<Workload> {
  const ns = await host.addContainer(name);
  await host.voltOk(['container', 'register', name, '--netns', `/run/netns/${ns.netns}`]);
  const a = await host.voltJson<{ ip: string; ip6?: string }>(['net', 'connect', network, name, ...(ip ? ['--ip', ip] : []), '-o', 'json']);
  return { name, ns, ip: a.ip, ...(a.ip6 === undefined ? {} : { ip6: a.ip6 }), network };
}

const SERVE_JS = `
const net = require('net');
const dgram = require('dgram');
const ports = JSON.parse(process.argv[1]);
const udp = JSON.parse(process.argv[2] || '[]');
const any = process.env.SERVE_V6 === '1' ? '::' : '0.0.0.0';
let n = 0;
const ready = () => { if (++n === ports.length + udp.length) console.log('READY'); };
for (const p of ports) {
  const s = net.createServer((c) => { c.on('error', () => {}); c.end(c.remoteAddress.replace(/^::ffff:/, '') + ' ' + p + '\\n'); });
  s.on('error', (e) => { console.log('ERROR ' + p + ' ' + e.code); process.exit(3); });
  s.listen(p, any, ready);
}
for (const p of udp) {
  const s = dgram.createSocket(any === '::' ? 'udp6' : 'udp4');
  s.on('message', (m, r) => s.send(process.env.TAG + ' ' + r.address.replace(/^::ffff:/, ''), r.port, r.address));
  s.bind(p, any, ready);
}
`;

/**
 * TCP servers on `ports` (and UDP echo servers tagged TAG on `udp`) that answer "<peer address> <port>"; stopped with the
 * sandbox. `v6`: listen on :: (IPv6 and IPv4 alike) instead of 0.0.0.0.
 */
export async function serve(ns: NsRunner, ports: number[], udp: number[] = [], tag = 'udp', v6 = false): Promise<BackgroundProcess> {
  const p = ns.spawn(process.execPath, ['-e', SERVE_JS, JSON.stringify(ports), JSON.stringify(udp)], { env: { ...process.env, TAG: tag, SERVE_V6: v6 ? '1' : '0' } });
  const m = await p.waitForOutput(/^(READY|ERROR .*)$/m, { timeoutMs: 15_000 });
  if (m[1] !== 'READY') throw new Error(`servers in ${ns.netns}: ${m[1] ?? ''}`);
  return p;
}

export interface ProbeTarget {
  host: string;
  port: number;
}

export interface ProbeResult extends ProbeTarget {
  connected: boolean;
  /** What the server saw as the client's address (after NAT), when connected. */
  peer?: string;
  detail: string;
}

const PROBE_JS = `
const net = require('net');
const targets = JSON.parse(process.argv[1]);
const ms = Number(process.argv[2]);
const results = new Array(targets.length);
let left = targets.length;
if (left === 0) { console.log('[]'); process.exit(0); }
targets.forEach((t, i) => {
  let buf = '';
  let done = false;
  const finish = (connected, detail) => {
    if (done) return;
    done = true;
    results[i] = { host: t.host, port: t.port, connected, detail, peer: connected ? buf.trim().split(' ')[0] : undefined };
    c.destroy();
    if (--left === 0) { console.log(JSON.stringify(results)); process.exit(0); }
  };
  const c = net.connect({ host: t.host, port: t.port });
  const timer = setTimeout(() => finish(false, 'TIMEOUT'), ms);
  c.on('data', (d) => { buf += d; if (buf.includes('\\n')) { clearTimeout(timer); finish(true, 'OK'); } });
  c.on('error', (e) => { clearTimeout(timer); finish(false, 'ERROR ' + (e.code || e.message)); });
  c.on('close', () => { clearTimeout(timer); finish(buf.includes('\\n'), buf.includes('\\n') ? 'OK' : 'CLOSED'); });
});
`;

/**
 * Connect to every target at once from `from`'s namespace. A dropped SYN is
 * "not connected" after `timeoutMs` (the bound of the attempt, not a timing
 * assertion); a reset or ICMP error is "not connected" at once.
 */
export async function probeMany(from: NsRunner, targets: ProbeTarget[], timeoutMs = 1500): Promise<ProbeResult[]> {
  const r = await from.exec(process.execPath, ['-e', PROBE_JS, JSON.stringify(targets), String(timeoutMs)], { timeoutMs: timeoutMs + 20_000 });
  if (r.code !== 0) throw new Error(`probe from ${from.netns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeResult[];
}

export async function probe(from: NsRunner, host: string, port: number, timeoutMs = 1500): Promise<ProbeResult> {
  return (await probeMany(from, [{ host, port }], timeoutMs))[0]!;
}

const UDP_JS = `
const dgram = require('dgram');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
s.bind(Number(process.argv[4] || 0), () => {
  s.on('message', (m) => { console.log('REPLY ' + m.toString()); process.exit(0); });
  s.send('ping', port, host);
  setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, ms);
});
`;

/** One UDP datagram (from a fixed source port when given, so conntrack sees one flow); the reply's text or undefined. */
export async function udpAsk(from: NsRunner, host: string, port: number, sourcePort?: number, timeoutMs = 1500): Promise<string | undefined> {
  const r = await from.exec(process.execPath, ['-e', UDP_JS, host, String(port), String(timeoutMs), String(sourcePort ?? 0)], { timeoutMs: timeoutMs + 10_000 });
  const m = /^REPLY (.*)$/m.exec(r.stdout);
  return m ? m[1] : undefined;
}

/** `nft -j list table inet volt` without handles, objects sorted: equal when the content is equal. */
export async function tableContent(host: SandboxHost): Promise<string[]> {
  const r = await host.exec('nft', ['-j', 'list', 'table', 'inet', 'volt']);
  if (r.code !== 0) return [];
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (k === 'handle') continue;
      out[k] = k === 'elem' && Array.isArray(val) ? val.map((e) => JSON.stringify(strip(e))).sort() : strip(val);
    }
    return out;
  };
  const items = (JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] }).nftables.filter((o) => !('metainfo' in o));
  return items.map((o) => JSON.stringify(strip(o))).sort();
}
