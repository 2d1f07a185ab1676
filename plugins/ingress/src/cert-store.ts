import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';

/**
 * ACME keys and certificates on disk, under `<root>/var/lib/volt/ingress/`:
 *
 *   acme/<ca-host>-<hash>/account.key    account key (0600)
 *   acme/<ca-host>-<hash>/account.json   directory and account URL
 *   certs/<hostname>/key.pem             certificate key (0600)
 *   certs/<hostname>/cert.pem            certificate chain
 *   certs/<hostname>/meta.json           directory it came from, issue time
 *
 * Directories are 0700; every file is written to a temporary name, fsynced
 * and renamed, so a crash never leaves half a key.
 */

export interface StoredCertificate {
  hostname: string;
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  directoryUrl: string;
  issuedAt: string;
}

export interface StoredAccount {
  keyPem: string;
  accountUrl?: string;
}

const HOSTNAME = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

export class CertStore {
  constructor(private readonly dir: string) {}

  private accountDir(directoryUrl: string): string {
    const u = new URL(directoryUrl);
    const h = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 10);
    return path.join(this.dir, 'acme', `${u.hostname.replace(/[^a-z0-9.-]/gi, '_')}-${h}`);
  }

  private certDir(hostname: string): string {
    if (!HOSTNAME.test(hostname) || hostname.includes('..')) throw new Error(`refusing to store a certificate for "${hostname}"`);
    return path.join(this.dir, 'certs', hostname);
  }

  loadAccount(directoryUrl: string): StoredAccount | undefined {
    const d = this.accountDir(directoryUrl);
    let keyPem: string;
    try {
      keyPem = fs.readFileSync(path.join(d, 'account.key'), 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let accountUrl: string | undefined;
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(d, 'account.json'), 'utf8')) as { directoryUrl?: unknown; accountUrl?: unknown };
      if (meta.directoryUrl === directoryUrl && typeof meta.accountUrl === 'string') accountUrl = meta.accountUrl;
    } catch (e: unknown) {
      void e; // no URL yet: the ACME server finds the account by its key
    }
    return accountUrl === undefined ? { keyPem } : { keyPem, accountUrl };
  }

  saveAccountKey(directoryUrl: string, keyPem: string): void {
    writeAtomic(path.join(this.accountDir(directoryUrl), 'account.key'), keyPem, 0o600);
  }

  saveAccountUrl(directoryUrl: string, accountUrl: string): void {
    writeAtomic(path.join(this.accountDir(directoryUrl), 'account.json'), JSON.stringify({ directoryUrl, accountUrl }, null, 2) + '\n', 0o600);
  }

  load(hostname: string): StoredCertificate | undefined {
    const d = this.certDir(hostname);
    try {
      const certPem = fs.readFileSync(path.join(d, 'cert.pem'), 'utf8');
      const keyPem = fs.readFileSync(path.join(d, 'key.pem'), 'utf8');
      const meta = JSON.parse(fs.readFileSync(path.join(d, 'meta.json'), 'utf8')) as { directoryUrl?: unknown; issuedAt?: unknown };
      const x = new X509Certificate(certPem);
      return {
        hostname,
        certPem,
        keyPem,
        notBefore: new Date(x.validFrom),
        notAfter: new Date(x.validTo),
        serial: x.serialNumber,
        directoryUrl: typeof meta.directoryUrl === 'string' ? meta.directoryUrl : '',
        issuedAt: typeof meta.issuedAt === 'string' ? meta.issuedAt : '',
      };
    } catch (e: unknown) {
      void e; // missing or unreadable: issue a new one
      return undefined;
    }
  }

  save(hostname: string, certPem: string, keyPem: string, directoryUrl: string): StoredCertificate {
    const d = this.certDir(hostname);
    const x = new X509Certificate(certPem);
    const issuedAt = new Date().toISOString();
    writeAtomic(path.join(d, 'key.pem'), keyPem, 0o600);
    writeAtomic(path.join(d, 'cert.pem'), certPem, 0o644);
    writeAtomic(path.join(d, 'meta.json'), JSON.stringify({ directoryUrl, issuedAt, serial: x.serialNumber, notAfter: new Date(x.validTo).toISOString() }, null, 2) + '\n', 0o644);
    return { hostname, certPem, keyPem, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), serial: x.serialNumber, directoryUrl, issuedAt };
  }
}

function writeAtomic(file: string, text: string, mode: number): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.fchmodSync(fd, mode); // the umask must not loosen a key
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
