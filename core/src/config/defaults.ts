/** Let's Encrypt's production ACME directory: the default CA for `--tls auto` routes. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * `ingress:` — what `volt ingress serve` runs with unless a flag (or its
 * VOLT_* environment variable) says otherwise. Times are in seconds.
 */
export interface IngressConfig {
  http_port: number;
  https_port: number;
  address: string;
  /** Worker processes; "auto" is one per CPU. */
  workers: number | 'auto';
  max_connections: number;
  max_header_size: number;
  max_headers: number;
  header_timeout: number;
  request_timeout: number;
  idle_timeout: number;
  drain_timeout: number;
  health: { interval: number; timeout: number; failures: number };
  acme: {
    directory_url: string;
    email?: string;
    /** Extra CA (PEM file) to trust for the ACME server itself. */
    ca?: string;
    renew_before: number;
    /** Backoff after a failed order: retry_min, doubling, at most retry_max. */
    retry_min: number;
    retry_max: number;
  };
}

/** The effective configuration: the file over the defaults. */
export interface VoltConfig {
  network: {
    default_bridge: string;
    default_subnet: string;
    /** IPv6 prefix of the default network ("fd00:0:0:1::/64"); absent: the default network is IPv4 only. */
    default_subnet6?: string;
    mtu: number;
    dns: { enabled: boolean; upstream: string[]; search_domains: string[] };
    firewall: { host_input: 'drop' | 'accept'; host_allow: string[] };
  };
  drivers: Partial<Record<'bridge' | 'firewall' | 'dns' | 'ingress' | 'vm-nic', string>>;
  ingress: IngressConfig;
}

export function defaultIngressConfig(): IngressConfig {
  return {
    http_port: 80,
    https_port: 443,
    address: '0.0.0.0',
    workers: 'auto',
    max_connections: 10_000,
    max_header_size: 16_384,
    max_headers: 100,
    header_timeout: 10,
    request_timeout: 60,
    idle_timeout: 5,
    drain_timeout: 30,
    health: { interval: 5, timeout: 2, failures: 2 },
    acme: { directory_url: LETS_ENCRYPT_DIRECTORY, renew_before: 2_592_000, retry_min: 30, retry_max: 3600 },
  };
}

export function defaultConfig(): VoltConfig {
  return {
    network: {
      default_bridge: 'volt0',
      default_subnet: '10.0.0.0/24',
      mtu: 1500,
      dns: { enabled: true, upstream: ['1.1.1.1', '8.8.8.8'], search_domains: ['volt.local'] },
      firewall: { host_input: 'drop', host_allow: ['tcp/22'] },
    },
    drivers: {},
    ingress: defaultIngressConfig(),
  };
}

/** Allowed ranges of the ingress settings (config keys and `volt ingress serve` flags alike). */
export const INGRESS_RANGES = {
  port: [1, 65535],
  workers: [1, 64],
  max_connections: [1, 1_000_000],
  max_header_size: [1024, 1024 * 1024],
  max_headers: [1, 10_000],
  header_timeout: [0.1, 3600],
  request_timeout: [0.1, 86_400],
  idle_timeout: [0.1, 3600],
  drain_timeout: [0, 3600],
  health_interval: [0.1, 3600],
  health_timeout: [0.1, 600],
  health_failures: [1, 100],
  renew_before: [1, 365 * 86_400],
  retry: [0.1, 86_400],
} as const satisfies Record<string, readonly [number, number]>;
