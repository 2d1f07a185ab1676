import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, ping } from '../harness';
import { probe, probeMany, serve, workload, type Workload } from './400-lib';

interface TestJson {
  from: string;
  to: string;
  port?: number;
  verdict: 'ALLOWED' | 'DENIED';
  decidedBy: { kind: string; name?: string; policies?: string[] };
  line: string;
  src?: string;
  dst?: string;
}

test('policy test prints the spec lines, names what decides, and agrees with real connections', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
  const app = await workload(host, 'app-server', 'backend');
  const web = await workload(host, 'web-frontend', 'backend');
  const db = await workload(host, 'db-primary', 'backend');
  const edge = await workload(host, 'edge', 'frontend');
  await serve(db.ns, [5432, 6379]);
  await serve(web.ns, [80]);

  const created = await host.voltOk(['net', 'policy', 'create', '--name', 'app-to-db', '--from', 'app-server', '--to', 'db-primary', '--port', '5432', '--action', 'allow']);
  t.regex(created.stderr, /db-primary is now isolated/);
  const ok = await host.volt(['net', 'policy', 'test', '--from', 'app-server', '--to', 'db-primary', '--port', '5432']);
  t.is(ok.code, 0);
  t.is(ok.stdout.split('\n')[0], '✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)');
  const no = await host.volt(['net', 'policy', 'test', '--from', 'web-frontend', '--to', 'db-primary', '--port', '5432']);
  t.is(no.code, 1, 'DENIED exits 1');
  t.is(no.stdout.split('\n')[0], '✗ web-frontend → db-primary:5432 — DENIED');
  t.regex(no.stdout, /db-primary is isolated by policy "app-to-db", and none allows this/);
  const json = JSON.parse((await host.volt(['net', 'policy', 'test', '--from', 'app-server', '--to', 'db-primary', '--port', '5432', '-o', 'json'])).stdout) as TestJson;
  t.like(json, { verdict: 'ALLOWED', decidedBy: { kind: 'policy', name: 'app-to-db' }, src: app.ip, dst: db.ip });

  const real = await Promise.all([probe(app.ns, db.ip, 5432), probe(web.ns, db.ip, 5432), probe(app.ns, db.ip, 6379), probe(db.ns, web.ip, 80)]);
  t.true(real[0].connected, 'allowed by app-to-db');
  t.false(real[1].connected, 'db-primary is isolated: web-frontend is not allowed');
  t.false(real[2].connected, 'only the allowed port');
  t.true(real[3].connected, 'web-frontend has no policy: the default applies to it');

  // Deny beats allow; an allow policy opens a connection across networks.
  await host.voltOk(['net', 'policy', 'create', '--name', 'cache-all', '--from', 'any', '--to', 'db-primary', '--port', '6379', '--action', 'allow']);
  await host.voltOk(['net', 'policy', 'create', '--name', 'no-web-cache', '--from', 'web-frontend', '--to', 'db-primary', '--port', '6379', '--action', 'deny']);
  await host.voltOk(['net', 'policy', 'create', '--name', 'edge-db', '--from', 'edge', '--to', 'db-primary', '--port', '5432', '--action', 'allow']);
  const lines = (await host.volt(['net', 'policy', 'test', '--from', 'app-server,web-frontend,edge', '--to', 'db-primary', '--port', '5432,6379'])).stdout.trim().split('\n');
  t.deepEqual(lines, [
    '✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)',
    '✓ app-server → db-primary:6379 — ALLOWED (policy: cache-all)',
    '✗ web-frontend → db-primary:5432 — DENIED',
    '✗ web-frontend → db-primary:6379 — DENIED (policy: no-web-cache)',
    '✓ edge → db-primary:5432 — ALLOWED (policy: edge-db)',
    '✓ edge → db-primary:6379 — ALLOWED (policy: cache-all)',
  ]);
  const real2 = await Promise.all([probe(app.ns, db.ip, 6379), probe(web.ns, db.ip, 6379), probe(edge.ns, db.ip, 5432), probe(edge.ns, web.ip, 80)]);
  t.deepEqual(real2.map((r) => r.connected), [true, false, true, false]);

  // Defaults and firewall rules are named too; rules come before policies.
  t.is((await host.volt(['net', 'policy', 'test', '--from', 'db-primary', '--to', 'web-frontend', '--port', '80'])).stdout.split('\n')[0], '✓ db-primary → web-frontend:80 — ALLOWED (default: same network)');
  t.is((await host.volt(['net', 'policy', 'test', '--from', 'edge', '--to', 'web-frontend', '--port', '80'])).stdout.split('\n')[0], '✗ edge → web-frontend:80 — DENIED (default: different networks)');
  await host.voltOk(['net', 'firewall', 'add', '--name', 'no-5432', '--dest', 'db-primary', '--port', '5432', '--proto', 'tcp', '--action', 'drop']);
  t.is((await host.volt(['net', 'policy', 'test', '--from', 'app-server', '--to', 'db-primary', '--port', '5432'])).stdout.split('\n')[0], '✗ app-server → db-primary:5432 — DENIED (rule: no-5432)');
  t.false((await probe(app.ns, db.ip, 5432)).connected, 'the rule wins over the policy in the kernel too');

  const list = await host.voltOk(['net', 'policy', 'list']);
  t.regex(list.stdout, /^NAME\s+FROM\s+TO\s+PORT\s+PROTO\s+ACTION/);
  t.regex(list.stdout, /app-to-db\s+app-server \(10\.30\.0\.\d+\)\s+db-primary \(10\.30\.0\.\d+\)\s+5432\s+tcp\s+allow/);
  await host.voltOk(['net', 'policy', 'delete', '--name', 'app-to-db']);
  const missing = await host.volt(['net', 'policy', 'delete', '--name', 'app-to-db']);
  t.is(missing.code, 3);
  t.regex(missing.stderr, /delete policy "app-to-db": no such policy/);
  t.is((await host.volt(['net', 'check'])).code, 0);
});

// ---------------------------------------------------------------------------
// The property: for random policies and firewall rules, `policy test` says
// exactly what real TCP connections between the namespaces do.

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const PORTS = [7001, 7002, 7003, 7004, 7005];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function subset<T>(r: () => number, xs: readonly T[], max: number): T[] {
  const n = 1 + Math.floor(r() * max);
  return [...new Set(Array.from({ length: n }, () => pick(r, xs)))];
}

interface Round {
  policies: Record<string, unknown>[];
  rules: Record<string, unknown>[];
}

/**
 * `subnets6`: the networks are dual-stack; a rule then picks its address family first (a rule with both an
 * IPv4 and an IPv6 address is refused) and may name IPv6 addresses and prefixes. Names and `any` cover both.
 */
function randomRound(r: () => number, ws: Workload[], subnets: Record<string, string>, subnets6?: Record<string, string>): Round {
  const names = ws.map((w) => w.name);
  const seen = new Set<string>();
  const policies: Record<string, unknown>[] = [];
  const nPolicies = Math.floor(r() * 7);
  for (let i = 0; i < nPolicies; i++) {
    const p = {
      from: r() < 0.25 ? 'any' : pick(r, names),
      to: pick(r, names),
      ...(r() < 0.25 ? {} : { port: subset(r, PORTS, 3).join(',') }),
      proto: r() < 0.15 ? 'any' : r() < 0.1 ? 'udp' : 'tcp',
      action: r() < 0.3 ? 'deny' : 'allow',
    };
    const key = JSON.stringify(p);
    if (seen.has(key)) continue;
    seen.add(key);
    policies.push({ name: `p${i}`, ...p });
  }
  const rules: Record<string, unknown>[] = [];
  const nRules = Math.floor(r() * 6);
  let v6 = false;
  const endpoint = (): string => {
    const x = r();
    if (x < 0.3) return pick(r, names);
    if (x < 0.5) return v6 ? pick(r, ws).ip6! : pick(r, ws).ip;
    if (x < 0.7) return pick(r, Object.values(v6 ? subnets6! : subnets));
    return 'any';
  };
  for (let i = 0; i < nRules; i++) {
    v6 = subnets6 !== undefined && r() < 0.5;
    const ports = r() < 0.3 ? undefined : r() < 0.3 ? '7002-7004' : subset(r, PORTS, 2).join(',');
    const rule = {
      source: endpoint(),
      dest: endpoint() === 'any' ? pick(r, names) : endpoint(),
      ...(ports === undefined ? {} : { port: ports }),
      proto: ports === undefined ? pick(r, ['tcp', 'any', 'icmp']) : pick(r, ['tcp', 'tcp', 'any', 'udp']),
      action: pick(r, ['accept', 'accept', 'drop', 'reject']),
      ...(r() < 0.2 ? { network: pick(r, Object.keys(subnets)) } : {}),
    };
    const key = JSON.stringify(rule);
    if (seen.has(key)) continue;
    seen.add(key);
    rules.push({ name: `r${i}`, ...rule });
  }
  return { policies, rules };
}

type Family = 4 | 6;

/**
 * One property run: 4 rounds of random policies and rules, each checked against real TCP connections
 * between every pair of the six workloads on every port (IPv4, and with `dual` IPv6 too) and, with `dual`,
 * against real ping and ping6 between every pair (`policy test --proto icmp`).
 */
async function property(t: ExecutionContext, dual: boolean): Promise<void> {
  const host = await SandboxHost.create(t, { uplink: false });
  const subnets = dual ? { n1: '10.43.0.0/24', n2: '10.44.0.0/24' } : { n1: '10.41.0.0/24', n2: '10.42.0.0/24' };
  const subnets6 = dual ? { n1: 'fd00:43::/64', n2: 'fd00:44::/64' } : undefined;
  for (const [name, subnet] of Object.entries(subnets)) {
    await host.voltOk(['net', 'create', '--name', name, '--subnet', subnet, ...(subnets6 ? ['--subnet6', subnets6[name as 'n1' | 'n2']] : [])]);
  }
  const ws: Workload[] = [];
  for (const [name, net] of [['a1', 'n1'], ['a2', 'n1'], ['a3', 'n1'], ['b1', 'n2'], ['b2', 'n2'], ['b3', 'n2']] as const) ws.push(await workload(host, name, net));
  if (dual) t.true(ws.every((w) => w.ip6 !== undefined), 'every workload has an IPv6 address');
  await Promise.all(ws.map((w) => serve(w.ns, PORTS, [], 'udp', dual)));
  const seed = Number(process.env.VOLT_PROPERTY_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (VOLT_PROPERTY_SEED=${seed} reproduces this run)`);
  const r = rng(seed);
  const names = ws.map((w) => w.name).join(',');
  const policyFile = path.join(host.root, 'policies.json');
  const ruleFile = path.join(host.root, 'rules.json');
  const families: Family[] = dual ? [4, 6] : [4];
  const addr = (w: Workload, f: Family): string => (f === 6 ? w.ip6! : w.ip);
  const verdicts = async (f: Family, proto: 'tcp' | 'icmp'): Promise<Map<string, TestJson>> => {
    const args = ['net', 'policy', 'test', '--from', names, '--to', names, ...(proto === 'tcp' ? ['--port', '7001-7005'] : ['--proto', 'icmp']), ...(f === 6 ? ['--ipv6'] : []), '-o', 'json'];
    const res = await host.volt(args); // exits 1 when a verdict is DENIED
    if (res.code !== 0 && res.code !== 1) throw new Error(`volt ${args.join(' ')}: exit ${res.code}: ${res.stderr}`);
    return new Map((JSON.parse(res.stdout) as TestJson[]).filter((v) => v.from !== v.to).map((v) => [`${v.from}>${v.to}:${v.port ?? 'icmp'}`, v]));
  };

  const cases: Record<string, number> = {};
  const mismatches: string[] = [];
  for (let round = 0; round < 4; round++) {
    const { policies, rules } = randomRound(r, ws, subnets, subnets6);
    fs.writeFileSync(policyFile, JSON.stringify({ policies }));
    fs.writeFileSync(ruleFile, JSON.stringify({ rules }));
    await host.voltOk(['net', 'policy', 'apply', '-f', policyFile]);
    await host.voltOk(['net', 'firewall', 'apply', '-f', ruleFile]);
    for (const f of families) {
      const kind = `IPv${f} TCP`;
      const predicted = await verdicts(f, 'tcp');
      const observed = await Promise.all(
        ws.map(async (from) => {
          const targets = ws.filter((w) => w !== from).flatMap((to) => PORTS.map((port) => ({ host: addr(to, f), port })));
          const results = await probeMany(from.ns, targets, 1000);
          return results.map((res) => ({ from: from.name, to: ws.find((w) => addr(w, f) === res.host)!.name, port: res.port, connected: res.connected, detail: res.detail }));
        }),
      );
      for (const o of observed.flat()) {
        cases[kind] = (cases[kind] ?? 0) + 1;
        const p = predicted.get(`${o.from}>${o.to}:${o.port}`);
        if (!p || (p.verdict === 'ALLOWED') !== o.connected) {
          mismatches.push(`round ${round}, ${kind}: ${p?.line ?? `${o.from} → ${o.to}:${o.port}: no verdict`} but the connection ${o.connected ? 'succeeded' : `failed (${o.detail})`}`);
        }
      }
      if (!dual) continue;
      // ping / ping6 between every pair, at once.
      const kindIcmp = f === 6 ? 'ping6' : 'ping';
      const predictedIcmp = await verdicts(f, 'icmp');
      const pings = await Promise.all(
        ws.flatMap((from) => ws.filter((w) => w !== from).map(async (to) => ({ from: from.name, to: to.name, ok: await ping(from.ns, addr(to, f), { timeoutS: 1 }) }))),
      );
      for (const o of pings) {
        cases[kindIcmp] = (cases[kindIcmp] ?? 0) + 1;
        const p = predictedIcmp.get(`${o.from}>${o.to}:icmp`);
        if (!p || (p.verdict === 'ALLOWED') !== o.ok) {
          mismatches.push(`round ${round}, ${kindIcmp}: ${p?.line ?? `${o.from} → ${o.to} icmp: no verdict`} but the ${kindIcmp} ${o.ok ? 'was answered' : 'was not answered'}`);
        }
      }
    }
    if (mismatches.length > 0) {
      t.log(`policies: ${JSON.stringify(policies)}`);
      t.log(`rules: ${JSON.stringify(rules)}`);
      break;
    }
  }
  t.deepEqual(mismatches, [], mismatches.slice(0, 10).join('\n'));
  for (const f of families) t.true((cases[`IPv${f} TCP`] ?? 0) >= 500, `${JSON.stringify(cases)} cases`);
  if (dual) t.true((cases['ping6'] ?? 0) >= 100 && (cases['ping'] ?? 0) >= 100, `${JSON.stringify(cases)} cases`);
  t.log(`${JSON.stringify(cases)} cases, 100% agreement`);
  t.is((await host.volt(['net', 'check'])).code, 0);
}

test('property: policy test agrees with real TCP connections for random policies and rules (>= 500 cases)', async (t) => {
  await property(t, false);
});

/** Issue 14: the same over dual-stack networks, IPv4 and IPv6 (`policy test --ipv6`), TCP and ping/ping6; rules may name v6 addresses and prefixes. */
test('property, dual-stack: policy test agrees with real TCP over IPv4 and IPv6 and with ping/ping6 (>= 500 TCP cases a family)', async (t) => {
  await property(t, true);
});
