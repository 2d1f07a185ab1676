import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** One virtio-net NIC: the spec's `network[]` entries, plus `network` (a volt network by name) and `ip`. */
export const VmNicSchema = Type.Object(
  {
    /** QEMU netdev id and the NIC's name in `volt ps`: a letter, then letters, digits, "-", "_" (≤ 15). */
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,14}$' })),
    /** vm-nic driver for this NIC ("networkd", "direct"/"direct-tap"); default: the active one. */
    mode: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$' })),
    /** A bridge by kernel name (mapped to the network that owns it). */
    bridge: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
    network: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    mac: Type.Optional(Type.String()),
    ip: Type.Optional(Type.String()),
    /** Static IPv6 address on a dual-stack network (default: the SLAAC address of the MAC on a /64). */
    ip6: Type.Optional(Type.String()),
    vhost: Type.Optional(Type.Boolean()),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 65535 })),
    multiqueue: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
  },
  strict,
);

export const VmDiskSchema = Type.Object(
  {
    path: Type.String({ minLength: 1 }),
    format: Type.Optional(Type.Union([Type.Literal('raw'), Type.Literal('qcow2')])),
    readonly: Type.Optional(Type.Boolean()),
  },
  strict,
);

/** The spec's VM JSON ("Configuration Examples"), extended with what booting needs. */
export const VmConfigSchema = Type.Object(
  {
    vcpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    memory_mib: Type.Optional(Type.Integer({ minimum: 64, maximum: 1048576 })),
    kernel: Type.String({ minLength: 1 }),
    initrd: Type.Optional(Type.String({ minLength: 1 })),
    cmdline: Type.Optional(Type.String({ maxLength: 4096 })),
    disk: Type.Optional(Type.Union([Type.String({ minLength: 1 }), VmDiskSchema])),
    /** "auto": KVM when it works here, else TCG with a warning. */
    accel: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('kvm'), Type.Literal('tcg')])),
    machine: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9.-]*$' })),
    network: Type.Optional(Type.Array(VmNicSchema, { maxItems: 8 })),
  },
  strict,
);

export type VmConfigFile = Static<typeof VmConfigSchema>;
