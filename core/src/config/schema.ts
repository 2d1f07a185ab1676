import { Type, type Static } from '@sinclair/typebox';
import { INGRESS_RANGES as R } from './defaults';

const strict = { additionalProperties: false } as const;

export const DnsSection = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    upstream: Type.Optional(Type.Array(Type.String())),
    search_domains: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' }))),
  },
  strict,
);

export const FirewallSection = Type.Object(
  {
    host_input: Type.Optional(Type.Union([Type.Literal('drop'), Type.Literal('accept')])),
    host_allow: Type.Optional(Type.Array(Type.String({ pattern: '^(tcp|udp)/[0-9]{1,5}$' }))),
  },
  strict,
);

export const NetworkSection = Type.Object(
  {
    default_bridge: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$' })),
    default_subnet: Type.Optional(Type.String()),
    default_subnet6: Type.Optional(Type.String()),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 65535 })),
    dns: Type.Optional(DnsSection),
    firewall: Type.Optional(FirewallSection),
  },
  strict,
);

const driverName = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$' });

export const DriversSection = Type.Object(
  {
    bridge: Type.Optional(driverName),
    firewall: Type.Optional(driverName),
    dns: Type.Optional(driverName),
    ingress: Type.Optional(driverName),
    'vm-nic': Type.Optional(driverName),
  },
  strict,
);

const int = (r: readonly [number, number]) => Type.Integer({ minimum: r[0], maximum: r[1] });
const secs = (r: readonly [number, number]) => Type.Number({ minimum: r[0], maximum: r[1] });

export const IngressHealthSection = Type.Object(
  {
    interval: Type.Optional(secs(R.health_interval)),
    timeout: Type.Optional(secs(R.health_timeout)),
    failures: Type.Optional(int(R.health_failures)),
  },
  strict,
);

export const IngressAcmeSection = Type.Object(
  {
    directory_url: Type.Optional(Type.String()),
    email: Type.Optional(Type.String()),
    ca: Type.Optional(Type.String({ minLength: 1 })),
    renew_before: Type.Optional(secs(R.renew_before)),
    retry_min: Type.Optional(secs(R.retry)),
    retry_max: Type.Optional(secs(R.retry)),
  },
  strict,
);

export const IngressSection = Type.Object(
  {
    http_port: Type.Optional(int(R.port)),
    https_port: Type.Optional(int(R.port)),
    address: Type.Optional(Type.String()),
    workers: Type.Optional(Type.Union([int(R.workers), Type.Literal('auto')])),
    max_connections: Type.Optional(int(R.max_connections)),
    max_header_size: Type.Optional(int(R.max_header_size)),
    max_headers: Type.Optional(int(R.max_headers)),
    header_timeout: Type.Optional(secs(R.header_timeout)),
    request_timeout: Type.Optional(secs(R.request_timeout)),
    idle_timeout: Type.Optional(secs(R.idle_timeout)),
    drain_timeout: Type.Optional(secs(R.drain_timeout)),
    health: Type.Optional(IngressHealthSection),
    acme: Type.Optional(IngressAcmeSection),
  },
  strict,
);

export const ConfigFile = Type.Object(
  {
    network: Type.Optional(NetworkSection),
    drivers: Type.Optional(DriversSection),
    ingress: Type.Optional(IngressSection),
  },
  strict,
);

export type ConfigFile = Static<typeof ConfigFile>;

