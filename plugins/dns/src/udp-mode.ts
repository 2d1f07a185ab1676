import type * as Native from '@volt/native/dist/udp-batch';

/**
 * How UDP queries are read: in batches (recvmmsg/sendmmsg through
 * @volt/native, in reading threads), or one datagram per event with
 * node:dgram. Batches unless VOLT_DNS_UDP=dgram says otherwise or the native
 * module cannot be loaded; a listener whose socket cannot be opened natively
 * falls back to dgram on its own.
 */
export type UdpMode =
  | { kind: 'batch'; native: typeof Native; threads: number; batch: number; describe: string }
  | { kind: 'dgram'; describe: string };

/** Datagrams per recvmmsg / replies per sendmmsg. */
export const DEFAULT_BATCH = 64;
/** A blocked receive returns after this long, so a reading thread sees its mail (names, stop) even when idle. */
export const RECV_TIMEOUT_MS = 100;

function positiveInt(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * `workers` is the driver's hint (extra answering processes for dgram): in
 * batch mode it becomes the reading threads beside the first, shared by every
 * network (reader-pool.ts): the count does not grow with the networks.
 */
export async function chooseUdpMode(workers: number, env: NodeJS.ProcessEnv = process.env): Promise<UdpMode> {
  const want = (env.VOLT_DNS_UDP ?? '').trim().toLowerCase();
  if (want === 'dgram') return { kind: 'dgram', describe: 'node:dgram (VOLT_DNS_UDP=dgram)' };
  if (want !== '' && want !== 'batch') {
    return { kind: 'dgram', describe: `node:dgram (VOLT_DNS_UDP=${JSON.stringify(env.VOLT_DNS_UDP)} is neither "batch" nor "dgram")` };
  }
  let native: typeof Native;
  try {
    // The UDP bindings alone: the package's index also loads netlink, libnftables, TUN/TAP and vhost-net.
    native = await import('@volt/native/dist/udp-batch');
    native.probeUdpBatch();
  } catch (e: unknown) {
    return { kind: 'dgram', describe: `node:dgram (batched UDP unavailable: ${e instanceof Error ? e.message : String(e)})` };
  }
  const threads = Math.min(8, positiveInt(env.VOLT_DNS_UDP_THREADS) ?? 1 + Math.max(0, Math.floor(workers)));
  const batch = Math.min(1024, positiveInt(env.VOLT_DNS_UDP_BATCH) ?? DEFAULT_BATCH);
  return {
    kind: 'batch',
    native,
    threads,
    batch,
    describe:
      threads === 1
        ? `recvmmsg/sendmmsg, ${batch} datagrams per call, 1 reading thread for all networks (VOLT_DNS_UDP=dgram for node:dgram)`
        : `recvmmsg/sendmmsg, ${batch} datagrams per call, ${threads} reading threads for all networks, the first at start, the others under load (VOLT_DNS_UDP=dgram for node:dgram)`,
  };
}
