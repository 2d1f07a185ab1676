import { Type, type Static } from '@sinclair/typebox';

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

export const ConfigFile = Type.Object(
  {
    network: Type.Optional(NetworkSection),
    drivers: Type.Optional(DriversSection),
  },
  strict,
);

export type ConfigFile = Static<typeof ConfigFile>;

