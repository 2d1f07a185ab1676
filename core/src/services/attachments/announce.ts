import { announcePort } from '@volt/sdk/kernel';
import { errorMessage } from '@volt/sdk';
import { nsPath } from '../../kernel/netns';
import type { AttachmentListener } from './attach-exec';

/**
 * The last attachment listener: each container that joined a network announces its addresses
 * (gratuitous ARP, unsolicited neighbour advertisement; announcePort in @volt/sdk/kernel), so
 * peers that cached a previous holder of an address follow at once. Last, because only now
 * does the firewall let the new port's traffic through (on a dual-stack network the port
 * joins the IPv6 set in the firewall listener). A failed announcement is a warning, never a
 * failed connect: the address works, peers only learn it later. VM guests announce
 * themselves.
 */
export function announceWorkloads(warn: (message: string) => void): AttachmentListener {
  return async (state, change) => {
    for (const a of change.added) {
      const w = state.workloads[a.workload];
      if (w?.type !== 'container') continue;
      await announcePort({ netns: nsPath(w.source), ifname: a.ifname, hostIfname: a.hostIfname, mac: a.mac }).catch((e: unknown) =>
        warn(`${a.workload} joined "${a.network}" but could not announce itself (peers learn its address when they ask again): ${errorMessage(e)}`),
      );
    }
  };
}
