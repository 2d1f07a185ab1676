import type { Availability, BridgeDriver, BridgeObservation, BridgeSpec, HostContext } from '@volt/sdk';
import { getLink, okOrGone, runChecked, runCommand } from '@volt/sdk/kernel';

/**
 * A bridge driver with the mistakes the conformance kit exists to catch, on purpose
 * (`volt driver test bridge broken` lists them):
 *
 * - set-up is not idempotent: `ip link add` every time, so a second call fails ("File exists")
 *   and a bridge changed behind its back is never repaired;
 * - set-up has no rollback: a step that fails (a bad MAC, an address the kernel refuses)
 *   leaves the bridge it just made;
 * - tear-down forgets the uplink veth pair set-up adds, so a link stays behind.
 *
 * Never select it (`drivers: {bridge: broken}`); it is a test subject, not a driver.
 */
export class BrokenBridge implements BridgeDriver {
  readonly name = 'broken';
  readonly preference = -100;
  readonly fallback = false;
  readonly description = 'deliberately broken example (fails `volt driver test bridge broken`)';

  constructor(private readonly host: HostContext) {}

  async available(): Promise<Availability> {
    const r = await runCommand('ip', ['-V']);
    return r.code === 0 ? { ok: true, reason: 'iproute2 present' } : { ok: false, reason: 'iproute2 missing' };
  }

  async setupBridge(spec: BridgeSpec): Promise<void> {
    const what = `set up bridge "${spec.ifname}" (broken example)`;
    await runChecked(what, 'ip', ['link', 'add', spec.ifname, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await runChecked(what, 'ip', ['link', 'set', 'dev', spec.ifname, 'address', spec.mac, 'mtu', String(spec.mtu), 'up']);
    await runChecked(what, 'ip', ['addr', 'add', spec.address, 'dev', spec.ifname]);
    const up = uplink(spec.ifname);
    await runChecked(what, 'ip', ['link', 'add', up, 'mtu', String(spec.mtu), 'type', 'veth', 'peer', 'name', `${up}p`]);
    await runChecked(what, 'ip', ['link', 'set', 'dev', up, 'master', spec.ifname, 'up']);
    this.host.debug(`${what}: done`);
  }

  async teardownBridge(spec: BridgeSpec): Promise<void> {
    // Forgets the uplink pair.
    const r = await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
    if (!okOrGone(r)) throw new Error(`tear down bridge "${spec.ifname}": ${r.stderr.trim()}`);
  }

  async inspectBridge(ifname: string): Promise<BridgeObservation> {
    const l = await getLink(ifname);
    if (!l) return { ifname, exists: false, up: false, addresses: [], ports: [] };
    return { ifname, exists: true, kind: l.kind, up: l.up, mtu: l.mtu, mac: l.mac, addresses: l.addresses, ports: [] };
  }

  async inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]> {
    return Promise.all(ifnames.map((n) => this.inspectBridge(n)));
  }
}

function uplink(ifname: string): string {
  return `${ifname.slice(0, 11)}-up`;
}
