import * as https from 'node:https';
import * as tls from 'node:tls';
import type { IngressAcmeSettings, IngressCertificateStatus } from '@volt/sdk';
import { CertStore, type StoredCertificate } from './cert-store';
import type { CertificatePem } from './messages';
import { certificateNeed, renewalTime, retryDelay } from './renewal';

export interface AcmeHooks {
  /** Hand the current certificates to every worker (resolves when they have them). */
  publish(certs: CertificatePem[]): Promise<void>;
  /** Hand the pending HTTP-01 responses to every worker (resolves when they serve them). */
  challenges(tokens: Record<string, string>): Promise<void>;
  log(message: string): void;
  debug(message: string): void;
}

interface HostState {
  hostname: string;
  cert?: StoredCertificate;
  /** Orders placed at the CA for this name by this process. */
  orders: number;
  /** Attempts to get a certificate (one that fails before ordering, e.g. the CA is unreachable, places no order). */
  attempts: number;
  failures: number;
  error?: string;
  retryAt?: Date;
  busy: boolean;
  timer?: NodeJS.Timeout;
}

type AcmeModule = typeof import('acme-client');
type AcmeClient = InstanceType<AcmeModule['Client']>;

/** setTimeout's limit; longer waits are done in hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Certificates for `--tls auto` routes, from an ACME CA over HTTP-01 through
 * the proxy's own port 80. Orders happen only here, on a schedule: when a
 * name first needs a certificate, when renewal is due, and on retry after a
 * failure (with backoff) — never because of a TLS handshake, which only
 * looks certificates up. Keys and certificates are kept in the CertStore,
 * so a restart reuses them.
 */
export class AcmeManager {
  private readonly hosts = new Map<string, HostState>();
  private readonly store: CertStore;
  private readonly tokens = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private clientPromise?: Promise<{ acme: AcmeModule; client: AcmeClient }>;
  private stopped = false;
  /** The host an order is being obtained for (one at a time), to count the orders the client places. */
  private current?: HostState;

  constructor(
    private readonly settings: IngressAcmeSettings,
    dataDir: string,
    private readonly hooks: AcmeHooks,
  ) {
    this.store = new CertStore(dataDir);
  }

  /** The names that want certificates now (from the routing table). */
  setHostnames(names: string[]): void {
    const wanted = new Set(names);
    let changed = false;
    for (const [name, h] of this.hosts) {
      if (wanted.has(name)) continue;
      if (h.timer) clearTimeout(h.timer);
      this.hosts.delete(name);
      changed = true;
    }
    for (const name of wanted) {
      if (this.hosts.has(name)) continue;
      const h: HostState = { hostname: name, orders: 0, attempts: 0, failures: 0, busy: false };
      this.hosts.set(name, h);
      const stored = this.store.load(name);
      const need = certificateNeed(stored, this.settings.directoryUrl, this.settings.renewBeforeMs, new Date());
      if (stored && need !== 'issue') {
        h.cert = stored;
        changed = true;
      }
      if (need === 'keep') this.scheduleRenewal(h);
      else this.enqueue(h);
    }
    if (changed) void this.publish();
  }

  status(): IngressCertificateStatus[] {
    return [...this.hosts.values()]
      .map((h): IngressCertificateStatus => {
        const now = Date.now();
        const c = h.cert;
        const state: IngressCertificateStatus['state'] =
          c === undefined ? (h.error !== undefined ? 'error' : 'pending') : c.notAfter.getTime() <= now ? 'expired' : h.busy ? 'renewing' : 'valid';
        return {
          hostname: h.hostname,
          source: 'acme',
          state,
          orders: h.orders,
          attempts: h.attempts,
          ...(c ? { notAfter: c.notAfter.toISOString(), serial: c.serial, renewAt: renewalTime(c.notBefore, c.notAfter, this.settings.renewBeforeMs).toISOString() } : {}),
          ...(h.error !== undefined ? { error: h.error } : {}),
          ...(h.retryAt ? { retryAt: h.retryAt.toISOString() } : {}),
        };
      })
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  /** What the workers serve: every name that has a certificate that has not expired. */
  certificates(): CertificatePem[] {
    const now = Date.now();
    return [...this.hosts.values()].flatMap((h) => (h.cert && h.cert.notAfter.getTime() > now ? [{ hostname: h.hostname, certPem: h.cert.certPem, keyPem: h.cert.keyPem }] : []));
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.hosts.values()) if (h.timer) clearTimeout(h.timer);
  }

  private publish(): Promise<void> {
    return this.hooks.publish(this.certificates()).catch((e: unknown) => this.hooks.log(`handing certificates to workers failed: ${msg(e)}`));
  }

  private wait(h: HostState, at: Date, then: () => void): void {
    if (h.timer) clearTimeout(h.timer);
    const ms = Math.max(0, at.getTime() - Date.now());
    h.timer = setTimeout(() => (ms > MAX_TIMER_MS ? this.wait(h, at, then) : then()), Math.min(ms, MAX_TIMER_MS));
  }

  private scheduleRenewal(h: HostState): void {
    if (!h.cert) return;
    const at = renewalTime(h.cert.notBefore, h.cert.notAfter, this.settings.renewBeforeMs);
    this.hooks.debug(`acme: ${h.hostname} renews at ${at.toISOString()}`);
    this.wait(h, at, () => this.enqueue(h));
  }

  /** Orders run one at a time (CA rate limits, and one set of challenges at a time is easy to reason about). */
  private enqueue(h: HostState): void {
    if (h.busy) return;
    h.busy = true;
    this.queue = this.queue.then(() => this.obtain(h)).catch((e: unknown) => this.hooks.log(`acme: ${msg(e)}`));
  }

  private async obtain(h: HostState): Promise<void> {
    if (this.stopped || this.hosts.get(h.hostname) !== h) {
      h.busy = false;
      return;
    }
    const renewing = h.cert !== undefined;
    this.hooks.log(`acme: ${renewing ? 'renewing' : 'ordering'} a certificate for ${h.hostname} from ${this.settings.directoryUrl}`);
    h.attempts++;
    this.current = h;
    try {
      // A CA that cannot be reached fails here, with the reason (acme-client 5.4 turns a network error
      // into "Cannot read properties of undefined" once its own retries are used up).
      await reachable(this.settings.directoryUrl, this.settings.caPem);
      const { acme, client } = await this.client();
      const key = await acme.crypto.createPrivateEcdsaKey('P-256');
      const [, csr] = await acme.crypto.createCsr({ altNames: [h.hostname] }, key);
      const certPem = await client.auto({
        csr,
        ...(this.settings.email !== undefined ? { email: this.settings.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA's own validation is the check that counts; a self-check from inside NAT often cannot reach the public address.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01') throw new Error(`unsupported challenge ${challenge.type}`);
          this.tokens.set(challenge.token, keyAuthorization);
          await this.hooks.challenges(Object.fromEntries(this.tokens));
        },
        challengeRemoveFn: async (_authz, challenge) => {
          this.tokens.delete(challenge.token);
          await this.hooks.challenges(Object.fromEntries(this.tokens));
        },
      });
      this.rememberAccount(client);
      h.cert = this.store.save(h.hostname, certPem, key.toString(), this.settings.directoryUrl);
      h.failures = 0;
      h.error = undefined;
      h.retryAt = undefined;
      h.busy = false;
      this.hooks.log(`acme: certificate for ${h.hostname} issued (serial ${h.cert.serial}, valid until ${h.cert.notAfter.toISOString()})`);
      await this.publish();
      this.scheduleRenewal(h);
    } catch (e: unknown) {
      h.failures++;
      h.error = msg(e);
      h.busy = false;
      const delay = retryDelay(h.failures, this.settings.retryMinMs, this.settings.retryMaxMs);
      h.retryAt = new Date(Date.now() + delay);
      this.hooks.log(`acme: ${renewing ? 'renewal' : 'order'} for ${h.hostname} failed (${h.error}); attempt ${h.attempts}, next one in ${delay / 1000} s at ${h.retryAt.toISOString()}`);
      this.wait(h, h.retryAt, () => this.enqueue(h));
    } finally {
      this.current = undefined;
    }
  }

  private client(): Promise<{ acme: AcmeModule; client: AcmeClient }> {
    this.clientPromise ??= (async () => {
      // acme-client (and axios) load only when a route asks for --tls auto.
      const acme = await import('acme-client');
      acme.setLogger((m: string) => this.hooks.debug(`acme-client: ${m}`));
      // acme-client retries a failed request by itself (5 times, waiting 5 s, 10 s, … 25 s: over a minute
      // against a CA that is down). Keep that to one quick retry of a single request (a blip, a 503,
      // a rate limit's Retry-After); anything longer is a failed attempt, retried on our own schedule
      // (retryMinMs, doubling, at most retryMaxMs).
      const acmeSettings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number } }).acmeSettings;
      if (acmeSettings) {
        acmeSettings.retryMaxAttempts = 1;
        acmeSettings.retryDefaultDelay = 1;
      }
      if (this.settings.caPem !== undefined) {
        acme.axios.defaults.httpsAgent = new https.Agent({ ca: [...tls.rootCertificates, this.settings.caPem] });
      }
      const dir = this.settings.directoryUrl;
      let account = this.store.loadAccount(dir);
      if (account === undefined) {
        const keyPem = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
        this.store.saveAccountKey(dir, keyPem);
        account = { keyPem };
      }
      const client = new acme.Client({
        directoryUrl: dir,
        accountKey: account.keyPem,
        ...(account.accountUrl !== undefined ? { accountUrl: account.accountUrl } : {}),
        backoffAttempts: 10,
        backoffMin: 1000,
        backoffMax: 10_000,
      });
      // Count what reaches the CA: an order is placed by createOrder (auto() calls it once per attempt that gets that far).
      const createOrder = client.createOrder.bind(client);
      client.createOrder = async (data) => {
        const order = await createOrder(data);
        if (this.current) this.current.orders++;
        return order;
      };
      return { acme, client };
    })();
    // A failed setup (CA unreachable) is retried from scratch next time.
    this.clientPromise.catch(() => (this.clientPromise = undefined));
    return this.clientPromise;
  }

  private rememberAccount(client: AcmeClient): void {
    try {
      this.store.saveAccountUrl(this.settings.directoryUrl, client.getAccountUrl());
    } catch (e: unknown) {
      this.hooks.debug(`acme: account URL not saved: ${msg(e)}`);
    }
  }
}

/** Resolves when the directory URL answers at all (any HTTP status); rejects with the network error otherwise. */
function reachable(url: string, caPem: string | undefined, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { timeout: timeoutMs, ...(caPem !== undefined ? { ca: [...tls.rootCertificates, caPem] } : {}) }, (res) => {
      res.resume();
      resolve();
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(`ACME directory ${url} unreachable: ${e.code !== undefined && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message}`)));
  });
}

function msg(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
