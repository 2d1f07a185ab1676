import type { BridgeDriver, BridgeTapPorts, VmNicDriver, VmNicHandle, VmNicSpec } from '@volt/sdk';
import { capabilitiesOf, errorMessage } from '@volt/sdk';

/** The active bridge driver's TAP ports (capability `tap-ports`), or undefined for a Linux bridge. */
export function tapPortsOf(bridge: BridgeDriver | undefined): BridgeTapPorts | undefined {
  if (!bridge || !capabilitiesOf('bridge', bridge).includes('tap-ports')) return undefined;
  return bridge as BridgeDriver & BridgeTapPorts;
}

/**
 * A vm-nic driver whose TAPs join a bridge that is not a Linux bridge (Open vSwitch, say): the
 * vm-nic driver makes the TAP on no bridge, the bridge driver plugs it in and out. Every VM code
 * path (start, connect of a running VM, `net up`, stop) goes through the vm-nic contract, so one
 * wrapper at the place the drivers are handed out covers them all.
 */
export function tapsOnBridgePorts(inner: VmNicDriver, ports: BridgeTapPorts, warn: (m: string) => void): VmNicDriver {
  const port = (spec: VmNicSpec & { bridge: string }) => ({ vm: spec.vm, nicId: spec.nicId, ifname: spec.ifname, bridge: spec.bridge, mtu: spec.mtu });
  return {
    name: inner.name,
    preference: inner.preference,
    fallback: inner.fallback,
    description: inner.description,
    available: () => inner.available(),
    async setupNic(spec: VmNicSpec): Promise<VmNicHandle> {
      const handle = await inner.setupNic({ ...spec, bridge: undefined });
      if (spec.bridge === undefined) return handle;
      try {
        await ports.attachTap(port({ ...spec, bridge: spec.bridge }));
      } catch (e: unknown) {
        await inner.teardownNic(spec, handle).catch((e2: unknown) => warn(`undo TAP ${spec.ifname}: ${errorMessage(e2)}`));
        throw e;
      }
      return handle;
    },
    async teardownNic(spec: VmNicSpec, handle?: VmNicHandle): Promise<void> {
      await ports.detachTap(spec);
      await inner.teardownNic(spec, handle);
    },
    attachNic: (spec) => ports.attachTap(port(spec)),
    detachNic: (spec) => ports.detachTap(spec),
  };
}
