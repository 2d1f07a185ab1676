import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig } from '@volt/core/dist/config/defaults';
import type { DnsDriver, DnsListener, DnsResolverOptions, DnsStats, DnsView } from '@volt/sdk';
import { voltPaths, type VoltPaths } from '@volt/sdk';
import { DnsServeService } from '@volt/core/dist/services/dns/dns-service';
import { resolvConfPath, resolvConfText } from '@volt/core/dist/services/dns/dns-resolvconf';
import { StateStore } from '@volt/core/dist/state/store';
import { emptyState } from '@volt/core/dist/state/types';

/*
 * `volt dns serve` follows config.yaml live (upstream, search domains), with a
 * fake driver: what it is told, and what happens to the containers'
 * resolv.conf. The real driver's side is in dns-zone and the 500-dns e2e tests.
 */

type Call = { op: 'start' | 'reconfigure'; options: DnsResolverOptions } | { op: 'stop' } | { op: 'listen'; network: string } | { op: 'publish'; view: DnsView };

class FakeDriver implements DnsDriver {
  readonly name = 'fake';
  readonly preference = 0;
  readonly fallback = false;
  readonly description = 'fake';
  readonly calls: Call[] = [];
  async available(): Promise<{ ok: boolean; reason: string }> {
    return { ok: true, reason: '' };
  }
  async start(options: DnsResolverOptions): Promise<void> {
    this.calls.push({ op: 'start', options });
  }
  async stop(): Promise<void> {
    this.calls.push({ op: 'stop' });
  }
  async startListener(l: DnsListener): Promise<void> {
    this.calls.push({ op: 'listen', network: l.network });
  }
  async stopListener(): Promise<void> {}
  async publish(view: DnsView): Promise<void> {
    this.calls.push({ op: 'publish', view });
  }
  async withdraw(): Promise<void> {}
  async flushCache(): Promise<number> {
    return 0;
  }
  async stats(): Promise<DnsStats> {
    return { queries: 0, forwarded: 0, cacheHits: 0, cacheEntries: 0, servfail: 0 };
  }
}

class LiveDriver extends FakeDriver {
  async reconfigure(options: DnsResolverOptions): Promise<boolean> {
    this.calls.push({ op: 'reconfigure', options });
    return true;
  }
}

interface Setup {
  paths: VoltPaths;
  svc: DnsServeService;
  logs: string[];
  warnings: string[];
  resolvConf: string;
}

async function setup(t: { teardown(f: () => void | Promise<void>): void }, driver: DnsDriver): Promise<Setup> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-dns-svc-'));
  const paths = voltPaths({ VOLT_ROOT: root });
  for (const d of [paths.stateDir, path.dirname(paths.configFile)]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(paths.configFile, 'network:\n  dns:\n    upstream: [192.0.2.1]\n');
  const s = emptyState();
  s.networks.backend = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: '' };
  s.workloads['api-server'] = { type: 'container', name: 'api-server', source: { kind: 'netns', name: 'api-server' }, registered: false, createdAt: '' };
  s.attachments.push({ workload: 'api-server', network: 'backend', ip: '10.30.0.100', mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh', createdAt: '' });
  fs.writeFileSync(paths.stateFile, JSON.stringify(s));
  // What `volt net connect` wrote with the config of the time.
  const resolvConf = resolvConfPath(paths, 'api-server');
  fs.mkdirSync(path.dirname(resolvConf), { recursive: true });
  fs.writeFileSync(resolvConf, resolvConfText('api-server', ['10.30.0.1'], ['volt.local']));
  const logs: string[] = [];
  const warnings: string[] = [];
  const config = { ...defaultConfig(), network: { ...defaultConfig().network, dns: { enabled: true, upstream: ['192.0.2.1'], search_domains: ['volt.local'] } } };
  const svc = new DnsServeService({ paths, config, store: new StateStore(paths), driver, port: 5399, log: (m) => logs.push(m), warn: (m) => warnings.push(m) });
  await svc.start();
  t.teardown(async () => {
    await svc.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { paths, svc, logs, warnings, resolvConf };
}

function writeConfig(paths: VoltPaths, text: string): void {
  fs.writeFileSync(`${paths.configFile}.tmp`, text);
  fs.renameSync(`${paths.configFile}.tmp`, paths.configFile);
}

async function until(what: string, f: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a changed config.yaml reconfigures the running driver: new upstreams, new search domains, names and resolv.conf follow', async (t) => {
  const driver = new LiveDriver();
  const { paths, logs, resolvConf } = await setup(t, driver);
  writeConfig(paths, 'network:\n  dns:\n    upstream: [192.0.2.2, 192.0.2.3]\n    search_domains: [corp.internal]\n');
  await until('reconfigure', () => driver.calls.some((c) => c.op === 'reconfigure'));
  const re = driver.calls.find((c) => c.op === 'reconfigure');
  t.deepEqual(re?.op === 'reconfigure' ? re.options : undefined, {
    upstream: [
      { address: '192.0.2.2', port: 53 },
      { address: '192.0.2.3', port: 53 },
    ],
    searchDomains: ['corp.internal'],
    workers: undefined,
  });
  t.false(driver.calls.some((c) => c.op === 'stop'), 'no restart');
  await until('republish', () => driver.calls.some((c) => c.op === 'publish' && c.view.records.some((r) => r.name === 'api-server.corp.internal')));
  await until('resolv.conf', () => fs.readFileSync(resolvConf, 'utf8').includes('search corp.internal'));
  t.regex(fs.readFileSync(resolvConf, 'utf8'), /^nameserver 10\.30\.0\.1$/m);
  t.true(logs.some((l) => /config\.yaml reloaded: upstream 192\.0\.2\.2, 192\.0\.2\.3 \(was 192\.0\.2\.1\); search domains corp\.internal \(was volt\.local\)/.test(l)), logs.join('\n'));
  t.deepEqual((await (await import('@volt/core/dist/services/dns/dns-control')).askDns(paths, { op: 'status' }, 1000)).running, true);
});

test('an invalid config.yaml changes nothing and says why; a change elsewhere in the file does not reconfigure', async (t) => {
  const driver = new LiveDriver();
  const { paths, svc, warnings, resolvConf } = await setup(t, driver);
  writeConfig(paths, 'network:\n  dns:\n    upstream: [dns.example.com]\n');
  await until('the warning', () => warnings.length > 0);
  t.regex(warnings[0]!, /^config not applied, volt-dns keeps the configuration in force \(upstream 192\.0\.2\.1; search domains volt\.local\):\n {2}\S+config\.yaml:3:\d+: network\.dns\.upstream\.0: "dns\.example\.com" is not an IP address/);
  t.deepEqual((await svc.status()).upstream, ['192.0.2.1']);
  writeConfig(paths, 'network:\n  dns:\n    upstream: [192.0.2.1]\n  mtu: 1400\n');
  await new Promise((r) => setTimeout(r, 300));
  t.false(driver.calls.some((c) => c.op === 'reconfigure'));
  t.is(warnings.length, 1, 'said once');
  t.regex(fs.readFileSync(resolvConf, 'utf8'), /^search volt\.local$/m);
});

test('a driver without live reconfiguration is restarted with the new options and listens again', async (t) => {
  const driver = new FakeDriver();
  const { paths, svc } = await setup(t, driver);
  writeConfig(paths, 'network:\n  dns:\n    upstream: [192.0.2.9]\n');
  await until('restart', () => driver.calls.filter((c) => c.op === 'start').length === 2);
  const starts = driver.calls.filter((c) => c.op === 'start');
  t.deepEqual(starts[1]?.op === 'start' ? starts[1].options.upstream : undefined, [{ address: '192.0.2.9', port: 53 }]);
  await until('listen again', () => driver.calls.filter((c) => c.op === 'listen' && c.network === 'backend').length === 2);
  t.deepEqual((await svc.status()).upstream, ['192.0.2.9']);
});
