import type * as dgram from 'node:dgram';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { DnsDriver, DnsListener, DnsResolverOptions, DnsStats, DnsView } from '@volt/sdk';
import { DriverError } from '@volt/sdk';
import type { Engine } from './engine';
import type { ReaderPool } from './reader-pool';
import type { WorkerPool } from './worker-pool';
import { trace } from './trace';

interface Running {
  engine: Engine;
  searchDomains: string[];
  serial: number;
  pool?: WorkerPool;
  views: Map<string, DnsView>;
  sockets: Map<string, { spec: DnsListener; socket: dgram.Socket }>;
}

/**
 * volt-dns: per-network views on each gateway, answers pre-encoded with dns2's
 * codec, forwarding through shared upstream sockets with a TTL cache, and
 * optionally worker processes reading the same UDP sockets. The constructor
 * does nothing; the engine (and dns2) load on start().
 */
export class Dns2Resolver implements DnsDriver {
  readonly name = 'dns2';
  readonly preference = 10;
  readonly fallback = true;
  readonly description = 'built-in resolver: per-network names, forwarding with cache';
  private run?: Running;

  constructor(private readonly host: HostContext) {}

  async available(): Promise<Availability> {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { version } = require('dns2/package.json') as { version: string };
      return { ok: true, reason: `dns2 ${version}` };
    } catch {
      return { ok: false, reason: 'dns2 is not installed' };
    }
  }

  async start(options: DnsResolverOptions): Promise<void> {
    if (this.run) return;
    trace('resolver start');
    const { chooseUdpMode } = await import('./udp-mode');
    const serial = Math.floor(Date.now() / 1000);
    const workers = Math.max(0, Math.floor(options.workers ?? 0));
    const udp = await chooseUdpMode(workers);
    trace(`udp mode ${udp.kind}`);
    // The reading threads start first: a V8 isolate and its modules take longer than everything
    // else the service does before it answers, so that goes on meanwhile (docs/decisions/0012).
    let engineRef: Engine | undefined;
    let pool: ReaderPool | undefined;
    if (udp.kind === 'batch') {
      const { ReaderPool } = await import('./reader-pool');
      pool = new ReaderPool({
        mode: udp,
        initial: () => engineRef?.threadStart() ?? { searchDomains: [...options.searchDomains], serial, views: [] },
        relay: (fd, msg, peer) => engineRef?.relayedOn(fd, msg, peer),
        warn: this.host.warn,
      });
      void pool.start();
    }
    let engine: Engine;
    try {
      const { Engine } = await import('./engine');
      trace('engine loaded');
      engine = new Engine(options, serial, this.host, udp, pool);
    } catch (e: unknown) {
      await pool?.stop();
      throw new DriverError(`start volt-dns: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_DNS_START', cause: e });
    }
    // The service's start-up lines: which UDP path answers (the host context has no info channel).
    process.stdout.write(`volt-dns: udp: ${udp.describe}\n`);
    engineRef = engine;
    const run: Running = { engine, searchDomains: [...options.searchDomains], serial, views: new Map(), sockets: new Map() };
    try {
      await engine.start();
      trace('forwarder started');
      // Batched UDP reads in threads of this process (`workers` sets how many); worker processes are the dgram path's.
      if (workers > 0 && udp.kind === 'dgram') {
        const { WorkerPool } = await import('./worker-pool');
        run.pool = new WorkerPool(
          workers,
          {
            zoneConfig: () => ({ searchDomains: run.searchDomains, serial: run.serial }),
            views: () => [...run.views.values()],
            listeners: () => [...run.sockets.values()],
          },
          (key, msg, peer) => engine.relayed(key, msg, peer),
          this.host.warn,
        );
        await run.pool.start();
      }
    } catch (e: unknown) {
      run.pool?.stop();
      await engine.stop().catch(() => undefined);
      throw new DriverError(`start volt-dns: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_DNS_START', cause: e });
    }
    this.run = run;
  }

  async stop(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    run?.pool?.stop();
    await run?.engine.stop();
  }

  /**
   * Config reloaded while running: new upstreams and search domains, without
   * closing a listener (the caller republishes the views right after, as their
   * NAME.<domain> records change with the domains). Returns whether the
   * upstreams changed (and with them the cache, which starts empty).
   */
  async reconfigure(options: DnsResolverOptions): Promise<boolean> {
    const run = this.running('reconfigure');
    // The SOA serial must grow: a secondary or a cache comparing serials sees a new zone.
    run.serial = Math.max(run.serial + 1, Math.floor(Date.now() / 1000));
    run.searchDomains = [...options.searchDomains];
    const changed = await run.engine.reconfigure(options, run.serial);
    await run.pool?.broadcast({ op: 'configure', searchDomains: run.searchDomains, serial: run.serial });
    return changed;
  }

  async startListener(listener: DnsListener): Promise<void> {
    const run = this.running('listen');
    trace(`listen ${listener.network} ${listener.address}`);
    const socket = await run.engine.startListener(listener);
    trace(`listening ${listener.network} ${listener.address}`);
    const key = `${listener.network}\0${listener.address}\0${listener.port}`;
    if (socket === undefined || run.sockets.has(key)) return;
    run.sockets.set(key, { spec: listener, socket });
    await run.pool?.broadcast({ op: 'listen', spec: listener }, socket);
  }

  async stopListener(listener: DnsListener): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.sockets.delete(`${listener.network}\0${listener.address}\0${listener.port}`);
    await run.pool?.broadcast({ op: 'unlisten', spec: listener });
    await run.engine.stopListener(listener);
  }

  async publish(view: DnsView): Promise<void> {
    const run = this.running('publish names');
    trace(`publish ${view.network}`);
    run.engine.publish(view);
    run.views.set(view.network, view);
    await run.pool?.broadcast({ op: 'publish', view });
  }

  async withdraw(network: string): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.engine.withdraw(network);
    run.views.delete(network);
    await run.pool?.broadcast({ op: 'withdraw', network });
  }

  async flushCache(): Promise<number> {
    return this.run?.engine.flushCache() ?? 0;
  }

  async stats(): Promise<DnsStats> {
    const run = this.run;
    if (!run) return { queries: 0, forwarded: 0, cacheHits: 0, cacheEntries: 0, servfail: 0 };
    const s = run.engine.stats();
    const extra = (await run.pool?.broadcast({ op: 'queries' })) ?? [];
    return { ...s, queries: s.queries + extra.reduce((a, b) => a + b, 0) };
  }

  private running(what: string): Running {
    if (!this.run) throw new DriverError(`volt-dns: ${what}: the resolver is not started`, { code: 'E_DNS_NOT_STARTED' });
    return this.run;
  }
}
